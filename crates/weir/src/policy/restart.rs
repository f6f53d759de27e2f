//! Restart strategy of the supervisor: exponential backoff with a cap and a maximum number of
//! restarts per lane, after which the lane's pipeline fails.

use std::time::Duration;

/// When to restart a failed lane, and when to give up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestartPolicy {
    /// Delay before the first restart.
    pub initial: Duration,
    /// Largest delay.
    pub max: Duration,
    /// Consecutive failures tolerated before the pipeline fails.
    pub max_restarts: u32,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(10),
            max_restarts: 5,
        }
    }
}

impl RestartPolicy {
    /// The delay before restart number `restarts` (1-based), or `None` to give up.
    #[must_use]
    pub fn delay(&self, restarts: u32) -> Option<Duration> {
        if restarts == 0 || restarts > self.max_restarts {
            return None;
        }
        let factor = 2u32.saturating_pow(restarts - 1);
        Some(self.initial.saturating_mul(factor).min(self.max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_then_gives_up() {
        let p = RestartPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(350),
            max_restarts: 4,
        };
        let delays: Vec<_> = (1..=5).map(|n| p.delay(n)).collect();
        assert_eq!(
            delays,
            vec![
                Some(Duration::from_millis(100)),
                Some(Duration::from_millis(200)),
                Some(Duration::from_millis(350)),
                Some(Duration::from_millis(350)),
                None
            ]
        );
    }
}

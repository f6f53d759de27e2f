//! Restart strategies of the supervisor, pure over an injected clock (`now` is any monotonic
//! duration, e.g. time since start).
//!
//! - `exponential`: `initial * multiplier^(n-1)` capped at `max`; after `reset_after` without a
//!   failure the count starts again; gives up after `max_restarts` consecutive restarts.
//! - `fixed`: the same `delay` every time, at most `attempts` restarts.
//! - `failure_rate`: restarts after `delay` as long as no more than `max_failures` failures
//!   fall within the last `interval`.

use std::collections::VecDeque;
use std::time::Duration;

/// A restart strategy.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RestartStrategy {
    /// Growing delays.
    Exponential {
        /// First delay.
        initial: Duration,
        /// Largest delay.
        max: Duration,
        /// Growth per restart.
        multiplier: f64,
        /// A failure this long after the previous one starts the count again.
        reset_after: Duration,
        /// Consecutive restarts before giving up.
        max_restarts: u32,
    },
    /// A fixed delay, a fixed number of times.
    Fixed {
        /// Delay.
        delay: Duration,
        /// Restarts before giving up.
        attempts: u32,
    },
    /// Gives up when failures come too often.
    FailureRate {
        /// Failures tolerated within `interval`.
        max_failures: u32,
        /// The window.
        interval: Duration,
        /// Delay before each restart.
        delay: Duration,
    },
}

impl Default for RestartStrategy {
    fn default() -> Self {
        Self::Exponential {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(300),
            multiplier: 2.0,
            reset_after: Duration::from_secs(600),
            max_restarts: 10,
        }
    }
}

/// The failure history of one lane under a strategy.
#[derive(Clone, Debug)]
pub struct Restarts {
    strategy: RestartStrategy,
    consecutive: u32,
    last_failure: Option<Duration>,
    recent: VecDeque<Duration>,
}

impl Restarts {
    /// A lane that has not failed yet.
    #[must_use]
    pub fn new(strategy: RestartStrategy) -> Self {
        Self {
            strategy,
            consecutive: 0,
            last_failure: None,
            recent: VecDeque::new(),
        }
    }

    /// Records a failure at `now`; returns the delay before restarting, or `None` to give up.
    pub fn on_failure(&mut self, now: Duration) -> Option<Duration> {
        let previous = self.last_failure.replace(now);
        match self.strategy {
            RestartStrategy::Exponential {
                initial,
                max,
                multiplier,
                reset_after,
                max_restarts,
            } => {
                if previous.is_some_and(|p| now.saturating_sub(p) >= reset_after) {
                    self.consecutive = 0;
                }
                self.consecutive += 1;
                if self.consecutive > max_restarts {
                    return None;
                }
                let secs = initial.as_secs_f64()
                    * multiplier
                        .max(1.0)
                        .powi((self.consecutive - 1).min(1000) as i32);
                Some(if !secs.is_finite() || secs >= max.as_secs_f64() {
                    max
                } else {
                    Duration::from_secs_f64(secs)
                })
            }
            RestartStrategy::Fixed { delay, attempts } => {
                self.consecutive += 1;
                (self.consecutive <= attempts).then_some(delay)
            }
            RestartStrategy::FailureRate {
                max_failures,
                interval,
                delay,
            } => {
                self.recent.push_back(now);
                while self
                    .recent
                    .front()
                    .is_some_and(|t| now.saturating_sub(*t) > interval)
                {
                    self.recent.pop_front();
                }
                (self.recent.len() as u32 <= max_failures).then_some(delay)
            }
        }
    }

    /// Failures counted towards giving up, for logs.
    #[must_use]
    pub fn count(&self) -> u32 {
        match self.strategy {
            RestartStrategy::FailureRate { .. } => self.recent.len() as u32,
            _ => self.consecutive,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn exponential_doubles_caps_resets_and_gives_up() {
        let mut r = Restarts::new(RestartStrategy::Exponential {
            initial: S(1),
            max: S(5),
            multiplier: 2.0,
            reset_after: S(600),
            max_restarts: 5,
        });
        let delays: Vec<_> = [0, 1, 3, 7, 12]
            .iter()
            .map(|t| r.on_failure(S(*t)))
            .collect();
        assert_eq!(
            delays,
            vec![Some(S(1)), Some(S(2)), Some(S(4)), Some(S(5)), Some(S(5))]
        );
        assert_eq!(r.on_failure(S(20)), None);
        // Ten quiet minutes: the count starts again.
        let mut r = Restarts::new(RestartStrategy::Exponential {
            initial: S(1),
            max: S(5),
            multiplier: 2.0,
            reset_after: S(600),
            max_restarts: 2,
        });
        assert_eq!(r.on_failure(S(0)), Some(S(1)));
        assert_eq!(r.on_failure(S(10)), Some(S(2)));
        assert_eq!(r.on_failure(S(700)), Some(S(1)));
    }

    #[test]
    fn fixed_gives_up_after_its_attempts() {
        let mut r = Restarts::new(RestartStrategy::Fixed {
            delay: S(3),
            attempts: 2,
        });
        assert_eq!(r.on_failure(S(0)), Some(S(3)));
        assert_eq!(r.on_failure(S(100)), Some(S(3)));
        assert_eq!(r.on_failure(S(10_000)), None);
    }

    #[test]
    fn failure_rate_counts_only_the_window() {
        let mut r = Restarts::new(RestartStrategy::FailureRate {
            max_failures: 2,
            interval: S(60),
            delay: S(1),
        });
        assert_eq!(r.on_failure(S(0)), Some(S(1)));
        assert_eq!(r.on_failure(S(30)), Some(S(1)));
        assert_eq!(r.on_failure(S(50)), None, "three failures within a minute");
        let mut r = Restarts::new(RestartStrategy::FailureRate {
            max_failures: 2,
            interval: S(60),
            delay: S(1),
        });
        for t in [0, 40, 80, 120, 160, 200] {
            assert_eq!(
                r.on_failure(S(t)),
                Some(S(1)),
                "at most two in any minute at t={t}"
            );
        }
    }
}

//! The failure-ratio gate (a data-corruption circuit breaker): when more than
//! `max_failure_ratio` of the last `window` records failed validation, the pipeline halts
//! instead of filling the dead-letter queue with a broken upstream's output.

use std::collections::VecDeque;

/// Validation outcomes of a lane's last `window` records.
#[derive(Clone, Debug)]
pub struct FailureGate {
    max_ratio: f64,
    window: usize,
    outcomes: VecDeque<bool>,
    failures: usize,
}

impl FailureGate {
    /// A gate tripping above `max_ratio` failures over `window` records.
    #[must_use]
    pub fn new(max_ratio: f64, window: usize) -> Self {
        Self {
            max_ratio,
            window: window.max(1),
            outcomes: VecDeque::with_capacity(window.max(1)),
            failures: 0,
        }
    }

    /// Records one outcome (`true` = failed validation); returns `Some(failures)` when the gate
    /// trips: more than `max_ratio * window` of the last `window` records failed.
    pub fn record(&mut self, failed: bool) -> Option<usize> {
        if self.outcomes.len() == self.window && self.outcomes.pop_front() == Some(true) {
            self.failures -= 1;
        }
        self.outcomes.push_back(failed);
        self.failures += usize::from(failed);
        (self.failures as f64 > self.max_ratio * self.window as f64).then_some(self.failures)
    }

    /// The window size.
    #[must_use]
    pub fn window(&self) -> usize {
        self.window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(gate: &mut FailureGate, n: usize, bad_every: usize) -> Option<usize> {
        (0..n).find_map(|i| gate.record(bad_every > 0 && i % bad_every == 0))
    }

    #[test]
    fn trips_on_a_20_percent_stretch_not_on_5_percent() {
        let mut g = FailureGate::new(0.10, 1000);
        assert_eq!(feed(&mut g, 5000, 20), None, "5% never trips");
        let mut g = FailureGate::new(0.10, 1000);
        assert!(feed(&mut g, 2000, 0).is_none());
        assert!(feed(&mut g, 2000, 5).is_some(), "20% trips");
    }

    #[test]
    fn old_failures_leave_the_window() {
        let mut g = FailureGate::new(0.10, 100);
        assert!(
            feed(&mut g, 10, 1).is_none(),
            "10 of 100 is not more than 10%"
        );
        assert!(feed(&mut g, 100, 0).is_none());
        assert!(
            feed(&mut g, 10, 1).is_none(),
            "the first 10 have left the window"
        );
        assert!(g.record(true).is_some());
    }
}

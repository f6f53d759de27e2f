//! Retry policy: exponential backoff with jitter, a cap, a maximum number of attempts and an
//! elapsed-time budget. Pure: the caller supplies the elapsed time and a random number in
//! `[0, 1)`, and gets back "retry after this delay" or "give up".

use std::time::Duration;

/// How a delay is randomised.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Jitter {
    /// Uniform in `[0, d]` (AWS "full jitter"): spreads retries of many callers best.
    #[default]
    Full,
    /// Uniform in `[d/2, d]`.
    Equal,
    /// Exactly `d`.
    None,
}

/// When and how often to retry a transient failure.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retry).
    pub max_attempts: u32,
    /// Backoff before the first retry (before jitter).
    pub initial: Duration,
    /// Largest backoff (before jitter).
    pub max: Duration,
    /// Growth factor per retry.
    pub multiplier: f64,
    /// Randomisation.
    pub jitter: Jitter,
    /// No retry starts after this much time since the first attempt.
    pub max_elapsed: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial: Duration::from_millis(100),
            max: Duration::from_secs(30),
            multiplier: 2.0,
            jitter: Jitter::Full,
            max_elapsed: Some(Duration::from_secs(120)),
        }
    }
}

/// What to do after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryDecision {
    /// Wait this long, then try again.
    RetryAfter(Duration),
    /// Stop: the attempts are used up.
    AttemptsExhausted,
    /// Stop: waiting would exceed the elapsed-time budget.
    ElapsedExhausted,
}

impl RetryPolicy {
    /// The backoff before retry number `retry` (1-based), before jitter: `initial *
    /// multiplier^(retry-1)`, capped at `max`.
    #[must_use]
    pub fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .multiplier
            .max(1.0)
            .powi(retry.saturating_sub(1).min(1000) as i32);
        let secs = self.initial.as_secs_f64() * exp;
        if !secs.is_finite() || secs >= self.max.as_secs_f64() {
            self.max
        } else {
            Duration::from_secs_f64(secs)
        }
    }

    /// Decides after attempt number `attempt` (1-based) failed, `elapsed` after the first
    /// attempt started; `random` is uniform in `[0, 1)`.
    #[must_use]
    pub fn decide(&self, attempt: u32, elapsed: Duration, random: f64) -> RetryDecision {
        if attempt >= self.max_attempts {
            return RetryDecision::AttemptsExhausted;
        }
        let d = self.backoff(attempt);
        let r = random.clamp(0.0, 1.0);
        let delay = match self.jitter {
            Jitter::Full => d.mul_f64(r),
            Jitter::Equal => d / 2 + (d / 2).mul_f64(r),
            Jitter::None => d,
        };
        match self.max_elapsed {
            Some(budget) if elapsed.saturating_add(delay) > budget => {
                RetryDecision::ElapsedExhausted
            }
            _ => RetryDecision::RetryAfter(delay),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn policy() -> impl Strategy<Value = RetryPolicy> {
        (
            1u32..12,
            1u64..2_000,
            1u64..60_000,
            1.0f64..4.0,
            prop_oneof![Just(Jitter::Full), Just(Jitter::Equal), Just(Jitter::None)],
            proptest::option::of(1u64..600_000),
        )
            .prop_map(
                |(max_attempts, initial, max, multiplier, jitter, max_elapsed)| RetryPolicy {
                    max_attempts,
                    initial: Duration::from_millis(initial),
                    max: Duration::from_millis(max.max(initial)),
                    multiplier,
                    jitter,
                    max_elapsed: max_elapsed.map(Duration::from_millis),
                },
            )
    }

    proptest! {
        #[test]
        fn every_delay_is_within_its_jitter_bounds_and_the_cap(p in policy(), attempt in 1u32..40, r in 0.0f64..1.0) {
            if let RetryDecision::RetryAfter(d) = p.decide(attempt, Duration::ZERO, r) {
                let base = p.backoff(attempt);
                prop_assert!(base <= p.max);
                prop_assert!(d <= base);
                match p.jitter {
                    Jitter::Full => {}
                    Jitter::Equal => prop_assert!(d >= base / 2),
                    Jitter::None => prop_assert_eq!(d, base),
                }
            }
        }

        #[test]
        fn a_retry_loop_never_exceeds_attempts_or_the_elapsed_budget(p in policy(), rs in proptest::collection::vec(0.0f64..1.0, 40)) {
            let mut elapsed = Duration::ZERO;
            let mut attempts = 1;
            loop {
                match p.decide(attempts, elapsed, rs[(attempts as usize) % rs.len()]) {
                    RetryDecision::RetryAfter(d) => {
                        elapsed += d;
                        attempts += 1;
                        if let Some(budget) = p.max_elapsed {
                            prop_assert!(elapsed <= budget);
                        }
                    }
                    RetryDecision::AttemptsExhausted => {
                        prop_assert_eq!(attempts, p.max_attempts);
                        break;
                    }
                    RetryDecision::ElapsedExhausted => break,
                }
                prop_assert!(attempts <= p.max_attempts);
            }
        }

        #[test]
        fn backoff_never_decreases(p in policy(), a in 1u32..60) {
            prop_assert!(p.backoff(a) <= p.backoff(a + 1));
        }
    }

    #[test]
    fn doubles_from_initial() {
        let p = RetryPolicy {
            jitter: Jitter::None,
            max_elapsed: None,
            ..RetryPolicy::default()
        };
        assert_eq!(
            p.decide(1, Duration::ZERO, 0.5),
            RetryDecision::RetryAfter(Duration::from_millis(100))
        );
        assert_eq!(
            p.decide(3, Duration::ZERO, 0.5),
            RetryDecision::RetryAfter(Duration::from_millis(400))
        );
        assert_eq!(
            p.decide(5, Duration::ZERO, 0.5),
            RetryDecision::AttemptsExhausted
        );
    }
}

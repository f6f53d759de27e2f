//! Circuit breaker: closed / open / half-open over a sliding window of outcomes. Pure: the
//! caller supplies the time (`now`, any monotonic duration such as time since start) with every
//! input and gets decisions back; nothing here sleeps or reads a clock.
//!
//! - **Closed**: every call is admitted. The outcomes of the last `window` calls are kept; when
//!   at least `min_calls` of them are known and the share of failures reaches `failure_rate`,
//!   the breaker opens.
//! - **Open**: no call is admitted until `open_for` has passed; then the next call is admitted
//!   as a probe and the breaker is half-open.
//! - **Half-open**: at most `half_open_probes` probes are in flight. One failed probe opens the
//!   breaker again for `open_for`; `half_open_probes` successful probes close it with an empty
//!   window.
//!
//! Every admission carries a [`Ticket`] with the breaker's generation (bumped on every state
//! change), so the late outcome of a call admitted before a change (a slow call that started
//! while closed and ends after the breaker opened) is ignored instead of skewing the new state.
//! What counts as a failure is the caller's business: the policy stack counts transient errors
//! (timeouts, refused connections, 5xx) as failures and everything else — a 4xx says the
//! dependency is up and answering — as success.

use std::collections::VecDeque;
use std::time::Duration;

/// When a breaker opens and how it recovers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BreakerPolicy {
    /// Share of failed calls in the window (0 < r <= 1) that opens the breaker.
    pub failure_rate: f64,
    /// How many recent outcomes are kept.
    pub window: u32,
    /// Outcomes needed in the window before the rate is judged.
    pub min_calls: u32,
    /// How long the breaker stays open before a probe is let through.
    pub open_for: Duration,
    /// Successful probes needed to close again (and probes in flight at most).
    pub half_open_probes: u32,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self {
            failure_rate: 0.5,
            window: 20,
            min_calls: 10,
            open_for: Duration::from_secs(30),
            half_open_probes: 3,
        }
    }
}

/// The breaker's state as shown in metrics and health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls flow.
    Closed,
    /// Probes are being let through.
    HalfOpen,
    /// Calls are refused.
    Open,
}

impl BreakerState {
    /// The value of the `weir_breaker_state` gauge: 0 closed, 1 half-open, 2 open.
    #[must_use]
    pub fn gauge(self) -> i64 {
        match self {
            Self::Closed => 0,
            Self::HalfOpen => 1,
            Self::Open => 2,
        }
    }

    /// Lowercase name for logs and health.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::HalfOpen => "half-open",
            Self::Open => "open",
        }
    }
}

/// Proof of admission: hand it back with the call's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticket {
    generation: u64,
    probe: bool,
}

impl Ticket {
    /// Whether this call is a half-open probe.
    #[must_use]
    pub fn is_probe(self) -> bool {
        self.probe
    }
}

/// The answer to "may I call?".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead.
    Admitted(Ticket),
    /// Not now. `retry_at`: when the open period ends; `None` while half-open probes are out
    /// (ask again when the state changes).
    Rejected {
        /// When to ask again, if known.
        retry_at: Option<Duration>,
    },
}

/// How an admitted call ended, as far as the breaker is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The dependency answered.
    Success,
    /// The dependency failed (transiently).
    Failure,
    /// The call was abandoned before it said anything about the dependency.
    Abandoned,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    Closed,
    Open { until: Duration },
    HalfOpen { out: u32, succeeded: u32 },
}

/// A circuit breaker.
#[derive(Clone, Debug)]
pub struct Breaker {
    policy: BreakerPolicy,
    phase: Phase,
    /// Recent outcomes while closed: `true` = failure.
    window: VecDeque<bool>,
    failures: u32,
    generation: u64,
}

impl Breaker {
    /// A closed breaker.
    #[must_use]
    pub fn new(policy: BreakerPolicy) -> Self {
        Self {
            policy,
            phase: Phase::Closed,
            window: VecDeque::new(),
            failures: 0,
            generation: 0,
        }
    }

    /// The policy.
    #[must_use]
    pub fn policy(&self) -> &BreakerPolicy {
        &self.policy
    }

    /// The current state. An open breaker whose period has passed still reads as open until
    /// the next call is admitted as a probe.
    #[must_use]
    pub fn state(&self) -> BreakerState {
        match self.phase {
            Phase::Closed => BreakerState::Closed,
            Phase::Open { .. } => BreakerState::Open,
            Phase::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Bumped on every state change.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// When an open breaker lets the next probe through.
    #[must_use]
    pub fn open_until(&self) -> Option<Duration> {
        match self.phase {
            Phase::Open { until } => Some(until),
            _ => None,
        }
    }

    fn change(&mut self, phase: Phase) {
        self.phase = phase;
        self.generation += 1;
        self.window.clear();
        self.failures = 0;
    }

    /// Asks to make a call at `now`.
    pub fn admit(&mut self, now: Duration) -> Admission {
        match self.phase {
            Phase::Closed => Admission::Admitted(Ticket {
                generation: self.generation,
                probe: false,
            }),
            Phase::Open { until } if now < until => Admission::Rejected {
                retry_at: Some(until),
            },
            Phase::Open { .. } => {
                self.change(Phase::HalfOpen {
                    out: 1,
                    succeeded: 0,
                });
                Admission::Admitted(Ticket {
                    generation: self.generation,
                    probe: true,
                })
            }
            Phase::HalfOpen { out, succeeded } => {
                if out + succeeded < self.policy.half_open_probes.max(1) {
                    self.phase = Phase::HalfOpen {
                        out: out + 1,
                        succeeded,
                    };
                    Admission::Admitted(Ticket {
                        generation: self.generation,
                        probe: true,
                    })
                } else {
                    Admission::Rejected { retry_at: None }
                }
            }
        }
    }

    /// Reports how an admitted call ended, at `now`. Returns `true` when the state changed.
    pub fn record(&mut self, now: Duration, ticket: Ticket, outcome: Outcome) -> bool {
        if ticket.generation != self.generation {
            return false;
        }
        match self.phase {
            Phase::Closed => {
                let failed = match outcome {
                    Outcome::Success => false,
                    Outcome::Failure => true,
                    Outcome::Abandoned => return false,
                };
                self.window.push_back(failed);
                self.failures += u32::from(failed);
                while self.window.len() > self.policy.window.max(1) as usize {
                    if self.window.pop_front() == Some(true) {
                        self.failures -= 1;
                    }
                }
                let n = self.window.len() as u32;
                if n >= self.policy.min_calls.max(1)
                    && f64::from(self.failures) >= self.policy.failure_rate * f64::from(n)
                {
                    self.change(Phase::Open {
                        until: now + self.policy.open_for,
                    });
                    return true;
                }
                false
            }
            Phase::HalfOpen { out, succeeded } => match outcome {
                Outcome::Failure => {
                    self.change(Phase::Open {
                        until: now + self.policy.open_for,
                    });
                    true
                }
                Outcome::Success => {
                    let succeeded = succeeded + 1;
                    if succeeded >= self.policy.half_open_probes.max(1) {
                        self.change(Phase::Closed);
                        true
                    } else {
                        self.phase = Phase::HalfOpen {
                            out: out.saturating_sub(1),
                            succeeded,
                        };
                        false
                    }
                }
                Outcome::Abandoned => {
                    self.phase = Phase::HalfOpen {
                        out: out.saturating_sub(1),
                        succeeded,
                    };
                    false
                }
            },
            // Tickets of the open phase are never handed out.
            Phase::Open { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: Duration = Duration::from_millis(1);

    fn policy() -> BreakerPolicy {
        BreakerPolicy {
            failure_rate: 0.5,
            window: 4,
            min_calls: 4,
            open_for: Duration::from_secs(10),
            half_open_probes: 2,
        }
    }

    fn call(b: &mut Breaker, now: Duration, outcome: Outcome) -> Admission {
        let a = b.admit(now);
        if let Admission::Admitted(t) = a {
            b.record(now, t, outcome);
        }
        a
    }

    #[test]
    fn opens_at_the_failure_rate_once_min_calls_are_known() {
        let mut b = Breaker::new(policy());
        let t0 = Duration::ZERO;
        call(&mut b, t0, Outcome::Failure);
        call(&mut b, t0, Outcome::Failure);
        call(&mut b, t0, Outcome::Success);
        assert_eq!(b.state(), BreakerState::Closed, "only 3 of 4 calls known");
        call(&mut b, t0, Outcome::Success);
        assert_eq!(b.state(), BreakerState::Open, "2 of 4 failed: rate 0.5");
        assert_eq!(
            b.admit(t0 + 9_999 * MS),
            Admission::Rejected {
                retry_at: Some(Duration::from_secs(10))
            }
        );
    }

    #[test]
    fn the_window_slides_so_old_failures_are_forgotten() {
        let mut b = Breaker::new(policy());
        let t = Duration::ZERO;
        call(&mut b, t, Outcome::Failure);
        for _ in 0..6 {
            call(&mut b, t, Outcome::Success);
        }
        call(&mut b, t, Outcome::Failure);
        assert_eq!(b.state(), BreakerState::Closed, "1 of the last 4 failed");
    }

    #[test]
    fn a_successful_half_open_probe_run_closes_a_failed_probe_reopens() {
        let mut b = Breaker::new(policy());
        for _ in 0..4 {
            call(&mut b, Duration::ZERO, Outcome::Failure);
        }
        let later = Duration::from_secs(10);
        let Admission::Admitted(p1) = b.admit(later) else {
            panic!("probe admitted after open_for")
        };
        assert!(p1.is_probe());
        assert_eq!(b.state(), BreakerState::HalfOpen);
        let Admission::Admitted(p2) = b.admit(later) else {
            panic!("second probe admitted")
        };
        assert_eq!(b.admit(later), Admission::Rejected { retry_at: None });
        b.record(later, p1, Outcome::Success);
        assert_eq!(b.state(), BreakerState::HalfOpen);
        b.record(later, p2, Outcome::Failure);
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.open_until(), Some(Duration::from_secs(20)));

        let t = Duration::from_secs(20);
        for _ in 0..2 {
            assert!(matches!(
                call(&mut b, t, Outcome::Success),
                Admission::Admitted(_)
            ));
        }
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn late_outcomes_of_an_earlier_state_are_ignored() {
        let mut b = Breaker::new(policy());
        let Admission::Admitted(slow) = b.admit(Duration::ZERO) else {
            panic!("closed admits")
        };
        for _ in 0..4 {
            call(&mut b, Duration::ZERO, Outcome::Failure);
        }
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!b.record(MS, slow, Outcome::Success));
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[test]
    fn an_abandoned_probe_frees_its_slot() {
        let mut b = Breaker::new(BreakerPolicy {
            half_open_probes: 1,
            ..policy()
        });
        for _ in 0..4 {
            call(&mut b, Duration::ZERO, Outcome::Failure);
        }
        let t = Duration::from_secs(10);
        let Admission::Admitted(p) = b.admit(t) else {
            panic!("probe")
        };
        assert_eq!(b.admit(t), Admission::Rejected { retry_at: None });
        b.record(t, p, Outcome::Abandoned);
        assert!(matches!(b.admit(t), Admission::Admitted(_)));
    }

    #[derive(Clone, Debug)]
    enum Op {
        Admit,
        /// Resolve the outstanding ticket at this index (mod len) with the outcome.
        Resolve(usize, Outcome),
        Advance(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => Just(Op::Admit),
            4 => (0usize..8, prop_oneof![Just(Outcome::Success), Just(Outcome::Failure), Just(Outcome::Abandoned)])
                .prop_map(|(i, o)| Op::Resolve(i, o)),
            1 => (0u64..3_000).prop_map(Op::Advance),
        ]
    }

    fn any_policy() -> impl Strategy<Value = BreakerPolicy> {
        (0.05f64..=1.0, 1u32..10, 1u32..10, 1u64..2_000, 1u32..4).prop_map(
            |(failure_rate, window, min_calls, open_ms, half_open_probes)| BreakerPolicy {
                failure_rate,
                window,
                min_calls: min_calls.min(window),
                open_for: Duration::from_millis(open_ms),
                half_open_probes,
            },
        )
    }

    proptest! {
        /// Against a model of the closed window: the breaker opens exactly when the model says
        /// the failure rate is reached, never admits while open, never has more than
        /// `half_open_probes` probes out, and closes only after that many successful probes.
        #[test]
        fn follows_its_model(p in any_policy(), ops in proptest::collection::vec(op(), 1..300)) {
            let mut b = Breaker::new(p);
            let mut now = Duration::ZERO;
            let mut out: Vec<Ticket> = Vec::new();
            // Model: fresh closed-phase outcomes, probes out and probe successes.
            let mut model_window: Vec<bool> = Vec::new();
            let mut probe_successes = 0u32;
            for op in ops {
                let before = b.state();
                let generation = b.generation();
                match op {
                    Op::Advance(ms) => now += Duration::from_millis(ms),
                    Op::Admit => match b.admit(now) {
                        Admission::Admitted(t) => {
                            if before == BreakerState::Open {
                                // Admitted from open only as the first probe.
                                prop_assert!(b.state() == BreakerState::HalfOpen && t.is_probe());
                                probe_successes = 0;
                            }
                            out.push(t);
                        }
                        Admission::Rejected { retry_at } => {
                            prop_assert!(before != BreakerState::Closed);
                            if let Some(at) = retry_at {
                                prop_assert!(before == BreakerState::Open && now < at);
                            }
                        }
                    },
                    Op::Resolve(i, outcome) => {
                        if out.is_empty() { continue; }
                        let t = out.remove(i % out.len());
                        let fresh = t.generation == generation;
                        b.record(now, t, outcome);
                        match (before, fresh, outcome) {
                            (_, false, _) | (_, _, Outcome::Abandoned) => prop_assert_eq!(b.state(), before),
                            (BreakerState::Closed, true, o) => {
                                model_window.push(o == Outcome::Failure);
                                let w = &model_window[model_window.len().saturating_sub(p.window as usize)..];
                                let failures = w.iter().filter(|f| **f).count() as f64;
                                let should_open = w.len() as u32 >= p.min_calls
                                    && failures >= p.failure_rate * w.len() as f64;
                                prop_assert_eq!(b.state() == BreakerState::Open, should_open);
                            }
                            (BreakerState::HalfOpen, true, Outcome::Failure) => prop_assert_eq!(b.state(), BreakerState::Open),
                            (BreakerState::HalfOpen, true, Outcome::Success) => {
                                probe_successes += 1;
                                let closed = probe_successes >= p.half_open_probes;
                                prop_assert_eq!(b.state() == BreakerState::Closed, closed);
                            }
                            _ => {}
                        }
                    }
                }
                if b.generation() != generation {
                    model_window.clear();
                }
                if b.state() == BreakerState::HalfOpen {
                    let probes_out = out.iter().filter(|t| t.generation == b.generation()).count() as u32;
                    prop_assert!(probes_out <= p.half_open_probes);
                }
                if let Some(until) = b.open_until() {
                    prop_assert!(until <= now + p.open_for);
                }
            }
        }

        /// Liveness: however it got there, an open breaker admits a probe once `open_for` has
        /// passed, and `half_open_probes` successes close it.
        #[test]
        fn an_open_breaker_always_closes_after_successful_probes(p in any_policy(), fails in 1u32..30) {
            let mut b = Breaker::new(p);
            let mut now = Duration::ZERO;
            for _ in 0..fails.max(p.min_calls) {
                call(&mut b, now, Outcome::Failure);
            }
            prop_assert_eq!(b.state(), BreakerState::Open);
            now += p.open_for;
            for _ in 0..p.half_open_probes {
                prop_assert!(matches!(call(&mut b, now, Outcome::Success), Admission::Admitted(_)));
            }
            prop_assert_eq!(b.state(), BreakerState::Closed);
        }
    }
}

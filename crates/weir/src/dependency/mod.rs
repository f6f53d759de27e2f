//! Dependencies: every call to an external system goes through one policy stack —
//! bulkhead (concurrency limit) -> circuit breaker -> retry -> timeout -> the call.
//!
//! One [`Dependency`] exists per pipeline and entry of `dependencies:` (pipelines are separate
//! failure domains); every lane and every stage of the pipeline that names it shares its
//! bulkhead and breaker. The decisions are the pure state machines of [`crate::policy`]; this
//! module only adds the clock, the sleeps and the semaphore.
//!
//! A [`Call`] is one logical call (one record's lookup, one epoch's write):
//!
//! 1. **bulkhead**: a permit of the dependency's semaphore is held for the whole call, retries
//!    and waits included, so at most `concurrency` calls of the pipeline are in progress and a
//!    failing dependency is never hammered by more;
//! 2. **breaker**: every attempt asks the breaker first and reports its outcome to it, so an
//!    outage opens the breaker within the retries of the first calls. While it is open a call
//!    either waits ([`OnOpen::Wait`]: the lane pauses — it reads nothing and dead-letters
//!    nothing — until a half-open probe gets through) or gives up at once ([`OnOpen::GiveUp`]:
//!    an optional enrichment takes its fallback);
//! 3. **retry**: transient failures are retried with the dependency's backoff; when the
//!    attempts run out while the breaker is closed the call fails (the record is
//!    dead-lettered, or a sink's lane restarts from its checkpoint); when they run out while
//!    the breaker is open or half-open, a waiting call pauses instead and starts a fresh round
//!    of attempts once the breaker lets it through — a systemic outage never empties the
//!    stream into the dead-letter queue;
//! 4. **timeout**: each attempt (or, for calls made of several statements, each statement) is
//!    bounded by the dependency's `timeout`; a timed-out attempt is a transient failure.
//!
//! Outcomes: transient errors count as breaker failures; successes and permanent errors (the
//! dependency answered, the request was bad) count as successes; fatal errors and abandoned
//! attempts do not count. A stop request interrupts every wait (bulkhead, breaker, backoff)
//! but never an attempt in progress.

pub mod http;

use std::future::Future;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use crate::config::dependencies::DependencyPlan;
use crate::error::{Classified, ErrorClass};
use crate::observe::dependency::{BreakerChanged, CallRetried, DependencyWaiting};
use crate::policy::breaker::{Admission, Breaker, BreakerState, Outcome, Ticket};
use crate::policy::retry::RetryDecision;

/// An attempt ran out of time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("timed out after {0:?}")]
pub struct TimedOut(pub Duration);

/// What a call does while the breaker is open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnOpen {
    /// Wait for a half-open probe to succeed (a required dependency: the lane pauses).
    Wait,
    /// Give up at once with [`Interrupted::Open`] (an optional dependency with a fallback).
    GiveUp,
}

/// Why a call stopped without an answer from the dependency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interrupted {
    /// The breaker is open and the call does not wait.
    Open,
    /// A stop was requested while the call waited.
    Stopped,
}

/// How a failed attempt ends the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GiveUp {
    /// Not retryable (permanent or fatal).
    NotRetryable,
    /// Transient, but the retry policy is used up while the breaker is closed.
    Exhausted,
    /// Interrupted (breaker open for a call that does not wait, or a stop).
    Interrupted(Interrupted),
}

/// A call that failed: the last error and why it is final.
#[derive(Debug)]
pub enum CallError<E> {
    /// The dependency failed and the policy gives up.
    Failed {
        /// The last attempt's error.
        error: E,
        /// Attempts made.
        attempts: u32,
        /// Whether the error was transient with the retries used up.
        exhausted: bool,
    },
    /// Interrupted before the dependency answered.
    Interrupted(Interrupted),
}

/// The breaker state shared with `/health/ready`: 0 closed, 1 half-open, 2 open.
pub type StateCell = Arc<AtomicU8>;

/// One external system as seen by one pipeline: its policies, bulkhead and breaker.
pub struct Dependency {
    pipeline: Arc<str>,
    plan: DependencyPlan,
    bulkhead: Arc<Semaphore>,
    breaker: Mutex<Breaker>,
    origin: Instant,
    changed: watch::Sender<u64>,
    state: StateCell,
    stop: Mutex<Option<watch::Receiver<bool>>>,
    rng: Mutex<fastrand::Rng>,
}

impl std::fmt::Debug for Dependency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dependency")
            .field("pipeline", &self.pipeline)
            .field("name", &self.plan.name)
            .finish_non_exhaustive()
    }
}

impl Dependency {
    /// The dependency `plan` of `pipeline`, breaker closed.
    #[must_use]
    pub fn new(pipeline: &str, plan: DependencyPlan) -> Self {
        let d = Self {
            pipeline: pipeline.into(),
            bulkhead: Arc::new(Semaphore::new(plan.concurrency.max(1))),
            breaker: Mutex::new(Breaker::new(plan.breaker)),
            plan,
            origin: Instant::now(),
            changed: watch::channel(0).0,
            state: Arc::new(AtomicU8::new(0)),
            stop: Mutex::new(None),
            rng: Mutex::new(fastrand::Rng::new()),
        };
        BreakerChanged {
            pipeline: &d.pipeline,
            dependency: &d.plan.name,
            from: BreakerState::Closed,
            state: BreakerState::Closed,
            initial: true,
        }
        .emit();
        d
    }

    /// Its name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.plan.name
    }

    /// Its pipeline.
    #[must_use]
    pub fn pipeline(&self) -> &str {
        &self.pipeline
    }

    /// The per-attempt timeout.
    #[must_use]
    pub fn timeout(&self) -> Duration {
        self.plan.timeout
    }

    /// The breaker's state now.
    #[must_use]
    pub fn state(&self) -> BreakerState {
        self.breaker
            .lock()
            .map_or(BreakerState::Open, |b| b.state())
    }

    /// The cell `/health/ready` reads the breaker state from.
    #[must_use]
    pub fn state_cell(&self) -> StateCell {
        Arc::clone(&self.state)
    }

    /// Makes every wait of this dependency's calls end when `stop` becomes `true`.
    pub fn bind_stop(&self, stop: watch::Receiver<bool>) {
        if let Ok(mut s) = self.stop.lock() {
            *s = Some(stop);
        }
    }

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn stop_rx(&self) -> Option<watch::Receiver<bool>> {
        self.stop.lock().ok().and_then(|s| s.clone())
    }

    /// Updates the breaker under its lock; publishes a state change.
    fn with_breaker<R>(&self, f: impl FnOnce(&mut Breaker, Duration) -> R) -> R {
        let now = self.now();
        let (r, changed) = {
            let mut b = match self.breaker.lock() {
                Ok(b) => b,
                Err(poisoned) => poisoned.into_inner(),
            };
            let (before, from) = (b.generation(), b.state());
            let r = f(&mut b, now);
            (
                r,
                (b.generation() != before).then(|| (from, b.state(), b.generation())),
            )
        };
        if let Some((from, state, generation)) = changed {
            self.state.store(state.gauge() as u8, Ordering::Release);
            self.changed.send_replace(generation);
            BreakerChanged {
                pipeline: &self.pipeline,
                dependency: &self.plan.name,
                from,
                state,
                initial: false,
            }
            .emit();
        }
        r
    }

    /// Starts a call for `stage` (the metric label of its retries): waits for a bulkhead
    /// permit.
    ///
    /// # Errors
    /// [`Interrupted::Stopped`] when a stop is requested while waiting.
    pub async fn begin<'a>(
        &'a self,
        stage: &'a str,
        on_open: OnOpen,
    ) -> Result<Call<'a>, Interrupted> {
        let mut stop = self.stop_rx();
        let permit = tokio::select! {
            biased;
            p = Arc::clone(&self.bulkhead).acquire_owned() => p.map_err(|_| Interrupted::Stopped)?,
            () = stopped(&mut stop) => return Err(Interrupted::Stopped),
        };
        Ok(Call {
            dep: self,
            stage,
            on_open,
            _permit: permit,
            stop,
            attempts: 0,
            started: Instant::now(),
            waiting_logged: false,
        })
    }

    /// Runs `op` under the whole stack, each attempt bounded by the timeout.
    ///
    /// # Errors
    /// The last error when the policy gives up, or the interruption.
    pub async fn call<T, E, F, Fut>(
        &self,
        stage: &str,
        on_open: OnOpen,
        mut op: F,
    ) -> Result<T, CallError<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Classified + From<TimedOut>,
    {
        let mut call = self
            .begin(stage, on_open)
            .await
            .map_err(CallError::Interrupted)?;
        loop {
            let attempt = call.attempt().await.map_err(CallError::Interrupted)?;
            let result = match tokio::time::timeout(self.timeout(), op()).await {
                Ok(r) => r,
                Err(_) => Err(E::from(TimedOut(self.timeout()))),
            };
            match result {
                Ok(v) => {
                    call.succeeded(attempt);
                    return Ok(v);
                }
                Err(error) => match call.failed(attempt, error.class()).await {
                    Ok(()) => {}
                    Err(GiveUp::Interrupted(i)) => return Err(CallError::Interrupted(i)),
                    Err(why) => {
                        return Err(CallError::Failed {
                            error,
                            attempts: call.attempts(),
                            exhausted: why == GiveUp::Exhausted,
                        });
                    }
                },
            }
        }
    }
}

/// Resolves when `stop` becomes `true`; never without one.
async fn stopped(stop: &mut Option<watch::Receiver<bool>>) {
    match stop {
        Some(rx) => {
            if rx.wait_for(|s| *s).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

/// An admitted attempt: report its outcome to the call.
#[derive(Debug)]
#[must_use = "report the attempt's outcome with `succeeded` or `failed`"]
pub struct Attempt {
    ticket: Ticket,
}

/// One logical call in progress: holds its bulkhead permit.
pub struct Call<'a> {
    dep: &'a Dependency,
    stage: &'a str,
    on_open: OnOpen,
    _permit: OwnedSemaphorePermit,
    stop: Option<watch::Receiver<bool>>,
    attempts: u32,
    started: Instant,
    waiting_logged: bool,
}

impl Call<'_> {
    /// Attempts made so far.
    #[must_use]
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Waits until the breaker admits an attempt.
    ///
    /// # Errors
    /// [`Interrupted::Open`] for a call that does not wait while the breaker is open;
    /// [`Interrupted::Stopped`] when a stop is requested while waiting.
    pub async fn attempt(&mut self) -> Result<Attempt, Interrupted> {
        loop {
            let mut changes = self.dep.changed.subscribe();
            let admission = self.dep.with_breaker(|b, now| b.admit(now));
            match admission {
                Admission::Admitted(ticket) => {
                    self.attempts += 1;
                    return Ok(Attempt { ticket });
                }
                Admission::Rejected { retry_at } => {
                    if self.on_open == OnOpen::GiveUp {
                        return Err(Interrupted::Open);
                    }
                    if !self.waiting_logged {
                        self.waiting_logged = true;
                        DependencyWaiting {
                            pipeline: &self.dep.pipeline,
                            dependency: &self.dep.plan.name,
                            stage: self.stage,
                        }
                        .emit();
                    }
                    let until = retry_at.map(|at| self.dep.origin + at);
                    tokio::select! {
                        () = async {
                            match until {
                                Some(t) => tokio::time::sleep_until(t).await,
                                None => std::future::pending().await,
                            }
                        } => {}
                        _ = changes.changed() => {}
                        () = stopped(&mut self.stop) => return Err(Interrupted::Stopped),
                    }
                    // A fresh round of attempts once the breaker lets the call through again.
                    self.attempts = 0;
                    self.started = Instant::now();
                }
            }
        }
    }

    /// The attempt succeeded (or the dependency answered with a permanent error).
    pub fn succeeded(&mut self, attempt: Attempt) {
        self.dep
            .with_breaker(|b, now| b.record(now, attempt.ticket, Outcome::Success));
    }

    /// The attempt was given up before the dependency said anything (e.g. a local error).
    pub fn abandoned(&mut self, attempt: Attempt) {
        self.dep
            .with_breaker(|b, now| b.record(now, attempt.ticket, Outcome::Abandoned));
    }

    /// The attempt failed with an error of `class`. `Ok(())`: the backoff has been waited
    /// out (or the breaker will be waited for): make the next attempt.
    ///
    /// # Errors
    /// Why the call gives up.
    pub async fn failed(&mut self, attempt: Attempt, class: ErrorClass) -> Result<(), GiveUp> {
        match class {
            ErrorClass::Permanent => {
                self.succeeded(attempt);
                return Err(GiveUp::NotRetryable);
            }
            ErrorClass::Fatal => {
                self.abandoned(attempt);
                return Err(GiveUp::NotRetryable);
            }
            ErrorClass::Transient => {}
        }
        self.dep
            .with_breaker(|b, now| b.record(now, attempt.ticket, Outcome::Failure));
        let random = self.dep.rng.lock().map_or(0.5, |mut r| r.f64());
        let decision = self
            .dep
            .plan
            .retry
            .decide(self.attempts, self.started.elapsed(), random);
        match decision {
            RetryDecision::RetryAfter(delay) => {
                CallRetried {
                    pipeline: &self.dep.pipeline,
                    stage: self.stage,
                    dependency: &self.dep.plan.name,
                    attempt: self.attempts,
                    delay,
                }
                .emit();
                tokio::select! {
                    () = tokio::time::sleep(delay) => Ok(()),
                    () = stopped(&mut self.stop) => Err(GiveUp::Interrupted(Interrupted::Stopped)),
                }
            }
            RetryDecision::AttemptsExhausted | RetryDecision::ElapsedExhausted => {
                if self.dep.state() == BreakerState::Closed {
                    Err(GiveUp::Exhausted)
                } else if self.on_open == OnOpen::GiveUp {
                    Err(GiveUp::Interrupted(Interrupted::Open))
                } else {
                    // The outage is systemic: wait for the breaker (next `attempt`), then
                    // start over with a fresh budget.
                    Ok(())
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;

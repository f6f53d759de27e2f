//! The policy stack with a paused clock: retries, breaker, waits, stops and the bulkhead.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use super::*;
use crate::policy::breaker::BreakerPolicy;
use crate::policy::retry::{Jitter, RetryPolicy};

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
enum E {
    #[error("transient")]
    Transient,
    #[error("permanent")]
    Permanent,
    #[error("timeout")]
    Timeout,
}

impl From<TimedOut> for E {
    fn from(_: TimedOut) -> Self {
        E::Timeout
    }
}

impl Classified for E {
    fn class(&self) -> ErrorClass {
        match self {
            E::Transient | E::Timeout => ErrorClass::Transient,
            E::Permanent => ErrorClass::Permanent,
        }
    }
    fn code(&self) -> &'static str {
        "e"
    }
}

fn plan(max_attempts: u32, min_calls: u32) -> DependencyPlan {
    DependencyPlan {
        name: "d".into(),
        timeout: Duration::from_secs(1),
        concurrency: 2,
        retry: RetryPolicy {
            max_attempts,
            initial: Duration::from_millis(10),
            max: Duration::from_millis(100),
            multiplier: 2.0,
            jitter: Jitter::None,
            max_elapsed: None,
        },
        breaker: BreakerPolicy {
            failure_rate: 0.5,
            window: 10,
            min_calls,
            open_for: Duration::from_secs(5),
            half_open_probes: 1,
        },
    }
}

#[tokio::test(start_paused = true)]
async fn transient_failures_are_retried_until_success() {
    let d = Dependency::new("p", plan(4, 10));
    let calls = AtomicU32::new(0);
    let r: Result<u32, CallError<E>> = d
        .call("s", OnOpen::Wait, || async {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            if n < 2 { Err(E::Transient) } else { Ok(n) }
        })
        .await;
    assert_eq!(r.expect("succeeds"), 2);
    assert_eq!(d.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn permanent_errors_are_not_retried_and_exhaustion_is_reported() {
    let d = Dependency::new("p", plan(3, 10));
    let calls = AtomicU32::new(0);
    let r: Result<(), CallError<E>> = d
        .call("s", OnOpen::Wait, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(E::Permanent)
        })
        .await;
    assert!(matches!(
        r,
        Err(CallError::Failed {
            attempts: 1,
            exhausted: false,
            ..
        })
    ));
    let r: Result<(), CallError<E>> = d
        .call("s", OnOpen::Wait, || async { Err(E::Transient) })
        .await;
    assert!(matches!(
        r,
        Err(CallError::Failed {
            attempts: 3,
            exhausted: true,
            ..
        })
    ));
}

#[tokio::test(start_paused = true)]
async fn an_attempt_that_outlives_the_timeout_is_a_transient_failure() {
    let d = Dependency::new("p", plan(2, 10));
    let r: Result<(), CallError<E>> = d
        .call("s", OnOpen::Wait, || async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(())
        })
        .await;
    match r {
        Err(CallError::Failed {
            error, attempts, ..
        }) => {
            assert_eq!(error, E::Timeout);
            assert_eq!(attempts, 2);
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn an_outage_opens_the_breaker_and_a_waiting_call_resumes_after_a_probe() {
    let d = Dependency::new("p", plan(3, 2));
    let down = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let calls = AtomicU32::new(0);
    let healer = {
        let down = Arc::clone(&down);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(12)).await;
            down.store(false, Ordering::SeqCst);
        })
    };
    let r: Result<(), CallError<E>> = d
        .call("s", OnOpen::Wait, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            if down.load(Ordering::SeqCst) {
                Err(E::Transient)
            } else {
                Ok(())
            }
        })
        .await;
    healer.await.expect("healer");
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(d.state(), BreakerState::Closed);
    // Two failures opened it; probes every 5 s until the outage ended at 12 s: no hammering.
    let n = calls.load(Ordering::SeqCst);
    assert!((3..=6).contains(&n), "{n} attempts");
}

#[tokio::test(start_paused = true)]
async fn a_call_with_a_fallback_gives_up_at_once_on_an_open_breaker() {
    let d = Dependency::new("p", plan(2, 2));
    let r: Result<(), CallError<E>> = d
        .call("s", OnOpen::GiveUp, || async { Err(E::Transient) })
        .await;
    assert!(
        matches!(r, Err(CallError::Interrupted(Interrupted::Open))),
        "{r:?}"
    );
    let calls = AtomicU32::new(0);
    let r: Result<(), CallError<E>> = d
        .call("s", OnOpen::GiveUp, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .await;
    assert!(matches!(r, Err(CallError::Interrupted(Interrupted::Open))));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "nothing reaches an open dependency"
    );
}

#[tokio::test(start_paused = true)]
async fn a_stop_ends_the_wait_for_an_open_breaker() {
    let d = Dependency::new("p", plan(2, 2));
    let (tx, rx) = watch::channel(false);
    d.bind_stop(rx);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let _ = tx.send(true);
    });
    let r: Result<(), CallError<E>> = d
        .call("s", OnOpen::Wait, || async { Err(E::Transient) })
        .await;
    assert!(
        matches!(r, Err(CallError::Interrupted(Interrupted::Stopped))),
        "{r:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_bulkhead_bounds_calls_in_flight() {
    let d = Arc::new(Dependency::new("p", plan(1, 10)));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (d, in_flight, peak) = (Arc::clone(&d), Arc::clone(&in_flight), Arc::clone(&peak));
        tasks.push(tokio::spawn(async move {
            let r: Result<(), CallError<E>> = d
                .call("s", OnOpen::Wait, || async {
                    let n = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(n, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    Ok(())
                })
                .await;
            r.is_ok()
        }));
    }
    for t in tasks {
        assert!(t.await.expect("task"));
    }
    assert_eq!(peak.load(Ordering::SeqCst), 2);
}

//! `enrich_http` against a local axum server: merge, classification, retries, fallbacks.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::json;

use super::*;
use crate::policy::breaker::BreakerPolicy;
use crate::policy::retry::{Jitter, RetryPolicy};
use crate::record::{RecordId, RecordMeta};

/// Calls in all, and calls for `flaky`.
type Counters = Arc<(AtomicU32, AtomicU32)>;

async fn user(State(calls): State<Counters>, Path(id): Path<String>) -> (StatusCode, String) {
    calls.0.fetch_add(1, Ordering::SeqCst);
    match id.as_str() {
        "missing" => (StatusCode::NOT_FOUND, "no such user".into()),
        // The first two calls for `flaky` fail with 503.
        "flaky" if calls.1.fetch_add(1, Ordering::SeqCst) < 2 => {
            (StatusCode::SERVICE_UNAVAILABLE, "busy".into())
        }
        _ => (
            StatusCode::OK,
            json!({ "name": format!("user {id}") }).to_string(),
        ),
    }
}

async fn server() -> String {
    server_counting(Arc::default()).await
}

async fn server_counting(calls: Counters) -> String {
    let app = Router::new()
        .route("/users/{id}", get(user).post(user))
        .with_state(calls);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn stage(base: &str, fallback: Option<Fallback>) -> EnrichHttp {
    stage_with(base, fallback, Method::Get, None)
}

fn stage_with(
    base: &str,
    fallback: Option<Fallback>,
    method: Method,
    cache: Option<CachePlan>,
) -> EnrichHttp {
    let plan = EnrichPlan {
        name: "enrich_http_0".into(),
        dependency: DependencyPlan {
            name: "users".into(),
            timeout: Duration::from_secs(2),
            concurrency: 4,
            retry: RetryPolicy {
                max_attempts: 3,
                initial: Duration::from_millis(1),
                max: Duration::from_millis(5),
                multiplier: 2.0,
                jitter: Jitter::Full,
                max_elapsed: None,
            },
            breaker: BreakerPolicy::default(),
        },
        url: UrlTemplate::parse(&format!("{base}/users/{{.user_id}}")).expect("template"),
        method,
        into: vec!["user".into(), "profile".into()],
        fallback,
        cache,
    };
    let dep = Arc::new(Dependency::new("p", plan.dependency.clone()));
    EnrichHttp::new("p", plan, dep)
}

fn rec(user_id: &str) -> Record {
    Record::new(
        json!({ "user_id": user_id }),
        RecordMeta::new(RecordId {
            source: "s".into(),
            partition: "p".into(),
            offset: 1,
        }),
    )
}

async fn run(t: EnrichHttp, ids: &[&'static str]) -> Vec<Result<Vec<Record>, TransformError>> {
    let ids: Vec<&'static str> = ids.to_vec();
    tokio::task::spawn_blocking(move || {
        let records: Vec<Record> = ids.iter().map(|i| rec(i)).collect();
        let refs: Vec<&Record> = records.iter().collect();
        t.apply_batch(&refs)
    })
    .await
    .expect("blocking task")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_merged_4xx_is_permanent_and_5xx_is_retried() {
    let base = server().await;
    let out = run(stage(&base, None), &["7", "missing", "flaky"]).await;
    let first = out[0].as_ref().expect("enriched");
    assert_eq!(
        first[0].value,
        json!({"user_id": "7", "user": {"profile": {"name": "user 7"}}})
    );
    assert!(first[0].meta.degraded.is_empty());
    match &out[1] {
        Err(e) => {
            assert_eq!(e.class(), ErrorClass::Permanent);
            assert_eq!(e.code(), "http_4xx");
        }
        Ok(r) => panic!("a 404 must fail the record, got {r:?}"),
    }
    let third = out[2].as_ref().expect("retried until it answered");
    assert_eq!(
        third[0].value["user"]["profile"]["name"],
        json!("user flaky")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dependency_that_is_down_gives_the_fallback_marked_degraded() {
    // A port nobody listens on: connections are refused.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let base = format!("http://{closed}");
    let out = run(
        stage(&base, Some(Fallback::Value(json!({"name": "unknown"})))),
        &["1"],
    )
    .await;
    let r = out[0].as_ref().expect("goes on with the fallback");
    assert_eq!(r[0].value["user"]["profile"], json!({"name": "unknown"}));
    assert_eq!(r[0].meta.degraded, vec![Arc::<str>::from("users")]);

    let out = run(stage(&base, None), &["1"]).await;
    match &out[0] {
        Err(e) => assert_eq!(e.code(), "retries_exhausted"),
        Ok(r) => panic!("without a fallback the record fails, got {r:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_answers_are_reused_within_their_ttl() {
    let calls: Counters = Arc::default();
    let base = server_counting(Arc::clone(&calls)).await;
    let cache = Some(CachePlan {
        ttl: Duration::from_secs(60),
        max_entries: 10,
    });
    let t = Arc::new(stage_with(&base, None, Method::Post, cache));
    for _ in 0..2 {
        let t = Arc::clone(&t);
        let out = tokio::task::spawn_blocking(move || {
            let r = rec("5");
            t.apply_batch(&[&r])
        })
        .await
        .expect("blocking task");
        let r = out[0].as_ref().expect("enriched");
        assert_eq!(r[0].value["user"]["profile"]["name"], json!("user 5"));
    }
    assert_eq!(
        calls.0.load(Ordering::SeqCst),
        1,
        "the second answer came from the cache"
    );
}

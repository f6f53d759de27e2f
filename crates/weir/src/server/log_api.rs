//! `/api/log/*`: the embedded log of the running process, for `weir log stats|tail` (which
//! cannot open the log while this process holds it).
//!
//! ```text
//! GET /api/log/stats                                   LogView (buffer::view)
//! GET /api/log/offsets?topic=T&time_ms=MS              [[partition, offset], ...]
//! GET /api/log/read?topic=T&positions=0:12,1:40&max=N&wait_ms=W
//!                                                      [RecordView, ...]; waits up to W ms
//!                                                      for a record when there is none
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::{AppState, json_response, query_param};
use crate::buffer::view;

/// Longest wait of one `read`.
const MAX_WAIT: Duration = Duration::from_secs(10);

fn buffer(state: &AppState) -> Option<Arc<crate::buffer::Buffer>> {
    state.ingest.as_ref().map(|i| Arc::clone(i.buffer()))
}

fn no_log() -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        &json!({"error": "this process has no embedded log open"}),
    )
}

fn failed(e: &weir_log::Error) -> Response {
    let status = match e {
        weir_log::Error::UnknownTopic(_) | weir_log::Error::UnknownPartition { .. } => {
            StatusCode::NOT_FOUND
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    json_response(status, &json!({"error": e.to_string(), "code": e.code()}))
}

fn bad_request(what: &str) -> Response {
    json_response(StatusCode::BAD_REQUEST, &json!({ "error": what }))
}

pub(super) async fn stats(State(state): State<Arc<AppState>>) -> Response {
    match buffer(&state) {
        Some(b) => json_response(StatusCode::OK, &b.view()),
        None => no_log(),
    }
}

pub(super) async fn offsets(State(state): State<Arc<AppState>>, RawQuery(q): RawQuery) -> Response {
    let Some(b) = buffer(&state) else {
        return no_log();
    };
    let q = q.as_deref();
    let (Some(topic), Some(time_ms)) = (
        query_param(q, "topic"),
        query_param(q, "time_ms").and_then(|t| t.parse::<i64>().ok()),
    ) else {
        return bad_request("expected topic=T&time_ms=MS");
    };
    match tokio::task::block_in_place(|| view::offsets_for_time(b.log(), topic, time_ms)) {
        Ok(o) => json_response(StatusCode::OK, &o),
        Err(e) => failed(&e),
    }
}

/// Parses `0:12,1:40`.
#[must_use]
pub fn parse_positions(text: &str) -> Option<Vec<(u32, u64)>> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|pair| {
            let (p, o) = pair.split_once(':')?;
            Some((p.parse().ok()?, o.parse().ok()?))
        })
        .collect()
}

pub(super) async fn read(State(state): State<Arc<AppState>>, RawQuery(q): RawQuery) -> Response {
    let Some(b) = buffer(&state) else {
        return no_log();
    };
    let q = q.as_deref();
    let (Some(topic), Some(positions)) = (
        query_param(q, "topic"),
        query_param(q, "positions").and_then(parse_positions),
    ) else {
        return bad_request("expected topic=T&positions=PARTITION:OFFSET,...");
    };
    let max = query_param(q, "max")
        .and_then(|m| m.parse::<usize>().ok())
        .unwrap_or(100)
        .clamp(1, 10_000);
    let wait = query_param(q, "wait_ms")
        .and_then(|w| w.parse::<u64>().ok())
        .map_or(Duration::ZERO, Duration::from_millis)
        .min(MAX_WAIT);
    let deadline = Instant::now() + wait;
    loop {
        match tokio::task::block_in_place(|| view::read(b.log(), topic, &positions, max)) {
            Ok(records) if !records.is_empty() || Instant::now() >= deadline => {
                return json_response(StatusCode::OK, &records);
            }
            Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(e) => return failed(&e),
        }
    }
}

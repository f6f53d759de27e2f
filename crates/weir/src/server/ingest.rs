//! `POST /ingest/<pipeline>`: the HTTP face of [`crate::ingest`].
//!
//! | answer | when |
//! | --- | --- |
//! | 200 `{"records": N, "first_offset": {..}, "next_offset": {..}}` | stored (durable); a retry with the same `Idempotency-Key` gets the same answer and the header `Idempotent-Replayed: true` |
//! | 400 `{"error", "code", "line", "column"}` | malformed JSON, invalid UTF-8, empty body, bad `Idempotency-Key` |
//! | 404 | no `http` pipeline of that name |
//! | 409 | a request with the same `Idempotency-Key` is in progress |
//! | 413 | body over `max_body` (or a record over the log's largest record) |
//! | 422 | the `Idempotency-Key` was used with another body |
//! | 503 + `Retry-After` | the quota is full (or the log is closing) |
//! | 500 | the log failed (I/O); nothing more is accepted until a restart |
//!
//! The request is processed in a task of its own, so a client that goes away mid-request
//! cannot interrupt an append half way.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::json;

use super::{AppState, json_response};
use crate::error::{Classified, ErrorClass};
use crate::ingest::{Ingest, IngestError};
use crate::observe::ingest::{IngestAccepted, IngestRefused};

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    json_response(status, &json!({"error": message, "code": code}))
}

/// The handler of `POST /ingest/{pipeline}`.
pub(super) async fn ingest(
    State(state): State<Arc<AppState>>,
    Path(pipeline): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(ingest) = state.ingest.clone() else {
        return error(
            StatusCode::NOT_FOUND,
            "unknown_pipeline",
            "this configuration has no http source",
        );
    };
    let Some(limit) = ingest.max_body(&pipeline) else {
        return error(
            StatusCode::NOT_FOUND,
            "unknown_pipeline",
            &IngestError::UnknownPipeline(pipeline).to_string(),
        );
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return respond(&ingest, &pipeline, Err(IngestError::TooLarge { limit }));
    }
    let key = match headers.get("idempotency-key").map(HeaderValue::to_str) {
        None => None,
        Some(Ok(k)) => Some(k.to_owned()),
        Some(Err(_)) => {
            return respond(
                &ingest,
                &pipeline,
                Err(IngestError::BadKey("not visible ASCII".into())),
            );
        }
    };
    let limit_usize = usize::try_from(limit).unwrap_or(usize::MAX);
    let bytes = match Limited::new(body, limit_usize).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return respond(&ingest, &pipeline, Err(IngestError::TooLarge { limit }));
        }
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "body_read",
                &format!("cannot read the body: {e}"),
            );
        }
    };
    let task = {
        let ingest = Arc::clone(&ingest);
        let pipeline = pipeline.clone();
        tokio::spawn(async move { ingest.ingest(&pipeline, &bytes, key.as_deref()).await })
    };
    match task.await {
        Ok(result) => respond(&ingest, &pipeline, result),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "panic",
            &format!("ingest failed: {e}"),
        ),
    }
}

fn respond(
    ingest: &Ingest,
    pipeline: &str,
    result: Result<crate::ingest::Outcome, IngestError>,
) -> Response {
    let e = match result {
        Ok(outcome) => {
            IngestAccepted {
                pipeline,
                records: outcome.answer.records,
                replayed: outcome.replayed,
            }
            .emit();
            let mut r = json_response(StatusCode::OK, &outcome.answer);
            if outcome.replayed {
                r.headers_mut()
                    .insert("idempotent-replayed", HeaderValue::from_static("true"));
            }
            return r;
        }
        Err(e) => e,
    };
    let status = match &e {
        IngestError::UnknownPipeline(_) => StatusCode::NOT_FOUND,
        IngestError::TooLarge { .. } | IngestError::RecordTooLarge { .. } => {
            StatusCode::PAYLOAD_TOO_LARGE
        }
        IngestError::Body(_) | IngestError::BadKey(_) => StatusCode::BAD_REQUEST,
        IngestError::InProgress => StatusCode::CONFLICT,
        IngestError::KeyReused => StatusCode::UNPROCESSABLE_ENTITY,
        IngestError::Log(weir_log::Error::Closed) => StatusCode::SERVICE_UNAVAILABLE,
        _ if e.class() == ErrorClass::Transient => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let mut body = json!({"error": e.to_string(), "code": e.code()});
    if let IngestError::Body(b) = &e
        && let Some((line, column)) = b.position()
    {
        body["line"] = json!(line);
        body["column"] = json!(column);
    }
    if ingest.max_body(pipeline).is_some() {
        IngestRefused {
            pipeline,
            reason: e.code(),
            status: status.as_u16(),
            message: &e.to_string(),
        }
        .emit();
    }
    let mut r = json_response(status, &body);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        let secs = ingest.retry_after(pipeline).as_secs_f64().ceil().max(1.0) as u64;
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    r
}

//! The HTTP server: `/metrics` (Prometheus text format), `/health/live`, `/health/ready`,
//! `POST /ingest/<pipeline>` (see [`ingest`]) and `/api/log/*` (see [`log_api`]).

mod ingest;
pub mod log_api;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};

use crate::observe::health::Health;
use crate::observe::metrics::metrics;

/// What the handlers share.
#[derive(Debug)]
pub struct AppState {
    /// Liveness and readiness.
    pub health: Arc<Health>,
    /// HTTP ingest and the embedded log, when the configuration uses it.
    pub ingest: Option<Arc<crate::ingest::Ingest>>,
}

/// The server's routes over shared state.
pub fn router(health: Arc<Health>, ingest: Option<Arc<crate::ingest::Ingest>>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/health/live", get(|| async { "ok\n" }))
        .route("/health/ready", get(ready))
        .route("/ingest/{pipeline}", post(ingest::ingest))
        .route("/api/log/stats", get(log_api::stats))
        .route("/api/log/offsets", get(log_api::offsets))
        .route("/api/log/read", get(log_api::read))
        .with_state(Arc::new(AppState { health, ingest }))
}

async fn metrics_text() -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics().render(),
    )
}

async fn ready(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    match state.health.ready() {
        Ok(()) => (StatusCode::OK, "ready\n".to_owned()),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        ),
    }
}

/// A JSON response.
pub(crate) fn json_response(
    status: StatusCode,
    body: &impl serde::Serialize,
) -> axum::response::Response {
    let text = serde_json::to_string(body).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    (status, [(header::CONTENT_TYPE, "application/json")], text).into_response()
}

/// The value of `name` in a query string (no percent-decoding: the values used here are
/// plain).
pub(crate) fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Binds `addr` and serves in the background; returns the bound address (useful with port 0).
///
/// # Errors
/// When the address cannot be bound.
pub async fn start(
    addr: SocketAddr,
    health: Arc<Health>,
    ingest: Option<Arc<crate::ingest::Ingest>>,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let app = router(health, ingest);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("server stopped: {e}");
        }
    });
    Ok(local)
}

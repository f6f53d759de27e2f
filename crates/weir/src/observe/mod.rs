//! Observability: metrics, typed internal events, health, logging and progress.

pub mod dependency;
pub mod events;
pub mod health;
pub mod ingest;
pub mod logging;
pub mod metrics;
pub mod progress;

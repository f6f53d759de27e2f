//! weir: a resilient data-pipeline engine.
//!
//! Records move from sources through transforms into sinks in lanes; each lane cuts its stream
//! into epochs and commits them with a checkpoint, so a crash anywhere loses nothing and
//! duplicates nothing. See `DESIGN.md` for the architecture.

pub mod buffer;
pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod dependency;
pub mod dlq;
pub mod durable;
pub mod epoch;
pub mod error;
#[cfg(feature = "fault-injection")]
pub mod fault;
pub mod ingest;
pub mod keypath;
pub mod layout;
pub mod observe;
pub mod policy;
pub mod quality;
pub mod record;
pub mod runtime;
pub mod server;
pub mod sinks;
pub mod sources;
pub mod transforms;

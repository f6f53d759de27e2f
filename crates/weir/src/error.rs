//! Error classes: every failure in weir is classified where it happens, and the runtime decides
//! retry / dead-letter / restart from the class alone (never from message text).

use std::fmt;

/// How the runtime treats a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Worth retrying: timeouts, refused connections, 5xx, 429.
    Transient,
    /// Retrying cannot help: parse errors, failed rules, 4xx, jq runtime errors. The record is
    /// set aside (dead-lettered) and the lane moves on.
    Permanent,
    /// The lane cannot go on: a bug, disk full, the checkpoint store unreachable. The lane stops
    /// and is restarted from its last checkpoint.
    Fatal,
}

impl ErrorClass {
    /// Stable lowercase name, used in logs and metric labels.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transient => "transient",
            Self::Permanent => "permanent",
            Self::Fatal => "fatal",
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Implemented by every error type of the engine.
pub trait Classified {
    /// The class that decides what the runtime does with this failure.
    fn class(&self) -> ErrorClass;
    /// Stable lowercase code (`parse`, `transform`, `checksum_mismatch`, ...) used as a metric
    /// label and as the dead-letter reason.
    fn code(&self) -> &'static str;
}

/// Classifies an I/O error: a full disk or quota is fatal for the lane like every other local
/// I/O failure; there is nothing transient about a local file system refusing a write.
#[must_use]
pub fn io_class(_err: &std::io::Error) -> ErrorClass {
    ErrorClass::Fatal
}

/// The engine's class of an error of the embedded log (weir-log mirrors the three classes).
#[must_use]
pub fn log_class(err: &weir_log::Error) -> ErrorClass {
    match err.class() {
        weir_log::ErrorClass::Transient => ErrorClass::Transient,
        weir_log::ErrorClass::Permanent => ErrorClass::Permanent,
        weir_log::ErrorClass::Fatal => ErrorClass::Fatal,
    }
}

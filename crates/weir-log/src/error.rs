//! Errors of the log. Every error answers [`Error::class`] (what a caller should do with it) and
//! [`Error::code`] (a stable lowercase label for metrics and logs).

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

/// What a caller should do with a failure. Mirrors the engine's `ErrorClass` (weir-log imports
/// nothing of the engine; the engine maps one onto the other).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Retrying later can succeed (the disk quota is full until retention frees space).
    Transient,
    /// Retrying the same call cannot help (unknown topic, record too large, offset out of range).
    Permanent,
    /// The log cannot go on as it is: an I/O error, a poisoned writer, corruption, a closed log.
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

/// What is wrong with bytes found on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Damage {
    /// The frame runs past the end of the data: a write that did not complete.
    Torn {
        /// Bytes the frame claims.
        needed: u64,
        /// Bytes actually there.
        available: u64,
    },
    /// The length field is outside what any frame can have.
    LengthOutOfRange {
        /// The length field as read.
        len: u32,
    },
    /// The stored CRC32C does not match the frame.
    ChecksumMismatch {
        /// CRC stored in the frame.
        stored: u32,
        /// CRC computed over the bytes read.
        computed: u32,
    },
    /// The key length does not fit in the frame.
    KeyLengthOutOfRange {
        /// The key length field as read.
        key_len: u32,
    },
    /// The frame is intact but carries another offset than the one that must be there.
    OffsetMismatch {
        /// The offset that must come next.
        expected: u64,
        /// The offset in the frame.
        found: u64,
    },
    /// The segment header (magic, version, base offset) is wrong.
    BadSegmentHeader,
    /// A sealed segment ends before the next segment begins: offsets are missing.
    MissingOffsets {
        /// The first missing offset.
        from: u64,
        /// The base offset of the next segment.
        to: u64,
    },
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Torn { needed, available } => {
                write!(f, "torn frame: needs {needed} bytes, {available} present")
            }
            Self::LengthOutOfRange { len } => write!(f, "frame length {len} out of range"),
            Self::ChecksumMismatch { stored, computed } => write!(
                f,
                "checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"
            ),
            Self::KeyLengthOutOfRange { key_len } => {
                write!(f, "key length {key_len} does not fit in the frame")
            }
            Self::OffsetMismatch { expected, found } => {
                write!(f, "offset {found} where {expected} was expected")
            }
            Self::BadSegmentHeader => f.write_str("bad segment header"),
            Self::MissingOffsets { from, to } => write!(f, "offsets {from}..{to} are missing"),
        }
    }
}

/// Errors of the log.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done (`write`, `sync`, `open`, ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: Arc<io::Error>,
    },
    /// An earlier write or fsync of this partition failed; the writer refuses further appends
    /// because it can no longer tell what is on disk. Reopen the log to recover.
    #[error("partition {topic}/{partition} is poisoned by an earlier I/O failure: {cause}")]
    Poisoned {
        /// Topic of the partition.
        topic: String,
        /// Partition number.
        partition: u32,
        /// The failure that poisoned the writer.
        cause: String,
    },
    /// Appending would take the log over its disk quota. Retryable: retention frees space.
    #[error(
        "disk quota exceeded: quota {quota} bytes, {usage} bytes used, append needs {requested} more"
    )]
    QuotaExceeded {
        /// The quota, bytes.
        quota: u64,
        /// Bytes in use when the append was refused.
        usage: u64,
        /// Bytes the append needed.
        requested: u64,
    },
    /// Bytes on disk are damaged where intact data must be.
    #[error("corrupt segment {} at offset {offset} (byte {position}): {damage}", segment.display())]
    Corrupt {
        /// The segment file.
        segment: PathBuf,
        /// The offset whose record is damaged.
        offset: u64,
        /// Byte position in the segment file.
        position: u64,
        /// What is wrong.
        damage: Damage,
    },
    /// The offset is not in the partition (deleted by retention, or beyond the end).
    #[error("offset {requested} out of range for {topic}/{partition}: first {first}, next {next}")]
    OffsetOutOfRange {
        /// Topic of the partition.
        topic: String,
        /// Partition number.
        partition: u32,
        /// The offset asked for.
        requested: u64,
        /// The first offset still in the partition.
        first: u64,
        /// The next offset to be written.
        next: u64,
    },
    /// A record is larger than `max_record_bytes`.
    #[error("record of {size} bytes exceeds the maximum of {max}")]
    RecordTooLarge {
        /// Key plus value bytes.
        size: u64,
        /// The configured maximum.
        max: u64,
    },
    /// No such topic.
    #[error("unknown topic {0:?}")]
    UnknownTopic(String),
    /// No such partition.
    #[error("topic {topic:?} has {partitions} partitions, there is no partition {partition}")]
    UnknownPartition {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: u32,
        /// How many partitions the topic has.
        partitions: u32,
    },
    /// The topic exists already (with another partition count, for `ensure_topic`).
    #[error("topic {topic:?} exists with {partitions} partitions")]
    TopicExists {
        /// The topic.
        topic: String,
        /// Its partition count.
        partitions: u32,
    },
    /// A topic or consumer name is not allowed.
    #[error("invalid {what} name {name:?}: use 1 to 200 of [A-Za-z0-9._-], not starting with '.'")]
    InvalidName {
        /// `topic` or `consumer`.
        what: &'static str,
        /// The name given.
        name: String,
    },
    /// The configuration is invalid; every problem is listed.
    #[error("invalid log configuration: {}", .0.join("; "))]
    InvalidConfig(Vec<String>),
    /// The log was closed.
    #[error("the log is closed")]
    Closed,
}

/// Result with the log's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source: Arc::new(source),
        }
    }

    /// What a caller should do with this error.
    #[must_use]
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::QuotaExceeded { .. } => ErrorClass::Transient,
            Self::OffsetOutOfRange { .. }
            | Self::RecordTooLarge { .. }
            | Self::UnknownTopic(_)
            | Self::UnknownPartition { .. }
            | Self::TopicExists { .. }
            | Self::InvalidName { .. }
            | Self::InvalidConfig(_) => ErrorClass::Permanent,
            Self::Io { .. } | Self::Poisoned { .. } | Self::Corrupt { .. } | Self::Closed => {
                ErrorClass::Fatal
            }
        }
    }

    /// Whether retrying the same call later can succeed (`class() == Transient`).
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        self.class() == ErrorClass::Transient
    }

    /// Stable lowercase code for metric labels and logs.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Io { .. } => "io",
            Self::Poisoned { .. } => "poisoned",
            Self::QuotaExceeded { .. } => "quota_exceeded",
            Self::Corrupt {
                damage: Damage::ChecksumMismatch { .. },
                ..
            } => "checksum_mismatch",
            Self::Corrupt { .. } => "corrupt",
            Self::OffsetOutOfRange { .. } => "offset_out_of_range",
            Self::RecordTooLarge { .. } => "record_too_large",
            Self::UnknownTopic(_) => "unknown_topic",
            Self::UnknownPartition { .. } => "unknown_partition",
            Self::TopicExists { .. } => "topic_exists",
            Self::InvalidName { .. } => "invalid_name",
            Self::InvalidConfig(_) => "invalid_config",
            Self::Closed => "closed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_is_the_only_retryable_error() {
        let quota = Error::QuotaExceeded {
            quota: 100,
            usage: 90,
            requested: 20,
        };
        assert!(quota.is_retryable());
        assert_eq!(quota.code(), "quota_exceeded");
        let msg = quota.to_string();
        assert!(
            msg.contains("quota 100") && msg.contains("90 bytes used"),
            "{msg}"
        );
        assert!(!Error::Closed.is_retryable());
        assert_eq!(
            Error::io("sync", "/x", io::Error::other("boom")).class(),
            ErrorClass::Fatal
        );
    }
}

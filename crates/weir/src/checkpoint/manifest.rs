//! The checkpoint manifest: one file per lane per epoch.
//!
//! ```text
//! weir-checkpoint 1\n
//! crc32c=<8 lowercase hex digits> len=<decimal byte count>\n
//! <body: `len` bytes of JSON>
//! ```
//!
//! The checksum is CRC32C (the `crc32c` crate) over the body. A file shorter than its header
//! promises is *torn* (a write that did not finish); a body whose checksum differs is *corrupt*.
//! Either way the manifest is rejected and recovery falls back to the previous one.

use serde::{Deserialize, Serialize};

use crate::epoch::Epoch;

const MAGIC: &str = "weir-checkpoint 1\n";

/// The state of one lane at the end of one committed epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Pipeline name.
    pub pipeline: String,
    /// Lane id.
    pub lane: String,
    /// The committed epoch.
    pub epoch: Epoch,
    /// Where the source resumes: the offset after the epoch's last record.
    pub next_offset: u64,
    /// Input records consumed by this lane up to and including this epoch.
    pub records_in: u64,
    /// Records written to the sinks up to and including this epoch.
    pub records_out: u64,
    /// When the checkpoint was written, in milliseconds since the Unix epoch.
    pub created_at_ms: u64,
    /// Operator state of the lane's stages (empty for stateless pipelines).
    #[serde(default)]
    pub state: serde_json::Map<String, serde_json::Value>,
    /// What each sink needs to roll the epoch forward, by sink name.
    #[serde(default)]
    pub sinks: serde_json::Map<String, serde_json::Value>,
}

/// Why a manifest was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// The header is missing or not weir's.
    #[error("not a weir checkpoint manifest (bad header)")]
    BadHeader,
    /// The file ends before the body the header announced.
    #[error("torn manifest: header announces {expected} bytes, found {found}")]
    Torn {
        /// Bytes announced.
        expected: usize,
        /// Bytes present.
        found: usize,
    },
    /// The body's checksum does not match.
    #[error("checksum mismatch: header says {expected:08x}, body hashes to {actual:08x}")]
    ChecksumMismatch {
        /// From the header.
        expected: u32,
        /// Computed.
        actual: u32,
    },
    /// The body verified but is not a valid checkpoint.
    #[error("invalid checkpoint body: {0}")]
    Body(String),
}

impl ManifestError {
    /// Stable code for logs and metrics.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadHeader => "bad_header",
            Self::Torn { .. } => "torn",
            Self::ChecksumMismatch { .. } => "checksum_mismatch",
            Self::Body(_) => "invalid_body",
        }
    }
}

/// Serializes a checkpoint into manifest bytes.
#[must_use]
pub fn encode(checkpoint: &Checkpoint) -> Vec<u8> {
    let body = serde_json::to_vec(checkpoint)
        .unwrap_or_else(|_| unreachable!("a checkpoint always serializes"));
    let mut out = Vec::with_capacity(body.len() + 48);
    out.extend_from_slice(MAGIC.as_bytes());
    out.extend_from_slice(
        format!("crc32c={:08x} len={}\n", crc32c::crc32c(&body), body.len()).as_bytes(),
    );
    out.extend_from_slice(&body);
    out
}

/// Parses and verifies manifest bytes.
///
/// # Errors
/// A [`ManifestError`] saying why the bytes are not a valid manifest.
pub fn decode(bytes: &[u8]) -> Result<Checkpoint, ManifestError> {
    let rest = bytes
        .strip_prefix(MAGIC.as_bytes())
        .ok_or(ManifestError::BadHeader)?;
    let nl = rest
        .iter()
        .position(|&b| b == b'\n')
        .ok_or(ManifestError::BadHeader)?;
    let header = std::str::from_utf8(&rest[..nl]).map_err(|_| ManifestError::BadHeader)?;
    let body = &rest[nl + 1..];
    let (crc, len) = header
        .strip_prefix("crc32c=")
        .and_then(|h| h.split_once(" len="))
        .ok_or(ManifestError::BadHeader)?;
    let lower_hex = crc.len() == 8 && crc.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !lower_hex || len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ManifestError::BadHeader);
    }
    let expected = u32::from_str_radix(crc, 16).map_err(|_| ManifestError::BadHeader)?;
    let len: usize = len.parse().map_err(|_| ManifestError::BadHeader)?;
    if body.len() < len {
        return Err(ManifestError::Torn {
            expected: len,
            found: body.len(),
        });
    }
    if body.len() > len {
        return Err(ManifestError::Body(format!(
            "{} bytes after the announced body",
            body.len() - len
        )));
    }
    let actual = crc32c::crc32c(body);
    if actual != expected {
        return Err(ManifestError::ChecksumMismatch { expected, actual });
    }
    serde_json::from_slice(body).map_err(|e| ManifestError::Body(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Checkpoint {
        let mut state = serde_json::Map::new();
        state.insert("dedupe".into(), serde_json::json!({"seen": [1, 2]}));
        Checkpoint {
            pipeline: "orders".into(),
            lane: "a.jsonl".into(),
            epoch: Epoch(7),
            next_offset: 123_456,
            records_in: 1000,
            records_out: 990,
            created_at_ms: 1_700_000_000_000,
            state,
            sinks: serde_json::Map::new(),
        }
    }

    #[test]
    fn round_trips() {
        let c = sample();
        assert_eq!(decode(&encode(&c)), Ok(c));
    }

    #[test]
    fn every_truncation_is_rejected() {
        let bytes = encode(&sample());
        for cut in 0..bytes.len() {
            assert!(
                decode(&bytes[..cut]).is_err(),
                "accepted a manifest cut at {cut}"
            );
        }
    }

    #[test]
    fn every_single_bit_flip_is_rejected() {
        let bytes = encode(&sample());
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.clone();
                b[i] ^= 1 << bit;
                assert!(
                    decode(&b).is_err(),
                    "accepted a flip of bit {bit} at byte {i}"
                );
            }
        }
    }

    #[test]
    fn names_the_failure() {
        let bytes = encode(&sample());
        assert!(matches!(
            decode(&bytes[..bytes.len() - 3]),
            Err(ManifestError::Torn { .. })
        ));
        let mut b = bytes.clone();
        let last = b.len() - 2;
        b[last] ^= 0x20;
        assert!(matches!(
            decode(&b),
            Err(ManifestError::ChecksumMismatch { .. })
        ));
        assert_eq!(decode(b"garbage"), Err(ManifestError::BadHeader));
    }
}

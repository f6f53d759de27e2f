//! A log sink lane's append marker: which epoch it appended last, and how far.

use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};
use weir_log::{Partition, StartAt};

use crate::durable;
use crate::keypath;

/// One partition's share of an epoch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    /// The partition.
    pub p: u32,
    /// Records of the epoch for this partition.
    pub total: u64,
    /// Appended runs `[first offset, count]`, in record order.
    pub present: Vec<(u64, u64)>,
    /// An append in flight: `[snapshot of the next offset, count]`.
    pub pending: Option<(u64, u64)>,
}

impl Run {
    /// Records of this partition appended.
    #[must_use]
    pub fn stored(&self) -> u64 {
        self.present.iter().map(|(_, n)| n).sum()
    }
}

/// The marker file's content.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    /// The epoch being appended or appended last (0: none yet).
    pub epoch: u64,
    /// Per partition.
    pub runs: Vec<Run>,
    /// Whether every record of `epoch` is appended.
    pub done: bool,
    /// Where the lane's source resumes after `epoch`, when known: the sink's own record of the
    /// lane's position (see `Sink::committed_position`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_offset: Option<u64>,
}

impl Marker {
    /// Reads the marker at `path` (a missing one is the empty marker).
    ///
    /// # Errors
    /// When it cannot be read or is not a marker.
    pub fn load(path: &Path) -> io::Result<Marker> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("not an append marker: {e}"),
                )
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Marker {
                done: true,
                ..Marker::default()
            }),
            Err(e) => Err(e),
        }
    }

    /// Writes the marker atomically and durably.
    ///
    /// # Errors
    /// The I/O error.
    pub fn store(&self, path: &Path, tmp: &Path) -> io::Result<()> {
        let bytes = serde_json::to_vec(self).map_err(io::Error::other)?;
        durable::write_atomic(path, tmp, &bytes)
    }
}

/// How many records tagged `tag` follow `from` in `part`, and the first one's offset. An
/// append's records have consecutive offsets and a crash cuts only a suffix, so these are the
/// first records of the append that was in flight.
///
/// # Errors
/// When the partition cannot be read.
pub fn find_run(part: &Partition, from: u64, tag: &[u8]) -> weir_log::Result<Option<(u64, u64)>> {
    let end = part.next_offset();
    let start = from.max(part.first_offset());
    if start >= end {
        return Ok(None);
    }
    let mut reader = part.reader(StartAt::Offset(start))?;
    let mut found: Option<(u64, u64)> = None;
    while reader.position() < end {
        let batch = reader.read(1024, 4 << 20)?;
        if batch.is_empty() {
            break;
        }
        for r in batch {
            if keypath::decode_key(r.key.as_deref()).1 == Some(tag) {
                match &mut found {
                    Some((_, n)) => *n += 1,
                    None => found = Some((r.offset, 1)),
                }
            } else if found.is_some() {
                return Ok(found);
            }
        }
    }
    Ok(found)
}

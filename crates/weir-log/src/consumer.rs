//! Committed offsets of named consumers, one small file per consumer and partition, replaced
//! atomically (temp file, fsync, rename, fsync directory).
//!
//! ```text
//! magic "WCOF" (4) | committed offset u64 LE (8) | crc32c of the 12 bytes before, u32 LE (4)
//! ```

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;

use crate::layout::{PartitionLayout, tmp_path};
use crate::storage::{self, Storage};

const MAGIC: [u8; 4] = *b"WCOF";

pub(crate) fn encode(offset: u64) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0..4].copy_from_slice(&MAGIC);
    b[4..12].copy_from_slice(&offset.to_le_bytes());
    let crc = crc32c::crc32c(&b[..12]);
    b[12..16].copy_from_slice(&crc.to_le_bytes());
    b
}

pub(crate) fn decode(bytes: &[u8]) -> Option<u64> {
    let b: &[u8; 16] = bytes.try_into().ok()?;
    if b[0..4] != MAGIC || crc32c::crc32c(&b[..12]).to_le_bytes() != b[12..16] {
        return None;
    }
    let mut o = [0u8; 8];
    o.copy_from_slice(&b[4..12]);
    Some(u64::from_le_bytes(o))
}

/// Committed offsets loaded on open.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    pub offsets: BTreeMap<String, u64>,
    /// Offset files that failed their checksum; their consumer counts as committed at 0, which
    /// holds back retention (nothing is deleted on the word of a damaged file).
    pub corrupt: Vec<PathBuf>,
    pub removed_tmp: Vec<PathBuf>,
}

pub(crate) fn load(storage: &dyn Storage, layout: &PartitionLayout) -> io::Result<Loaded> {
    let dir = layout.consumers_dir();
    let mut loaded = Loaded::default();
    let names = match storage.list(&dir) {
        Ok(names) => names,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(loaded),
        Err(e) => return Err(e),
    };
    for name in names {
        if name.ends_with(".tmp") {
            let path = dir.join(&name);
            storage.remove_file(&path)?;
            loaded.removed_tmp.push(path);
        } else if let Some(consumer) = PartitionLayout::parse_consumer(&name) {
            let path = layout.consumer_offset(consumer);
            match decode(&storage::read_file(storage, &path)?) {
                Some(offset) => {
                    loaded.offsets.insert(consumer.to_owned(), offset);
                }
                None => {
                    loaded.offsets.insert(consumer.to_owned(), 0);
                    loaded.corrupt.push(path);
                }
            }
        }
    }
    Ok(loaded)
}

pub(crate) fn store(
    storage: &dyn Storage,
    layout: &PartitionLayout,
    consumer: &str,
    offset: u64,
) -> io::Result<()> {
    // The consumers directory is created (and synced) when the partition is opened.
    let path = layout.consumer_offset(consumer);
    storage::write_atomic(storage, &path, &tmp_path(&path), &encode(offset))
}

pub(crate) fn remove(
    storage: &dyn Storage,
    layout: &PartitionLayout,
    consumer: &str,
) -> io::Result<()> {
    if storage::remove_if_exists(storage, &layout.consumer_offset(consumer))? {
        storage.sync_dir(&layout.consumers_dir())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let b = encode(12345);
        assert_eq!(decode(&b), Some(12345));
        for i in 0..b.len() {
            let mut bad = b;
            bad[i] ^= 1;
            assert_eq!(decode(&bad), None);
        }
        assert_eq!(decode(&b[..15]), None);
    }
}

//! The journal of a topic: one file shared by its partitions, so that a group of appends
//! touching several partitions is made durable by one `fdatasync` instead of one per partition.
//!
//! Under `Fsync::Always`, when a group commit holds records of two or more partitions, the
//! writer writes each partition's frames to its segment (not synced) and the same frames, as one
//! entry per partition, to the journal, then fsyncs the journal alone. The segments are synced
//! later: at a checkpoint (before the journal is reused), when a segment is sealed, on
//! `Partition::sync` and on close. Recovery replays the journal's entries past what each
//! partition's segments hold (see `replay.rs`).
//!
//! The file is reused in place: a checkpoint syncs every segment written since the journal's
//! generation began, then writes a header with the next generation and starts over after it.
//! Entries carry their generation, so what is left of an older one past the newest entry is
//! never read as new. Overwriting blocks the file already has lets `fdatasync` skip the inode.
//!
//! ```text
//! header (24 bytes): magic "WJNL" | version u32 = 1 | generation u64 | crc32c u32 of the 16
//!                    bytes before | reserved u32 = 0
//! entry: body_len u32 | crc32c u32 of body_len ++ body | body = generation u64 | partition u32
//!        | frames (record frames of that partition, back to back, consecutive offsets)
//! ```

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::storage::{Storage, StorageFile, read_exact_at};

const MAGIC: [u8; 4] = *b"WJNL";
const VERSION: u32 = 1;
/// Length of the journal header.
pub(crate) const HEADER_LEN: u64 = 24;
/// Length field, CRC, generation and partition in front of an entry's frames.
pub(crate) const ENTRY_OVERHEAD: usize = 20;
/// Largest entry body read back (larger length fields are damage).
const MAX_BODY: u32 = 1 << 30;

fn header(generation: u64) -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[0..4].copy_from_slice(&MAGIC);
    h[4..8].copy_from_slice(&VERSION.to_le_bytes());
    h[8..16].copy_from_slice(&generation.to_le_bytes());
    let crc = crc32c::crc32c(&h[..16]);
    h[16..20].copy_from_slice(&crc.to_le_bytes());
    h
}

fn decode_header(bytes: &[u8]) -> Option<u64> {
    let h = bytes.get(..HEADER_LEN as usize)?;
    let ok = h[0..4] == MAGIC
        && h[4..8] == VERSION.to_le_bytes()
        && crc32c::crc32c(&h[..16]).to_le_bytes() == h[16..20];
    ok.then(|| u64::from_le_bytes(h[8..16].try_into().unwrap_or_default()))
}

/// Appends one entry (a partition's frames) to `out`.
pub(crate) fn encode_entry(out: &mut Vec<u8>, generation: u64, partition: u32, frames: &[u8]) {
    let start = out.len();
    let body_len = (12 + frames.len()) as u32;
    out.extend_from_slice(&body_len.to_le_bytes());
    out.extend_from_slice(&[0u8; 4]);
    out.extend_from_slice(&generation.to_le_bytes());
    out.extend_from_slice(&partition.to_le_bytes());
    out.extend_from_slice(frames);
    let crc = crc32c::crc32c_append(crc32c::crc32c(&out[start..start + 4]), &out[start + 8..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// One entry read back: a partition and its frames.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub partition: u32,
    pub frames: Vec<u8>,
}

/// What a journal file holds: its generation and the entries of that generation, in order,
/// up to the first entry that is torn, damaged or of another generation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Contents {
    pub generation: u64,
    pub entries: Vec<Entry>,
}

/// Decodes a journal file's bytes. Never panics, whatever the input; a file without a valid
/// header holds nothing (its header is synced before any entry of its generation is written).
pub(crate) fn decode(bytes: &[u8]) -> Contents {
    let Some(generation) = decode_header(bytes) else {
        return Contents::default();
    };
    let mut entries = Vec::new();
    let mut at = HEADER_LEN as usize;
    while let Some(prefix) = bytes.get(at..at + 8) {
        let body_len = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        let stored = u32::from_le_bytes([prefix[4], prefix[5], prefix[6], prefix[7]]);
        if !(12..=MAX_BODY).contains(&body_len) {
            break;
        }
        let Some(body) = bytes.get(at + 8..at + 8 + body_len as usize) else {
            break;
        };
        if crc32c::crc32c_append(crc32c::crc32c(&prefix[..4]), body) != stored {
            break;
        }
        let entry_generation = u64::from_le_bytes(body[0..8].try_into().unwrap_or_default());
        if entry_generation != generation {
            break;
        }
        entries.push(Entry {
            partition: u32::from_le_bytes([body[8], body[9], body[10], body[11]]),
            frames: body[12..].to_vec(),
        });
        at += 8 + body_len as usize;
    }
    Contents {
        generation,
        entries,
    }
}

/// Reads a journal file; a missing file holds nothing.
pub(crate) fn read(storage: &dyn Storage, path: &Path) -> io::Result<Option<Contents>> {
    let file = match storage.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let len = file.size()?;
    let mut bytes = vec![0u8; usize::try_from(len).map_err(io::Error::other)?];
    read_exact_at(file.as_ref(), &mut bytes, 0)?;
    Ok(Some(decode(&bytes)))
}

/// The journal file of a topic, owned by the topic's writer thread.
#[derive(Debug)]
pub(crate) struct Journal {
    pub path: PathBuf,
    file: Arc<dyn StorageFile>,
    generation: u64,
    /// Where the next entry goes.
    pos: u64,
    /// Size at which the journal is reused from the start.
    capacity: u64,
    /// Entries of the group being written.
    buf: Vec<u8>,
}

impl Journal {
    /// Opens (creating if needed) the journal at `path` and starts the generation after
    /// `previous`, with its header synced. Without a previous generation (no file, or no valid
    /// header) the file is emptied first, so nothing older can follow the new entries. The
    /// caller syncs the directory.
    pub fn start(
        storage: &dyn Storage,
        path: &Path,
        previous: u64,
        capacity: u64,
    ) -> io::Result<Journal> {
        let file = match storage.open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => storage.create(path)?,
            Err(e) => return Err(e),
        };
        if previous == 0 {
            file.set_len(0)?;
        }
        let mut journal = Journal {
            path: path.to_path_buf(),
            file,
            generation: previous,
            pos: HEADER_LEN,
            capacity,
            buf: Vec::new(),
        };
        journal.restart()?;
        Ok(journal)
    }

    /// Begins the next generation: header written and synced, entries from the start again.
    /// Only once every segment written under the current generation is synced.
    pub fn restart(&mut self) -> io::Result<()> {
        self.generation += 1;
        self.file.write_all_at(&header(self.generation), 0)?;
        self.file.sync_data()?;
        self.pos = HEADER_LEN;
        Ok(())
    }

    /// Whether `bytes` more fit before the journal must be restarted.
    pub fn fits(&self, bytes: u64) -> bool {
        self.pos + bytes <= self.capacity
    }

    /// Whether a group of `bytes` can go through the journal at all.
    pub fn can_take(&self, bytes: u64) -> bool {
        HEADER_LEN + bytes <= self.capacity
    }

    /// Bytes a group of entries with `frames` bytes of frames in `entries` entries takes.
    pub fn entry_bytes(entries: usize, frames: usize) -> u64 {
        (entries * ENTRY_OVERHEAD + frames) as u64
    }

    /// Writes the entries `(partition, frames)` with one write and syncs them.
    pub fn write_synced<'a>(
        &mut self,
        entries: impl IntoIterator<Item = (u32, &'a [u8])>,
    ) -> io::Result<()> {
        self.buf.clear();
        for (partition, frames) in entries {
            encode_entry(&mut self.buf, self.generation, partition, frames);
        }
        self.file.write_all_at(&self.buf, self.pos)?;
        self.file.sync_data()?;
        self.pos += self.buf.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemStorage;
    use proptest::prelude::*;

    fn file(entries: &[(u64, u32, &[u8])], generation: u64) -> Vec<u8> {
        let mut b = header(generation).to_vec();
        for (g, p, f) in entries {
            encode_entry(&mut b, *g, *p, f);
        }
        b
    }

    #[test]
    fn entries_round_trip_and_stop_at_damage_or_another_generation() {
        let b = file(&[(3, 0, b"aaa"), (3, 7, b""), (3, 1, b"bbbb")], 3);
        let c = decode(&b);
        assert_eq!(c.generation, 3);
        let got: Vec<(u32, &[u8])> = c
            .entries
            .iter()
            .map(|e| (e.partition, e.frames.as_slice()))
            .collect();
        assert_eq!(got, vec![(0, &b"aaa"[..]), (7, b""), (1, b"bbbb")]);

        // A torn last entry is not read.
        assert_eq!(decode(&b[..b.len() - 1]).entries.len(), 2);
        // A flipped byte in the second entry ends the journal before it.
        let mut bad = b.clone();
        bad[HEADER_LEN as usize + ENTRY_OVERHEAD + 3 + 2] ^= 0x40;
        assert_eq!(decode(&bad).entries.len(), 1);
        // Entries left over from the generation before are not read as new.
        let stale = file(&[(3, 0, b"new"), (2, 1, b"old")], 3);
        assert_eq!(decode(&stale).entries.len(), 1);
        // Without a valid header nothing is read.
        let mut no_header = b.clone();
        no_header[9] ^= 1;
        assert_eq!(decode(&no_header), Contents::default());
        assert_eq!(decode(&[]), Contents::default());
    }

    #[test]
    fn a_restarted_journal_reads_only_its_new_generation() {
        let storage = MemStorage::new();
        storage.create_dir_all(Path::new("/t")).expect("mkdir");
        let path = Path::new("/t/journal");
        let mut j = Journal::start(&storage, path, 0, 1 << 20).expect("start");
        j.write_synced([(0, &b"first"[..]), (1, &b"second"[..])])
            .expect("write");
        let read_back = read(&storage, path).expect("read").expect("exists");
        assert_eq!(read_back.generation, 1);
        assert_eq!(read_back.entries.len(), 2);
        j.restart().expect("restart");
        j.write_synced([(1, &b"x"[..])]).expect("write");
        let read_back = read(&storage, path).expect("read").expect("exists");
        assert_eq!(read_back.generation, 2);
        assert_eq!(
            read_back.entries,
            vec![Entry {
                partition: 1,
                frames: b"x".to_vec()
            }]
        );
        assert!(
            read(&storage, Path::new("/t/none"))
                .expect("read")
                .is_none()
        );
    }

    #[test]
    fn a_journal_without_a_valid_header_is_emptied_before_its_first_generation() {
        let storage = MemStorage::new();
        storage.create_dir_all(Path::new("/t")).expect("mkdir");
        let path = Path::new("/t/journal");
        // Generation-1 entries after a damaged header: left over, never to be read as new (the
        // new first entry has the length of the old one, so the second would line up).
        let mut old = file(&[(1, 0, b"old"), (1, 1, b"stale")], 1);
        old[0] ^= 0xff;
        storage.create(path).expect("create");
        assert!(storage.set_file_bytes(path, &old));
        assert_eq!(
            read(&storage, path).expect("read"),
            Some(Contents::default())
        );
        let mut j = Journal::start(&storage, path, 0, 1 << 20).expect("start");
        j.write_synced([(2, &b"new"[..])]).expect("write");
        let got = read(&storage, path).expect("read").expect("exists");
        assert_eq!(got.generation, 1);
        assert_eq!(
            got.entries,
            vec![Entry {
                partition: 2,
                frames: b"new".to_vec()
            }]
        );
    }

    proptest! {
        #[test]
        fn decoding_random_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512),
                                              with_header in any::<bool>()) {
            let mut b = if with_header { header(1).to_vec() } else { Vec::new() };
            b.extend_from_slice(&bytes);
            let c = decode(&b);
            prop_assert!(c.entries.len() <= b.len() / ENTRY_OVERHEAD);
        }
    }
}

//! The sparse offset index and time index of a segment: in memory while the segment is active,
//! written to `.index` / `.timeindex` files when it is sealed (see the crate doc for the format).

/// Magic of an offset index file.
const OFFSET_MAGIC: [u8; 4] = *b"WIDX";
/// Magic of a time index file.
const TIME_MAGIC: [u8; 4] = *b"WTIX";
const INDEX_VERSION: u32 = 1;
/// magic, version, base offset, log length, next offset, max timestamp, entry count.
const HEADER_LEN: usize = 4 + 4 + 8 + 8 + 8 + 8 + 4;

/// The sparse indexes of one segment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SegmentIndex {
    /// `(offset - base, byte position of the frame)`, ascending.
    pub offsets: Vec<(u32, u32)>,
    /// `(largest timestamp of the records up to and including this one, offset - base)`;
    /// both ascending.
    pub times: Vec<(i64, u32)>,
    /// Largest timestamp in the segment; `None` when it holds no record.
    pub max_timestamp: Option<i64>,
    bytes_since_entry: u64,
}

impl SegmentIndex {
    /// Accounts for a record of `len` bytes at `pos` with relative offset `rel`: adds an entry to
    /// both indexes for the first record and then every `interval` bytes.
    pub fn on_record(&mut self, interval: u32, rel: u32, pos: u32, timestamp_ms: i64, len: usize) {
        let max = self
            .max_timestamp
            .map_or(timestamp_ms, |m| m.max(timestamp_ms));
        self.max_timestamp = Some(max);
        if self.offsets.is_empty() || self.bytes_since_entry >= u64::from(interval) {
            self.offsets.push((rel, pos));
            self.times.push((max, rel));
            self.bytes_since_entry = 0;
        }
        self.bytes_since_entry += len as u64;
    }

    /// The last indexed `(relative offset, position)` at or before `rel`.
    pub fn floor(&self, rel: u32) -> Option<(u32, u32)> {
        let i = self.offsets.partition_point(|e| e.0 <= rel);
        i.checked_sub(1).map(|i| self.offsets[i])
    }

    /// The last indexed relative offset up to which every record is older than `ts`: the first
    /// record at or after `ts` comes after it.
    pub fn before_time(&self, ts: i64) -> Option<u32> {
        let i = self.times.partition_point(|e| e.0 < ts);
        i.checked_sub(1).map(|i| self.times[i].1)
    }
}

/// What an index file says about its segment besides the entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SealedSummary {
    pub log_len: u64,
    pub next_offset: u64,
}

fn header(
    magic: [u8; 4],
    base: u64,
    summary: SealedSummary,
    max_ts: Option<i64>,
    count: usize,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + count * 12 + 4);
    out.extend_from_slice(&magic);
    out.extend_from_slice(&INDEX_VERSION.to_le_bytes());
    out.extend_from_slice(&base.to_le_bytes());
    out.extend_from_slice(&summary.log_len.to_le_bytes());
    out.extend_from_slice(&summary.next_offset.to_le_bytes());
    out.extend_from_slice(&max_ts.unwrap_or(0).to_le_bytes());
    out.extend_from_slice(&(count as u32).to_le_bytes());
    out
}

fn seal(mut out: Vec<u8>) -> Vec<u8> {
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The `.index` file of a sealed segment.
pub(crate) fn encode_offset_index(
    base: u64,
    summary: SealedSummary,
    idx: &SegmentIndex,
) -> Vec<u8> {
    let mut out = header(
        OFFSET_MAGIC,
        base,
        summary,
        idx.max_timestamp,
        idx.offsets.len(),
    );
    for &(rel, pos) in &idx.offsets {
        out.extend_from_slice(&rel.to_le_bytes());
        out.extend_from_slice(&pos.to_le_bytes());
    }
    seal(out)
}

/// The `.timeindex` file of a sealed segment.
pub(crate) fn encode_time_index(base: u64, summary: SealedSummary, idx: &SegmentIndex) -> Vec<u8> {
    let mut out = header(
        TIME_MAGIC,
        base,
        summary,
        idx.max_timestamp,
        idx.times.len(),
    );
    for &(ts, rel) in &idx.times {
        out.extend_from_slice(&ts.to_le_bytes());
        out.extend_from_slice(&rel.to_le_bytes());
    }
    seal(out)
}

struct Parsed<'a> {
    summary: SealedSummary,
    max_ts: Option<i64>,
    count: usize,
    entries: &'a [u8],
}

fn parse<'a>(bytes: &'a [u8], magic: [u8; 4], base: u64, entry_len: usize) -> Option<Parsed<'a>> {
    let body_len = bytes.len().checked_sub(4)?;
    if body_len < HEADER_LEN {
        return None;
    }
    let (body, crc) = bytes.split_at(body_len);
    if crc32c::crc32c(body).to_le_bytes() != crc {
        return None;
    }
    let u64_at = |at: usize| -> Option<u64> {
        Some(u64::from_le_bytes(body.get(at..at + 8)?.try_into().ok()?))
    };
    let u32_at = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(body.get(at..at + 4)?.try_into().ok()?))
    };
    if body[0..4] != magic || u32_at(4)? != INDEX_VERSION || u64_at(8)? != base {
        return None;
    }
    let summary = SealedSummary {
        log_len: u64_at(16)?,
        next_offset: u64_at(24)?,
    };
    let max_ts = (summary.next_offset > base).then_some(u64_at(32)? as i64);
    let count = u32_at(40)? as usize;
    let entries = &body[HEADER_LEN..];
    if entries.len() != count.checked_mul(entry_len)? {
        return None;
    }
    Some(Parsed {
        summary,
        max_ts,
        count,
        entries,
    })
}

/// Decodes the two index files of a sealed segment starting at `base`. `None` if either is
/// damaged, belongs to another segment, or disagrees with the other.
pub(crate) fn decode_index_files(
    offset_file: &[u8],
    time_file: &[u8],
    base: u64,
) -> Option<(SegmentIndex, SealedSummary)> {
    let o = parse(offset_file, OFFSET_MAGIC, base, 8)?;
    let t = parse(time_file, TIME_MAGIC, base, 12)?;
    if o.summary != t.summary || o.max_ts != t.max_ts || o.count != t.count {
        return None;
    }
    let mut idx = SegmentIndex {
        max_timestamp: o.max_ts,
        ..SegmentIndex::default()
    };
    for e in o.entries.chunks_exact(8) {
        let rel = u32::from_le_bytes([e[0], e[1], e[2], e[3]]);
        let pos = u32::from_le_bytes([e[4], e[5], e[6], e[7]]);
        idx.offsets.push((rel, pos));
    }
    for e in t.entries.chunks_exact(12) {
        let ts = i64::from_le_bytes([e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7]]);
        let rel = u32::from_le_bytes([e[8], e[9], e[10], e[11]]);
        idx.times.push((ts, rel));
    }
    let ascending = idx
        .offsets
        .windows(2)
        .all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1)
        && idx
            .times
            .windows(2)
            .all(|w| w[0].0 <= w[1].0 && w[0].1 < w[1].1);
    ascending.then_some((idx, o.summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SegmentIndex {
        let mut idx = SegmentIndex::default();
        let mut pos = 16u32;
        for (rel, ts) in [(0u32, 5i64), (1, 3), (2, 9), (3, 9), (4, 12)] {
            idx.on_record(100, rel, pos, ts, 60);
            pos += 60;
        }
        idx
    }

    #[test]
    fn entries_every_interval_and_floor_lookups() {
        let idx = sample();
        // 60-byte records, interval 100: entries at records 0, 2, 4.
        assert_eq!(idx.offsets, vec![(0, 16), (2, 136), (4, 256)]);
        assert_eq!(idx.times, vec![(5, 0), (9, 2), (12, 4)]);
        assert_eq!(idx.floor(3), Some((2, 136)));
        assert_eq!(idx.floor(0), Some((0, 16)));
        assert_eq!(idx.before_time(9), Some(0));
        assert_eq!(idx.before_time(5), None);
        assert_eq!(idx.max_timestamp, Some(12));
    }

    #[test]
    fn files_round_trip_and_damage_is_refused() {
        let idx = sample();
        let summary = SealedSummary {
            log_len: 316,
            next_offset: 105,
        };
        let o = encode_offset_index(100, summary, &idx);
        let t = encode_time_index(100, summary, &idx);
        let (back, s) = decode_index_files(&o, &t, 100).expect("round trip");
        assert_eq!(s, summary);
        assert_eq!(back.offsets, idx.offsets);
        assert_eq!(back.times, idx.times);
        assert_eq!(back.max_timestamp, Some(12));
        assert!(decode_index_files(&o, &t, 101).is_none(), "other base");
        assert!(decode_index_files(&t, &o, 100).is_none(), "swapped");
        for i in 0..o.len() {
            let mut bad = o.clone();
            bad[i] ^= 0x40;
            assert!(decode_index_files(&bad, &t, 100).is_none(), "flip at {i}");
        }
        assert!(decode_index_files(&o[..o.len() - 1], &t, 100).is_none());
    }
}

//! The open epoch's rows, COPY-encoded, with where each row ends and the record it came from.

use std::ops::Range;

use bytes::Bytes;

use crate::epoch::Epoch;
use crate::record::RecordId;

/// COPY data is sent in pieces of about this size.
const PIECE: usize = 1 << 20;

/// The open epoch's rows.
#[derive(Default)]
pub(super) struct Rows {
    pub(super) epoch: Option<Epoch>,
    /// The rows, COPY text format, back to back.
    pub(super) buf: Vec<u8>,
    /// Where each row ends in `buf`.
    ends: Vec<usize>,
    /// The input record of each row.
    ids: Vec<RecordId>,
}

impl Rows {
    pub(super) fn clear(&mut self) {
        *self = Rows::default();
    }

    pub(super) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Notes that the row just appended to `buf` came from record `id`.
    pub(super) fn row_written(&mut self, id: &RecordId) {
        self.ends.push(self.buf.len());
        self.ids.push(id.clone());
    }

    /// How many rows there are.
    pub(super) fn len(&self) -> usize {
        self.ends.len()
    }

    /// The record row `i` came from.
    pub(super) fn id(&self, i: usize) -> &RecordId {
        &self.ids[i]
    }

    /// All rows, as cheap pieces to send.
    pub(super) fn pieces(&self) -> Vec<Bytes> {
        self.pieces_of(0..self.len())
    }

    /// Rows `rows`, as cheap pieces to send.
    pub(super) fn pieces_of(&self, rows: Range<usize>) -> Vec<Bytes> {
        if rows.is_empty() {
            return Vec::new();
        }
        let start = if rows.start == 0 {
            0
        } else {
            self.ends[rows.start - 1]
        };
        let data = Bytes::copy_from_slice(&self.buf[start..self.ends[rows.end - 1]]);
        let mut out = Vec::with_capacity(data.len() / PIECE + 1);
        let mut at = 0;
        while at < data.len() {
            let end = (at + PIECE).min(data.len());
            out.push(data.slice(at..end));
            at = end;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_of_rows_is_exactly_their_bytes() {
        let mut rows = Rows::default();
        for (i, text) in ["a\t1\n", "bb\t2\n", "ccc\t3\n"].into_iter().enumerate() {
            rows.buf.extend_from_slice(text.as_bytes());
            rows.row_written(&RecordId {
                source: "s".into(),
                partition: "p".into(),
                offset: i as u64 * 10,
            });
        }
        let text = |r: Range<usize>| -> String {
            rows.pieces_of(r)
                .iter()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .collect()
        };
        assert_eq!(text(0..3), "a\t1\nbb\t2\nccc\t3\n");
        assert_eq!(text(1..2), "bb\t2\n");
        assert_eq!(text(2..3), "ccc\t3\n");
        assert_eq!(text(1..1), "");
        assert_eq!(rows.id(2).offset, 20);
        assert_eq!(rows.len(), 3);
    }
}

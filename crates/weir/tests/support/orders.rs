//! The test data set and its oracle: JSON-lines "orders" spread over several input files (one
//! lane each), generated deterministically, and exactly what the file sink must hold for them.
//!
//! Input line of file `f`, record `s` (byte offsets are known, so a checkpoint's `next_offset`
//! says exactly which records it covers):
//!
//! ```text
//! {"id":"f<f>-<s:06>","file":<f>,"seq":<s>,"amount":<a>,"pad":"<pad>"}
//! ```
//!
//! About 15% of the amounts are `<= 0`, so the filter `select(.amount > 0) | ...` drops a known
//! subset.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::inspect::{self, LaneCheckpoint};
use super::{Workdir, committed_by_lane};

/// Keeps the positive amounts, drops the padding.
pub const FILTER: &str = "select(.amount > 0) | {id, file, seq, amount}";
/// Keeps the positive amounts with their padding (large output records).
pub const FILTER_WITH_PAD: &str = "select(.amount > 0) | {id, file, seq, amount, pad}";

/// What to generate.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// Input files (lanes).
    pub files: usize,
    /// Records per file.
    pub per_file: usize,
    /// Length of the `pad` string of record `(file, seq)`.
    pub pad: fn(usize, usize) -> usize,
    /// Whether the pipeline's filter keeps `pad` ([`FILTER_WITH_PAD`]) or not ([`FILTER`]).
    pub keep_pad: bool,
}

/// One input line: where it ends in its file, and the output line it must produce.
#[derive(Clone, Debug)]
pub struct Line {
    /// Byte offset just after the line.
    pub end: u64,
    /// The exact committed line (without newline), `None` if the filter drops the record.
    pub out: Option<String>,
}

/// A generated data set: input lines per lane.
#[derive(Debug)]
pub struct Orders {
    /// Lane name (input file name) -> its lines in order.
    pub lanes: BTreeMap<String, Vec<Line>>,
    /// The jq filter the pipeline must use.
    pub filter: &'static str,
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The amount of record `(file, seq)`: -150..=849, deterministic.
pub fn amount(file: usize, seq: usize) -> i64 {
    (mix((file as u64) << 32 | seq as u64) % 1000) as i64 - 150
}

impl Orders {
    /// Writes `spec.files` files `<dir>/f<n>.jsonl` into `w` and returns the oracle. Lanes are
    /// named `f<n>.jsonl` (the glob for the pipeline is `<dir>/*.jsonl`).
    pub fn write(w: &Workdir, dir: &str, spec: &Spec) -> Orders {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
        let max_pad = (0..spec.files)
            .flat_map(|f| (0..spec.per_file).map(move |s| (spec.pad)(f, s)))
            .max()
            .unwrap_or(0);
        let pattern: String = (0..max_pad + ALPHABET.len())
            .map(|i| ALPHABET[i % ALPHABET.len()] as char)
            .collect();
        let mut lanes = BTreeMap::new();
        for f in 0..spec.files {
            let mut text = String::new();
            let mut lines = Vec::with_capacity(spec.per_file);
            for s in 0..spec.per_file {
                let a = amount(f, s);
                let start = s % ALPHABET.len();
                let pad = &pattern[start..start + (spec.pad)(f, s)];
                let id = format!("f{f}-{s:06}");
                text.push_str(&format!("{{\"id\":\"{id}\",\"file\":{f},\"seq\":{s},\"amount\":{a},\"pad\":\"{pad}\"}}\n"));
                let out = (a > 0).then(|| {
                    if spec.keep_pad {
                        format!("{{\"id\":\"{id}\",\"file\":{f},\"seq\":{s},\"amount\":{a},\"pad\":\"{pad}\"}}")
                    } else {
                        format!("{{\"id\":\"{id}\",\"file\":{f},\"seq\":{s},\"amount\":{a}}}")
                    }
                });
                lines.push(Line {
                    end: text.len() as u64,
                    out,
                });
            }
            let lane = format!("f{f}.jsonl");
            w.write(&format!("{dir}/{lane}"), &text);
            lanes.insert(lane, lines);
        }
        let orders = Orders {
            lanes,
            filter: if spec.keep_pad {
                FILTER_WITH_PAD
            } else {
                FILTER
            },
        };
        assert!(
            orders.total_out() < orders.total_in(),
            "the data set must have records the filter drops"
        );
        orders
    }

    /// Input records over all lanes.
    pub fn total_in(&self) -> usize {
        self.lanes.values().map(Vec::len).sum()
    }

    /// Output records over all lanes.
    pub fn total_out(&self) -> usize {
        self.lanes
            .values()
            .flatten()
            .filter(|l| l.out.is_some())
            .count()
    }

    /// Size in bytes of a lane's input file.
    pub fn input_len(&self, lane: &str) -> u64 {
        self.lanes[lane].last().map_or(0, |l| l.end)
    }

    /// The whole expected output of `lane`, in order.
    pub fn expected(&self, lane: &str) -> Vec<&str> {
        self.expected_through(lane, u64::MAX)
    }

    /// The expected output of the input lines of `lane` that end at or before `offset`: what a
    /// checkpoint with `next_offset == offset` covers.
    pub fn expected_through(&self, lane: &str, offset: u64) -> Vec<&str> {
        let lines = self
            .lanes
            .get(lane)
            .unwrap_or_else(|| panic!("unknown lane {lane}"));
        lines
            .iter()
            .take_while(|l| l.end <= offset)
            .filter_map(|l| l.out.as_deref())
            .collect()
    }

    fn check_lanes_known(&self, committed: &BTreeMap<String, Vec<String>>, context: &str) {
        for lane in committed.keys() {
            assert!(
                self.lanes.contains_key(lane),
                "{context}: committed output for a lane that has no input: {lane}"
            );
        }
    }

    /// Asserts the committed output is exactly the expected output: every lane, every record
    /// once, in input order, nothing else.
    pub fn assert_exactly_once(&self, committed: &BTreeMap<String, Vec<String>>, context: &str) {
        self.check_lanes_known(committed, context);
        let mut problems = Vec::new();
        for lane in self.lanes.keys() {
            let actual = committed.get(lane).map_or(&[][..], Vec::as_slice);
            if let Some(p) = mismatch(lane, actual, &self.expected(lane), Want::Exact) {
                problems.push(p);
            }
        }
        assert!(
            problems.is_empty(),
            "{context}: committed output is not exactly once:\n{}",
            problems.join("\n")
        );
        let total: usize = committed.values().map(Vec::len).sum();
        assert_eq!(
            total,
            self.total_out(),
            "{context}: total committed records"
        );
    }

    /// Asserts each lane's committed output is a prefix of its expected output (in order, no
    /// duplicates, no gaps); with `strict`, a proper prefix (the lane is not finished). Returns
    /// the number of committed records.
    pub fn assert_prefix(
        &self,
        committed: &BTreeMap<String, Vec<String>>,
        strict: bool,
        context: &str,
    ) -> usize {
        self.check_lanes_known(committed, context);
        let mut problems = Vec::new();
        for lane in self.lanes.keys() {
            let actual = committed.get(lane).map_or(&[][..], Vec::as_slice);
            let want = if strict {
                Want::StrictPrefix
            } else {
                Want::Prefix
            };
            if let Some(p) = mismatch(lane, actual, &self.expected(lane), want) {
                problems.push(p);
            }
        }
        assert!(
            problems.is_empty(),
            "{context}: committed output is not a prefix of the expected output:\n{}",
            problems.join("\n")
        );
        committed.values().map(Vec::len).sum()
    }

    /// Asserts nothing is visible beyond the commit point: each lane's committed output is a
    /// prefix of (with `exact`, equal to) the output of the input its checkpoint covers, and a
    /// lane without a checkpoint has no output.
    pub fn assert_covered_by_checkpoints(
        &self,
        committed: &BTreeMap<String, Vec<String>>,
        checkpoints: &BTreeMap<String, LaneCheckpoint>,
        exact: bool,
        context: &str,
    ) {
        self.check_lanes_known(committed, context);
        let mut problems = Vec::new();
        for lane in self.lanes.keys() {
            let actual = committed.get(lane).map_or(&[][..], Vec::as_slice);
            let offset = checkpoints.get(lane).map_or(0, |c| c.next_offset);
            let want = if exact { Want::Exact } else { Want::Prefix };
            if let Some(p) = mismatch(lane, actual, &self.expected_through(lane, offset), want) {
                problems.push(format!("{p} [checkpoint next_offset {offset}]"));
            }
        }
        assert!(
            problems.is_empty(),
            "{context}: committed output does not match what the checkpoints cover{}:\n{}",
            if exact {
                ""
            } else {
                " (output visible beyond the commit point)"
            },
            problems.join("\n")
        );
    }
}

impl Orders {
    /// The invariants that hold whenever a run has stopped, however abruptly (SIGKILL
    /// included), checked on the file sink at `out` (relative to `w`) of the only pipeline of
    /// `config`:
    ///
    /// - nothing but committed `<lane>-<epoch>.jsonl` files and `.staging` in `out`;
    /// - every committed file is complete JSON lines ([`committed_by_lane`] panics otherwise);
    /// - each lane's committed output is a prefix of its expected output (in order, no
    ///   duplicates, no gaps);
    /// - nothing is visible beyond the commit point: no committed file of an epoch newer than
    ///   the lane's checkpoint, no record the checkpoint does not cover.
    ///
    /// Returns the number of committed records.
    pub fn assert_sound_after_stop(
        &self,
        w: &Workdir,
        config: &str,
        out: &str,
        context: &str,
    ) -> usize {
        let dir = w.path().join(out);
        let stray = inspect::stray_entries(&dir);
        assert!(
            stray.is_empty(),
            "{context}: entries in {out}/ that are neither committed files nor .staging: {stray:?}"
        );
        let committed = committed_by_lane(&dir);
        let total = self.assert_prefix(&committed, false, context);
        let checkpoints = w.checkpoints(config);
        for (lane, epochs) in inspect::committed_epochs(&dir) {
            let newest = epochs.last().copied().unwrap_or(0);
            let checkpointed = checkpoints.lanes.get(&lane).map_or(0, |c| c.epoch);
            assert!(
                newest <= checkpointed,
                "{context}: lane {lane} has committed output of epoch {newest} but its checkpoint is at epoch {checkpointed}"
            );
        }
        self.assert_covered_by_checkpoints(&committed, &checkpoints.lanes, false, context);
        total
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    Exact,
    Prefix,
    StrictPrefix,
}

fn short(line: &str) -> String {
    if line.len() <= 100 {
        line.to_owned()
    } else {
        format!("{}...({} bytes)", &line[..100], line.len())
    }
}

/// `None` if `actual` is what is wanted of `expected`, else a precise description: lengths, the
/// first differing position, duplicated, unexpected and missing records.
fn mismatch(lane: &str, actual: &[String], expected: &[&str], want: Want) -> Option<String> {
    let common = actual.len().min(expected.len());
    let first_diff = (0..common).find(|&i| actual[i] != expected[i]);
    let ok = first_diff.is_none()
        && match want {
            Want::Exact => actual.len() == expected.len(),
            Want::Prefix => actual.len() <= expected.len(),
            Want::StrictPrefix => actual.len() < expected.len(),
        };
    if ok {
        return None;
    }
    let mut msg = format!(
        "lane {lane}: {} records committed, {} expected",
        actual.len(),
        expected.len()
    );
    match first_diff {
        Some(i) => msg.push_str(&format!(
            "; first difference at record {i}: committed {} where {} was expected",
            short(&actual[i]),
            short(expected[i])
        )),
        None if actual.len() > expected.len() => msg.push_str(&format!(
            "; extra records after the expected ones, first: {}",
            short(&actual[expected.len()])
        )),
        None if want == Want::StrictPrefix => {
            msg.push_str("; the lane is complete but was expected not to be")
        }
        None => msg.push_str(&format!(
            "; missing from record {} on, first missing: {}",
            actual.len(),
            short(expected[actual.len()])
        )),
    }
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for a in actual {
        *counts.entry(a.as_str()).or_default() += 1;
    }
    let mut dups: Vec<(&str, usize)> = counts
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(l, n)| (*l, *n))
        .collect();
    dups.sort();
    if !dups.is_empty() {
        let examples: Vec<String> = dups
            .iter()
            .take(3)
            .map(|(l, n)| format!("{} x{n}", short(l)))
            .collect();
        msg.push_str(&format!(
            "; {} records duplicated, e.g. {}",
            dups.len(),
            examples.join(", ")
        ));
    }
    let wanted: HashSet<&str> = expected.iter().copied().collect();
    let unexpected: Vec<&String> = actual
        .iter()
        .filter(|a| !wanted.contains(a.as_str()))
        .collect();
    if !unexpected.is_empty() {
        msg.push_str(&format!(
            "; {} records not expected at all, first: {}",
            unexpected.len(),
            short(unexpected[0])
        ));
    }
    if want == Want::Exact {
        let missing: Vec<&&str> = expected
            .iter()
            .filter(|e| !counts.contains_key(**e))
            .collect();
        if !missing.is_empty() {
            msg.push_str(&format!(
                "; {} expected records missing, first: {}",
                missing.len(),
                short(missing[0])
            ));
        }
    }
    Some(msg)
}

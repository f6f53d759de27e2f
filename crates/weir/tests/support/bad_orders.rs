//! Orders with bad input among them, and the oracle of where each input record must end.
//!
//! Line of file `<prefix><f>.jsonl`, record `s`, by kind (chosen deterministically, about 2% of
//! each bad kind):
//!
//! ```text
//! good            {"id":"<prefix><f>-<s:06>","file":<f>,"seq":<s>,"amount":<a>}
//! string amount   {"id":"<prefix><f>-<s:06>","file":<f>,"seq":<s>,"amount":"<a>"}
//! malformed       the good line broken in one of four ways (truncated, a stray `}`, a space in
//!                 the number, an unquoted key): not JSON, but the id is still readable
//! ```
//!
//! [`FILTER`] fails at run time on a string amount (reason `transform`); a malformed line fails
//! in the source (reason `parse`). [`FIXED_FILTER`] accepts both amount types, so replaying the
//! `transform` dead letters with it delivers them. Both produce `{"id":...,"total":<a + 1>}`.

use std::collections::{BTreeMap, HashMap};

use super::Workdir;
use super::dlq::DlqEntry;

/// Fails on string amounts.
pub const FILTER: &str = "{id, total: (.amount + 1)}";
/// Accepts numeric and string amounts alike.
pub const FIXED_FILTER: &str = r#"if (.amount|type) == "string" then {id, total: ((.amount|tonumber) + 1)} else {id, total: (.amount + 1)} end"#;
/// The lane (and output file prefix) of a DLQ replay.
pub const REPLAY_LANE: &str = "dlq~replay";

/// What an input line is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Valid, and [`FILTER`] accepts it.
    Good,
    /// Valid JSON whose `amount` is a string: [`FILTER`] fails on it.
    StringAmount,
    /// Not JSON.
    Malformed,
}

impl Kind {
    /// The DLQ reason of a failure of this kind under [`FILTER`].
    pub fn reason(self) -> Option<&'static str> {
        match self {
            Kind::Good => None,
            Kind::StringAmount => Some("transform"),
            Kind::Malformed => Some("parse"),
        }
    }
}

/// One input line.
#[derive(Clone, Debug)]
pub struct Rec {
    /// Its input file's name: the lane and the DLQ `partition`.
    pub lane: String,
    /// Byte offset of its line: the DLQ `offset`.
    pub offset: u64,
    /// Its `id`.
    pub id: String,
    /// What it is.
    pub kind: Kind,
    /// The line, without its newline.
    pub line: String,
    /// Its amount.
    pub amount: u64,
}

impl Rec {
    /// The output line [`FILTER`] (good records) or [`FIXED_FILTER`] (good and string-amount
    /// records) gives it.
    pub fn output(&self) -> String {
        format!("{{\"id\":\"{}\",\"total\":{}}}", self.id, self.amount + 1)
    }
}

/// Where a record must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// Committed output, once: in its own lane (in input order) if it never failed, in the
    /// replay lane if it was delivered by a replay.
    Output,
    /// In the DLQ, once, with this many attempts.
    Dlq(u32),
    /// Nowhere (purged).
    Gone,
}

/// What to generate.
#[derive(Clone, Copy, Debug)]
pub struct BadSpec {
    /// Input files (lanes).
    pub files: usize,
    /// Records per file.
    pub per_file: usize,
    /// File and id prefix (`f` gives `f0.jsonl`, ids `f0-000000`, ...).
    pub prefix: &'static str,
    /// Per mille of malformed lines.
    pub malformed: u64,
    /// Per mille of string amounts.
    pub string_amounts: u64,
}

/// A generated data set of one pipeline.
#[derive(Debug)]
pub struct BadOrders {
    /// The pipeline reading it (the DLQ `pipeline` and `source`).
    pub pipeline: String,
    /// Every input line, file by file, in order.
    pub recs: Vec<Rec>,
    by_pos: HashMap<(String, u64), usize>,
    by_id: HashMap<String, usize>,
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl BadOrders {
    /// Writes `spec.files` files `<dir>/<prefix><n>.jsonl` into `w` for `pipeline`.
    pub fn write(w: &Workdir, dir: &str, pipeline: &str, spec: &BadSpec) -> BadOrders {
        let mut recs = Vec::with_capacity(spec.files * spec.per_file);
        for f in 0..spec.files {
            let lane = format!("{}{f}.jsonl", spec.prefix);
            let mut text = String::new();
            for s in 0..spec.per_file {
                let h = mix((f as u64) << 32 | s as u64);
                let amount = (h >> 20) % 10_000;
                let id = format!("{}{f}-{s:06}", spec.prefix);
                let pick = h % 1000;
                let kind = if pick < spec.malformed {
                    Kind::Malformed
                } else if pick < spec.malformed + spec.string_amounts {
                    Kind::StringAmount
                } else {
                    Kind::Good
                };
                let head = format!("\"id\":\"{id}\",\"file\":{f},\"seq\":{s}");
                let line = match kind {
                    Kind::Good => format!("{{{head},\"amount\":{amount}}}"),
                    Kind::StringAmount => format!("{{{head},\"amount\":\"{amount}\"}}"),
                    Kind::Malformed => match s % 4 {
                        0 => format!("{{{head},\"amount\":{amount}"),
                        1 => format!("{{{head},\"amount\":{amount}}}}}"),
                        2 => format!("{{{head},\"amount\":{amount} 7}}"),
                        _ => {
                            format!("{{id:\"{id}\",\"file\":{f},\"seq\":{s},\"amount\":{amount}}}")
                        }
                    },
                };
                assert_eq!(
                    serde_json::from_str::<serde_json::Value>(&line).is_err(),
                    kind == Kind::Malformed,
                    "generator bug: {line}"
                );
                recs.push(Rec {
                    lane: lane.clone(),
                    offset: text.len() as u64,
                    id,
                    kind,
                    line: line.clone(),
                    amount,
                });
                text.push_str(&line);
                text.push('\n');
            }
            w.write(&format!("{dir}/{lane}"), &text);
        }
        let by_pos = recs
            .iter()
            .enumerate()
            .map(|(i, r)| ((r.lane.clone(), r.offset), i))
            .collect();
        let by_id = recs
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.clone(), i))
            .collect();
        BadOrders {
            pipeline: pipeline.to_owned(),
            recs,
            by_pos,
            by_id,
        }
    }

    /// Records of this kind.
    pub fn count(&self, kind: Kind) -> usize {
        self.recs.iter().filter(|r| r.kind == kind).count()
    }

    /// The lanes (input file names), in order.
    pub fn lanes(&self) -> Vec<String> {
        let mut lanes: Vec<String> = self.recs.iter().map(|r| r.lane.clone()).collect();
        lanes.dedup();
        lanes
    }

    /// The record a DLQ entry stands for (by partition and offset).
    pub fn rec_of(&self, e: &DlqEntry) -> Option<&Rec> {
        self.by_pos
            .get(&(e.partition.clone(), e.offset))
            .map(|&i| &self.recs[i])
    }

    /// The record with this id.
    pub fn rec_by_id(&self, id: &str) -> Option<&Rec> {
        self.by_id.get(id).map(|&i| &self.recs[i])
    }

    /// Problems of one DLQ entry of `rec`, failed under [`FILTER`] (`None`: it is as expected).
    fn entry_problem(&self, e: &DlqEntry, rec: &Rec, attempts: u32) -> Option<String> {
        let mut p = Vec::new();
        if e.pipeline != self.pipeline || e.source != self.pipeline {
            p.push(format!("pipeline/source {}/{}", e.pipeline, e.source));
        }
        if e.attempts != attempts {
            p.push(format!("attempts {} (expected {attempts})", e.attempts));
        }
        if e.first_failure_ms > e.last_failure_ms {
            p.push("first failure after last failure".to_owned());
        }
        if e.class != "permanent" {
            p.push(format!("class {}", e.class));
        }
        match rec.kind {
            Kind::Good => p.push("a good record is in the DLQ".to_owned()),
            Kind::Malformed => {
                if (e.reason.as_str(), e.stage.as_str()) != ("parse", "source") {
                    p.push(format!(
                        "reason/stage {}/{} (expected parse/source)",
                        e.reason, e.stage
                    ));
                }
                if e.record_raw.as_deref() != Some(rec.line.as_str()) || e.record.is_some() {
                    p.push(format!(
                        "holds record {:?} / raw {:?} instead of the raw line {:?}",
                        e.record, e.record_raw, rec.line
                    ));
                }
                if !e.message.starts_with("not valid JSON: ") {
                    p.push(format!("message {:?}", e.message));
                }
            }
            Kind::StringAmount => {
                if (e.reason.as_str(), e.stage.as_str()) != ("transform", "jq_0") {
                    p.push(format!(
                        "reason/stage {}/{} (expected transform/jq_0)",
                        e.reason, e.stage
                    ));
                }
                let original: serde_json::Value =
                    serde_json::from_str(&rec.line).expect("valid line");
                if e.record.as_ref() != Some(&original) || e.record_raw.is_some() {
                    p.push(format!(
                        "holds record {:?} / raw {:?} instead of the original {}",
                        e.record, e.record_raw, rec.line
                    ));
                }
                let want = format!("jq error: cannot calculate \"{}\" + 1", rec.amount);
                if e.message != want {
                    p.push(format!("message {:?} (expected {want:?})", e.message));
                }
            }
        }
        (!p.is_empty()).then(|| {
            format!(
                "DLQ entry {} ({}@{}, id {}): {}",
                e.id,
                e.partition,
                e.offset,
                rec.id,
                p.join("; ")
            )
        })
    }

    /// Asserts that output and DLQ together hold every input record exactly where `place` says,
    /// once, and nothing else:
    ///
    /// - each lane's committed output is exactly the lines of its records placed in
    ///   [`Place::Output`] that never failed (good records), in input order; the replay lane
    ///   holds exactly the others placed in the output (any order);
    /// - each DLQ entry stands for an input record (by partition and offset) placed in
    ///   [`Place::Dlq`], with the reason of its kind (`parse` for malformed lines, `transform`
    ///   for string amounts), the raw line or the original record, and the expected attempts;
    /// - no record is in the output twice, in the DLQ twice, or in both.
    pub fn assert_placed(
        &self,
        committed: &BTreeMap<String, Vec<String>>,
        dlq: &[DlqEntry],
        place: impl Fn(&Rec) -> Place,
        context: &str,
    ) {
        let mut problems = Vec::new();
        // Output, by id.
        let mut seen_out: HashMap<&str, usize> = HashMap::new();
        let lanes = self.lanes();
        for (lane, lines) in committed {
            let is_replay = lane == REPLAY_LANE;
            if !is_replay && !lanes.contains(lane) {
                problems.push(format!("output of an unknown lane {lane}"));
                continue;
            }
            for line in lines {
                let v: serde_json::Value = serde_json::from_str(line).expect("JSON line");
                let Some(rec) = v["id"].as_str().and_then(|id| self.rec_by_id(id)) else {
                    problems.push(format!("{lane}: output line of no input record: {line}"));
                    continue;
                };
                *seen_out.entry(&rec.id).or_default() += 1;
                if *line != rec.output() {
                    problems.push(format!(
                        "{lane}: output {line} for {} (expected {})",
                        rec.id,
                        rec.output()
                    ));
                }
                let where_ok = if is_replay {
                    rec.kind != Kind::Good
                } else {
                    rec.kind == Kind::Good && rec.lane == *lane
                };
                if !where_ok {
                    problems.push(format!(
                        "{lane}: output of {} ({:?} record of {}) in the wrong lane",
                        rec.id, rec.kind, rec.lane
                    ));
                }
            }
        }
        // Each input lane: exactly its good records in order (when they belong in the output).
        for lane in &lanes {
            let want: Vec<String> = self
                .recs
                .iter()
                .filter(|r| r.lane == *lane && r.kind == Kind::Good && place(r) == Place::Output)
                .map(Rec::output)
                .collect();
            let got = committed.get(lane).map_or(&[][..], Vec::as_slice);
            if got != want.as_slice() {
                let first = (0..got.len().min(want.len())).find(|&i| got[i] != want[i]);
                problems.push(format!(
                    "lane {lane}: {} output lines, {} expected; first difference at {:?}",
                    got.len(),
                    want.len(),
                    first.map(|i| (&got[i], &want[i]))
                ));
            }
        }
        // DLQ, by (partition, offset).
        let mut seen_dlq: HashMap<&str, usize> = HashMap::new();
        for e in dlq {
            let Some(rec) = self.rec_of(e) else {
                problems.push(format!(
                    "DLQ entry {} at {}@{} stands for no input record",
                    e.id, e.partition, e.offset
                ));
                continue;
            };
            *seen_dlq.entry(&rec.id).or_default() += 1;
            match place(rec) {
                Place::Dlq(attempts) => {
                    if let Some(p) = self.entry_problem(e, rec, attempts) {
                        problems.push(p);
                    }
                }
                other => problems.push(format!(
                    "DLQ entry {} holds {} ({:?}), which belongs {other:?}",
                    e.id, rec.id, rec.kind
                )),
            }
        }
        // Every record exactly once, where it belongs.
        for rec in &self.recs {
            let (o, d) = (
                seen_out.get(rec.id.as_str()).copied().unwrap_or(0),
                seen_dlq.get(rec.id.as_str()).copied().unwrap_or(0),
            );
            let want = match place(rec) {
                Place::Output => (1, 0),
                Place::Dlq(_) => (0, 1),
                Place::Gone => (0, 0),
            };
            if (o, d) != want {
                problems.push(format!(
                    "{} ({:?}, {}@{}): {o} times in the output and {d} times in the DLQ, expected {want:?}",
                    rec.id, rec.kind, rec.lane, rec.offset
                ));
            }
        }
        let n = problems.len();
        problems.truncate(20);
        assert!(
            n == 0,
            "{context}: {n} problems with where the input records ended, first ones:\n{}",
            problems.join("\n")
        );
    }

    /// The place of every record after a plain run under [`FILTER`]: good ones in the output,
    /// failed ones in the DLQ after one attempt.
    pub fn after_run(r: &Rec) -> Place {
        match r.kind {
            Kind::Good => Place::Output,
            _ => Place::Dlq(1),
        }
    }
}

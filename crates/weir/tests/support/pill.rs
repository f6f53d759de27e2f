//! A poison pill among [`Orders`](super::orders::Orders): one input record, picked by its `id`,
//! that the fault-injection hooks make crash the lane or the process; and the output expected
//! when it is quarantined (everything else, exactly once, in input order).

use std::collections::BTreeMap;

use super::Workdir;
use super::dlq::DlqEntry;
use super::orders::Orders;

/// The poison pill.
#[derive(Clone, Debug)]
pub struct Pill {
    /// Its lane (input file name).
    pub lane: String,
    /// Its `id`: the fault hooks match `id=<this>`.
    pub id: String,
    /// Byte offset of its line.
    pub offset: u64,
    /// Its input line, parsed.
    pub value: serde_json::Value,
    /// The output line it would give.
    pub out: String,
}

impl Pill {
    /// The first record of file `f<file>.jsonl` (written under `dir`) at or after `seq` that the
    /// filter keeps, so that losing it would show in the output.
    pub fn pick(w: &Workdir, orders: &Orders, dir: &str, file: usize, seq: usize) -> Pill {
        let lane = format!("f{file}.jsonl");
        let lines = &orders.lanes[&lane];
        let s = (seq..lines.len())
            .find(|&s| lines[s].out.is_some())
            .expect("a record the filter keeps");
        let offset = if s == 0 { 0 } else { lines[s - 1].end };
        let input = std::fs::read(w.path().join(dir).join(&lane)).expect("read input");
        let line = &input[offset as usize..lines[s].end as usize - 1];
        Pill {
            id: format!("f{file}-{s:06}"),
            offset,
            value: serde_json::from_slice(line).expect("the pill is valid JSON"),
            out: lines[s].out.clone().expect("kept"),
            lane,
        }
    }

    /// The `field=value` the fault hooks take.
    pub fn rule(&self) -> String {
        format!("id={}", self.id)
    }

    /// The expected committed output: every lane's expected output, without the pill's line.
    pub fn expected_without(&self, orders: &Orders) -> BTreeMap<String, Vec<String>> {
        orders
            .lanes
            .keys()
            .map(|lane| {
                let lines: Vec<String> = orders
                    .expected(lane)
                    .into_iter()
                    .filter(|l| !(lane == &self.lane && *l == self.out))
                    .map(str::to_owned)
                    .collect();
                (lane.clone(), lines)
            })
            .collect()
    }

    /// Asserts the committed output is exactly everything but the pill, once, in order.
    pub fn assert_output_without(
        &self,
        orders: &Orders,
        committed: &BTreeMap<String, Vec<String>>,
        context: &str,
    ) {
        let want = self.expected_without(orders);
        let mut problems = Vec::new();
        for lane in want.keys().chain(committed.keys()) {
            let (w, c) = (
                want.get(lane).map_or(&[][..], Vec::as_slice),
                committed.get(lane).map_or(&[][..], Vec::as_slice),
            );
            if w != c {
                let first = (0..w.len().min(c.len())).find(|&i| w[i] != c[i]);
                problems.push(format!(
                    "lane {lane}: {} lines committed, {} expected; first difference at {first:?}",
                    c.len(),
                    w.len()
                ));
            }
        }
        problems.dedup();
        assert!(
            problems.is_empty(),
            "{context}: the output is not exactly every record but the pill {}:\n{}",
            self.id,
            problems.join("\n")
        );
    }

    /// Asserts `dlq` is exactly one entry: this pill, quarantined by pipeline `pipeline` with
    /// reason `crash`, holding the original record. Returns the entry.
    pub fn assert_quarantined(&self, pipeline: &str, dlq: &[DlqEntry], context: &str) -> DlqEntry {
        assert_eq!(
            dlq.len(),
            1,
            "{context}: expected the pill alone in the DLQ: {dlq:#?}"
        );
        let e = &dlq[0];
        assert_eq!(
            (
                e.pipeline.as_str(),
                e.source.as_str(),
                e.partition.as_str(),
                e.offset
            ),
            (pipeline, pipeline, self.lane.as_str(), self.offset),
            "{context}: the DLQ entry is not the pill: {e:#?}"
        );
        assert_eq!(
            (
                e.reason.as_str(),
                e.class.as_str(),
                e.stage.as_str(),
                e.attempts
            ),
            ("crash", "fatal", "lane", 1),
            "{context}: {e:#?}"
        );
        assert_eq!(e.record.as_ref(), Some(&self.value), "{context}: {e:#?}");
        assert_eq!(e.record_raw, None, "{context}");
        e.clone()
    }
}

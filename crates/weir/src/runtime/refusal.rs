//! Records a sink refused, kept out of every sink when their epoch is written again.
//!
//! A sink that refuses records answers [`SinkError::Refused`] from `write` or `precommit`. The
//! lane then aborts the open epoch in every sink and the dead-letter queue, notes the refused
//! input records here, and reads the epoch again from its first offset: this time those input
//! records go to the dead-letter queue (stage: the sink's name, reason: the sink's code,
//! payload: the input record, so a replay runs the transforms again) and the rest to the
//! sinks. A record thus ends in the output of every sink or in the DLQ, never in both, and the
//! epoch commits as usual. A sink that cannot yet name the records of a refused batch answers
//! with an empty refusal and writes that batch's records one at a time the next time round.

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::ErrorClass;
use crate::record::{FailedPayload, FailedRecord, Record, RecordId};
use crate::sinks::Refusal;

/// How often one epoch may be read again before the refusals count as a failure of the sink
/// (a sink that refuses a record only sometimes would otherwise keep the lane rewinding).
pub const MAX_REWINDS: u32 = 32;

/// Why a record is diverted.
#[derive(Debug)]
struct Diverted {
    stage: Arc<str>,
    code: &'static str,
    message: String,
}

/// The refused input records of a lane.
#[derive(Debug, Default)]
pub struct Diversions {
    refused: HashMap<RecordId, Diverted>,
    /// Those diverted in the open epoch: forgotten once it commits.
    diverted: Vec<RecordId>,
}

impl Diversions {
    /// Notes `refusals` of `sink`; returns how many records were not noted before.
    pub fn note(&mut self, sink: &str, refusals: Vec<Refusal>) -> usize {
        let stage: Arc<str> = sink.into();
        let mut new = 0;
        for r in refusals {
            if !self.refused.contains_key(&r.id) {
                new += 1;
            }
            self.refused.insert(
                r.id,
                Diverted {
                    stage: Arc::clone(&stage),
                    code: r.code,
                    message: r.message,
                },
            );
        }
        new
    }

    /// The open epoch committed: the records it diverted will not be read again.
    pub fn committed(&mut self) {
        for id in self.diverted.drain(..) {
            self.refused.remove(&id);
        }
    }

    /// The open epoch is read again: its records will be diverted again.
    pub fn rewound(&mut self) {
        self.diverted.clear();
    }

    /// Moves the refused records of a batch into `failed`.
    pub fn divert(&mut self, records: &mut Vec<Record>, failed: &mut Vec<FailedRecord>) {
        if self.refused.is_empty() {
            return;
        }
        for r in records.extract_if(.., |r| self.refused.contains_key(&r.meta.id)) {
            let d = &self.refused[&r.meta.id];
            let (stage, reason) = (Arc::clone(&d.stage), d.code);
            let message = format!("refused by sink {}: {}", d.stage, d.message);
            self.diverted.push(r.meta.id.clone());
            failed.push(FailedRecord {
                id: r.meta.id.clone(),
                stage,
                class: ErrorClass::Permanent,
                payload: FailedPayload::Value(r.into_as_read()),
                reason,
                message,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RecordMeta;

    fn id(offset: u64) -> RecordId {
        RecordId {
            source: "s".into(),
            partition: "p".into(),
            offset,
        }
    }

    #[test]
    fn refused_records_leave_the_batch_for_the_dead_letter_queue_in_order() {
        let mut d = Diversions::default();
        let refusal = |o| Refusal {
            id: id(o),
            code: "pg_constraint",
            message: format!("bad {o}"),
        };
        assert_eq!(d.note("db", vec![refusal(2), refusal(4)]), 2);
        assert_eq!(d.note("db", vec![refusal(4)]), 0);
        let mut records: Vec<Record> = (1..=5)
            .map(|o| Record::new(serde_json::json!({ "o": o }), RecordMeta::new(id(o))))
            .collect();
        let mut failed = Vec::new();
        d.divert(&mut records, &mut failed);
        let kept: Vec<u64> = records.iter().map(|r| r.meta.id.offset).collect();
        assert_eq!(kept, [1, 3, 5]);
        let gone: Vec<(u64, &str, &str)> = failed
            .iter()
            .map(|f| (f.id.offset, &*f.stage, f.reason))
            .collect();
        assert_eq!(
            gone,
            [(2, "db", "pg_constraint"), (4, "db", "pg_constraint")]
        );
        assert_eq!(failed[0].message, "refused by sink db: bad 2");
        assert!(matches!(&failed[1].payload, FailedPayload::Value(v) if v["o"] == 4));

        // Read again after a rewind: diverted again. After the commit: forgotten.
        d.rewound();
        let mut again = vec![Record::new(
            serde_json::json!({ "o": 2 }),
            RecordMeta::new(id(2)),
        )];
        d.divert(&mut again, &mut failed);
        assert!(again.is_empty());
        d.committed();
        let mut later = vec![Record::new(
            serde_json::json!({ "o": 2 }),
            RecordMeta::new(id(2)),
        )];
        d.divert(&mut later, &mut failed);
        assert_eq!(later.len(), 1, "a committed epoch's refusals are forgotten");
        let mut four = vec![Record::new(
            serde_json::json!({ "o": 4 }),
            RecordMeta::new(id(4)),
        )];
        d.divert(&mut four, &mut failed);
        assert!(four.is_empty(), "a refusal not yet diverted is kept");
    }
}

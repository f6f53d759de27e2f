//! Requests with an `Idempotency-Key`: the protocol of [`super::keys`], and settling the
//! requests a crash interrupted.

use weir_log::StartAt;

use super::keys::{Request, Run};
use super::prepare::Batch;
use super::{Answer, Ingest, IngestError, Outcome, Route, append};
use crate::keypath;

/// The log tag on the first record of each append of a keyed request.
fn tag(key: &str) -> String {
    format!("i:{key}")
}

/// Whether an append that failed with `e` queued nothing (so nothing of it can be stored).
fn nothing_queued(e: &weir_log::Error) -> bool {
    matches!(
        e,
        weir_log::Error::QuotaExceeded { .. }
            | weir_log::Error::RecordTooLarge { .. }
            | weir_log::Error::Poisoned { .. }
            | weir_log::Error::Closed
    )
}

fn answer_of(r: &Request) -> Answer {
    let mut a = Answer {
        records: r.records,
        ..Answer::default()
    };
    for run in &r.runs {
        for &(first, n) in &run.present {
            a.add(run.p, first, first + n);
        }
    }
    a
}

/// Held while a keyed request is processed; a second request with the same key gets 409.
struct Claim<'a> {
    ingest: &'a Ingest,
    id: (String, String),
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if let Ok(mut set) = self.ingest.in_flight.lock() {
            set.remove(&self.id);
        }
    }
}

impl Ingest {
    fn claim(&self, pipeline: &str, key: &str) -> Result<Claim<'_>, IngestError> {
        let id = (pipeline.to_owned(), key.to_owned());
        let mut set = self.in_flight.lock().map_err(|_| IngestError::Unresolved)?;
        if !set.insert(id.clone()) {
            return Err(IngestError::InProgress);
        }
        Ok(Claim { ingest: self, id })
    }

    pub(super) async fn ingest_keyed(
        &self,
        pipeline: &str,
        route: &Route,
        body: &[u8],
        key: &str,
        batch: &Batch,
    ) -> Result<Outcome, IngestError> {
        let _claim = self.claim(pipeline, key)?;
        let now = crate::dlq::writer::now_ms();
        let window = i64::try_from(route.plan.idempotency_window.as_millis()).unwrap_or(i64::MAX);
        let (body_crc, body_len) = (crc32c::crc32c(body), body.len() as u64);
        let known = tokio::task::block_in_place(|| self.keys.get(pipeline, key))?
            .filter(|r| r.created_ms >= now.saturating_sub(window));
        let mut req = match known {
            Some(r) if (r.body_crc, r.body_len) != (body_crc, body_len) => {
                return Err(IngestError::KeyReused);
            }
            Some(r) if r.done => {
                return Ok(Outcome {
                    answer: answer_of(&r),
                    replayed: true,
                });
            }
            Some(r) if r.runs.iter().any(|run| run.pending.is_some()) => {
                return Err(IngestError::Unresolved);
            }
            Some(r) => r,
            None => Request {
                pipeline: pipeline.to_owned(),
                key: key.to_owned(),
                body_crc,
                body_len,
                records: batch.records,
                runs: batch
                    .groups
                    .iter()
                    .map(|g| Run {
                        p: g.partition,
                        total: g.records.len() as u64,
                        ..Run::default()
                    })
                    .collect(),
                done: false,
                created_ms: now,
            },
        };
        // Write down every append about to be made, durably, before making it.
        let mut plan = Vec::new();
        for run in &mut req.runs {
            let stored = run.stored();
            if stored < run.total {
                let part = &route.partitions[run.p as usize];
                run.pending = Some((part.next_offset(), run.total - stored));
                plan.push((run.p, stored as usize));
            }
        }
        tokio::task::block_in_place(|| self.keys.put(&req))?;
        let tag = tag(key);
        let results = append(route, batch, &plan, Some(&tag)).await;
        let mut failure = None;
        for ((p, _), result) in plan.iter().zip(results) {
            let Some(run) = req.runs.iter_mut().find(|r| r.p == *p) else {
                continue;
            };
            match result {
                Ok(ack) => {
                    run.present
                        .push((ack.first_offset, ack.next_offset - ack.first_offset));
                    run.pending = None;
                }
                Err(e) => {
                    if nothing_queued(&e) {
                        run.pending = None;
                    }
                    failure.get_or_insert(e);
                }
            }
        }
        req.done = req.runs.iter().all(|r| r.stored() == r.total);
        tokio::task::block_in_place(|| self.keys.put(&req))?;
        match failure {
            Some(weir_log::Error::QuotaExceeded {
                quota,
                usage,
                requested,
            }) => Err(IngestError::Quota(format!(
                "the log's disk quota is reached: {usage} of {quota} bytes used, an append needed {requested} more"
            ))),
            Some(e) => Err(e.into()),
            None => Ok(Outcome {
                answer: answer_of(&req),
                replayed: false,
            }),
        }
    }

    /// Settles keyed requests whose appends were in flight when the process died: finds which
    /// of their records are stored (see [`super::keys`]). Runs before anything else appends.
    pub(super) fn settle_interrupted(&self) -> Result<(), IngestError> {
        for mut req in self.keys.pending()? {
            let Some(route) = self.routes.get(&req.pipeline) else {
                continue;
            };
            let tag = tag(&req.key);
            for run in &mut req.runs {
                let Some((snapshot, n)) = run.pending.take() else {
                    continue;
                };
                let Some(part) = route.partitions.get(run.p as usize) else {
                    continue;
                };
                if let Some(first) = find_tag(part, snapshot, tag.as_bytes())? {
                    let stored = n.min(part.next_offset() - first);
                    run.present.push((first, stored));
                }
            }
            req.done = req.runs.iter().all(|r| r.stored() == r.total);
            let stored: u64 = req.runs.iter().map(Run::stored).sum();
            tracing::info!(pipeline = %req.pipeline, key = %req.key, stored, records = req.records,
                "settled an ingest request interrupted by a crash: a retry with its Idempotency-Key stores what is missing");
            self.keys.put(&req)?;
        }
        Ok(())
    }
}

/// The offset of the first record at or after `from` whose key carries `tag`.
fn find_tag(part: &weir_log::Partition, from: u64, tag: &[u8]) -> Result<Option<u64>, IngestError> {
    let end = part.next_offset();
    let start = from.max(part.first_offset());
    if start >= end {
        return Ok(None);
    }
    let mut reader = part.reader(StartAt::Offset(start))?;
    while reader.position() < end {
        let batch = reader.read(1024, 4 << 20)?;
        if batch.is_empty() {
            break;
        }
        for r in batch {
            if keypath::decode_key(r.key.as_deref()).1 == Some(tag) {
                return Ok(Some(r.offset));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::buffer::Buffer;
    use crate::ingest::keys::Request;
    use crate::ingest::{body, prepare};

    const BODY: &[u8] = b"{\"u\":0,\"i\":0}\n{\"u\":1,\"i\":1}\n{\"u\":2,\"i\":2}\n{\"u\":0,\"i\":3}\n{\"u\":1,\"i\":4}\n{\"u\":2,\"i\":5}\n";

    fn open(dir: &std::path::Path) -> Arc<Ingest> {
        let yaml = "data_dir: state
pipelines:
  events:
    source: { type: http, key: .u, partitions: 2 }
    sinks: [ { type: stdout } ]
";
        let plan = crate::config::load_str(&dir.join("weir.yaml"), yaml, |_| None).expect("plan");
        Ingest::open(&plan, Buffer::open(&plan).expect("log")).expect("ingest")
    }

    fn stored(ingest: &Ingest) -> Vec<u64> {
        let mut out = Vec::new();
        for p in 0..2 {
            let mut r = ingest
                .buffer
                .log()
                .reader("events", p, weir_log::StartAt::Earliest)
                .expect("reader");
            for rec in r.read(100, 1 << 20).expect("read") {
                let v: serde_json::Value = serde_json::from_slice(&rec.value).expect("json");
                out.push(v["i"].as_u64().expect("i"));
            }
        }
        out.sort_unstable();
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_request_cut_off_by_a_crash_stores_only_the_missing_records_on_retry() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ingest = open(dir.path());
        let route = &ingest.routes["events"];
        let batch = prepare::prepare(
            body::parse(BODY).expect("body"),
            route.key.as_ref(),
            2,
            1 << 20,
        )
        .expect("batch");
        assert_eq!(batch.groups.len(), 2, "both partitions get records");
        // The crash: the row says both appends are pending; of the first partition's append
        // one record reached the log, of the second none.
        let req = Request {
            pipeline: "events".into(),
            key: "k1".into(),
            body_crc: crc32c::crc32c(BODY),
            body_len: BODY.len() as u64,
            records: 6,
            runs: batch
                .groups
                .iter()
                .map(|g| Run {
                    p: g.partition,
                    total: g.records.len() as u64,
                    present: Vec::new(),
                    pending: Some((0, g.records.len() as u64)),
                })
                .collect(),
            done: false,
            created_ms: crate::dlq::writer::now_ms(),
        };
        ingest.keys.put(&req).expect("row");
        let g = &batch.groups[0];
        let keys = prepare::key_bytes(&g.records[..1], Some(&tag("k1")));
        let first = weir_log::NewRecord {
            key: keys[0].as_deref(),
            value: &g.records[0].value,
            timestamp_ms: None,
        };
        route.partitions[g.partition as usize]
            .append(&[first])
            .expect("append");
        drop(ingest);

        let ingest = open(dir.path());
        let settled = ingest.keys.get("events", "k1").expect("get").expect("row");
        assert!(!settled.done);
        assert_eq!(
            settled.runs.iter().map(Run::stored).sum::<u64>(),
            1,
            "{settled:?}"
        );
        let retry = ingest
            .ingest("events", BODY, Some("k1"))
            .await
            .expect("retry");
        assert_eq!(retry.answer.records, 6);
        assert!(!retry.replayed);
        assert_eq!(stored(&ingest), (0..6).collect::<Vec<_>>());
        let again = ingest
            .ingest("events", BODY, Some("k1"))
            .await
            .expect("again");
        assert_eq!((again.answer, again.replayed), (retry.answer, true));
        assert_eq!(stored(&ingest), (0..6).collect::<Vec<_>>());
    }
}

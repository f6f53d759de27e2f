//! Model-based test: random sequences of append, read (by offset and by timestamp), roll,
//! consumer commit, retention, sync, clean reopen and power cut (the in-memory storage keeps
//! only what was synced, or a torn prefix of the rest), run against the log and against a
//! plain in-memory model that predicts every record, offset and segment boundary.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use weir_log::{
    CrashMode, Fsync, Log, LogConfig, MemStorage, NewRecord, Partition, RECORD_OVERHEAD, Retention,
    StartAt,
};

const PARTITIONS: u32 = 2;
const SEGMENT_BYTES: u64 = 1024;
const HEADER: u64 = 16;
const MAX_AGE_MS: i64 = 10_000;
const MAX_BYTES: u64 = 3000;
/// Small, so that the journal is reused from its start (a checkpoint) many times in a case.
const JOURNAL_BYTES: u64 = 4096;
const CONSUMERS: [&str; 2] = ["alpha", "beta"];

#[derive(Clone, Debug)]
enum Op {
    Append {
        part: u32,
        sizes: Vec<usize>,
        key: bool,
        jitter: i64,
    },
    /// Appends to every partition at once: one group commit, made durable by the journal.
    AppendAll {
        sizes: Vec<Vec<usize>>,
        jitter: i64,
    },
    Read {
        part: u32,
        at: f64,
        max: usize,
    },
    ReadTime {
        part: u32,
        at: f64,
    },
    Roll {
        part: u32,
    },
    Commit {
        part: u32,
        consumer: usize,
        at: f64,
    },
    Retention {
        advance_ms: i64,
    },
    Sync {
        part: u32,
    },
    Reopen,
    Crash {
        seed: u64,
        torn: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let part = 0..PARTITIONS;
    prop_oneof![
        6 => (part.clone(), prop::collection::vec(0usize..300, 1..5), any::<bool>(), -500i64..2000)
            .prop_map(|(part, sizes, key, jitter)| Op::Append { part, sizes, key, jitter }),
        4 => (prop::collection::vec(prop::collection::vec(0usize..300, 0..4), PARTITIONS as usize), -500i64..2000)
            .prop_map(|(sizes, jitter)| Op::AppendAll { sizes, jitter }),
        3 => (part.clone(), 0.0f64..=1.0, 1usize..20).prop_map(|(part, at, max)| Op::Read { part, at, max }),
        1 => (part.clone(), 0.0f64..=1.0).prop_map(|(part, at)| Op::ReadTime { part, at }),
        1 => part.clone().prop_map(|part| Op::Roll { part }),
        2 => (part.clone(), 0usize..2, 0.0f64..=1.0).prop_map(|(part, consumer, at)| Op::Commit { part, consumer, at }),
        2 => (0i64..15_000).prop_map(|advance_ms| Op::Retention { advance_ms }),
        1 => part.clone().prop_map(|part| Op::Sync { part }),
        1 => Just(Op::Reopen),
        1 => (any::<u64>(), any::<bool>()).prop_map(|(seed, torn)| Op::Crash { seed, torn }),
    ]
}

#[derive(Clone, Debug, PartialEq)]
struct Rec {
    key: Option<Vec<u8>>,
    value: Vec<u8>,
    ts: i64,
}

impl Rec {
    fn frame_len(&self) -> u64 {
        (RECORD_OVERHEAD + self.key.as_ref().map_or(0, Vec::len) + self.value.len()) as u64
    }
}

#[derive(Clone, Debug)]
struct Seg {
    base: u64,
    bytes: u64,
    max_ts: Option<i64>,
}

/// The model of one partition.
#[derive(Clone, Debug)]
struct ModelPartition {
    first: u64,
    /// Records from `first` on.
    records: Vec<Rec>,
    /// Segment layout, oldest first; the last is the active one.
    segs: Vec<Seg>,
    consumers: BTreeMap<String, u64>,
    /// Offsets below this are certainly durable.
    durable: u64,
}

impl ModelPartition {
    fn new() -> Self {
        Self {
            first: 0,
            records: Vec::new(),
            segs: vec![Seg {
                base: 0,
                bytes: HEADER,
                max_ts: None,
            }],
            consumers: BTreeMap::new(),
            durable: 0,
        }
    }

    fn next(&self) -> u64 {
        self.first + self.records.len() as u64
    }

    fn roll(&mut self) {
        let next = self.next();
        let active = self.segs.last().expect("a segment");
        if active.bytes > HEADER {
            self.segs.push(Seg {
                base: next,
                bytes: HEADER,
                max_ts: None,
            });
            self.durable = next;
        }
    }

    fn append(&mut self, rec: Rec) {
        let len = rec.frame_len();
        let active = self.segs.last().expect("a segment");
        if active.bytes > HEADER && active.bytes + len > SEGMENT_BYTES {
            self.roll();
        }
        let active = self.segs.last_mut().expect("a segment");
        active.bytes += len;
        active.max_ts = Some(active.max_ts.map_or(rec.ts, |m| m.max(rec.ts)));
        self.records.push(rec);
    }

    fn retention(&mut self, now: i64) {
        let min_committed = self.consumers.values().min().copied();
        let mut remaining: u64 = self.segs.iter().map(|s| s.bytes).sum();
        while self.segs.len() > 1 {
            let seg = &self.segs[0];
            let end = self.segs[1].base;
            let too_old = seg.max_ts.is_none_or(|m| m < now - MAX_AGE_MS);
            let too_big = remaining > MAX_BYTES;
            let consumed = min_committed.is_none_or(|c| end <= c);
            if !(too_old || too_big) || !consumed {
                break;
            }
            remaining -= seg.bytes;
            let dropped = (end - self.first) as usize;
            self.records.drain(..dropped);
            self.first = end;
            self.segs.remove(0);
        }
    }

    /// After a power cut that kept `survivors` records from `first`.
    fn crashed(&mut self, survivors: usize) {
        self.records.truncate(survivors);
        let next = self.next();
        let active = self.segs.last_mut().expect("a segment");
        assert!(active.base <= next, "a sealed segment lost records");
        let recs = &self.records[(active.base - self.first) as usize..];
        active.bytes = HEADER + recs.iter().map(Rec::frame_len).sum::<u64>();
        active.max_ts = recs.iter().map(|r| r.ts).max();
        self.durable = next;
    }
}

fn config(fsync: Fsync) -> LogConfig {
    LogConfig {
        fsync,
        segment_bytes: SEGMENT_BYTES,
        index_interval_bytes: 128,
        max_record_bytes: 1024,
        retention: Retention {
            max_age: Some(Duration::from_millis(MAX_AGE_MS as u64)),
            max_bytes: Some(MAX_BYTES),
            ..Retention::default()
        },
        quota_bytes: None,
        journal_bytes: JOURNAL_BYTES,
    }
}

fn open(storage: &MemStorage, fsync: Fsync) -> Log {
    let log =
        Log::open_with_storage(Arc::new(storage.clone()), "/log", config(fsync)).expect("open");
    log.ensure_topic("t", PARTITIONS).expect("topic");
    log
}

/// Records of these value sizes, each value starting with a serial number.
fn records(sizes: &[usize], key: bool, ts: i64, serial: &mut u64) -> Vec<Rec> {
    sizes
        .iter()
        .map(|&n| {
            *serial += 1;
            let mut value = serial.to_le_bytes().to_vec();
            value.resize(n.max(8), (*serial % 251) as u8);
            Rec {
                key: key.then(|| serial.to_be_bytes().to_vec()),
                value,
                ts,
            }
        })
        .collect()
}

fn new_records(recs: &[Rec]) -> Vec<NewRecord<'_>> {
    recs.iter()
        .map(|r| NewRecord {
            key: r.key.as_deref(),
            value: &r.value,
            timestamp_ms: Some(r.ts),
        })
        .collect()
}

fn pick(lo: u64, hi: u64, at: f64) -> u64 {
    lo + ((hi - lo) as f64 * at).round() as u64
}

fn read_from(p: &Partition, from: u64, max: usize) -> Vec<Rec> {
    let mut r = p.reader(StartAt::Offset(from)).expect("reader");
    let mut out = Vec::new();
    while out.len() < max {
        let batch = r.read(max - out.len(), usize::MAX).expect("read");
        if batch.is_empty() {
            break;
        }
        for rec in batch {
            assert_eq!(rec.offset, from + out.len() as u64);
            out.push(Rec {
                key: rec.key,
                value: rec.value,
                ts: rec.timestamp_ms,
            });
        }
    }
    out
}

fn check_partition(p: &Partition, m: &ModelPartition) {
    let stats = p.stats();
    assert_eq!(
        (stats.first_offset, stats.next_offset),
        (m.first, m.next()),
        "offsets"
    );
    assert_eq!(stats.segments, m.segs.len(), "segments: model {:?}", m.segs);
    let expected: BTreeMap<String, u64> = m.consumers.clone();
    assert_eq!(
        p.consumers().into_iter().collect::<BTreeMap<_, _>>(),
        expected
    );
}

fn run(fsync: Fsync, ops: &[Op]) {
    let mut storage = MemStorage::new();
    let mut log = open(&storage, fsync);
    let mut model: Vec<ModelPartition> = (0..PARTITIONS).map(|_| ModelPartition::new()).collect();
    let mut clock: i64 = 1_000_000;
    let mut serial = 0u64;
    for op in ops {
        match op {
            Op::Append {
                part,
                sizes,
                key,
                jitter,
            } => {
                let p = log.partition("t", *part).expect("partition");
                let m = &mut model[*part as usize];
                clock += 100;
                let recs = records(sizes, *key, clock + jitter, &mut serial);
                let ack = p.append(&new_records(&recs)).expect("append");
                assert_eq!(ack.first_offset, m.next());
                for r in recs {
                    m.append(r);
                }
                if fsync == Fsync::Always {
                    m.durable = m.next();
                }
            }
            Op::AppendAll { sizes, jitter } => {
                clock += 100;
                let parts: Vec<Partition> = (0..PARTITIONS)
                    .map(|i| log.partition("t", i).expect("partition"))
                    .collect();
                let recs: Vec<Vec<Rec>> = sizes
                    .iter()
                    .map(|s| records(s, false, clock + jitter, &mut serial))
                    .collect();
                let news: Vec<Vec<NewRecord<'_>>> = recs.iter().map(|r| new_records(r)).collect();
                let appends: Vec<(&Partition, &[NewRecord<'_>])> =
                    parts.iter().zip(&news).map(|(p, n)| (p, &n[..])).collect();
                let futures = Partition::append_all(&appends);
                for ((future, m), recs) in futures.into_iter().zip(&mut model).zip(recs) {
                    let ack = future.wait().expect("append");
                    assert_eq!(ack.first_offset, m.next());
                    for r in recs {
                        m.append(r);
                    }
                    if fsync == Fsync::Always {
                        m.durable = m.next();
                    }
                }
            }
            Op::Read { part, at, max } => {
                let m = &model[*part as usize];
                let from = pick(m.first, m.next(), *at);
                let p = log.partition("t", *part).expect("partition");
                let got = read_from(&p, from, *max);
                let start = (from - m.first) as usize;
                let end = (start + max).min(m.records.len());
                assert_eq!(got, m.records[start..end], "read {max} from {from}");
            }
            Op::ReadTime { part, at } => {
                let m = &model[*part as usize];
                let ts = clock - 3_000 + (4_000.0 * at) as i64;
                let want = m
                    .records
                    .iter()
                    .position(|r| r.ts >= ts)
                    .map_or(m.next(), |i| m.first + i as u64);
                let p = log.partition("t", *part).expect("partition");
                assert_eq!(
                    p.offset_for_timestamp(ts).expect("by time"),
                    want,
                    "ts {ts}"
                );
            }
            Op::Roll { part } => {
                log.partition("t", *part)
                    .expect("partition")
                    .roll()
                    .expect("roll");
                model[*part as usize].roll();
            }
            Op::Commit { part, consumer, at } => {
                let m = &mut model[*part as usize];
                let offset = pick(0, m.next(), *at);
                let p = log.partition("t", *part).expect("partition");
                p.commit(CONSUMERS[*consumer], offset).expect("commit");
                m.consumers.insert(CONSUMERS[*consumer].to_owned(), offset);
            }
            Op::Retention { advance_ms } => {
                clock += advance_ms;
                log.enforce_retention_at(clock).expect("retention");
                for m in &mut model {
                    m.retention(clock);
                }
            }
            Op::Sync { part } => {
                log.partition("t", *part)
                    .expect("partition")
                    .sync()
                    .expect("sync");
                let m = &mut model[*part as usize];
                m.durable = m.next();
            }
            Op::Reopen => {
                log.close().expect("close");
                log = open(&storage, fsync);
                assert!(
                    log.recovery_report().is_clean(),
                    "{}",
                    log.recovery_report()
                );
                for m in &mut model {
                    m.durable = m.next();
                }
            }
            Op::Crash { seed, torn } => {
                let mode = if *torn {
                    CrashMode::KeepUnsyncedPrefix { seed: *seed }
                } else {
                    CrashMode::DropUnsynced
                };
                let image = storage.crash(mode);
                drop(log);
                storage = image;
                log = open(&storage, fsync);
                for (i, m) in model.iter_mut().enumerate() {
                    let p = log.partition("t", i as u32).expect("partition");
                    let got = read_from(&p, m.first, usize::MAX);
                    assert!(
                        got.len() as u64 >= m.durable - m.first,
                        "lost durable records ({fsync:?})"
                    );
                    assert_eq!(
                        got[..],
                        m.records[..got.len()],
                        "not a prefix of what was written"
                    );
                    if fsync == Fsync::Always {
                        assert_eq!(got.len(), m.records.len());
                        // Only segment writes made durable by the journal can be torn; what
                        // was cut is restored from it.
                        let report = &log.recovery_report().partitions[i];
                        assert!(
                            report.truncation.is_none() || report.replayed > 0,
                            "{}",
                            log.recovery_report()
                        );
                    }
                    m.crashed(got.len());
                }
                assert_eq!(
                    log.recovery_report().corruption().count(),
                    0,
                    "{}",
                    log.recovery_report()
                );
            }
        }
        for (i, m) in model.iter().enumerate() {
            check_partition(&log.partition("t", i as u32).expect("partition"), m);
        }
    }
    // Finally every record reads back, and survives a clean reopen.
    log.close().expect("close");
    let log = open(&storage, fsync);
    for (i, m) in model.iter().enumerate() {
        let p = log.partition("t", i as u32).expect("partition");
        check_partition(&p, m);
        assert_eq!(read_from(&p, m.first, usize::MAX), m.records);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_log_behaves_like_the_model_with_fsync_always(ops in prop::collection::vec(op(), 1..60)) {
        run(Fsync::Always, &ops);
    }

    #[test]
    fn the_log_behaves_like_the_model_with_fsync_never(ops in prop::collection::vec(op(), 1..60)) {
        run(Fsync::Never, &ops);
    }
}

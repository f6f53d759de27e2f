//! Group commit: many concurrent appenders share fsyncs, and every acknowledged record is
//! there, with its value at its offset, after reopening — even after a simulated power cut.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::thread;

use common::{read_all, small_segments, value};
use weir_log::{CrashMode, Fsync, Log, LogConfig, MemStorage, NewRecord};

const THREADS: u64 = 8;
const PER_THREAD: u64 = 100;

/// Appends from `THREADS` threads at once; returns what each ack said: offset -> value.
fn hammer(log: &Log) -> BTreeMap<u64, Vec<u8>> {
    let p = log.partition("t", 0).expect("partition");
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let p = p.clone();
            thread::spawn(move || {
                let mut acked = Vec::new();
                for i in 0..PER_THREAD {
                    let v = value(t * 1_000_000 + i);
                    // Some appenders send one record, some three.
                    let n = if t % 2 == 0 { 1 } else { 3 };
                    let recs = vec![NewRecord::new(&v); n];
                    let ack = p.append(&recs).expect("append");
                    for o in ack.first_offset..ack.next_offset {
                        acked.push((o, v.clone()));
                    }
                }
                acked
            })
        })
        .collect();
    let mut acked = BTreeMap::new();
    for h in handles {
        for (o, v) in h.join().expect("appender") {
            assert!(
                acked.insert(o, v).is_none(),
                "offset {o} acknowledged twice"
            );
        }
    }
    acked
}

fn check(log: &Log, acked: &BTreeMap<u64, Vec<u8>>) {
    let all = read_all(&log.partition("t", 0).expect("partition"));
    assert_eq!(all.len(), acked.len());
    for (i, rec) in all.iter().enumerate() {
        assert_eq!(rec.offset, i as u64, "offsets are dense");
        assert_eq!(
            Some(&rec.value),
            acked.get(&rec.offset),
            "offset {}",
            rec.offset
        );
    }
}

#[test]
fn concurrent_appenders_share_fsyncs_and_every_ack_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        segment_bytes: 64 * 1024,
        ..LogConfig::default()
    };
    let log = Log::open(dir.path(), config.clone()).expect("open");
    log.create_topic("t", 1).expect("create");
    let acked = hammer(&log);
    let appends = THREADS * PER_THREAD;
    let stats = log.partition("t", 0).expect("partition").stats();
    assert!(
        stats.batches < appends,
        "{appends} appends took {} batches: no group commit",
        stats.batches
    );
    eprintln!(
        "{appends} appends in {} batches, {} fsyncs",
        stats.batches, stats.syncs
    );
    drop(log);
    let log = Log::open(dir.path(), config).expect("reopen");
    assert!(
        log.recovery_report().is_clean(),
        "{}",
        log.recovery_report()
    );
    check(&log, &acked);
}

#[test]
fn every_ack_survives_a_power_cut_during_concurrent_appends() {
    let storage = MemStorage::new();
    let log =
        Log::open_with_storage(Arc::new(storage.clone()), "/log", small_segments()).expect("open");
    log.create_topic("t", 1).expect("create");
    let acked = hammer(&log);
    // Cut power with appends still queued behind the acknowledged ones.
    let p = log.partition("t", 0).expect("partition");
    let inflight: Vec<_> = (0..20u8)
        .map(|i| p.append_async(&[NewRecord::new(&[i; 50])]))
        .collect();
    let image = storage.crash(CrashMode::KeepUnsyncedPrefix { seed: 7 });
    drop(inflight);
    drop(log);

    let log = Log::open_with_storage(Arc::new(image), "/log", small_segments()).expect("reopen");
    let all = read_all(&log.partition("t", 0).expect("partition"));
    assert!(all.len() >= acked.len(), "lost acknowledged records");
    for rec in all.iter().take(acked.len()) {
        assert_eq!(Some(&rec.value), acked.get(&rec.offset));
    }
}

#[test]
fn reopened_many_times_with_and_without_power_cuts_nothing_acknowledged_is_lost() {
    for fsync in [Fsync::Always, Fsync::Never] {
        let mut storage = MemStorage::new();
        let config = LogConfig {
            fsync,
            ..small_segments()
        };
        let mut durable: Vec<Vec<u8>> = Vec::new();
        let mut written: Vec<Vec<u8>> = Vec::new();
        for round in 0..25u64 {
            let log = Log::open_with_storage(Arc::new(storage.clone()), "/log", config.clone())
                .expect("open");
            log.ensure_topic("t", 1).expect("topic");
            let p = log.partition("t", 0).expect("partition");
            let all = read_all(&p);
            let values: Vec<Vec<u8>> = all.iter().map(|r| r.value.clone()).collect();
            // Everything durable is there; what is there is a prefix of what was written.
            assert!(
                values.len() >= durable.len(),
                "round {round} ({fsync:?}): lost durable data"
            );
            assert_eq!(
                values[..],
                written[..values.len()],
                "round {round} ({fsync:?})"
            );
            written.truncate(values.len());
            durable = written.clone();

            for i in 0..(round % 7 + 1) * 5 {
                let v = value(round * 1000 + i);
                p.append(&[NewRecord::new(&v)]).expect("append");
                written.push(v);
                if fsync == Fsync::Always {
                    durable = written.clone();
                }
            }
            if round % 4 == 1 {
                p.roll().expect("roll");
                durable = written.clone();
            }
            match round % 3 {
                0 => {
                    // Clean close: everything is synced.
                    log.close().expect("close");
                    durable = written.clone();
                }
                1 => {
                    let image = storage.crash(CrashMode::DropUnsynced);
                    drop(log);
                    storage = image;
                }
                _ => {
                    let image = storage.crash(CrashMode::KeepUnsyncedPrefix { seed: round });
                    drop(log);
                    storage = image;
                }
            }
        }
    }
}

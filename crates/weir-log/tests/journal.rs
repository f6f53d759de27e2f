//! The topic journal: a group of appends to several partitions is made durable by one fsync
//! (of the journal), and every acknowledged record survives a power cut, whether its segment
//! write was synced or not, across many reuses of the journal.

mod common;

use std::sync::Arc;

use common::{read_all, value};
use weir_log::{CrashMode, Error, Log, LogConfig, MemStorage, NewRecord, Partition};

const PARTITIONS: u32 = 4;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 8192,
        index_interval_bytes: 256,
        journal_bytes: 4096,
        ..LogConfig::default()
    }
}

fn open(storage: &MemStorage) -> Log {
    let log = Log::open_with_storage(Arc::new(storage.clone()), "/log", config()).expect("open");
    log.ensure_topic("t", PARTITIONS).expect("topic");
    log
}

fn parts(log: &Log) -> Vec<Partition> {
    (0..PARTITIONS)
        .map(|i| log.partition("t", i).expect("partition"))
        .collect()
}

/// Appends record `serial..` to every partition in one group; returns the next serial.
fn append_group(parts: &[Partition], serial: u64, per_partition: u64) -> u64 {
    let values: Vec<Vec<Vec<u8>>> = (0..parts.len() as u64)
        .map(|p| {
            (0..per_partition)
                .map(|i| value(serial + p * per_partition + i))
                .collect()
        })
        .collect();
    let news: Vec<Vec<NewRecord<'_>>> = values
        .iter()
        .map(|vs| vs.iter().map(|v| NewRecord::new(v)).collect())
        .collect();
    let appends: Vec<(&Partition, &[NewRecord<'_>])> =
        parts.iter().zip(&news).map(|(p, n)| (p, &n[..])).collect();
    for f in Partition::append_all(&appends) {
        f.wait().expect("append");
    }
    serial + parts.len() as u64 * per_partition
}

/// The values each partition must hold after `groups` groups from serial 0.
fn expected(groups: u64, per_partition: u64) -> Vec<Vec<Vec<u8>>> {
    (0..u64::from(PARTITIONS))
        .map(|p| {
            (0..groups)
                .flat_map(|g| {
                    let base = g * u64::from(PARTITIONS) * per_partition + p * per_partition;
                    (0..per_partition).map(move |i| value(base + i))
                })
                .collect()
        })
        .collect()
}

fn values(log: &Log) -> Vec<Vec<Vec<u8>>> {
    parts(log)
        .iter()
        .map(|p| read_all(p).into_iter().map(|r| r.value).collect())
        .collect()
}

#[test]
fn a_group_across_partitions_takes_one_fsync() {
    let storage = MemStorage::new();
    let log = open(&storage);
    let parts = parts(&log);
    append_group(&parts, 0, 2);
    let before = storage.syncs();
    append_group(&parts, 100, 2);
    assert_eq!(
        storage.syncs() - before,
        1,
        "a group of {PARTITIONS} partitions is made durable by one fsync of the journal"
    );
    // An append to one partition alone fsyncs its segment, not the journal.
    let before = storage.syncs();
    parts[1]
        .append(&[NewRecord::new(b"alone")])
        .expect("append");
    assert_eq!(storage.syncs() - before, 1);
}

#[test]
fn every_acknowledged_record_survives_power_cuts_across_journal_reuses() {
    for mode in [
        CrashMode::DropUnsynced,
        CrashMode::KeepUnsyncedPrefix { seed: 7 },
        CrashMode::KeepUnsyncedPrefix { seed: 12345 },
    ] {
        let storage = MemStorage::new();
        let log = open(&storage);
        let parts = parts(&log);
        let mut serial = 0;
        // 60 groups or more of ~4 * 3 * 130 bytes: the 4 KiB journal is reused many times and
        // segments of 8 KiB are sealed along the way. The last group is one made durable by
        // the journal alone (one fsync; a group that fills the journal syncs the segments).
        let mut groups = 0;
        loop {
            let syncs = storage.syncs();
            serial = append_group(&parts, serial, 3);
            groups += 1;
            if groups >= 60 && storage.syncs() - syncs == 1 {
                break;
            }
            assert!(groups < 100);
        }
        let image = storage.crash(mode);
        drop(log);
        let log = open(&image);
        let report = log.recovery_report().clone();
        assert_eq!(report.corruption().count(), 0, "{report}");
        assert_eq!(values(&log), expected(groups, 3), "{mode:?}: {report}");
        assert!(
            report.partitions.iter().any(|p| p.replayed > 0),
            "{mode:?}: the last groups were in the journal only: {report}"
        );

        // The log goes on after recovery, and a clean reopen finds nothing to repair.
        let parts_after = self::parts(&log);
        append_group(&parts_after, serial, 3);
        log.close().expect("close");
        let log = open(&image);
        assert!(
            log.recovery_report().is_clean(),
            "{}",
            log.recovery_report()
        );
        assert_eq!(values(&log), expected(groups + 1, 3));
    }
}

#[test]
fn a_failed_journal_fsync_poisons_every_partition_of_the_topic() {
    let storage = MemStorage::new();
    let log = open(&storage);
    let parts = parts(&log);
    append_group(&parts, 0, 1);
    storage.fail_syncs_after(0);
    let values: Vec<Vec<u8>> = (0..PARTITIONS as u64).map(value).collect();
    let news: Vec<[NewRecord<'_>; 1]> = values.iter().map(|v| [NewRecord::new(v)]).collect();
    let appends: Vec<(&Partition, &[NewRecord<'_>])> =
        parts.iter().zip(&news).map(|(p, n)| (p, &n[..])).collect();
    for f in Partition::append_all(&appends) {
        let err = f.wait().expect_err("the journal fsync fails");
        assert!(
            matches!(err, Error::Io { .. } | Error::Poisoned { .. }),
            "{err:?}"
        );
    }
    storage.clear_faults();
    for p in &parts {
        let err = p.append(&[NewRecord::new(b"x")]).expect_err("poisoned");
        assert!(matches!(err, Error::Poisoned { .. }), "{err:?}");
    }
    // What was acknowledged before survives a power cut.
    let image = storage.crash(CrashMode::DropUnsynced);
    drop(log);
    let log = open(&image);
    assert_eq!(self::values(&log), expected(1, 1));
}

/// On a real file system: the tail of a partition's segment is lost (as unsynced writes are in
/// a power cut) while the journal holds it; reopening cuts the torn frame and restores every
/// record from the journal, and reports both.
#[test]
fn a_segment_tail_lost_on_disk_is_restored_from_the_journal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        segment_bytes: 1 << 20,
        ..LogConfig::default()
    };
    let log = Log::open(dir.path(), config.clone()).expect("open");
    log.ensure_topic("t", PARTITIONS).expect("topic");
    let mut serial = 0;
    for _ in 0..20 {
        serial = append_group(&parts(&log), serial, 3);
    }
    log.close().expect("close");

    let segment = dir.path().join("topics/t/2/00000000000000000000.log");
    let len = std::fs::metadata(&segment).expect("segment").len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .expect("open segment");
    // Cut into the middle of a frame, some records back.
    file.set_len(len - 1000).expect("cut");
    drop(file);

    let log = Log::open(dir.path(), config).expect("reopen");
    log.ensure_topic("t", PARTITIONS).expect("topic");
    let report = log.recovery_report().clone();
    let p2 = &report.partitions[2];
    let cut = p2.truncation.as_ref().expect("the torn frame is cut");
    assert!(p2.replayed >= 1000 / 300, "{report}");
    assert_eq!(p2.next_offset, 60, "{report}");
    assert_eq!(cut.first_lost_offset + p2.replayed, 60, "{report}");
    assert_eq!(report.corruption().count(), 0, "{report}");
    assert_eq!(values(&log), expected(20, 3));
}

/// Damage to the journal (flipped bytes, a cut anywhere) after a clean close loses nothing:
/// the segments were synced on close, replay restores nothing and reports no damage.
#[test]
fn damage_to_the_journal_after_a_clean_close_loses_nothing() {
    let storage = MemStorage::new();
    let log = open(&storage);
    let mut serial = 0;
    for _ in 0..5 {
        serial = append_group(&parts(&log), serial, 2);
    }
    log.close().expect("close");
    let path = std::path::Path::new("/log/topics/t/journal");
    let clean = storage.file_bytes(path).expect("journal");
    assert!(clean.len() > 100, "the journal holds the groups");
    let mut damaged = Vec::new();
    for at in (0..clean.len()).step_by(37) {
        let mut flipped = clean.clone();
        flipped[at] ^= 0x5a;
        damaged.push(flipped);
        damaged.push(clean[..at].to_vec());
    }
    for bytes in damaged {
        let image = storage.crash(CrashMode::DropUnsynced);
        assert!(image.set_file_bytes(path, &bytes));
        let log = open(&image);
        let report = log.recovery_report();
        assert!(report.is_clean(), "{report}");
        assert_eq!(values(&log), expected(5, 2));
    }
}

/// Appends made together to several partitions are stored whole or not at all when the quota
/// runs out: the quota is checked for all of them at once.
#[test]
fn appends_made_together_fill_the_quota_whole_or_not_at_all() {
    let storage = MemStorage::new();
    let config = LogConfig {
        quota_bytes: Some(30_000),
        ..config()
    };
    let log = Log::open_with_storage(Arc::new(storage.clone()), "/log", config).expect("open");
    log.ensure_topic("t", PARTITIONS).expect("topic");
    let parts = parts(&log);
    let value = vec![b'v'; 300];
    let news = [NewRecord::new(&value)];
    let appends: Vec<(&Partition, &[NewRecord<'_>])> =
        parts.iter().map(|p| (p, &news[..])).collect();
    let mut groups = 0;
    let refused = loop {
        let results: Vec<_> = Partition::append_all(&appends)
            .into_iter()
            .map(weir_log::AppendFuture::wait)
            .collect();
        if results.iter().all(Result::is_ok) {
            groups += 1;
            assert!(groups < 100, "the quota never ran out");
            continue;
        }
        break results;
    };
    for r in &refused {
        let err = r
            .as_ref()
            .expect_err("every append of the group is refused");
        assert_eq!(err.code(), "quota_exceeded", "{err:?}");
    }
    for p in &parts {
        assert_eq!(read_all(p).len(), groups, "partition {}", p.id());
    }
}

/// A log last run with `Fsync::Always` and reopened with another mode after a power cut still
/// replays its journal, then removes it (only `always` uses one).
#[test]
fn a_journal_left_by_an_always_run_is_replayed_under_another_fsync_mode() {
    let storage = MemStorage::new();
    let log = open(&storage);
    // Two groups fit in the journal without a checkpoint: their segment writes are unsynced.
    let serial = append_group(&parts(&log), 0, 2);
    append_group(&parts(&log), serial, 2);
    let image = storage.crash(CrashMode::DropUnsynced);
    drop(log);
    let config = LogConfig {
        fsync: weir_log::Fsync::Never,
        ..config()
    };
    let log = Log::open_with_storage(Arc::new(image.clone()), "/log", config).expect("open");
    assert!(
        log.recovery_report()
            .partitions
            .iter()
            .any(|p| p.replayed > 0),
        "{}",
        log.recovery_report()
    );
    assert_eq!(values(&log), expected(2, 2));
    assert!(
        image
            .file_bytes(std::path::Path::new("/log/topics/t/journal"))
            .is_none(),
        "the journal is removed"
    );
}

//! The three durability modes: `Always` acknowledges only fsynced records; `Interval` fsyncs
//! within the interval after a write; `Never` fsyncs only on seal, `sync()` and close.

mod common;

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{partition, read_all, small_segments};
use weir_log::{CrashMode, Fsync, Log, LogConfig, MemStorage, NewRecord};

fn open(storage: &MemStorage, fsync: Fsync) -> Log {
    let config = LogConfig {
        fsync,
        ..small_segments()
    };
    let log = Log::open_with_storage(Arc::new(storage.clone()), "/log", config).expect("open");
    log.ensure_topic("t", 1).expect("topic");
    log
}

fn survivors_after_power_cut(storage: &MemStorage, log: Log) -> usize {
    let image = storage.crash(CrashMode::DropUnsynced);
    drop(log);
    let log = open(&image, Fsync::Always);
    read_all(&partition(&log, "t")).len()
}

#[test]
fn always_every_acknowledged_record_is_synced() {
    let storage = MemStorage::new();
    let log = open(&storage, Fsync::Always);
    let p = partition(&log, "t");
    for i in 0..10u8 {
        p.append(&[NewRecord::new(&[i; 10])]).expect("append");
    }
    assert_eq!(survivors_after_power_cut(&storage, log), 10);
}

#[test]
fn interval_syncs_soon_after_a_write_without_further_appends() {
    let storage = MemStorage::new();
    let log = open(&storage, Fsync::Interval(Duration::from_millis(20)));
    let p = partition(&log, "t");
    p.append(&[NewRecord::new(b"a")]).expect("append");
    let deadline = Instant::now() + Duration::from_secs(10);
    while p.stats().syncs == 0 {
        assert!(Instant::now() < deadline, "the interval fsync never came");
        thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(survivors_after_power_cut(&storage, log), 1);
}

#[test]
fn never_syncs_only_when_asked_and_a_power_cut_loses_the_unsynced_suffix() {
    let storage = MemStorage::new();
    let log = open(&storage, Fsync::Never);
    let p = partition(&log, "t");
    p.append(&[NewRecord::new(b"a"), NewRecord::new(b"b")])
        .expect("append");
    p.sync().expect("sync");
    p.append(&[NewRecord::new(b"c")]).expect("append");
    assert_eq!(read_all(&p).len(), 3, "readers see written records");
    assert_eq!(survivors_after_power_cut(&storage, log), 2);

    let storage = MemStorage::new();
    let log = open(&storage, Fsync::Never);
    partition(&log, "t")
        .append(&[NewRecord::new(b"x")])
        .expect("append");
    log.close().expect("close syncs");
    let log = open(&storage.crash(CrashMode::DropUnsynced), Fsync::Never);
    assert_eq!(read_all(&partition(&log, "t")).len(), 1);
}

//! A failed write or fsync poisons the partition's writer: the failed batch gets the I/O
//! error, every later append `Poisoned` (fatal, not retryable), and reads and other partitions
//! go on. Reopening recovers what reached the disk: every acknowledged record.

mod common;

use std::sync::Arc;

use common::{read_all, small_segments};
use weir_log::{CrashMode, Error, ErrorClass, Log, MemStorage, NewRecord};

fn open(storage: &MemStorage) -> Log {
    let log =
        Log::open_with_storage(Arc::new(storage.clone()), "/log", small_segments()).expect("open");
    log.ensure_topic("t", 2).expect("topic");
    log
}

#[test]
fn a_failed_fsync_poisons_the_writer_until_reopen() {
    let storage = MemStorage::new();
    let log = open(&storage);
    let p = log.partition("t", 0).expect("partition");
    p.append(&[NewRecord::new(b"one"), NewRecord::new(b"two")])
        .expect("append");

    storage.fail_syncs_after(0);
    let err = p
        .append(&[NewRecord::new(b"three")])
        .expect_err("fsync fails");
    assert!(matches!(err, Error::Io { op: "sync", .. }), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Fatal);
    assert!(!err.is_retryable());

    // Even with the disk healthy again, the writer refuses: it cannot know what is on disk.
    storage.clear_faults();
    let err = p.append(&[NewRecord::new(b"four")]).expect_err("poisoned");
    assert!(
        matches!(err, Error::Poisoned { partition: 0, .. }),
        "{err:?}"
    );
    assert_eq!(err.code(), "poisoned");
    assert!(matches!(p.sync(), Err(Error::Poisoned { .. })));
    assert!(p.stats().poisoned);

    // Reads of what was acknowledged go on; the other partition is unaffected.
    let values: Vec<_> = read_all(&p).into_iter().map(|r| r.value).collect();
    assert_eq!(values, vec![b"one".to_vec(), b"two".to_vec()]);
    log.partition("t", 1)
        .expect("p1")
        .append(&[NewRecord::new(b"x")])
        .expect("healthy");

    let image = storage.crash(CrashMode::DropUnsynced);
    assert!(matches!(log.close(), Err(Error::Poisoned { .. })));

    let log = open(&image);
    let p = log.partition("t", 0).expect("partition");
    let values: Vec<_> = read_all(&p).into_iter().map(|r| r.value).collect();
    assert_eq!(
        values,
        vec![b"one".to_vec(), b"two".to_vec()],
        "{}",
        log.recovery_report()
    );
    p.append(&[NewRecord::new(b"three again")])
        .expect("a reopened log appends");
}

#[test]
fn a_failed_write_poisons_every_waiter_of_its_batch() {
    for budget in 0..12 {
        let storage = MemStorage::new();
        let log = open(&storage);
        let p = log.partition("t", 0).expect("partition");
        p.append(&[NewRecord::new(b"before")]).expect("append");
        storage.fail_after_ops(budget);
        let big = vec![1u8; 1500];
        let futures: Vec<_> = (0..10)
            .map(|_| p.append_async(&[NewRecord::new(&big)]))
            .collect();
        let outcomes: Vec<_> = futures.into_iter().map(|f| f.wait()).collect();
        let first_err = outcomes.iter().position(Result::is_err);
        if let Some(i) = first_err {
            assert!(
                outcomes[i..].iter().all(Result::is_err),
                "budget {budget}: an append after a failure succeeded"
            );
        }
        let acked = outcomes.iter().filter(|o| o.is_ok()).count();
        let image = storage.crash(CrashMode::DropUnsynced);
        drop(log);
        let log = open(&image);
        let got = read_all(&log.partition("t", 0).expect("partition"));
        assert!(
            got.len() > acked,
            "budget {budget}: acknowledged records lost: {}",
            log.recovery_report()
        );
    }
}

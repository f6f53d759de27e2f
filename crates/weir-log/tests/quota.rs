//! The disk quota: an append that would exceed it fails with a retryable error naming quota
//! and usage, and succeeds again once retention has freed space — which it does only past
//! what every consumer has committed.

mod common;

use std::sync::Arc;

use common::small_segments;
use weir_log::{Error, ErrorClass, Log, LogConfig, MemStorage, NewRecord, Retention};

#[test]
fn appends_past_the_quota_fail_retryably_until_retention_frees_space() {
    let config = LogConfig {
        quota_bytes: Some(20_000),
        retention: Retention {
            max_bytes: Some(4096),
            ..Retention::default()
        },
        ..small_segments()
    };
    let log = Log::open_with_storage(Arc::new(MemStorage::new()), "/log", config).expect("open");
    log.create_topic("t", 1).expect("create");
    let p = log.partition("t", 0).expect("partition");
    p.commit("reader", 0).expect("commit");
    let payload = [9u8; 200];

    let mut appended = 0u64;
    let err = loop {
        match p.append(&[NewRecord::new(&payload)]) {
            Ok(_) => appended += 1,
            Err(e) => break e,
        }
        assert!(appended < 1000, "the quota never hit");
    };
    assert!(appended > 50, "only {appended} appended");
    let Error::QuotaExceeded {
        quota,
        usage,
        requested,
    } = err.clone()
    else {
        panic!("expected QuotaExceeded, got {err:?}")
    };
    assert_eq!((quota, requested), (20_000, 228));
    assert!(
        usage + requested > quota && usage <= quota + 4096,
        "usage {usage}"
    );
    assert!(err.is_retryable());
    assert_eq!(err.class(), ErrorClass::Transient);
    assert_eq!(err.code(), "quota_exceeded");
    let msg = err.to_string();
    assert!(
        msg.contains("20000") && msg.contains(&usage.to_string()),
        "{msg}"
    );
    assert_eq!(log.stats().bytes, usage);

    // Retention may not delete what the consumer has not committed past.
    assert!(
        log.enforce_retention()
            .expect("retention")
            .deleted
            .is_empty()
    );
    assert!(matches!(
        p.append(&[NewRecord::new(&payload)]),
        Err(Error::QuotaExceeded { .. })
    ));

    p.commit("reader", p.next_offset()).expect("commit");
    let freed = log.enforce_retention().expect("retention");
    assert!(!freed.deleted.is_empty());
    assert!(log.stats().bytes < usage - freed.bytes_freed() + 1);
    let ack = p.append(&[NewRecord::new(&payload)]).expect("space again");
    assert_eq!(ack.first_offset, appended);
    assert_eq!(
        p.first_offset(),
        freed.deleted.last().map_or(0, |d| d.next_offset)
    );
}

#[test]
fn usage_is_counted_from_disk_on_reopen() {
    let storage = Arc::new(MemStorage::new());
    let config = LogConfig {
        quota_bytes: Some(10_000),
        ..small_segments()
    };
    let log = Log::open_with_storage(storage.clone(), "/log", config.clone()).expect("open");
    log.create_topic("t", 1).expect("create");
    let p = log.partition("t", 0).expect("partition");
    while p.append(&[NewRecord::new(&[1u8; 300])]).is_ok() {}
    let before = log.stats().bytes;
    drop(log);
    let log = Log::open_with_storage(storage, "/log", config).expect("reopen");
    assert_eq!(log.stats().bytes, before);
    let err = log
        .append("t", 0, &[NewRecord::new(&[1u8; 300])])
        .expect_err("still full");
    assert!(err.is_retryable());
}

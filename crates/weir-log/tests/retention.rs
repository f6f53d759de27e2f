//! Retention deletes whole sealed segments by age and size, never the active one, never past
//! a consumer's committed offset unless told to, also from its background thread; readers
//! whose position was deleted get `OffsetOutOfRange`.

mod common;

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{partition, read_all, small_segments, value};
use weir_log::{Error, Log, LogConfig, MemStorage, NewRecord, Retention, StartAt};

fn fill(log: &Log, records: u64, ts: i64) {
    let p = partition(log, "t");
    for i in 0..records {
        p.append(&[NewRecord::new(&value(i)).at(ts)])
            .expect("append");
    }
}

fn open(retention: Retention) -> Log {
    let config = LogConfig {
        retention,
        ..small_segments()
    };
    let log = Log::open_with_storage(Arc::new(MemStorage::new()), "/log", config).expect("open");
    log.create_topic("t", 1).expect("create");
    log
}

#[test]
fn by_age_whole_segments_never_the_active_one() {
    let log = open(Retention {
        max_age: Some(Duration::from_secs(60)),
        ..Retention::default()
    });
    fill(&log, 100, 1_000);
    let p = partition(&log, "t");
    let before = p.stats();
    assert!(before.segments > 2);
    assert!(
        log.enforce_retention_at(1_000 + 59_999)
            .expect("retention")
            .deleted
            .is_empty()
    );
    let report = log.enforce_retention_at(1_000 + 60_001).expect("retention");
    assert_eq!(report.deleted.len(), before.segments - 1);
    let after = p.stats();
    assert_eq!(after.segments, 1);
    assert_eq!(after.next_offset, 100);
    assert_eq!(
        after.first_offset,
        report.deleted.last().expect("deleted").next_offset
    );
    let left = read_all(&p);
    assert_eq!(left.first().map(|r| r.offset), Some(after.first_offset));
    assert!(matches!(
        p.reader(StartAt::Offset(0)),
        Err(Error::OffsetOutOfRange { .. })
    ));
}

#[test]
fn consumers_hold_retention_back_unless_ignored() {
    let log = open(Retention {
        max_bytes: Some(0),
        ..Retention::default()
    });
    fill(&log, 100, 0);
    let p = partition(&log, "t");
    p.commit("slow", 40).expect("commit");
    p.commit("fast", 100).expect("commit");
    let mut reader = p.reader(StartAt::Offset(5)).expect("reader");
    assert_eq!(reader.read(1, usize::MAX).expect("read")[0].offset, 5);
    log.enforce_retention().expect("retention");
    assert!(p.first_offset() <= 40, "deleted past the slow consumer");
    assert!(p.first_offset() > 0, "the first segment ends before 40");
    // A reader inside a deleted segment finishes it (the file stays open), then goes on.
    let rest = reader.read(100, usize::MAX).expect("read");
    assert_eq!(rest.first().map(|r| r.offset), Some(6));
    assert!(rest.windows(2).all(|w| w[1].offset == w[0].offset + 1));

    p.remove_consumer("slow").expect("remove");
    log.enforce_retention().expect("retention");
    assert_eq!(p.stats().segments, 1, "fast committed everything");
    assert!(matches!(
        reader.seek(5),
        Err(Error::OffsetOutOfRange { .. })
    ));
    drop(log);

    let log = open(Retention {
        max_bytes: Some(0),
        ignore_consumers: true,
        ..Retention::default()
    });
    fill(&log, 100, 0);
    let p = partition(&log, "t");
    p.commit("stuck", 0).expect("commit");
    log.enforce_retention().expect("retention");
    assert_eq!(p.stats().segments, 1);
}

#[test]
fn the_background_thread_applies_retention() {
    let log = open(Retention {
        max_bytes: Some(5000),
        check_interval: Some(Duration::from_millis(10)),
        ..Retention::default()
    });
    fill(&log, 200, 0);
    let p = partition(&log, "t");
    let deadline = Instant::now() + Duration::from_secs(10);
    while p.stats().bytes > 5000 + 4096 + 2000 {
        assert!(
            Instant::now() < deadline,
            "retention never ran: {:?}",
            p.stats()
        );
        thread::sleep(Duration::from_millis(5));
    }
    assert!(p.first_offset() > 0);
}

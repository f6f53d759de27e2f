//! Appends get dense offsets and read back exactly, from an offset or a timestamp, across
//! segments; readers follow the tail; consumer offsets and stats persist across reopen.

mod common;

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{block_on, read_all, small_segments, value};
use weir_log::{Error, Log, MemStorage, NewRecord, StartAt};

#[test]
fn records_read_back_exactly_from_any_offset_across_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::open(dir.path(), small_segments()).expect("open");
    log.create_topic("t", 2).expect("create");
    let p = log.partition("t", 1).expect("partition");
    let values: Vec<Vec<u8>> = (0..300).map(value).collect();
    for chunk in values.chunks(7) {
        let recs: Vec<NewRecord<'_>> = chunk
            .iter()
            .enumerate()
            .map(|(i, v)| {
                NewRecord::new(v)
                    .with_key(&v[..i % 4])
                    .at(1_000 + v.len() as i64)
            })
            .collect();
        p.append(&recs).expect("append");
    }
    assert_eq!(p.next_offset(), 300);
    let stats = p.stats();
    assert!(stats.segments > 5, "{stats:?}");
    for start in [0u64, 1, 57, 150, 298, 299, 300] {
        let mut r = p.reader(StartAt::Offset(start)).expect("reader");
        let got = r.read(10, usize::MAX).expect("read");
        let want: Vec<u64> = (start..300.min(start + 10)).collect();
        assert_eq!(got.iter().map(|r| r.offset).collect::<Vec<_>>(), want);
        for rec in got {
            assert_eq!(rec.value, values[rec.offset as usize]);
        }
    }
    assert!(matches!(
        p.reader(StartAt::Offset(301)),
        Err(Error::OffsetOutOfRange { .. })
    ));
    // The other partition is independent.
    assert_eq!(log.partition("t", 0).expect("p0").next_offset(), 0);
    assert!(matches!(
        log.partition("t", 2),
        Err(Error::UnknownPartition { partitions: 2, .. })
    ));
    assert!(matches!(log.partition("u", 0), Err(Error::UnknownTopic(_))));
    drop(log);

    let log = Log::open(dir.path(), small_segments()).expect("reopen");
    assert!(
        log.recovery_report().is_clean(),
        "{}",
        log.recovery_report()
    );
    let all = read_all(&log.partition("t", 1).expect("partition"));
    assert_eq!(all.len(), 300);
    for rec in &all {
        assert_eq!(rec.value, values[rec.offset as usize]);
        let i = (rec.offset % 7) as usize;
        assert_eq!(
            rec.key.as_deref(),
            Some(&values[rec.offset as usize][..i % 4])
        );
    }
}

#[test]
fn max_bytes_bounds_a_batch_but_one_record_always_comes() {
    let log = Log::open_with_storage(Arc::new(MemStorage::new()), "/log", small_segments())
        .expect("open");
    log.create_topic("t", 1).expect("create");
    let p = log.partition("t", 0).expect("partition");
    let big = vec![7u8; 1000];
    p.append(&[
        NewRecord::new(&big),
        NewRecord::new(&big),
        NewRecord::new(&big),
    ])
    .expect("append");
    let mut r = p.reader(StartAt::Earliest).expect("reader");
    assert_eq!(r.read(10, 10).expect("read").len(), 1);
    assert_eq!(r.read(10, 1500).expect("read").len(), 2);
    assert_eq!(r.position(), 3);
}

#[test]
fn timestamps_find_the_first_record_at_or_after() {
    let log = Log::open_with_storage(Arc::new(MemStorage::new()), "/log", small_segments())
        .expect("open");
    log.create_topic("t", 1).expect("create");
    let p = log.partition("t", 0).expect("partition");
    // Timestamps mostly rising, with a late record at offset 50.
    let ts = |i: u64| if i == 50 { 5 } else { 1_000 + i as i64 * 10 };
    for i in 0..200 {
        p.append(&[NewRecord::new(&value(i)).at(ts(i))])
            .expect("append");
    }
    for target in [0, 5, 6, 1_000, 1_001, 1_495, 1_500, 2_990, 2_991, 10_000] {
        let want = (0..200).find(|&i| ts(i) >= target).unwrap_or(200);
        assert_eq!(
            p.offset_for_timestamp(target).expect("lookup"),
            want,
            "ts {target}"
        );
        let r = p.reader(StartAt::Timestamp(target)).expect("reader");
        assert_eq!(r.position(), want);
    }
}

#[test]
fn a_reader_follows_the_tail_blocking_and_async() {
    let log = Log::open_with_storage(Arc::new(MemStorage::new()), "/log", small_segments())
        .expect("open");
    log.create_topic("t", 1).expect("create");
    let p = log.partition("t", 0).expect("partition");
    let mut r = p.reader(StartAt::Latest).expect("reader");

    let started = Instant::now();
    assert!(
        r.read_wait(10, usize::MAX, Duration::from_millis(50))
            .expect("wait")
            .is_empty()
    );
    assert!(started.elapsed() >= Duration::from_millis(50));

    let writer = {
        let p = p.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(30));
            p.append(&[NewRecord::new(b"late")]).expect("append");
        })
    };
    let got = r
        .read_wait(10, usize::MAX, Duration::from_secs(10))
        .expect("wait");
    assert_eq!(got[0].value, b"late");
    writer.join().expect("writer");

    let wait = r.wait();
    let writer = {
        let p = p.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(30));
            p.append(&[NewRecord::new(b"later")]).expect("append");
        })
    };
    block_on(wait).expect("data arrives");
    assert_eq!(r.read(10, usize::MAX).expect("read")[0].value, b"later");
    writer.join().expect("writer");
}

#[test]
fn async_appends_are_batched_and_resolve_in_order() {
    let log = Log::open_with_storage(Arc::new(MemStorage::new()), "/log", small_segments())
        .expect("open");
    log.create_topic("t", 1).expect("create");
    let p = log.partition("t", 0).expect("partition");
    let values: Vec<Vec<u8>> = (0..100).map(value).collect();
    let futures: Vec<_> = values
        .iter()
        .map(|v| p.append_async(&[NewRecord::new(v)]))
        .collect();
    for (i, f) in futures.into_iter().enumerate() {
        assert_eq!(block_on(f).expect("ack").first_offset, i as u64);
    }
    assert!(p.stats().batches < 100, "{:?}", p.stats());
    assert_eq!(read_all(&p).len(), 100);
}

#[test]
fn consumer_offsets_are_durable_and_validated() {
    let storage = Arc::new(MemStorage::new());
    let log = Log::open_with_storage(storage.clone(), "/log", small_segments()).expect("open");
    log.create_topic("t", 1).expect("create");
    let p = log.partition("t", 0).expect("partition");
    p.append(&[NewRecord::new(b"a"), NewRecord::new(b"b")])
        .expect("append");
    p.commit("etl", 2).expect("commit");
    p.commit("audit", 1).expect("commit");
    assert!(matches!(
        p.commit("etl", 3),
        Err(Error::OffsetOutOfRange { .. })
    ));
    assert!(matches!(
        p.commit("../x", 1),
        Err(Error::InvalidName { .. })
    ));
    let image = storage.crash(weir_log::CrashMode::DropUnsynced);
    drop(log);

    let log = Log::open_with_storage(Arc::new(image), "/log", small_segments()).expect("reopen");
    let p = log.partition("t", 0).expect("partition");
    assert_eq!(
        p.consumers(),
        vec![("audit".to_owned(), 1), ("etl".to_owned(), 2)]
    );
    p.remove_consumer("audit").expect("remove");
    assert_eq!(p.committed("audit"), None);

    let stats = log.stats();
    assert_eq!(stats.topics.len(), 1);
    let ps = &stats.topics[0].partitions[0];
    assert_eq!((ps.first_offset, ps.next_offset, ps.segments), (0, 2, 1));
    assert!(stats.bytes >= ps.bytes && ps.bytes > 16, "{stats:?}");
}

#[test]
fn topics_persist_and_ensure_topic_is_idempotent() {
    let storage = Arc::new(MemStorage::new());
    let log = Log::open_with_storage(storage.clone(), "/log", small_segments()).expect("open");
    log.create_topic("a", 3).expect("create");
    log.ensure_topic("a", 3).expect("same count is fine");
    log.ensure_topic("b", 1).expect("creates");
    assert!(matches!(
        log.ensure_topic("a", 2),
        Err(Error::TopicExists { partitions: 3, .. })
    ));
    assert!(matches!(
        log.create_topic("a", 3),
        Err(Error::TopicExists { .. })
    ));
    assert!(matches!(
        log.create_topic("bad/name", 1),
        Err(Error::InvalidName { .. })
    ));
    drop(log);
    let log = Log::open_with_storage(storage, "/log", small_segments()).expect("reopen");
    assert_eq!(log.topics(), vec![("a".to_owned(), 3), ("b".to_owned(), 1)]);
}

#[test]
fn appends_after_close_are_refused() {
    let log = Log::open_with_storage(Arc::new(MemStorage::new()), "/log", small_segments())
        .expect("open");
    log.create_topic("t", 1).expect("create");
    let p = log.partition("t", 0).expect("partition");
    log.close().expect("close");
    assert!(matches!(
        p.append(&[NewRecord::new(b"x")]),
        Err(Error::Closed)
    ));
}

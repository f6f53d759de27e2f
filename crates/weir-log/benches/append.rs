//! Append throughput of weir-log against the ceiling of the same bytes written sequentially to
//! one file with `write` + `fdatasync` per batch.
//!
//! Every case moves 100 records of 200-byte values (22,800 framed bytes) per iteration:
//! - `ceiling/write+fdatasync`: one `write_all` of the 22,800 bytes and one `sync_data`;
//! - `log/batch100`: one `Partition::append` of 100 records, `Fsync::Always`;
//! - `log/4x25-concurrent`: 4 threads each appending batches of 25 (group commit);
//! - `log/32x1-concurrent`: 32 threads each appending single records (group commit);
//! - `ceiling/write-only` and `log/batch100-nosync` (`Fsync::Never`): the CPU cost of the
//!   write path without fsync.
//!
//! Run: `cargo bench -p weir-log --bench append`

use std::fs::File;
use std::io::Write;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use weir_log::{Fsync, Log, LogConfig, NewRecord, Partition, encoded_len};

const RECORDS: usize = 100;
const VALUE: usize = 200;

fn value() -> Vec<u8> {
    (0..VALUE).map(|i| (i * 7 % 251) as u8).collect()
}

fn batch_bytes() -> u64 {
    (RECORDS * encoded_len(None, &value())) as u64
}

fn open(dir: &std::path::Path, fsync: Fsync) -> (Log, Partition) {
    let log = Log::open(
        dir,
        LogConfig {
            fsync,
            segment_bytes: 256 * 1024 * 1024,
            ..LogConfig::default()
        },
    )
    .expect("open");
    log.create_topic("bench", 1).expect("topic");
    let p = log.partition("bench", 0).expect("partition");
    (log, p)
}

/// Appends `total` records from `threads` threads in batches of `per_append`; returns the time.
fn concurrent(p: &Partition, threads: usize, per_append: usize, total: u64) -> Duration {
    let barrier = Arc::new(Barrier::new(threads + 1));
    let per_thread = total / threads as u64 / per_append as u64;
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let p = p.clone();
            let barrier = barrier.clone();
            thread::spawn(move || {
                let v = value();
                let recs = vec![NewRecord::new(&v); per_append];
                barrier.wait();
                for _ in 0..per_thread {
                    p.append(&recs).expect("append");
                }
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    for h in handles {
        h.join().expect("appender");
    }
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("append_100x200B");
    g.throughput(Throughput::Bytes(batch_bytes()));
    g.sample_size(20);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(6));

    let bytes = vec![0x5au8; batch_bytes() as usize];
    for (name, sync) in [
        ("ceiling/write+fdatasync", true),
        ("ceiling/write-only", false),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut f = File::create(dir.path().join("ceiling")).expect("create");
        g.bench_function(name, |b| {
            b.iter(|| {
                f.write_all(&bytes).expect("write");
                if sync {
                    f.sync_data().expect("sync");
                }
            });
        });
    }

    let v = value();
    let recs = vec![NewRecord::new(&v); RECORDS];
    for (name, fsync) in [
        ("log/batch100", Fsync::Always),
        ("log/batch100-nosync", Fsync::Never),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (log, p) = open(dir.path(), fsync);
        g.bench_function(name, |b| b.iter(|| p.append(&recs).expect("append")));
        let s = p.stats();
        eprintln!("{name}: {} batches, {} fsyncs", s.batches, s.syncs);
        drop(log);
    }

    for (name, threads, per_append) in [
        ("log/4x25-concurrent", 4, 25),
        ("log/32x1-concurrent", 32, 1),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (log, p) = open(dir.path(), Fsync::Always);
        g.bench_function(name, |b| {
            b.iter_custom(|iters| concurrent(&p, threads, per_append, iters * RECORDS as u64));
        });
        let s = p.stats();
        let records = p.next_offset();
        eprintln!(
            "{name}: {records} records in {} batches ({:.1} records per fsync)",
            s.batches,
            records as f64 / s.batches.max(1) as f64
        );
        drop(log);
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

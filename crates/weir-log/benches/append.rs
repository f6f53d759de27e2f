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

use criterion::{Criterion, Throughput, criterion_group};
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

/// Seconds taken by `n` iterations of `f`.
fn timed(n: usize, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    start.elapsed().as_secs_f64()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// The ratios to the ceiling, measured fairly on a machine whose fsync latency drifts (shared
/// disk): every round times the ceiling and each log case back to back on the same amount of
/// data (ROUND_BATCHES x 100 records), in a rotating order; the medians of the per-round
/// figures are reported.
fn paired() {
    const ROUNDS: usize = 15;
    const ROUND_BATCHES: usize = 60;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut f = File::create(dir.path().join("ceiling")).expect("create");
    let bytes = vec![0x5au8; batch_bytes() as usize];
    let (_log, p) = open(&dir.path().join("log"), Fsync::Always);
    let v = value();
    let recs = vec![NewRecord::new(&v); RECORDS];
    let total = (ROUND_BATCHES * RECORDS) as u64;
    let names = [
        "ceiling/write+fdatasync",
        "log/batch100",
        "log/4x25-concurrent",
        "log/32x1-concurrent",
    ];
    let mut secs: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    for round in 0..ROUNDS {
        for k in 0..names.len() {
            let case = (round + k) % names.len();
            let t = match case {
                0 => timed(ROUND_BATCHES, || {
                    f.write_all(&bytes).expect("write");
                    f.sync_data().expect("sync");
                }),
                1 => timed(ROUND_BATCHES, || {
                    p.append(&recs).expect("append");
                }),
                2 => concurrent(&p, 4, 25, total).as_secs_f64(),
                _ => concurrent(&p, 32, 1, total).as_secs_f64(),
            };
            secs[case].push(t);
        }
    }
    let mib = (ROUND_BATCHES as f64 * batch_bytes() as f64) / (1024.0 * 1024.0);
    println!();
    println!(
        "paired comparison: {ROUNDS} rounds x {ROUND_BATCHES} batches of 100 x 200-byte records, medians"
    );
    println!("| case | MiB/s | records/s | ratio to ceiling |");
    println!("| --- | ---: | ---: | ---: |");
    for (case, name) in names.iter().enumerate() {
        let ratios: Vec<f64> = secs[0]
            .iter()
            .zip(&secs[case])
            .map(|(c, x)| c / x)
            .collect();
        let t = median(secs[case].clone());
        println!(
            "| {name} | {:.1} | {:.0} | {:.0}% |",
            mib / t,
            total as f64 / t,
            100.0 * median(ratios)
        );
    }
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    paired();
}

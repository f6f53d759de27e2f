//! `weir log stats|tail`: the embedded log of a configuration's data directory.
//!
//! When no process has the log open, the command opens it itself (holding the log lock while
//! it runs); when a `weir run` has it open, the command asks that process's server
//! (`/api/log/*`, found through the lock file).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Subcommand;

use super::client;
use super::outln;
use crate::buffer::lock::{Holder, LockError};
use crate::buffer::view::{self, LogView, RecordView};
use crate::buffer::{Buffer, BufferError};

/// The `log` subcommands.
#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Topics, partitions, segments, offsets, bytes, consumers and retention.
    Stats {
        /// The configuration file.
        config: PathBuf,
        /// Print the statistics as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Print a topic's records as JSON lines (partition, offset, timestamp_ms, key, value).
    Tail {
        /// The configuration file.
        config: PathBuf,
        /// The topic (an http pipeline's topic is the pipeline's name).
        topic: String,
        /// Start every partition at this offset (default: its last `--lines` records).
        #[arg(long, conflicts_with = "from_time")]
        from_offset: Option<u64>,
        /// Start at the first record at or after this time: RFC 3339, or a duration ago (`10m`).
        #[arg(long)]
        from_time: Option<String>,
        /// Records per partition when no start is given.
        #[arg(long, short = 'n', default_value_t = 10)]
        lines: u64,
        /// Only this partition.
        #[arg(long)]
        partition: Option<u32>,
        /// Keep printing new records as they arrive (needs a running `weir run`).
        #[arg(long)]
        follow: bool,
    },
}

/// Where the log is read.
enum Access {
    Local(Arc<Buffer>),
    Remote(SocketAddr),
}

const REMOTE_TIMEOUT: Duration = Duration::from_secs(30);

impl Access {
    fn open(plan: &crate::config::Plan) -> Result<Access, String> {
        match Buffer::inspect(plan) {
            Ok(b) => Ok(Access::Local(b)),
            Err(BufferError::Lock(LockError::Held {
                holder: Some(Holder {
                    server: Some(addr), ..
                }),
                ..
            })) => Ok(Access::Remote(addr)),
            Err(e) => Err(e.to_string()),
        }
    }

    fn stats(&self) -> Result<LogView, String> {
        match self {
            Access::Local(b) => Ok(b.view()),
            Access::Remote(addr) => client::get_json(*addr, "/api/log/stats", REMOTE_TIMEOUT),
        }
    }

    fn offsets_for_time(&self, topic: &str, time_ms: i64) -> Result<Vec<(u32, u64)>, String> {
        match self {
            Access::Local(b) => {
                view::offsets_for_time(b.log(), topic, time_ms).map_err(|e| e.to_string())
            }
            Access::Remote(addr) => client::get_json(
                *addr,
                &format!("/api/log/offsets?topic={topic}&time_ms={time_ms}"),
                REMOTE_TIMEOUT,
            ),
        }
    }

    fn read(
        &self,
        topic: &str,
        positions: &[(u32, u64)],
        max: usize,
        wait: Duration,
    ) -> Result<Vec<RecordView>, String> {
        match self {
            Access::Local(b) => {
                view::read(b.log(), topic, positions, max).map_err(|e| e.to_string())
            }
            Access::Remote(addr) => {
                let pos: Vec<String> = positions.iter().map(|(p, o)| format!("{p}:{o}")).collect();
                client::get_json(
                    *addr,
                    &format!(
                        "/api/log/read?topic={topic}&positions={}&max={max}&wait_ms={}",
                        pos.join(","),
                        wait.as_millis()
                    ),
                    REMOTE_TIMEOUT,
                )
            }
        }
    }
}

/// Runs a `log` subcommand.
pub fn log(cmd: LogCommand) -> ExitCode {
    match run(cmd) {
        Ok(code) | Err(code) => code,
    }
}

fn failed(e: &str) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(super::EXIT_FAILED)
}

fn run(cmd: LogCommand) -> Result<ExitCode, ExitCode> {
    match cmd {
        LogCommand::Stats { config, json } => {
            let plan = super::load(&config)?;
            let access = Access::open(&plan).map_err(|e| failed(&e))?;
            let stats = access.stats().map_err(|e| failed(&e))?;
            if json {
                outln!(
                    "{}",
                    serde_json::to_string(&stats).map_err(|e| failed(&e.to_string()))?
                );
            } else {
                print_stats(&stats);
            }
            Ok(ExitCode::SUCCESS)
        }
        LogCommand::Tail {
            config,
            topic,
            from_offset,
            from_time,
            lines,
            partition,
            follow,
        } => {
            let plan = super::load(&config)?;
            let access = Access::open(&plan).map_err(|e| failed(&e))?;
            if follow && matches!(access, Access::Local(_)) {
                return Err(failed(
                    "--follow needs a running `weir run` of this configuration (no process has the log open, so nothing would arrive)",
                ));
            }
            let start = match &from_time {
                Some(t) => Some(super::dlq::time_arg("from-time", t)?),
                None => None,
            };
            tail(
                &access,
                &topic,
                from_offset,
                start,
                lines,
                partition,
                follow,
            )
            .map_err(|e| failed(&e))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn print_stats(s: &LogView) {
    let quota = match s.quota_bytes {
        Some(q) => format!(
            "quota {} ({:.0}% used)",
            human_bytes(q),
            s.bytes as f64 * 100.0 / q.max(1) as f64
        ),
        None => "no quota".to_owned(),
    };
    outln!("log {}: {} used, {quota}", s.dir, human_bytes(s.bytes));
    let r = &s.retention;
    let age = r.max_age_secs.map_or("none".to_owned(), |a| {
        humantime::format_duration(Duration::from_secs(a)).to_string()
    });
    let max_bytes = r.max_bytes.map_or("none".to_owned(), human_bytes);
    let every = r
        .check_interval_secs
        .map_or("never (only on demand)".to_owned(), |a| {
            format!(
                "every {}",
                humantime::format_duration(Duration::from_secs(a))
            )
        });
    let consumers = if r.ignore_consumers {
        "may delete records consumers have not committed"
    } else {
        "never past a consumer's committed offset"
    };
    outln!(
        "retention: max_age {age}, max_bytes {max_bytes} per partition, checked {every}; {consumers}"
    );
    outln!(
        "{:<24} {:>9} {:>8} {:>12} {:>12} {:>10} {:>10}  CONSUMERS",
        "TOPIC",
        "PARTITION",
        "SEGMENTS",
        "FIRST_OFFSET",
        "NEXT_OFFSET",
        "RECORDS",
        "BYTES"
    );
    for t in &s.topics {
        for p in &t.partitions {
            let consumers: Vec<String> = p
                .consumers
                .iter()
                .map(|(c, o)| format!("{c}={o}"))
                .collect();
            outln!(
                "{:<24} {:>9} {:>8} {:>12} {:>12} {:>10} {:>10}  {}",
                t.name,
                p.partition,
                p.segments,
                p.first_offset,
                p.next_offset,
                p.records(),
                p.bytes,
                if consumers.is_empty() {
                    "-".to_owned()
                } else {
                    consumers.join(", ")
                }
            );
        }
    }
    if s.topics.is_empty() {
        outln!("(no topics)");
    }
}

/// Prints records from the start positions up to each partition's end at the start, then —
/// following — whatever arrives.
fn tail(
    access: &Access,
    topic: &str,
    from_offset: Option<u64>,
    from_time: Option<i64>,
    lines: u64,
    only: Option<u32>,
    follow: bool,
) -> Result<(), String> {
    let stats = access.stats()?;
    let t = stats
        .topics
        .iter()
        .find(|t| t.name == topic)
        .ok_or_else(|| format!("no topic `{topic}` in {}", stats.dir))?;
    let by_time = match from_time {
        Some(ms) => Some(access.offsets_for_time(topic, ms)?),
        None => None,
    };
    let mut positions: Vec<(u32, u64, u64)> = Vec::new();
    for p in &t.partitions {
        if only.is_some_and(|o| o != p.partition) {
            continue;
        }
        let start = match (&by_time, from_offset) {
            (Some(offsets), _) => offsets
                .iter()
                .find(|(q, _)| *q == p.partition)
                .map_or(p.next_offset, |(_, o)| *o),
            (None, Some(o)) => o.clamp(p.first_offset, p.next_offset),
            (None, None) => p.next_offset.saturating_sub(lines).max(p.first_offset),
        };
        positions.push((p.partition, start, p.next_offset));
    }
    if positions.is_empty() {
        return Err(format!(
            "topic `{topic}` has no partition {}",
            only.unwrap_or(0)
        ));
    }
    // Up to the end as it was at the start, partition by partition.
    for (p, pos, end) in &mut positions {
        while *pos < *end {
            let batch = access.read(topic, &[(*p, *pos)], 1000, Duration::ZERO)?;
            if batch.is_empty() {
                break;
            }
            for r in batch {
                if r.offset >= *end {
                    break;
                }
                *pos = r.offset + 1;
                print_record(&r)?;
            }
        }
    }
    if !follow {
        return Ok(());
    }
    loop {
        let now: Vec<(u32, u64)> = positions.iter().map(|(p, o, _)| (*p, *o)).collect();
        for r in access.read(topic, &now, 1000, Duration::from_secs(2))? {
            if let Some(entry) = positions.iter_mut().find(|(p, _, _)| *p == r.partition) {
                entry.1 = r.offset + 1;
            }
            print_record(&r)?;
        }
    }
}

fn print_record(r: &RecordView) -> Result<(), String> {
    outln!("{}", serde_json::to_string(r).map_err(|e| e.to_string())?);
    Ok(())
}

//! Acknowledged ingest throughput: weir's `POST /ingest/<pipeline>` (batches of 100 events per
//! request, a few concurrent keep-alive clients, answered after the log's fsync) against
//! publishing the same events to NATS JetStream with a publish acknowledgement per event
//! (async-nats; each client publishes a batch of 100 and awaits the 100 acks), and — a second
//! JetStream figure — one message per batch of 100.
//!
//! Both servers are private: `weir run` on a fresh data directory, and `nats-server -js -sd
//! <tmpdir> -p <free port>`. Rounds alternate the cases back to back (the disk's fsync latency
//! drifts on a shared machine); the table gives each round and the medians.
//!
//! ```text
//! cargo run --release --manifest-path bench/ingest/Cargo.toml -- \
//!     --weir target/release/weir [--nats /usr/sbin/nats-server] [--events 200000] \
//!     [--clients 4] [--batch 100] [--rounds 5] [--partitions 8] [--cases weir-always,weir-interval,nats,nats-batch]
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

type Error = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Clone)]
struct Args {
    weir: PathBuf,
    nats: PathBuf,
    events: usize,
    clients: usize,
    batch: usize,
    rounds: usize,
    /// Partitions of weir's topic.
    partitions: u32,
    /// Only these cases (`weir-always,weir-interval,nats,nats-batch`); all when empty.
    cases: Vec<String>,
}

fn args() -> Args {
    let mut a = Args {
        weir: PathBuf::from("target/release/weir"),
        nats: PathBuf::from("/usr/sbin/nats-server"),
        events: 200_000,
        clients: 4,
        batch: 100,
        rounds: 5,
        partitions: 8,
        cases: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--weir" => a.weir = v.into(),
            "--nats" => a.nats = v.into(),
            "--events" => a.events = v.parse().expect("--events N"),
            "--clients" => a.clients = v.parse().expect("--clients N"),
            "--batch" => a.batch = v.parse().expect("--batch N"),
            "--rounds" => a.rounds = v.parse().expect("--rounds N"),
            "--partitions" => a.partitions = v.parse().expect("--partitions N"),
            "--cases" => a.cases = v.split(',').map(str::to_owned).collect(),
            other => panic!("unknown flag {other}"),
        }
    }
    // The weir process runs in its own directory: make the path absolute.
    a.weir = std::fs::canonicalize(&a.weir)
        .unwrap_or_else(|e| panic!("--weir {}: {e}", a.weir.display()));
    a
}

/// Event `i`: about 160 bytes of JSON.
fn event(i: usize) -> String {
    format!(
        "{{\"user_id\":\"u{}\",\"event\":\"page_view\",\"ts\":{},\"seq\":{i},\"page\":\"/products/{}\",\"referrer\":\"https://example.com/search?q=item{}\",\"session\":\"s{:08x}\"}}",
        i % 10_000,
        1_700_000_000_000u64 + i as u64,
        i % 977,
        i % 131,
        i.wrapping_mul(2_654_435_761) & 0xffff_ffff
    )
}

/// The batches of each client: client `c` gets batches `c, c + clients, ...`.
fn batches(a: &Args) -> Vec<Vec<Vec<String>>> {
    let n_batches = a.events / a.batch;
    let mut per_client = vec![Vec::new(); a.clients];
    for b in 0..n_batches {
        let events = (b * a.batch..(b + 1) * a.batch).map(event).collect();
        per_client[b % a.clients].push(events);
    }
    per_client
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("weir-ingest-bench-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create temp dir");
    d
}

// ---------------------------------------------------------------------------------------------
// weir

async fn start_weir(a: &Args, dir: &Path, fsync: &str) -> Result<(Child, SocketAddr), Error> {
    let config = dir.join("weir.yaml");
    std::fs::write(
        &config,
        format!(
            "data_dir: ./state
log: {{ fsync: {fsync} }}
pipelines:
  events:
    source: {{ type: http, key: .user_id, partitions: {partitions}, max_body: 8MiB }}
    sinks:
      - {{ type: file, path: out }}
    checkpoint: {{ interval: 1s }}
",
            partitions = a.partitions
        ),
    )?;
    let mut child = Command::new(&a.weir)
        .args(["run", "weir.yaml", "--listen", "127.0.0.1:0"])
        .current_dir(dir)
        .env("WEIR_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let Some(line) = lines.next_line().await? else {
            return Err("weir exited before serving".into());
        };
        if line.contains("serving /metrics")
            && let Some(a) = line.split("http://").nth(1)
        {
            break a.trim().parse()?;
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((child, addr))
}

async fn post_all(addr: SocketAddr, batches: Vec<Vec<String>>) -> Result<usize, Error> {
    let mut s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let mut acked = 0;
    let mut buf = Vec::with_capacity(1 << 16);
    for batch in batches {
        let body = batch.join("\n");
        let head = format!(
            "POST /ingest/events HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).await?;
        s.write_all(body.as_bytes()).await?;
        // Read one response: headers, then Content-Length bytes.
        let (status, len, start) = loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = std::str::from_utf8(&buf[..end])?.to_owned();
                let status: u16 = head.split(' ').nth(1).ok_or("status")?.parse()?;
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().to_owned())
                    })
                    .ok_or("no content-length")?
                    .parse()?;
                break (status, len, end + 4);
            }
            let mut chunk = [0u8; 8192];
            let n = s.read(&mut chunk).await?;
            if n == 0 {
                return Err("connection closed".into());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        while buf.len() < start + len {
            let mut chunk = [0u8; 8192];
            let n = s.read(&mut chunk).await?;
            if n == 0 {
                return Err("connection closed".into());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        if status != 200 {
            return Err(format!(
                "status {status}: {}",
                String::from_utf8_lossy(&buf[start..start + len])
            )
            .into());
        }
        buf.drain(..start + len);
        acked += batch.len();
    }
    Ok(acked)
}

async fn run_weir(a: &Args, fsync: &str) -> Result<(f64, usize), Error> {
    let dir = temp_dir(&format!("weir-{}", fsync.replace(['"', ' '], "")));
    let (mut child, addr) = start_weir(a, &dir, fsync).await?;
    let work = batches(a);
    let started = Instant::now();
    let tasks: Vec<_> = work
        .into_iter()
        .map(|b| tokio::spawn(post_all(addr, b)))
        .collect();
    let mut acked = 0;
    for t in tasks {
        acked += t.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    child.start_kill()?;
    let _ = child.wait().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok((secs, acked))
}

// ---------------------------------------------------------------------------------------------
// NATS JetStream

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

async fn start_nats(a: &Args, dir: &Path) -> Result<(Child, async_nats::Client), Error> {
    let port = free_port();
    let child = Command::new(&a.nats)
        .args(["-js", "-sd"])
        .arg(dir)
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let url = format!("nats://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match async_nats::connect(&url).await {
            Ok(c) => return Ok((child, c)),
            Err(e) if Instant::now() > deadline => return Err(e.into()),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

async fn run_nats(a: &Args, one_message_per_batch: bool) -> Result<(f64, usize), Error> {
    let dir = temp_dir(if one_message_per_batch {
        "nats-batch"
    } else {
        "nats"
    });
    let (mut child, client) = start_nats(a, &dir).await?;
    let js = async_nats::jetstream::new(client);
    js.create_stream(async_nats::jetstream::stream::Config {
        name: "EVENTS".into(),
        subjects: vec!["events.>".into()],
        storage: async_nats::jetstream::stream::StorageType::File,
        ..Default::default()
    })
    .await?;
    let work = batches(a);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (c, client_batches) in work.into_iter().enumerate() {
        let js = js.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = 0usize;
            for batch in client_batches {
                if one_message_per_batch {
                    let body = batch.join("\n");
                    js.publish(format!("events.{c}"), body.into_bytes().into())
                        .await?
                        .await?;
                } else {
                    let mut acks = Vec::with_capacity(batch.len());
                    for e in &batch {
                        acks.push(
                            js.publish(format!("events.{c}"), e.clone().into_bytes().into())
                                .await?,
                        );
                    }
                    for ack in acks {
                        ack.await?;
                    }
                }
                acked += batch.len();
            }
            Ok::<usize, Error>(acked)
        }));
    }
    let mut acked = 0;
    for t in tasks {
        acked += t.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    child.start_kill()?;
    let _ = child.wait().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok((secs, acked))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let a = args();
    let cases: [(&str, &str); 4] = [
        ("weir, log.fsync: always (fsync per batch)", "weir-always"),
        ("weir, log.fsync: 200ms", "weir-interval"),
        ("JetStream, 1 message + ack per event", "nats"),
        ("JetStream, 1 message + ack per batch of 100", "nats-batch"),
    ];
    println!(
        "{} events of ~{} bytes, batches of {}, {} clients, {} rounds",
        a.events,
        event(123_456).len(),
        a.batch,
        a.clients,
        a.rounds
    );
    let mut results: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    for round in 0..a.rounds {
        let mut line = format!("round {}:", round + 1);
        for k in 0..cases.len() {
            // Rotate the order from round to round.
            let i = (k + round) % cases.len();
            if !a.cases.is_empty() && !a.cases.iter().any(|c| c == cases[i].1) {
                continue;
            }
            let (secs, acked) = match cases[i].1 {
                "weir-always" => run_weir(&a, "always").await?,
                "weir-interval" => run_weir(&a, "200ms").await?,
                "nats" => run_nats(&a, false).await?,
                _ => run_nats(&a, true).await?,
            };
            assert_eq!(
                acked,
                a.events / a.batch * a.batch,
                "every event acknowledged"
            );
            let rate = acked as f64 / secs;
            results[i].push(rate);
            line.push_str(&format!("  {}={rate:.0}/s", cases[i].1));
        }
        println!("{line}");
    }
    println!();
    println!(
        "| case | events/s (median) | min | max | ratio to JetStream per event (median of rounds) |"
    );
    println!("| --- | ---: | ---: | ---: | ---: |");
    for (i, (name, _)) in cases.iter().enumerate() {
        let r = &results[i];
        if r.is_empty() {
            continue;
        }
        let min = r.iter().copied().fold(f64::INFINITY, f64::min);
        let max = r.iter().copied().fold(0.0, f64::max);
        // Paired by round: each case against JetStream's per-event figure of the same round.
        let ratio = if results[2].len() == r.len() {
            let ratios: Vec<f64> = r.iter().zip(&results[2]).map(|(x, n)| x / n).collect();
            format!("{:.0}%", median(ratios) * 100.0)
        } else {
            "-".to_owned()
        };
        println!(
            "| {name} | {:.0} | {min:.0} | {max:.0} | {ratio} |",
            median(r.clone())
        );
    }
    Ok(())
}

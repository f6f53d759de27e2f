//! The server of a running `weir run`, scraped over real HTTP while the pipelines work:
//! `/health/live` answers at once, `/health/ready` turns 200 once every lane is recovered and
//! stays so, and `/metrics` is valid Prometheus text whose counters only grow, never exceed the
//! input, and — for a pipeline whose lanes have all finished while the process still runs —
//! match its input exactly. The exposition is checked with `promtool check metrics` too.
//!
//! Two pipelines read the same 6000 records: `orders` (big batches, a jq filter keeping half)
//! finishes quickly; `trickle` (an epoch every 10 records, one lane at a time) keeps the process
//! alive for a while after, so `orders`' final counters can be scraped.
//!
//! promtool: found at `$WEIR_PROMTOOL` or on `PATH` (`scripts/test` provides it). Without it the
//! promtool check fails, unless `WEIR_SKIP_PROMTOOL=1`.

mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use support::Workdir;

const FILES: usize = 4;
const PER_FILE: usize = 1500;
const INPUT: f64 = (FILES * PER_FILE) as f64;
/// `orders` keeps the records with an even `n`.
const ORDERS_OUT: f64 = INPUT / 2.0;
/// The whole run must end well within this.
const DEADLINE: Duration = Duration::from_secs(50);

const CONFIG: &str = r#"data_dir: ./state
pipelines:
  orders:
    source: { type: file, path: "data/*.jsonl" }
    transforms:
      - { type: jq, filter: 'select(.n % 2 == 0)' }
    sinks:
      - { type: file, path: out/orders }
    checkpoint: { interval: 10ms }
    batch_size: 100
    parallelism: 4
  trickle:
    source: { type: file, path: "data/*.jsonl" }
    sinks:
      - { type: file, path: out/trickle }
    checkpoint: { interval: 10ms, max_records: 10 }
    batch_size: 5
    parallelism: 1
"#;

// ---------------------------------------------------------------------------------------------
// A tiny HTTP/1.1 client.

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn invalid(what: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.into())
}

/// `GET path` with `Connection: close`; the whole response.
fn get(addr: SocketAddr, path: &str) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| invalid("no end of headers"))?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| invalid("headers are not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    if parts.next() != Some("HTTP/1.1") {
        return Err(invalid(format!(
            "not an HTTP/1.1 status line: {status_line}"
        )));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid(format!("bad status line: {status_line}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &raw[split + 4..];
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let body = if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        dechunk(rest)?
    } else if let Some(len) = find("content-length") {
        let len: usize = len.parse().map_err(|_| invalid("bad content-length"))?;
        if rest.len() != len {
            return Err(invalid(format!(
                "content-length {len} but {} body bytes",
                rest.len()
            )));
        }
        rest.to_vec()
    } else {
        rest.to_vec()
    };
    let body = String::from_utf8(body).map_err(|_| invalid("body is not UTF-8"))?;
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut rest: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| invalid("chunk size line"))?;
        let size_text = std::str::from_utf8(&rest[..eol]).map_err(|_| invalid("chunk size"))?;
        let size =
            usize::from_str_radix(size_text.split(';').next().unwrap_or_default().trim(), 16)
                .map_err(|_| invalid("chunk size"))?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if rest.len() < size + 2 {
            return Err(invalid("truncated chunk"));
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

// ---------------------------------------------------------------------------------------------
// Prometheus text format, parsed strictly enough to check it.

/// One scrape of `/metrics`: every sample by series (`name{labels}`), and each family's type.
#[derive(Debug)]
struct Exposition {
    text: String,
    samples: BTreeMap<String, f64>,
    types: BTreeMap<String, String>,
}

impl Exposition {
    /// Parses the text; every sample must belong to a family with `# HELP` and `# TYPE`.
    fn parse(text: &str) -> Result<Self, String> {
        let mut samples = BTreeMap::new();
        let mut types = BTreeMap::new();
        let mut helps = BTreeMap::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest
                    .split_once(' ')
                    .ok_or_else(|| format!("HELP without text: {line}"))?;
                helps.insert(name.to_owned(), help.to_owned());
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, ty) = rest
                    .split_once(' ')
                    .ok_or_else(|| format!("TYPE without a type: {line}"))?;
                if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&ty) {
                    return Err(format!("unknown type: {line}"));
                }
                types.insert(name.to_owned(), ty.to_owned());
            } else if line.starts_with('#') || line.is_empty() {
                continue;
            } else {
                let (series, value) = line
                    .rsplit_once(' ')
                    .ok_or_else(|| format!("sample without a value: {line}"))?;
                let value: f64 = match value {
                    "+Inf" => f64::INFINITY,
                    "-Inf" => f64::NEG_INFINITY,
                    v => v
                        .parse()
                        .map_err(|_| format!("value is not a number: {line}"))?,
                };
                let name = series.split('{').next().unwrap_or_default();
                let family = family_of(name, &types)
                    .ok_or_else(|| format!("sample of no declared family: {line}"))?;
                if !helps.contains_key(&family) {
                    return Err(format!("family {family} has no HELP"));
                }
                if let Some(labels) = series.strip_prefix(name) {
                    let ok = labels.is_empty()
                        || (labels.starts_with('{')
                            && labels.ends_with('}')
                            && labels.matches('"').count() % 2 == 0);
                    if !ok {
                        return Err(format!("malformed labels: {line}"));
                    }
                }
                if samples.insert(series.to_owned(), value).is_some() {
                    return Err(format!("duplicate series: {series}"));
                }
            }
        }
        Ok(Self {
            text: text.to_owned(),
            samples,
            types,
        })
    }

    fn get(&self, series: &str) -> Option<f64> {
        self.samples.get(series).copied()
    }

    /// The value of a series that must be present.
    fn value(&self, series: &str) -> f64 {
        self.get(series)
            .unwrap_or_else(|| panic!("no series {series} in:\n{}", self.text))
    }

    /// Whether `series` is a counter or part of a histogram: its value can only grow.
    fn only_grows(&self, series: &str) -> bool {
        let name = series.split('{').next().unwrap_or_default();
        family_of(name, &self.types)
            .is_some_and(|f| matches!(self.types[&f].as_str(), "counter" | "histogram"))
    }
}

fn family_of(name: &str, types: &BTreeMap<String, String>) -> Option<String> {
    if types.contains_key(name) {
        return Some(name.to_owned());
    }
    ["_bucket", "_sum", "_count"]
        .iter()
        .filter_map(|s| name.strip_suffix(s))
        .find(|f| types.get(*f).is_some_and(|t| t == "histogram"))
        .map(str::to_owned)
}

// ---------------------------------------------------------------------------------------------
// One observed run, shared by the tests of this file.

#[derive(Debug)]
struct Scrape {
    /// Whether `/health/ready` had answered 200 before this scrape was taken.
    after_ready: bool,
    content_type: Option<String>,
    metrics: Exposition,
}

#[derive(Debug)]
struct Observed {
    live: Vec<(u16, String)>,
    ready: Vec<(u16, String)>,
    not_found: Option<u16>,
    scrapes: Vec<Scrape>,
    exit_code: Option<i32>,
    stderr: String,
    /// Committed output lines per sink directory.
    committed: BTreeMap<&'static str, Vec<serde_json::Value>>,
    elapsed: Duration,
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// Runs weir and watches it. An `Err` (the run hung, or the server answered nonsense) is kept so
/// every test reports it without running weir again.
fn observe() -> Result<Observed, String> {
    let started = Instant::now();
    let w = Workdir::new();
    for f in 0..FILES {
        let mut text = String::new();
        for n in 0..PER_FILE {
            text.push_str(&format!(
                "{{\"id\":\"{f}-{n}\",\"n\":{n},\"pad\":\"{}\"}}\n",
                "x".repeat(32)
            ));
        }
        w.write(&format!("data/part-{f}.jsonl"), text);
    }
    w.write("weir.yaml", CONFIG);

    // The port was free a moment ago; if someone took it since, try another.
    for _attempt in 0..5 {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port())
            .parse()
            .expect("address");
        let log = std::fs::File::create(w.path().join("weir.log")).expect("log file");
        let mut child = w
            .weir(&["run", "weir.yaml", "--listen", &addr.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn weir");
        let mut seen = Observed {
            live: Vec::new(),
            ready: Vec::new(),
            not_found: None,
            scrapes: Vec::new(),
            exit_code: None,
            stderr: String::new(),
            committed: BTreeMap::new(),
            elapsed: Duration::ZERO,
        };
        let mut ready = false;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for weir") {
                break status;
            }
            if started.elapsed() > DEADLINE {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "weir run did not finish within {DEADLINE:?}; log:\n{}",
                    std::fs::read_to_string(w.path().join("weir.log")).unwrap_or_default()
                ));
            }
            // Connection errors are expected before the server is up and after it is gone.
            if let Ok(r) = get(addr, "/health/live") {
                seen.live.push((r.status, r.body));
            }
            if let Ok(r) = get(addr, "/health/ready") {
                ready |= r.status == 200;
                seen.ready.push((r.status, r.body));
            }
            if let Ok(r) = get(addr, "/metrics") {
                let parsed = if r.status == 200 {
                    Exposition::parse(&r.body)
                } else {
                    Err(format!("status {}", r.status))
                };
                let metrics = match parsed {
                    Ok(m) => m,
                    Err(e) => {
                        let _ = child.kill();
                        let _ = child.wait();
                        return Err(format!(
                            "/metrics is not valid exposition text: {e}\n{}",
                            r.body
                        ));
                    }
                };
                seen.scrapes.push(Scrape {
                    after_ready: ready,
                    content_type: r.header("content-type").map(str::to_owned),
                    metrics,
                });
            }
            if seen.not_found.is_none()
                && let Ok(r) = get(addr, "/no/such/page")
            {
                seen.not_found = Some(r.status);
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        seen.stderr = std::fs::read_to_string(w.path().join("weir.log")).unwrap_or_default();
        if status.code() == Some(1) && seen.stderr.contains("cannot listen") {
            continue;
        }
        seen.exit_code = status.code();
        for sink in ["orders", "trickle"] {
            let lines = support::committed_by_lane(&w.path().join("out").join(sink))
                .into_values()
                .flatten();
            let values = lines
                .map(|l| serde_json::from_str(&l).map_err(|e| format!("{sink}: {e}: {l}")))
                .collect::<Result<_, _>>()?;
            seen.committed.insert(sink, values);
        }
        seen.elapsed = started.elapsed();
        let orders_done = seen
            .scrapes
            .iter()
            .filter(|s| {
                s.metrics.get(&series("weir_lanes_finished", "orders")) == Some(FILES as f64)
            })
            .count();
        eprintln!(
            "observed weir run on {addr} for {:?}: {} scrapes ({orders_done} after orders finished), {} ready answers",
            seen.elapsed,
            seen.scrapes.len(),
            seen.ready.len()
        );
        return Ok(seen);
    }
    Err("no free port could be bound by weir in 5 attempts".to_owned())
}

fn observed() -> &'static Observed {
    static RUN: OnceLock<Result<Observed, String>> = OnceLock::new();
    RUN.get_or_init(observe)
        .as_ref()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Scrapes taken once every lane was recovered: all series are registered by then.
fn ready_scrapes(o: &Observed) -> Vec<&Scrape> {
    o.scrapes.iter().filter(|s| s.after_ready).collect()
}

fn series(name: &str, pipeline: &str) -> String {
    format!("{name}{{pipeline=\"{pipeline}\"}}")
}

fn records_out(pipeline: &str) -> String {
    format!("weir_records_out_total{{pipeline=\"{pipeline}\",sink=\"file\"}}")
}

fn inf_bucket(pipeline: &str) -> String {
    format!("weir_checkpoint_duration_seconds_bucket{{pipeline=\"{pipeline}\",le=\"+Inf\"}}")
}

// ---------------------------------------------------------------------------------------------

#[test]
fn the_run_completes_and_commits_every_record_once() {
    let o = observed();
    assert_eq!(o.exit_code, Some(0), "weir run failed:\n{}", o.stderr);
    assert!(o.elapsed < Duration::from_secs(55), "took {:?}", o.elapsed);
    let trickle = &o.committed["trickle"];
    let orders = &o.committed["orders"];
    assert_eq!(trickle.len() as f64, INPUT, "trickle commits every record");
    assert_eq!(
        orders.len() as f64,
        ORDERS_OUT,
        "orders commits the records with an even n"
    );
    assert!(
        orders
            .iter()
            .all(|v| v["n"].as_u64().is_some_and(|n| n % 2 == 0))
    );
    for (sink, values) in [("trickle", trickle), ("orders", orders)] {
        let mut ids: Vec<&str> = values
            .iter()
            .map(|v| v["id"].as_str().expect("id"))
            .collect();
        ids.sort_unstable();
        let before = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), before, "{sink}: a record was committed twice");
    }
}

#[test]
fn health_endpoints_answer_while_the_pipelines_run() {
    let o = observed();
    assert!(
        !o.live.is_empty(),
        "/health/live never answered; log:\n{}",
        o.stderr
    );
    assert!(
        o.live.iter().all(|(s, b)| *s == 200 && b == "ok\n"),
        "{:?}",
        o.live
    );

    let first_ok = o.ready.iter().position(|(s, _)| *s == 200);
    let first_ok =
        first_ok.unwrap_or_else(|| panic!("/health/ready never answered 200: {:?}", o.ready));
    for (status, body) in &o.ready[..first_ok] {
        assert_eq!(*status, 503, "before recovery /health/ready is 503: {body}");
        assert!(body.contains("recovering"), "{body}");
    }
    // Nothing fails in this run: once ready, always ready.
    assert!(
        o.ready[first_ok..]
            .iter()
            .all(|(s, b)| *s == 200 && b == "ready\n"),
        "{:?}",
        &o.ready[first_ok..]
    );

    assert_eq!(o.not_found, Some(404), "an unknown path is 404");
    let scrape = o.scrapes.first().expect("at least one scrape");
    let ct = scrape.content_type.as_deref().unwrap_or_default();
    assert!(
        ct.starts_with("text/plain; version=0.0.4"),
        "content-type of /metrics: {ct}"
    );
}

#[test]
fn metrics_name_every_pipeline_and_sink_and_only_grow_within_the_input() {
    let o = observed();
    let scrapes = ready_scrapes(o);
    assert!(
        scrapes.len() >= 3,
        "too few scrapes while running ({}); log:\n{}",
        scrapes.len(),
        o.stderr
    );

    for s in &scrapes {
        let m = &s.metrics;
        for p in ["orders", "trickle"] {
            for name in [
                "weir_records_in_total",
                "weir_checkpoints_total",
                "weir_lane_restarts_total",
            ] {
                assert!(
                    m.text.contains(&series(name, p)),
                    "no {} in:\n{}",
                    series(name, p),
                    m.text
                );
            }
            assert!(
                m.text.contains(&records_out(p)),
                "no {} in:\n{}",
                records_out(p),
                m.text
            );
            assert!(
                m.text.contains(&format!(
                    "weir_checkpoint_duration_seconds_bucket{{pipeline=\"{p}\",le="
                )),
                "{}",
                m.text
            );

            let records_in = m.value(&series("weir_records_in_total", p));
            let checkpoints = m.value(&series("weir_checkpoints_total", p));
            let histogram_count = m.value(&format!(
                "weir_checkpoint_duration_seconds_count{{pipeline=\"{p}\"}}"
            ));
            assert!(
                records_in <= INPUT,
                "{p}: records_in {records_in} > input {INPUT}"
            );
            assert!(
                m.value(&records_out(p)) <= INPUT,
                "{p}: records_out above the input"
            );
            // Every committed epoch holds at least one record. (Families are rendered in name
            // order, so a counter rendered earlier can only lag one rendered later.)
            assert!(
                checkpoints <= records_in,
                "{p}: {checkpoints} checkpoints for {records_in} records"
            );
            // (The counter and the histogram are collected one after the other, so epochs
            // committed during a scrape can be in one and not yet in the other; consecutive
            // scrapes bound them below.)
            assert_eq!(
                m.value(&inf_bucket(p)),
                histogram_count,
                "{p}: +Inf bucket equals the count"
            );
            assert_eq!(
                m.value(&series("weir_lane_restarts_total", p)),
                0.0,
                "{p}: no lane restarts"
            );
            assert_eq!(m.value(&series("weir_pipeline_failed", p)), 0.0);
            assert!(m.value(&series("weir_lanes_finished", p)) <= FILES as f64);
        }
        assert!(
            m.value(&records_out("orders")) <= ORDERS_OUT,
            "orders keeps half"
        );
        assert!(
            m.value(&series("weir_lanes_running", "trickle")) <= 1.0,
            "trickle runs one lane at a time"
        );
        assert!(m.value(&series("weir_lanes_running", "orders")) <= FILES as f64);
        buckets_are_cumulative(m);
    }

    // Counters and histograms never go down from one scrape to the next, and each committed
    // epoch is counted once in both: what one scrape counts in either, the next counts in the
    // other (scrapes do not overlap in time).
    for pair in o.scrapes.windows(2) {
        let (before, after) = (&pair[0].metrics, &pair[1].metrics);
        for p in ["orders", "trickle"] {
            // Before the first epoch a family may not be rendered yet: none counted.
            let count = |m: &Exposition| {
                m.get(&format!(
                    "weir_checkpoint_duration_seconds_count{{pipeline=\"{p}\"}}"
                ))
                .unwrap_or(0.0)
            };
            let checkpoints =
                |m: &Exposition| m.get(&series("weir_checkpoints_total", p)).unwrap_or(0.0);
            assert!(
                count(before) <= checkpoints(after) && checkpoints(before) <= count(after),
                "{p}: histogram count {} / checkpoints {} in one scrape, {} / {} in the next",
                count(before),
                checkpoints(before),
                count(after),
                checkpoints(after)
            );
        }
        for (series, old) in &before.samples {
            if before.only_grows(series) {
                let new = after
                    .get(series)
                    .unwrap_or_else(|| panic!("{series} disappeared"));
                assert!(new >= *old, "{series} went down from {old} to {new}");
            }
        }
    }

    // Progress was visible while the slow pipeline ran.
    let in_progress = scrapes.iter().any(|s| {
        let v = s.metrics.value(&series("weir_records_in_total", "trickle"));
        v > 0.0 && v < INPUT
    });
    assert!(
        in_progress,
        "no scrape saw trickle part-way ({} scrapes)",
        scrapes.len()
    );
}

fn buckets_are_cumulative(m: &Exposition) {
    for p in ["orders", "trickle"] {
        let prefix = format!("weir_checkpoint_duration_seconds_bucket{{pipeline=\"{p}\",le=\"");
        let mut buckets: Vec<(f64, f64)> = m
            .samples
            .iter()
            .filter_map(|(s, v)| {
                s.strip_prefix(&prefix)
                    .and_then(|le| le.strip_suffix("\"}"))
                    .map(|le| (le, *v))
            })
            .map(|(le, v)| {
                (
                    if le == "+Inf" {
                        f64::INFINITY
                    } else {
                        le.parse().expect("le")
                    },
                    v,
                )
            })
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert!(
            buckets.len() >= 2 && buckets.last().is_some_and(|b| b.0 == f64::INFINITY),
            "{p}: buckets {buckets:?}"
        );
        assert!(
            buckets.windows(2).all(|w| w[0].1 <= w[1].1),
            "{p}: buckets are not cumulative: {buckets:?}"
        );
    }
}

#[test]
fn a_finished_pipelines_counters_match_its_input_exactly() {
    let o = observed();
    // `orders` finishes long before `trickle`; once all its lanes have finished, its counters
    // are final while the process still serves them. A scrape reads the metric families one
    // after the other, so the first one that shows the lanes finished may have read the
    // checkpoint histogram before the last commits: only scrapes after one that already
    // showed them finished are taken.
    let done =
        |s: &Scrape| s.metrics.value(&series("weir_lanes_finished", "orders")) == FILES as f64;
    let finished: Vec<&Scrape> = ready_scrapes(o)
        .windows(2)
        .filter(|w| done(w[0]) && done(w[1]))
        .map(|w| w[1])
        .collect();
    assert!(
        !finished.is_empty(),
        "no scrape after orders finished and before the process ended; log:\n{}",
        o.stderr
    );
    for s in finished {
        let m = &s.metrics;
        assert_eq!(
            m.value(&series("weir_records_in_total", "orders")),
            INPUT,
            "records_in = input"
        );
        assert_eq!(
            m.value(&records_out("orders")),
            ORDERS_OUT,
            "records_out = what the filter keeps"
        );
        assert_eq!(m.value(&series("weir_lanes_running", "orders")), 0.0);
        let checkpoints = m.value(&series("weir_checkpoints_total", "orders"));
        assert!(
            checkpoints >= FILES as f64,
            "at least one epoch per lane: {checkpoints}"
        );
        assert_eq!(
            m.value(&series("weir_checkpoint_duration_seconds_count", "orders")),
            checkpoints
        );
        assert_eq!(m.value(&inf_bucket("orders")), checkpoints);
        assert!(
            m.value(&series("weir_last_checkpoint_timestamp_seconds", "orders")) > 1.6e9,
            "a Unix time"
        );
    }
}

/// `promtool`: `$WEIR_PROMTOOL`, else the first on `PATH`.
fn promtool() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("WEIR_PROMTOOL") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("WEIR_PROMTOOL={} is not a file", p.display()))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("promtool"))
        .find(|p| p.is_file())
        .ok_or_else(|| "promtool is not on PATH and WEIR_PROMTOOL is not set".to_owned())
}

#[test]
fn the_metrics_exposition_passes_promtool() {
    let o = observed();
    let scrapes = ready_scrapes(o);
    assert!(!scrapes.is_empty(), "no scrape after ready");
    let tool = match promtool() {
        Ok(tool) => tool,
        Err(why) if std::env::var("WEIR_SKIP_PROMTOOL").as_deref() == Ok("1") => {
            eprintln!(
                "WEIR_SKIP_PROMTOOL=1: not checking with promtool ({why}); the exposition was still parsed and checked by hand"
            );
            return;
        }
        Err(why) => panic!(
            "{why}. This test validates /metrics with `promtool check metrics`. Run the suite with \
             scripts/test (it fetches promtool), or get it by hand: \
             `cd /tmp && apt-get download prometheus && dpkg -x prometheus_*.deb /tmp/prom` and set \
             WEIR_PROMTOOL=/tmp/prom/usr/bin/promtool. To skip this check, set WEIR_SKIP_PROMTOOL=1."
        ),
    };
    // The first scrape after recovery, one from the middle, and the last.
    let picks = [0, scrapes.len() / 2, scrapes.len() - 1];
    for i in picks {
        let text = &scrapes[i].metrics.text;
        let mut child = Command::new(&tool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", tool.display()));
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write to promtool");
        let out = child.wait_with_output().expect("promtool");
        assert!(
            out.status.success(),
            "promtool check metrics rejected scrape {i} ({}):\n{}{}\n--- exposition:\n{text}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

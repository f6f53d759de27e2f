//! kill -9 during a stream of acknowledged HTTP appends, again and again: after the restarts
//! every acknowledged record is in the pipeline's committed output exactly once, no record is
//! there twice (an unacknowledged one may be missing), and one user's records keep their
//! order. The pipeline also relays everything through a `log` sink into a second topic read by
//! a second pipeline (`log` source), whose output must hold the same records exactly once.
//!
//! Three producers send requests of 20 records; every other request carries an
//! `Idempotency-Key`. A keyed request cut off by the kill is retried with the same key after
//! the restart (it must then be acknowledged, and stored once); an unkeyed one is abandoned.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::Workdir;
use support::http::{post, stop};
use support::process::{Kill, sigkill_if_running};
use support::rng::Rng;

const CONFIG: &str = "weir.yaml";
const LOG: &str = "weir.log";
const KILLS: usize = 12;
const PRODUCERS: u64 = 3;
const PER_REQUEST: u64 = 20;
const USERS_PER_PRODUCER: u64 = 5;

const YAML: &str = "data_dir: ./state
pipelines:
  events:
    source: { type: http, key: .user_id, partitions: 4 }
    sinks:
      - { type: file, path: out/events }
      - { type: log, topic: relay, partitions: 3, key: .user_id }
    checkpoint: { interval: 30ms }
  relay:
    source: { type: log, topic: relay }
    sinks:
      - { type: file, path: out/relay }
    checkpoint: { interval: 30ms }
";

/// One request of a producer.
#[derive(Clone, Debug)]
struct Request {
    key: Option<String>,
    body: String,
    seqs: Vec<(u64, u64)>,
}

/// A producer's state across runs.
#[derive(Debug, Default)]
struct Producer {
    id: u64,
    next_seq: u64,
    requests: u64,
    /// A keyed request cut off by a kill, to retry first.
    retry: Option<Request>,
}

impl Producer {
    fn next_request(&mut self) -> Request {
        self.requests += 1;
        let key = self
            .requests
            .is_multiple_of(2)
            .then(|| format!("p{}-r{}", self.id, self.requests));
        let mut body = String::new();
        let mut seqs = Vec::new();
        for _ in 0..PER_REQUEST {
            let seq = self.next_seq;
            self.next_seq += 1;
            let user = format!("u{}-{}", self.id, seq % USERS_PER_PRODUCER);
            body.push_str(&format!(
                "{{\"user_id\":\"{user}\",\"p\":{},\"seq\":{seq}}}\n",
                self.id
            ));
            seqs.push((self.id, seq));
        }
        Request { key, body, seqs }
    }
}

#[derive(Debug, Default)]
struct Tally {
    acked: BTreeSet<(u64, u64)>,
    abandoned: BTreeSet<(u64, u64)>,
    requests: u64,
}

/// Sends requests until one fails (the process was killed) or `stop` is set. A keyed retry
/// (`retry_only`: the final run) must be acknowledged.
fn produce(
    addr: SocketAddr,
    p: &mut Producer,
    tally: &Mutex<Tally>,
    stop: &AtomicBool,
    retry_only: bool,
) {
    while !stop.load(Ordering::Relaxed) {
        let req = match p.retry.take() {
            Some(r) => r,
            None if retry_only => return,
            None => p.next_request(),
        };
        let headers: Vec<(&str, &str)> = req
            .key
            .iter()
            .map(|k| ("Idempotency-Key", k.as_str()))
            .collect();
        match post(addr, "/ingest/events", &headers, req.body.as_bytes()) {
            Ok(r) if r.status == 200 => {
                assert_eq!(r.json()["records"], PER_REQUEST, "{}", r.body);
                let mut t = tally.lock().expect("tally");
                t.requests += 1;
                t.acked.extend(req.seqs.iter().copied());
            }
            Ok(r) => panic!(
                "producer {}: unexpected answer {}: {}",
                p.id, r.status, r.body
            ),
            Err(_) => {
                assert!(
                    !retry_only,
                    "producer {}: the retry of {:?} failed",
                    p.id, req.key
                );
                if req.key.is_some() {
                    p.retry = Some(req);
                } else {
                    tally
                        .lock()
                        .expect("tally")
                        .abandoned
                        .extend(req.seqs.iter().copied());
                }
                return;
            }
        }
    }
}

fn run_producers(
    addr: SocketAddr,
    producers: &mut [Producer],
    tally: &Arc<Mutex<Tally>>,
    stop: &Arc<AtomicBool>,
    retry_only: bool,
) -> Vec<std::thread::JoinHandle<Producer>> {
    producers
        .iter_mut()
        .map(|p| {
            let mut p = std::mem::take(p);
            let (tally, stop) = (Arc::clone(tally), Arc::clone(stop));
            std::thread::spawn(move || {
                produce(addr, &mut p, &tally, &stop, retry_only);
                p
            })
        })
        .collect()
}

/// (producer, seq) of each committed record of a file sink, in lane order, per lane.
fn committed(w: &Workdir, dir: &str) -> BTreeMap<String, Vec<(u64, u64, String)>> {
    support::committed_by_lane(&w.path().join(dir))
        .into_iter()
        .map(|(lane, lines)| {
            let recs = lines
                .iter()
                .map(|l| {
                    let v: serde_json::Value = serde_json::from_str(l).expect("json");
                    (
                        v["p"].as_u64().expect("p"),
                        v["seq"].as_u64().expect("seq"),
                        v["user_id"].as_str().expect("user").to_owned(),
                    )
                })
                .collect();
            (lane, recs)
        })
        .collect()
}

/// Every acknowledged record once, nothing twice, nothing unknown, each user in order.
fn check(out: &BTreeMap<String, Vec<(u64, u64, String)>>, t: &Tally, what: &str) {
    let mut seen = BTreeSet::new();
    for (lane, recs) in out {
        let mut last: BTreeMap<&str, u64> = BTreeMap::new();
        for (p, seq, user) in recs {
            assert!(
                seen.insert((*p, *seq)),
                "{what}: record p{p}/{seq} is in the output twice"
            );
            assert!(
                t.acked.contains(&(*p, *seq)) || t.abandoned.contains(&(*p, *seq)),
                "{what}: record p{p}/{seq} was never sent"
            );
            if let Some(prev) = last.insert(user, *seq) {
                assert!(
                    prev < *seq,
                    "{what}: lane {lane}: user {user} has seq {seq} after {prev}"
                );
            }
        }
    }
    let missing: Vec<_> = t.acked.difference(&seen).take(5).collect();
    assert!(
        missing.is_empty(),
        "{what}: acknowledged records missing, e.g. {missing:?}"
    );
}

#[test]
fn sigkill_during_acknowledged_appends_never_loses_or_duplicates_an_acknowledged_record() {
    let started = Instant::now();
    let mut rng = Rng::seeded("ingest_kill_exactly_once");
    let w = Workdir::new();
    w.write(CONFIG, YAML);
    let tally = Arc::new(Mutex::new(Tally::default()));
    let mut producers: Vec<Producer> = (0..PRODUCERS)
        .map(|id| Producer {
            id,
            ..Producer::default()
        })
        .collect();
    let mut kills = 0;
    while kills < KILLS {
        let mut server = w.start_server(CONFIG, LOG);
        let stop_flag = Arc::new(AtomicBool::new(false));
        let handles = run_producers(server.addr, &mut producers, &tally, &stop_flag, false);
        std::thread::sleep(Duration::from_millis(rng.between(150, 900)));
        match sigkill_if_running(&mut server.child) {
            Kill::Killed => kills += 1,
            Kill::Exited(status) => panic!(
                "weir run exited by itself with {status}; end of log:\n{}",
                w.tail(LOG, 30)
            ),
        }
        producers = handles
            .into_iter()
            .map(|h| h.join().expect("producer thread"))
            .collect();
        let t = tally.lock().expect("tally");
        eprintln!(
            "kill {kills}: {} records acknowledged, {} abandoned, {} keyed requests to retry",
            t.acked.len(),
            t.abandoned.len(),
            producers.iter().filter(|p| p.retry.is_some()).count()
        );
    }

    // The final run: keyed requests cut off by the last kill are retried, then everything
    // acknowledged must come out of both pipelines.
    let server = w.start_server(CONFIG, LOG);
    let stop_flag = Arc::new(AtomicBool::new(false));
    let handles = run_producers(server.addr, &mut producers, &tally, &stop_flag, true);
    producers = handles
        .into_iter()
        .map(|h| h.join().expect("producer thread"))
        .collect();
    assert!(producers.iter().all(|p| p.retry.is_none()));
    let t = tally.lock().expect("tally");
    assert!(
        t.acked.len() as u64 >= 10 * PER_REQUEST,
        "only {} records were acknowledged",
        t.acked.len()
    );
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let n = |dir| {
            committed(&w, dir)
                .values()
                .flatten()
                .filter(|(p, s, _)| t.acked.contains(&(*p, *s)))
                .count()
        };
        if n("out/events") == t.acked.len() && n("out/relay") == t.acked.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "acknowledged records did not all arrive; end of log:\n{}",
            w.tail(LOG, 30)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    stop(&w, server, LOG);

    let events = committed(&w, "out/events");
    check(&events, &t, "out/events");
    let relay = committed(&w, "out/relay");
    check(&relay, &t, "out/relay");
    let set = |o: &BTreeMap<String, Vec<(u64, u64, String)>>| -> BTreeSet<(u64, u64)> {
        o.values().flatten().map(|(p, s, _)| (*p, *s)).collect()
    };
    assert_eq!(
        set(&events),
        set(&relay),
        "the relay holds exactly the records of the first pipeline"
    );

    // After the clean stop every lane has committed its whole partition as consumer offset.
    let stats = w.log_stats(CONFIG);
    for topic in stats["topics"].as_array().expect("topics") {
        let consumer = if topic["name"] == "events" {
            "pipeline.events"
        } else {
            "pipeline.relay"
        };
        for p in topic["partitions"].as_array().expect("partitions") {
            assert_eq!(
                p["consumers"][consumer], p["next_offset"],
                "topic {}: {p}",
                topic["name"]
            );
        }
    }
    let log = w.read_text(LOG);
    eprintln!(
        "interrupted keyed requests settled on restart: {}; torn log tails cut: {}",
        log.matches("settled an ingest request interrupted by a crash")
            .count(),
        log.matches("cut a torn or corrupt tail").count()
    );
    eprintln!(
        "{kills} kills; {} acknowledged records ({} requests), {} abandoned, exactly once in both outputs; {:?}",
        t.acked.len(),
        t.requests,
        t.abandoned.len(),
        started.elapsed()
    );
}

//! A scriptable HTTP server standing in for an enrichment API or an HTTP sink's endpoint.
//!
//! Routes: `GET /users/{id}` answers `{"id": id, "name": "user-<id>"}`; `GET /hold/{id}` answers
//! only once [`Stub::release`] is called (it keeps a `weir run` alive while a test scrapes it);
//! `POST /ingest` stores the request (body and `Idempotency-Key`) and answers 200.
//!
//! Scripts: fail the next N calls with 503; fail a share of calls with 503 (deterministically,
//! by call number); answer 400 for chosen ids (the user's, or any record's `id` in a body); delay every answer; go down (connections
//! refused, open ones closed) and come back on the same port, by hand or after N calls. It
//! counts calls, the 503s it served and the most calls it had in flight at once.
#![allow(dead_code)]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use tokio::sync::watch;

/// A request received on `/ingest`.
#[derive(Clone, Debug)]
pub struct Received {
    /// The `Idempotency-Key` header.
    pub key: Option<String>,
    /// The body.
    pub body: String,
}

#[derive(Default)]
struct Script {
    fail_next: u64,
    /// Per mille of calls answered with 503.
    fail_per_mille: u64,
    bad_ids: HashSet<String>,
    delay: Duration,
    down_after: Option<u64>,
}

struct Shared {
    script: Mutex<Script>,
    calls: AtomicU64,
    served_503: AtomicU64,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
    received: Mutex<Vec<Received>>,
    hold: watch::Sender<bool>,
    down: Mutex<Option<watch::Sender<bool>>>,
}

/// The running stub.
pub struct Stub {
    /// Where it listens.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    rt: tokio::runtime::Runtime,
}

struct InFlight<'a>(&'a Shared);

impl<'a> InFlight<'a> {
    fn enter(s: &'a Shared) -> Self {
        let n = s.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        s.peak.fetch_max(n, Ordering::SeqCst);
        InFlight(s)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Applies the script to call number `n`: `Some` is the error answer to give.
async fn scripted(s: &Shared, id: &str) -> Option<(StatusCode, String)> {
    let n = s.calls.fetch_add(1, Ordering::SeqCst);
    let (delay, fail, bad, down) = {
        let mut sc = s.script.lock().expect("script");
        let fail = if sc.fail_next > 0 {
            sc.fail_next -= 1;
            true
        } else {
            mix(n) % 1000 < sc.fail_per_mille
        };
        let down = sc.down_after.is_some_and(|after| n + 1 >= after);
        if down {
            sc.down_after = None;
        }
        (sc.delay, fail, sc.bad_ids.contains(id), down)
    };
    if down && let Some(tx) = s.down.lock().expect("down").take() {
        tx.send_replace(true);
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if fail || down {
        s.served_503.fetch_add(1, Ordering::SeqCst);
        return Some((StatusCode::SERVICE_UNAVAILABLE, "try again".into()));
    }
    if bad {
        return Some((StatusCode::BAD_REQUEST, format!("bad id {id}")));
    }
    None
}

async fn user(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> (StatusCode, String) {
    let _guard = InFlight::enter(&s);
    if let Some(err) = scripted(&s, &id).await {
        return err;
    }
    (
        StatusCode::OK,
        serde_json::json!({ "id": id, "name": format!("user-{id}") }).to_string(),
    )
}

async fn hold(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> (StatusCode, String) {
    let mut rx = s.hold.subscribe();
    let _ = rx.wait_for(|released| *released).await;
    (StatusCode::OK, serde_json::json!({ "id": id }).to_string())
}

/// The `id` fields of the records in a JSON lines or JSON array body, as text (a string's
/// contents, a number's digits).
pub fn record_ids(body: &str) -> impl Iterator<Item = String> + '_ {
    let values: Vec<serde_json::Value> = match serde_json::from_str(body) {
        Ok(serde_json::Value::Array(items)) => items,
        _ => body
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect(),
    };
    values.into_iter().filter_map(|v| match v.get("id") {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

async fn ingest(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    let _guard = InFlight::enter(&s);
    if let Some(err) = scripted(&s, "").await {
        return err;
    }
    let bad = {
        let sc = s.script.lock().expect("script");
        record_ids(&body).find(|id| sc.bad_ids.contains(id))
    };
    if let Some(id) = bad {
        return (StatusCode::BAD_REQUEST, format!("bad id {id}"));
    }
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    s.received
        .lock()
        .expect("received")
        .push(Received { key, body });
    (StatusCode::OK, "{}".into())
}

impl Stub {
    /// Starts on a free port.
    pub fn start() -> Stub {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("stub runtime");
        let shared = Arc::new(Shared {
            script: Mutex::new(Script::default()),
            calls: AtomicU64::new(0),
            served_503: AtomicU64::new(0),
            in_flight: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            received: Mutex::new(Vec::new()),
            hold: watch::channel(false).0,
            down: Mutex::new(None),
        });
        let mut stub = Stub {
            addr: "127.0.0.1:0".parse().expect("addr"),
            shared,
            rt,
        };
        stub.addr = stub
            .listen("127.0.0.1:0".parse().expect("addr"))
            .expect("bind the stub");
        stub
    }

    fn listen(&self, addr: SocketAddr) -> std::io::Result<SocketAddr> {
        let shared = Arc::clone(&self.shared);
        let (tx, mut rx) = watch::channel(false);
        *self.shared.down.lock().expect("down") = Some(tx);
        self.rt.block_on(async move {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.set_reuseaddr(true)?;
            socket.bind(addr)?;
            let listener = socket.listen(1024)?;
            let bound = listener.local_addr()?;
            let app = Router::new()
                .route("/users/{id}", get(user))
                .route("/hold/{id}", get(hold))
                .route("/ingest", post(ingest))
                .with_state(shared);
            tokio::spawn(async move {
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = rx.wait_for(|d| *d).await;
                    })
                    .await;
            });
            Ok(bound)
        })
    }

    /// The base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers the next `n` calls with 503.
    pub fn fail_next(&self, n: u64) {
        self.shared.script.lock().expect("script").fail_next = n;
    }

    /// Answers about `per_mille` of every 1000 calls with 503.
    pub fn fail_share(&self, per_mille: u64) {
        self.shared.script.lock().expect("script").fail_per_mille = per_mille;
    }

    /// Answers 400 for these ids.
    pub fn reject_ids(&self, ids: impl IntoIterator<Item = String>) {
        self.shared
            .script
            .lock()
            .expect("script")
            .bad_ids
            .extend(ids);
    }

    /// Delays every answer.
    pub fn delay(&self, d: Duration) {
        self.shared.script.lock().expect("script").delay = d;
    }

    /// Goes down (503 for that call, then connections refused) after `n` calls.
    pub fn down_after(&self, n: u64) {
        self.shared.script.lock().expect("script").down_after = Some(n);
    }

    /// Goes down now: open connections are closed, new ones refused.
    pub fn go_down(&self) {
        if let Some(tx) = self.shared.down.lock().expect("down").take() {
            tx.send_replace(true);
        }
    }

    /// Comes back on the same port.
    pub fn come_back(&self) {
        self.go_down();
        // The old server drains; binding the same port again needs SO_REUSEADDR.
        let mut tries = 0;
        loop {
            match self.listen(self.addr) {
                Ok(_) => return,
                Err(_) if tries < 50 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("the stub cannot listen on {} again: {e}", self.addr),
            }
        }
    }

    /// Lets every `/hold` call answer.
    pub fn release(&self) {
        self.shared.hold.send_replace(true);
    }

    /// Calls received (all routes but `/hold`).
    pub fn calls(&self) -> u64 {
        self.shared.calls.load(Ordering::SeqCst)
    }

    /// 503 answers served.
    pub fn served_503(&self) -> u64 {
        self.shared.served_503.load(Ordering::SeqCst)
    }

    /// The most calls in flight at once.
    pub fn peak_in_flight(&self) -> usize {
        self.shared.peak.load(Ordering::SeqCst)
    }

    /// Requests stored by `/ingest`.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().expect("received").clone()
    }
}

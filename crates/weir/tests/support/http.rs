//! A tiny HTTP/1.1 client over `std::net` for the ingest tests, and starting `weir run` with
//! its server on a free port (the bound address is read from its log).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Child;
use std::time::{Duration, Instant};

use super::Workdir;

/// A response.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

impl Response {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("response body is not JSON ({e}): {}", self.body))
    }
}

fn invalid(what: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.into())
}

/// `POST path` with `body` and extra headers; `Connection: close`. The body is written from
/// another thread while the response is read, so a server that answers early (413) and stops
/// reading cannot deadlock the client.
pub fn post(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    stream.set_write_timeout(Some(Duration::from_secs(60)))?;
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    let mut writer = stream.try_clone()?;
    let body = body.to_vec();
    let sender = std::thread::spawn(move || {
        // A server that refuses the body may close the connection before all of it is sent.
        let _ = writer.write_all(&body);
    });
    let mut raw = Vec::new();
    let read = stream.read_to_end(&mut raw);
    let _ = sender.join();
    if raw.is_empty() {
        read?;
    }
    parse(&raw)
}

/// `GET path`.
pub fn get(addr: SocketAddr, path: &str) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse(&raw)
}

fn parse(raw: &[u8]) -> std::io::Result<Response> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| invalid(format!("no end of headers in {} bytes", raw.len())))?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| invalid("headers are not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid("bad status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &raw[split + 4..];
    let len = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok());
    let body = match len {
        Some(n) if rest.len() >= n => &rest[..n],
        Some(n) => {
            return Err(invalid(format!(
                "body of {} bytes, expected {n}",
                rest.len()
            )));
        }
        None => rest,
    };
    Ok(Response {
        status,
        headers,
        body: String::from_utf8_lossy(body).into_owned(),
    })
}

/// A running `weir run` and the address of its server.
pub struct Server {
    /// The process.
    pub child: Child,
    /// Its server.
    pub addr: SocketAddr,
}

impl Workdir {
    /// Starts `weir run CONFIG --listen 127.0.0.1:0` and waits for its server's address in
    /// the log (new lines of `stderr_file` only). Panics with the end of the log if the process
    /// exits or announces nothing within two minutes (a hung start, not a timing assertion).
    pub fn start_server(&self, config: &str, stderr_file: &str) -> Server {
        self.start_server_env(config, stderr_file, &[])
    }

    /// [`Workdir::start_server`] with extra environment variables.
    pub fn start_server_env(
        &self,
        config: &str,
        stderr_file: &str,
        env: &[(&str, &str)],
    ) -> Server {
        let path = self.path().join(stderr_file);
        let before = std::fs::metadata(&path).map_or(0, |m| m.len()) as usize;
        let mut child = self.spawn_run_env(config, stderr_file, env);
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let text = std::fs::read(&path).unwrap_or_default();
            let new = String::from_utf8_lossy(text.get(before..).unwrap_or_default()).into_owned();
            if let Some(addr) = new
                .lines()
                .filter(|l| l.contains("serving /metrics"))
                .find_map(|l| l.split("http://").nth(1))
                .and_then(|a| a.trim().parse().ok())
            {
                return Server { child, addr };
            }
            if let Some(status) = child.try_wait().expect("try_wait") {
                panic!(
                    "weir run exited with {status} before serving; end of log:\n{}",
                    self.tail(stderr_file, 30)
                );
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "weir run did not start serving; end of log:\n{}",
                    self.tail(stderr_file, 30)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `weir log stats CONFIG --json`, parsed.
    pub fn log_stats(&self, config: &str) -> serde_json::Value {
        let out = self
            .weir(&["log", "stats", config, "--json"])
            .output()
            .expect("run weir log stats");
        assert!(
            out.status.success(),
            "weir log stats failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("stats are JSON")
    }

    /// Records stored in `topic`, from `weir log stats`.
    pub fn topic_records(&self, config: &str, topic: &str) -> u64 {
        let stats = self.log_stats(config);
        stats["topics"]
            .as_array()
            .expect("topics")
            .iter()
            .filter(|t| t["name"] == topic)
            .flat_map(|t| t["partitions"].as_array().expect("partitions").iter())
            .map(|p| {
                p["next_offset"].as_u64().expect("next")
                    - p["first_offset"].as_u64().expect("first")
            })
            .sum()
    }
}

/// Sends SIGTERM to a running server and waits for a clean exit (panics otherwise).
pub fn stop(w: &Workdir, mut server: Server, stderr_file: &str) {
    super::process::send_signal(server.child.id(), "TERM");
    match super::process::wait_timeout(&mut server.child, Duration::from_secs(120)) {
        Some(status) => assert!(
            status.success(),
            "weir run exited with {status} after SIGTERM; end of log:\n{}",
            w.tail(stderr_file, 30)
        ),
        None => {
            let _ = server.child.kill();
            panic!(
                "weir run did not stop after SIGTERM; end of log:\n{}",
                w.tail(stderr_file, 30)
            );
        }
    }
}

impl Workdir {
    /// Waits until `cond` holds (polling); panics with the end of `stderr_file` if it does not
    /// within two minutes (a hang, not a timing assertion).
    pub fn wait_until(&self, stderr_file: &str, what: &str, cond: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !cond() {
            assert!(
                Instant::now() < deadline,
                "gave up waiting for {what}; end of log:\n{}",
                self.tail(stderr_file, 30)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Records in the committed output of the file sink at `dir`.
    pub fn output_len(&self, dir: &str) -> usize {
        super::committed_by_lane(&self.path().join(dir))
            .values()
            .map(Vec::len)
            .sum()
    }
}

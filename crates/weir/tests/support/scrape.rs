//! Watching a running `weir run` over its server: `GET`, and the samples of `/metrics` by name
//! and labels.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Child, Stdio};

use super::Workdir;

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// `GET path`: status and body (see [`super::http::get`]).
pub fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    super::http::get(addr, path).map(|r| (r.status, r.body))
}

/// The samples of one `/metrics` scrape: (name, sorted labels) -> value.
#[derive(Debug, Default)]
pub struct Metrics(BTreeMap<(String, Vec<(String, String)>), f64>);

impl Metrics {
    /// Parses Prometheus text.
    pub fn parse(text: &str) -> Metrics {
        let mut out = BTreeMap::new();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let mut pairs: Vec<(String, String)> = labels
                .split("\",")
                .filter(|p| !p.is_empty())
                .filter_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    Some((k.to_owned(), v.trim_matches('"').to_owned()))
                })
                .collect();
            pairs.sort();
            out.insert((name.to_owned(), pairs), value);
        }
        Metrics(out)
    }

    /// The value of `name` with exactly these labels, if exported.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut pairs: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        pairs.sort();
        self.0.get(&(name.to_owned(), pairs)).copied()
    }
}

/// A running `weir run` with its server on a known port.
pub struct Running {
    /// The process.
    pub child: Child,
    /// Its server.
    pub addr: SocketAddr,
}

impl Running {
    /// One scrape of `/metrics` (`None` while the server does not answer).
    pub fn metrics(&self) -> Option<Metrics> {
        match get(self.addr, "/metrics") {
            Ok((200, body)) => Some(Metrics::parse(&body)),
            _ => None,
        }
    }

    /// `/health/ready`: status and body.
    pub fn ready(&self) -> Option<(u16, String)> {
        get(self.addr, "/health/ready").ok()
    }
}

impl Workdir {
    /// `weir run CONFIG` in the background with its server on a free port; stderr appended to
    /// `log`; extra environment variables set.
    pub fn spawn_watched(&self, config: &str, log: &str, env: &[(&str, &str)]) -> Running {
        let port = free_port();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path().join(log))
            .expect("open log");
        let listen = format!("127.0.0.1:{port}");
        let mut cmd = self.weir(&["run", config, "--listen", &listen]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(file))
            .spawn()
            .expect("spawn weir");
        Running {
            child,
            addr: listen.parse().expect("addr"),
        }
    }
}

//! Talking to a running `weir run`'s server: where it listens (from its log) and a minimal
//! HTTP/1.1 `GET`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::Workdir;

impl Workdir {
    /// The address the server of the run logging to `log` is bound to, once it has said so.
    pub fn server_addr(&self, log: &str) -> Option<SocketAddr> {
        const SAID: &str = "serving /metrics and /health on http://";
        let text = self.read_text(log);
        let at = text.find(SAID)? + SAID.len();
        text[at..].split_whitespace().next()?.parse().ok()
    }
}

/// `GET path` with `Connection: close`: the status and the body (responses of the weir server
/// are small and not chunked).
pub fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw)?;
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, raw.clone());
    let (head, body) = raw.split_once("\r\n\r\n").ok_or_else(bad)?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    Ok((status, body.to_owned()))
}

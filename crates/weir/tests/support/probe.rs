//! Talking to a running `weir run`'s server: where it listens (from its log) and `GET`.

use std::net::SocketAddr;

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

/// `GET path`: the status and the body (see [`super::http::get`]).
pub fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    super::http::get(addr, path).map(|r| (r.status, r.body))
}

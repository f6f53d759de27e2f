//! `weir run CONFIG`: recover, run until all bounded input is committed or a signal arrives.
//! The first SIGINT/SIGTERM finishes the current epoch of every lane, checkpoints and exits 0;
//! a second one exits at once (nothing is lost: the next run resumes from the checkpoints).

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::observe::health::Health;
use crate::runtime::{self, RunOptions};

/// Runs the configuration; see the module doc for exit behaviour.
pub fn run(config: &Path, listen: Option<SocketAddr>) -> ExitCode {
    let plan = match super::load(config) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let rt = match super::runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async move {
        let health = Arc::new(Health::default());
        let addr = listen.unwrap_or(plan.listen);
        // The log is opened (and interrupted ingest requests settled) before the server
        // accepts anything: producers can write while the pipelines recover, lag or are down.
        let (buffer, ingest) = if crate::buffer::needed(&plan) {
            match runtime::open_buffer(&plan) {
                Ok((b, i)) => (Some(b), Some(i)),
                Err(e) => {
                    eprintln!("error: {e:#}");
                    return ExitCode::from(super::EXIT_FAILED);
                }
            }
        } else {
            (None, None)
        };
        match crate::server::start(addr, Arc::clone(&health), ingest.clone()).await {
            Ok(bound) => {
                if let Some(b) = &buffer {
                    b.announce(bound);
                }
                match &ingest {
                    Some(i) if i.pipelines().next().is_some() => {
                        let routes: Vec<String> = i.pipelines().map(|p| format!("/ingest/{p}")).collect();
                        tracing::info!("serving /metrics, /health and {} on http://{bound}", routes.join(", "));
                    }
                    _ => tracing::info!("serving /metrics and /health on http://{bound}"),
                }
            }
            Err(e) => {
                eprintln!("error: cannot listen on {addr}: {e} (set server.listen or --listen; port 0 picks a free port)");
                return ExitCode::from(super::EXIT_FAILED);
            }
        }
        let (tx, rx) = watch::channel(false);
        tokio::spawn(signals(tx));
        let options = RunOptions {
            buffer,
            ..RunOptions::default()
        };
        match runtime::run(&plan, &options, &health, rx).await {
            Ok(report) if report.failed.is_empty() && report.halted.is_empty() => {
                if report.stopped {
                    tracing::info!("stopped; every lane committed its open epoch (a lane that was waiting for a dependency left it to the next run)");
                } else {
                    tracing::info!("all input processed and committed");
                }
                ExitCode::SUCCESS
            }
            Ok(report) => {
                for (p, e) in &report.failed {
                    eprintln!("error: pipeline `{p}` failed: {e}");
                }
                for (p, reason) in &report.halted {
                    eprintln!("error: pipeline `{p}` halted by a quality gate: {reason}");
                    eprintln!("       nothing of the halted epoch was committed; fix the cause and run again (it resumes from the last committed epoch), or accept the epoch with `weir audit-override`");
                }
                if report.failed.is_empty() { ExitCode::from(super::EXIT_HALTED) } else { ExitCode::from(super::EXIT_FAILED) }
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(super::EXIT_FAILED)
            }
        }
    })
}

async fn signals(stop: watch::Sender<bool>) {
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        tracing::warn!("cannot install signal handlers; stop with SIGKILL only");
        return;
    };
    tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
    tracing::info!(
        "stop requested: finishing the current epoch of every lane (signal again to exit at once)"
    );
    let _ = stop.send(true);
    tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
    tracing::warn!("second signal: exiting now; the next run resumes from the last checkpoints");
    std::process::exit(130);
}

//! Driving `weir` processes: bounded waits, SIGKILL that proves it hit a running process,
//! SIGTERM/SIGINT, and runs to completion that cannot hang a test.

use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use super::Workdir;

/// SIGKILL's number on every Unix.
const SIGKILL: i32 = 9;

/// Waits for `child` to exit for at most `timeout`; `None` if it is still running.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// What a SIGKILL attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kill {
    /// The process was running and died of the SIGKILL.
    Killed,
    /// The process had already exited on its own, with this status.
    Exited(ExitStatus),
}

/// Sends SIGKILL to `child` if it is still running and reaps it. Returns [`Kill::Killed`] only
/// when the process was running when `try_wait` looked and its exit status says it died of
/// SIGKILL (so a process that exited in between is never counted as killed).
pub fn sigkill_if_running(child: &mut Child) -> Kill {
    if let Some(status) = child.try_wait().expect("try_wait") {
        return Kill::Exited(status);
    }
    // On Unix `Child::kill` sends SIGKILL; it cannot fail on an unreaped child.
    child.kill().expect("send SIGKILL");
    let status = child.wait().expect("reap the killed process");
    if status.signal() == Some(SIGKILL) {
        Kill::Killed
    } else {
        Kill::Exited(status)
    }
}

/// Sends `signal` (a name such as `TERM` or `INT`) to process `pid` with the `kill` command.
pub fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} {pid} failed: {status}");
}

impl Workdir {
    /// Reads `rel` as text (empty if it does not exist).
    pub fn read_text(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path().join(rel)).unwrap_or_default()
    }

    /// The last `n` lines of the text file `rel`, for failure messages.
    pub fn tail(&self, rel: &str, n: usize) -> String {
        let text = self.read_text(rel);
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// `weir run CONFIG` in the background (stderr appended to `stderr_file`), waited for at
    /// most `timeout`; panics with the end of the log if it does not finish in time.
    pub fn run_to_end(&self, config: &str, stderr_file: &str, timeout: Duration) -> ExitStatus {
        let mut child = self.spawn_run(config, stderr_file);
        match wait_timeout(&mut child, timeout) {
            Some(status) => status,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "weir run {config} did not finish within {timeout:?}; end of its log:\n{}",
                    self.tail(stderr_file, 40)
                );
            }
        }
    }

    /// [`Workdir::run_to_end`] that must succeed: panics naming `what` and showing the end of
    /// the log otherwise.
    pub fn run_ok(&self, config: &str, stderr_file: &str, timeout: Duration, what: &str) {
        let status = self.run_to_end(config, stderr_file, timeout);
        assert!(
            status.success(),
            "{what} exited with {status}; end of log:\n{}",
            self.tail(stderr_file, 30)
        );
    }
}

/// A series of SIGKILLed runs (see [`Workdir::kill_series`]).
#[derive(Debug, Clone, Copy)]
pub struct KillSeries {
    /// Runs to kill while running.
    pub kills: usize,
    /// Runs to start at most.
    pub max_runs: usize,
    /// Shortest delay before a kill, ms.
    pub lo: u64,
    /// Longest delay before a kill, ms (shrinks by a third after a run that ended first).
    pub hi: u64,
    /// Whether a run that ended before its kill (and so a start over) forgets the kills made
    /// so far: then all the counted kills hit the scenario the final run completes.
    pub restart_forgets_kills: bool,
}

/// One kill of a [`KillSeries`].
#[derive(Debug, Clone, Copy)]
pub struct Killed {
    /// Kills so far, this one included.
    pub kill: usize,
    /// Runs so far, this one included.
    pub run: usize,
    /// How long it ran, ms.
    pub delay: u64,
}

impl std::fmt::Display for Killed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SIGKILL {} (run {}, {} ms in)",
            self.kill, self.run, self.delay
        )
    }
}

impl Workdir {
    /// Starts `weir run CONFIG` again and again, each run SIGKILLed after a delay drawn from
    /// `rng`, until `series.kills` runs were killed while running; `killed` checks the state
    /// after each. A run that ends before its kill does not count: it must have succeeded,
    /// `ended(run)` checks its output and starts the scenario over (clearing what it must),
    /// and later kills come sooner.
    /// Returns the kills counted and the runs started.
    pub fn kill_series(
        &self,
        config: &str,
        log: &str,
        rng: &mut super::rng::Rng,
        series: KillSeries,
        mut killed: impl FnMut(Killed),
        mut ended: impl FnMut(usize),
    ) -> (usize, usize) {
        let (lo, mut hi) = (series.lo, series.hi);
        let (mut kills, mut runs) = (0, 0);
        while kills < series.kills {
            runs += 1;
            assert!(
                runs <= series.max_runs,
                "only {kills} of {runs} runs could be killed while running; end of log:\n{}",
                self.tail(log, 20)
            );
            let mut child = self.spawn_run(config, log);
            let delay = rng.between(lo, hi);
            std::thread::sleep(Duration::from_millis(delay));
            match sigkill_if_running(&mut child) {
                Kill::Killed => {
                    kills += 1;
                    killed(Killed {
                        kill: kills,
                        run: runs,
                        delay,
                    });
                }
                Kill::Exited(status) => {
                    assert!(
                        status.success(),
                        "run {runs} exited with {status} before its kill; end of log:\n{}",
                        self.tail(log, 20)
                    );
                    ended(runs);
                    hi = (hi * 2 / 3).max(lo + 10);
                    if series.restart_forgets_kills {
                        kills = 0;
                    }
                    eprintln!(
                        "run {runs} finished within {delay} ms; starting over with kills at {lo}..={hi} ms"
                    );
                }
            }
        }
        (kills, runs)
    }
}

//! Runs of `weir` with injected faults (the binary is built with the `fault-injection` feature):
//! `WEIR_FAULT_ABORT_ON=field=value` aborts the process and `WEIR_FAULT_PANIC_ON=field=value`
//! panics the lane when a record whose top-level `field` equals `value` is processed.

use std::process::{Child, ExitStatus, Stdio};
use std::time::Duration;

use super::Workdir;
use super::process::wait_timeout;

/// Aborts the process on a matching record.
pub const ABORT_ON: &str = "WEIR_FAULT_ABORT_ON";
/// Panics the lane on a matching record.
pub const PANIC_ON: &str = "WEIR_FAULT_PANIC_ON";

impl Workdir {
    /// [`Workdir::spawn_run`] with extra environment variables.
    pub fn spawn_run_env(&self, config: &str, stderr_file: &str, env: &[(&str, &str)]) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path().join(stderr_file))
            .expect("open log");
        self.weir(&["run", config, "--listen", "127.0.0.1:0"])
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn weir")
    }

    /// [`Workdir::run_to_end`] with extra environment variables.
    pub fn run_to_end_env(
        &self,
        config: &str,
        stderr_file: &str,
        env: &[(&str, &str)],
        timeout: Duration,
    ) -> ExitStatus {
        let mut child = self.spawn_run_env(config, stderr_file, env);
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
}

//! Shared support for the end-to-end tests: a private working directory, the real `weir`
//! binary, and readers for its committed output.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// The `weir` binary built for this test run.
pub fn weir_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_weir"))
}

/// A private directory holding a configuration, its input and its output.
pub struct Workdir {
    dir: tempfile::TempDir,
}

impl Workdir {
    /// A fresh empty directory.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("create temp dir"),
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `content` to `rel` (creating parent directories) and returns the full path.
    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.dir.path().join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("create parent dir");
        }
        std::fs::write(&p, content).expect("write file");
        p
    }

    /// A `weir` command with the working directory set here and the server on a free port.
    pub fn weir(&self, args: &[&str]) -> Command {
        let mut c = Command::new(weir_bin());
        c.current_dir(self.path())
            .args(args)
            .env("WEIR_LOG", "info");
        c
    }

    /// `weir run CONFIG --listen 127.0.0.1:0` started in the background, stderr sent to
    /// `stderr_file` (appended), stdout discarded.
    pub fn spawn_run(&self, config: &str, stderr_file: &str) -> Child {
        self.spawn_run_env(config, stderr_file, &[])
    }

    /// `weir run CONFIG --listen 127.0.0.1:0` to completion.
    pub fn run(&self, config: &str) -> Output {
        self.weir(&["run", config, "--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .output()
            .expect("run weir")
    }
}

/// The committed output of a file sink: the `*.jsonl` files directly under `dir`, grouped by
/// lane (the file name up to its last `-`) in name order, each file's lines in order.
/// Panics on a file that is not complete JSON lines (a partial write).
pub fn committed_by_lane(dir: &Path) -> BTreeMap<String, Vec<String>> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|n| n.ends_with(".jsonl"))
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for name in names {
        let stem = name.strip_suffix(".jsonl").expect("suffix");
        let (lane, _epoch) = stem
            .rsplit_once('-')
            .expect("committed file names are LANE-EPOCH.jsonl");
        let text = std::fs::read_to_string(dir.join(&name)).expect("read committed file");
        assert!(
            text.is_empty() || text.ends_with('\n'),
            "committed file {name} ends mid-line"
        );
        let lines = out.entry(lane.to_owned()).or_default();
        for line in text.lines() {
            serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| {
                panic!("committed file {name} holds a line that is not JSON ({e}): {line}")
            });
            lines.push(line.to_owned());
        }
    }
    out
}

pub mod bad_orders;
pub mod dlq;
pub mod fault;
pub mod http;
pub mod inspect;
pub mod ledger;
pub mod orders;
pub mod pill;
pub mod postgres;
pub mod probe;
pub mod process;
pub mod rng;
pub mod scrape;
pub mod stub;

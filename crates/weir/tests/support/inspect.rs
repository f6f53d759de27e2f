//! Looking at what a run left on disk: the file sink's directory (committed files, staging,
//! anything else), checkpoint manifests, and `weir checkpoints`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::Workdir;

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("cannot list {}: {e}", dir.display()),
    };
    names.sort();
    names
}

/// Splits a committed file name `<lane>-<epoch:012>.jsonl` into lane and epoch.
pub fn parse_committed_name(name: &str) -> Option<(&str, u64)> {
    let (lane, digits) = name.strip_suffix(".jsonl")?.rsplit_once('-')?;
    (!lane.is_empty() && digits.len() == 12 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok().map(|e| (lane, e)))?
}

/// Entries directly under a file sink's directory that are neither the `.staging` directory
/// nor a regular committed file `<lane>-<epoch:012>.jsonl`: must always be empty.
pub fn stray_entries(out: &Path) -> Vec<String> {
    names(out)
        .into_iter()
        .filter(|n| {
            let meta = std::fs::symlink_metadata(out.join(n)).expect("stat");
            let staging = n == ".staging" && meta.is_dir();
            let committed = meta.is_file() && parse_committed_name(n).is_some();
            !(staging || committed)
        })
        .collect()
}

/// Epochs of the committed files of each lane, ascending.
pub fn committed_epochs(out: &Path) -> BTreeMap<String, Vec<u64>> {
    let mut by_lane: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for n in names(out) {
        if let Some((lane, epoch)) = parse_committed_name(&n) {
            by_lane.entry(lane.to_owned()).or_default().push(epoch);
        }
    }
    by_lane
}

/// Files in the file sink's staging area (`<out>/.staging/<lane>/*`).
pub fn staged_files(out: &Path) -> Vec<PathBuf> {
    let staging = out.join(".staging");
    let mut files = Vec::new();
    for lane in names(&staging) {
        for n in names(&staging.join(&lane)) {
            files.push(staging.join(&lane).join(n));
        }
    }
    files
}

/// The manifests of one lane (`<data_dir>/pipelines/<pipeline>/checkpoints/<lane>/*.ckpt`),
/// oldest first; temporary files are not included.
pub fn manifests(data_dir: &Path, pipeline: &str, lane: &str) -> Vec<PathBuf> {
    let dir = data_dir
        .join("pipelines")
        .join(pipeline)
        .join("checkpoints")
        .join(lane);
    names(&dir)
        .into_iter()
        .filter(|n| {
            n.len() == 17 && n.ends_with(".ckpt") && n[..12].bytes().all(|b| b.is_ascii_digit())
        })
        .map(|n| dir.join(n))
        .collect()
}

/// Name -> content of the regular files directly under `dir`.
pub fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    names(dir)
        .into_iter()
        .filter(|n| dir.join(n).is_file())
        .map(|n| {
            let bytes = std::fs::read(dir.join(&n)).expect("read file");
            (n, bytes)
        })
        .collect()
}

/// One row of `weir checkpoints`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaneCheckpoint {
    /// Pipeline.
    pub pipeline: String,
    /// Committed epoch (0: no usable checkpoint).
    pub epoch: u64,
    /// Where the lane resumes in its input.
    pub next_offset: u64,
    /// Input records consumed up to the committed epoch.
    pub records_in: u64,
}

/// What `weir checkpoints CONFIG` printed.
#[derive(Clone, Debug)]
pub struct Checkpoints {
    /// Lane -> its checkpoint (configurations with one pipeline).
    pub lanes: BTreeMap<String, LaneCheckpoint>,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error (warnings about unusable manifests).
    pub stderr: String,
}

impl Workdir {
    /// Runs `weir checkpoints CONFIG`, asserts it exits 0, and parses its table.
    pub fn checkpoints(&self, config: &str) -> Checkpoints {
        let out = self
            .weir(&["checkpoints", config])
            .output()
            .expect("run weir checkpoints");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "weir checkpoints {config} failed ({}):\n{stdout}\n{stderr}",
            out.status
        );
        let mut lanes = BTreeMap::new();
        for line in stdout
            .lines()
            .skip_while(|l| !l.starts_with("PIPELINE"))
            .skip(1)
        {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() < 2 || cols[1].starts_with('(') {
                continue;
            }
            assert!(
                cols.len() >= 5,
                "unexpected row in weir checkpoints output: {line}"
            );
            let num = |s: &str| {
                if s == "-" {
                    0
                } else {
                    s.parse()
                        .unwrap_or_else(|e| panic!("bad number {s} in row {line}: {e}"))
                }
            };
            let row = LaneCheckpoint {
                pipeline: cols[0].to_owned(),
                epoch: num(cols[2]),
                next_offset: num(cols[3]),
                records_in: num(cols[4]),
            };
            assert!(
                lanes.insert(cols[1].to_owned(), row).is_none(),
                "lane {} listed twice:\n{stdout}",
                cols[1]
            );
        }
        Checkpoints {
            lanes,
            stdout,
            stderr,
        }
    }
}

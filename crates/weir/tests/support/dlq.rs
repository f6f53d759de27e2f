//! Reading the dead-letter queue the way an operator does: `weir dlq list --json`, `weir dlq
//! show`, and the other `weir dlq` subcommands, each asserted to succeed.

use std::process::Output;

use serde::Deserialize;

use super::Workdir;

/// One line of `weir dlq list --json`. Unknown fields are rejected, so a change of the listed
/// format shows up here.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DlqEntry {
    /// Entry id (for `dlq show`).
    pub id: i64,
    /// Pipeline.
    pub pipeline: String,
    /// Stage that rejected the record.
    pub stage: String,
    /// Error class (`permanent`, `fatal`, ...).
    pub class: String,
    /// Stable reason code.
    pub reason: String,
    /// What went wrong.
    pub message: String,
    /// How many times the record has failed.
    pub attempts: u32,
    /// First failure, ms since the Unix epoch.
    pub first_failure_ms: i64,
    /// Latest failure, ms since the Unix epoch.
    pub last_failure_ms: i64,
    /// Source of the original record.
    pub source: String,
    /// Partition of the original record (the input file's name).
    pub partition: String,
    /// Offset of the original record (byte offset of its line).
    pub offset: u64,
    /// The original record, when it was parsed.
    #[serde(default)]
    pub record: Option<serde_json::Value>,
    /// The original bytes, when it could not be parsed.
    #[serde(default)]
    pub record_raw: Option<String>,
}

impl Workdir {
    /// Runs `weir ARGS` (no fault injection), asserts it exits 0, and returns its output.
    pub fn weir_ok(&self, args: &[&str]) -> Output {
        let out = self.weir(args).output().expect("run weir");
        assert!(
            out.status.success(),
            "weir {} exited with {}:\nstdout:\n{}\nstderr:\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// `weir dlq list CONFIG --json EXTRA...`, parsed, in listing order.
    pub fn dlq_list(&self, config: &str, extra: &[&str]) -> Vec<DlqEntry> {
        let mut args = vec!["dlq", "list", config, "--json"];
        args.extend_from_slice(extra);
        let out = self.weir_ok(&args);
        String::from_utf8(out.stdout)
            .expect("dlq list --json prints UTF-8")
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("dlq list --json printed a bad line ({e}): {l}"))
            })
            .collect()
    }

    /// `weir dlq show CONFIG ID`, parsed (it prints one pretty-printed JSON object).
    pub fn dlq_show(&self, config: &str, id: i64) -> DlqEntry {
        let out = self.weir_ok(&["dlq", "show", config, &id.to_string()]);
        let text = String::from_utf8(out.stdout).expect("dlq show prints UTF-8");
        serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!("dlq show printed something that is not an entry ({e}):\n{text}")
        })
    }
}

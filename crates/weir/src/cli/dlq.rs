//! `weir dlq list|show|replay|purge`: inspect and act on the dead-letter queue.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Subcommand};

use super::outln;

use crate::dlq::{DeadLetter, DlqFilter};
use crate::observe::health::Health;
use crate::runtime::{self, RunOptions, Work};

/// The `dlq` subcommands.
#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// List dead letters, oldest first.
    List {
        /// The configuration file.
        config: std::path::PathBuf,
        #[command(flatten)]
        filter: FilterArgs,
        /// Only entries whose latest failure is within this duration (`1h`) or after this time (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Show one dead letter in full.
    Show {
        /// The configuration file.
        config: std::path::PathBuf,
        /// The entry id (from `dlq list`).
        id: i64,
    },
    /// Send dead letters back through their pipeline (with today's configuration).
    Replay {
        /// The configuration file.
        config: std::path::PathBuf,
        #[command(flatten)]
        filter: FilterArgs,
        /// Only say what would be replayed.
        #[arg(long)]
        dry_run: bool,
        /// Append the records to the input log of their (http-source) pipeline instead, where
        /// the pipeline reads them again like new input; each leaves the DLQ once appended.
        #[arg(long)]
        to_log: bool,
    },
    /// Delete dead letters.
    Purge {
        /// The configuration file.
        config: std::path::PathBuf,
        #[command(flatten)]
        filter: FilterArgs,
        /// Only entries whose latest failure is older than this (`30d`).
        #[arg(long)]
        older_than: Option<String>,
    },
}

/// Filters shared by the subcommands.
#[derive(Debug, Args)]
pub struct FilterArgs {
    /// Only this pipeline.
    #[arg(long)]
    pub(super) pipeline: Option<String>,
    /// Only this reason (`parse`, `transform`, `retries_exhausted`, `crash`, `validation`).
    #[arg(long)]
    pub(super) reason: Option<String>,
}

impl FilterArgs {
    pub(super) fn filter(&self) -> DlqFilter {
        DlqFilter {
            pipeline: self.pipeline.clone(),
            reason: self.reason.clone(),
            ..DlqFilter::default()
        }
    }
}

pub(super) fn time_arg(flag: &str, text: &str) -> Result<i64, ExitCode> {
    let now = crate::dlq::writer::now_ms();
    if let Ok(d) = humantime::parse_duration(text) {
        return Ok(now - i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    }
    match humantime::parse_rfc3339_weak(text) {
        Ok(t) => Ok(t
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))),
        Err(_) => {
            eprintln!(
                "error: --{flag} `{text}`: expected a duration (`1h`, `30d`) or a time (`2026-11-21T08:00:00Z`)"
            );
            Err(ExitCode::from(super::EXIT_CONFIG))
        }
    }
}

fn fmt_time(ms: i64) -> String {
    let t =
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_seconds(t).to_string()
}

fn one_line(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() > max {
        format!("{}…", flat.chars().take(max - 1).collect::<String>())
    } else {
        flat
    }
}

pub(super) fn print_table(entries: &[DeadLetter]) {
    outln!(
        "{:>6}  {:<12} {:<10} {:<8} {:>4}  {:<20}  {:<36}  MESSAGE",
        "ID",
        "PIPELINE",
        "REASON",
        "STAGE",
        "TRY",
        "LAST_FAILURE",
        "RECORD"
    );
    for e in entries {
        let rec = format!("{}/{}@{}", e.source, e.partition, e.offset);
        outln!(
            "{:>6}  {:<12} {:<10} {:<8} {:>4}  {:<20}  {:<36}  {}",
            e.id,
            e.pipeline,
            e.reason,
            e.stage,
            e.attempts,
            fmt_time(e.last_failure_ms),
            one_line(&rec, 36),
            one_line(&e.message, 100)
        );
    }
}

/// Runs a `dlq` subcommand.
pub fn dlq(cmd: DlqCommand) -> ExitCode {
    match run(cmd) {
        Ok(code) | Err(code) => code,
    }
}

fn run(cmd: DlqCommand) -> Result<ExitCode, ExitCode> {
    let failed = |e: &dyn std::fmt::Display| {
        eprintln!("error: {e}");
        ExitCode::from(super::EXIT_FAILED)
    };
    match cmd {
        DlqCommand::List {
            config,
            filter,
            since,
            json,
        } => {
            let plan = super::load(&config)?;
            let store = runtime::open_dlq(&plan).map_err(|e| failed(&e))?;
            let mut f = filter.filter();
            if let Some(s) = since {
                f.since_ms = Some(time_arg("since", &s)?);
            }
            let entries = store.list(&f, None).map_err(|e| failed(&e))?;
            if json {
                for e in &entries {
                    outln!("{}", serde_json::to_string(e).map_err(|e| failed(&e))?);
                }
            } else {
                print_table(&entries);
                eprintln!("{} dead letter(s)", entries.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        DlqCommand::Show { config, id } => {
            let plan = super::load(&config)?;
            let store = runtime::open_dlq(&plan).map_err(|e| failed(&e))?;
            match store.get(id).map_err(|e| failed(&e))? {
                Some(e) => {
                    outln!(
                        "{}",
                        serde_json::to_string_pretty(&e).map_err(|e| failed(&e))?
                    );
                    Ok(ExitCode::SUCCESS)
                }
                None => {
                    eprintln!("error: no dead letter with id {id}");
                    Err(ExitCode::from(super::EXIT_FAILED))
                }
            }
        }
        DlqCommand::Purge {
            config,
            filter,
            older_than,
        } => {
            let plan = super::load(&config)?;
            let store = runtime::open_dlq(&plan).map_err(|e| failed(&e))?;
            let mut f = filter.filter();
            if let Some(d) = older_than {
                f.before_ms = Some(time_arg("older-than", &d)?);
            }
            let n = store.purge(&f).map_err(|e| failed(&e))?;
            outln!("purged {n} dead letter(s)");
            Ok(ExitCode::SUCCESS)
        }
        DlqCommand::Replay {
            config,
            filter,
            dry_run,
            to_log: true,
        } => super::dlq_to_log::replay(&config, &filter, dry_run),
        DlqCommand::Replay {
            config,
            filter,
            dry_run,
            to_log: false,
        } => replay(&config, &filter, dry_run),
    }
}

fn replay(config: &Path, filter: &FilterArgs, dry_run: bool) -> Result<ExitCode, ExitCode> {
    let plan = super::load(config)?;
    if let Some(p) = &filter.pipeline
        && !plan.pipelines.iter().any(|x| x.name == *p)
    {
        eprintln!(
            "error: --pipeline `{p}`: no such pipeline in {}",
            config.display()
        );
        return Err(ExitCode::from(super::EXIT_CONFIG));
    }
    let store = runtime::open_dlq(&plan).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(super::EXIT_FAILED)
    })?;
    let f = filter.filter();
    let before = store.list(&f, None).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(super::EXIT_FAILED)
    })?;
    if dry_run {
        print_table(&before);
        outln!("would replay {} dead letter(s)", before.len());
        return Ok(ExitCode::SUCCESS);
    }
    let rt = super::runtime()?;
    let options = RunOptions {
        work: Work::Replay(f.clone()),
        ..RunOptions::default()
    };
    let report = rt.block_on(async {
        let (_tx, rx) = tokio::sync::watch::channel(false);
        runtime::run(&plan, &options, &Arc::new(Health::default()), rx).await
    });
    match report {
        Ok(r) if r.failed.is_empty() => {
            let after = store.list(&f, None).map(|v| v.len()).unwrap_or(0);
            let n = before.len();
            outln!(
                "replayed {n} dead letter(s): {} delivered, {after} still failing",
                n.saturating_sub(after)
            );
            Ok(ExitCode::SUCCESS)
        }
        Ok(r) => {
            for (p, e) in &r.failed {
                eprintln!("error: pipeline `{p}` failed during replay: {e}");
            }
            Err(ExitCode::from(super::EXIT_FAILED))
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            Err(ExitCode::from(super::EXIT_FAILED))
        }
    }
}

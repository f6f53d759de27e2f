//! The `weir` command line: one file per subcommand.

mod audit_override;
mod checkpoints;
mod client;
mod dlq;
mod dlq_to_log;
mod log;
mod run;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::observe::logging::{self, LogFormat};

/// Exit code of a configuration error.
pub const EXIT_CONFIG: u8 = 2;
/// Exit code of a failed run.
pub const EXIT_FAILED: u8 = 1;
/// Exit code of a run halted by a quality gate.
pub const EXIT_HALTED: u8 = 3;

/// weir: a resilient data-pipeline engine.
#[derive(Debug, Parser)]
#[command(name = "weir", version, about)]
pub struct Cli {
    /// Log line format (logs go to stderr; `WEIR_LOG` sets the filter, e.g. `debug`).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the pipelines of CONFIG.
    Run {
        /// The configuration file.
        config: PathBuf,
        /// Address of the metrics and health server (overrides `server.listen`; port 0 picks a free port).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
    },
    /// Check CONFIG and print each pipeline's delivery guarantee.
    Validate {
        /// The configuration file.
        config: PathBuf,
    },
    /// Accept an epoch that a quality audit halted: the next run commits it despite the audit.
    AuditOverride {
        /// The configuration file.
        config: PathBuf,
        /// The halted pipeline.
        #[arg(long)]
        pipeline: String,
        /// The halted epoch (from the halt message).
        #[arg(long)]
        epoch: u64,
        /// Only this lane's epoch (default: that epoch of any lane).
        #[arg(long)]
        lane: Option<String>,
    },
    /// Inspect, replay and purge the dead-letter queue.
    #[command(subcommand)]
    Dlq(dlq::DlqCommand),
    /// Inspect the embedded log: statistics, records.
    #[command(subcommand)]
    Log(log::LogCommand),
    /// Show each lane's latest checkpoint: epoch, offset, age.
    Checkpoints {
        /// The configuration file.
        config: PathBuf,
    },
}

/// Parses the command line and runs the command.
#[must_use]
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    match cli.command {
        Command::Run { config, listen } => run::run(&config, listen),
        Command::Validate { config } => validate::validate(&config),
        Command::Checkpoints { config } => checkpoints::checkpoints(&config),
        Command::Dlq(cmd) => dlq::dlq(cmd),
        Command::Log(cmd) => log::log(cmd),
        Command::AuditOverride {
            config,
            pipeline,
            epoch,
            lane,
        } => audit_override::audit_override(&config, &pipeline, epoch, lane.as_deref()),
    }
}

/// Prints a line to stdout; a closed pipe (`weir dlq list | head`) ends the process quietly.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("error: cannot write to stdout: {e}");
            std::process::exit(i32::from($crate::cli::EXIT_FAILED));
        }
    }};
}
pub(crate) use outln;

fn load(config: &std::path::Path) -> Result<crate::config::Plan, ExitCode> {
    crate::config::load(config).map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(EXIT_CONFIG)
    })
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores.max(2))
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start the runtime: {e}");
            ExitCode::from(EXIT_FAILED)
        })
}

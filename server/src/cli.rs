//! Command line: `gatehouse server`, `gatehouse outpost`, `gatehouse migrate`,
//! `gatehouse blueprint …`, `gatehouse version`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use gatehouse_config::{OutpostSettings, ProcessEnv, Settings};

use crate::error::StartError;

/// Identity provider with a forward-auth / reverse-proxy outpost.
#[derive(Debug, Parser)]
#[command(name = "gatehouse", version, about, long_about = None)]
#[command(after_help = "Settings come from GATEHOUSE_* environment variables \
    (GATEHOUSE_LISTEN__HTTP=0.0.0.0:9000) and the TOML file named by GATEHOUSE_CONFIG.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the core server: HTTP, HTTPS and metrics listeners.
    Server,
    /// Run a standalone outpost against the core at GATEHOUSE_HOST, with the token
    /// GATEHOUSE_TOKEN.
    Outpost,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Print the version and exit.
    Version,
    /// Check, apply or export blueprints (configuration as code).
    #[command(subcommand)]
    Blueprint(BlueprintCommand),
}

#[derive(Debug, Subcommand)]
enum BlueprintCommand {
    /// Check files without writing anything (a rolled-back dry run).
    Validate {
        /// Blueprint files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Apply files, each whole or not at all; print what changed.
    Apply {
        /// Blueprint files, applied in this order.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print what would be created, changed or deleted, and write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the stored configuration as a blueprint.
    Export {
        /// Only this flow, with its stages, bindings and policies.
        #[arg(long, value_name = "SLUG")]
        flow: Option<String>,
    },
}

/// Runs the command line and returns the process exit code: 0 on success, 1 on a
/// runtime failure, 2 on bad settings.
pub fn main() -> ExitCode {
    let started = Instant::now();
    let cli = Cli::parse();
    let command = match cli.command {
        Command::Version => {
            println!("gatehouse {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Command::Outpost => return outpost(),
        command => command,
    };
    let settings = match Settings::load(&ProcessEnv) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("gatehouse: {err}");
            return ExitCode::from(2);
        }
    };
    // Blueprint commands print their results on stdout; logs go to stderr there.
    crate::logging::init(
        settings.log_level,
        settings.log_format,
        matches!(command, Command::Blueprint(_)),
    );
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let result = runtime.block_on(async {
        match command {
            Command::Server => crate::serve::run(settings, started).await.map(|()| true),
            Command::Migrate => crate::serve::migrate(settings).await.map(|()| true),
            Command::Version | Command::Outpost => Ok(true),
            Command::Blueprint(BlueprintCommand::Validate { files }) => {
                crate::blueprints::cli::validate(&settings, &files).await
            }
            Command::Blueprint(BlueprintCommand::Apply { files, dry_run }) => {
                crate::blueprints::cli::apply(&settings, &files, dry_run).await
            }
            Command::Blueprint(BlueprintCommand::Export { flow }) => {
                crate::blueprints::cli::export_command(&settings, flow).await
            }
        }
    });
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            tracing::error!(error = %err, "gatehouse stopped");
            eprintln!("gatehouse: {err}");
            match err {
                StartError::Setting { .. } => ExitCode::from(2),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

/// `gatehouse outpost`: its own settings (no database), until a signal.
fn outpost() -> ExitCode {
    let settings = match OutpostSettings::load(&ProcessEnv) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("gatehouse: {err}");
            return ExitCode::from(2);
        }
    };
    let log_level = crate::logging::init(settings.log_level, settings.log_format, false);
    // pingora runs its own runtimes and stops on SIGTERM (gracefully) or SIGINT.
    let result = gatehouse_outpost::run(settings, log_level);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "outpost stopped");
            eprintln!("gatehouse: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The async runtime a command runs on.
fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| {
            eprintln!("gatehouse: cannot start the async runtime: {err}");
            ExitCode::FAILURE
        })
}

//! Command line: `gatehouse server`, `gatehouse migrate`, `gatehouse version`.

use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use gatehouse_config::{ProcessEnv, Settings};

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
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Print the version and exit.
    Version,
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
        command => command,
    };
    let settings = match Settings::load(&ProcessEnv) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("gatehouse: {err}");
            return ExitCode::from(2);
        }
    };
    crate::logging::init(&settings);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("gatehouse: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match command {
            Command::Server => crate::serve::run(settings, started).await,
            Command::Migrate => crate::serve::migrate(settings).await,
            Command::Version => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
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

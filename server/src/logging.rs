//! Structured logs with `tracing`: human-readable text by default, one JSON object per
//! line with `log_format = "json"`.

use gatehouse_config::{LogFormat, LogLevel};
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `RUST_LOG`, when set, overrides `log_level` for
/// debugging one module; otherwise the level applies to Gatehouse and sqlx is kept
/// to warnings (it logs every slow statement at info). `to_stderr` is for commands
/// whose standard output is their result.
pub fn init(level: LogLevel, format: LogFormat, to_stderr: bool) {
    let level = level.as_filter();
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{level},sqlx=warn")));
    // Colours only for a person at a terminal, never into files or log collectors.
    let ansi = if to_stderr {
        std::io::IsTerminal::is_terminal(&std::io::stderr())
    } else {
        std::io::IsTerminal::is_terminal(&std::io::stdout())
    };
    let writer = move || -> Box<dyn std::io::Write> {
        if to_stderr {
            Box::new(std::io::stderr())
        } else {
            Box::new(std::io::stdout())
        }
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi);
    // try_init: a second call (tests) keeps the first subscriber instead of failing.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
}

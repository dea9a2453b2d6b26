//! Structured logs with `tracing`: human-readable text by default, one JSON object per
//! line with `log_format = "json"`. The level can change while the process runs (a
//! standalone outpost takes the one its config names).

use gatehouse_config::{LogFormat, LogLevel};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, reload};

/// Changes the level of the installed subscriber.
pub type LevelSetter = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

fn filter_for(level: &str) -> EnvFilter {
    // sqlx logs every slow statement at info: keep it to warnings. tungstenite logs
    // handshake headers (the outpost's Bearer token) and whole messages (cookie keys)
    // at debug and trace: never below info.
    EnvFilter::new(format!(
        "{level},sqlx=warn,tungstenite=info,tokio_tungstenite=info"
    ))
}

/// Installs the global subscriber and returns what changes its level (`None` when
/// `RUST_LOG` is set, which then decides, or when a subscriber was already there).
/// `RUST_LOG` overrides `level` for debugging one module. `to_stderr` is for
/// commands whose standard output is their result.
pub fn init(level: LogLevel, format: LogFormat, to_stderr: bool) -> Option<LevelSetter> {
    let from_env = EnvFilter::try_from_default_env().ok();
    let pinned = from_env.is_some();
    let (filter, handle) =
        reload::Layer::new(from_env.unwrap_or_else(|| filter_for(level.as_filter())));
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
    let text = (format == LogFormat::Text).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_ansi(ansi)
    });
    let json = (format == LogFormat::Json).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .json()
            .flatten_event(true)
            .with_current_span(false)
    });
    // try_init: a second call (tests) keeps the first subscriber instead of failing.
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(text)
        .with(json)
        .try_init()
        .is_ok();
    if installed && !pinned {
        pass_log_records_from(level.as_filter());
    }
    (installed && !pinned).then(|| {
        std::sync::Arc::new(move |level: &str| {
            if let Err(err) = handle.reload(filter_for(level)) {
                tracing::warn!(error = %err, "cannot change the log level");
            }
            pass_log_records_from(level);
        }) as LevelSetter
    })
}

/// Crates that log with `log` (pingora) reach `tracing` through its bridge, which
/// asks for every record, at any level, and filters after: per request that is
/// dozens of `debug!` records built and thrown away. `log`'s own level stops them
/// at the call site instead.
fn pass_log_records_from(level: &str) {
    log::set_max_level(level.parse().unwrap_or(log::LevelFilter::Info));
}

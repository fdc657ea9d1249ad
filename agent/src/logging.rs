//! The agent's log: human text, or one JSON object per line for log
//! shippers. Logs go to stderr; stdout is for evidence output.

use gamsa_proto::config::LogConfig;
use tracing_subscriber::EnvFilter;

/// Installs the subscriber `log` describes; the `GAMSA_LOG` environment
/// variable overrides its level.
pub fn init(log: &LogConfig) {
    let filter =
        EnvFilter::try_from_env("GAMSA_LOG").unwrap_or_else(|_| EnvFilter::new(&log.level));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = if log.format == "json" {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}

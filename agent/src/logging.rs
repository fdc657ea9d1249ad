//! Log setup shared by both binaries: human text, or one JSON object per line
//! for log shippers. Logs go to stderr; stdout is for evidence output.

use tracing_subscriber::EnvFilter;

/// `format` is "text" or "json"; `level` a tracing filter, overridden by the
/// `GAMSA_LOG` environment variable.
pub fn init(format: &str, level: &str) {
    let filter = EnvFilter::try_from_env("GAMSA_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = if format == "json" {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}

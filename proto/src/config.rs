//! What the agent's and the collector's TOML files share: reading them,
//! errors that name the file and line, and the `[log]` section with the log
//! it sets up. One definition, so that both binaries report a typo the same
//! way, neither can panic on a file it did not write, and their logs read
//! alike.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::path::Path;

/// Why a configuration file was refused; always names the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {message}")]
    Read { path: String, message: String },
    /// Not TOML, or not the configuration's shape; the message names the line.
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    /// Well-formed but refused; the message starts with the field's name.
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

impl ConfigError {
    pub fn invalid(path: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// The text of the file at `path`.
pub fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// `text` (from `origin`) as a `T`; unknown fields are refused by `T` itself.
pub fn parse<T: DeserializeOwned>(text: &str, origin: &str) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: origin.into(),
        message: toml_error(text, &e),
    })
}

/// One line naming the line and the problem of a TOML error in `text`.
pub fn toml_error(text: &str, e: &toml::de::Error) -> String {
    at_line(text, e.span().map(|s| s.start), e.message().trim())
}

/// "line N: message" for a byte offset into `text`. The offset is counted
/// in bytes, so it need not fall on a character boundary.
fn at_line(text: &str, offset: Option<usize>, message: &str) -> String {
    match offset {
        Some(at) => {
            let before = &text.as_bytes()[..at.min(text.len())];
            let line = before.iter().filter(|b| **b == b'\n').count() + 1;
            format!("line {line}: {message}")
        }
        None => message.to_string(),
    }
}

/// `[log]`: how a binary logs (to stderr; stdout is for output).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// "text", or "json" (one object per line, for log shippers).
    pub format: String,
    /// A tracing filter such as "info" or "gamsa_collector=debug"; the
    /// `GAMSA_LOG` environment variable overrides it.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

impl LogConfig {
    /// The message names the field, as [`ConfigError::Invalid`] expects.
    pub fn validate(&self) -> Result<(), String> {
        match self.format.as_str() {
            "text" | "json" => Ok(()),
            other => Err(format!(
                "log.format {other:?}: expected \"text\" or \"json\""
            )),
        }
    }

    /// Sets up this process's log as described: human text, or one JSON
    /// object per line for log shippers, on stderr (stdout is for what a
    /// command prints). `GAMSA_LOG` overrides `level`. Called once by each
    /// binary's `main`; later calls change nothing.
    pub fn init(&self) {
        use std::io::IsTerminal;
        use tracing_subscriber::EnvFilter;
        let filter =
            EnvFilter::try_from_env("GAMSA_LOG").unwrap_or_else(|_| EnvFilter::new(&self.level));
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr);
        let _ = if self.format == "json" {
            builder.json().flatten_event(true).try_init()
        } else {
            builder.try_init()
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        name: String,
        log: Option<LogConfig>,
    }

    #[test]
    fn offsets_inside_a_character_still_name_the_line() {
        let text = "# 감사\nname = \"가\"\n";
        // Every byte offset, including those inside '감', '사' and '가'.
        for at in 0..=text.len() + 3 {
            let line = 1 + text.as_bytes()[..at.min(text.len())]
                .iter()
                .filter(|b| **b == b'\n')
                .count();
            assert_eq!(at_line(text, Some(at), "x"), format!("line {line}: x"));
        }
        assert_eq!(at_line(text, None, "x"), "x");
    }

    #[test]
    fn errors_name_the_file_and_line_in_korean_text() {
        let err = parse::<Sample>("# 감사 설정\nname = \"가\"\n나 = 1\n", "s.toml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("s.toml: line 3:"), "{err}");
        let err = parse::<Sample>("name = \"감사\n", "s.toml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("s.toml: line 1:"), "{err}");
        let err = read(Path::new("/nonexistent/감사.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("/nonexistent/감사.toml: "), "{err}");
    }

    #[test]
    fn log_format_is_text_or_json() {
        let s: Sample = parse("name = \"a\"\n[log]\nformat = \"json\"\n", "s.toml").unwrap();
        assert_eq!(s.name, "a");
        let log = s.log.unwrap();
        assert_eq!(log.level, "info");
        assert!(log.validate().is_ok());
        let bad = LogConfig {
            format: "감사".into(),
            ..LogConfig::default()
        };
        assert_eq!(
            bad.validate().unwrap_err(),
            "log.format \"감사\": expected \"text\" or \"json\""
        );
    }
}

//! The agent's TOML configuration (`deploy/agent.example.toml` documents
//! every field). Unknown fields are errors naming file and line: a typo must
//! not silently turn a probe off.

use crate::probes::ProbesConfig;
use gamsa_proto::config;
use gamsa_proto::config::{ConfigError, LogConfig};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Identity; must equal the client certificate's common name. Empty:
    /// the certificate's name, else `NODE_NAME`, else the hostname.
    pub agent_id: String,
    /// Host name reported in evidence. Empty: `NODE_NAME`, else the hostname.
    pub host: String,
    /// The host's root filesystem ("/host" in a DaemonSet).
    pub host_root: PathBuf,
    /// Free-form labels (role, environment) reported with host evidence.
    pub labels: BTreeMap<String, String>,
    /// Where the agent keeps its state: the spool of unacked evidence.
    pub state_dir: PathBuf,
    /// Largest size of the spool; beyond it the oldest evidence is dropped
    /// and an `agent` evidence reports how many.
    pub spool_max_bytes: u64,
    pub collector: CollectorConfig,
    /// Kubernetes API access for the probes that read it.
    pub kubernetes: crate::probes::kube::KubernetesConfig,
    pub probes: ProbesConfig,
    pub log: LogConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CollectorConfig {
    /// Collector gRPC endpoints, tried in order; the agent fails over.
    pub endpoints: Vec<String>,
    /// TLS name to expect on the collector's certificate (default: the
    /// endpoint's host).
    pub server_name: String,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// File holding an enrolment token, used when `cert` does not exist yet.
    pub enrol_token_file: PathBuf,
    /// Most evidence per batch.
    pub batch_size: usize,
    /// Longest a ready evidence waits before it is sent.
    #[serde(with = "humantime_serde")]
    pub batch_interval: Duration,
    /// Batches sent but not yet acked.
    pub window: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            agent_id: String::new(),
            host: String::new(),
            host_root: PathBuf::from("/"),
            labels: BTreeMap::new(),
            state_dir: PathBuf::from("/var/lib/gamsa-agent"),
            spool_max_bytes: 64 * 1024 * 1024,
            collector: CollectorConfig::default(),
            kubernetes: Default::default(),
            probes: ProbesConfig::default(),
            log: LogConfig::default(),
        }
    }
}

impl Default for CollectorConfig {
    fn default() -> Self {
        Self {
            endpoints: vec!["https://127.0.0.1:7443".into()],
            server_name: String::new(),
            ca: PathBuf::from("/etc/gamsa/ca.crt"),
            cert: PathBuf::from("/etc/gamsa/agent.crt"),
            key: PathBuf::from("/etc/gamsa/agent.key"),
            enrol_token_file: PathBuf::new(),
            batch_size: 500,
            batch_interval: Duration::from_millis(500),
            window: 8,
        }
    }
}

impl Config {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::parse(&config::read(path)?, &path.display().to_string())
    }

    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let invalid = |message: String| ConfigError::invalid(origin, message);
        let c: Config = config::parse(text, origin)?;
        c.log.validate().map_err(invalid)?;
        if c.collector.batch_size == 0 || c.collector.window == 0 {
            return Err(invalid(
                "collector.batch_size and collector.window must be at least 1".into(),
            ));
        }
        for e in &c.collector.endpoints {
            if !e.starts_with("https://") {
                return Err(invalid(format!(
                    "collector.endpoints: {e:?} must start with https:// (mutual TLS is mandatory)"
                )));
            }
        }
        c.probes.validate().map_err(invalid)?;
        Ok(c)
    }

    /// The host name evidence is reported under.
    pub fn resolved_host(&self) -> String {
        if !self.host.is_empty() {
            return self.host.clone();
        }
        std::env::var("NODE_NAME")
            .ok()
            .filter(|s| !s.is_empty())
            .or_else(sysinfo::System::host_name)
            .unwrap_or_else(|| "unknown-host".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses_and_typos_name_the_line() {
        let example = include_str!("../../deploy/agent.example.toml");
        Config::parse(example, "agent.example.toml").unwrap();
        let err = Config::parse(
            "[probes.host]\nenabled = true\nintervl = \"5m\"\n",
            "a.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("a.toml: line 3:"), "{err}");
        let err = Config::parse("[collector]\nendpoints = [\"http://x:1\"]\n", "a.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("https://"), "{err}");
        let err = Config::parse("[probes.port_scan]\nallow = [\"10.0.0.0/33\"]\n", "a.toml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("a.toml: probes.port_scan.allow:"), "{err}");
    }

    #[test]
    fn sections_are_named_as_their_probes_and_old_names_still_load() {
        for section in ["port_scan", "scan"] {
            let c =
                Config::parse(&format!("[probes.{section}]\nports = \"22\"\n"), "a.toml").unwrap();
            assert_eq!(c.probes.port_scan.ports, "22", "[probes.{section}]");
        }
        let err = Config::parse("[probes.scan]\n[probes.port_scan]\n", "a.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("duplicate"), "{err}");
        let err = Config::parse("[probes.tls]\nmax_connections = 5\n", "a.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("a.toml: probes.tls.max_connections:"),
            "{err}"
        );
        let err = Config::parse("[probes.region.static]\ncountry = \"Korea\"\n", "a.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("a.toml: probes.region.static.country"),
            "{err}"
        );
    }

    #[test]
    fn errors_in_korean_text_name_the_line() {
        let err = Config::parse(
            "# 감사 에이전트\n[labels]\nrole = \"병원\"\n[probes.host]\n주기 = \"5분\"\n",
            "a.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("a.toml: line 5:"), "{err}");
        let err = Config::parse("host = \"감사\n", "a.toml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("a.toml: line 1:"), "{err}");
        let err = Config::parse("[log]\nformat = \"감사\"\n", "a.toml")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "a.toml: log.format \"감사\": expected \"text\" or \"json\""
        );
    }

    #[test]
    fn daemonset_config_parses() {
        let text = include_str!("../../deploy/kubernetes/base/agent.toml");
        let c = Config::parse(text, "base/agent.toml").unwrap();
        assert_eq!(c.host_root, Path::new("/host"));
        assert_eq!(c.state_dir, Path::new("/var/lib/gamsa-agent"));
        assert_eq!(c.spool_max_bytes, 32 * 1024 * 1024);
    }
}

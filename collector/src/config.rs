//! The collector's TOML configuration. Every field has a default so that a
//! missing file section means "the documented default", and unknown fields
//! are errors (a typo must not silently disable a setting).

use crate::store::Location;
use gamsa_proto::config;
use gamsa_proto::config::{ConfigError, LogConfig};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub data_dir: PathBuf,
    /// Directories of extra catalog files (`*.toml`), beside the built-in ones.
    pub catalog_dirs: Vec<PathBuf>,
    pub grpc: GrpcConfig,
    pub http: HttpConfig,
    pub store: StoreConfig,
    pub log: LogConfig,
    pub snapshots: crate::snapshot::SnapshotConfig,
    /// Reports made on schedule into the snapshot chain (`[reports]`).
    pub reports: crate::snapshot::reports::ReportsConfig,
    pub export: crate::export::ExportConfig,
    /// Which hosts must show which evidence (`[[expectations]]`); without
    /// an entry, every host is expected (routers: hosts with a router role).
    pub expectations: Vec<crate::expectations::Expectation>,
    pub ingest: IngestConfig,
    /// Periodic evaluation: compliance gauges, verdict changes to sinks.
    pub findings: crate::findings::FindingsConfig,
    /// Service availability from synthetic checks (`[availability]`).
    pub availability: crate::availability::AvailabilityConfig,
    /// The kept evaluation pages and the API read.
    pub verdicts: crate::evaluation::VerdictsConfig,
    /// How long evidence and credentials are kept (`[retention]`).
    pub retention: crate::retention::RetentionConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcConfig {
    pub listen: SocketAddr,
    /// Names and addresses agents use to reach the collector (server cert SANs).
    pub server_names: Vec<String>,
    /// Largest message (one batch) an agent may send; a larger one ends its stream.
    pub max_message_bytes: usize,
    /// Ingest streams open at once across all agents; one more is refused
    /// (`RESOURCE_EXHAUSTED`) and its agent retries, or fails over to a replica.
    pub max_streams: usize,
    /// Evidence per second one agent may send (bursts up to one second's
    /// worth beyond it). A faster agent is slowed by later acks, not refused:
    /// nothing is lost, and it cannot take the store from the others.
    pub agent_rate: u32,
    /// Evidence bytes (protobuf encoding) per second one agent may send,
    /// with one second's worth of burst; a faster agent is slowed like one
    /// over `agent_rate`.
    pub agent_bytes_rate: u32,
    /// Ingest streams one agent (one certificate) may hold at once; one
    /// more is refused (`RESOURCE_EXHAUSTED`).
    pub agent_streams: usize,
    /// Connections without a client certificate (enrolling agents) open at
    /// once; one more is closed after its handshake.
    pub max_enrol_connections: usize,
    /// How long a connection without a client certificate stays open.
    #[serde(with = "humantime_serde")]
    pub enrol_connection_lifetime: Duration,
    /// Time a connection has to complete its TLS handshake.
    #[serde(with = "humantime_serde")]
    pub handshake_timeout: Duration,
    /// Time a new stream has to send its Hello, and a call (enrolment) to answer.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// A stream that sends nothing for this long is closed (agents send at
    /// least one batch per probe cycle).
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    /// Mark session cookies `Secure`: set when the dashboard is reached over
    /// HTTPS (e.g. behind a TLS-terminating ingress).
    pub secure_cookies: bool,
    /// How long a dashboard sign-in lasts.
    #[serde(with = "humantime_serde")]
    pub session_lifetime: Duration,
    /// Largest request body (documentary evidence uploads); larger is refused (413).
    pub max_body_bytes: usize,
    /// Time a client has to send a request's headers; slower is disconnected.
    #[serde(with = "humantime_serde")]
    pub header_timeout: Duration,
    /// Time to read a request and answer it; longer is answered 408.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Connections open at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// A connection with no request in progress for this long is closed
    /// (HTTP/1.1 keep-alive and HTTP/2 alike); before its first request it
    /// has `header_timeout`.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// HTTPS on `listen`: `auto` (HTTPS unless `listen` is a loopback
    /// address), `on`, or `off` (plain HTTP, e.g. behind a TLS proxy).
    pub tls: HttpTls,
    /// PEM certificate chain and key for HTTPS; empty: the collector's own
    /// certificate (`pki/server.crt`, issued by its CA).
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    /// Sign-in attempts one client address (an IPv6 /64) may make per
    /// minute; more are answered 429.
    pub login_attempts_per_address: u32,
    /// Sign-in attempts for one user name per minute, from all addresses
    /// together; more are answered 429.
    pub login_attempts_per_user: u32,
    /// Password checks (Argon2) run at once, on the blocking pool; 0 means
    /// half the CPU cores, at least one.
    pub password_checks: usize,
}

/// Whether the HTTP port speaks TLS (`http.tls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HttpTls {
    Auto,
    On,
    Off,
}

impl HttpConfig {
    /// Whether the HTTP port serves HTTPS.
    pub fn serves_tls(&self) -> bool {
        match self.tls {
            HttpTls::On => true,
            HttpTls::Off => false,
            HttpTls::Auto => !self.listen.ip().is_loopback(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite:///path/to/file.db` (one collector) or
    /// `postgres://user@host:5432/db` (collectors sharing it); empty means
    /// `<data_dir>/gamsa.db`.
    pub url: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./gamsa-data"),
            catalog_dirs: vec![],
            grpc: GrpcConfig::default(),
            http: HttpConfig::default(),
            store: StoreConfig::default(),
            log: LogConfig::default(),
            snapshots: Default::default(),
            reports: Default::default(),
            export: Default::default(),
            expectations: vec![],
            ingest: IngestConfig::default(),
            findings: Default::default(),
            availability: Default::default(),
            verdicts: Default::default(),
            retention: Default::default(),
        }
    }
}

impl Default for GrpcConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 7443)),
            server_names: vec![],
            max_message_bytes: 16 * 1024 * 1024,
            max_streams: 20_000,
            agent_rate: 2_000,
            agent_bytes_rate: 8 * 1024 * 1024,
            agent_streams: 2,
            max_enrol_connections: 256,
            enrol_connection_lifetime: Duration::from_secs(60),
            handshake_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(15 * 60),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 7080)),
            secure_cookies: false,
            session_lifetime: Duration::from_secs(8 * 3600),
            max_body_bytes: 32 * 1024 * 1024,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            max_connections: 1024,
            idle_timeout: Duration::from_secs(60),
            tls: HttpTls::Auto,
            tls_cert: PathBuf::new(),
            tls_key: PathBuf::new(),
            login_attempts_per_address: 10,
            login_attempts_per_user: 20,
            password_checks: 0,
        }
    }
}

/// What ingest accepts of one evidence (`grpc/validate.rs`); evidence
/// beyond these is refused and never stored.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Largest evidence, in bytes of its protobuf encoding.
    pub max_evidence_bytes: usize,
    /// Largest string (or bytes) value of any one field, anywhere in it.
    pub max_field_bytes: usize,
    /// How far `observedAt` may be ahead of the collector's clock.
    #[serde(with = "humantime_serde")]
    pub max_clock_skew: Duration,
    /// Most bytes of one host's latest evidence, all its subjects together
    /// (`grpc/budget.rs`).
    pub max_host_latest_bytes: u64,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            max_evidence_bytes: 4 * 1024 * 1024,
            max_field_bytes: 64 * 1024,
            max_clock_skew: Duration::from_secs(5 * 60),
            max_host_latest_bytes: 64 * 1024 * 1024,
        }
    }
}

impl Config {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::parse(&config::read(path)?, &path.display().to_string())
    }

    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let config: Config = config::parse(text, origin)?;
        config.validate(origin)?;
        Ok(config)
    }

    fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let positive = [
            (
                "grpc.max_message_bytes",
                self.grpc.max_message_bytes as u128,
            ),
            ("grpc.max_streams", self.grpc.max_streams as u128),
            ("grpc.agent_rate", self.grpc.agent_rate as u128),
            ("grpc.agent_bytes_rate", self.grpc.agent_bytes_rate as u128),
            ("grpc.agent_streams", self.grpc.agent_streams as u128),
            (
                "grpc.max_enrol_connections",
                self.grpc.max_enrol_connections as u128,
            ),
            (
                "grpc.enrol_connection_lifetime",
                self.grpc.enrol_connection_lifetime.as_millis(),
            ),
            ("http.idle_timeout", self.http.idle_timeout.as_millis()),
            (
                "grpc.handshake_timeout",
                self.grpc.handshake_timeout.as_millis(),
            ),
            (
                "grpc.request_timeout",
                self.grpc.request_timeout.as_millis(),
            ),
            ("grpc.idle_timeout", self.grpc.idle_timeout.as_millis()),
            (
                "http.session_lifetime",
                self.http.session_lifetime.as_millis(),
            ),
            ("http.max_body_bytes", self.http.max_body_bytes as u128),
            ("http.header_timeout", self.http.header_timeout.as_millis()),
            (
                "http.request_timeout",
                self.http.request_timeout.as_millis(),
            ),
            ("http.max_connections", self.http.max_connections as u128),
            (
                "ingest.max_evidence_bytes",
                self.ingest.max_evidence_bytes as u128,
            ),
            (
                "ingest.max_field_bytes",
                self.ingest.max_field_bytes as u128,
            ),
            (
                "http.login_attempts_per_address",
                self.http.login_attempts_per_address as u128,
            ),
            (
                "http.login_attempts_per_user",
                self.http.login_attempts_per_user as u128,
            ),
        ];
        let refused = |message: String| ConfigError::invalid(origin, message);
        if let Some((field, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(refused(format!("{field}: must be greater than zero")));
        }
        if self.ingest.max_host_latest_bytes < self.ingest.max_evidence_bytes as u64 {
            return Err(refused(
                "ingest.max_host_latest_bytes: at least ingest.max_evidence_bytes".into(),
            ));
        }
        if self.http.tls_cert.as_os_str().is_empty() != self.http.tls_key.as_os_str().is_empty() {
            return Err(refused(
                "http.tls_cert and http.tls_key: give both, or neither (the collector's own certificate)".into(),
            ));
        }
        self.log.validate().map_err(refused)?;
        self.snapshots.validate().map_err(refused)?;
        self.reports.validate().map_err(refused)?;
        self.findings.validate().map_err(refused)?;
        self.availability.validate().map_err(refused)?;
        self.verdicts.validate().map_err(refused)?;
        self.retention.validate().map_err(refused)?;
        if !self.expectations.is_empty() {
            let rules = crate::rules::built_in().map_err(|e| refused(e.to_string()))?;
            crate::expectations::Expectations::new(
                crate::rules::expectation_defaults(&rules),
                &self.expectations,
            )
            .map_err(refused)?;
        }
        let url = &self.store.url;
        // `url` is shown without its password.
        let invalid =
            |url: String, message: String| refused(format!("store.url {url:?}: {message}"));
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            crate::store::postgres::parse_url(url)
                .map_err(|e| invalid(crate::store::postgres::redact(url), e))?;
        } else if !url.is_empty() && !url.starts_with("sqlite://") {
            let shown = url.split_once("://").map_or("", |(scheme, _)| scheme);
            return Err(invalid(
                format!("{shown}://…"),
                "expected sqlite:///path/to/file.db or postgres://user@host:5432/database".into(),
            ));
        }
        Ok(())
    }

    /// Where `store.url` puts the store.
    pub fn store_location(&self) -> Location {
        let url = &self.store.url;
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Location::Postgres(url.clone());
        }
        match url.strip_prefix("sqlite://") {
            Some(p) if !p.is_empty() => Location::Sqlite(PathBuf::from(p)),
            _ => Location::Sqlite(self.data_dir.join("gamsa.db")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_and_unknown_fields_are_named() {
        let c = Config::parse("[grpc]\nlisten = \"0.0.0.0:9443\"\n", "t.toml").unwrap();
        assert_eq!(c.grpc.listen.port(), 9443);
        assert_eq!(c.http.listen.port(), 7080);
        let err = Config::parse("[grpc]\nlisten = \"0.0.0.0:9443\"\nlistn = 1\n", "t.toml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("t.toml: line 3:"), "{err}");
        assert!(err.contains("listn"), "{err}");
        let err = Config::parse("[log]\nformat = \"xml\"\n", "t.toml").unwrap_err();
        assert!(err.to_string().contains("log.format"), "{err}");
        let err = Config::parse("[grpc]\nagent_rate = 0\n", "t.toml").unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.toml: grpc.agent_rate: must be greater than zero"
        );
        let err = Config::parse("[http]\nheader_timeout = \"soon\"\n", "t.toml").unwrap_err();
        assert!(err.to_string().starts_with("t.toml: line 2:"), "{err}");
        // Korean text before the error, and a Korean value the grammar refuses.
        let err = Config::parse("# 감사 설정\n[log]\nformat = \"감사\"\n", "t.toml").unwrap_err();
        assert!(err.to_string().contains("log.format"), "{err}");
        let err = Config::parse("# 감사\n[grpc]\nlisten = 가\n", "t.toml").unwrap_err();
        assert!(err.to_string().starts_with("t.toml: line 3:"), "{err}");
    }

    #[test]
    fn example_configs_parse_and_show_the_defaults() {
        let example = include_str!("../../deploy/collector.example.toml");
        let parsed = Config::parse(example, "collector.example.toml").unwrap();
        assert_eq!(format!("{parsed:?}"), format!("{:?}", Config::default()));
        let k8s = include_str!("../../deploy/kubernetes/overlays/single/collector.toml");
        let parsed = Config::parse(k8s, "single/collector.toml").unwrap();
        assert_eq!(parsed.grpc.listen.port(), 7443);
        assert_eq!(
            parsed.store_location(),
            Location::Sqlite("/var/lib/gamsa/db/gamsa.db".into())
        );
        let ha = include_str!("../../deploy/kubernetes/overlays/ha/collector.toml.example");
        let parsed = Config::parse(ha, "ha/collector.toml.example").unwrap();
        assert!(matches!(parsed.store_location(), Location::Postgres(_)));
    }

    #[test]
    fn expectations_name_rules_hosts_and_a_justification() {
        let c = Config::parse(
            "[[expectations]]\nof = \"backup\"\nhosts = [\"role=db\"]\njustification = \"web hosts keep no data\"\n\n[[expectations]]\nof = \"router\"\nnone = true\njustification = \"the VPC router\"\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(c.expectations.len(), 2);
        assert_eq!(c.expectations[0].hosts, ["role=db"]);
        assert!(c.expectations[1].none);
        let err = Config::parse(
            "[[expectations]]\nof = \"bakup\"\nnone = true\njustification = \"x\"\n",
            "t.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("t.toml: expectations[0].of: no rule expects \"bakup\""),
            "{err}"
        );
        let err = Config::parse(
            "[[expectations]]\nof = \"tls\"\nhosts = [\"web\"]\njustification = \"x\"\n",
            "t.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("expectations[0].hosts: \"web\" is not a selector"),
            "{err}"
        );
        let err = Config::parse(
            "[[expectations]]\nof = \"tls\"\nhosts = [\"role=web\"]\n",
            "t.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("t.toml: line 1:") && err.contains("justification"),
            "{err}"
        );
    }

    #[test]
    fn writing_ahead_of_the_first_snapshot_is_never_or_at_most_once_a_minute() {
        let parse =
            |v: &str| Config::parse(&format!("[snapshots]\nwrite_ahead = \"{v}\"\n"), "t.toml");
        assert!(parse("0s").unwrap().snapshots.write_ahead.is_zero());
        assert_eq!(parse("2m").unwrap().snapshots.write_ahead.as_secs(), 120);
        let err = parse("10s").unwrap_err().to_string();
        assert!(err.contains("snapshots.write_ahead"), "{err}");
    }

    #[test]
    fn store_urls_select_the_backend_and_errors_hide_the_password() {
        let c = Config::parse("data_dir = \"/d\"\n", "t.toml").unwrap();
        assert_eq!(c.store_location(), Location::Sqlite("/d/gamsa.db".into()));
        let c = Config::parse("[store]\nurl = \"sqlite:///x/y.db\"\n", "t.toml").unwrap();
        assert_eq!(c.store_location(), Location::Sqlite("/x/y.db".into()));
        let url = "postgres://gamsa:s3cret@db.internal:5432/gamsa?sslmode=verify-full";
        let c = Config::parse(&format!("[store]\nurl = \"{url}\"\n"), "t.toml").unwrap();
        assert_eq!(c.store_location(), Location::Postgres(url.into()));

        let err = Config::parse("[store]\nurl = \"mysql://root:pw@h/db\"\n", "t.toml")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("t.toml: store.url \"mysql://…\""), "{err}");
        assert!(!err.contains("pw"), "{err}");
        let bad = "postgres://gamsa:s3cret@db:5432/gamsa?sslmode=sometimes";
        let err = Config::parse(&format!("[store]\nurl = \"{bad}\"\n"), "t.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("postgres://gamsa@db:5432/gamsa"), "{err}");
        assert!(err.contains("\"sometimes\""), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
    }
}

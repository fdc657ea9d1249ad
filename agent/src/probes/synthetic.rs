//! `synthetic`: synthetic checks of services (HTTP(S) status, body and
//! certificate; TCP connect; DNS answer), as this agent sees them.
//!
//! Availability is measured from outside a service: the collector counts a
//! service down where a quorum of the agents checking it fail (seed 002
//! 2.1, seed 003 CMR-002). One evidence per run would store 2,880 rows a day
//! per check for a state that rarely changes, so the probe keeps each
//! check's state and reports only what an outage timeline needs: a change
//! of state when it happens (with the time of the first run in the new
//! state and the error), and per summary period the runs, failures and
//! latency percentiles.
//!
//! It fits the scheduler as any probe: its interval is the shortest check
//! interval (the tick), each run runs the checks that are due, concurrently,
//! each bounded by its own timeout, and returns the evidence of that tick
//! (usually none). A failing run is observed evidence of a down service,
//! not error evidence: the probe did observe; what it could not reach is
//! the service.

use super::{Probe, ProbeContext, Section};
use crate::evidence::now;
use gamsa_proto::v1::{evidence::Payload, synthetic_check::Report, Evidence, SyntheticCheck};
use gamsa_proto::Timestamp;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Most checks one agent runs.
const MAX_CHECKS: usize = 1000;
/// Largest HTTP body read for `body_match`.
const BODY_LIMIT: usize = 1024 * 1024;
/// Latencies kept per check and period for the percentiles.
const MAX_SAMPLES: usize = 10_000;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    /// How often each check's runs are summarised.
    #[serde(with = "humantime_serde")]
    pub summary_interval: Duration,
    pub checks: Vec<Check>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: true,
            summary_interval: Duration::from_secs(3600),
            checks: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Http,
    Tcp,
    Dns,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Tcp => "tcp",
            Self::Dns => "dns",
        }
    }
}

/// One `[[probes.synthetic.checks]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    pub name: String,
    /// The service it checks (the same service from several agents is
    /// counted together by the collector); default: `name`.
    #[serde(default)]
    pub service: String,
    pub kind: Kind,
    /// http: a URL; tcp: host:port; dns: a name.
    pub target: String,
    /// http: the status expected (default: any 2xx or 3xx).
    #[serde(default)]
    pub expect_status: Option<u16>,
    /// http: text the body must contain.
    #[serde(default)]
    pub body_match: String,
    /// dns: an address the answer must contain.
    #[serde(default)]
    pub expect_address: String,
    #[serde(default = "default_interval", with = "humantime_serde")]
    pub interval: Duration,
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

fn default_interval() -> Duration {
    Duration::from_secs(30)
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

impl Section for Config {
    /// Without checks there is nothing to run.
    fn enabled(&self) -> bool {
        self.enabled && !self.checks.is_empty()
    }

    fn validate(&self) -> Result<(), String> {
        if self.checks.len() > MAX_CHECKS {
            return Err(format!("checks: at most {MAX_CHECKS}"));
        }
        if self.summary_interval < Duration::from_secs(1) {
            return Err("summary_interval: at least 1s".into());
        }
        let mut names = BTreeSet::new();
        for c in &self.checks {
            if c.name.is_empty() {
                return Err("checks: every check needs a name".into());
            }
            let at = format!("checks {:?}", c.name);
            if !names.insert(&c.name) {
                return Err(format!("{at}: the name is used twice"));
            }
            if c.interval < Duration::from_secs(1) {
                return Err(format!("{at}: interval: at least 1s"));
            }
            if c.timeout.is_zero() || c.timeout > c.interval {
                return Err(format!(
                    "{at}: timeout: more than 0 and at most the interval"
                ));
            }
            let target_ok = match c.kind {
                Kind::Http => reqwest::Url::parse(&c.target)
                    .is_ok_and(|u| matches!(u.scheme(), "http" | "https")),
                Kind::Tcp => c
                    .target
                    .rsplit_once(':')
                    .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p != 0)),
                Kind::Dns => !c.target.is_empty() && !c.target.contains(['/', ':', ' ']),
            };
            if !target_ok {
                let want = match c.kind {
                    Kind::Http => "an http:// or https:// URL",
                    Kind::Tcp => "host:port",
                    Kind::Dns => "a host name",
                };
                return Err(format!(
                    "{at}: target {:?} is not {want} (kind {})",
                    c.target,
                    c.kind.as_str()
                ));
            }
            if c.kind != Kind::Http && (c.expect_status.is_some() || !c.body_match.is_empty()) {
                return Err(format!(
                    "{at}: expect_status and body_match are for kind http"
                ));
            }
            if c.kind != Kind::Dns && !c.expect_address.is_empty() {
                return Err(format!("{at}: expect_address is for kind dns"));
            }
        }
        Ok(())
    }

    fn build(&self, _: &crate::config::Config) -> Arc<dyn Probe> {
        Arc::new(SyntheticProbe::new(self.clone()))
    }
}

/// What one run found.
struct Outcome {
    result: Result<(), String>,
    latency: Duration,
    http_status: u32,
    not_after: Option<Timestamp>,
}

/// A check's state between runs.
#[derive(Default)]
struct State {
    next_run: Option<Instant>,
    up: Option<bool>,
    changed_at: Option<Timestamp>,
    error: String,
    runs: u64,
    failures: u64,
    latencies_ms: Vec<u64>,
    http_status: u32,
    not_after: Option<Timestamp>,
}

pub struct SyntheticProbe {
    config: Config,
    client: reqwest::Client,
    tick: Duration,
    states: Mutex<Vec<State>>,
    period: Mutex<(Instant, Timestamp)>,
}

impl SyntheticProbe {
    pub fn new(config: Config) -> Self {
        // A new connection for every run: a check asks whether a new client
        // can connect now, not whether an old connection still works.
        let client = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(0)
            .redirect(reqwest::redirect::Policy::none())
            .tls_info(true)
            .build()
            .unwrap_or_default();
        let tick = config
            .checks
            .iter()
            .map(|c| c.interval)
            .min()
            .unwrap_or(Duration::from_secs(30));
        let states = config.checks.iter().map(|_| State::default()).collect();
        Self {
            config,
            client,
            tick,
            states: Mutex::new(states),
            period: Mutex::new((Instant::now(), now())),
        }
    }

    async fn check(&self, c: &Check) -> Outcome {
        let start = Instant::now();
        let mut out = Outcome {
            result: Ok(()),
            latency: Duration::ZERO,
            http_status: 0,
            not_after: None,
        };
        let result = match tokio::time::timeout(c.timeout, self.attempt(c, &mut out)).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "no answer within {}",
                humantime::format_duration(c.timeout)
            )),
        };
        out.result = result;
        out.latency = start.elapsed();
        out
    }

    async fn attempt(&self, c: &Check, out: &mut Outcome) -> Result<(), String> {
        match c.kind {
            Kind::Tcp => tokio::net::TcpStream::connect(&c.target)
                .await
                .map(drop)
                .map_err(|e| format!("connect {}: {e}", c.target)),
            Kind::Dns => {
                let answers: Vec<std::net::SocketAddr> =
                    tokio::net::lookup_host((c.target.as_str(), 0))
                        .await
                        .map_err(|e| format!("resolve {}: {e}", c.target))?
                        .take(64)
                        .collect();
                if answers.is_empty() {
                    return Err(format!("resolve {}: no address", c.target));
                }
                if !c.expect_address.is_empty()
                    && !answers
                        .iter()
                        .any(|a| a.ip().to_string() == c.expect_address)
                {
                    return Err(format!(
                        "resolve {}: {} not among the answers",
                        c.target, c.expect_address
                    ));
                }
                Ok(())
            }
            Kind::Http => {
                let mut resp = self
                    .client
                    .get(&c.target)
                    .send()
                    .await
                    .map_err(|e| format!("GET {}: {}", c.target, chain(&e)))?;
                let status = resp.status();
                out.http_status = u32::from(status.as_u16());
                if let Some(der) = resp
                    .extensions()
                    .get::<reqwest::tls::TlsInfo>()
                    .and_then(|t| t.peer_certificate())
                {
                    out.not_after =
                        x509_parser::parse_x509_certificate(der)
                            .ok()
                            .map(|(_, cert)| Timestamp {
                                seconds: cert.validity().not_after.timestamp(),
                                nanos: 0,
                            });
                }
                let status_ok = match c.expect_status {
                    Some(want) => status.as_u16() == want,
                    None => status.is_success() || status.is_redirection(),
                };
                if !status_ok {
                    return Err(format!("GET {}: HTTP {}", c.target, status.as_u16()));
                }
                if c.body_match.is_empty() {
                    return Ok(());
                }
                let mut body = Vec::new();
                while let Some(chunk) = resp
                    .chunk()
                    .await
                    .map_err(|e| format!("GET {}: {}", c.target, chain(&e)))?
                {
                    body.extend_from_slice(&chunk);
                    if body.len() > BODY_LIMIT {
                        break;
                    }
                }
                if String::from_utf8_lossy(&body).contains(&c.body_match) {
                    Ok(())
                } else {
                    Err(format!(
                        "GET {}: the body (first {} bytes) does not contain {:?}",
                        c.target,
                        BODY_LIMIT.min(body.len()),
                        c.body_match
                    ))
                }
            }
        }
    }

    fn payload(&self, c: &Check, s: &State, report: Report) -> SyntheticCheck {
        SyntheticCheck {
            name: c.name.clone(),
            service: if c.service.is_empty() {
                c.name.clone()
            } else {
                c.service.clone()
            },
            kind: c.kind.as_str().into(),
            target: c.target.clone(),
            report: report as i32,
            up: s.up.unwrap_or(false),
            changed_at: s.changed_at,
            error: s.error.clone(),
            http_status: s.http_status,
            certificate_not_after: s.not_after,
            interval_seconds: c.interval.as_secs(),
            ..Default::default()
        }
    }
}

/// An error with its causes: reqwest's own message rarely says what failed.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// The `q` quantile (0..=1) of `sorted`, nearest rank; 0 when empty.
fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[async_trait::async_trait]
impl Probe for SyntheticProbe {
    fn name(&self) -> &'static str {
        "synthetic"
    }

    fn interval(&self) -> Duration {
        self.tick
    }

    fn timeout(&self) -> Duration {
        let longest = self.config.checks.iter().map(|c| c.timeout).max();
        longest.unwrap_or_default() + Duration::from_secs(5)
    }

    async fn run(&self, ctx: &ProbeContext) -> Vec<Evidence> {
        let started = Instant::now();
        let due: Vec<usize> = {
            let states = self.states.lock().unwrap_or_else(|e| e.into_inner());
            (0..self.config.checks.len())
                .filter(|&i| states[i].next_run.is_none_or(|t| t <= started))
                .collect()
        };
        let runs = due.iter().map(|&i| async move {
            let c = &self.config.checks[i];
            (i, now(), self.check(c).await)
        });
        let outcomes = futures::future::join_all(runs).await;
        let mut out = Vec::new();
        let mut states = self.states.lock().unwrap_or_else(|e| e.into_inner());
        for (i, at, o) in outcomes {
            let c = &self.config.checks[i];
            let s = &mut states[i];
            // The next run a tick's jitter early still counts as due.
            s.next_run = Some(started + c.interval.mul_f64(0.9));
            let up = o.result.is_ok();
            s.runs += 1;
            s.http_status = o.http_status;
            if o.not_after.is_some() {
                s.not_after = o.not_after;
            }
            match &o.result {
                Ok(()) => {
                    if s.latencies_ms.len() < MAX_SAMPLES {
                        s.latencies_ms.push(o.latency.as_millis() as u64);
                    }
                    s.error.clear();
                }
                Err(e) => {
                    s.failures += 1;
                    s.error = e.clone();
                }
            }
            if s.up != Some(up) {
                s.up = Some(up);
                s.changed_at = Some(at);
                let p = self.payload(c, s, Report::Change);
                out.push(ctx.observed("synthetic", &c.name, Payload::SyntheticCheck(p)));
            }
        }
        let mut period = self.period.lock().unwrap_or_else(|e| e.into_inner());
        if period.0.elapsed() >= self.config.summary_interval {
            for (c, s) in self.config.checks.iter().zip(states.iter_mut()) {
                if s.runs == 0 {
                    continue;
                }
                s.latencies_ms.sort_unstable();
                let mut p = self.payload(c, s, Report::Summary);
                p.period_start = Some(period.1);
                p.checks_run = s.runs;
                p.failures = s.failures;
                p.latency_p50_ms = quantile(&s.latencies_ms, 0.5);
                p.latency_p95_ms = quantile(&s.latencies_ms, 0.95);
                out.push(ctx.observed("synthetic", &c.name, Payload::SyntheticCheck(p)));
                (s.runs, s.failures) = (0, 0);
                s.latencies_ms.clear();
            }
            *period = (Instant::now(), now());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml: &str) -> Result<Config, String> {
        let c: Config = toml::from_str(toml).map_err(|e| e.to_string())?;
        c.validate().map(|()| c)
    }

    #[test]
    fn checks_are_validated_with_their_name() {
        let ok = parse(
            r#"[[checks]]
               name = "web"
               kind = "http"
               target = "https://example.org/health"
               body_match = "ok""#,
        )
        .unwrap();
        assert_eq!(ok.checks[0].interval, Duration::from_secs(30));
        for (toml, want) in [
            (
                "[[checks]]\nname = \"a\"\nkind = \"tcp\"\ntarget = \"nohost\"",
                "checks \"a\": target \"nohost\" is not host:port",
            ),
            (
                "[[checks]]\nname = \"a\"\nkind = \"http\"\ntarget = \"ftp://x\"",
                "not an http:// or https:// URL",
            ),
            (
                "[[checks]]\nname = \"a\"\nkind = \"tcp\"\ntarget = \"h:1\"\ninterval = \"5s\"\ntimeout = \"6s\"",
                "timeout: more than 0 and at most the interval",
            ),
            (
                "[[checks]]\nname = \"a\"\nkind = \"dns\"\ntarget = \"h\"\nbody_match = \"x\"",
                "expect_status and body_match are for kind http",
            ),
            (
                "[[checks]]\nname = \"a\"\nkind = \"dns\"\ntarget = \"h\"\n[[checks]]\nname = \"a\"\nkind = \"dns\"\ntarget = \"h\"",
                "the name is used twice",
            ),
        ] {
            let err = parse(toml).unwrap_err();
            assert!(err.contains(want), "{err} should say {want}");
        }
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile(&v, 0.5), 50);
        assert_eq!(quantile(&v, 0.95), 95);
        assert_eq!(quantile(&[7], 0.95), 7);
        assert_eq!(quantile(&[], 0.5), 0);
    }
}

//! `tls`: what each TLS endpoint accepts and presents: protocol versions,
//! weak cipher suites, and its certificate chain with trust and name facts.
//! One evidence per endpoint, subject "host:port".
//!
//! Endpoints are the configured `targets` plus, with `discover_local`, every
//! local TCP listener (read from `/proc/net/tcp{,6}` as the `ports` probe
//! does). A discovered listener that does not answer a ClientHello in TLS is
//! skipped without evidence; one on port 5432 is asked PostgreSQL's
//! SSLRequest first and one on 25 or 587 SMTP STARTTLS, because databases
//! and mail relays are where an encrypted channel is most often missing.
//! Discovered listeners are named by the host's name (SNI and name checks).
//! The agent's own collector (`collector.endpoints`, when it runs on this
//! host) is not discovered: probing it is not a finding about the host, and
//! every legacy ClientHello is a refused handshake in the collector's log.
//! List it in `targets` to probe it on purpose.
//!
//! Versions: SSL 3.0, TLS 1.0, 1.1, 1.2 and 1.3 are each tested on their own
//! connection with a hand-built ClientHello offering every suite of the IANA
//! registry (`legacy`), as sslyze and testssl.sh do; rustls could only ask
//! about TLS 1.2/1.3 with modern suites.
//!
//! Cipher suites: per accepted version, the probe offers the weak suites,
//! removes the one the server picks and asks again until it refuses, then
//! does the same with the rest (sslyze's method, at one connection per
//! accepted suite plus one per group). Weak, by IANA name (`suites::weakness`):
//! NULL encryption, EXPORT, anonymous DH/ECDH, RC4, RC2, DES, 3DES, IDEA,
//! MD5 MACs, and CBC with SHA-1 MACs at SSL 3.0–TLS 1.1.
//!
//! Certificates: a rustls handshake records the chain the server sends
//! without trusting it; servers rustls cannot talk to (TLS ≤ 1.1 only) give
//! theirs in the legacy handshake's Certificate message. The chain is then
//! verified with rustls's WebPKI verifier against `ca_bundle` or the system
//! roots (`cert`).
//!
//! Bounds: every connection has `timeout`, every endpoint `target_timeout`
//! and at most `max_connections` connections; `concurrency` endpoints run
//! at once, and the run ends inside the scheduler's limit for it.

pub mod cert;
mod handshake;
pub mod legacy;
mod starttls;
pub mod suites;

pub use starttls::Starttls;

use super::{Probe, ProbeContext, Section};
use futures::StreamExt;
use gamsa_proto::v1::{evidence::Payload, Evidence, TlsEndpoint, TlsVersion};
use handshake::{Attempt, Endpoint};
use legacy::{ServerHello, SSL3, TLS10, TLS11, TLS12, TLS13};
use rustls::pki_types::{CertificateDer, ServerName};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Also probe every local TCP listener that answers in TLS.
    pub discover_local: bool,
    pub targets: Vec<TlsTarget>,
    /// Per connection: connect, STARTTLS and handshake together.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Per endpoint, all its connections together.
    #[serde(with = "humantime_serde")]
    pub target_timeout: Duration,
    /// Endpoints probed at once.
    pub concurrency: usize,
    /// Most connections opened to one endpoint in one run.
    pub max_connections: usize,
    /// PEM file of trust anchors; empty: the system's.
    pub ca_bundle: PathBuf,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsTarget {
    /// "host:port" or "[v6]:port".
    pub address: String,
    /// Name sent as SNI and checked against the certificate; empty: the host.
    #[serde(default)]
    pub sni: String,
    #[serde(default)]
    pub starttls: Starttls,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Duration::from_secs(3600),
            discover_local: true,
            targets: Vec::new(),
            timeout: Duration::from_secs(5),
            target_timeout: Duration::from_secs(60),
            concurrency: 8,
            max_connections: 200,
            ca_bundle: PathBuf::new(),
        }
    }
}

impl Section for Config {
    fn enabled(&self) -> bool {
        self.enabled
    }

    /// Checks what serde cannot: addresses, names and limits.
    fn validate(&self) -> Result<(), String> {
        if self.concurrency == 0 {
            return Err("concurrency: must be at least 1".into());
        }
        if self.max_connections < 6 {
            return Err(
                "max_connections: must be at least 6 (one per version and one for the certificate)"
                    .into(),
            );
        }
        for t in &self.targets {
            split_address(&t.address).map_err(|e| format!("targets: {e}"))?;
            if !t.sni.is_empty() && ServerName::try_from(t.sni.as_str()).is_err() {
                return Err(format!(
                    "targets: sni {:?} is not a DNS name or IP address",
                    t.sni
                ));
            }
        }
        Ok(())
    }

    fn build(&self, agent: &crate::config::Config) -> Arc<dyn Probe> {
        Arc::new(TlsProbe::new(self.clone()).excluding(&agent.collector.endpoints))
    }
}

/// "host:port" → (host, port); IPv6 hosts in brackets.
fn split_address(address: &str) -> Result<(String, u16), String> {
    let bad = || format!("address {address:?}: expected \"host:port\" or \"[v6]:port\"");
    let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
    let host = match host.strip_prefix('[') {
        Some(h) => h.strip_suffix(']').ok_or_else(bad)?,
        None if host.contains(':') => return Err(bad()),
        None => host,
    };
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() || port == 0 {
        return Err(bad());
    }
    Ok((host.to_string(), port))
}

pub struct TlsProbe {
    config: Config,
    /// The collector's endpoints ("https://host:port"), left out of discovery.
    collector: Vec<String>,
}

impl TlsProbe {
    pub fn new(config: Config) -> Self {
        Self {
            config,
            collector: Vec::new(),
        }
    }

    /// Leaves these collector endpoints out of local-listener discovery.
    pub fn excluding(mut self, collector_endpoints: &[String]) -> Self {
        self.collector = collector_endpoints.to_vec();
        self
    }
}

/// "https://host:port/…" → (host, port); 443 when the port is left out.
fn endpoint_address(url: &str) -> Option<(String, u16)> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next()?;
    split_address(authority).ok().or_else(|| {
        let host = authority.trim_start_matches('[').trim_end_matches(']');
        (!host.is_empty() && !authority.ends_with(':')).then(|| (host.to_string(), 443))
    })
}

/// Whether `ip` is one of this host's addresses: only those can be bound.
fn is_local(ip: IpAddr) -> bool {
    ip.is_loopback() || std::net::TcpListener::bind((ip, 0)).is_ok()
}

/// The collector endpoints that are on this host, resolved.
async fn local_collector(endpoints: &[String], timeout: Duration) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    for (host, port) in endpoints.iter().filter_map(|e| endpoint_address(e)) {
        let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => {
                match tokio::time::timeout(timeout, tokio::net::lookup_host((host.as_str(), port)))
                    .await
                {
                    Ok(Ok(a)) => a.collect(),
                    _ => Vec::new(),
                }
            }
        };
        out.extend(addrs.into_iter().filter(|a| is_local(a.ip())));
    }
    out
}

/// Whether a discovered listener is the collector at one of `own`: the same
/// port, on the endpoint's address or on loopback (where wildcard binds are
/// reached).
fn is_collector(own: &[SocketAddr], discovered: &Target) -> bool {
    own.iter().any(|a| {
        a.port() == discovered.port
            && (discovered.host == a.ip().to_string() || is_loopback(&discovered.host))
    })
}

/// One endpoint to probe.
#[derive(Debug, Clone, PartialEq)]
struct Target {
    host: String,
    port: u16,
    /// Configured SNI, or empty.
    sni: String,
    starttls: Starttls,
    /// Found among local listeners rather than configured: skipped quietly
    /// when it does not speak TLS.
    discovered: bool,
}

impl Target {
    fn subject(&self) -> String {
        match self.host.parse::<IpAddr>() {
            Ok(IpAddr::V6(_)) => format!("[{}]:{}", self.host, self.port),
            _ => format!("{}:{}", self.host, self.port),
        }
    }
}

/// Local TCP listeners worth a ClientHello: wildcard binds are reached over
/// loopback, and a port bound on both IPv4 and IPv6 is probed once.
fn discover(ctx: &ProbeContext, host_name: &str) -> Result<Vec<Target>, String> {
    let raw = super::ports::read_listeners(ctx, &["tcp", "tcp6"])?;
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for s in raw {
        let addr = match s.address {
            IpAddr::V4(a) if a.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(a) if a.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            IpAddr::V6(a) => a.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(a)),
            a => a,
        };
        // 127.0.0.1 and ::1 reach the same wildcard service.
        let key = if addr.is_loopback() { None } else { Some(addr) };
        if !seen.insert((key, s.port)) {
            continue;
        }
        out.push(Target {
            host: addr.to_string(),
            port: s.port,
            sni: host_name.to_string(),
            starttls: match s.port {
                5432 => Starttls::Postgres,
                25 | 587 => Starttls::Smtp,
                _ => Starttls::None,
            },
            discovered: true,
        });
    }
    // Stable: IPv4 (read first) stays ahead of IPv6 on the same port.
    out.sort_by_key(|t| t.port);
    Ok(out)
}

fn is_loopback(host: &str) -> bool {
    host.parse::<IpAddr>().is_ok_and(|a| a.is_loopback())
}

pub(crate) fn version_label(v: u16) -> String {
    match v {
        SSL3 => "SSL 3.0".into(),
        TLS10 => "TLS 1.0".into(),
        TLS11 => "TLS 1.1".into(),
        TLS12 => "TLS 1.2".into(),
        TLS13 => "TLS 1.3".into(),
        other => format!("version 0x{other:04X}"),
    }
}

fn proto_version(v: u16) -> TlsVersion {
    match v {
        SSL3 => TlsVersion::Ssl3,
        TLS10 => TlsVersion::Tls10,
        TLS11 => TlsVersion::Tls11,
        TLS12 => TlsVersion::Tls12,
        TLS13 => TlsVersion::Tls13,
        _ => TlsVersion::Unspecified,
    }
}

/// What probing one target came to.
enum Outcome {
    Observed(Box<TlsEndpoint>),
    Error(String),
    /// A discovered listener that does not speak TLS.
    Skipped(String),
}

impl TlsProbe {
    async fn probe_target(&self, target: &Target, roots: &Result<cert::Roots, String>) -> Outcome {
        let addr = match resolve(target, self.config.timeout).await {
            Ok(a) => a,
            Err(e) => return Outcome::Error(e),
        };
        let name_text = if target.sni.is_empty() {
            &target.host
        } else {
            &target.sni
        };
        let name = ServerName::try_from(name_text.as_str())
            .map(|n| n.to_owned())
            .unwrap_or_else(|_| ServerName::IpAddress(addr.ip().into()));
        let ep = Endpoint {
            addr,
            name,
            starttls: target.starttls,
            timeout: self.config.timeout,
            budget: AtomicUsize::new(self.config.max_connections),
        };
        let scan = scan(target, &ep, roots);
        match tokio::time::timeout(self.config.target_timeout, scan).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome::Error(format!(
                "did not finish within target_timeout {:?}",
                self.config.target_timeout
            )),
        }
    }
}

async fn resolve(target: &Target, timeout: Duration) -> Result<SocketAddr, String> {
    if let Ok(ip) = target.host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, target.port));
    }
    let lookup = tokio::net::lookup_host((target.host.as_str(), target.port));
    match tokio::time::timeout(timeout, lookup).await {
        Ok(Ok(mut addrs)) => addrs
            .next()
            .ok_or_else(|| format!("{}: resolves to no address", target.host)),
        Ok(Err(e)) => Err(format!("{}: {e}", target.host)),
        Err(_) => Err(format!(
            "{}: name lookup took longer than {timeout:?}",
            target.host
        )),
    }
}

/// The evidence payload before any TLS facts.
fn endpoint_base(target: &Target, ep: &Endpoint) -> TlsEndpoint {
    TlsEndpoint {
        host: target.host.clone(),
        port: u32::from(target.port),
        sni: match &ep.name {
            ServerName::DnsName(d) => d.as_ref().to_string(),
            _ => String::new(),
        },
        starttls: target.starttls.as_str().to_string(),
        ..Default::default()
    }
}

async fn scan(target: &Target, ep: &Endpoint, roots: &Result<cert::Roots, String>) -> Outcome {
    let mut out = endpoint_base(target, ep);
    // TLS 1.2 first: the most common version tells whether TLS is spoken at
    // all before more connections are spent.
    let sniff = ep.hello(TLS12, suites::for_version(TLS12), true).await;
    match &sniff {
        Attempt::Declined(why) => {
            out.cipher_suites_complete = true;
            out.notices.push(why.clone());
            return Outcome::Observed(Box::new(out));
        }
        Attempt::NotTls | Attempt::Closed | Attempt::Failed(_) | Attempt::Unreachable(_)
            if target.discovered =>
        {
            return Outcome::Skipped(describe(&sniff))
        }
        Attempt::NotTls => {
            return Outcome::Error(
                "does not speak TLS: the answer to a ClientHello is not a TLS record".into(),
            )
        }
        Attempt::Unreachable(why) => return Outcome::Error(why.clone()),
        _ => {}
    }
    // The certificate handshake goes with the versions, before suite
    // enumeration can spend the connection budget.
    let (ssl3, tls10, tls11, tls13, chain) = tokio::join!(
        ep.hello(SSL3, suites::for_version(SSL3), true),
        ep.hello(TLS10, suites::for_version(TLS10), true),
        ep.hello(TLS11, suites::for_version(TLS11), true),
        ep.hello(TLS13, suites::for_version(TLS13), false),
        ep.rustls_chain(),
    );
    let attempts = [
        (SSL3, ssl3),
        (TLS10, tls10),
        (TLS11, tls11),
        (TLS12, sniff),
        (TLS13, tls13),
    ];
    let accepted: Vec<_> = attempts
        .iter()
        .filter_map(|(v, a)| match a {
            Attempt::Accepted(h) => Some((*v, h)),
            _ => None,
        })
        .collect();
    if accepted.is_empty() {
        let why: Vec<String> = attempts
            .iter()
            .map(|(v, a)| format!("{}: {}", version_label(*v), describe(a)))
            .collect();
        return Outcome::Error(format!(
            "no TLS version could be negotiated ({})",
            why.join("; ")
        ));
    }
    // An undecided version is no verdict: say so rather than imply "refused".
    for (v, a) in &attempts {
        if let Attempt::Failed(why) = a {
            out.notices
                .push(format!("{} could not be tested: {why}", version_label(*v)));
        }
    }
    let enumerated =
        futures::future::join_all(accepted.iter().map(|(v, h)| enumerate(ep, *v, h.suite))).await;

    out.tls_offered = true;
    out.accepted_versions = accepted
        .iter()
        .map(|(v, _)| proto_version(*v) as i32)
        .collect();
    record_suites(&mut out, &accepted, &enumerated);
    record_certificates(&mut out, chain, &accepted, &ep.name, roots);
    Outcome::Observed(Box::new(out))
}

/// Accepted and weak suites (by IANA name), and whether the list is whole.
fn record_suites(
    out: &mut TlsEndpoint,
    accepted: &[(u16, &ServerHello)],
    enumerated: &[(Vec<u16>, Option<String>)],
) {
    let mut all = BTreeSet::new();
    let mut weak = BTreeSet::new();
    out.cipher_suites_complete = true;
    for ((v, _), (found, stopped)) in accepted.iter().zip(enumerated) {
        if let Some(why) = stopped {
            out.cipher_suites_complete = false;
            out.notices.push(format!(
                "{} cipher suites incomplete: {why}",
                version_label(*v)
            ));
        }
        for code in found {
            let name = suites::name(*code);
            if suites::weakness(&name, *v).is_some() {
                weak.insert(name.clone());
            }
            all.insert(name);
        }
    }
    out.accepted_cipher_suites = all.into_iter().collect();
    out.weak_cipher_suites = weak.into_iter().collect();
}

/// The chain's facts and trust: the rustls-recorded chain, else the one the
/// newest legacy handshake carried.
fn record_certificates(
    out: &mut TlsEndpoint,
    chain: Result<Vec<CertificateDer<'static>>, String>,
    accepted: &[(u16, &ServerHello)],
    name: &ServerName<'static>,
    roots: &Result<cert::Roots, String>,
) {
    let chain = chain.unwrap_or_else(|why| {
        let legacy = accepted
            .iter()
            .rev()
            .find(|(v, h)| *v <= TLS12 && !h.certificates.is_empty());
        match legacy {
            Some((v, h)) => {
                out.notices.push(format!(
                    "certificate chain from the {} handshake ({why})",
                    version_label(*v)
                ));
                h.certificates.iter().map(|c| c.clone().into()).collect()
            }
            None => {
                out.notices
                    .push(format!("no certificate chain observed: {why}"));
                Vec::new()
            }
        }
    });
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    for (i, der) in chain.iter().enumerate() {
        match cert::facts(der, now) {
            Ok(c) => out.chain.push(c),
            Err(e) => out
                .notices
                .push(format!("certificate {i} in the chain: {e}")),
        }
    }
    out.leaf = out.chain.first().cloned();
    let trust = cert::assess(&chain, name, roots);
    out.chain_trusted = trust.chain_trusted;
    out.hostname_matches = trust.hostname_matches;
    out.chain_error = trust.chain_error;
}

fn describe(a: &Attempt) -> String {
    match a {
        Attempt::Accepted(h) => format!("accepted {}", suites::name(h.suite)),
        Attempt::Refused(why) => format!("refused: {why}"),
        Attempt::Closed => "connection closed without an answer".into(),
        Attempt::NotTls => "not a TLS answer".into(),
        Attempt::Declined(why) | Attempt::Failed(why) | Attempt::Unreachable(why) => why.clone(),
    }
}

/// Every suite `version` accepts: weak ones first, then the rest, each time
/// offering what is left until the server refuses. Returns the suites and,
/// if the enumeration stopped early, why.
async fn enumerate(ep: &Endpoint, version: u16, first: u16) -> (Vec<u16>, Option<String>) {
    let mut found = vec![first];
    let (weak, strong) = suites::partition(suites::for_version(version), version);
    for group in [weak, strong] {
        loop {
            let offer: Vec<u16> = group
                .iter()
                .filter(|c| !found.contains(c))
                .copied()
                .collect();
            if offer.is_empty() {
                break;
            }
            match ep.hello(version, &offer, false).await {
                Attempt::Accepted(h) => found.push(h.suite),
                Attempt::Refused(_) | Attempt::Closed => break,
                other => return (found, Some(describe(&other))),
            }
        }
    }
    (found, None)
}

#[async_trait::async_trait]
impl Probe for TlsProbe {
    fn name(&self) -> &'static str {
        "tls"
    }

    fn interval(&self) -> Duration {
        self.config.interval
    }

    async fn run(&self, ctx: &ProbeContext) -> Vec<Evidence> {
        let mut evidence = Vec::new();
        let targets = self.targets(ctx, &mut evidence).await;
        let bundle = self.config.ca_bundle.clone();
        let roots = tokio::task::spawn_blocking(move || cert::load_roots(&bundle))
            .await
            .unwrap_or_else(|e| Err(format!("loading trust anchors: {e}")));
        let roots = &roots;
        // Finish inside the scheduler's limit, so that endpoints still queued
        // then become error evidence rather than take the others down too.
        let deadline = tokio::time::Instant::now() + crate::scheduler::timeout_for(self) * 9 / 10;
        let results: Vec<(Target, Outcome)> = futures::stream::iter(targets)
            .map(|t| async move {
                let outcome = tokio::time::timeout_at(deadline, self.probe_target(&t, roots))
                    .await
                    .unwrap_or_else(|_| {
                        Outcome::Error("not finished within this run's time limit".into())
                    });
                (t, outcome)
            })
            .buffer_unordered(self.config.concurrency)
            .collect()
            .await;
        for (t, outcome) in results {
            match outcome {
                Outcome::Observed(e) => {
                    evidence.push(ctx.observed("tls", &t.subject(), Payload::TlsEndpoint(*e)))
                }
                Outcome::Error(why) => evidence.push(ctx.error("tls", &t.subject(), why)),
                Outcome::Skipped(why) => {
                    tracing::debug!(target = %t.subject(), %why, "tls: skipping a local listener that does not speak TLS")
                }
            }
        }
        evidence.sort_by(|a, b| a.subject.cmp(&b.subject));
        evidence
    }
}

impl TlsProbe {
    /// The configured targets, then the local listeners none of them covers
    /// (the collector's own left out); errors go to `evidence`.
    async fn targets(&self, ctx: &ProbeContext, evidence: &mut Vec<Evidence>) -> Vec<Target> {
        let mut targets = Vec::new();
        for t in &self.config.targets {
            match split_address(&t.address) {
                Ok((host, port)) => targets.push(Target {
                    host,
                    port,
                    sni: t.sni.clone(),
                    starttls: t.starttls,
                    discovered: false,
                }),
                Err(e) => evidence.push(ctx.error("tls", &t.address, e)),
            }
        }
        if self.config.discover_local {
            let own = local_collector(&self.collector, self.config.timeout).await;
            let (c, host) = (ctx.clone(), ctx.host.clone());
            match tokio::task::spawn_blocking(move || discover(&c, &host)).await {
                Ok(Ok(found)) => targets.extend(
                    found
                        .into_iter()
                        .filter(|d| !targets_cover(&self.config.targets, d))
                        .filter(|d| !is_collector(&own, d)),
                ),
                Ok(Err(e)) => {
                    evidence.push(ctx.error("tls", &format!("{}:listeners", ctx.host), e))
                }
                Err(e) => evidence.push(ctx.error("tls", &format!("{}:listeners", ctx.host), e)),
            }
        }
        targets
    }
}

/// Whether a discovered listener is already a configured target.
fn targets_cover(configured: &[TlsTarget], discovered: &Target) -> bool {
    let local = |h: &str| h == "localhost" || is_loopback(h);
    configured.iter().any(|t| {
        split_address(&t.address).is_ok_and(|(h, p)| {
            p == discovered.port && (h == discovered.host || (local(&h) && local(&discovered.host)))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_config_are_checked() {
        assert_eq!(split_address("db:5432"), Ok(("db".into(), 5432)));
        assert_eq!(split_address("[::1]:443"), Ok(("::1".into(), 443)));
        for bad in [
            "db", "db:", ":443", "::1:443", "[::1:443", "db:0", "db:70000",
        ] {
            assert!(split_address(bad).is_err(), "{bad}");
        }
        let mut c = Config::default();
        c.targets.push(TlsTarget {
            address: "127.0.0.1:443".into(),
            sni: "bad name!".into(),
            starttls: Starttls::None,
        });
        assert!(c.validate().unwrap_err().contains("bad name!"));
        let err = crate::config::Config::parse(
            "[probes.tls]\ntargets = [{ address = \"db:5432\", starttls = \"imap\" }]\n",
            "a.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("imap"), "{err}");
    }

    #[test]
    fn discovers_local_listeners_once_each() {
        let root = tempfile::tempdir().unwrap();
        let net = root.path().join("proc/net");
        std::fs::create_dir_all(&net).unwrap();
        let header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
        let row = |i: u32, addr: &str, port: u16, st: &str| {
            format!(
                "{i}: {addr}:{port:04X} 00000000:0000 {st} 0:0 0:0 0 0 0 {} 1\n",
                100 + i
            )
        };
        // 0.0.0.0:443, 127.0.0.1:5432, 10.1.2.3:8443, a connected socket.
        let tcp = format!(
            "{header}{}{}{}{}",
            row(0, "00000000", 443, "0A"),
            row(1, "0100007F", 5432, "0A"),
            row(2, "0302010A", 8443, "0A"),
            row(3, "0100007F", 9999, "01"),
        );
        // [::]:443 (same service as 0.0.0.0:443) and [::1]:25.
        let tcp6 = format!(
            "{header}{}{}",
            row(4, "00000000000000000000000000000000", 443, "0A"),
            row(5, "00000000000000000000000001000000", 25, "0A"),
        );
        std::fs::write(net.join("tcp"), tcp).unwrap();
        std::fs::write(net.join("tcp6"), tcp6).unwrap();
        let ctx = ProbeContext {
            agent_id: "a".into(),
            host: "web-01".into(),
            host_root: root.path().to_path_buf(),
            labels: Default::default(),
            control: Default::default(),
        };
        let found = discover(&ctx, "web-01").unwrap();
        let got: Vec<(String, u16, Starttls)> = found
            .iter()
            .map(|t| (t.subject(), t.port, t.starttls))
            .collect();
        assert_eq!(
            got,
            vec![
                ("[::1]:25".into(), 25, Starttls::Smtp),
                ("127.0.0.1:443".into(), 443, Starttls::None),
                ("127.0.0.1:5432".into(), 5432, Starttls::Postgres),
                ("10.1.2.3:8443".into(), 8443, Starttls::None),
            ]
        );
        assert!(found.iter().all(|t| t.discovered && t.sni == "web-01"));
        let configured = [TlsTarget {
            address: "localhost:443".into(),
            sni: String::new(),
            starttls: Starttls::None,
        }];
        assert!(targets_cover(&configured, &found[1]));
        assert!(!targets_cover(&configured, &found[2]));
        // No /proc/net/tcp: an error naming the file, not an empty list.
        std::fs::remove_file(net.join("tcp")).unwrap();
        assert!(discover(&ctx, "web-01")
            .unwrap_err()
            .contains("proc/net/tcp"));
    }

    #[test]
    fn collector_endpoints_are_parsed() {
        assert_eq!(
            endpoint_address("https://127.0.0.1:7443"),
            Some(("127.0.0.1".into(), 7443))
        );
        assert_eq!(
            endpoint_address("https://[::1]:7443/"),
            Some(("::1".into(), 7443))
        );
        assert_eq!(
            endpoint_address("https://collector.example"),
            Some(("collector.example".into(), 443))
        );
        assert_eq!(endpoint_address("https://"), None);
    }

    #[tokio::test]
    async fn discovery_leaves_out_the_collector_unless_listed() {
        let collector = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (own, other) = (
            collector.local_addr().unwrap().port(),
            other.local_addr().unwrap().port(),
        );
        let ctx = ProbeContext {
            agent_id: "a".into(),
            host: "web-01".into(),
            host_root: "/".into(),
            labels: Default::default(),
            control: Default::default(),
        };
        let ports = |probe: TlsProbe| {
            let ctx = ctx.clone();
            async move {
                let mut errors = Vec::new();
                let found = probe.targets(&ctx, &mut errors).await;
                assert!(errors.is_empty(), "{errors:?}");
                found
                    .into_iter()
                    .map(|t| (t.port, t.discovered))
                    .collect::<Vec<_>>()
            }
        };
        for endpoint in [
            format!("https://127.0.0.1:{own}"),
            format!("https://localhost:{own}"),
        ] {
            let found = ports(TlsProbe::new(Config::default()).excluding(&[endpoint])).await;
            assert!(found.contains(&(other, true)), "{found:?}");
            assert!(!found.iter().any(|(p, _)| *p == own), "{found:?}");
        }
        // Without the exclusion, discovery finds it.
        let found = ports(TlsProbe::new(Config::default())).await;
        assert!(found.contains(&(own, true)), "{found:?}");
        // A collector elsewhere does not hide a local listener on its port.
        let remote = [format!("https://192.0.2.7:{own}")];
        let found = ports(TlsProbe::new(Config::default()).excluding(&remote)).await;
        assert!(found.contains(&(own, true)), "{found:?}");
        // Listed as a target, it is probed.
        let listed = Config {
            targets: vec![TlsTarget {
                address: format!("127.0.0.1:{own}"),
                sni: String::new(),
                starttls: Starttls::None,
            }],
            ..Config::default()
        };
        let found =
            ports(TlsProbe::new(listed).excluding(&[format!("https://127.0.0.1:{own}")])).await;
        assert_eq!(found.iter().filter(|(p, _)| *p == own).count(), 1);
        assert!(found.contains(&(own, false)), "{found:?}");
    }
}

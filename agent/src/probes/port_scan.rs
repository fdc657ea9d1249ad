//! `port_scan`: an active TCP connect scan (what `nmap -sT` does) of the
//! configured targets, one evidence per target address.
//!
//! Active probing is governed by the CSAP scan consent form (seed 000): only
//! systems agreed in advance ([`scope`] refuses everything else before
//! any connection), with the impact kept small (`max_rate`, `concurrency`,
//! `connect_timeout`, addresses interleaved so no host takes the full rate),
//! paused and resumed at the applicant's request (the collector's control
//! message), and documented: every scan appends two JSON lines to a local
//! scan log, one (synced) before the first connection with the targets,
//! ports and scanner addresses, one after with the window and counts. The
//! log is the consent record, so a scan whose start cannot be logged does
//! not run, and one cut short by a crash is still on record. The log keeps
//! counts, not open ports: results stay in the (confidential) evidence.
//!
//! `max_rate` paces what crosses a network. Loopback addresses are not
//! paced (only `concurrency` bounds them): the connections never leave the
//! machine, and pacing the default full-range scan of 127.0.0.1 at the
//! network rate made the first `scan --once` take over a minute. The scan
//! log records this (`loopbackUnpaced`).
//!
//! A port is open when the handshake completes, closed on RST (connection
//! refused), and filtered on timeout or an ICMP unreachable, as nmap counts
//! them. A connection that meets itself (loopback, local port equal to the
//! target port) proves nothing is listening and counts as closed.

pub mod scope;

use super::{Probe, ProbeContext, Section};
use gamsa_proto::v1::{evidence::Payload, AgentNotice, Evidence, PortScan};
use governor::{Quota, RateLimiter};
use scope::{Permitted, PortSet, Scope, ScopeError};
use serde::Deserialize;
use socket2::{Domain, Protocol, SockRef, Socket, Type};
use std::io::{ErrorKind, Write};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::io::Interest;

const NAME: &str = "port_scan";
/// Most concurrent connection attempts; each holds a file descriptor.
pub const MAX_CONCURRENCY: usize = 16_384;
/// How often a running scan looks at the pause flag.
const PAUSE_POLL: Duration = Duration::from_millis(50);
/// Attempts for a connect that fails locally (out of fds or ports).
const LOCAL_ATTEMPTS: u32 = 5;
/// Time kept free before the scheduler's cut-off, to write the log.
const BUDGET_MARGIN: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// IP addresses, CIDRs and host names to scan.
    pub targets: Vec<String>,
    /// CIDRs the scan may touch; anything else is refused. Widening it needs
    /// the written consent of the systems' owner.
    pub allow: Vec<String>,
    /// Ports: "22,80,443,8000-8100" or "1-65535".
    pub ports: String,
    /// Connection attempts started per second (token bucket) to addresses
    /// other than loopback; loopback is bounded by `concurrency` alone.
    pub max_rate: u32,
    /// Connection attempts in flight at once.
    pub concurrency: usize,
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// One JSON line per scan: the consent record.
    pub scan_log: PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Duration::from_secs(24 * 3600),
            targets: vec!["127.0.0.1".into()],
            allow: vec!["127.0.0.0/8".into(), "::1/128".into()],
            ports: "1-65535".into(),
            max_rate: 1000,
            concurrency: 512,
            connect_timeout: Duration::from_secs(1),
            scan_log: PathBuf::from("/var/lib/gamsa-agent/scan.log"),
        }
    }
}

impl Section for Config {
    fn enabled(&self) -> bool {
        self.enabled
    }

    /// Checks every field; the message starts with the field's name.
    fn validate(&self) -> Result<(), String> {
        scope::AllowList::parse(&self.allow).map_err(|e| format!("allow: {e}"))?;
        for t in &self.targets {
            scope::Target::parse(t).map_err(|e| format!("targets: {e}"))?;
        }
        PortSet::parse(&self.ports).map_err(|e| format!("ports: {e}"))?;
        if self.max_rate == 0 {
            return Err("max_rate: must be at least 1 connection per second".into());
        }
        if !(1..=MAX_CONCURRENCY).contains(&self.concurrency) {
            return Err(format!(
                "concurrency: must be between 1 and {MAX_CONCURRENCY}"
            ));
        }
        if self.connect_timeout.is_zero() {
            return Err("connect_timeout: must be more than zero".into());
        }
        if self.scan_log.as_os_str().is_empty() {
            return Err("scan_log: a path is required (the scan log is the consent record)".into());
        }
        Ok(())
    }

    fn build(&self, _: &crate::config::Config) -> Arc<dyn Probe> {
        Arc::new(PortScanProbe::new(self.clone()))
    }
}

impl Config {
    fn scope(&self) -> Result<Scope, ScopeError> {
        Scope::new(&self.allow, &self.targets, &self.ports)
    }
}

pub struct PortScanProbe {
    config: Config,
    scope: Result<Scope, ScopeError>,
}

impl PortScanProbe {
    pub fn new(config: Config) -> Self {
        let scope = config.scope();
        Self { config, scope }
    }
}

/// How far the running scan is: connection attempts finished and planned.
/// Read by the progress line of `scan --once`.
#[derive(Debug, Default)]
pub struct Progress {
    done: AtomicUsize,
    total: AtomicUsize,
}

impl Progress {
    /// (finished, planned) while a scan runs.
    pub fn get(&self) -> Option<(usize, usize)> {
        let total = self.total.load(Ordering::Relaxed);
        (total > 0).then(|| (self.done.load(Ordering::Relaxed).min(total), total))
    }

    pub(crate) fn begin(&self, total: usize) {
        self.done.store(0, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
    }

    pub(crate) fn step(&self) {
        self.done.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn end(&self) {
        self.total.store(0, Ordering::Relaxed);
    }
}

/// What one connection attempt found.
#[derive(Debug)]
enum PortState {
    Open,
    Closed,
    Filtered,
    /// A local failure (no fds, no free source port): the port is untested.
    Failed(std::io::Error),
}

fn classify(e: std::io::Error) -> PortState {
    match e.kind() {
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionReset => PortState::Closed,
        ErrorKind::TimedOut
        | ErrorKind::HostUnreachable
        | ErrorKind::NetworkUnreachable
        | ErrorKind::NetworkDown
        | ErrorKind::PermissionDenied => PortState::Filtered,
        _ => PortState::Failed(e),
    }
}

/// The answer already on a connecting socket, if there is one: an error
/// (refused, unreachable), or a completed handshake. A connection that met
/// itself (loopback, local port equal to the target port) is closed.
fn settled(socket: SockRef<'_>, addr: SocketAddr) -> Option<PortState> {
    match socket.take_error() {
        Err(e) => Some(PortState::Failed(e)),
        Ok(Some(e)) => Some(classify(e)),
        Ok(None) => match socket.peer_addr() {
            Err(_) => None,
            Ok(_) if socket.local_addr().ok().and_then(|a| a.as_socket()) == Some(addr) => {
                Some(PortState::Closed)
            }
            Ok(_) => Some(PortState::Open),
        },
    }
}

/// One non-blocking connect. A near host (loopback above all) has often
/// answered by the time `connect` returns, so the socket is asked first and
/// waited on (epoll, with the timeout) only when it has no answer yet: a
/// refused port then costs four system calls, not eight.
async fn connect_once(addr: SocketAddr, timeout: Duration) -> PortState {
    let socket = match Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking(),
        Some(Protocol::TCP),
    ) {
        Ok(s) => s,
        Err(e) => return PortState::Failed(e),
    };
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return classify(e),
    }
    if let Some(state) = settled(SockRef::from(&socket), addr) {
        return state;
    }
    let stream = match tokio::net::TcpStream::from_std(socket.into()) {
        Ok(s) => s,
        Err(e) => return PortState::Failed(e),
    };
    let answer = stream.async_io(Interest::WRITABLE, || {
        settled(SockRef::from(&stream), addr).ok_or_else(|| ErrorKind::WouldBlock.into())
    });
    match tokio::time::timeout(timeout, answer).await {
        Err(_) => PortState::Filtered,
        Ok(Ok(state)) => state,
        Ok(Err(e)) => PortState::Failed(e),
    }
}

/// One port, retrying briefly when the failure is ours rather than the
/// target's (those attempts sent nothing, so they take no rate token).
async fn probe_port(addr: SocketAddr, timeout: Duration) -> PortState {
    let mut attempt = 0;
    loop {
        match connect_once(addr, timeout).await {
            PortState::Failed(_) if attempt + 1 < LOCAL_ATTEMPTS => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(20 << attempt)).await;
            }
            state => return state,
        }
    }
}

/// Results for one target address.
#[derive(Debug, Default)]
struct Tally {
    open: Vec<u32>,
    closed: u32,
    filtered: u32,
    failed: u32,
    last_failure: String,
}

impl Tally {
    fn add(&mut self, port: u16, state: PortState) {
        match state {
            PortState::Open => self.open.push(u32::from(port)),
            PortState::Closed => self.closed += 1,
            PortState::Filtered => self.filtered += 1,
            PortState::Failed(e) => {
                self.failed += 1;
                self.last_failure = e.to_string();
            }
        }
    }

    fn tested(&self) -> usize {
        self.open.len() + (self.closed + self.filtered) as usize
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Completed,
    Paused,
    Budget,
}

impl Stop {
    fn as_str(self) -> &'static str {
        match self {
            Stop::Completed => "completed",
            Stop::Paused => "paused",
            Stop::Budget => "stopped at time budget",
        }
    }
}

/// Connects to every port of every permitted address, within the rate,
/// concurrency and time limits, stopping promptly when scanning is paused.
async fn scan(
    targets: &[Permitted],
    ports: &PortSet,
    config: &Config,
    budget: Duration,
    ctx: &ProbeContext,
) -> (Vec<Tally>, Stop) {
    let addrs: Arc<Vec<IpAddr>> = Arc::new(targets.iter().map(Permitted::addr).collect());
    let ports = Arc::new(ports.to_vec());
    let total = addrs.len() * ports.len();
    let rate = NonZeroU32::new(config.max_rate).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(config.max_rate / 10).unwrap_or(NonZeroU32::MIN);
    let limiter = Arc::new(RateLimiter::direct(
        Quota::per_second(rate).allow_burst(burst),
    ));
    // One worker at a time waits for the bucket, the others queue (fairly)
    // for the turn: hundreds of workers all sleeping on the bucket would
    // all wake for every token and burn CPU finding it taken.
    let turn = Arc::new(tokio::sync::Mutex::new(()));
    let next = Arc::new(AtomicUsize::new(0));
    // Workers add their results here themselves: handing each of 65,535
    // results to another task would cost a wake-up apiece.
    let tallies = Arc::new(Mutex::new(
        addrs.iter().map(|_| Tally::default()).collect::<Vec<_>>(),
    ));
    ctx.control.port_scan.begin(total);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..config.concurrency.min(total) {
        let (addrs, ports, limiter, turn, next, tallies) = (
            addrs.clone(),
            ports.clone(),
            limiter.clone(),
            turn.clone(),
            next.clone(),
            tallies.clone(),
        );
        let (control, timeout) = (ctx.control.clone(), config.connect_timeout);
        workers.spawn(async move {
            loop {
                let job = next.fetch_add(1, Ordering::Relaxed);
                if job >= total {
                    return;
                }
                // Addresses interleave, so each host sees a share of the rate.
                let (a, port) = (job % addrs.len(), ports[job / addrs.len()]);
                if !addrs[a].is_loopback() {
                    let _turn = turn.lock().await;
                    limiter.until_ready().await;
                }
                if control.scanning_paused.load(Ordering::Relaxed) {
                    return;
                }
                let state = probe_port(SocketAddr::new(addrs[a], port), timeout).await;
                if let Ok(mut t) = tallies.lock() {
                    t[a].add(port, state);
                }
                control.port_scan.step();
            }
        });
    }
    let deadline = tokio::time::Instant::now() + budget;
    let mut poll = tokio::time::interval(PAUSE_POLL);
    let stop = loop {
        tokio::select! {
            r = workers.join_next() => if r.is_none() {
                break Stop::Completed;
            },
            _ = tokio::time::sleep_until(deadline) => break Stop::Budget,
            _ = poll.tick() => if ctx.control.scanning_paused.load(Ordering::Relaxed) {
                break Stop::Paused;
            },
        }
    };
    // Aborting drops every connection attempt still in flight.
    workers.abort_all();
    while workers.join_next().await.is_some() {}
    ctx.control.port_scan.end();
    let mut tallies = std::mem::take(&mut *tallies.lock().unwrap_or_else(|e| e.into_inner()));
    for t in &mut tallies {
        t.open.sort_unstable();
    }
    // Workers also stop on the pause flag, which can end the scan between
    // two polls: an unfinished "completed" scan was paused.
    let done: usize = tallies.iter().map(|t| t.tested() + t.failed as usize).sum();
    let stop = if stop == Stop::Completed && done < total {
        Stop::Paused
    } else {
        stop
    };
    (tallies, stop)
}

/// The local address the kernel would connect from (no packet is sent:
/// connecting a UDP socket only picks a route).
fn source_address(target: IpAddr) -> Option<IpAddr> {
    let any: SocketAddr = match target {
        IpAddr::V4(_) => "0.0.0.0:0".parse().ok()?,
        IpAddr::V6(_) => "[::]:0".parse().ok()?,
    };
    let socket = std::net::UdpSocket::bind(any).ok()?;
    socket.connect((target, 9)).ok()?;
    Some(socket.local_addr().ok()?.ip())
}

/// Opens the scan log for appending, creating private parent directories.
fn open_log(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
}

/// Appends one JSON line and syncs it to disk.
fn append(log: &mut std::fs::File, record: &serde_json::Value) -> std::io::Result<()> {
    log.write_all(format!("{record}\n").as_bytes())?;
    log.sync_data()
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

fn open_list(open: &[u32]) -> String {
    let shown: Vec<String> = open.iter().take(20).map(u32::to_string).collect();
    let more = if open.len() > 20 { " …" } else { "" };
    format!("[{}{more}]", shown.join(", "))
}

/// Why an address's result is incomplete, if it is.
fn incomplete(t: &Tally, stop: Stop, total: usize, budget: Duration) -> Option<String> {
    let mut why = Vec::new();
    let tested = t.tested();
    if tested + (t.failed as usize) < total {
        why.push(match stop {
            Stop::Paused | Stop::Completed => format!(
                "scan paused by the collector after {tested} of {total} ports"
            ),
            Stop::Budget => format!(
                "scan stopped at its time budget of {}s after {tested} of {total} ports (narrow the scope or raise max_rate)",
                budget.as_secs()
            ),
        });
    }
    if t.failed > 0 {
        why.push(format!(
            "{} ports could not be tried because of local errors (last: {})",
            t.failed, t.last_failure
        ));
    }
    (!why.is_empty()).then(|| {
        format!(
            "{}; results incomplete (open so far: {})",
            why.join("; "),
            open_list(&t.open)
        )
    })
}

#[async_trait::async_trait]
impl Probe for PortScanProbe {
    fn name(&self) -> &'static str {
        NAME
    }

    fn interval(&self) -> Duration {
        self.config.interval
    }

    async fn run(&self, ctx: &ProbeContext) -> Vec<Evidence> {
        // Paused: no connection at all, and a notice (under probe "agent",
        // so it never counts as a scan) saying why there is no result.
        if ctx.control.scanning_paused.load(Ordering::Relaxed) {
            return vec![ctx.observed(
                "agent",
                NAME,
                Payload::AgentNotice(AgentNotice {
                    kind: "scan_paused".into(),
                    count: 0,
                    detail: "active port scan skipped: scanning is paused by the collector; no connection was made".into(),
                }),
            )];
        }
        let scope = match &self.scope {
            Ok(s) => s,
            Err(e) => return vec![ctx.error(NAME, "scope", format!("scan scope: {e}"))],
        };
        let pushed = ctx.control.scan_scope.lock().ok().and_then(|s| s.clone());
        let scope = match pushed.map(|p| scope.narrowed(&p)) {
            None => scope.clone(),
            Some(Ok(s)) => s,
            Some(Err(e)) => {
                return vec![ctx.error(
                    NAME,
                    "scope",
                    format!(
                    "the scan scope sent by the collector is invalid ({e}); nothing was scanned"
                ),
                )]
            }
        };
        let plan = scope.plan().await;
        let mut out: Vec<Evidence> = plan
            .unscanned
            .iter()
            .map(|u| ctx.error(NAME, &u.subject, &u.reason))
            .collect();
        let targets = plan.permitted;
        if targets.is_empty() {
            return out;
        }
        let ports = scope.ports();
        let budget = crate::scheduler::timeout_for(self)
            .saturating_sub(BUDGET_MARGIN)
            .max(Duration::from_secs(1));
        let paced = targets.iter().filter(|t| !t.addr().is_loopback()).count() * ports.len();
        let least = Duration::from_secs_f64(paced as f64 / f64::from(self.config.max_rate));
        let log_path = &self.config.scan_log;
        let refusal = if ports.is_empty() {
            Some(
                "no ports left to scan: the collector's ports do not overlap the configured ones"
                    .to_string(),
            )
        } else if least > budget {
            Some(format!(
                "{paced} connections at max_rate {}/s need at least {}s, more than the scan's time budget of {}s; narrow the scope or raise max_rate; nothing was scanned",
                self.config.max_rate,
                least.as_secs(),
                budget.as_secs()
            ))
        } else {
            None
        };
        if let Some(why) = refusal {
            out.extend(targets.iter().map(|t| ctx.error(NAME, &t.subject, &why)));
            return out;
        }

        let sources: Vec<String> = targets
            .iter()
            .map(|t| {
                source_address(t.addr())
                    .map(|a| a.to_string())
                    .unwrap_or_default()
            })
            .collect();
        let mut distinct_sources: Vec<&str> = sources
            .iter()
            .map(String::as_str)
            .filter(|s| !s.is_empty())
            .collect();
        distinct_sources.sort_unstable();
        distinct_sources.dedup();
        let started = SystemTime::now();
        let mut record = serde_json::json!({
            "event": "start",
            "start": rfc3339(started),
            "agentId": ctx.agent_id,
            "host": ctx.host,
            "targets": scope.targets(),
            "allow": scope.allow_text(),
            "narrowedByCollector": scope.is_narrowed(),
            "ports": ports.to_string(),
            "sources": distinct_sources,
            "maxRate": self.config.max_rate,
            "loopbackUnpaced": true,
            "concurrency": self.config.concurrency,
            "connectTimeoutMs": self.config.connect_timeout.as_millis() as u64,
            "addresses": targets.iter().map(|t| t.addr().to_string()).collect::<Vec<_>>(),
        });
        // The start record is written (and synced) before the first
        // connection, so a scan cut short by a crash is still on record.
        let mut log = match open_log(log_path).and_then(|mut f| append(&mut f, &record).map(|()| f))
        {
            Ok(f) => f,
            Err(e) => {
                let why = format!(
                    "scan log {}: {e}; the log is the consent record, so nothing was scanned",
                    log_path.display()
                );
                out.extend(targets.iter().map(|t| ctx.error(NAME, &t.subject, &why)));
                return out;
            }
        };

        let clock = Instant::now();
        let (tallies, stop) = scan(&targets, ports, &self.config, budget, ctx).await;
        let duration_ms = clock.elapsed().as_millis() as u64;
        let ended = SystemTime::now();

        record["event"] = "end".into();
        record["end"] = rfc3339(ended).into();
        record["outcome"] = stop.as_str().into();
        record["addresses"] = targets
            .iter()
            .zip(&tallies)
            .zip(&sources)
            .map(|((t, r), src)| {
                serde_json::json!({
                    "address": t.addr().to_string(),
                    "target": t.target,
                    "source": src,
                    "open": r.open.len(),
                    "closed": r.closed,
                    "filtered": r.filtered,
                    "failed": r.failed,
                    "untested": ports.len() - r.tested() - r.failed as usize,
                })
            })
            .collect();
        if let Err(e) = append(&mut log, &record) {
            out.push(ctx.error(
                NAME,
                &log_path.display().to_string(),
                format!(
                    "scan log {}: writing the record of the scan failed: {e}",
                    log_path.display()
                ),
            ));
        }

        let spec = ports.to_string();
        for ((t, tally), source) in targets.iter().zip(tallies).zip(sources) {
            out.push(match incomplete(&tally, stop, ports.len(), budget) {
                Some(why) => ctx.error(NAME, &t.subject, why),
                None => ctx.observed(
                    NAME,
                    &t.subject,
                    Payload::PortScan(PortScan {
                        target: t.target.clone(),
                        open_ports: tally.open,
                        closed_count: tally.closed,
                        filtered_count: tally.filtered,
                        duration_ms,
                        started_at: Some(crate::evidence::timestamp(started)),
                        source_address: source,
                        ports_spec: spec.clone(),
                        address: t.addr().to_string(),
                    }),
                ),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_loopback_only_and_valid() {
        let c = Config::default();
        c.validate().unwrap();
        assert_eq!(c.targets, ["127.0.0.1"]);
        assert_eq!(c.allow, ["127.0.0.0/8", "::1/128"]);
    }

    #[test]
    fn invalid_fields_are_named() {
        type Breaker = fn(&mut Config);
        let cases: [(&str, Breaker); 6] = [
            ("allow:", |c| c.allow = vec!["10.0.0/8".into()]),
            ("targets:", |c| c.targets = vec!["not a host".into()]),
            ("ports:", |c| c.ports = "80-22".into()),
            ("max_rate:", |c| c.max_rate = 0),
            ("concurrency:", |c| c.concurrency = 0),
            ("scan_log:", |c| c.scan_log = PathBuf::new()),
        ];
        for (field, break_it) in cases {
            let mut c = Config::default();
            break_it(&mut c);
            let err = c.validate().unwrap_err();
            assert!(err.starts_with(field), "{err}");
        }
    }

    #[test]
    fn local_failures_are_not_read_as_port_states() {
        use std::io::Error;
        assert!(matches!(
            classify(Error::from(ErrorKind::ConnectionRefused)),
            PortState::Closed
        ));
        assert!(matches!(
            classify(Error::from(ErrorKind::HostUnreachable)),
            PortState::Filtered
        ));
        assert!(matches!(
            classify(Error::from(ErrorKind::AddrNotAvailable)),
            PortState::Failed(_)
        ));
        let mut t = Tally::default();
        t.add(22, PortState::Open);
        t.add(23, PortState::Failed(Error::other("Too many open files")));
        let why = incomplete(&t, Stop::Completed, 2, Duration::from_secs(5)).unwrap();
        assert!(
            why.contains("1 ports could not be tried") && why.contains("[22]"),
            "{why}"
        );
        t.failed = 0;
        let why = incomplete(&t, Stop::Paused, 3, Duration::from_secs(5)).unwrap();
        assert!(
            why.starts_with("scan paused by the collector after 1 of 3 ports"),
            "{why}"
        );
    }
}

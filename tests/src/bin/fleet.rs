//! The fleet benchmark (BENCHMARKS.md, "Fleet: 10,000 hosts"): builds a
//! fleet of simulated agents through real ingest, then measures every
//! dashboard page and GET API call while the fleet keeps sending, the time
//! and memory of a snapshot, and the bytes the store keeps.
//!
//! It exists because the read path was only ever measured on fixtures
//! written straight into the store (`bench/read_path.sh`): here every host
//! enrols with a token of its own use, holds its own client certificate and
//! mutual-TLS stream, and sends one real host's evidence (from `gamsa-agent
//! scan --once --format json`) with its own name, fresh ids and the current
//! time, so the collector's store, evaluation and pages see what a real
//! fleet would give them.
//!
//! Runs the `gamsa-collector` next to this executable; `bench/fleet.sh`
//! builds both and makes the evidence file:
//!
//! ```text
//! fleet EVIDENCE.ndjson [HOSTS=10000] [STORE=sqlite|postgres|postgres://...] [REQUESTS=20]
//! ```

use anyhow::{anyhow, bail, Context, Result};
use gamsa_proto::v1::{
    agent_message, collector_message, enrolment_client::EnrolmentClient,
    ingest_client::IngestClient, AgentMessage, Batch, CollectorMessage, EnrolRequest, Evidence,
    Hello,
};
use gamsa_tests::raw::unique_id;
use gamsa_tests::{pg::Scratch, run, Collector, Settings};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

/// How long the collector may take to answer anything of one host.
const ANSWER: Duration = Duration::from_secs(120);
/// Hosts enrolling and sending their first evidence at once.
const FILL_CONCURRENCY: usize = 32;
/// Re-observation batches in flight at once.
const INGEST_CONCURRENCY: usize = 256;
/// Targets of the fleet-scale issue.
const TARGET_MS: f64 = 100.0;
const TARGET_BYTES: usize = 1_000_000;
/// A call is requested `requests` times, or for at most this long (at
/// least `MIN_REQUESTS` times): some exports take seconds at 10,000 hosts.
const CALL_BUDGET: Duration = Duration::from_secs(20);
const MIN_REQUESTS: usize = 1;
/// Address space allowed to the collector, so that a call or snapshot
/// that outgrows the shared machine fails alone. Address space, not
/// memory: at 10,000 hosts on SQLite the collector reserved 16.3 GiB while
/// its RSS peaked at 9.3 GiB (each reading connection maps the store, the
/// allocator reserves ahead), and one run died at a limit of 16 GiB.
const MEMORY_LIMIT: u64 = 20 << 30;
/// Address space allowed to `snapshot create`, which runs beside the
/// collector (at 10,000 hosts the collector itself held 8.5 GiB; each
/// SQLite connection that reads maps the 0.7 GB store, four of them).
const SNAPSHOT_MEMORY_LIMIT: u64 = 8 << 30;
/// The window of ingest alone over which the store's growth is measured.
const GROWTH_WINDOW: Duration = Duration::from_secs(60);
/// The agent's default intervals, for the re-observation rate.
const AGENT_EXAMPLE: &str = include_str!("../../../deploy/agent.example.toml");

struct Args {
    evidence: PathBuf,
    hosts: usize,
    store: String,
    requests: usize,
}

fn args() -> Result<Args> {
    let usage = "usage: fleet EVIDENCE.ndjson [HOSTS] [sqlite|postgres|postgres://URL] [REQUESTS]";
    let a: Vec<String> = std::env::args().skip(1).collect();
    let evidence = a.first().context(usage)?.into();
    let num = |i: usize, default: usize, what: &str| -> Result<usize> {
        match a.get(i) {
            None => Ok(default),
            Some(s) => s
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .with_context(|| format!("{what} {s:?}: a positive whole number ({usage})")),
        }
    };
    Ok(Args {
        evidence,
        hosts: num(1, 10_000, "HOSTS")?,
        store: a.get(2).cloned().unwrap_or_else(|| "sqlite".into()),
        requests: num(3, 20, "REQUESTS")?,
    })
}

/// One real host's evidence, one canonical-JSON evidence a line.
fn read_evidence(path: &Path) -> Result<Vec<Evidence>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the evidence file {}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let e: Evidence = serde_json::from_str(line).with_context(|| {
            format!(
                "{} line {}: not an evidence in canonical JSON (from `gamsa-agent scan --once --format json`)",
                path.display(),
                n + 1
            )
        })?;
        out.push(e);
    }
    if out.is_empty() {
        bail!("{}: no evidence in it", path.display());
    }
    Ok(out)
}

/// "500ms", "30s", "5m", "1h", "24h" in milliseconds.
fn parse_interval(s: &str) -> Option<u64> {
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = digits.parse().ok()?;
    Some(
        n * match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return None,
        },
    )
}

/// Each probe's `interval` in `deploy/agent.example.toml` (its own section
/// only, not a subsection's such as `[probes.files.walk]`).
fn default_intervals() -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let mut probe: Option<String> = None;
    for line in AGENT_EXAMPLE.lines().map(str::trim) {
        if line.starts_with('[') {
            probe = line
                .strip_prefix("[probes.")
                .and_then(|l| l.strip_suffix(']'))
                .filter(|name| !name.contains('.') && !name.contains('['))
                .map(str::to_string);
        } else if let (Some(p), Some(v)) = (&probe, line.strip_prefix("interval = ")) {
            if let Some(ms) = parse_interval(v.trim_matches('"')) {
                out.entry(p.clone()).or_insert(ms);
            }
        }
    }
    out
}

fn now_ts() -> gamsa_proto::Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    gamsa_proto::Timestamp::from_unix_millis(ms)
}

/// `template` as host `name` sends it now.
fn as_host(template: &Evidence, name: &str) -> Evidence {
    Evidence {
        id: unique_id(),
        agent_id: name.into(),
        host: name.into(),
        observed_at: Some(now_ts()),
        ..template.clone()
    }
}

fn host_name(i: usize) -> String {
    format!("fleet-{i:05}")
}

/// One simulated agent's open ingest stream.
struct Agent {
    name: String,
    stream: tokio::sync::Mutex<Stream>,
}

struct Stream {
    tx: tokio::sync::mpsc::Sender<AgentMessage>,
    rx: tonic::Streaming<CollectorMessage>,
    seq: u64,
}

impl Stream {
    /// Sends one batch and waits for its ack.
    async fn send(&mut self, evidence: Vec<Evidence>) -> Result<()> {
        self.seq += 1;
        let seq = self.seq;
        let msg = AgentMessage {
            msg: Some(agent_message::Msg::Batch(Batch { seq, evidence })),
        };
        self.tx
            .send(msg)
            .await
            .map_err(|_| anyhow!("stream closed"))?;
        loop {
            let m = tokio::time::timeout(ANSWER, self.rx.message())
                .await
                .map_err(|_| anyhow!("no ack of batch {seq} within {ANSWER:?}"))??;
            match m {
                Some(CollectorMessage {
                    msg: Some(collector_message::Msg::Ack(a)),
                }) if a.seq == seq => return Ok(()),
                Some(_) => continue,
                None => bail!("the stream ended before the ack of batch {seq}"),
            }
        }
    }
}

struct Pki {
    endpoint: String,
    ca: String,
    token: String,
}

/// Enrols `name` as an agent does on first start (its key never leaves
/// it), then opens its ingest stream and says Hello.
async fn enrol_and_connect(pki: &Pki, name: &str) -> Result<Stream> {
    let key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let csr = params.serialize_request(&key)?.pem()?;
    let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&pki.ca));
    let channel = Endpoint::from_shared(pki.endpoint.clone())?
        .tls_config(tls.clone())?
        .connect()
        .await
        .context("enrolment connection")?;
    let cert = EnrolmentClient::new(channel)
        .enrol(EnrolRequest {
            token: pki.token.clone(),
            agent_id: name.into(),
            csr_pem: csr,
            host: name.into(),
        })
        .await
        .with_context(|| format!("enrolling {name}"))?
        .into_inner()
        .certificate_pem;
    let channel = Endpoint::from_shared(pki.endpoint.clone())?
        .tls_config(tls.identity(Identity::from_pem(cert, key.serialize_pem())))?
        .connect()
        .await
        .context("ingest connection")?;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let hello = Hello {
        agent_id: name.into(),
        agent_version: env!("CARGO_PKG_VERSION").into(),
        host: name.into(),
        os: "Linux".into(),
        sent_at: Some(now_ts()),
        ..Default::default()
    };
    tx.send(AgentMessage {
        msg: Some(agent_message::Msg::Hello(hello)),
    })
    .await
    .map_err(|_| anyhow!("stream closed"))?;
    let mut rx = IngestClient::new(channel)
        .stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .with_context(|| format!("opening {name}'s stream"))?
        .into_inner();
    // The Welcome.
    tokio::time::timeout(ANSWER, rx.message())
        .await
        .map_err(|_| anyhow!("no Welcome within {ANSWER:?}"))??
        .context("the stream ended before the Welcome")?;
    Ok(Stream { tx, rx, seq: 0 })
}

/// Counts of the re-observations sent while the pages are measured.
#[derive(Default)]
struct IngestStats {
    sent: AtomicU64,
    acked: AtomicU64,
    failed: AtomicU64,
    ack_ms: Mutex<Vec<f64>>,
}

/// Keeps every host re-observing each probe's evidence at its default
/// interval until `stop`: the fleet's rate, spread over the hosts.
async fn keep_ingesting(
    agents: Arc<Vec<Agent>>,
    templates: Arc<Vec<(Evidence, u64)>>,
    stats: Arc<IngestStats>,
    stop: Arc<AtomicBool>,
) {
    let permits = Arc::new(Semaphore::new(INGEST_CONCURRENCY));
    let hosts = agents.len();
    let mut due = vec![0f64; templates.len()];
    let mut cursor = vec![0usize; templates.len()];
    let tick = Duration::from_millis(200);
    let mut last = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(tick.saturating_sub(last.elapsed())).await;
        let dt = last.elapsed().as_secs_f64() * 1e3;
        last = Instant::now();
        let mut per_host: BTreeMap<usize, Vec<Evidence>> = BTreeMap::new();
        for (i, (template, every)) in templates.iter().enumerate() {
            due[i] += hosts as f64 * dt / *every as f64;
            while due[i] >= 1.0 {
                due[i] -= 1.0;
                let h = cursor[i] % hosts;
                cursor[i] += 1;
                per_host
                    .entry(h)
                    .or_default()
                    .push(as_host(template, &agents[h].name));
            }
        }
        for (h, evidence) in per_host {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let (agents, stats) = (agents.clone(), stats.clone());
            tokio::spawn(async move {
                let n = evidence.len() as u64;
                stats.sent.fetch_add(n, Ordering::Relaxed);
                let started = Instant::now();
                let result = agents[h].stream.lock().await.send(evidence).await;
                match result {
                    Ok(()) => {
                        stats.acked.fetch_add(n, Ordering::Relaxed);
                        if let Ok(mut v) = stats.ack_ms.lock() {
                            v.push(started.elapsed().as_secs_f64() * 1e3);
                        }
                    }
                    Err(e) => {
                        if stats.failed.fetch_add(n, Ordering::Relaxed) == 0 {
                            eprintln!("re-observation failed: {e:#}");
                        }
                    }
                }
                drop(permit);
            });
        }
    }
    // Wait for the batches in flight.
    let _ = permits.acquire_many(INGEST_CONCURRENCY as u32).await;
}

/// What the `sqlite3` shell prints for `sql` on the collector's store, read
/// only.
fn sqlite3(c: &Collector, sql: &str) -> Result<String> {
    let db = c.data().join("gamsa.db");
    let out = Command::new("sqlite3")
        .arg("-readonly")
        .arg(&db)
        .arg(sql)
        .output()
        .with_context(|| format!("sqlite3 {}", db.display()))?;
    if !out.status.success() {
        bail!(
            "sqlite3 {}: {}",
            db.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The store's bytes: the SQLite file and its WAL, or every table of the
/// scratch schema with its indexes and TOAST.
async fn store_bytes(c: &Collector, scratch: Option<&Scratch>) -> Result<u64> {
    match scratch {
        None => {
            // Pages in use (the file less its free pages, as the WAL sees
            // it): the file itself grows in steps and reuses freed pages.
            let text = sqlite3(c, "SELECT (SELECT page_count FROM pragma_page_count) - (SELECT freelist_count FROM pragma_freelist_count), (SELECT page_size FROM pragma_page_size);")?;
            let mut n = text.trim().split('|').filter_map(|v| v.parse::<u64>().ok());
            match (n.next(), n.next()) {
                (Some(pages), Some(size)) => Ok(pages * size),
                _ => bail!("sqlite3: no page count in {text:?}"),
            }
        }
        Some(s) => {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&s.url).await?;
            let (bytes,): (i64,) = sqlx::query_as(
                "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = $1 AND c.relkind = 'r'",
            )
            .bind(&s.schema)
            .fetch_one(&mut conn)
            .await?;
            Ok(bytes as u64)
        }
    }
}

/// The store's bytes per table and index (SQLite's `dbstat`; PostgreSQL's
/// tables with their indexes and TOAST), to tell what grew.
async fn table_bytes(c: &Collector, scratch: Option<&Scratch>) -> Result<BTreeMap<String, u64>> {
    match scratch {
        None => Ok(
            sqlite3(c, "SELECT name, sum(pgsize) FROM dbstat GROUP BY name;")?
                .lines()
                .filter_map(|l| {
                    let (name, bytes) = l.rsplit_once('|')?;
                    Some((name.to_string(), bytes.parse().ok()?))
                })
                .collect(),
        ),
        Some(s) => {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&s.url).await?;
            let rows: Vec<(String, i64)> = sqlx::query_as(
                "SELECT c.relname::text, pg_total_relation_size(c.oid)
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = $1 AND c.relkind = 'r'",
            )
            .bind(&s.schema)
            .fetch_all(&mut conn)
            .await?;
            Ok(rows.into_iter().map(|(t, b)| (t, b as u64)).collect())
        }
    }
}

/// The tables and indexes that grew from `before` to `after`, most first.
fn grown_tables(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> String {
    let mut grown: Vec<(u64, &str)> = after
        .iter()
        .filter_map(|(t, b)| {
            let was = before.get(t).copied().unwrap_or(0);
            (*b > was).then_some((b - was, t.as_str()))
        })
        .collect();
    grown.sort_by(|a, b| b.cmp(a));
    if grown.is_empty() {
        return "nothing".into();
    }
    grown
        .iter()
        .map(|(b, t)| format!("{t} +{:.1} MiB", mib(*b)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// PostgreSQL's account of the rows updated in place, per table of the
/// scratch schema: updates, of them heap-only (no index entries, pruned
/// within the page), dead versions not yet vacuumed, and the table's size.
async fn updates_in_place(s: &Scratch) -> Result<String> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&s.url).await?;
    let rows: Vec<(String, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT relname::text, n_tup_upd, n_tup_hot_upd, n_dead_tup,
                pg_total_relation_size(relid)
         FROM pg_stat_user_tables WHERE schemaname = $1 AND n_tup_upd > 0
         ORDER BY relname",
    )
    .bind(&s.schema)
    .fetch_all(&mut conn)
    .await?;
    Ok(rows
        .iter()
        .map(|(t, upd, hot, dead, bytes)| {
            format!(
                "{t}: {upd} updated, {hot} heap-only, {dead} dead, {:.1} MiB",
                mib(*bytes as u64)
            )
        })
        .collect::<Vec<_>>()
        .join("; "))
}

/// Whether `pid` still runs (not exited, nor a zombie waiting to be reaped).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| {
        !s.lines()
            .any(|l| l.starts_with("State:") && l.contains('Z'))
    })
}

/// A field of `pid`'s `/proc/<pid>/status`, in KiB (0 if unreadable).
fn status_kib(pid: u32, name: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// VmRSS and VmHWM of `pid`, in KiB.
fn memory_kib(pid: u32) -> (u64, u64) {
    (status_kib(pid, "VmRSS"), status_kib(pid, "VmHWM"))
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// An HTTP client of the collector: the API with the admin token, the
/// dashboard with a signed-in session.
struct Http {
    base: String,
    token: String,
    cookie: String,
    agent: ureq::Agent,
}

/// One request's time, time to its first byte of body, bytes and status.
fn request(h: &Http, path: &str, dashboard: bool) -> (Duration, Duration, usize, u16) {
    let url = format!("{}{path}", h.base);
    let mut req = h.agent.get(&url);
    req = if dashboard {
        req.set("Cookie", &h.cookie)
    } else {
        req.set("Authorization", &format!("Bearer {}", h.token))
    };
    let started = Instant::now();
    let mut first = Duration::ZERO;
    let (status, body) = match req.call() {
        Ok(r) | Err(ureq::Error::Status(_, r)) => {
            let status = r.status();
            let mut reader = r.into_reader();
            let mut body = vec![0; 1];
            let read = reader.read(&mut body).unwrap_or(0);
            first = started.elapsed();
            body.truncate(read);
            let _ = reader.read_to_end(&mut body);
            if status >= 400 {
                let shown = &body[..body.len().min(300)];
                eprintln!("{path}: {status}: {}", String::from_utf8_lossy(shown));
            }
            (status, body)
        }
        Err(e) => {
            eprintln!("{path}: {e}");
            (0, Vec::new())
        }
    };
    (started.elapsed(), first, body.len(), status)
}

/// Fetches every page of an export from `first`, following the `Link`
/// headers: how long fetching everything a page at a time takes, and its
/// slowest and largest page.
fn walk_pages(h: &Http, first: &str) -> String {
    let (started, mut times, mut bytes, mut largest) = (Instant::now(), Vec::new(), 0, 0);
    let mut next = Some(first.to_string());
    while let Some(path) = next.take() {
        let t = Instant::now();
        let answer = h
            .agent
            .get(&format!("{}{path}", h.base))
            .set("Authorization", &format!("Bearer {}", h.token))
            .call();
        let r = match answer {
            Ok(r) => r,
            Err(e) => return format!("{first}: failed at {path}: {e}"),
        };
        next = r
            .header("link")
            .and_then(|l| l.strip_prefix('<')?.split_once('>'))
            .map(|(target, _)| target.to_string());
        let mut body = Vec::new();
        let _ = r.into_reader().read_to_end(&mut body);
        times.push(t.elapsed().as_secs_f64() * 1e3);
        bytes += body.len();
        largest = largest.max(body.len());
    }
    times.sort_by(f64::total_cmp);
    format!(
        "{first}: {} pages, {:.1} MB in {:.1} s; a page p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms, largest {largest} bytes",
        times.len(),
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64(),
        pct(&times, 0.5),
        pct(&times, 0.95),
        times.last().copied().unwrap_or(f64::NAN),
    )
}

/// Runs `f` while sampling the RSS of process `pid` every 20 ms: what `f`
/// returned, the RSS before (KiB) and the most seen meanwhile.
fn rss_during<T>(pid: u32, f: impl FnOnce() -> T) -> (T, u64, u64) {
    sampled(pid, "VmRSS", f)
}

/// As [`rss_during`], of the status field `field` (`VmRSS`, `RssAnon`).
fn sampled<T>(pid: u32, field: &'static str, f: impl FnOnce() -> T) -> (T, u64, u64) {
    let before = status_kib(pid, field);
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        std::thread::spawn(move || {
            let mut most = 0;
            while sampling.load(Ordering::Relaxed) {
                most = most.max(status_kib(pid, field));
                std::thread::sleep(Duration::from_millis(20));
            }
            most
        })
    };
    let out = f();
    sampling.store(false, Ordering::Relaxed);
    (out, before, sampler.join().unwrap_or(0))
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Signs `user` in to the dashboard: the sign-in page's CSRF cookie and
/// field, then the form; the session cookie.
fn sign_in(base: &str, user: &str, password: &str) -> Result<String> {
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let page = agent.get(&format!("{base}/login")).call()?;
    let login_cookie = page
        .all("set-cookie")
        .into_iter()
        .find_map(|c| {
            c.split(';')
                .next()
                .filter(|c| c.starts_with("gamsa_login="))
        })
        .map(str::to_string)
        .context("no gamsa_login cookie on /login")?;
    let html = page.into_string()?;
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .context("no csrf field on /login")?
        .to_string();
    let answer = agent
        .post(&format!("{base}/login"))
        .set("Cookie", &login_cookie)
        .send_form(&[("user", user), ("password", password), ("csrf", &csrf)])?;
    answer
        .all("set-cookie")
        .into_iter()
        .find_map(|c| c.split(';').next().filter(|c| c.contains("gamsa_session=")))
        .map(str::to_string)
        .with_context(|| format!("sign-in of {user} set no session cookie"))
}

/// A snapshot taken by `gamsa-collector snapshot create`: its wall time,
/// the command's peak RSS (GNU time), file size, and who took it (the
/// serving collector, or the command itself).
struct CliSnapshot {
    seconds: f64,
    max_rss_kib: u64,
    bytes: u64,
    taken_by: String,
}

impl CliSnapshot {
    /// Who took it, its time, the command's peak RSS, the file's size and
    /// `objects` (what it added to `objects/`).
    fn phrase(&self, objects: String) -> String {
        format!(
            "{}): {:.2} s, the command's peak RSS {:.0} MiB, {:.1} MiB file; {objects}",
            self.taken_by,
            self.seconds,
            self.max_rss_kib as f64 / 1024.0,
            mib(self.bytes)
        )
    }
}

/// Files and bytes under `dir` (a snapshot directory's `objects/`: the
/// host parts and evidence contents snapshots name).
fn tree_size(dir: &Path) -> (u64, u64) {
    let mut out = (0, 0);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        match e.metadata() {
            Ok(m) if m.is_dir() => {
                let (f, b) = tree_size(&e.path());
                out = (out.0 + f, out.1 + b);
            }
            Ok(m) => out = (out.0 + 1, out.1 + m.len()),
            Err(_) => {}
        }
    }
    out
}

/// What a snapshot added to `objects/`, as a phrase.
fn objects_added(before: (u64, u64), after: (u64, u64)) -> String {
    format!(
        "{} files and {:.1} MiB written into objects/ ({} files, {:.1} MiB there now)",
        after.0.saturating_sub(before.0),
        mib(after.1.saturating_sub(before.1)),
        after.0,
        mib(after.1)
    )
}

fn snapshot_by_cli(c: &Collector) -> Result<CliSnapshot> {
    let mut cmd = Command::new("/usr/bin/time");
    cmd.arg("-v")
        .arg("prlimit")
        .arg(format!("--as={SNAPSHOT_MEMORY_LIMIT}"))
        .arg(gamsa_tests::binary("gamsa-collector"))
        .args(["snapshot", "create"])
        .env("GAMSA_COLLECTOR_CONFIG", c.config())
        .env("GAMSA_LOG", "warn,gamsa_collector::snapshot=info");
    let started = Instant::now();
    let out = cmd
        .output()
        .context("running /usr/bin/time -v gamsa-collector snapshot create")?;
    let seconds = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!("snapshot create failed ({}): {stderr}", out.status);
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let path = PathBuf::from(
        stdout
            .split('\t')
            .next()
            .context("snapshot create printed no path")?
            .trim(),
    );
    let max_rss_kib = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|v| v.trim().parse().ok())
        .context("no maximum RSS in GNU time's output")?;
    let bytes = std::fs::metadata(&path)
        .with_context(|| path.display().to_string())?
        .len();
    let whole = stderr
        .lines()
        .find(|l| l.contains("the fleet is evaluated whole"));
    let taken_by = if stderr.contains("taken by the collector serving") {
        "taken by the serving collector".to_string()
    } else if stderr.contains("signed the verdicts the collector evaluated as it stopped") {
        "signed what the collector prepared as it stopped".to_string()
    } else if let Some(line) = whole {
        format!(
            "evaluated whole in its own process; its log: {}",
            line.trim()
        )
    } else {
        "evaluated in its own process, a range of hosts at a time".to_string()
    };
    Ok(CliSnapshot {
        seconds,
        max_rss_kib,
        bytes,
        taken_by,
    })
}

/// `POST /api/v1/snapshots`: a snapshot taken by the collector, its answer.
fn post_snapshot(c: &Collector) -> Result<Value> {
    Ok(
        ureq::post(&format!("http://127.0.0.1:{}/api/v1/snapshots", c.http))
            .set("Authorization", &format!("Bearer {}", c.token))
            .timeout(Duration::from_secs(600))
            .call()
            .context("POST /api/v1/snapshots")?
            .into_json()?,
    )
}

/// Returns once the collector's next kept evaluation has ended: under
/// ingest, it then rests as long as that evaluation took (`evaluation.rs`),
/// so what is measured next is not measured beside an evaluation.
fn evaluation_ended(c: &Collector) -> Result<()> {
    let (waited, count) = (Instant::now(), Evaluations::scrape(c)?.count);
    while Evaluations::scrape(c)?.count == count {
        if waited.elapsed() > Duration::from_secs(180) {
            bail!("no kept evaluation within 3 minutes");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// `f` run right after a kept evaluation ended, with the collector's RSS
/// sampled: its result, the RSS before and the most during (KiB), and the
/// kept evaluations that ran meanwhile.
fn after_evaluation<T>(
    c: &Collector,
    pid: u32,
    f: impl FnOnce() -> T,
) -> Result<(T, u64, u64, f64)> {
    evaluation_ended(c)?;
    let count = Evaluations::scrape(c)?.count;
    let (out, rss0, most) = rss_during(pid, f);
    Ok((out, rss0, most, Evaluations::scrape(c)?.count - count))
}

/// A snapshot taken while a kept evaluation runs, as an operator's may be
/// under ingest, and a window as long without one, the evaluation running
/// too: the collector's RSS rises by both. Under ingest the evaluator rests
/// as long as its last evaluation took, then evaluates again; each is
/// started a second or two into the next evaluation, and the phrase says
/// when the evaluation beside it ended and how long it took.
fn during_evaluation(c: &Collector, pid: u32) -> Result<String> {
    let measure = |f: &mut dyn FnMut() -> Result<()>| -> Result<String> {
        let before = Evaluations::scrape(c)?;
        evaluation_ended(c)?;
        let after = Evaluations::scrape(c)?;
        let took = (after.seconds - before.seconds) / (after.count - before.count).max(1.0);
        std::thread::sleep(Duration::from_secs_f64(took) + Duration::from_millis(1500));
        let (count, started) = (Evaluations::scrape(c)?, Instant::now());
        let (done, rss0, most) = rss_during(pid, f);
        done?;
        let lasted = started.elapsed().as_secs_f64();
        if Evaluations::scrape(c)?.count == count.count {
            evaluation_ended(c)?;
        }
        let ended = started.elapsed().as_secs_f64();
        let next = Evaluations::scrape(c)?;
        let its = (next.seconds - count.seconds) / (next.count - count.count).max(1.0);
        Ok(format!(
            "{lasted:.2} s, collector RSS {:.0} MiB before, +{:.0} MiB at most; the kept evaluation beside it ({its:.1} s) ended {ended:.1} s after it began{}",
            rss0 as f64 / 1024.0,
            most.saturating_sub(rss0) as f64 / 1024.0,
            if ended - its < lasted {
                ""
            } else {
                " (so it did NOT run beside it)"
            }
        ))
    };
    let mut took = Duration::ZERO;
    let with = measure(&mut || {
        let started = Instant::now();
        post_snapshot(c)?;
        took = started.elapsed();
        Ok(())
    })?;
    let without = measure(&mut || {
        std::thread::sleep(took);
        Ok(())
    })?;
    Ok(format!(
        "snapshot while a kept evaluation runs (POST /api/v1/snapshots): {with}\nas long without one, a kept evaluation running: {without}"
    ))
}

/// A snapshot taken while nothing else runs in the collector (no ingest,
/// the evaluation settled): the rise of its peak RSS (VmHWM, reset first)
/// is the snapshot's own, beside the same rise over as long without one.
fn quiet_snapshot(c: &Collector, pid: u32) -> Result<String> {
    // Right after a kept evaluation, once the collector's memory has
    // settled: the next is due a minute after the last began
    // (`verdicts.refresh`), with no ingest going on. Taken at once after
    // one, the same window without a snapshot rose by 150–200 MiB.
    let after_evaluation = || -> Result<()> {
        evaluation_ended(c)?;
        // What follows an evaluation (the memory it let go of, what reads
        // it) settles first: within 2 s the anonymous memory changes by
        // less than 8 MiB, or a minute has passed.
        let settling = Instant::now();
        let mut anon = status_kib(pid, "RssAnon");
        while settling.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_secs(2));
            let now = status_kib(pid, "RssAnon");
            if now.abs_diff(anon) < 8 * 1024 {
                break;
            }
            anon = now;
        }
        Ok(())
    };
    after_evaluation()?;
    // Writing 5 to clear_refs resets VmHWM to the current RSS (proc(5)).
    // The RSS counts the store's memory-mapped pages too (RssFile, the
    // kernel's page cache); RssAnon, sampled, is the collector's own.
    let rises = |f: &mut dyn FnMut() -> Result<()>| -> Result<(f64, f64)> {
        std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
            .context("resetting the collector's peak RSS")?;
        let (rss0, _) = memory_kib(pid);
        let (done, anon0, anon) = sampled(pid, "RssAnon", f);
        done?;
        let (_, hwm) = memory_kib(pid);
        let kib = |a: u64, b: u64| a.saturating_sub(b) as f64 / 1024.0;
        Ok((kib(hwm, rss0), kib(anon, anon0)))
    };
    // One snapshot: its id, time, rises and the kept evaluations beside it.
    let snapshot = || -> Result<(String, Duration, f64, f64, f64)> {
        let (started, evaluations) = (Instant::now(), Evaluations::scrape(c)?.count);
        let mut id = String::new();
        let (rise, anon) = rises(&mut || {
            let answer = post_snapshot(c)?;
            id = answer["id"].as_str().unwrap_or_default().to_string();
            Ok(())
        })?;
        let took = started.elapsed();
        let beside = Evaluations::scrape(c)?.count - evaluations;
        Ok((id, took, rise, anon, beside))
    };
    let (id, took, rise, anon, beside) = snapshot()?;
    after_evaluation()?;
    let evaluations = Evaluations::scrape(c)?.count;
    let (idle, idle_anon) = rises(&mut || {
        std::thread::sleep(took);
        Ok(())
    })?;
    let idle_evaluations = Evaluations::scrape(c)?.count - evaluations;
    // The next, with nothing changed: what a day's snapshot of an idle
    // fleet costs (every object known from the first).
    after_evaluation()?;
    let (id2, took2, rise2, anon2, beside2) = snapshot()?;
    Ok(format!(
        "snapshot with nothing else running ({id}, the first: what changed since it was written ahead): {:.2} s; collector peak RSS +{rise:.0} MiB over its RSS before (VmHWM reset), anonymous memory (RssAnon, sampled every 20 ms) +{anon:.0} MiB; {beside:.0} kept evaluations meanwhile; as long without a snapshot: peak RSS +{idle:.0} MiB, RssAnon +{idle_anon:.0} MiB, {idle_evaluations:.0} kept evaluations\n\
         the next snapshot with nothing else running ({id2}, nothing changed): {:.2} s; collector peak RSS +{rise2:.0} MiB, RssAnon +{anon2:.0} MiB; {beside2:.0} kept evaluations meanwhile",
        took.as_secs_f64(),
        took2.as_secs_f64()
    ))
}

/// The collector's `/metrics`.
fn metrics_text(c: &Collector) -> Result<String> {
    Ok(ureq::get(&format!("http://127.0.0.1:{}/metrics", c.http))
        .call()
        .context("GET /metrics")?
        .into_string()?)
}

/// The value of the unlabelled metric `name` in `text`; NaN when absent.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(f64::NAN)
}

/// The collector's kept evaluations so far, from `/metrics`.
#[derive(Debug, Default)]
struct Evaluations {
    count: f64,
    seconds: f64,
    read_seconds: f64,
    changed: f64,
    reused: f64,
    converted: f64,
    hosts_reused: f64,
    hosts_judged: f64,
}

impl Evaluations {
    fn scrape(c: &Collector) -> Result<Self> {
        let text = metrics_text(c)?;
        let value = |name: &str| metric(&text, name);
        Ok(Self {
            count: value("gamsa_collector_verdicts_evaluations_total"),
            seconds: value("gamsa_collector_verdicts_evaluation_seconds_sum"),
            read_seconds: value("gamsa_collector_verdicts_read_seconds_total"),
            changed: value("gamsa_collector_verdicts_evidence_changed_total"),
            reused: value("gamsa_collector_verdicts_evidence_reused_total"),
            converted: value("gamsa_collector_verdicts_evidence_converted_total"),
            hosts_reused: value("gamsa_collector_verdicts_host_results_reused_total"),
            hosts_judged: value("gamsa_collector_verdicts_host_results_judged_total"),
        })
    }

    /// What happened since `before`, over `window` seconds, as a phrase.
    fn since(&self, before: &Self, window: f64) -> String {
        let n = self.count - before.count;
        format!(
            "kept evaluations during the {window:.0} s of ingest: {n:.0}, {:.1} s each on average ({:.1} s of it reading the latest evidence); rows of the latest set read as changed {:.0}, latest evidence taken from the previous reading {:.0}, read whole {:.0}; host results taken from the previous evaluation {:.0}, judged {:.0}",
            (self.seconds - before.seconds) / n.max(1.0),
            (self.read_seconds - before.read_seconds) / n.max(1.0),
            self.changed - before.changed,
            self.reused - before.reused,
            self.converted - before.converted,
            self.hosts_reused - before.hosts_reused,
            self.hosts_judged - before.hosts_judged
        )
    }
}

/// The files snapshot `id` names that a fetch of it reads in turn, for
/// `host`: the index naming the host, its part, its results, and the
/// largest evidence content it cites; as API paths.
fn snapshot_files(c: &Collector, id: &str, host: &str) -> Result<Vec<String>> {
    let object = |sha: &Value| -> Result<(String, Value)> {
        let sha = sha.as_str().context("a file named without a hash")?;
        let path = format!("/api/v1/snapshots/objects/{sha}");
        Ok((path.clone(), c.get(&path)?))
    };
    let manifest = c.get(&format!("/api/v1/snapshots/{id}"))?;
    for index in manifest["body"]["hostIndex"]
        .as_array()
        .context("the signed file names no host index")?
    {
        let (index_path, hosts) = object(&index["sha256"])?;
        let Some(entry) = hosts["hosts"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|h| h["host"] == host)
        else {
            continue;
        };
        let (part_path, part) = object(&entry["sha256"])?;
        let (results_path, _) = object(&part["results"])?;
        let mut largest = (0, String::new());
        for e in part["evidence"].as_array().into_iter().flatten() {
            let (path, content) = object(&e["content"])?;
            largest = largest.max((content.to_string().len(), path));
        }
        return Ok(vec![index_path, part_path, results_path, largest.1]);
    }
    bail!("snapshot {id} names no host {host}")
}

/// Every GET call of the API and dashboard, with real ids: closely for
/// the measured (catalog, item), and the pages and default answers of each
/// of `others` (catalog, its widest item).
fn calls(
    (catalog, item): (&str, &str),
    others: &[(String, String)],
    host: &str,
    s1: &str,
    s2: &str,
    month: &str,
    snapshot_files: &[String],
) -> Vec<(String, bool)> {
    let api = [
        "/healthz".to_string(),
        "/readyz".into(),
        "/metrics".into(),
        "/api/v1/openapi.json".into(),
        "/api/v1/agents".into(),
        "/api/v1/evidence".into(),
        format!("/api/v1/evidence?host={host}"),
        "/api/v1/catalogs".into(),
        format!("/api/v1/catalogs/{catalog}/items"),
        format!("/api/v1/catalogs/{catalog}/items/{item}"),
        "/api/v1/availability".into(),
        "/api/v1/maintenance".into(),
        "/api/v1/snapshots".into(),
        "/api/v1/snapshots/public-key".into(),
        format!("/api/v1/findings?host={host}"),
        "/api/v1/inventory".into(),
        "/api/v1/access-log".into(),
        "/api/v1/tokens".into(),
        "/api/v1/users".into(),
    ];
    let dashboard = [
        "/login".to_string(),
        "/".into(),
        format!("/catalogs/{catalog}"),
        format!("/catalogs/{catalog}/items/{item}"),
        "/hosts".into(),
        format!("/hosts/{host}"),
        format!("/hosts/{host}/changes"),
        "/availability".into(),
        "/snapshots".into(),
        "/snapshots/public-key".into(),
        "/exports".into(),
        "/access-log".into(),
        "/admin".into(),
    ];
    // Last, the calls whose answer grows with the fleet's whole evidence
    // (reports, findings, exports, snapshots): if one outgrows the collector's memory limit,
    // the others are measured already.
    let heavy = [
        (
            format!("/api/v1/reports/monthly?month={month}&format=html"),
            false,
        ),
        (
            format!("/availability/report?month={month}&format=html"),
            true,
        ),
        (
            format!("/api/v1/reports/monthly?month={month}&format=pdf"),
            false,
        ),
        ("/findings".to_string(), true),
        ("/findings/report?format=html".to_string(), true),
        ("/api/v1/findings".to_string(), false),
        ("/api/v1/findings/report?format=csv".to_string(), false),
        ("/api/v1/findings/report?format=html".to_string(), false),
        ("/api/v1/findings/report?format=pdf".to_string(), false),
        (format!("/findings/report?format=html&host={host}"), true),
        (
            format!("/api/v1/findings/report?format=csv&host={host}"),
            false,
        ),
        (
            format!("/api/v1/findings/report?format=pdf&host={host}"),
            false,
        ),
        (format!("/api/v1/snapshots/diff?from={s1}&to={s2}"), false),
        (format!("/snapshots/diff?from={s1}&to={s2}"), true),
        (
            format!("/api/v1/exports?catalog={catalog}&format=csv"),
            false,
        ),
        (
            format!("/api/v1/exports?catalog={catalog}&format=html"),
            false,
        ),
        (
            format!("/exports/download?catalog={catalog}&format=html"),
            true,
        ),
        (
            format!("/api/v1/exports?catalog={catalog}&format=pdf"),
            false,
        ),
        (format!("/api/v1/snapshots/{s2}"), false),
        (format!("/api/v1/snapshots/{s2}?all=true"), false),
        (format!("/snapshots/download?id={s2}"), true),
    ];
    // A snapshot fetched a file at a time: the files one host needs.
    let snapshot_files = snapshot_files.iter().map(|p| (p.clone(), false));
    // The machine-readable exports: a first page, a page from the middle of
    // the fleet, and the whole file on request (`all=true`).
    let paged = ["json", "ndjson", "ocsf"].into_iter().flat_map(|format| {
        let path = format!("/api/v1/exports?catalog={catalog}&format={format}");
        [
            (path.clone(), false),
            (format!("{path}&after={host}"), false),
            (format!("{path}&all=true"), false),
        ]
    });
    // The seed's evidence forms (network redundancy, location, services):
    // a first JSON page and the whole form as a document.
    let forms = ["2-1", "2-4", "2-5"].into_iter().flat_map(|form| {
        let path = format!("/api/v1/exports?catalog=emr-s014&form={form}");
        [
            (format!("{path}&format=json"), false),
            (format!("{path}&format=html"), false),
        ]
    });
    api.into_iter()
        .map(|p| (p, false))
        .chain(dashboard.into_iter().map(|p| (p, true)))
        .chain(heavy)
        .chain(snapshot_files)
        .chain(paged)
        .chain(forms)
        .chain(others.iter().flat_map(|(c, i)| catalog_pages(c, i, host)))
        .collect()
}

/// A catalog's own pages and default answers, beside the measured
/// catalog's: its items and widest item in the API and the dashboard, its
/// exports (CSV, HTML, PDF), and a first and a middle page of each
/// machine-readable export. Not the whole files, measured for one catalog.
fn catalog_pages(catalog: &str, item: &str, host: &str) -> Vec<(String, bool)> {
    let mut calls = vec![
        (format!("/api/v1/catalogs/{catalog}/items"), false),
        (format!("/api/v1/catalogs/{catalog}/items/{item}"), false),
        (format!("/catalogs/{catalog}"), true),
        (format!("/catalogs/{catalog}/items/{item}"), true),
    ];
    for format in ["csv", "html", "pdf"] {
        calls.push((
            format!("/api/v1/exports?catalog={catalog}&format={format}"),
            false,
        ));
    }
    for format in ["json", "ndjson", "ocsf"] {
        let path = format!("/api/v1/exports?catalog={catalog}&format={format}");
        calls.push((format!("{path}&after={host}"), false));
        calls.push((path, false));
    }
    calls
}

/// Measures every call, one request at a time; prints a table line each.
/// Whether `status` answers `path`: a success, or the findings report of
/// the whole fleet refused (400) past 100,000 findings as documented (a
/// host's or a catalog's report is the one read; measured beside it).
fn answered(path: &str, status: u16) -> bool {
    (200..300).contains(&status)
        || (status == 400 && path.contains("findings/report") && !path.contains("host="))
}

type Utc = chrono::DateTime<chrono::Utc>;

/// What measuring the calls found: the calls over a target, the slow
/// requests of the others, and when it ran.
struct Measured {
    over: Vec<String>,
    slow: Vec<Slow>,
    window: (Utc, Utc),
}

/// A request over the time target, of a call whose median is within it: a
/// sporadic slow answer, which `during` lines up with the collector's log.
struct Slow {
    at: Utc,
    ms: f64,
    call: String,
}

/// The collector's log lines, with their timestamps (first on each line, as
/// `[log]` writes them).
fn log_lines(log: &str) -> Vec<(Utc, &str)> {
    log.lines()
        .filter_map(|l| {
            let (t, rest) = l.split_once(' ')?;
            let t = chrono::DateTime::parse_from_rfc3339(t).ok()?;
            Some((t.to_utc(), rest.trim()))
        })
        .collect()
}

/// One kept evaluation, from its debug line (`verdicts evaluated`, logged
/// as it ends, with `took_ms` and `read_ms`): when it started, when its
/// reading of the latest evidence ended, and when it ended.
struct Phases {
    start: Utc,
    read_end: Utc,
    end: Utc,
}

fn phases(lines: &[(Utc, &str)]) -> Vec<Phases> {
    let field = |l: &str, name: &str| -> Option<i64> {
        let at = l.find(&format!(" {name}="))? + name.len() + 2;
        l[at..].split(' ').next()?.parse().ok()
    };
    lines
        .iter()
        .filter(|(_, l)| l.contains("verdicts evaluated"))
        .filter_map(|(end, l)| {
            let start = *end - chrono::Duration::milliseconds(field(l, "took_ms")?);
            let read_end = start + chrono::Duration::milliseconds(field(l, "read_ms")?);
            Some(Phases {
                start,
                read_end,
                end: *end,
            })
        })
        .collect()
}

/// What the evaluator was doing in `[from, to]`: "reading" if that meets
/// an evaluation's reading of the latest evidence, "judging" if it meets
/// only the rest of one, "resting" if none.
fn evaluator_during(phases: &[Phases], from: Utc, to: Utc) -> &'static str {
    let meets = |a: Utc, b: Utc| a <= to && b >= from;
    if phases.iter().any(|p| meets(p.start, p.read_end)) {
        "reading"
    } else if phases.iter().any(|p| meets(p.read_end, p.end)) {
        "judging"
    } else {
        "resting"
    }
}

/// Each slow request with what the evaluator was doing (`evaluator_during`)
/// and the collector's log lines from shortly before it started until it
/// ended, the lines requests write (who exported what, who viewed which
/// item) left out; then how many of them met an evaluation's reading beside the share
/// of the measured time the evaluator spent reading, `window`: what a slow
/// request would meet by chance.
fn during(log: &str, slow: &[Slow], window: (Utc, Utc)) -> String {
    const REQUESTS_LOG: [&str; 2] = ["gamsa_collector::operations", "gamsa_collector::dashboard"];
    let lines = log_lines(log);
    let phases = phases(&lines);
    let lines: Vec<&(Utc, &str)> = lines
        .iter()
        .filter(|(_, l)| !REQUESTS_LOG.iter().any(|r| l.contains(r)))
        .collect();
    let mut out = String::new();
    let mut reading = 0;
    for s in slow {
        let end = s.at + chrono::Duration::milliseconds(s.ms as i64);
        let doing = evaluator_during(&phases, s.at, end);
        reading += usize::from(doing == "reading");
        out.push_str(&format!(
            "- {} {:.1} ms {} (the evaluator {doing})\n",
            s.at.format("%H:%M:%S%.3f"),
            s.ms,
            s.call
        ));
        let from = s.at - chrono::Duration::milliseconds(200);
        let to = end + chrono::Duration::milliseconds(50);
        let meanwhile = lines.iter().filter(|(t, _)| *t >= from && *t <= to);
        for (t, l) in meanwhile.take(8) {
            let l: String = l.chars().take(200).collect();
            out.push_str(&format!("    {} {l}\n", t.format("%H:%M:%S%.3f")));
        }
    }
    let (from, to) = window;
    let read_ms: i64 = phases
        .iter()
        .map(|p| {
            (p.read_end.min(to) - p.start.max(from))
                .num_milliseconds()
                .max(0)
        })
        .sum();
    let share = read_ms as f64 / (to - from).num_milliseconds().max(1) as f64;
    out.push_str(&format!(
        "{reading} of {} met an evaluation's reading of the latest evidence, which took {:.0}% of the measured time\n",
        slow.len(),
        share * 100.0
    ));
    out
}

fn measure_calls(
    h: &Http,
    calls: &[(String, bool)],
    requests: usize,
    pid: u32,
) -> (Vec<String>, Vec<Slow>) {
    // The first byte's time and the collector's memory say whether a whole
    // file on request streams: it starts at once and holds little.
    println!("\n| call | requests | p50 ms | p95 ms | max ms | bytes | status | over target | first byte p95 ms | collector RssAnon rise MiB |");
    println!("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|");
    let (mut over, mut slow) = (Vec::new(), Vec::new());
    for (n, (path, dashboard)) in calls.iter().enumerate() {
        if !alive(pid) {
            println!("\nthe collector exited; not measured:");
            for (path, _) in &calls[n..] {
                println!("  {path}");
            }
            over.push("the collector exited before every call was measured".into());
            break;
        }
        let started = Instant::now();
        let (mut times, mut firsts, mut starts) = (Vec::new(), Vec::new(), Vec::new());
        let (mut bytes, mut statuses) = (0, std::collections::BTreeSet::new());
        let ((), anon0, anon) = sampled(pid, "RssAnon", || {
            while times.len() < requests
                && (times.len() < MIN_REQUESTS || started.elapsed() < CALL_BUDGET)
            {
                starts.push(chrono::Utc::now());
                let (t, first, b, s) = request(h, path, *dashboard);
                times.push(t.as_secs_f64() * 1e3);
                firsts.push(first.as_secs_f64() * 1e3);
                bytes = bytes.max(b);
                statuses.insert(s);
            }
        });
        let name = format!("{} {path}", if *dashboard { "dashboard" } else { "API" });
        let sampled: Vec<(Utc, f64)> = starts.into_iter().zip(times.iter().copied()).collect();
        times.sort_by(f64::total_cmp);
        firsts.sort_by(f64::total_cmp);
        if pct(&times, 0.5) < TARGET_MS {
            slow.extend(
                (sampled.into_iter().filter(|(_, ms)| *ms >= TARGET_MS)).map(|(at, ms)| Slow {
                    at,
                    ms,
                    call: name.clone(),
                }),
            );
        }
        let p95 = pct(&times, 0.95);
        let ok = statuses.iter().all(|s| answered(path, *s));
        let mut why = Vec::new();
        if p95 >= TARGET_MS {
            why.push("p95");
        }
        if bytes >= TARGET_BYTES {
            why.push("size");
        }
        if !ok {
            why.push("not 2xx");
        }
        if !why.is_empty() {
            over.push(format!("{name} ({})", why.join(", ")));
        }
        let statuses: Vec<String> = statuses.iter().map(u16::to_string).collect();
        println!(
            "| {name} | {} | {:.1} | {:.1} | {:.1} | {bytes} | {} | {} | {:.1} | {:.0} |",
            times.len(),
            pct(&times, 0.5),
            p95,
            times.last().copied().unwrap_or(f64::NAN),
            statuses.join(","),
            if why.is_empty() {
                "no".to_string()
            } else {
                format!("**yes** ({})", why.join(", "))
            },
            pct(&firsts, 0.95),
            anon.saturating_sub(anon0) as f64 / 1024.0,
        );
    }
    (over, slow)
}

/// The (catalog, item) whose answer counts the most hosts: the item the
/// fill waits on, and the catalog measured most closely.
fn widest_item(c: &Collector) -> Result<(String, String, usize)> {
    widest_items(c)?
        .into_iter()
        .max_by_key(|(_, _, hosts, known)| (*hosts, *known))
        .map(|(c, i, h, _)| (c, i, h))
        .context("no catalog item in the API")
}

/// Each catalog's item that counts the most hosts (and among those, the
/// one whose hosts have the most evidence behind them), with both counts.
fn widest_items(c: &Collector) -> Result<Vec<(String, String, usize, usize)>> {
    let catalogs = c.get("/api/v1/catalogs")?;
    let mut widest = Vec::new();
    for cat in catalogs["catalogs"]
        .as_array()
        .context("no catalogs in /api/v1/catalogs")?
    {
        let Some(id) = cat["id"].as_str().or_else(|| cat["catalog"].as_str()) else {
            continue;
        };
        let items = c.get(&format!("/api/v1/catalogs/{id}/items"))?;
        let mut best: Option<(String, String, usize, usize)> = None;
        for item in items["items"].as_array().into_iter().flatten() {
            let counts = &item["hostCounts"];
            let hosts: usize = counts
                .as_object()
                .map(|m| m.values().filter_map(Value::as_u64).sum::<u64>() as usize)
                .unwrap_or(0);
            let known = hosts.saturating_sub(counts["UNKNOWN"].as_u64().unwrap_or(0) as usize);
            if best.as_ref().is_none_or(|b| (hosts, known) > (b.2, b.3)) {
                if let Some(i) = item["id"].as_str() {
                    best = Some((id.to_string(), i.to_string(), hosts, known));
                }
            }
        }
        widest.extend(best);
    }
    Ok(widest)
}

fn this_month() -> String {
    chrono::Utc::now().format("%Y-%m").to_string()
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = args()?;
    let template = read_evidence(&args.evidence)?;
    let intervals = default_intervals();
    let mut templates = Vec::new();
    let mut left_out = Vec::new();
    for e in &template {
        match intervals.get(&e.probe) {
            Some(&every) => templates.push((e.clone(), every)),
            None => left_out.push(e.probe.clone()),
        }
    }
    let per_host_day: f64 = templates
        .iter()
        .map(|(_, every)| 86_400_000.0 / *every as f64)
        .sum();
    let rate = per_host_day * args.hosts as f64 / 86_400.0;
    println!(
        "fleet: {} hosts, store {}, {} requests a call; evidence {} ({} evidence a host, {} bytes of JSON)",
        args.hosts,
        args.store,
        args.requests,
        args.evidence.display(),
        template.len(),
        std::fs::metadata(&args.evidence).map(|m| m.len()).unwrap_or(0),
    );
    println!(
        "re-observations at the default intervals: {per_host_day:.0} a host-day, {rate:.1} evidence/s for the fleet{}",
        if left_out.is_empty() {
            String::new()
        } else {
            format!(" (no default interval, sent once: {})", left_out.join(", "))
        }
    );

    // The scratch schema outlives the collector (declared first, dropped last).
    let scratch = match args.store.as_str() {
        "sqlite" => None,
        "postgres" => Some(Scratch::create("gamsa_fleet")),
        url if url.starts_with("postgres://") => Some(Scratch::create_on(url, "gamsa_fleet")),
        other => bail!("store {other:?}: sqlite, postgres or a postgres:// URL"),
    };
    // Written ahead of the first snapshot every 2 minutes, not 10: the
    // simulated agents send nothing while the fleet is quiet (the assessment
    // and the quiet snapshots below), and the collector closes a stream idle
    // for 15 minutes. The first snapshot is measured once what was written
    // ahead covers the fill, whichever the period.
    // The evaluator's debug lines, for what the collector did while a
    // request was slow (`during`).
    let settings = Settings {
        log: "level = \"info,gamsa_collector::evaluation=debug,gamsa_collector::checklists=debug,gamsa_collector::rules=debug\""
            .into(),
        sections: "[snapshots]\nwrite_ahead = \"2m\"\n".into(),
        ..Settings::default()
    };
    let c = Arc::new(
        Collector::start_configured(scratch.as_ref().map(|s| s.url.as_str()), settings)
            .context("starting the collector")?,
    );
    // The collector's log outlives a run that fails (dropped before `c`,
    // whose directory holds it): a collector that exits says why there.
    let kept_log = KeptLog {
        from: c.proc.as_ref().map(|p| p.log.clone()),
        to: PathBuf::from(format!(
            "target/fleet-collector-{}-{}.log",
            if scratch.is_some() {
                "postgres"
            } else {
                "sqlite"
            },
            args.hosts
        )),
    };
    let pid = limited(&c)?;
    let enrol_token = run(c.cmd().args([
        "token",
        "create",
        "--uses",
        &args.hosts.to_string(),
        "--ttl",
        "24h",
    ]))?
    .trim()
    .to_string();
    let pw = c.dir.path().join("reader.pw");
    std::fs::write(&pw, "fleet-reader-password-1")?;
    run(c
        .cmd()
        .args([
            "user",
            "add",
            "reader",
            "--role",
            "admin",
            "--password-file",
        ])
        .arg(&pw))?;
    let pki = Arc::new(Pki {
        endpoint: format!("https://127.0.0.1:{}", c.grpc),
        ca: std::fs::read_to_string(c.data().join("pki/ca.crt")).context("the collector CA")?,
        token: enrol_token,
    });

    // (a) Fill: every host enrols, connects and sends its evidence once.
    println!(
        "\nload average before the run: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    let started = Instant::now();
    let permits = Arc::new(Semaphore::new(FILL_CONCURRENCY));
    let template = Arc::new(template);
    let mut tasks = Vec::with_capacity(args.hosts);
    for i in 1..=args.hosts {
        let (pki, template, permits) = (pki.clone(), template.clone(), permits.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = permits.acquire_owned().await?;
            let name = host_name(i);
            let mut stream = enrol_and_connect(&pki, &name)
                .await
                .with_context(|| format!("host {name}"))?;
            let evidence = template.iter().map(|t| as_host(t, &name)).collect();
            stream
                .send(evidence)
                .await
                .with_context(|| format!("host {name}: its evidence"))?;
            anyhow::Ok(Agent {
                name,
                stream: tokio::sync::Mutex::new(stream),
            })
        }));
    }
    let mut agents = Vec::with_capacity(args.hosts);
    for (n, t) in tasks.into_iter().enumerate() {
        agents.push(t.await??);
        if (n + 1) % 1000 == 0 {
            eprintln!(
                "{} hosts filled, {:.0} s",
                n + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }
    let fill = started.elapsed();
    let sent = args.hosts * template.len();
    println!(
        "fill: {} hosts enrolled, connected and acked {sent} evidence in {:.1} s ({:.0} evidence/s, {:.0} hosts/s)",
        args.hosts,
        fill.as_secs_f64(),
        sent as f64 / fill.as_secs_f64(),
        args.hosts as f64 / fill.as_secs_f64()
    );
    // Wait until the kept evaluation includes every write of the fill.
    let (c2, expected) = (c.clone(), args.hosts);
    let waited = Instant::now();
    let (catalog, item) = tokio::task::spawn_blocking(move || -> Result<(String, String)> {
        loop {
            let (catalog, item, hosts) = widest_item(&c2)?;
            let answer = c2.get(&format!("/api/v1/catalogs/{catalog}/items/{item}?limit=1"))?;
            let pending = answer["pending"].as_bool().unwrap_or(true);
            let counted = answer["page"]["hosts"].as_u64().unwrap_or(0) as usize;
            if !pending && counted >= expected {
                return Ok((catalog, item));
            }
            if waited.elapsed() > Duration::from_secs(900) {
                bail!("the evaluation did not include the fill within 15 minutes ({hosts} hosts in {catalog}/{item}, pending {pending})");
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    })
    .await??;
    let answer = c.get(&format!("/api/v1/catalogs/{catalog}/items/{item}?limit=1"))?;
    let counted = answer["page"]["hosts"].as_u64().unwrap_or(0);
    println!(
        "evaluation: includes the fill {:.1} s after the last ack; {catalog}/{item} counts {counted} hosts ({}), asOf {}",
        waited.elapsed().as_secs_f64(),
        answer["result"]["hostCounts"],
        answer["asOf"]
    );
    if counted < args.hosts as u64 {
        eprintln!(
            "warning: {catalog}/{item} counts {counted} hosts, not {}",
            args.hosts
        );
    }
    let after_fill = store_bytes(&c, scratch.as_ref()).await?;
    let tables_after_fill = table_bytes(&c, scratch.as_ref()).await?;
    let (rss, hwm) = memory_kib(pid);
    println!(
        "after fill: store {:.1} MiB ({:.1} KiB a host); collector RSS {:.0} MiB, peak {:.0} MiB",
        mib(after_fill),
        after_fill as f64 / 1024.0 / args.hosts as f64,
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );

    // The findings history records the fleet's failing rows once, at the
    // first assessment (every `findings.interval`) that reads an evaluation
    // including the fill: a one-time write, waited for here so that the
    // quiet snapshots and the window of ingest below measure what they are
    // about (it wrote 160 MiB in one run, in the middle of both).
    let fill_as_of = answer["asOf"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map_or(0, |t| t.timestamp_millis());
    let waited = Instant::now();
    // The assessment's time is stored with its findings, in one write.
    loop {
        let history = c.get("/api/v1/findings?limit=1")?;
        let times = &history["assessments"];
        let last = times["lastMs"].as_i64();
        if last.is_some_and(|t| t >= fill_as_of) {
            break;
        }
        if waited.elapsed() > Duration::from_secs(900) {
            bail!("no assessment of the fill within 15 minutes");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let mut bytes = store_bytes(&c, scratch.as_ref()).await?;
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = store_bytes(&c, scratch.as_ref()).await?;
        if now == bytes {
            break;
        }
        bytes = now;
    }
    println!(
        "findings: the assessment of the fill recorded {:.0} s later; store {:.1} MiB",
        waited.elapsed().as_secs_f64(),
        mib(bytes)
    );

    // Until the first snapshot, the collector writes ahead what it will name
    // (`[snapshots] write_ahead`, every 2 minutes here): waited for
    // until it covers the fill, so that the first snapshot below is the one
    // a fleet gets at its first scheduled time.
    let waited = Instant::now();
    while metric(
        &metrics_text(&c)?,
        "gamsa_collector_snapshot_written_ahead_timestamp_seconds",
    ) * 1000.0
        < fill_as_of as f64
    {
        if waited.elapsed() > Duration::from_secs(1500) {
            bail!("nothing written ahead of the fill's evaluation within 25 minutes");
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let log = c.proc.as_ref().map(|p| p.log.clone());
    let ahead: Vec<String> = log
        .and_then(|l| std::fs::read_to_string(l).ok())
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("written ahead"))
        .map(|l| {
            l.split_once("INFO ")
                .map_or(l, |(_, rest)| rest)
                .to_string()
        })
        .collect();
    println!(
        "written ahead of the first snapshot, {:.0} s after the assessment; the collector's log: {}",
        waited.elapsed().as_secs_f64(),
        ahead.join(" | ")
    );

    let c2 = c.clone();
    println!(
        "{}",
        tokio::task::spawn_blocking(move || quiet_snapshot(&c2, pid)).await??
    );

    // (b) Ingest continues at the fleet's default-interval rate.
    let agents = Arc::new(agents);
    let stats = Arc::new(IngestStats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let ingest = tokio::spawn(keep_ingesting(
        agents.clone(),
        Arc::new(templates),
        stats.clone(),
        stop.clone(),
    ));
    // (c) Store growth over a window of ingest alone.
    let evaluations0 = Evaluations::scrape(&c)?;
    let t0 = Instant::now();
    let (b0, a0) = (
        store_bytes(&c, scratch.as_ref()).await?,
        stats.acked.load(Ordering::Relaxed),
    );
    tokio::time::sleep(GROWTH_WINDOW).await;
    let (b1, a1) = (
        store_bytes(&c, scratch.as_ref()).await?,
        stats.acked.load(Ordering::Relaxed),
    );
    let window = t0.elapsed().as_secs_f64();
    let grown = b1.saturating_sub(b0);
    let acked = a1 - a0;
    println!(
        "store growth over {window:.0} s of ingest alone: {:.2} MiB for {acked} acked evidence ({:.0} evidence/s, target {rate:.0}): {:.0} B an observation; {:.0} KiB a host-day at this rate",
        mib(grown),
        acked as f64 / window,
        grown as f64 / acked.max(1) as f64,
        grown as f64 / args.hosts as f64 * (86_400.0 / window) / 1024.0,
    );

    if let Some(s) = scratch.as_ref() {
        println!("updates in place so far: {}", updates_in_place(s).await?);
    }

    // Snapshots, then every call, with ingest going on.
    let c3 = c.clone();
    let (requests, hosts) = (args.requests, args.hosts);
    let calls_measured = tokio::task::spawn_blocking(move || -> Result<Measured> {
        let objects = c3.data().join("snapshots").join("objects");
        let base = format!("http://127.0.0.1:{}", c3.http);
        // Two in the collector (from its kept evaluation; the second reuses
        // what the first wrote), then one by the CLI, which hands it to the
        // collector. Each, and each window without one, right after a kept
        // evaluation ended, so that what the collector's RSS rises by is
        // the snapshot's and ingest's, not an evaluation's.
        let (mut taken, mut took_last) = (Vec::new(), 0.0);
        for _ in 0..2 {
            let objects0 = tree_size(&objects);
            let mut took = 0.0;
            let (answer, rss0, most, beside) = after_evaluation(&c3, pid, || {
                let started = Instant::now();
                let answer = post_snapshot(&c3);
                took = started.elapsed().as_secs_f64();
                answer
            })?;
            let answer = answer?;
            let id = answer["id"].as_str().unwrap_or_default().to_string();
            let size = std::fs::read_dir(c3.data().join("snapshots"))
                .ok()
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(&id))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum::<u64>();
            println!(
                "snapshot (POST /api/v1/snapshots): {took:.2} s, {:.1} MiB file, {}; collector RSS {:.0} MiB before, at most {:.0} MiB during (+{:.0} MiB); {beside:.0} kept evaluations meanwhile",
                mib(size),
                objects_added(objects0, tree_size(&objects)),
                rss0 as f64 / 1024.0,
                most as f64 / 1024.0,
                most.saturating_sub(rss0) as f64 / 1024.0
            );
            taken.push(id);
            took_last = took;
        }
        // Three times as long as the last snapshot took, without one: how
        // much the collector's RSS rises with ingest and its evaluations
        // alone, beside what it rose during the snapshot.
        let rises = (0..3)
            .map(|_| {
                let (_, rss0, most, beside) = after_evaluation(&c3, pid, || {
                    std::thread::sleep(Duration::from_secs_f64(took_last));
                })?;
                Ok(format!(
                    "+{:.0} ({beside:.0} kept evaluations meanwhile)",
                    most.saturating_sub(rss0) as f64 / 1024.0
                ))
            })
            .collect::<Result<Vec<String>>>()?;
        println!(
            "no snapshot, three times {took_last:.2} s: collector RSS rose {} MiB",
            rises.join(", ")
        );
        println!("{}", during_evaluation(&c3, pid)?);
        let objects0 = tree_size(&objects);
        let (cli, rss0, most, beside) = after_evaluation(&c3, pid, || snapshot_by_cli(&c3))?;
        match cli {
            Ok(cli) => println!(
                "snapshot (`gamsa-collector snapshot create` beside the collector, {}; collector RSS {:.0} MiB before, at most {:.0} MiB during (+{:.0} MiB); {beside:.0} kept evaluations meanwhile",
                cli.phrase(objects_added(objects0, tree_size(&objects))),
                rss0 as f64 / 1024.0,
                most as f64 / 1024.0,
                most.saturating_sub(rss0) as f64 / 1024.0
            ),
            Err(e) => println!("\nsnapshot (`gamsa-collector snapshot create`): failed: {e:#}"),
        }
        let (s1, last) = (taken[0].clone(), taken[1].clone());
        let h = Http {
            base: base.clone(),
            token: c3.token.clone(),
            cookie: sign_in(&base, "reader", "fleet-reader-password-1")?,
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(300))
                .build(),
        };
        let host = host_name(hosts / 2 + 1);
        let files = snapshot_files(&c3, &last, &host)?;
        let others: Vec<(String, String)> = widest_items(&c3)?
            .into_iter()
            .filter(|(c, ..)| *c != catalog)
            .map(|(c, i, ..)| (c, i))
            .collect();
        let list = calls(
            (&catalog, &item),
            &others,
            &host,
            &s1,
            &last,
            &this_month(),
            &files,
        );
        let from = chrono::Utc::now();
        let (over, slow) = measure_calls(&h, &list, requests, pid);
        let window = (from, chrono::Utc::now());
        println!("\nevery page of each machine-readable export, while ingest continues:");
        for format in ["json", "ndjson", "ocsf"] {
            let first = format!("/api/v1/exports?catalog={catalog}&format={format}");
            println!("- {}", walk_pages(&h, &first));
        }
        // The collector runs under an address-space limit (`MEMORY_LIMIT`).
        println!(
            "collector address space: at most {} MiB of the {} MiB allowed, {} MiB now",
            status_kib(pid, "VmPeak") / 1024,
            MEMORY_LIMIT >> 20,
            status_kib(pid, "VmSize") / 1024
        );
        Ok(Measured { over, slow, window })
    })
    .await??;
    let Measured { over, slow, window } = calls_measured;
    stop.store(true, Ordering::Relaxed);
    let measured = t0.elapsed().as_secs_f64();
    ingest.await?;
    let after = store_bytes(&c, scratch.as_ref()).await?;
    println!(
        "{}",
        Evaluations::scrape(&c)?.since(&evaluations0, measured)
    );
    let (rss, hwm) = memory_kib(pid);
    let mut acks = stats.ack_ms.lock().map(|v| v.clone()).unwrap_or_default();
    acks.sort_by(f64::total_cmp);
    println!(
        "\ningest during the measurements: {} evidence sent, {} acked, {} failed in {measured:.0} s ({:.0} evidence/s, target {rate:.0}); batch ack p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        stats.sent.load(Ordering::Relaxed),
        stats.acked.load(Ordering::Relaxed),
        stats.failed.load(Ordering::Relaxed),
        stats.acked.load(Ordering::Relaxed) as f64 / measured,
        pct(&acks, 0.5),
        pct(&acks, 0.95),
        acks.last().copied().unwrap_or(f64::NAN),
    );
    println!(
        "after: store {:.1} MiB (+{:.1} MiB since the fill, snapshots are files beside it and not counted); collector RSS {:.0} MiB, peak {:.0} MiB",
        mib(after),
        mib(after.saturating_sub(after_fill)),
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
    println!(
        "grown since the fill, by table and index: {}",
        grown_tables(
            &tables_after_fill,
            &table_bytes(&c, scratch.as_ref()).await?
        )
    );
    if let Some(s) = scratch.as_ref() {
        println!(
            "updates in place at the end: {}",
            updates_in_place(s).await?
        );
    }
    println!(
        "load average after the run: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    println!(
        "\nrequests over {TARGET_MS} ms in calls whose median is within it, and the collector's log meanwhile: {}\n{}",
        slow.len(),
        during(&c.log(), &slow, window)
    );
    if over.is_empty() {
        println!("every call within p95 < {TARGET_MS} ms and < {TARGET_BYTES} bytes");
    } else {
        println!("over target (p95 >= {TARGET_MS} ms, >= {TARGET_BYTES} bytes, or an error):");
        for o in &over {
            println!("  {o}");
        }
    }
    drop(agents);
    let to = kept_log.to.clone();
    drop(kept_log);
    let mut c = Arc::try_unwrap(c).map_err(|_| anyhow!("the collector is still shared"))?;
    // Declared after `c`, so dropped before it: both runs' logs are kept.
    let kept_log = KeptLog {
        from: c.proc.as_ref().map(|p| p.log.clone()),
        to,
    };
    restarted_snapshot(&mut c)?;
    let log = c.log();
    let warnings = log
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .count();
    println!(
        "collector log: {} ({warnings} WARN/ERROR lines)",
        kept_log.to.display()
    );
    Ok(())
}

/// The collector's process id, its address space limited to `MEMORY_LIMIT`.
fn limited(c: &Collector) -> Result<u32> {
    let pid = c
        .proc
        .as_ref()
        .map(|p| p.child.id())
        .context("collector process")?;
    run(Command::new("prlimit")
        .arg(format!("--pid={pid}"))
        .arg(format!("--as={MEMORY_LIMIT}")))?;
    Ok(pid)
}

/// The collector stopped as an operator would (SIGTERM; it evaluates once
/// more and prepares a snapshot as it stops), a snapshot taken by
/// `snapshot create` while it is stopped (signing what was prepared), one
/// with nothing prepared (as after a collector killed: evaluating in its
/// own process), then the collector started again and its first snapshot:
/// what the last run kept (`snapshot-reuse.bin`) spares it reading and
/// writing again what the snapshots before wrote.
fn restarted_snapshot(c: &mut Collector) -> Result<()> {
    let proc = c.proc.as_mut().context("collector process")?;
    let stopping = Instant::now();
    run(Command::new("kill")
        .arg("-TERM")
        .arg(proc.child.id().to_string()))?;
    let status = proc.child.wait()?;
    let stopped_in = stopping.elapsed().as_secs_f64();
    let prepared = c
        .log()
        .lines()
        .rev()
        .find(|l| l.contains("as the collector stops"))
        .map(str::to_string)
        .unwrap_or_else(|| "nothing about a snapshot prepared".into());
    println!("\nstopped by SIGTERM in {stopped_in:.2} s; its log: {prepared}");
    let objects = c.data().join("snapshots").join("objects");
    let file = c.data().join("snapshot-prepared.json");
    for nothing_prepared in [false, true] {
        if nothing_prepared {
            std::fs::rename(&file, file.with_extension("aside"))
                .with_context(|| format!("{}: cannot move aside", file.display()))?;
        }
        let what = if nothing_prepared {
            "with the collector stopped and nothing prepared"
        } else {
            "with the collector stopped"
        };
        let objects0 = tree_size(&objects);
        match snapshot_by_cli(c) {
            Ok(cli) => println!(
                "\nsnapshot (`gamsa-collector snapshot create` {what}, {}",
                cli.phrase(objects_added(objects0, tree_size(&objects)))
            ),
            Err(e) => {
                println!("\nsnapshot (`gamsa-collector snapshot create` {what}): failed: {e:#}")
            }
        }
    }
    let started = Instant::now();
    c.restart()?;
    let pid = limited(c)?;
    // The count is NaN (not at least 1) until an evaluation is recorded.
    while !matches!(Evaluations::scrape(c)?.count, n if n >= 1.0) {
        if started.elapsed() > Duration::from_secs(600) {
            bail!("no kept evaluation within 10 minutes of a restart");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let evaluated = started.elapsed().as_secs_f64();
    let objects0 = tree_size(&objects);
    let taken = Instant::now();
    let (answer, rss0, most) = rss_during(pid, || post_snapshot(c));
    let took = taken.elapsed().as_secs_f64();
    answer?;
    let reused = !c.log().contains("is not reused");
    println!(
        "\nafter a restart (SIGTERM: {status}; no ingest): first kept evaluation {evaluated:.1} s after the start; then a snapshot {took:.2} s, {}; collector RSS {:.0} MiB before, at most {:.0} MiB during; {}",
        objects_added(objects0, tree_size(&objects)),
        rss0 as f64 / 1024.0,
        most as f64 / 1024.0,
        if reused {
            "what the last run kept was reused"
        } else {
            "what the last run kept was NOT reused (the log says why)"
        }
    );
    Ok(())
}

/// Copies the collector's log to `to` when dropped, however the run ends:
/// the run before a restart's (`collector.previous.log`) first.
struct KeptLog {
    from: Option<PathBuf>,
    to: PathBuf,
}

impl Drop for KeptLog {
    fn drop(&mut self) {
        if let Some(from) = &self.from {
            let previous = from.with_file_name("collector.previous.log");
            let logs = [previous.as_path(), from.as_path()]
                .map(|p| std::fs::read(p).unwrap_or_default())
                .concat();
            if let Err(e) = std::fs::write(&self.to, logs) {
                eprintln!(
                    "{}: cannot keep the collector's log: {e}",
                    self.to.display()
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: &str) -> Utc {
        chrono::DateTime::parse_from_rfc3339(t).unwrap().to_utc()
    }

    #[test]
    fn a_slow_request_is_placed_in_the_evaluators_phases_from_its_debug_lines() {
        // Two evaluations: 12:00:00–12:00:06 (reading until 12:00:04) and
        // 12:00:10–12:00:16 (reading until 12:00:14).
        let log = "\
2026-12-07T12:00:06.000Z DEBUG gamsa_collector::evaluation: verdicts evaluated counter=1 took_ms=6000 read_ms=4000 reused=1
2026-12-07T12:00:07.000Z  INFO gamsa_collector::operations: exported by=token:e2e export=x
2026-12-07T12:00:07.050Z  INFO gamsa_collector::dashboard: item viewed user=reader catalog=c item=1
2026-12-07T12:00:07.100Z DEBUG gamsa_collector::rules::parallel: freed in the background what=\"replaced evaluations\" took_ms=90
2026-12-07T12:00:16.000Z DEBUG gamsa_collector::evaluation: verdicts evaluated counter=2 took_ms=6000 read_ms=4000 reused=1
not a log line
";
        let slow = |t: &str, ms: f64| Slow {
            at: at(t),
            ms,
            call: "API /x".into(),
        };
        let requests = [
            slow("2026-12-07T12:00:03.000Z", 150.0),
            slow("2026-12-07T12:00:05.000Z", 150.0),
            slow("2026-12-07T12:00:07.000Z", 150.0),
            slow("2026-12-07T12:00:13.950Z", 150.0),
        ];
        let window = (at("2026-12-07T12:00:00Z"), at("2026-12-07T12:00:20Z"));
        let out = during(log, &requests, window);
        let heads: Vec<&str> = out.lines().filter(|l| l.starts_with("- ")).collect();
        assert_eq!(heads.len(), 4, "{out}");
        assert!(heads[0].ends_with("(the evaluator reading)"), "{out}");
        assert!(heads[1].ends_with("(the evaluator judging)"), "{out}");
        assert!(heads[2].ends_with("(the evaluator resting)"), "{out}");
        // Meets the second reading's last 50 ms.
        assert!(heads[3].ends_with("(the evaluator reading)"), "{out}");
        // The freeing line is shown beside the third; the requests' are not.
        assert!(out.contains("freed in the background"), "{out}");
        assert!(!out.contains("exported by"), "{out}");
        assert!(!out.contains("item viewed"), "{out}");
        // 8 s of reading in a 20 s window.
        assert!(
            out.ends_with("2 of 4 met an evaluation's reading of the latest evidence, which took 40% of the measured time\n"),
            "{out}"
        );
    }
}

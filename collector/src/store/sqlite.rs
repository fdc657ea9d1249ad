//! SQLite storage: one embedded file, WAL mode, schema migrations by
//! `user_version` (`collector/migrations/sqlite/`).
//!
//! All writes of evidence go through one writer thread that groups whatever
//! batches are waiting into a single transaction ([`super::group_commit`]):
//! thousands of agents' batches share one fsync, and every caller is answered
//! only after that commit. Reads use their own connection, so the dashboard
//! never waits behind ingest.

use super::group_commit::{self, Queue};
use super::rows::{
    self, observed_ms, Columns, Stored, AGENT_COLUMNS, EVIDENCE, EVIDENCE_FROM, LAST, LATEST_FROM,
    LATEST_STAMP, STAMP, STAMPED,
};
use super::runs;
use super::{
    AgentRecord, Binding, EnrolClaim, Enrolled, EvidenceQuery, EvidenceStamp, FindingQuery,
    FindingTally, InsertOutcome, LatestKey, LatestMark, LatestSize, LatestStamp, PeriodFindings,
    PeriodQuery, PruneStep, PrunedRecords, Result, Stamped, Store, StoreError, TokenInfo,
    TokenKind, TokenRecord, User, NO_CERTIFICATE, TALLY_COLUMNS,
};
use crate::records::{
    AssessmentTimes, Attestation, Documents, FindingKey, FindingRecord, MaintenanceWindow, NaMark,
};
use async_trait::async_trait;
use gamsa_proto::v1::Evidence;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A file of `collector/migrations/sqlite/`, by name, with its SQL.
macro_rules! migration {
    ($file:literal) => {
        (
            $file,
            include_str!(concat!("../../migrations/sqlite/", $file)),
        )
    };
}

/// Schema steps, applied in order, each in its own transaction; `PRAGMA
/// user_version` is the number of the last step applied (the number its file
/// name starts with), so a step keeps its number for good. Numbers only
/// grow; one may be reserved for a step not yet listed here, and is then
/// never used for another.
const MIGRATIONS: &[(&str, &str)] = &[
    migration!("0001_schema.sql"),
    migration!("0002_latest_and_documents.sql"),
    migration!("0003_users.sql"),
    migration!("0004_access_log.sql"),
    migration!("0005_leases.sql"),
    migration!("0006_host_bindings.sql"),
    migration!("0007_credentials.sql"),
    migration!("0008_findings_history.sql"),
    migration!("0010_changes.sql"),
    migration!("0011_maintenance.sql"),
    migration!("0012_evidence_bodies.sql"),
    migration!("0013_agents_by_host.sql"),
    migration!("0014_seen_again.sql"),
    migration!("0015_seen_at_the_last_assessment.sql"),
    migration!("0016_findings_by_first_sighting.sql"),
    migration!("0017_latest_changes.sql"),
];

/// Pages `compact` gives back to the file system at most per call, so that
/// the write lock is held briefly (4 KiB pages: 16 MiB).
const VACUUM_PAGES: u32 = 4096;

/// Upper bound of rows in one group commit.
const MAX_GROUP_ROWS: usize = 50_000;

pub struct SqliteStore {
    path: PathBuf,
    writes: Queue<Stored>,
    /// Small writes outside the ingest path (agents, tokens, the access log).
    write: Arc<Mutex<Connection>>,
    /// Reads, each on a connection of its own: a read never waits behind a
    /// write that waits for SQLite's write lock (WAL lets readers run
    /// beside the writer).
    reads: r2d2::Pool<SqliteConnectionManager>,
    /// Records when API tokens were last used, apart from `conn`: a request
    /// never waits for it, and while it waits for the write lock the next
    /// use is simply not recorded.
    touch: Arc<Mutex<Connection>>,
    /// Retention's own connection: pruning never holds `conn`, which
    /// pages read with.
    prune: Arc<Mutex<Connection>>,
}

fn db_err(e: rusqlite::Error) -> StoreError {
    StoreError::Db(e.to_string())
}

/// How a connection reads the file: through a memory map (the writer, whose
/// lookups walk the indexes) or with read(2) (the small writes, token
/// touches and retention, which read little). Every map takes address
/// space as large as the file, so few connections have one.
#[derive(Clone, Copy, PartialEq)]
enum Reads {
    Mapped,
    Plain,
}

fn open_conn(path: &Path, reads: Reads) -> Result<Connection> {
    let open_err = |e: rusqlite::Error| StoreError::Open {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
    )
    .map_err(open_err)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(open_err)?;
    // A new file gives back the pages retention empties (`compact`); this
    // takes effect only before the file's first page is written (before
    // WAL mode is set), so files made earlier keep them for reuse.
    conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL")
        .map_err(open_err)?;
    // journal_mode answers with a row, so it is read rather than executed.
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(open_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Open {
            path: path.display().to_string(),
            message: format!("could not enable WAL (journal_mode is {mode})"),
        });
    }
    // FULL: a commit survives power loss, which is what an ack promises.
    // A larger page cache and memory-mapped reads keep index pages out of
    // read(2); checkpoints in bigger steps write each page back fewer times.
    conn.execute_batch(
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -131072;
         PRAGMA wal_autocheckpoint = 10000;",
    )
    .map_err(open_err)?;
    if reads == Reads::Mapped {
        conn.execute_batch(MMAP).map_err(open_err)?;
    }
    Ok(conn)
}

/// The memory map of a connection that reads much (1 GiB at most).
const MMAP: &str = "PRAGMA mmap_size = 1073741824;";

/// Connections in the read pool: enough that a page is not kept waiting
/// by an evaluation's or an export's long read; few, since each maps the
/// file.
const READS: u32 = 3;

/// The pool of read connections to the (migrated) database at `path`. They
/// cannot write (`query_only`); their page cache is smaller than the
/// writers', since reads are served from the memory map.
fn read_pool(path: &Path) -> Result<r2d2::Pool<SqliteConnectionManager>> {
    let manager = SqliteConnectionManager::file(path)
        .with_flags(OpenFlags::SQLITE_OPEN_READ_WRITE)
        .with_init(|c| {
            c.busy_timeout(std::time::Duration::from_secs(10))?;
            c.execute_batch("PRAGMA query_only = ON; PRAGMA cache_size = -32768;")?;
            c.execute_batch(MMAP)
        });
    r2d2::Pool::builder()
        .max_size(READS)
        .min_idle(Some(READS))
        .build(manager)
        .map_err(|e| StoreError::Open {
            path: path.display().to_string(),
            message: format!("read connections: {e}"),
        })
}

/// A migration's number: the digits its file name starts with.
fn step(file: &str) -> i64 {
    file.split('_')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let open_err = |message: String| StoreError::Open {
        path: path.display().to_string(),
        message,
    };
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| open_err(e.to_string()))?;
    let newest = MIGRATIONS.last().map_or(0, |(file, _)| step(file));
    if version > newest {
        return Err(open_err(format!(
            "schema version {version} is newer than this collector understands ({newest})"
        )));
    }
    for (file, sql) in MIGRATIONS.iter().filter(|(file, _)| step(file) > version) {
        let tx = conn.transaction().map_err(|e| open_err(e.to_string()))?;
        tx.execute_batch(sql)
            .and_then(|_| tx.pragma_update(None, "user_version", step(file)))
            .and_then(|_| tx.commit())
            .map_err(|e| open_err(format!("migration {file}: {e}")))?;
    }
    // A corrupt file must stop the collector here, before anything is written.
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|e| open_err(e.to_string()))?;
    if check != "ok" {
        return Err(open_err(format!("integrity check failed: {check}")));
    }
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and starts the writer.
    pub fn open(path: &Path) -> Result<Self> {
        // A new database is created 0600 before SQLite opens it; its -wal
        // and -shm files take the same mode.
        crate::private::create_file(path).map_err(|e| StoreError::Open {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let mut conn = open_conn(path, Reads::Plain)?;
        migrate(&mut conn, path)?;
        let mut writer = open_conn(path, Reads::Mapped)?;
        let touch = open_conn(path, Reads::Plain)?;
        let prune = open_conn(path, Reads::Plain)?;
        let reads = read_pool(path)?;
        let (queue, waiting) = group_commit::queue();
        // One writer, on a thread of its own: SQLite commits one transaction
        // at a time, and its calls block.
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                futures::executor::block_on(group_commit::run(waiting, MAX_GROUP_ROWS, |batches| {
                    std::future::ready(
                        commit_group(&mut writer, &batches).map_err(|e| e.to_string()),
                    )
                }))
            })
            .map_err(|e| StoreError::Db(e.to_string()))?;
        Ok(Self {
            path: path.to_path_buf(),
            writes: queue,
            write: Arc::new(Mutex::new(conn)),
            reads,
            touch: Arc::new(Mutex::new(touch)),
            prune: Arc::new(Mutex::new(prune)),
        })
    }

    /// Runs `f` on retention's connection, on the blocking pool.
    async fn with_prune<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let conn = self.prune.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().map_err(|_| StoreError::Closed)?;
            f(&mut guard)
        })
        .await
        .map_err(|_| StoreError::Closed)?
    }

    /// Records, in the background, that the API token `hash` was used at
    /// `now` (to the minute); skipped while a record is already being written.
    fn touch_token(&self, hash: String, now: i64) {
        let touch = self.touch.clone();
        tokio::task::spawn_blocking(move || {
            if let Ok(c) = touch.try_lock() {
                let done = c.execute(
                    "UPDATE tokens SET last_used_ms = ?2 WHERE hash = ?1
                         AND (last_used_ms IS NULL OR last_used_ms <= ?2 - ?3)",
                    params![hash, now, super::TOUCH_MS],
                );
                if let Err(e) = done {
                    tracing::debug!("token last use not recorded: {e}");
                }
            }
        });
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A page of agents read by `page` (`?1` limit, `?2` offset), with the
    /// total `count` finds.
    async fn agent_page(
        &self,
        count: &'static str,
        page: String,
        offset: u32,
        limit: u32,
    ) -> Result<(Vec<AgentRecord>, u64)> {
        self.with_read(move |c| {
            let total: i64 = c.query_row(count, [], |r| r.get(0)).map_err(db_err)?;
            let mut stmt = c.prepare_cached(&page).map_err(db_err)?;
            let page = all(&mut stmt, [limit, offset], |r| rows::agent(r))?;
            Ok((page, total as u64))
        })
        .await
    }

    /// The latest set of `hosts` (of `probes` only, unless empty), by host,
    /// probe and subject, as `columns` (of [`LATEST_FROM`]) read by `map`.
    async fn latest_of<T: Send + 'static>(
        &self,
        hosts: &[&str],
        probes: &[&str],
        columns: &str,
        map: fn(&rusqlite::Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        if hosts.is_empty() {
            return Ok(Vec::new());
        }
        let marks = |n: usize| vec!["?"; n].join(", ");
        let only = match probes.len() {
            0 => String::new(),
            n => format!("AND l.probe IN ({})", marks(n)),
        };
        let sql = format!(
            "SELECT {columns} FROM {LATEST_FROM}
             WHERE l.host IN ({}) {only} ORDER BY l.host, l.probe, l.subject",
            marks(hosts.len())
        );
        let args: Vec<String> = hosts.iter().chain(probes).map(|a| a.to_string()).collect();
        self.with_read(move |c| {
            let mut stmt = c.prepare_cached(&sql).map_err(db_err)?;
            all(&mut stmt, rusqlite::params_from_iter(args), map)
        })
        .await
    }

    /// Runs `f` on a connection of the read pool, on the blocking pool.
    async fn with_read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let reads = self.reads.clone();
        tokio::task::spawn_blocking(move || {
            let conn = reads.get().map_err(|e| StoreError::Db(e.to_string()))?;
            f(&conn)
        })
        .await
        .map_err(|_| StoreError::Closed)?
    }

    /// Runs `f` on the connection of small writes, on the blocking pool.
    async fn with_write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let conn = self.write.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().map_err(|_| StoreError::Closed)?;
            f(&mut guard)
        })
        .await
        .map_err(|_| StoreError::Closed)?
    }
}

/// Counts a write that can change a verdict, in the write's transaction
/// (`Store::change_counter`).
fn bump(tx: &Connection) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE changes SET counter = counter + 1 WHERE slot = 0",
        [],
    )
    .map(drop)
}

/// Stores a group of batches in one transaction; one outcome per batch.
/// IMMEDIATE: the bodies it finds cannot be removed by retention (another
/// connection) before the rows referencing them are committed. Unchanged
/// evidence extends the latest run of its key (`runs.rs`).
fn commit_group(
    conn: &mut Connection,
    batches: &[Vec<Stored>],
) -> rusqlite::Result<Vec<InsertOutcome>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let received = crate::clock::now_ms();
    let mut outcomes = vec![InsertOutcome::default(); batches.len()];
    // The change counter once this commit bumps it: what marks the rows of
    // `latest` it changes (`Store::latest_changes`).
    let changed: i64 = tx.query_row("SELECT sum(counter) + 1 FROM changes", [], |r| r.get(0))?;
    {
        let mut find_body = tx.prepare_cached("SELECT seq FROM evidence_bodies WHERE hash = ?1")?;
        let mut add_body =
            tx.prepare_cached("INSERT INTO evidence_bodies (hash, body) VALUES (?1, ?2)")?;
        let mut run = tx.prepare_cached(
            "SELECT l.evidence_seq, e.body_seq, e.observed_ms, l.observed_ms
             FROM latest l JOIN evidence e ON e.seq = l.evidence_seq
             WHERE l.host = ?1 AND l.probe = ?2 AND l.subject = ?3",
        )?;
        let mut stmt = tx.prepare_cached(
            "INSERT OR IGNORE INTO evidence
             (id, agent_id, host, probe, subject, status, observed_ms, received_ms, body,
              body_seq, last_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?7)",
        )?;
        // A run the new row takes the place of in `latest` ends: its last
        // observation moves from `latest` to its row (rows.rs).
        let mut close = tx.prepare_cached(
            "UPDATE evidence SET last_ms = l.observed_ms FROM latest l
             WHERE l.host = ?1 AND l.probe = ?2 AND l.subject = ?3 AND evidence.seq = l.evidence_seq
               AND l.evidence_seq <> ?4 AND ?5 >= l.observed_ms
               AND l.observed_ms > coalesce(evidence.last_ms, evidence.observed_ms)",
        )?;
        let mut latest = tx.prepare_cached(
            "INSERT INTO latest (host, probe, subject, evidence_seq, observed_ms, changed)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (host, probe, subject) DO UPDATE
                 SET evidence_seq = excluded.evidence_seq, observed_ms = excluded.observed_ms,
                     changed = excluded.changed
                 WHERE excluded.observed_ms >= latest.observed_ms",
        )?;
        // A run that is no longer the latest keeps its last observation in
        // its row; the latest's is `latest.observed_ms` alone.
        let mut extend = tx.prepare_cached(
            "UPDATE evidence SET last_ms = max(coalesce(last_ms, observed_ms), ?2) WHERE seq = ?1
                 AND NOT EXISTS (SELECT 1 FROM latest WHERE host = ?3 AND probe = ?4
                     AND subject = ?5 AND evidence_seq = ?1)",
        )?;
        let mut extend_latest = tx.prepare_cached(
            "UPDATE latest SET observed_ms = ?2, changed = ?6 WHERE evidence_seq = ?1
                 AND observed_ms < ?2 AND host = ?3 AND probe = ?4 AND subject = ?5",
        )?;
        let mut unused_body = tx.prepare_cached(
            "DELETE FROM evidence_bodies WHERE seq = ?1
                 AND NOT EXISTS (SELECT 1 FROM evidence WHERE body_seq = ?1)",
        )?;
        let mut rows: Vec<(usize, &Stored, i64)> = Vec::new();
        let mut new_bodies = Vec::new();
        // The latest run of each key, once per key (None: none yet).
        let mut looked: HashMap<runs::Key, Option<runs::Run>> = HashMap::new();
        for (job, batch) in batches.iter().enumerate() {
            for row in batch {
                let found: Option<i64> =
                    find_body.query_row([&row.hash], |r| r.get(0)).optional()?;
                let body = match found {
                    Some(seq) => seq,
                    None => {
                        add_body.execute(params![row.hash, row.content])?;
                        new_bodies.push(tx.last_insert_rowid());
                        tx.last_insert_rowid()
                    }
                };
                let k = runs::key(row);
                if let std::collections::hash_map::Entry::Vacant(slot) = looked.entry(k) {
                    slot.insert(
                        run.query_row(params![k.0, k.1, k.2], |r| {
                            Ok(runs::Run {
                                seq: r.get(0)?,
                                body_seq: r.get(1)?,
                                first_ms: r.get(2)?,
                                last_ms: r.get(3)?,
                            })
                        })
                        .optional()?,
                    );
                }
                rows.push((job, row, body));
            }
        }
        let stored: HashMap<runs::Key, runs::Run> = looked
            .into_iter()
            .filter_map(|(k, r)| Some((k, r?)))
            .collect();
        let plain: Vec<(&Stored, i64)> = rows.iter().map(|(_, r, b)| (*r, *b)).collect();
        let (fates, last) = runs::plan(&plain, &stored);
        let mut inserted = HashMap::new();
        for (i, (_, row, body)) in rows.iter().enumerate() {
            if fates[i] != runs::Fate::Insert {
                continue;
            }
            let ev = &row.ev;
            let observed = observed_ms(ev);
            let n = stmt.execute(params![
                ev.id,
                ev.agent_id,
                ev.host,
                ev.probe,
                ev.subject,
                ev.status,
                observed,
                received,
                row.observed,
                body,
            ])?;
            if n == 1 {
                let seq = tx.last_insert_rowid();
                close.execute(params![ev.host, ev.probe, ev.subject, seq, observed])?;
                latest.execute(params![
                    ev.host, ev.probe, ev.subject, seq, observed, changed
                ])?;
                inserted.insert(i, seq);
            }
        }
        let (runs_extended, accepted) = runs::settle(&fates, &last, &inserted);
        for ((job, _, _), accepted) in rows.iter().zip(accepted) {
            match accepted {
                true => outcomes[*job].accepted += 1,
                false => outcomes[*job].duplicates += 1,
            }
        }
        for (seq, at, i) in runs_extended {
            let (h, p, s) = runs::key(rows[i].1);
            extend.execute(params![seq, at, h, p, s])?;
            extend_latest.execute(params![seq, at, h, p, s, changed])?;
        }
        // Bodies new here that no row uses (those of replays).
        for body in new_bodies {
            unused_body.execute([body])?;
        }
    }
    if outcomes.iter().any(|o| o.accepted > 0) {
        bump(&tx)?;
    }
    tx.commit()?;
    Ok(outcomes)
}

/// One step of evidence retention (`Store::prune_evidence`) in `tx`.
fn prune_evidence(
    tx: &Connection,
    after: i64,
    before_ms: i64,
    limit: u32,
) -> rusqlite::Result<PruneStep> {
    // The next `limit` rows in storage order (roughly the order of time):
    // which may go, and whether the walk reached evidence observed since the
    // cutoff; rows after it are newer but for late deliveries from agents'
    // spools, left for the run that reaches them.
    let mut window = tx.prepare_cached(
        "SELECT e.seq, e.body_seq, e.observed_ms >= ?2 AS recent,
                coalesce(e.last_ms, e.observed_ms) < ?2 AND NOT EXISTS (
                    SELECT 1 FROM latest l WHERE l.host = e.host AND l.probe = e.probe
                        AND l.subject = e.subject AND l.evidence_seq = e.seq) AS old
         FROM evidence e WHERE e.seq > ?1 ORDER BY e.seq LIMIT ?3",
    )?;
    let rows: Vec<(i64, Option<i64>, bool, bool)> = window
        .query_map(params![after, before_ms, limit], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut step = PruneStep::default();
    let mut delete = tx.prepare_cached("DELETE FROM evidence WHERE seq = ?1")?;
    let mut bodies = std::collections::BTreeSet::new();
    let mut last = after;
    let mut reached_recent = false;
    for (seq, body, recent, old) in &rows {
        if *recent {
            reached_recent = true;
            break;
        }
        last = *seq;
        if *old {
            step.evidence += delete.execute([seq])? as u64;
            bodies.extend(*body);
        }
    }
    let mut unused = tx.prepare_cached(
        "DELETE FROM evidence_bodies WHERE seq = ?1
             AND NOT EXISTS (SELECT 1 FROM evidence WHERE body_seq = ?1)",
    )?;
    for body in bodies {
        step.bodies += unused.execute([body])? as u64;
    }
    step.next = (!reached_recent && rows.len() as u64 == u64::from(limit)).then_some(last);
    Ok(step)
}

impl Columns for rusqlite::Row<'_> {
    fn column<T: rows::Value>(&self, name: &str) -> Result<T> {
        self.get(name).map_err(db_err)
    }
}

/// Binds `host` to `agent` within `tx` (which holds the write lock), unless
/// another agent that is not revoked holds it.
fn bind(tx: &Connection, agent: &str, host: &str, now: i64) -> Result<Binding> {
    let holder: Option<(String, bool)> = tx
        .query_row(
            "SELECT b.agent_id, coalesce(a.revoked, 0) != 0 FROM host_bindings b
             LEFT JOIN agents a ON a.agent_id = b.agent_id WHERE b.host = ?1",
            [host],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(db_err)?;
    if let Some((holder, false)) = holder.filter(|(h, _)| h != agent) {
        return Ok(Binding::HeldBy(holder));
    }
    tx.execute("DELETE FROM host_bindings WHERE agent_id = ?1", [agent])
        .map_err(db_err)?;
    tx.execute(
        "INSERT INTO host_bindings (host, agent_id, bound_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT (host) DO UPDATE
             SET agent_id = excluded.agent_id, bound_ms = excluded.bound_ms",
        params![host, agent, now],
    )
    .map_err(db_err)?;
    Ok(Binding::Bound)
}

/// Checks an enrolment claim within `tx` (which holds the write lock) and,
/// when it holds, records it; nothing is written otherwise.
fn enrol(tx: &Connection, claim: &EnrolClaim) -> Result<Enrolled> {
    let token: Option<(String, Option<i64>, i64, i64)> = tx
        .query_row(
            "SELECT name, expires_ms, max_uses, uses FROM tokens WHERE hash = ?1 AND kind = 'enrol'",
            [&claim.token_hash],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()
        .map_err(db_err)?;
    let Some((bound_to, ..)) =
        token.filter(|(_, e, max, uses)| e.is_none_or(|e| e > claim.now_ms) && uses < max)
    else {
        return Ok(Enrolled::NoToken);
    };
    if !bound_to.is_empty() && bound_to != claim.agent_id {
        return Ok(Enrolled::BoundTo(bound_to));
    }
    let revoked: Option<bool> = tx
        .query_row(
            "SELECT revoked FROM agents WHERE agent_id = ?1",
            [&claim.agent_id],
            |r| r.get(0),
        )
        .optional()
        .map_err(db_err)?;
    match revoked {
        Some(true) => return Ok(Enrolled::Revoked),
        Some(false) if bound_to.is_empty() => return Ok(Enrolled::NameTaken),
        _ => {}
    }
    if let Binding::HeldBy(holder) = bind(tx, &claim.agent_id, &claim.host, claim.now_ms)? {
        return Ok(Enrolled::HeldBy(holder));
    }
    tx.execute(
        "UPDATE tokens SET uses = uses + 1, last_used_ms = ?2 WHERE hash = ?1",
        params![claim.token_hash, claim.now_ms],
    )
    .map_err(db_err)?;
    tx.execute(
        "INSERT INTO agents (agent_id, host, version, os, kernel, capabilities, labels,
                             first_seen, last_seen, peer, certificate)
         VALUES (?1, ?2, '', '', '', '[]', '{}', ?3, ?3, ?4, ?5)
         ON CONFLICT (agent_id) DO UPDATE SET host = ?2, last_seen = ?3, peer = ?4,
             certificate = ?5",
        params![
            claim.agent_id,
            claim.host,
            claim.now_ms,
            claim.peer,
            claim.certificate
        ],
    )
    .map_err(db_err)?;
    Ok(Enrolled::Enrolled)
}

/// Ends every session of user `name`.
fn end_sessions(tx: &Connection, name: &str) -> Result<()> {
    tx.execute(
        "DELETE FROM tokens WHERE kind = 'session' AND name = ?1",
        [name],
    )
    .map_err(db_err)?;
    Ok(())
}

/// Every row `stmt` answers with `args`, each made a record by `map`.
/// At most `limit` of the latest set after `after`, in key order, as
/// `columns` (of the evidence `e`, its body `b` and the latest row `l`)
/// read by `map`.
fn latest_page<T>(
    c: &Connection,
    columns: &str,
    after: Option<LatestKey>,
    limit: u32,
    map: impl Fn(&rusqlite::Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    // Two statements, so that each page walks the key's index from its
    // start instead of scanning and sorting the whole table.
    let select = format!("SELECT {columns} FROM {LATEST_FROM}");
    let order = "ORDER BY l.host, l.probe, l.subject";
    match after {
        None => all(
            &mut *c
                .prepare_cached(&format!("{select} {order} LIMIT ?1"))
                .map_err(db_err)?,
            params![limit],
            map,
        ),
        Some(k) => all(
            &mut *c
                .prepare_cached(&format!(
                    "{select} WHERE (l.host, l.probe, l.subject) > (?1, ?2, ?3) {order} LIMIT ?4"
                ))
                .map_err(db_err)?,
            params![k.host, k.probe, k.subject, limit],
            map,
        ),
    }
}

fn all<T>(
    stmt: &mut rusqlite::Statement<'_>,
    args: impl rusqlite::Params,
    map: impl Fn(&rusqlite::Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut cursor = stmt.query(args).map_err(db_err)?;
    let mut out = Vec::new();
    while let Some(row) = cursor.next().map_err(db_err)? {
        out.push(map(row)?);
    }
    Ok(out)
}

/// The first row `sql` answers with `args`, made a record by `map`.
fn first<T>(
    c: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
    map: impl Fn(&rusqlite::Row<'_>) -> Result<T>,
) -> Result<Option<T>> {
    let mut stmt = c.prepare_cached(sql).map_err(db_err)?;
    let mut cursor = stmt.query(args).map_err(db_err)?;
    cursor.next().map_err(db_err)?.map(map).transpose()
}

/// A token's row: the token, its uses and when it was last used.
type TokenRow = (TokenRecord, i64, Option<i64>);

fn token_row(c: &Connection, hash: &str, kind: TokenKind) -> Result<Option<TokenRow>> {
    first(
        c,
        "SELECT name, role, expires_ms, max_uses, uses, last_used_ms FROM tokens
         WHERE hash = ?1 AND kind = ?2",
        params![hash, kind.as_str()],
        |r| {
            Ok((
                rows::token(kind, r)?,
                r.column::<i64>("uses")?,
                r.column::<Option<i64>>("last_used_ms")?,
            ))
        },
    )
}

/// Whether `found` is a token that can be used at `now`: not expired, and an
/// enrolment token not used up.
fn token_live(found: &Option<TokenRow>, kind: TokenKind, now: i64) -> bool {
    found.as_ref().is_some_and(|(token, uses, _)| {
        token.expires_at_ms.is_none_or(|e| e > now)
            && (kind != TokenKind::Enrol || *uses < i64::from(token.max_uses))
    })
}

/// The JSON documents of `table`, oldest first.
fn documents<T: serde::de::DeserializeOwned>(c: &Connection, table: &str) -> Result<Vec<T>> {
    let mut stmt = c
        .prepare(&format!("SELECT body FROM {table} ORDER BY id"))
        .map_err(db_err)?;
    all(&mut stmt, [], |r| {
        rows::from_json(table, &r.column::<String>("body")?)
    })
}

/// Appends `document` as JSON to `table` (`attestations`, `na_marks`, `access_log`).
fn append<T: serde::Serialize>(c: &Connection, table: &str, document: &T) -> Result<()> {
    c.execute(
        &format!("INSERT INTO {table} (body) VALUES (?1)"),
        [rows::to_json(document)?],
    )
    .map_err(db_err)?;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn insert_batch(&self, evidence: Vec<Evidence>) -> Result<InsertOutcome> {
        self.writes
            .insert(evidence.into_iter().map(Stored::new).collect())
            .await
    }

    async fn prune_evidence(&self, after: i64, before_ms: i64, limit: u32) -> Result<PruneStep> {
        self.with_prune(move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_err)?;
            let step = prune_evidence(&tx, after, before_ms, limit.max(1)).map_err(db_err)?;
            tx.commit().map_err(db_err)?;
            Ok(step)
        })
        .await
    }

    async fn prune_records(&self, now_ms: i64, tokens_before_ms: i64) -> Result<PrunedRecords> {
        self.with_prune(move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_err)?;
            let pruned = PrunedRecords {
                sessions: tx
                    .execute(
                        "DELETE FROM tokens WHERE kind = 'session' AND expires_ms <= ?1",
                        [now_ms],
                    )
                    .map_err(db_err)? as u64,
                enrolment_tokens: tx
                    .execute(super::PRUNE_ENROLMENT_TOKENS, [tokens_before_ms])
                    .map_err(db_err)? as u64,
                leases: tx
                    .execute("DELETE FROM leases WHERE expires_ms <= ?1", [now_ms])
                    .map_err(db_err)? as u64,
            };
            tx.commit().map_err(db_err)?;
            Ok(pruned)
        })
        .await
    }

    async fn compact(&self) -> Result<()> {
        self.with_prune(|c| {
            let mode: i64 = c
                .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
                .map_err(db_err)?;
            // 2: INCREMENTAL. Free pages go back a bounded number at a time,
            // each in a write transaction of its own, while that frees any.
            if mode != 2 {
                return Ok(());
            }
            let free = |c: &Connection| -> Result<i64> {
                c.query_row("PRAGMA freelist_count", [], |r| r.get(0))
                    .map_err(db_err)
            };
            let mut left = free(c)?;
            while left > 0 {
                let mut stmt = c
                    .prepare(&format!("PRAGMA incremental_vacuum({VACUUM_PAGES})"))
                    .map_err(db_err)?;
                let mut rows = stmt.query([]).map_err(db_err)?;
                while rows.next().map_err(db_err)?.is_some() {}
                let now = free(c)?;
                if now >= left {
                    break;
                }
                left = now;
            }
            Ok(())
        })
        .await
    }

    async fn upsert_agent(&self, a: AgentRecord) -> Result<()> {
        self.with_write(move |c| {
            let tx = c.transaction().map_err(db_err)?;
            tx.execute(
                "INSERT INTO agents (agent_id, host, version, os, kernel, capabilities, labels,
                                     first_seen, last_seen, peer)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9)
                 ON CONFLICT (agent_id) DO UPDATE SET host = ?2, version = ?3, os = ?4,
                     kernel = ?5, capabilities = ?6, labels = ?7, last_seen = ?8, peer = ?9",
                params![
                    a.agent_id,
                    a.host,
                    a.version,
                    a.os,
                    a.kernel,
                    rows::to_json(&a.capabilities)?,
                    rows::to_json(&a.labels)?,
                    a.last_seen_ms,
                    a.peer,
                ],
            )
            .map_err(db_err)?;
            // Its host and labels decide which rules are about it.
            bump(&tx).map_err(db_err)?;
            tx.commit().map_err(db_err)
        })
        .await
    }

    async fn touch_agent(&self, agent_id: &str, now: i64) -> Result<()> {
        let id = agent_id.to_string();
        self.with_write(move |c| {
            c.execute(
                "UPDATE agents SET last_seen = ?2 WHERE agent_id = ?1",
                params![id, now],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn list_agents(&self) -> Result<Vec<AgentRecord>> {
        self.with_read(|c| {
            let mut stmt = c
                .prepare(&format!(
                    "SELECT {AGENT_COLUMNS} FROM agents ORDER BY agent_id"
                ))
                .map_err(db_err)?;
            all(&mut stmt, [], |r| rows::agent(r))
        })
        .await
    }

    async fn set_revoked(&self, agent_id: &str, revoked: bool) -> Result<bool> {
        let id = agent_id.to_string();
        self.with_write(move |c| {
            let now = crate::clock::now_ms();
            let tx = c.transaction().map_err(db_err)?;
            let n = tx
                .execute(
                    "INSERT INTO agents (agent_id, host, version, os, kernel, capabilities,
                                         labels, first_seen, last_seen, peer, revoked)
                     VALUES (?1, '', '', '', '', '[]', '{}', ?2, ?2, '', ?3)
                     ON CONFLICT (agent_id) DO UPDATE SET revoked = ?3",
                    params![id, now, revoked as i64],
                )
                .map_err(db_err)?;
            bump(&tx).map_err(db_err)?;
            tx.commit().map_err(db_err)?;
            Ok(n > 0)
        })
        .await
    }

    async fn is_revoked(&self, agent_id: &str) -> Result<bool> {
        let id = agent_id.to_string();
        self.with_read(move |c| {
            let revoked = first(
                c,
                "SELECT revoked FROM agents WHERE agent_id = ?1",
                [id],
                |r| r.column("revoked"),
            )?;
            Ok(revoked.unwrap_or(false))
        })
        .await
    }

    async fn agents_page(&self, offset: u32, limit: u32) -> Result<(Vec<AgentRecord>, u64)> {
        self.agent_page(
            "SELECT count(*) FROM agents",
            format!("SELECT {AGENT_COLUMNS} FROM agents ORDER BY agent_id LIMIT ?1 OFFSET ?2"),
            offset,
            limit,
        )
        .await
    }

    async fn host_agents_page(&self, offset: u32, limit: u32) -> Result<(Vec<AgentRecord>, u64)> {
        // The page's hosts first, then each host's current agent by the
        // host's index: no sort of the whole fleet's agents.
        self.agent_page(
            "SELECT count(DISTINCT host) FROM agents",
            format!(
                "SELECT {AGENT_COLUMNS} FROM (
                     SELECT host AS name FROM agents GROUP BY host
                     ORDER BY host LIMIT ?1 OFFSET ?2) page
                 JOIN agents a ON a.agent_id = (
                     SELECT b.agent_id FROM agents b WHERE b.host = page.name
                     ORDER BY b.revoked, b.last_seen DESC, b.agent_id LIMIT 1)
                 ORDER BY name"
            ),
            offset,
            limit,
        )
        .await
    }

    async fn agents_on_host(&self, host: &str) -> Result<Vec<AgentRecord>> {
        let host = host.to_string();
        self.with_read(move |c| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {AGENT_COLUMNS} FROM agents WHERE host = ?1 ORDER BY agent_id"
                ))
                .map_err(db_err)?;
            all(&mut stmt, [host], |r| rows::agent(r))
        })
        .await
    }

    async fn revoked_agents(&self) -> Result<std::collections::HashSet<String>> {
        self.with_read(|c| {
            let mut stmt = c
                .prepare("SELECT agent_id FROM agents WHERE revoked <> 0")
                .map_err(db_err)?;
            let ids = all(&mut stmt, [], |r| r.column("agent_id"))?;
            Ok(ids.into_iter().collect())
        })
        .await
    }

    async fn query_evidence(&self, q: EvidenceQuery) -> Result<Vec<Evidence>> {
        self.with_read(move |c| {
            let mut sql = format!("SELECT {EVIDENCE} FROM {EVIDENCE_FROM} WHERE 1 = 1");
            let mut args: Vec<rusqlite::types::Value> = Vec::new();
            for (col, val) in [
                ("probe", &q.probe),
                ("host", &q.host),
                ("agent_id", &q.agent_id),
            ] {
                if let Some(v) = val {
                    args.push(v.clone().into());
                    sql.push_str(&format!(" AND e.{col} = ?{}", args.len()));
                }
            }
            if !q.hosts.is_empty() {
                let hosts = serde_json::to_string(&q.hosts)
                    .map_err(|e| StoreError::Db(e.to_string()))?;
                args.push(hosts.into());
                sql.push_str(&format!(
                    " AND e.host IN (SELECT value FROM json_each(?{}))",
                    args.len()
                ));
            }
            if let Some(since) = q.since_ms {
                args.push(since.into());
                // Runs overlapping the window (runs.rs): one first
                // observed at most a span before it may reach into it.
                sql.push_str(&format!(
                    " AND e.observed_ms >= ?{n} - {span} AND coalesce({LAST}, e.observed_ms) >= ?{n}",
                    n = args.len(),
                    span = runs::SPAN_MS
                ));
            }
            if let Some(until) = q.until_ms {
                args.push(until.into());
                sql.push_str(&format!(" AND e.observed_ms < ?{}", args.len()));
            }
            sql.push_str(&format!(
                " ORDER BY e.observed_ms DESC, e.seq DESC LIMIT {} OFFSET {}",
                q.limit.max(1),
                q.offset
            ));
            let mut stmt = c.prepare(&sql).map_err(db_err)?;
            let mut cursor = stmt
                .query(rusqlite::params_from_iter(args))
                .map_err(db_err)?;
            let (mut out, mut read) = (Vec::new(), 0);
            while let Some(row) = cursor.next().map_err(db_err)? {
                let ev = rows::evidence(row)?;
                let stop = super::bytes_reached(&mut read, &ev, q.max_bytes);
                out.push(ev);
                if stop {
                    break;
                }
            }
            Ok(out)
        })
        .await
    }

    async fn latest_evidence_page(
        &self,
        after: Option<LatestKey>,
        limit: u32,
    ) -> Result<Vec<Stamped>> {
        self.with_read(move |c| latest_page(c, STAMPED, after, limit, |r| rows::stamped(r)))
            .await
    }

    async fn latest_mark(&self) -> Result<LatestMark> {
        self.change_counter().await.map(LatestMark)
    }

    async fn latest_changes(&self, since: LatestMark) -> Result<(Vec<LatestStamp>, LatestMark)> {
        self.with_read(move |c| {
            // One read transaction: the counter and the rows as of one moment.
            let tx = c.unchecked_transaction().map_err(db_err)?;
            let mark = tx
                .query_row("SELECT sum(counter) FROM changes", [], |r| r.get(0))
                .map_err(db_err)?;
            let changed = all(
                &mut *tx
                    .prepare_cached(&format!(
                        "SELECT {LATEST_STAMP} FROM {LATEST_FROM} WHERE l.changed > ?1
                         ORDER BY l.host, l.probe, l.subject"
                    ))
                    .map_err(db_err)?,
                params![since.0],
                |r| rows::latest_stamp(r),
            )?;
            Ok((changed, LatestMark(mark)))
        })
        .await
    }

    async fn latest_evidence_of(&self, hosts: &[&str], probes: &[&str]) -> Result<Vec<Evidence>> {
        self.latest_of(hosts, probes, EVIDENCE, |r| rows::evidence(r))
            .await
    }

    async fn latest_stamps_of(&self, hosts: &[&str], probes: &[&str]) -> Result<Vec<LatestStamp>> {
        self.latest_of(hosts, probes, LATEST_STAMP, |r| rows::latest_stamp(r))
            .await
    }

    async fn latest_evidence_of_probes(&self, probes: Vec<String>) -> Result<Vec<Evidence>> {
        self.with_read(move |c| {
            let wanted = vec!["?"; probes.len()].join(", ");
            let mut stmt = c
                .prepare(&format!(
                    "SELECT {EVIDENCE} FROM {LATEST_FROM}
                     WHERE l.probe IN ({wanted})"
                ))
                .map_err(db_err)?;
            all(&mut stmt, rusqlite::params_from_iter(probes), |r| {
                rows::evidence(r)
            })
        })
        .await
    }

    async fn latest_sizes(&self, host: &str) -> Result<Vec<LatestSize>> {
        let host = host.to_string();
        self.with_read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT l.probe, l.subject, l.observed_ms,
                            coalesce(length(e.body), 0) + coalesce(length(b.body), 0)
                     FROM latest l JOIN evidence e ON e.seq = l.evidence_seq
                     LEFT JOIN evidence_bodies b ON b.seq = e.body_seq
                     WHERE l.host = ?1",
                )
                .map_err(db_err)?;
            all(&mut stmt, [host], |r| {
                let size = |r: &rusqlite::Row<'_>| -> rusqlite::Result<LatestSize> {
                    Ok(LatestSize {
                        probe: r.get(0)?,
                        subject: r.get(1)?,
                        observed_ms: r.get(2)?,
                        bytes: r.get::<_, i64>(3)?.max(0) as u64,
                    })
                };
                size(r).map_err(db_err)
            })
        })
        .await
    }

    async fn evidence_by_ids(&self, ids: Vec<String>) -> Result<Vec<Evidence>> {
        self.with_read(move |c| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {EVIDENCE} FROM {EVIDENCE_FROM} WHERE e.id = ?1"
                ))
                .map_err(db_err)?;
            let mut out = Vec::new();
            for id in ids {
                out.extend(all(&mut stmt, [id], |r| rows::evidence(r))?);
            }
            Ok(out)
        })
        .await
    }

    async fn evidence_stamps(&self, ids: Vec<String>) -> Result<Vec<EvidenceStamp>> {
        self.with_read(move |c| {
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {STAMP} FROM {EVIDENCE_FROM} WHERE e.id = ?1"
                ))
                .map_err(db_err)?;
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                out.extend(all(&mut stmt, [id], |r| rows::stamp(r))?);
            }
            Ok(out)
        })
        .await
    }

    async fn documents(&self) -> Result<Documents> {
        self.with_read(|c| {
            Ok(Documents {
                attestations: documents(c, "attestations")?,
                na_marks: documents(c, "na_marks")?,
            })
        })
        .await
    }

    async fn add_attestation(&self, a: Attestation, file: Option<Vec<u8>>) -> Result<()> {
        self.with_write(move |c| {
            let tx = c.transaction().map_err(db_err)?;
            if let Some(content) = file {
                tx.execute(
                    "INSERT OR IGNORE INTO files (sha256, name, content) VALUES (?1, ?2, ?3)",
                    params![a.file_sha256, a.file_name, content],
                )
                .map_err(db_err)?;
            }
            append(&tx, "attestations", &a)?;
            bump(&tx).map_err(db_err)?;
            tx.commit().map_err(db_err)
        })
        .await
    }

    async fn add_na_mark(&self, m: NaMark) -> Result<()> {
        self.with_write(move |c| {
            let tx = c.transaction().map_err(db_err)?;
            append(&tx, "na_marks", &m)?;
            bump(&tx).map_err(db_err)?;
            tx.commit().map_err(db_err)
        })
        .await
    }

    async fn upsert_user(&self, u: User) -> Result<()> {
        self.with_write(move |c| {
            let tx = c.transaction().map_err(db_err)?;
            tx.execute(
                "INSERT INTO users (name, role, password_hash) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET role = ?2, password_hash = ?3",
                params![u.name, u.role, u.password_hash],
            )
            .map_err(db_err)?;
            end_sessions(&tx, &u.name)?;
            tx.commit().map_err(db_err)
        })
        .await
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        self.with_read(|c| {
            let mut stmt = c
                .prepare("SELECT name, role, password_hash FROM users ORDER BY name")
                .map_err(db_err)?;
            all(&mut stmt, [], |r| rows::user(r))
        })
        .await
    }

    async fn delete_user(&self, name: &str) -> Result<bool> {
        let name = name.to_string();
        self.with_write(move |c| {
            let tx = c.transaction().map_err(db_err)?;
            let n = tx
                .execute("DELETE FROM users WHERE name = ?1", [&name])
                .map_err(db_err)?;
            end_sessions(&tx, &name)?;
            tx.commit().map_err(db_err)?;
            Ok(n > 0)
        })
        .await
    }

    async fn set_user_role(&self, name: &str, role: &str) -> Result<bool> {
        let (name, role) = (name.to_string(), role.to_string());
        self.with_write(move |c| {
            let tx = c.transaction().map_err(db_err)?;
            let n = tx
                .execute(
                    "UPDATE users SET role = ?2 WHERE name = ?1",
                    params![name, role],
                )
                .map_err(db_err)?;
            end_sessions(&tx, &name)?;
            tx.commit().map_err(db_err)?;
            Ok(n > 0)
        })
        .await
    }

    async fn list_tokens(&self) -> Result<Vec<TokenInfo>> {
        self.with_read(|c| {
            let mut stmt = c
                .prepare(
                    "SELECT hash, kind, name, role, created_ms, expires_ms, max_uses, uses,
                            last_used_ms
                     FROM tokens WHERE kind IN ('api', 'enrol') ORDER BY created_ms, hash",
                )
                .map_err(db_err)?;
            all(&mut stmt, [], |r| rows::token_info(r))
        })
        .await
    }

    async fn reinstate_agent(&self, agent_id: &str) -> Result<bool> {
        let id = agent_id.to_string();
        self.with_write(move |c| {
            let tx = c.transaction().map_err(db_err)?;
            let n = tx
                .execute(
                    "UPDATE agents SET revoked = 0, certificate = ?2
                     WHERE agent_id = ?1 AND revoked != 0",
                    params![id, NO_CERTIFICATE],
                )
                .map_err(db_err)?;
            if n > 0 {
                bump(&tx).map_err(db_err)?;
            }
            tx.commit().map_err(db_err)?;
            Ok(n > 0)
        })
        .await
    }

    async fn certificate_refused(&self, agent_id: &str, certificate: &str) -> Result<bool> {
        let (id, certificate) = (agent_id.to_string(), certificate.to_string());
        self.with_read(move |c| {
            let found: Option<(bool, String)> = first(
                c,
                "SELECT revoked, certificate FROM agents WHERE agent_id = ?1",
                [id],
                |r| Ok((r.column("revoked")?, r.column("certificate")?)),
            )?;
            Ok(found.is_some_and(|(revoked, issued)| {
                revoked || !(issued.is_empty() || issued == certificate)
            }))
        })
        .await
    }

    async fn set_certificate(&self, agent_id: &str, certificate: &str) -> Result<()> {
        let (id, certificate) = (agent_id.to_string(), certificate.to_string());
        self.with_write(move |c| {
            let now = crate::clock::now_ms();
            c.execute(
                "INSERT INTO agents (agent_id, host, version, os, kernel, capabilities,
                                     labels, first_seen, last_seen, peer, certificate)
                 VALUES (?1, '', '', '', '', '[]', '{}', ?2, ?2, '', ?3)
                 ON CONFLICT (agent_id) DO UPDATE SET certificate = ?3",
                params![id, now, certificate],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn enrol(&self, claim: EnrolClaim) -> Result<Enrolled> {
        self.with_write(move |c| {
            // IMMEDIATE: the token, the name and the host are read under the
            // write lock, so another process sharing the file cannot claim
            // any of them between this read and the write.
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_err)?;
            let enrolled = enrol(&tx, &claim)?;
            if enrolled == Enrolled::Enrolled {
                bump(&tx).map_err(db_err)?;
                tx.commit().map_err(db_err)?;
            }
            Ok(enrolled)
        })
        .await
    }

    async fn get_user(&self, name: &str) -> Result<Option<User>> {
        let name = name.to_string();
        self.with_read(move |c| {
            first(
                c,
                "SELECT name, role, password_hash FROM users WHERE name = ?1",
                [name],
                |r| rows::user(r),
            )
        })
        .await
    }

    async fn delete_token(&self, hash: &str) -> Result<()> {
        let hash = hash.to_string();
        self.with_write(move |c| {
            c.execute("DELETE FROM tokens WHERE hash = ?1", [hash])
                .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn file(&self, sha256: &str) -> Result<Option<(String, Vec<u8>)>> {
        let sha = sha256.to_string();
        self.with_read(move |c| {
            first(
                c,
                "SELECT name, content FROM files WHERE sha256 = ?1",
                [sha],
                |r| Ok((r.column("name")?, r.column("content")?)),
            )
        })
        .await
    }

    async fn append_access(&self, a: crate::records::Access) -> Result<()> {
        self.with_write(move |c| append(c, "access_log", &a)).await
    }

    async fn access_log(&self, limit: u32) -> Result<Vec<crate::records::Access>> {
        self.with_read(move |c| {
            let mut stmt = c
                .prepare("SELECT body FROM access_log ORDER BY id DESC LIMIT ?1")
                .map_err(db_err)?;
            all(&mut stmt, [limit.max(1)], |r| {
                rows::from_json("access_log", &r.column::<String>("body")?)
            })
        })
        .await
    }

    async fn count_evidence(&self) -> Result<u64> {
        self.with_read(|c| {
            c.query_row("SELECT count(*) FROM evidence", [], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
                .map_err(db_err)
        })
        .await
    }

    async fn ping(&self) -> Result<()> {
        self.with_read(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(db_err))
            .await
    }

    async fn create_token(&self, hash: &str, t: TokenRecord) -> Result<()> {
        let hash = hash.to_string();
        self.with_write(move |c| {
            let now = crate::clock::now_ms();
            let tx = c.transaction().map_err(db_err)?;
            // Expired sessions go as new ones come, so they do not pile up.
            if t.kind == TokenKind::Session {
                tx.execute(
                    "DELETE FROM tokens WHERE kind = 'session' AND expires_ms <= ?1",
                    [now],
                )
                .map_err(db_err)?;
            }
            tx.execute(
                "INSERT INTO tokens (hash, kind, name, role, created_ms, expires_ms, max_uses)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    hash,
                    t.kind.as_str(),
                    t.name,
                    t.role,
                    now,
                    t.expires_at_ms,
                    t.max_uses
                ],
            )
            .map_err(db_err)?;
            tx.commit().map_err(db_err)
        })
        .await
    }

    async fn use_token(
        &self,
        hash: &str,
        kind: TokenKind,
        now: i64,
    ) -> Result<Option<TokenRecord>> {
        // A plain read first, on the read pool: an unknown, expired or
        // used-up token (what an unauthenticated client sends) and every
        // token that is not consumed cost no write lock, so they never wait
        // for ingest or another write. Only a live enrolment token takes the
        // lock, IMMEDIATE before its re-read, so another process sharing the
        // file cannot consume the same use.
        let key = hash.to_string();
        let found = self
            .with_read({
                let hash = key.clone();
                move |c| token_row(c, &hash, kind)
            })
            .await?;
        let found = if token_live(&found, kind, now) && kind == TokenKind::Enrol {
            let hash = key.clone();
            self.with_write(move |c| {
                let tx = c
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(db_err)?;
                let found = token_row(&tx, &hash, kind)?;
                if token_live(&found, kind, now) {
                    tx.execute(
                        "UPDATE tokens SET uses = uses + 1, last_used_ms = ?2 WHERE hash = ?1",
                        params![&hash, now],
                    )
                    .map_err(db_err)?;
                    tx.commit().map_err(db_err)?;
                }
                Ok(found)
            })
            .await?
        } else {
            found
        };
        let live = token_live(&found, kind, now);
        let found = found
            .filter(|_| live)
            .map(|(token, _, last_used)| (token, last_used));
        Ok(found.map(|(token, last_used)| {
            if kind == TokenKind::Api && last_used.is_none_or(|t| t <= now - super::TOUCH_MS) {
                self.touch_token(key, now);
            }
            token
        }))
    }

    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
        now: i64,
    ) -> Result<bool> {
        let (name, holder) = (name.to_string(), holder.to_string());
        let expires = now.saturating_add(ttl.as_millis() as i64);
        self.with_write(move |c| {
            let n = c
                .execute(
                    "INSERT INTO leases (name, holder, expires_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT (name) DO UPDATE
                         SET holder = excluded.holder, expires_ms = excluded.expires_ms
                         WHERE leases.holder = excluded.holder OR leases.expires_ms <= ?4",
                    params![name, holder, expires, now],
                )
                .map_err(db_err)?;
            Ok(n == 1)
        })
        .await
    }

    async fn bind_host(&self, agent_id: &str, host: &str, now: i64) -> Result<Binding> {
        let (agent, host) = (agent_id.to_string(), host.to_string());
        self.with_write(move |c| {
            // IMMEDIATE: another process sharing the file cannot bind the
            // host between this read and the write.
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_err)?;
            let bound = bind(&tx, &agent, &host, now)?;
            if bound == Binding::Bound {
                tx.commit().map_err(db_err)?;
            }
            Ok(bound)
        })
        .await
    }

    async fn change_counter(&self) -> Result<i64> {
        self.with_read(|c| {
            c.query_row("SELECT sum(counter) FROM changes", [], |r| r.get(0))
                .map_err(db_err)
        })
        .await
    }

    async fn bound_hosts(&self, agent_id: &str) -> Result<Vec<String>> {
        let agent = agent_id.to_string();
        self.with_read(move |c| {
            let mut stmt = c
                .prepare_cached("SELECT host FROM host_bindings WHERE agent_id = ?1 ORDER BY host")
                .map_err(db_err)?;
            let hosts = stmt
                .query_map([agent], |r| r.get(0))
                .map_err(db_err)?
                .collect::<rusqlite::Result<Vec<String>>>()
                .map_err(db_err)?;
            Ok(hosts)
        })
        .await
    }

    async fn record_assessment(
        &self,
        at_ms: i64,
        failing: Vec<FindingKey>,
        fixed: Vec<FindingKey>,
    ) -> Result<()> {
        self.with_write(move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(db_err)?;
            {
                let mut open = tx
                    .prepare_cached(
                        "SELECT host, catalog, item, check_name, last_seen_ms IS NULL AS seen
                         FROM host_findings WHERE fixed_ms IS NULL",
                    )
                    .map_err(db_err)?;
                let open = all(&mut open, [], |r| {
                    let key = FindingKey {
                        host: r.column("host")?,
                        catalog: r.column("catalog")?,
                        item: r.column("item")?,
                        check: r.column("check_name")?,
                    };
                    Ok((key, r.column::<bool>("seen")?))
                })?;
                let w = rows::assessment_writes(open, failing, fixed);
                let statements = w.statements(
                    "INSERT INTO host_findings
                         (host, catalog, item, check_name, first_seen_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (host, catalog, item, check_name) WHERE fixed_ms IS NULL
                     DO NOTHING",
                    "?5",
                    update_open,
                );
                for (keys, sql, timed) in statements {
                    let mut stmt = tx.prepare_cached(&sql).map_err(db_err)?;
                    for k in keys {
                        if timed {
                            stmt.execute(params![k.host, k.catalog, k.item, k.check, at_ms])
                        } else {
                            stmt.execute(params![k.host, k.catalog, k.item, k.check])
                        }
                        .map_err(db_err)?;
                    }
                }
            }
            tx.execute(
                "INSERT INTO assessments (id, first_ms, previous_ms, last_ms) VALUES (1, ?1, NULL, ?1)
                 ON CONFLICT (id) DO UPDATE
                     SET previous_ms = assessments.last_ms, last_ms = excluded.last_ms",
                [at_ms],
            )
            .map_err(db_err)?;
            tx.commit().map_err(db_err)
        })
        .await
    }

    async fn open_findings(&self) -> Result<Vec<FindingKey>> {
        self.with_read(|c| {
            let mut stmt = c.prepare_cached(super::OPEN_KEYS).map_err(db_err)?;
            all(&mut stmt, [], |r| rows::finding_key(r))
        })
        .await
    }

    async fn findings(&self, q: FindingQuery) -> Result<Vec<FindingRecord>> {
        self.with_read(move |c| {
            // Without a page, every key: LIMIT -1 is SQLite's "no limit".
            let (offset, limit) = q
                .keys
                .map_or((0, -1), |k| (i64::from(k.offset), i64::from(k.limit)));
            let (wanted, having) = finding_filter(&q);
            let mut stmt = c
                .prepare_cached(&format!(
                    "WITH wanted AS (SELECT * FROM host_findings WHERE {wanted}),
                     page AS (
                         SELECT host, catalog, item, check_name FROM wanted
                         GROUP BY host, catalog, item, check_name {having}
                         ORDER BY host, catalog, item, check_name LIMIT ?5 OFFSET ?4)
                     SELECT host, catalog, item, check_name, first_seen_ms, fixed_ms,
                            coalesce(last_seen_ms, (SELECT last_ms FROM assessments WHERE id = 1))
                                AS last_seen_ms
                     FROM wanted JOIN page USING (host, catalog, item, check_name)
                     ORDER BY host, catalog, item, check_name, first_seen_ms"
                ))
                .map_err(db_err)?;
            all(
                &mut stmt,
                params![q.fixed_since_ms, q.host, q.catalog, offset, limit],
                |r| rows::finding(r),
            )
        })
        .await
    }

    async fn finding_tally(
        &self,
        q: FindingQuery,
        now: i64,
        then: [i64; 2],
    ) -> Result<FindingTally> {
        self.with_read(move |c| {
            let (wanted, having) = finding_filter(&q);
            let open_at = |t: &str| {
                format!("max(first_seen_ms <= {t} AND (fixed_ms IS NULL OR fixed_ms > {t}))")
            };
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT {TALLY_COLUMNS}
                     FROM (SELECT {} AS o, {} AS a, {} AS b
                           FROM host_findings WHERE {wanted}
                           GROUP BY host, catalog, item, check_name {having})",
                    open_at("?4"),
                    open_at("?5"),
                    open_at("?6"),
                ))
                .map_err(db_err)?;
            let counts = stmt
                .query_row(
                    params![q.fixed_since_ms, q.host, q.catalog, now, then[0], then[1]],
                    |r| {
                        let mut c = [0i64; 8];
                        for (i, v) in c.iter_mut().enumerate() {
                            *v = r.get(i)?;
                        }
                        Ok(c)
                    },
                )
                .map_err(db_err)?;
            Ok(FindingTally::from_counts(counts))
        })
        .await
    }

    async fn findings_in(&self, q: PeriodQuery) -> Result<PeriodFindings> {
        let hosts = rows::to_json(&q.hosts)?;
        self.with_read(move |c| {
            // One snapshot of the history for the counts and the lists;
            // each reads its period through the column's index (0008, 0016).
            let tx = c.unchecked_transaction().map_err(db_err)?;
            let mut found = PeriodFindings::default();
            for (at, count, list) in [
                ("first_seen_ms", &mut found.opened, &mut found.first_opened),
                ("fixed_ms", &mut found.fixed, &mut found.first_fixed),
            ] {
                let within = format!(
                    "{at} >= ?1 AND {at} < ?2 AND host IN (SELECT value FROM json_each(?3))"
                );
                let counted: i64 = tx
                    .prepare_cached(&format!("SELECT count(*) FROM host_findings WHERE {within}"))
                    .and_then(|mut s| s.query_row(params![q.from_ms, q.to_ms, hosts], |r| r.get(0)))
                    .map_err(db_err)?;
                *count = counted as u64;
                let mut stmt = tx
                    .prepare_cached(&format!(
                        "SELECT host, catalog, item, check_name, first_seen_ms, fixed_ms,
                                coalesce(last_seen_ms, (SELECT last_ms FROM assessments WHERE id = 1))
                                    AS last_seen_ms
                         FROM host_findings WHERE {within}
                         ORDER BY {at}, host, catalog, item, check_name LIMIT ?4"
                    ))
                    .map_err(db_err)?;
                *list = all(&mut stmt, params![q.from_ms, q.to_ms, hosts, q.limit], |r| {
                    rows::finding(r)
                })?;
            }
            Ok(found)
        })
        .await
    }

    async fn assessment_times(&self) -> Result<Option<AssessmentTimes>> {
        self.with_read(|c| {
            first(
                c,
                "SELECT first_ms, previous_ms, last_ms FROM assessments WHERE id = 1",
                [],
                |r| rows::assessment_times(r),
            )
        })
        .await
    }

    async fn add_maintenance(&self, w: MaintenanceWindow) -> Result<i64> {
        self.with_write(move |c| {
            c.execute(
                "INSERT INTO maintenance (service, start_ms, end_ms, reason, by_whom, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    w.service,
                    w.start_ms,
                    w.end_ms,
                    w.reason,
                    w.by,
                    w.created_ms
                ],
            )
            .map_err(db_err)?;
            Ok(c.last_insert_rowid())
        })
        .await
    }

    async fn maintenance(&self, from_ms: i64, to_ms: i64) -> Result<Vec<MaintenanceWindow>> {
        self.with_read(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT id, service, start_ms, end_ms, reason, by_whom, created_ms
                     FROM maintenance WHERE start_ms < ?2 AND end_ms > ?1
                     ORDER BY start_ms, id",
                )
                .map_err(db_err)?;
            all(&mut stmt, params![from_ms, to_ms], |r| rows::maintenance(r))
        })
        .await
    }

    async fn delete_maintenance(&self, id: i64) -> Result<bool> {
        self.with_write(move |c| {
            c.execute("DELETE FROM maintenance WHERE id = ?1", [id])
                .map(|n| n > 0)
                .map_err(db_err)
        })
        .await
    }
}

/// The finding records `q` names (`?1` fixed since, `?2` host, `?3`
/// catalog; only the filters given, so that a host's findings are read
/// through the key's index, not found in a scan of the fleet's), and the
/// An update setting `set` in the open finding of the key `?1`–`?4` (host,
/// catalog, item, check).
fn update_open(set: &str) -> String {
    format!(
        "UPDATE host_findings SET {set}
         WHERE host = ?1 AND catalog = ?2 AND item = ?3 AND check_name = ?4
           AND fixed_ms IS NULL"
    )
}

/// `HAVING` that keeps only findings still open when it asks.
fn finding_filter(q: &FindingQuery) -> (String, &'static str) {
    let mut wanted = "(fixed_ms IS NULL OR fixed_ms >= ?1)".to_string();
    if q.host.is_some() {
        wanted.push_str(" AND host = ?2");
    }
    if q.catalog.is_some() {
        wanted.push_str(" AND catalog = ?3");
    }
    let having = if q.open_only {
        "HAVING max(fixed_ms IS NULL)"
    } else {
        ""
    };
    (wanted, having)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_registered_before_bindings_are_bound_where_unambiguous() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gamsa.db");
        let mut conn = open_conn(&path, Reads::Plain).unwrap();
        // The schema as it was before host bindings, with four agents: one
        // alone on its host, two claiming one host, one revoked.
        let before = MIGRATIONS
            .iter()
            .position(|(file, _)| *file == "0006_host_bindings.sql")
            .unwrap();
        for (_, sql) in &MIGRATIONS[..before] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", step(MIGRATIONS[before - 1].0))
            .unwrap();
        for (agent, host, revoked) in [
            ("web-1", "web-1", 0),
            ("victim", "victim", 0),
            ("intruder", "victim", 0),
            ("old", "db-1", 1),
            ("new", "", 0),
        ] {
            conn.execute(
                "INSERT INTO agents VALUES (?1, ?2, '', '', '', '[]', '{}', 1, 2, '', ?3)",
                params![agent, host, revoked],
            )
            .unwrap();
        }
        migrate(&mut conn, &path).unwrap();
        let bound: Vec<(String, String)> = conn
            .prepare("SELECT host, agent_id FROM host_bindings ORDER BY host")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(bound, [("web-1".to_string(), "web-1".to_string())]);
    }

    #[test]
    fn every_migration_file_is_applied_in_the_order_of_its_number() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        let listed: Vec<&str> = MIGRATIONS.iter().map(|(file, _)| *file).collect();
        assert_eq!(files, listed, "{}", dir.display());
        for pair in listed.windows(2) {
            assert!(step(pair[0]) < step(pair[1]), "{pair:?}: numbers grow");
        }
        for file in listed {
            assert!(
                file.len() > 5
                    && file[..4].bytes().all(|b| b.is_ascii_digit())
                    && &file[4..5] == "_"
                    && file.ends_with(".sql"),
                "{file}: NNNN_name.sql"
            );
        }
    }
}

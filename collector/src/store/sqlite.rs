//! SQLite storage: one embedded file, WAL mode, schema migrations by
//! `user_version`.
//!
//! All writes go through one writer thread that groups whatever batches are
//! waiting into a single transaction (group commit): thousands of agents'
//! batches share one fsync, and every caller is answered only after that
//! commit. Reads use their own connection, so the dashboard never waits behind
//! ingest.

use super::{
    AgentRecord, EvidenceQuery, InsertOutcome, Result, Store, StoreError, TokenKind, TokenRecord,
    User,
};
use crate::records::{Attestation, Documents, NaMark};
use async_trait::async_trait;
use gamsa_proto::v1::Evidence;
use prost::Message;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// Schema versions, applied in order; `PRAGMA user_version` records progress.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE evidence (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    agent_id    TEXT NOT NULL,
    host        TEXT NOT NULL,
    probe       TEXT NOT NULL,
    subject     TEXT NOT NULL,
    status      INTEGER NOT NULL,
    observed_ms INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    body        BLOB NOT NULL
);
CREATE INDEX evidence_probe_observed ON evidence (probe, observed_ms);
CREATE INDEX evidence_host_observed ON evidence (host, observed_ms);
CREATE TABLE agents (
    agent_id     TEXT PRIMARY KEY,
    host         TEXT NOT NULL,
    version      TEXT NOT NULL,
    os           TEXT NOT NULL,
    kernel       TEXT NOT NULL,
    capabilities TEXT NOT NULL,
    labels       TEXT NOT NULL,
    first_seen   INTEGER NOT NULL,
    last_seen    INTEGER NOT NULL,
    peer         TEXT NOT NULL,
    revoked      INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE tokens (
    hash       TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    role       TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER,
    max_uses   INTEGER NOT NULL,
    uses       INTEGER NOT NULL DEFAULT 0
);
"#,
    r#"
CREATE TABLE latest (
    host         TEXT NOT NULL,
    probe        TEXT NOT NULL,
    subject      TEXT NOT NULL,
    evidence_seq INTEGER NOT NULL,
    observed_ms  INTEGER NOT NULL,
    PRIMARY KEY (host, probe, subject)
) WITHOUT ROWID;
INSERT INTO latest (host, probe, subject, evidence_seq, observed_ms)
    SELECT host, probe, subject, seq, max(observed_ms) FROM evidence GROUP BY host, probe, subject;
CREATE TABLE attestations (
    id          INTEGER PRIMARY KEY,
    body        TEXT NOT NULL
);
CREATE TABLE na_marks (
    id          INTEGER PRIMARY KEY,
    body        TEXT NOT NULL
);
CREATE TABLE files (
    sha256      TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    content     BLOB NOT NULL
);
"#,
    r#"
CREATE TABLE users (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL
);
"#,
    r#"
CREATE TABLE access_log (
    id          INTEGER PRIMARY KEY,
    body        TEXT NOT NULL
);
"#,
    r#"
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_ms INTEGER NOT NULL
);
"#,
];

/// Upper bound of rows in one group commit.
const MAX_GROUP_ROWS: usize = 50_000;

struct WriteJob {
    rows: Vec<Evidence>,
    done: oneshot::Sender<Result<InsertOutcome>>,
}

pub struct SqliteStore {
    path: PathBuf,
    writes: mpsc::UnboundedSender<WriteJob>,
    /// Small writes outside the ingest path (agents, tokens) and reads.
    conn: Arc<Mutex<Connection>>,
}

fn db_err(e: rusqlite::Error) -> StoreError {
    StoreError::Db(e.to_string())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn open_conn(path: &Path) -> Result<Connection> {
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
         PRAGMA mmap_size = 1073741824; PRAGMA wal_autocheckpoint = 10000;",
    )
    .map_err(open_err)?;
    Ok(conn)
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let open_err = |message: String| StoreError::Open {
        path: path.display().to_string(),
        message,
    };
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| open_err(e.to_string()))?;
    if version as usize > MIGRATIONS.len() {
        return Err(open_err(format!(
            "schema version {version} is newer than this collector understands ({})",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction().map_err(|e| open_err(e.to_string()))?;
        tx.execute_batch(sql)
            .and_then(|_| tx.pragma_update(None, "user_version", (i + 1) as i64))
            .and_then(|_| tx.commit())
            .map_err(|e| open_err(format!("migration {}: {e}", i + 1)))?;
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
        let mut conn = open_conn(path)?;
        migrate(&mut conn, path)?;
        let writer = open_conn(path)?;
        let (tx, rx) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer_loop(writer, rx))
            .map_err(|e| StoreError::Db(e.to_string()))?;
        Ok(Self {
            path: path.to_path_buf(),
            writes: tx,
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn with_conn<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().map_err(|_| StoreError::Closed)?;
            f(&mut guard)
        })
        .await
        .map_err(|_| StoreError::Closed)?
    }
}

fn writer_loop(mut conn: Connection, mut rx: mpsc::UnboundedReceiver<WriteJob>) {
    while let Some(first) = rx.blocking_recv() {
        let mut jobs = vec![first];
        let mut rows = jobs[0].rows.len();
        while rows < MAX_GROUP_ROWS {
            match rx.try_recv() {
                Ok(job) => {
                    rows += job.rows.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        match commit_group(&mut conn, &jobs) {
            Ok(outcomes) => {
                for (job, outcome) in jobs.into_iter().zip(outcomes) {
                    let _ = job.done.send(Ok(outcome));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "evidence commit failed; batches will not be acked");
                for job in jobs {
                    let _ = job.done.send(Err(StoreError::Db(e.to_string())));
                }
            }
        }
    }
}

fn commit_group(
    conn: &mut Connection,
    jobs: &[WriteJob],
) -> std::result::Result<Vec<InsertOutcome>, rusqlite::Error> {
    let tx = conn.transaction()?;
    let received = now_ms();
    let mut outcomes = Vec::with_capacity(jobs.len());
    {
        let mut stmt = tx.prepare_cached(
            "INSERT OR IGNORE INTO evidence
             (id, agent_id, host, probe, subject, status, observed_ms, received_ms, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        let mut latest = tx.prepare_cached(
            "INSERT INTO latest (host, probe, subject, evidence_seq, observed_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (host, probe, subject) DO UPDATE
                 SET evidence_seq = excluded.evidence_seq, observed_ms = excluded.observed_ms
                 WHERE excluded.observed_ms >= latest.observed_ms",
        )?;
        for job in jobs {
            let mut outcome = InsertOutcome::default();
            for ev in &job.rows {
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
                    ev.encode_to_vec(),
                ])?;
                if n == 1 {
                    let seq = tx.last_insert_rowid();
                    latest.execute(params![ev.host, ev.probe, ev.subject, seq, observed])?;
                    outcome.accepted += 1;
                } else {
                    outcome.duplicates += 1;
                }
            }
            outcomes.push(outcome);
        }
    }
    tx.commit()?;
    Ok(outcomes)
}

/// Milliseconds since the epoch; saturating, since an agent may send any
/// `seconds` (an overflow the `ingest_decode` fuzz target found).
pub fn observed_ms(ev: &Evidence) -> i64 {
    ev.observed_at
        .as_ref()
        .map(|t| {
            t.seconds
                .saturating_mul(1000)
                .saturating_add(i64::from(t.nanos) / 1_000_000)
        })
        .unwrap_or(0)
}

fn decode_rows(
    stmt: &mut rusqlite::Statement<'_>,
    args: impl rusqlite::Params,
) -> Result<Vec<Evidence>> {
    let rows = stmt
        .query_map(args, |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
        })
        .map_err(db_err)?;
    let mut out = Vec::new();
    for row in rows {
        let (id, body) = row.map_err(db_err)?;
        out.push(
            Evidence::decode(body.as_slice()).map_err(|e| StoreError::Corrupt {
                id,
                message: e.to_string(),
            })?,
        );
    }
    Ok(out)
}

fn json_rows<T: serde::de::DeserializeOwned>(c: &Connection, table: &str) -> Result<Vec<T>> {
    let mut stmt = c
        .prepare(&format!("SELECT body FROM {table} ORDER BY id"))
        .map_err(db_err)?;
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(db_err)?;
    let mut out = Vec::new();
    for body in rows {
        let body = body.map_err(db_err)?;
        out.push(serde_json::from_str(&body).map_err(|e| StoreError::Db(format!("{table}: {e}")))?);
    }
    Ok(out)
}

fn row_to_agent(r: &rusqlite::Row<'_>) -> rusqlite::Result<AgentRecord> {
    let caps: String = r.get("capabilities")?;
    let labels: String = r.get("labels")?;
    Ok(AgentRecord {
        agent_id: r.get("agent_id")?,
        host: r.get("host")?,
        version: r.get("version")?,
        os: r.get("os")?,
        kernel: r.get("kernel")?,
        capabilities: serde_json::from_str(&caps).unwrap_or_default(),
        labels: serde_json::from_str(&labels).unwrap_or_default(),
        first_seen_ms: r.get("first_seen")?,
        last_seen_ms: r.get("last_seen")?,
        peer: r.get("peer")?,
        revoked: r.get::<_, i64>("revoked")? != 0,
    })
}

#[async_trait]
impl Store for SqliteStore {
    async fn insert_batch(&self, evidence: Vec<Evidence>) -> Result<InsertOutcome> {
        if evidence.is_empty() {
            return Ok(InsertOutcome::default());
        }
        let (done, rx) = oneshot::channel();
        self.writes
            .send(WriteJob {
                rows: evidence,
                done,
            })
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn upsert_agent(&self, a: AgentRecord) -> Result<()> {
        self.with_conn(move |c| {
            c.execute(
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
                    serde_json::to_string(&a.capabilities).unwrap_or_default(),
                    serde_json::to_string(&a.labels).unwrap_or_default(),
                    a.last_seen_ms,
                    a.peer,
                ],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn touch_agent(&self, agent_id: &str, now: i64) -> Result<()> {
        let id = agent_id.to_string();
        self.with_conn(move |c| {
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
        self.with_conn(|c| {
            let mut stmt = c
                .prepare("SELECT * FROM agents ORDER BY agent_id")
                .map_err(db_err)?;
            let rows = stmt
                .query_map([], row_to_agent)
                .map_err(db_err)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(db_err)?;
            Ok(rows)
        })
        .await
    }

    async fn set_revoked(&self, agent_id: &str, revoked: bool) -> Result<bool> {
        let id = agent_id.to_string();
        self.with_conn(move |c| {
            let now = now_ms();
            let n = c
                .execute(
                    "INSERT INTO agents (agent_id, host, version, os, kernel, capabilities,
                                         labels, first_seen, last_seen, peer, revoked)
                     VALUES (?1, '', '', '', '', '[]', '{}', ?2, ?2, '', ?3)
                     ON CONFLICT (agent_id) DO UPDATE SET revoked = ?3",
                    params![id, now, revoked as i64],
                )
                .map_err(db_err)?;
            Ok(n > 0)
        })
        .await
    }

    async fn is_revoked(&self, agent_id: &str) -> Result<bool> {
        let id = agent_id.to_string();
        self.with_conn(move |c| {
            let r: Option<i64> = c
                .query_row(
                    "SELECT revoked FROM agents WHERE agent_id = ?1",
                    [id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db_err)?;
            Ok(r.unwrap_or(0) != 0)
        })
        .await
    }

    async fn query_evidence(&self, q: EvidenceQuery) -> Result<Vec<Evidence>> {
        self.with_conn(move |c| {
            let mut sql = String::from("SELECT id, body FROM evidence WHERE 1 = 1");
            let mut args: Vec<rusqlite::types::Value> = Vec::new();
            for (col, val) in [
                ("probe", &q.probe),
                ("host", &q.host),
                ("agent_id", &q.agent_id),
            ] {
                if let Some(v) = val {
                    args.push(v.clone().into());
                    sql.push_str(&format!(" AND {col} = ?{}", args.len()));
                }
            }
            if let Some(since) = q.since_ms {
                args.push(since.into());
                sql.push_str(&format!(" AND observed_ms >= ?{}", args.len()));
            }
            sql.push_str(&format!(
                " ORDER BY observed_ms DESC, seq DESC LIMIT {}",
                q.limit.max(1)
            ));
            let mut stmt = c.prepare(&sql).map_err(db_err)?;
            decode_rows(&mut stmt, rusqlite::params_from_iter(args))
        })
        .await
    }

    async fn latest_evidence(&self) -> Result<Vec<Evidence>> {
        self.with_conn(|c| {
            let mut stmt = c
                .prepare(
                    "SELECT e.id, e.body FROM latest l JOIN evidence e ON e.seq = l.evidence_seq",
                )
                .map_err(db_err)?;
            decode_rows(&mut stmt, [])
        })
        .await
    }

    async fn evidence_by_ids(&self, ids: Vec<String>) -> Result<Vec<Evidence>> {
        self.with_conn(move |c| {
            let mut stmt = c
                .prepare_cached("SELECT id, body FROM evidence WHERE id = ?1")
                .map_err(db_err)?;
            let mut out = Vec::new();
            for id in ids {
                out.extend(decode_rows(&mut stmt, [id])?);
            }
            Ok(out)
        })
        .await
    }

    async fn documents(&self) -> Result<Documents> {
        self.with_conn(|c| {
            Ok(Documents {
                attestations: json_rows(c, "attestations")?,
                na_marks: json_rows(c, "na_marks")?,
            })
        })
        .await
    }

    async fn add_attestation(&self, a: Attestation, file: Option<Vec<u8>>) -> Result<()> {
        self.with_conn(move |c| {
            let tx = c.transaction().map_err(db_err)?;
            if let Some(content) = file {
                tx.execute(
                    "INSERT OR IGNORE INTO files (sha256, name, content) VALUES (?1, ?2, ?3)",
                    params![a.file_sha256, a.file_name, content],
                )
                .map_err(db_err)?;
            }
            let body = serde_json::to_string(&a).map_err(|e| StoreError::Db(e.to_string()))?;
            tx.execute("INSERT INTO attestations (body) VALUES (?1)", [body])
                .map_err(db_err)?;
            tx.commit().map_err(db_err)
        })
        .await
    }

    async fn add_na_mark(&self, m: NaMark) -> Result<()> {
        self.with_conn(move |c| {
            let body = serde_json::to_string(&m).map_err(|e| StoreError::Db(e.to_string()))?;
            c.execute("INSERT INTO na_marks (body) VALUES (?1)", [body])
                .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn upsert_user(&self, u: User) -> Result<()> {
        self.with_conn(move |c| {
            c.execute(
                "INSERT INTO users (name, role, password_hash) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET role = ?2, password_hash = ?3",
                params![u.name, u.role, u.password_hash],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn get_user(&self, name: &str) -> Result<Option<User>> {
        let name = name.to_string();
        self.with_conn(move |c| {
            c.query_row(
                "SELECT name, role, password_hash FROM users WHERE name = ?1",
                [name],
                |r| {
                    Ok(User {
                        name: r.get(0)?,
                        role: r.get(1)?,
                        password_hash: r.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(db_err)
        })
        .await
    }

    async fn delete_token(&self, hash: &str) -> Result<()> {
        let hash = hash.to_string();
        self.with_conn(move |c| {
            c.execute("DELETE FROM tokens WHERE hash = ?1", [hash])
                .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn file(&self, sha256: &str) -> Result<Option<(String, Vec<u8>)>> {
        let sha = sha256.to_string();
        self.with_conn(move |c| {
            c.query_row(
                "SELECT name, content FROM files WHERE sha256 = ?1",
                [sha],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(db_err)
        })
        .await
    }

    async fn append_access(&self, a: crate::records::Access) -> Result<()> {
        self.with_conn(move |c| {
            let body = serde_json::to_string(&a).map_err(|e| StoreError::Db(e.to_string()))?;
            c.execute("INSERT INTO access_log (body) VALUES (?1)", [body])
                .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn access_log(&self, limit: u32) -> Result<Vec<crate::records::Access>> {
        self.with_conn(move |c| {
            let mut stmt = c
                .prepare("SELECT body FROM access_log ORDER BY id DESC LIMIT ?1")
                .map_err(db_err)?;
            let rows = stmt
                .query_map([limit.max(1)], |r| r.get::<_, String>(0))
                .map_err(db_err)?;
            let mut out = Vec::new();
            for body in rows {
                let body = body.map_err(db_err)?;
                out.push(
                    serde_json::from_str(&body)
                        .map_err(|e| StoreError::Db(format!("access_log: {e}")))?,
                );
            }
            Ok(out)
        })
        .await
    }

    async fn count_evidence(&self) -> Result<u64> {
        self.with_conn(|c| {
            c.query_row("SELECT count(*) FROM evidence", [], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
                .map_err(db_err)
        })
        .await
    }

    async fn ping(&self) -> Result<()> {
        self.with_conn(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(db_err))
            .await
    }

    async fn create_token(&self, hash: &str, t: TokenRecord) -> Result<()> {
        let hash = hash.to_string();
        self.with_conn(move |c| {
            c.execute(
                "INSERT INTO tokens (hash, kind, name, role, created_ms, expires_ms, max_uses)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    hash,
                    t.kind.as_str(),
                    t.name,
                    t.role,
                    now_ms(),
                    t.expires_at_ms,
                    t.max_uses
                ],
            )
            .map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn use_token(
        &self,
        hash: &str,
        kind: TokenKind,
        now: i64,
    ) -> Result<Option<TokenRecord>> {
        let hash = hash.to_string();
        self.with_conn(move |c| {
            // A plain read first: an unknown, expired or used-up token (what
            // an unauthenticated client sends) and every token that is not
            // consumed cost no write lock, so they never wait for ingest.
            // Only a live enrolment token takes the lock, IMMEDIATE before
            // its re-read, so another process sharing the file cannot
            // consume the same use.
            let read = |c: &Connection| {
                c.query_row(
                    "SELECT name, role, expires_ms, max_uses, uses FROM tokens
                     WHERE hash = ?1 AND kind = ?2",
                    params![hash, kind.as_str()],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, Option<i64>>(2)?,
                            r.get::<_, u32>(3)?,
                            r.get::<_, u32>(4)?,
                        ))
                    },
                )
                .optional()
                .map_err(db_err)
            };
            let live = |found: &Option<(String, String, Option<i64>, u32, u32)>| {
                found
                    .as_ref()
                    .is_some_and(|(_, _, expires, max_uses, uses)| {
                        !expires.is_some_and(|e| e <= now)
                            && (kind != TokenKind::Enrol || uses < max_uses)
                    })
            };
            let mut found = read(c)?;
            if live(&found) && kind == TokenKind::Enrol {
                let tx = c
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(db_err)?;
                found = read(&tx)?;
                if live(&found) {
                    tx.execute("UPDATE tokens SET uses = uses + 1 WHERE hash = ?1", [&hash])
                        .map_err(db_err)?;
                    tx.commit().map_err(db_err)?;
                }
            }
            if !live(&found) {
                return Ok(None);
            }
            Ok(found.map(|(name, role, expires, max_uses, _)| TokenRecord {
                kind,
                name,
                role,
                expires_at_ms: expires,
                max_uses,
            }))
        })
        .await
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
        self.with_conn(move |c| {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observed_time_of_any_timestamp_saturates() {
        let ev = |seconds| Evidence {
            observed_at: Some(gamsa_proto::Timestamp {
                seconds,
                nanos: 999_999_999,
            }),
            ..Default::default()
        };
        assert_eq!(observed_ms(&ev(i64::MAX)), i64::MAX);
        assert_eq!(observed_ms(&ev(i64::MIN)), i64::MIN + 999);
        assert_eq!(observed_ms(&ev(1)), 1_999);
    }
}

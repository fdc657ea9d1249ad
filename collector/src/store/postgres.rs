//! PostgreSQL storage: one database shared by every collector replica, so any
//! replica can take any agent's stream, enrolment or API call.
//!
//! sqlx rather than tokio-postgres: its rustls TLS understands libpq's
//! `sslmode=verify-full` / `sslrootcert` in the URL, it has a pool, and its
//! embedded, checksummed migrations run under a PostgreSQL advisory lock, so
//! replicas starting together never race on the schema.
//!
//! Ingest shares the SQLite store's group commit ([`super::group_commit`]):
//! batches waiting in a queue are grouped into one transaction, written with
//! one multi-row statement (`UNNEST` of column arrays) that inserts the
//! evidence idempotently (`ON CONFLICT (id) DO NOTHING`) and returns the new
//! rows; the writer picks the newest of them per (host, probe, subject) and
//! updates the `latest` index with those alone, in the same transaction. The
//! server then does no more than the inserts themselves: sorting, grouping
//! and counting per batch happen in the collector, which is cheaper to scale
//! than the database. A few writers run at once, because
//! unlike SQLite the server commits concurrent transactions in parallel; each
//! caller is answered only after its group's `COMMIT` returned.

use super::group_commit::{self, Queue};
use super::rows::{
    self, observed_ms, Columns, Stored, AGENT_COLUMNS, EVIDENCE, EVIDENCE_FROM, LAST, LATEST_FROM,
    LATEST_OF_E, LATEST_STAMP, STAMP, STAMPED,
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
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor, PgConnection, QueryBuilder, Row};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Concurrent group-commit writers.
const WRITERS: usize = 4;
/// Evidence ids one read by id names (`by_ids_at_once`).
const IDS_PER_READ: usize = 1_000;
/// Upper bound of rows in one group commit.
const MAX_GROUP_ROWS: usize = 20_000;
/// Writers plus readers (API, dashboard, ingest bookkeeping).
const MAX_CONNECTIONS: u32 = 16;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Inserts a group of evidence, each row referencing its body; followed
/// by what to do with an id already stored, and `RETURNING seq, id`.
macro_rules! insert_group {
    () => {
        r#"
INSERT INTO evidence (id, agent_id, host, probe, subject, status, observed_ms, received_ms,
                      body, body_seq, last_ms)
SELECT id, agent_id, host, probe, subject, status, observed_ms, $9, body, body_seq, observed_ms
FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int4[],
            $7::int8[], $8::bytea[], $10::int8[])
    AS t(id, agent_id, host, probe, subject, status, observed_ms, body, body_seq)
"#
    };
}

/// A group without replays: an id already stored fails the statement.
const INSERT_NEW: &str = concat!(insert_group!(), "RETURNING seq, id");

/// A group with replays: returns the rows that were new.
const INSERT_GROUP: &str = concat!(
    insert_group!(),
    "ON CONFLICT (id) DO NOTHING RETURNING seq, id"
);

/// Points `latest` at the newest of a group's new rows per (host, probe,
/// subject), unless a newer observation is already there. The run it takes
/// the place of ends: its last observation moves from `latest` to its row
/// (rows.rs).
const UPDATE_LATEST: &str = r#"
WITH t AS (
    SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[])
        AS t(host, probe, subject, evidence_seq, observed_ms)
),
closed AS (
    UPDATE evidence e SET last_ms = l.observed_ms
    FROM t JOIN latest l ON l.host = t.host AND l.probe = t.probe AND l.subject = t.subject
    WHERE e.seq = l.evidence_seq AND l.evidence_seq <> t.evidence_seq
      AND t.observed_ms >= l.observed_ms
      AND l.observed_ms > coalesce(e.last_ms, e.observed_ms)
)
INSERT INTO latest (host, probe, subject, evidence_seq, observed_ms, changed)
SELECT t.*, pg_current_xact_id() FROM t
ON CONFLICT (host, probe, subject) DO UPDATE
    SET evidence_seq = EXCLUDED.evidence_seq, observed_ms = EXCLUDED.observed_ms,
        changed = EXCLUDED.changed
    WHERE EXCLUDED.observed_ms >= latest.observed_ms
"#;

/// The oldest transaction still running as the statement's snapshot was
/// taken: every row of `latest` it does not see was changed by this one or
/// a later one (`latest.changed`, `migrations/postgres/0017`).
const OLDEST_RUNNING: &str = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint";

/// Moves the last observation of runs (`runs.rs`) `$1` to `$2`: in
/// `latest` where the run is still the latest of its key (`$3`–`$5`, found
/// by its primary key), else in the run's row.
const EXTEND_RUNS: &str = r#"
WITH t AS (
    SELECT * FROM UNNEST($1::int8[], $2::int8[], $3::text[], $4::text[], $5::text[])
        AS t(seq, at, host, probe, subject)
),
ev AS (
    UPDATE evidence e SET last_ms = GREATEST(coalesce(e.last_ms, e.observed_ms), t.at)
    FROM t WHERE e.seq = t.seq AND NOT EXISTS (
        SELECT 1 FROM latest l WHERE l.host = t.host AND l.probe = t.probe
            AND l.subject = t.subject AND l.evidence_seq = t.seq)
)
UPDATE latest l SET observed_ms = t.at, changed = pg_current_xact_id() FROM t
WHERE l.host = t.host AND l.probe = t.probe AND l.subject = t.subject
  AND l.evidence_seq = t.seq AND l.observed_ms < t.at
"#;

/// The advisory lock guarding bodies (`migrations/postgres/0009`), as the
/// arguments of `pg_advisory_xact_lock[_shared]`: this number and the
/// schema's, so that stores in different schemas of one database do not
/// wait for one another.
const BODIES_LOCK: &str = "1734700009, hashtext(current_schema())";

pub struct PgStore {
    pool: PgPool,
    /// The URL without its password, for error messages.
    url: Arc<str>,
    writes: Queue<Stored>,
    /// Whether a token's last use is being recorded: one at a time, so a
    /// burst of API calls (or a locked table) holds one pool connection.
    touching: Arc<AtomicBool>,
}

/// `url` without its password (in the authority or as a query parameter).
pub fn redact(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return "<unparsable PostgreSQL URL>".into();
    };
    if parsed.password().is_some() {
        let _ = parsed.set_password(None);
    }
    if parsed.query_pairs().any(|(k, _)| k == "password") {
        let kept: Vec<(String, String)> = parsed
            .query_pairs()
            .filter(|(k, _)| k != "password")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(kept);
    }
    parsed.to_string()
}

/// Parses a PostgreSQL URL in libpq's form (`sslmode`, `sslrootcert`, …
/// as query parameters).
pub fn parse_url(url: &str) -> std::result::Result<PgConnectOptions, String> {
    PgConnectOptions::from_str(url).map_err(|e| e.to_string())
}

impl PgStore {
    /// Connects, applies pending migrations and starts the writers.
    pub async fn open(url: &str) -> Result<Self> {
        let shown: Arc<str> = redact(url).into();
        let open_err = |message: String| StoreError::Open {
            path: shown.to_string(),
            message,
        };
        let options = parse_url(url).map_err(open_err)?;
        // Migrations on a connection of their own: the advisory lock sqlx
        // holds while migrating ends with it, even if a migration fails.
        let mut conn = tokio::time::timeout(CONNECT_TIMEOUT, options.connect())
            .await
            .map_err(|_| open_err(format!("no answer within {CONNECT_TIMEOUT:?}")))?
            .map_err(|e| open_err(e.to_string()))?;
        MIGRATOR
            .run(&mut conn)
            .await
            .map_err(|e| open_err(format!("migrating the schema: {e}")))?;
        let _ = conn.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(CONNECT_TIMEOUT)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    // An ack promises a durable commit: a server whose default
                    // is `synchronous_commit = off` does not keep that promise.
                    conn.execute(
                        "SELECT set_config('synchronous_commit', 'on', false)
                         WHERE current_setting('synchronous_commit') = 'off'",
                    )
                    .await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(|e| open_err(e.to_string()))?;
        let (queue, waiting) = group_commit::queue();
        for _ in 0..WRITERS {
            let (pool, url) = (pool.clone(), shown.clone());
            tokio::spawn(group_commit::run(
                waiting.clone(),
                MAX_GROUP_ROWS,
                move |batches| {
                    let (pool, url) = (pool.clone(), url.clone());
                    async move {
                        commit_group(&pool, &batches)
                            .await
                            .map_err(|e| format!("{url}: {e}"))
                    }
                },
            ));
        }
        Ok(Self {
            pool,
            url: shown,
            writes: queue,
            touching: Arc::new(AtomicBool::new(false)),
        })
    }

    fn err(&self, e: sqlx::Error) -> StoreError {
        StoreError::Db(format!("{}: {e}", self.url))
    }

    /// The evidence `ids` as `columns` read by `map`, in the order asked
    /// for (as the SQLite store answers): [`IDS_PER_READ`] ids a read, the
    /// reads at once on connections of their own and their rows decoded in
    /// tasks of their own. A snapshot's batch names thousands of ids; read
    /// and decoded in one go, that kept one core busy while the other
    /// waited.
    async fn by_ids_at_once<T: Send + 'static>(
        &self,
        columns: &'static str,
        ids: Vec<String>,
        map: fn(&PgRow) -> Result<T>,
    ) -> Result<Vec<T>> {
        let reads: Vec<_> = ids
            .chunks(IDS_PER_READ)
            .map(|chunk| {
                let (pool, chunk, url) = (self.pool.clone(), chunk.to_vec(), self.url.clone());
                tokio::spawn(async move {
                    let found = sqlx::query(AssertSqlSafe(by_ids(columns)))
                        .bind(chunk)
                        .fetch_all(&pool)
                        .await
                        .map_err(|e| StoreError::Db(format!("{url}: {e}")))?;
                    found.iter().map(map).collect::<Result<Vec<T>>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(ids.len());
        for read in reads {
            let rows = read.await.map_err(|e| {
                StoreError::Db(format!("{}: reading evidence by id: {e}", self.url))
            })?;
            out.extend(rows?);
        }
        Ok(out)
    }

    /// The latest set of `hosts` (of `probes` only, unless empty), by host,
    /// probe and subject, as `columns` (of the latest row `l`, its evidence
    /// `e` and body `b`).
    async fn latest_of(
        &self,
        hosts: &[&str],
        probes: &[&str],
        columns: &str,
    ) -> Result<Vec<PgRow>> {
        let mut hosts = hosts.to_vec();
        hosts.sort_unstable();
        hosts.dedup();
        // Each host's rows by the key's index, for the reason `by_ids` says.
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {columns} FROM UNNEST($1::text[]) AS wanted (host)
             CROSS JOIN LATERAL (
                 SELECT * FROM latest WHERE host = wanted.host
                   AND (cardinality($2::text[]) = 0 OR probe = ANY($2))
                 OFFSET 0) l
             JOIN evidence e ON e.seq = l.evidence_seq
             LEFT JOIN evidence_bodies b ON b.seq = e.body_seq
             ORDER BY l.host, l.probe, l.subject"
        )))
        .bind(hosts)
        .bind(probes)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))
    }

    /// At most `limit` rows of the latest set after `after`, in key order,
    /// as `columns` (of the evidence `e`, its body `b` and the latest row
    /// `l`).
    async fn latest_page(
        &self,
        columns: &str,
        after: Option<LatestKey>,
        limit: u32,
    ) -> Result<Vec<PgRow>> {
        // Two statements, so that each page walks the key's index from its
        // start instead of scanning and sorting the whole table.
        let select = format!("SELECT {columns} FROM {LATEST_FROM}");
        let order = "ORDER BY l.host, l.probe, l.subject";
        match after {
            None => {
                sqlx::query(AssertSqlSafe(format!("{select} {order} LIMIT $1")))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
            }
            Some(k) => {
                sqlx::query(AssertSqlSafe(format!(
                    "{select} WHERE (l.host, l.probe, l.subject) > ($1, $2, $3) {order} LIMIT $4"
                )))
                .bind(k.host)
                .bind(k.probe)
                .bind(k.subject)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
            }
        }
        .map_err(|e| self.err(e))
    }

    /// Records, in the background, that the API token `hash` was used at
    /// `now` (to the minute); skipped while a record is being written.
    fn touch_token(&self, hash: String, now: i64) {
        if self.touching.swap(true, Ordering::AcqRel) {
            return;
        }
        let (pool, touching) = (self.pool.clone(), self.touching.clone());
        tokio::spawn(async move {
            let done = sqlx::query(
                "UPDATE tokens SET last_used_ms = $2 WHERE hash = $1
                     AND (last_used_ms IS NULL OR last_used_ms <= $2 - $3)",
            )
            .bind(hash)
            .bind(now)
            .bind(super::TOUCH_MS)
            .execute(&pool)
            .await;
            if let Err(e) = done {
                tracing::debug!("token last use not recorded: {e}");
            }
            touching.store(false, Ordering::Release);
        });
    }

    /// Runs `f` in a transaction, committed only when `keep` says so of
    /// its answer.
    async fn in_transaction<T, F>(&self, keep: impl Fn(&T) -> bool, f: F) -> Result<T>
    where
        F: for<'c> FnOnce(
            &'c mut PgConnection,
        )
            -> futures::future::BoxFuture<'c, std::result::Result<T, sqlx::Error>>,
    {
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        let answer = f(&mut tx).await.map_err(|e| self.err(e))?;
        if keep(&answer) {
            tx.commit().await.map_err(|e| self.err(e))?;
        }
        Ok(answer)
    }

    /// A page of agents read by `page` (`$1` limit, `$2` offset), with the
    /// total `count` finds.
    async fn agent_page(
        &self,
        count: &'static str,
        page: String,
        offset: u32,
        limit: u32,
    ) -> Result<(Vec<AgentRecord>, u64)> {
        let total: i64 = sqlx::query_scalar(count)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        let found = sqlx::query(AssertSqlSafe(page))
            .bind(i64::from(limit))
            .bind(i64::from(offset))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        let page = found.iter().map(rows::agent).collect::<Result<_>>()?;
        Ok((page, total as u64))
    }

    /// The JSON documents of `table`, oldest first.
    async fn documents<T: serde::de::DeserializeOwned>(&self, table: &str) -> Result<Vec<T>> {
        let bodies: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT body FROM {table} ORDER BY id"
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        bodies.iter().map(|b| rows::from_json(table, b)).collect()
    }

    /// Appends `document` as JSON to `table` (`na_marks`, `access_log`).
    async fn append<T: serde::Serialize>(&self, table: &str, document: &T) -> Result<()> {
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {table} (body) VALUES ($1)"
        )))
        .bind(rows::to_json(document)?)
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }
}

/// The `seq` of the body of each hash, inserting the bodies not yet
/// stored. Runs in an ingest transaction that holds `BODIES_LOCK` shared, so
/// none of them is removed before the transaction ends. Returns the seqs of
/// the bodies it inserted too.
async fn bodies(
    tx: &mut PgConnection,
    rows: &[(i32, &Stored)],
) -> std::result::Result<(HashMap<Vec<u8>, i64>, Vec<i64>), sqlx::Error> {
    let wanted: BTreeSet<&[u8]> = rows.iter().map(|(_, r)| r.hash.as_slice()).collect();
    let find = |hashes: Vec<&[u8]>| {
        sqlx::query_as::<_, (i64, Vec<u8>)>(
            "SELECT seq, hash FROM evidence_bodies WHERE hash = ANY($1)",
        )
        .bind(hashes.into_iter().map(<[u8]>::to_vec).collect::<Vec<_>>())
    };
    let mut found: HashMap<Vec<u8>, i64> = find(wanted.iter().copied().collect())
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|(seq, hash)| (hash, seq))
        .collect();
    // In hash order: two collectors inserting the same new bodies take
    // their index locks in the same order and cannot deadlock.
    let missing: std::collections::BTreeMap<&[u8], &[u8]> = rows
        .iter()
        .filter(|(_, r)| !found.contains_key(&r.hash))
        .map(|(_, r)| (r.hash.as_slice(), r.content.as_slice()))
        .collect();
    if missing.is_empty() {
        return Ok((found, Vec::new()));
    }
    let (hashes, contents): (Vec<&[u8]>, Vec<&[u8]>) = missing.iter().unzip();
    let added: Vec<(i64, Vec<u8>)> = sqlx::query_as(
        "INSERT INTO evidence_bodies (hash, body)
         SELECT hash, body FROM UNNEST($1::bytea[], $2::bytea[]) WITH ORDINALITY
             AS t(hash, body, n) ORDER BY n
         ON CONFLICT (hash) DO NOTHING RETURNING seq, hash",
    )
    .bind(hashes)
    .bind(contents)
    .fetch_all(&mut *tx)
    .await?;
    let new: Vec<i64> = added.iter().map(|(seq, _)| *seq).collect();
    found.extend(added.into_iter().map(|(seq, hash)| (hash, seq)));
    // Those another collector inserted meanwhile: committed by now (the
    // insert waited for it), and seen by this new statement.
    let raced: Vec<&[u8]> = missing
        .into_keys()
        .filter(|h| !found.contains_key(*h))
        .collect();
    if !raced.is_empty() {
        found.extend(
            find(raced)
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .map(|(seq, hash)| (hash, seq)),
        );
    }
    Ok((found, new))
}

/// The latest run of each key of a group's rows (`runs.rs`), its `latest`
/// row locked until the transaction ends, in key order (as `UPDATE_LATEST`
/// takes them), so that no other writer moves it meanwhile.
async fn latest_runs<'a>(
    tx: &mut PgConnection,
    rows: &[(&'a Stored, i64)],
) -> std::result::Result<HashMap<runs::Key<'a>, runs::Run>, sqlx::Error> {
    let keys: Vec<runs::Key<'a>> = rows
        .iter()
        .map(|(r, _)| runs::key(r))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let found: Vec<(i64, i64, Option<i64>, i64, i64)> = sqlx::query_as(
        "SELECT t.n, l.evidence_seq, e.body_seq, e.observed_ms, l.observed_ms
         FROM UNNEST($1::text[], $2::text[], $3::text[]) WITH ORDINALITY
             AS t(host, probe, subject, n)
         JOIN latest l ON l.host = t.host AND l.probe = t.probe AND l.subject = t.subject
         JOIN evidence e ON e.seq = l.evidence_seq
         ORDER BY l.host, l.probe, l.subject
         FOR UPDATE OF l",
    )
    .bind(keys.iter().map(|k| k.0).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.1).collect::<Vec<_>>())
    .bind(keys.iter().map(|k| k.2).collect::<Vec<_>>())
    .fetch_all(&mut *tx)
    .await?;
    found
        .into_iter()
        .map(|(n, seq, body_seq, first_ms, last_ms)| {
            let k = usize::try_from(n - 1)
                .ok()
                .and_then(|i| keys.get(i))
                .ok_or_else(|| sqlx::Error::Protocol(format!("latest run {n}: no such key")))?;
            Ok((
                *k,
                runs::Run {
                    seq,
                    body_seq,
                    first_ms,
                    last_ms,
                },
            ))
        })
        .collect()
}

/// A group's rows as column arrays, the parameters of `insert`.
#[derive(Default)]
struct Arrays<'a> {
    id: Vec<&'a str>,
    agent_id: Vec<&'a str>,
    host: Vec<&'a str>,
    probe: Vec<&'a str>,
    subject: Vec<&'a str>,
    status: Vec<i32>,
    observed_ms: Vec<i64>,
    body: Vec<&'a [u8]>,
    body_seq: Vec<i64>,
}

impl<'a> Arrays<'a> {
    fn push(&mut self, row: &'a Stored, body_seq: i64) {
        let ev = &row.ev;
        self.id.push(&ev.id);
        self.agent_id.push(&ev.agent_id);
        self.host.push(&ev.host);
        self.probe.push(&ev.probe);
        self.subject.push(&ev.subject);
        self.status.push(ev.status);
        self.observed_ms.push(observed_ms(ev));
        self.body.push(&row.observed);
        self.body_seq.push(body_seq);
    }
}

/// Runs `sql` (`INSERT_NEW` or `INSERT_GROUP`) on `cols`.
async fn insert(
    tx: &mut PgConnection,
    sql: &'static str,
    cols: &Arrays<'_>,
) -> std::result::Result<Vec<(i64, String)>, sqlx::Error> {
    sqlx::query_as(sql)
        .bind(&cols.id)
        .bind(&cols.agent_id)
        .bind(&cols.host)
        .bind(&cols.probe)
        .bind(&cols.subject)
        .bind(&cols.status)
        .bind(&cols.observed_ms)
        .bind(&cols.body)
        .bind(crate::clock::now_ms())
        .bind(&cols.body_seq)
        .fetch_all(tx)
        .await
}

/// The newest of a group's new rows per (host, probe, subject): the rows
/// `latest` may move to, in key order (so that two writers updating the
/// same keys take their row locks in the same order and cannot deadlock).
fn newest<'a>(new: impl Iterator<Item = (i64, &'a Stored)>) -> Vec<(&'a Evidence, i64, i64)> {
    let mut newest: std::collections::BTreeMap<(&str, &str, &str), (&Evidence, i64, i64)> =
        Default::default();
    for (seq, row) in new {
        let ev = &row.ev;
        let candidate = (ev, observed_ms(ev), seq);
        newest
            .entry((&ev.host, &ev.probe, &ev.subject))
            .and_modify(|kept| {
                if (candidate.1, candidate.2) > (kept.1, kept.2) {
                    *kept = candidate;
                }
            })
            .or_insert(candidate);
    }
    newest.into_values().collect()
}

/// Counts a write that can change a verdict, in the write's transaction
/// (`Store::change_counter`): one of the counter's slots, at random, so
/// that concurrent commits seldom wait for one another's row lock.
async fn bump(c: &mut PgConnection) -> std::result::Result<(), sqlx::Error> {
    sqlx::query("UPDATE changes SET counter = counter + 1 WHERE slot = $1")
        .bind(rand::random_range(0..CHANGE_SLOTS))
        .execute(c)
        .await
        .map(drop)
}

/// The slots of the change counter (`migrations/postgres/0007_changes.sql`).
const CHANGE_SLOTS: i32 = 16;

/// Stores a group of batches in one transaction; one outcome per batch.
async fn commit_group(
    pool: &PgPool,
    batches: &[Vec<Stored>],
) -> std::result::Result<Vec<InsertOutcome>, sqlx::Error> {
    // An id twice in one group is a replay: only its first copy is offered
    // for insertion (and counted as accepted if it is new).
    let mut seen = HashSet::new();
    let mut rows: Vec<(i32, &Stored)> = Vec::new();
    for (j, batch) in batches.iter().enumerate() {
        for row in batch {
            if seen.insert(row.ev.id.as_str()) {
                rows.push((j as i32, row));
            }
        }
    }
    // Rows in id order: two collectors committing overlapping replays take
    // their row locks in the same order and cannot deadlock.
    rows.sort_unstable_by(|a, b| a.1.ev.id.cmp(&b.1.ev.id));
    let mut tx = pool.begin().await?;
    sqlx::query(AssertSqlSafe(format!(
        "SELECT pg_advisory_xact_lock_shared({BODIES_LOCK})"
    )))
    .execute(&mut *tx)
    .await?;
    let (found, new) = bodies(&mut tx, &rows).await?;
    let mut with_body: Vec<(&Stored, i64)> = Vec::with_capacity(rows.len());
    for (_, row) in &rows {
        let seq = found.get(&row.hash).copied().ok_or_else(|| {
            sqlx::Error::Protocol(format!("evidence {}: its body was not stored", row.ev.id))
        })?;
        with_body.push((row, seq));
    }
    let stored = latest_runs(&mut tx, &with_body).await?;
    let (fates, last) = runs::plan(&with_body, &stored);
    let mut cols = Arrays::default();
    for (i, (row, body_seq)) in with_body.iter().enumerate() {
        if fates[i] == runs::Fate::Insert {
            cols.push(row, *body_seq);
        }
    }
    // Most groups hold no replay. A plain insert checks each id as its
    // unique index takes it; `ON CONFLICT` would look each one up first, a
    // tenth of the server's ingest work. A replay fails the plain insert,
    // and the group goes again with `ON CONFLICT`, from a savepoint.
    sqlx::query("SAVEPOINT new_rows").execute(&mut *tx).await?;
    let returned = match insert(&mut tx, INSERT_NEW, &cols).await {
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            sqlx::query("ROLLBACK TO SAVEPOINT new_rows")
                .execute(&mut *tx)
                .await?;
            insert(&mut tx, INSERT_GROUP, &cols).await?
        }
        other => other?,
    };
    // Each new row's index in `rows` (which is in id order).
    let mut inserted = HashMap::with_capacity(returned.len());
    for (seq, id) in &returned {
        let at = rows
            .binary_search_by(|(_, r)| r.ev.id.as_str().cmp(id))
            .map_err(|_| sqlx::Error::Protocol(format!("evidence {id}: inserted, not sent")))?;
        inserted.insert(at, *seq);
    }
    let newest = newest(inserted.iter().map(|(i, seq)| (*seq, rows[*i].1)));
    if !newest.is_empty() {
        sqlx::query(UPDATE_LATEST)
            .bind(
                newest
                    .iter()
                    .map(|(ev, ..)| ev.host.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                newest
                    .iter()
                    .map(|(ev, ..)| ev.probe.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                newest
                    .iter()
                    .map(|(ev, ..)| ev.subject.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(newest.iter().map(|(_, _, seq)| *seq).collect::<Vec<_>>())
            .bind(newest.iter().map(|(_, ms, _)| *ms).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
    }
    let (extend, accepted_rows) = runs::settle(&fates, &last, &inserted);
    if !extend.is_empty() {
        let keys: Vec<runs::Key> = extend
            .iter()
            .map(|(_, _, i)| runs::key(rows[*i].1))
            .collect();
        sqlx::query(EXTEND_RUNS)
            .bind(extend.iter().map(|(seq, ..)| *seq).collect::<Vec<_>>())
            .bind(extend.iter().map(|(_, at, _)| *at).collect::<Vec<_>>())
            .bind(keys.iter().map(|k| k.0).collect::<Vec<_>>())
            .bind(keys.iter().map(|k| k.1).collect::<Vec<_>>())
            .bind(keys.iter().map(|k| k.2).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
    }
    let mut accepted = vec![0u32; batches.len()];
    for ((job, _), yes) in rows.iter().zip(accepted_rows) {
        if yes {
            accepted[*job as usize] += 1;
        }
    }
    if !new.is_empty() {
        // New bodies of replays only (evidence already stored, whose body
        // retention had removed) are used by no row.
        sqlx::query(
            "DELETE FROM evidence_bodies b WHERE b.seq = ANY($1)
                 AND NOT EXISTS (SELECT 1 FROM evidence e WHERE e.body_seq = b.seq)",
        )
        .bind(new)
        .execute(&mut *tx)
        .await?;
    }
    if accepted.iter().any(|n| *n > 0) {
        bump(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(batches
        .iter()
        .zip(accepted)
        .map(|(batch, accepted)| InsertOutcome {
            accepted,
            duplicates: batch.len() as u32 - accepted,
        })
        .collect())
}

/// Binds `host` to `agent` within a transaction, unless another agent that
/// is not revoked holds it.
async fn bind(
    c: &mut PgConnection,
    agent: &str,
    host: &str,
    now: i64,
) -> std::result::Result<Binding, sqlx::Error> {
    // One statement takes the host: a collector binding it at the same
    // time queues on the row and re-checks the condition against ours.
    let taken = sqlx::query(
        "INSERT INTO host_bindings (host, agent_id, bound_ms) VALUES ($1, $2, $3)
         ON CONFLICT (host) DO UPDATE
             SET agent_id = EXCLUDED.agent_id, bound_ms = EXCLUDED.bound_ms
             WHERE host_bindings.agent_id = EXCLUDED.agent_id
                 OR coalesce((SELECT revoked FROM agents
                              WHERE agents.agent_id = host_bindings.agent_id), false)",
    )
    .bind(host)
    .bind(agent)
    .bind(now)
    .execute(&mut *c)
    .await?;
    if taken.rows_affected() == 0 {
        let holder: String =
            sqlx::query_scalar("SELECT agent_id FROM host_bindings WHERE host = $1")
                .bind(host)
                .fetch_one(&mut *c)
                .await?;
        return Ok(Binding::HeldBy(holder));
    }
    sqlx::query("DELETE FROM host_bindings WHERE agent_id = $1 AND host <> $2")
        .bind(agent)
        .bind(host)
        .execute(&mut *c)
        .await?;
    Ok(Binding::Bound)
}

/// Checks an enrolment claim within a transaction and, when it holds,
/// records it. The token's row is locked first, so enrolments with one token
/// queue; a name is claimed by one INSERT, so enrolments of one name with
/// different tokens queue on its key and the later one finds it taken.
async fn enrol(
    c: &mut PgConnection,
    claim: &EnrolClaim,
) -> std::result::Result<Enrolled, sqlx::Error> {
    let token: Option<(String,)> = sqlx::query_as(
        "SELECT name FROM tokens WHERE hash = $1 AND kind = 'enrol'
             AND (expires_ms IS NULL OR expires_ms > $2) AND uses < max_uses
         FOR UPDATE",
    )
    .bind(&claim.token_hash)
    .bind(claim.now_ms)
    .fetch_optional(&mut *c)
    .await?;
    let Some((bound_to,)) = token else {
        return Ok(Enrolled::NoToken);
    };
    if !bound_to.is_empty() && bound_to != claim.agent_id {
        return Ok(Enrolled::BoundTo(bound_to));
    }
    // A shared token only creates the name; a bound one may enrol it again,
    // unless it is revoked.
    let claimed = sqlx::query(
        "INSERT INTO agents (agent_id, host, version, os, kernel, capabilities, labels,
                             first_seen, last_seen, peer, certificate)
         VALUES ($1, $2, '', '', '', '[]', '{}', $3, $3, $4, $5)
         ON CONFLICT (agent_id) DO UPDATE SET host = $2, last_seen = $3, peer = $4,
             certificate = $5
             WHERE $6 AND NOT agents.revoked",
    )
    .bind(&claim.agent_id)
    .bind(&claim.host)
    .bind(claim.now_ms)
    .bind(&claim.peer)
    .bind(&claim.certificate)
    .bind(!bound_to.is_empty())
    .execute(&mut *c)
    .await?;
    if claimed.rows_affected() == 0 {
        let revoked: bool = sqlx::query_scalar("SELECT revoked FROM agents WHERE agent_id = $1")
            .bind(&claim.agent_id)
            .fetch_one(&mut *c)
            .await?;
        return Ok(if revoked {
            Enrolled::Revoked
        } else {
            Enrolled::NameTaken
        });
    }
    if let Binding::HeldBy(holder) = bind(c, &claim.agent_id, &claim.host, claim.now_ms).await? {
        return Ok(Enrolled::HeldBy(holder));
    }
    sqlx::query("UPDATE tokens SET uses = uses + 1, last_used_ms = $2 WHERE hash = $1")
        .bind(&claim.token_hash)
        .bind(claim.now_ms)
        .execute(&mut *c)
        .await?;
    Ok(Enrolled::Enrolled)
}

/// Ends every session of user `name`.
async fn end_sessions(c: &mut PgConnection, name: &str) -> std::result::Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM tokens WHERE kind = 'session' AND name = $1")
        .bind(name)
        .execute(c)
        .await?;
    Ok(())
}

impl Columns for PgRow {
    fn column<T: rows::Value>(&self, name: &str) -> Result<T> {
        self.try_get(name)
            .map_err(|e| StoreError::Db(e.to_string()))
    }
}

#[async_trait]
impl Store for PgStore {
    async fn insert_batch(&self, evidence: Vec<Evidence>) -> Result<InsertOutcome> {
        self.writes
            .insert(evidence.into_iter().map(Stored::new).collect())
            .await
    }

    async fn prune_evidence(&self, after: i64, before_ms: i64, limit: u32) -> Result<PruneStep> {
        // The next `limit` rows in storage order (roughly the order of
        // time): which may go, and whether the walk reached evidence
        // observed since the cutoff (sqlite.rs says more).
        let window: Vec<(i64, Option<i64>, bool, bool)> = sqlx::query_as(
            "SELECT e.seq, e.body_seq, e.observed_ms >= $2 AS recent,
                    coalesce(e.last_ms, e.observed_ms) < $2 AND NOT EXISTS (
                        SELECT 1 FROM latest l WHERE l.host = e.host AND l.probe = e.probe
                            AND l.subject = e.subject AND l.evidence_seq = e.seq) AS old
             FROM evidence e WHERE e.seq > $1 ORDER BY e.seq LIMIT $3",
        )
        .bind(after)
        .bind(before_ms)
        .bind(i64::from(limit.max(1)))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        let mut last = after;
        let mut reached_recent = false;
        let (mut old, mut bodies) = (Vec::new(), BTreeSet::new());
        for (seq, body, recent, is_old) in &window {
            if *recent {
                reached_recent = true;
                break;
            }
            last = *seq;
            if *is_old {
                old.push(*seq);
                bodies.extend(*body);
            }
        }
        let mut step = PruneStep {
            next: (!reached_recent && window.len() as u64 == u64::from(limit.max(1)))
                .then_some(last),
            ..Default::default()
        };
        // A row not latest now never becomes latest again: `latest` only
        // moves to newer evidence, which is never removed with it.
        step.evidence = sqlx::query("DELETE FROM evidence WHERE seq = ANY($1)")
            .bind(old)
            .execute(&self.pool)
            .await
            .map_err(|e| self.err(e))?
            .rows_affected();
        if !bodies.is_empty() {
            // Exclusively: no ingest transaction is between finding one of
            // these bodies and committing its row.
            let bodies: Vec<i64> = bodies.into_iter().collect();
            let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
            sqlx::query(AssertSqlSafe(format!(
                "SELECT pg_advisory_xact_lock({BODIES_LOCK})"
            )))
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
            step.bodies = sqlx::query(
                "DELETE FROM evidence_bodies b WHERE b.seq = ANY($1)
                     AND NOT EXISTS (SELECT 1 FROM evidence e WHERE e.body_seq = b.seq)",
            )
            .bind(bodies)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?
            .rows_affected();
            tx.commit().await.map_err(|e| self.err(e))?;
        }
        Ok(step)
    }

    async fn prune_records(&self, now_ms: i64, tokens_before_ms: i64) -> Result<PrunedRecords> {
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        let mut delete = async |sql: &'static str, at: i64| {
            sqlx::query(sql)
                .bind(at)
                .execute(&mut *tx)
                .await
                .map(|done| done.rows_affected())
        };
        let pruned = PrunedRecords {
            sessions: delete(
                "DELETE FROM tokens WHERE kind = 'session' AND expires_ms <= $1",
                now_ms,
            )
            .await
            .map_err(|e| self.err(e))?,
            enrolment_tokens: delete(super::PRUNE_ENROLMENT_TOKENS, tokens_before_ms)
                .await
                .map_err(|e| self.err(e))?,
            leases: delete("DELETE FROM leases WHERE expires_ms <= $1", now_ms)
                .await
                .map_err(|e| self.err(e))?,
        };
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(pruned)
    }

    async fn compact(&self) -> Result<()> {
        // Autovacuum makes the space of removed rows reusable; giving it
        // back to the file system (VACUUM FULL) would lock the tables.
        Ok(())
    }

    async fn upsert_agent(&self, a: AgentRecord) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        sqlx::query(
            "INSERT INTO agents (agent_id, host, version, os, kernel, capabilities, labels,
                                 first_seen, last_seen, peer)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)
             ON CONFLICT (agent_id) DO UPDATE SET host = $2, version = $3, os = $4,
                 kernel = $5, capabilities = $6, labels = $7, last_seen = $8, peer = $9",
        )
        .bind(&a.agent_id)
        .bind(&a.host)
        .bind(&a.version)
        .bind(&a.os)
        .bind(&a.kernel)
        .bind(rows::to_json(&a.capabilities)?)
        .bind(rows::to_json(&a.labels)?)
        .bind(a.last_seen_ms)
        .bind(&a.peer)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        // Its host and labels decide which rules are about it.
        bump(&mut tx).await.map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))
    }

    async fn touch_agent(&self, agent_id: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE agents SET last_seen = $2 WHERE agent_id = $1")
            .bind(agent_id)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn list_agents(&self) -> Result<Vec<AgentRecord>> {
        // COLLATE "C": the same byte order as SQLite, whatever the database's locale.
        let found = sqlx::query(AssertSqlSafe(format!(
            "SELECT {AGENT_COLUMNS} FROM agents ORDER BY agent_id COLLATE \"C\""
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        found.iter().map(rows::agent).collect()
    }

    async fn set_revoked(&self, agent_id: &str, revoked: bool) -> Result<bool> {
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        let done = sqlx::query(
            "INSERT INTO agents (agent_id, host, version, os, kernel, capabilities,
                                 labels, first_seen, last_seen, peer, revoked)
             VALUES ($1, '', '', '', '', '[]', '{}', $2, $2, '', $3)
             ON CONFLICT (agent_id) DO UPDATE SET revoked = $3",
        )
        .bind(agent_id)
        .bind(crate::clock::now_ms())
        .bind(revoked)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        bump(&mut tx).await.map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(done.rows_affected() > 0)
    }

    async fn is_revoked(&self, agent_id: &str) -> Result<bool> {
        let revoked: Option<bool> =
            sqlx::query_scalar("SELECT revoked FROM agents WHERE agent_id = $1")
                .bind(agent_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| self.err(e))?;
        Ok(revoked.unwrap_or(false))
    }

    async fn agents_page(&self, offset: u32, limit: u32) -> Result<(Vec<AgentRecord>, u64)> {
        self.agent_page(
            "SELECT count(*) FROM agents",
            format!(
                "SELECT {AGENT_COLUMNS} FROM agents
                 ORDER BY agent_id COLLATE \"C\" LIMIT $1 OFFSET $2"
            ),
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
                     ORDER BY host COLLATE \"C\" LIMIT $1 OFFSET $2) page
                 CROSS JOIN LATERAL (
                     SELECT * FROM agents a WHERE a.host = page.name
                     ORDER BY a.revoked, a.last_seen DESC, a.agent_id COLLATE \"C\" LIMIT 1) current
                 ORDER BY name COLLATE \"C\""
            ),
            offset,
            limit,
        )
        .await
    }

    async fn agents_on_host(&self, host: &str) -> Result<Vec<AgentRecord>> {
        let found = sqlx::query(AssertSqlSafe(format!(
            "SELECT {AGENT_COLUMNS} FROM agents WHERE host = $1 ORDER BY agent_id COLLATE \"C\""
        )))
        .bind(host)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        found.iter().map(rows::agent).collect()
    }

    async fn revoked_agents(&self) -> Result<std::collections::HashSet<String>> {
        let ids: Vec<String> = sqlx::query_scalar("SELECT agent_id FROM agents WHERE revoked")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(ids.into_iter().collect())
    }

    async fn query_evidence(&self, q: EvidenceQuery) -> Result<Vec<Evidence>> {
        let mut sql =
            QueryBuilder::new(format!("SELECT {EVIDENCE} FROM {EVIDENCE_FROM} WHERE true"));
        for (col, val) in [
            (" AND e.probe = ", q.probe),
            (" AND e.host = ", q.host),
            (" AND e.agent_id = ", q.agent_id),
        ] {
            if let Some(v) = val {
                sql.push(col).push_bind(v);
            }
        }
        if !q.hosts.is_empty() {
            sql.push(" AND e.host = ANY(").push_bind(q.hosts).push(")");
        }
        if let Some(since) = q.since_ms {
            // Runs overlapping the window (runs.rs, sqlite.rs).
            sql.push(" AND e.observed_ms >= ")
                .push_bind(since.saturating_sub(runs::SPAN_MS))
                .push(format!(" AND coalesce({LAST}, e.observed_ms) >= "))
                .push_bind(since);
        }
        if let Some(until) = q.until_ms {
            sql.push(" AND e.observed_ms < ").push_bind(until);
        }
        sql.push(" ORDER BY e.observed_ms DESC, e.seq DESC LIMIT ")
            .push_bind(i64::from(q.limit.max(1)))
            .push(" OFFSET ")
            .push_bind(i64::from(q.offset));
        use futures::TryStreamExt;
        let query = sql.build();
        let mut found = query.fetch(&self.pool);
        let (mut out, mut read) = (Vec::new(), 0);
        while let Some(row) = found.try_next().await.map_err(|e| self.err(e))? {
            let ev = rows::evidence(&row)?;
            let stop = super::bytes_reached(&mut read, &ev, q.max_bytes);
            out.push(ev);
            if stop {
                break;
            }
        }
        Ok(out)
    }

    async fn count_evidence(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM evidence")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(n as u64)
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn latest_evidence_page(
        &self,
        after: Option<LatestKey>,
        limit: u32,
    ) -> Result<Vec<Stamped>> {
        let found = self.latest_page(STAMPED, after, limit).await?;
        found.iter().map(rows::stamped).collect()
    }

    async fn latest_mark(&self) -> Result<LatestMark> {
        sqlx::query_scalar(OLDEST_RUNNING)
            .fetch_one(&self.pool)
            .await
            .map(LatestMark)
            .map_err(|e| self.err(e))
    }

    async fn latest_changes(&self, since: LatestMark) -> Result<(Vec<LatestStamp>, LatestMark)> {
        // One snapshot for the mark and the rows: a row it does not see was
        // written by a transaction from the snapshot's xmin on.
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        let mark = sqlx::query_scalar(OLDEST_RUNNING)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        // The changed rows first, then each one's evidence and body by
        // their keys: not a join of every evidence row (the planner cannot
        // tell how few rows changed).
        let found = sqlx::query(AssertSqlSafe(format!(
            "WITH l AS MATERIALIZED (
                 SELECT host, probe, subject, evidence_seq, observed_ms FROM latest
                 WHERE changed >= $1::bigint::text::xid8)
             SELECT {LATEST_STAMP} FROM l
             CROSS JOIN LATERAL (SELECT * FROM evidence WHERE seq = l.evidence_seq OFFSET 0) e
             LEFT JOIN LATERAL (
                 SELECT hash FROM evidence_bodies WHERE seq = e.body_seq OFFSET 0) b ON true
             ORDER BY l.host, l.probe, l.subject"
        )))
        .bind(since.0)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        tx.rollback().await.map_err(|e| self.err(e))?;
        let changed = found
            .iter()
            .map(rows::latest_stamp)
            .collect::<Result<_>>()?;
        Ok((changed, LatestMark(mark)))
    }

    async fn latest_evidence_of(&self, hosts: &[&str], probes: &[&str]) -> Result<Vec<Evidence>> {
        let found = self.latest_of(hosts, probes, EVIDENCE).await?;
        found.iter().map(rows::evidence).collect()
    }

    async fn latest_stamps_of(&self, hosts: &[&str], probes: &[&str]) -> Result<Vec<LatestStamp>> {
        let found = self.latest_of(hosts, probes, LATEST_STAMP).await?;
        found.iter().map(rows::latest_stamp).collect()
    }

    async fn latest_evidence_of_probes(&self, probes: Vec<String>) -> Result<Vec<Evidence>> {
        let found = sqlx::query(AssertSqlSafe(format!(
            "SELECT {EVIDENCE} FROM {LATEST_FROM}
             WHERE l.probe = ANY($1)"
        )))
        .bind(probes)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        found.iter().map(rows::evidence).collect()
    }

    async fn latest_sizes(&self, host: &str) -> Result<Vec<LatestSize>> {
        let found = sqlx::query(
            "SELECT l.probe, l.subject, l.observed_ms,
                    (coalesce(octet_length(e.body), 0) + coalesce(octet_length(b.body), 0))::BIGINT AS bytes
             FROM latest l JOIN evidence e ON e.seq = l.evidence_seq
             LEFT JOIN evidence_bodies b ON b.seq = e.body_seq
             WHERE l.host = $1",
        )
        .bind(host)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        found
            .iter()
            .map(|r| {
                Ok(LatestSize {
                    probe: r.try_get("probe")?,
                    subject: r.try_get("subject")?,
                    observed_ms: r.try_get("observed_ms")?,
                    bytes: r.try_get::<i64, _>("bytes")?.max(0) as u64,
                })
            })
            .collect::<std::result::Result<_, sqlx::Error>>()
            .map_err(|e| self.err(e))
    }

    async fn evidence_by_ids(&self, ids: Vec<String>) -> Result<Vec<Evidence>> {
        self.by_ids_at_once(EVIDENCE, ids, rows::evidence).await
    }

    async fn evidence_stamps(&self, ids: Vec<String>) -> Result<Vec<EvidenceStamp>> {
        self.by_ids_at_once(STAMP, ids, rows::stamp).await
    }

    async fn documents(&self) -> Result<Documents> {
        Ok(Documents {
            attestations: self.documents("attestations").await?,
            na_marks: self.documents("na_marks").await?,
        })
    }

    async fn add_attestation(&self, a: Attestation, file: Option<Vec<u8>>) -> Result<()> {
        let body = rows::to_json(&a)?;
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        if let Some(content) = file {
            sqlx::query(
                "INSERT INTO files (sha256, name, content) VALUES ($1, $2, $3)
                 ON CONFLICT (sha256) DO NOTHING",
            )
            .bind(&a.file_sha256)
            .bind(&a.file_name)
            .bind(content)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        }
        sqlx::query("INSERT INTO attestations (body) VALUES ($1)")
            .bind(body)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        bump(&mut tx).await.map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))
    }

    async fn add_na_mark(&self, m: NaMark) -> Result<()> {
        let body = rows::to_json(&m)?;
        self.in_transaction(
            |_| true,
            move |c| {
                Box::pin(async move {
                    sqlx::query("INSERT INTO na_marks (body) VALUES ($1)")
                        .bind(body)
                        .execute(&mut *c)
                        .await?;
                    bump(c).await
                })
            },
        )
        .await
    }

    async fn append_access(&self, a: crate::records::Access) -> Result<()> {
        self.append("access_log", &a).await
    }

    async fn access_log(&self, limit: u32) -> Result<Vec<crate::records::Access>> {
        let bodies: Vec<String> =
            sqlx::query_scalar("SELECT body FROM access_log ORDER BY id DESC LIMIT $1")
                .bind(i64::from(limit.max(1)))
                .fetch_all(&self.pool)
                .await
                .map_err(|e| self.err(e))?;
        bodies
            .iter()
            .map(|b| rows::from_json("access_log", b))
            .collect()
    }

    async fn upsert_user(&self, u: User) -> Result<()> {
        self.in_transaction(
            |_| true,
            move |c| {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO users (name, role, password_hash) VALUES ($1, $2, $3)
                         ON CONFLICT (name) DO UPDATE SET role = $2, password_hash = $3",
                    )
                    .bind(&u.name)
                    .bind(&u.role)
                    .bind(&u.password_hash)
                    .execute(&mut *c)
                    .await?;
                    end_sessions(c, &u.name).await
                })
            },
        )
        .await
    }

    async fn get_user(&self, name: &str) -> Result<Option<User>> {
        let row = sqlx::query("SELECT name, role, password_hash FROM users WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        row.as_ref().map(rows::user).transpose()
    }

    async fn delete_token(&self, hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM tokens WHERE hash = $1")
            .bind(hash)
            .execute(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn file(&self, sha256: &str) -> Result<Option<(String, Vec<u8>)>> {
        sqlx::query_as("SELECT name, content FROM files WHERE sha256 = $1")
            .bind(sha256)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.err(e))
    }

    async fn create_token(&self, hash: &str, t: TokenRecord) -> Result<()> {
        // Expired sessions go as new ones come, so they do not pile up.
        if t.kind == TokenKind::Session {
            sqlx::query("DELETE FROM tokens WHERE kind = 'session' AND expires_ms <= $1")
                .bind(crate::clock::now_ms())
                .execute(&self.pool)
                .await
                .map_err(|e| self.err(e))?;
        }
        sqlx::query(
            "INSERT INTO tokens (hash, kind, name, role, created_ms, expires_ms, max_uses)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(hash)
        .bind(t.kind.as_str())
        .bind(&t.name)
        .bind(&t.role)
        .bind(crate::clock::now_ms())
        .bind(t.expires_at_ms)
        .bind(i64::from(t.max_uses))
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn use_token(
        &self,
        hash: &str,
        kind: TokenKind,
        now: i64,
    ) -> Result<Option<TokenRecord>> {
        // A read first: an unknown, expired or used-up token costs no row
        // or table write lock. Enrolment then consumes a use in one UPDATE
        // that checks again: collectors racing for the last use queue on the
        // row lock; the loser re-reads the row and finds no use left.
        let live = sqlx::query(
            "SELECT 1 FROM tokens WHERE hash = $1 AND kind = $2
                 AND (expires_ms IS NULL OR expires_ms > $3) AND (kind <> 'enrol' OR uses < max_uses)",
        )
        .bind(hash)
        .bind(kind.as_str())
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        if live.is_none() {
            return Ok(None);
        }
        let sql = if kind == TokenKind::Enrol {
            "UPDATE tokens SET uses = uses + 1, last_used_ms = $3
             WHERE hash = $1 AND kind = $2 AND (expires_ms IS NULL OR expires_ms > $3)
                 AND uses < max_uses
             RETURNING name, role, expires_ms, max_uses, last_used_ms"
        } else {
            "SELECT name, role, expires_ms, max_uses, last_used_ms FROM tokens
             WHERE hash = $1 AND kind = $2 AND (expires_ms IS NULL OR expires_ms > $3)"
        };
        let row = sqlx::query(sql)
            .bind(hash)
            .bind(kind.as_str())
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let last_used: Option<i64> = Columns::column(&row, "last_used_ms")?;
        if kind == TokenKind::Api && last_used.is_none_or(|t| t <= now - super::TOUCH_MS) {
            self.touch_token(hash.to_string(), now);
        }
        rows::token(kind, &row).map(Some)
    }

    async fn try_lease(&self, name: &str, holder: &str, ttl: Duration, now: i64) -> Result<bool> {
        // One statement: concurrent callers queue on the row, and each
        // re-checks the condition against the winner's row.
        let done = sqlx::query(
            "INSERT INTO leases (name, holder, expires_ms) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE
                 SET holder = EXCLUDED.holder, expires_ms = EXCLUDED.expires_ms
                 WHERE leases.holder = EXCLUDED.holder OR leases.expires_ms <= $4",
        )
        .bind(name)
        .bind(holder)
        .bind(now.saturating_add(ttl.as_millis() as i64))
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(done.rows_affected() == 1)
    }

    async fn bind_host(&self, agent_id: &str, host: &str, now: i64) -> Result<Binding> {
        let (agent, host) = (agent_id.to_string(), host.to_string());
        self.in_transaction(
            |b| *b == Binding::Bound,
            move |c| Box::pin(async move { bind(c, &agent, &host, now).await }),
        )
        .await
    }

    async fn list_tokens(&self) -> Result<Vec<TokenInfo>> {
        let found = sqlx::query(
            "SELECT hash, kind, name, role, created_ms, expires_ms, max_uses, uses, last_used_ms
             FROM tokens WHERE kind IN ('api', 'enrol') ORDER BY created_ms, hash COLLATE \"C\"",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        found.iter().map(rows::token_info).collect()
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        let found =
            sqlx::query("SELECT name, role, password_hash FROM users ORDER BY name COLLATE \"C\"")
                .fetch_all(&self.pool)
                .await
                .map_err(|e| self.err(e))?;
        found.iter().map(rows::user).collect()
    }

    async fn delete_user(&self, name: &str) -> Result<bool> {
        let name = name.to_string();
        self.in_transaction(
            |_| true,
            move |c| {
                Box::pin(async move {
                    let done = sqlx::query("DELETE FROM users WHERE name = $1")
                        .bind(&name)
                        .execute(&mut *c)
                        .await?;
                    end_sessions(c, &name).await?;
                    Ok(done.rows_affected() > 0)
                })
            },
        )
        .await
    }

    async fn set_user_role(&self, name: &str, role: &str) -> Result<bool> {
        let (name, role) = (name.to_string(), role.to_string());
        self.in_transaction(
            |_| true,
            move |c| {
                Box::pin(async move {
                    let done = sqlx::query("UPDATE users SET role = $2 WHERE name = $1")
                        .bind(&name)
                        .bind(&role)
                        .execute(&mut *c)
                        .await?;
                    end_sessions(c, &name).await?;
                    Ok(done.rows_affected() > 0)
                })
            },
        )
        .await
    }

    async fn reinstate_agent(&self, agent_id: &str) -> Result<bool> {
        let agent_id = agent_id.to_string();
        self.in_transaction(
            |reinstated| *reinstated,
            move |c| {
                Box::pin(async move {
                    let done = sqlx::query(
                        "UPDATE agents SET revoked = false, certificate = $2
                         WHERE agent_id = $1 AND revoked",
                    )
                    .bind(agent_id)
                    .bind(NO_CERTIFICATE)
                    .execute(&mut *c)
                    .await?;
                    let reinstated = done.rows_affected() > 0;
                    if reinstated {
                        bump(c).await?;
                    }
                    Ok(reinstated)
                })
            },
        )
        .await
    }

    async fn certificate_refused(&self, agent_id: &str, certificate: &str) -> Result<bool> {
        let found: Option<(bool, String)> =
            sqlx::query_as("SELECT revoked, certificate FROM agents WHERE agent_id = $1")
                .bind(agent_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| self.err(e))?;
        Ok(found.is_some_and(|(revoked, issued)| {
            revoked || !(issued.is_empty() || issued == certificate)
        }))
    }

    async fn set_certificate(&self, agent_id: &str, certificate: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO agents (agent_id, host, version, os, kernel, capabilities,
                                 labels, first_seen, last_seen, peer, certificate)
             VALUES ($1, '', '', '', '', '[]', '{}', $2, $2, '', $3)
             ON CONFLICT (agent_id) DO UPDATE SET certificate = $3",
        )
        .bind(agent_id)
        .bind(crate::clock::now_ms())
        .bind(certificate)
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn enrol(&self, claim: EnrolClaim) -> Result<Enrolled> {
        self.in_transaction(
            |e| *e == Enrolled::Enrolled,
            move |c| {
                Box::pin(async move {
                    let enrolled = enrol(c, &claim).await?;
                    if enrolled == Enrolled::Enrolled {
                        bump(c).await?;
                    }
                    Ok(enrolled)
                })
            },
        )
        .await
    }

    async fn change_counter(&self) -> Result<i64> {
        sqlx::query_scalar("SELECT sum(counter)::BIGINT FROM changes")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.err(e))
    }

    async fn bound_hosts(&self, agent_id: &str) -> Result<Vec<String>> {
        sqlx::query_scalar(
            "SELECT host FROM host_bindings WHERE agent_id = $1 ORDER BY host COLLATE \"C\"",
        )
        .bind(agent_id)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))
    }

    async fn record_assessment(
        &self,
        at_ms: i64,
        failing: Vec<FindingKey>,
        fixed: Vec<FindingKey>,
    ) -> Result<()> {
        self.in_transaction(
            |_| true,
            move |c| {
                Box::pin(async move {
                    let open: Vec<(String, String, String, String, bool)> = sqlx::query_as(
                        "SELECT host, catalog, item, check_name, last_seen_ms IS NULL
                         FROM host_findings WHERE fixed_ms IS NULL",
                    )
                    .fetch_all(&mut *c)
                    .await?;
                    let open = open.into_iter().map(|(host, catalog, item, check, seen)| {
                        let key = FindingKey {
                            host,
                            catalog,
                            item,
                            check,
                        };
                        (key, seen)
                    });
                    let w = rows::assessment_writes(open, failing, fixed);
                    let statements = w.statements(
                        "INSERT INTO host_findings
                             (host, catalog, item, check_name, first_seen_ms)
                         SELECT h, c, i, k, $5
                         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[])
                             AS t(h, c, i, k)
                         ON CONFLICT (host, catalog, item, check_name) WHERE fixed_ms IS NULL
                         DO NOTHING",
                        "$5",
                        update_open,
                    );
                    for (keys, sql, timed) in statements {
                        if keys.is_empty() {
                            continue;
                        }
                        let [h, cat, i, k] = rows::key_columns(keys);
                        let q = sqlx::query(AssertSqlSafe(sql))
                            .bind(h)
                            .bind(cat)
                            .bind(i)
                            .bind(k);
                        if timed { q.bind(at_ms) } else { q }
                            .execute(&mut *c)
                            .await?;
                    }
                    sqlx::query(
                        "INSERT INTO assessments (id, first_ms, previous_ms, last_ms)
                         VALUES (1, $1, NULL, $1)
                         ON CONFLICT (id) DO UPDATE
                             SET previous_ms = assessments.last_ms, last_ms = EXCLUDED.last_ms",
                    )
                    .bind(at_ms)
                    .execute(&mut *c)
                    .await?;
                    Ok(())
                })
            },
        )
        .await
    }

    async fn open_findings(&self) -> Result<Vec<FindingKey>> {
        let open = sqlx::query(super::OPEN_KEYS)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        open.iter().map(rows::finding_key).collect()
    }

    async fn findings(&self, q: FindingQuery) -> Result<Vec<FindingRecord>> {
        // Without a page, every key (LIMIT NULL is no limit). Not
        // materialized: the page walks the key's index (0013) and the
        // rows of its keys are read by the key.
        let mut sql = QueryBuilder::new("WITH wanted AS NOT MATERIALIZED (");
        finding_filter(&mut sql, &q);
        sql.push(
            "), page AS (
                 SELECT host, catalog, item, check_name FROM wanted
                 GROUP BY host, catalog, item, check_name",
        );
        if q.open_only {
            sql.push(OPEN_ONLY);
        }
        sql.push(
            " ORDER BY host COLLATE \"C\", catalog COLLATE \"C\", item COLLATE \"C\",
                          check_name COLLATE \"C\"
                 LIMIT ",
        )
        .push_bind(q.keys.map(|k| i64::from(k.limit)))
        .push(" OFFSET ")
        .push_bind(q.keys.map_or(0, |k| i64::from(k.offset)))
        .push(
            ")
             SELECT host, catalog, item, check_name, first_seen_ms, fixed_ms,
                    COALESCE(last_seen_ms, (SELECT last_ms FROM assessments WHERE id = 1))
                        AS last_seen_ms
             FROM wanted JOIN page USING (host, catalog, item, check_name)
             ORDER BY host COLLATE \"C\", catalog COLLATE \"C\", item COLLATE \"C\",
                      check_name COLLATE \"C\", first_seen_ms",
        );
        // Planned for each request's page (an unnamed statement): a plan
        // kept for any page size (a generic plan) joins every finding of
        // the fleet to the page, 0.4–0.6 s at 1.6 million findings against
        // 1–2 ms planned for the page asked.
        let found = sql
            .build()
            .persistent(false)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        found.iter().map(rows::finding).collect()
    }

    async fn finding_tally(
        &self,
        q: FindingQuery,
        now: i64,
        then: [i64; 2],
    ) -> Result<FindingTally> {
        let mut sql = QueryBuilder::new(format!("SELECT {TALLY_COLUMNS}"));
        sql.push(" FROM (SELECT ");
        for (i, (name, at)) in [("o", now), ("a", then[0]), ("b", then[1])]
            .into_iter()
            .enumerate()
        {
            if i > 0 {
                sql.push(", ");
            }
            sql.push("bool_or(first_seen_ms <= ")
                .push_bind(at)
                .push(" AND (fixed_ms IS NULL OR fixed_ms > ")
                .push_bind(at)
                .push(format!(")) AS {name}"));
        }
        sql.push(" FROM (");
        finding_filter(&mut sql, &q);
        sql.push(") wanted GROUP BY host, catalog, item, check_name");
        if q.open_only {
            sql.push(OPEN_ONLY);
        }
        sql.push(") f");
        let row = sql
            .build()
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        let mut counts = [0i64; 8];
        for (i, v) in counts.iter_mut().enumerate() {
            *v = row.try_get(i).map_err(|e| self.err(e))?;
        }
        Ok(FindingTally::from_counts(counts))
    }

    async fn findings_in(&self, q: PeriodQuery) -> Result<PeriodFindings> {
        // One snapshot of the history for the counts and the lists; each
        // reads its period through the column's index (0005, 0016).
        let mut tx = self.pool.begin().await.map_err(|e| self.err(e))?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        let mut found = PeriodFindings::default();
        for (at, count, list) in [
            ("first_seen_ms", &mut found.opened, &mut found.first_opened),
            ("fixed_ms", &mut found.fixed, &mut found.first_fixed),
        ] {
            let within = format!("{at} >= $1 AND {at} < $2 AND host = ANY($3)");
            let counted: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT count(*) FROM host_findings WHERE {within}"
            )))
            .bind(q.from_ms)
            .bind(q.to_ms)
            .bind(&q.hosts)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
            *count = counted as u64;
            let listed = sqlx::query(AssertSqlSafe(format!(
                "SELECT host, catalog, item, check_name, first_seen_ms, fixed_ms,
                        COALESCE(last_seen_ms, (SELECT last_ms FROM assessments WHERE id = 1))
                            AS last_seen_ms
                 FROM host_findings WHERE {within}
                 ORDER BY {at}, host COLLATE \"C\", catalog COLLATE \"C\",
                          item COLLATE \"C\", check_name COLLATE \"C\"
                 LIMIT $4"
            )))
            .bind(q.from_ms)
            .bind(q.to_ms)
            .bind(&q.hosts)
            .bind(i64::from(q.limit))
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
            *list = listed.iter().map(rows::finding).collect::<Result<_>>()?;
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(found)
    }

    async fn assessment_times(&self) -> Result<Option<AssessmentTimes>> {
        let found =
            sqlx::query("SELECT first_ms, previous_ms, last_ms FROM assessments WHERE id = 1")
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| self.err(e))?;
        found.as_ref().map(rows::assessment_times).transpose()
    }

    async fn add_maintenance(&self, w: MaintenanceWindow) -> Result<i64> {
        sqlx::query_scalar(
            "INSERT INTO maintenance (service, start_ms, end_ms, reason, by_whom, created_ms)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(w.service)
        .bind(w.start_ms)
        .bind(w.end_ms)
        .bind(w.reason)
        .bind(w.by)
        .bind(w.created_ms)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| self.err(e))
    }

    async fn maintenance(&self, from_ms: i64, to_ms: i64) -> Result<Vec<MaintenanceWindow>> {
        let found = sqlx::query(
            "SELECT id, service, start_ms, end_ms, reason, by_whom, created_ms
             FROM maintenance WHERE start_ms < $2 AND end_ms > $1
             ORDER BY start_ms, id",
        )
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        found.iter().map(rows::maintenance).collect()
    }

    async fn delete_maintenance(&self, id: i64) -> Result<bool> {
        sqlx::query("DELETE FROM maintenance WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map(|r| r.rows_affected() > 0)
            .map_err(|e| self.err(e))
    }
}

/// `columns` of the evidence whose ids are `$1`, in that order. Each id is
/// looked up by the index: joined plainly, a few thousand ids (a snapshot's
/// batch) had the planner hash the whole table instead (230 ms a batch of
/// 3,400 at 170,000 rows; 21 ms this way).
fn by_ids(columns: &str) -> String {
    format!(
        "SELECT {columns} FROM UNNEST($1::text[]) WITH ORDINALITY AS wanted (id, n)
         CROSS JOIN LATERAL (SELECT * FROM evidence WHERE id = wanted.id LIMIT 1) e
         LEFT JOIN evidence_bodies b ON b.seq = e.body_seq {LATEST_OF_E}
         ORDER BY wanted.n"
    )
}

/// An update setting `set` in the open findings whose keys are listed in
/// `$1`–`$4` (hosts, catalogs, items, checks).
fn update_open(set: &str) -> String {
    format!(
        "UPDATE host_findings f SET {set}
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[]) AS t(h, c, i, k)
         WHERE f.host = t.h AND f.catalog = t.c AND f.item = t.i AND f.check_name = t.k
           AND f.fixed_ms IS NULL"
    )
}

/// What keeps only findings still open (`FindingQuery::open_only`), after
/// their records are grouped by finding.
const OPEN_ONLY: &str = " HAVING bool_or(fixed_ms IS NULL)";

/// The finding records `q` names, as a query: only the filters given, so
/// that a host's findings are read through the key's index.
fn finding_filter(sql: &mut QueryBuilder<sqlx::Postgres>, q: &FindingQuery) {
    sql.push("SELECT * FROM host_findings WHERE (fixed_ms IS NULL OR fixed_ms >= ")
        .push_bind(q.fixed_since_ms)
        .push(")");
    if let Some(host) = q.host.clone() {
        sql.push(" AND host = ").push_bind(host);
    }
    if let Some(catalog) = q.catalog.clone() {
        sql.push(" AND catalog = ").push_bind(catalog);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(host: &str, subject: &str, ms: i64) -> Stored {
        Stored::new(Evidence {
            id: format!("{host}-{subject}-{ms}"),
            host: host.into(),
            probe: "time_sync".into(),
            subject: subject.into(),
            observed_at: Some(gamsa_proto::Timestamp::from_unix_millis(ms)),
            ..Default::default()
        })
    }

    #[test]
    fn latest_moves_to_the_newest_new_row_of_each_key_in_key_order() {
        let rows = [
            stored("b", "s", 20),
            stored("a", "s", 10),
            stored("b", "s", 30),
            stored("a", "t", 5),
            // Observed at the same time as the row before it in `b/s`:
            // the later row (higher seq) wins, as in a later commit.
            stored("b", "s", 30),
        ];
        let picked: Vec<(&str, &str, i64, i64)> =
            newest(rows.iter().enumerate().map(|(i, r)| (i as i64 + 100, r)))
                .into_iter()
                .map(|(ev, ms, seq)| (ev.host.as_str(), ev.subject.as_str(), ms, seq))
                .collect();
        assert_eq!(
            picked,
            [("a", "s", 10, 101), ("a", "t", 5, 103), ("b", "s", 30, 104)]
        );
    }
}

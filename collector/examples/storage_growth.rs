//! Bytes the store adds per idle host per day.
//!
//!   cargo run -p gamsa-collector --example storage_growth -- \
//!       SCAN_A SCAN_B [HOSTS] [STORE] [CHANGING]
//!
//! SCAN_A and SCAN_B are two real scans of one host a few minutes apart
//! (`gamsa-agent scan --once --format json`, one evidence per line). A day
//! of HOSTS idle hosts (default 20) is ingested through the store: each
//! probe's evidence every interval of `deploy/agent.example.toml`, with a
//! new id and time, two days in a row; evidence whose content differed between the two scans
//! (uptime, memory, clock offset...) changes every cycle (the fields that
//! differed take a new value each time), the rest stays as in SCAN_A.
//! CHANGING, a comma-separated list of probes, limits that to those probes
//! (a busy machine's process list or listeners differ between two scans
//! where an idle host's would not). STORE is `sqlite` (default, a temporary
//! file) or a PostgreSQL URL whose `search_path` names an empty schema.
//!
//! The store is measured after each day (SQLite: the file after VACUUM;
//! PostgreSQL: `pg_total_relation_size` of its tables after VACUUM FULL).
//! Day 1 holds each host's contents stored the first time; day 2's growth
//! is what an idle host adds a day.

use anyhow::{bail, Context, Result};
use gamsa_collector::store::{self, Location};
use gamsa_proto::v1::Evidence;
use serde_json::Value;
use std::collections::BTreeMap;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// A scan: each evidence by (probe, subject), as JSON without what is not
/// content.
fn scan(path: &str) -> Result<BTreeMap<(String, String), Value>> {
    let text = std::fs::read_to_string(path).with_context(|| path.to_string())?;
    let mut out = BTreeMap::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let mut v: Value =
            serde_json::from_str(line).with_context(|| format!("{path}:{}", n + 1))?;
        let obj = v
            .as_object_mut()
            .with_context(|| format!("{path}:{}: not an object", n + 1))?;
        for field in ["id", "observedAt", "agentId", "host"] {
            obj.remove(field);
        }
        let key = |f: &str| obj.get(f).and_then(Value::as_str).unwrap_or("").to_string();
        out.insert((key("probe"), key("subject")), v);
    }
    Ok(out)
}

/// Paths of the leaves (numbers, strings) that differ between `a` and `b`.
fn changed(a: &Value, b: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                if let Some(w) = y.get(k) {
                    path.push(k.clone());
                    changed(v, w, path, out);
                    path.pop();
                }
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                path.push(i.to_string());
                changed(v, w, path, out);
                path.pop();
            }
        }
        _ if a != b => out.push(path.clone()),
        _ => {}
    }
}

/// `v` with each leaf at `paths` given its `cycle`th new value.
fn vary(v: &mut Value, paths: &[Vec<String>], cycle: i64) {
    for path in paths {
        let mut at = &mut *v;
        for k in path {
            at = match at {
                Value::Object(o) => o.get_mut(k).expect("path from the same value"),
                Value::Array(a) => &mut a[k.parse::<usize>().expect("index")],
                _ => unreachable!("a leaf has no children"),
            };
        }
        *at = match &*at {
            Value::Number(n) if n.is_f64() => (n.as_f64().unwrap_or(0.0) + cycle as f64).into(),
            Value::Number(n) => (n.as_i64().unwrap_or(0) + cycle).into(),
            // 64-bit integers are JSON strings.
            Value::String(s) => match (s.parse::<i64>(), chrono::DateTime::parse_from_rfc3339(s)) {
                (Ok(n), _) => (n + cycle).to_string().into(),
                (_, Ok(t)) => (t + chrono::Duration::seconds(cycle))
                    .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
                    .into(),
                _ => format!("{s}~{cycle}").into(),
            },
            other => other.clone(),
        };
    }
}

/// Each probe's interval in `deploy/agent.example.toml`, in milliseconds.
fn intervals() -> Result<BTreeMap<String, i64>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/agent.example.toml");
    let doc: toml::Table = toml::from_str(&std::fs::read_to_string(path)?)?;
    let mut out = BTreeMap::new();
    for (name, section) in doc
        .get("probes")
        .and_then(|p| p.as_table())
        .context("agent.example.toml: [probes]")?
    {
        if let Some(i) = section.get("interval").and_then(|i| i.as_str()) {
            out.insert(
                name.clone(),
                humantime::parse_duration(i)?.as_millis() as i64,
            );
        }
    }
    Ok(out)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [a, b, rest @ ..] = args.as_slice() else {
        bail!("usage: storage_growth SCAN_A SCAN_B [HOSTS] [sqlite|POSTGRES_URL] [CHANGING]");
    };
    let only: Option<Vec<&str>> = rest.get(2).map(|c| c.split(',').collect());
    let hosts: i64 = rest.first().map(|h| h.parse()).transpose()?.unwrap_or(20);
    let target = rest.get(1).map(String::as_str).unwrap_or("sqlite");
    let (first, second) = (scan(a)?, scan(b)?);
    let intervals = intervals()?;
    let dir = tempfile::tempdir()?;
    let location = if target == "sqlite" {
        Location::Sqlite(dir.path().join("gamsa.db"))
    } else {
        Location::Postgres(target.to_string())
    };

    // Each day of `hosts` idle hosts, in the order of time.
    let t0 = gamsa_collector::clock::now_ms() - 2 * DAY_MS;
    let mut plan = Vec::new();
    let (mut per_day, mut varying) = (0, 0);
    for ((probe, subject), content) in &first {
        let Some(&every) = intervals.get(probe) else {
            eprintln!("{probe}: no interval in agent.example.toml, left out");
            continue;
        };
        let mut paths = Vec::new();
        if let Some(later) = second.get(&(probe.clone(), subject.clone())) {
            changed(content, later, &mut Vec::new(), &mut paths);
        }
        if only.as_ref().is_some_and(|o| !o.contains(&probe.as_str())) {
            paths.clear();
        }
        if !paths.is_empty() {
            eprintln!(
                "{probe} {subject:?}: {} fields change every cycle",
                paths.len()
            );
        }
        varying += usize::from(!paths.is_empty());
        for cycle in 0..DAY_MS / every {
            plan.push((cycle * every, cycle, content, paths.clone()));
            per_day += 1;
        }
    }
    plan.sort_by_key(|(at, ..)| *at);
    eprintln!(
        "{} evidence per scan ({varying} changing), {per_day} observations per host-day, {hosts} hosts",
        first.len()
    );
    // Day 1 from an empty store (each host's contents stored the first
    // time), then day 2: what an idle host adds to the store in a day.
    let mut sizes = Vec::new();
    for day in 0..2 {
        let store = store::open(&location).await?;
        let mut batch = Vec::new();
        for (at, cycle, content, paths) in &plan {
            for h in 0..hosts {
                let mut v = (*content).clone();
                vary(&mut v, paths, day * per_day + *cycle);
                let mut ev: Evidence = serde_json::from_value(v)?;
                ev.id = uuid::Uuid::now_v7().to_string();
                ev.host = format!("host-{h:05}");
                ev.agent_id = ev.host.clone();
                ev.observed_at = Some(gamsa_proto::Timestamp::from_unix_millis(
                    t0 + day * DAY_MS + at,
                ));
                batch.push(ev);
                if batch.len() == 500 {
                    store.insert_batch(std::mem::take(&mut batch)).await?;
                }
            }
        }
        store.insert_batch(batch).await?;
        let rows = store.count_evidence().await?;
        drop(store);
        sizes.push((rows, measure(&location).await?));
    }
    let per = |bytes: u64| bytes as f64 / hosts as f64 / 1024.0;
    let ((rows_1, size_1), (rows_2, size_2)) = (sizes[0], sizes[1]);
    println!(
        "day 1 (from empty): {rows_1} rows, {:.1} KiB per host; day 2: {} rows more, {:.1} KiB per idle host-day",
        per(size_1),
        rows_2 - rows_1,
        per(size_2.saturating_sub(size_1))
    );
    Ok(())
}

/// The store's size: SQLite the file after VACUUM, PostgreSQL its tables
/// after VACUUM FULL.
async fn measure(location: &Location) -> Result<u64> {
    match location {
        Location::Sqlite(path) => {
            let c = rusqlite::Connection::open(path)?;
            c.execute_batch("VACUUM")?;
            Ok(std::fs::metadata(path)?.len())
        }
        Location::Postgres(url) => {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(url).await?;
            // This schema's tables only: others may be in use.
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT tablename::TEXT FROM pg_tables WHERE schemaname = current_schema()",
            )
            .fetch_all(&mut c)
            .await?;
            for t in tables {
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("VACUUM FULL {t}")))
                    .execute(&mut c)
                    .await?;
            }
            let bytes: i64 = sqlx::query_scalar(
                "SELECT sum(pg_total_relation_size(c.oid))::BIGINT FROM pg_class c
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = current_schema() AND c.relkind = 'r'",
            )
            .fetch_one(&mut c)
            .await?;
            Ok(bytes as u64)
        }
    }
}

//! The `Store` contract: the same test functions run against a real SQLite
//! file and the real PostgreSQL (`GAMSA_TEST_PG_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`; each test in a schema of its
//! own). Where a test opens a second store on the same data, it plays a
//! second collector replica.

use anyhow::Result;
use gamsa_collector::records::{
    AssessmentTimes, Attestation, FindingKey, FindingRecord, MaintenanceWindow, NaMark,
};
use gamsa_collector::store::{
    self, AgentRecord, Binding, ChangeTally, EnrolClaim, Enrolled, EvidenceQuery, FindingQuery,
    FindingTally, InsertOutcome, KeyPage, LatestKey, LatestMark, LatestPages, LatestStamp,
    Location, PeriodFindings, PeriodQuery, Store, TokenKind, TokenRecord, User,
};
use gamsa_proto::v1::{evidence::Payload, Evidence, Status, TimeSync};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// Where a test's data lives; dropped (file or schema) with the test.
enum Backend {
    Sqlite(tempfile::TempDir),
    Postgres(gamsa_tests::pg::Scratch),
}

impl Backend {
    fn sqlite() -> Self {
        Backend::Sqlite(tempfile::tempdir().unwrap())
    }

    fn postgres() -> Self {
        Backend::Postgres(gamsa_tests::pg::Scratch::create("gamsa_store"))
    }

    fn location(&self) -> Location {
        match self {
            Backend::Sqlite(dir) => Location::Sqlite(dir.path().join("gamsa.db")),
            Backend::Postgres(scratch) => Location::Postgres(scratch.url.clone()),
        }
    }

    /// Runs `sql` on this backend's data beside the store, as an operator would.
    async fn execute(&self, sql: &str) -> Result<()> {
        match self {
            Backend::Sqlite(dir) => {
                rusqlite::Connection::open(dir.path().join("gamsa.db"))?.execute_batch(sql)?
            }
            Backend::Postgres(scratch) => {
                let mut conn =
                    <sqlx::PgConnection as sqlx::Connection>::connect(&scratch.url).await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                    .execute(&mut conn)
                    .await?;
            }
        }
        Ok(())
    }

    /// A count `sql` answers on this backend's data.
    async fn count(&self, sql: &str) -> Result<i64> {
        Ok(match self {
            Backend::Sqlite(dir) => rusqlite::Connection::open(dir.path().join("gamsa.db"))?
                .query_row(sql, [], |r| r.get(0))?,
            Backend::Postgres(scratch) => {
                let mut conn =
                    <sqlx::PgConnection as sqlx::Connection>::connect(&scratch.url).await?;
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
                    .fetch_one(&mut conn)
                    .await?
            }
        })
    }

    /// A store on this backend's data, as one collector opens it.
    async fn open(&self) -> Arc<dyn Store> {
        store::open(&self.location())
            .await
            .unwrap_or_else(|e| panic!("opening {:?}: {e}", self.location()))
    }
}

/// Each test function, once per backend.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::sqlite()).await.unwrap()
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::postgres()).await.unwrap()
                }
            )*
        }
    };
}

contract!(
    idempotent_replays,
    concurrent_batches_are_counted_per_batch,
    latest_index,
    queries_filter_limit_and_order,
    agents_and_revocation,
    host_agents_pages_show_each_host_as_its_current_agent,
    tokens_uses_expiry_and_kinds,
    token_uses_are_atomic_across_collectors,
    unknown_tokens_take_no_write_lock,
    reads_never_wait_behind_a_write_waiting_for_the_lock,
    users,
    attestations_na_marks_and_files,
    leases_two_holders_expiry_and_renewal,
    lease_races_have_one_winner,
    collectors_starting_together_share_one_schema,
    a_failed_commit_is_reported_and_nothing_of_it_stored,
    host_bindings_one_agent_per_host,
    host_binding_races_have_one_winner,
    enrolment_claims_check_everything_before_using_the_token,
    enrolments_racing_for_one_name_get_one,
    users_deleted_or_re_roled_lose_their_sessions,
    tokens_are_listed_with_their_uses_and_last_use,
    reinstated_agents_accept_no_earlier_certificate,
    writes_that_can_change_a_verdict_move_the_change_counter,
    findings_history_opens_sees_fixes_and_reopens,
    a_finding_not_told_keeps_its_last_sighting_until_seen_again,
    a_period_s_findings_are_counted_and_the_first_listed_by_time,
    maintenance_windows_added_found_by_overlap_and_deleted,
    unchanged_evidence_seen_again_is_one_run,
    retention_prunes_old_evidence_but_the_latest_and_unused_bodies,
    retention_prunes_sessions_tokens_and_leases,
    retention_runs_on_one_collector_at_a_time,
    reads_by_many_ids_answer_in_the_order_asked,
    the_latest_set_s_changes_since_a_mark,
);

const T0: i64 = 1_763_000_000_000;

fn ev(id: &str, host: &str, probe: &str, subject: &str, observed_ms: i64) -> Evidence {
    Evidence {
        id: id.into(),
        agent_id: format!("agent-{host}"),
        host: host.into(),
        observed_at: Some(gamsa_proto::Timestamp::from_unix_millis(observed_ms)),
        first_observed_at: None,
        probe: probe.into(),
        subject: subject.into(),
        status: Status::Observed as i32,
        error: String::new(),
        payload: Some(Payload::TimeSync(TimeSync {
            synchronised: true,
            estimated_error_us: 1200,
            offset_us: -35,
            daemon: "chrony".into(),
            ..Default::default()
        })),
    }
}

/// `ev` with content of its own (the offset of its id's bytes): never a run
/// seen again of another observation.
fn distinct_ev(id: &str, host: &str, probe: &str, subject: &str, observed_ms: i64) -> Evidence {
    let mut e = ev(id, host, probe, subject, observed_ms);
    if let Some(Payload::TimeSync(t)) = &mut e.payload {
        t.daemon = format!("chrony {id}");
    }
    e
}

/// Observations of one key whose content changes every time (so that none
/// is a run seen again: `unchanged_evidence_seen_again_is_one_run`).
fn numbered(range: std::ops::Range<u32>) -> Vec<Evidence> {
    range
        .map(|i| {
            let mut e = ev(
                &format!("e{i:05}"),
                "h1",
                "time_sync",
                "h1",
                T0 + i64::from(i),
            );
            if let Some(Payload::TimeSync(t)) = &mut e.payload {
                t.offset_us = i64::from(i);
            }
            e
        })
        .collect()
}

fn ids(evidence: &[Evidence]) -> Vec<String> {
    evidence.iter().map(|e| e.id.clone()).collect()
}

fn outcome(accepted: u32, duplicates: u32) -> InsertOutcome {
    InsertOutcome {
        accepted,
        duplicates,
    }
}

async fn idempotent_replays(b: Backend) -> Result<()> {
    let store = b.open().await;
    store.ping().await?;
    let batch = numbered(0..100);
    assert_eq!(store.insert_batch(batch.clone()).await?, outcome(100, 0));
    assert_eq!(
        store.insert_batch(batch.clone()).await?,
        outcome(0, 100),
        "a replayed batch adds nothing"
    );
    // Overlapping a stored batch, with one new id twice in the same batch.
    let mut mixed = batch[90..].to_vec();
    mixed.extend(numbered(100..110));
    mixed.push(mixed[12].clone());
    assert_eq!(store.insert_batch(mixed).await?, outcome(10, 11));
    assert_eq!(store.count_evidence().await?, 110);
    assert_eq!(store.insert_batch(vec![]).await?, outcome(0, 0));

    // Two collectors receive the same batch at once: stored once.
    let other = b.open().await;
    let fresh = numbered(1000..3000);
    let (x, y) = tokio::join!(
        store.insert_batch(fresh.clone()),
        other.insert_batch(fresh.clone())
    );
    let (x, y) = (x?, y?);
    assert_eq!(x.accepted + y.accepted, 2000, "{x:?} {y:?}");
    assert_eq!(x.duplicates + y.duplicates, 2000, "{x:?} {y:?}");
    assert_eq!(other.count_evidence().await?, 2110);

    // What is stored is what was sent, byte for byte.
    let got = other
        .evidence_by_ids(vec!["e00005".into(), "e01999".into()])
        .await?;
    assert_eq!(got, vec![batch[5].clone(), fresh[999].clone()]);
    Ok(())
}

async fn concurrent_batches_are_counted_per_batch(b: Backend) -> Result<()> {
    let store = b.open().await;
    // 24 batches at once, each overlapping the next by 10 ids: however the
    // store groups them into commits, each batch's counts are its own.
    let tasks: Vec<_> = (0..24u32)
        .map(|k| {
            let store = store.clone();
            tokio::spawn(async move { store.insert_batch(numbered(k * 10..k * 10 + 20)).await })
        })
        .collect();
    let (mut accepted, mut duplicates) = (0, 0);
    for t in tasks {
        let o = t.await??;
        assert_eq!(o.accepted + o.duplicates, 20, "{o:?}");
        accepted += o.accepted;
        duplicates += o.duplicates;
    }
    assert_eq!(accepted, 24 * 10 + 10);
    assert_eq!(duplicates, 24 * 20 - accepted);
    assert_eq!(store.count_evidence().await?, u64::from(accepted));
    Ok(())
}

async fn latest_index(b: Backend) -> Result<()> {
    let store = b.open().await;
    store
        .insert_batch(vec![distinct_ev("a1", "h1", "tls", "a:443", T0 + 2000)])
        .await?;
    store
        .insert_batch(vec![distinct_ev("a2", "h1", "tls", "a:443", T0 + 3000)])
        .await?;
    // Older evidence arriving later does not displace newer.
    store
        .insert_batch(vec![
            distinct_ev("a3", "h1", "tls", "a:443", T0 + 2500),
            // Within one batch, the newest wins whatever the order.
            distinct_ev("b2", "h1", "tls", "b:443", T0 + 1500),
            distinct_ev("b1", "h1", "tls", "b:443", T0 + 1000),
            // Another host, another probe: keys of their own.
            distinct_ev("c1", "h2", "tls", "a:443", T0 + 500),
            distinct_ev("d1", "h1", "ports", "a:443", T0 + 500),
        ])
        .await?;
    let latest = |s: Arc<dyn Store>| async move {
        s.latest_evidence()
            .await
            .map(|v| ids(&v).into_iter().collect::<BTreeSet<_>>())
    };
    let want: BTreeSet<String> = ["a2", "b2", "c1", "d1"].map(String::from).into();
    assert_eq!(latest(store.clone()).await?, want);
    // A replay of old evidence changes nothing.
    store
        .insert_batch(vec![distinct_ev("a1", "h1", "tls", "a:443", T0 + 2000)])
        .await?;
    assert_eq!(latest(store.clone()).await?, want);

    // Newer evidence through another collector moves the index for both.
    let other = b.open().await;
    other
        .insert_batch(vec![distinct_ev("a4", "h1", "tls", "a:443", T0 + 4000)])
        .await?;
    let want: BTreeSet<String> = ["a4", "b2", "c1", "d1"].map(String::from).into();
    assert_eq!(latest(store.clone()).await?, want);
    let full = store.latest_evidence().await?;
    let a4 = full.iter().find(|e| e.id == "a4").unwrap();
    assert_eq!(a4, &distinct_ev("a4", "h1", "tls", "a:443", T0 + 4000));
    // One host's newest evidence alone, by probe and subject.
    assert_eq!(
        ids(&store.latest_evidence_of(&["h1"], &[]).await?),
        ["d1", "a4", "b2"]
    );
    assert_eq!(
        ids(&store
            .latest_evidence_of(&["h1"], &["ports", "backup"])
            .await?),
        ["d1"],
        "of some probes only"
    );
    assert_eq!(ids(&other.latest_evidence_of(&["h2"], &[]).await?), ["c1"]);
    assert_eq!(
        ids(&store.latest_evidence_of(&["h2", "h1"], &[]).await?),
        ["d1", "a4", "b2", "c1"],
        "several hosts in one read, by host"
    );
    // The same as stamps: which evidence, without content.
    let stamps = store
        .latest_stamps_of(&["h2", "h1"], &["tls", "ports"])
        .await?;
    assert_eq!(
        stamps
            .iter()
            .map(|s| (s.key.host.as_str(), s.stamp.evidence.id.as_str()))
            .collect::<Vec<_>>(),
        [("h1", "d1"), ("h1", "a4"), ("h1", "b2"), ("h2", "c1")]
    );
    assert!(stamps.iter().all(|s| s.stamp.evidence.payload.is_none()));
    assert!(store.latest_stamps_of(&[], &[]).await?.is_empty());
    assert!(store.latest_evidence_of(&[], &[]).await?.is_empty());
    assert!(store.latest_evidence_of(&["h"], &[]).await?.is_empty());

    // Pages, in (host, probe, subject) order compared bytewise ("H" before
    // "h"), each starting after the last of the one before.
    other
        .insert_batch(vec![distinct_ev("e1", "H9", "tls", "z:443", T0 + 100)])
        .await?;
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = store.latest_evidence_page(after.take(), 2).await?;
        assert!(page.len() <= 2, "a page of {} for a limit of 2", page.len());
        let Some(last) = page.last() else { break };
        after = Some(LatestKey::of(&last.evidence));
        paged.extend(page);
    }
    // Each read with its payload encoded and the stamp its changes give it
    // (since a mark before any write: every row); whole, it is the
    // evidence as read by id.
    let (walked, _) = store.latest_changes(LatestMark(0)).await?;
    assert_eq!(
        paged.iter().map(|s| &s.stamp).collect::<Vec<_>>(),
        walked.iter().map(|s| &s.stamp).collect::<Vec<_>>()
    );
    assert!(paged.iter().all(|s| s.stamp.content_hash.is_some()
        && s.stamp.evidence.payload.is_none()
        && s.evidence.payload.is_none()
        && !s.payload.is_empty()));
    let paged = paged
        .into_iter()
        .map(|s| s.whole())
        .collect::<Result<Vec<Evidence>, _>>()?;
    let mut by_id = store.evidence_by_ids(ids(&paged)).await?;
    by_id.sort_by_key(|e| paged.iter().position(|p| p.id == e.id));
    assert_eq!(paged, by_id);
    assert_eq!(ids(&paged), ["e1", "d1", "a4", "b2", "c1"]);
    let from_b2 = LatestKey::of(&paged[3]);
    let rest = store.latest_evidence_page(Some(from_b2), 10).await?;
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].evidence.id, "c1");

    // The same set as stamps (its changes since before any write): the
    // same keys, ids and times, no content; c1 is seen again, a run.
    store
        .insert_batch(vec![Evidence {
            id: "c1-again".into(),
            ..distinct_ev("c1", "h2", "tls", "a:443", T0 + 900)
        }])
        .await?;
    let paged = store.latest_evidence().await?;
    let c1 = paged.iter().find(|e| e.id == "c1").expect("c1 latest");
    assert!(c1.first_observed_at.is_some(), "{c1:?}");
    let (stamps, _) = store.latest_changes(LatestMark(0)).await?;
    assert_eq!(stamps.len(), paged.len());
    for (s, e) in stamps.iter().zip(&paged) {
        assert_eq!(s.key, LatestKey::of(e));
        let st = &s.stamp.evidence;
        assert_eq!(
            (&st.id, st.observed_at, st.first_observed_at),
            (&e.id, e.observed_at, e.first_observed_at)
        );
        assert!(
            st.payload.is_none() && s.stamp.content_hash.is_some(),
            "{s:?}"
        );
    }
    Ok(())
}

async fn queries_filter_limit_and_order(b: Backend) -> Result<()> {
    let store = b.open().await;
    let mut all = Vec::new();
    for (i, (host, probe)) in [
        ("h1", "tls"),
        ("h2", "tls"),
        ("h1", "ports"),
        ("h2", "ports"),
        ("h1", "tls"),
        ("h3", "backup"),
    ]
    .into_iter()
    .enumerate()
    {
        all.push(distinct_ev(
            &format!("q{i}"),
            host,
            probe,
            host,
            T0 + 1000 * i as i64,
        ));
    }
    let mut failed = distinct_ev("q6", "h1", "backup", "/srv", T0 + 6000);
    failed.status = Status::Error as i32;
    failed.error = "restic: repository not found".into();
    failed.payload = None;
    all.push(failed.clone());
    store.insert_batch(all).await?;

    let q = |probe: Option<&str>, host: Option<&str>, agent: Option<&str>, since, limit| {
        let store = store.clone();
        let query = EvidenceQuery {
            probe: probe.map(str::to_string),
            host: host.map(str::to_string),
            agent_id: agent.map(str::to_string),
            since_ms: since,
            until_ms: None,
            limit,
            ..Default::default()
        };
        async move { store.query_evidence(query).await.map(|v| ids(&v)) }
    };
    assert_eq!(
        q(None, None, None, None, 100).await?,
        ["q6", "q5", "q4", "q3", "q2", "q1", "q0"],
        "newest first"
    );
    assert_eq!(
        q(Some("tls"), None, None, None, 100).await?,
        ["q4", "q1", "q0"]
    );
    assert_eq!(q(None, Some("h2"), None, None, 100).await?, ["q3", "q1"]);
    assert_eq!(
        q(None, None, Some("agent-h1"), None, 100).await?,
        ["q6", "q4", "q2", "q0"]
    );
    assert_eq!(
        q(None, None, None, Some(T0 + 4000), 100).await?,
        ["q6", "q5", "q4"],
        "since is inclusive"
    );
    assert_eq!(
        q(Some("tls"), Some("h1"), Some("agent-h1"), Some(T0 + 1), 100).await?,
        ["q4"]
    );
    let between = store
        .query_evidence(EvidenceQuery {
            since_ms: Some(T0 + 2000),
            until_ms: Some(T0 + 5000),
            limit: 100,
            ..Default::default()
        })
        .await?;
    assert_eq!(ids(&between), ["q4", "q3", "q2"], "until is exclusive");
    let batch = |hosts: &[&str], probe: Option<&str>| {
        let store = store.clone();
        let query = EvidenceQuery {
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            probe: probe.map(str::to_string),
            limit: 100,
            ..Default::default()
        };
        async move { store.query_evidence(query).await.map(|v| ids(&v)) }
    };
    assert_eq!(
        batch(&["h3", "h2"], None).await?,
        ["q5", "q3", "q1"],
        "a batch of hosts"
    );
    assert_eq!(batch(&["h1", "h3"], Some("backup")).await?, ["q6", "q5"]);
    assert!(batch(&["h4"], None).await?.is_empty());
    assert_eq!(q(None, None, None, None, 2).await?, ["q6", "q5"]);
    assert_eq!(q(None, None, None, None, 0).await?, ["q6"], "limit 0 is 1");
    assert!(q(Some("nope"), None, None, None, 100).await?.is_empty());

    let by_id = store
        .evidence_by_ids(vec![
            "q6".into(),
            "q0".into(),
            "missing".into(),
            "q3".into(),
        ])
        .await?;
    assert_eq!(ids(&by_id), ["q6", "q0", "q3"], "in the order asked for");
    assert_eq!(by_id[0], failed, "error evidence round-trips");
    Ok(())
}

fn agent(id: &str, last_seen_ms: i64) -> AgentRecord {
    AgentRecord {
        agent_id: id.into(),
        host: format!("host-{id}"),
        version: "0.1.0".into(),
        os: "Debian GNU/Linux 12".into(),
        kernel: "6.1.0".into(),
        capabilities: vec!["tls".into(), "ports".into()],
        labels: [("zone".to_string(), "kr-central-1a".to_string())].into(),
        first_seen_ms: last_seen_ms,
        last_seen_ms,
        peer: "127.0.0.1:50000".into(),
        revoked: false,
    }
}

async fn host_agents_pages_show_each_host_as_its_current_agent(b: Backend) -> Result<()> {
    let store = b.open().await;
    // (agent, host, revoked, last seen)
    for (id, host, revoked, seen) in [
        ("old", "db-1", true, 50),
        ("new", "db-1", false, 10),
        ("web-1", "web-1", false, 5),
        ("b", "app-1", true, 2),
        ("a", "app-1", true, 2),
        ("c", "app-1", true, 1),
        ("x", "Z-9", false, 1),
    ] {
        store
            .upsert_agent(AgentRecord {
                host: host.into(),
                revoked,
                ..agent(id, T0 + seen)
            })
            .await?;
        if revoked {
            store.set_revoked(id, true).await?;
        }
    }
    let page = |offset, limit| {
        let store = store.clone();
        async move {
            let (agents, total) = store.host_agents_page(offset, limit).await?;
            let picked: Vec<(String, String)> =
                agents.into_iter().map(|a| (a.host, a.agent_id)).collect();
            Ok::<_, anyhow::Error>((picked, total))
        }
    };
    let pair = |h: &str, a: &str| (h.to_string(), a.to_string());
    // Bytewise host order; the unrevoked agent, else the one seen last,
    // then the first by id.
    assert_eq!(
        page(0, 10).await?,
        (
            vec![
                pair("Z-9", "x"),
                pair("app-1", "a"),
                pair("db-1", "new"),
                pair("web-1", "web-1")
            ],
            4
        )
    );
    assert_eq!(
        page(1, 2).await?,
        (vec![pair("app-1", "a"), pair("db-1", "new")], 4)
    );
    assert_eq!(page(4, 2).await?, (vec![], 4));
    Ok(())
}

async fn agents_and_revocation(b: Backend) -> Result<()> {
    let store = b.open().await;
    for id in ["b-agent", "a-agent", "A-agent"] {
        store.upsert_agent(agent(id, T0)).await?;
    }
    let listed = store.list_agents().await?;
    let names: Vec<&str> = listed.iter().map(|a| a.agent_id.as_str()).collect();
    assert_eq!(names, ["A-agent", "a-agent", "b-agent"], "byte order");
    let (page, total) = store.agents_page(1, 5).await?;
    let paged: Vec<&str> = page.iter().map(|a| a.agent_id.as_str()).collect();
    assert_eq!((paged, total), (vec!["a-agent", "b-agent"], 3));
    let (page, total) = store.agents_page(0, 1).await?;
    assert_eq!(
        (page[0].agent_id.as_str(), page.len(), total),
        ("A-agent", 1, 3)
    );
    assert!(store.agents_page(3, 5).await?.0.is_empty());
    assert_eq!(listed[1], agent("a-agent", T0));

    // Reconnecting updates what the agent says; first_seen stays.
    let mut again = agent("a-agent", T0 + 5000);
    again.version = "0.2.0".into();
    again.capabilities = vec!["backup".into()];
    again.peer = "127.0.0.2:40000".into();
    store.upsert_agent(again.clone()).await?;
    store.touch_agent("a-agent", T0 + 9000).await?;
    let a = store.list_agents().await?.remove(1);
    assert_eq!(
        a,
        AgentRecord {
            first_seen_ms: T0,
            last_seen_ms: T0 + 9000,
            ..again
        }
    );

    // Revoked through one collector, refused by the other.
    let other = b.open().await;
    assert!(!other.is_revoked("a-agent").await?);
    assert!(store.set_revoked("a-agent", true).await?);
    assert!(other.is_revoked("a-agent").await?);
    assert!(!other.is_revoked("b-agent").await?);
    // A reconnect attempt does not clear it.
    other.upsert_agent(agent("a-agent", T0 + 10_000)).await?;
    assert!(store.is_revoked("a-agent").await?);
    assert!(other
        .list_agents()
        .await?
        .iter()
        .any(|a| a.agent_id == "a-agent" && a.revoked));
    assert_eq!(
        other.revoked_agents().await?,
        ["a-agent".to_string()].into()
    );
    // A host's agents, without the rest of the fleet.
    let mut second = agent("c-agent", T0);
    second.host = "host-a-agent".into();
    store.upsert_agent(second).await?;
    let on_a: Vec<String> = other
        .agents_on_host("host-a-agent")
        .await?
        .into_iter()
        .map(|a| a.agent_id)
        .collect();
    assert_eq!(on_a, ["a-agent", "c-agent"]);
    assert!(other.agents_on_host("host-nowhere").await?.is_empty());
    assert!(other.set_revoked("a-agent", false).await?);
    assert!(other.revoked_agents().await?.is_empty());
    assert!(!store.is_revoked("a-agent").await?);

    // Revoking a name never seen (revoked before it first connects).
    assert!(!store.is_revoked("never-seen").await?);
    assert!(store.set_revoked("never-seen", true).await?);
    assert!(other.is_revoked("never-seen").await?);
    assert_eq!(other.list_agents().await?.len(), 5);
    Ok(())
}

fn token(kind: TokenKind, name: &str, max_uses: u32, expires_at_ms: Option<i64>) -> TokenRecord {
    TokenRecord {
        kind,
        name: name.into(),
        role: if kind == TokenKind::Enrol {
            String::new()
        } else {
            "auditor".into()
        },
        expires_at_ms,
        max_uses,
    }
}

async fn tokens_uses_expiry_and_kinds(b: Backend) -> Result<()> {
    let store = b.open().await;
    let now = T0;
    let enrol = token(TokenKind::Enrol, "node-1", 2, Some(now + 3_600_000));
    store.create_token("h-enrol", enrol.clone()).await?;
    assert_eq!(
        store.use_token("h-enrol", TokenKind::Api, now).await?,
        None,
        "a token is only good for its own kind"
    );
    assert_eq!(
        store.use_token("h-enrol", TokenKind::Enrol, now).await?,
        Some(enrol.clone())
    );
    assert_eq!(
        store.use_token("h-enrol", TokenKind::Enrol, now).await?,
        Some(enrol.clone())
    );
    assert_eq!(
        store.use_token("h-enrol", TokenKind::Enrol, now).await?,
        None,
        "two uses, then spent"
    );

    let expiring = token(TokenKind::Enrol, "", 5, Some(now + 1000));
    store.create_token("h-expiring", expiring.clone()).await?;
    assert_eq!(
        store
            .use_token("h-expiring", TokenKind::Enrol, now + 999)
            .await?,
        Some(expiring)
    );
    assert_eq!(
        store
            .use_token("h-expiring", TokenKind::Enrol, now + 1000)
            .await?,
        None,
        "expired at its expiry time"
    );

    // API tokens are not consumed; without expiry they last.
    let api = token(TokenKind::Api, "kim", 1, None);
    store.create_token("h-api", api.clone()).await?;
    for _ in 0..3 {
        assert_eq!(
            store
                .use_token("h-api", TokenKind::Api, now + 1_000_000_000)
                .await?,
            Some(api.clone())
        );
    }
    let session = token(TokenKind::Session, "kim", 0, Some(now + 60_000));
    store.create_token("h-session", session.clone()).await?;
    let other = b.open().await;
    assert_eq!(
        other
            .use_token("h-session", TokenKind::Session, now)
            .await?,
        Some(session)
    );
    assert_eq!(
        other
            .use_token("h-session", TokenKind::Session, now + 60_000)
            .await?,
        None
    );
    other.delete_token("h-api").await?;
    assert_eq!(store.use_token("h-api", TokenKind::Api, now).await?, None);
    assert_eq!(store.use_token("nope", TokenKind::Api, now).await?, None);
    assert!(
        store
            .create_token("h-session", token(TokenKind::Api, "x", 0, None))
            .await
            .is_err(),
        "a hash is stored once"
    );
    Ok(())
}

/// While another writer holds the tokens' write lock (the ingest writer, a
/// replica enrolling), unknown, expired and unconsumed tokens are answered
/// from a read, at once.
async fn unknown_tokens_take_no_write_lock(b: Backend) -> Result<()> {
    let store = b.open().await;
    store
        .create_token("h-api", token(TokenKind::Api, "kim", 0, None))
        .await?;
    store
        .create_token("h-used", token(TokenKind::Enrol, "", 1, None))
        .await?;
    assert!(store
        .use_token("h-used", TokenKind::Enrol, T0)
        .await?
        .is_some());
    // Another connection takes the write lock and keeps it.
    let lock: Box<dyn std::any::Any> = match &b {
        Backend::Sqlite(dir) => {
            let c = rusqlite::Connection::open(dir.path().join("gamsa.db"))?;
            c.execute_batch("BEGIN IMMEDIATE")?;
            Box::new(c)
        }
        Backend::Postgres(scratch) => {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&scratch.url).await?;
            sqlx::query("BEGIN").execute(&mut c).await?;
            sqlx::query("LOCK TABLE tokens IN EXCLUSIVE MODE")
                .execute(&mut c)
                .await?;
            Box::new(c)
        }
    };
    for (hash, kind, found) in [
        ("nope", TokenKind::Api, false),
        ("nope", TokenKind::Session, false),
        ("nope", TokenKind::Enrol, false),
        ("h-used", TokenKind::Enrol, false),
        ("h-api", TokenKind::Api, true),
    ] {
        let answer = tokio::time::timeout(Duration::from_secs(3), store.use_token(hash, kind, T0))
            .await
            .unwrap_or_else(|_| panic!("{hash} ({kind:?}) waited for the write lock"))?;
        assert_eq!(answer.is_some(), found, "{hash} ({kind:?})");
    }
    drop(lock);
    Ok(())
}

/// While a small write (an access-log record) waits for a write lock
/// another connection holds, reads are answered at once; the write is
/// stored when the lock is let go.
async fn reads_never_wait_behind_a_write_waiting_for_the_lock(b: Backend) -> Result<()> {
    let store = b.open().await;
    store
        .insert_batch(vec![ev("e1", "h1", "time", "h1", T0)])
        .await?;
    let lock: Box<dyn std::any::Any + Send> = match &b {
        Backend::Sqlite(dir) => {
            let c = rusqlite::Connection::open(dir.path().join("gamsa.db"))?;
            c.execute_batch("BEGIN IMMEDIATE")?;
            Box::new(std::sync::Mutex::new(c))
        }
        Backend::Postgres(scratch) => {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&scratch.url).await?;
            sqlx::query("BEGIN").execute(&mut c).await?;
            sqlx::query("LOCK TABLE access_log IN EXCLUSIVE MODE")
                .execute(&mut c)
                .await?;
            Box::new(c)
        }
    };
    let writer = store.clone();
    let waiting = tokio::spawn(async move {
        writer
            .append_access(gamsa_collector::records::Access {
                at: "2026-12-05T00:00:00Z".into(),
                who: "kim".into(),
                role: "auditor".into(),
                action: "item-view".into(),
                what: "emr-s014/2.1".into(),
            })
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "the write did not wait for the lock"
    );
    let at_once = Duration::from_secs(3);
    let waited = |what: &str| format!("{what} waited behind the write");
    tokio::time::timeout(at_once, store.ping())
        .await
        .unwrap_or_else(|_| panic!("{}", waited("ping")))?;
    let page = tokio::time::timeout(at_once, store.latest_evidence_page(None, 10))
        .await
        .unwrap_or_else(|_| panic!("{}", waited("the latest evidence")))?;
    assert_eq!(page.len(), 1);
    let log = tokio::time::timeout(at_once, store.access_log(10))
        .await
        .unwrap_or_else(|_| panic!("{}", waited("the access log")))?;
    assert!(log.is_empty(), "the waiting record is not visible yet");
    drop(lock);
    tokio::time::timeout(Duration::from_secs(20), waiting).await???;
    assert_eq!(store.access_log(10).await?[0].what, "emr-s014/2.1");
    Ok(())
}

async fn token_uses_are_atomic_across_collectors(b: Backend) -> Result<()> {
    let collectors = [b.open().await, b.open().await];
    for (hash, uses, attempts) in [("h-one", 1u32, 8usize), ("h-three", 3, 16)] {
        collectors[0]
            .create_token(hash, token(TokenKind::Enrol, "", uses, None))
            .await?;
        let tasks: Vec<_> = (0..attempts)
            .map(|i| {
                let store = collectors[i % 2].clone();
                tokio::spawn(async move { store.use_token(hash, TokenKind::Enrol, T0).await })
            })
            .collect();
        let mut won = 0;
        for t in tasks {
            if t.await??.is_some() {
                won += 1;
            }
        }
        assert_eq!(
            won, uses,
            "{hash}: exactly {uses} of {attempts} enrolments succeed"
        );
    }
    Ok(())
}

async fn users(b: Backend) -> Result<()> {
    let store = b.open().await;
    assert_eq!(store.get_user("kim").await?, None);
    let kim = User {
        name: "kim".into(),
        role: "auditor".into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
    };
    store.upsert_user(kim.clone()).await?;
    assert_eq!(store.get_user("kim").await?, Some(kim.clone()));
    let promoted = User {
        role: "operator".into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdDI$aGFzaDI".into(),
        ..kim
    };
    store.upsert_user(promoted.clone()).await?;
    let other = b.open().await;
    assert_eq!(other.get_user("kim").await?, Some(promoted));
    assert_eq!(other.get_user("KIM").await?, None);
    Ok(())
}

fn attestation(row: &str, file: &[u8], at_ms: i64) -> Attestation {
    use sha2::Digest;
    Attestation {
        catalog: "emr-s014".into(),
        item: "2.1".into(),
        row: row.into(),
        verdict: "Y".into(),
        comment: "이중화 구성도 첨부".into(),
        file_name: "network.pdf".into(),
        file_sha256: hex::encode(sha2::Sha256::digest(file)),
        by: "kim".into(),
        at_ms,
        expires_ms: Some(at_ms + 86_400_000),
    }
}

async fn attestations_na_marks_and_files(b: Backend) -> Result<()> {
    let store = b.open().await;
    let file = b"%PDF-1.7 redundant uplinks".to_vec();
    let first = attestation("1", &file, T0);
    let second = attestation("2", &file, T0 + 1);
    store
        .add_attestation(first.clone(), Some(file.clone()))
        .await?;
    // The same document again: stored once, attested twice.
    store
        .add_attestation(second.clone(), Some(file.clone()))
        .await?;
    let mut without_file = attestation("3", b"", T0 + 2);
    without_file.file_name = String::new();
    without_file.file_sha256 = String::new();
    without_file.expires_ms = None;
    store.add_attestation(without_file.clone(), None).await?;
    let na = NaMark {
        catalog: "emr-s014".into(),
        item: "4.3".into(),
        justification: "국내 리전만 사용".into(),
        by: "lee".into(),
        at_ms: T0 + 3,
    };
    store.add_na_mark(na.clone()).await?;

    let other = b.open().await;
    let docs = other.documents().await?;
    assert_eq!(docs.attestations, [first.clone(), second, without_file]);
    assert_eq!(docs.na_marks, [na]);
    assert_eq!(
        other.file(&first.file_sha256).await?,
        Some(("network.pdf".to_string(), file))
    );
    assert_eq!(other.file(&"0".repeat(64)).await?, None);
    Ok(())
}

async fn leases_two_holders_expiry_and_renewal(b: Backend) -> Result<()> {
    let (one, two) = (b.open().await, b.open().await);
    let ttl = Duration::from_secs(60);
    let name = "snapshot:2026-12-01T00:00:00+09:00";
    assert!(one.try_lease(name, "collector-1", ttl, T0).await?);
    assert!(
        !two.try_lease(name, "collector-2", ttl, T0 + 1).await?,
        "held by another"
    );
    // Renewal by the holder extends it to T0 + 90 s.
    assert!(one.try_lease(name, "collector-1", ttl, T0 + 30_000).await?);
    assert!(
        !two.try_lease(name, "collector-2", ttl, T0 + 60_000).await?,
        "renewed past its first expiry"
    );
    // Other names are independent.
    assert!(two.try_lease("export", "collector-2", ttl, T0).await?);
    // Once expired, another holder takes it over; the old holder has lost it.
    assert!(two.try_lease(name, "collector-2", ttl, T0 + 90_000).await?);
    assert!(!one.try_lease(name, "collector-1", ttl, T0 + 90_001).await?);
    assert!(
        two.try_lease(name, "collector-2", ttl, T0 + 100_000)
            .await?
    );
    Ok(())
}

async fn lease_races_have_one_winner(b: Backend) -> Result<()> {
    let collectors = [b.open().await, b.open().await];
    for (round, now) in [(0, T0), (1, T0 + 120_000)] {
        // Round 1 starts after round 0's lease expired: again one winner.
        let tasks: Vec<_> = (0..10)
            .map(|i| {
                let store = collectors[i % 2].clone();
                tokio::spawn(async move {
                    store
                        .try_lease(
                            "daily",
                            &format!("c{round}-{i}"),
                            Duration::from_secs(60),
                            now,
                        )
                        .await
                })
            })
            .collect();
        let mut winners = 0;
        for t in tasks {
            winners += usize::from(t.await??);
        }
        assert_eq!(winners, 1, "round {round}");
    }
    Ok(())
}

async fn host_bindings_one_agent_per_host(b: Backend) -> Result<()> {
    let store = b.open().await;
    let other = b.open().await;
    assert!(store.bound_hosts("web-a").await?.is_empty());
    assert_eq!(store.bind_host("web-a", "web-1", T0).await?, Binding::Bound);
    // Again (a re-enrolment): still bound.
    assert_eq!(other.bind_host("web-a", "web-1", T0).await?, Binding::Bound);
    assert_eq!(other.bound_hosts("web-a").await?, ["web-1"]);
    // Another agent may not take it, from either collector.
    assert_eq!(
        other.bind_host("web-b", "web-1", T0).await?,
        Binding::HeldBy("web-a".into())
    );
    assert!(store.bound_hosts("web-b").await?.is_empty());
    // An agent bound anew reports for the new host only; the old one is free.
    assert_eq!(store.bind_host("web-a", "web-2", T0).await?, Binding::Bound);
    assert_eq!(store.bound_hosts("web-a").await?, ["web-2"]);
    assert_eq!(other.bind_host("web-b", "web-1", T0).await?, Binding::Bound);
    // A revoked agent's host may be bound to its replacement.
    assert_eq!(
        store.bind_host("web-c", "web-1", T0).await?,
        Binding::HeldBy("web-b".into())
    );
    store.set_revoked("web-b", true).await?;
    assert_eq!(other.bind_host("web-c", "web-1", T0).await?, Binding::Bound);
    assert_eq!(store.bound_hosts("web-c").await?, ["web-1"]);
    assert!(store.bound_hosts("web-b").await?.is_empty());
    assert_eq!(store.bound_hosts("web-a").await?, ["web-2"]);
    Ok(())
}

async fn host_binding_races_have_one_winner(b: Backend) -> Result<()> {
    let collectors = [b.open().await, b.open().await];
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let store = collectors[i % 2].clone();
            tokio::spawn(async move { store.bind_host(&format!("node-{i}"), "node", T0).await })
        })
        .collect();
    let mut winners = Vec::new();
    let mut held = std::collections::BTreeSet::new();
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await?? {
            Binding::Bound => winners.push(format!("node-{i}")),
            Binding::HeldBy(holder) => {
                held.insert(holder);
            }
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    assert!(
        held.iter().all(|h| *h == winners[0]),
        "{held:?} {winners:?}"
    );
    assert_eq!(collectors[1].bound_hosts(&winners[0]).await?, ["node"]);
    Ok(())
}

async fn collectors_starting_together_share_one_schema(b: Backend) -> Result<()> {
    // Two collectors open a store that does not exist yet, at the same time.
    let location = b.location();
    let (x, y) = tokio::join!(store::open(&location), store::open(&location));
    let (x, y) = (x?, y?);
    x.insert_batch(numbered(0..10)).await?;
    assert_eq!(y.count_evidence().await?, 10);
    drop((x, y));
    // Reopening finds the schema current and the data kept.
    let again = b.open().await;
    assert_eq!(again.count_evidence().await?, 10);
    assert_eq!(again.insert_batch(numbered(0..10)).await?, outcome(0, 10));
    Ok(())
}

async fn a_failed_commit_is_reported_and_nothing_of_it_stored(b: Backend) -> Result<()> {
    let store = b.open().await;
    store.insert_batch(numbered(0..10)).await?;
    // The database refuses evidence of host "poison" (as a full disk or a
    // lost connection would refuse the whole commit).
    b.execute(match b {
        Backend::Sqlite(_) => {
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON evidence WHEN NEW.host = 'poison'
             BEGIN SELECT RAISE(ABORT, 'poison evidence refused'); END;"
        }
        Backend::Postgres(_) => {
            "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 IF NEW.host = 'poison' THEN RAISE EXCEPTION 'poison evidence refused'; END IF;
                 RETURN NEW;
             END $$;
             CREATE TRIGGER refuse_poison BEFORE INSERT ON evidence
                 FOR EACH ROW EXECUTE FUNCTION refuse_poison();"
        }
    })
    .await?;
    // Good rows first: none of them may be stored either.
    let mut poisoned = numbered(100..110);
    poisoned.push(ev("p1", "poison", "time_sync", "poison", T0));
    // Other batches at the same time may share its commit, and its fate.
    let innocent: Vec<_> = (0..8u32)
        .map(|k| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .insert_batch(numbered(200 + k * 10..210 + k * 10))
                    .await
            })
        })
        .collect();
    let err = store
        .insert_batch(poisoned)
        .await
        .expect_err("a batch the database refused was acked");
    assert!(err.to_string().contains("poison evidence refused"), "{err}");
    let mut acked = 10;
    for t in innocent {
        match t.await? {
            Ok(o) => acked += u64::from(o.accepted),
            Err(e) => assert!(e.to_string().contains("poison evidence refused"), "{e}"),
        }
    }
    assert_eq!(store.count_evidence().await?, acked);
    assert!(store
        .evidence_by_ids(ids(&numbered(100..101)))
        .await?
        .is_empty());
    // The writers go on: the next batch commits.
    assert_eq!(store.insert_batch(numbered(10..20)).await?, outcome(10, 0));
    assert_eq!(store.count_evidence().await?, acked + 10);
    Ok(())
}

/// Database files written by the collector before its schema steps were
/// `.sql` files: one at step 3 (the first release's schema: its three steps,
/// applied as that release applied them), one at step 5 (opened and filled by
/// that store). Both hold three evidence, two agents (one revoked), an
/// enrolment token used once of twice, an API token, a user, an attestation
/// with its file and an NA mark; the step-5 file also an access record and a
/// lease.
#[tokio::test]
async fn sqlite_databases_of_earlier_versions_open_and_migrate() -> Result<()> {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixture");
    // The number of the newest step (its file name's).
    let steps: i64 = std::fs::read_dir(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite"),
    )?
    .filter_map(|f| f.ok()?.file_name().to_str()?.get(..4)?.parse().ok())
    .max()
    .unwrap_or(0);
    for (fixture, version) in [("sqlite-v3.db", 3), ("sqlite-v5.db", 5)] {
        let b = Backend::sqlite();
        let Location::Sqlite(path) = b.location() else {
            unreachable!()
        };
        std::fs::copy(fixtures.join(fixture), &path)?;
        let user_version = |path: &std::path::Path| -> Result<i64> {
            Ok(rusqlite::Connection::open(path)?
                .query_row("PRAGMA user_version", [], |r| r.get(0))?)
        };
        assert_eq!(user_version(&path)?, version, "{fixture}");
        let store = b.open().await;
        assert_eq!(user_version(&path)?, steps, "{fixture} migrated");

        assert_eq!(store.count_evidence().await?, 3, "{fixture}");
        let latest: BTreeSet<String> = ids(&store.latest_evidence().await?).into_iter().collect();
        assert_eq!(
            latest,
            BTreeSet::from(["e2".into(), "e3".into()]),
            "{fixture}"
        );
        let got = store.evidence_by_ids(vec!["e1".into()]).await?;
        assert_eq!(got, [ev("e1", "h1", "time_sync", "h1", T0)], "{fixture}");
        // Stored whole: its stamp carries the content, and no hash.
        let stamped = store.evidence_stamps(vec!["e1".into()]).await?;
        assert_eq!(stamped.len(), 1, "{fixture}");
        assert_eq!(stamped[0].evidence, got[0], "{fixture}");
        assert_eq!(stamped[0].content_hash, None, "{fixture}");
        assert_eq!(
            store
                .insert_batch(vec![
                    ev("e1", "h1", "time_sync", "h1", T0),
                    ev("e4", "h1", "tls", "b:443", T0 + 9)
                ])
                .await?,
            outcome(1, 1),
            "{fixture}"
        );
        // Rows stored whole before deduplication are pruned like any other:
        // e1 is old and not the latest of its key.
        let step = store.prune_evidence(0, T0 + 100, 100).await?;
        assert_eq!((step.evidence, step.next), (1, None), "{fixture}");
        assert!(store.evidence_by_ids(vec!["e1".into()]).await?.is_empty());
        assert_eq!(store.count_evidence().await?, 3, "{fixture}");

        let agents = store.list_agents().await?;
        assert_eq!(
            agents
                .iter()
                .map(|a| (a.agent_id.as_str(), a.revoked))
                .collect::<Vec<_>>(),
            [("agent-h1", false), ("agent-h2", true)],
            "{fixture}"
        );
        assert_eq!(agents[0].capabilities, ["time_sync", "tls"], "{fixture}");
        assert_eq!(agents[0].labels["site"], "seoul", "{fixture}");
        assert_eq!((agents[0].first_seen_ms, agents[0].last_seen_ms), (T0, T0));

        let enrol = store.use_token("hash-enrol", TokenKind::Enrol, T0).await?;
        assert_eq!(
            enrol.map(|t| (t.name, t.max_uses)),
            Some(("fleet".into(), 2))
        );
        assert_eq!(
            store.use_token("hash-enrol", TokenKind::Enrol, T0).await?,
            None,
            "{fixture}: both uses taken"
        );
        let api = store.use_token("hash-api", TokenKind::Api, T0).await?;
        assert_eq!(api.map(|t| t.role), Some("auditor".into()), "{fixture}");
        assert_eq!(
            store.get_user("kim").await?.map(|u| u.role),
            Some("auditor".into())
        );

        let docs = store.documents().await?;
        let file = b"%PDF-1.7 redundant uplinks".to_vec();
        assert_eq!(
            docs.attestations,
            [attestation("1", &file, T0)],
            "{fixture}"
        );
        assert_eq!(docs.na_marks.len(), 1, "{fixture}");
        assert_eq!(docs.na_marks[0].justification, "국내 리전만 사용");
        assert_eq!(
            store.file(&docs.attestations[0].file_sha256).await?,
            Some(("network.pdf".to_string(), file)),
            "{fixture}"
        );

        // What the later steps added: kept where it was written, usable where new.
        let ttl = Duration::from_secs(60);
        let log = store.access_log(10).await?;
        if version >= 5 {
            assert_eq!(log.len(), 1, "{fixture}");
            assert_eq!(log[0].what, "emr-s014/2.1");
            assert!(
                !store
                    .try_lease("snapshot:1", "collector-2", ttl, T0 + 1)
                    .await?
            );
        } else {
            assert!(log.is_empty(), "{fixture}");
            assert!(
                store
                    .try_lease("snapshot:1", "collector-2", ttl, T0 + 1)
                    .await?
            );
        }
        let mut access = log
            .first()
            .cloned()
            .unwrap_or(gamsa_collector::records::Access {
                at: "2026-12-03T00:00:00Z".into(),
                who: "kim".into(),
                role: "auditor".into(),
                action: "item-view".into(),
                what: "emr-s014/2.1".into(),
            });
        access.what = "emr-s014/4.3".into();
        store.append_access(access).await?;
        assert_eq!(store.access_log(1).await?[0].what, "emr-s014/4.3");
        // Agents registered before host bindings: bound to the host they
        // last reported, when not revoked.
        assert_eq!(store.bound_hosts("agent-h1").await?, ["h1"], "{fixture}");
        assert!(store.bound_hosts("agent-h2").await?.is_empty(), "{fixture}");
        drop(store);
        // Opened again: nothing left to apply.
        b.open().await;
        assert_eq!(user_version(&path)?, steps, "{fixture}");
    }
    Ok(())
}

#[tokio::test]
async fn sqlite_refuses_a_schema_newer_than_this_collector() -> Result<()> {
    let b = Backend::sqlite();
    drop(b.open().await);
    // A later collector version applied a step this one does not know.
    b.execute("PRAGMA user_version = 9999").await?;
    let err = match store::open(&b.location()).await {
        Ok(_) => panic!("opened a schema from a newer collector"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("9999") && err.contains("gamsa.db"), "{err}");
    Ok(())
}

#[tokio::test]
async fn postgres_errors_name_the_url_without_password() {
    // Port 1 on loopback: nothing listens there.
    let url = "postgres://gamsa:s3cret@127.0.0.1:1/gamsa?sslmode=disable";
    let err = match store::open(&Location::Postgres(url.into())).await {
        Ok(_) => panic!("opened a store on a closed port"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("postgres://gamsa@127.0.0.1:1/gamsa?sslmode=disable"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
    let err = match store::open(&Location::Postgres(
        "postgres://u@h/db?password=s3cret&sslmode=nonsense".into(),
    ))
    .await
    {
        Ok(_) => panic!("accepted sslmode=nonsense"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("nonsense") && !err.contains("s3cret"), "{err}");
}

#[tokio::test]
async fn postgres_refuses_a_schema_newer_than_this_collector() {
    let b = Backend::postgres();
    let store = b.open().await;
    drop(store);
    let Backend::Postgres(scratch) = &b else {
        unreachable!()
    };
    // A later collector version applied a migration this one does not know.
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&scratch.url)
        .await
        .unwrap();
    sqlx::Executor::execute(
        &mut conn,
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (9999, 'from the future', true, '\\x00', 0)",
    )
    .await
    .unwrap();
    let err = match store::open(&b.location()).await {
        Ok(_) => panic!("opened a schema from a newer collector"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("9999"), "{err}");
    assert!(
        err.contains(&scratch.schema) || err.contains("127.0.0.1"),
        "{err}"
    );
}

fn claim(token: &str, agent: &str, host: &str, certificate: &str) -> EnrolClaim {
    EnrolClaim {
        token_hash: token.into(),
        agent_id: agent.into(),
        host: host.into(),
        certificate: certificate.into(),
        peer: "127.0.0.1:40000".into(),
        now_ms: T0,
    }
}

/// (uses, last used) of the listed token `hash`.
async fn uses(store: &dyn Store, hash: &str) -> Result<(u32, Option<i64>)> {
    let t = store
        .list_tokens()
        .await?
        .into_iter()
        .find(|t| t.hash == hash)
        .unwrap_or_else(|| panic!("token {hash} not listed"));
    Ok((t.uses, t.last_used_ms))
}

async fn enrolment_claims_check_everything_before_using_the_token(b: Backend) -> Result<()> {
    let store = b.open().await;
    store
        .create_token("h-shared", token(TokenKind::Enrol, "", 5, Some(T0 + 1000)))
        .await?;
    store
        .create_token("h-bound", token(TokenKind::Enrol, "node-b", 2, None))
        .await?;
    assert_eq!(
        store
            .enrol(claim("h-shared", "node-a", "h-a", "c-a"))
            .await?,
        Enrolled::Enrolled
    );
    assert_eq!(uses(store.as_ref(), "h-shared").await?, (1, Some(T0)));
    let a = store.list_agents().await?;
    assert_eq!(
        a.iter()
            .map(|a| (a.agent_id.as_str(), a.host.as_str(), a.peer.as_str()))
            .collect::<Vec<_>>(),
        [("node-a", "h-a", "127.0.0.1:40000")]
    );
    assert_eq!(store.bound_hosts("node-a").await?, ["h-a"]);

    // Each refusal leaves the token's uses, the agents and the bindings.
    let refused = [
        (
            claim("h-shared", "node-a", "h-a", "c-a2"),
            Enrolled::NameTaken,
        ),
        (
            claim("h-shared", "node-c", "h-a", "c-c"),
            Enrolled::HeldBy("node-a".into()),
        ),
        (
            claim("h-bound", "node-x", "h-x", "c-x"),
            Enrolled::BoundTo("node-b".into()),
        ),
        (claim("nope", "node-d", "h-d", "c-d"), Enrolled::NoToken),
        (
            EnrolClaim {
                now_ms: T0 + 1000,
                ..claim("h-shared", "node-e", "h-e", "c-e")
            },
            Enrolled::NoToken,
        ),
    ];
    for (c, expected) in refused {
        assert_eq!(store.enrol(c.clone()).await?, expected, "{c:?}");
    }
    store.set_revoked("node-b", true).await?;
    assert_eq!(
        store
            .enrol(claim("h-bound", "node-b", "h-b", "c-b"))
            .await?,
        Enrolled::Revoked
    );
    assert_eq!(uses(store.as_ref(), "h-shared").await?, (1, Some(T0)));
    assert_eq!(uses(store.as_ref(), "h-bound").await?, (0, None));
    let names: Vec<String> = store
        .list_agents()
        .await?
        .into_iter()
        .map(|a| a.agent_id)
        .collect();
    assert_eq!(names, ["node-a", "node-b"]);
    assert!(store.bound_hosts("node-c").await?.is_empty());
    assert!(!store.certificate_refused("node-a", "c-a").await?);
    assert!(store.certificate_refused("node-a", "c-a2").await?);

    // A token bound to a name enrols it again: the new certificate replaces
    // the old one.
    store
        .create_token("h-again", token(TokenKind::Enrol, "node-a", 1, None))
        .await?;
    assert_eq!(
        store
            .enrol(claim("h-again", "node-a", "h-a", "c-a3"))
            .await?,
        Enrolled::Enrolled
    );
    assert!(store.certificate_refused("node-a", "c-a").await?);
    assert!(!store.certificate_refused("node-a", "c-a3").await?);
    Ok(())
}

/// Agents enrolling one name at once with a shared token, through two
/// collectors: one certificate is recorded, one use taken.
async fn enrolments_racing_for_one_name_get_one(b: Backend) -> Result<()> {
    let collectors = [b.open().await, b.open().await];
    collectors[0]
        .create_token("h-fleet", token(TokenKind::Enrol, "", 16, None))
        .await?;
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = collectors[i % 2].clone();
            let c = claim("h-fleet", "node-twin", "twin", &format!("c-{i}"));
            tokio::spawn(async move { (i, store.enrol(c).await) })
        })
        .collect();
    let mut won = Vec::new();
    for t in tasks {
        let (i, answer) = t.await?;
        match answer? {
            Enrolled::Enrolled => won.push(i),
            Enrolled::NameTaken => {}
            other => panic!("enrolment {i}: {other:?}"),
        }
    }
    assert_eq!(won.len(), 1, "{won:?}");
    assert_eq!(uses(collectors[1].as_ref(), "h-fleet").await?.0, 1);
    let winner = format!("c-{}", won[0]);
    assert!(
        !collectors[0]
            .certificate_refused("node-twin", &winner)
            .await?
    );
    let loser = format!("c-{}", (won[0] + 1) % 16);
    assert!(
        collectors[1]
            .certificate_refused("node-twin", &loser)
            .await?
    );
    Ok(())
}

async fn users_deleted_or_re_roled_lose_their_sessions(b: Backend) -> Result<()> {
    let store = b.open().await;
    let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";
    for (name, role) in [("lee", "admin"), ("kim", "admin"), ("ahn", "operator")] {
        store
            .upsert_user(User {
                name: name.into(),
                role: role.into(),
                password_hash: hash.into(),
            })
            .await?;
        store
            .create_token(
                &format!("s-{name}"),
                TokenRecord {
                    role: role.into(),
                    ..token(TokenKind::Session, name, 0, Some(T0 + 60_000))
                },
            )
            .await?;
    }
    let listed: Vec<(String, String)> = store
        .list_users()
        .await?
        .into_iter()
        .map(|u| (u.name, u.role))
        .collect();
    assert_eq!(
        listed,
        [
            ("ahn".to_string(), "operator".to_string()),
            ("kim".into(), "admin".into()),
            ("lee".into(), "admin".into())
        ]
    );
    let session = |name: &str| {
        let (store, hash) = (store.clone(), format!("s-{name}"));
        async move { store.use_token(&hash, TokenKind::Session, T0).await }
    };
    let other = b.open().await;
    assert!(other.set_user_role("kim", "auditor").await?);
    assert_eq!(session("kim").await?, None, "demoted: signed out");
    assert_eq!(
        store.get_user("kim").await?.map(|u| u.role),
        Some("auditor".into())
    );
    assert!(other.delete_user("lee").await?);
    assert_eq!(session("lee").await?, None, "deleted: signed out");
    assert_eq!(store.get_user("lee").await?, None);
    assert!(session("ahn").await?.is_some(), "others stay signed in");
    assert!(!other.delete_user("lee").await?);
    assert!(!other.set_user_role("nobody", "admin").await?);
    assert_eq!(other.get_user("nobody").await?, None);
    // A password reset (`user add` again) signs the user out as well.
    store
        .upsert_user(User {
            name: "ahn".into(),
            role: "operator".into(),
            password_hash: hash.into(),
        })
        .await?;
    assert_eq!(session("ahn").await?, None);
    Ok(())
}

async fn tokens_are_listed_with_their_uses_and_last_use(b: Backend) -> Result<()> {
    let store = b.open().await;
    store
        .create_token("h-api", token(TokenKind::Api, "ci", 0, None))
        .await?;
    store
        .create_token(
            "h-enrol",
            token(TokenKind::Enrol, "node-1", 3, Some(T0 + 5)),
        )
        .await?;
    store
        .create_token(
            "h-session",
            token(TokenKind::Session, "kim", 0, Some(T0 + 5)),
        )
        .await?;
    let listed = store.list_tokens().await?;
    assert_eq!(
        listed
            .iter()
            .map(|t| (t.hash.as_str(), t.kind, t.name.as_str(), t.max_uses, t.uses))
            .collect::<Vec<_>>(),
        [
            ("h-api", TokenKind::Api, "ci", 0, 0),
            ("h-enrol", TokenKind::Enrol, "node-1", 3, 0)
        ],
        "API and enrolment tokens, oldest first; sessions are not listed"
    );
    assert!(listed.iter().all(|t| t.last_used_ms.is_none()));
    assert_eq!(listed[1].expires_at_ms, Some(T0 + 5));
    let created = listed[0].created_ms;
    assert!((created - gamsa_collector::clock::now_ms()).abs() < 60_000);

    // An API token's use is recorded in the background, once a minute.
    let now = gamsa_collector::clock::now_ms();
    for _ in 0..3 {
        assert!(store
            .use_token("h-api", TokenKind::Api, now)
            .await?
            .is_some());
    }
    let other = b.open().await;
    let mut last = None;
    for _ in 0..100 {
        last = uses(other.as_ref(), "h-api").await?.1;
        if last.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(last, Some(now));
    store.use_token("h-api", TokenKind::Api, now + 1000).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        uses(other.as_ref(), "h-api").await?.1,
        Some(now),
        "within the minute"
    );

    other.delete_token("h-api").await?;
    assert_eq!(store.use_token("h-api", TokenKind::Api, now).await?, None);
    assert_eq!(store.list_tokens().await?.len(), 1);
    Ok(())
}

async fn reinstated_agents_accept_no_earlier_certificate(b: Backend) -> Result<()> {
    let store = b.open().await;
    // Agents registered before certificates were recorded take any.
    store.upsert_agent(agent("old", T0)).await?;
    assert!(!store.certificate_refused("old", "any").await?);
    assert!(!store.certificate_refused("never-seen", "any").await?);
    // `ca issue` records the one certificate accepted.
    store.set_certificate("node-r", "c-1").await?;
    assert!(!store.certificate_refused("node-r", "c-1").await?);
    assert!(store.certificate_refused("node-r", "c-0").await?);
    assert!(!store.reinstate_agent("node-r").await?, "not revoked");

    store.set_revoked("node-r", true).await?;
    assert!(store.certificate_refused("node-r", "c-1").await?);
    let other = b.open().await;
    assert!(other.reinstate_agent("node-r").await?);
    assert!(!store.is_revoked("node-r").await?);
    assert!(
        store.certificate_refused("node-r", "c-1").await?,
        "a revoked certificate stays refused"
    );
    assert!(store.certificate_refused("node-r", "").await?);
    store
        .create_token("h-r", token(TokenKind::Enrol, "node-r", 1, None))
        .await?;
    assert_eq!(
        store.enrol(claim("h-r", "node-r", "node-r", "c-2")).await?,
        Enrolled::Enrolled
    );
    assert!(!other.certificate_refused("node-r", "c-2").await?);
    assert!(other.certificate_refused("node-r", "c-1").await?);
    Ok(())
}

/// Whether the change counter, read through `store`, grew since `last`
/// (which it then becomes).
async fn moved(store: &dyn Store, last: &mut i64) -> Result<bool> {
    let now = store.change_counter().await?;
    assert!(now >= *last, "the change counter never goes back");
    let grew = now > *last;
    *last = now;
    Ok(grew)
}

async fn writes_that_can_change_a_verdict_move_the_change_counter(b: Backend) -> Result<()> {
    let store = b.open().await;
    // Another collector sharing the store sees every change the first makes.
    let other = b.open().await;
    let mut last = other.change_counter().await?;
    let mut check = async |what: &str, expected: bool| -> Result<()> {
        assert_eq!(moved(other.as_ref(), &mut last).await?, expected, "{what}");
        Ok(())
    };
    store.insert_batch(numbered(0..3)).await?;
    check("new evidence", true).await?;
    store.insert_batch(numbered(0..3)).await?;
    check("a replay stores nothing", false).await?;
    store.upsert_agent(agent("a1", T0)).await?;
    check("an agent registered", true).await?;
    store.touch_agent("a1", T0 + 1).await?;
    store
        .create_token("h-api", token(TokenKind::Api, "ci", 0, None))
        .await?;
    store
        .append_access(gamsa_collector::records::Access {
            at: "2025-11-13T00:00:00Z".into(),
            who: "kim".into(),
            role: "auditor".into(),
            action: "item-view".into(),
            what: "emr-s014/1.1".into(),
        })
        .await?;
    check(
        "last seen, tokens and the access log change no verdict",
        false,
    )
    .await?;
    store.set_revoked("a1", true).await?;
    check("revoked", true).await?;
    assert!(store.reinstate_agent("a1").await?);
    check("reinstated", true).await?;
    assert!(!store.reinstate_agent("a1").await?);
    check("reinstating an agent that is not revoked", false).await?;
    store
        .add_na_mark(NaMark {
            catalog: "emr-s014".into(),
            item: "4.3".into(),
            justification: "국내 리전만 사용".into(),
            by: "lee".into(),
            at_ms: T0,
        })
        .await?;
    check("an NA mark", true).await?;
    store
        .add_attestation(attestation("1", b"%PDF", T0), Some(b"%PDF".to_vec()))
        .await?;
    check("an attestation", true).await?;
    store
        .create_token("h-enrol", token(TokenKind::Enrol, "", 1, None))
        .await?;
    assert_eq!(
        store.enrol(claim("h-none", "n1", "h-n1", "c")).await?,
        Enrolled::NoToken
    );
    check("a refused enrolment", false).await?;
    assert_eq!(
        store.enrol(claim("h-enrol", "n1", "h-n1", "c")).await?,
        Enrolled::Enrolled
    );
    check("an enrolment", true).await?;
    // Concurrent commits from both collectors: each one counted.
    let before = other.change_counter().await?;
    let writes = (0..8u32).map(|i| {
        let s = if i % 2 == 0 {
            store.clone()
        } else {
            other.clone()
        };
        async move { s.insert_batch(numbered(100 + i * 10..110 + i * 10)).await }
    });
    for outcome in futures::future::join_all(writes).await {
        assert_eq!(outcome?.accepted, 10);
    }
    let after = store.change_counter().await?;
    assert!(after > before, "{before} -> {after}");
    Ok(())
}

fn finding_key(host: &str, item: &str) -> FindingKey {
    FindingKey {
        host: host.into(),
        catalog: "kisa-unix".into(),
        item: item.into(),
        check: format!("rule-{item}"),
    }
}

fn finding(key: &FindingKey, first: i64, last: i64, fixed: Option<i64>) -> FindingRecord {
    FindingRecord {
        key: key.clone(),
        first_seen_ms: first,
        last_seen_ms: last,
        fixed_ms: fixed,
    }
}

async fn a_period_s_findings_are_counted_and_the_first_listed_by_time(b: Backend) -> Result<()> {
    let store = b.open().await;
    let [a, b1, c, d] = ["a", "b", "c", "d"].map(|h| finding_key(h, "U-01"));
    let steps = [
        (T0, vec![a.clone(), b1.clone(), c.clone()], vec![]),
        (
            T0 + 10,
            vec![b1.clone(), c.clone(), d.clone()],
            vec![a.clone()],
        ),
        (
            T0 + 20,
            vec![c.clone(), d.clone(), a.clone()],
            vec![b1.clone()],
        ),
        (T0 + 30, vec![d.clone(), a.clone()], vec![c.clone()]),
    ];
    for (at, failing, fixed) in steps {
        store.record_assessment(at, failing, fixed).await?;
    }
    let a1 = finding(&a, T0, T0, Some(T0 + 10));
    let a2 = finding(&a, T0 + 20, T0 + 30, None);
    let b_1 = finding(&b1, T0, T0 + 10, Some(T0 + 20));
    let d1 = finding(&d, T0 + 10, T0 + 30, None);
    let period = |from_ms, to_ms, hosts: &[&str], limit| PeriodQuery {
        from_ms,
        to_ms,
        hosts: hosts.iter().map(|h| h.to_string()).collect(),
        limit,
    };
    // c is out of scope, and fixed at the period's end: not in it. Listed
    // by time: d opened before a did.
    assert_eq!(
        store
            .findings_in(period(T0 + 10, T0 + 30, &["a", "b", "d"], 500))
            .await?,
        PeriodFindings {
            opened: 2,
            fixed: 2,
            first_opened: vec![d1.clone(), a2.clone()],
            first_fixed: vec![a1.clone(), b_1.clone()],
        }
    );
    // All are counted; only the first are listed.
    assert_eq!(
        store
            .findings_in(period(T0 + 10, T0 + 31, &["a", "b", "c", "d"], 1))
            .await?,
        PeriodFindings {
            opened: 2,
            fixed: 3,
            first_opened: vec![d1],
            first_fixed: vec![a1.clone()],
        }
    );
    // The period's start is in it; at one time, by key.
    assert_eq!(
        store
            .findings_in(period(T0, T0 + 10, &["b", "a", "d"], 500))
            .await?,
        PeriodFindings {
            opened: 2,
            fixed: 0,
            first_opened: vec![a1, b_1],
            first_fixed: vec![],
        }
    );
    assert_eq!(
        store.findings_in(period(T0, T0 + 40, &[], 500)).await?,
        PeriodFindings::default()
    );
    Ok(())
}

async fn a_finding_not_told_keeps_its_last_sighting_until_seen_again(b: Backend) -> Result<()> {
    let store = b.open().await;
    let (d, e) = (finding_key("d", "U-01"), finding_key("e", "U-01"));
    // (time, failing, fixed, then d's and e's records)
    type Step = (i64, Vec<FindingKey>, Vec<FindingKey>, [FindingRecord; 2]);
    let steps: [Step; 6] = [
        (
            T0,
            vec![d.clone(), e.clone()],
            vec![],
            [finding(&d, T0, T0, None), finding(&e, T0, T0, None)],
        ),
        // d not told: last seen at T0; e failing again.
        (
            T0 + 10,
            vec![e.clone()],
            vec![],
            [finding(&d, T0, T0, None), finding(&e, T0, T0 + 10, None)],
        ),
        // d seen failing again, e not told.
        (
            T0 + 20,
            vec![d.clone()],
            vec![],
            [
                finding(&d, T0, T0 + 20, None),
                finding(&e, T0, T0 + 10, None),
            ],
        ),
        // Neither told.
        (
            T0 + 30,
            vec![],
            vec![],
            [
                finding(&d, T0, T0 + 20, None),
                finding(&e, T0, T0 + 10, None),
            ],
        ),
        // Both failing.
        (
            T0 + 40,
            vec![d.clone(), e.clone()],
            vec![],
            [
                finding(&d, T0, T0 + 40, None),
                finding(&e, T0, T0 + 40, None),
            ],
        ),
        // d fixed after being seen at the last assessment; e failing.
        (
            T0 + 50,
            vec![e.clone()],
            vec![d.clone()],
            [
                finding(&d, T0, T0 + 40, Some(T0 + 50)),
                finding(&e, T0, T0 + 50, None),
            ],
        ),
    ];
    for (at, failing, fixed, want) in steps {
        store.record_assessment(at, failing, fixed).await?;
        assert_eq!(
            store.findings(FindingQuery::default()).await?,
            want,
            "after {}",
            at - T0
        );
    }
    Ok(())
}

async fn findings_history_opens_sees_fixes_and_reopens(b: Backend) -> Result<()> {
    let store = b.open().await;
    assert_eq!(store.assessment_times().await?, None);
    let (a, b1, c) = (
        finding_key("a", "U-01"),
        finding_key("b", "U-01"),
        finding_key("c", "U-02"),
    );
    let all = FindingQuery::default();
    // a and b fail (a named twice: once is recorded).
    store
        .record_assessment(T0, vec![a.clone(), b1.clone(), a.clone()], vec![])
        .await?;
    // a fails again; b is not told (its host went silent): left open.
    store
        .record_assessment(T0 + 10, vec![a.clone()], vec![])
        .await?;
    assert_eq!(
        store.findings(all.clone()).await?,
        [finding(&a, T0, T0 + 10, None), finding(&b1, T0, T0, None)]
    );
    let mut open_keys = store.open_findings().await?;
    open_keys.sort();
    assert_eq!(open_keys, [a.clone(), b1.clone()]);
    // a passes: fixed. c passes but was never open: nothing.
    store
        .record_assessment(T0 + 20, vec![], vec![a.clone(), c.clone()])
        .await?;
    // a comes back (a new record); b passes at last.
    store
        .record_assessment(T0 + 30, vec![a.clone()], vec![b1.clone()])
        .await?;
    let history = [
        finding(&a, T0, T0 + 10, Some(T0 + 20)),
        finding(&a, T0 + 30, T0 + 30, None),
        finding(&b1, T0, T0, Some(T0 + 30)),
    ];
    assert_eq!(store.findings(all.clone()).await?, history);
    assert_eq!(
        store.assessment_times().await?,
        Some(AssessmentTimes {
            first_ms: T0,
            previous_ms: Some(T0 + 20),
            last_ms: T0 + 30,
        })
    );
    // Open ones only; fixed since a time; one host; one catalog.
    let open = FindingQuery {
        fixed_since_ms: i64::MAX,
        ..Default::default()
    };
    assert_eq!(store.findings(open).await?, [history[1].clone()]);
    assert_eq!(store.open_findings().await?, std::slice::from_ref(&a));
    let since = FindingQuery {
        fixed_since_ms: T0 + 25,
        ..Default::default()
    };
    assert_eq!(store.findings(since).await?, history[1..]);
    let of_b = FindingQuery {
        host: Some("b".into()),
        ..Default::default()
    };
    assert_eq!(store.findings(of_b).await?, [history[2].clone()]);
    let other = FindingQuery {
        catalog: Some("isms-p".into()),
        ..Default::default()
    };
    assert!(store.findings(other).await?.is_empty());
    // Pages of findings: a's two records stay together on one page.
    let page = |offset, limit| FindingQuery {
        keys: Some(KeyPage { offset, limit }),
        ..Default::default()
    };
    assert_eq!(store.findings(page(0, 1)).await?, history[..2]);
    assert_eq!(store.findings(page(1, 1)).await?, history[2..]);
    assert_eq!(store.findings(page(0, 5)).await?, history);
    assert!(store.findings(page(2, 1)).await?.is_empty());
    // Only findings still open, with all their records, paged alike.
    let open_only = FindingQuery {
        open_only: true,
        ..Default::default()
    };
    assert_eq!(store.findings(open_only.clone()).await?, history[..2]);
    assert_eq!(
        store
            .findings(FindingQuery {
                keys: Some(KeyPage {
                    offset: 1,
                    limit: 1
                }),
                ..open_only.clone()
            })
            .await?,
        []
    );
    // Counted in the store: at T0+30 a is open again and b fixed; at T0+20
    // a was fixed and b open; at T0+5 both were open.
    let change = |new, recurring, fixed| ChangeTally {
        new,
        recurring,
        fixed,
    };
    let tally = |q: FindingQuery| store.finding_tally(q, T0 + 30, [T0 + 20, T0 + 5]);
    assert_eq!(
        tally(all.clone()).await?,
        FindingTally {
            findings: 2,
            open: 1,
            since: [change(1, 0, 1), change(0, 1, 1)],
        }
    );
    assert_eq!(
        tally(open_only).await?,
        FindingTally {
            findings: 1,
            open: 1,
            since: [change(1, 0, 0), change(0, 1, 0)],
        }
    );
    let of_b = FindingQuery {
        host: Some("b".into()),
        ..Default::default()
    };
    assert_eq!(
        tally(of_b).await?,
        FindingTally {
            findings: 1,
            open: 0,
            since: [change(0, 0, 1), change(0, 0, 1)],
        }
    );
    assert_eq!(
        tally(FindingQuery {
            catalog: Some("isms-p".into()),
            ..Default::default()
        })
        .await?,
        FindingTally::default()
    );
    // Another collector on the same data reads the same history.
    let replica = b.open().await;
    assert_eq!(replica.findings(all).await?, history);
    Ok(())
}

async fn maintenance_windows_added_found_by_overlap_and_deleted(b: Backend) -> Result<()> {
    let store = b.open().await;
    let window = |service: &str, start_ms: i64, end_ms: i64| MaintenanceWindow {
        id: 0,
        service: service.into(),
        start_ms,
        end_ms,
        reason: "커널 패치".into(),
        by: "cli:root".into(),
        created_ms: T0,
    };
    let a = store.add_maintenance(window("web", T0, T0 + 1000)).await?;
    let b2 = store
        .add_maintenance(window("", T0 + 5000, T0 + 9000))
        .await?;
    assert_ne!(a, b2);
    let all = store.maintenance(T0 - 1, T0 + 10_000).await?;
    assert_eq!(
        all,
        vec![
            MaintenanceWindow {
                id: a,
                ..window("web", T0, T0 + 1000)
            },
            MaintenanceWindow {
                id: b2,
                ..window("", T0 + 5000, T0 + 9000)
            },
        ]
    );
    // Overlap, not containment; [from, to) excludes a window ending at from.
    let ids = |w: Vec<MaintenanceWindow>| w.into_iter().map(|w| w.id).collect::<Vec<_>>();
    assert_eq!(ids(store.maintenance(T0 + 500, T0 + 600).await?), vec![a]);
    assert_eq!(
        ids(store.maintenance(T0 + 1000, T0 + 5000).await?),
        Vec::<i64>::new()
    );
    assert_eq!(ids(store.maintenance(T0 + 8999, i64::MAX).await?), vec![b2]);
    assert!(store.delete_maintenance(a).await?);
    assert!(!store.delete_maintenance(a).await?);
    assert_eq!(ids(store.maintenance(0, i64::MAX).await?), vec![b2]);
    // A second collector on the same data sees the same windows.
    assert_eq!(
        ids(b.open().await.maintenance(0, i64::MAX).await?),
        vec![b2]
    );
    Ok(())
}
/// An installed-software evidence of `host` as an idle agent re-sends it
/// every cycle: large, and the same each time unless `version` changes.
fn software(id: &str, host: &str, observed_ms: i64, version: &str) -> Evidence {
    use gamsa_proto::v1::{Package, Software};
    Evidence {
        probe: "software".into(),
        subject: String::new(),
        payload: Some(Payload::Software(Software {
            packages: (0..400)
                .map(|i| Package {
                    name: format!("package-{i}"),
                    version: if i == 7 {
                        version.into()
                    } else {
                        "1.0-1".into()
                    },
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })),
        ..ev(id, host, "software", "", observed_ms)
    }
}

/// `first` as one run seen again until `last_ms`, as the store reads it.
fn run_of(first: &Evidence, last_ms: i64) -> Evidence {
    Evidence {
        first_observed_at: first.observed_at,
        observed_at: Some(gamsa_proto::Timestamp::from_unix_millis(last_ms)),
        ..first.clone()
    }
}

async fn unchanged_evidence_seen_again_is_one_run(b: Backend) -> Result<()> {
    let store = b.open().await;
    let bodies = "SELECT count(*) FROM evidence_bodies";
    let minute = 60_000;
    // 100 observations of unchanged content, a minute apart, in batches of
    // 10: each is accepted, and all are one row and one body.
    let same: Vec<Evidence> = (0..100)
        .map(|i| software(&format!("s{i:03}"), "h1", T0 + i * minute, "2.0-1"))
        .collect();
    for chunk in same.chunks(10) {
        assert_eq!(store.insert_batch(chunk.to_vec()).await?, outcome(10, 0));
    }
    assert_eq!(store.count_evidence().await?, 1, "one run");
    assert_eq!(b.count(bodies).await?, 1);
    let run = run_of(&same[0], T0 + 99 * minute);
    assert_eq!(
        store.latest_evidence_of(&["h1"], &[]).await?,
        std::slice::from_ref(&run)
    );
    assert_eq!(
        store.latest_sizes("h1").await?[0].observed_ms,
        T0 + 99 * minute,
        "the latest is as fresh as the last observation"
    );
    // A replay, or an observation the run covers already, adds nothing.
    assert_eq!(store.insert_batch(same[..5].to_vec()).await?, outcome(0, 5));
    let within = software("s-within", "h1", T0 + 30 * minute + 5, "2.0-1");
    assert_eq!(store.insert_batch(vec![within]).await?, outcome(0, 1));
    assert_eq!(store.count_evidence().await?, 1);
    // The run is read by its first id; the others were seen again in it.
    assert_eq!(
        store
            .evidence_by_ids(vec!["s000".into(), "s050".into()])
            .await?,
        std::slice::from_ref(&run)
    );
    // Its stamp: the same id and times, and its content by hash, not read.
    let stamps = store
        .evidence_stamps(vec!["s050".into(), "s000".into()])
        .await?;
    assert_eq!(stamps.len(), 1, "{stamps:?}");
    let times = Evidence {
        id: run.id.clone(),
        observed_at: run.observed_at,
        first_observed_at: run.first_observed_at,
        ..Default::default()
    };
    assert_eq!(stamps[0].evidence, times);
    let content = Evidence {
        id: String::new(),
        observed_at: None,
        first_observed_at: None,
        ..run.clone()
    };
    use prost::Message;
    use sha2::Digest;
    assert_eq!(
        stamps[0].content_hash.as_deref(),
        Some(&sha2::Sha256::digest(content.encode_to_vec())[..])
    );
    // A change is a row; changing back is a new run (with the first body);
    // another host's identical list is its own content.
    let changed = software("s100", "h1", T0 + 100 * minute, "2.0-2");
    let back = software("s101", "h1", T0 + 101 * minute, "2.0-1");
    let other = software("o000", "h2", T0, "2.0-1");
    store
        .insert_batch(vec![changed.clone(), back.clone(), other.clone()])
        .await?;
    assert_eq!(store.count_evidence().await?, 4);
    assert_eq!(b.count(bodies).await?, 3);
    // Rows stay small: the body is not repeated in them.
    let row_bytes = b
        .count("SELECT CAST(max(length(body)) AS BIGINT) FROM evidence")
        .await?;
    assert!(
        row_bytes < 32,
        "an observation's own body: {row_bytes} bytes"
    );
    // What was observed at T is the run covering T.
    for (t, want) in [
        (T0 + 1, &run),
        (T0 + 42 * minute + 1, &run),
        (T0 + 100 * minute, &run),
        (T0 + 100 * minute + 1, &changed),
        (T0 + 200 * minute, &back),
    ] {
        let got = store
            .query_evidence(EvidenceQuery {
                host: Some("h1".into()),
                probe: Some("software".into()),
                until_ms: Some(t),
                limit: 1,
                ..Default::default()
            })
            .await?;
        assert_eq!(got, std::slice::from_ref(want), "observed before {t}");
    }
    for ((since, until), want) in [
        ((10, 13), vec!["s000"]),
        ((99, 100), vec!["s000"]),
        ((100, 101), vec!["s100"]),
        ((100, 102), vec!["s101", "s100"]),
    ] {
        let window = store
            .query_evidence(EvidenceQuery {
                host: Some("h1".into()),
                since_ms: Some(T0 + since * minute),
                until_ms: Some(T0 + until * minute),
                limit: 10,
                ..Default::default()
            })
            .await?;
        assert_eq!(ids(&window), want, "observed in [{since}, {until}) minutes");
    }
    // A run spans at most a day: the next observation starts another.
    let next_day = software("s102", "h1", T0 + 101 * minute + DAY_MS, "2.0-1");
    assert_eq!(
        store.insert_batch(vec![next_day.clone()]).await?,
        outcome(1, 0)
    );
    let mut latest = store.latest_evidence().await?;
    latest.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(latest, [other, next_day]);
    assert_eq!(store.count_evidence().await?, 5);
    // A run begun, seen again and replaced within one batch keeps its last
    // observation in its row; the run it replaced keeps its own.
    let (x1, x2) = (
        software("x1", "h3", T0, "1.0-1"),
        software("x2", "h3", T0 + minute, "1.0-1"),
    );
    store.insert_batch(vec![x1.clone()]).await?;
    let x3 = software("x3", "h3", T0 + 2 * minute, "1.0-1");
    let (y1, y2) = (
        software("y1", "h3", T0 + 3 * minute, "1.0-2"),
        software("y2", "h3", T0 + 4 * minute, "1.0-2"),
    );
    let z = software("z1", "h3", T0 + 5 * minute, "1.0-3");
    store
        .insert_batch(vec![x2, x3, y1.clone(), y2, z.clone()])
        .await?;
    assert_eq!(
        store
            .evidence_by_ids(vec!["x1".into(), "y1".into()])
            .await?,
        [run_of(&x1, T0 + 2 * minute), run_of(&y1, T0 + 4 * minute)]
    );
    assert_eq!(store.latest_evidence_of(&["h3"], &[]).await?, [z]);
    Ok(())
}

/// Thousands of ids (PostgreSQL reads them in several reads at once),
/// some unknown: each known one once, in the order asked for.
async fn reads_by_many_ids_answer_in_the_order_asked(b: Backend) -> Result<()> {
    let store = b.open().await;
    let all: Vec<Evidence> = (0..2_500)
        .map(|i| {
            distinct_ev(
                &format!("m{i:05}"),
                &format!("h{}", i % 50),
                "tls",
                "a:443",
                T0 + i,
            )
        })
        .collect();
    for chunk in all.chunks(500) {
        store.insert_batch(chunk.to_vec()).await?;
    }
    // Every third id, from the last back, with unknown ids among them.
    let mut asked = Vec::new();
    for i in (0..2_500).rev().step_by(3) {
        asked.push(format!("m{i:05}"));
        if i % 400 == 0 {
            asked.push(format!("unknown-{i}"));
        }
    }
    let known: Vec<String> = asked
        .iter()
        .filter(|id| id.starts_with('m'))
        .cloned()
        .collect();
    assert_eq!(ids(&store.evidence_by_ids(asked.clone()).await?), known);
    let stamps = store.evidence_stamps(asked).await?;
    assert_eq!(
        stamps
            .iter()
            .map(|s| s.evidence.id.clone())
            .collect::<Vec<_>>(),
        known
    );
    Ok(())
}

const DAY_MS: i64 = 24 * 3600 * 1000;

/// The id of `host`'s evidence of `day` days ago: ids in the order of time,
/// as UUIDv7 ids are.
fn day_id(host: &str, day: i64) -> String {
    format!("{:04}-{host}", 1000 - day)
}

async fn retention_prunes_old_evidence_but_the_latest_and_unused_bodies(b: Backend) -> Result<()> {
    let store = b.open().await;
    let now = T0 + 1000 * DAY_MS;
    let before = now - 365 * DAY_MS;
    let bodies = "SELECT count(*) FROM evidence_bodies";
    // In the order agents would send them: h1's software unchanged for two
    // years, last seen 400 days ago (a host gone quiet); h2's changing
    // once, 380 days ago, and seen daily since; h3's time_sync, old.
    let mut sent = Vec::new();
    for day in (2..=730).rev() {
        let at = now - day * DAY_MS;
        if day >= 400 {
            sent.push(software(&day_id("h1", day), "h1", at, "1"));
        }
        let version = if day > 380 { "old" } else { "new" };
        sent.push(software(&day_id("h2", day), "h2", at, version));
    }
    sent.push(ev(
        &day_id("h3", 500),
        "h3",
        "time_sync",
        "h3",
        now - 500 * DAY_MS,
    ));
    sent.sort_by_key(gamsa_collector::store::rows::observed_ms);
    for chunk in sent.chunks(50) {
        store.insert_batch(chunk.to_vec()).await?;
    }
    // Then recent evidence of h2, h3 and h4.
    let recent = vec![
        software(&day_id("h2", 1), "h2", now - DAY_MS, "new"),
        ev(&day_id("h3", 2), "h3", "time_sync", "h3", now - 2 * DAY_MS),
        ev(&day_id("h4", 1), "h4", "time_sync", "h4", now - DAY_MS),
    ];
    store.insert_batch(recent.clone()).await?;
    let total = store.count_evidence().await?;
    assert_eq!(b.count(bodies).await?, 5);

    // In steps of 7 rows looked at, as the retention task walks.
    let (mut after, mut removed, mut removed_bodies, mut steps) = (0, 0, 0, 0);
    loop {
        let step = store.prune_evidence(after, before, 7).await?;
        removed += step.evidence;
        removed_bodies += step.bodies;
        steps += 1;
        match step.next {
            Some(n) => after = n,
            None => break,
        }
    }
    assert!(steps > 10, "bounded steps: {steps}");
    let old_rows = sent
        .iter()
        .filter(|e| gamsa_collector::store::rows::observed_ms(e) < before)
        .count() as u64;
    // Every old row but h1's last (the latest of its key) is gone.
    assert_eq!(removed, old_rows - 1);
    assert_eq!(store.count_evidence().await?, total - removed);
    let h1 = store.latest_evidence_of(&["h1"], &[]).await?;
    assert_eq!(ids(&h1), [day_id("h1", 400)]);
    assert_eq!(
        h1[0],
        software(&day_id("h1", 400), "h1", now - 400 * DAY_MS, "1")
    );
    // h2's old version went with its last row; h3's old time_sync is the
    // content of its recent one too, and stays.
    assert_eq!(removed_bodies, 1);
    assert_eq!(b.count(bodies).await?, 4);
    let kept = store
        .query_evidence(EvidenceQuery {
            until_ms: Some(before),
            limit: 100,
            ..Default::default()
        })
        .await?;
    assert_eq!(
        ids(&kept),
        [day_id("h1", 400)],
        "nothing else older than the period"
    );
    let h2 = store
        .query_evidence(EvidenceQuery {
            host: Some("h2".into()),
            limit: 1000,
            ..Default::default()
        })
        .await?;
    assert_eq!(h2.first(), Some(&recent[0]));
    assert!(h2
        .iter()
        .all(|e| gamsa_collector::store::rows::observed_ms(e) >= before));
    assert_eq!(
        store.evidence_by_ids(ids(&recent)).await?,
        recent,
        "recent evidence read back whole"
    );
    // A second run finds nothing more; compaction gives the space back.
    let step = store.prune_evidence(0, before, 10_000).await?;
    assert_eq!((step.evidence, step.bodies, step.next), (0, 0, None));
    store.compact().await?;
    if let Backend::Sqlite(_) = b {
        assert_eq!(b.count("PRAGMA freelist_count").await?, 0);
        assert_eq!(b.count("PRAGMA auto_vacuum").await?, 2, "incremental");
    }
    // Ingest goes on, and reuses the bodies still stored.
    store
        .insert_batch(vec![software(&day_id("h2", 0), "h2", now, "new")])
        .await?;
    assert_eq!(b.count(bodies).await?, 4);
    Ok(())
}

async fn retention_prunes_sessions_tokens_and_leases(b: Backend) -> Result<()> {
    let store = b.open().await;
    let now = gamsa_collector::clock::now_ms();
    let hour = 3600 * 1000;
    let record = |kind, name: &str, max_uses, expires: i64| TokenRecord {
        kind,
        name: name.into(),
        role: if kind == TokenKind::Enrol {
            ""
        } else {
            "auditor"
        }
        .into(),
        expires_at_ms: Some(expires),
        max_uses,
    };
    store
        .create_token(
            "session-live",
            record(TokenKind::Session, "kim", 0, now + hour),
        )
        .await?;
    store
        .create_token(
            "session-old",
            record(TokenKind::Session, "kim", 0, now - hour),
        )
        .await?;
    // Enrolment tokens: expired long ago, expired lately, used up (just
    // now), live.
    store
        .create_token(
            "enrol-expired",
            record(TokenKind::Enrol, "", 1, now - 40 * DAY_MS),
        )
        .await?;
    store
        .create_token("enrol-lately", record(TokenKind::Enrol, "", 1, now - hour))
        .await?;
    store
        .create_token("enrol-used", record(TokenKind::Enrol, "", 1, now + DAY_MS))
        .await?;
    assert!(store
        .use_token("enrol-used", TokenKind::Enrol, now)
        .await?
        .is_some());
    store
        .create_token(
            "enrol-live",
            record(TokenKind::Enrol, "", 2, now + 100 * DAY_MS),
        )
        .await?;
    let ttl = Duration::from_secs(60);
    assert!(store.try_lease("snapshot:1", "c1", ttl, now - hour).await?);
    assert!(store.try_lease("findings", "c1", ttl, now).await?);

    let pruned = store.prune_records(now, now - 30 * DAY_MS).await?;
    assert_eq!(
        (pruned.sessions, pruned.enrolment_tokens, pruned.leases),
        (1, 1, 1)
    );
    let tokens: BTreeSet<String> = store
        .list_tokens()
        .await?
        .into_iter()
        .map(|t| t.hash)
        .collect();
    assert_eq!(
        tokens,
        ["enrol-lately", "enrol-used", "enrol-live"]
            .map(String::from)
            .into()
    );
    assert!(store
        .use_token("session-live", TokenKind::Session, now)
        .await?
        .is_some());
    // The held lease stays held; the expired one is free, as it was.
    assert!(!store.try_lease("findings", "c2", ttl, now).await?);
    assert!(store.try_lease("snapshot:1", "c2", ttl, now).await?);
    // Thirty days on, the used-up and lately expired tokens go too.
    let later = now + 31 * DAY_MS;
    let pruned = store.prune_records(later, later - 30 * DAY_MS).await?;
    assert_eq!(pruned.enrolment_tokens, 2);
    assert_eq!(
        store
            .list_tokens()
            .await?
            .into_iter()
            .map(|t| t.hash)
            .collect::<Vec<_>>(),
        ["enrol-live"]
    );
    Ok(())
}

async fn retention_runs_on_one_collector_at_a_time(b: Backend) -> Result<()> {
    use gamsa_collector::retention::{run_once, Lease, RetentionConfig};
    let (one, two) = (b.open().await, b.open().await);
    let now = gamsa_collector::clock::now_ms();
    // Three observations of one key two years ago, one of another key now.
    let old: Vec<Evidence> = (0..3)
        .map(|i| {
            distinct_ev(
                &format!("old-{i}"),
                "h1",
                "time_sync",
                "h1",
                now - 730 * DAY_MS + i,
            )
        })
        .collect();
    one.insert_batch(old).await?;
    one.insert_batch(vec![distinct_ev("new", "h2", "time_sync", "h2", now)])
        .await?;
    let lease = |holder: &str| Lease {
        holder: holder.into(),
        ttl: Duration::from_secs(600),
    };
    let (first, second) = (lease("collector-1"), lease("collector-2"));
    assert!(first.take(one.as_ref()).await);
    assert!(!second.take(two.as_ref()).await, "one pruner at a time");
    let config = RetentionConfig {
        batch: 1,
        ..Default::default()
    };
    // The collector without the lease prunes nothing ...
    let pruned = run_once(two.as_ref(), &config, now, Some(&second)).await?;
    assert_eq!(pruned.evidence, 0);
    assert_eq!(two.count_evidence().await?, 4);
    // ... the one holding it prunes, in steps of one row, renewing it.
    let pruned = run_once(one.as_ref(), &config, now, Some(&first)).await?;
    assert_eq!((pruned.evidence, pruned.bodies), (2, 2));
    assert_eq!(ids(&two.latest_evidence_of(&["h1"], &[]).await?), ["old-2"]);
    assert_eq!(two.count_evidence().await?, 2);
    Ok(())
}

/// A mark of the latest set taken after every write this test made, once
/// nothing changed since it: PostgreSQL marks by the oldest transaction
/// still running in the whole server (another test's, too), and gives the
/// rows that transaction's successors changed; once it ended, the changes
/// since a new mark are none.
async fn quiet_mark(store: &dyn Store) -> Result<LatestMark> {
    let started = std::time::Instant::now();
    loop {
        let mark = store.latest_mark().await?;
        let (changes, _) = store.latest_changes(mark).await?;
        if changes.is_empty() {
            return Ok(mark);
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "30 s on, the latest set still has changes since a new mark: {changes:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The latest set walked whole, as stamps by key: what `latest_changes`
/// must agree with.
async fn walked(store: &dyn Store) -> Result<std::collections::BTreeMap<LatestKey, LatestStamp>> {
    let mut all = std::collections::BTreeMap::new();
    let mut pages = LatestPages::new(100);
    while let Some(page) = pages.next(store).await? {
        all.extend(page.into_iter().map(|s| {
            let key = LatestKey::of(&s.evidence);
            (
                key.clone(),
                LatestStamp {
                    key,
                    stamp: s.stamp,
                },
            )
        }));
    }
    Ok(all)
}

/// The changes of the latest set since a mark: the rows a write made new or
/// saw again, in key order, each as a walk of the whole set reads it now;
/// never a row nothing changed, nor an observation older than the latest.
async fn the_latest_set_s_changes_since_a_mark(b: Backend) -> Result<()> {
    let store = b.open().await;
    let empty = store.latest_mark().await?;
    let first = vec![
        distinct_ev("a1", "h1", "tls", "a:443", T0),
        distinct_ev("b1", "h2", "tls", "b:443", T0),
        distinct_ev("d1", "h4", "tls", "d:443", T0),
    ];
    store.insert_batch(first).await?;
    let (changes, _) = store.latest_changes(empty).await?;
    let now = walked(store.as_ref()).await?;
    assert_eq!(changes, now.values().cloned().collect::<Vec<_>>());
    assert_eq!(
        changes
            .iter()
            .map(|c| c.stamp.evidence.id.as_str())
            .collect::<Vec<_>>(),
        ["a1", "b1", "d1"]
    );

    // b1 seen again (a run: the same row, later), a new content for h1, a
    // new key; h4 unchanged.
    let mark = quiet_mark(store.as_ref()).await?;
    store
        .insert_batch(vec![
            Evidence {
                id: "b1-again".into(),
                ..distinct_ev("b1", "h2", "tls", "b:443", T0 + 100)
            },
            distinct_ev("a2", "h1", "tls", "a:443", T0 + 200),
            distinct_ev("c1", "h3", "tls", "c:443", T0 + 300),
        ])
        .await?;
    let (changes, next) = store.latest_changes(mark).await?;
    let now = walked(store.as_ref()).await?;
    assert_eq!(
        changes
            .iter()
            .map(|c| c.stamp.evidence.id.as_str())
            .collect::<Vec<_>>(),
        ["a2", "b1", "c1"],
        "in key order, h4 left out"
    );
    for c in &changes {
        assert_eq!(Some(c), now.get(&c.key), "as the walk reads it");
        assert!(c.stamp.content_hash.is_some() && c.stamp.evidence.payload.is_none());
    }
    let b1 = &changes[1].stamp.evidence;
    assert_eq!(
        b1.observed_at.map(|t| t.unix_millis()),
        Some(T0 + 100),
        "seen again: its new last observation"
    );

    // The mark a reading returns: what is written after it is among the
    // changes since it.
    store
        .insert_batch(vec![distinct_ev("e1", "h5", "tls", "e:443", T0)])
        .await?;
    let (changes, _) = store.latest_changes(next).await?;
    assert!(
        changes.iter().any(|c| c.stamp.evidence.id == "e1"),
        "{changes:?}"
    );

    // An observation older than the latest (a late delivery from an
    // agent's spool) is stored but changes nothing in the latest set.
    let mark = quiet_mark(store.as_ref()).await?;
    let outcome = store
        .insert_batch(vec![distinct_ev("d0", "h4", "tls", "d:443", T0 - 1_000)])
        .await?;
    assert_eq!(outcome.accepted, 1);
    let (changes, _) = store.latest_changes(mark).await?;
    assert!(changes.is_empty(), "{changes:?}");
    Ok(())
}

//! The kept evaluation against a real SQLite store: it follows writes
//! (evidence, an NA mark, a revocation) and time (evidence ageing out of
//! its freshness window) by itself, with nothing asking it to evaluate;
//! each kept result says which store change it includes and as of when;
//! the reading it keeps, brought up to date by the store's changes, is the
//! latest set read whole, on SQLite and PostgreSQL. (Two collectors
//! sharing PostgreSQL: `tests/tests/ha.rs`.)

use gamsa_collector::checklists::{Checklists, Reading};
use gamsa_collector::evaluation::{Evaluation, Kept, VerdictsConfig};
use gamsa_collector::records::NaMark;
use gamsa_collector::snapshot::ahead::Ahead;
use gamsa_collector::snapshot::offline::{self, PublicKey};
use gamsa_collector::snapshot::{key, SnapshotConfig, Snapshots};
use gamsa_collector::store::{sqlite::SqliteStore, AgentRecord, Store};
use gamsa_collector::verdict::{HostResult, ItemResult, Outcome, Verdict};
use gamsa_proto::v1::{evidence::Payload, BackupArtifact, Evidence, Status, TimeSync};
use std::sync::Arc;
use std::time::{Duration, Instant};

const HOUR: i64 = 3_600_000;

fn now() -> i64 {
    gamsa_collector::clock::now_ms()
}

fn agent(name: &str) -> AgentRecord {
    AgentRecord {
        agent_id: name.into(),
        host: name.into(),
        first_seen_ms: now(),
        last_seen_ms: now(),
        ..Default::default()
    }
}

/// `payload` of `probe` on `host` about `subject`, observed at `observed_ms`.
fn observed(
    host: &str,
    probe: &str,
    subject: &str,
    observed_ms: i64,
    payload: Payload,
) -> Evidence {
    Evidence {
        id: format!("{host}-{probe}-{observed_ms}"),
        agent_id: host.into(),
        host: host.into(),
        observed_at: Some(gamsa_proto::Timestamp::from_unix_millis(observed_ms)),
        first_observed_at: None,
        probe: probe.into(),
        subject: subject.into(),
        status: Status::Observed as i32,
        error: String::new(),
        payload: Some(payload),
    }
}

/// A synchronised clock on `host`, observed at `observed_ms`.
fn synced(host: &str, observed_ms: i64) -> Evidence {
    let clock = TimeSync {
        synchronised: true,
        estimated_error_us: 1200,
        daemon: "chrony".into(),
        ..Default::default()
    };
    observed(
        host,
        "time_sync",
        host,
        observed_ms,
        Payload::TimeSync(clock),
    )
}

/// Writes db-2's clock out of sync now and waits for the evaluation that
/// fails it.
async fn unsync_db2(store: &dyn Store, kept: &Kept) -> Arc<Evaluation> {
    let mut changed = synced("db-2", now());
    if let Some(Payload::TimeSync(t)) = changed.payload.as_mut() {
        t.synchronised = false;
    }
    store.insert_batch(vec![changed]).await.unwrap();
    until(kept, "the change", |e| {
        outcome_of(e, "db-2") == Some(Outcome::Fail)
    })
    .await
}

/// cloud-notice 13.1.5 (its row 13.1.5-1 is the `time-sync` rule, fresh
/// for an hour).
fn item(e: &Evaluation) -> &ItemResult {
    e.items
        .iter()
        .find(|i| i.catalog == "cloud-notice" && i.id == "13.1.5")
        .expect("cloud-notice 13.1.5")
}

fn outcome_of(e: &Evaluation, host: &str) -> Option<Outcome> {
    item(e).rows[0]
        .hosts
        .iter()
        .find(|h| h.host == host)
        .map(|h| h.outcome)
}

/// Waits (at most 30 s) for a kept evaluation of which `what` holds.
async fn until(kept: &Kept, what: &str, f: impl Fn(&Evaluation) -> bool) -> Arc<Evaluation> {
    let start = Instant::now();
    loop {
        let e = kept.get().await.expect("a first evaluation");
        if f(&e) {
            return e;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what}: not seen in 30 s (kept: change {}, as of {})",
            e.counter,
            e.as_of()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A kept evaluation of a new SQLite store, polling every 100 ms; only
/// changes and ageing evidence bring a new evaluation (`refresh` is an hour).
/// Returns the store's directory (to hold), the store, the evaluation and
/// its stop.
fn start() -> (
    tempfile::TempDir,
    Arc<dyn Store>,
    Arc<Kept>,
    tokio::sync::watch::Sender<bool>,
) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("gamsa.db")).unwrap());
    let kept = Kept::new(VerdictsConfig {
        poll: Duration::from_millis(100),
        refresh: Duration::from_secs(3600),
        first_wait: Duration::from_secs(30),
    });
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let checklists = Arc::new(Checklists::load(&[]).unwrap());
    kept.spawn(checklists, store.clone(), stopped).unwrap();
    (dir, store, kept, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_verdicts_follow_writes_and_time_without_being_asked() {
    let (_dir, store, kept, stop) = start();
    let first = kept.get().await.unwrap();
    assert_eq!(outcome_of(&first, "web-1"), None, "no host yet");

    // New evidence: the verdict follows, and says which change it includes.
    store.upsert_agent(agent("web-1")).await.unwrap();
    store
        .insert_batch(vec![synced("web-1", now() - 60_000)])
        .await
        .unwrap();
    let counter = store.change_counter().await.unwrap();
    let e = until(&kept, "fresh evidence evaluated", |e| {
        outcome_of(e, "web-1") == Some(Outcome::Pass)
    })
    .await;
    assert!(e.counter >= counter && e.counter > first.counter);
    assert!(e.as_of_ms >= first.as_of_ms);
    assert_eq!(item(&e).rows[0].verdict, Verdict::P, "a partial row");
    assert!(!kept.pending(&e) || store.change_counter().await.unwrap() > e.counter);

    // An NA mark.
    store
        .add_na_mark(NaMark {
            catalog: "cloud-notice".into(),
            item: "13.1.5".into(),
            justification: "time is kept by the provider".into(),
            by: "lee".into(),
            at_ms: now(),
        })
        .await
        .unwrap();
    let e = until(&kept, "the NA mark", |e| item(e).verdict == Verdict::Na).await;
    assert!(item(&e).reason_en.contains("time is kept by the provider"));

    // A revocation: the agent's evidence stops counting.
    store.set_revoked("web-1", true).await.unwrap();
    until(&kept, "the revocation", |e| {
        outcome_of(e, "web-1").is_none()
    })
    .await;

    // Time alone: evidence fresh for four more seconds turns UNKNOWN once it
    // is older than the rule's hour, with no write in between.
    store.upsert_agent(agent("db-1")).await.unwrap();
    let observed = now() - HOUR + 4_000;
    store
        .insert_batch(vec![synced("db-1", observed)])
        .await
        .unwrap();
    let fresh = until(&kept, "evidence about to age", |e| {
        outcome_of(e, "db-1") == Some(Outcome::Pass)
    })
    .await;
    assert_eq!(fresh.next_change_ms, Some(observed + HOUR));
    let counter = store.change_counter().await.unwrap();
    let aged = until(&kept, "the evidence aged out", |e| {
        outcome_of(e, "db-1") == Some(Outcome::Unknown)
    })
    .await;
    assert_eq!(store.change_counter().await.unwrap(), counter, "no write");
    assert_eq!(aged.counter, counter);
    assert!(aged.as_of_ms >= observed + HOUR, "evaluated once it aged");
    let _ = stop.send(true);
}

/// An evidence seen again unchanged is not read again: the kept
/// evaluation takes it from its previous reading with its new times, so it
/// stays fresh; a change of content is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evidence_seen_again_is_not_read_again_and_stays_fresh() {
    let (_dir, store, kept, stop) = start();
    store.upsert_agent(agent("db-2")).await.unwrap();
    let first = now() - HOUR + 3_000;
    store
        .insert_batch(vec![synced("db-2", first)])
        .await
        .unwrap();
    let e = until(&kept, "the first observation", |e| {
        outcome_of(e, "db-2") == Some(Outcome::Pass)
    })
    .await;
    // Read whole (nothing read before), with the stamp a snapshot cites.
    let id = format!("db-2-time_sync-{first}");
    let stamp = |id: &str| {
        let (store, id) = (store.clone(), id.to_string());
        async move { store.evidence_stamps(vec![id]).await.unwrap().pop() }
    };
    assert_eq!(e.read.converted, 1, "{:?}", e.read);
    assert_eq!(e.stamps.get(&id).map(|s| &**s), stamp(&id).await.as_ref());
    assert!(e.stamps[&id].content_hash.is_some());
    let newest = |e: &Evaluation| e.probes.get("db-2").map(|p| p["time_sync"].newest_ms);

    // Seen again: the store extends the run; the evaluation reads no content.
    let again = now();
    store
        .insert_batch(vec![synced("db-2", again)])
        .await
        .unwrap();
    let e = until(&kept, "the observation seen again", |e| {
        newest(e) == Some(again)
    })
    .await;
    assert_eq!(e.read.converted, 0, "{:?}", e.read);
    assert_eq!(e.read.reused, 1, "{:?}", e.read);
    assert_eq!(
        e.stamps.get(&id).map(|s| &**s),
        stamp(&id).await.as_ref(),
        "its new times"
    );
    assert_eq!(
        *item(&e).evidence,
        std::slice::from_ref(&id),
        "the run's evidence"
    );
    // Ageing counts from the new time: no window ends within the hour the
    // first observation had left.
    let next = e.next_change_ms.expect("a window ends");
    assert!(next > first + HOUR && next > again, "next change at {next}");

    // Past the first observation's hour (a write brings an evaluation
    // then) it is still fresh.
    let past = first + HOUR + 200 - now();
    tokio::time::sleep(Duration::from_millis(past.max(0) as u64)).await;
    store.upsert_agent(agent("web-2")).await.unwrap();
    let e = until(&kept, "an evaluation past the first hour", |e| {
        e.as_of_ms > first + HOUR
    })
    .await;
    assert_eq!(outcome_of(&e, "db-2"), Some(Outcome::Pass));

    // A change is read and converted.
    let e = unsync_db2(store.as_ref(), &kept).await;
    assert_eq!(e.read.converted, 1, "{:?}", e.read);
    let _ = stop.send(true);
}

/// `host`'s result under `rule`, from the first row naming the rule.
fn result_of(e: &Evaluation, rule: &str, host: &str) -> Option<Arc<HostResult>> {
    e.items
        .iter()
        .flat_map(|i| i.rows.iter())
        .filter(|r| r.rule.as_deref() == Some(rule))
        .find_map(|r| r.hosts.iter().find(|h| h.host == host).cloned())
}

/// A backup of `host` last successful at `last_ok_ms`, observed at
/// `observed_ms`, due again a day after its last success.
fn backed_up(host: &str, observed_ms: i64, last_ok_ms: i64) -> Evidence {
    let backup = BackupArtifact {
        source: "pg-nightly".into(),
        kind: "files".into(),
        fresh: true,
        location: "NAS, Seoul".into(),
        country: "KR".into(),
        age_seconds: (observed_ms - last_ok_ms) / 1000,
        last_success_at: Some(gamsa_proto::Timestamp::from_unix_millis(last_ok_ms)),
        max_age_seconds: 86_400,
        ..Default::default()
    };
    let subject = "backup:pg-nightly";
    observed(
        host,
        "backup",
        subject,
        observed_ms,
        Payload::BackupArtifact(backup),
    )
}

/// A host whose evidence was only seen again keeps its results (the same
/// ones, not judged again) under the rules that do not read the time; a
/// rule that reads the time judges it in every evaluation, and its answer
/// moves with the time alone; a change of a host's evidence or labels
/// judges that host again, and only it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_results_are_judged_again_only_where_what_they_read_changed() {
    let (_dir, store, kept, stop) = start();
    for host in ["db-2", "web-2"] {
        store.upsert_agent(agent(host)).await.unwrap();
    }
    // db-2's backup is due again 4 s from now.
    let first = now() - 60_000;
    let due = now() + 4_000;
    store
        .insert_batch(vec![
            synced("db-2", first),
            synced("web-2", first),
            backed_up("db-2", first, due - 86_400_000),
        ])
        .await
        .unwrap();
    let backup = |e: &Evaluation| result_of(e, "backup-fresh", "db-2").map(|r| r.outcome);
    // One that read both agents (else a host's agent would change after).
    let written = store.change_counter().await.unwrap();
    let before = until(&kept, "the first observations", |e| {
        e.counter >= written
            && outcome_of(e, "db-2") == Some(Outcome::Pass)
            && outcome_of(e, "web-2") == Some(Outcome::Pass)
            && backup(e) == Some(Outcome::Pass)
    })
    .await;
    let newest = |e: &Evaluation, host: &str| e.probes.get(host).map(|p| p["time_sync"].newest_ms);
    let same = |a: &Evaluation, b: &Evaluation, rule: &str, host: &str| {
        let (a, b) = (result_of(a, rule, host), result_of(b, rule, host));
        Arc::ptr_eq(&a.expect("a result"), &b.expect("a result"))
    };

    // Seen again: `time-sync` does not read the time (its window does the
    // ageing), so both hosts keep their results.
    let again = now();
    store
        .insert_batch(vec![synced("db-2", again), synced("web-2", again)])
        .await
        .unwrap();
    let seen = until(&kept, "the observations seen again", |e| {
        newest(e, "db-2") == Some(again) && newest(e, "web-2") == Some(again)
    })
    .await;
    assert!(
        same(&before, &seen, "time-sync", "db-2"),
        "taken, not judged"
    );
    assert!(same(&before, &seen, "time-sync", "web-2"));
    assert_eq!(outcome_of(&seen, "db-2"), Some(Outcome::Pass));
    let counts = seen.host_results;
    assert!(counts.reused > 0 && counts.judged > 0, "{counts:?}");

    // Past the backup's due time, with no new backup evidence: `backup-fresh`
    // reads `now`, and its answer moves (a write to web-2 brings the
    // evaluation).
    tokio::time::sleep(Duration::from_millis((due - now()).max(0) as u64 + 200)).await;
    let later = now();
    store
        .insert_batch(vec![synced("web-2", later)])
        .await
        .unwrap();
    let overdue = until(&kept, "an evaluation past the due time", |e| {
        newest(e, "web-2") == Some(later)
    })
    .await;
    assert_eq!(
        backup(&overdue),
        Some(Outcome::Unknown),
        "overdue, nothing observed since"
    );
    assert!(same(&before, &overdue, "time-sync", "db-2"));

    // db-2's evidence changes: db-2 is judged again, web-2 is not.
    let after = unsync_db2(store.as_ref(), &kept).await;
    assert!(!same(&overdue, &after, "time-sync", "db-2"));
    assert!(same(&overdue, &after, "time-sync", "web-2"));

    // A label of web-2 (one that changes no zone or role): web-2 is
    // judged again, db-2 is not.
    let mut labelled = agent("web-2");
    labelled.labels.insert("team".into(), "payments".into());
    store.upsert_agent(labelled).await.unwrap();
    let counter = store.change_counter().await.unwrap();
    let relabelled = until(&kept, "the label", |e| e.counter >= counter).await;
    assert!(!same(&after, &relabelled, "time-sync", "web-2"));
    assert!(same(&after, &relabelled, "time-sync", "db-2"));
    assert_eq!(outcome_of(&relabelled, "web-2"), Some(Outcome::Pass));
    let _ = stop.send(true);
}

/// Before the first snapshot, the kept evaluation's host parts and evidence
/// contents are written ahead; the first snapshot then reads from the store
/// only the content that changed since, and verifies offline. Once a
/// snapshot exists, nothing more is written ahead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_snapshot_writes_only_what_changed_since_it_was_written_ahead() {
    let (dir, store, kept, stop) = start();
    for h in ["web-1", "db-2"] {
        store.upsert_agent(agent(h)).await.unwrap();
    }
    store
        .insert_batch(vec![
            synced("web-1", now() - 60_000),
            synced("db-2", now() - 60_000),
        ])
        .await
        .unwrap();
    until(&kept, "both hosts", |e| {
        outcome_of(e, "web-1") == Some(Outcome::Pass)
            && outcome_of(e, "db-2") == Some(Outcome::Pass)
    })
    .await;
    let data = dir.path().join("data");
    let snapshots = Snapshots::new(
        &data,
        SnapshotConfig::default(),
        "collector".into(),
        Arc::new(Checklists::load(&[]).unwrap()),
        store.clone(),
    )
    .with_kept(kept.clone());
    let wrote = |a: Ahead| match a {
        Ahead::Wrote {
            hosts,
            contents_read,
            ..
        } => (hosts, contents_read),
        other => panic!("not written ahead: {other:?}"),
    };
    assert_eq!(wrote(snapshots.write_ahead().await.unwrap()), (2, 2));
    assert_eq!(
        wrote(snapshots.write_ahead().await.unwrap()),
        (2, 0),
        "nothing changed: nothing read again"
    );

    unsync_db2(store.as_ref(), &kept).await;
    let created = snapshots.create("test").await.unwrap();
    assert_eq!(created.contents_read, 1, "db-2's new reading only");
    let key = PublicKey::read(&key::public_path(&data)).unwrap();
    let checked = offline::verify_file(&created.entry.path, &key, None, None).unwrap();
    assert_eq!((checked.parts.hosts, checked.parts.evidence), (2, 2));
    assert!(matches!(
        snapshots.write_ahead().await.unwrap(),
        Ahead::Taken
    ));
    let _ = stop.send(true);
}

/// A reading brought up to date by the latest set's changes is what a
/// whole reading gives: the same evidence, in the same order, with the same
/// times and values, and the same stamps. Only the changed rows are read,
/// and only new evidence is converted.
async fn a_kept_reading_equals_a_whole_one(store: Arc<dyn Store>, exact: bool) {
    let checklists = Checklists::load(&[]).unwrap();
    let t = now() - 60_000;
    let mut first: Vec<Evidence> = ["db-1", "db-2", "web-1", "web-2"]
        .iter()
        .map(|h| synced(h, t))
        .collect();
    first.push(backed_up("db-1", t, t - HOUR));
    store.insert_batch(first).await.unwrap();
    let reading = |earlier: Reading| {
        let (checklists, store) = (&checklists, store.clone());
        async move {
            checklists
                .read_latest_reusing(store.as_ref(), earlier)
                .await
                .unwrap()
        }
    };
    let (kept, whole) = reading(Reading::default()).await;
    assert_eq!((whole.changed, whole.converted, whole.reused), (5, 5, 0));

    // db-1's clock seen again; db-2's out of sync; a new host; the rest
    // unchanged.
    let mut unsynced = synced("db-2", t + 2_000);
    if let Some(Payload::TimeSync(c)) = unsynced.payload.as_mut() {
        c.synchronised = false;
    }
    store
        .insert_batch(vec![
            synced("db-1", t + 1_000),
            unsynced,
            synced("app-1", t),
        ])
        .await
        .unwrap();
    let (kept, read) = reading(kept).await;
    let (fresh, _) = reading(Reading::default()).await;
    // PostgreSQL also gives the rows of transactions that ran as the last
    // reading was marked (another test's, in the same server).
    if exact {
        assert_eq!(read.changed, 3, "{read:?}");
    }
    assert!((3..=6).contains(&read.changed), "{read:?}");
    assert_eq!((read.converted, read.reused), (2, 4), "{read:?}");
    let shown = |r: &Reading| {
        r.latest
            .iter()
            .map(|c| {
                let e = &c.evidence;
                (e.host.clone(), e.probe.clone(), e.id.clone(), c.observed_ms)
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(shown(&kept), shown(&fresh));
    assert_eq!(
        shown(&kept)
            .iter()
            .map(|s| s.0.as_str())
            .collect::<Vec<_>>(),
        ["app-1", "db-1", "db-1", "db-2", "web-1", "web-2"],
        "in key order"
    );
    for (k, f) in kept.latest.iter().zip(&fresh.latest) {
        assert_eq!(k.evidence, f.evidence);
        assert_eq!(k.value, f.value, "{}", k.evidence.id);
        assert_eq!(k.whole, f.whole);
    }
    assert_eq!(*kept.stamps, *fresh.stamps);
    assert_eq!(
        kept.stamps.len(),
        6,
        "the stamp of db-2's evidence before is gone"
    );
    let db1 = kept
        .latest
        .iter()
        .find(|c| c.evidence.probe == "time_sync" && c.evidence.host == "db-1");
    assert_eq!(db1.map(|c| c.observed_ms), Some(t + 1_000), "seen again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_reading_equals_a_whole_one_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("gamsa.db")).unwrap());
    a_kept_reading_equals_a_whole_one(store, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_reading_equals_a_whole_one_on_postgres() {
    let scratch = gamsa_tests::pg::Scratch::create("gamsa_kept");
    let location = gamsa_collector::store::Location::Postgres(scratch.url.clone());
    let store = gamsa_collector::store::open(&location).await.unwrap();
    a_kept_reading_equals_a_whole_one(store, false).await;
}

//! The domain operations the API, the dashboard and the command line all
//! call, run against a real SQLite store, the built-in catalogs and a real
//! snapshot directory: who may do what, what is checked, what is stored and
//! what the access log says afterwards.

use gamsa_collector::actor::{Actor, Role};
use gamsa_collector::checklists::Checklists;
use gamsa_collector::export::{ExportConfig, ExportError, Format, Hosts, Request, Source};
use gamsa_collector::operations::{self, NewAttestation, OpError, MAX_DOCUMENT};
use gamsa_collector::snapshot::Snapshots;
use gamsa_collector::store::{sqlite::SqliteStore, Store};
use sha2::Digest;
use std::sync::Arc;

struct Collector {
    dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    checklists: Arc<Checklists>,
    snapshots: Snapshots,
    export: ExportConfig,
    tallies: gamsa_collector::assessment::Tallies,
}

impl Collector {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&dir.path().join("gamsa.db")).unwrap());
        let checklists = Arc::new(Checklists::load(&[]).unwrap());
        let snapshots = Snapshots::new(
            dir.path(),
            Default::default(),
            "test collector".into(),
            checklists.clone(),
            store.clone(),
        );
        Collector {
            dir,
            store,
            checklists,
            snapshots,
            export: ExportConfig::default(),
            tallies: Default::default(),
        }
    }

    fn export_source(&self) -> Source<'_> {
        Source {
            checklists: &self.checklists,
            store: &self.store,
            kept: None,
            made: None,
            tallies: &self.tallies,
            data_dir: self.dir.path(),
            config: &self.export,
            collector_id: "test collector",
        }
    }

    /// (who, role, action, what) of every access record, oldest first.
    async fn accesses(&self) -> Vec<(String, String, String, String)> {
        let mut log: Vec<_> = self
            .store
            .access_log(100)
            .await
            .unwrap()
            .into_iter()
            .map(|a| (a.who, a.role, a.action, a.what))
            .collect();
        log.reverse();
        log
    }

    /// Signed snapshot files (the files they name are under `objects/`).
    fn snapshot_files(&self) -> usize {
        std::fs::read_dir(self.dir.path().join("snapshots"))
            .map(|d| {
                d.filter(|e| {
                    e.as_ref()
                        .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "json"))
                })
                .count()
            })
            .unwrap_or(0)
    }
}

fn user(name: &str, role: Role) -> Actor {
    Actor::User {
        name: name.into(),
        role,
    }
}

fn attestation(row: &str, verdict: &str) -> NewAttestation {
    NewAttestation {
        catalog: "emr-s014".into(),
        item: "1.2".into(),
        row: row.into(),
        verdict: verdict.into(),
        comment: "restore procedure v3".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn attestations_are_checked_once_for_every_front_end() {
    let c = Collector::new();
    let lee = user("lee", Role::Operator);
    let attest = |new: NewAttestation, actor: Actor| {
        let c = &c;
        async move { operations::attest(c.store.as_ref(), &c.checklists, &actor, new).await }
    };

    let kim = user("kim", Role::Auditor);
    let e = attest(attestation("1.2-2", "Y"), kim).await.unwrap_err();
    assert!(matches!(e, OpError::ReadOnly("auditor")), "{e:?}");
    assert_eq!(e.to_string(), "role auditor is read-only");

    let mut unknown = attestation("1.2-2", "Y");
    unknown.item = "99.9".into();
    let e = attest(unknown, lee.clone()).await.unwrap_err();
    assert_eq!(e.to_string(), "no item emr-s014/99.9");
    let e = attest(attestation("1.2-9", "Y"), lee.clone())
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "row: emr-s014/1.2 has no row 1.2-9");
    for verdict in ["UNKNOWN", "yes", ""] {
        let e = attest(attestation("1.2-2", verdict), lee.clone())
            .await
            .unwrap_err();
        assert!(matches!(e, OpError::Invalid(_)), "{verdict}: {e:?}");
    }
    let mut huge = attestation("1.2-2", "Y");
    huge.document = Some(("big.pdf".into(), vec![0; MAX_DOCUMENT + 1]));
    let e = attest(huge, lee.clone()).await.unwrap_err();
    assert!(matches!(e, OpError::TooLarge), "{e:?}");
    assert!(
        c.store.documents().await.unwrap().attestations.is_empty(),
        "nothing refused is stored"
    );

    // A document is kept under its own name, without the uploader's path,
    // and stored by its SHA-256.
    let body = b"1. stop the writer\n2. restore the dump\n".to_vec();
    let mut with_file = attestation("1.2-2", "Y");
    with_file.document = Some(("C:\\fakepath\\restore-procedure.txt".into(), body.clone()));
    let a = attest(with_file, lee.clone()).await.unwrap();
    assert_eq!(a.file_name, "restore-procedure.txt");
    assert_eq!(a.file_sha256.len(), 64);
    assert_eq!(a.by, "lee");
    assert_eq!(a.expires_ms, Some(a.at_ms + 365 * 86_400_000), "a year");
    assert_eq!(
        c.store.file(&a.file_sha256).await.unwrap(),
        Some(("restore-procedure.txt".to_string(), body))
    );
    // A file name without a file (an empty upload) names no file.
    let mut empty = attestation("1.3-1", "N");
    empty.item = "1.3".into();
    empty.document = Some(("network.pdf".into(), vec![]));
    empty.valid_days = Some(30);
    let a = attest(empty, user("park", Role::Admin)).await.unwrap();
    assert_eq!((a.file_name.as_str(), a.file_sha256.as_str()), ("", ""));
    assert_eq!(a.expires_ms, Some(a.at_ms + 30 * 86_400_000));

    let stored = c.store.documents().await.unwrap().attestations;
    assert_eq!(stored.len(), 2);
    let items = c
        .checklists
        .evaluate(c.store.as_ref(), &["emr-s014"], None)
        .await
        .unwrap();
    let row = |item: &str, id: &str| {
        let item = items.iter().find(|i| i.id == item).unwrap();
        item.rows.iter().find(|r| r.id == id).unwrap().verdict
    };
    assert_eq!(
        (row("1.3", "1.3-1").as_str(), row("1.2", "1.2-2").as_str()),
        ("N", "Y")
    );
}

#[tokio::test]
async fn na_marks_need_a_writer_an_item_and_a_justification() {
    let c = Collector::new();
    let mark = |actor: Actor, item: &'static str, why: &'static str| {
        let c = &c;
        async move {
            operations::mark_na(
                c.store.as_ref(),
                &c.checklists,
                &actor,
                "emr-s014",
                item,
                why,
            )
            .await
        }
    };
    let e = mark(user("kim", Role::Auditor), "8.1", "no data centre")
        .await
        .unwrap_err();
    assert!(matches!(e, OpError::ReadOnly(_)), "{e:?}");
    let lee = user("lee", Role::Operator);
    let e = mark(lee.clone(), "8.1", "  ").await.unwrap_err();
    assert_eq!(e.to_string(), "justification: required");
    let e = mark(lee.clone(), "99.9", "x").await.unwrap_err();
    assert!(matches!(e, OpError::NoItem { .. }), "{e:?}");
    assert!(c.store.documents().await.unwrap().na_marks.is_empty());

    let m = mark(lee, "8.1", "no data centre of our own").await.unwrap();
    assert_eq!((m.by.as_str(), m.item.as_str()), ("lee", "8.1"));
    assert_eq!(c.store.documents().await.unwrap().na_marks, [m]);
}

#[tokio::test]
async fn snapshots_are_taken_by_writers_and_every_download_is_recorded() {
    let c = Collector::new();
    let e = operations::create_snapshot(&c.snapshots, &user("kim", Role::Auditor))
        .await
        .unwrap_err();
    assert!(matches!(e, OpError::ReadOnly(_)), "{e:?}");
    assert_eq!(c.snapshot_files(), 0, "refused before anything is written");

    // A host, so that the snapshots name its part.
    use gamsa_proto::v1::{Evidence, Status};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    c.store
        .insert_batch(vec![Evidence {
            id: "0190f5e4-0000-7000-8000-0000000000aa".into(),
            agent_id: "web-1".into(),
            host: "web-1".into(),
            observed_at: Some(gamsa_proto::Timestamp::from_unix_millis(now)),
            probe: "time_sync".into(),
            subject: "web-1".into(),
            status: Status::Observed as i32,
            ..Default::default()
        }])
        .await
        .unwrap();
    let taken = operations::create_snapshot(&c.snapshots, &user("lee", Role::Operator))
        .await
        .unwrap();
    let cli = Actor::Cli {
        login: "root".into(),
    };
    operations::create_snapshot(&c.snapshots, &cli)
        .await
        .unwrap();
    assert_eq!(c.snapshot_files(), 2);

    let kim = user("kim", Role::Auditor);
    let out = operations::download_snapshot(&c.snapshots, &kim, "1", true, &[])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.file_name, format!("{}.tar", taken.entry.id));
    assert_eq!(out.content_type, "application/x-tar");
    // The signed file alone, and a file it names fetched by its hash.
    let signed = operations::download_snapshot(&c.snapshots, &kim, "1", false, &[])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(signed.file_name, format!("{}.json", taken.entry.id));
    let manifest: serde_json::Value =
        serde_json::from_slice(&signed.body.into_bytes().await.unwrap()).unwrap();
    let index = manifest["body"]["hostIndex"][0]["sha256"].as_str().unwrap();
    let object = operations::snapshot_object(&c.snapshots, index, &[])
        .await
        .unwrap()
        .unwrap();
    let bytes = object.body.into_bytes().await.unwrap();
    assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), index);
    for unknown in [&"0".repeat(64), "../../gamsa.db", ""] {
        assert!(
            operations::snapshot_object(&c.snapshots, unknown, &[])
                .await
                .unwrap()
                .is_none(),
            "{unknown:?}"
        );
    }
    assert!(
        operations::download_snapshot(&c.snapshots, &kim, "9", false, &[])
            .await
            .unwrap()
            .is_none(),
        "no such snapshot"
    );
    let e = operations::download_snapshot(&c.snapshots, &kim, "1", true, &["not-a-key".into()])
        .await
        .unwrap_err();
    assert!(
        matches!(e, OpError::Export(ExportError::BadRequest(_))),
        "{e:?}"
    );

    let log = c.accesses().await;
    let id = taken.entry.id;
    assert_eq!(
        log.iter()
            .map(|(who, role, action, _)| format!("{who} {role} {action}"))
            .collect::<Vec<_>>(),
        [
            "user:lee operator snapshot-create",
            "cli:root cli snapshot-create",
            "user:kim auditor snapshot-download",
            "user:kim auditor snapshot-download",
        ]
    );
    assert_eq!(log[2].3, id, "the download names the snapshot");
    assert_eq!(log[3].3, format!("{id} signed file"));
}

#[tokio::test]
async fn exports_are_for_everyone_and_recorded_before_they_are_handed_out() {
    let c = Collector::new();
    let kim = user("kim", Role::Auditor);
    let req = Request {
        catalog: "emr-s014".into(),
        form: Some("2B".into()),
        format: Format::Html,
        group: None,
        redact_ips: false,
        hosts: Hosts::All,
    };
    let (out, _) = operations::take_export(&c.export_source(), &kim, &req, &[])
        .await
        .unwrap();
    assert!(out.content_type.starts_with("text/html"));
    assert!(String::from_utf8(out.body.into_bytes().await.unwrap())
        .unwrap()
        .contains("양식"));

    let unknown = Request {
        catalog: "emr-s999".into(),
        ..req.clone()
    };
    let e = operations::take_export(&c.export_source(), &kim, &unknown, &[])
        .await
        .unwrap_err();
    assert!(
        matches!(e, OpError::Export(ExportError::BadRequest(_))),
        "{e:?}"
    );
    assert_eq!(
        c.accesses().await,
        [(
            "user:kim".to_string(),
            "auditor".to_string(),
            "export".to_string(),
            "emr-s014 form 2B html".to_string()
        )],
        "one export, recorded; the refused one is not"
    );
}

#[tokio::test]
async fn the_access_log_is_for_admins() {
    let c = Collector::new();
    for role in [Role::Auditor, Role::Operator] {
        let e = operations::read_access_log(c.store.as_ref(), &user("x", role), 10)
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("role {role}: the access log is for admins")
        );
    }
    operations::take_export(
        &c.export_source(),
        &user("kim", Role::Auditor),
        &Request {
            catalog: "emr-s014".into(),
            form: None,
            format: Format::Csv,
            group: None,
            redact_ips: false,
            hosts: Hosts::All,
        },
        &[],
    )
    .await
    .unwrap();
    let admin = user("park", Role::Admin);
    let log = operations::read_access_log(c.store.as_ref(), &admin, 10)
        .await
        .unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].what, "emr-s014 checklist csv");
    let cli = Actor::Cli {
        login: "root".into(),
    };
    assert_eq!(
        operations::read_access_log(c.store.as_ref(), &cli, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn credentials_are_for_admins_and_every_change_is_recorded() {
    use gamsa_collector::tokens::{self, NewToken};
    let c = Collector::new();
    let store = c.store.as_ref();
    let secret = tokens::create(
        store,
        NewToken::Api {
            name: "ci".into(),
            role: Role::Operator,
        },
        None,
    )
    .await
    .unwrap();
    tokens::create(
        store,
        NewToken::Enrol {
            agent: None,
            uses: 3,
        },
        None,
    )
    .await
    .unwrap();
    gamsa_collector::dashboard::auth::add_user(store, "kim", "admin", "correct horse battery")
        .await
        .unwrap();
    store.set_revoked("node-r", true).await.unwrap();

    for role in [Role::Auditor, Role::Operator] {
        let who = user("x", role);
        let refusals = [
            operations::list_tokens(store, &who).await.err(),
            operations::revoke_token(store, &who, "00000000")
                .await
                .err(),
            operations::list_users(store, &who).await.err(),
            operations::delete_user(store, &who, "kim").await.err(),
            operations::set_user_role(store, &who, "kim", Role::Auditor)
                .await
                .err(),
            operations::reinstate_agent(store, &who, "node-r", None)
                .await
                .err(),
        ];
        for e in refusals {
            assert!(matches!(e, Some(OpError::NotAdmin(_))), "{role}: {e:?}");
        }
    }
    assert!(c.accesses().await.is_empty(), "refusals change nothing");
    assert_eq!(store.get_user("kim").await.unwrap().unwrap().role, "admin");
    assert!(store.is_revoked("node-r").await.unwrap());

    let park = user("park", Role::Admin);
    let listed = operations::list_tokens(store, &park).await.unwrap();
    // Listed by creation time: both tokens may share a millisecond.
    let mut seen: Vec<_> = listed
        .iter()
        .map(|t| (t.kind, t.name.as_str(), t.uses_left, t.id.len()))
        .collect();
    seen.sort();
    assert_eq!(seen, [("api", "ci", None, 16), ("enrol", "", Some(3), 16)]);
    let json = serde_json::to_string(&listed).unwrap();
    assert!(
        !json.contains(&secret) && !json.contains(&secret[6..]),
        "{json}"
    );
    for (id, why) in [
        ("abc", "at least 8 hex digits"),
        ("zzzzzzzzzz", "at least 8 hex digits"),
    ] {
        let e = operations::revoke_token(store, &park, id)
            .await
            .unwrap_err();
        assert!(e.to_string().contains(why), "{e}");
    }
    let missing = if listed[0].id.starts_with('0') {
        "f"
    } else {
        "0"
    }
    .repeat(12);
    let e = operations::revoke_token(store, &park, &missing)
        .await
        .unwrap_err();
    assert!(matches!(e, OpError::NotFound(_)), "{e}");
    // The API token (the two may share a millisecond, and are then listed
    // in the order of their ids).
    let api = listed.iter().find(|t| t.kind == "api").unwrap();
    let revoked = operations::revoke_token(store, &park, &api.id[..10])
        .await
        .unwrap();
    // The API token's last use is recorded in the background: it may
    // land between the listing and the revocation.
    let without_use = |t: &operations::TokenView| operations::TokenView {
        last_used: None,
        ..t.clone()
    };
    assert_eq!(without_use(&revoked), without_use(api));
    assert_eq!(
        store
            .use_token(
                &tokens::hash(&secret),
                gamsa_collector::store::TokenKind::Api,
                0
            )
            .await
            .unwrap(),
        None,
        "a revoked token is refused"
    );

    let users = operations::list_users(store, &park).await.unwrap();
    assert_eq!(
        (users[0].name.as_str(), users[0].role.as_str()),
        ("kim", "admin")
    );
    operations::set_user_role(store, &park, "kim", Role::Auditor)
        .await
        .unwrap();
    assert_eq!(
        store.get_user("kim").await.unwrap().unwrap().role,
        "auditor"
    );
    let e = operations::delete_user(store, &park, "nobody")
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "no user \"nobody\"");
    operations::delete_user(store, &park, "kim").await.unwrap();
    assert_eq!(store.get_user("kim").await.unwrap(), None);

    // A name no certificate can carry is refused before anything changes.
    store.set_revoked("bad name!", true).await.unwrap();
    let e = operations::reinstate_agent(store, &park, "bad name!", None)
        .await
        .unwrap_err();
    assert!(matches!(e, OpError::Invalid(_)), "{e}");
    assert!(store.is_revoked("bad name!").await.unwrap());
    let e = operations::reinstate_agent(store, &park, "node-x", None)
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "agent \"node-x\" is not revoked");
    let enrol = operations::reinstate_agent(store, &park, "node-r", None)
        .await
        .unwrap();
    assert!(!store.is_revoked("node-r").await.unwrap());
    assert!(enrol.starts_with("gamsa-enrol_"));
    let bound = operations::list_tokens(store, &park).await.unwrap();
    assert_eq!(
        (bound[1].name.as_str(), bound[1].uses_left),
        ("node-r", Some(1)),
        "a one-use token bound to the reinstated name"
    );

    let who = |a: &(String, String, String, String)| (a.0.clone(), a.2.clone(), a.3.clone());
    let log: Vec<_> = c.accesses().await.iter().map(who).collect();
    let park = |action: &str, what: &str| ("user:park".to_string(), action.into(), what.into());
    assert_eq!(
        log,
        [
            park("token-list", "2 tokens"),
            park("token-revoke", &format!("api token {} \"ci\"", api.id)),
            park("user-list", "1 users"),
            park("user-role", "kim: auditor"),
            park("user-delete", "kim"),
            park("agent-reinstate", "node-r"),
            park("token-list", "2 tokens"),
        ]
    );
}

#[tokio::test]
async fn the_inventory_is_read_a_page_at_a_time_redacted_when_asked_and_recorded() {
    use gamsa_collector::inventory::Request;
    use gamsa_collector::store::AgentRecord;
    use gamsa_proto::v1::{evidence::Payload, Evidence, NetInterface, NetworkRedundancy, Status};
    let c = Collector::new();
    for host in ["db-1", "web-1", "app-1"] {
        c.store
            .upsert_agent(AgentRecord {
                agent_id: host.into(),
                host: host.into(),
                last_seen_ms: 1_000,
                ..Default::default()
            })
            .await
            .unwrap();
    }
    // db-1's interfaces: one address, observed at `at_ms`.
    let interfaces = |id: &str, at_ms: i64, address: &str| Evidence {
        id: id.into(),
        agent_id: "db-1".into(),
        host: "db-1".into(),
        observed_at: Some(gamsa_proto::Timestamp::from_unix_millis(at_ms)),
        probe: "redundancy".into(),
        subject: "db-1".into(),
        status: Status::Observed as i32,
        payload: Some(Payload::NetworkRedundancy(NetworkRedundancy {
            interfaces: vec![NetInterface {
                name: "eth0".into(),
                addresses: vec![address.into()],
                ..Default::default()
            }],
            ..Default::default()
        })),
        ..Default::default()
    };
    c.store
        .insert_batch(vec![interfaces(
            "0190f5e4-0000-7000-8000-000000000001",
            0,
            "10.0.0.5/24",
        )])
        .await
        .unwrap();
    let kim = user("kim", Role::Auditor);
    let seen = std::sync::Arc::new(gamsa_collector::inventory::Seen::default());
    let read = |page, redact_ips| {
        let request = Request {
            page,
            limit: 2,
            redact_ips,
        };
        let (store, dir, seen) = (c.store.clone(), c.dir.path().to_path_buf(), seen.clone());
        let kim = kim.clone();
        async move {
            operations::read_inventory(store.as_ref(), &seen, &kim, &request, &dir)
                .await
                .unwrap()
        }
    };
    let first = read(0, false).await;
    let names: Vec<&str> = first.hosts.iter().map(|h| h.host.as_str()).collect();
    assert_eq!(
        (names, first.total, first.next),
        (vec!["app-1", "db-1"], 3, Some(1))
    );
    assert_eq!(first.hosts[1].addresses, ["10.0.0.5/24"]);
    let last = read(1, false).await;
    assert_eq!((last.hosts.len(), last.next), (1, None));
    let redacted = read(0, true).await;
    let label = &redacted.hosts[1].addresses[0];
    assert!(
        label.starts_with("ip-") && label.ends_with("/24"),
        "{label}"
    );
    let recorded = [
        "page 0 (2 of 3 hosts)",
        "page 1 (1 of 3 hosts)",
        "page 0 (2 of 3 hosts) redacted",
    ]
    .map(|what| {
        (
            "user:kim".to_string(),
            "auditor".to_string(),
            "inventory-view".to_string(),
            what.to_string(),
        )
    });
    assert_eq!(c.accesses().await, recorded);

    // A change is a new evidence: the page shows it, not what it read before.
    c.store
        .insert_batch(vec![interfaces(
            "0190f5e4-0000-7000-8000-000000000002",
            1_000,
            "10.0.0.6/24",
        )])
        .await
        .unwrap();
    assert_eq!(read(0, false).await.hosts[1].addresses, ["10.0.0.6/24"]);
}

#[tokio::test]
async fn maintenance_windows_are_entered_by_admins_and_every_change_is_recorded() {
    let c = Collector::new();
    let window = || operations::NewMaintenance {
        service: "portal".into(),
        start: "2026-11-03T01:00:00+09:00".into(),
        end: "2026-11-03T03:00:00+09:00".into(),
        reason: "DB 버전 업그레이드".into(),
    };
    for role in [Role::Auditor, Role::Operator] {
        let e = operations::add_maintenance(c.store.as_ref(), &user("x", role), window())
            .await
            .unwrap_err();
        assert!(matches!(e, OpError::NotAdmin(_)), "{e}");
    }
    let admin = user("park", Role::Admin);
    let refused = [
        (
            operations::NewMaintenance {
                end: "2026-11-03T00:00:00+09:00".into(),
                ..window()
            },
            "end: must be after start",
        ),
        (
            operations::NewMaintenance {
                end: "2026-12-30T00:00:00+09:00".into(),
                ..window()
            },
            "end: a window lasts at most 31 days",
        ),
        (
            operations::NewMaintenance {
                start: "yesterday".into(),
                ..window()
            },
            "start: \"yesterday\" is not an RFC 3339 time",
        ),
        (
            operations::NewMaintenance {
                reason: "  ".into(),
                ..window()
            },
            "reason: say why",
        ),
    ];
    for (new, why) in refused {
        let e = operations::add_maintenance(c.store.as_ref(), &admin, new)
            .await
            .unwrap_err();
        assert!(e.to_string().starts_with(why), "{e} ≠ {why}");
    }
    let w = operations::add_maintenance(c.store.as_ref(), &admin, window())
        .await
        .unwrap();
    assert_eq!((w.service.as_str(), w.by.as_str()), ("portal", "user:park"));
    // Anyone reads them, by the month they overlap.
    let listed = operations::list_maintenance(c.store.as_ref(), Some("2026-11"))
        .await
        .unwrap();
    assert_eq!(listed, vec![w.clone()]);
    assert!(
        operations::list_maintenance(c.store.as_ref(), Some("2026-10"))
            .await
            .unwrap()
            .is_empty()
    );
    let e = operations::delete_maintenance(c.store.as_ref(), &user("kim", Role::Operator), w.id)
        .await
        .unwrap_err();
    assert!(matches!(e, OpError::NotAdmin(_)));
    operations::delete_maintenance(c.store.as_ref(), &admin, w.id)
        .await
        .unwrap();
    let e = operations::delete_maintenance(c.store.as_ref(), &admin, w.id)
        .await
        .unwrap_err();
    assert!(matches!(e, OpError::NotFound(_)), "{e}");
    let log = c.accesses().await;
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[0].2, "maintenance-add");
    assert!(
        log[0].3.contains("portal 2026-11-02T16:00:00+00:00"),
        "{log:?}"
    );
    assert_eq!(
        (log[1].2.as_str(), log[1].3.clone()),
        ("maintenance-delete", w.id.to_string())
    );
}

#[tokio::test]
async fn the_monthly_report_is_for_everyone_and_recorded_as_an_export() {
    let c = Collector::new();
    let config = gamsa_collector::availability::AvailabilityConfig::default();
    let out = operations::monthly_report(
        &c.export_source(),
        &config,
        &user("kim", Role::Auditor),
        "2026-11",
        "role=web",
        Format::Html,
    )
    .await
    .unwrap();
    assert_eq!(out.file_name, "gamsa-monthly-2026-11-role-web.html");
    assert!(String::from_utf8(out.body.into_bytes().await.unwrap())
        .unwrap()
        .contains("없음 (none)"));
    let e = operations::monthly_report(
        &c.export_source(),
        &config,
        &user("kim", Role::Auditor),
        "2026-11",
        "all",
        Format::Csv,
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("html or pdf"), "{e}");
    assert_eq!(
        c.accesses().await,
        vec![(
            "user:kim".into(),
            "auditor".into(),
            "export".into(),
            "monthly report 2026-11 role=web html".into()
        )]
    );
}

#[tokio::test]
async fn findings_read_without_a_page_are_bounded_and_pages_are_not() {
    use gamsa_collector::assessment::Filter;
    use gamsa_collector::operations::MAX_FINDINGS;
    use gamsa_collector::records::FindingKey;
    use gamsa_collector::store::KeyPage;
    let c = Collector::new();
    let key = |n: u32| FindingKey {
        host: format!("web-{n:06}"),
        catalog: "kisa-unix".into(),
        item: "U-16".into(),
        check: "kisa-u16-passwd-mode".into(),
    };
    let failing: Vec<_> = (0..=MAX_FINDINGS).map(key).collect();
    c.store
        .record_assessment(1_000, failing, vec![])
        .await
        .unwrap();
    let auditor = user("kim", Role::Auditor);
    let all = Filter::default();
    match operations::read_findings(c.store.as_ref(), &c.checklists, &c.tallies, &auditor, &all)
        .await
    {
        Err(OpError::Invalid(why)) => assert!(why.contains("more than 100000"), "{why}"),
        other => panic!("{:?}", other.map(|h| h.findings.len())),
    }
    let report =
        operations::findings_report(&c.export_source(), &auditor, &all, Format::Csv, &[]).await;
    assert!(matches!(report, Err(OpError::Invalid(_))));
    // Counted again by other tallies: refused the same.
    let tallies = gamsa_collector::assessment::Tallies::default();
    let kept = Source {
        tallies: &tallies,
        ..c.export_source()
    };
    let report = operations::findings_report(&kept, &auditor, &all, Format::Csv, &[]).await;
    assert!(matches!(report, Err(OpError::Invalid(_))));
    // One fixed: exactly the bound is read, by either tallies.
    c.store
        .record_assessment(2_000, (1..=MAX_FINDINGS).map(key).collect(), vec![key(0)])
        .await
        .unwrap();
    let open = Filter {
        open_only: true,
        ..Filter::default()
    };
    for src in [&kept, &c.export_source()] {
        let out = operations::findings_report(src, &auditor, &open, Format::Csv, &[])
            .await
            .unwrap();
        let lines = out
            .body
            .into_bytes()
            .await
            .unwrap()
            .split(|b| *b == b'\n')
            .count();
        assert!(lines > MAX_FINDINGS as usize, "{lines}");
    }
    // One host's findings, or a page of all of them, are read.
    let one = Filter {
        host: Some(key(7).host),
        ..Filter::default()
    };
    let h = operations::read_findings(c.store.as_ref(), &c.checklists, &c.tallies, &auditor, &one)
        .await
        .unwrap();
    assert_eq!(h.findings.len(), 1);
    let page = Filter {
        page: Some(KeyPage {
            offset: MAX_FINDINGS - 5,
            limit: 10,
        }),
        ..Filter::default()
    };
    let h = operations::read_findings(c.store.as_ref(), &c.checklists, &c.tallies, &auditor, &page)
        .await
        .unwrap();
    assert_eq!(h.findings.len(), 6);
    assert_eq!(h.findings[5].key, key(MAX_FINDINGS));
    assert_eq!(h.next_offset, None);
}

/// The snapshot list reads each file once: it shows what a file recorded
/// when first listed, new snapshots as they come, and none that is gone.
#[tokio::test]
async fn the_snapshot_list_reads_each_file_once_and_follows_the_directory() {
    let c = Collector::new();
    let lee = user("lee", Role::Operator);
    let first = operations::create_snapshot(&c.snapshots, &lee)
        .await
        .unwrap();
    let listed = c.snapshots.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].sha256, first.sha256);
    assert_eq!(listed[0].taken_by, "user:lee");
    let second = operations::create_snapshot(&c.snapshots, &lee)
        .await
        .unwrap();
    // Read once: after the first listing the file is not opened again for
    // the list (downloads and verification always read it).
    std::fs::write(&first.entry.path, b"{}").unwrap();
    let listed = c.snapshots.list().await.unwrap();
    let shown: Vec<(&str, &str)> = listed
        .iter()
        .map(|l| (l.id.as_str(), l.sha256.as_str()))
        .collect();
    assert_eq!(
        shown,
        [
            (second.entry.id.as_str(), second.sha256.as_str()),
            (first.entry.id.as_str(), first.sha256.as_str()),
        ]
    );
    // A file that is gone is no longer listed.
    std::fs::remove_file(&first.entry.path).unwrap();
    let listed = c.snapshots.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, second.entry.id);
}

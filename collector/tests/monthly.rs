//! The monthly operation report through the real command line on a real
//! SQLite store (`report monthly`, `maintenance add/list/delete`), and the
//! report made on schedule: written beside the snapshots and carried, by its
//! SHA-256, in a signed snapshot that verifies in the chain.

mod fixture;

use fixture::{now, DataDir, Host, DAY, MINUTE};
use gamsa_collector::availability::month_of;
use gamsa_collector::records::FindingKey;
use gamsa_collector::store::{AgentRecord, Store};
use gamsa_proto::v1::{evidence::Payload, *};
use sha2::{Digest, Sha256};

/// A configuration change of `path` on the host.
fn change(h: Host, path: &str) -> Host {
    let at = gamsa_proto::Timestamp::from_unix_millis(h.observed_ms);
    h.add(
        "config_drift",
        path,
        Payload::ConfigDrift(ConfigDrift {
            change: Some(ConfigChange {
                path: path.into(),
                kind: "modified".into(),
                detected_at: Some(at),
                ..Default::default()
            }),
            watch: None,
        }),
    )
}

/// Host metrics with `cpu` percent in use and half the memory.
fn usage(h: Host, cpu: f32) -> Host {
    let name = h.name.clone();
    h.add(
        "host",
        &name,
        Payload::HostInfo(HostInfo {
            hostname: name.clone(),
            cpu_usage_percent: cpu,
            memory_total_bytes: 8 << 30,
            memory_used_bytes: 4 << 30,
            disks: vec![DiskUsage {
                mount_point: "/".into(),
                total_bytes: 100,
                available_bytes: 25,
                ..Default::default()
            }],
            ..Default::default()
        }),
    )
}

/// A TLS endpoint whose certificate ends `days` from now.
fn certificate(h: Host, days: i64) -> Host {
    h.add(
        "tls",
        "10.0.0.5:8443",
        Payload::TlsEndpoint(TlsEndpoint {
            host: "10.0.0.5".into(),
            port: 8443,
            leaf: Some(Certificate {
                subject: "CN=portal.example.kr".into(),
                not_after: Some(gamsa_proto::Timestamp::from_unix_millis(now() + days * DAY)),
                days_remaining: days,
                ..Default::default()
            }),
            tls_offered: true,
            ..Default::default()
        }),
    )
}

async fn fleet(d: &DataDir) {
    // web-1: 20 host reports (CPU 1..20 %), two backup observations (one
    // fresh), a changed file, a certificate ending within days; db-1: in
    // another scope.
    let mut web = Host::new("web-1", "web");
    for i in 1..=20 {
        web = usage(web.ago(i * MINUTE), i as f32);
    }
    let web = web
        .ago(3 * MINUTE)
        .backup_source("nightly", Some(DAY / 2), DAY, "s3://kr", "", "KR")
        .ago(2 * MINUTE)
        .backup_source("nightly", None, DAY, "s3://kr", "", "KR");
    let web = certificate(change(web.ago(MINUTE), "/etc/nginx/nginx.conf"), 10);
    let db = change(
        usage(Host::new("db-1", "db"), 50.0),
        "/etc/postgresql/pg_hba.conf",
    );
    d.add(vec![web, db]).await;
    // An agent silent for an hour.
    d.with_store(|store| async move {
        store
            .upsert_agent(AgentRecord {
                agent_id: "old-1".into(),
                host: "old-1".into(),
                labels: [("role".to_string(), "web".to_string())].into(),
                last_seen_ms: now() - 60 * MINUTE,
                ..Default::default()
            })
            .await
            .unwrap();
        // Findings: web-1 fails two checks and one is fixed since; db-1,
        // in another scope, fails one.
        let key = |host: &str, item: &str| FindingKey {
            host: host.into(),
            catalog: "kisa-unix".into(),
            item: item.into(),
            check: format!("check-{item}"),
        };
        let (u1, u2, u3) = (
            key("web-1", "U-01"),
            key("web-1", "U-02"),
            key("db-1", "U-03"),
        );
        store
            .record_assessment(
                now() - 25 * MINUTE,
                vec![u1.clone(), u2.clone(), u3.clone()],
                vec![],
            )
            .await
            .unwrap();
        store
            .record_assessment(now() - 24 * MINUTE, vec![u1, u3], vec![u2])
            .await
            .unwrap();
    })
    .await;
}

#[tokio::test]
async fn the_monthly_report_of_a_scope_from_stored_evidence() {
    let d = DataDir::new();
    fleet(&d).await;
    let month = month_of(now() - 30 * MINUTE);
    let out = d.dir.path().join("web.html");
    d.cli_ok(&[
        "report",
        "monthly",
        "--month",
        &month,
        "--scope",
        "role=web",
        "--format",
        "html",
        "-o",
        out.to_str().unwrap(),
    ]);
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.contains(&format!(
        "월간 운영보고서 (monthly operation report) {month}"
    )));
    // p95 of CPU 1..20 is 19; memory half; disk 75 % full.
    for want in [
        "<td>web-1</td><td class=\"mark\">20</td><td class=\"mark\">19.0 %</td><td class=\"mark\">50.0 %</td><td class=\"mark\">75.0 %</td>",
        "<td>backup:nightly</td><td class=\"mark\">2</td><td class=\"mark\">1</td><td class=\"mark\">1</td><td class=\"mark\">50.0 %</td>",
        "/etc/nginx/nginx.conf",
        "CN=portal.example.kr",
        "old-1",
        "(findings: new 2, fixed 1)",
        "kisa-unix/U-01 (check-U-01)",
        "kisa-unix/U-02 (check-U-02)",
    ] {
        assert!(html.contains(want), "{want} in {html}");
    }
    assert!(!html.contains("db-1"), "another scope: {html}");
    assert!(!html.contains("pg_hba"), "another scope: {html}");
    assert!(!html.contains("U-03"), "another scope: {html}");

    let pdf = d.dir.path().join("all.pdf");
    d.cli_ok(&[
        "report",
        "monthly",
        "--month",
        &month,
        "--format",
        "pdf",
        "-o",
        pdf.to_str().unwrap(),
    ]);
    assert!(std::fs::read(&pdf).unwrap().starts_with(b"%PDF"));

    let bad = d.cli(&["report", "monthly", "--month", "2026-13"]);
    assert!(!bad.status.success());
    assert!(fixture::stderr(&bad).contains("2026-13"), "{bad:?}");
    let bad = d.cli(&["report", "monthly", "--month", &month, "--scope", "web"]);
    assert!(fixture::stderr(&bad).contains("scope \"web\""), "{bad:?}");
}

#[tokio::test]
async fn maintenance_windows_through_the_command_line() {
    let d = DataDir::new();
    let added = d.cli_ok(&[
        "maintenance",
        "add",
        "--service",
        "portal",
        "--start",
        "2026-11-03T01:00:00+09:00",
        "--end",
        "2026-11-03T03:00:00+09:00",
        "--reason",
        "DB 버전 업그레이드",
    ]);
    assert!(
        added.contains("2026-11-02T16:00:00+00:00 - 2026-11-02T18:00:00+00:00"),
        "{added}"
    );
    let list = d.cli_ok(&["maintenance", "list", "--month", "2026-11"]);
    assert!(
        list.contains("portal") && list.contains("DB 버전 업그레이드"),
        "{list}"
    );
    assert!(list.contains("cli:"), "who entered it: {list}");
    assert!(!d
        .cli_ok(&["maintenance", "list", "--month", "2026-12"])
        .contains("portal"));
    let backwards = d.cli(&[
        "maintenance",
        "add",
        "--start",
        "2026-11-03T03:00:00Z",
        "--end",
        "2026-11-03T01:00:00Z",
        "--reason",
        "x",
    ]);
    assert!(fixture::stderr(&backwards).contains("end: must be after start"));
    let id = added.split_whitespace().nth(2).unwrap();
    d.cli_ok(&["maintenance", "delete", id]);
    assert!(!d
        .cli_ok(&["maintenance", "list", "--month", "2026-11"])
        .contains("portal"));
    let missing = d.cli(&["maintenance", "delete", id]);
    assert!(fixture::stderr(&missing).contains(&format!("no maintenance window {id}")));
}

#[tokio::test]
async fn a_scheduled_report_is_carried_by_a_signed_snapshot() {
    let d = DataDir::new();
    fleet(&d).await;
    let month = month_of(now() - 30 * MINUTE);
    let config = gamsa_collector::config::Config {
        data_dir: d.data(),
        ..Default::default()
    };
    let state = gamsa_collector::server::open_state(&config).await.unwrap();
    let settings = gamsa_collector::snapshot::reports::Settings {
        reports: config.reports.clone(),
        export: config.export.clone(),
        availability: config.availability.clone(),
    };
    let created = gamsa_collector::snapshot::reports::make(&state.snapshots, &settings, &month)
        .await
        .unwrap();
    let snapshot: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&created.entry.path).unwrap()).unwrap();
    let reports = snapshot["body"]["reports"].as_array().unwrap();
    assert_eq!(reports.len(), 2, "html and pdf: {reports:?}");
    for r in reports {
        let file = d
            .snapshots()
            .join("reports")
            .join(r["fileName"].as_str().unwrap());
        let bytes = std::fs::read(&file).unwrap();
        assert_eq!(r["sha256"], hex::encode(Sha256::digest(&bytes)), "{file:?}");
        assert_eq!(
            (r["month"].as_str(), r["scope"].as_str()),
            (Some(month.as_str()), Some("all"))
        );
    }
    assert_eq!(snapshot["body"]["takenBy"], "schedule:monthly-report");
    // The chain verifies with the reports beside it; a second run for the
    // month refuses to rewrite them.
    let key = d.public_key();
    fixture::ok(&[
        "snapshot",
        "verify",
        created.entry.path.to_str().unwrap(),
        "--public-key",
        key.to_str().unwrap(),
        "--chain",
        d.snapshots().to_str().unwrap(),
    ]);
    let again = gamsa_collector::snapshot::reports::make(&state.snapshots, &settings, &month)
        .await
        .unwrap_err();
    assert!(
        format!("{again:#}").contains("never rewritten"),
        "{again:#}"
    );
}

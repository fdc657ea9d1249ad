//! Golden tests of checklist verdicts: crafted fleets of several hosts stored
//! in a real SQLite store, evaluated with the built-in catalogs and rules.
//! Each automated rule is driven to Y, P, N, NA and UNKNOWN where it can be.

use gamsa_collector::checklists::Checklists;
use gamsa_collector::records::Attestation;
use gamsa_collector::store::{sqlite::SqliteStore, AgentRecord, Store};
use gamsa_collector::verdict::{ItemResult, Outcome, Verdict};
use gamsa_proto::v1::{evidence::Payload, *};
use std::collections::BTreeMap;

const DAY: i64 = 86_400_000;

fn now() -> i64 {
    gamsa_collector::clock::now_ms()
}

/// One host's evidence, built fluently.
struct Host {
    name: String,
    evidence: Vec<Evidence>,
    observed_ms: i64,
}

impl Host {
    fn new(name: &str) -> Self {
        Host {
            name: name.into(),
            evidence: vec![],
            observed_ms: now() - 60_000,
        }
    }

    fn add(mut self, probe: &str, subject: &str, payload: Payload) -> Self {
        let n = self.evidence.len();
        self.evidence.push(Evidence {
            id: format!("{}-{probe}-{n}-{}", self.name, self.observed_ms),
            agent_id: self.name.clone(),
            host: self.name.clone(),
            observed_at: Some(gamsa_proto::Timestamp::from_unix_millis(self.observed_ms)),
            first_observed_at: None,
            probe: probe.into(),
            subject: subject.into(),
            status: Status::Observed as i32,
            error: String::new(),
            payload: Some(payload),
        });
        self
    }

    fn error(mut self, probe: &str, why: &str) -> Self {
        let n = self.evidence.len();
        self.evidence.push(Evidence {
            id: format!("{}-{probe}-err-{n}-{}", self.name, self.observed_ms),
            agent_id: self.name.clone(),
            host: self.name.clone(),
            observed_at: Some(gamsa_proto::Timestamp::from_unix_millis(self.observed_ms)),
            first_observed_at: None,
            probe: probe.into(),
            subject: self.name.clone(),
            status: Status::Error as i32,
            error: why.into(),
            payload: None,
        });
        self
    }

    fn region(self, region: &str, zone: &str, country: &str) -> Self {
        let name = self.name.clone();
        self.add(
            "region",
            &name,
            Payload::CloudRegion(CloudRegion {
                provider: "aws".into(),
                region: region.into(),
                zone: zone.into(),
                country: country.into(),
                source: "aws-imds".into(),
                instance_id: "i-0".into(),
            }),
        )
    }

    /// `n` physical uplinks, each carrying a default route (`n` lines).
    fn uplinks(self, n: usize) -> Self {
        let name = self.name.clone();
        self.add(
            "redundancy",
            &name,
            Payload::NetworkRedundancy(NetworkRedundancy {
                active_uplinks: (0..n)
                    .map(|i| NetInterface {
                        name: format!("eth{i}"),
                        ..Default::default()
                    })
                    .collect(),
                default_routes: (0..n)
                    .map(|i| Route {
                        family: "ipv4".into(),
                        gateway: format!("10.0.{i}.1"),
                        interface: format!("eth{i}"),
                        metric: 0,
                    })
                    .collect(),
                ..Default::default()
            }),
        )
    }

    /// A TCP connect scan of `address`.
    fn scan(self, address: &str) -> Self {
        self.add(
            "port_scan",
            address,
            Payload::PortScan(PortScan {
                target: address.into(),
                address: address.into(),
                open_ports: vec![22, 443],
                ..Default::default()
            }),
        )
    }

    fn backup(self, fresh: bool, location: &str, country: &str) -> Self {
        let observed = self.observed_ms;
        self.add(
            "backup",
            "backup:pg-nightly",
            Payload::BackupArtifact(BackupArtifact {
                source: "pg-nightly".into(),
                kind: "files".into(),
                fresh,
                location: location.into(),
                country: country.into(),
                age_seconds: if fresh { 3600 } else { 10 * 86400 },
                last_success_at: Some(gamsa_proto::Timestamp::from_unix_millis(
                    observed - if fresh { 3_600_000 } else { 10 * DAY },
                )),
                max_age_seconds: 86400,
                ..Default::default()
            }),
        )
    }

    fn disk(self, mount: &str, encrypted: bool) -> Self {
        self.add(
            "encryption",
            mount,
            Payload::DiskEncryption(DiskEncryption {
                mount_point: mount.into(),
                device: "/dev/nvme0n1p2".into(),
                fs_type: "ext4".into(),
                encrypted,
                scheme: if encrypted { "luks2" } else { "none" }.into(),
                ..Default::default()
            }),
        )
    }

    fn tls(self, port: u32, versions: &[TlsVersion], days: i64) -> Self {
        self.add(
            "tls",
            &format!("{}:{port}", "10.0.0.5"),
            Payload::TlsEndpoint(TlsEndpoint {
                host: "10.0.0.5".into(),
                port,
                accepted_versions: versions.iter().map(|v| *v as i32).collect(),
                leaf: Some(Certificate {
                    days_remaining: days,
                    ..Default::default()
                }),
                chain_trusted: true,
                hostname_matches: true,
                tls_offered: true,
                cipher_suites_complete: true,
                ..Default::default()
            }),
        )
    }

    fn listening(self, ports: &[(u32, &str)]) -> Self {
        let name = self.name.clone();
        self.add(
            "ports",
            &name,
            Payload::ListeningSockets(ListeningSockets {
                sockets: ports
                    .iter()
                    .map(|(p, exp)| ListeningSocket {
                        protocol: "tcp".into(),
                        address: "0.0.0.0".into(),
                        port: *p,
                        process: None,
                        exposure: exp.to_string(),
                    })
                    .collect(),
            }),
        )
    }
}

struct Fleet {
    _dir: tempfile::TempDir,
    store: SqliteStore,
    checklists: Checklists,
}

impl Fleet {
    async fn new(hosts: Vec<(Host, &str)>) -> Fleet {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("gamsa.db")).unwrap();
        let fleet = Fleet {
            _dir: dir,
            store,
            checklists: Checklists::load(&[]).unwrap(),
        };
        for (h, role) in hosts {
            fleet.add(h, role).await;
        }
        fleet
    }

    async fn add(&self, h: Host, role: &str) {
        self.store
            .upsert_agent(AgentRecord {
                agent_id: h.name.clone(),
                host: h.name.clone(),
                labels: BTreeMap::from([("role".to_string(), role.to_string())]),
                last_seen_ms: now(),
                ..Default::default()
            })
            .await
            .unwrap();
        self.store.insert_batch(h.evidence).await.unwrap();
    }

    async fn items(&self, catalog: &str, group: Option<&str>) -> Vec<ItemResult> {
        self.checklists
            .evaluate(&self.store, &[catalog], group)
            .await
            .unwrap()
    }

    async fn item(&self, path: &str) -> ItemResult {
        let (catalog, id) = path.split_once('/').unwrap();
        self.items(catalog, None)
            .await
            .into_iter()
            .find(|i| i.id == id)
            .unwrap()
    }

    async fn row(&self, path: &str, row: &str) -> gamsa_collector::verdict::RowResult {
        self.item(path)
            .await
            .rows
            .into_iter()
            .find(|r| r.id == row)
            .unwrap()
    }
}

fn seoul(name: &str, zone: &str) -> Host {
    Host::new(name).region("ap-northeast-2", zone, "KR")
}

#[tokio::test]
async fn domestic_location_turns_n_naming_the_host_that_moved_abroad() {
    let fleet = Fleet::new(vec![
        (seoul("web-1", "ap-northeast-2a"), "web"),
        (seoul("web-2", "ap-northeast-2c"), "web"),
        (
            seoul("db-1", "ap-northeast-2a").backup(true, "s3://emr-backup-kr", "KR"),
            "db",
        ),
    ])
    .await;
    // Every host is in Korea: the rule holds, but a region and a stated
    // backup country answer only part of "physically located in Korea".
    let item = fleet.item("emr-s014/4.3").await;
    assert_eq!(item.verdict, Verdict::P, "{}", item.reason_en);
    assert!(
        item.reason_en.contains("3/3 hosts pass"),
        "{}",
        item.reason_en
    );
    assert!(
        item.reason_en.contains("completed by"),
        "{}",
        item.reason_en
    );
    assert_eq!(item.rows[0].highest, Some(Verdict::P));
    assert!(!item.evidence.is_empty());

    // web-2 is redeployed in us-east-1: newer evidence replaces the old.
    let moved = Host {
        observed_ms: now(),
        ..Host::new("web-2")
    }
    .region("us-east-1", "us-east-1a", "US");
    fleet.add(moved, "web").await;
    let item = fleet.item("emr-s014/4.3").await;
    assert_eq!(item.verdict, Verdict::N);
    assert!(
        item.reason_en.contains("failing: web-2"),
        "{}",
        item.reason_en
    );
    assert!(
        item.reason_ko.contains("미충족: web-2"),
        "{}",
        item.reason_ko
    );
    let row = &item.rows[0];
    let web2 = row.hosts.iter().find(|h| h.host == "web-2").unwrap();
    assert!(
        web2.detail.iter().any(|d| d.contains("us-east-1 is in US")),
        "{:?}",
        web2.detail
    );
}

#[tokio::test]
async fn domestic_location_is_unknown_without_region_evidence_and_n_for_foreign_backups() {
    let fleet = Fleet::new(vec![(Host::new("web-1").uplinks(2), "web")]).await;
    assert_eq!(fleet.item("emr-s014/4.3").await.verdict, Verdict::Unknown);

    let fleet = Fleet::new(vec![
        (
            seoul("db-1", "ap-northeast-2a").backup(true, "s3://dr-tokyo", "JP"),
            "db",
        ),
        (seoul("web-1", "ap-northeast-2a"), "web"),
    ])
    .await;
    let item = fleet.item("emr-s014/4.3").await;
    assert_eq!(
        item.verdict,
        Verdict::N,
        "a backup abroad is a hard violation"
    );
    assert!(item.reason_en.contains("db-1"));

    // A backup whose location country is unknown cannot make the item Y.
    let fleet = Fleet::new(vec![(
        seoul("db-1", "ap-northeast-2a").backup(true, "nas-1", ""),
        "db",
    )])
    .await;
    assert_eq!(fleet.item("emr-s014/4.3").await.verdict, Verdict::Unknown);
}

#[tokio::test]
async fn network_redundancy_rows_reach_p_n_unknown_and_the_manual_row_stays_open() {
    let fleet = Fleet::new(vec![
        (seoul("web-1", "ap-northeast-2a").uplinks(2), "web"),
        (seoul("web-2", "ap-northeast-2c").uplinks(1), "web"),
        (seoul("db-1", "ap-northeast-2a").uplinks(2), "db"),
    ])
    .await;
    let item = fleet.item("emr-s014/2.1").await;
    let v = |id: &str| item.rows.iter().find(|r| r.id == id).unwrap().verdict;
    assert_eq!(v("2.1-1"), Verdict::P, "web-2 has one line");
    assert_eq!(v("2.1-2"), Verdict::P, "web spans two zones, db only one");
    assert!(
        item.rows[1].reason_en.contains("db-1"),
        "{}",
        item.rows[1].reason_en
    );
    let zones = |host: &str| {
        item.rows[1]
            .hosts
            .iter()
            .find(|h| h.host == host)
            .map(|h| h.outcome)
    };
    assert_eq!(zones("db-1"), Some(Outcome::Fail), "db-1 is the offender");
    assert_eq!(zones("web-2"), Some(Outcome::Pass));
    // No router-role host, and no expectation saying there is none.
    assert_eq!(v("2.1-3"), Verdict::Unknown, "no router hosts");
    assert!(
        item.rows[2].reason_en.contains("of = \"router\""),
        "{}",
        item.rows[2].reason_en
    );
    assert_eq!(
        v("2.1-4"),
        v("2.1-2"),
        "countermeasures: the zones rule, in part"
    );
    assert_eq!(item.verdict, Verdict::P);

    let all_single = Fleet::new(vec![
        (seoul("web-1", "ap-northeast-2a").uplinks(1), "web"),
        (seoul("web-2", "ap-northeast-2a").uplinks(1), "web"),
    ])
    .await;
    assert_eq!(
        all_single.row("emr-s014/2.1", "2.1-1").await.verdict,
        Verdict::N
    );
    assert_eq!(
        all_single.row("emr-s014/2.1", "2.1-2").await.verdict,
        Verdict::N
    );

    let good = Fleet::new(vec![
        (seoul("web-1", "ap-northeast-2a").uplinks(2), "web"),
        (seoul("web-2", "ap-northeast-2c").uplinks(2), "web"),
    ])
    .await;
    // Both rules hold, yet host uplinks and zones answer only part of the
    // rows (lines beyond the hosts, internal paths): P, naming what completes.
    for row in ["2.1-1", "2.1-2"] {
        let r = good.row("emr-s014/2.1", row).await;
        assert_eq!(r.verdict, Verdict::P, "{row}");
        assert!(r.reason_en.contains("completed by"), "{}", r.reason_en);
    }
}

#[tokio::test]
async fn stale_or_failed_evidence_never_counts_as_passed() {
    let stale = Host {
        observed_ms: now() - 30 * DAY,
        ..Host::new("web-1")
    }
    .region("ap-northeast-2", "ap-northeast-2a", "KR")
    .uplinks(2);
    let fleet = Fleet::new(vec![(stale, "web")]).await;
    let row = fleet.row("emr-s014/2.1", "2.1-1").await;
    assert_eq!(
        row.verdict,
        Verdict::Unknown,
        "30-day-old evidence is past the 7d window: {}",
        row.reason_en
    );

    // 30-day-old evidence is stale for a 7-day item and fresh for the
    // 365-day vulnerability rule, in one evaluation (which answers at
    // most P: a port scan is no vulnerability check).
    let scanned = Host {
        observed_ms: now() - 30 * DAY,
        ..Host::new("web-1")
    }
    .tls(443, &[TlsVersion::Tls13], 90)
    .scan("10.0.0.5");
    let fleet = Fleet::new(vec![(scanned, "web")]).await;
    let items = fleet.items("cloud-notice", None).await;
    let row = |item: &str| items.iter().find(|i| i.id == item).unwrap().rows[0].clone();
    assert_eq!(row("11.1.4").verdict, Verdict::Unknown, "7d window");
    assert_eq!(row("3.3.2").verdict, Verdict::P, "365d window");

    let failed = Fleet::new(vec![(
        seoul("web-1", "ap-northeast-2a")
            .error("redundancy", "permission denied: /proc/net/bonding"),
        "web",
    )])
    .await;
    let row = failed.row("emr-s014/2.1", "2.1-1").await;
    assert_eq!(row.verdict, Verdict::Unknown);
    assert!(
        row.hosts[0].reason.contains("could not check"),
        "{}",
        row.hosts[0].reason
    );
    assert!(row.hosts[0].reason.contains("permission denied"));
}

#[tokio::test]
async fn encryption_channels_time_and_ports() {
    use TlsVersion::*;
    let fleet = Fleet::new(vec![
        (
            Host::new("web-1")
                .disk("/", true)
                .disk("/var/lib/emr", true)
                .tls(443, &[Tls12, Tls13], 200)
                .listening(&[(22, "any"), (443, "any"), (5432, "loopback")]),
            "web",
        ),
        (
            Host::new("web-2")
                .disk("/", true)
                .disk("/data", false)
                .tls(443, &[Tls10, Tls12], 10)
                .listening(&[(22, "any"), (8080, "any")]),
            "web",
        ),
    ])
    .await;
    let enc = fleet.row("cloud-notice/12.3.1", "12.3.1-1").await;
    assert_eq!(enc.verdict, Verdict::P);
    let web2 = enc.hosts.iter().find(|h| h.host == "web-2").unwrap();
    assert_eq!(web2.detail, vec!["/data on /dev/nvme0n1p2 (none)"]);

    let tls = fleet.row("cloud-notice/11.1.4", "11.1.4-1").await;
    assert_eq!(tls.verdict, Verdict::P);
    let web2 = tls.hosts.iter().find(|h| h.host == "web-2").unwrap();
    assert!(
        web2.detail.iter().any(|d| d.contains("legacy protocol")),
        "{:?}",
        web2.detail
    );
    assert!(
        web2.detail.iter().any(|d| d.contains("expires in 10 days")),
        "{:?}",
        web2.detail
    );

    let ports = fleet.item("cloud-notice/11.1.2").await;
    assert_eq!(ports.verdict, Verdict::P);
    let web2 = ports.rows[0]
        .hosts
        .iter()
        .find(|h| h.host == "web-2")
        .unwrap();
    assert_eq!(web2.detail, vec!["tcp/8080 on 0.0.0.0"]);

    // No host offers TLS at all: the channel row cannot be answered.
    let none = Fleet::new(vec![(Host::new("web-1").disk("/", true), "web")]).await;
    assert_eq!(
        none.row("cloud-notice/11.1.4", "11.1.4-1").await.verdict,
        Verdict::Unknown
    );
}

#[tokio::test]
async fn groups_na_marks_and_attestations() {
    let fleet = Fleet::new(vec![(
        seoul("db-1", "ap-northeast-2a").backup(false, "s3://b", "KR"),
        "db",
    )])
    .await;
    // Group I-1 answers only 2.1, 2.2, 3.1, 4.3: backups (1.1) are NA there.
    let i1 = fleet.items("emr-s014", Some("I-1")).await;
    assert_eq!(
        i1.iter().find(|i| i.id == "1.1").unwrap().verdict,
        Verdict::Na
    );
    assert_eq!(
        i1.iter().find(|i| i.id == "4.3").unwrap().verdict,
        Verdict::P,
        "in Korea, as far as evidence answers"
    );
    let all = fleet.item("emr-s014/1.1").await;
    assert_eq!(
        all.verdict,
        Verdict::N,
        "the only backup is stale: {}",
        all.reason_en
    );

    fleet
        .store
        .add_na_mark(gamsa_collector::records::NaMark {
            catalog: "emr-s014".into(),
            item: "1.1".into(),
            justification: "no EMR data stored here".into(),
            by: "kim".into(),
            at_ms: now(),
        })
        .await
        .unwrap();
    let marked = fleet.item("emr-s014/1.1").await;
    assert_eq!(marked.verdict, Verdict::Na);
    assert!(marked.reason_en.contains("kim") && marked.reason_en.contains("no EMR data"));

    let before = fleet.row("emr-s014/1.2", "1.2-2").await;
    assert_eq!(before.verdict, Verdict::Unknown);
    fleet
        .store
        .add_attestation(
            Attestation {
                catalog: "emr-s014".into(),
                item: "1.2".into(),
                row: "1.2-2".into(),
                verdict: "Y".into(),
                comment: "restore drill record v3 reviewed".into(),
                file_name: "restore-drill.pdf".into(),
                file_sha256: "ab".into(),
                by: "lee".into(),
                at_ms: now(),
                expires_ms: Some(now() + DAY),
            },
            None,
        )
        .await
        .unwrap();
    let after = fleet.row("emr-s014/1.2", "1.2-2").await;
    assert_eq!(after.verdict, Verdict::Y);
    assert!(after.reason_en.contains("restore drill record v3"));
}

/// A host with one Tomcat installation of `version` and an SSL connector
/// on 8443, or with none.
fn tomcat_host(name: &str, version: Option<(&str, u64)>) -> Host {
    let instances = version
        .map(|(v, n)| TomcatInstance {
            base: "/srv/tomcat".into(),
            version: v.into(),
            version_number: n,
            branch: v.rsplit_once('.').unwrap().0.into(),
            connectors: vec![TomcatConnector {
                port: 8443,
                ssl_enabled: true,
                ..Default::default()
            }],
            ..Default::default()
        })
        .into_iter()
        .collect();
    Host::new(name).add(
        "tomcat",
        name,
        Payload::Tomcat(Tomcat {
            instances,
            notices: vec![],
        }),
    )
}

#[tokio::test]
async fn tomcat_sslv3_seen_by_the_tls_probe_old_branches_and_hosts_without_tomcat() {
    use TlsVersion::*;
    let fleet = Fleet::new(vec![(
        tomcat_host("was-1", Some(("10.1.60", 10_001_060))).tls(8443, &[Ssl3, Tls12], 200),
        "was",
    )])
    .await;
    // The configuration names no protocol; the TLS probe saw SSL 3.0 accepted.
    let sslv3 = fleet.row("tomcat/TOM-503", "TOM-503-1").await;
    assert_eq!(sslv3.verdict, Verdict::N);
    assert_eq!(sslv3.hosts[0].detail, ["10.0.0.5:8443: accepts SSL 3.0"]);
    assert_eq!(fleet.item("tomcat/TOM-502").await.verdict, Verdict::P);

    let old = Fleet::new(vec![(
        tomcat_host("was-2", Some(("8.5.100", 8_005_100))),
        "was",
    )])
    .await;
    let version = old.row("tomcat/TOM-502", "TOM-502-1").await;
    assert_eq!(version.verdict, Verdict::N);
    assert!(
        version.hosts[0].detail[0].ends_with("branch 8.5 is not supported"),
        "{:?}",
        version.hosts[0].detail
    );
    assert_eq!(old.item("tomcat/TOM-503").await.verdict, Verdict::Y);

    // No installation found: nothing was checked, so nothing passes.
    let none = Fleet::new(vec![(tomcat_host("web-1", None), "web")]).await;
    let manager = none.row("tomcat/TOM-101", "TOM-101-1").await;
    assert_eq!(manager.verdict, Verdict::Unknown);
    assert_eq!(manager.hosts[0].detail, ["no Tomcat installation found"]);
}

/// Each row's hosts come in name order, whatever order they reported in:
/// an export page finds its hosts by bisection over them, and its cut is
/// the cut by name.
#[tokio::test]
async fn row_hosts_are_in_name_order_and_a_page_cut_by_range_is_the_cut_by_name() {
    let names = ["web-3", "db-1", "web-10", "app-2", "web-1"];
    let fleet = Fleet::new(
        names
            .iter()
            .map(|n| (seoul(n, "ap-northeast-2a").uplinks(2), "web"))
            .collect(),
    )
    .await;
    let cuts = [
        (None, Some("app-2")),
        (Some("app-2"), Some("web-10")),
        (Some("db-1"), Some("db-1")),
        (Some("web-10"), Some("web-3")),
        (Some("web-3"), None),
        (None, None),
        (Some("web-3"), Some("app-2")),
    ];
    let mut shared = 0;
    for catalog in ["emr-s014", "cloud-notice", "nia-ops", "kisa-unix"] {
        for item in fleet.items(catalog, None).await {
            for row in &item.rows {
                let hosts: Vec<&str> = row.hosts.iter().map(|h| h.host.as_str()).collect();
                assert!(
                    hosts.is_sorted(),
                    "{catalog}/{} row {}: {hosts:?}",
                    item.id,
                    row.id
                );
                shared += usize::from(hosts.len() > 1);
            }
            for (after, last) in cuts {
                let by_range = item.of_host_range(after, last);
                let by_name =
                    item.of_hosts(|h| after.is_none_or(|a| h > a) && last.is_some_and(|l| h <= l));
                assert_eq!(
                    serde_json::to_value(&by_range).unwrap(),
                    serde_json::to_value(&by_name).unwrap(),
                    "{catalog}/{} after {after:?} up to {last:?}",
                    item.id
                );
            }
        }
    }
    assert!(shared > 10, "rows with more than one host: {shared}");
}

/// The fleet evaluated a range of hosts at a time (`by_hosts`), `per_range`
/// hosts to a range, gives what the whole evaluation gives: each item's and
/// row's verdict, reason and host counts, and each host's results, the
/// ranges' results in order being the whole evaluation's.
async fn by_hosts_is_whole(fleet: &Fleet, per_range: usize) -> usize {
    use gamsa_collector::by_hosts::ByHosts;
    use gamsa_collector::snapshot::contents::{item_summary, item_summary_counted};
    let whole = fleet
        .checklists
        .evaluate(&fleet.store, &[], None)
        .await
        .unwrap();
    let checklists = std::sync::Arc::new(Checklists::load(&[]).unwrap());
    let mut walk = ByHosts::start(checklists, &fleet.store, per_range)
        .await
        .unwrap()
        .unwrap();
    let mut ranges = vec![];
    while let Some(range) = walk.next(&fleet.store).await.unwrap() {
        assert_eq!(range.items.len(), whole.len());
        ranges.push(range.items);
    }
    let done = walk.finish().unwrap().unwrap();
    assert_eq!(done.items.len(), whole.len());
    let summary = |mut v: serde_json::Value| {
        v.as_object_mut().unwrap().remove("evaluatedAt");
        v
    };
    for (i, w) in whole.iter().enumerate() {
        let at = format!("{}/{} in ranges of {per_range}", w.catalog, w.id);
        assert_eq!(
            summary(item_summary_counted(&done.items[i], &done.host_counts[i]).unwrap()),
            summary(item_summary(w).unwrap()),
            "{at}"
        );
        for (r, row) in w.rows.iter().enumerate() {
            let by_range: Vec<_> = ranges
                .iter()
                .flat_map(|items| items[i].rows[r].hosts.iter().map(|h| (**h).clone()))
                .collect();
            let all: Vec<_> = row.hosts.iter().map(|h| (**h).clone()).collect();
            assert_eq!(by_range, all, "{at} row {}", row.id);
        }
    }
    ranges.len()
}

#[tokio::test]
async fn a_fleet_evaluated_by_ranges_of_hosts_answers_as_evaluated_whole() {
    use TlsVersion::*;
    let stale = Host {
        observed_ms: now() - 30 * DAY,
        ..Host::new("db-2")
    }
    .region("ap-northeast-2", "ap-northeast-2c", "KR")
    .uplinks(2);
    let fleet = Fleet::new(vec![
        (
            seoul("web-1", "ap-northeast-2a")
                .uplinks(2)
                .tls(443, &[Tls13], 90)
                .backup(true, "s3://backups", "KR")
                .disk("/", true)
                .listening(&[(443, "public")]),
            "web",
        ),
        (
            seoul("web-2", "ap-northeast-2c")
                .uplinks(1)
                .tls(443, &[Tls10, Tls12], 10)
                .disk("/", false),
            "web",
        ),
        (
            seoul("web-3", "ap-northeast-2a").error("redundancy", "permission denied"),
            "web",
        ),
        (
            seoul("db-1", "ap-northeast-2a")
                .uplinks(2)
                .backup(false, "s3://backups", "US"),
            "db",
        ),
        (stale, "db"),
        (
            tomcat_host("was-1", Some(("10.1.60", 10_001_060))).tls(8443, &[Ssl3, Tls12], 200),
            "was",
        ),
        (Host::new("app-9"), "app"),
        (seoul("old-1", "ap-northeast-2b").uplinks(2), "db"),
    ])
    .await;
    assert!(fleet.store.set_revoked("old-1", true).await.unwrap());
    // Ranges are cut by the hosts whose evidence counts: app-9 reports
    // none and old-1's agent is revoked.
    let reporting = 6;
    for per_range in [1, 2, 3, reporting, 100] {
        let ranges = by_hosts_is_whole(&fleet, per_range).await;
        assert_eq!(
            ranges,
            reporting.div_ceil(per_range),
            "ranges of {per_range}"
        );
    }

    // A host with no agent, and none of the evidence the fleet rules read,
    // counts in `fleet` only as its own evidence is read: the ranges do
    // not add up to the fleet rules' `fleet`, and the walk says so.
    let ghost = seoul("ghost-1", "ap-northeast-2a").disk("/", true);
    let evidence: Vec<Evidence> = ghost
        .evidence
        .into_iter()
        .filter(|e| e.probe == "encryption")
        .collect();
    fleet.store.insert_batch(evidence).await.unwrap();
    let checklists = std::sync::Arc::new(Checklists::load(&[]).unwrap());
    let mut walk = gamsa_collector::by_hosts::ByHosts::start(checklists, &fleet.store, 2)
        .await
        .unwrap()
        .unwrap();
    while walk.next(&fleet.store).await.unwrap().is_some() {}
    let why = walk.finish().unwrap().err().expect("the ranges differ");
    assert!(
        matches!(
            why,
            gamsa_collector::rules::hostwise::Whole::FleetDiffers { .. }
        ),
        "{why}"
    );
}

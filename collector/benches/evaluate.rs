//! Evaluating every catalog for a large fleet with a full evidence set.
//!
//! `cargo bench -p gamsa-collector --bench evaluate` (GAMSA_BENCH_HOSTS, default
//! 10000; GAMSA_BENCH_RUNS, default 5).
//! Reports the time to read the latest evidence from SQLite and the time to
//! evaluate all catalogs (input building + every rule on every host, and
//! freeing it all), best, median and worst of the runs.

use gamsa_collector::checklists::Checklists;
use gamsa_collector::records::Documents;
use gamsa_collector::rules::evaluate::{Evaluator, Judged};
use gamsa_collector::rules::input::HostFacts;
use gamsa_collector::store::{sqlite::SqliteStore, Store};
use gamsa_proto::v1::{evidence::Payload, *};
use std::collections::BTreeMap;
use std::time::Instant;

/// The collector binary's allocator, so that the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn ev(host: &str, probe: &str, subject: &str, n: usize, payload: Payload, now: i64) -> Evidence {
    Evidence {
        id: format!("{host}-{probe}-{n}"),
        agent_id: host.into(),
        host: host.into(),
        observed_at: Some(gamsa_proto::Timestamp::from_unix_millis(now - 60_000)),
        first_observed_at: None,
        probe: probe.into(),
        subject: subject.into(),
        status: Status::Observed as i32,
        error: String::new(),
        payload: Some(payload),
    }
}

fn host_evidence(i: usize, now: i64) -> Vec<Evidence> {
    let h = format!("node-{i:05}");
    let zone = ["ap-northeast-2a", "ap-northeast-2b", "ap-northeast-2c"][i % 3];
    let mut out = vec![
        ev(
            &h,
            "host",
            &h,
            0,
            Payload::HostInfo(HostInfo {
                cpu_count: 8,
                memory_total_bytes: 32 << 30,
                disks: vec![DiskUsage {
                    mount_point: "/".into(),
                    total_bytes: 1 << 40,
                    ..Default::default()
                }],
                ..Default::default()
            }),
            now,
        ),
        ev(
            &h,
            "ports",
            &h,
            1,
            Payload::ListeningSockets(ListeningSockets {
                sockets: [22u32, 443, 9100]
                    .iter()
                    .map(|p| ListeningSocket {
                        protocol: "tcp".into(),
                        address: "0.0.0.0".into(),
                        port: *p,
                        exposure: "any".into(),
                        process: None,
                    })
                    .collect(),
            }),
            now,
        ),
        ev(
            &h,
            "region",
            &h,
            2,
            Payload::CloudRegion(CloudRegion {
                provider: "aws".into(),
                region: "ap-northeast-2".into(),
                zone: zone.into(),
                country: "KR".into(),
                source: "aws-imds".into(),
                instance_id: format!("i-{i}"),
            }),
            now,
        ),
        ev(
            &h,
            "redundancy",
            &h,
            3,
            Payload::NetworkRedundancy(NetworkRedundancy {
                active_uplinks: vec![
                    NetInterface {
                        name: "eth0".into(),
                        ..Default::default()
                    },
                    NetInterface {
                        name: "eth1".into(),
                        ..Default::default()
                    },
                ],
                default_routes: ["eth0", "eth1"]
                    .iter()
                    .map(|nic| Route {
                        family: "ipv4".into(),
                        gateway: "10.0.0.1".into(),
                        interface: nic.to_string(),
                        metric: 100,
                    })
                    .collect(),
                zone: zone.into(),
                ..Default::default()
            }),
            now,
        ),
        ev(
            &h,
            "encryption",
            "/",
            4,
            Payload::DiskEncryption(DiskEncryption {
                mount_point: "/".into(),
                encrypted: true,
                scheme: "luks2".into(),
                ..Default::default()
            }),
            now,
        ),
        ev(
            &h,
            "encryption",
            "/data",
            5,
            Payload::DiskEncryption(DiskEncryption {
                mount_point: "/data".into(),
                encrypted: !i.is_multiple_of(10),
                scheme: "luks2".into(),
                ..Default::default()
            }),
            now,
        ),
        ev(
            &h,
            "tls",
            &format!("{h}:443"),
            6,
            Payload::TlsEndpoint(TlsEndpoint {
                port: 443,
                accepted_versions: vec![TlsVersion::Tls12 as i32, TlsVersion::Tls13 as i32],
                leaf: Some(Certificate {
                    days_remaining: 120,
                    ..Default::default()
                }),
                chain_trusted: true,
                hostname_matches: true,
                tls_offered: true,
                cipher_suites_complete: true,
                ..Default::default()
            }),
            now,
        ),
        ev(
            &h,
            "time_sync",
            &h,
            7,
            Payload::TimeSync(TimeSync {
                synchronised: true,
                daemon: "chrony".into(),
                ..Default::default()
            }),
            now,
        ),
        ev(
            &h,
            "port_scan",
            "10.0.0.0/24",
            8,
            Payload::PortScan(PortScan {
                target: "10.0.0.1".into(),
                address: "10.0.0.1".into(),
                open_ports: vec![22, 443],
                ..Default::default()
            }),
            now,
        ),
    ];
    if i.is_multiple_of(5) {
        out.push(ev(
            &h,
            "backup",
            "backup:pg",
            9,
            Payload::BackupArtifact(BackupArtifact {
                source: "pg".into(),
                fresh: true,
                last_success_at: Some(gamsa_proto::Timestamp::from_unix_millis(now - 3_600_000)),
                age_seconds: 3600,
                max_age_seconds: 93_600,
                location: "s3://kr-backup".into(),
                country: "KR".into(),
                ..Default::default()
            }),
            now,
        ));
    }
    out
}

fn main() {
    let hosts: usize = std::env::var("GAMSA_BENCH_HOSTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let now = gamsa_collector::clock::now_ms();
    let checklists = Checklists::load(&[]).unwrap();
    let known: BTreeMap<String, HostFacts> = (0..hosts)
        .map(|i| {
            (
                format!("node-{i:05}"),
                HostFacts {
                    agent_id: format!("node-{i:05}"),
                    labels: BTreeMap::from([("role".into(), ["web", "db", "lb"][i % 3].into())]),
                },
            )
        })
        .collect();
    let evidence: Vec<Evidence> = (0..hosts).flat_map(|i| host_evidence(i, now)).collect();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("gamsa.db")).unwrap();
    rt.block_on(async {
        for chunk in evidence.chunks(5000) {
            store.insert_batch(chunk.to_vec()).await.unwrap();
        }
    });
    let t = Instant::now();
    let latest = rt.block_on(store.latest_evidence()).unwrap();
    let read = t.elapsed();
    assert_eq!(latest.len(), evidence.len());

    let t = Instant::now();
    let keep = gamsa_collector::rules::input::kept_fields(checklists.rules.values());
    let converted =
        gamsa_collector::rules::input::convert(&latest, Some(&keep), &Default::default());
    let (inputs, _) =
        gamsa_collector::rules::input::build(&converted, now - 7 * 86_400_000, &known);
    println!(
        "build_inputs={:.3}s for {} hosts",
        t.elapsed().as_secs_f64(),
        inputs.len()
    );
    let documents = Documents::default();
    let runs: usize = std::env::var("GAMSA_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(5);
    // Every catalog on `converted`, with what an evaluation before judged:
    // the items and what this one judged.
    let evaluate_all = |converted: &[_], previous: &Judged| {
        let mut eval = Evaluator::new(
            &checklists.rules,
            &checklists.expectations,
            converted,
            &known,
            &documents,
            now,
            previous,
        );
        let items: usize = checklists
            .catalogs
            .iter()
            .map(|c| eval.catalog(c, None).len())
            .sum();
        (items, eval.into_judged())
    };
    let mut times = Vec::new();
    let mut items = 0;
    let mut judged = Judged::default();
    for _ in 0..runs {
        let t = Instant::now();
        let converted =
            gamsa_collector::rules::input::convert(&latest, Some(&keep), &Default::default());
        (items, judged) = evaluate_all(&converted, &Judged::default());
        drop(converted);
        times.push(t.elapsed().as_secs_f64());
    }
    // Again with what the last run judged, as the kept evaluation does when
    // every host's evidence was only seen again: the converted input is
    // kept too, so this is the rules' part alone.
    let converted =
        gamsa_collector::rules::input::convert(&latest, Some(&keep), &Default::default());
    let mut again = Vec::new();
    let mut reused = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let (_, next) = evaluate_all(&converted, &judged);
        reused = next.counts.reused;
        again.push(t.elapsed().as_secs_f64());
    }
    again.sort_by(f64::total_cmp);
    times.sort_by(f64::total_cmp);
    println!(
        "hosts={hosts} evidence={} catalogs={} items={items} read_latest={:.3}s evaluate_all: best={:.3}s median={:.3}s worst={:.3}s ({runs} runs)",
        latest.len(),
        checklists.catalogs.len(),
        read.as_secs_f64(),
        times[0],
        times[runs / 2],
        times[runs - 1],
    );
    println!(
        "evaluate_all again, host results of rules not reading the time taken from the previous run ({reused} of them): best={:.3}s median={:.3}s worst={:.3}s",
        again[0],
        again[runs / 2],
        again[runs - 1],
    );
}

//! Evidence integrity against the real collector process: a host's evidence
//! comes only from the agent bound to it, evidence the rest of the system
//! could not read is refused at ingest, and a revoked agent's evidence stops
//! counting. For every refusal: it is logged, nothing refused is stored, and
//! the auditor surface (evidence API, item API, NDJSON export, snapshots)
//! keeps answering. What the auditor surface hands out comes in bounded
//! pieces: evidence and exports a page at a time, snapshots a file at a time.

use gamsa_proto::v1::{
    agent_message, collector_message, evidence::Payload, AgentMessage, Batch, Certificate,
    CloudRegion, CollectorMessage, Evidence, Status, TlsEndpoint, TlsVersion,
};
use gamsa_tests::pg::Scratch;
use gamsa_tests::raw::{client, hello, open, unique_id, OpenStream};
use gamsa_tests::{agent_config, start_agent, wait_for, Collector, Settings};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

const ANSWER: Duration = Duration::from_secs(15);
const WAIT: Duration = Duration::from_secs(60);

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A TLS endpoint evidence of `agent` about its own host, observed now,
/// with a certificate of its own (never a run of unchanged evidence seen
/// again, which the store keeps as one).
fn tls(agent: &str) -> Evidence {
    let t = Some(gamsa_proto::Timestamp::from_unix_millis(now_ms()));
    let id = unique_id();
    Evidence {
        id: id.clone(),
        agent_id: agent.into(),
        host: agent.into(),
        observed_at: t,
        first_observed_at: None,
        probe: "tls".into(),
        subject: format!("{agent}:443"),
        status: Status::Observed as i32,
        error: String::new(),
        payload: Some(Payload::TlsEndpoint(TlsEndpoint {
            host: agent.into(),
            port: 443,
            accepted_versions: vec![TlsVersion::Tls13 as i32],
            tls_offered: true,
            leaf: Some(Certificate {
                subject: format!("CN={agent}"),
                not_before: t,
                not_after: t,
                sha256_fingerprint: id,
                ..Default::default()
            }),
            ..Default::default()
        })),
    }
}

fn batch(seq: u64, evidence: Vec<Evidence>) -> AgentMessage {
    AgentMessage {
        msg: Some(agent_message::Msg::Batch(Batch { seq, evidence })),
    }
}

fn tls_payload(ev: &mut Evidence) -> &mut TlsEndpoint {
    match ev.payload.as_mut() {
        Some(Payload::TlsEndpoint(t)) => t,
        _ => unreachable!("tls() makes a TLS endpoint"),
    }
}

/// An open stream for `agent` (certificate issued by `ca issue`), welcomed.
async fn stream(collector: &Collector, agent: &str) -> OpenStream {
    let creds = collector.issue(agent).unwrap();
    let c = client(collector, Some(&creds)).await.unwrap();
    let mut s = open(c, vec![hello(agent)]).await.unwrap();
    match s.next(ANSWER).await {
        Some(Ok(CollectorMessage {
            msg: Some(collector_message::Msg::Welcome(_)),
        })) => s,
        other => panic!("no welcome for {agent}: {other:?}"),
    }
}

/// Sends `msg` and waits for the ack of `seq`: (accepted, refused).
async fn acked(
    s: &mut OpenStream,
    msg: AgentMessage,
    seq: u64,
) -> Result<(u32, u32), tonic::Status> {
    let _ = s.tx.send(msg).await;
    loop {
        match s.next(ANSWER).await {
            Some(Ok(CollectorMessage {
                msg: Some(collector_message::Msg::Ack(a)),
            })) if a.seq == seq => return Ok((a.accepted, a.refused)),
            Some(Ok(_)) => continue,
            Some(Err(status)) => return Err(status),
            None => return Err(tonic::Status::aborted("stream ended without an ack")),
        }
    }
}

/// Ids of the evidence stored for `query` (e.g. `agent=node-a`).
fn stored(collector: &Collector, query: &str) -> Vec<String> {
    collector
        .evidence(query)
        .iter()
        .filter_map(|e| e["id"].as_str().map(str::to_string))
        .collect()
}

fn api(collector: &Collector, method: &str, path: &str) -> Result<(u16, String), String> {
    let url = format!("http://127.0.0.1:{}{path}", collector.http);
    let req =
        ureq::request(method, &url).set("Authorization", &format!("Bearer {}", collector.token));
    match req.call() {
        Ok(resp) => {
            let status = resp.status();
            Ok((status, resp.into_string().map_err(|e| e.to_string())?))
        }
        Err(ureq::Error::Status(code, resp)) => Ok((code, resp.into_string().unwrap_or_default())),
        Err(e) => Err(format!("{method} {path}: {e}")),
    }
}

/// Every reader of stored evidence answers 200: the evidence list, every
/// catalog's items and NDJSON export of cited evidence, an item that cites
/// TLS evidence, and a new snapshot.
fn surface_answers(collector: &Collector) {
    let mut paths = vec![
        ("GET", "/api/v1/evidence?limit=10000".to_string()),
        (
            "GET",
            "/api/v1/catalogs/cloud-notice/items/11.1.4".to_string(),
        ),
        ("POST", "/api/v1/snapshots".to_string()),
    ];
    for catalog in ["emr-s014", "cloud-notice", "isms-p"] {
        paths.push(("GET", format!("/api/v1/catalogs/{catalog}/items")));
        paths.push((
            "GET",
            format!("/api/v1/exports?catalog={catalog}&format=ndjson"),
        ));
    }
    for (method, path) in paths {
        match api(collector, method, &path) {
            Ok((200, _)) => {}
            Ok((code, body)) => panic!("{method} {path}: {code} {body}"),
            Err(e) => panic!("{e}\n{}", collector.log()),
        }
    }
}

/// Lines of the collector's log that contain every one of `words`.
fn log_lines(collector: &Collector, words: &[&str]) -> Vec<String> {
    collector
        .log()
        .lines()
        .filter(|l| words.iter().all(|w| l.contains(w)))
        .map(str::to_string)
        .collect()
}

fn refusals_metric(collector: &Collector, reason: &str) -> u64 {
    let text = ureq::get(&format!("http://127.0.0.1:{}/metrics", collector.http))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    let key = format!("gamsa_collector_refusals_total{{reason=\"{reason}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&key))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

// ---------------------------------------------------------------- host binding

/// Appends a static location to an agent config made by `agent_config`
/// (whose last section is `[probes.region]`).
fn located(cfg: &Path, region: &str, country: &str) {
    let mut text = std::fs::read_to_string(cfg).unwrap();
    text.push_str(&format!(
        "static = {{ provider = \"aws\", region = \"{region}\", zone = \"{region}a\", country = \"{country}\" }}\n"
    ));
    std::fs::write(cfg, text).unwrap();
}

/// Makes the agent config at `cfg` say it runs on `host`.
fn claim_host(cfg: &Path, agent: &str, host: &str) {
    let text = std::fs::read_to_string(cfg).unwrap().replace(
        &format!("host = \"{agent}\""),
        &format!("host = \"{host}\""),
    );
    std::fs::write(cfg, text).unwrap();
}

/// emr-s014/4.3 (systems in Korea): the item verdict and what it says of `host`.
fn domestic(collector: &Collector, host: &str) -> (String, Value) {
    let item = collector
        .get("/api/v1/catalogs/emr-s014/items/4.3")
        .unwrap_or_else(|e| panic!("{e:#}\n{}", collector.log()));
    let result = &item["result"];
    let of_host = result["rows"][0]["hosts"]
        .as_array()
        .and_then(|hosts| hosts.iter().find(|h| h["host"] == host).cloned())
        .unwrap_or(Value::Null);
    (
        result["verdict"].as_str().unwrap_or("").to_string(),
        of_host,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_claiming_another_host_is_refused_and_changes_nothing_of_its_verdicts() {
    let collector = Collector::start().unwrap();
    let dir = collector.dir.path();
    let victim_creds = collector.issue("victim").unwrap();
    let victim_cfg = agent_config(dir, "victim", &collector, &victim_creds, "").unwrap();
    located(&victim_cfg, "ap-northeast-2", "KR");
    let _victim = start_agent(&victim_cfg, dir.join("victim.log")).unwrap();
    wait_for("victim's region evidence", WAIT, || {
        (!collector.evidence("host=victim&probe=region").is_empty()).then_some(())
    });
    // Verdicts are kept and evaluated in the background: wait for the one
    // that includes the evidence.
    let before = wait_for("victim's verdict", WAIT, || {
        Some(domestic(&collector, "victim")).filter(|d| d.1["outcome"] == "PASS")
    });

    // Its certificate says "intruder"; its config says it is host "victim",
    // in the United States.
    let intruder_creds = collector.issue("intruder").unwrap();
    let intruder_cfg = agent_config(dir, "intruder", &collector, &intruder_creds, "").unwrap();
    claim_host(&intruder_cfg, "intruder", "victim");
    located(&intruder_cfg, "us-east-1", "US");
    let _intruder = start_agent(&intruder_cfg, dir.join("intruder.log")).unwrap();
    let refusal = wait_for("the intruder's refusal", WAIT, || {
        log_lines(&collector, &["refused agent", "\"victim\"", "\"intruder\""])
            .into_iter()
            .next()
    });
    assert!(refusal.contains("host"), "{refusal}");
    assert!(refusals_metric(&collector, "host_mismatch") >= 1);
    // The intruder keeps retrying; the victim's verdict holds all along.
    for _ in 0..10 {
        assert_eq!(domestic(&collector, "victim"), before);
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(stored(&collector, "agent=intruder").is_empty());
    assert!(collector
        .evidence("host=victim")
        .iter()
        .all(|e| e["agentId"] == "victim"));
}

#[tokio::test(flavor = "multi_thread")]
async fn hellos_or_evidence_naming_another_host_or_unreadable_are_refused() {
    let collector = Collector::start().unwrap();
    let creds = collector.issue("node-h").unwrap();

    let c = client(&collector, Some(&creds)).await.unwrap();
    let mut other_host = hello("node-h");
    if let Some(agent_message::Msg::Hello(h)) = other_host.msg.as_mut() {
        h.host = "node-x".into();
    }
    let status = gamsa_tests::raw::stream_error(c, vec![other_host]).await;
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    assert!(status.message().contains("\"node-x\""), "{status:?}");
    assert!(status.message().contains("\"node-h\""), "{status:?}");

    // A Hello the agents list could not show.
    let c = client(&collector, Some(&creds)).await.unwrap();
    let mut unreadable = hello("node-h");
    if let Some(agent_message::Msg::Hello(h)) = unreadable.msg.as_mut() {
        h.os = "Debian\0".into();
    }
    let status = gamsa_tests::raw::stream_error(c, vec![unreadable]).await;
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    assert!(
        status.message().contains("hello: os: contains a NUL byte"),
        "{status:?}"
    );
    assert_eq!(refusals_metric(&collector, "invalid_hello"), 1);

    // An honest Hello, then a batch of which one evidence names node-x.
    let mut s = stream(&collector, "node-h").await;
    let mut foreign = tls("node-h");
    foreign.host = "node-x".into();
    let err = acked(&mut s, batch(1, vec![tls("node-h"), foreign]), 1)
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err:?}");
    assert!(err.message().contains("\"node-x\"") && err.message().contains("\"node-h\""));
    assert!(
        stored(&collector, "").is_empty(),
        "nothing of that batch is stored"
    );
    assert_eq!(refusals_metric(&collector, "host_mismatch"), 2);
    assert_eq!(
        log_lines(
            &collector,
            &["refused agent", "agent_id=node-h", "\"node-x\""]
        )
        .len(),
        2,
        "{}",
        collector.log()
    );
}

/// `gamsa-agent enrol` with `cfg`; its stderr when refused (the gRPC
/// message unescaped).
fn enrol(cfg: &Path) -> Result<(), String> {
    let out = std::process::Command::new(gamsa_tests::binary("gamsa-agent"))
        .args(["enrol", "--config"])
        .arg(cfg)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).replace('\\', ""))
    }
}

/// An agent config for `name` on `host` that enrols with a fresh token of
/// two uses (a refused enrolment uses one up).
fn enrolling(collector: &Collector, name: &str, host: &str) -> PathBuf {
    let dir = collector.dir.path();
    let token = gamsa_tests::run(collector.cmd().args(["token", "create", "--uses", "2"]))
        .unwrap()
        .trim()
        .to_string();
    let token_file = dir.join(format!("{name}.token"));
    std::fs::write(&token_file, token).unwrap();
    let creds = dir.join(format!("{name}-creds"));
    std::fs::create_dir_all(&creds).unwrap();
    std::fs::copy(collector.data().join("pki/ca.crt"), creds.join("ca.crt")).unwrap();
    let cfg = agent_config(dir, name, collector, &creds, "").unwrap();
    claim_host(&cfg, name, host);
    gamsa_tests::enrol_with(&cfg, &token_file).unwrap();
    cfg
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_is_bound_to_one_agent_at_enrolment_until_that_agent_is_revoked() {
    let collector = Collector::start().unwrap();
    let dir = collector.dir.path();
    let first = enrolling(&collector, "web-1a", "web-1");
    enrol(&first).unwrap();
    let second = enrolling(&collector, "web-1b", "web-1");
    let err = enrol(&second).unwrap_err();
    assert!(err.contains("enrolment refused"), "{err}");
    assert!(
        err.contains("\"web-1\"") && err.contains("\"web-1a\""),
        "{err}"
    );
    assert!(!dir.join("web-1b-creds/agent.crt").exists());
    assert!(!log_lines(&collector, &["refused enrolment", "web-1a", "web-1b"]).is_empty());
    // `ca issue` binds too, and is refused the same way.
    let out = collector
        .cmd()
        .args([
            "ca", "issue", "--agent", "web-1c", "--host", "web-1", "--out",
        ])
        .arg(dir.join("web-1c"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("\"web-1\"") && stderr.contains("\"web-1a\""),
        "{stderr}"
    );

    // The first agent streams for web-1.
    let mut agent = start_agent(&first, dir.join("web-1a.log")).unwrap();
    wait_for("web-1a's evidence", WAIT, || {
        (!stored(&collector, "host=web-1&agent=web-1a").is_empty()).then_some(())
    });
    agent.kill();
    // Revoked, it no longer holds the host: a replacement may enrol for it.
    gamsa_tests::run(collector.cmd().args(["agent", "revoke", "web-1a"])).unwrap();
    enrol(&second).unwrap();
    let _replacement = start_agent(&second, dir.join("web-1b.log")).unwrap();
    wait_for("web-1b's evidence", WAIT, || {
        (!stored(&collector, "host=web-1&agent=web-1b").is_empty()).then_some(())
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn an_enrolment_naming_no_host_is_refused() {
    use gamsa_proto::v1::{enrolment_client::EnrolmentClient, EnrolRequest};
    use tonic::transport::{Certificate as CaCert, ClientTlsConfig, Endpoint};
    let collector = Collector::start().unwrap();
    let token = gamsa_tests::run(collector.cmd().args(["token", "create"]))
        .unwrap()
        .trim()
        .to_string();
    let ca = std::fs::read_to_string(collector.data().join("pki/ca.crt")).unwrap();
    let channel = Endpoint::from_shared(format!("https://127.0.0.1:{}", collector.grpc))
        .unwrap()
        .tls_config(ClientTlsConfig::new().ca_certificate(CaCert::from_pem(ca)))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "node-old");
    let csr = params.serialize_request(&key).unwrap().pem().unwrap();
    // As an agent from before host binding asks: no host.
    let status = EnrolmentClient::new(channel)
        .enrol(EnrolRequest {
            token,
            agent_id: "node-old".into(),
            csr_pem: csr,
            host: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    assert!(status.message().contains("no host named"), "{status:?}");
    assert!(collector.get("/api/v1/agents").unwrap()["agents"]
        .as_array()
        .unwrap()
        .is_empty());
}

// ---------------------------------------------------------------- validation

/// Each way an evidence can be unreadable downstream, and the words its
/// refusal names.
fn malformed(agent: &str) -> Vec<(&'static str, Evidence)> {
    let mut unknown_status = tls(agent);
    unknown_status.status = 7;
    let mut unknown_enum = tls(agent);
    tls_payload(&mut unknown_enum).accepted_versions.push(99);
    let mut not_after = tls(agent);
    tls_payload(&mut not_after).leaf.as_mut().unwrap().not_after = Some(gamsa_proto::Timestamp {
        seconds: 300_000_000_000,
        nanos: 0,
    });
    let mut bad_nanos = tls(agent);
    tls_payload(&mut bad_nanos)
        .leaf
        .as_mut()
        .unwrap()
        .not_before = Some(gamsa_proto::Timestamp {
        seconds: 1,
        nanos: 1_000_000_000,
    });
    let mut nul_subject = tls(agent);
    nul_subject.subject = format!("{agent}:443\0");
    let mut nul_nested = tls(agent);
    tls_payload(&mut nul_nested).notices.push("a\0b".into());
    let mut big_field = tls(agent);
    tls_payload(&mut big_field).notices.push("x".repeat(70_000));
    let mut future = tls(agent);
    future.observed_at = Some(gamsa_proto::Timestamp::from_unix_millis(
        now_ms() + 3_600_000,
    ));
    let mut year_9999 = tls(agent);
    year_9999.observed_at = Some(gamsa_proto::Timestamp {
        seconds: 253_402_300_000,
        nanos: 0,
    });
    vec![
        ("status", unknown_status),
        ("tlsEndpoint.acceptedVersions", unknown_enum),
        ("tlsEndpoint.leaf.notAfter", not_after),
        ("tlsEndpoint.leaf.notBefore", bad_nanos),
        ("subject", nul_subject),
        ("tlsEndpoint.notices", nul_nested),
        ("ingest.max_field_bytes", big_field),
        ("ingest.max_clock_skew", future),
        ("ingest.max_clock_skew", year_9999),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_evidence_is_refused_and_the_auditor_surface_keeps_answering() {
    let collector = Collector::start().unwrap();
    let mut s = stream(&collector, "node-m").await;
    let mut good = Vec::new();
    let mut seq = 0;
    for (what, bad) in malformed("node-m") {
        seq += 1;
        let ok = tls("node-m");
        good.push(ok.id.clone());
        let bad_id = bad.id.clone();
        let (accepted, refused) = acked(&mut s, batch(seq, vec![bad, ok]), seq)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e:?}"));
        assert_eq!((accepted, refused), (1, 1), "{what}");
        let lines = log_lines(&collector, &["refused evidence", &bad_id]);
        assert!(
            lines.iter().any(|l| l.contains(what)),
            "{what}: {lines:?}\n{}",
            collector.log()
        );
        surface_answers(&collector);
    }
    let mut ids = stored(&collector, "agent=node-m");
    ids.sort();
    good.sort();
    assert_eq!(ids, good, "only the valid evidence is stored");
    assert_eq!(
        refusals_metric(&collector, "invalid_evidence"),
        malformed("node-m").len() as u64
    );
    // Observed a minute ahead (clocks differ a little) is accepted.
    let mut ahead = tls("node-m");
    ahead.observed_at = Some(gamsa_proto::Timestamp::from_unix_millis(now_ms() + 60_000));
    assert_eq!(
        acked(&mut s, batch(99, vec![ahead]), 99).await.unwrap(),
        (1, 0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn size_caps_and_clock_skew_are_configured() {
    let settings = Settings {
        sections: "[ingest]\nmax_evidence_bytes = 20000\nmax_field_bytes = 1000\nmax_clock_skew = \"1h\"\n".into(),
        ..Settings::default()
    };
    let collector = Collector::start_configured(None, settings).unwrap();
    let mut s = stream(&collector, "node-c").await;
    let mut many = tls("node-c");
    tls_payload(&mut many).notices = vec!["y".repeat(900); 30];
    let mut long = tls("node-c");
    tls_payload(&mut long).notices.push("z".repeat(1001));
    let mut ahead = tls("node-c");
    ahead.observed_at = Some(gamsa_proto::Timestamp::from_unix_millis(
        now_ms() + 1_800_000,
    ));
    let ahead_id = ahead.id.clone();
    assert_eq!(
        acked(&mut s, batch(1, vec![many, long, ahead]), 1)
            .await
            .unwrap(),
        (1, 2)
    );
    assert_eq!(stored(&collector, "agent=node-c"), vec![ahead_id]);
    let log = collector.log();
    assert!(log.contains("ingest.max_evidence_bytes (20000)"), "{log}");
    assert!(log.contains("ingest.max_field_bytes (1000)"), "{log}");
}

/// TLS evidence of `agent` for subject `port` whose notices weigh about `bytes`.
fn weighing(agent: &str, port: u32, bytes: usize) -> Evidence {
    let mut ev = tls(agent);
    ev.subject = format!("{agent}:{port}");
    tls_payload(&mut ev).notices = vec!["n".repeat(900); bytes / 900];
    ev
}

/// A host's latest set (what evaluation, snapshots and exports read) has a
/// budget: new subjects past it are refused, updates no larger fit, and a
/// new stream counts from what the store keeps.
async fn a_hosts_latest_evidence_has_a_budget(store_url: Option<&str>) {
    let settings = Settings {
        sections: "[ingest]\nmax_evidence_bytes = 20000\nmax_host_latest_bytes = 100000\n".into(),
        ..Settings::default()
    };
    let collector = Collector::start_configured(store_url, settings).unwrap();
    let mut s = stream(&collector, "node-b").await;
    // Ten subjects of ~18 kB: five fit in 100 kB, the rest are refused.
    let first: Vec<Evidence> = (0..10).map(|p| weighing("node-b", p, 18_000)).collect();
    assert_eq!(acked(&mut s, batch(1, first), 1).await.unwrap(), (5, 5));
    assert_eq!(refusals_metric(&collector, "latest_budget"), 5);
    // The five again (updates of the same size) fit; a sixth still does not.
    let again: Vec<Evidence> = (0..6).map(|p| weighing("node-b", p, 18_000)).collect();
    assert_eq!(acked(&mut s, batch(2, again), 2).await.unwrap(), (5, 1));
    drop(s);
    // A new stream reads the tally from the store: still full; shrinking
    // two subjects makes room for a sixth.
    let mut s = stream(&collector, "node-b").await;
    assert_eq!(
        acked(&mut s, batch(3, vec![weighing("node-b", 5, 18_000)]), 3)
            .await
            .unwrap(),
        (0, 1)
    );
    let shrink = vec![
        weighing("node-b", 0, 900),
        weighing("node-b", 1, 900),
        weighing("node-b", 5, 18_000),
    ];
    assert_eq!(acked(&mut s, batch(4, shrink), 4).await.unwrap(), (3, 0));
    let log = collector.log();
    assert!(
        log.contains("ingest.max_host_latest_bytes (100000)") && log.contains("node-b:6"),
        "the refusal names the budget and the evidence: {log}"
    );
    // Another host is not held back by this one's budget.
    let mut other = stream(&collector, "node-o").await;
    let theirs: Vec<Evidence> = (0..5).map(|p| weighing("node-o", p, 18_000)).collect();
    assert_eq!(
        acked(&mut other, batch(1, theirs), 1).await.unwrap(),
        (5, 0)
    );
    surface_answers(&collector);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hosts_latest_evidence_has_a_budget_on_sqlite() {
    a_hosts_latest_evidence_has_a_budget(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hosts_latest_evidence_has_a_budget_on_postgres() {
    let scratch = Scratch::create("gamsa_budget");
    a_hosts_latest_evidence_has_a_budget(Some(&scratch.url)).await;
}

/// `GET /api/v1/evidence` reads at most 256 KiB of evidence per answer, however
/// large the evidence agents sent, and names the offset of the next page.
async fn the_evidence_api_answers_bounded_pages(store_url: Option<&str>) {
    let collector = Collector::start_configured(store_url, Settings::default()).unwrap();
    let mut s = stream(&collector, "node-p").await;
    // Four observations of one subject, 100 kB each, one batch each.
    let mut ids = Vec::new();
    for seq in 1..=4u64 {
        let ev = weighing("node-p", 443, 100_000);
        ids.push(ev.id.clone());
        assert_eq!(
            acked(&mut s, batch(seq, vec![ev]), seq).await.unwrap(),
            (1, 0)
        );
    }
    let page = |offset: u64| {
        let (status, body) = api(
            &collector,
            "GET",
            &format!("/api/v1/evidence?host=node-p&offset={offset}"),
        )
        .unwrap();
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<Value>(&body).unwrap()
    };
    // 256 KiB is reached by the third: three, then the fourth.
    let first = page(0);
    assert_eq!(first["count"], 3, "{}", first["nextOffset"]);
    assert_eq!(first["nextOffset"], 3);
    let second = page(3);
    assert_eq!(second["count"], 1);
    assert!(second.get("nextOffset").is_none(), "the last page");
    let mut seen: Vec<String> = [&first, &second]
        .iter()
        .flat_map(|p| p["evidence"].as_array().unwrap().clone())
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    seen.sort();
    ids.sort();
    assert_eq!(seen, ids, "every evidence once, over two pages");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_evidence_api_answers_bounded_pages_on_sqlite() {
    the_evidence_api_answers_bounded_pages(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_evidence_api_answers_bounded_pages_on_postgres() {
    let scratch = Scratch::create("gamsa_pages");
    the_evidence_api_answers_bounded_pages(Some(&scratch.url)).await;
}

/// `GET path` with the `Link` header's next page, if any.
fn linked(collector: &Collector, path: &str) -> (String, Option<String>) {
    let url = format!("http://127.0.0.1:{}{path}", collector.http);
    let resp = ureq::get(&url)
        .set("Authorization", &format!("Bearer {}", collector.token))
        .call()
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let next = resp.header("link").map(|l| {
        let (target, rel) = l.split_once(">; ").unwrap();
        assert_eq!(rel, "rel=\"next\"", "{l}");
        target.trim_start_matches('<').to_string()
    });
    (resp.into_string().unwrap(), next)
}

/// Every page of the export `query`, following the `Link` headers.
fn pages(collector: &Collector, query: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut next = Some(format!("/api/v1/exports?{query}"));
    while let Some(path) = next {
        let (body, link) = linked(collector, &path);
        assert!(body.len() <= 1_000_000, "{path}: {} bytes", body.len());
        out.push(body);
        next = link;
        assert!(out.len() <= 10, "pages without end: {path}");
    }
    out
}

/// The hosts of an NDJSON export, in the order of its lines.
fn ndjson_hosts(body: &str) -> Vec<String> {
    let mut hosts: Vec<String> = body
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["host"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    hosts.dedup();
    hosts
}

/// JSON, NDJSON and OCSF exports come a page of hosts at a time: each page
/// under 1 MB (a page too large for its `limit` holds fewer hosts), the
/// next named by the `Link` header, every host on exactly one page, and
/// the pages together what `all=true` answers in one.
async fn exports_come_a_page_of_hosts_at_a_time(store_url: Option<&str>) {
    let collector = Collector::start_configured(store_url, Settings::default()).unwrap();
    let names: Vec<String> = (1..=5).map(|n| format!("node-{n}")).collect();
    for name in &names {
        let mut s = stream(&collector, name).await;
        // 100 kB of TLS evidence on the first host, 300 kB on the others:
        // a page sized on the first host is too large and made again.
        let weight = if name == "node-1" { 100_000 } else { 300_000 };
        let ev = weighing(name, 443, weight);
        assert_eq!(acked(&mut s, batch(1, vec![ev]), 1).await.unwrap(), (1, 0));
        // Where it runs, for the host forms: a zone naming the host.
        let mut region = tls(name);
        region.probe = "region".into();
        region.subject = name.clone();
        region.payload = Some(Payload::CloudRegion(CloudRegion {
            provider: "aws".into(),
            region: "ap-northeast-2".into(),
            zone: format!("zone-of-{name}"),
            country: "KR".into(),
            source: "aws-imds".into(),
            ..Default::default()
        }));
        assert_eq!(
            acked(&mut s, batch(2, vec![region]), 2).await.unwrap(),
            (1, 0)
        );
    }
    let base = "catalog=cloud-notice&format=";
    let ndjson = pages(&collector, &format!("{base}ndjson&limit=4"));
    let per_page: Vec<Vec<String>> = ndjson.iter().map(|p| ndjson_hosts(p)).collect();
    assert_eq!(
        per_page,
        [&names[0..3], &names[3..5]],
        "four hosts guessed from the first (100 kB) came to 1 MB, made again with three; the two left fit; in name order"
    );
    let (whole, link) = linked(
        &collector,
        &format!("/api/v1/exports?{base}ndjson&all=true"),
    );
    assert_eq!(link, None, "one answer");
    let lines = |body: &str| -> Vec<String> {
        let mut lines: Vec<String> = body.lines().map(str::to_string).collect();
        lines.sort();
        lines
    };
    assert_eq!(
        lines(&ndjson.concat()),
        lines(&whole),
        "the pages are the whole"
    );

    // Finding uids name the item and host: each finding once over the pages.
    let uids = |bodies: &[String]| -> Vec<String> {
        let mut uids: Vec<String> = bodies
            .iter()
            .flat_map(|b| serde_json::from_str::<Vec<Value>>(b).unwrap())
            .map(|f| f["finding_info"]["uid"].as_str().unwrap().to_string())
            .collect();
        uids.sort();
        uids
    };
    let ocsf = pages(&collector, &format!("{base}ocsf&limit=2"));
    assert_eq!(ocsf.len(), 3, "5 hosts, 2 a page");
    let (whole, _) = linked(&collector, &format!("/api/v1/exports?{base}ocsf&all=true"));
    let paged = uids(&ocsf);
    assert!(paged.iter().any(|u| u.ends_with("-node-5")), "{paged:?}");
    assert_eq!(paged, uids(&[whole]), "every finding once");

    let json = pages(&collector, &format!("{base}json&limit=2"));
    assert_eq!(json.len(), 3, "5 hosts, 2 a page");
    let mut hosts: Vec<String> = Vec::new();
    for page in &json {
        let v: Value = serde_json::from_str(page).unwrap();
        let item = v["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == "11.1.4")
            .unwrap_or_else(|| panic!("no 11.1.4 in {v}"));
        hosts.extend(item["hosts"].as_object().unwrap().keys().cloned());
    }
    assert_eq!(hosts, names, "each host on one page");

    // The host forms come a page at a time in every format: each host's
    // row on one page, in name order; all=true is every row in one.
    let zones = |body: &str| -> Vec<String> {
        names
            .iter()
            .filter(|n| body.contains(&format!("zone-of-{n}")))
            .cloned()
            .collect()
    };
    {
        let format = "html";
        let form = format!("catalog=emr-s014&form=2-4&format={format}");
        let (whole, link) = linked(&collector, &format!("/api/v1/exports?{form}&all=true"));
        assert_eq!(link, None, "{format}: all=true is one answer");
        assert_eq!(
            zones(&whole),
            names,
            "{format}: every host in the whole form"
        );
        let paged: Vec<Vec<String>> = pages(&collector, &format!("{form}&limit=2"))
            .iter()
            .map(|p| zones(p))
            .collect();
        assert_eq!(
            paged,
            [&names[0..2], &names[2..4], &names[4..5]],
            "{format}: two hosts a page, each once"
        );
        let (first, link) = linked(&collector, &format!("/api/v1/exports?{form}"));
        assert_eq!(link, None, "{format}: five hosts fit in the default page");
        assert_eq!(zones(&first), names, "{format}");
    }

    let pdf = ureq::get(&format!(
        "http://127.0.0.1:{}/api/v1/exports?catalog=emr-s014&form=2-4&format=pdf&limit=2",
        collector.http
    ))
    .set("Authorization", &format!("Bearer {}", collector.token))
    .call()
    .unwrap();
    let next = pdf.header("link").unwrap_or_default().to_string();
    assert!(next.contains("after=node-2"), "the PDF's next page: {next}");
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut pdf.into_reader(), &mut body).unwrap();
    assert!(body.starts_with(b"%PDF"), "a PDF page");

    for refused in [
        "catalog=emr-s014&form=2A&format=html&after=node-1".to_string(),
        "catalog=emr-s014&form=2-4&format=csv&after=node-1".to_string(),
        format!("{base}csv&after=node-1"),
        format!("{base}json&limit=0"),
        format!("{base}json&all=true&after=node-1"),
    ] {
        let (status, body) = api(&collector, "GET", &format!("/api/v1/exports?{refused}")).unwrap();
        assert_eq!(status, 400, "{refused}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn exports_come_a_page_of_hosts_at_a_time_on_sqlite() {
    exports_come_a_page_of_hosts_at_a_time(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn exports_come_a_page_of_hosts_at_a_time_on_postgres() {
    let scratch = Scratch::create("gamsa_export_pages");
    exports_come_a_page_of_hosts_at_a_time(Some(&scratch.url)).await;
}

/// A snapshot fetched as the API hands it out piece by piece (its signed
/// file, then every file it names by hash: the host indexes, each host's
/// part, its results and the evidence contents) verifies offline with the
/// public key alone, as the whole tar does.
#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_fetched_a_file_at_a_time_verifies_offline() {
    let collector = Collector::start().unwrap();
    for name in ["node-a", "node-b"] {
        let mut s = stream(&collector, name).await;
        assert_eq!(
            acked(&mut s, batch(1, vec![tls(name)]), 1).await.unwrap(),
            (1, 0)
        );
    }
    let get = |path: &str| {
        let (status, body) = api(&collector, "GET", path).unwrap();
        assert_eq!(status, 200, "{path}: {body}");
        body
    };
    let (status, taken) = api(&collector, "POST", "/api/v1/snapshots").unwrap();
    assert_eq!(status, 200, "{taken}");
    let id = serde_json::from_str::<Value>(&taken).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let signed = get(&format!("/api/v1/snapshots/{id}"));
    std::fs::write(dir.path().join(format!("{id}.json")), &signed).unwrap();
    let key = dir.path().join("collector.pub");
    std::fs::write(&key, get("/api/v1/snapshots/public-key")).unwrap();
    let mut fetched = 0;
    let mut fetch = |sha: &str| -> Value {
        let body = get(&format!("/api/v1/snapshots/objects/{sha}"));
        let path = dir
            .path()
            .join("objects")
            .join(&sha[..2])
            .join(format!("{sha}.json"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &body).unwrap();
        fetched += 1;
        serde_json::from_str(&body).unwrap()
    };
    let manifest: Value = serde_json::from_str(&signed).unwrap();
    let text = |v: &Value| v.as_str().unwrap().to_string();
    for index in manifest["body"]["hostIndex"].as_array().unwrap() {
        let hosts = fetch(&text(&index["sha256"]));
        for host in hosts["hosts"].as_array().unwrap() {
            let part = fetch(&text(&host["sha256"]));
            fetch(&text(&part["results"]));
            for e in part["evidence"].as_array().unwrap() {
                fetch(&text(&e["content"]));
            }
        }
    }
    assert_eq!(
        fetched,
        1 + 2 * 3,
        "an index, and each host's part, results and one evidence"
    );
    let out = std::process::Command::new(gamsa_tests::binary("gamsa-collector"))
        .env_remove("GAMSA_COLLECTOR_CONFIG")
        .args(["snapshot", "verify"])
        .arg(dir.path().join(format!("{id}.json")))
        .arg("--public-key")
        .arg(&key)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains("2 host part(s)"),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for missing in ["0".repeat(64), "..%2F..%2Fgamsa.db".into(), "x".into()] {
        let path = format!("/api/v1/snapshots/objects/{missing}");
        assert_eq!(api(&collector, "GET", &path).unwrap().0, 404, "{path}");
    }
}

/// Exports with `redactIps` leave no address of an EKS-style node in clear:
/// not the one its default name encodes with dashes (the DaemonSet's host),
/// nor one followed by a dot (a nip.io name, the end of a sentence).
#[tokio::test(flavor = "multi_thread")]
async fn redacted_exports_hide_dash_encoded_and_dotted_addresses() {
    let collector = Collector::start().unwrap();
    let node = "ip-10-0-1-23.ap-northeast-2.compute.internal";
    let mut s = stream(&collector, node).await;
    let mut ev = tls(node);
    ev.subject = "10.0.0.5.nip.io:443".into();
    tls_payload(&mut ev).host = "10.0.0.5.nip.io".into();
    tls_payload(&mut ev).notices = vec!["resolved to 10.0.0.5.".into()];
    assert_eq!(acked(&mut s, batch(1, vec![ev]), 1).await.unwrap(), (1, 0));
    let export = |redact: bool| {
        let path = format!("/api/v1/exports?catalog=cloud-notice&format=ndjson&redactIps={redact}");
        let (status, body) = api(&collector, "GET", &path).unwrap();
        assert_eq!(status, 200, "{path}: {body}");
        body
    };
    let clear = export(false);
    for raw in ["10-0-1-23", "10.0.0.5.nip.io", "10.0.0.5."] {
        assert!(
            clear.contains(raw),
            "the evidence is exported: {raw} in {clear}"
        );
    }
    let redacted = export(true);
    assert!(
        redacted.contains("nip.io"),
        "the evidence is exported: {redacted}"
    );
    for raw in ["10-0-1-23", "10.0.0.5", "10.0.1.23"] {
        assert!(!redacted.contains(raw), "{raw} left in clear: {redacted}");
    }
}

/// An honest agent and a hostile one stream at once into the same store;
/// every batch of the honest one lands, nothing refused does.
async fn honest_batches_land_beside_a_hostile_stream(collector: Collector) {
    let mut honest = stream(&collector, "node-honest").await;
    let mut hostile = stream(&collector, "node-hostile").await;
    let rounds = 40u64;
    let hostile_task = tokio::spawn(async move {
        let mut valid = Vec::new();
        for seq in 1..=rounds {
            let ok = tls("node-hostile");
            valid.push(ok.id.clone());
            let mut nul = tls("node-hostile");
            nul.subject = "nul\0subject".into();
            let mut enum_ = tls("node-hostile");
            enum_.status = 42;
            let answer = acked(&mut hostile, batch(seq, vec![nul, ok, enum_]), seq).await;
            assert_eq!(answer.unwrap(), (1, 2), "hostile batch {seq}");
        }
        valid
    });
    let mut sent = Vec::new();
    for seq in 1..=rounds {
        let evidence: Vec<Evidence> = (0..20).map(|_| tls("node-honest")).collect();
        sent.extend(evidence.iter().map(|e| e.id.clone()));
        let answer = acked(&mut honest, batch(seq, evidence), seq).await;
        assert_eq!(
            answer.unwrap(),
            (20, 0),
            "honest batch {seq}\n{}",
            collector.log()
        );
    }
    let mut valid = hostile_task.await.unwrap();
    let mut stored_honest = stored(&collector, "agent=node-honest");
    stored_honest.sort();
    sent.sort();
    assert_eq!(stored_honest, sent);
    let mut stored_hostile = stored(&collector, "agent=node-hostile");
    stored_hostile.sort();
    valid.sort();
    assert_eq!(stored_hostile, valid, "nothing refused is stored");
    surface_answers(&collector);
}

#[tokio::test(flavor = "multi_thread")]
async fn honest_batches_land_beside_a_hostile_stream_on_sqlite() {
    honest_batches_land_beside_a_hostile_stream(Collector::start().unwrap()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn honest_batches_land_beside_a_hostile_stream_on_postgres() {
    let scratch = Scratch::create("gamsa_integrity");
    honest_batches_land_beside_a_hostile_stream(Collector::start_on(Some(&scratch.url)).unwrap())
        .await;
}

// ---------------------------------------------------------------- revocation

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_agents_evidence_stops_counting_and_is_shown_as_revoked() {
    let collector = Collector::start().unwrap();
    let dir = collector.dir.path();
    let seoul_creds = collector.issue("seoul").unwrap();
    let seoul_cfg = agent_config(dir, "seoul", &collector, &seoul_creds, "").unwrap();
    located(&seoul_cfg, "ap-northeast-2", "KR");
    let abroad_creds = collector.issue("abroad").unwrap();
    let abroad_cfg = agent_config(dir, "abroad", &collector, &abroad_creds, "").unwrap();
    located(&abroad_cfg, "us-east-1", "US");
    let _seoul = start_agent(&seoul_cfg, dir.join("seoul.log")).unwrap();
    let mut abroad = start_agent(&abroad_cfg, dir.join("abroad.log")).unwrap();
    wait_for("both agents' region evidence", WAIT, || {
        (!collector.evidence("host=seoul&probe=region").is_empty()
            && !collector.evidence("host=abroad&probe=region").is_empty())
        .then_some(())
    });
    // Verdicts are kept and evaluated in the background: wait for the one
    // that includes both agents' region evidence.
    let (verdict, of_abroad) = wait_for("both agents evaluated", WAIT, || {
        Some(domestic(&collector, "abroad"))
            .filter(|(_, of)| of["outcome"] != "UNKNOWN")
            .filter(|_| domestic(&collector, "seoul").1["outcome"] == "PASS")
    });
    assert_eq!(verdict, "N");
    assert_eq!(of_abroad["outcome"], "FAIL", "{of_abroad}");

    abroad.kill();
    gamsa_tests::run(collector.cmd().args(["agent", "revoke", "abroad"])).unwrap();
    // Revoked beside the server: its kept verdicts follow the store's change
    // counter within a poll and an evaluation.
    let (verdict, of_abroad) = wait_for("the revocation evaluated", WAIT, || {
        Some(domestic(&collector, "abroad")).filter(|(_, of)| of.is_null())
    });
    assert_ne!(
        verdict, "N",
        "the revoked agent's evidence no longer counts"
    );
    assert_eq!(of_abroad, Value::Null, "{of_abroad}");
    assert_eq!(domestic(&collector, "seoul").1["outcome"], "PASS");

    // Kept for history, shown as revoked.
    let kept = collector.evidence("agent=abroad");
    assert!(!kept.is_empty());
    assert!(kept.iter().all(|e| e["agentRevoked"] == true), "{kept:?}");
    assert!(collector
        .evidence("agent=seoul")
        .iter()
        .all(|e| e.get("agentRevoked").is_none()));
}

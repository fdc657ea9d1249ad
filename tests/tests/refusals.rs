//! Who may not write evidence or read the dashboard: no certificate, a
//! certificate from another CA, an expired certificate, an agent speaking for
//! another, a revoked agent, an expired enrolment token, an expired session.
//! Each is refused by the real collector process and the refusal is in its
//! log. Refused handshakes without a certificate problem are counted and
//! logged at debug level, with one warning when they are unusually many.
//! (Auditor writes and CSRF are refused in the browser test, dashboard.rs.)

use gamsa_tests::raw::{batch, client, hello, stream_error};
use gamsa_tests::{agent_config, start_agent, wait_for, Collector};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn stream_without_client_certificate_is_refused() {
    let collector = Collector::start().unwrap();
    let c = client(&collector, None).await.unwrap();
    let status = stream_error(c, vec![hello("node-x"), batch("node-x")]).await;
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    assert!(
        collector.log().contains("no client certificate presented"),
        "{}",
        collector.log()
    );
    assert!(collector.evidence("").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn certificate_from_another_ca_fails_the_handshake() {
    let collector = Collector::start().unwrap();
    // A second, unrelated CA issues a certificate for a plausible name.
    let other = tempfile::tempdir().unwrap();
    let o = other.path().to_str().unwrap();
    gamsa_tests::run(
        std::process::Command::new(gamsa_tests::binary("gamsa-collector")).args([
            "ca",
            "init",
            "--data-dir",
            o,
        ]),
    )
    .unwrap();
    let creds = other.path().join("rogue");
    std::fs::create_dir_all(&creds).unwrap();
    gamsa_tests::run(
        std::process::Command::new(gamsa_tests::binary("gamsa-collector"))
            .args(["ca", "issue", "--agent", "node-r", "--data-dir", o, "--out"])
            .arg(&creds),
    )
    .unwrap();
    // The real agent, trusting the real collector CA but holding the rogue cert.
    std::fs::copy(collector.data().join("pki/ca.crt"), creds.join("ca.crt")).unwrap();
    let cfg = agent_config(collector.dir.path(), "node-r", &collector, &creds, "").unwrap();
    let _agent = start_agent(&cfg, collector.dir.path().join("rogue.log")).unwrap();
    wait_for(
        "handshake refusal in the collector log",
        Duration::from_secs(20),
        || {
            collector
                .log()
                .contains("refused connection: TLS handshake failed")
                .then_some(())
        },
    );
    assert!(collector.evidence("host=node-r").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn agent_speaking_for_another_is_refused() {
    let collector = Collector::start().unwrap();
    let creds = collector.issue("node-b").unwrap();
    // Hello claiming another identity.
    let c = client(&collector, Some(&creds)).await.unwrap();
    let status = stream_error(c, vec![hello("node-a")]).await;
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    // Honest hello, then evidence claiming another agent.
    let c = client(&collector, Some(&creds)).await.unwrap();
    let status = stream_error(c, vec![hello("node-b"), batch("node-a")]).await;
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    let log = collector.log();
    assert!(log.contains("hello claims agent_id \"node-a\""), "{log}");
    assert!(
        log.contains("claims agent_id \"node-a\" but the certificate identity is \"node-b\""),
        "{log}"
    );
    assert!(
        collector.evidence("").is_empty(),
        "nothing from the impostor is stored"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn revoked_agent_is_refused_without_restart() {
    let collector = Collector::start().unwrap();
    let creds = collector.issue("node-v").unwrap();
    let cfg = agent_config(collector.dir.path(), "node-v", &collector, &creds, "").unwrap();
    let _agent = start_agent(&cfg, collector.dir.path().join("v.log")).unwrap();
    wait_for(
        "evidence before revocation",
        Duration::from_secs(20),
        || (!collector.evidence("host=node-v").is_empty()).then_some(()),
    );
    gamsa_tests::run(collector.cmd().args(["agent", "revoke", "node-v"])).unwrap();
    wait_for("revocation refusal", Duration::from_secs(30), || {
        collector.log().contains("agent was revoked").then_some(())
    });
    let c = client(&collector, Some(&creds)).await.unwrap();
    let status = stream_error(c, vec![hello("node-v")]).await;
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    assert!(collector.log().contains("agent is revoked"));
}

/// Key and certificate for `agent`, signed by the collector's own CA but
/// valid only in January 2024.
fn expired_credentials(collector: &Collector, agent: &str) -> std::path::PathBuf {
    let pki = collector.data().join("pki");
    let read = |f: &str| std::fs::read_to_string(pki.join(f)).unwrap();
    let ca_key = rcgen::KeyPair::from_pem(&read("ca.key")).unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_pem(&read("ca.crt"), ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, agent);
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2024, 2, 1);
    let cert = params.signed_by(&key, &issuer).unwrap();
    let dir = collector.dir.path().join(format!("expired-{agent}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("agent.crt"), cert.pem()).unwrap();
    std::fs::write(dir.join("agent.key"), key.serialize_pem()).unwrap();
    std::fs::write(dir.join("ca.crt"), read("ca.crt")).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_certificate_fails_the_handshake() {
    let collector = Collector::start().unwrap();
    let creds = expired_credentials(&collector, "node-old");
    // The real agent with it.
    let cfg = agent_config(collector.dir.path(), "node-old", &collector, &creds, "").unwrap();
    let _agent = start_agent(&cfg, collector.dir.path().join("old.log")).unwrap();
    wait_for(
        "expired-certificate refusal in the collector log",
        Duration::from_secs(20),
        || {
            let log = collector.log();
            log.lines()
                .any(|l| l.contains("TLS handshake failed") && l.contains("expired"))
                .then_some(())
        },
    );
    // A raw client with it cannot open a stream either.
    match client(&collector, Some(&creds)).await {
        Err(_) => {}
        Ok(c) => {
            let status = stream_error(c, vec![hello("node-old"), batch("node-old")]).await;
            assert_ne!(status.code(), tonic::Code::Ok, "{status:?}");
        }
    }
    assert!(collector.evidence("host=node-old").is_empty());
}

#[test]
fn expired_enrolment_token_is_refused() {
    let collector = Collector::start().unwrap();
    let token = gamsa_tests::run(collector.cmd().args(["token", "create", "--ttl", "1s"]))
        .unwrap()
        .trim()
        .to_string();
    let dir = collector.dir.path();
    let token_file = dir.join("token");
    std::fs::write(&token_file, &token).unwrap();
    let creds = dir.join("late");
    std::fs::create_dir_all(&creds).unwrap();
    std::fs::copy(collector.data().join("pki/ca.crt"), creds.join("ca.crt")).unwrap();
    let cfg = agent_config(dir, "node-late", &collector, &creds, "").unwrap();
    gamsa_tests::enrol_with(&cfg, &token_file).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let out = std::process::Command::new(gamsa_tests::binary("gamsa-agent"))
        .args(["enrol", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("enrolment refused"), "{stderr}");
    assert!(!creds.join("agent.crt").exists());
    assert!(collector
        .log()
        .contains("refused enrolment: unknown, expired or used-up token"));
    assert!(
        !collector.log().contains(&token),
        "the token is never logged"
    );
}

/// Signs in with a form POST as the browser would; the session cookie.
fn sign_in(collector: &Collector, user: &str, password: &str) -> String {
    let http = ureq::AgentBuilder::new().redirects(0).build();
    let resp = http
        .post(&format!("http://127.0.0.1:{}/login", collector.http))
        .set("Cookie", "gamsa_login=form-token")
        .send_form(&[
            ("user", user),
            ("password", password),
            ("csrf", "form-token"),
        ])
        .unwrap();
    assert_eq!(resp.status(), 303, "signed in");
    let set = resp.all("set-cookie").join("; ");
    set.split(';')
        .find_map(|p| p.trim().strip_prefix("gamsa_session="))
        .unwrap_or_else(|| panic!("no session cookie in {set}"))
        .to_string()
}

#[test]
fn expired_session_must_sign_in_again() {
    let collector = Collector::start_with("", "session_lifetime = \"2s\"").unwrap();
    let password = "correct horse battery staple";
    let pw = collector.dir.path().join("pw");
    std::fs::write(&pw, password).unwrap();
    gamsa_tests::run(
        collector
            .cmd()
            .args(["user", "add", "ana", "--role", "auditor", "--password-file"])
            .arg(&pw),
    )
    .unwrap();
    let cookie = sign_in(&collector, "ana", password);
    let http = ureq::AgentBuilder::new().redirects(0).build();
    let overview = || {
        http.get(&format!("http://127.0.0.1:{}/", collector.http))
            .set("Cookie", &format!("gamsa_session={cookie}"))
            .call()
            .unwrap()
    };
    assert_eq!(
        overview().status(),
        200,
        "a live session reads the dashboard"
    );
    std::thread::sleep(Duration::from_millis(2500));
    let resp = overview();
    assert_eq!(resp.status(), 303, "an expired session is sent to sign in");
    assert_eq!(resp.header("location"), Some("/login"));
    assert!(collector.log().contains("refused session"));
    assert!(
        !collector.log().contains(password),
        "passwords are never logged"
    );
}

/// `gamsa_collector_refusals_total{reason="tls_handshake"}` from `/metrics`.
fn handshake_refusals(collector: &Collector) -> u64 {
    let metrics = ureq::get(&format!("http://127.0.0.1:{}/metrics", collector.http))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("gamsa_collector_refusals_total{reason=\"tls_handshake\"} "))
        .map_or(0, |n| n.trim().parse().unwrap())
}

/// Opens a connection to the gRPC port and speaks plain HTTP: a refused
/// handshake, as from a port scanner or a TLS audit.
fn not_tls(collector: &Collector) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", collector.grpc)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let _ = s.read_to_end(&mut Vec::new());
}

#[test]
fn refused_handshakes_are_counted_and_logged_at_debug_level() {
    let mut collector = Collector::start().unwrap();
    // The same collector with debug lines of the TLS listener in its log.
    collector.proc = None;
    let mut cmd = collector.cmd();
    cmd.arg("serve")
        .env("GAMSA_LOG", "info,gamsa_collector::tls=debug");
    collector.proc =
        Some(gamsa_tests::Proc::spawn(cmd, collector.dir.path().join("debug.log")).unwrap());
    let ready = format!("http://127.0.0.1:{}/readyz", collector.http);
    wait_for("collector ready", Duration::from_secs(20), || {
        ureq::get(&ready).call().ok().map(|_| ())
    });

    let before = handshake_refusals(&collector);
    for _ in 0..3 {
        not_tls(&collector);
    }
    wait_for("three refusals counted", Duration::from_secs(10), || {
        (handshake_refusals(&collector) == before + 3).then_some(())
    });
    let refusals = |level: &str| {
        collector
            .log()
            .lines()
            .filter(|l| l.contains("refused connection: TLS handshake failed") && l.contains(level))
            .count()
    };
    wait_for("three debug lines", Duration::from_secs(10), || {
        (refusals("DEBUG") == 3).then_some(())
    });
    assert_eq!(refusals("WARN"), 0, "{}", collector.log());

    // An unusual rate within a minute: one warning, however many more.
    let limit = 60; // gamsa_collector::tls::UNUSUAL_REFUSALS_PER_MINUTE
    for _ in 0..limit + 5 {
        not_tls(&collector);
    }
    wait_for("all refusals counted", Duration::from_secs(20), || {
        (handshake_refusals(&collector) == before + limit + 8).then_some(())
    });
    let log = collector.log();
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("TLS handshake"))
        .collect();
    assert_eq!(warnings.len(), 1, "{log}");
    assert!(
        warnings[0].contains(&format!(
            "more than {limit} TLS handshakes refused within a minute"
        )),
        "{}",
        warnings[0]
    );
}

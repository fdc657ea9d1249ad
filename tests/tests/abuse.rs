//! Hostile clients against the real collector process: a flood of sign-ins
//! is throttled per address and per user and cannot stall an honest
//! agent's ingest, and bulk reads of the API leave access records. The
//! dashboard reached over a network is HTTPS with `__Host-` cookies and
//! headers that keep it out of frames and sniffing; a spool damaged on disk
//! loses only its damaged records, and says so.

use gamsa_tests::raw::{batch_of, client, hello, open, OpenStream};
use gamsa_tests::{run, Collector};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ANSWER: Duration = Duration::from_secs(30);

fn add_user(c: &Collector, name: &str, role: &str, password: &str) {
    let file = c.dir.path().join(format!("{name}.pw"));
    std::fs::write(&file, password).unwrap();
    run(c
        .cmd()
        .args(["user", "add", name, "--role", role, "--password-file"])
        .arg(&file))
    .unwrap();
}

/// What `POST /login` answers a client at loopback address `from`: the
/// status and whether a session cookie was set.
async fn login(c: &Collector, from: Ipv4Addr, user: &str, password: &str) -> (u16, bool) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    let mut s = socket
        .connect(SocketAddr::from(([127, 0, 0, 1], c.http)))
        .await
        .unwrap();
    let body = format!("user={user}&password={password}&csrf=t");
    let request = format!(
        "POST /login HTTP/1.1\r\nHost: x\r\nCookie: gamsa_login=t\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status: {answer}"));
    (status, answer.contains("gamsa_session="))
}

fn metrics(c: &Collector) -> String {
    ureq::get(&format!("http://127.0.0.1:{}/metrics", c.http))
        .call()
        .unwrap()
        .into_string()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_floods_are_throttled_per_address_and_per_user() {
    let collector = Collector::start_with(
        "",
        "login_attempts_per_address = 3\nlogin_attempts_per_user = 5",
    )
    .unwrap();
    add_user(&collector, "kim", "auditor", "auditor-password-1");
    let flooder = Ipv4Addr::new(127, 0, 0, 2);
    for _ in 0..3 {
        assert_eq!(
            login(&collector, flooder, "kim", "guess-1234").await,
            (303, false),
            "a wrong password within the limit is answered as wrong"
        );
    }
    for _ in 0..5 {
        assert_eq!(
            login(&collector, flooder, "kim", "auditor-password-1")
                .await
                .0,
            429,
            "beyond the address's allowance, even the right password is turned away"
        );
    }
    // Another address signs in as the same user.
    assert_eq!(
        login(
            &collector,
            Ipv4Addr::new(127, 0, 0, 3),
            "kim",
            "auditor-password-1"
        )
        .await,
        (303, true)
    );
    // Guesses spread over fresh addresses run into the user's allowance (5
    // a minute, refilled one every 12 s: a slow machine may see a refill, so
    // the test guesses until the user's limit answers). Once it does, the
    // right password from yet another address is turned away too.
    let mut limited = None;
    for last in 4..=12u8 {
        let from = Ipv4Addr::new(127, 0, 0, last);
        match login(&collector, from, "kim", "guess-1234").await {
            (429, _) => {
                limited = Some(last);
                break;
            }
            answer => assert_eq!(answer, (303, false), "a wrong guess from {from}"),
        }
    }
    let limited = limited.expect("guesses from nine addresses never met the user's allowance");
    assert_eq!(
        login(
            &collector,
            Ipv4Addr::new(127, 0, 0, 20),
            "kim",
            "auditor-password-1"
        )
        .await
        .0,
        429
    );
    // Other users are not held back by kim's.
    add_user(&collector, "lee", "operator", "operator-password-1");
    assert_eq!(
        login(
            &collector,
            Ipv4Addr::new(127, 0, 0, 21),
            "lee",
            "operator-password-1"
        )
        .await,
        (303, true)
    );
    let log = collector.log();
    assert!(
        log.contains("refused sign-in: wrong user name or password")
            && log.contains("127.0.0.2")
            && log.contains("refused sign-in: too many attempts"),
        "{log}"
    );
    assert!(!log.contains("guess-1234"), "passwords are never logged");
    let m = metrics(&collector);
    // Wrong passwords: three from the flooder and one per address before
    // the user's limit answered.
    let wrong = 3 + (limited - 4);
    for counted in [
        format!("reason=\"dashboard_login\"}} {wrong}"),
        "reason=\"dashboard_login_throttled_address\"} 5".to_string(),
        "reason=\"dashboard_login_throttled_user\"} 2".to_string(),
    ] {
        assert!(m.contains(&counted), "{counted} in {m}");
    }
}

/// The median of `v`.
fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Ack latencies of `n` one-batch round trips.
async fn acks(s: &mut OpenStream, agent: &str, seq: &mut u64, n: usize) -> Vec<Duration> {
    let mut took = Vec::new();
    for _ in 0..n {
        *seq += 1;
        let started = Instant::now();
        s.send_acked(batch_of(agent, *seq, 5, 100), *seq, ANSWER)
            .await
            .unwrap();
        took.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    took
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sign_in_flood_leaves_ingest_acks_prompt() {
    // Limits high enough that every attempt of the flood checks a password.
    let collector = Collector::start_with(
        "",
        "login_attempts_per_address = 100000\nlogin_attempts_per_user = 100000",
    )
    .unwrap();
    add_user(&collector, "kim", "auditor", "auditor-password-1");
    let creds = collector.issue("node-honest").unwrap();
    let c = client(&collector, Some(&creds)).await.unwrap();
    let mut s = open(c, vec![hello("node-honest")]).await.unwrap();
    assert!(matches!(s.next(ANSWER).await, Some(Ok(_))), "welcome");
    let mut seq = 0;
    let idle = median(acks(&mut s, "node-honest", &mut seq, 20).await);

    let collector = std::sync::Arc::new(collector);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood: Vec<_> = (0..16u8)
        .map(|i| {
            let (collector, stop) = (collector.clone(), stop.clone());
            tokio::spawn(async move {
                let mut answered = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let from = Ipv4Addr::new(127, 0, 1, i);
                    assert_eq!(login(&collector, from, "kim", "guess").await, (303, false));
                    answered += 1;
                }
                answered
            })
        })
        .collect();
    // Let the flood fill the password-check queue first.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let during = median(acks(&mut s, "node-honest", &mut seq, 20).await);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut checked = 0;
    for f in flood {
        checked += f.await.unwrap();
    }
    println!("ack latency median: idle {idle:?}, during a sign-in flood {during:?} ({checked} wrong passwords checked)");
    assert!(checked >= 16, "the flood was served: {checked}");
    assert!(
        during <= idle * 3 + Duration::from_millis(250),
        "acks took {during:?} during the flood, {idle:?} without"
    );
}

#[test]
fn bulk_reads_of_the_api_are_in_the_access_log() {
    let collector = Collector::start().unwrap();
    for _ in 0..2 {
        run(collector.cmd().args(["snapshot", "create"])).unwrap();
    }
    let read = [
        "/api/v1/evidence?limit=10000&host=node-x",
        "/api/v1/catalogs/emr-s014/items?group=II-2",
        "/api/v1/agents",
        "/api/v1/snapshots/diff?from=1&to=2",
    ];
    for path in read {
        collector.get(path).unwrap();
    }
    let log = collector.get("/api/v1/access-log").unwrap();
    let records: Vec<(String, String, String)> = log["accessLog"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let s = |k: &str| a[k].as_str().unwrap().to_string();
            (s("who"), s("action"), s("what"))
        })
        .collect();
    for (action, what) in [
        ("evidence-query", "0 records: host=node-x"),
        ("item-list", "emr-s014 group II-2"),
        ("host-list", "0 agents (from 0 of 0)"),
        ("snapshot-diff", "1 to 2"),
    ] {
        assert!(
            records
                .iter()
                .any(|(who, a, w)| who.contains("e2e") && a == action && w == what),
            "{action} {what} in {records:?}"
        );
    }
}

/// Holds SQLite's write lock on `db` from another process (as a long
/// ingest commit would) until the child is killed.
fn hold_write_lock(db: &std::path::Path) -> std::process::Child {
    use std::io::BufRead;
    let script = "import sqlite3, sys, time\n\
                  c = sqlite3.connect(sys.argv[1], isolation_level=None)\n\
                  c.execute('BEGIN IMMEDIATE')\n\
                  print('locked', flush=True)\n\
                  time.sleep(120)\n";
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(db)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "locked", "the lock was not taken");
    child
}

/// Credentials the collector does not know (an API token, a dashboard
/// session) are refused at once while another writer holds SQLite's write
/// lock: checking them takes no write lock (the store waits up to 10 s for
/// one), so unauthenticated clients do not queue with ingest's writer.
#[test]
fn unknown_credentials_are_refused_while_the_store_is_write_locked() {
    let collector = Collector::start().unwrap();
    let mut locker = hold_write_lock(&collector.data().join("gamsa.db"));
    let base = format!("http://127.0.0.1:{}", collector.http);
    let started = Instant::now();
    for i in 0..5 {
        let token = ureq::get(&format!("{base}/api/v1/agents"))
            .set("Authorization", &format!("Bearer gamsa_unknown_{i}"))
            .call();
        assert!(
            matches!(token, Err(ureq::Error::Status(401, _))),
            "an unknown token: {token:?}"
        );
        let session = ureq::builder()
            .redirects(0)
            .build()
            .get(&format!("{base}/"))
            .set("Cookie", &format!("gamsa_session=unknown{i}"))
            .call();
        let status = match session {
            Ok(r) => r.status(),
            Err(ureq::Error::Status(code, _)) => code,
            Err(e) => panic!("an unknown session: {e}"),
        };
        assert!(
            (300..400).contains(&status) || status == 401,
            "an unknown session is sent to sign in, got {status}"
        );
    }
    let took = started.elapsed();
    let _ = locker.kill();
    let _ = locker.wait();
    assert!(
        took < Duration::from_secs(3),
        "10 refusals took {took:?} with the write lock held elsewhere"
    );
}

/// A TLS connection to the collector's HTTP port, trusting `ca` (PEM),
/// offering HTTP/1.1; the certificate it was shown.
fn https_connect(
    port: u16,
    ca: &std::path::Path,
) -> std::io::Result<rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port))?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    Ok(rustls::StreamOwned::new(conn, tcp))
}

/// The answer (head and body as text) to `request` sent over HTTPS.
fn try_https(port: u16, ca: &std::path::Path, request: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut s = https_connect(port, ca)?;
    s.write_all(request.as_bytes())?;
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

fn https(port: u16, ca: &std::path::Path, request: &str) -> String {
    try_https(port, ca, request).unwrap()
}

/// Restarts `c` with `lines` added to `[http]`; waits until HTTPS answers.
fn restart_with_https(c: &mut Collector, lines: &str, ca: &std::path::Path) {
    c.proc = None;
    let config = std::fs::read_to_string(c.config()).unwrap();
    std::fs::write(
        c.config(),
        config.replacen("[http]\n", &format!("[http]\n{lines}\n"), 1),
    )
    .unwrap();
    let mut cmd = c.cmd();
    cmd.arg("serve");
    c.proc = Some(gamsa_tests::Proc::spawn(cmd, c.dir.path().join("collector-https.log")).unwrap());
    let started = Instant::now();
    loop {
        let answer = try_https(
            c.http,
            ca,
            "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        if answer.is_ok_and(|a| a.starts_with("HTTP/1.1 200")) {
            return;
        }
        assert!(started.elapsed() < ANSWER, "no HTTPS: {}", c.log());
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn header<'a>(answer: &'a str, name: &str) -> Vec<&'a str> {
    let head = answer.split("\r\n\r\n").next().unwrap_or("");
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .collect()
}

/// Every answer carries the headers that keep the dashboard out of other
/// sites' frames and browsers from sniffing content types.
fn assert_security_headers(answer: &str, what: &str) {
    let csp = header(answer, "content-security-policy").join(" ");
    for part in ["default-src 'self'", "frame-ancestors 'none'"] {
        assert!(csp.contains(part), "{what}: CSP {csp:?} lacks {part}");
    }
    assert_eq!(
        header(answer, "x-content-type-options"),
        ["nosniff"],
        "{what}"
    );
    assert_eq!(header(answer, "referrer-policy"), ["no-referrer"], "{what}");
}

#[test]
fn the_dashboard_is_https_with_host_cookies_and_security_headers() {
    let mut collector = Collector::start().unwrap();
    add_user(&collector, "kim", "auditor", "auditor-password-1");
    // Plain HTTP on loopback (the quickstart) has the headers too.
    let plain = ureq::get(&format!("http://127.0.0.1:{}/login", collector.http))
        .call()
        .unwrap();
    for name in [
        "content-security-policy",
        "x-content-type-options",
        "referrer-policy",
    ] {
        assert!(plain.header(name).is_some(), "plain HTTP lacks {name}");
    }
    let ca = collector.data().join("pki/ca.crt");
    restart_with_https(&mut collector, "tls = \"on\"", &ca);
    let port = collector.http;
    let get = |path: &str| {
        https(
            port,
            &ca,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        )
    };
    let login_page = get("/login");
    assert!(login_page.starts_with("HTTP/1.1 200"), "{login_page}");
    for (what, answer) in [
        ("/login", login_page.clone()),
        ("/healthz", get("/healthz")),
        ("/api/v1/agents", get("/api/v1/agents")),
        ("a missing page", get("/no-such-page")),
    ] {
        assert_security_headers(&answer, what);
        assert!(
            !header(&answer, "strict-transport-security").is_empty(),
            "{what}: no HSTS over HTTPS"
        );
    }
    let login_cookie = header(&login_page, "set-cookie").join("\n");
    assert!(login_cookie.contains("Secure"), "{login_cookie}");
    // Sign in over HTTPS: the session cookie is __Host- and Secure.
    let token = login_cookie
        .split(';')
        .next()
        .and_then(|c| c.split_once('='))
        .map(|(_, v)| v.to_string())
        .unwrap();
    let body = format!("user=kim&password=auditor-password-1&csrf={token}");
    let signed_in = https(
        port,
        &ca,
        &format!(
            "POST /login HTTP/1.1\r\nHost: x\r\nCookie: gamsa_login={token}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    assert_security_headers(&signed_in, "POST /login");
    let session = header(&signed_in, "set-cookie")
        .into_iter()
        .find(|c| c.contains("gamsa_session"))
        .unwrap_or_else(|| panic!("no session cookie: {signed_in}"))
        .to_string();
    assert!(session.starts_with("__Host-gamsa_session="), "{session}");
    for flag in ["Secure", "HttpOnly", "Path=/", "SameSite=Strict"] {
        assert!(session.contains(flag), "{flag} in {session}");
    }
    assert!(!session.contains("Domain"), "{session}");
    let cookie = session.split(';').next().unwrap();
    let home = https(
        port,
        &ca,
        &format!("GET / HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"),
    );
    assert!(home.starts_with("HTTP/1.1 200"), "signed in: {home}");
    // A configured certificate instead of the collector's own.
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let (cert_file, key_file) = (
        collector.dir.path().join("web.crt"),
        collector.dir.path().join("web.key"),
    );
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    restart_with_https(
        &mut collector,
        &format!(
            "tls_cert = \"{}\"\ntls_key = \"{}\"",
            cert_file.display(),
            key_file.display()
        ),
        &cert_file,
    );
    assert!(get_with(&cert_file, port, "/healthz").starts_with("HTTP/1.1 200"));
}

fn get_with(ca: &std::path::Path, port: u16, path: &str) -> String {
    https(
        port,
        ca,
        &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    )
}

/// The byte ranges of the records of a spool segment (a varint length, that
/// many bytes, a CRC-32), up to one that runs past the end.
fn spool_records(data: &[u8]) -> Vec<(usize, usize)> {
    let (mut out, mut off) = (Vec::new(), 0);
    while off < data.len() {
        let (mut len, mut shift, mut p) = (0usize, 0, off);
        while p < data.len() {
            len |= ((data[p] & 0x7f) as usize) << shift;
            shift += 7;
            p += 1;
            if data[p - 1] & 0x80 == 0 {
                break;
            }
        }
        // The evidence, then its CRC-32.
        let end = p + len + 4;
        if end > data.len() {
            break;
        }
        out.push((off, end));
        off = end;
    }
    out
}

#[test]
fn a_damaged_spool_loses_only_its_damaged_records_and_reports_them() {
    let mut collector = Collector::start().unwrap();
    let creds = collector.issue("node-s").unwrap();
    let dir = collector.dir.path().to_path_buf();
    let cfg = gamsa_tests::agent_config(&dir, "node-s", &collector, &creds, "").unwrap();
    let start = |log: &str| {
        let mut cmd = std::process::Command::new(gamsa_tests::binary("gamsa-agent"));
        cmd.arg("run")
            .arg("--config")
            .arg(&cfg)
            .env("GAMSA_LOG", "info,gamsa_agent::transport=debug");
        gamsa_tests::Proc::spawn(cmd, dir.join(log)).unwrap()
    };
    // The collector is away: everything the agent observes stays spooled.
    collector.proc = None;
    let mut agent = start("agent-1.log");
    let log = dir.join("agent-1.log");
    gamsa_tests::wait_for("evidence spooled", ANSWER, || {
        let n = gamsa_tests::spooled_ids(&std::fs::read_to_string(&log).unwrap_or_default()).len();
        (n >= 12).then_some(())
    });
    agent.kill();
    let spooled = gamsa_tests::spooled_ids(&std::fs::read_to_string(&log).unwrap());
    let seg = dir.join("node-s-state/spool/0000000000000000.spool");
    let mut data = std::fs::read(&seg).unwrap();
    let records = spool_records(&data);
    assert!(records.len() >= 10, "{} records", records.len());
    let id_in = |r: (usize, usize), data: &[u8]| {
        spooled
            .iter()
            .find(|id| data[r.0..r.1].windows(id.len()).any(|w| w == id.as_bytes()))
            .cloned()
            .unwrap_or_else(|| panic!("no spooled id in record {r:?}"))
    };
    let damaged = [id_in(records[2], &data), id_in(records[5], &data)];
    let intact: Vec<String> = records
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 2 && *i != 5)
        .map(|(_, r)| id_in(*r, &data))
        .collect();
    let torn = (records.last().unwrap().1 < data.len()) as u64;
    // Record 2: its body's first field tag made invalid. Record 5: its
    // length prefix broken.
    let prefix = data[records[2].0..]
        .iter()
        .position(|b| b & 0x80 == 0)
        .unwrap()
        + 1;
    data[records[2].0 + prefix] = 0xff;
    data[records[5].0] = 0xff;
    std::fs::write(&seg, &data).unwrap();

    collector.restart().unwrap();
    let _agent = start("agent-2.log");
    let stored = |c: &Collector| -> Vec<serde_json::Value> { c.evidence("host=node-s") };
    // Polled by its probe alone: every evidence body of the host, asked ten
    // times a second, would keep a loaded collector busy answering.
    let dropped = gamsa_tests::wait_for_or(
        "the damage reported",
        ANSWER,
        || {
            collector
                .evidence("host=node-s&probe=agent")
                .iter()
                .find_map(|e| {
                    let notice = &e["agentNotice"];
                    (notice["kind"] == "spool_dropped").then(|| notice["count"].to_string())
                })
        },
        || {
            format!(
                "agent:\n{}\ncollector:\n{}\nstored: {:?}",
                std::fs::read_to_string(dir.join("agent-2.log")).unwrap_or_default(),
                collector.log(),
                stored(&collector)
                    .iter()
                    .map(|e| format!("{} {}", e["probe"], e["id"]))
                    .collect::<Vec<_>>()
            )
        },
    );
    assert_eq!(
        dropped.trim_matches('"'),
        (2 + torn).to_string(),
        "two damaged records (and a record torn by the kill: {torn})"
    );
    // Stored by its id, or seen again in a run of unchanged evidence.
    let intact: Vec<gamsa_tests::Spooled> =
        gamsa_tests::spooled(&std::fs::read_to_string(&log).unwrap())
            .into_iter()
            .filter(|s| intact.contains(&s.id))
            .collect();
    gamsa_tests::wait_for("every intact record delivered", ANSWER, || {
        gamsa_tests::unaccounted(&intact, &stored(&collector))
            .is_empty()
            .then_some(())
    });
    let ids: Vec<String> = stored(&collector)
        .iter()
        .filter_map(|e| e["id"].as_str().map(str::to_string))
        .collect();
    for id in &damaged {
        assert!(!ids.contains(id), "a damaged record was delivered: {id}");
    }
    let agent_log = std::fs::read_to_string(dir.join("agent-2.log")).unwrap();
    assert!(
        agent_log.contains("unreadable records skipped"),
        "{agent_log}"
    );
}

//! Hostile clients against the real collector process: a flood of sign-ins
//! is throttled per address and per user and cannot stall an honest
//! agent's ingest, and bulk reads of the API leave access records.

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
    // Guesses spread over addresses run into the user's allowance (5).
    assert_eq!(
        login(&collector, Ipv4Addr::new(127, 0, 0, 4), "kim", "guess-1234").await,
        (303, false)
    );
    assert_eq!(
        login(
            &collector,
            Ipv4Addr::new(127, 0, 0, 5),
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
            Ipv4Addr::new(127, 0, 0, 6),
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
    for counted in [
        "reason=\"dashboard_login\"} 4",
        "reason=\"dashboard_login_throttled_address\"} 5",
        "reason=\"dashboard_login_throttled_user\"} 1",
    ] {
        assert!(m.contains(counted), "{counted} in {m}");
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
        ("host-list", "0 agents"),
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

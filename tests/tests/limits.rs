//! A slow, silent, oversized or flooding peer cannot starve the others: each
//! limit of `[grpc]` and `[http]` is exercised against the real collector
//! process, with an honest agent served alongside.

use gamsa_tests::raw::{batch, batch_of, client, hello, open, OpenStream};
use gamsa_tests::{wait_for, Collector};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const ANSWER: Duration = Duration::from_secs(15);

/// An open stream for `agent`, its Hello answered.
async fn honest(collector: &Collector, agent: &str) -> OpenStream {
    let creds = collector.issue(agent).unwrap();
    let c = client(collector, Some(&creds)).await.unwrap();
    let mut s = open(c, vec![hello(agent)]).await.unwrap();
    assert!(matches!(s.next(ANSWER).await, Some(Ok(_))), "welcome");
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_message_ends_only_its_own_stream() {
    let collector = Collector::start_with("max_message_bytes = 65536", "").unwrap();
    let mut good = honest(&collector, "node-good").await;
    let mut big = honest(&collector, "node-big").await;
    let _ = big.tx.send(batch_of("node-big", 1, 1, 100_000)).await;
    let status = big.error(ANSWER).await;
    assert_ne!(status.code(), tonic::Code::Ok);
    assert!(status.message().contains("too large"), "{status:?}");
    good.send_acked(batch_of("node-good", 1, 10, 100), 1, ANSWER)
        .await
        .unwrap();
    assert!(collector.evidence("host=node-big").is_empty());
    assert_eq!(collector.evidence("host=node-good").len(), 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn streams_beyond_the_cap_are_refused_until_one_closes() {
    let collector = Collector::start_with("max_streams = 2", "").unwrap();
    let a = honest(&collector, "node-a").await;
    let _b = honest(&collector, "node-b").await;
    let creds = collector.issue("node-c").unwrap();
    let c = client(&collector, Some(&creds)).await.unwrap();
    let status = match open(c.clone(), vec![hello("node-c")]).await {
        Err(status) => status,
        Ok(mut s) => s.error(ANSWER).await,
    };
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(collector.log().contains("grpc.max_streams"));
    drop(a);
    let started = Instant::now();
    let mut s = loop {
        if let Ok(mut s) = open(c.clone(), vec![hello("node-c")]).await {
            if let Some(Ok(_)) = s.next(ANSWER).await {
                break s;
            }
        }
        assert!(
            started.elapsed() < ANSWER,
            "a freed stream was never reused"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    s.send_acked(batch("node-c"), 1, ANSWER).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn silent_streams_are_closed_and_busy_ones_kept() {
    let collector =
        Collector::start_with("request_timeout = \"1s\"\nidle_timeout = \"2s\"", "").unwrap();
    // No Hello at all.
    let creds = collector.issue("node-mute").unwrap();
    let c = client(&collector, Some(&creds)).await.unwrap();
    let status = match open(c, vec![]).await {
        Err(status) => status,
        Ok(mut s) => s.error(ANSWER).await,
    };
    assert_ne!(status.code(), tonic::Code::Ok, "{status:?}");
    wait_for("hello timeout in the log", ANSWER, || {
        collector.log().contains("no Hello within 1s").then_some(())
    });
    // Hello, one batch, then silence.
    let mut idle = honest(&collector, "node-idle").await;
    // A stream that keeps sending, for longer than both timeouts.
    let mut busy = honest(&collector, "node-busy").await;
    idle.send_acked(batch("node-idle"), 1, ANSWER)
        .await
        .unwrap();
    let started = Instant::now();
    let mut seq = 1;
    while started.elapsed() < Duration::from_secs(4) {
        busy.send_acked(batch_of("node-busy", seq, 1, 10), seq, ANSWER)
            .await
            .unwrap();
        seq += 1;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    let status = idle.error(ANSWER).await;
    assert_ne!(status.code(), tonic::Code::Ok, "{status:?}");
    assert!(collector.log().contains("nothing received for 2s"));
    assert_eq!(
        collector.evidence("host=node-busy").len(),
        seq as usize - 1,
        "every batch of the busy stream was stored"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flooding_agent_is_slowed_not_refused_and_others_are_served() {
    let rate = 100;
    let collector = Collector::start_with(&format!("agent_rate = {rate}"), "").unwrap();
    let mut flood = honest(&collector, "node-flood").await;
    let mut calm = honest(&collector, "node-calm").await;
    let (batches, per_batch) = (5u64, 100usize);
    let flooding = tokio::spawn(async move {
        let started = Instant::now();
        for seq in 1..=batches {
            flood
                .send_acked(batch_of("node-flood", seq, per_batch, 10), seq, ANSWER)
                .await
                .unwrap();
        }
        started.elapsed()
    });
    // While the flood waits for its rate, the calm agent is answered.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    calm.send_acked(batch_of("node-calm", 1, 10, 10), 1, ANSWER)
        .await
        .unwrap();
    let calm_ack = started.elapsed();
    let flood_took = flooding.await.unwrap();
    // 500 evidence at 100/s with one second of burst: at least 4 s.
    let floor = Duration::from_secs_f64((batches as usize * per_batch - rate) as f64 / rate as f64);
    assert!(
        flood_took >= floor.mul_f64(0.9),
        "the flood took {flood_took:?}, faster than the rate allows ({floor:?})"
    );
    assert!(
        calm_ack < floor / 2,
        "the calm agent waited {calm_ack:?} behind the flood"
    );
    assert_eq!(
        collector.evidence("host=node-flood").len(),
        500,
        "nothing lost"
    );
    assert_eq!(collector.evidence("host=node-calm").len(), 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn stalled_tls_handshakes_are_dropped_and_do_not_block_agents() {
    let collector = Collector::start_with("handshake_timeout = \"1s\"", "").unwrap();
    let stalled: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(("127.0.0.1", collector.grpc)).unwrap())
        .collect();
    let mut s = honest(&collector, "node-h").await;
    s.send_acked(batch("node-h"), 1, ANSWER).await.unwrap();
    for mut t in stalled {
        t.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 64];
        // The collector closes the connection: end of stream, or a reset;
        // not still open when the read timeout strikes.
        match t.read(&mut buf) {
            Ok(n) => assert_eq!(n, 0, "the collector answered a silent peer"),
            Err(e) => assert!(
                !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
                "a stalled handshake was kept open"
            ),
        }
    }
    assert!(collector.log().contains("TLS handshake timed out"));
}

/// What the collector's HTTP port answers to `request`, written as given;
/// an empty string if it closes the connection without answering.
fn http_raw(collector: &Collector, request: &[u8], then_wait: Duration) -> (String, Duration) {
    let mut t = TcpStream::connect(("127.0.0.1", collector.http)).unwrap();
    t.set_read_timeout(Some(then_wait)).unwrap();
    t.write_all(request).unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let _ = t.read_to_end(&mut answer);
    (
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
    )
}

#[test]
fn slow_and_oversized_http_requests_are_cut_off() {
    let collector = Collector::start_with(
        "",
        "header_timeout = \"1s\"\nrequest_timeout = \"2s\"\nmax_body_bytes = 4096",
    )
    .unwrap();
    let healthz = || {
        ureq::get(&format!("http://127.0.0.1:{}/healthz", collector.http))
            .call()
            .map(|r| r.status())
            .map_err(|e| e.to_string())
    };
    // Headers that never end (slowloris): disconnected after the header timeout.
    let (answer, took) = http_raw(
        &collector,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n",
        Duration::from_secs(10),
    );
    assert!(took < Duration::from_secs(8), "held for {took:?}");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    // A body that never arrives: 408 after the request timeout.
    let (answer, took) = http_raw(
        &collector,
        b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nuser=a",
        Duration::from_secs(10),
    );
    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "{answer:?} after {took:?}"
    );
    // A body over the limit: 413, whatever the route.
    let body = format!("user=a&password={}&csrf=x", "p".repeat(8192));
    let status = match ureq::post(&format!("http://127.0.0.1:{}/login", collector.http))
        .set("Cookie", "gamsa_login=x")
        .set("Content-Type", "application/x-www-form-urlencoded")
        .send_string(&body)
    {
        Err(ureq::Error::Status(code, _)) => code,
        other => panic!("{other:?}"),
    };
    assert_eq!(status, 413);
    // Meanwhile the collector answers everyone else.
    assert_eq!(healthz().unwrap(), 200);
}

#[test]
fn connections_beyond_the_cap_wait_and_are_served_when_one_closes() {
    let collector =
        Collector::start_with("", "max_connections = 2\nheader_timeout = \"30s\"").unwrap();
    let a = TcpStream::connect(("127.0.0.1", collector.http)).unwrap();
    let _b = TcpStream::connect(("127.0.0.1", collector.http)).unwrap();
    // Both slots are held by idle connections: a third request waits.
    let url = format!("http://127.0.0.1:{}/healthz", collector.http);
    let waiting = std::thread::spawn(move || {
        let started = Instant::now();
        let status = ureq::get(&url)
            .call()
            .map(|r| r.status())
            .map_err(|e| e.to_string());
        (status, started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!waiting.is_finished(), "served beyond max_connections");
    drop(a);
    let (status, took) = waiting.join().unwrap();
    assert_eq!(status.unwrap(), 200);
    assert!(took >= Duration::from_millis(1500), "{took:?}");
}

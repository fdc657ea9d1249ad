//! A slow, silent, oversized or flooding peer cannot starve the others: each
//! limit of `[grpc]` and `[http]` is exercised against the real collector
//! process, with an honest agent served alongside.

use gamsa_proto::v1::ingest_client::IngestClient;
use gamsa_tests::raw::{batch, batch_of, client, hello, open, OpenStream};
use gamsa_tests::{wait_for, Collector};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

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

#[tokio::test(flavor = "multi_thread")]
async fn large_evidence_counts_against_its_agents_byte_rate_only() {
    let rate = 100_000;
    let collector = Collector::start_with(&format!("agent_bytes_rate = {rate}"), "").unwrap();
    let mut big = honest(&collector, "node-big").await;
    let mut small = honest(&collector, "node-small").await;
    let (batches, per_batch, pad) = (2u64, 4usize, 60_000usize);
    let sending = tokio::spawn(async move {
        let started = Instant::now();
        for seq in 1..=batches {
            big.send_acked(batch_of("node-big", seq, per_batch, pad), seq, ANSWER)
                .await
                .unwrap();
        }
        started.elapsed()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    small
        .send_acked(batch_of("node-small", 1, 5, 100), 1, ANSWER)
        .await
        .unwrap();
    let small_ack = started.elapsed();
    let big_took = sending.await.unwrap();
    // 480 kB at 100 kB/s with one second of burst: at least 3.8 s.
    let floor =
        Duration::from_secs_f64((batches as usize * per_batch * pad - rate) as f64 / rate as f64);
    assert!(
        big_took >= floor.mul_f64(0.9),
        "large evidence took {big_took:?}, faster than the byte rate allows ({floor:?})"
    );
    assert!(
        small_ack < Duration::from_secs(1),
        "the other agent waited {small_ack:?} behind the large evidence"
    );
    assert_eq!(collector.evidence("host=node-big").len(), 8, "nothing lost");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_agent_cannot_hold_more_than_its_share_of_streams() {
    let collector = Collector::start_with("agent_streams = 2", "").unwrap();
    let creds = collector.issue("node-greedy").unwrap();
    let c = client(&collector, Some(&creds)).await.unwrap();
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = open(c.clone(), vec![hello("node-greedy")]).await.unwrap();
        assert!(matches!(s.next(ANSWER).await, Some(Ok(_))), "welcome");
        held.push(s);
    }
    let status = match open(c.clone(), vec![hello("node-greedy")]).await {
        Err(status) => status,
        Ok(mut s) => s.error(ANSWER).await,
    };
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(collector.log().contains("grpc.agent_streams"));
    // Another agent is served meanwhile.
    let mut other = honest(&collector, "node-other").await;
    other
        .send_acked(batch("node-other"), 1, ANSWER)
        .await
        .unwrap();
    // A stream given back can be taken again.
    drop(held.pop());
    let started = Instant::now();
    loop {
        if let Ok(mut s) = open(c.clone(), vec![hello("node-greedy")]).await {
            if let Some(Ok(_)) = s.next(ANSWER).await {
                break;
            }
        }
        assert!(started.elapsed() < ANSWER, "a freed slot was never reused");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An ingest client for `creds` whose HTTP/2 receive window is small, so
/// that acks it does not read soon fill it.
async fn small_window_client(
    collector: &Collector,
    creds: &Path,
) -> IngestClient<tonic::transport::Channel> {
    let read = |p: &Path| std::fs::read_to_string(p).unwrap();
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read(
            &collector.data().join("pki/ca.crt"),
        )))
        .identity(Identity::from_pem(
            read(&creds.join("agent.crt")),
            read(&creds.join("agent.key")),
        ));
    let channel = Endpoint::from_shared(format!("https://127.0.0.1:{}", collector.grpc))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .initial_stream_window_size(Some(1024))
        .initial_connection_window_size(Some(65_535))
        .connect()
        .await
        .unwrap();
    IngestClient::new(channel)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_that_stops_reading_acks_is_cut_and_its_slot_returns() {
    let collector = Collector::start_with("max_streams = 1\nidle_timeout = \"2s\"", "").unwrap();
    let creds = collector.issue("node-stall").unwrap();
    let c = small_window_client(&collector, &creds).await;
    let mut stalled = open(c, vec![hello("node-stall")]).await.unwrap();
    assert!(matches!(stalled.next(ANSWER).await, Some(Ok(_))), "welcome");
    // Batches keep coming; their acks are never read.
    let tx = stalled.tx.clone();
    let sender = tokio::spawn(async move {
        for seq in 1..=5_000 {
            if tx.send(batch_of("node-stall", seq, 1, 10)).await.is_err() {
                break;
            }
        }
    });
    let started = Instant::now();
    wait_for("the stalled reader cut", Duration::from_secs(60), || {
        collector
            .log()
            .contains("the agent read no answer for 2s")
            .then_some(())
    });
    println!("stalled reader cut after {:?}", started.elapsed());
    // Its stream slot (the only one) is free for another agent.
    let creds = collector.issue("node-next").unwrap();
    let c = client(&collector, Some(&creds)).await.unwrap();
    let started = Instant::now();
    let mut next = loop {
        if let Ok(mut s) = open(c.clone(), vec![hello("node-next")]).await {
            if let Some(Ok(_)) = s.next(ANSWER).await {
                break s;
            }
        }
        assert!(
            started.elapsed() < ANSWER,
            "the stalled stream kept its slot"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    next.send_acked(batch("node-next"), 1, ANSWER)
        .await
        .unwrap();
    sender.abort();
}

/// A TLS connection to `port` trusting the collector CA, offering `alpn`,
/// with the handshake done.
fn tls_connect(
    collector: &Collector,
    port: u16,
    alpn: &[u8],
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(collector.data().join("pki/ca.crt")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).unwrap();
    }
    rustls::StreamOwned::new(conn, tcp)
}

/// Whether the peer closes `s` within `within` (end of stream or an error;
/// bytes it sends meanwhile are read and dropped).
fn closed_within(s: &mut impl Read, tcp: &TcpStream, within: Duration) -> bool {
    tcp.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    while started.elapsed() < within {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => return true,
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_without_a_certificate_are_capped_and_short_lived() {
    let collector = Collector::start_with(
        "max_enrol_connections = 3\nenrol_connection_lifetime = \"4s\"",
        "",
    )
    .unwrap();
    let opened = Instant::now();
    let mut kept = Vec::new();
    for _ in 0..3 {
        kept.push(tls_connect(&collector, collector.grpc, b"h2"));
        // The collector admits it before the next one comes.
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut extra = tls_connect(&collector, collector.grpc, b"h2");
    let tcp = extra.sock.try_clone().unwrap();
    assert!(
        closed_within(&mut extra, &tcp, Duration::from_secs(2)),
        "a connection beyond grpc.max_enrol_connections was kept"
    );
    // The refusal is logged (the log is read from the process's output, so
    // give it a moment to arrive).
    wait_for("the refusal in the log", Duration::from_secs(3), || {
        collector
            .log()
            .contains("grpc.max_enrol_connections")
            .then_some(())
    });
    // An agent with its certificate is served while the slots are taken.
    let mut s = honest(&collector, "node-cert").await;
    s.send_acked(batch("node-cert"), 1, ANSWER).await.unwrap();
    assert!(
        opened.elapsed() < Duration::from_secs(4),
        "too slow to tell"
    );
    for conn in &mut kept {
        let tcp = conn.sock.try_clone().unwrap();
        assert!(
            closed_within(conn, &tcp, Duration::from_secs(8)),
            "a connection without a certificate outlived grpc.enrol_connection_lifetime"
        );
    }
    assert!(
        opened.elapsed() >= Duration::from_millis(3500),
        "closed early: {:?}",
        opened.elapsed()
    );
    // Their slots are free again.
    let mut again = tls_connect(&collector, collector.grpc, b"h2");
    let tcp = again.sock.try_clone().unwrap();
    assert!(!closed_within(&mut again, &tcp, Duration::from_secs(1)));
}

/// `GET /healthz` within `within`.
fn healthz_within(collector: &Collector, within: Duration) -> Result<u16, String> {
    ureq::AgentBuilder::new()
        .timeout(within)
        .build()
        .get(&format!("http://127.0.0.1:{}/healthz", collector.http))
        .call()
        .map(|r| r.status())
        .map_err(|e| e.to_string())
}

#[test]
fn silent_and_one_byte_sockets_are_closed_and_healthz_answers() {
    let collector =
        Collector::start_with("", "max_connections = 4\nheader_timeout = \"1s\"").unwrap();
    // Silent sockets, and sockets that send one byte of each protocol's
    // first line (HTTP/1.1, the h2c preface): the cap is reached.
    let mut held: Vec<TcpStream> = Vec::new();
    for first in [&b""[..], b"G", b"P", b""] {
        let mut t = TcpStream::connect(("127.0.0.1", collector.http)).unwrap();
        t.write_all(first).unwrap();
        held.push(t);
    }
    let started = Instant::now();
    assert_eq!(healthz_within(&collector, Duration::from_secs(10)), Ok(200));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    for t in &mut held {
        let tcp = t.try_clone().unwrap();
        assert!(
            closed_within(t, &tcp, Duration::from_secs(3)),
            "a silent socket was kept"
        );
    }
}

#[test]
fn an_idle_http2_connection_is_closed() {
    let collector =
        Collector::start_with("", "idle_timeout = \"2s\"\nheader_timeout = \"1s\"").unwrap();
    let mut t = TcpStream::connect(("127.0.0.1", collector.http)).unwrap();
    // h2c: the preface, empty SETTINGS, and GET /healthz on stream 1 (HPACK:
    // GET, http, :path literal, :authority literal).
    let mut block = vec![0x82, 0x86, 0x44, 8];
    block.extend_from_slice(b"/healthz");
    block.extend_from_slice(&[0x41, 1, b'x']);
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&[0, 0, block.len() as u8, 1, 5, 0, 0, 0, 1]);
    out.extend_from_slice(&block);
    t.write_all(&out).unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let tcp = t.try_clone().unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let _ = t.read_to_end(&mut answer);
    let took = started.elapsed();
    assert!(!answer.is_empty(), "the request was not answered");
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(8),
        "an idle h2c connection was closed after {took:?}"
    );
}

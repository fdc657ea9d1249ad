//! Who may not write evidence: no certificate, a certificate from another CA,
//! an agent speaking for another, a revoked agent. Each is refused by the real
//! collector process and the refusal is in its log.

use gamsa_proto::v1::{
    agent_message, ingest_client::IngestClient, AgentMessage, Batch, Evidence, Hello, Status,
};
use gamsa_tests::{agent_config, start_agent, wait_for, Collector};
use std::path::Path;
use std::time::Duration;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

/// A raw ingest client with the collector CA and, optionally, an identity.
async fn client(
    collector: &Collector,
    creds: Option<&Path>,
) -> Result<IngestClient<tonic::transport::Channel>, String> {
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(
        &collector.data().join("pki/ca.crt"),
    )));
    if let Some(dir) = creds {
        tls = tls.identity(Identity::from_pem(
            read(&dir.join("agent.crt")),
            read(&dir.join("agent.key")),
        ));
    }
    let channel = Endpoint::from_shared(format!("https://127.0.0.1:{}", collector.grpc))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(IngestClient::new(channel))
}

fn hello(agent: &str) -> AgentMessage {
    AgentMessage {
        msg: Some(agent_message::Msg::Hello(Hello {
            agent_id: agent.into(),
            host: agent.into(),
            ..Default::default()
        })),
    }
}

fn batch(agent: &str) -> AgentMessage {
    AgentMessage {
        msg: Some(agent_message::Msg::Batch(Batch {
            seq: 1,
            evidence: vec![Evidence {
                id: uuid_like(),
                agent_id: agent.into(),
                host: agent.into(),
                probe: "host".into(),
                subject: agent.into(),
                status: Status::Error as i32,
                error: "synthetic".into(),
                observed_at: Some(gamsa_proto::Timestamp::from_unix_millis(1_700_000_000_000)),
                payload: None,
            }],
        })),
    }
}

fn uuid_like() -> String {
    format!(
        "{:032x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

/// Opens a stream with `msgs` and returns the first error the collector sends.
async fn stream_error(
    mut c: IngestClient<tonic::transport::Channel>,
    msgs: Vec<AgentMessage>,
) -> tonic::Status {
    let outbound = tokio_stream::iter(msgs).chain(tokio_stream::pending());
    match c.stream(outbound).await {
        Err(status) => status,
        Ok(resp) => {
            let mut inbound = resp.into_inner();
            loop {
                match tokio::time::timeout(Duration::from_secs(10), inbound.message()).await {
                    Ok(Ok(Some(_))) => continue,
                    Ok(Ok(None)) => panic!("stream ended without an error"),
                    Ok(Err(status)) => return status,
                    Err(_) => panic!("no refusal within 10s"),
                }
            }
        }
    }
}

use tokio_stream::StreamExt;

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

//! A raw ingest client speaking gRPC directly to a collector: for what the
//! real agent never sends (impostor hellos, floods, oversized or no messages).

use crate::Collector;
use gamsa_proto::v1::{
    agent_message, ingest_client::IngestClient, AgentMessage, Batch, CollectorMessage, Evidence,
    Hello, Status,
};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio_stream::StreamExt;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A client trusting the collector CA, with the identity (`agent.crt`,
/// `agent.key`) in `creds` if given; the connection error as text otherwise.
pub async fn client(
    collector: &Collector,
    creds: Option<&Path>,
) -> Result<IngestClient<Channel>, String> {
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
        .map_err(|e| e.to_string())?
        .tls_config(tls)
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(IngestClient::new(channel))
}

pub fn hello(agent: &str) -> AgentMessage {
    AgentMessage {
        msg: Some(agent_message::Msg::Hello(Hello {
            agent_id: agent.into(),
            host: agent.into(),
            ..Default::default()
        })),
    }
}

/// A batch of `n` error evidence claiming `agent`, each with a fresh id and
/// an `error` text of the id and `pad` bytes.
pub fn batch_of(agent: &str, seq: u64, n: usize, pad: usize) -> AgentMessage {
    AgentMessage {
        msg: Some(agent_message::Msg::Batch(Batch {
            seq,
            evidence: (0..n)
                .map(|_| {
                    let id = unique_id();
                    Evidence {
                        // Content of its own (its id in it): no evidence is a
                        // run seen again, which the store keeps as one.
                        error: format!("{id} {}", "x".repeat(pad.max(1))),
                        id,
                        agent_id: agent.into(),
                        host: agent.into(),
                        probe: "host".into(),
                        subject: agent.into(),
                        status: Status::Error as i32,
                        observed_at: Some(gamsa_proto::Timestamp::from_unix_millis(
                            1_700_000_000_000,
                        )),
                        ..Default::default()
                    }
                })
                .collect(),
        })),
    }
}

pub fn batch(agent: &str) -> AgentMessage {
    batch_of(agent, 1, 1, 9)
}

/// Ids unique within the test process and across runs.
pub fn unique_id() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{nanos:032x}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// An open ingest stream: messages go in through `tx`, answers come out.
pub struct OpenStream {
    pub tx: tokio::sync::mpsc::Sender<AgentMessage>,
    pub rx: tonic::Streaming<CollectorMessage>,
}

/// Opens a stream sending `first` (e.g. a Hello); the refusal if the
/// collector answers the call with an error.
pub async fn open(
    mut c: IngestClient<Channel>,
    first: Vec<AgentMessage>,
) -> Result<OpenStream, tonic::Status> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    for m in first {
        let _ = tx.send(m).await;
    }
    let resp = c
        .stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await?;
    Ok(OpenStream {
        tx,
        rx: resp.into_inner(),
    })
}

impl OpenStream {
    /// The next message, an error status, or `None` when the stream ended;
    /// panics after `within`.
    pub async fn next(
        &mut self,
        within: Duration,
    ) -> Option<Result<CollectorMessage, tonic::Status>> {
        tokio::time::timeout(within, self.rx.next())
            .await
            .unwrap_or_else(|_| panic!("no answer from the collector within {within:?}"))
    }

    /// Sends a message and waits for the ack of `seq`, skipping other messages.
    pub async fn send_acked(
        &mut self,
        msg: AgentMessage,
        seq: u64,
        within: Duration,
    ) -> Result<(), tonic::Status> {
        let _ = self.tx.send(msg).await;
        loop {
            match self.next(within).await {
                Some(Ok(CollectorMessage {
                    msg: Some(gamsa_proto::v1::collector_message::Msg::Ack(a)),
                })) if a.seq == seq => return Ok(()),
                Some(Ok(_)) => continue,
                Some(Err(status)) => return Err(status),
                None => return Err(tonic::Status::aborted("stream ended without an ack")),
            }
        }
    }

    /// The first error status the collector sends; panics if it sends none
    /// within `within`.
    pub async fn error(&mut self, within: Duration) -> tonic::Status {
        loop {
            match self.next(within).await {
                Some(Ok(_)) => continue,
                Some(Err(status)) => return status,
                None => panic!("stream ended without an error"),
            }
        }
    }
}

/// Opens a stream with `msgs` and returns the first error the collector sends.
pub async fn stream_error(c: IngestClient<Channel>, msgs: Vec<AgentMessage>) -> tonic::Status {
    match open(c, msgs).await {
        Err(status) => status,
        Ok(mut s) => s.error(Duration::from_secs(10)).await,
    }
}

//! Streams evidence to the collector over mutual TLS, and keeps doing so.
//!
//! One bidirectional stream per connection: Hello, then numbered batches (at
//! most `window` unacked). Acks release evidence from the buffer; a dropped
//! connection puts unacked batches back (they are in the on-disk spool) and
//! the agent reconnects with
//! exponential backoff, moving to the next configured collector each time.

use crate::config::CollectorConfig;
use crate::probes::ProbeContext;
use crate::spool::Spool;
use gamsa_proto::v1::{
    agent_message, collector_message, control, evidence::Payload, ingest_client::IngestClient,
    AgentMessage, AgentNotice, Batch, Evidence, Hello,
};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;

/// The agent's credentials, read once at start.
#[derive(Clone)]
pub struct Credentials {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

pub struct Transport {
    pub config: CollectorConfig,
    pub credentials: Credentials,
    pub ctx: ProbeContext,
    pub hello: Hello,
    /// Evidence that could not be written to the spool, to report.
    pub lost: std::sync::atomic::AtomicU64,
}

enum SessionEnd {
    Shutdown,
    Closed(String),
}

/// Exponential backoff between reconnects, with jitter.
struct Backoff {
    next: Duration,
}

impl Backoff {
    const MIN: Duration = Duration::from_millis(250);
    const MAX: Duration = Duration::from_secs(30);

    fn step(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        d.mul_f64(0.5 + rand::random::<f64>() * 0.5)
    }

    fn reset(&mut self) {
        self.next = Self::MIN;
    }
}

impl Transport {
    pub async fn run(
        self,
        mut buffer: Spool,
        mut evidence: mpsc::Receiver<Evidence>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut backoff = Backoff { next: Backoff::MIN };
        let endpoints = self.config.endpoints.clone();
        let mut i = 0;
        loop {
            let endpoint = &endpoints[i % endpoints.len()];
            let started = Instant::now();
            match self
                .session(endpoint, &mut buffer, &mut evidence, &mut shutdown)
                .await
            {
                Ok(SessionEnd::Shutdown) => return,
                Ok(SessionEnd::Closed(why)) => {
                    tracing::warn!(%endpoint, "collector stream closed: {why}")
                }
                Err(e) => {
                    tracing::warn!(%endpoint, error = %format!("{e:#}"), "cannot stream to collector")
                }
            }
            buffer.requeue();
            if started.elapsed() > Duration::from_secs(30) {
                backoff.reset();
            }
            i += 1;
            let pause = tokio::time::sleep(backoff.step());
            tokio::pin!(pause);
            loop {
                tokio::select! {
                    _ = &mut pause => break,
                    ev = evidence.recv() => match ev {
                        Some(ev) => self.spool(&mut buffer, &ev),
                        None => return,
                    },
                    _ = shutdown.changed() => return,
                }
            }
        }
    }

    /// Writes evidence to the spool; a write that fails counts as dropped.
    fn spool(&self, spool: &mut Spool, ev: &Evidence) {
        tracing::debug!(
            id = %ev.id,
            probe = %ev.probe,
            subject = ?ev.subject,
            observed_ms = ev.observed_at.map(|t| t.unix_millis()).unwrap_or_default(),
            "evidence spooled"
        );
        if let Err(e) = spool.push(ev) {
            tracing::error!(id = %ev.id, error = %e, "evidence could not be spooled");
            self.lost.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    fn notice_dropped(&self, spool: &mut Spool) {
        let dropped =
            spool.take_dropped() + self.lost.swap(0, std::sync::atomic::Ordering::Relaxed);
        if dropped > 0 {
            tracing::warn!(dropped, "spool full or failing: evidence dropped");
            let notice = self.ctx.observed(
                "agent",
                &self.ctx.agent_id,
                Payload::AgentNotice(AgentNotice {
                    kind: "spool_dropped".into(),
                    count: dropped,
                    detail: "evidence dropped: the spool reached its size limit while the collector was unreachable, could not be written, or held unreadable records when the agent started".into(),
                }),
            );
            self.spool(spool, &notice);
        }
    }

    async fn session(
        &self,
        endpoint: &str,
        buffer: &mut Spool,
        evidence: &mut mpsc::Receiver<Evidence>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> anyhow::Result<SessionEnd> {
        let c = &self.credentials;
        let tls = crate::tls::client_config(
            &c.ca_pem,
            Some((&c.cert_pem, &c.key_pem)),
            &self.config.server_name,
        );
        let channel = tonic::transport::Endpoint::from_shared(endpoint.to_string())?
            .tls_config(tls)?
            .connect_timeout(Duration::from_secs(5))
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_timeout(Duration::from_secs(20))
            .connect()
            .await?;
        let mut client = IngestClient::new(channel)
            .max_encoding_message_size(16 * 1024 * 1024)
            .max_decoding_message_size(1024 * 1024);
        let (tx, rx) = mpsc::channel(self.config.window + 2);
        let mut hello = self.hello.clone();
        hello.sent_at = Some(crate::evidence::now());
        tx.send(AgentMessage {
            msg: Some(agent_message::Msg::Hello(hello)),
        })
        .await?;
        let mut inbound = client.stream(ReceiverStream::new(rx)).await?.into_inner();
        tracing::info!(%endpoint, "streaming to collector");
        let mut flush = tokio::time::interval(self.config.batch_interval);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let mut flush_due = false;
            tokio::select! {
                msg = inbound.message() => match msg? {
                    Some(m) => self.handle(m, buffer),
                    None => return Ok(SessionEnd::Closed("collector ended the stream".into())),
                },
                ev = evidence.recv() => match ev {
                    Some(ev) => {
                        self.spool(buffer, &ev);
                        while let Ok(ev) = evidence.try_recv() {
                            self.spool(buffer, &ev);
                        }
                    }
                    None => return Ok(SessionEnd::Shutdown),
                },
                _ = flush.tick() => flush_due = true,
                _ = shutdown.changed() => {
                    self.drain(buffer, &tx, &mut inbound).await;
                    return Ok(SessionEnd::Shutdown);
                }
            }
            self.notice_dropped(buffer);
            while buffer.in_flight() < self.config.window
                && (buffer.unsent() >= self.config.batch_size || (flush_due && buffer.unsent() > 0))
            {
                let Some((seq, batch)) = buffer.next_batch(self.config.batch_size)? else {
                    break;
                };
                let msg = AgentMessage {
                    msg: Some(agent_message::Msg::Batch(Batch {
                        seq,
                        evidence: batch,
                    })),
                };
                if tx.send(msg).await.is_err() {
                    return Ok(SessionEnd::Closed("send side closed".into()));
                }
            }
        }
    }

    /// On shutdown: send what is left and wait briefly for the acks.
    async fn drain(
        &self,
        buffer: &mut Spool,
        tx: &mpsc::Sender<AgentMessage>,
        inbound: &mut tonic::Streaming<gamsa_proto::v1::CollectorMessage>,
    ) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        while let Ok(Some((seq, batch))) = buffer.next_batch(self.config.batch_size) {
            let msg = AgentMessage {
                msg: Some(agent_message::Msg::Batch(Batch {
                    seq,
                    evidence: batch,
                })),
            };
            if tx.send(msg).await.is_err() {
                return;
            }
        }
        while buffer.in_flight() > 0 {
            match tokio::time::timeout_at(deadline, inbound.message()).await {
                Ok(Ok(Some(m))) => self.handle(m, buffer),
                _ => break,
            }
        }
        if !buffer.is_empty() {
            tracing::warn!(
                unacked = buffer.len(),
                "stopping with evidence not yet acked"
            );
        }
    }

    fn handle(&self, msg: gamsa_proto::v1::CollectorMessage, buffer: &mut Spool) {
        match msg.msg {
            Some(collector_message::Msg::Ack(ack)) => {
                if let Err(e) = buffer.ack(ack.seq) {
                    tracing::error!(error = %e, "ack could not be recorded; the batch will be resent");
                }
            }
            Some(collector_message::Msg::Welcome(w)) => {
                if let Some(t) = w.server_time {
                    let server_ms = t.unix_millis();
                    let local = crate::evidence::now();
                    let local_ms = local.unix_millis();
                    self.ctx.control.set_collector_offset(local_ms - server_ms);
                }
                tracing::debug!(collector = %w.collector_id, "collector welcomed us");
            }
            Some(collector_message::Msg::Control(c)) => match c.action {
                Some(control::Action::PauseScanning(pause)) => {
                    self.ctx
                        .control
                        .scanning_paused
                        .store(pause, Ordering::Relaxed);
                    tracing::info!(paused = pause, "collector changed active scanning");
                }
                Some(control::Action::ScanScope(scope)) => {
                    tracing::info!(?scope, "collector sent a scan scope");
                    if let Ok(mut s) = self.ctx.control.scan_scope.lock() {
                        *s = Some(scope);
                    }
                }
                None => {}
            },
            None => {}
        }
    }
}

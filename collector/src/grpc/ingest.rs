//! The ingest stream: Hello, then numbered batches, each acked only after the
//! store has durably committed it.
//!
//! Identity is the client certificate's common name. The Hello and every
//! piece of evidence must carry that same `agent_id` and name a host bound to
//! that agent (at enrolment, `store::Store::bind_host`); one that does not
//! ends the stream and nothing of its batch is stored, because an agent
//! speaking for another agent or host is an attack, not a data error.
//! Evidence no reader could use (`validate.rs`) is refused alone: the rest
//! of its batch is stored, and the ack counts what was refused.
//!
//! A stream holds one of `grpc.max_streams` permits, and one of its agent's
//! `grpc.agent_streams`, for its lifetime, so one certificate cannot take
//! every slot. It must send Hello within `grpc.request_timeout`, something
//! within every `grpc.idle_timeout`, and read each ack within that same
//! time: an agent that stops reading would otherwise hold the stream (and
//! its permits) forever. Each batch waits for its agent's share of
//! `grpc.agent_rate` (evidence) and `grpc.agent_bytes_rate` (bytes) before
//! it is stored, so a flood, of many or of large evidence, slows only its
//! sender.

use super::budget::LatestBudget;
use super::validate::{self, bound_hosts};
use crate::config::{GrpcConfig, IngestConfig};
use crate::state::AppState;
use crate::store::AgentRecord;
use gamsa_proto::v1::{
    agent_message, collector_message, ingest_server::Ingest, Ack, AgentMessage, CollectorMessage,
    Evidence, Welcome,
};
use governor::{DefaultKeyedRateLimiter, Quota};
use prost::Message;
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Semaphore};
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

pub struct IngestService {
    state: AppState,
    streams: Arc<Semaphore>,
    limits: Arc<Limits>,
}

/// What a running stream needs of `[grpc]`.
struct Limits {
    hello_timeout: Duration,
    idle_timeout: Duration,
    /// Evidence per second, keyed by agent id (so reconnecting resets nothing).
    rate: Budget,
    /// Evidence bytes per second, keyed likewise.
    bytes: Budget,
    /// Streams each agent holds now, and how many it may.
    open: Mutex<HashMap<String, usize>>,
    agent_streams: usize,
    /// What one evidence may be (`[ingest]`).
    ingest: IngestConfig,
}

/// A per-agent rate with a burst of one second's worth.
struct Budget {
    limiter: DefaultKeyedRateLimiter<String>,
    burst: NonZeroU32,
}

impl Budget {
    fn per_second(n: u32) -> Self {
        let burst = NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: governor::RateLimiter::keyed(Quota::per_second(burst)),
            burst,
        }
    }

    /// Waits until `agent` may spend `n` more.
    async fn spend(&self, agent: &String, n: usize) {
        let mut left = n;
        while left > 0 {
            let chunk = left.min(self.burst.get() as usize);
            let cells = NonZeroU32::new(chunk as u32).unwrap_or(NonZeroU32::MIN);
            // `chunk` never exceeds the burst, so this cannot be refused.
            let _ = self.limiter.until_key_n_ready(agent, cells).await;
            left -= chunk;
        }
    }
}

/// One of an agent's `grpc.agent_streams`, given back when dropped.
struct AgentSlot {
    limits: Arc<Limits>,
    agent: String,
}

impl Drop for AgentSlot {
    fn drop(&mut self) {
        let mut open = self.limits.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.agent) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.agent);
            }
        }
    }
}

impl IngestService {
    pub fn new(state: AppState, config: &GrpcConfig, ingest: &IngestConfig) -> Self {
        Self {
            state,
            streams: Arc::new(Semaphore::new(config.max_streams)),
            limits: Arc::new(Limits {
                hello_timeout: config.request_timeout,
                idle_timeout: config.idle_timeout,
                rate: Budget::per_second(config.agent_rate),
                bytes: Budget::per_second(config.agent_bytes_rate),
                open: Mutex::default(),
                agent_streams: config.agent_streams,
                ingest: ingest.clone(),
            }),
        }
    }
}

impl Limits {
    /// Waits until `agent` may store `evidence`: its count and its bytes.
    async fn admit(&self, agent: &str, evidence: &[Evidence]) {
        let key = agent.to_string();
        let bytes = evidence.iter().map(Message::encoded_len).sum();
        self.rate.spend(&key, evidence.len()).await;
        self.bytes.spend(&key, bytes).await;
    }

    /// One of `agent`'s stream slots; `None` when it holds them all.
    fn slot(self: &Arc<Self>, agent: &str) -> Option<AgentSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(agent.to_string()).or_default();
        if *n >= self.agent_streams {
            return None;
        }
        *n += 1;
        Some(AgentSlot {
            limits: self.clone(),
            agent: agent.to_string(),
        })
    }

    /// Sends `msg` to the agent, which must take it within `idle_timeout`.
    /// `Ok(false)` when the agent has hung up.
    async fn send(
        &self,
        tx: &mpsc::Sender<Result<CollectorMessage, Status>>,
        msg: CollectorMessage,
        peer: &str,
        agent: &str,
    ) -> Result<bool, Status> {
        match tokio::time::timeout(self.idle_timeout, tx.send(Ok(msg))).await {
            Ok(sent) => Ok(sent.is_ok()),
            Err(_) => Err(refuse(
                peer,
                agent,
                "stalled_reader",
                format!("the agent read no answer for {:?}", self.idle_timeout),
            )),
        }
    }
}

type Outbound = Pin<Box<dyn Stream<Item = Result<CollectorMessage, Status>> + Send>>;

/// How often a stream re-checks whether its agent was revoked.
const REVOCATION_CHECK: Duration = Duration::from_secs(5);

fn refuse(peer: &str, agent: &str, reason: &'static str, detail: String) -> Status {
    crate::metrics::refusal(reason);
    tracing::warn!(%peer, agent_id = %agent, reason, "refused agent: {detail}");
    match reason {
        "no_certificate" | "bad_certificate" => Status::unauthenticated(detail),
        _ => Status::permission_denied(detail),
    }
}

#[tonic::async_trait]
impl Ingest for IngestService {
    type StreamStream = Outbound;

    async fn stream(
        &self,
        req: Request<Streaming<AgentMessage>>,
    ) -> Result<Response<Outbound>, Status> {
        let peer = super::peer(&req);
        let permit = self.streams.clone().try_acquire_owned().map_err(|_| {
            crate::metrics::refusal("too_many_streams");
            tracing::warn!(%peer, "refused stream: grpc.max_streams streams are open");
            Status::resource_exhausted(
                "the collector has as many streams as it allows; retry later",
            )
        })?;
        let certs = req.peer_certs().filter(|c| !c.is_empty()).ok_or_else(|| {
            refuse(
                &peer,
                "",
                "no_certificate",
                "no client certificate presented".into(),
            )
        })?;
        let agent_id = crate::pki::common_name(certs[0].as_ref()).ok_or_else(|| {
            refuse(
                &peer,
                "",
                "bad_certificate",
                "client certificate has no common name".into(),
            )
        })?;
        let slot = self.limits.slot(&agent_id).ok_or_else(|| {
            crate::metrics::refusal("too_many_agent_streams");
            tracing::warn!(%peer, %agent_id, "refused stream: the agent holds grpc.agent_streams streams");
            Status::resource_exhausted(
                "this agent has as many streams open as the collector allows it; retry later",
            )
        })?;
        let store = self.state.store.clone();
        // Revoked, or holding a certificate the agent's name was issued
        // anew since (re-enrolment, reinstatement).
        let certificate = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(certs[0].as_ref()));
        if store
            .certificate_refused(&agent_id, &certificate)
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?
        {
            return Err(refuse(
                &peer,
                &agent_id,
                "revoked",
                "agent is revoked, or its certificate was superseded".into(),
            ));
        }
        let mut inbound = req.into_inner();
        // The call is answered now; Hello and batches are read by the stream's
        // own task, so a silent peer holds no call open (and is timed out).
        let (tx, rx) = mpsc::channel(64);
        let state = self.state.clone();
        let limits = self.limits.clone();
        tokio::spawn(async move {
            let _permits = (permit, slot);
            let _guard = crate::metrics::StreamGuard::open();
            let result = match greet(&state, &limits, &agent_id, &peer, &mut inbound, &tx).await {
                Ok(bound) => {
                    pump(&state, &limits, &agent_id, &peer, bound, &mut inbound, &tx).await
                }
                Err(status) => Err(status),
            };
            if let Err(status) = result {
                tracing::info!(%peer, %agent_id, code = ?status.code(), "agent stream ended: {}", status.message());
                // Not waited for: a peer that stopped reading would hold the task.
                let _ = tx.try_send(Err(status));
            }
            if let Ok(mut agents) = state.agents.lock() {
                if agents.get(&agent_id).is_some_and(|s| s.same_channel(&tx)) {
                    agents.remove(&agent_id);
                }
            }
            tracing::info!(%peer, %agent_id, "agent stream closed");
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}

/// The hosts `agent_id` may report for.
async fn bound(state: &AppState, agent_id: &str) -> Result<Vec<String>, Status> {
    state
        .store
        .bound_hosts(agent_id)
        .await
        .map_err(|e| Status::unavailable(e.to_string()))
}

/// Reads the Hello, records the agent, welcomes it and registers its
/// control channel; the hosts the agent may report for.
async fn greet(
    state: &AppState,
    limits: &Limits,
    agent_id: &str,
    peer: &str,
    inbound: &mut Streaming<AgentMessage>,
    tx: &mpsc::Sender<Result<CollectorMessage, Status>>,
) -> Result<Vec<String>, Status> {
    let first = tokio::time::timeout(limits.hello_timeout, inbound.next())
        .await
        .map_err(|_| {
            refuse(
                peer,
                agent_id,
                "hello_timeout",
                format!("no Hello within {:?}", limits.hello_timeout),
            )
        })?;
    let hello = match first {
        Some(Ok(AgentMessage {
            msg: Some(agent_message::Msg::Hello(h)),
        })) => h,
        Some(Err(e)) => return Err(e),
        _ => {
            return Err(refuse(
                peer,
                agent_id,
                "protocol",
                "the first message must be Hello".into(),
            ))
        }
    };
    if hello.agent_id != agent_id {
        return Err(refuse(
            peer,
            agent_id,
            "impersonation",
            format!(
                "hello claims agent_id {:?} but the certificate identity is {:?}",
                hello.agent_id, agent_id
            ),
        ));
    }
    if let Err(detail) = validate::hello(&hello, &limits.ingest) {
        return Err(refuse(peer, agent_id, "invalid_hello", detail));
    }
    let hosts = bound(state, agent_id).await?;
    if !hosts.contains(&hello.host) {
        return Err(refuse(
            peer,
            agent_id,
            "host_mismatch",
            format!(
                "hello names host {:?} but agent {agent_id:?} is bound to {}",
                hello.host,
                bound_hosts(&hosts)
            ),
        ));
    }
    let now = crate::clock::now_ms();
    state
        .store
        .upsert_agent(AgentRecord {
            agent_id: agent_id.to_string(),
            host: hello.host.clone(),
            version: hello.agent_version.clone(),
            os: hello.os.clone(),
            kernel: hello.kernel.clone(),
            capabilities: hello.capabilities.clone(),
            labels: hello.labels.clone().into_iter().collect(),
            first_seen_ms: now,
            last_seen_ms: now,
            peer: peer.to_string(),
            revoked: false,
        })
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    tracing::info!(%peer, %agent_id, host = %hello.host, version = %hello.agent_version, "agent connected");
    let welcome = CollectorMessage {
        msg: Some(collector_message::Msg::Welcome(Welcome {
            collector_id: state.collector_id.clone(),
            server_time: Some(crate::clock::timestamp_now()),
        })),
    };
    limits.send(tx, welcome, peer, agent_id).await?;
    state
        .agents
        .lock()
        .map_err(|_| Status::internal("agent registry poisoned"))?
        .insert(agent_id.to_string(), tx.clone());
    Ok(hosts)
}

/// Reads batches until the agent hangs up; commits and acks each in order.
/// `hosts` are those the agent may report for, re-read with revocation.
async fn pump(
    state: &AppState,
    limits: &Limits,
    agent_id: &str,
    peer: &str,
    mut hosts: Vec<String>,
    inbound: &mut Streaming<AgentMessage>,
    tx: &mpsc::Sender<Result<CollectorMessage, Status>>,
) -> Result<(), Status> {
    let mut last_check = Instant::now();
    let mut budget = LatestBudget::new(limits.ingest.max_host_latest_bytes);
    loop {
        let Ok(next) = tokio::time::timeout(limits.idle_timeout, inbound.next()).await else {
            return Err(refuse(
                peer,
                agent_id,
                "idle_timeout",
                format!("nothing received for {:?}", limits.idle_timeout),
            ));
        };
        let Some(msg) = next else { break };
        let batch = match msg?.msg {
            Some(agent_message::Msg::Batch(b)) => b,
            Some(agent_message::Msg::Hello(_)) => {
                return Err(refuse(
                    peer,
                    agent_id,
                    "protocol",
                    "Hello sent twice".into(),
                ))
            }
            None => continue,
        };
        if last_check.elapsed() >= REVOCATION_CHECK {
            last_check = Instant::now();
            let revoked = state
                .store
                .is_revoked(agent_id)
                .await
                .map_err(|e| Status::unavailable(e.to_string()))?;
            if revoked {
                return Err(refuse(
                    peer,
                    agent_id,
                    "revoked",
                    "agent was revoked".into(),
                ));
            }
            let _ = state
                .store
                .touch_agent(agent_id, crate::clock::now_ms())
                .await;
            hosts = bound(state, agent_id).await?;
        }
        for ev in &batch.evidence {
            if let Err(refusal) = validate::identity(ev, agent_id, &hosts) {
                return Err(refuse(
                    peer,
                    agent_id,
                    refusal.reason(),
                    refusal.to_string(),
                ));
            }
        }
        limits.admit(agent_id, &batch.evidence).await;
        let now = crate::clock::now_ms();
        let total = batch.evidence.len();
        let valid: Vec<Evidence> = batch
            .evidence
            .into_iter()
            .filter(|ev| match validate::content(ev, now, &limits.ingest) {
                Ok(()) => true,
                Err(refusal) => {
                    crate::metrics::refusal(refusal.reason());
                    tracing::warn!(%peer, %agent_id, seq = batch.seq, "refused evidence: {refusal}");
                    false
                }
            })
            .collect();
        for ev in &valid {
            budget
                .load(state.store.as_ref(), &ev.host)
                .await
                .map_err(|e| Status::unavailable(e.to_string()))?;
        }
        let valid: Vec<Evidence> = valid
            .into_iter()
            .filter(|ev| match budget.admit(ev) {
                Ok(()) => true,
                Err(problem) => {
                    crate::metrics::refusal("latest_budget");
                    tracing::warn!(%peer, %agent_id, seq = batch.seq, "refused evidence: evidence {} ({} {:?}): {problem}", ev.id, ev.probe, ev.subject);
                    false
                }
            })
            .collect();
        let refused = (total - valid.len()) as u32;
        let started = Instant::now();
        let outcome = state.store.insert_batch(valid).await.map_err(|e| {
            tracing::error!(%agent_id, seq = batch.seq, error = %e, "batch not stored");
            Status::unavailable(format!("batch {} not stored: {e}", batch.seq))
        })?;
        crate::metrics::batch(
            outcome.accepted,
            outcome.duplicates,
            started.elapsed().as_secs_f64(),
        );
        let ack = CollectorMessage {
            msg: Some(collector_message::Msg::Ack(Ack {
                seq: batch.seq,
                accepted: outcome.accepted,
                duplicates: outcome.duplicates,
                refused,
            })),
        };
        if !limits.send(tx, ack, peer, agent_id).await? {
            break;
        }
    }
    Ok(())
}

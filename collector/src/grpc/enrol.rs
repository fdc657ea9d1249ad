//! Enrolment: an agent with a token and a CSR gets a client certificate, as a
//! kubelet's TLS bootstrap does, so a DaemonSet needs only a token Secret.
//! The private key is made on the agent and never travels.
//!
//! Enrolment also binds the host the agent names to it (`bind`): from then
//! on the collector stores that host's evidence from this agent only. The
//! binding is made here, once, by an agent holding an admin's token, or by an
//! admin (`ca issue --host`, `agent bind`); never by what an agent later
//! says in a Hello or in evidence.

use crate::state::AppState;
use crate::store::{Binding, Store, StoreError, TokenKind};
use gamsa_proto::v1::{enrolment_server::Enrolment, EnrolRequest, EnrolResponse};
use tonic::{Request, Response, Status};

pub struct EnrolService {
    state: AppState,
}

impl EnrolService {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

/// How long an enrolled agent's certificate is valid.
pub const AGENT_CERT_DAYS: i64 = 365;

#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("host {host:?} is bound to agent {holder:?}, so agent {agent:?} may not report for it (revoke {holder:?} first)")]
    Held {
        host: String,
        holder: String,
        agent: String,
    },
    #[error("no host named (an agent older than host binding: upgrade it)")]
    NoHost,
    #[error("invalid host name {0:?}: use 1-253 bytes without control characters")]
    BadHost(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Binds `host` to `agent`: only `agent` may report for `host` from now on.
/// Refused while another agent that is not revoked holds it.
pub async fn bind(store: &dyn Store, agent: &str, host: &str) -> Result<(), BindError> {
    if host.is_empty() {
        return Err(BindError::NoHost);
    }
    if host.len() > 253 || host.chars().any(char::is_control) {
        return Err(BindError::BadHost(host.into()));
    }
    match store.bind_host(agent, host, crate::clock::now_ms()).await? {
        Binding::Bound => Ok(()),
        Binding::HeldBy(holder) => Err(BindError::Held {
            host: host.into(),
            holder,
            agent: agent.into(),
        }),
    }
}

#[tonic::async_trait]
impl Enrolment for EnrolService {
    async fn enrol(&self, req: Request<EnrolRequest>) -> Result<Response<EnrolResponse>, Status> {
        let peer = super::peer(&req);
        let r = req.into_inner();
        let refuse = |why: &str| {
            crate::metrics::refusal("enrol");
            tracing::warn!(%peer, agent_id = %r.agent_id, "refused enrolment: {why}");
            Status::permission_denied(format!("enrolment refused: {why}"))
        };
        if let Err(e) = crate::pki::validate_agent_name(&r.agent_id) {
            return Err(refuse(&e.to_string()));
        }
        let store = &self.state.store;
        let token = store
            .use_token(
                &crate::tokens::hash(&r.token),
                TokenKind::Enrol,
                crate::clock::now_ms(),
            )
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?
            .ok_or_else(|| refuse("unknown, expired or used-up token"))?;
        // A token bound to a name enrols only that name; an unbound (shared)
        // token may not take over a name that is already enrolled.
        if !token.name.is_empty() && token.name != r.agent_id {
            return Err(refuse(&format!("token is bound to agent {:?}", token.name)));
        }
        let known = store
            .list_agents()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?
            .into_iter()
            .any(|a| a.agent_id == r.agent_id);
        if token.name.is_empty() && known {
            return Err(refuse(
                "agent name already enrolled; issue a token bound to it",
            ));
        }
        let pki = self.state.pki.clone();
        let (agent, csr) = (r.agent_id.clone(), r.csr_pem.clone());
        let cert = tokio::task::spawn_blocking(move || {
            crate::pki::sign_csr(&pki, &agent, &csr, AGENT_CERT_DAYS)
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(|e| refuse(&format!("bad CSR: {e}")))?;
        // After the CSR is known good, so that a refused request binds nothing.
        bind(store.as_ref(), &r.agent_id, &r.host)
            .await
            .map_err(|e| match e {
                BindError::Store(e) => Status::unavailable(e.to_string()),
                e => refuse(&e.to_string()),
            })?;
        let ca_pem = crate::pki::read(&self.state.pki.ca_cert())
            .map_err(|e| Status::internal(e.to_string()))?;
        store
            .upsert_agent(crate::store::AgentRecord {
                agent_id: r.agent_id.clone(),
                host: r.host.clone(),
                last_seen_ms: crate::clock::now_ms(),
                peer: peer.clone(),
                ..Default::default()
            })
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        tracing::info!(%peer, agent_id = %r.agent_id, host = %r.host, "agent enrolled");
        Ok(Response::new(EnrolResponse {
            certificate_pem: cert,
            ca_pem,
        }))
    }
}

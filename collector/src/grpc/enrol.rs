//! Enrolment: an agent with a token and a CSR gets a client certificate, as a
//! kubelet's TLS bootstrap does, so a DaemonSet needs only a token Secret.
//! The private key is made on the agent and never travels.

use crate::state::AppState;
use crate::store::TokenKind;
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
                crate::state::now_ms(),
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
        let ca_pem = crate::pki::read(&self.state.pki.ca_cert())
            .map_err(|e| Status::internal(e.to_string()))?;
        store
            .upsert_agent(crate::store::AgentRecord {
                agent_id: r.agent_id.clone(),
                last_seen_ms: crate::state::now_ms(),
                peer: peer.clone(),
                ..Default::default()
            })
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        tracing::info!(%peer, agent_id = %r.agent_id, "agent enrolled");
        Ok(Response::new(EnrolResponse {
            certificate_pem: cert,
            ca_pem,
        }))
    }
}

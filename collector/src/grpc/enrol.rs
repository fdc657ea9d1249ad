//! Enrolment: an agent with a token and a CSR gets a client certificate, as a
//! kubelet's TLS bootstrap does, so a DaemonSet needs only a token Secret.
//! The private key is made on the agent and never travels.
//!
//! Enrolment also binds the host the agent names to it (`bind`): from then
//! on the collector stores that host's evidence from this agent only. The
//! binding is made here, once, by an agent holding an admin's token, or by an
//! admin (`ca issue --host`, `agent bind`); never by what an agent later
//! says in a Hello or in evidence.
//!
//! Everything that can be checked without the store — the name, the host,
//! the CSR (signed here, the certificate handed out only if the claim holds)
//! — is checked before the token is touched, and the store checks the token,
//! the name and the host's binding and records all of them in one
//! transaction (`Store::enrol`): a refused enrolment uses nothing up, and two
//! agents enrolling one name with a shared token get one certificate.

use crate::state::AppState;
use crate::store::{Binding, EnrolClaim, Enrolled, Store, StoreError};
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

/// Refuses a host name no binding may hold.
fn check_host(host: &str) -> Result<(), BindError> {
    if host.is_empty() {
        return Err(BindError::NoHost);
    }
    if host.len() > 253 || host.chars().any(char::is_control) {
        return Err(BindError::BadHost(host.into()));
    }
    Ok(())
}

/// Binds `host` to `agent`: only `agent` may report for `host` from now on.
/// Refused while another agent that is not revoked holds it.
pub async fn bind(store: &dyn Store, agent: &str, host: &str) -> Result<(), BindError> {
    check_host(host)?;
    match store.bind_host(agent, host, crate::clock::now_ms()).await? {
        Binding::Bound => Ok(()),
        Binding::HeldBy(holder) => Err(BindError::Held {
            host: host.into(),
            holder,
            agent: agent.into(),
        }),
    }
}

/// The SHA-256 (hex) of a PEM certificate's DER: what the store records as
/// the one certificate accepted for an agent.
pub fn certificate_sha256(pem: &str) -> Option<String> {
    use sha2::{Digest, Sha256};
    let der = crate::tls::certs_from_pem(pem).ok()?.into_iter().next()?;
    Some(hex::encode(Sha256::digest(der.as_ref())))
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
        check_host(&r.host).map_err(|e| refuse(&e.to_string()))?;
        let pki = self.state.pki.clone();
        let (agent, csr) = (r.agent_id.clone(), r.csr_pem.clone());
        let cert = tokio::task::spawn_blocking(move || {
            crate::pki::sign_csr(&pki, &agent, &csr, AGENT_CERT_DAYS)
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(|e| refuse(&format!("bad CSR: {e}")))?;
        let certificate = certificate_sha256(&cert)
            .ok_or_else(|| Status::internal("the certificate just signed does not parse"))?;
        let ca_pem = crate::pki::read(&self.state.pki.ca_cert())
            .map_err(|e| Status::internal(e.to_string()))?;
        let store = &self.state.store;
        let enrolled = store
            .enrol(EnrolClaim {
                token_hash: crate::tokens::hash(&r.token),
                agent_id: r.agent_id.clone(),
                host: r.host.clone(),
                certificate,
                peer: peer.clone(),
                now_ms: crate::clock::now_ms(),
            })
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        // A token bound to a name enrols only that name; a shared token may
        // not take over a name that is already enrolled.
        let why = match enrolled {
            Enrolled::Enrolled => None,
            Enrolled::NoToken => Some("unknown, expired or used-up token".to_string()),
            Enrolled::BoundTo(name) => Some(format!("token is bound to agent {name:?}")),
            Enrolled::NameTaken => {
                Some("agent name already enrolled; issue a token bound to it".into())
            }
            Enrolled::Revoked => Some(format!(
                "agent {:?} is revoked; an admin reinstates it first (gamsa-collector agent reinstate)",
                r.agent_id
            )),
            Enrolled::HeldBy(holder) => Some(
                BindError::Held {
                    host: r.host.clone(),
                    holder,
                    agent: r.agent_id.clone(),
                }
                .to_string(),
            ),
        };
        if let Some(why) = why {
            return Err(refuse(&why));
        }
        tracing::info!(%peer, agent_id = %r.agent_id, host = %r.host, "agent enrolled");
        Ok(Response::new(EnrolResponse {
            certificate_pem: cert,
            ca_pem,
        }))
    }
}

//! The agent-facing gRPC server: `Ingest` (mutual TLS) and `Enrolment`
//! (token, no client certificate yet), both on one TLS port.
//!
//! Limits (`[grpc]` in the config) bound what one peer can take: handshake,
//! Hello and idle timeouts free the resources of silent peers, message size
//! and per-connection stream caps bound memory, a collector-wide stream cap
//! bounds connections (with a per-agent share), connections without a client
//! certificate are few and short-lived (`tls.rs`), and a per-agent evidence
//! and byte rate keeps a flooding agent from taking the store from the others.

pub mod budget;
pub mod enrol;
pub mod ingest;
pub mod readable;
pub mod validate;

use crate::config::{GrpcConfig, IngestConfig};
use crate::state::AppState;
use gamsa_proto::v1::enrolment_server::EnrolmentServer;
use gamsa_proto::v1::ingest_server::IngestServer;
use std::time::Duration;
use tokio::net::TcpListener;

/// HTTP/2 streams one connection may open at once: an agent needs one
/// ingest stream and, rarely, an enrolment call.
const STREAMS_PER_CONNECTION: u32 = 4;

pub async fn serve(
    listener: TcpListener,
    state: AppState,
    limits: GrpcConfig,
    evidence_limits: IngestConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let paths = &state.pki;
    let tls =
        crate::tls::server_config(&paths.server_cert(), &paths.server_key(), &paths.ca_cert())?;
    let incoming = crate::tls::incoming(
        listener,
        tls,
        crate::tls::ConnectionLimits {
            handshake_timeout: limits.handshake_timeout,
            max_anonymous: limits.max_enrol_connections,
            anonymous_lifetime: limits.enrol_connection_lifetime,
        },
    );
    let ingest = IngestServer::new(ingest::IngestService::new(
        state.clone(),
        &limits,
        &evidence_limits,
    ))
    .max_decoding_message_size(limits.max_message_bytes);
    let enrol = EnrolmentServer::new(enrol::EnrolService::new(state.clone()))
        .max_decoding_message_size(64 * 1024);
    tonic::transport::Server::builder()
        .timeout(limits.request_timeout)
        .max_concurrent_streams(STREAMS_PER_CONNECTION)
        .concurrency_limit_per_connection(STREAMS_PER_CONNECTION as usize)
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)))
        .add_service(ingest)
        .add_service(enrol)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await?;
    Ok(())
}

/// The peer address of a request, for logs.
pub fn peer<T>(req: &tonic::Request<T>) -> String {
    req.remote_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|| "unknown".into())
}

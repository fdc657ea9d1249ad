//! The agent-facing gRPC server: `Ingest` (mutual TLS) and `Enrolment`
//! (token, no client certificate yet), both on one TLS port.

pub mod enrol;
pub mod ingest;

use crate::state::AppState;
use gamsa_proto::v1::enrolment_server::EnrolmentServer;
use gamsa_proto::v1::ingest_server::IngestServer;
use std::time::Duration;
use tokio::net::TcpListener;

/// Largest message an agent may send (one batch).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let paths = &state.pki;
    let tls =
        crate::tls::server_config(&paths.server_cert(), &paths.server_key(), &paths.ca_cert())?;
    let incoming = crate::tls::incoming(listener, tls, Duration::from_secs(10));
    let ingest = IngestServer::new(ingest::IngestService::new(state.clone()))
        .max_decoding_message_size(MAX_MESSAGE_BYTES);
    let enrol = EnrolmentServer::new(enrol::EnrolService::new(state.clone()))
        .max_decoding_message_size(64 * 1024);
    tonic::transport::Server::builder()
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

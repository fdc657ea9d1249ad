//! The gRPC listener's TLS: rustls with client certificates verified against
//! the collector CA.
//!
//! Client certificates are *optional* at the handshake so that an agent
//! without one can still call `Enrol`; the ingest service refuses any stream
//! without a verified certificate. A certificate from another CA, or an
//! expired one, fails the handshake itself. Handshakes are accepted here (not
//! inside tonic) so every refusal is counted and logged with the peer address.
//!
//! A refused handshake is usually noise: a port scanner, a load balancer's
//! health check, or a TLS audit (the agent's own `tls` probe offers every
//! protocol version). Those are logged at debug level and counted
//! (`gamsa_collector_refusals_total{reason="tls_handshake"}`); a warning
//! comes only when more than [`UNUSUAL_REFUSALS_PER_MINUTE`] arrive within a
//! minute. A client certificate the collector rejects (another CA, expired)
//! is an agent that cannot deliver, so it is always a warning, as is a
//! handshake that times out (it held a connection slot).
//!
//! A connection without a client certificate can only enrol, so it gets
//! little: at most `grpc.max_enrol_connections` such connections are open at
//! once (one more is closed after its handshake), and each is closed after
//! `grpc.enrol_connection_lifetime` whatever it does. Otherwise idle TLS
//! connections, which cost nothing to hold, could pile up without bound.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("TLS configuration: {0}")]
    Config(String),
}

pub fn certs_from_pem(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    if certs.is_empty() {
        return Err("no PEM certificate found".into());
    }
    Ok(certs)
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = std::fs::read_to_string(path).map_err(|e| TlsError::File {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    certs_from_pem(&pem).map_err(|message| TlsError::File {
        path: path.display().to_string(),
        message,
    })
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::File {
        path: path.display().to_string(),
        message: format!("no usable private key: {e}"),
    })
}

/// Builds the server config: our certificate, client certs optional but
/// verified against `ca` when presented, ALPN h2 for gRPC.
pub fn server_config(cert: &Path, key: &Path, ca: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for c in load_certs(ca)? {
        roots.add(c).map_err(|e| TlsError::File {
            path: ca.display().to_string(),
            message: e.to_string(),
        })?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(load_certs(cert)?, load_key(key)?)
        .map_err(|e| TlsError::Config(format!("{}: {e}", cert.display())))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// The HTTP port's TLS: `cert` and `key`, no client certificates, ALPN h2
/// and HTTP/1.1.
pub fn https_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(load_certs(cert)?, load_key(key)?)
        .map_err(|e| TlsError::Config(format!("{}: {e}", cert.display())))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Refused handshakes (other than rejected certificates) within one minute
/// above which the collector warns once for that minute.
pub const UNUSUAL_REFUSALS_PER_MINUTE: u32 = 60;

/// Refused handshakes in the current window: one start time and one count,
/// whatever the number of peers.
struct RefusalRate {
    limit: u32,
    window: Duration,
    current: Mutex<(Instant, u32)>,
}

impl RefusalRate {
    fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            current: Mutex::new((Instant::now(), 0)),
        }
    }

    /// Counts one refusal at `now`; the window's count when it has just
    /// gone over the limit (once per window), else `None`.
    fn record(&self, now: Instant) -> Option<u32> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if now.duration_since(current.0) >= self.window {
            *current = (now, 0);
        }
        current.1 = current.1.saturating_add(1);
        (current.1 == self.limit.saturating_add(1)).then_some(current.1)
    }
}

/// Whether a failed handshake rejected the client's certificate.
fn certificate_rejected(e: &std::io::Error) -> bool {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|e| matches!(e, rustls::Error::InvalidCertificate(_)))
}

/// Counts and logs one failed handshake.
fn refused(rate: &RefusalRate, peer: std::net::SocketAddr, e: &std::io::Error) {
    crate::metrics::refusal("tls_handshake");
    if certificate_rejected(e) {
        tracing::warn!(%peer, error = %e, "refused connection: TLS handshake failed");
        return;
    }
    tracing::debug!(%peer, error = %e, "refused connection: TLS handshake failed");
    if let Some(n) = rate.record(Instant::now()) {
        tracing::warn!(
            refused = n,
            last_peer = %peer,
            "more than {UNUSUAL_REFUSALS_PER_MINUTE} TLS handshakes refused within a minute (scanners or misconfigured clients); each is logged at debug level"
        );
    }
}

/// What `incoming` allows the connections it accepts.
pub struct ConnectionLimits {
    pub handshake_timeout: Duration,
    /// Connections without a client certificate open at once.
    pub max_anonymous: usize,
    /// How long each of those may stay open.
    pub anonymous_lifetime: Duration,
}

/// An established connection. One without a client certificate holds one
/// of the anonymous slots and reads end of stream once its lifetime is up.
pub struct Connection {
    tls: TlsStream<TcpStream>,
    anonymous: Option<(OwnedSemaphorePermit, Pin<Box<Sleep>>)>,
}

impl AsyncRead for Connection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if let Some((_, deadline)) = &mut self.anonymous {
            if std::future::Future::poll(deadline.as_mut(), cx).is_ready() {
                return Poll::Ready(Ok(()));
            }
        }
        Pin::new(&mut self.tls).poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tls).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tls).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tls).poll_shutdown(cx)
    }
}

impl tonic::transport::server::Connected for Connection {
    type ConnectInfo = <TlsStream<TcpStream> as tonic::transport::server::Connected>::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.tls.connect_info()
    }
}

/// Gives an established connection its limits; `None` when it has no
/// client certificate and the anonymous slots are taken.
fn admit(
    tls: TlsStream<TcpStream>,
    anonymous: &Arc<Semaphore>,
    lifetime: Duration,
) -> Option<Connection> {
    if tls.get_ref().1.peer_certificates().is_some() {
        return Some(Connection {
            tls,
            anonymous: None,
        });
    }
    let permit = anonymous.clone().try_acquire_owned().ok()?;
    Some(Connection {
        tls,
        anonymous: Some((permit, Box::pin(tokio::time::sleep(lifetime)))),
    })
}

/// Accepts TCP connections and completes TLS handshakes concurrently,
/// yielding established connections. Failed handshakes are logged and
/// dropped, as are connections without a client certificate beyond
/// `limits.max_anonymous`.
pub fn incoming(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    limits: ConnectionLimits,
) -> tokio_stream::wrappers::ReceiverStream<Result<Connection, std::io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel(128);
    let acceptor = TlsAcceptor::from(config);
    let rate = Arc::new(RefusalRate::new(
        UNUSUAL_REFUSALS_PER_MINUTE,
        Duration::from_secs(60),
    ));
    let anonymous = Arc::new(Semaphore::new(limits.max_anonymous));
    let (handshake_timeout, lifetime) = (limits.handshake_timeout, limits.anonymous_lifetime);
    tokio::spawn(async move {
        loop {
            let (tcp, peer) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            if tx.is_closed() {
                break;
            }
            let (acceptor, tx, rate, anonymous) = (
                acceptor.clone(),
                tx.clone(),
                rate.clone(),
                anonymous.clone(),
            );
            tokio::spawn(async move {
                match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => match admit(tls, &anonymous, lifetime) {
                        Some(conn) => {
                            let _ = tx.send(Ok(conn)).await;
                        }
                        None => {
                            crate::metrics::refusal("too_many_enrol_connections");
                            tracing::warn!(%peer, "refused connection: grpc.max_enrol_connections connections without a client certificate are open");
                        }
                    },
                    Ok(Err(e)) => refused(&rate, peer, &e),
                    Err(_) => {
                        crate::metrics::refusal("tls_timeout");
                        tracing::warn!(%peer, "refused connection: TLS handshake timed out");
                    }
                }
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_rate_warns_once_per_window_over_the_limit() {
        let rate = RefusalRate::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        let got: Vec<Option<u32>> = (0..6)
            .map(|i| rate.record(t0 + Duration::from_secs(i)))
            .collect();
        assert_eq!(got, [None, None, None, Some(4), None, None]);
        // A new window starts from zero.
        let later = t0 + Duration::from_secs(61);
        let got: Vec<Option<u32>> = (0..4).map(|_| rate.record(later)).collect();
        assert_eq!(got, [None, None, None, Some(4)]);
    }
}

//! One connection each: a hand-built ClientHello and the server's verdict,
//! or a rustls handshake that records the certificate chain.
//!
//! Every connection is bounded by the endpoint's timeout (connect, STARTTLS
//! and handshake together) and counted against its connection budget.

use super::legacy::{self, Flight, ServerHello};
use super::starttls::{self, Starttls, StarttlsError};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Where and how to connect.
pub struct Endpoint {
    pub addr: SocketAddr,
    /// The name sent as SNI and checked against the certificate.
    pub name: ServerName<'static>,
    pub starttls: Starttls,
    pub timeout: Duration,
    /// Connections this endpoint may still open.
    pub budget: AtomicUsize,
}

/// What one ClientHello got.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    /// The server chose the offered version and one of the offered suites.
    Accepted(ServerHello),
    /// The server answered in TLS, but refused (alert, or another version).
    Refused(String),
    /// The server closed the connection without a word.
    Closed,
    /// The server speaks another protocol.
    NotTls,
    /// STARTTLS: the server offers no TLS.
    Declined(String),
    /// No channel to send a ClientHello on: connect or STARTTLS failed.
    Unreachable(String),
    /// No verdict: connect error, timeout, malformed answer, budget spent.
    Failed(String),
}

pub const BUDGET_SPENT: &str = "connection budget spent";

impl Endpoint {
    fn take_connection(&self) -> bool {
        self.budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
    }

    fn sni(&self) -> Option<&str> {
        match &self.name {
            ServerName::DnsName(d) => Some(d.as_ref()),
            _ => None,
        }
    }

    /// A TCP connection, upgraded by STARTTLS when configured.
    async fn open(&self) -> Result<TcpStream, Attempt> {
        let mut stream = TcpStream::connect(self.addr)
            .await
            .map_err(|e| Attempt::Unreachable(format!("connect to {}: {e}", self.addr)))?;
        let _ = stream.set_nodelay(true);
        starttls::upgrade(&mut stream, self.starttls)
            .await
            .map_err(|e| match e {
                StarttlsError::Declined(why) => Attempt::Declined(why),
                other => {
                    Attempt::Unreachable(format!("STARTTLS {}: {other}", self.starttls.as_str()))
                }
            })?;
        Ok(stream)
    }

    /// Offers `version` with `suites`; with `want_cert`, also reads a
    /// TLS ≤ 1.2 Certificate message.
    pub async fn hello(&self, version: u16, suites: &[u16], want_cert: bool) -> Attempt {
        if !self.take_connection() {
            return Attempt::Failed(BUDGET_SPENT.into());
        }
        let exchange = async {
            let mut stream = self.open().await?;
            let hello = legacy::client_hello(version, suites, self.sni());
            stream
                .write_all(&hello)
                .await
                .map_err(|e| Attempt::Failed(format!("send ClientHello: {e}")))?;
            Ok::<_, Attempt>(read_flight(&mut stream, want_cert).await)
        };
        let flight = match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => return Attempt::Failed(format!("no answer within {:?}", self.timeout)),
            Ok(Err(attempt)) => return attempt,
            Ok(Ok(flight)) => flight,
        };
        match flight {
            Flight::Hello(h) if h.version == version && suites.contains(&h.suite) => {
                Attempt::Accepted(h)
            }
            Flight::Hello(h) if h.version != version => Attempt::Refused(format!(
                "server chose {} instead",
                super::version_label(h.version)
            )),
            Flight::Hello(h) => Attempt::Failed(format!(
                "server chose suite 0x{:04X}, which was not offered",
                h.suite
            )),
            Flight::Alert(d) => {
                Attempt::Refused(format!("alert {:?}", rustls::AlertDescription::from(d)))
            }
            Flight::Closed => Attempt::Closed,
            Flight::NotTls => Attempt::NotTls,
            Flight::Malformed(why) => Attempt::Failed(format!("malformed answer: {why}")),
            Flight::Incomplete => Attempt::Failed("incomplete answer".into()),
        }
    }

    /// A rustls handshake (TLS 1.2 or 1.3) that records the chain the server
    /// sends, whether or not it would be trusted. Returns the chain, or why
    /// none was received.
    pub async fn rustls_chain(&self) -> Result<Vec<CertificateDer<'static>>, String> {
        if !self.take_connection() {
            return Err(BUDGET_SPENT.into());
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let recorder = Arc::new(Recorder {
            chain: Mutex::new(Vec::new()),
            schemes: provider
                .signature_verification_algorithms
                .supported_schemes(),
        });
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(rustls::ALL_VERSIONS)
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(recorder.clone())
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let handshake = async {
            let stream = self.open().await.map_err(|a| match a {
                Attempt::Declined(why) | Attempt::Unreachable(why) => why,
                other => format!("{other:?}"),
            })?;
            connector
                .connect(self.name.clone(), stream)
                .await
                .map(drop)
                .map_err(|e| format!("rustls handshake: {e}"))
        };
        let outcome = match tokio::time::timeout(self.timeout, handshake).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "rustls handshake: no answer within {:?}",
                self.timeout
            )),
        };
        // The chain is recorded before the handshake can fail for other
        // reasons (e.g. a key too small for rustls to check its signature).
        let chain = recorder.chain.lock().map(|c| c.clone()).unwrap_or_default();
        match (chain.is_empty(), outcome) {
            (false, _) => Ok(chain),
            (true, Err(e)) => Err(e),
            (true, Ok(())) => Err("rustls handshake: no certificate".into()),
        }
    }
}

/// Reads until the flight gives a verdict, the peer closes, or it sends more
/// than `legacy::MAX_FLIGHT` bytes.
async fn read_flight(stream: &mut TcpStream, want_cert: bool) -> Flight {
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        // A reset after an alert is an end of stream like any other.
        let n = stream.read(&mut chunk).await.unwrap_or(0);
        buf.extend_from_slice(&chunk[..n]);
        match legacy::parse_flight(&buf, want_cert, n == 0) {
            Flight::Incomplete => continue,
            verdict => return verdict,
        }
    }
}

/// Records the chain and accepts it: trust is judged later as a fact
/// (`cert::assess`), so an untrusted chain is still observed. The probe
/// sends no data over these connections, so accepting is safe.
#[derive(Debug)]
struct Recorder {
    chain: Mutex<Vec<CertificateDer<'static>>>,
    schemes: Vec<SignatureScheme>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut chain) = self.chain.lock() {
            *chain = std::iter::once(end_entity)
                .chain(intermediates)
                .map(|c| c.clone().into_owned())
                .collect();
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes.clone()
    }
}

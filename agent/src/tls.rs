//! The agent's side of mutual TLS: its key and certificate, and the
//! collector CA it trusts. Files are named in every error.

use std::path::Path;
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct TlsFileError {
    pub path: String,
    pub message: String,
}

pub fn read(path: &Path) -> Result<String, TlsFileError> {
    std::fs::read_to_string(path).map_err(|e| TlsFileError {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// Client TLS trusting only `ca`, presenting `identity` if given.
pub fn client_config(
    ca_pem: &str,
    identity: Option<(&str, &str)>,
    server_name: &str,
) -> ClientTlsConfig {
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca_pem));
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    if !server_name.is_empty() {
        tls = tls.domain_name(server_name);
    }
    tls
}

/// The common name of the first certificate in `pem`.
pub fn common_name(pem: &str) -> Option<String> {
    let (_, der) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).ok()?;
    let cert = der.parse_x509().ok()?;
    let cn = cert.subject().iter_common_name().next()?.as_str().ok()?;
    Some(cn.to_string())
}

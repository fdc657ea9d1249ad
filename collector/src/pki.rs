//! The collector's own certificate authority.
//!
//! gamsa runs its own small CA so that agent identity is a certificate, not a
//! shared secret: the collector trusts exactly the agents its CA signed, and
//! the agent's identity is the certificate's common name. Keys are ECDSA P-256.
//! The CA key never leaves the data directory (written 0600).

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("certificate generation failed: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("{0} already exists; refusing to overwrite an existing CA")]
    Exists(PathBuf),
    #[error("invalid agent name {0:?}: use 1-64 characters of a-z, A-Z, 0-9, '.', '-', '_'")]
    BadName(String),
}

/// Paths of the PKI files inside a data directory.
#[derive(Debug, Clone)]
pub struct PkiPaths {
    pub dir: PathBuf,
}

impl PkiPaths {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.join("pki"),
        }
    }
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }
    pub fn ca_key(&self) -> PathBuf {
        self.dir.join("ca.key")
    }
    pub fn server_cert(&self) -> PathBuf {
        self.dir.join("collector.crt")
    }
    pub fn server_key(&self) -> PathBuf {
        self.dir.join("collector.key")
    }
}

/// Agent names become certificate common names and evidence `agent_id`s.
pub fn validate_agent_name(name: &str) -> Result<(), PkiError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(PkiError::BadName(name.to_string()))
    }
}

pub(crate) fn read(path: &Path) -> Result<String, PkiError> {
    std::fs::read_to_string(path).map_err(|source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes a file readable by its owner only (keys, certificates, tokens),
/// creating its directory (0700) when missing.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<(), PkiError> {
    let io = |source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        crate::private::create_dir_all(parent).map_err(io)?;
    }
    crate::private::write(path, contents).map_err(io)
}

fn validity(days: i64) -> (OffsetDateTime, OffsetDateTime) {
    let now = OffsetDateTime::now_utc();
    (now - Duration::minutes(5), now + Duration::days(days))
}

/// Creates the CA and the collector's server certificate for `server_names`.
pub fn init_ca(paths: &PkiPaths, server_names: &[String]) -> Result<(), PkiError> {
    if paths.ca_key().exists() {
        return Err(PkiError::Exists(paths.ca_key()));
    }
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, "gamsa collector CA");
    params
        .distinguished_name
        .push(DnType::OrganizationName, "gamsa");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    (params.not_before, params.not_after) = validity(3650);
    let cert = params.self_signed(&key)?;
    write_private(&paths.ca_key(), key.serialize_pem().as_bytes())?;
    write_private(&paths.ca_cert(), cert.pem().as_bytes())?;
    issue_server_cert(paths, server_names)
}

fn load_issuer(paths: &PkiPaths) -> Result<Issuer<'static, KeyPair>, PkiError> {
    let key_pem = read(&paths.ca_key())?;
    let key = KeyPair::from_pem(&key_pem).map_err(|e| PkiError::Invalid {
        path: paths.ca_key(),
        message: e.to_string(),
    })?;
    Issuer::from_ca_cert_pem(&read(&paths.ca_cert())?, key).map_err(|e| PkiError::Invalid {
        path: paths.ca_cert(),
        message: e.to_string(),
    })
}

/// (Re)issues the collector's TLS server certificate.
pub fn issue_server_cert(paths: &PkiPaths, server_names: &[String]) -> Result<(), PkiError> {
    let issuer = load_issuer(paths)?;
    let mut names: Vec<String> = server_names.to_vec();
    for default in ["localhost", "127.0.0.1", "::1"] {
        if !names.iter().any(|n| n == default) {
            names.push(default.to_string());
        }
    }
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.subject_alt_names = names.iter().map(|n| san(n)).collect::<Result<_, _>>()?;
    params
        .distinguished_name
        .push(DnType::CommonName, "gamsa collector");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    (params.not_before, params.not_after) = validity(825);
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    write_private(&paths.server_key(), key.serialize_pem().as_bytes())?;
    write_private(&paths.server_cert(), cert.pem().as_bytes())
}

fn san(name: &str) -> Result<SanType, rcgen::Error> {
    Ok(match name.parse::<std::net::IpAddr>() {
        Ok(ip) => SanType::IpAddress(ip),
        Err(_) => SanType::DnsName(name.try_into()?),
    })
}

fn agent_params(agent: &str, days: i64) -> Result<CertificateParams, PkiError> {
    validate_agent_name(agent)?;
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, agent);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    (params.not_before, params.not_after) = validity(days);
    Ok(params)
}

/// An agent's key and certificate, PEM encoded.
pub struct AgentCredentials {
    pub key_pem: String,
    pub cert_pem: String,
    pub ca_pem: String,
}

impl AgentCredentials {
    /// Writes `agent.key`, `agent.crt` and `ca.crt` (0600) into `dir`, the
    /// files an agent configured by hand points at.
    pub fn write_to(&self, dir: &Path) -> Result<(), PkiError> {
        write_private(&dir.join("agent.key"), self.key_pem.as_bytes())?;
        write_private(&dir.join("agent.crt"), self.cert_pem.as_bytes())?;
        write_private(&dir.join("ca.crt"), self.ca_pem.as_bytes())
    }
}

/// Issues a client certificate for `agent`, generating its key here
/// (`ca issue`); enrolment instead signs a CSR so the key never travels.
pub fn issue_agent(paths: &PkiPaths, agent: &str, days: i64) -> Result<AgentCredentials, PkiError> {
    let issuer = load_issuer(paths)?;
    let key = KeyPair::generate()?;
    let cert = agent_params(agent, days)?.signed_by(&key, &issuer)?;
    Ok(AgentCredentials {
        key_pem: key.serialize_pem(),
        cert_pem: cert.pem(),
        ca_pem: read(&paths.ca_cert())?,
    })
}

/// Signs an agent's CSR. Only the CSR's public key is used: the name, usages
/// and validity are the collector's to decide, whatever the CSR asks for.
pub fn sign_csr(
    paths: &PkiPaths,
    agent: &str,
    csr_pem: &str,
    days: i64,
) -> Result<String, PkiError> {
    let issuer = load_issuer(paths)?;
    let csr =
        CertificateSigningRequestParams::from_pem(csr_pem).map_err(|e| PkiError::Invalid {
            path: PathBuf::from("<csr>"),
            message: e.to_string(),
        })?;
    let cert = agent_params(agent, days)?.signed_by(&csr.public_key, &issuer)?;
    Ok(cert.pem())
}

/// The common name of a DER certificate: the agent identity.
pub fn common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert
        .subject()
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?
        .to_string();
    Some(cn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_issues_agent_certificates_whose_cn_is_the_agent() {
        let dir = tempfile::tempdir().unwrap();
        let paths = PkiPaths::new(dir.path());
        init_ca(&paths, &["collector.example".into()]).unwrap();
        assert!(matches!(init_ca(&paths, &[]), Err(PkiError::Exists(_))));
        let creds = issue_agent(&paths, "node-1", 30).unwrap();
        let der = rustls_pemfile_der(&creds.cert_pem);
        assert_eq!(common_name(&der).as_deref(), Some("node-1"));
        let mode = std::fs::metadata(paths.ca_key()).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn csr_name_is_ignored_in_favour_of_the_token_name() {
        let dir = tempfile::tempdir().unwrap();
        let paths = PkiPaths::new(dir.path());
        init_ca(&paths, &[]).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::default();
        p.distinguished_name.push(DnType::CommonName, "admin");
        let csr = p.serialize_request(&key).unwrap().pem().unwrap();
        let cert = sign_csr(&paths, "node-2", &csr, 30).unwrap();
        assert_eq!(
            common_name(&rustls_pemfile_der(&cert)).as_deref(),
            Some("node-2")
        );
        assert!(sign_csr(&paths, "bad name!", &csr, 30).is_err());
        assert!(sign_csr(&paths, "node-3", "garbage", 30).is_err());
    }

    fn rustls_pemfile_der(pem: &str) -> Vec<u8> {
        crate::tls::certs_from_pem(pem).unwrap().remove(0).to_vec()
    }
}

//! First start without a certificate: trade the enrolment token for one.
//! The key is generated here and never leaves the host; only a CSR is sent.

use crate::config::Config;
use anyhow::Context;
use gamsa_proto::v1::{enrolment_client::EnrolmentClient, EnrolRequest};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("{}", path.display()))?;
    f.write_all(contents.as_bytes())
        .and_then(|_| f.sync_all())
        .with_context(|| format!("{}", path.display()))
}

/// Makes sure `collector.cert` and `collector.key` exist, enrolling if they
/// do not and a token file is configured.
pub async fn ensure_credentials(config: &Config, agent_id: &str) -> anyhow::Result<()> {
    let c = &config.collector;
    if c.cert.exists() && c.key.exists() {
        return Ok(());
    }
    if c.enrol_token_file.as_os_str().is_empty() {
        anyhow::bail!(
            "collector.cert {}: missing, and no collector.enrol_token_file to enrol with",
            c.cert.display()
        );
    }
    let token = crate::tls::read(&c.enrol_token_file)?.trim().to_string();
    let ca_pem = crate::tls::read(&c.ca)?;
    let key = rcgen::KeyPair::generate().context("generating the agent key")?;
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, agent_id);
    let csr = params.serialize_request(&key)?.pem()?;
    let mut last_err = None;
    for endpoint in &c.endpoints {
        let attempt = async {
            let channel = tonic::transport::Endpoint::from_shared(endpoint.clone())?
                .tls_config(crate::tls::client_config(&ca_pem, None, &c.server_name))?
                .connect_timeout(Duration::from_secs(5))
                .timeout(Duration::from_secs(15))
                .connect()
                .await?;
            let resp = EnrolmentClient::new(channel)
                .enrol(EnrolRequest {
                    token: token.clone(),
                    agent_id: agent_id.to_string(),
                    csr_pem: csr.clone(),
                    host: config.resolved_host(),
                })
                .await?;
            anyhow::Ok(resp.into_inner())
        };
        match attempt.await {
            Ok(resp) => {
                write_private(&c.key, &key.serialize_pem())?;
                write_private(&c.cert, &resp.certificate_pem)?;
                tracing::info!(%agent_id, %endpoint, "enrolled; certificate written to {}", c.cert.display());
                return Ok(());
            }
            Err(e) => {
                tracing::warn!(%endpoint, error = %e, "enrolment failed");
                last_err = Some(e.context(format!("enrolling at {endpoint}")));
            }
        }
    }
    Err(last_err.unwrap_or_else(|| anyhow::anyhow!("collector.endpoints is empty")))
}

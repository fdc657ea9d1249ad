//! The collector's snapshot signing key: Ed25519, generated on first use into
//! `<data_dir>/pki/snapshot-signing.key` (PKCS#8 PEM, 0600), with the public
//! half beside it as `snapshot-signing.pub` (SPKI PEM) for auditors. PEM so
//! that OpenSSL and other tools read the same files: verifying a snapshot
//! needs nothing from gamsa but this public key.

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not an Ed25519 {what} in PEM form: {message}")]
    Invalid {
        path: PathBuf,
        what: &'static str,
        message: String,
    },
}

pub fn private_path(data_dir: &Path) -> PathBuf {
    data_dir.join("pki").join("snapshot-signing.key")
}

pub fn public_path(data_dir: &Path) -> PathBuf {
    data_dir.join("pki").join("snapshot-signing.pub")
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Loads the signing key, generating it (and the public key file) when absent.
/// Creation is exclusive, so two processes starting at once agree on one key.
pub fn load_or_create(data_dir: &Path) -> Result<SigningKey, KeyError> {
    let path = private_path(data_dir);
    if !path.exists() {
        let key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
        let pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| KeyError::Invalid {
                path: path.clone(),
                what: "private key",
                message: e.to_string(),
            })?;
        if let Some(dir) = path.parent() {
            crate::private::create_dir_all(dir).map_err(io(dir))?;
        }
        crate::private::write_new(&path, pem.as_bytes()).map_err(io(&path))?;
    }
    let pem = std::fs::read_to_string(&path).map_err(io(&path))?;
    let key = SigningKey::from_pkcs8_pem(&pem).map_err(|e| KeyError::Invalid {
        path: path.clone(),
        what: "private key",
        message: e.to_string(),
    })?;
    let public = public_path(data_dir);
    let public_pem = public_pem(&key.verifying_key());
    if std::fs::read_to_string(&public).ok().as_deref() != Some(public_pem.as_str()) {
        crate::private::write(&public, public_pem.as_bytes()).map_err(io(&public))?;
    }
    Ok(key)
}

pub fn public_pem(key: &VerifyingKey) -> String {
    key.to_public_key_pem(LineEnding::LF).unwrap_or_default()
}

/// SHA-256 of the key's SPKI DER form, lower-case hex: what an auditor
/// compares with the fingerprint the collector's admin published
/// (`openssl pkey -pubin -in snapshot-signing.pub -outform DER | sha256sum`).
pub fn fingerprint(key: &VerifyingKey) -> String {
    key.to_public_key_der()
        .map(|d| super::canonical::sha256_hex(d.as_bytes()))
        .unwrap_or_default()
}

/// Reads an auditor's copy of the public key.
pub fn read_public(path: &Path) -> Result<VerifyingKey, KeyError> {
    let pem = std::fs::read_to_string(path).map_err(io(path))?;
    VerifyingKey::from_public_key_pem(pem.trim()).map_err(|e| KeyError::Invalid {
        path: path.to_path_buf(),
        what: "public key",
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn key_is_created_once_private_and_its_public_half_exported() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create(dir.path()).unwrap();
        let b = load_or_create(dir.path()).unwrap();
        assert_eq!(a.to_bytes(), b.to_bytes());
        let mode = std::fs::metadata(private_path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let public = read_public(&public_path(dir.path())).unwrap();
        assert_eq!(public, a.verifying_key());
        assert_eq!(fingerprint(&public).len(), 64);
        let e = read_public(&private_path(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("snapshot-signing.key") && e.contains("public key"),
            "{e}"
        );
    }
}

//! Sealing a snapshot body into its file, and checking one file offline.
//!
//! The file is the RFC 8785 canonical JSON of the envelope
//! `{format, body, sha256, signature}`; `sha256` and the Ed25519 `signature`
//! are over the canonical bytes of `body`. Checking needs only the public
//! key: the bytes must be exactly canonical (so no byte can change unseen,
//! not even whitespace), the hash must match the body and the signature must
//! verify.

use super::canonical;
use super::contents::{known_format, Envelope, Header, FORMAT};
use super::objects::ObjectError;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("{file}: cannot read: {message}")]
    Read { file: PathBuf, message: String },
    #[error("{file}: not a gamsa snapshot: {message}")]
    Parse { file: PathBuf, message: String },
    #[error("{file}: unknown snapshot format {found:?} (expected {FORMAT:?} or an earlier one)")]
    Format { file: PathBuf, found: String },
    #[error("{file}: the bytes are not the canonical form of their content: the file was altered after signing")]
    NotCanonical { file: PathBuf },
    #[error("{file}: content hash mismatch: the file records {recorded} but its body hashes to {actual}: the snapshot was altered")]
    HashMismatch {
        file: PathBuf,
        recorded: String,
        actual: String,
    },
    #[error("{file}: signature does not verify with the public key {key}: the snapshot was altered or signed by another key{named}")]
    BadSignature {
        file: PathBuf,
        key: String,
        named: String,
    },
    #[error("{file}: the file name says snapshot #{named} but it holds snapshot #{actual}: the chain's files were renamed or reordered")]
    NameMismatch {
        file: PathBuf,
        named: u64,
        actual: u64,
    },
    #[error("{file}: snapshot #{missing} is missing from the chain: this is #{found}, the one before it present is #{before} ({before_file})")]
    Missing {
        file: PathBuf,
        missing: u64,
        found: u64,
        before: u64,
        before_file: PathBuf,
    },
    #[error("{file}: snapshot #{sequence} records previous hash {recorded}, but #{before} ({before_file}) has hash {actual}: the chain was altered or reordered")]
    BrokenLink {
        file: PathBuf,
        sequence: u64,
        recorded: String,
        before: u64,
        before_file: PathBuf,
        actual: String,
    },
    #[error("{file}: snapshot #{sequence} is dated {created} but its predecessor ({before_file}) {before_created}: the chain is out of order")]
    OutOfOrder {
        file: PathBuf,
        sequence: u64,
        created: String,
        before_file: PathBuf,
        before_created: String,
    },
    #[error("{file}: snapshot #{sequence} appears twice (also {other})")]
    Duplicate {
        file: PathBuf,
        sequence: u64,
        other: PathBuf,
    },
    #[error("{file}: {problem}")]
    Object { file: PathBuf, problem: ObjectError },
    #[error("{dir}: no snapshot files (<sequence>-<time>.json)")]
    EmptyChain { dir: PathBuf },
    #[error("{file}: not part of the chain in {dir} (no snapshot there has hash {sha256})")]
    NotInChain {
        file: PathBuf,
        dir: PathBuf,
        sha256: String,
    },
}

/// A snapshot that verified.
#[derive(Debug, Clone)]
pub struct Verified {
    pub file: PathBuf,
    pub sha256: String,
    pub header: Header,
}

/// Signs `body` and returns the file bytes and the body's hash.
pub fn seal<B: serde::Serialize>(
    body: &B,
    key: &SigningKey,
) -> Result<(Vec<u8>, String), serde_json::Error> {
    let body = serde_json::to_value(body)?;
    let bytes = canonical::to_vec(&body)?;
    let sha256 = canonical::sha256_hex(&bytes);
    let signature = base64::engine::general_purpose::STANDARD.encode(key.sign(&bytes).to_bytes());
    let envelope = Envelope {
        format: FORMAT.into(),
        body,
        sha256: sha256.clone(),
        signature,
    };
    Ok((canonical::to_vec(&envelope)?, sha256))
}

/// Checks one snapshot file's bytes against `key`; `key_name` names the key
/// in messages (its file).
pub fn verify(
    file: &Path,
    bytes: &[u8],
    key: &VerifyingKey,
    key_name: &str,
) -> Result<Verified, VerifyError> {
    verify_body(file, bytes, key, key_name).map(|(v, _)| v)
}

/// As [`verify`], also returning the signed body, against which the
/// snapshot's parts are checked.
pub fn verify_body(
    file: &Path,
    bytes: &[u8],
    key: &VerifyingKey,
    key_name: &str,
) -> Result<(Verified, serde_json::Value), VerifyError> {
    let file = file.to_path_buf();
    let parse = |message: String| VerifyError::Parse {
        file: file.clone(),
        message,
    };
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| parse(e.to_string()))?;
    if !value
        .get("format")
        .and_then(|f| f.as_str())
        .is_some_and(known_format)
    {
        let found = value
            .get("format")
            .map(|f| f.to_string())
            .unwrap_or_else(|| "none".into());
        return Err(VerifyError::Format { file, found });
    }
    let envelope: Envelope = serde_json::from_value(value).map_err(|e| parse(e.to_string()))?;
    let canonical_file = canonical::to_vec(&envelope).map_err(|e| parse(e.to_string()))?;
    if canonical_file != bytes {
        return Err(VerifyError::NotCanonical { file });
    }
    let body = canonical::to_vec(&envelope.body).map_err(|e| parse(e.to_string()))?;
    let actual = canonical::sha256_hex(&body);
    if actual != envelope.sha256 {
        return Err(VerifyError::HashMismatch {
            file,
            recorded: envelope.sha256,
            actual,
        });
    }
    let header: Header =
        serde_json::from_value(envelope.body.clone()).map_err(|e| parse(format!("body: {e}")))?;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(&envelope.signature)
        .ok()
        .and_then(|b| Signature::from_slice(&b).ok());
    let good = signature.is_some_and(|s| key.verify(&body, &s).is_ok());
    if !good {
        let named = if header.collector.public_key.trim() == super::key::public_pem(key).trim() {
            String::new()
        } else {
            format!(
                " (the snapshot names collector {:?} with a different key)",
                header.collector.id
            )
        };
        return Err(VerifyError::BadSignature {
            file,
            key: key_name.to_string(),
            named,
        });
    }
    Ok((
        Verified {
            file,
            sha256: actual,
            header,
        },
        envelope.body,
    ))
}

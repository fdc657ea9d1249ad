//! What an auditor checks with nothing but the collector's public key: a
//! snapshot file, age-encrypted or not, on its own or as a member of an
//! unbroken chain, and two snapshots compared once both verify.

use super::archive::Archive;
use super::chain::{verify_chain, Chain};
use super::diff::{self, Verdicts};
use super::seal::{self, Verified, VerifyError};
use crate::export::encrypt;
use anyhow::Context;
use ed25519_dalek::VerifyingKey;
use std::path::{Path, PathBuf};

/// The collector's public key and the name errors call it by.
pub struct PublicKey {
    pub key: VerifyingKey,
    pub name: String,
}

impl PublicKey {
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        Ok(Self {
            key: super::key::read_public(path)?,
            name: path.display().to_string(),
        })
    }
}

/// A file that verified, and the chain it belongs to when one was asked for.
pub struct Checked {
    pub snapshot: Verified,
    pub chain: Option<Chain>,
}

/// Verifies `file` (decrypted first with `identity` when it is
/// age-encrypted) and, with `chain`, that every file of that directory
/// verifies, links without a gap, and includes this one.
pub fn verify_file(
    file: &Path,
    key: &PublicKey,
    chain: Option<&Path>,
    identity: Option<&Path>,
) -> anyhow::Result<Checked> {
    let mut bytes =
        std::fs::read(file).with_context(|| format!("{}: cannot read", file.display()))?;
    if encrypt::is_encrypted(&bytes) {
        let Some(id) = identity else {
            anyhow::bail!(
                "{}: is age-encrypted; pass --identity with the recipient's identity file",
                file.display()
            );
        };
        let id = encrypt::read_identity(id).map_err(anyhow::Error::msg)?;
        bytes = encrypt::decrypt(&bytes, &id)
            .map_err(|e| anyhow::anyhow!("{}: cannot decrypt: {e}", file.display()))?;
    }
    let snapshot = seal::verify(file, &bytes, &key.key, &key.name)?;
    let chain = match chain {
        None => None,
        Some(dir) => {
            let c = verify_chain(dir, &key.key, &key.name)?;
            if c.contains(&snapshot.sha256).is_none() {
                return Err(VerifyError::NotInChain {
                    file: file.to_path_buf(),
                    dir: dir.to_path_buf(),
                    sha256: snapshot.sha256,
                }
                .into());
            }
            Some(c)
        }
    };
    Ok(Checked { snapshot, chain })
}

/// The verified verdicts of `arg`: a snapshot file, or the id or sequence
/// number of one in `archive`.
pub fn verdicts(arg: &str, archive: &Archive, key: &PublicKey) -> anyhow::Result<Verdicts> {
    let path = if Path::new(arg).is_file() {
        PathBuf::from(arg)
    } else {
        archive
            .find(arg)?
            .with_context(|| {
                format!(
                    "{arg}: no such file, nor a snapshot id in {}",
                    archive.dir.display()
                )
            })?
            .path
    };
    let bytes = std::fs::read(&path).with_context(|| format!("{}: cannot read", path.display()))?;
    seal::verify(&path, &bytes, &key.key, &key.name)?;
    Ok(diff::verdicts(&path, &bytes)?)
}

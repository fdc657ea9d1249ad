//! What an auditor checks with nothing but the collector's public key: a
//! snapshot, age-encrypted or not, with the host parts and evidence files
//! it names (beside it in `objects/`, or together in a downloaded tar), on
//! its own or as a member of an unbroken chain, and two snapshots compared
//! once both verify.

use super::archive::Archive;
use super::chain::{verify_chain, Chain};
use super::diff::{self, Verdicts};
use super::objects::Objects;
use super::parts::{check_parts, PartsChecked};
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

/// A file that verified, the parts it names, and the chain it belongs to
/// when one was asked for.
pub struct Checked {
    pub snapshot: Verified,
    pub parts: PartsChecked,
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
    let bundle;
    let (manifest, objects) = if is_tar(&bytes) {
        bundle = unpack(file, &bytes)?;
        (bundle.1.clone(), Objects::of(bundle.0.path()))
    } else {
        (
            file.to_path_buf(),
            Objects::of(file.parent().unwrap_or(Path::new("."))),
        )
    };
    if manifest != file {
        bytes = std::fs::read(&manifest)
            .with_context(|| format!("{}: cannot read", manifest.display()))?;
    }
    let (snapshot, body) = seal::verify_body(file, &bytes, &key.key, &key.name)?;
    let parts = check_parts(&body, &objects, &mut Default::default()).map_err(|problem| {
        VerifyError::Object {
            file: file.to_path_buf(),
            problem,
        }
    })?;
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
    Ok(Checked {
        snapshot,
        parts,
        chain,
    })
}

/// Whether `bytes` are a tar archive (a downloaded snapshot with its parts).
fn is_tar(bytes: &[u8]) -> bool {
    bytes.get(257..262) == Some(b"ustar")
}

/// Unpacks a downloaded snapshot into a directory of its own (removed when
/// dropped); returns it and the snapshot file in it.
fn unpack(file: &Path, bytes: &[u8]) -> anyhow::Result<(tempfile::TempDir, PathBuf)> {
    let dir = tempfile::tempdir().context("a directory to unpack the snapshot into")?;
    tar::Archive::new(bytes)
        .unpack(dir.path())
        .with_context(|| format!("{}: cannot unpack", file.display()))?;
    let manifest = super::archive::list_dir(dir.path())?
        .pop()
        .with_context(|| format!("{}: holds no snapshot file", file.display()))?;
    Ok((dir, manifest.path))
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

//! Checking a directory of snapshots as a chain, offline.
//!
//! Every file must verify on its own; ordered by their signed sequence
//! numbers, each must follow the one before without a gap, record its hash as
//! `previous`, and not be dated before it. The chain is checked from the
//! oldest snapshot present: retention removes old snapshots, so the oldest
//! one's `previous` names a snapshot that is gone and is reported, not
//! checked. Files named `<sequence>-<time>.json` must hold that sequence, so
//! renamed or swapped files are caught too.

use super::archive::{list_dir, parse_name};
use super::objects::Objects;
use super::parts::{check_parts, PartsChecked};
use super::seal::{verify_body, Verified, VerifyError};
use ed25519_dalek::VerifyingKey;
use std::path::{Path, PathBuf};

/// A chain that verified, oldest first.
#[derive(Debug)]
pub struct Chain {
    pub dir: PathBuf,
    pub members: Vec<Verified>,
    /// The host parts and evidence contents the members name, each checked once.
    pub parts: PartsChecked,
}

impl Chain {
    /// One paragraph for a person: what was checked, from where to where.
    pub fn summary(&self) -> String {
        let (first, last) = (&self.members[0], &self.members[self.members.len() - 1]);
        let mut s = format!(
            "chain {}: {} snapshot(s) verified, #{} to #{}, checked from the oldest present (#{}, {})",
            self.dir.display(),
            self.members.len(),
            first.header.sequence,
            last.header.sequence,
            first.header.sequence,
            first.file.display()
        );
        match &first.header.previous {
            Some(p) => s.push_str(&format!(
                "; its predecessor (hash {p}) is not present (removed by retention) and was not checked"
            )),
            None => s.push_str("; it is the first snapshot of the chain"),
        }
        s.push_str(&format!(
            "; their {} host part(s) and {} evidence file(s) in {} verified",
            self.parts.hosts,
            self.parts.evidence,
            Objects::of(&self.dir).dir.display()
        ));
        s.push_str(&format!("; newest hash {}", last.sha256));
        s
    }

    pub fn contains(&self, sha256: &str) -> Option<&Verified> {
        self.members.iter().find(|m| m.sha256 == sha256)
    }
}

/// Verifies every snapshot file in `dir` and their links.
pub fn verify_chain(dir: &Path, key: &VerifyingKey, key_name: &str) -> Result<Chain, VerifyError> {
    let entries = list_dir(dir).map_err(|e| VerifyError::Read {
        file: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    if entries.is_empty() {
        return Err(VerifyError::EmptyChain {
            dir: dir.to_path_buf(),
        });
    }
    let mut members = Vec::new();
    let objects = Objects::of(dir);
    let (mut checked, mut parts) = (Default::default(), PartsChecked::default());
    for e in &entries {
        let bytes = std::fs::read(&e.path).map_err(|err| VerifyError::Read {
            file: e.path.clone(),
            message: err.to_string(),
        })?;
        let (v, body) = verify_body(&e.path, &bytes, key, key_name)?;
        let p =
            check_parts(&body, &objects, &mut checked).map_err(|problem| VerifyError::Object {
                file: e.path.clone(),
                problem,
            })?;
        parts.hosts += p.hosts;
        parts.evidence += p.evidence;
        let named = e
            .path
            .file_name()
            .and_then(|n| parse_name(&n.to_string_lossy()))
            .map(|(s, _)| s);
        if let Some(named) = named.filter(|n| *n != v.header.sequence) {
            return Err(VerifyError::NameMismatch {
                file: e.path.clone(),
                named,
                actual: v.header.sequence,
            });
        }
        members.push(v);
    }
    members.sort_by_key(|m| m.header.sequence);
    for pair in members.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if b.header.sequence == a.header.sequence {
            return Err(VerifyError::Duplicate {
                file: b.file.clone(),
                sequence: b.header.sequence,
                other: a.file.clone(),
            });
        }
        if b.header.sequence != a.header.sequence + 1 {
            return Err(VerifyError::Missing {
                file: b.file.clone(),
                missing: a.header.sequence + 1,
                found: b.header.sequence,
                before: a.header.sequence,
                before_file: a.file.clone(),
            });
        }
        if b.header.previous.as_deref() != Some(a.sha256.as_str()) {
            return Err(VerifyError::BrokenLink {
                file: b.file.clone(),
                sequence: b.header.sequence,
                recorded: b.header.previous.clone().unwrap_or_else(|| "none".into()),
                before: a.header.sequence,
                before_file: a.file.clone(),
                actual: a.sha256.clone(),
            });
        }
        let time = |v: &Verified| chrono::DateTime::parse_from_rfc3339(&v.header.created_at).ok();
        if time(b) < time(a) {
            return Err(VerifyError::OutOfOrder {
                file: b.file.clone(),
                sequence: b.header.sequence,
                created: b.header.created_at.clone(),
                before_file: a.file.clone(),
                before_created: a.header.created_at.clone(),
            });
        }
    }
    Ok(Chain {
        dir: dir.to_path_buf(),
        members,
        parts,
    })
}

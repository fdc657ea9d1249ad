//! Pending security updates from apt's local metadata only: the package
//! lists `apt-get update` last wrote under `/var/lib/apt/lists`, never the
//! network. A list is a security suite's when its file name says so
//! (`…_dists_bookworm-security_…`, `…_dists_jammy-security_…`, and
//! Debian's older `…_dists_stretch_updates_…`). An installed package is
//! pending when such a list offers a newer version of it for its
//! architecture (Debian version order). Lists are read plain or as apt
//! stores them compressed (`.lz4`, `.gz`), streamed and bounded.

use super::debversion;
use super::dpkg::{self, Installed};
use gamsa_proto::v1::{PendingUpdate, SecurityUpdates};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

/// Where apt keeps its lists, on the host.
const LISTS: &str = "/var/lib/apt/lists";
/// The most files looked at in the lists directory.
const MAX_LIST_FILES: usize = 10_000;

/// The suite of a list file's name (`…_dists_<suite>_<component>_…`) when
/// it is a security suite.
fn security_suite(file: &str) -> Option<String> {
    let after = file.split_once("_dists_")?.1;
    let mut parts = after.split('_');
    let suite = parts.next()?;
    if suite.ends_with("-security") {
        return Some(suite.to_string());
    }
    // Debian 9 and older: "stretch/updates", escaped as "stretch_updates".
    (parts.next() == Some("updates")).then(|| format!("{suite}/updates"))
}

/// A binary package list, plain or compressed as apt keeps it.
fn is_packages_list(file: &str) -> bool {
    ["_Packages", "_Packages.lz4", "_Packages.gz"]
        .iter()
        .any(|s| file.ends_with(s))
}

fn open_list(local: &Path, host: &Path) -> Result<Box<dyn std::io::Read>, String> {
    let f = std::fs::File::open(local).map_err(|e| super::super::io_error(host, &e))?;
    let name = host.to_string_lossy();
    Ok(if name.ends_with(".lz4") {
        Box::new(lz4_flex::frame::FrameDecoder::new(f))
    } else if name.ends_with(".gz") {
        Box::new(flate2::read::GzDecoder::new(f))
    } else {
        Box::new(f)
    })
}

fn modified(local: &Path) -> Option<SystemTime> {
    std::fs::metadata(local).ok()?.modified().ok()
}

/// The security updates apt's lists under `root` offer for `installed`.
pub fn security_updates(root: &Path, installed: &[Installed]) -> SecurityUpdates {
    let mut out = SecurityUpdates {
        manager: "apt".into(),
        ..Default::default()
    };
    let dir = root.join(LISTS.trim_start_matches('/'));
    let names: Vec<String> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd
            .take(MAX_LIST_FILES)
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect(),
        Err(e) => {
            out.error = super::super::io_error(Path::new(LISTS), &e);
            return out;
        }
    };
    let mut lists: Vec<(String, String)> = names
        .iter()
        .filter(|n| is_packages_list(n))
        .filter_map(|n| Some((n.clone(), security_suite(n)?)))
        .collect();
    lists.sort();
    if lists.is_empty() {
        out.error = format!(
            "{LISTS}: no package list of a security suite (none in apt's sources, or apt-get update never ran)"
        );
        return out;
    }
    let by_key: BTreeMap<(&str, &str), &str> = installed
        .iter()
        .map(|p| {
            (
                (p.name.as_str(), p.architecture.as_str()),
                p.version.as_str(),
            )
        })
        .collect();
    // (name, arch) -> the newest offer: (version, suite).
    let mut newest: BTreeMap<(String, String), (String, String)> = BTreeMap::new();
    let mut errors = Vec::new();
    let mut updated: Option<SystemTime> = None;
    for (name, suite) in &lists {
        let host = Path::new(LISTS).join(name);
        let local = dir.join(name);
        let read = open_list(&local, &host).and_then(|r| {
            dpkg::stanzas(r, &host, &["Package", "Version", "Architecture"], |f, _| {
                let key = (f["Package"].as_str(), f["Architecture"].as_str());
                let Some(have) = by_key.get(&key) else {
                    return;
                };
                let offered = f["Version"].as_str();
                let newer = |than: &str| {
                    matches!(
                        debversion::compare(offered, than),
                        Ok(std::cmp::Ordering::Greater)
                    )
                };
                let entry = (key.0.to_string(), key.1.to_string());
                if newer(have) && newest.get(&entry).is_none_or(|(v, _)| newer(v)) {
                    newest.insert(entry, (offered.to_string(), suite.clone()));
                }
            })
        });
        match read {
            Ok(()) => {
                out.sources.push(host.display().to_string());
                // apt sets a list's time from the archive; the suite's
                // InRelease is rewritten by every update that reaches it.
                let release = name
                    .split_once("_dists_")
                    .map(|(base, rest)| {
                        let suite_path = rest.split('_').next().unwrap_or("");
                        dir.join(format!("{base}_dists_{suite_path}_InRelease"))
                    })
                    .and_then(|p| modified(&p));
                for t in [modified(&local), release].into_iter().flatten() {
                    updated = Some(updated.map_or(t, |u| u.max(t)));
                }
            }
            Err(why) => errors.push(why),
        }
    }
    out.known = errors.is_empty();
    out.error = errors.join("; ");
    out.metadata_updated = updated.map(|t| {
        let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        gamsa_proto::Timestamp {
            seconds: d.as_secs() as i64,
            nanos: 0,
        }
    });
    out.pending = newest
        .into_iter()
        .map(|((name, architecture), (available, suite))| PendingUpdate {
            installed: by_key
                .get(&(name.as_str(), architecture.as_str()))
                .map(|v| v.to_string())
                .unwrap_or_default(),
            name,
            architecture,
            available,
            suite,
        })
        .collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_suites_by_file_name() {
        let s = |n| security_suite(n);
        assert_eq!(
            s("deb.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages.lz4"),
            Some("bookworm-security".into())
        );
        assert_eq!(
            s("security.ubuntu.com_ubuntu_dists_jammy-security_universe_binary-amd64_Packages"),
            Some("jammy-security".into())
        );
        assert_eq!(
            s("security.debian.org_dists_stretch_updates_main_binary-amd64_Packages"),
            Some("stretch/updates".into())
        );
        assert_eq!(
            s("deb.debian.org_debian_dists_bookworm-updates_main_binary-amd64_Packages"),
            None
        );
        assert_eq!(
            s("deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages"),
            None
        );
    }
}

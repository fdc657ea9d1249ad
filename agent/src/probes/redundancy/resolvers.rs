//! DNS resolvers from `/etc/resolv.conf` under the host root.
//!
//! When it points at systemd-resolved's local stub (127.0.0.53), the
//! resolvers that matter are the upstream ones resolved forwards to,
//! which it writes to `/run/systemd/resolve/resolv.conf`. Symbolic links
//! are followed inside the host root: an absolute target like
//! `/run/systemd/resolve/stub-resolv.conf` names the host's file, not the
//! agent's.

use std::path::{Path, PathBuf};

const LIMIT: u64 = 256 * 1024;
/// Most symbolic links followed.
const MAX_LINKS: usize = 16;
const RESOLV_CONF: &str = "/etc/resolv.conf";
const RESOLVED_UPSTREAM: &str = "/run/systemd/resolve/resolv.conf";
/// Addresses of systemd-resolved's local stub listeners.
const STUBS: &[&str] = &["127.0.0.53", "127.0.0.54"];

/// `path` relative to the root, with `..` resolved lexically: never above
/// the root.
fn clamped(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// `path` under `root`, with a final symbolic link resolved inside `root`.
fn in_root(root: &Path, path: &str) -> PathBuf {
    let mut rel = clamped(Path::new(path));
    for _ in 0..MAX_LINKS {
        let Ok(target) = std::fs::read_link(root.join(&rel)) else {
            break;
        };
        rel = if target.is_absolute() {
            clamped(&target)
        } else {
            clamped(&rel.parent().unwrap_or(Path::new("")).join(target))
        };
    }
    root.join(rel)
}

/// The `nameserver` addresses of a resolv.conf, in order, once each.
pub fn parse(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            continue;
        }
        if let Some(addr) = words.next().filter(|a| !a.starts_with(['#', ';'])) {
            if !out.iter().any(|o| o == addr) {
                out.push(addr.to_string());
            }
        }
    }
    out
}

fn read(root: &Path, path: &str) -> Result<Vec<String>, std::io::Error> {
    super::super::read_bounded(&in_root(root, path), LIMIT).map(|t| parse(&t))
}

/// The resolvers and the file they came from. A host without a
/// resolv.conf has no resolvers (not an error: it resolves nothing).
pub fn read_host(root: &Path) -> Result<(Vec<String>, String), String> {
    let resolvers = match read(root, RESOLV_CONF) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((Vec::new(), String::new()))
        }
        Err(e) => return Err(super::super::io_error(&root.join("etc/resolv.conf"), &e)),
    };
    let only_stub = !resolvers.is_empty() && resolvers.iter().all(|r| STUBS.contains(&r.as_str()));
    if only_stub {
        if let Ok(upstream) = read(root, RESOLVED_UPSTREAM) {
            return Ok((upstream, RESOLVED_UPSTREAM.into()));
        }
    }
    Ok((resolvers, RESOLV_CONF.into()))
}

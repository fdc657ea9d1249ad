//! Paths on the host, read under the host root with their symlinks
//! followed inside it.
//!
//! Tomcat installations are made of symlinks (Debian's
//! `/var/lib/tomcat10/conf` is `/etc/tomcat10`, its jars point into
//! `/usr/share/java`). Under a DaemonSet's `/host` an absolute link must
//! land in `/host`, not in the agent's own filesystem, so links are
//! resolved here, component by component, with a bound on how many are
//! followed (a loop is an error naming the path).

use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

/// Most symlinks followed for one path (Linux's own limit is 40).
const MAX_LINKS: usize = 40;

/// Where `host` (a path on the host) is on the agent's filesystem, every
/// symlink followed inside `root`; a part that does not exist ends the
/// resolution there (the caller's read says "not found").
pub fn resolve(root: &Path, host: &str) -> Result<PathBuf, String> {
    let mut done: Vec<OsString> = Vec::new();
    let mut todo: Vec<OsString> = components(Path::new(host));
    todo.reverse();
    let mut links = 0;
    while let Some(c) = todo.pop() {
        if c == ".." {
            done.pop();
            continue;
        }
        let candidate = joined(root, &done).join(&c);
        match std::fs::symlink_metadata(&candidate) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(format!("{host}: too many levels of symbolic links"));
                }
                let target = std::fs::read_link(&candidate).map_err(|e| format!("{host}: {e}"))?;
                if target.is_absolute() {
                    done.clear();
                }
                let mut more = components(&target);
                more.reverse();
                todo.extend(more);
            }
            _ => done.push(c),
        }
    }
    Ok(joined(root, &done))
}

fn components(p: &Path) -> Vec<OsString> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

fn joined(root: &Path, parts: &[OsString]) -> PathBuf {
    let mut p = root.to_path_buf();
    p.extend(parts);
    p
}

/// `host` joined with `rel` unless `rel` is absolute (as Tomcat resolves
/// `appBase`, `docBase` and log directories against CATALINA_BASE).
pub fn under(host: &str, rel: &str) -> String {
    if rel.starts_with('/') {
        rel.to_string()
    } else {
        format!("{}/{rel}", host.trim_end_matches('/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_links_stay_under_the_root_and_loops_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        std::fs::create_dir_all(r.join("etc/tomcat10")).unwrap();
        std::fs::create_dir_all(r.join("var/lib/tomcat10")).unwrap();
        std::os::unix::fs::symlink("/etc/tomcat10", r.join("var/lib/tomcat10/conf")).unwrap();
        assert_eq!(
            resolve(r, "/var/lib/tomcat10/conf/server.xml").unwrap(),
            r.join("etc/tomcat10/server.xml")
        );
        std::os::unix::fs::symlink("b", r.join("a")).unwrap();
        std::os::unix::fs::symlink("a", r.join("b")).unwrap();
        let e = resolve(r, "/a/x").unwrap_err();
        assert!(e.contains("/a/x") && e.contains("symbolic links"), "{e}");
        assert_eq!(under("/srv/t", "logs"), "/srv/t/logs");
        assert_eq!(under("/srv/t", "/var/log/t"), "/var/log/t");
    }
}

//! Where Tomcat is installed: the running JVMs whose command line names
//! `-Dcatalina.base=` / `-Dcatalina.home=` (read from `/proc` under the
//! host root), and the configured CATALINA_BASE directories, so that a
//! stopped Tomcat is assessed too.

use super::conf::read_bytes;
use super::root::resolve;
use std::path::Path;

/// Most `/proc` entries looked at.
const MAX_PROCESSES: usize = 200_000;
/// Most bytes of one command line.
const MAX_CMDLINE: u64 = 256 * 1024;
/// Most installations reported.
pub const MAX_INSTANCES: usize = 32;

/// One installation found.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// CATALINA_BASE and CATALINA_HOME on the host ("" when unknown).
    pub base: String,
    pub home: String,
    pub found_by: &'static str,
    /// The process running it, and its effective UID.
    pub process: Option<(u32, u32)>,
}

/// The Tomcat JVMs under `root`'s `/proc`; what could not be read goes to
/// `notices`.
pub fn processes(root: &Path, notices: &mut Vec<String>) -> Vec<Found> {
    let proc_dir = root.join("proc");
    let entries = match std::fs::read_dir(&proc_dir) {
        Ok(e) => e,
        Err(e) => {
            notices.push(format!("/proc: {e}"));
            return Vec::new();
        }
    };
    let mut found = Vec::new();
    for entry in entries.flatten().take(MAX_PROCESSES) {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        // Processes exit while being read: skipped, not errors.
        let Ok(cmdline) = read_bytes(&entry.path().join("cmdline"), MAX_CMDLINE) else {
            continue;
        };
        // A JVM (java, or commons-daemon's jsvc), not a shell or wrapper
        // that happens to pass the same arguments on.
        let program = cmdline.split(|b| *b == 0).next().unwrap_or_default();
        let program = String::from_utf8_lossy(program);
        let program = program.rsplit('/').next().unwrap_or_default();
        if !program.starts_with("java") && program != "jsvc" {
            continue;
        }
        let (mut base, mut home) = (String::new(), String::new());
        for arg in cmdline.split(|b| *b == 0) {
            let arg = String::from_utf8_lossy(arg);
            if let Some(v) = arg.strip_prefix("-Dcatalina.base=") {
                base = v.to_string();
            } else if let Some(v) = arg.strip_prefix("-Dcatalina.home=") {
                home = v.to_string();
            }
        }
        if base.is_empty() {
            base.clone_from(&home);
        }
        if base.is_empty() {
            continue;
        }
        let Some(uid) = effective_uid(&entry.path().join("status")) else {
            continue;
        };
        found.push(Found {
            base,
            home,
            found_by: "process",
            process: Some((pid, uid)),
        });
        if found.len() >= MAX_INSTANCES {
            break;
        }
    }
    found
}

/// The effective UID of `/proc/<pid>/status` ("Uid: real effective ...").
fn effective_uid(status: &Path) -> Option<u32> {
    let text = String::from_utf8(read_bytes(status, 64 * 1024).ok()?).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|u| u.parse().ok())
}

/// The configured CATALINA_BASE directories that exist under `root`.
pub fn configured(root: &Path, paths: &[String]) -> Vec<Found> {
    paths
        .iter()
        .filter(|p| resolve(root, p).is_ok_and(|l| l.is_dir()))
        .map(|p| Found {
            base: p.trim_end_matches('/').to_string(),
            home: String::new(),
            found_by: "configured",
            process: None,
        })
        .collect()
}

/// CATALINA_HOME of a base found without one: the base itself when it
/// holds Tomcat's jars, Debian's `/usr/share/tomcatN` for
/// `/var/lib/tomcatN`, else "".
pub fn home_of(root: &Path, base: &str) -> String {
    let has_jars =
        |p: &str| resolve(root, &format!("{p}/lib/catalina.jar")).is_ok_and(|l| l.exists());
    if has_jars(base) {
        return base.to_string();
    }
    if let Some(n) = base.strip_prefix("/var/lib/tomcat") {
        let debian = format!("/usr/share/tomcat{n}");
        if has_jars(&debian) {
            return debian;
        }
    }
    String::new()
}

/// Processes first (they say who runs it), then configured paths not
/// already found; one entry per base, its unprivileged process preferred.
pub fn merge(processes: Vec<Found>, configured: Vec<Found>) -> Vec<Found> {
    let mut out: Vec<Found> = Vec::new();
    for f in processes.into_iter().chain(configured) {
        match out.iter_mut().find(|o| o.base == f.base) {
            // jsvc's root parent and its unprivileged child: the child serves.
            Some(o)
                if o.process.is_some_and(|(_, uid)| uid == 0)
                    && f.process.is_some_and(|(_, uid)| uid != 0) =>
            {
                *o = f
            }
            Some(_) => {}
            None => out.push(f),
        }
    }
    out.truncate(MAX_INSTANCES);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(base: &str, by: &'static str, process: Option<(u32, u32)>) -> Found {
        Found {
            base: base.into(),
            home: String::new(),
            found_by: by,
            process,
        }
    }

    #[test]
    fn one_entry_per_base_the_serving_process_first() {
        let merged = merge(
            vec![
                at("/t", "process", Some((10, 0))),
                at("/t", "process", Some((11, 997))),
            ],
            vec![at("/t", "configured", None), at("/u", "configured", None)],
        );
        assert_eq!(
            merged,
            [
                at("/t", "process", Some((11, 997))),
                at("/u", "configured", None)
            ]
        );
    }
}

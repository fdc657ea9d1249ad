//! systemd units enabled (their `*.wants`/`*.requires` symlinks) or masked,
//! SysV start links, and on the host's own root the units systemd says run.

use super::super::config_files::{HostFiles, MAX_ENTRIES};
use gamsa_proto::v1::SystemdUnit;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

/// Where unit files and their enabling links are, the administrator's first.
const UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];
/// How long `systemctl list-units` may take.
const SYSTEMCTL_TIMEOUT: Duration = Duration::from_secs(10);

/// "getty@tty1.service" → ("getty", "service").
fn split(name: &str) -> (String, String) {
    let (base, kind) = name.rsplit_once('.').unwrap_or((name, ""));
    let service = base.split('@').next().unwrap_or(base);
    (service.to_string(), kind.to_string())
}

pub fn unit<'m>(units: &'m mut BTreeMap<String, SystemdUnit>, name: &str) -> &'m mut SystemdUnit {
    units.entry(name.to_string()).or_insert_with(|| {
        let (service, kind) = split(name);
        SystemdUnit {
            name: name.to_string(),
            service,
            r#type: kind,
            ..Default::default()
        }
    })
}

/// Units with an enabling symlink in a `*.wants` or `*.requires` directory
/// of the unit directories, and units masked in `/etc/systemd/system`.
pub fn enabled(f: &mut HostFiles) -> BTreeMap<String, SystemdUnit> {
    let mut units = BTreeMap::new();
    // /lib is often a link to /usr/lib: each real directory is read once.
    let mut seen = HashSet::new();
    for dir in UNIT_DIRS {
        let real = std::fs::canonicalize(f.local(dir)).unwrap_or_else(|_| f.local(dir));
        if !seen.insert(real) {
            continue;
        }
        // Masks are the administrator's: only /etc is read whole.
        let whole = *dir == "/etc/systemd/system";
        for entry in f.list(dir, |n| {
            whole || n.ends_with(".wants") || n.ends_with(".requires")
        }) {
            let local = f.local(&entry);
            let name = entry.rsplit('/').next().unwrap_or_default().to_string();
            if name.ends_with(".wants") || name.ends_with(".requires") {
                if !local.is_dir() {
                    continue;
                }
                for link in f.list(&entry, |n| n.contains('.')) {
                    let unit_name = link.rsplit('/').next().unwrap_or_default();
                    if units.len() >= MAX_ENTRIES {
                        f.notices.push(format!(
                            "{entry}: more than {MAX_ENTRIES} units, the rest not read"
                        ));
                        break;
                    }
                    let u = unit(&mut units, unit_name);
                    u.enabled = true;
                    u.wanted_by.push(entry.clone());
                }
            } else if whole
                && std::fs::read_link(&local).is_ok_and(|t| t == std::path::Path::new("/dev/null"))
            {
                unit(&mut units, &name).masked = true;
            }
        }
    }
    units
}

/// The init.d scripts started in runlevels 2 to 5 (`/etc/rcN.d/S??name`).
pub fn sysv_started(f: &mut HostFiles) -> Vec<String> {
    let mut names = BTreeSet::new();
    for level in 2..=5 {
        for link in f.list(&format!("/etc/rc{level}.d"), |n| n.starts_with('S')) {
            let name = link.rsplit('/').next().unwrap_or_default();
            let script = name[1..].trim_start_matches(|c: char| c.is_ascii_digit());
            if !script.is_empty() {
                names.insert(script.to_string());
            }
        }
    }
    names.into_iter().collect()
}

/// Units systemd lists as running services or listening sockets; `None`
/// when systemd is not the init system (no `/run/systemd/system`, as
/// `sd_booted` tells) or there is no systemctl binary. Only for the host's own root: in a container
/// systemctl would answer for the container.
pub fn running() -> Result<Option<Vec<String>>, String> {
    if !std::path::Path::new("/run/systemd/system").is_dir() {
        return Ok(None);
    }
    let Some(systemctl) = ["/usr/bin/systemctl", "/bin/systemctl"]
        .iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        return Ok(None);
    };
    let child = std::process::Command::new(systemctl)
        .args([
            "list-units",
            "--type=service,socket",
            "--state=running,listening",
            "--no-legend",
            "--plain",
            "--no-pager",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("{systemctl}: {e}"))?;
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(SYSTEMCTL_TIMEOUT) {
        Ok(out) => out.map_err(|e| format!("{systemctl}: {e}"))?,
        Err(_) => {
            // SAFETY: kill(2) on the pid of the child this function started.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            return Err(format!(
                "{systemctl} list-units: no answer within {SYSTEMCTL_TIMEOUT:?}"
            ));
        }
    };
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "{systemctl} list-units: {}",
            err.lines().next().unwrap_or("failed").trim()
        ));
    }
    Ok(Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .take(MAX_ENTRIES)
            .map(String::from)
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_names_split_into_service_and_type() {
        assert_eq!(
            split("getty@tty1.service"),
            ("getty".into(), "service".into())
        );
        assert_eq!(split("rsh.socket"), ("rsh".into(), "socket".into()));
        assert_eq!(split("telnet@.socket"), ("telnet".into(), "socket".into()));
    }
}

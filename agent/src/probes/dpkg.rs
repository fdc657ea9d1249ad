//! Which Debian packages are installed, from dpkg's own record
//! (`/var/lib/dpkg/status` under the host root), for probes that look for
//! software by package as well as by process.

use super::{io_error, read_lines, ProbeContext};
use std::collections::BTreeMap;

/// The status file is read up to this size (a large server's is ~5 MiB).
const MAX_STATUS_BYTES: u64 = 64 * 1024 * 1024;

/// The most packages kept.
const MAX_PACKAGES: usize = 100_000;

/// Installed packages (status "install ok installed") by name, with their
/// version. `Ok(None)` when the host has no dpkg status file (not Debian).
pub fn installed(ctx: &ProbeContext) -> Result<Option<BTreeMap<String, String>>, String> {
    let path = ctx.host_path("/var/lib/dpkg/status");
    if !path.exists() {
        return Ok(None);
    }
    let mut out = BTreeMap::new();
    let (mut name, mut version, mut ok) = (String::new(), String::new(), false);
    let mut flush = |name: &mut String, version: &mut String, ok: &mut bool| {
        if *ok && !name.is_empty() && out.len() < MAX_PACKAGES {
            out.insert(std::mem::take(name), std::mem::take(version));
        }
        name.clear();
        version.clear();
        *ok = false;
    };
    read_lines(&path, MAX_STATUS_BYTES, |line| {
        if line.is_empty() {
            flush(&mut name, &mut version, &mut ok);
        } else if let Some(v) = line.strip_prefix("Package:") {
            name = v.trim().to_string();
        } else if let Some(v) = line.strip_prefix("Version:") {
            version = v.trim().to_string();
        } else if let Some(v) = line.strip_prefix("Status:") {
            ok = v.trim() == "install ok installed";
        }
    })
    .map_err(|e| io_error(&path, &e))?;
    flush(&mut name, &mut version, &mut ok);
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only installed packages count; the last stanza needs no blank line.
    #[test]
    fn installed_packages_from_the_status_file() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = ProbeContext {
            agent_id: "a".into(),
            host: "h".into(),
            host_root: dir.path().to_path_buf(),
            labels: Default::default(),
            control: Default::default(),
        };
        assert_eq!(installed(&ctx).unwrap(), None);
        std::fs::create_dir_all(dir.path().join("var/lib/dpkg")).unwrap();
        std::fs::write(
            dir.path().join("var/lib/dpkg/status"),
            "Package: telegraf\nStatus: deinstall ok config-files\nVersion: 1.0\n\n\
             Package: prometheus-node-exporter\nStatus: install ok installed\nVersion: 1.5.0-1+b6\n",
        )
        .unwrap();
        let got = installed(&ctx).unwrap().unwrap();
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got["prometheus-node-exporter"], "1.5.0-1+b6");
    }
}

//! `files`: owner and mode of the files the Unix vulnerability checks name
//! (U-16 to U-22, U-27, U-29, U-31, U-32, U-63), of each login account's home
//! directory, and the trust files (`hosts.equiv`, `.rhosts`).
//!
//! A fixed list, not a walk of the filesystem: each path is one `stat`
//! under the host root, following a symlink as the services that read the
//! file do (a symlink loop is that file's error, not the probe's). Owner and
//! group are named from the host's own passwd and group, not the agent's.

use super::accounts::{login_shell, read_group, read_passwd, MAX_ENTRIES};
use super::{read_lines, Probe, ProbeContext};
use gamsa_proto::v1::{evidence::Payload, Evidence, FileMode, FileModes};
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

/// The most bytes of a trust file read to count its "+" lines.
const MAX_TRUST_BYTES: u64 = 1024 * 1024;

/// The files the guide names, in its order.
pub const NAMED: &[&str] = &[
    "/etc/passwd",
    "/etc/shadow",
    "/etc/group",
    "/etc/hosts",
    "/etc/inetd.conf",
    "/etc/xinetd.conf",
    "/etc/rsyslog.conf",
    "/etc/syslog.conf",
    "/etc/services",
    "/etc/hosts.lpd",
    "/etc/sudoers",
    "/etc/crontab",
];

/// `[probes.files]`: its schedule alone.
pub type Config = super::Scheduled<FilesProbe>;

impl From<Config> for FilesProbe {
    fn from(config: Config) -> Self {
        Self { config }
    }
}

pub struct FilesProbe {
    config: Config,
}

/// The host's user and group names by id, to name owners as the host does.
pub struct Names {
    users: HashMap<u32, String>,
    groups: HashMap<u32, String>,
}

impl Names {
    /// From the host's passwd and group; empty where they cannot be read
    /// (owners are then shown by id only).
    pub fn of(root: &Path) -> Self {
        Self {
            users: read_passwd(root)
                .unwrap_or_default()
                .into_iter()
                .map(|p| (p.uid, p.name))
                .collect(),
            groups: read_group(root)
                .unwrap_or_default()
                .into_iter()
                .map(|g| (g.gid, g.name))
                .collect(),
        }
    }
}

/// Owner, group and mode of the host path `host` under `root`.
pub fn stat(root: &Path, host: &str, names: &Names) -> FileMode {
    let mut f = FileMode {
        path: host.to_string(),
        ..Default::default()
    };
    match std::fs::metadata(root.join(host.trim_start_matches('/'))) {
        Ok(m) => {
            f.exists = true;
            f.mode = m.mode() & 0o7777;
            f.uid = m.uid();
            f.gid = m.gid();
            f.owner = names.users.get(&f.uid).cloned().unwrap_or_default();
            f.group = names.groups.get(&f.gid).cloned().unwrap_or_default();
            f.kind = if m.is_file() {
                "file"
            } else if m.is_dir() {
                "dir"
            } else {
                "other"
            }
            .into();
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => f.error = format!("{host}: {e}"),
    }
    f
}

/// "+" entries of a trust file: a line that is "+" or starts with "+ "
/// trusts every host (or every user of a host).
fn plus_entries(root: &Path, f: &mut FileMode) {
    if !f.exists || f.kind != "file" {
        return;
    }
    let local = root.join(f.path.trim_start_matches('/'));
    let mut n = 0;
    let read = read_lines(&local, MAX_TRUST_BYTES, |l| {
        let words: Vec<&str> = l.split_whitespace().collect();
        if words.contains(&"+") {
            n += 1;
        }
    });
    match read {
        Ok(()) => f.plus_entries = n,
        Err(e) => f.error = super::io_error(Path::new(&f.path), &e),
    }
}

/// The files evidence of the host under `root`.
pub fn observe(root: &Path) -> Result<FileModes, String> {
    let passwd = read_passwd(root)?;
    let names = Names {
        users: passwd.iter().map(|p| (p.uid, p.name.clone())).collect(),
        groups: read_group(root)?
            .into_iter()
            .map(|g| (g.gid, g.name))
            .collect(),
    };
    let files = NAMED.iter().map(|p| stat(root, p, &names)).collect();
    let mut homes = Vec::new();
    let mut trust_files = vec![stat(root, "/etc/hosts.equiv", &names)];
    for p in passwd
        .iter()
        .filter(|p| login_shell(&p.shell))
        .take(MAX_ENTRIES)
    {
        if !p.home.starts_with('/') {
            continue;
        }
        let mut h = stat(root, &p.home, &names);
        h.account = p.name.clone();
        homes.push(h);
        let mut rhosts = stat(
            root,
            &format!("{}/.rhosts", p.home.trim_end_matches('/')),
            &names,
        );
        rhosts.account = p.name.clone();
        trust_files.push(rhosts);
    }
    for t in &mut trust_files {
        plus_entries(root, t);
    }
    Ok(FileModes {
        files,
        homes,
        trust_files,
    })
}

#[async_trait::async_trait]
impl Probe for FilesProbe {
    fn name(&self) -> &'static str {
        "files"
    }

    fn interval(&self) -> Duration {
        self.config.interval
    }

    async fn run(&self, ctx: &ProbeContext) -> Vec<Evidence> {
        let root = ctx.host_root.clone();
        vec![
            match tokio::task::spawn_blocking(move || observe(&root)).await {
                Ok(Ok(f)) => ctx.observed("files", &ctx.host, Payload::FileModes(f)),
                Ok(Err(why)) => ctx.error("files", &ctx.host, why),
                Err(e) => ctx.error("files", &ctx.host, format!("probe task failed: {e}")),
            },
        ]
    }
}

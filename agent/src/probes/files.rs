//! `files`: owner and mode of the files the Unix vulnerability checks name
//! (U-16 to U-22, U-27, U-29, U-31, U-32, U-63), of each login account's home
//! directory, and the trust files (`hosts.equiv`, `.rhosts`).
//!
//! The named files are a fixed list: each path is one `stat` under the
//! host root, following a symlink as the services that read the file do (a
//! symlink loop is that file's error, not the probe's). Owner and group are
//! named from the host's own passwd and group, not the agent's.
//!
//! Beside the list, a bounded walk of the local filesystems (`walk.rs`)
//! finds SUID/SGID, world-writable and unowned files (U-15, U-23, U-25).
//! It costs far more than the list, so it runs at most once per its own
//! interval and the evidence between carries the last walk with its time.

pub mod walk;

use super::accounts::{login_shell, read_group, read_passwd, MAX_ENTRIES};
use super::{read_lines, Probe, ProbeContext, Section};
use gamsa_proto::v1::{evidence::Payload, Evidence, FileMode, FileModes, FileWalk};
use serde::Deserialize;
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// `[probes.files]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    pub walk: WalkConfig,
}

/// `[probes.files.walk]`: the walk of local filesystems and its bounds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WalkConfig {
    pub enabled: bool,
    /// The least time between two walks.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Directory entries looked at, at most.
    pub max_entries: u64,
    /// Files reported (SUID/SGID, world-writable and unowned together).
    pub max_reported: usize,
    /// Time one walk may take.
    #[serde(with = "humantime_serde")]
    pub max_duration: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Duration::from_secs(300),
            walk: WalkConfig::default(),
        }
    }
}

impl Default for WalkConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Duration::from_secs(3600),
            max_entries: 2_000_000,
            max_reported: 2_000,
            max_duration: Duration::from_secs(120),
        }
    }
}

impl Section for Config {
    fn enabled(&self) -> bool {
        self.enabled
    }

    fn validate(&self) -> Result<(), String> {
        let w = &self.walk;
        if w.max_entries == 0 {
            return Err("walk.max_entries: must be at least 1".into());
        }
        if w.max_reported == 0 {
            return Err("walk.max_reported: must be at least 1".into());
        }
        let limit = crate::scheduler::MAX_PROBE_TIME - Duration::from_secs(30);
        if w.max_duration.is_zero() || w.max_duration > limit {
            return Err(format!(
                "walk.max_duration: must be between 1s and {}s (a probe run's limit, less the list)",
                limit.as_secs()
            ));
        }
        Ok(())
    }

    fn build(&self, _: &crate::config::Config) -> Arc<dyn Probe> {
        Arc::new(FilesProbe::from(self.clone()))
    }
}

impl From<Config> for FilesProbe {
    fn from(config: Config) -> Self {
        Self {
            config,
            last_walk: Mutex::new(None),
        }
    }
}

pub struct FilesProbe {
    config: Config,
    /// The last walk and when it ended, repeated until the walk's interval
    /// has passed.
    last_walk: Mutex<Option<(Instant, FileWalk)>>,
}

/// Owner and group names of the host (its own passwd and group).
pub(super) struct Names {
    users: HashMap<u32, String>,
    groups: HashMap<u32, String>,
}

impl Names {
    /// The names of the host under `root`.
    pub(super) fn of(root: &Path) -> Result<Self, String> {
        Self::from_passwd(&read_passwd(root)?, root)
    }

    fn from_passwd(passwd: &[super::accounts::PasswdEntry], root: &Path) -> Result<Self, String> {
        Ok(Names {
            users: passwd.iter().map(|p| (p.uid, p.name.clone())).collect(),
            groups: read_group(root)?
                .into_iter()
                .map(|g| (g.gid, g.name))
                .collect(),
        })
    }

    /// As `of`, but empty where passwd or group cannot be read (owners are
    /// then shown by id only).
    pub(super) fn of_or_empty(root: &Path) -> Self {
        Self::of(root).unwrap_or(Names {
            users: HashMap::new(),
            groups: HashMap::new(),
        })
    }

    /// The user named by `uid`, "" when the host has none.
    pub(super) fn user(&self, uid: u32) -> String {
        self.users.get(&uid).cloned().unwrap_or_default()
    }
}

/// Owner, group and mode of the host path `host` under `root`.
pub(super) fn stat(root: &Path, host: &str, names: &Names) -> FileMode {
    file_mode(
        host,
        std::fs::metadata(root.join(host.trim_start_matches('/'))),
        names,
    )
}

/// The `FileMode` of `host` (a path on the host) from its metadata, read
/// by the caller; "absent" is no error.
pub(super) fn file_mode(
    host: &str,
    meta: std::io::Result<std::fs::Metadata>,
    names: &Names,
) -> FileMode {
    let mut f = FileMode {
        path: host.to_string(),
        ..Default::default()
    };
    match meta {
        Ok(m) => {
            f.exists = true;
            f.mode = m.mode() & 0o7777;
            f.uid = m.uid();
            f.gid = m.gid();
            f.owner = names.user(f.uid);
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

/// The files evidence of the host under `root`, with a fresh walk when
/// `walk` gives its bounds.
pub fn observe(root: &Path, walk: Option<&walk::Bounds>) -> Result<FileModes, String> {
    let passwd = read_passwd(root)?;
    let names = Names::from_passwd(&passwd, root)?;
    let walk = walk.map(|b| walk::walk(root, &names, b));
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
        walk,
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

    /// The list's time (the interval's, within its limits) or a walk's
    /// bound with time to spare for the list, whichever is longer.
    fn timeout(&self) -> Duration {
        let list = self
            .interval()
            .clamp(Duration::from_secs(5), crate::scheduler::MAX_PROBE_TIME);
        if self.config.walk.enabled {
            list.max(self.config.walk.max_duration + Duration::from_secs(30))
        } else {
            list
        }
    }

    async fn run(&self, ctx: &ProbeContext) -> Vec<Evidence> {
        let w = &self.config.walk;
        let cached = match self.last_walk.lock() {
            Ok(last) => last
                .as_ref()
                .filter(|(at, _)| at.elapsed() < w.interval)
                .map(|(_, walk)| walk.clone()),
            Err(_) => None,
        };
        let bounds = (w.enabled && cached.is_none()).then_some(walk::Bounds {
            max_entries: w.max_entries,
            max_reported: w.max_reported,
            max_duration: w.max_duration,
        });
        let root = ctx.host_root.clone();
        let result = tokio::task::spawn_blocking(move || observe(&root, bounds.as_ref())).await;
        vec![match result {
            Ok(Ok(mut f)) => {
                if let Some(fresh) = &f.walk {
                    if let Ok(mut last) = self.last_walk.lock() {
                        *last = Some((Instant::now(), fresh.clone()));
                    }
                } else {
                    f.walk = cached;
                }
                ctx.observed("files", &ctx.host, Payload::FileModes(f))
            }
            Ok(Err(why)) => ctx.error("files", &ctx.host, why),
            Err(e) => ctx.error("files", &ctx.host, format!("probe task failed: {e}")),
        }]
    }
}

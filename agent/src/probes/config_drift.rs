//! `config_drift`: each change to the host's configuration files, reported
//! within seconds (seed 003's special security term 9: real-time monitoring
//! of configuration changes, with a report of each; cloud-notice 3.2.2:
//! unauthorised changes detected, the change history kept).
//!
//! What is watched: the files the configuration assessment reads (accounts,
//! sudoers, SSH, PAM, login.defs, profiles, cron, hosts and services files,
//! syslog, banners) and the configured `paths`, files or directories
//! (walked a few levels deep), all under the host root. The kernel tells of
//! changes (inotify on the directories holding them, so that a file
//! replaced by rename is seen as well as one written in place); a settle
//! time gathers an editor's several writes into one change. Each file's
//! content is compared with what was seen before, and only a real
//! difference is reported: the path, the time, SHA-256 before and after,
//! owner and mode, and the changed lines as a bounded unified diff. A
//! secret-bearing file (shadow, private keys, the configured `secret`
//! patterns, any content holding a private key) reports only that it
//! changed: no hash, no line.
//!
//! Memory is bounded: content is kept for the diff only for files up to
//! `max_content_bytes` and up to `max_kept_bytes` in all (a hash for the
//! others), watches up to `max_watches`, files up to `max_files`; a bound
//! hit is reported in the watch's evidence, naming what is not watched.
//! Every `interval` the files are compared again whatever the kernel said
//! (a change missed, e.g. when the kernel's event queue overflowed, is
//! reported then, `detectedBy: "rescan"`) and the watch's state is sent.

use super::{Probe, ProbeContext, Section};
use crate::evidence::timestamp;
use gamsa_proto::v1::{
    evidence::Payload, ConfigChange, ConfigDrift, DriftWatch, Evidence, WatchedPath,
};
use gamsa_proto::Timestamp;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, watch};

/// The files and directories the configuration assessment (`accounts`,
/// `authentication`, `files`) reads, and their neighbours an auditor asks
/// about: watched unless `defaults = false`.
pub const DEFAULT_PATHS: &[&str] = &[
    "/etc/passwd",
    "/etc/group",
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/sudoers",
    "/etc/sudoers.d",
    "/etc/ssh/sshd_config",
    "/etc/ssh/sshd_config.d",
    "/etc/pam.d",
    "/etc/login.defs",
    "/etc/security",
    "/etc/profile",
    "/etc/profile.d",
    "/etc/bash.bashrc",
    "/etc/bashrc",
    "/etc/csh.cshrc",
    "/etc/csh.login",
    "/etc/crontab",
    "/etc/cron.d",
    "/etc/cron.allow",
    "/etc/cron.deny",
    "/etc/at.allow",
    "/etc/at.deny",
    "/var/spool/cron",
    "/etc/hosts",
    "/etc/hosts.equiv",
    "/etc/hosts.allow",
    "/etc/hosts.deny",
    "/etc/hosts.lpd",
    "/etc/services",
    "/etc/inetd.conf",
    "/etc/xinetd.conf",
    "/etc/xinetd.d",
    "/etc/rsyslog.conf",
    "/etc/rsyslog.d",
    "/etc/syslog.conf",
    "/etc/issue",
    "/etc/issue.net",
    "/etc/motd",
    "/etc/securetty",
    "/etc/ftpusers",
    "/etc/exports",
    "/etc/sysctl.conf",
    "/etc/sysctl.d",
    "/etc/fstab",
];

/// Secret-bearing files: only that they changed is reported. Glob patterns
/// on the host path (`*` crosses `/`); the configured `secret` adds to them.
pub const SECRET_PATTERNS: &[&str] = &[
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/security/opasswd",
    "/etc/ssh/ssh_host_*_key",
    "*.key",
    "*/id_rsa",
    "*/id_dsa",
    "*/id_ecdsa",
    "*/id_ed25519",
];

/// Content holding this is a private key, whatever the file's name.
const PRIVATE_KEY_MARK: &[u8] = b"PRIVATE KEY-----";

/// Larger files are compared by size, modification time, owner and mode,
/// never hashed: hashing them would make each event cost seconds.
const MAX_HASH_BYTES: u64 = 64 * 1024 * 1024;

/// How deep a configured directory is walked.
const MAX_DEPTH: usize = 4;

/// The longest diff line kept (in characters); longer ones are cut.
const MAX_LINE_CHARS: usize = 400;

/// Unwatched paths named in the watch's evidence.
const MAX_UNWATCHED_NAMED: usize = 50;

/// How often the watch task re-reads which directories to watch.
const RECONCILE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    /// How often the files are compared whatever the kernel said, and the
    /// watch's state is reported.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Watch [`DEFAULT_PATHS`].
    pub defaults: bool,
    /// More files or directories to watch (host paths, absolute).
    pub paths: Vec<String>,
    /// More secret-bearing files (glob patterns on the host path).
    pub secret: Vec<String>,
    /// Events are gathered this long before the files are compared.
    #[serde(with = "humantime_serde")]
    pub settle: Duration,
    /// The most directories watched (each costs one inotify watch).
    pub max_watches: usize,
    /// The most files compared.
    pub max_files: usize,
    /// A file's content is kept for its diff up to this size.
    pub max_content_bytes: u64,
    /// The most content kept for diffs in all; beyond it, hashes only.
    pub max_kept_bytes: u64,
    /// The most lines of one change's diff.
    pub max_diff_lines: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Duration::from_secs(300),
            defaults: true,
            paths: Vec::new(),
            secret: Vec::new(),
            settle: Duration::from_millis(300),
            max_watches: 256,
            max_files: 4096,
            max_content_bytes: 64 * 1024,
            max_kept_bytes: 8 * 1024 * 1024,
            max_diff_lines: 200,
        }
    }
}

impl Section for Config {
    fn enabled(&self) -> bool {
        self.enabled
    }

    fn validate(&self) -> Result<(), String> {
        for p in &self.paths {
            if !p.starts_with('/') {
                return Err(format!("paths: {p:?} is not an absolute path"));
            }
        }
        for s in &self.secret {
            glob::Pattern::new(s).map_err(|e| format!("secret: {s:?}: {e}"))?;
        }
        if self.max_watches == 0 || self.max_files == 0 {
            return Err("max_watches and max_files must be at least 1".into());
        }
        if self.settle > Duration::from_secs(10) {
            return Err("settle: at most 10s (changes are reported within seconds)".into());
        }
        Ok(())
    }

    fn build(&self, _: &crate::config::Config) -> Arc<dyn Probe> {
        Arc::new(ConfigDriftProbe::new(self.clone()))
    }
}

pub struct ConfigDriftProbe {
    config: Config,
    secret: Vec<glob::Pattern>,
    tracker: Arc<Mutex<Tracker>>,
}

impl ConfigDriftProbe {
    pub fn new(config: Config) -> Self {
        let secret = SECRET_PATTERNS
            .iter()
            .map(|s| s.to_string())
            .chain(config.secret.iter().cloned())
            .filter_map(|s| glob::Pattern::new(&s).ok())
            .collect();
        let mut roots: Vec<String> = Vec::new();
        if config.defaults {
            roots.extend(DEFAULT_PATHS.iter().map(|p| p.to_string()));
        }
        roots.extend(
            config
                .paths
                .iter()
                .map(|p| p.trim_end_matches('/').to_string()),
        );
        roots.sort();
        roots.dedup();
        Self {
            tracker: Arc::new(Mutex::new(Tracker {
                roots,
                since: crate::evidence::now(),
                ..Default::default()
            })),
            config,
            secret,
        }
    }

    /// Runs `f` on the tracker on the blocking pool (it reads files).
    async fn with_tracker<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Tracker, &Limits) -> T + Send + 'static,
    ) -> Option<T> {
        let tracker = self.tracker.clone();
        let limits = Limits {
            config: self.config.clone(),
            secret: self.secret.clone(),
        };
        tokio::task::spawn_blocking(move || {
            let mut t = tracker.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut t, &limits)
        })
        .await
        .ok()
    }
}

/// What the tracker needs from the configuration, with the host root.
struct Limits {
    config: Config,
    secret: Vec<glob::Pattern>,
}

/// What was last seen of one file.
#[derive(Debug, Clone, Default, PartialEq)]
struct Seen {
    exists: bool,
    /// `None` when not hashed (too large, unreadable).
    sha256: Option<[u8; 32]>,
    size: u64,
    mtime: Option<SystemTime>,
    mode: u32,
    uid: u32,
    gid: u32,
    /// The text, kept for the next diff (small, non-secret text files).
    content: Option<Arc<str>>,
    /// Why there is no content to diff against.
    no_content: String,
    secret: bool,
}

impl Seen {
    /// Whether `other` differs in anything a change report is about.
    fn differs(&self, other: &Seen) -> bool {
        if self.exists != other.exists {
            return true;
        }
        if !self.exists {
            return false;
        }
        let content = match (self.sha256, other.sha256) {
            (Some(a), Some(b)) => a != b,
            _ => self.size != other.size || self.mtime != other.mtime,
        };
        content || self.mode != other.mode || self.uid != other.uid || self.gid != other.gid
    }

    fn content_differs(&self, other: &Seen) -> bool {
        match (self.sha256, other.sha256) {
            (Some(a), Some(b)) => a != b,
            _ => self.size != other.size || self.mtime != other.mtime,
        }
    }
}

/// The files watched, what was last seen of each, and the watch's state.
#[derive(Default)]
struct Tracker {
    /// Host paths configured (files or directories).
    roots: Vec<String>,
    /// Host path → last seen. Present once baselined.
    files: BTreeMap<String, Seen>,
    baselined: bool,
    /// Directories to watch: all of a directory root's, and the parent of
    /// each file root.
    dirs: BTreeSet<String>,
    /// Directories whose every file is tracked (inside a directory root).
    content_dirs: BTreeSet<String>,
    /// Content bytes kept in `files`.
    kept_bytes: u64,
    unwatched: BTreeSet<String>,
    limit_reached: bool,
    /// inotify runs, or why it could not start.
    events: bool,
    error: String,
    watches: usize,
    changes: u64,
    overflows: u64,
    since: Timestamp,
}

impl Tracker {
    /// Lists the files and directories of the roots, within the bounds.
    fn expand(&mut self, ctx: &ProbeContext, limits: &Limits) -> BTreeSet<String> {
        let (max_files, max_watches) = (limits.config.max_files, limits.config.max_watches);
        let mut files = BTreeSet::new();
        let mut dirs = BTreeSet::new();
        let mut content_dirs = BTreeSet::new();
        let mut unwatched = BTreeSet::new();
        let mut limit = false;
        let mut over = |path: &str, limit: &mut bool| {
            *limit = true;
            if unwatched.len() < MAX_UNWATCHED_NAMED {
                unwatched.insert(path.to_string());
            }
        };
        for root in &self.roots {
            let meta = std::fs::symlink_metadata(ctx.host_path(root));
            if meta.as_ref().is_ok_and(|m| m.is_dir()) {
                // A directory root: every file in it, a few levels down.
                let mut stack = vec![(root.clone(), 0usize)];
                while let Some((dir, depth)) = stack.pop() {
                    if dirs.len() >= max_watches && !dirs.contains(&dir) {
                        over(&dir, &mut limit);
                        continue;
                    }
                    dirs.insert(dir.clone());
                    content_dirs.insert(dir.clone());
                    let Ok(entries) = std::fs::read_dir(ctx.host_path(&dir)) else {
                        continue;
                    };
                    let mut names: Vec<(String, bool)> = entries
                        .flatten()
                        .take(max_files + 1)
                        .filter_map(|e| {
                            let t = e.file_type().ok()?;
                            let name = e.file_name().to_str()?.to_string();
                            Some((format!("{dir}/{name}"), t.is_dir()))
                        })
                        .collect();
                    names.sort();
                    for (path, is_dir) in names {
                        if is_dir {
                            if depth + 1 < MAX_DEPTH {
                                stack.push((path, depth + 1));
                            } else {
                                over(&path, &mut limit);
                            }
                        } else if files.len() < max_files {
                            files.insert(path);
                        } else {
                            over(&path, &mut limit);
                        }
                    }
                }
            } else {
                // A file root (or one absent, to see it created): watched
                // through its directory.
                let parent = match root.rsplit_once('/') {
                    Some(("", _)) => "/".to_string(),
                    Some((p, _)) => p.to_string(),
                    None => continue,
                };
                let parent_exists = std::fs::metadata(ctx.host_path(&parent)).is_ok();
                if parent_exists && !dirs.contains(&parent) {
                    if dirs.len() >= max_watches {
                        over(root, &mut limit);
                        continue;
                    }
                    dirs.insert(parent);
                }
                if files.len() < max_files {
                    files.insert(root.clone());
                } else {
                    over(root, &mut limit);
                }
            }
        }
        self.dirs = dirs;
        self.content_dirs = content_dirs;
        self.unwatched = unwatched;
        self.limit_reached = limit;
        files
    }

    /// Whether an event on `path` (in a watched directory) concerns a file
    /// this tracker compares.
    fn concerns(&self, path: &str) -> bool {
        if self.files.contains_key(path) || self.roots.iter().any(|r| r == path) {
            return true;
        }
        path.rsplit_once('/')
            .is_some_and(|(dir, _)| self.content_dirs.contains(dir))
    }

    /// Compares `paths` with what was seen; returns the changes.
    fn check<'a>(
        &mut self,
        ctx: &ProbeContext,
        limits: &Limits,
        paths: impl IntoIterator<Item = &'a String>,
        by: &str,
    ) -> Vec<ConfigChange> {
        let mut out = Vec::new();
        for path in paths {
            if !self.files.contains_key(path) && self.files.len() >= limits.config.max_files {
                self.limit_reached = true;
                if self.unwatched.len() < MAX_UNWATCHED_NAMED {
                    self.unwatched.insert(path.clone());
                }
                continue;
            }
            let new = self.observe(ctx, limits, path);
            let old = self.files.get(path).cloned().unwrap_or_default();
            if !old.differs(&new) {
                // Keep the newer modification time (touch without change).
                if let Some(s) = self.files.get_mut(path) {
                    s.mtime = new.mtime;
                }
                continue;
            }
            if self.baselined {
                out.push(change(path, &old, &new, limits, by));
            }
            self.store(path, new);
        }
        self.changes += out.len() as u64;
        out
    }

    /// Keeps `seen` as the file's state, within the memory bound.
    fn store(&mut self, path: &str, seen: Seen) {
        if let Some(old) = self.files.get(path).and_then(|s| s.content.as_ref()) {
            self.kept_bytes -= old.len() as u64;
        }
        if !seen.exists && !self.roots.iter().any(|r| r == path) {
            self.files.remove(path);
            return;
        }
        if let Some(c) = &seen.content {
            self.kept_bytes += c.len() as u64;
        }
        self.files.insert(path.to_string(), seen);
    }

    /// Lists the roots again and compares every file: the baseline on the
    /// first call, changes after.
    fn rescan(&mut self, ctx: &ProbeContext, limits: &Limits, by: &str) -> Vec<ConfigChange> {
        let listed = self.expand(ctx, limits);
        let known: BTreeSet<String> = self.files.keys().cloned().collect();
        let all: Vec<String> = listed.union(&known).cloned().collect();
        let out = self.check(ctx, limits, &all, by);
        self.baselined = true;
        out
    }

    /// Reads one file: metadata, hash, content when small enough to keep.
    fn observe(&self, ctx: &ProbeContext, limits: &Limits, path: &str) -> Seen {
        let full = ctx.host_path(path);
        let secret = limits.secret.iter().any(|p| p.matches(path));
        let meta = match std::fs::symlink_metadata(&full) {
            Ok(m) => m,
            Err(_) => {
                return Seen {
                    secret,
                    ..Default::default()
                }
            }
        };
        let mut seen = Seen {
            exists: true,
            size: meta.len(),
            mtime: meta.modified().ok(),
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
            secret,
            ..Default::default()
        };
        if meta.file_type().is_symlink() {
            // Never followed (under a host root it would lead into the
            // agent's own filesystem): its target is its content.
            let target = std::fs::read_link(&full)
                .map(|t| format!("symlink to {}\n", t.display()))
                .unwrap_or_default();
            seen.sha256 = Some(Sha256::digest(target.as_bytes()).into());
            seen.content = Some(target.into());
            return seen;
        }
        if !meta.is_file() {
            seen.no_content = "not a regular file".into();
            return seen;
        }
        if meta.len() > MAX_HASH_BYTES {
            seen.no_content = format!("larger than {MAX_HASH_BYTES} bytes: not hashed");
            return seen;
        }
        match read_file(&full, limits.config.max_content_bytes) {
            Ok(read) => {
                seen.sha256 = Some(read.sha256);
                seen.secret |= read.private_key;
                let room = limits.config.max_kept_bytes.saturating_sub(self.kept_bytes);
                seen.content = match read.content {
                    _ if seen.secret => None,
                    Some(bytes) if bytes.contains(&0) => {
                        seen.no_content = "binary content".into();
                        None
                    }
                    Some(bytes) if bytes.len() as u64 > room => {
                        seen.no_content = format!(
                            "content not kept: the agent keeps at most {} bytes of content",
                            limits.config.max_kept_bytes
                        );
                        None
                    }
                    Some(bytes) => match String::from_utf8(bytes) {
                        Ok(text) => Some(text.into()),
                        Err(_) => {
                            seen.no_content = "not UTF-8 text".into();
                            None
                        }
                    },
                    None => {
                        seen.no_content = format!(
                            "content not kept: larger than {} bytes",
                            limits.config.max_content_bytes
                        );
                        None
                    }
                };
            }
            Err(e) => seen.no_content = super::io_error(&full, &e),
        }
        seen
    }

    fn watch_evidence(&self, ctx: &ProbeContext, limits: &Limits) -> DriftWatch {
        DriftWatch {
            events: self.events,
            files: self.files.len() as u32,
            watches: self.watches as u32,
            max_watches: limits.config.max_watches as u32,
            limit_reached: self.limit_reached,
            unwatched: self.unwatched.iter().cloned().collect(),
            paths: self
                .roots
                .iter()
                .map(|r| {
                    let m = std::fs::metadata(ctx.host_path(r));
                    WatchedPath {
                        path: r.clone(),
                        exists: m.is_ok(),
                        directory: m.is_ok_and(|m| m.is_dir()),
                    }
                })
                .collect(),
            changes: self.changes,
            since: Some(self.since),
            error: self.error.clone(),
            overflows: self.overflows,
        }
    }
}

struct FileRead {
    sha256: [u8; 32],
    /// The bytes, when no more than the content bound.
    content: Option<Vec<u8>>,
    private_key: bool,
}

/// Streams a file (at most [`MAX_HASH_BYTES`]): its hash, its bytes up to
/// `keep`, and whether it holds a private key.
fn read_file(path: &std::path::Path, keep: u64) -> std::io::Result<FileRead> {
    let mut f = std::fs::File::open(path)?.take(MAX_HASH_BYTES);
    let mut hash = Sha256::new();
    let mut content = Some(Vec::new());
    let mut private_key = false;
    let mut tail: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let chunk = &buf[..n];
        hash.update(chunk);
        // The mark may straddle two reads: look at the last bytes too.
        tail.extend_from_slice(chunk);
        if !private_key {
            private_key = tail
                .windows(PRIVATE_KEY_MARK.len())
                .any(|w| w == PRIVATE_KEY_MARK);
        }
        let cut = tail.len().saturating_sub(PRIVATE_KEY_MARK.len());
        tail.drain(..cut);
        if let Some(c) = content.as_mut() {
            if (c.len() + n) as u64 > keep {
                content = None;
            } else {
                c.extend_from_slice(chunk);
            }
        }
    }
    Ok(FileRead {
        sha256: hash.finalize().into(),
        content,
        private_key,
    })
}

/// The report of one change from `old` to `new`.
fn change(path: &str, old: &Seen, new: &Seen, limits: &Limits, by: &str) -> ConfigChange {
    let secret = old.secret || new.secret;
    let kind = match (old.exists, new.exists) {
        (false, true) => "created",
        (true, false) => "deleted",
        _ if !old.content_differs(new) => "attributes",
        _ => "modified",
    };
    let hex = |s: &Seen| match (secret, s.sha256) {
        (false, Some(h)) => hex::encode(h),
        _ => String::new(),
    };
    let mut c = ConfigChange {
        path: path.to_string(),
        kind: kind.into(),
        detected_at: Some(crate::evidence::now()),
        modified_at: new.mtime.map(timestamp),
        sha256_before: hex(old),
        sha256_after: hex(new),
        size_before: old.size,
        size_after: new.size,
        secret,
        detected_by: by.into(),
        mode: new.mode,
        uid: new.uid,
        gid: new.gid,
        ..Default::default()
    };
    if secret {
        c.no_diff = "secret: content not reported".into();
        return c;
    }
    if kind == "attributes" {
        return c;
    }
    let text = |s: &Seen| -> Result<Arc<str>, String> {
        match (&s.content, s.exists) {
            (_, false) => Ok("".into()),
            (Some(t), true) => Ok(t.clone()),
            (None, true) => Err(s.no_content.clone()),
        }
    };
    match (text(old), text(new)) {
        (Ok(a), Ok(b)) => {
            let (lines, cut) = unified_diff(path, &a, &b, limits.config.max_diff_lines);
            c.diff = lines;
            c.diff_truncated = cut;
        }
        (Err(why), _) => c.no_diff = format!("before: {why}"),
        (_, Err(why)) => c.no_diff = format!("after: {why}"),
    }
    c
}

/// The changed lines of `old` → `new` as a unified diff (three lines of
/// context), at most `max` lines, each cut at [`MAX_LINE_CHARS`]; and
/// whether it was cut.
pub fn unified_diff(path: &str, old: &str, new: &str, max: usize) -> (Vec<String>, bool) {
    let diff = similar::TextDiff::configure()
        .timeout(Duration::from_millis(500))
        .diff_lines(old, new);
    let text = diff
        .unified_diff()
        .context_radius(3)
        .header(&format!("a{path}"), &format!("b{path}"))
        .to_string();
    let mut lines = Vec::new();
    for line in text.lines() {
        if lines.len() == max {
            return (lines, true);
        }
        lines.push(line.chars().take(MAX_LINE_CHARS).collect());
    }
    (lines, false)
}

fn evidence_of(ctx: &ProbeContext, c: ConfigChange) -> Evidence {
    let path = c.path.clone();
    ctx.observed(
        "config_drift",
        &path,
        Payload::ConfigDrift(ConfigDrift {
            change: Some(c),
            watch: None,
        }),
    )
}

fn watch_evidence(ctx: &ProbeContext, w: DriftWatch) -> Evidence {
    ctx.observed(
        "config_drift",
        "watch",
        Payload::ConfigDrift(ConfigDrift {
            change: None,
            watch: Some(w),
        }),
    )
}

#[async_trait::async_trait]
impl Probe for ConfigDriftProbe {
    fn name(&self) -> &'static str {
        "config_drift"
    }

    fn interval(&self) -> Duration {
        self.config.interval
    }

    /// Compares every file again (the baseline, the first time) and
    /// reports what changed unseen, then the watch's state.
    async fn run(&self, ctx: &ProbeContext) -> Vec<Evidence> {
        let c = ctx.clone();
        let done = self
            .with_tracker(move |t, limits| {
                let changes = t.rescan(&c, limits, "rescan");
                (changes, t.watch_evidence(&c, limits))
            })
            .await;
        let Some((changes, watch)) = done else {
            return vec![ctx.error("config_drift", "watch", "the comparison did not finish")];
        };
        let mut out: Vec<Evidence> = changes.into_iter().map(|c| evidence_of(ctx, c)).collect();
        out.push(watch_evidence(ctx, watch));
        out
    }

    async fn watch(
        &self,
        ctx: &ProbeContext,
        out: mpsc::Sender<Evidence>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        use futures::StreamExt;
        let mut watcher = match Watcher::start() {
            Ok(w) => w,
            Err(e) => {
                let why =
                    format!("inotify: {e}; changes are found by the periodic comparison only");
                tracing::warn!("{why}");
                if let Ok(mut t) = self.tracker.lock() {
                    t.error = why;
                }
                return;
            }
        };
        // The baseline, before the first event counts.
        let c = ctx.clone();
        self.with_tracker(move |t, limits| {
            if !t.baselined {
                t.rescan(&c, limits, "rescan");
            }
        })
        .await;
        let mut reconcile = tokio::time::interval(RECONCILE);
        let mut announced = false;
        let mut pending = Batch::default();
        let mut due: Option<tokio::time::Instant> = None;
        loop {
            let dirs = self
                .tracker
                .lock()
                .map(|t| t.dirs.clone())
                .unwrap_or_default();
            let watching = watcher.reconcile(ctx, &dirs);
            if let Ok(mut t) = self.tracker.lock() {
                t.events = true;
                t.watches = watching;
            }
            if !announced {
                // The watch's state at once, not an interval later: the
                // rules judge it (events on, within bounds).
                announced = true;
                let c = ctx.clone();
                let Some(state) = self
                    .with_tracker(move |t, limits| t.watch_evidence(&c, limits))
                    .await
                else {
                    return;
                };
                tracing::info!(
                    files = state.files,
                    directories = state.watches,
                    "config_drift: watching configuration files"
                );
                if out.send(watch_evidence(ctx, state)).await.is_err() {
                    return;
                }
            }
            // Events gather in `pending` until the settle time after the
            // first has passed; only `next()` is awaited across branches,
            // so no event is lost when another branch wins.
            let settled = tokio::select! {
                ev = watcher.stream.next() => match ev {
                    Some(ev) => {
                        watcher.take(ev, &mut pending);
                        due.get_or_insert(tokio::time::Instant::now() + self.config.settle);
                        false
                    }
                    None => {
                        let why = "inotify: the event stream ended".to_string();
                        if let Ok(mut t) = self.tracker.lock() {
                            (t.events, t.error) = (false, why);
                        }
                        return;
                    }
                },
                _ = sleep_until(due), if due.is_some() => true,
                _ = reconcile.tick() => false,
                _ = shutdown.changed() => return,
            };
            if !settled {
                continue;
            }
            due = None;
            let batch = std::mem::take(&mut pending);
            let c = ctx.clone();
            let changes = self
                .with_tracker(move |t, limits| {
                    if batch.overflow || batch.new_dirs {
                        if batch.overflow {
                            t.overflows += 1;
                        }
                        return t.rescan(&c, limits, "event");
                    }
                    let paths: Vec<String> =
                        batch.paths.into_iter().filter(|p| t.concerns(p)).collect();
                    t.check(&c, limits, &paths, "event")
                })
                .await
                .unwrap_or_default();
            for change in changes {
                if out.send(evidence_of(ctx, change)).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Sleeps until `due`, or forever without one.
async fn sleep_until(due: Option<tokio::time::Instant>) {
    match due {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// What one settle period of events names.
#[derive(Default)]
struct Batch {
    /// Host paths of the files named.
    paths: BTreeSet<String>,
    /// A directory appeared: the roots are listed again.
    new_dirs: bool,
    /// The kernel dropped events: every file is compared again.
    overflow: bool,
}

/// The inotify instance and its watches, by host path.
struct Watcher {
    stream: inotify::EventStream<Vec<u8>>,
    by_wd: HashMap<inotify::WatchDescriptor, String>,
    by_dir: HashMap<String, inotify::WatchDescriptor>,
}

impl Watcher {
    fn start() -> std::io::Result<Self> {
        let stream = inotify::Inotify::init()?.into_event_stream(vec![0u8; 64 * 1024])?;
        Ok(Self {
            stream,
            by_wd: HashMap::new(),
            by_dir: HashMap::new(),
        })
    }

    /// Watches exactly `dirs` (those that exist); returns how many are.
    fn reconcile(&mut self, ctx: &ProbeContext, dirs: &BTreeSet<String>) -> usize {
        use inotify::WatchMask;
        let mut watches = self.stream.watches();
        let gone: Vec<String> = self
            .by_dir
            .keys()
            .filter(|d| !dirs.contains(*d))
            .cloned()
            .collect();
        for dir in gone {
            if let Some(wd) = self.by_dir.remove(&dir) {
                self.by_wd.remove(&wd);
                let _ = watches.remove(wd);
            }
        }
        let mask = WatchMask::CLOSE_WRITE
            | WatchMask::MODIFY
            | WatchMask::CREATE
            | WatchMask::DELETE
            | WatchMask::MOVED_FROM
            | WatchMask::MOVED_TO
            | WatchMask::ATTRIB
            | WatchMask::ONLYDIR
            | WatchMask::DONT_FOLLOW;
        for dir in dirs {
            if self.by_dir.contains_key(dir) {
                continue;
            }
            let full: PathBuf = ctx.host_path(dir);
            if let Ok(wd) = watches.add(&full, mask) {
                self.by_wd.insert(wd.clone(), dir.clone());
                self.by_dir.insert(dir.clone(), wd);
            }
        }
        self.by_dir.len()
    }

    fn take(&mut self, ev: std::io::Result<inotify::Event<std::ffi::OsString>>, batch: &mut Batch) {
        use inotify::EventMask;
        let Ok(ev) = ev else {
            batch.overflow = true;
            return;
        };
        if ev.mask.contains(EventMask::Q_OVERFLOW) {
            batch.overflow = true;
            return;
        }
        if ev.mask.contains(EventMask::IGNORED) {
            // The directory is gone: forget the watch (reconcile adds it
            // back if it reappears).
            if let Some(dir) = self.by_wd.remove(&ev.wd) {
                self.by_dir.remove(&dir);
            }
            return;
        }
        let (Some(dir), Some(name)) = (self.by_wd.get(&ev.wd), ev.name) else {
            return;
        };
        let Some(name) = name.to_str() else {
            return;
        };
        let path = if dir == "/" {
            format!("/{name}")
        } else {
            format!("{dir}/{name}")
        };
        if ev.mask.contains(EventMask::ISDIR) {
            batch.new_dirs |= ev.mask.intersects(EventMask::CREATE | EventMask::MOVED_TO);
            return;
        }
        batch.paths.insert(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(root: &std::path::Path) -> ProbeContext {
        ProbeContext {
            agent_id: "a".into(),
            host: "h".into(),
            host_root: root.to_path_buf(),
            labels: Default::default(),
            control: Default::default(),
        }
    }

    fn probe(paths: &[&str]) -> ConfigDriftProbe {
        ConfigDriftProbe::new(Config {
            defaults: false,
            paths: paths.iter().map(|p| p.to_string()).collect(),
            ..Config::default()
        })
    }

    fn changes(ev: &[Evidence]) -> Vec<ConfigChange> {
        ev.iter()
            .filter_map(|e| match &e.payload {
                Some(Payload::ConfigDrift(d)) => d.change.clone(),
                _ => None,
            })
            .collect()
    }

    fn write(root: &std::path::Path, path: &str, text: &str) {
        let full = root.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }

    /// The first comparison is the baseline; a later one reports the
    /// changed lines, a created and a deleted file, and nothing unchanged.
    #[tokio::test]
    async fn rescan_reports_each_change_with_its_lines() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            root,
            "/etc/ssh/sshd_config",
            "Port 22\nPermitRootLogin no\n",
        );
        write(root, "/etc/pam.d/su", "auth sufficient pam_rootok.so\n");
        write(root, "/etc/pam.d/login", "auth required pam_unix.so\n");
        let p = probe(&["/etc/ssh/sshd_config", "/etc/pam.d", "/etc/motd"]);
        let first = p.run(&ctx(root)).await;
        assert!(changes(&first).is_empty(), "baseline: {first:?}");
        write(
            root,
            "/etc/ssh/sshd_config",
            "Port 22\nPermitRootLogin yes\n",
        );
        write(root, "/etc/pam.d/sudo", "auth include common-auth\n");
        std::fs::remove_file(root.join("etc/pam.d/login")).unwrap();
        let second = changes(&p.run(&ctx(root)).await);
        let by: BTreeMap<&str, &ConfigChange> =
            second.iter().map(|c| (c.path.as_str(), c)).collect();
        assert_eq!(by.len(), 3, "{second:?}");
        let ssh = by["/etc/ssh/sshd_config"];
        assert_eq!(ssh.kind, "modified");
        assert!(
            ssh.diff.contains(&"-PermitRootLogin no".to_string()),
            "{ssh:?}"
        );
        assert!(
            ssh.diff.contains(&"+PermitRootLogin yes".to_string()),
            "{ssh:?}"
        );
        assert_ne!(ssh.sha256_before, ssh.sha256_after);
        assert_eq!(ssh.sha256_after.len(), 64);
        assert_eq!(by["/etc/pam.d/sudo"].kind, "created");
        assert_eq!(by["/etc/pam.d/login"].kind, "deleted");
        assert!(by["/etc/pam.d/login"]
            .diff
            .contains(&"-auth required pam_unix.so".to_string()));
        // Nothing changed since: nothing reported.
        assert!(changes(&p.run(&ctx(root)).await).is_empty());
    }

    /// A secret-bearing file reports that it changed, and nothing of its
    /// content: no line, no hash; so does any file holding a private key.
    #[tokio::test]
    async fn secrets_report_only_that_they_changed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "/etc/shadow", "root:$y$j9T$abc:19000:0:99999:7:::\n");
        write(root, "/etc/app/app.conf", "a = 1\n");
        let p = probe(&["/etc/shadow", "/etc/app"]);
        p.run(&ctx(root)).await;
        write(root, "/etc/shadow", "root:$y$j9T$xyz:19001:0:99999:7:::\n");
        write(
            root,
            "/etc/app/app.conf",
            "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n",
        );
        let found = changes(&p.run(&ctx(root)).await);
        assert_eq!(found.len(), 2, "{found:?}");
        for c in &found {
            assert!(c.secret, "{c:?}");
            assert!(c.diff.is_empty() && c.sha256_before.is_empty() && c.sha256_after.is_empty());
            let json = serde_json::to_string(c).unwrap();
            assert!(!json.contains("j9T") && !json.contains("MIIB"), "{json}");
        }
    }

    /// The bounds: a diff is cut at its line bound, content over the size
    /// bound is not kept (no diff, the reason said), and more files than
    /// `max_files` is a limit reached, naming what is not watched.
    #[tokio::test]
    async fn bounds_are_kept_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let long: String = (0..50).map(|i| format!("line {i}\n")).collect();
        write(root, "/etc/app/long.conf", &long);
        write(root, "/etc/app/big.conf", &"x".repeat(2000));
        for i in 0..5 {
            write(root, &format!("/etc/many/f{i}"), "x\n");
        }
        let p = ConfigDriftProbe::new(Config {
            defaults: false,
            paths: vec!["/etc/app".into(), "/etc/many".into()],
            max_content_bytes: 1000,
            max_diff_lines: 10,
            max_files: 5,
            ..Config::default()
        });
        let first = p.run(&ctx(root)).await;
        let watch = first
            .iter()
            .find_map(|e| match &e.payload {
                Some(Payload::ConfigDrift(d)) => d.watch.clone(),
                _ => None,
            })
            .unwrap();
        assert!(watch.limit_reached, "{watch:?}");
        assert_eq!(watch.files, 5);
        assert_eq!(watch.unwatched.len(), 2, "{watch:?}");
        let changed: String = (0..50).map(|i| format!("changed {i}\n")).collect();
        write(root, "/etc/app/long.conf", &changed);
        write(root, "/etc/app/big.conf", &"y".repeat(2000));
        let found = changes(&p.run(&ctx(root)).await);
        let long = found
            .iter()
            .find(|c| c.path.ends_with("long.conf"))
            .unwrap();
        assert_eq!(long.diff.len(), 10);
        assert!(long.diff_truncated);
        let big = found.iter().find(|c| c.path.ends_with("big.conf")).unwrap();
        assert!(big.diff.is_empty());
        assert!(big.no_diff.contains("larger than 1000 bytes"), "{big:?}");
        assert_ne!(big.sha256_before, big.sha256_after);
    }

    /// The inotify watch reports a change made on disk within a second,
    /// with its lines, without waiting for the periodic comparison.
    #[tokio::test]
    async fn the_watch_reports_a_change_as_it_happens() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        write(&root, "/etc/login.defs", "PASS_MAX_DAYS 90\n");
        let p = Arc::new(probe(&["/etc/login.defs"]));
        let (tx, mut rx) = mpsc::channel(16);
        let (_stop, stop) = watch::channel(false);
        let (p2, c) = (p.clone(), ctx(&root));
        tokio::spawn(async move { p2.watch(&c, tx, stop).await });
        // The watch baselines, reports its state at once, then waits for
        // events.
        let first = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("the watch's state at once")
            .unwrap();
        let Some(Payload::ConfigDrift(d)) = &first.payload else {
            panic!("{first:?}")
        };
        let w = d.watch.clone().unwrap();
        assert!(w.events && w.files == 1 && w.watches == 1, "{w:?}");
        let started = std::time::Instant::now();
        // Replaced by rename, as editors and shadow tools write.
        write(&root, "/etc/login.defs.tmp", "PASS_MAX_DAYS 99999\n");
        std::fs::rename(root.join("etc/login.defs.tmp"), root.join("etc/login.defs")).unwrap();
        let ev = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("a change within 5 s")
            .unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        let c = changes(&[ev]).remove(0);
        assert_eq!(
            (c.path.as_str(), c.detected_by.as_str()),
            ("/etc/login.defs", "event")
        );
        assert!(
            c.diff.contains(&"+PASS_MAX_DAYS 99999".to_string()),
            "{c:?}"
        );
    }
}

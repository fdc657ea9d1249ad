//! `accounts`: who can log in to this host, as what, and who may become root.
//!
//! The Unix vulnerability checks (U-04 to U-13, U-63) read `/etc/passwd`,
//! `/etc/shadow`, `/etc/group` and sudoers. This probe reports the facts they
//! need, never a password hash nor any part of one: only whether a password
//! is set, locked or empty, and its hash's algorithm family. Every file is
//! read under the host root, line by line, bounded in bytes and entries, so
//! a hostile or enormous file costs an error naming it, not the agent's
//! memory.

use super::{io_error, read_lines, Probe, ProbeContext};
use gamsa_proto::v1::{evidence::Payload, Account, AccountGroup, Accounts, Evidence, SudoersEntry};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The most bytes read from one account or sudoers file.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;
/// The most entries (accounts, groups, sudo rules) kept from one file:
/// far beyond any host's local accounts, and a few MiB at most.
pub const MAX_ENTRIES: usize = 20_000;
/// How deep sudoers includes may nest (sudo itself stops at 128; a loop
/// is refused sooner by the set of files already read).
const MAX_INCLUDE_DEPTH: usize = 8;

/// `[probes.accounts]`: its schedule alone.
pub type Config = super::Scheduled<AccountsProbe>;

impl super::Every for AccountsProbe {}

impl From<Config> for AccountsProbe {
    fn from(config: Config) -> Self {
        Self { config }
    }
}

pub struct AccountsProbe {
    config: Config,
}

/// One `/etc/passwd` line.
#[derive(Debug, Clone, PartialEq)]
pub struct PasswdEntry {
    pub name: String,
    pub password: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    pub shell: String,
}

/// Reads a colon-separated account file under the bounds, calling `each`
/// with the fields of every non-empty, non-comment line; a malformed line
/// is an error naming the file and line.
fn read_table(
    path: &Path,
    min_fields: usize,
    mut each: impl FnMut(&[&str]) -> Result<(), String>,
) -> Result<(), String> {
    let mut n = 0usize;
    let mut failed: Option<String> = None;
    let read = read_lines(path, MAX_FILE_BYTES, |line| {
        if failed.is_some() {
            return;
        }
        n += 1;
        if line.trim().is_empty() || line.starts_with('#') {
            return;
        }
        if n > MAX_ENTRIES {
            failed = Some(format!("{}: more than {MAX_ENTRIES} lines", path.display()));
            return;
        }
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() < min_fields {
            failed = Some(format!(
                "{} line {n}: {} fields, {min_fields} expected",
                path.display(),
                fields.len()
            ));
            return;
        }
        if let Err(e) = each(&fields) {
            failed = Some(format!("{} line {n}: {e}", path.display()));
        }
    });
    // What stopped the parse first is what the error says.
    match failed {
        Some(why) => Err(why),
        None => read.map_err(|e| io_error(path, &e)),
    }
}

fn number(field: &str, what: &str) -> Result<u32, String> {
    field
        .parse()
        .map_err(|_| format!("{what} '{}' is not a number", field.escape_debug()))
}

/// `/etc/passwd` under `root`.
pub fn read_passwd(root: &Path) -> Result<Vec<PasswdEntry>, String> {
    let mut out = Vec::new();
    read_table(&root.join("etc/passwd"), 7, |f| {
        out.push(PasswdEntry {
            name: f[0].to_string(),
            password: f[1].to_string(),
            uid: number(f[2], "UID")?,
            gid: number(f[3], "GID")?,
            home: f[5].to_string(),
            shell: f[6].to_string(),
        });
        Ok(())
    })?;
    Ok(out)
}

/// `/etc/group` under `root`.
pub fn read_group(root: &Path) -> Result<Vec<AccountGroup>, String> {
    let mut out = Vec::new();
    read_table(&root.join("etc/group"), 4, |f| {
        out.push(AccountGroup {
            name: f[0].to_string(),
            gid: number(f[2], "GID")?,
            members: f[3]
                .split(',')
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(String::from)
                .collect(),
            primary_members: 0,
        });
        Ok(())
    })?;
    Ok(out)
}

/// A shadow entry: the password field's state and algorithm, and the ages.
struct ShadowEntry {
    state: &'static str,
    algorithm: &'static str,
    last_change: i64,
    max_days: i64,
}

/// What a password field says, without keeping any of it: state and the
/// hash's algorithm family.
pub fn classify(field: &str) -> (&'static str, &'static str) {
    if field.is_empty() {
        return ("empty", "");
    }
    let (locked, hash) = match field.strip_prefix('!') {
        Some(rest) => (true, rest.trim_start_matches('!')),
        None => (field.starts_with('*'), field),
    };
    let algorithm = if hash.is_empty() || hash.starts_with('*') {
        ""
    } else if hash.starts_with("$y$") {
        "yescrypt"
    } else if hash.starts_with("$gy$") {
        "gost-yescrypt"
    } else if hash.starts_with("$6$") {
        "sha512"
    } else if hash.starts_with("$5$") {
        "sha256"
    } else if ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p)) {
        "bcrypt"
    } else if hash.starts_with("$1$") {
        "md5"
    } else if hash.len() == 13
        && hash
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/')
    {
        "des"
    } else {
        "unknown"
    };
    (if locked { "locked" } else { "set" }, algorithm)
}

fn days(field: &str) -> i64 {
    field.trim().parse().unwrap_or(-1)
}

fn read_shadow(root: &Path) -> Result<Option<BTreeMap<String, ShadowEntry>>, String> {
    let path = root.join("etc/shadow");
    if !path.exists() {
        return Ok(None);
    }
    let mut out = BTreeMap::new();
    read_table(&path, 5, |f| {
        let (state, algorithm) = classify(f[1]);
        out.insert(
            f[0].to_string(),
            ShadowEntry {
                state,
                algorithm,
                last_change: days(f[2]),
                max_days: days(f[4]),
            },
        );
        Ok(())
    })?;
    Ok(Some(out))
}

/// A shell that lets its account log in: not nologin, false or the
/// single-purpose shells of sync, shutdown and halt. An empty shell is
/// `/bin/sh`.
pub fn login_shell(shell: &str) -> bool {
    !(shell.ends_with("/nologin")
        || shell.ends_with("/false")
        || shell.ends_with("/true")
        || [
            "/bin/sync",
            "/sbin/shutdown",
            "/sbin/halt",
            "/usr/sbin/nologin",
        ]
        .contains(&shell))
}

/// sudoers and every file it includes, bounded in depth and entries.
struct Sudoers<'a> {
    root: &'a Path,
    seen: HashSet<PathBuf>,
    entries: Vec<SudoersEntry>,
    files: Vec<String>,
    notices: Vec<String>,
}

impl Sudoers<'_> {
    /// The host path `p` (absolute, or relative to `dir`) under the root.
    fn under_root(&self, p: &str, dir: &str) -> (String, PathBuf) {
        let host = if p.starts_with('/') {
            p.to_string()
        } else {
            format!("{}/{p}", dir.trim_end_matches('/'))
        };
        let local = self.root.join(host.trim_start_matches('/'));
        (host, local)
    }

    fn read(&mut self, host: &str, depth: usize) {
        let local = self.root.join(host.trim_start_matches('/'));
        if depth > MAX_INCLUDE_DEPTH {
            self.notices.push(format!(
                "{host}: included more than {MAX_INCLUDE_DEPTH} levels deep, not read"
            ));
            return;
        }
        let key = std::fs::canonicalize(&local).unwrap_or_else(|_| local.clone());
        if !self.seen.insert(key) {
            self.notices
                .push(format!("{host}: included again (a loop), not read twice"));
            return;
        }
        let dir = Path::new(host)
            .parent()
            .map_or("/".to_string(), |d| d.display().to_string());
        let mut lines: Vec<(u32, String)> = Vec::new();
        let mut pending = String::new();
        let mut start = 0u32;
        let mut n = 0u32;
        let mut too_many = false;
        let read = read_lines(&local, MAX_FILE_BYTES, |line| {
            n += 1;
            if pending.is_empty() {
                start = n;
            }
            match line.strip_suffix('\\') {
                Some(head) => {
                    pending.push_str(head);
                    pending.push(' ');
                }
                None => {
                    pending.push_str(line);
                    if lines.len() < MAX_ENTRIES {
                        lines.push((start, std::mem::take(&mut pending)));
                    } else {
                        too_many = true;
                        pending.clear();
                    }
                }
            }
        });
        if let Err(e) = read {
            if e.kind() != std::io::ErrorKind::NotFound || depth > 0 {
                self.notices.push(io_error(Path::new(host), &e));
            }
            return;
        }
        if too_many {
            self.notices.push(format!(
                "{host}: more than {MAX_ENTRIES} lines, the rest not read"
            ));
        }
        self.files.push(host.to_string());
        for (line, text) in lines {
            let t = text.trim();
            let directive = |name: &str| {
                ["#", "@"]
                    .iter()
                    .find_map(|p| t.strip_prefix(p)?.strip_prefix(name))
                    .filter(|rest| rest.starts_with(char::is_whitespace))
                    .map(str::trim)
            };
            if let Some(target) = directive("includedir") {
                let (host_dir, local_dir) = self.under_root(target, &dir);
                let mut names: Vec<String> = match std::fs::read_dir(&local_dir) {
                    Ok(rd) => rd
                        .filter_map(|e| e.ok()?.file_name().into_string().ok())
                        // sudo skips names ending in '~' or containing '.'.
                        .filter(|n| !n.ends_with('~') && !n.contains('.'))
                        .collect(),
                    Err(e) => {
                        self.notices.push(io_error(Path::new(&host_dir), &e));
                        continue;
                    }
                };
                names.sort();
                for name in names.into_iter().take(MAX_ENTRIES) {
                    self.read(
                        &format!("{}/{name}", host_dir.trim_end_matches('/')),
                        depth + 1,
                    );
                }
            } else if let Some(target) = directive("include") {
                let (host_file, _) = self.under_root(target, &dir);
                self.read(&host_file, depth + 1);
            } else if t.is_empty() || t.starts_with('#') {
                continue;
            } else if self.entries.len() < MAX_ENTRIES {
                self.entries.push(SudoersEntry {
                    file: host.to_string(),
                    line,
                    text: t.split_whitespace().collect::<Vec<_>>().join(" "),
                });
            }
        }
    }
}

/// The accounts evidence of the host under `root`.
pub fn observe(root: &Path) -> Result<Accounts, String> {
    let passwd = read_passwd(root)?;
    let groups = read_group(root)?;
    let shadow = read_shadow(root)?;
    let gids: HashSet<u32> = groups.iter().map(|g| g.gid).collect();
    let mut uids: HashMap<u32, u32> = HashMap::new();
    let mut primary: HashMap<u32, u32> = HashMap::new();
    for p in &passwd {
        *uids.entry(p.uid).or_default() += 1;
        *primary.entry(p.gid).or_default() += 1;
    }
    let groups: Vec<AccountGroup> = groups
        .into_iter()
        .map(|g| AccountGroup {
            primary_members: primary.get(&g.gid).copied().unwrap_or(0),
            ..g
        })
        .collect();
    let accounts = passwd
        .into_iter()
        .map(|p| {
            let (state, algorithm, last_change, max_days) = match p.password.as_str() {
                "x" => match shadow.as_ref().and_then(|s| s.get(&p.name)) {
                    Some(s) => (s.state, s.algorithm, s.last_change, s.max_days),
                    None => ("no_shadow_entry", "", -1, -1),
                },
                field => {
                    let (state, algorithm) = classify(field);
                    let state = if state == "set" { "in_passwd" } else { state };
                    (state, algorithm, -1, -1)
                }
            };
            Account {
                login_shell: login_shell(&p.shell),
                primary_group_exists: gids.contains(&p.gid),
                uid_shared: uids.get(&p.uid).is_some_and(|n| *n > 1),
                name: p.name,
                uid: p.uid,
                gid: p.gid,
                home: p.home,
                shell: p.shell,
                password_state: state.to_string(),
                hash_algorithm: algorithm.to_string(),
                last_change_days: last_change,
                max_days,
            }
        })
        .collect();
    let mut sudoers = Sudoers {
        root,
        seen: HashSet::new(),
        entries: Vec::new(),
        files: Vec::new(),
        notices: Vec::new(),
    };
    sudoers.read("/etc/sudoers", 0);
    let mut files = vec!["/etc/passwd".to_string(), "/etc/group".to_string()];
    if shadow.is_some() {
        files.push("/etc/shadow".into());
    }
    files.extend(sudoers.files);
    Ok(Accounts {
        accounts,
        groups,
        sudoers: sudoers.entries,
        shadow_present: shadow.is_some(),
        files,
        notices: sudoers.notices,
    })
}

#[async_trait::async_trait]
impl Probe for AccountsProbe {
    fn name(&self) -> &'static str {
        "accounts"
    }

    fn interval(&self) -> Duration {
        self.config.interval
    }

    async fn run(&self, ctx: &ProbeContext) -> Vec<Evidence> {
        let root = ctx.host_root.clone();
        vec![
            match tokio::task::spawn_blocking(move || observe(&root)).await {
                Ok(Ok(a)) => ctx.observed("accounts", &ctx.host, Payload::Accounts(a)),
                Ok(Err(why)) => ctx.error("accounts", &ctx.host, why),
                Err(e) => ctx.error("accounts", &ctx.host, format!("probe task failed: {e}")),
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_fields_say_state_and_family_only() {
        assert_eq!(classify(""), ("empty", ""));
        assert_eq!(classify("!"), ("locked", ""));
        assert_eq!(classify("*"), ("locked", ""));
        assert_eq!(classify("!$6$salt$hash"), ("locked", "sha512"));
        assert_eq!(classify("$y$j9T$salt$hash"), ("set", "yescrypt"));
        assert_eq!(classify("$1$salt$hash"), ("set", "md5"));
        assert_eq!(classify("abcdefghijklm"), ("set", "des"));
        assert_eq!(classify("$9$what"), ("set", "unknown"));
    }

    #[test]
    fn shells_that_log_in() {
        assert!(login_shell("/bin/bash"));
        assert!(login_shell(""));
        assert!(!login_shell("/usr/sbin/nologin"));
        assert!(!login_shell("/bin/false"));
        assert!(!login_shell("/bin/sync"));
    }
}

//! The bounded walk of the host's local filesystems that the Unix checks
//! U-15 (files without an owner), U-23 (SUID/SGID files) and U-25
//! (world-writable files) ask for: what `find / -xdev -perm -4000` and its
//! siblings do, run by the agent under the host root.
//!
//! A walk of a whole host can be long, so it is bounded three ways
//! (entries looked at, files reported, time) and says which bound ended it:
//! an empty list is "none" only for a walk that reached its end. Symbolic
//! links are never followed (an entry is `lstat`ed, a link is a leaf), so a
//! link loop cannot make it loop. It enters a mounted filesystem only when
//! the host's mount table names it with a local type; pseudo filesystems
//! (proc, sysfs, cgroup, ...), network ones (nfs, cifs, ...) and the host's
//! /proc, /sys, /dev and /run are left out. Without a mount table (a
//! fixture root, a container without the host's /proc) it stays on the
//! host root's own filesystem.

use super::Names;
use gamsa_proto::v1::FileWalk;
use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// How many reasons for unreadable directories are kept.
const MAX_ERRORS: usize = 20;
/// The most bytes of the mount table read.
const MAX_MOUNTS_BYTES: u64 = 4 * 1024 * 1024;
/// The most bytes of one dpkg file list read, and the most lists read.
const MAX_LIST_BYTES: u64 = 16 * 1024 * 1024;
const MAX_LISTS: usize = 50_000;

/// Host paths never walked: kernel and runtime state, not files at rest.
const SKIP: &[&str] = &["/proc", "/sys", "/dev", "/run"];

/// Filesystem types that are not local files at rest: kernel interfaces,
/// and filesystems of another machine (walking them would walk a file
/// server, and a hung server would hang the walk).
const NOT_LOCAL: &[&str] = &[
    "proc",
    "sysfs",
    "devtmpfs",
    "devpts",
    "cgroup",
    "cgroup2",
    "securityfs",
    "debugfs",
    "tracefs",
    "pstore",
    "bpf",
    "mqueue",
    "hugetlbfs",
    "configfs",
    "fusectl",
    "binfmt_misc",
    "autofs",
    "efivarfs",
    "rpc_pipefs",
    "nsfs",
    "selinuxfs",
    "nfs",
    "nfs4",
    "nfsd",
    "cifs",
    "smb3",
    "smbfs",
    "ncpfs",
    "afs",
    "ceph",
    "glusterfs",
    "fuse.glusterfs",
    "fuse.sshfs",
    "fuse.s3fs",
    "fuse.rclone",
    "9p",
    "lustre",
    "davfs",
    "fuse.davfs",
    "gpfs",
];

/// The walk's bounds (`[probes.files.walk]`).
#[derive(Debug, Clone)]
pub struct Bounds {
    pub max_entries: u64,
    pub max_reported: usize,
    pub max_duration: Duration,
}

/// The mount table: host mount point → filesystem type.
struct Mounts {
    types: HashMap<String, String>,
}

/// `\040`-style escapes of /proc/mounts (space, tab, newline, backslash).
fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        // At most \377: one byte.
        let octal = b.get(i + 1..i + 4).filter(|d| {
            (b'0'..=b'3').contains(&d[0]) && d[1..].iter().all(|c| (b'0'..=b'7').contains(c))
        });
        if let (b'\\', Some(d)) = (b[i], octal) {
            out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The host's mount table under `root`: its init's (`proc/1/mounts`, the
/// host's own namespace when the agent runs in a container), else the
/// agent's own (`proc/self/mounts`) when the root is `/`. `Err` says why
/// none was read.
fn mounts(root: &Path) -> Result<(String, Mounts), String> {
    let candidates: &[&str] = if root == Path::new("/") {
        &["/proc/self/mounts"]
    } else {
        &["/proc/1/mounts", "/proc/self/mounts"]
    };
    let mut why = Vec::new();
    for host in candidates {
        let local = root.join(host.trim_start_matches('/'));
        let mut types = HashMap::new();
        match super::super::read_lines(&local, MAX_MOUNTS_BYTES, |l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() >= 3 {
                types.insert(unescape(f[1]), f[2].to_string());
            }
        }) {
            Ok(()) if !types.is_empty() => return Ok((host.to_string(), Mounts { types })),
            Ok(()) => why.push(format!("{host}: empty")),
            Err(e) => why.push(super::super::io_error(Path::new(host), &e)),
        }
    }
    Err(why.join("; "))
}

/// A path on the host (`/usr/bin`) joined with a name.
fn host_join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// What one walk found, before packages are named.
struct Walker<'a> {
    root: &'a Path,
    names: &'a Names,
    bounds: &'a Bounds,
    started: Instant,
    out: FileWalk,
    reported: usize,
}

impl Walker<'_> {
    /// The bound reached, if any, checked before each entry.
    fn bound(&self) -> Option<&'static str> {
        if self.out.entries >= self.bounds.max_entries {
            Some("max_entries")
        } else if self.reported >= self.bounds.max_reported {
            Some("max_reported")
        } else if self.out.entries.is_multiple_of(256)
            && self.started.elapsed() >= self.bounds.max_duration
        {
            Some("max_duration")
        } else {
            None
        }
    }

    /// Adds `host` to `list`; beyond the bound, the walk is marked as
    /// stopped by it (the entry's other finding may be the one left out).
    fn report(&mut self, host: &str, meta: &std::fs::Metadata, list: List) {
        if self.reported >= self.bounds.max_reported {
            self.out.stopped_by = "max_reported".into();
            return;
        }
        let f = super::file_mode(host, Ok(meta.clone()), self.names);
        self.reported += 1;
        match list {
            List::Special => self.out.suid_sgid.push(f),
            List::Writable => self.out.world_writable.push(f),
            List::Unowned => self.out.unowned.push(f),
        }
    }

    fn unreadable(&mut self, host: &str, e: &std::io::Error) {
        self.out.unreadable += 1;
        if self.out.errors.len() < MAX_ERRORS {
            self.out.errors.push(format!("{host}: {e}"));
        }
    }

    /// Looks at one entry; returns whether it is a directory to enter.
    fn look(&mut self, host: &str, meta: &std::fs::Metadata) -> bool {
        let ft = meta.file_type();
        if ft.is_symlink() {
            return false;
        }
        let mode = meta.mode();
        if ft.is_file() && mode & 0o6000 != 0 {
            self.report(host, meta, List::Special);
        }
        if (ft.is_file() || ft.is_dir()) && mode & 0o002 != 0 {
            self.report(host, meta, List::Writable);
        }
        if !self.names.users.contains_key(&meta.uid())
            || !self.names.groups.contains_key(&meta.gid())
        {
            self.report(host, meta, List::Unowned);
        }
        ft.is_dir()
    }

    /// Walks depth first from the host root with an explicit stack (no
    /// recursion: depth is bounded by the entries, not the thread's stack).
    fn walk(&mut self, mounts: Option<&Mounts>) {
        let root_local = self.root.to_path_buf();
        let root_meta = match std::fs::symlink_metadata(&root_local) {
            Ok(m) => m,
            Err(e) => {
                self.unreadable("/", &e);
                return;
            }
        };
        let root_type = mounts
            .and_then(|m| m.types.get("/").cloned())
            .unwrap_or_default();
        self.out
            .filesystems
            .push(format!("/ {root_type}").trim().to_string());
        let mut skipped: HashSet<String> = HashSet::new();
        let mut stack: Vec<(String, PathBuf, u64)> =
            vec![("/".into(), root_local, root_meta.dev())];
        while let Some((host, local, dev)) = stack.pop() {
            let rd = match std::fs::read_dir(&local) {
                Ok(rd) => rd,
                Err(e) => {
                    self.unreadable(&host, &e);
                    continue;
                }
            };
            for entry in rd {
                if let Some(b) = self.bound() {
                    self.out.stopped_by = b.into();
                    return;
                }
                self.out.entries += 1;
                let entry = match entry {
                    Ok(e) => e,
                    Err(e) => {
                        self.unreadable(&host, &e);
                        break;
                    }
                };
                let name = entry.file_name().to_string_lossy().into_owned();
                let child = host_join(&host, &name);
                if SKIP.contains(&child.as_str()) {
                    continue;
                }
                // DirEntry::metadata does not follow a symlink.
                let meta = match entry.metadata() {
                    Ok(m) => m,
                    Err(e) => {
                        self.unreadable(&child, &e);
                        continue;
                    }
                };
                if !self.look(&child, &meta) {
                    continue;
                }
                if meta.dev() != dev {
                    let kind = mounts.and_then(|m| m.types.get(&child));
                    match kind {
                        Some(t) if !NOT_LOCAL.contains(&t.as_str()) => {
                            self.out.filesystems.push(format!("{child} {t}"));
                        }
                        _ => {
                            let t = kind.map_or("other filesystem", |t| t.as_str());
                            if skipped.insert(child.clone()) {
                                self.out.skipped.push(format!("{child} {t}"));
                            }
                            continue;
                        }
                    }
                }
                stack.push((child, entry.path(), meta.dev()));
            }
        }
    }
}

#[derive(Clone, Copy)]
enum List {
    Special,
    Writable,
    Unowned,
}

/// The packages whose dpkg file lists name `paths`: one pass over
/// `var/lib/dpkg/info/*.list`, bounded. A path is also matched through the
/// merged /usr (`/bin/su` listed, `/usr/bin/su` found, and back).
fn dpkg_owners(root: &Path, paths: &HashSet<String>) -> HashMap<String, String> {
    let mut owners = HashMap::new();
    if paths.is_empty() {
        return owners;
    }
    let wanted: HashMap<String, String> = paths
        .iter()
        .flat_map(|p| {
            let alias = match p.strip_prefix("/usr") {
                Some(rest) => rest.to_string(),
                None => format!("/usr{p}"),
            };
            [(p.clone(), p.clone()), (alias, p.clone())]
        })
        .collect();
    let Ok(rd) = std::fs::read_dir(root.join("var/lib/dpkg/info")) else {
        return owners;
    };
    for entry in rd.take(MAX_LISTS).flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(package) = file.strip_suffix(".list") else {
            continue;
        };
        let package = package.split(':').next().unwrap_or(package).to_string();
        let _ = super::super::read_lines(&entry.path(), MAX_LIST_BYTES, |l| {
            if let Some(found) = wanted.get(l) {
                owners.insert(found.clone(), package.clone());
            }
        });
        if owners.len() == paths.len() {
            break;
        }
    }
    owners
}

/// Walks the host under `root`, whose passwd and group gave `names`.
pub(super) fn walk(root: &Path, names: &Names, bounds: &Bounds) -> FileWalk {
    let started_at = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let mut w = Walker {
        root,
        names,
        bounds,
        started: Instant::now(),
        out: FileWalk {
            started_at: Some(gamsa_proto::Timestamp {
                seconds: started_at.as_secs() as i64,
                nanos: 0,
            }),
            ..Default::default()
        },
        reported: 0,
    };
    let table = match mounts(root) {
        Ok((from, m)) => {
            w.out.mounts = from;
            Some(m)
        }
        Err(why) => {
            w.out.mounts =
                format!("no mount table ({why}): the walk stays on the host root's filesystem");
            None
        }
    };
    w.walk(table.as_ref());
    let special: HashSet<String> = w.out.suid_sgid.iter().map(|f| f.path.clone()).collect();
    let owners = dpkg_owners(root, &special);
    for f in &mut w.out.suid_sgid {
        f.package = owners.get(&f.path).cloned().unwrap_or_default();
    }
    for list in [
        &mut w.out.suid_sgid,
        &mut w.out.world_writable,
        &mut w.out.unowned,
    ] {
        list.sort_by(|a, b| a.path.cmp(&b.path));
    }
    w.out.elapsed_ms = w.started.elapsed().as_millis() as u64;
    w.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points_are_unescaped() {
        assert_eq!(unescape("/mnt/a\\040b"), "/mnt/a b");
        assert_eq!(unescape("/plain"), "/plain");
        assert_eq!(unescape("/odd\\"), "/odd\\");
        assert_eq!(unescape("/x\\99"), "/x\\99");
        assert_eq!(unescape("/x\\777"), "/x\\777");
    }
}

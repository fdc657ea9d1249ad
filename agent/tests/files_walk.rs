//! The `files` probe's walk for SUID/SGID, world-writable and unowned files
//! (U-15, U-23, U-25) on fixture roots, compared with what `find -xdev`
//! answers on the same root; links are not followed, a mounted filesystem
//! is entered or left out by its type in the host's mount table, and each
//! bound that ends a walk is named.

use gamsa_agent::probes::files::{observe, walk::Bounds};
use gamsa_proto::v1::{FileMode, FileWalk};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn write(root: &Path, path: &str, text: &str, mode: u32) {
    let p = root.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn dir(root: &Path, path: &str, mode: u32) {
    let p = root.join(path);
    std::fs::create_dir_all(&p).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A host with the files the guide's checks look for, and links to them
/// that must not be followed.
fn host(root: &Path) {
    write(
        root,
        "etc/passwd",
        "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n",
        0o644,
    );
    write(
        root,
        "etc/group",
        "root:x:0:\nshadow:x:42:\nalice:x:1000:\n",
        0o644,
    );
    write(root, "usr/bin/passwd", "#!/bin/sh\n", 0o4755);
    write(root, "usr/bin/newgrp", "#!/bin/sh\n", 0o4755);
    write(root, "usr/sbin/unix_chkpwd", "#!/bin/sh\n", 0o2755);
    write(root, "usr/bin/both", "#!/bin/sh\n", 0o6755);
    write(root, "usr/bin/plain", "#!/bin/sh\n", 0o755);
    write(root, "home/alice/.hidden/sh", "#!/bin/sh\n", 0o4777);
    write(root, "etc/app.conf", "x\n", 0o666);
    dir(root, "tmp", 0o1777);
    dir(root, "srv/drop", 0o777);
    dir(root, "srv/sticky", 0o1777);
    write(root, "srv/orphan", "x\n", 0o644);
    std::os::unix::fs::chown(root.join("srv/orphan"), Some(4242), Some(4242)).unwrap();
    write(root, "srv/orphan-group", "x\n", 0o644);
    std::os::unix::fs::chown(root.join("srv/orphan-group"), Some(0), Some(4343)).unwrap();
    std::fs::create_dir_all(root.join("opt")).unwrap();
    // Links to special files and a loop: never followed, never reported.
    std::os::unix::fs::symlink("/usr/bin/passwd", root.join("opt/passwd-link")).unwrap();
    std::os::unix::fs::symlink("../srv", root.join("opt/srv-link")).unwrap();
    std::os::unix::fs::symlink("loop", root.join("opt/loop")).unwrap();
    // What the host's /proc, /sys, /dev and /run hold is not walked.
    write(root, "proc/1/exe", "x\n", 0o4755);
    write(root, "run/user/s", "x\n", 0o4755);
    write(root, "dev/shm/s", "x\n", 0o4755);
    // A package's file list naming one of them.
    write(
        root,
        "var/lib/dpkg/info/passwd.list",
        "/.\n/usr\n/usr/bin\n/usr/bin/passwd\n",
        0o644,
    );
    write(
        root,
        "var/lib/dpkg/info/login:amd64.list",
        "/bin/newgrp\n",
        0o644,
    );
}

fn bounds() -> Bounds {
    Bounds {
        max_entries: 1_000_000,
        max_reported: 1_000,
        max_duration: Duration::from_secs(60),
    }
}

fn walk(root: &Path, bounds: &Bounds) -> FileWalk {
    observe(root, Some(bounds)).unwrap().walk.unwrap()
}

fn paths(list: &[FileMode]) -> Vec<String> {
    list.iter().map(|f| f.path.clone()).collect()
}

/// `find <root> -xdev <args>`, as host paths, sorted, with the host's
/// /proc, /sys, /dev and /run pruned as the probe leaves them out.
fn find(root: &Path, args: &str) -> Vec<String> {
    let r = root.display().to_string();
    let script = format!(
        "find {r} -xdev \\( -path {r}/proc -o -path {r}/sys -o -path {r}/dev -o -path {r}/run \\) -prune -o {args} -print"
    );
    let out = Command::new("sh").arg("-c").arg(&script).output().unwrap();
    assert!(out.status.success(), "{script}: {out:?}");
    let mut v: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.strip_prefix(&r).unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn the_walk_finds_what_find_finds_without_following_links() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    host(root);
    let w = walk(root, &bounds());
    assert_eq!(w.stopped_by, "", "{w:?}");
    assert!(w.mounts.starts_with("no mount table"), "{}", w.mounts);

    let special = find(root, "-type f \\( -perm -4000 -o -perm -2000 \\)");
    assert_eq!(
        special,
        [
            "/home/alice/.hidden/sh",
            "/usr/bin/both",
            "/usr/bin/newgrp",
            "/usr/bin/passwd",
            "/usr/sbin/unix_chkpwd"
        ]
    );
    assert_eq!(paths(&w.suid_sgid), special);

    let writable = find(root, "\\( -type f -o -type d \\) -perm -0002");
    assert_eq!(
        writable,
        [
            "/etc/app.conf",
            "/home/alice/.hidden/sh",
            "/srv/drop",
            "/srv/sticky",
            "/tmp"
        ]
    );
    assert_eq!(paths(&w.world_writable), writable);
    let sticky: Vec<&str> = w
        .world_writable
        .iter()
        .filter(|f| f.mode & 0o1000 != 0)
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(sticky, ["/srv/sticky", "/tmp"]);

    let unowned = find(root, "\\( -nouser -o -nogroup \\)");
    // find's -nouser asks the agent's machine; the probe asks the host's
    // passwd, which names fewer users than this machine's: root's own
    // directory tree (uid 0) is named by both.
    assert_eq!(unowned, ["/srv/orphan", "/srv/orphan-group"]);
    assert_eq!(paths(&w.unowned), unowned);

    let passwd = &w.suid_sgid[3];
    assert_eq!(
        (passwd.mode, passwd.owner.as_str(), passwd.package.as_str()),
        (0o4755, "root", "passwd")
    );
    // Listed as /bin/newgrp, found at /usr/bin/newgrp (merged /usr).
    assert_eq!(w.suid_sgid[2].package, "login");
    assert_eq!(w.suid_sgid[4].group, "root");
    assert!(w.entries >= 30, "{}", w.entries);
}

#[test]
fn each_bound_that_ends_a_walk_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    host(root);
    let w = walk(
        root,
        &Bounds {
            max_entries: 5,
            ..bounds()
        },
    );
    assert_eq!((w.stopped_by.as_str(), w.entries), ("max_entries", 5));

    let w = walk(
        root,
        &Bounds {
            max_reported: 2,
            ..bounds()
        },
    );
    assert_eq!(w.stopped_by, "max_reported");
    assert_eq!(
        w.suid_sgid.len() + w.world_writable.len() + w.unowned.len(),
        2
    );

    // Enough entries that the time bound is looked at (every 256 entries).
    for i in 0..600 {
        write(root, &format!("var/many/{i}"), "", 0o644);
    }
    let w = walk(
        root,
        &Bounds {
            max_duration: Duration::ZERO,
            ..bounds()
        },
    );
    assert_eq!(w.stopped_by, "max_duration");
    assert!(w.entries < 600, "{}", w.entries);
}

/// A tmpfs mounted in the fixture root, unmounted when dropped.
struct Mount(std::path::PathBuf);

impl Mount {
    fn tmpfs(at: &Path) -> Mount {
        std::fs::create_dir_all(at).unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "gamsa-test", at.to_str().unwrap()])
            .status()
            .unwrap();
        assert!(st.success(), "mount -t tmpfs {}", at.display());
        Mount(at.to_path_buf())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn mounted_filesystems_are_entered_by_their_type_in_the_hosts_mount_table() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    host(root);
    let _local = Mount::tmpfs(&root.join("mnt/local"));
    let _remote = Mount::tmpfs(&root.join("mnt/remote"));
    let _unlisted = Mount::tmpfs(&root.join("mnt/unlisted"));
    for m in ["local", "remote", "unlisted"] {
        write(root, &format!("mnt/{m}/tool"), "x\n", 0o4755);
    }
    // Without a mount table, the walk stays on the root's filesystem.
    let w = walk(root, &bounds());
    assert!(!paths(&w.suid_sgid).iter().any(|p| p.starts_with("/mnt")));
    let mut skipped = w.skipped.clone();
    skipped.sort();
    assert_eq!(
        skipped,
        [
            "/mnt/local other filesystem",
            "/mnt/remote other filesystem",
            "/mnt/unlisted other filesystem"
        ]
    );

    // The host's table (its init's): /mnt/local is a local tmpfs, the
    // file server at /mnt/remote is left out, as is an unlisted mount.
    write(
        root,
        "proc/1/mounts",
        "overlay / overlay rw 0 0\nproc /proc proc rw 0 0\n\
         tmpfs /mnt/local tmpfs rw 0 0\nfs:/export /mnt/remote nfs4 rw 0 0\n",
        0o444,
    );
    let w = walk(root, &bounds());
    assert_eq!(w.mounts, "/proc/1/mounts");
    assert_eq!(w.stopped_by, "");
    let found = paths(&w.suid_sgid);
    assert!(found.contains(&"/mnt/local/tool".to_string()), "{found:?}");
    assert!(!found
        .iter()
        .any(|p| p.starts_with("/mnt/remote") || p.starts_with("/mnt/unlisted")));
    assert!(
        w.filesystems.contains(&"/mnt/local tmpfs".to_string()),
        "{:?}",
        w.filesystems
    );
    let mut skipped = w.skipped.clone();
    skipped.sort();
    assert_eq!(
        skipped,
        ["/mnt/remote nfs4", "/mnt/unlisted other filesystem"]
    );
}

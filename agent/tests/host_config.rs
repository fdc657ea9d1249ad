//! Hostile host roots for the host configuration probes (`accounts`,
//! `authentication`, `files`): a million-line passwd, a binary passwd, a
//! symlink loop where /etc/hosts should be, sudoers including itself, a
//! huge sshd_config. Each is refused or reported with the file named, in
//! bounded time and memory: the real agent binary runs each root as its
//! own process, its peak memory compared with an ordinary root's.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Most extra memory a hostile root may cost over an ordinary one.
const EXTRA_KIB: i64 = 16 * 1024;

fn write(root: &Path, path: &str, text: &str) {
    let p = root.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// An ordinary root: two accounts, a sudoers, an sshd_config.
fn ordinary(root: &Path) -> PathBuf {
    write(
        root,
        "etc/passwd",
        "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n",
    );
    write(
        root,
        "etc/shadow",
        "root:!:20000::::::\nalice:$y$j9T$s$h:20000:1:90:7:::\n",
    );
    write(root, "etc/group", "root:x:0:\nalice:x:1000:\n");
    write(root, "etc/hosts", "127.0.0.1 localhost\n");
    write(
        root,
        "etc/sudoers",
        "root ALL=(ALL) ALL\n#includedir /etc/sudoers.d\n",
    );
    write(root, "etc/sudoers.d/ops", "%ops ALL=(ALL) ALL\n");
    write(root, "etc/ssh/sshd_config", "PermitRootLogin no\n");
    std::fs::create_dir_all(root.join("home/alice")).unwrap();
    let config = root.with_extension("toml");
    std::fs::write(
        &config,
        format!(
            "host = \"h\"\nhost_root = {:?}\n",
            root.display().to_string()
        ),
    )
    .unwrap();
    config
}

#[test]
fn a_million_line_passwd_is_refused_naming_the_file_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (base, base_rss, _) = common::run_agent(&ordinary(&dir.path().join("a")), "accounts");
    assert_eq!(base["status"], "STATUS_OBSERVED", "{base}");
    assert_eq!(base["accounts"]["accounts"][1]["hashAlgorithm"], "yescrypt");
    assert_eq!(base["accounts"]["sudoers"][1]["file"], "/etc/sudoers.d/ops");
    // No hash, nor any part of one, leaves the host.
    assert!(!base.to_string().contains("j9T"), "{base}");

    let root = dir.path().join("b");
    let config = ordinary(&root);
    let mut f = std::io::BufWriter::new(std::fs::File::create(root.join("etc/passwd")).unwrap());
    for i in 0..1_000_000 {
        writeln!(f, "user{i}:x:{}:100::/home/user{i}:/bin/sh", 10_000 + i).unwrap();
    }
    f.flush().unwrap();
    drop(f);
    let (huge, huge_rss, took) = common::run_agent(&config, "accounts");
    assert_eq!(huge["status"], "STATUS_ERROR", "{huge}");
    let why = huge["error"].as_str().unwrap();
    assert!(why.contains("etc/passwd: more than 20000 lines"), "{why}");
    assert!(
        huge_rss < base_rss + EXTRA_KIB,
        "{huge_rss} KiB against {base_rss} KiB"
    );
    assert!(took < Duration::from_secs(20), "{took:?}");
}

#[test]
fn a_binary_passwd_is_an_error_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("r");
    let config = ordinary(&root);
    std::fs::write(
        root.join("etc/passwd"),
        b"root:x:0:0::/root:/bin/sh\n\x7fELF\x02\x01\x01\0\0\0\n",
    )
    .unwrap();
    let (e, _, _) = common::run_agent(&config, "accounts");
    assert_eq!(e["status"], "STATUS_ERROR", "{e}");
    let why = e["error"].as_str().unwrap();
    assert!(
        why.contains("etc/passwd line 2: 1 fields, 7 expected"),
        "{why}"
    );
}

#[test]
fn a_sudoers_include_loop_is_read_once_and_said() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("r");
    let config = ordinary(&root);
    write(
        &root,
        "etc/sudoers",
        "root ALL=(ALL) ALL\n@include /etc/sudoers\n#include loop\n",
    );
    write(&root, "etc/loop", "#include /etc/loop\n");
    let (e, _, _) = common::run_agent(&config, "accounts");
    assert_eq!(e["status"], "STATUS_OBSERVED", "{e}");
    let notices = e["accounts"]["notices"].to_string();
    assert!(
        notices.contains("/etc/sudoers: included again (a loop)"),
        "{notices}"
    );
    assert!(
        notices.contains("/etc/loop: included again (a loop)"),
        "{notices}"
    );
    assert_eq!(e["accounts"]["sudoers"].as_array().unwrap().len(), 1, "{e}");
}

#[test]
fn a_symlink_loop_is_that_files_error_not_the_probes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("r");
    let config = ordinary(&root);
    std::fs::remove_file(root.join("etc/hosts")).unwrap();
    std::os::unix::fs::symlink("hosts", root.join("etc/hosts")).unwrap();
    let (e, _, _) = common::run_agent(&config, "files");
    assert_eq!(e["status"], "STATUS_OBSERVED", "{e}");
    let files = e["fileModes"]["files"].as_array().unwrap();
    let hosts = files.iter().find(|f| f["path"] == "/etc/hosts").unwrap();
    let why = hosts["error"].as_str().unwrap();
    assert!(
        why.starts_with("/etc/hosts: ") && why.contains("symbolic links"),
        "{why}"
    );
    let passwd = files.iter().find(|f| f["path"] == "/etc/passwd").unwrap();
    assert_eq!(passwd["exists"], true, "{passwd}");
}

#[test]
fn a_huge_sshd_config_is_a_notice_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("r");
    let config = ordinary(&root);
    std::fs::File::create(root.join("etc/ssh/sshd_config"))
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    let (e, _, took) = common::run_agent(&config, "authentication");
    assert_eq!(e["status"], "STATUS_OBSERVED", "{e}");
    let notices = e["authentication"]["notices"].to_string();
    assert!(
        notices.contains("etc/ssh/sshd_config is larger than 1048576 bytes"),
        "{notices}"
    );
    // Nothing read, nothing claimed: no PermitRootLogin at all.
    assert!(
        e["authentication"]["ssh"]["settings"]
            .get("permitrootlogin")
            .is_none(),
        "{e}"
    );
    assert!(took < Duration::from_secs(20), "{took:?}");
}

//! The `software` probe against real package metadata and built roots:
//! this machine's own dpkg database and apt lists agree with `dpkg-query`
//! and apt's own simulation; Debian version order agrees with
//! `dpkg --compare-versions`; fixture roots (a patched host with ClamAV, an
//! unpatched one with compilers, hostile files) give the facts the rules
//! need, and a hostile file is an error naming it.

use gamsa_agent::probes::software::{self, debversion, Product};
use gamsa_agent::probes::{Probe, ProbeContext};
use gamsa_proto::v1::{evidence::Payload, Software};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn write(root: &Path, path: &str, bytes: &[u8]) {
    let p = root.join(path.trim_start_matches('/'));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

fn executable(root: &Path, path: &str) {
    write(root, path, b"\x7fELF");
    let p = root.join(path.trim_start_matches('/'));
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn status_entry(name: &str, version: &str, arch: &str, state: &str) -> String {
    format!(
        "Package: {name}\nStatus: install ok {state}\nArchitecture: {arch}\nVersion: {version}\nDescription: x\n long text\n .\n\n"
    )
}

const SECURITY_LIST: &str =
    "var/lib/apt/lists/deb.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages";

/// A Debian 12 root: openssl and libc installed, a security list offering
/// openssl `offered`, ClamAV installed and running with signatures.
fn root(offered: &str, os_version: &str, clamav: bool, compilers: bool) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    write(
        r,
        "etc/os-release",
        format!("PRETTY_NAME=\"Debian GNU/Linux {os_version}\"\nID=debian\nVERSION_ID=\"{os_version}\"\n").as_bytes(),
    );
    let mut status = status_entry("openssl", "3.0.15-1~deb12u1", "amd64", "installed")
        + &status_entry("libc6", "2.36-9+deb12u9", "amd64", "installed")
        + &status_entry("oldpkg", "1.0", "all", "config-files");
    if clamav {
        status += &status_entry(
            "clamav-daemon",
            "1.0.7+dfsg-1~deb12u1",
            "amd64",
            "installed",
        );
    }
    if compilers {
        status += &status_entry("gcc-12", "12.2.0-14+deb12u1", "amd64", "installed");
        executable(r, "/usr/bin/gcc-12");
        std::os::unix::fs::symlink("gcc-12", r.join("usr/bin/gcc")).unwrap();
        // Debian's alternatives: an absolute link, resolved under the root.
        std::fs::create_dir_all(r.join("etc/alternatives")).unwrap();
        std::os::unix::fs::symlink("/usr/bin/gcc", r.join("etc/alternatives/cc")).unwrap();
        std::os::unix::fs::symlink("/etc/alternatives/cc", r.join("usr/bin/cc")).unwrap();
    }
    executable(r, "/usr/bin/ls");
    write(r, "var/lib/dpkg/status", status.as_bytes());
    let list = format!(
        "Package: openssl\nVersion: {offered}\nArchitecture: amd64\n\nPackage: libc6\nVersion: 2.36-9+deb12u4\nArchitecture: amd64\n\nPackage: notinstalled\nVersion: 9\nArchitecture: amd64\n"
    );
    // Compressed as apt keeps it in Debian's container images.
    let mut lz4 = lz4_flex::frame::FrameEncoder::new(Vec::new());
    lz4.write_all(list.as_bytes()).unwrap();
    write(r, &format!("{SECURITY_LIST}.lz4"), &lz4.finish().unwrap());
    write(
        r,
        "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages",
        b"Package: openssl\nVersion: 9.9.9\nArchitecture: amd64\n",
    );
    if clamav {
        write(r, "var/lib/clamav/daily.cld", b"signatures");
        write(r, "proc/4242/comm", b"clamd\n");
    }
    write(r, "proc/1/comm", b"systemd\n");
    t
}

async fn observe(root: &Path) -> gamsa_proto::v1::Evidence {
    let ctx = ProbeContext {
        agent_id: "a".into(),
        host: "h".into(),
        host_root: root.to_path_buf(),
        labels: BTreeMap::new(),
        control: Default::default(),
    };
    let probe = software::SoftwareProbe::new(software::Config::default());
    let mut out = probe.run(&ctx).await;
    assert_eq!(out.len(), 1);
    out.remove(0)
}

fn payload(e: &gamsa_proto::v1::Evidence) -> &Software {
    assert_eq!(e.error, "", "the probe could not observe");
    match &e.payload {
        Some(Payload::Software(s)) => s,
        other => panic!("not software evidence: {other:?}"),
    }
}

#[tokio::test]
async fn a_patched_root_with_clamav_and_no_compilers() {
    let t = root("3.0.15-1~deb12u1", "12", true, false);
    let e = observe(t.path()).await;
    let s = payload(&e);
    let os = s.os.as_ref().unwrap();
    assert_eq!(
        (os.release.as_str(), os.end_of_support.as_str()),
        ("debian 12", "2028-06-30")
    );
    assert!(os.source.contains("debian.org"), "{}", os.source);
    let db = &s.databases[0];
    assert_eq!(
        (db.kind.as_str(), db.count),
        ("dpkg", 3),
        "config-files left out"
    );
    assert_eq!(db.sha256.len(), 64);
    let names: Vec<&str> = s.packages.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["clamav-daemon", "libc6", "openssl"]);
    let u = s.security_updates.as_ref().unwrap();
    assert!(u.known, "{}", u.error);
    assert!(u.pending.is_empty(), "{:?}", u.pending);
    assert_eq!(
        u.sources.len(),
        1,
        "only the security suite's list: {:?}",
        u.sources
    );
    assert!(u.metadata_updated.is_some());
    assert!(s.compilers.is_empty(), "{:?}", s.compilers);
    assert!(s.processes_read);
    let clam = &s.anti_malware[0];
    assert_eq!(clam.product, "ClamAV");
    assert_eq!(clam.processes, ["clamd"]);
    assert_eq!(clam.packages, ["clamav-daemon 1.0.7+dfsg-1~deb12u1"]);
    assert!(clam.signatures_updated.is_some() && clam.signatures_path.contains("/var/lib/clamav"));
}

#[tokio::test]
async fn an_unpatched_root_with_compilers_on_an_old_release() {
    let t = root("3.0.16-1~deb12u1", "10", false, true);
    let e = observe(t.path()).await;
    let s = payload(&e);
    assert_eq!(s.os.as_ref().unwrap().end_of_support, "2024-06-30");
    let u = s.security_updates.as_ref().unwrap();
    let pending: Vec<(&str, &str, &str)> = u
        .pending
        .iter()
        .map(|p| (p.name.as_str(), p.installed.as_str(), p.available.as_str()))
        .collect();
    // libc6's offer is older than what is installed; the main suite's
    // newer openssl is no security update.
    assert_eq!(
        pending,
        [("openssl", "3.0.15-1~deb12u1", "3.0.16-1~deb12u1")]
    );
    assert_eq!(u.pending[0].suite, "bookworm-security");
    let found: BTreeSet<(&str, &str)> = s
        .compilers
        .iter()
        .map(|c| (c.found.as_str(), c.by.as_str()))
        .collect();
    let want: BTreeSet<(&str, &str)> = [
        ("/usr/bin/cc", "file"),
        ("/usr/bin/gcc", "file"),
        ("/usr/bin/gcc-12", "file"),
        ("dpkg:gcc-12", "package"),
    ]
    .into();
    assert_eq!(found, want);
    assert!(s.anti_malware.is_empty());
}

#[tokio::test]
async fn hostile_files_are_errors_naming_them_or_left_out() {
    // A status file that is not one.
    let t = root("1", "12", false, false);
    write(
        t.path(),
        "var/lib/dpkg/status",
        b"\x00\x01garbage without a colon\n",
    );
    let e = observe(t.path()).await;
    assert!(
        e.error.starts_with("/var/lib/dpkg/status line 1:"),
        "{}",
        e.error
    );
    // A version dpkg could not order.
    write(
        t.path(),
        "var/lib/dpkg/status",
        status_entry("x", "1:", "amd64", "installed").as_bytes(),
    );
    let e = observe(t.path()).await;
    assert!(
        e.error
            .contains("/var/lib/dpkg/status line 1: version '1:'"),
        "{}",
        e.error
    );
    // One line longer than any control file holds.
    let mut long = b"Package: x\nDescription: ".to_vec();
    long.extend(std::iter::repeat_n(b'a', 200_000));
    write(t.path(), "var/lib/dpkg/status", &long);
    let e = observe(t.path()).await;
    assert!(
        e.error.contains("/var/lib/dpkg/status has a line longer"),
        "{}",
        e.error
    );

    // A corrupt compressed list: pending updates are not known, and why.
    let t = root("1", "12", false, false);
    write(t.path(), &format!("{SECURITY_LIST}.lz4"), b"not lz4 at all");
    let e = observe(t.path()).await;
    let u = payload(&e).security_updates.clone().unwrap();
    assert!(!u.known);
    assert!(
        u.error.contains(&format!("/{SECURITY_LIST}.lz4")),
        "{}",
        u.error
    );

    // A symlink loop where a compiler would be, and a link climbing out
    // of the root: neither is followed outside it nor counted.
    let t = root("1", "12", false, false);
    std::os::unix::fs::symlink("make", t.path().join("usr/bin/gmake")).unwrap();
    std::os::unix::fs::symlink("gmake", t.path().join("usr/bin/make")).unwrap();
    std::os::unix::fs::symlink("../../../../../../../bin/sh", t.path().join("usr/bin/gcc"))
        .unwrap();
    let e = observe(t.path()).await;
    let s = payload(&e);
    let files: Vec<&str> = s.compilers.iter().map(|c| c.found.as_str()).collect();
    assert!(files.is_empty(), "{files:?}");

    // No os-release, no package database, no /proc: said, not guessed.
    let empty = tempfile::tempdir().unwrap();
    let e = observe(empty.path()).await;
    let s = payload(&e);
    assert!(s.os.is_none());
    assert!(!s.processes_read);
    assert!(!s.security_updates.as_ref().unwrap().known);
    assert!(
        s.notices.iter().any(|n| n.contains("/etc/os-release")),
        "{:?}",
        s.notices
    );
    assert!(
        s.notices.iter().any(|n| n.contains("no package database")),
        "{:?}",
        s.notices
    );
}

#[test]
fn declared_products_are_recognised_by_path() {
    let t = root("1", "12", false, false);
    executable(t.path(), "/opt/AhnLab/v3net/bin/v3daemon");
    let v3 = Product {
        product: "AhnLab V3".into(),
        paths: vec!["/opt/AhnLab/v3net".into()],
        ..Default::default()
    };
    let s = software::observe(t.path(), Ok(BTreeSet::new()), &[v3]).unwrap();
    assert_eq!(s.anti_malware.len(), 1);
    assert_eq!(s.anti_malware[0].product, "AhnLab V3");
    assert!(s.anti_malware[0].signatures_updated.is_none());
}

/// This machine's dpkg database, read at `/`, is what `dpkg-query` lists
/// (every package whose files are installed), and the security updates
/// from apt's lists are those apt's own simulation takes from a security
/// suite.
#[test]
fn this_machine_agrees_with_dpkg_query_and_apt() {
    let out = Command::new("dpkg-query")
        .args([
            "-W",
            "-f",
            "${db:Status-Status} ${Package} ${Architecture} ${Version}\n",
        ])
        .output()
        .expect("dpkg-query runs");
    assert!(out.status.success());
    let want: BTreeSet<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("not-installed ") && !l.starts_with("config-files "))
        .map(|l| l.split_once(' ').unwrap().1.to_string())
        .collect();
    let s = software::observe(Path::new("/"), Ok(BTreeSet::new()), &[]).unwrap();
    let got: BTreeSet<String> = s
        .packages
        .iter()
        .map(|p| format!("{} {} {}", p.name, p.architecture, p.version))
        .collect();
    assert!(want.len() > 100, "{} packages", want.len());
    assert_eq!(got, want);
    assert_eq!(s.databases[0].count as usize, want.len());

    let sim = Command::new("apt-get")
        .args(["-s", "-o", "Debug::NoLocking=1", "dist-upgrade"])
        .output()
        .expect("apt-get runs");
    let apt: BTreeSet<String> = String::from_utf8_lossy(&sim.stdout)
        .lines()
        .filter(|l| l.starts_with("Inst ") && l.contains("-Security:"))
        .map(|l| l.split_whitespace().nth(1).unwrap().to_string())
        .collect();
    let u = s.security_updates.unwrap();
    let ours: BTreeSet<String> = u.pending.iter().map(|p| p.name.clone()).collect();
    if u.sources.is_empty() {
        assert!(
            apt.is_empty(),
            "apt has security updates the probe found no list for: {apt:?}"
        );
    } else {
        assert!(u.known, "{}", u.error);
        assert_eq!(ours, apt);
    }
}

/// Debian version order agrees with the real dpkg on the cases that
/// matter: tildes, epochs, revisions, letters, leading zeros.
#[test]
fn version_order_agrees_with_dpkg() {
    let parts = [
        "0",
        "1",
        "01",
        "10",
        "1.0",
        "1.0~rc1",
        "1.0~~",
        "1.0a",
        "1.0+b1",
        "1.0.1",
        "2~",
        "9",
        "a1",
        "1+",
        "1.",
        "3.0.15-1~deb12u1",
    ];
    let mut cases = Vec::new();
    for (i, a) in parts.iter().enumerate() {
        for b in &parts[i..] {
            for (ea, eb) in [("", ""), ("1:", ""), ("", "1:")] {
                for (ra, rb) in [("", ""), ("-1", "-1~deb12u1"), ("-2", "-10")] {
                    if a.starts_with(|c: char| c.is_ascii_digit())
                        && b.starts_with(|c: char| c.is_ascii_digit())
                    {
                        cases.push((format!("{ea}{a}{ra}"), format!("{eb}{b}{rb}")));
                    }
                }
            }
        }
    }
    assert!(cases.len() > 300);
    let mut wrong = Vec::new();
    for (a, b) in cases.iter().step_by(5) {
        let lt = Command::new("dpkg")
            .args(["--compare-versions", a, "lt", b])
            .status()
            .unwrap()
            .success();
        let eq = Command::new("dpkg")
            .args(["--compare-versions", a, "eq", b])
            .status()
            .unwrap()
            .success();
        let want = if lt {
            std::cmp::Ordering::Less
        } else if eq {
            std::cmp::Ordering::Equal
        } else {
            std::cmp::Ordering::Greater
        };
        if debversion::compare(a, b).unwrap() != want {
            wrong.push(format!("{a} vs {b}: dpkg says {want:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

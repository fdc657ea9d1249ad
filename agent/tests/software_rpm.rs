//! The `software` probe on rpm hosts: a real rpm database (`rpmdb.sqlite`,
//! made by Debian's rpm 4.18 with `--initdb` and packages built by
//! `rpmbuild` installed into it) read under a fixture root agrees with
//! `rpm -qa` on the same root; a compiler installed by rpm is found; the
//! older Berkeley DB format and a damaged database are errors naming the
//! file, never "no packages".

use gamsa_agent::probes::software;
use gamsa_proto::v1::Software;
use std::path::Path;
use std::process::Command;

fn write(root: &Path, path: &str, bytes: &[u8]) {
    let p = root.join(path.trim_start_matches('/'));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// Builds `name` (version, release, optional epoch, arch) with rpmbuild
/// into `top`, returning the .rpm.
fn build(
    top: &Path,
    name: &str,
    version: &str,
    release: &str,
    epoch: Option<u32>,
    arch: &str,
) -> std::path::PathBuf {
    let spec = top.join(format!("{name}.spec"));
    let epoch = epoch.map_or(String::new(), |e| format!("Epoch: {e}\n"));
    std::fs::write(
        &spec,
        format!(
            "Name: {name}\nVersion: {version}\nRelease: {release}\n{epoch}Summary: fixture\nLicense: MIT\n\
             %description\nfixture\n%files\n"
        ),
    )
    .unwrap();
    run(Command::new("rpmbuild")
        .arg("--define")
        .arg(format!("_topdir {}", top.display()))
        .args(["--target", arch, "-bb"])
        .arg(&spec));
    let rpm = top
        .join("RPMS")
        .join(arch)
        .join(format!("{name}-{version}-{release}.{arch}.rpm"));
    assert!(rpm.is_file(), "{}", rpm.display());
    rpm
}

fn rpm(root: &Path) -> Command {
    let mut c = Command::new("rpm");
    c.arg("--root").arg(root).args(["--dbpath", "/var/lib/rpm"]);
    c
}

/// A RHEL 9 root with an rpm database holding `packages`.
fn rhel_root(top: &Path, packages: &[(&str, &str, &str, Option<u32>, &str)]) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    write(
        root.path(),
        "etc/os-release",
        b"ID=\"rhel\"\nVERSION_ID=\"9.4\"\nPRETTY_NAME=\"Red Hat Enterprise Linux 9.4 (Plow)\"\n",
    );
    run(rpm(root.path()).arg("--initdb"));
    let files: Vec<_> = packages
        .iter()
        .map(|(n, v, r, e, a)| build(top, n, v, r, *e, a))
        .collect();
    run(rpm(root.path())
        .args(["-i", "--nodeps", "--justdb", "--ignorearch", "--ignoreos"])
        .args(&files));
    root
}

fn observe(root: &Path) -> Software {
    software::observe(root, Ok(Default::default()), &[]).unwrap()
}

#[test]
fn the_rpm_database_agrees_with_rpm_qa() {
    let top = tempfile::tempdir().unwrap();
    let root = rhel_root(
        top.path(),
        &[
            ("bash", "5.1.8", "9.el9", None, "x86_64"),
            ("openssl-libs", "3.0.7", "27.el9", Some(1), "x86_64"),
            ("tzdata", "2024a", "1.el9", None, "noarch"),
            ("gcc-c++", "11.4.1", "3.el9", None, "x86_64"),
        ],
    );
    assert!(root.path().join("var/lib/rpm/rpmdb.sqlite").is_file());
    let s = observe(root.path());
    let db = &s.databases[0];
    assert_eq!(
        (
            db.kind.as_str(),
            db.path.as_str(),
            db.error.as_str(),
            db.count
        ),
        ("rpm", "/var/lib/rpm/rpmdb.sqlite", "", 4),
        "{s:?}"
    );
    let qa = run(rpm(root.path()).args([
        "-qa",
        "--qf",
        "%{NAME} %|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE} %{ARCH}\\n",
    ]));
    let mut want: Vec<String> = qa.lines().map(String::from).collect();
    want.sort();
    let mut got: Vec<String> = s
        .packages
        .iter()
        .map(|p| format!("{} {} {}", p.name, p.version, p.architecture))
        .collect();
    got.sort();
    assert_eq!(got, want);
    assert!(got.contains(&"openssl-libs 1:3.0.7-27.el9 x86_64".to_string()));
    assert!(s.packages.iter().all(|p| p.database == "rpm"));

    // A compiler installed by rpm.
    assert!(
        s.compilers
            .iter()
            .any(|c| c.by == "package" && c.found == "rpm:gcc-c++"),
        "{:?}",
        s.compilers
    );
    // Pending updates are not known: no dnf metadata is read, and the
    // evidence says so (the rule is UNKNOWN, never "none pending").
    let u = s.security_updates.unwrap();
    assert!(!u.known && u.error.contains("dnf"), "{u:?}");
    // The release's support from the lifecycle table.
    assert_eq!(s.os.unwrap().release, "rhel 9");
}

#[test]
fn the_old_formats_and_a_damaged_database_are_errors_naming_the_file() {
    let root = tempfile::tempdir().unwrap();
    write(root.path(), "var/lib/rpm/Packages", &[0u8; 4096]);
    let s = observe(root.path());
    assert_eq!(s.databases.len(), 1);
    let d = &s.databases[0];
    assert_eq!(d.path, "/var/lib/rpm/Packages");
    assert!(
        d.error.contains("unsupported format (Berkeley DB"),
        "{}",
        d.error
    );
    assert!(s.packages.is_empty());

    let root = tempfile::tempdir().unwrap();
    write(
        root.path(),
        "var/lib/rpm/rpmdb.sqlite",
        b"not a database at all",
    );
    let d = &observe(root.path()).databases[0];
    assert!(
        d.error.starts_with("/var/lib/rpm/rpmdb.sqlite: ") && d.count == 0,
        "{d:?}"
    );

    // A real database with one header overwritten: the row is named.
    let top = tempfile::tempdir().unwrap();
    let root = rhel_root(top.path(), &[("bash", "5.1.8", "9.el9", None, "x86_64")]);
    let db = root.path().join("var/lib/rpm/rpmdb.sqlite");
    let st = Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import sqlite3; c = sqlite3.connect({:?}); c.execute(\"UPDATE Packages SET blob = x'0000000100000100'\"); c.commit()",
            db.display().to_string()
        ))
        .status()
        .unwrap();
    assert!(st.success());
    let d = &observe(root.path()).databases[0];
    assert!(
        d.error
            .starts_with("/var/lib/rpm/rpmdb.sqlite: Packages row 1: "),
        "{d:?}"
    );
}

//! gamsa's host facts beside Lynis (Debian's `lynis` package) on this
//! machine's own root: where both look at the same thing, they must see it
//! the same way.
//!
//! Lynis reads most files from the live system (its `--rootdir` reaches
//! only a few tests), so both run on `/`. Lynis's profile here turns off
//! its repository refresh (`apt-get update`: network), and only the tests
//! compared run:
//!
//! | Lynis test | gamsa fact | compared |
//! |---|---|---|
//! | AUTH-9286 (PASS_MAX_DAYS in login.defs unset or 99999) | `authentication.login_defs` | suggestion ⇔ unset or 99999 |
//! | AUTH-9328 (UMASK in login.defs weaker than 027) | `authentication.umasks` of /etc/login.defs | suggestion ⇔ not 027/077 |
//! | HRDN-7222 (compilers present) | `software.compilers` by file | `compiler_installed=1` ⇔ a compiler file |
//! | PKGS-7392 (packages apt would upgrade from a `-security` suite) | `software.security_updates.pending` | each Lynis package is pending in gamsa |
//! | SSH-7408 (PermitRootLogin of the running sshd) | `authentication.ssh` | only when sshd runs (Lynis skips the test otherwise): Lynis suggests ⇔ `yes` (it accepts `prohibit-password`, which KISA U-01 does not) |
//!
//! Where they differ by design: Lynis's PKGS-7392 is `apt-get --dry-run
//! upgrade` limited to `-security` lines, which leaves out packages apt keeps
//! back (a new dependency needed); gamsa reports every installed package a
//! security suite has a newer version of, so gamsa's list may be longer, never
//! shorter. Lynis checks SSH only against a running sshd, gamsa also reads
//! sshd_config when none runs. Lynis's core dump check (KRNL-5820) and
//! umask in /etc/profile (AUTH-9328's first part) have no gamsa counterpart
//! compared here: gamsa reads no limits.conf, and reads every profile's
//! umask, where Lynis stops at the first good one.

use gamsa_agent::probes::{authentication, software};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

const TESTS: &str = "AUTH-9286 AUTH-9328 HRDN-7222 PKGS-7392 SSH-7408";

/// Runs Lynis with only `TESTS`, returning its report's lines.
fn lynis() -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("gamsa.prf");
    std::fs::write(&profile, "refresh-repositories=no\n").unwrap();
    let report = dir.path().join("report.dat");
    let out = Command::new("lynis")
        .args(["audit", "system", "--quick", "--no-colors", "--no-log"])
        .arg("--profile")
        .arg(&profile)
        .arg("--report-file")
        .arg(&report)
        .args(["--tests", TESTS])
        .output()
        .expect("lynis must be installed (Debian: lynis)");
    assert!(out.status.success(), "{out:?}");
    std::fs::read_to_string(&report)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

fn suggests(report: &[String], test: &str, text: &str) -> bool {
    report
        .iter()
        .any(|l| l.starts_with(&format!("suggestion[]={test}|")) && l.contains(text))
}

#[test]
fn lynis_and_gamsa_see_this_machine_the_same_way() {
    let report = lynis();
    let root = Path::new("/");
    let auth = authentication::observe(root, Path::new("/usr/sbin/sshd"));
    let sw = software::observe(root, Ok(BTreeSet::new()), &[]).unwrap();

    // AUTH-9286: maximum password age.
    let max_days = auth.login_defs.get("PASS_MAX_DAYS").map(String::as_str);
    assert_eq!(
        suggests(&report, "AUTH-9286", "maximum password age"),
        matches!(max_days, None | Some("99999")),
        "PASS_MAX_DAYS {max_days:?}"
    );

    // AUTH-9328: the umask in login.defs.
    let defs_umask = auth
        .umasks
        .iter()
        .find(|u| u.file == "/etc/login.defs")
        .map(|u| u.mask);
    assert_eq!(
        suggests(&report, "AUTH-9328", "/etc/login.defs"),
        !matches!(defs_umask, Some(0o27) | Some(0o77)),
        "login.defs UMASK {defs_umask:?}"
    );

    // HRDN-7222: compilers.
    let lynis_compilers = report.iter().any(|l| l == "compiler_installed=1");
    let gamsa_compilers = sw.compilers.iter().any(|c| c.by == "file");
    assert_eq!(lynis_compilers, gamsa_compilers, "{:?}", sw.compilers);

    // PKGS-7392: security updates; Lynis's list within gamsa's.
    let lynis_pending: BTreeSet<String> = report
        .iter()
        .filter_map(|l| l.strip_prefix("vulnerable_package[]="))
        .map(String::from)
        .collect();
    let updates = sw.security_updates.unwrap();
    assert!(updates.known, "{}", updates.error);
    let gamsa_pending: BTreeSet<String> = updates.pending.iter().map(|p| p.name.clone()).collect();
    assert!(
        lynis_pending.is_subset(&gamsa_pending),
        "Lynis finds security updates gamsa does not: {:?}",
        lynis_pending.difference(&gamsa_pending).collect::<Vec<_>>()
    );

    // SSH-7408: only when Lynis ran it (a running sshd).
    let ssh_ran = !report
        .iter()
        .any(|l| l.starts_with("tests_skipped=") && l.contains("SSH-7408"));
    if ssh_ran {
        let lynis_root = suggests(&report, "SSH-7408", "PermitRootLogin");
        let gamsa_root = auth
            .ssh
            .as_ref()
            .and_then(|s| s.settings.get("permitrootlogin"))
            .is_some_and(|v| v == "yes");
        assert_eq!(lynis_root, gamsa_root);
    }
}

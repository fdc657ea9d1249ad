//! The Unix server checks end to end: host roots built here, one set up as
//! the guide asks and one as its "vulnerable" examples, read by the real
//! probes through `host_root`, stored in a real SQLite store and evaluated
//! with the built-in `kisa-unix` catalog. Each automated item must give the
//! verdict an assessor would: Y (P where the row answers only part) on the
//! good root, N on the bad one. And the SSH settings the probe parses agree
//! with what Debian's own `sshd -T` says of the same configuration.

use gamsa_agent::probes::{self, Probe, ProbeContext};
use gamsa_collector::checklists::Checklists;
use gamsa_collector::store::{sqlite::SqliteStore, AgentRecord, Store};
use gamsa_collector::verdict::Verdict;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn write(root: &Path, path: &str, text: &str, mode: u32) {
    let p = root.join(path.trim_start_matches('/'));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn dir(root: &Path, path: &str, mode: u32, uid: u32) {
    let p = root.join(path.trim_start_matches('/'));
    std::fs::create_dir_all(&p).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    std::os::unix::fs::chown(&p, Some(uid), Some(uid)).unwrap();
}

/// A host root as the guide asks (`good`) or as its vulnerable examples.
fn host_root(good: bool) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    let (root_login, max_days, alice_hash, daemon_shell) = if good {
        ("no", "90", "$y$j9T$salt$hash", "/usr/sbin/nologin")
    } else {
        ("yes", "99999", "$1$salt$hash", "/bin/sh")
    };
    let ftp_shell = if good { "/usr/sbin/nologin" } else { "/bin/sh" };
    let toor = if good {
        ""
    } else {
        "toor:x:0:0::/root:/bin/sh\n"
    };
    write(
        r,
        "/etc/passwd",
        &format!(
            "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:{daemon_shell}\n{toor}alice:x:1000:1000::/home/alice:/bin/bash\nftp:x:108:108::/srv/ftp:{ftp_shell}\n"
        ),
        if good { 0o644 } else { 0o666 },
    );
    write(
        r,
        "/etc/shadow",
        &format!(
            "root:$6$salt$hash:20000:1:90:7:::\ndaemon:*:20000:0:99999:7:::\ntoor:$6$s$h:20000::::::\nalice:{alice_hash}:20000:1:90:7:::\n"
        ),
        if good { 0o400 } else { 0o644 },
    );
    write(
        r,
        "/etc/group",
        &format!(
            "root:x:0:{}\ndaemon:x:1:\nwheel:x:10:alice\nalice:x:1000:\nftp:x:108:\n",
            if good { "" } else { "alice" }
        ),
        0o644,
    );
    write(
        r,
        "/etc/hosts",
        "127.0.0.1 localhost\n",
        if good { 0o644 } else { 0o666 },
    );
    write(r, "/etc/services", "ssh 22/tcp\n", 0o644);
    write(
        r,
        "/etc/sudoers",
        "root ALL=(ALL:ALL) ALL\n@includedir /etc/sudoers.d\n",
        if good { 0o440 } else { 0o666 },
    );
    write(r, "/etc/sudoers.d/admins", "%wheel ALL=(ALL) ALL\n", 0o440);
    write(
        r,
        "/etc/ssh/sshd_config",
        &format!(
            "Include /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin yes\nBanner {}\n",
            if good { "/etc/issue.net" } else { "none" }
        ),
        0o644,
    );
    // sshd takes the first value: the drop-in wins over the main file.
    write(
        r,
        "/etc/ssh/sshd_config.d/10-root.conf",
        &format!("PermitRootLogin {root_login}\n"),
        0o644,
    );
    write(
        r,
        "/etc/issue.net",
        "Authorised use only. Activity is monitored.\n",
        0o644,
    );
    write(
        r,
        "/etc/login.defs",
        &format!(
            "PASS_MAX_DAYS {max_days}\nPASS_MIN_DAYS 1\nENCRYPT_METHOD {}\nUMASK 022\n",
            if good { "YESCRYPT" } else { "MD5" }
        ),
        0o644,
    );
    write(
        r,
        "/etc/security/pwquality.conf",
        if good {
            "minlen = 9\ndcredit = -1\nucredit = -1\nlcredit = -1\nocredit = -1\n"
        } else {
            "minlen = 6\n"
        },
        0o644,
    );
    write(
        r,
        "/etc/security/faillock.conf",
        "deny = 5\nunlock_time = 120\n",
        0o644,
    );
    write(
        r,
        "/etc/pam.d/common-auth",
        if good {
            "auth required pam_faillock.so preauth\nauth [success=1 default=ignore] pam_unix.so\n"
        } else {
            "auth [success=1 default=ignore] pam_unix.so nullok\n"
        },
        0o644,
    );
    write(
        r,
        "/etc/pam.d/common-password",
        "password requisite pam_pwquality.so retry=3\npassword [success=1 default=ignore] pam_unix.so yescrypt\n",
        0o644,
    );
    write(
        r,
        "/etc/pam.d/su",
        if good {
            "auth sufficient pam_rootok.so\nauth required pam_wheel.so use_uid\n@include common-auth\n"
        } else {
            "auth sufficient pam_rootok.so\n# auth required pam_wheel.so\n@include common-auth\n"
        },
        0o644,
    );
    write(
        r,
        "/etc/profile",
        if good {
            "umask 022\nTMOUT=600\nexport TMOUT\n"
        } else {
            "umask 002\n"
        },
        0o644,
    );
    dir(r, "/root", 0o700, 0);
    dir(r, "/home/alice", if good { 0o750 } else { 0o777 }, 1000);
    if !good {
        write(r, "/home/alice/.rhosts", "+ +\n", 0o644);
    }
    services(r, good);
    logging(r, good);
    // Patches (U-64): Debian 12 with openssl installed; the security
    // suite's list (as `apt-get update` wrote it) offers the same version
    // on the good root and a newer one on the bad.
    write(
        r,
        "/etc/os-release",
        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n",
        0o644,
    );
    write(
        r,
        "/var/lib/dpkg/status",
        "Package: openssl\nStatus: install ok installed\nArchitecture: amd64\nVersion: 3.0.15-1~deb12u1\n\n",
        0o644,
    );
    write(
        r,
        "/var/lib/apt/lists/deb.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages",
        &format!(
            "Package: openssl\nArchitecture: amd64\nVersion: {}\n",
            if good { "3.0.15-1~deb12u1" } else { "3.0.17-1~deb12u2" }
        ),
        0o644,
    );
    // The ports probe's tables: nothing listening.
    let header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
    write(r, "/proc/net/tcp", header, 0o444);
    write(r, "/proc/net/udp", header, 0o444);
    // What the filesystem walk finds (U-15, U-23, U-25): passwd as SUID
    // needs it; on the bad root newgrp has the SUID bit the guide names as
    // unneeded, and a file is owned by an account that no longer exists.
    write(r, "/usr/bin/passwd", "#!/bin/sh\n", 0o4755);
    write(
        r,
        "/usr/bin/newgrp",
        "#!/bin/sh\n",
        if good { 0o755 } else { 0o4755 },
    );
    if !good {
        write(r, "/srv/old-report.txt", "x\n", 0o644);
        std::os::unix::fs::chown(r.join("srv/old-report.txt"), Some(4242), Some(4242)).unwrap();
    }
    t
}

fn link(root: &Path, path: &str, target: &str) {
    let p = root.join(path.trim_start_matches('/'));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(target, p).unwrap();
}

/// Services as the guide asks (with a host firewall enabled), or with the
/// services it forbids enabled and their settings as its vulnerable examples.
fn services(r: &Path, good: bool) {
    let wants = "/etc/systemd/system/multi-user.target.wants";
    let enabled: &[&str] = if good {
        &[
            "ssh.service",
            "vsftpd.service",
            "postfix.service",
            "named.service",
            "nftables.service",
        ]
    } else {
        &[
            "nfs-server.service",
            "autofs.service",
            "snmpd.service",
            "ypbind.service",
            "vsftpd.service",
            "sendmail.service",
            "named.service",
        ]
    };
    for unit in enabled {
        link(
            r,
            &format!("{wants}/{unit}"),
            &format!("/lib/systemd/system/{unit}"),
        );
    }
    write(
        r,
        "/etc/inetd.conf",
        if good {
            "#finger stream tcp nowait nobody /usr/sbin/tcpd /usr/sbin/in.fingerd\n#<off># telnet stream tcp nowait root /usr/sbin/tcpd /usr/sbin/in.telnetd\n"
        } else {
            "finger stream tcp nowait nobody /usr/sbin/tcpd /usr/sbin/in.fingerd\nshell stream tcp nowait root /usr/sbin/tcpd /usr/sbin/in.rshd\ntelnet stream tcp nowait root /usr/sbin/tcpd /usr/sbin/in.telnetd\ntftp dgram udp wait nobody /usr/sbin/tcpd /usr/sbin/in.tftpd\necho stream tcp nowait root internal\nrstatd/1-5 dgram rpc/udp wait root /usr/sbin/tcpd /usr/sbin/rpc.rstatd\n"
        },
        0o600,
    );
    write(
        r,
        "/etc/vsftpd.conf",
        if good {
            "listen=YES\nanonymous_enable=NO\nftpd_banner=Authorised use only.\nssl_enable=YES\n"
        } else {
            "listen=YES\n"
        },
        0o644,
    );
    write(
        r,
        "/etc/ftpusers",
        if good { "root\ndaemon\n" } else { "daemon\n" },
        0o644,
    );
    write(
        r,
        "/etc/exports",
        if good {
            "/srv/nfs 10.0.0.0/24(ro,root_squash)\n"
        } else {
            "/srv/nfs *(rw,no_root_squash)\n"
        },
        0o644,
    );
    write(
        r,
        "/etc/snmp/snmpd.conf",
        if good {
            "rouser monitor authpriv\n"
        } else {
            "rocommunity public\nrwcommunity private default\n"
        },
        0o600,
    );
    if good {
        write(
            r,
            "/etc/postfix/main.cf",
            "mynetworks = 127.0.0.0/8\nsmtpd_relay_restrictions = permit_mynetworks,\n    reject_unauth_destination\ndisable_vrfy_command = yes\n",
            0o644,
        );
        write(r, "/usr/sbin/postsuper", "", 0o750);
    } else {
        write(
            r,
            "/etc/mail/sendmail.cf",
            "O PrivacyOptions=authwarnings\n",
            0o644,
        );
    }
    write(
        r,
        "/etc/bind/named.conf",
        if good {
            "options {\n directory \"/var/cache/bind\";\n allow-transfer { 10.0.0.2; };\n};\nzone \"example.kr\" {\n type master;\n file \"db\";\n allow-update { none; };\n};\n"
        } else {
            "options {\n directory \"/var/cache/bind\";\n};\nzone \"example.kr\" {\n type master;\n file \"db\";\n allow-update { any; };\n};\n"
        },
        0o644,
    );
}

/// Logging as the guide asks (authentication and general messages, logs
/// forwarded and kept a year), or a syslog recording mail only into a
/// world-writable directory, rotated away after a week.
fn logging(r: &Path, good: bool) {
    dir(r, "/var/log", if good { 0o755 } else { 0o777 }, 0);
    if good {
        write(
            r,
            "/etc/rsyslog.conf",
            "auth,authpriv.* /var/log/secure\n*.info;mail.none;authpriv.none /var/log/messages\n*.* @@logs.example:514\n",
            0o640,
        );
        write(r, "/var/log/secure", "", 0o600);
        write(r, "/var/log/messages", "", 0o640);
        write(
            r,
            "/etc/logrotate.conf",
            "weekly\nrotate 53\n/var/log/secure /var/log/messages {\n missingok\n}\n",
            0o644,
        );
    } else {
        write(r, "/etc/rsyslog.conf", "mail.* /var/log/maillog\n", 0o640);
        write(r, "/var/log/maillog", "", 0o666);
        write(
            r,
            "/etc/logrotate.conf",
            "daily\nrotate 7\n/var/log/maillog {\n}\n",
            0o644,
        );
    }
}

/// Runs the probes the `kisa-*` rules need on `root`.
/// Runs the probes the `kisa-*` rules (and `security-updates-applied`)
/// need on `root`.
async fn observe(root: &Path, host: &str) -> Vec<gamsa_proto::v1::Evidence> {
    let ctx = ProbeContext {
        agent_id: host.into(),
        host: host.into(),
        host_root: root.to_path_buf(),
        labels: BTreeMap::new(),
        control: Default::default(),
    };
    let running: Vec<Box<dyn Probe>> = vec![
        Box::new(probes::accounts::AccountsProbe::from(
            probes::accounts::Config::default(),
        )),
        Box::new(probes::authentication::AuthenticationProbe::from(
            probes::authentication::Config::default(),
        )),
        Box::new(probes::files::FilesProbe::from(
            probes::files::Config::default(),
        )),
        Box::new(probes::ports::PortsProbe::from(
            probes::ports::Config::default(),
        )),
        Box::new(probes::services::ServicesProbe::from(
            probes::services::Config::default(),
        )),
        Box::new(probes::logging::LoggingProbe::from(
            probes::logging::Config::default(),
        )),
        Box::new(probes::software::SoftwareProbe::new(
            probes::software::Config::default(),
        )),
    ];
    let mut out = Vec::new();
    for p in running {
        out.extend(p.run(&ctx).await);
    }
    out
}

/// The items of `catalog` for `host`, evaluated from a real store.
async fn evaluate(
    root: &Path,
    host: &str,
    catalog: &str,
) -> Vec<gamsa_collector::verdict::ItemResult> {
    let evidence = observe(root, host).await;
    for e in &evidence {
        assert_eq!(e.error, "", "{} could not observe {host}", e.probe);
    }
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("gamsa.db")).unwrap();
    store
        .upsert_agent(AgentRecord {
            agent_id: host.into(),
            host: host.into(),
            last_seen_ms: gamsa_collector::clock::now_ms(),
            ..Default::default()
        })
        .await
        .unwrap();
    store.insert_batch(evidence).await.unwrap();
    Checklists::load(&[])
        .unwrap()
        .evaluate(&store, &[catalog], None)
        .await
        .unwrap()
}

/// The kisa-unix verdicts of `host`'s automated items.
async fn verdicts(root: &Path, host: &str) -> BTreeMap<String, (Verdict, String)> {
    evaluate(root, host, "kisa-unix")
        .await
        .into_iter()
        .filter(|i| i.rows.iter().any(|r| r.rule.is_some()))
        .map(|i| (i.id.clone(), (i.verdict, i.reason_en.clone())))
        .collect()
}

/// Items whose rule the fixture roots do not drive (time sync needs the
/// running kernel's clock, not a file).
const NOT_FROM_FILES: &[&str] = &["U-65"];

#[tokio::test]
async fn a_hardened_root_passes_and_a_vulnerable_one_fails_every_automated_item() {
    let good = host_root(true);
    let bad = host_root(false);
    let good = verdicts(good.path(), "good").await;
    let bad = verdicts(bad.path(), "bad").await;
    let partial = [
        "U-08", "U-09", "U-20", "U-23", "U-25", "U-30", "U-35", "U-40", "U-62", "U-64", "U-66",
    ];
    let mut wrong = Vec::new();
    for (id, (verdict, why)) in &good {
        let want = if partial.contains(&id.as_str()) {
            Verdict::P
        } else {
            Verdict::Y
        };
        if *verdict != want && !NOT_FROM_FILES.contains(&id.as_str()) {
            wrong.push(format!("good {id}: {verdict:?}, want {want:?}: {why}"));
        }
    }
    // The bad root breaks these; the rest it leaves as the good one.
    let broken = [
        "U-01", "U-02", "U-03", "U-05", "U-06", "U-08", "U-11", "U-12", "U-13", "U-15", "U-16",
        "U-18", "U-23", "U-25", "U-19", "U-27", "U-30", "U-31", "U-62", "U-63", "U-34", "U-35",
        "U-36", "U-38", "U-39", "U-40", "U-41", "U-42", "U-43", "U-44", "U-46", "U-47", "U-48",
        "U-50", "U-51", "U-52", "U-53", "U-54", "U-55", "U-57", "U-58", "U-59", "U-60", "U-61",
        "U-64", "U-66", "U-67",
    ];
    for id in broken {
        match bad.get(id) {
            Some((Verdict::N, _)) => {}
            other => wrong.push(format!("bad {id}: {other:?}, want N")),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(good.len() >= 25, "{} automated items", good.len());
}

/// The rows of the other catalogs the services, logging and authentication
/// evidence answers in part: P on the good root, N on the bad one.
#[tokio::test]
async fn service_and_log_rows_of_other_catalogs_follow_the_host() {
    let good = host_root(true);
    let bad = host_root(false);
    let rows = [
        ("cloud-notice", "7.2.2-1"),
        ("cloud-notice", "10.1.2-1"),
        ("cloud-notice", "13.1.3-1"),
        ("isms-p", "2.11.3-1"),
        ("nia-ops", "CMR-003-10"),
        ("nia-ops", "CSR-001-25"),
        ("nia-ops", "CSR-001-39"),
        ("nia-ops", "CSR-001-11"),
        ("nia-ops", "CSR-001-7"),
        ("cloud-notice", "5.1.2-1"),
        ("cloud-notice", "11.1.3-1"),
        ("nia-ops", "CSR-001-27"),
        ("emr-s014", "2.2-1"),
        ("nia-ops", "CSR-001-17"),
        ("nia-ops", "CSR-001-28"),
        ("nia-ops", "CSR-001-33"),
        ("isms-p", "2.11.3-2"),
    ];
    let mut wrong = Vec::new();
    for (root, want) in [(good.path(), Verdict::P), (bad.path(), Verdict::N)] {
        let mut items = BTreeMap::new();
        for (catalog, _) in rows {
            if !items.contains_key(catalog) {
                items.insert(catalog, evaluate(root, "h", catalog).await);
            }
        }
        for (catalog, row) in rows {
            let r = items[catalog]
                .iter()
                .flat_map(|i| &i.rows)
                .find(|r| r.id == row)
                .unwrap_or_else(|| panic!("{catalog}/{row} not found"));
            if r.verdict != want {
                wrong.push(format!(
                    "{catalog}/{row}: {:?}, want {want:?}: {}",
                    r.verdict, r.reason_en
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// `sshd -T` of Debian's openssh-server and the probe's parser read the same
/// configuration (an Include, first value wins, a Match block) alike.
#[test]
fn parsed_sshd_config_agrees_with_sshd_t() {
    let sshd = Path::new("/usr/sbin/sshd");
    assert!(
        sshd.exists(),
        "openssh-server must be installed (tests/run.sh)"
    );
    // sshd -T refuses to run without its privilege separation directory.
    std::fs::create_dir_all("/run/sshd").unwrap();
    let t = tempfile::tempdir().unwrap();
    let d = t.path().display().to_string();
    let key = t.path().join("host_key");
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(made.success());
    write(
        t.path(),
        "/sshd_config",
        &format!(
            "HostKey {}\nInclude {d}/conf.d/*.conf\nPermitRootLogin yes\nMaxAuthTries 4\nMatch User alice\n  PasswordAuthentication no\n",
            key.display()
        ),
        0o600,
    );
    write(
        t.path(),
        "/conf.d/10.conf",
        "PermitRootLogin without-password\nBanner /etc/issue.net\nPermitEmptyPasswords no\n",
        0o600,
    );
    let config = format!("{d}/sshd_config");
    let effective =
        probes::authentication::sshd_effective(sshd, Path::new(&config)).expect("sshd -T");
    let mut notices = vec![];
    let (parsed, files) =
        probes::authentication::sshd_config_parsed(Path::new("/"), &config, &mut notices);
    assert!(notices.is_empty(), "{notices:?}");
    assert_eq!(files.len(), 2, "{files:?}");
    for key in [
        "permitrootlogin",
        "maxauthtries",
        "banner",
        "passwordauthentication",
        "permitemptypasswords",
        "clientaliveinterval",
    ] {
        assert_eq!(parsed.get(key), effective.get(key), "{key}");
    }
    assert_eq!(effective["permitrootlogin"], "prohibit-password");
}

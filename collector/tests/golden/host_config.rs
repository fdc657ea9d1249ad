//! Golden fleets of the Unix server checks (`kisa-*` rules): a hardened
//! host, and for each rule the same host with the one setting the rule reads
//! broken as the guide's "vulnerable" example, one of each side by side, and
//! a host whose configuration could not be read.

use super::{Case, RuleCases};
use crate::fixture::Host;
use gamsa_collector::verdict::Verdict::{Na, Unknown, N, P, Y};
use gamsa_proto::v1::{evidence::Payload, *};

fn account(name: &str, uid: u32, shell: &str, home: &str, state: &str, hash: &str) -> Account {
    Account {
        name: name.into(),
        uid,
        gid: uid,
        home: home.into(),
        shell: shell.into(),
        password_state: state.into(),
        hash_algorithm: hash.into(),
        last_change_days: 20000,
        max_days: 90,
        login_shell: !shell.ends_with("nologin"),
        primary_group_exists: true,
        uid_shared: false,
    }
}

fn group(name: &str, gid: u32, members: &[&str], primary: u32) -> AccountGroup {
    AccountGroup {
        name: name.into(),
        gid,
        members: members.iter().map(|m| m.to_string()).collect(),
        primary_members: primary,
    }
}

fn file(path: &str, mode: u32) -> FileMode {
    FileMode {
        path: path.into(),
        exists: true,
        mode,
        owner: "root".into(),
        group: "root".into(),
        kind: "file".into(),
        ..Default::default()
    }
}

fn home(account: &str, uid: u32, mode: u32) -> FileMode {
    FileMode {
        path: if account == "root" {
            "/root".into()
        } else {
            format!("/home/{account}")
        },
        exists: true,
        mode,
        uid,
        gid: uid,
        owner: account.into(),
        group: account.into(),
        kind: "dir".into(),
        account: account.into(),
        ..Default::default()
    }
}

fn map(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The three configurations of a host set up as the guide asks.
fn hardened_parts() -> (Accounts, Authentication, FileModes) {
    let accounts = Accounts {
        accounts: vec![
            account("root", 0, "/bin/bash", "/root", "set", "sha512"),
            account("daemon", 1, "/usr/sbin/nologin", "/usr/sbin", "locked", ""),
            account("alice", 1000, "/bin/bash", "/home/alice", "set", "yescrypt"),
        ],
        groups: vec![
            group("root", 0, &[], 1),
            group("daemon", 1, &[], 1),
            group("wheel", 10, &["alice"], 0),
            group("alice", 1000, &[], 1),
        ],
        sudoers: vec![],
        shadow_present: true,
        files: vec![
            "/etc/passwd".into(),
            "/etc/group".into(),
            "/etc/shadow".into(),
        ],
        notices: vec![],
    };
    let authentication = Authentication {
        ssh: Some(SshServer {
            present: true,
            source: "sshd -T".into(),
            settings: map(&[("permitrootlogin", "no"), ("banner", "/etc/issue.net")]),
            files: vec!["/etc/ssh/sshd_config".into()],
            fallback_reason: String::new(),
        }),
        login_defs: map(&[
            ("PASS_MAX_DAYS", "90"),
            ("PASS_MIN_DAYS", "1"),
            ("ENCRYPT_METHOD", "SHA512"),
        ]),
        pwquality: map(&[
            ("minlen", "8"),
            ("dcredit", "-1"),
            ("ucredit", "-1"),
            ("lcredit", "-1"),
            ("ocredit", "-1"),
        ]),
        pwquality_module: "pam_pwquality".into(),
        lockout: map(&[("deny", "5"), ("unlock_time", "120")]),
        lockout_module: "pam_faillock".into(),
        tmout_seconds: 600,
        tmout_source: "/etc/profile:30".into(),
        umasks: vec![UmaskSetting {
            file: "/etc/profile".into(),
            line: 31,
            value: "022".into(),
            mask: 0o22,
        }],
        banners: vec![Banner {
            path: "/etc/issue.net".into(),
            present: true,
            length: 60,
        }],
        su_restricted: true,
        su_group: "wheel".into(),
        pam_files: vec![],
        notices: vec![],
    };
    let files = FileModes {
        files: vec![
            file("/etc/passwd", 0o644),
            file("/etc/shadow", 0o400),
            file("/etc/hosts", 0o644),
            file("/etc/rsyslog.conf", 0o640),
            file("/etc/services", 0o644),
            file("/etc/sudoers", 0o440),
        ],
        homes: vec![home("root", 0, 0o700), home("alice", 1000, 0o750)],
        trust_files: vec![FileMode {
            path: "/etc/hosts.equiv".into(),
            ..Default::default()
        }],
        walk: Some(FileWalk {
            started_at: Some(gamsa_proto::Timestamp::from_unix_millis(
                crate::fixture::now(),
            )),
            elapsed_ms: 4_000,
            entries: 150_000,
            filesystems: vec!["/ ext4".into()],
            skipped: vec!["/proc proc".into()],
            mounts: "/proc/1/mounts".into(),
            suid_sgid: vec![
                FileMode {
                    package: "passwd".into(),
                    ..file("/usr/bin/passwd", 0o4755)
                },
                FileMode {
                    package: "sudo".into(),
                    ..file("/usr/bin/sudo", 0o4755)
                },
            ],
            world_writable: vec![FileMode {
                kind: "dir".into(),
                ..file("/tmp", 0o1777)
            }],
            ..Default::default()
        }),
    };
    (accounts, authentication, files)
}

/// `h` with the hardened configuration changed by `change`.
fn configured(h: Host, change: fn(&mut Accounts, &mut Authentication, &mut FileModes)) -> Host {
    let (mut a, mut auth, mut f) = hardened_parts();
    change(&mut a, &mut auth, &mut f);
    let name = h.name.clone();
    h.add("accounts", &name, Payload::Accounts(a))
        .add("authentication", &name, Payload::Authentication(auth))
        .add("files", &name, Payload::FileModes(f))
}

pub fn hardened(h: Host) -> Host {
    configured(h, |_, _, _| {})
}

fn unread(h: Host) -> Host {
    h.error("accounts", "/etc/passwd: Permission denied (os error 13)")
        .error("authentication", "probe task failed")
        .error("files", "/etc/passwd: Permission denied (os error 13)")
}

/// SSH the only listener (U-01 reads the ports too).
fn ssh_only(h: Host) -> Host {
    h.listening(&[(22, "any")])
}

fn set_file(f: &mut FileModes, path: &str, mode: u32, owner: &str) {
    match f.files.iter_mut().find(|x| x.path == path) {
        Some(x) => {
            x.mode = mode;
            x.owner = owner.into();
            x.uid = if owner == "root" { 0 } else { 1000 };
        }
        None => {
            let mut x = file(path, mode);
            x.owner = owner.into();
            x.uid = if owner == "root" { 0 } else { 1000 };
            f.files.push(x);
        }
    }
}

fn root_login(h: Host) -> Host {
    configured(h, |_, a, _| {
        a.ssh
            .as_mut()
            .unwrap()
            .settings
            .insert("permitrootlogin".into(), "prohibit-password".into());
    })
}
fn root_login_unknown(h: Host) -> Host {
    configured(h, |_, a, _| {
        a.ssh.as_mut().unwrap().settings.remove("permitrootlogin");
    })
}
fn weak_policy(h: Host) -> Host {
    configured(h, |_, a, _| {
        a.login_defs.insert("PASS_MAX_DAYS".into(), "99999".into());
        a.pwquality.remove("ocredit");
    })
}
fn no_lockout(h: Host) -> Host {
    configured(h, |_, a, _| {
        a.lockout_module.clear();
        a.lockout.clear();
    })
}
fn hash_in_passwd(h: Host) -> Host {
    configured(h, |a, _, _| {
        a.accounts[2].password_state = "in_passwd".into()
    })
}
fn second_root(h: Host) -> Host {
    configured(h, |a, _, _| {
        a.accounts
            .push(account("toor", 0, "/bin/sh", "/root", "set", "sha512"))
    })
}
fn su_for_all(h: Host) -> Host {
    configured(h, |_, a, _| a.su_restricted = false)
}
fn root_group_member(h: Host) -> Host {
    configured(h, |a, _, _| a.groups[0].members.push("alice".into()))
}
fn empty_group(h: Host) -> Host {
    configured(h, |a, _, _| {
        a.groups.push(group("oldproject", 1500, &[], 0))
    })
}
fn shared_uid(h: Host) -> Host {
    configured(h, |a, _, _| {
        let mut bob = account("bob", 1000, "/bin/bash", "/home/alice", "set", "yescrypt");
        bob.uid_shared = true;
        a.accounts[2].uid_shared = true;
        a.accounts.push(bob);
    })
}
fn daemon_shell(h: Host) -> Host {
    configured(h, |a, _, _| {
        a.accounts[1].shell = "/bin/sh".into();
        a.accounts[1].login_shell = true;
    })
}
fn no_tmout(h: Host) -> Host {
    configured(h, |_, a, _| {
        a.tmout_seconds = -1;
        a.tmout_source.clear();
    })
}
fn md5_hash(h: Host) -> Host {
    configured(h, |a, _, _| a.accounts[2].hash_algorithm = "md5".into())
}
fn passwd_writable(h: Host) -> Host {
    configured(h, |_, _, f| set_file(f, "/etc/passwd", 0o666, "root"))
}
fn shadow_readable(h: Host) -> Host {
    configured(h, |_, _, f| set_file(f, "/etc/shadow", 0o640, "root"))
}
fn hosts_writable(h: Host) -> Host {
    configured(h, |_, _, f| set_file(f, "/etc/hosts", 0o664, "root"))
}
fn inetd_readable(h: Host) -> Host {
    configured(h, |_, _, f| set_file(f, "/etc/xinetd.conf", 0o644, "root"))
}
fn syslog_user_owned(h: Host) -> Host {
    configured(h, |_, _, f| {
        set_file(f, "/etc/rsyslog.conf", 0o640, "alice")
    })
}
fn services_writable(h: Host) -> Host {
    configured(h, |_, _, f| set_file(f, "/etc/services", 0o646, "root"))
}
fn hosts_lpd_open(h: Host) -> Host {
    configured(h, |_, _, f| set_file(f, "/etc/hosts.lpd", 0o644, "root"))
}
fn sudoers_writable(h: Host) -> Host {
    configured(h, |_, _, f| set_file(f, "/etc/sudoers", 0o660, "root"))
}
fn plus_rhosts(h: Host) -> Host {
    configured(h, |_, _, f| {
        let mut r = home("alice", 1000, 0o600);
        r.path = "/home/alice/.rhosts".into();
        r.kind = "file".into();
        r.plus_entries = 1;
        f.trust_files.push(r);
    })
}
fn loose_umask(h: Host) -> Host {
    configured(h, |_, a, _| {
        a.umasks.push(UmaskSetting {
            file: "/etc/bash.bashrc".into(),
            line: 5,
            value: "002".into(),
            mask: 0o2,
        })
    })
}
fn home_world_writable(h: Host) -> Host {
    configured(h, |_, _, f| f.homes[1].mode = 0o777)
}
fn home_missing(h: Host) -> Host {
    configured(h, |_, _, f| {
        f.homes[1].exists = false;
        f.homes[1].kind.clear();
    })
}
fn ftp_login_shell(h: Host) -> Host {
    configured(h, |a, _, _| {
        a.accounts
            .push(account("ftp", 108, "/bin/sh", "/srv/ftp", "locked", ""))
    })
}
fn no_banner(h: Host) -> Host {
    configured(h, |_, a, _| {
        a.ssh
            .as_mut()
            .unwrap()
            .settings
            .insert("banner".into(), "none".into());
    })
}

fn walk(f: &mut FileModes) -> &mut FileWalk {
    f.walk.as_mut().unwrap()
}
fn unowned_file(h: Host) -> Host {
    configured(h, |_, _, f| {
        walk(f).unowned.push(FileMode {
            uid: 4242,
            gid: 4242,
            owner: String::new(),
            group: String::new(),
            ..file("/srv/app/old.log", 0o644)
        })
    })
}
fn newgrp_suid(h: Host) -> Host {
    configured(h, |_, _, f| {
        walk(f).suid_sgid.push(file("/usr/bin/newgrp", 0o4755))
    })
}
fn suid_in_home(h: Host) -> Host {
    configured(h, |_, _, f| {
        walk(f)
            .suid_sgid
            .push(file("/home/alice/.cache/sh", 0o4755))
    })
}
fn world_writable_file(h: Host) -> Host {
    configured(h, |_, _, f| {
        walk(f).world_writable.push(file("/etc/app.conf", 0o666))
    })
}
fn writable_dir_without_sticky(h: Host) -> Host {
    configured(h, |_, _, f| {
        walk(f).world_writable.push(FileMode {
            kind: "dir".into(),
            ..file("/srv/drop", 0o777)
        })
    })
}
/// The walk ended by its time bound before it found anything.
fn walk_stopped(h: Host) -> Host {
    configured(h, |_, _, f| {
        let w = walk(f);
        w.stopped_by = "max_duration".into();
        w.suid_sgid.clear();
        w.world_writable.clear();
    })
}
fn walk_unreadable(h: Host) -> Host {
    configured(h, |_, _, f| {
        let w = walk(f);
        w.unreadable = 1;
        w.errors = vec!["/srv/secret: Permission denied (os error 13)".into()];
    })
}
fn walk_off(h: Host) -> Host {
    configured(h, |_, _, f| f.walk = None)
}

/// The cases of a rule on the filesystem walk: as `config_rule!`, and a
/// walk stopped by a bound, one with an unreadable directory and none
/// at all UNKNOWN.
macro_rules! walk_rule {
    ($rule:literal, $bad:ident, $broken:literal) => {{
        let mut r = config_rule!($rule, $bad, $broken);
        r.cases.extend([
            Case {
                fleet: "the walk stopped at its time bound having found nothing",
                hosts: || vec![ssh_only(walk_stopped(Host::new("web-1", "web")))],
                expect: &[],
                answer: Unknown,
                why: "an unfinished walk that found nothing does not show there is nothing",
            },
            Case {
                fleet: "the walk could not read one directory",
                hosts: || vec![ssh_only(walk_unreadable(Host::new("web-1", "web")))],
                expect: &[],
                answer: Unknown,
                why: "an unread directory may hold what the check looks for",
            },
            Case {
                fleet: "the walk is turned off",
                hosts: || vec![ssh_only(walk_off(Host::new("web-1", "web")))],
                expect: &[],
                answer: Unknown,
                why: "no walk, no answer",
            },
        ]);
        r
    }};
    ($rule:literal, $bad:ident, $broken:literal, $also:ident, $also_broken:literal) => {{
        let mut r = walk_rule!($rule, $bad, $broken);
        r.cases.push(Case {
            fleet: $also_broken,
            hosts: || vec![ssh_only($also(Host::new("web-1", "web")))],
            expect: &[],
            answer: N,
            why: "the guide calls this host vulnerable",
        });
        r
    }};
}

/// The cases of one rule: hardened Y, `bad` N, both P, unread UNKNOWN.
macro_rules! config_rule {
    ($rule:literal, $bad:ident, $broken:literal) => {
        RuleCases {
            rule: $rule,
            unreachable: &[(
                Na,
                "every host has accounts, authentication and files evidence: no expectation leaves hosts out",
            )],
            cases: vec![
                Case {
                    fleet: "a host configured as the guide asks",
                    hosts: || vec![ssh_only(hardened(Host::new("web-1", "web")))],
                    expect: &[],
                    answer: Y,
                    why: "the setting the check reads is as the guide asks",
                },
                Case {
                    fleet: $broken,
                    hosts: || vec![ssh_only($bad(Host::new("web-1", "web")))],
                    expect: &[],
                    answer: N,
                    why: "the guide calls this host vulnerable",
                },
                Case {
                    fleet: concat!("one host as the guide asks, one where ", $broken),
                    hosts: || vec![ssh_only(hardened(Host::new("web-1", "web"))), ssh_only($bad(Host::new("web-2", "web")))],
                    expect: &[],
                    answer: P,
                    why: "web-2 is vulnerable",
                },
                Case {
                    fleet: "the host's configuration could not be read",
                    hosts: || vec![ssh_only(unread(Host::new("web-1", "web")))],
                    expect: &[],
                    answer: Unknown,
                    why: "could not check is never passed",
                },
            ],
        }
    };
}

/// `h` with its configuration from `config` and its services and logs set
/// up as the guide asks, or (`logs_ok` false) with its logs recording no
/// authentication.
fn with_logs(h: Host, config: fn(Host) -> Host, logs_ok: bool) -> Host {
    let h = config(h);
    if logs_ok {
        crate::host_services::hardened(h)
    } else {
        crate::host_services::vulnerable(h)
    }
}

/// `host-access-controlled` reads four checks of two probes' evidence: any
/// one failing fails the host.
fn access_controlled() -> RuleCases {
    RuleCases {
        rule: "host-access-controlled",
        unreachable: &[(
            Na,
            "every host has accounts, authentication and logging evidence: no expectation leaves hosts out",
        )],
        cases: vec![
            Case {
                fleet: "root cannot log in over SSH, su restricted to wheel, faillock deny=5, auth logged",
                hosts: || vec![with_logs(Host::new("web-1", "web"), hardened, true)],
                expect: &[],
                answer: Y,
                why: "each of the host's access controls is in place",
            },
            Case {
                fleet: "SSH lets root log in with a key",
                hosts: || vec![with_logs(Host::new("web-1", "web"), root_login, true)],
                expect: &[],
                answer: N,
                why: "root reaches the host directly: no record of who acted as root",
            },
            Case {
                fleet: "su open to every user",
                hosts: || vec![with_logs(Host::new("web-1", "web"), su_for_all, true)],
                expect: &[],
                answer: N,
                why: "any account that logs in may try to become root",
            },
            Case {
                fleet: "no lock-out after failed logins",
                hosts: || vec![with_logs(Host::new("web-1", "web"), no_lockout, true)],
                expect: &[],
                answer: N,
                why: "passwords may be guessed without limit",
            },
            Case {
                fleet: "the host's logs record no authentication",
                hosts: || vec![with_logs(Host::new("web-1", "web"), hardened, false)],
                expect: &[],
                answer: N,
                why: "logins leave no history",
            },
            Case {
                fleet: "one host controlled, one where SSH lets root in",
                hosts: || vec![
                    with_logs(Host::new("web-1", "web"), hardened, true),
                    with_logs(Host::new("web-2", "web"), root_login, true),
                ],
                expect: &[],
                answer: P,
                why: "met on web-1, not on web-2",
            },
            Case {
                fleet: "sshd's PermitRootLogin is not known",
                hosts: || vec![with_logs(Host::new("web-1", "web"), root_login_unknown, true)],
                expect: &[],
                answer: Unknown,
                why: "whether root reaches the host over SSH cannot be told",
            },
            Case {
                fleet: "the host's configuration could not be read",
                hosts: || vec![crate::host_services::hardened(unread(Host::new("web-1", "web")))],
                expect: &[],
                answer: Unknown,
                why: "could not check is never passed",
            },
        ],
    }
}

pub fn table() -> Vec<RuleCases> {
    vec![
        access_controlled(),
        RuleCases {
            rule: "host-assessment-recent",
            unreachable: &[
                (N, "the rule says the check was done; what it found is the other rules' findings"),
                (
                    Na,
                    "every host has accounts, authentication and files evidence: no expectation leaves hosts out",
                ),
            ],
            cases: vec![
                Case {
                    fleet: "a hardened host and a vulnerable one, both assessed",
                    hosts: || vec![hardened(Host::new("web-1", "web")), passwd_writable(Host::new("web-2", "web"))],
                    expect: &[],
                    answer: Y,
                    why: "both hosts were assessed; web-2's finding is in the history, not in this row",
                },
                Case {
                    fleet: "one host assessed, one whose configuration could not be read",
                    hosts: || vec![hardened(Host::new("web-1", "web")), unread(Host::new("web-2", "web"))],
                    expect: &[],
                    answer: P,
                    why: "web-2 was not assessed",
                },
                Case {
                    fleet: "the last assessment 400 days ago",
                    hosts: || vec![hardened(Host::new("web-1", "web").ago(400 * crate::fixture::DAY))],
                    expect: &[],
                    answer: Unknown,
                    why: "an assessment older than a year does not count",
                },
                Case {
                    fleet: "the host's configuration could not be read",
                    hosts: || vec![unread(Host::new("web-1", "web"))],
                    expect: &[],
                    answer: Unknown,
                    why: "could not check is never checked",
                },
            ],
        },
        config_rule!(
            "kisa-u01-root-remote",
            root_login,
            "SSH allows root with a key (prohibit-password)"
        ),
        config_rule!(
            "kisa-u02-password-policy",
            weak_policy,
            "passwords never expire and need no special character"
        ),
        config_rule!(
            "kisa-u03-lockout",
            no_lockout,
            "no lock-out module in the auth stack"
        ),
        config_rule!(
            "kisa-u04-shadow-passwords",
            hash_in_passwd,
            "a hash in /etc/passwd"
        ),
        config_rule!("kisa-u05-uid-zero", second_root, "toor has UID 0"),
        config_rule!(
            "kisa-u06-su-restricted",
            su_for_all,
            "su open to every user"
        ),
        config_rule!(
            "kisa-u08-admin-group",
            root_group_member,
            "alice is in the root group"
        ),
        config_rule!(
            "kisa-u09-empty-groups",
            empty_group,
            "a group without accounts"
        ),
        config_rule!("kisa-u10-unique-uid", shared_uid, "bob shares alice's UID"),
        config_rule!("kisa-u11-system-shells", daemon_shell, "daemon has /bin/sh"),
        config_rule!("kisa-u12-session-timeout", no_tmout, "no TMOUT"),
        config_rule!("kisa-u13-password-hash", md5_hash, "an MD5 password hash"),
        config_rule!(
            "kisa-u16-passwd-mode",
            passwd_writable,
            "/etc/passwd is 0666"
        ),
        config_rule!(
            "kisa-u18-shadow-mode",
            shadow_readable,
            "/etc/shadow is 0640"
        ),
        config_rule!("kisa-u19-hosts-mode", hosts_writable, "/etc/hosts is 0664"),
        config_rule!(
            "kisa-u20-inetd-mode",
            inetd_readable,
            "/etc/xinetd.conf is 0644"
        ),
        config_rule!(
            "kisa-u21-syslog-mode",
            syslog_user_owned,
            "alice owns /etc/rsyslog.conf"
        ),
        config_rule!(
            "kisa-u22-services-mode",
            services_writable,
            "/etc/services is 0646"
        ),
        config_rule!(
            "kisa-u27-trust-files",
            plus_rhosts,
            "alice's .rhosts trusts '+'"
        ),
        config_rule!(
            "kisa-u29-hosts-lpd-mode",
            hosts_lpd_open,
            "/etc/hosts.lpd is 0644"
        ),
        config_rule!("kisa-u30-umask", loose_umask, "bash.bashrc sets umask 002"),
        config_rule!(
            "kisa-u31-home-owner",
            home_world_writable,
            "alice's home is 0777"
        ),
        config_rule!(
            "kisa-u32-home-exists",
            home_missing,
            "alice's home does not exist"
        ),
        config_rule!("kisa-u62-login-banner", no_banner, "SSH shows no banner"),
        config_rule!(
            "kisa-u63-sudoers-mode",
            sudoers_writable,
            "/etc/sudoers is 0660"
        ),
        walk_rule!(
            "kisa-u15-unowned-files",
            unowned_file,
            "a file's owner UID 4242 is no account"
        ),
        walk_rule!(
            "kisa-u23-suid-sgid",
            newgrp_suid,
            "newgrp has the SUID bit",
            suid_in_home,
            "a SUID shell in alice's home"
        ),
        walk_rule!(
            "kisa-u25-world-writable",
            world_writable_file,
            "/etc/app.conf is 0666",
            writable_dir_without_sticky,
            "/srv/drop is 0777 without the sticky bit"
        ),
        config_rule!(
            "kisa-u55-ftp-shell",
            ftp_login_shell,
            "the ftp account has a login shell"
        ),
    ]
}

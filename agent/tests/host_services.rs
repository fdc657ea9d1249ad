//! The `services` and `logging` probes on host roots built here: a
//! configuration with the services the Unix checks look at, read back as the
//! facts the rules use (and never an SNMP community); logging with its
//! retention per log; and hostile roots (a huge file, a binary file, a
//! symlink loop, a directory or a FIFO where a file should be, include
//! loops) run through the real agent binary, each reported as a notice
//! naming the file, in bounded time and memory.

mod common;

use gamsa_agent::probes::{logging, services};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Most extra memory a hostile root may cost over an ordinary one.
const EXTRA_KIB: i64 = 16 * 1024;

fn write(root: &Path, path: &str, text: &str) {
    let p = root.join(path.trim_start_matches('/'));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn link(root: &Path, path: &str, target: &str) {
    let p = root.join(path.trim_start_matches('/'));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(target, p).unwrap();
}

/// A host with a little of everything the service checks read.
fn services_root(root: &Path) {
    link(
        root,
        "/etc/systemd/system/multi-user.target.wants/vsftpd.service",
        "/lib/systemd/system/vsftpd.service",
    );
    link(
        root,
        "/usr/lib/systemd/system/sockets.target.wants/rsh.socket",
        "../rsh.socket",
    );
    link(
        root,
        "/etc/systemd/system/getty.target.wants/getty@tty1.service",
        "/lib/systemd/system/getty@.service",
    );
    link(root, "/etc/systemd/system/telnet.socket", "/dev/null");
    link(root, "/etc/rc3.d/S02snmpd", "../init.d/snmpd");
    link(root, "/etc/rc3.d/K01nfs", "../init.d/nfs");
    write(
        root,
        "/etc/inetd.conf",
        "# comment\nfinger stream tcp nowait nobody /usr/sbin/tcpd /usr/sbin/in.fingerd\n#<off># talk dgram udp wait nobody.tty /usr/sbin/in.talkd in.talkd\n",
    );
    write(
        root,
        "/etc/xinetd.conf",
        "defaults\n{\n}\nincludedir /etc/xinetd.d\n",
    );
    write(
        root,
        "/etc/xinetd.d/tftp",
        "service tftp\n{\n\tsocket_type = dgram\n\tprotocol = udp\n\tdisable = yes\n}\n",
    );
    write(root, "/etc/xinetd.d/tftp.rpmsave", "service bogus\n{\n}\n");
    write(
        root,
        "/etc/vsftpd.conf",
        "listen=YES\n# anonymous_enable=NO\nuserlist_enable=YES\n",
    );
    write(root, "/etc/ftpusers", "# no\nroot\ndaemon\n");
    write(root, "/etc/vsftpd.user_list", "alice\n");
    write(root, "/etc/exports", "/srv 10.0.0.0/8(ro) *(rw)\n");
    write(
        root,
        "/etc/snmp/snmpd.conf",
        "rocommunity s3cr3tCommunity 10.0.0.0/24\ncom2sec -Cn ctx local localhost public\ncreateUser mon SHA \"x\" AES\nrouser mon\n",
    );
    write(
        root,
        "/etc/postfix/main.cf",
        "# c\nmynetworks = 127.0.0.0/8\n  [::1]/128\ndisable_vrfy_command = yes\nmyhostname = h\n",
    );
    write(
        root,
        "/etc/bind/named.conf",
        "options { allow-transfer { none; }; };\n",
    );
}

#[test]
fn services_are_read_from_files_as_the_rules_need_them() {
    let t = tempfile::tempdir().unwrap();
    services_root(t.path());
    let s = services::observe(t.path(), Err("no /proc here".into()));
    assert_eq!(s.notices, ["no /proc here"]);
    let unit = |name: &str| s.units.iter().find(|u| u.name == name).cloned();
    let vsftpd = unit("vsftpd.service").unwrap();
    assert!(vsftpd.enabled && !vsftpd.masked);
    assert_eq!(
        vsftpd.wanted_by,
        ["/etc/systemd/system/multi-user.target.wants"]
    );
    let rsh = unit("rsh.socket").unwrap();
    assert_eq!(
        (rsh.service.as_str(), rsh.r#type.as_str()),
        ("rsh", "socket")
    );
    assert_eq!(unit("getty@tty1.service").unwrap().service, "getty");
    let telnet = unit("telnet.socket").unwrap();
    assert!(telnet.masked && !telnet.enabled);
    assert_eq!(s.sysv_started, ["snmpd"]);

    let inetd: Vec<(&str, bool)> = s
        .inetd
        .iter()
        .map(|i| (i.name.as_str(), i.enabled))
        .collect();
    assert_eq!(inetd, [("finger", true), ("talk", false), ("tftp", false)]);

    let ftp = &s.ftp[0];
    assert_eq!(ftp.daemon, "vsftpd");
    // vsftpd allows anonymous login unless the file says NO.
    assert!(ftp.anonymous);
    assert_eq!(ftp.denied_users, ["root", "daemon", "alice"]);

    let everyone: Vec<(&str, bool)> = s
        .exports
        .iter()
        .map(|e| (e.client.as_str(), e.everyone))
        .collect();
    assert_eq!(everyone, [("10.0.0.0/8", false), ("*", true)]);

    let snmp = s.snmp.as_ref().unwrap();
    assert_eq!(snmp.v3_users, 2);
    let c = &snmp.communities;
    assert_eq!(c.len(), 2);
    assert!(!c[0].default_name && c[0].length == 15 && c[0].has_digit);
    assert_eq!(c[0].source, "10.0.0.0/24");
    assert!(c[1].default_name);
    assert_eq!(c[1].source, "localhost");
    let json = serde_json::to_string(&s).unwrap();
    assert!(
        !json.contains("s3cr3t"),
        "a community left the host: {json}"
    );

    let postfix = &s.mail[0];
    assert_eq!(postfix.settings["mynetworks"], "127.0.0.0/8 [::1]/128");
    assert_eq!(postfix.settings["disable_vrfy_command"], "yes");
    assert!(!postfix.settings.contains_key("myhostname"));
    assert_eq!(postfix.queue_tool_mode, -1);

    let dns = s.dns.as_ref().unwrap();
    assert_eq!(dns.acls[0].scope, "options");
    assert_eq!(dns.acls[0].elements, ["none"]);
}

#[test]
fn each_log_has_its_owner_mode_and_retention() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    write(
        r,
        "/etc/rsyslog.conf",
        "auth,authpriv.* /var/log/auth.log\n*.*;auth,authpriv.none -/var/log/syslog\n*.emerg :omusrmsg:*\n$IncludeConfig /etc/rsyslog.d/*.conf\n",
    );
    write(r, "/etc/rsyslog.d/remote.conf", "*.* @@logs.example:514\n");
    write(
        r,
        "/etc/logrotate.conf",
        "weekly\nrotate 4\ninclude /etc/logrotate.d\n",
    );
    write(
        r,
        "/etc/logrotate.d/rsyslog",
        "/var/log/syslog\n{\n rotate 7\n daily\n}\n/var/log/auth.log {\n monthly\n rotate 13\n maxage 365\n}\n",
    );
    write(
        r,
        "/etc/systemd/journald.conf",
        "[Journal]\nStorage=persistent\nMaxRetentionSec=1year\n",
    );
    write(r, "/var/log/auth.log", "");
    std::fs::set_permissions(
        r.join("var/log/auth.log"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    let l = logging::observe(r);
    assert!(l.notices.is_empty(), "{:?}", l.notices);
    assert_eq!(l.daemons, ["rsyslog"]);
    let remote = l.rules.iter().find(|x| x.kind == "remote").unwrap();
    assert_eq!(
        (remote.target.as_str(), remote.transport.as_str()),
        ("logs.example:514", "tcp")
    );
    let j = l.journald.as_ref().unwrap();
    assert_eq!(j.effective_storage, "persistent");
    assert_eq!(j.max_retention_seconds, 31_557_600);
    let file = |p: &str| {
        l.files
            .iter()
            .find(|f| f.file.as_ref().unwrap().path == p)
            .unwrap()
    };
    let auth = file("/var/log/auth.log");
    assert_eq!(auth.retention_days, 365);
    assert_eq!(auth.file.as_ref().unwrap().mode, 0o640);
    assert!(auth.source.starts_with("rsyslog /etc/rsyslog.conf:1"));
    let syslog = file("/var/log/syslog");
    assert_eq!(syslog.retention_days, 7);
    assert!(!syslog.file.as_ref().unwrap().exists);
    assert_eq!(l.logrotate_defaults["rotate"], "4");
    assert!(l.log_dir.as_ref().unwrap().exists);
}

/// An ordinary root for the binary, and its configuration file.
fn ordinary(root: &Path) -> PathBuf {
    services_root(root);
    write(root, "/etc/rsyslog.conf", "*.* /var/log/syslog\n");
    write(root, "/etc/logrotate.conf", "weekly\nrotate 4\n");
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

/// `common::run_agent`, whose one evidence must be an observation.
fn run_agent(config: &Path, probe: &str) -> (serde_json::Value, i64, Duration) {
    let (evidence, rss, took) = common::run_agent(config, probe);
    assert_eq!(evidence["status"], "STATUS_OBSERVED", "{evidence}");
    (evidence, rss, took)
}

#[test]
fn hostile_files_are_notices_naming_them_in_bounded_time_and_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (base, base_rss, _) = run_agent(&ordinary(&dir.path().join("a")), "services");
    assert_eq!(base["services"]["notices"].as_array().unwrap().len(), 1);

    let root = dir.path().join("b");
    let config = ordinary(&root);
    // A 1 GiB (sparse) snmpd.conf, a binary inetd.conf, a symlink loop for
    // /etc/exports, a directory for vsftpd.conf, a FIFO for main.cf (a
    // reader that opened it would wait for ever) and named.conf including
    // itself.
    std::fs::File::create(root.join("etc/snmp/snmpd.conf"))
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    std::fs::write(root.join("etc/inetd.conf"), b"\x7fELF\x02\x01\xff\xfe\0\0").unwrap();
    std::fs::remove_file(root.join("etc/exports")).unwrap();
    std::os::unix::fs::symlink("exports", root.join("etc/exports")).unwrap();
    std::fs::remove_file(root.join("etc/vsftpd.conf")).unwrap();
    std::fs::create_dir(root.join("etc/vsftpd.conf")).unwrap();
    std::fs::remove_file(root.join("etc/postfix/main.cf")).unwrap();
    let fifo = std::ffi::CString::new(root.join("etc/postfix/main.cf").to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    write(
        &root,
        "/etc/bind/named.conf",
        "include \"/etc/bind/named.conf\";\noptions { allow-transfer { any; }; };\n",
    );
    let (e, rss, took) = run_agent(&config, "services");
    let notices = e["services"]["notices"].to_string();
    for want in [
        "/etc/snmp/snmpd.conf is larger than 1048576 bytes",
        "/etc/inetd.conf: not text",
        "/etc/exports: ",
        "/etc/vsftpd.conf: not a regular file",
        "/etc/postfix/main.cf: not a regular file",
        "/etc/bind/named.conf: included in a loop",
    ] {
        assert!(notices.contains(want), "{want} missing: {notices}");
    }
    assert!(notices.contains("symbolic links"), "{notices}");
    // What could be read still is.
    assert_eq!(e["services"]["dns"]["acls"][0]["elements"][0], "any");
    assert!(
        rss < base_rss + EXTRA_KIB,
        "{rss} KiB against {base_rss} KiB"
    );
    assert!(took < Duration::from_secs(20), "{took:?}");

    // logging: rsyslog including itself, logrotate including its own
    // directory's parent loop, a binary journald.conf.
    write(
        &root,
        "/etc/rsyslog.conf",
        "auth.* /var/log/auth.log\n$IncludeConfig /etc/rsyslog.conf\n",
    );
    write(
        &root,
        "/etc/logrotate.conf",
        "include /etc/logrotate.conf\n",
    );
    std::fs::create_dir_all(root.join("etc/systemd")).unwrap();
    std::fs::write(
        root.join("etc/systemd/journald.conf"),
        b"[Journal]\n\xff\xfe\0",
    )
    .unwrap();
    let (e, _, took) = run_agent(&config, "logging");
    let notices = e["logging"]["notices"].to_string();
    for want in [
        "/etc/rsyslog.conf: included in a loop",
        "/etc/logrotate.conf: included in a loop",
        "/etc/systemd/journald.conf: not text",
    ] {
        assert!(notices.contains(want), "{want} missing: {notices}");
    }
    assert_eq!(e["logging"]["rules"].as_array().unwrap().len(), 1, "{e}");
    assert!(took < Duration::from_secs(20), "{took:?}");
}

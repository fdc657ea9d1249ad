//! The host-configuration probes on a host root made of arbitrary files:
//! passwd, shadow, group, sudoers (with includes), sshd_config (with
//! `Include`), PAM stacks, login.defs, profiles, banners and the trust
//! files; the logging configuration (rsyslog, syslog-ng, journald,
//! logrotate); the services' (inetd, xinetd, NFS exports, SNMP, mail, FTP,
//! DNS, systemd units); the package databases (dpkg status, os-release);
//! Tomcat's server.xml, web.xml and users; the API server manifest and its
//! audit policy: any of them a symlink to another (loops included). Each input
//! names files by index and gives their bytes; they are written to a fresh
//! root on tmpfs and every probe reads it. Error evidence is expected; a
//! panic, a hang or unbounded memory is a bug.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

/// The files the probes read, by index (the input's first byte of each entry).
const FILES: &[&str] = &[
    "etc/passwd",
    "etc/shadow",
    "etc/group",
    "etc/gshadow",
    "etc/sudoers",
    "etc/sudoers.d/extra",
    "etc/ssh/sshd_config",
    "etc/ssh/sshd_config.d/local.conf",
    "etc/pam.d/common-auth",
    "etc/pam.d/common-password",
    "etc/pam.d/su",
    "etc/pam.d/sshd",
    "etc/pam.d/system-auth",
    "etc/login.defs",
    "etc/profile",
    "etc/profile.d/tmout.sh",
    "etc/bash.bashrc",
    "etc/security/pwquality.conf",
    "etc/security/faillock.conf",
    "etc/issue",
    "etc/issue.net",
    "etc/motd",
    "etc/hosts.equiv",
    "root/.rhosts",
    "etc/hosts",
    "etc/services",
    "etc/crontab",
    "etc/rsyslog.conf",
    "etc/rsyslog.d/50-default.conf",
    "etc/syslog-ng/syslog-ng.conf",
    "etc/systemd/journald.conf",
    "etc/logrotate.conf",
    "etc/logrotate.d/rsyslog",
    "etc/inetd.conf",
    "etc/xinetd.conf",
    "etc/xinetd.d/tftp",
    "etc/exports",
    "etc/snmp/snmpd.conf",
    "etc/postfix/main.cf",
    "etc/mail/sendmail.cf",
    "etc/vsftpd.conf",
    "etc/ftpusers",
    "etc/proftpd/proftpd.conf",
    "etc/bind/named.conf",
    "etc/named.conf",
    "etc/systemd/system/multi-user.target.wants/telnet.service",
    "lib/systemd/system/telnet.service",
    "var/lib/dpkg/status",
    "etc/os-release",
    "var/lib/tomcat10/conf/server.xml",
    "var/lib/tomcat10/conf/web.xml",
    "var/lib/tomcat10/conf/tomcat-users.xml",
    "etc/kubernetes/manifests/kube-apiserver.yaml",
    "etc/kubernetes/audit-policy.yaml",
];

fuzz_target!(|entries: Vec<(u8, Vec<u8>)>| {
    let Ok(dir) = tempfile::Builder::new().prefix("fuzz-root").tempdir_in("/dev/shm") else {
        return;
    };
    let root = dir.path();
    for (index, bytes) in entries.iter().take(64) {
        let path = root.join(FILES[*index as usize % FILES.len()]);
        let _ = std::fs::create_dir_all(path.parent().unwrap_or(root));
        if index & 0x80 != 0 {
            // A symlink to the file the bytes name (loops and escapes included).
            let target = FILES[bytes.first().copied().unwrap_or(0) as usize % FILES.len()];
            let _ = std::fs::remove_file(&path);
            let _ = std::os::unix::fs::symlink(root.join(target), &path);
        } else {
            let _ = std::fs::write(&path, bytes);
        }
    }
    let _ = gamsa_agent::probes::accounts::observe(root);
    let _ = gamsa_agent::probes::authentication::observe(root, Path::new("/nonexistent/sshd"));
    let bounds = gamsa_agent::probes::files::walk::Bounds {
        max_entries: 10_000,
        max_reported: 100,
        max_duration: std::time::Duration::from_secs(1),
    };
    let _ = gamsa_agent::probes::files::observe(root, Some(&bounds));
    let _ = gamsa_agent::probes::logging::observe(root);
    let _ = gamsa_agent::probes::services::observe(root, Ok(vec!["sshd".into()]));
    let _ = gamsa_agent::probes::software::observe(root, Err("not read".into()), &[]);
    let tomcat = gamsa_agent::probes::tomcat::Config {
        paths: vec!["/var/lib/tomcat10".into()],
        processes: false,
        ..Default::default()
    };
    let _ = gamsa_agent::probes::tomcat::observe(root, &tomcat);
    let _ = gamsa_agent::probes::cluster::audit::observe(
        root,
        "/etc/kubernetes/manifests/kube-apiserver.yaml",
    );
});

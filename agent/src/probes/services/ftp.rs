//! FTP servers whose configuration is present: vsftpd (`key=value`, its
//! defaults where a key the checks read is unset) and ProFTPD (directives,
//! `Include`s followed, `<Anonymous>` blocks); and the users each refuses
//! (ftpusers, vsftpd's user_list when it denies).

use super::super::config_files::{HostFiles, MAX_DEPTH, MAX_ENTRIES};
use gamsa_proto::v1::FtpServer;
use std::collections::BTreeMap;

/// ProFTPD directives the checks read, as written in the configuration.
const PROFTPD_DIRECTIVES: &[&str] = &[
    "ServerIdent",
    "RootLogin",
    "UseFtpUsers",
    "TLSEngine",
    "TLSRequired",
    "DefaultRoot",
];

pub fn servers(f: &mut HostFiles) -> Vec<FtpServer> {
    let mut out = Vec::new();
    out.extend(vsftpd(f));
    out.extend(proftpd(f));
    out
}

/// The user names of a deny file (one per line, `#` comments).
fn names(f: &mut HostFiles, s: &mut FtpServer, file: &str) {
    if let Some(text) = f.text(file) {
        s.user_files.push(file.to_string());
        s.denied_users.extend(
            text.lines()
                .map(|l| l.split('#').next().unwrap_or_default().trim())
                .filter(|l| !l.is_empty())
                .take(MAX_ENTRIES)
                .map(String::from),
        );
    }
}

fn vsftpd(f: &mut HostFiles) -> Option<FtpServer> {
    let (config, text) = f.first(&["/etc/vsftpd.conf", "/etc/vsftpd/vsftpd.conf"])?;
    let mut settings = BTreeMap::new();
    for line in text.lines().take(MAX_ENTRIES) {
        let t = line.trim();
        if t.starts_with('#') {
            continue;
        }
        if let Some((k, v)) = t.split_once('=') {
            settings.insert(k.trim().to_string(), v.trim().to_string());
        }
    }
    let yes = |k: &str, default: bool| {
        settings
            .get(k)
            .map_or(default, |v| v.eq_ignore_ascii_case("yes"))
    };
    let mut s = FtpServer {
        daemon: "vsftpd".into(),
        config: config.clone(),
        // vsftpd's own default is YES; distributions ship NO in the file.
        anonymous: yes("anonymous_enable", true),
        ..Default::default()
    };
    // Debian's PAM stack reads /etc/ftpusers; Red Hat's /etc/vsftpd/ftpusers.
    for file in [
        "/etc/ftpusers",
        "/etc/vsftpd.ftpusers",
        "/etc/vsftpd/ftpusers",
    ] {
        names(f, &mut s, file);
    }
    if yes("userlist_enable", false) && yes("userlist_deny", true) {
        let list = settings.get("userlist_file").cloned().unwrap_or_else(|| {
            if config.starts_with("/etc/vsftpd/") {
                "/etc/vsftpd/user_list".into()
            } else {
                "/etc/vsftpd.user_list".into()
            }
        });
        names(f, &mut s, &list);
    }
    s.settings = settings.into_iter().collect();
    Some(s)
}

fn proftpd(f: &mut HostFiles) -> Option<FtpServer> {
    let config = ["/etc/proftpd/proftpd.conf", "/etc/proftpd.conf"]
        .into_iter()
        .find(|c| f.exists(c))?;
    let mut s = FtpServer {
        daemon: "proftpd".into(),
        config: config.into(),
        ..Default::default()
    };
    let mut seen = Vec::new();
    read_proftpd(f, &mut s, config, 0, &mut seen);
    let ftpusers = s
        .settings
        .get("UseFtpUsers")
        .is_none_or(|v| !v.eq_ignore_ascii_case("off"));
    if ftpusers {
        names(f, &mut s, "/etc/ftpusers");
    }
    Some(s)
}

fn read_proftpd(
    f: &mut HostFiles,
    s: &mut FtpServer,
    file: &str,
    depth: usize,
    seen: &mut Vec<String>,
) {
    if depth > MAX_DEPTH || seen.iter().any(|x| x == file) {
        f.notices.push(format!(
            "{file}: included in a loop or too deep, not read again"
        ));
        return;
    }
    seen.push(file.to_string());
    let Some(text) = f.text(file) else { return };
    for line in text.lines().take(MAX_ENTRIES) {
        let t = line.trim();
        if t.starts_with('#') || t.is_empty() {
            continue;
        }
        if t.len() > 10 && t[..10].eq_ignore_ascii_case("<anonymous") {
            s.anonymous = true;
            continue;
        }
        let (k, v) = t.split_once(char::is_whitespace).unwrap_or((t, ""));
        if k.eq_ignore_ascii_case("Include") {
            let pattern = v.trim();
            let pattern = if pattern.starts_with('/') {
                pattern.to_string()
            } else {
                format!("/etc/proftpd/{pattern}")
            };
            for inc in f.glob(&pattern) {
                read_proftpd(f, s, &inc, depth + 1, seen);
            }
        } else if let Some(d) = PROFTPD_DIRECTIVES
            .iter()
            .find(|d| d.eq_ignore_ascii_case(k))
        {
            s.settings.insert(d.to_string(), v.trim().to_string());
        }
    }
}

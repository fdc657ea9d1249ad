//! Mail servers whose configuration is present: sendmail (`sendmail.cf`:
//! PrivacyOptions, the "Relaying denied" check) and Postfix (`main.cf`:
//! the relay, VRFY and banner parameters, and the queue tool's mode).

use super::super::config_files::HostFiles;
use gamsa_proto::v1::MailServer;
use std::os::unix::fs::MetadataExt;

/// Postfix parameters the checks read.
const POSTFIX_KEYS: &[&str] = &[
    "mynetworks",
    "smtpd_relay_restrictions",
    "smtpd_recipient_restrictions",
    "disable_vrfy_command",
    "smtpd_banner",
];

pub fn servers(f: &mut HostFiles) -> Vec<MailServer> {
    let mut out = Vec::new();
    out.extend(sendmail(f));
    out.extend(postfix(f));
    out
}

fn sendmail(f: &mut HostFiles) -> Option<MailServer> {
    let config = "/etc/mail/sendmail.cf";
    let text = f.text(config)?;
    let mut s = MailServer {
        daemon: "sendmail".into(),
        config: config.into(),
        queue_tool_mode: -1,
        ..Default::default()
    };
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("O PrivacyOptions=") {
            s.privacy_options = v.trim().to_string();
        }
        if !line.starts_with('#') && line.contains("Relaying denied") {
            s.relay_denied_rule = true;
        }
    }
    Some(s)
}

fn postfix(f: &mut HostFiles) -> Option<MailServer> {
    let config = "/etc/postfix/main.cf";
    let text = f.text(config)?;
    let mut s = MailServer {
        daemon: "postfix".into(),
        config: config.into(),
        queue_tool_mode: std::fs::metadata(f.local("/usr/sbin/postsuper"))
            .map_or(-1, |m| (m.mode() & 0o7777) as i64),
        ..Default::default()
    };
    // `key = value`; a line starting with white space continues the last.
    let mut last: Option<String> = None;
    for line in text.lines() {
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if line.starts_with(char::is_whitespace) {
            if let Some(v) = last.as_ref().and_then(|k| s.settings.get_mut(k)) {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        last = None;
        if let Some((k, v)) = line.split_once('=') {
            let k = k.trim();
            if POSTFIX_KEYS.contains(&k) {
                s.settings.insert(k.to_string(), v.trim().to_string());
                last = Some(k.to_string());
            }
        }
    }
    Some(s)
}

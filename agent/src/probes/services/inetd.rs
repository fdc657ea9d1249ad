//! (x)inetd services: `/etc/inetd.conf` lines (a commented-out service line
//! is a disabled service) and xinetd's `service` blocks in
//! `/etc/xinetd.conf` and the directories it includes (`disable = yes`, or
//! named by `disabled` in its `defaults`).

use super::super::config_files::{HostFiles, MAX_ENTRIES};
use gamsa_proto::v1::InetdService;
use std::collections::HashSet;

const SOCKET_TYPES: &[&str] = &["stream", "dgram", "raw", "seqpacket", "rdm"];

pub fn services(f: &mut HostFiles) -> Vec<InetdService> {
    let mut out = inetd(f);
    out.extend(xinetd(f));
    out.truncate(MAX_ENTRIES);
    out
}

/// `service socket-type protocol wait user server args`; `#service ...` and
/// `#<off># service ...` (update-inetd) are the same service disabled.
fn inetd(f: &mut HostFiles) -> Vec<InetdService> {
    let file = "/etc/inetd.conf";
    let Some(text) = f.text(file) else {
        return vec![];
    };
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let t = line.trim();
        let (enabled, body) = match t.strip_prefix('#') {
            Some(rest) => (false, rest.trim_start_matches("<off>#").trim()),
            None => (true, t),
        };
        let w: Vec<&str> = body.split_whitespace().collect();
        if w.len() < 6 || !SOCKET_TYPES.contains(&w[1]) {
            continue;
        }
        out.push(InetdService {
            name: w[0].to_string(),
            file: file.into(),
            line: n as u32 + 1,
            enabled,
            server: w[5].to_string(),
            protocol: w[2].to_string(),
        });
    }
    out
}

/// xinetd.conf and the files of its `includedir`s (xinetd skips names with
/// a dot or ending in '~').
fn xinetd(f: &mut HostFiles) -> Vec<InetdService> {
    let main = "/etc/xinetd.conf";
    let Some(text) = f.text(main) else {
        return vec![];
    };
    let mut disabled: HashSet<String> = HashSet::new();
    let mut out = Vec::new();
    let mut dirs = Vec::new();
    parse(main, &text, &mut out, &mut disabled, &mut dirs);
    for dir in dirs {
        for file in f.list(&dir, |n| !n.contains('.') && !n.ends_with('~')) {
            if let Some(text) = f.text(&file) {
                parse(&file, &text, &mut out, &mut disabled, &mut vec![]);
            }
        }
    }
    for s in &mut out {
        if disabled.contains(&s.name) {
            s.enabled = false;
        }
    }
    out
}

fn parse(
    file: &str,
    text: &str,
    out: &mut Vec<InetdService>,
    disabled: &mut HashSet<String>,
    dirs: &mut Vec<String>,
) {
    // The block being read: a service, or `defaults`.
    let mut current: Option<InetdService> = None;
    let mut in_defaults = false;
    for (n, line) in text.lines().enumerate() {
        let t = line.split('#').next().unwrap_or_default().trim();
        if t.is_empty() || t == "{" {
            continue;
        }
        let mut words = t.split_whitespace();
        let first = words.next().unwrap_or_default();
        if t == "}" {
            if let Some(s) = current.take() {
                out.push(s);
            }
            in_defaults = false;
        } else if first == "includedir" {
            dirs.extend(words.next().map(String::from));
        } else if first == "service" {
            current = Some(InetdService {
                name: words.next().unwrap_or_default().to_string(),
                file: file.into(),
                line: n as u32 + 1,
                enabled: true,
                ..Default::default()
            });
        } else if first == "defaults" {
            in_defaults = true;
        } else if let Some((key, value)) = t.split_once('=') {
            let key = key.trim().trim_end_matches(['+', '-']).trim();
            let value = value.trim();
            if in_defaults && key == "disabled" {
                disabled.extend(value.split_whitespace().map(String::from));
            }
            if let Some(s) = current.as_mut() {
                match key {
                    "disable" => s.enabled = !value.eq_ignore_ascii_case("yes"),
                    "server" => s.server = value.to_string(),
                    "protocol" => s.protocol = value.to_string(),
                    _ => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xinetd_blocks_say_enabled_or_disabled() {
        let mut out = vec![];
        let mut disabled = HashSet::new();
        let mut dirs = vec![];
        parse(
            "/etc/xinetd.d/x",
            "defaults\n{\n disabled = echo\n}\nservice tftp\n{\n\tdisable\t= yes\n\tserver = /usr/sbin/in.tftpd\n}\nservice finger\n{\n disable = no # on\n}\nservice echo\n{\n}\n",
            &mut out,
            &mut disabled,
            &mut dirs,
        );
        let states: Vec<(&str, bool)> = out.iter().map(|s| (s.name.as_str(), s.enabled)).collect();
        assert_eq!(states, [("tftp", false), ("finger", true), ("echo", true)]);
        assert_eq!(out[0].server, "/usr/sbin/in.tftpd");
        assert!(disabled.contains("echo"));
    }
}

//! rsyslog's configuration: `/etc/rsyslog.conf` and what it includes
//! (`$IncludeConfig`, `include(file=...)`), each rule as selector and
//! destination: legacy `selector action` lines (`/file`, `-/file`,
//! `@host`, `@@host`) and RainerScript `action(type="omfile"|"omfwd"|
//! "omrelp" ...)`, possibly over several lines.

use super::super::config_files::{HostFiles, MAX_DEPTH, MAX_ENTRIES};
use gamsa_proto::v1::LogRule;

pub const MAIN: &str = "/etc/rsyslog.conf";

pub fn rules(f: &mut HostFiles) -> Option<Vec<LogRule>> {
    if !f.exists(MAIN) {
        return None;
    }
    let mut out = Vec::new();
    let mut seen = Vec::new();
    read(f, MAIN, 0, &mut seen, &mut out);
    Some(out)
}

/// `name="value"` of a RainerScript parameter list.
fn param(text: &str, name: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(p) = lower[from..].find(name) {
        let at = from + p;
        let before = lower[..at].chars().last();
        let rest = lower[at + name.len()..].trim_start();
        if before.is_none_or(|c| !c.is_alphanumeric() && c != '_') && rest.starts_with('=') {
            let value_at = text.len() - rest.len() + 1;
            let v = text[value_at..].trim_start();
            let v = v.strip_prefix('"')?;
            return v.split('"').next().map(String::from);
        }
        from = at + name.len();
    }
    None
}

fn read(
    f: &mut HostFiles,
    file: &str,
    depth: usize,
    seen: &mut Vec<String>,
    out: &mut Vec<LogRule>,
) {
    if depth > MAX_DEPTH || seen.iter().any(|x| x == file) {
        f.notices.push(format!(
            "{file}: included in a loop or too deep, not read again"
        ));
        return;
    }
    seen.push(file.to_string());
    let Some(text) = f.text(file) else { return };
    // A RainerScript statement being gathered over lines: (start, text).
    let mut pending: Option<(u32, String)> = None;
    for (n, line) in text.lines().enumerate() {
        let n = n as u32 + 1;
        let t = line.trim();
        if let Some((start, mut acc)) = pending.take() {
            acc.push(' ');
            acc.push_str(t);
            if balanced(&acc) {
                statement(f, file, start, &acc, depth, seen, out);
            } else {
                pending = Some((start, acc));
            }
            continue;
        }
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if let Some(pattern) = t.strip_prefix("$IncludeConfig") {
            for inc in f.glob(pattern.trim()) {
                read(f, &inc, depth + 1, seen, out);
            }
        } else if t.starts_with('$') {
            continue;
        } else if t.contains('(') && !balanced(t) {
            pending = Some((n, t.to_string()));
        } else {
            statement(f, file, n, t, depth, seen, out);
        }
    }
}

fn balanced(s: &str) -> bool {
    s.matches('(').count() <= s.matches(')').count()
}

fn statement(
    f: &mut HostFiles,
    file: &str,
    line: u32,
    t: &str,
    depth: usize,
    seen: &mut Vec<String>,
    out: &mut Vec<LogRule>,
) {
    if t.starts_with("include(") {
        if let Some(pattern) = param(t, "file") {
            for inc in f.glob(&pattern) {
                read(f, &inc, depth + 1, seen, out);
            }
        }
        return;
    }
    if [
        "module(",
        "input(",
        "global(",
        "template(",
        "main_queue(",
        "ruleset(",
        "lookup_table(",
    ]
    .iter()
    .any(|p| t.starts_with(p))
    {
        return;
    }
    if out.len() >= MAX_ENTRIES {
        return;
    }
    let rule = |selector: &str, kind: &str, target: String, transport: &str| LogRule {
        daemon: "rsyslog".into(),
        file: file.into(),
        line,
        selector: selector.trim().to_string(),
        kind: kind.into(),
        target,
        transport: transport.into(),
        ..Default::default()
    };
    if let Some(at) = t.find("action(") {
        let selector = t[..at]
            .trim()
            .trim_start_matches("if")
            .trim_end_matches("then")
            .trim();
        let body = &t[at..];
        let kind = param(body, "type").unwrap_or_default().to_ascii_lowercase();
        out.push(match kind.as_str() {
            "omfile" => rule(
                selector,
                "file",
                param(body, "file").unwrap_or_default(),
                "",
            ),
            "omfwd" | "omrelp" => {
                let mut target = param(body, "target").unwrap_or_default();
                if let Some(port) = param(body, "port") {
                    target = format!("{target}:{port}");
                }
                let transport = if kind == "omrelp" {
                    "relp".to_string()
                } else {
                    param(body, "protocol")
                        .unwrap_or_else(|| "udp".into())
                        .to_ascii_lowercase()
                };
                rule(selector, "remote", target, &transport)
            }
            other => rule(selector, "other", other.to_string(), ""),
        });
        return;
    }
    // Legacy: the selector, white space, the action.
    let Some((selector, action)) = t.split_once(char::is_whitespace) else {
        return;
    };
    if !selector.contains('.') {
        return;
    }
    let action = action.trim();
    let (facilities, excluded) = facilities(selector);
    let mut r = if let Some(host) = action.strip_prefix("@@") {
        rule(selector, "remote", remote_target(host), "tcp")
    } else if let Some(host) = action.strip_prefix('@') {
        rule(selector, "remote", remote_target(host), "udp")
    } else if let Some(path) = action.trim_start_matches('-').strip_prefix('/') {
        let path = path.split(';').next().unwrap_or_default();
        rule(selector, "file", format!("/{path}"), "")
    } else {
        rule(selector, "other", action.to_string(), "")
    };
    r.facilities = facilities;
    r.excluded = excluded;
    out.push(r);
}

/// A legacy selector's facilities: those recorded at some priority, and
/// those `.none` leaves out ("*.*;auth,authpriv.none" → [*], [auth, authpriv]).
fn facilities(selector: &str) -> (Vec<String>, Vec<String>) {
    let (mut recorded, mut excluded) = (Vec::new(), Vec::new());
    for part in selector.split(';') {
        let Some((names, priority)) = part.split_once('.') else {
            continue;
        };
        let into = if priority.trim() == "none" {
            &mut excluded
        } else {
            &mut recorded
        };
        for n in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if !into.iter().any(|x| x == n) {
                into.push(n.to_string());
            }
        }
    }
    (recorded, excluded)
}

/// `(o)host:port;Template` → `host:port`.
fn remote_target(s: &str) -> String {
    let s = match s.strip_prefix('(') {
        Some(rest) => rest.split_once(')').map_or(rest, |(_, r)| r),
        None => s,
    };
    s.split(';').next().unwrap_or_default().trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_and_rainerscript_rules() {
        let root = tempfile::tempdir().unwrap();
        let etc = root.path().join("etc");
        std::fs::create_dir_all(etc.join("rsyslog.d")).unwrap();
        std::fs::write(
            etc.join("rsyslog.conf"),
            "module(load=\"imuxsock\")\n$FileOwner root\nauth,authpriv.*\t\t\t/var/log/auth.log\n*.*;auth,authpriv.none\t\t-/var/log/syslog\n*.emerg\t:omusrmsg:*\n$IncludeConfig /etc/rsyslog.d/*.conf\n",
        )
        .unwrap();
        std::fs::write(
            etc.join("rsyslog.d/50-remote.conf"),
            "*.* @@(o)logs.example:6514\nif $programname == 'app' then action(type=\"omfwd\"\n  target=\"10.0.0.9\" port=\"514\" protocol=\"tcp\")\n",
        )
        .unwrap();
        let mut f = HostFiles::new(root.path());
        let rules = rules(&mut f).unwrap();
        assert!(f.notices.is_empty(), "{:?}", f.notices);
        let got: Vec<(&str, &str, &str, &str, u32)> = rules
            .iter()
            .map(|r| {
                (
                    r.selector.as_str(),
                    r.kind.as_str(),
                    r.target.as_str(),
                    r.transport.as_str(),
                    r.line,
                )
            })
            .collect();
        assert_eq!(rules[1].facilities, ["*"]);
        assert_eq!(rules[1].excluded, ["auth", "authpriv"]);
        assert_eq!(rules[0].facilities, ["auth", "authpriv"]);
        assert_eq!(
            got,
            [
                ("auth,authpriv.*", "file", "/var/log/auth.log", "", 3),
                ("*.*;auth,authpriv.none", "file", "/var/log/syslog", "", 4),
                ("*.emerg", "other", ":omusrmsg:*", "", 5),
                ("*.*", "remote", "logs.example:6514", "tcp", 1),
                ("$programname == 'app'", "remote", "10.0.0.9:514", "tcp", 2),
            ]
        );
    }
}

//! syslog-ng's configuration (`@include`s followed): each destination a
//! `log { }` path uses, as a rule whose selector is the path's filters:
//! `file("...")` a file, `network`/`syslog`/`tcp`/`udp`(6) a remote target.

use super::super::config_files::{tokens, HostFiles, Token, MAX_DEPTH, MAX_ENTRIES};
use gamsa_proto::v1::LogRule;
use std::collections::HashMap;

pub const MAIN: &str = "/etc/syslog-ng/syslog-ng.conf";

const REMOTE: &[&str] = &["network", "syslog", "tcp", "udp", "tcp6", "udp6"];

/// A destination driver: (kind, target, transport, file, line).
type Driver = (String, String, String, String, u32);

pub fn rules(f: &mut HostFiles) -> Option<Vec<LogRule>> {
    if !f.exists(MAIN) {
        return None;
    }
    let mut destinations: HashMap<String, Vec<Driver>> = HashMap::new();
    let mut paths: Vec<(Vec<String>, Vec<String>)> = Vec::new();
    let mut seen = Vec::new();
    read(f, MAIN, 0, &mut seen, &mut destinations, &mut paths);
    let mut out = Vec::new();
    for (filters, dests) in paths {
        for d in dests {
            for (kind, target, transport, file, line) in destinations.get(&d).into_iter().flatten()
            {
                if out.len() < MAX_ENTRIES {
                    out.push(LogRule {
                        daemon: "syslog-ng".into(),
                        file: file.clone(),
                        line: *line,
                        selector: filters.join(","),
                        kind: kind.clone(),
                        target: target.clone(),
                        transport: transport.clone(),
                        // Filters are named, not evaluated: only a path
                        // without one is known to record everything.
                        facilities: if filters.is_empty() {
                            vec!["*".into()]
                        } else {
                            vec![]
                        },
                        excluded: vec![],
                    });
                }
            }
        }
    }
    Some(out)
}

fn read(
    f: &mut HostFiles,
    file: &str,
    depth: usize,
    seen: &mut Vec<String>,
    destinations: &mut HashMap<String, Vec<Driver>>,
    paths: &mut Vec<(Vec<String>, Vec<String>)>,
) {
    if depth > MAX_DEPTH || seen.iter().any(|x| x == file) {
        f.notices.push(format!(
            "{file}: included in a loop or too deep, not read again"
        ));
        return;
    }
    seen.push(file.to_string());
    let Some(text) = f.text(file) else { return };
    // `@include "x"` is a line of its own; `@version` too.
    for line in text.lines() {
        if let Some(target) = line.trim().strip_prefix("@include") {
            let target = target.trim().trim_matches('"');
            let pattern = if target.starts_with('/') {
                target.to_string()
            } else {
                format!("/etc/syslog-ng/{target}")
            };
            for inc in f.glob(&pattern) {
                read(f, &inc, depth + 1, seen, destinations, paths);
            }
        }
    }
    let text: String = text
        .lines()
        .map(|l| {
            if l.trim_start().starts_with('@') {
                ""
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let t = tokens(&text);
    let mut i = 0;
    while i < t.len() {
        let (word, next) = (t[i].text.as_str(), t.get(i + 1));
        if word == "destination" && next.is_some_and(|n| n.text != "(") {
            let name = next.map(|n| n.text.clone()).unwrap_or_default();
            let end = block_end(&t, i + 2);
            let drivers = drivers(&t[i + 2..end], file);
            destinations.entry(name).or_default().extend(drivers);
            i = end;
        } else if word == "log" && next.is_some_and(|n| n.text == "{") {
            let end = block_end(&t, i + 1);
            let body = &t[i + 1..end];
            let refs = |kind: &str| -> Vec<String> {
                body.windows(3)
                    .filter(|w| w[0].text == kind && w[1].text == "(")
                    .map(|w| w[2].text.clone())
                    .collect()
            };
            paths.push((refs("filter"), refs("destination")));
            i = end;
        } else {
            i += 1;
        }
    }
}

/// The index after the block that opens at or after `from`.
fn block_end(t: &[Token], from: usize) -> usize {
    let mut depth = 0;
    for (j, x) in t.iter().enumerate().skip(from) {
        if x.quoted {
            continue;
        }
        match x.text.as_str() {
            "{" => depth += 1,
            "}" => {
                depth -= 1;
                if depth <= 0 {
                    return j + 1;
                }
            }
            _ => {}
        }
    }
    t.len()
}

/// The drivers of a destination block: `driver("target" options...)`.
fn drivers(body: &[Token], file: &str) -> Vec<Driver> {
    let mut out = Vec::new();
    let mut depth = 0;
    for (j, x) in body.iter().enumerate() {
        match x.text.as_str() {
            "(" if !x.quoted => depth += 1,
            ")" if !x.quoted => depth -= 1,
            name if depth == 0 && !x.quoted && body.get(j + 1).is_some_and(|n| n.text == "(") => {
                let target = body
                    .get(j + 2)
                    .filter(|a| a.quoted)
                    .map(|a| a.text.clone())
                    .unwrap_or_default();
                let (kind, transport) = if name == "file" {
                    ("file", String::new())
                } else if REMOTE.contains(&name) {
                    // `transport("tcp")` inside the driver, else its name.
                    let inner = body[j..]
                        .windows(3)
                        .find(|w| w[0].text == "transport" && w[1].text == "(")
                        .map(|w| w[2].text.clone());
                    let default = match name {
                        "tcp" | "tcp6" | "syslog" => "tcp",
                        _ => "udp",
                    };
                    ("remote", inner.unwrap_or_else(|| default.into()))
                } else {
                    ("other", String::new())
                };
                let target = if kind == "other" {
                    name.to_string()
                } else {
                    target
                };
                out.push((kind.into(), target, transport, file.into(), x.line));
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_used_by_log_paths() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("etc/syslog-ng");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("syslog-ng.conf"),
            "@version: 4.3\n@include \"scl.conf\"\nsource s_src { system(); internal(); };\nfilter f_auth { facility(auth, authpriv); };\ndestination d_auth { file(\"/var/log/auth.log\" owner(\"root\")); };\ndestination d_net { network(\"logs.example\" port(6514) transport(\"tls\")); };\ndestination d_unused { file(\"/var/log/unused\"); };\nlog { source(s_src); filter(f_auth); destination(d_auth); };\nlog { source(s_src); destination(d_net); };\n",
        )
        .unwrap();
        let mut f = HostFiles::new(root.path());
        let rules = rules(&mut f).unwrap();
        let got: Vec<(&str, &str, &str, &str)> = rules
            .iter()
            .map(|r| {
                (
                    r.selector.as_str(),
                    r.kind.as_str(),
                    r.target.as_str(),
                    r.transport.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("f_auth", "file", "/var/log/auth.log", ""),
                ("", "remote", "logs.example", "tls")
            ]
        );
    }
}

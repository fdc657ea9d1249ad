//! BIND's `named.conf` (with its `include`s): each `allow-transfer` and
//! `allow-update` statement, where it applies (`options`, a zone, a view)
//! and its address match list as written.

use super::super::config_files::{tokens, HostFiles, Token, MAX_DEPTH, MAX_ENTRIES};
use gamsa_proto::v1::{DnsAcl, DnsServer};

const STATEMENTS: &[&str] = &["allow-transfer", "allow-update"];

pub fn server(f: &mut HostFiles) -> DnsServer {
    let Some(config) = ["/etc/bind/named.conf", "/etc/named.conf"]
        .into_iter()
        .find(|c| f.exists(c))
    else {
        return DnsServer::default();
    };
    let mut d = DnsServer {
        present: true,
        ..Default::default()
    };
    read(f, &mut d, config, 0);
    d
}

fn read(f: &mut HostFiles, d: &mut DnsServer, file: &str, depth: usize) {
    if depth > MAX_DEPTH || d.files.iter().any(|x| x == file) {
        f.notices.push(format!(
            "{file}: included in a loop or too deep, not read again"
        ));
        return;
    }
    let Some(text) = f.text(file) else { return };
    d.files.push(file.to_string());
    let t = tokens(&text);
    // The enclosing blocks: "options", "zone <name>", "view <name>", or "".
    let mut scopes: Vec<String> = Vec::new();
    let mut i = 0;
    while i < t.len() {
        let word = t[i].text.as_str();
        if t[i].quoted {
            i += 1;
            continue;
        }
        match word {
            "include" => {
                if let Some(target) = t.get(i + 1).filter(|x| x.quoted) {
                    let target = target.text.clone();
                    read(f, d, &target, depth + 1);
                }
                i += 2;
            }
            "{" => {
                scopes.push(scope_of(&t, i));
                i += 1;
            }
            "}" => {
                scopes.pop();
                i += 1;
            }
            w if STATEMENTS.contains(&w) && t.get(i + 1).is_some_and(|x| x.text == "{") => {
                let (elements, end) = list(&t, i + 2);
                if d.acls.len() < MAX_ENTRIES {
                    d.acls.push(DnsAcl {
                        statement: w.to_string(),
                        scope: scopes
                            .iter()
                            .rev()
                            .find(|s| !s.is_empty())
                            .cloned()
                            .unwrap_or_default(),
                        elements,
                        file: file.to_string(),
                        line: t[i].line,
                    });
                }
                i = end;
            }
            _ => i += 1,
        }
    }
}

/// What the block opened at `t[open]` is: the statement before it.
fn scope_of(t: &[Token], open: usize) -> String {
    let start = t[..open]
        .iter()
        .rposition(|x| !x.quoted && [";", "{", "}"].contains(&x.text.as_str()))
        .map_or(0, |p| p + 1);
    let head = &t[start..open];
    match head.first().map(|x| x.text.as_str()) {
        Some("options") => "options".into(),
        Some(kind @ ("zone" | "view")) => {
            format!("{kind} {}", head.get(1).map_or("", |x| x.text.as_str()))
        }
        _ => String::new(),
    }
}

/// The elements of an address match list from `t[from]` to its closing
/// brace (nested lists flattened); and the index after it.
fn list(t: &[Token], from: usize) -> (Vec<String>, usize) {
    let mut depth = 1;
    let mut out = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    let mut i = from;
    while i < t.len() && depth > 0 {
        match t[i].text.as_str() {
            "{" if !t[i].quoted => depth += 1,
            "}" if !t[i].quoted => depth -= 1,
            ";" if !t[i].quoted => {
                if !current.is_empty() {
                    out.push(current.join(" "));
                    current.clear();
                }
            }
            w => current.push(w),
        }
        i += 1;
    }
    if !current.is_empty() {
        out.push(current.join(" "));
    }
    (out, i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acls_with_their_scope() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc/bind")).unwrap();
        std::fs::write(
            root.path().join("etc/bind/named.conf"),
            "options {\n directory \"/var/cache/bind\";\n allow-transfer { 10.0.0.2; key \"xfer\"; };\n};\ninclude \"/etc/bind/zones.conf\";\n",
        )
        .unwrap();
        std::fs::write(
            root.path().join("etc/bind/zones.conf"),
            "zone \"example.kr\" IN {\n type master;\n file \"db\";\n allow-update { any; };\n allow-transfer { !10.0.0.9; any; };\n};\n",
        )
        .unwrap();
        let mut f = HostFiles::new(root.path());
        let d = server(&mut f);
        assert!(f.notices.is_empty(), "{:?}", f.notices);
        let got: Vec<(&str, &str, Vec<String>, u32)> = d
            .acls
            .iter()
            .map(|a| {
                (
                    a.statement.as_str(),
                    a.scope.as_str(),
                    a.elements.clone(),
                    a.line,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "allow-transfer",
                    "options",
                    vec!["10.0.0.2".into(), "key xfer".into()],
                    3
                ),
                ("allow-update", "zone example.kr", vec!["any".into()], 4),
                (
                    "allow-transfer",
                    "zone example.kr",
                    vec!["!10.0.0.9".into(), "any".into()],
                    5
                ),
            ]
        );
        assert_eq!(d.files, ["/etc/bind/named.conf", "/etc/bind/zones.conf"]);
    }
}

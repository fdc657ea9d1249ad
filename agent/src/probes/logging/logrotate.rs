//! logrotate's configuration: `/etc/logrotate.conf` and what it includes,
//! its global defaults and each block's log patterns with the period,
//! `rotate` and `maxage` that apply to them, so that each log's retention
//! can be counted: rotate × period days, capped by maxage.

use super::super::config_files::{HostFiles, MAX_DEPTH, MAX_ENTRIES};
use std::collections::BTreeMap;

const MAIN: &str = "/etc/logrotate.conf";
/// Names logrotate leaves out of an included directory (its default
/// `tabooext`, and backups).
const TABOO: &[&str] = &[
    ".rpmsave",
    ".rpmorig",
    ".rpmnew",
    ".dpkg-old",
    ".dpkg-dist",
    ".dpkg-new",
    ".ucf-old",
    ".ucf-dist",
    ".ucf-new",
    ".cfsaved",
    ".disabled",
    ".swp",
    "~",
];

/// The directives that decide how long rotated logs are kept.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    /// "daily", "weekly", "monthly", "yearly", "hourly"; "" = none set.
    pub period: String,
    pub rotate: Option<i64>,
    pub maxage: Option<i64>,
    /// Rotated by size only (`size`), whatever the period.
    pub by_size: bool,
}

impl Policy {
    fn apply(&mut self, directive: &str, arg: Option<&str>) {
        match directive {
            "daily" | "weekly" | "monthly" | "yearly" | "hourly" => {
                self.period = directive.into();
                self.by_size = false;
            }
            "rotate" => self.rotate = arg.and_then(|a| a.parse().ok()),
            "maxage" => self.maxage = arg.and_then(|a| a.parse().ok()),
            "size" => self.by_size = true,
            _ => {}
        }
    }

    /// Days rotated copies are kept; -2 when rotated by size only.
    pub fn retention_days(&self) -> i64 {
        if self.by_size {
            return -2;
        }
        let period = match self.period.as_str() {
            "hourly" => 0,
            "daily" => 1,
            "monthly" => 30,
            "yearly" => 365,
            "weekly" => 7,
            // Without a period logrotate rotates on every run (daily cron).
            _ => 1,
        };
        // logrotate's default rotate count is 0: old copies are removed.
        let days = self.rotate.unwrap_or(0).max(0) * period;
        match self.maxage {
            Some(m) if m >= 0 => days.min(m),
            _ => days,
        }
    }

    /// "weekly rotate 4 maxage 365".
    pub fn describe(&self) -> String {
        let mut parts = vec![];
        if self.by_size {
            parts.push("size".to_string());
        } else if !self.period.is_empty() {
            parts.push(self.period.clone());
        }
        parts.push(format!("rotate {}", self.rotate.unwrap_or(0)));
        if let Some(m) = self.maxage {
            parts.push(format!("maxage {m}"));
        }
        parts.join(" ")
    }
}

/// One block: its log patterns and policy, with where it is written.
#[derive(Debug, Clone)]
pub struct Entry {
    pub patterns: Vec<String>,
    pub policy: Policy,
    pub file: String,
    pub line: u32,
}

/// The global defaults as written in logrotate.conf, and every block.
pub fn read(f: &mut HostFiles) -> (BTreeMap<String, String>, Vec<Entry>) {
    let mut defaults = Policy::default();
    let mut written = BTreeMap::new();
    let mut entries = Vec::new();
    let mut seen = Vec::new();
    file(
        f,
        MAIN,
        0,
        &mut seen,
        &mut defaults,
        &mut written,
        &mut entries,
    );
    (written, entries)
}

fn file(
    f: &mut HostFiles,
    path: &str,
    depth: usize,
    seen: &mut Vec<String>,
    defaults: &mut Policy,
    written: &mut BTreeMap<String, String>,
    entries: &mut Vec<Entry>,
) {
    if depth > MAX_DEPTH || seen.iter().any(|x| x == path) {
        f.notices.push(format!(
            "{path}: included in a loop or too deep, not read again"
        ));
        return;
    }
    seen.push(path.to_string());
    let Some(text) = f.text(path) else { return };
    let mut block: Option<Entry> = None;
    let mut patterns: Vec<String> = Vec::new();
    let mut start = 0;
    let mut in_script = false;
    for (n, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = t.split_whitespace().collect();
        if in_script {
            in_script = words[0] != "endscript";
            continue;
        }
        if let Some(b) = block.as_mut() {
            if t == "}" {
                let done = block.take();
                if entries.len() < MAX_ENTRIES {
                    entries.extend(done);
                }
            } else if [
                "postrotate",
                "prerotate",
                "firstaction",
                "lastaction",
                "preremove",
            ]
            .contains(&words[0])
            {
                in_script = true;
            } else {
                b.policy.apply(words[0], words.get(1).copied());
            }
            continue;
        }
        if let Some(head) = t.strip_suffix('{') {
            if patterns.is_empty() {
                start = n as u32 + 1;
            }
            patterns.extend(split_patterns(head));
            block = Some(Entry {
                patterns: std::mem::take(&mut patterns),
                policy: defaults.clone(),
                file: path.to_string(),
                line: start,
            });
            continue;
        }
        if t.starts_with('/') || t.starts_with('"') {
            // Patterns of a block whose brace is on a later line.
            if patterns.is_empty() {
                start = n as u32 + 1;
            }
            patterns.extend(split_patterns(t));
            continue;
        }
        if words[0] == "include" {
            if let Some(target) = words.get(1) {
                let target = target.trim_matches('"');
                let local = f.local(target);
                if local.is_dir() {
                    for inc in f.list(target, |n| !TABOO.iter().any(|x| n.ends_with(x))) {
                        file(f, &inc, depth + 1, seen, defaults, written, entries);
                    }
                } else {
                    file(f, target, depth + 1, seen, defaults, written, entries);
                }
            }
            continue;
        }
        defaults.apply(words[0], words.get(1).copied());
        if depth == 0 {
            written.insert(
                words[0].to_string(),
                words.get(1).map_or(String::new(), |s| s.to_string()),
            );
        }
    }
    if block.is_some() {
        f.notices.push(format!(
            "{path}: a block is not closed, its settings not used"
        ));
    }
}

fn split_patterns(head: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = head.trim();
    while !rest.is_empty() {
        if let Some(q) = rest.strip_prefix('"') {
            let (p, r) = q.split_once('"').unwrap_or((q, ""));
            out.push(p.to_string());
            rest = r.trim_start();
        } else {
            let (p, r) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            out.push(p.to_string());
            rest = r.trim_start();
        }
    }
    out
}

/// The first block whose pattern matches `log`, with its policy.
pub fn find<'e>(entries: &'e [Entry], log: &str) -> Option<&'e Entry> {
    entries.iter().find(|e| {
        e.patterns
            .iter()
            .any(|p| p == log || glob::Pattern::new(p).is_ok_and(|g| g.matches(log)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_inherit_defaults_and_count_days() {
        let root = tempfile::tempdir().unwrap();
        let etc = root.path().join("etc");
        std::fs::create_dir_all(etc.join("logrotate.d")).unwrap();
        std::fs::write(
            etc.join("logrotate.conf"),
            "weekly\nrotate 4\ncreate\ninclude /etc/logrotate.d\n/var/log/wtmp {\n missingok\n monthly\n rotate 1\n}\n",
        )
        .unwrap();
        std::fs::write(
            etc.join("logrotate.d/rsyslog"),
            "/var/log/syslog\n/var/log/auth.log\n{\n\trotate 53\n\tpostrotate\n\t\trotate 1\n\tendscript\n}\n\"/var/log/app/*.log\" {\n daily\n rotate 400\n maxage 365\n}\n",
        )
        .unwrap();
        std::fs::write(
            etc.join("logrotate.d/old.dpkg-old"),
            "/var/log/syslog {\n rotate 1\n}\n",
        )
        .unwrap();
        let mut f = HostFiles::new(root.path());
        let (written, entries) = read(&mut f);
        assert!(f.notices.is_empty(), "{:?}", f.notices);
        assert_eq!(written["rotate"], "4");
        let syslog = find(&entries, "/var/log/syslog").unwrap();
        assert_eq!(
            (syslog.file.as_str(), syslog.line),
            ("/etc/logrotate.d/rsyslog", 1)
        );
        assert_eq!(syslog.policy.retention_days(), 53 * 7);
        assert_eq!(
            find(&entries, "/var/log/app/x.log")
                .unwrap()
                .policy
                .retention_days(),
            365
        );
        assert_eq!(
            find(&entries, "/var/log/wtmp")
                .unwrap()
                .policy
                .retention_days(),
            30
        );
        assert!(find(&entries, "/var/log/other").is_none());
    }
}

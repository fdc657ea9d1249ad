//! journald's settings: `journald.conf` then its drop-ins (vendor's, then
//! the administrator's; a later file wins), `[Journal]` section only, and
//! what `Storage=auto` means on this host.

use super::super::config_files::HostFiles;
use gamsa_proto::v1::Journald;

const MAIN: &str = "/etc/systemd/journald.conf";
const BINARIES: &[&str] = &[
    "/usr/lib/systemd/systemd-journald",
    "/lib/systemd/systemd-journald",
];

pub fn settings(f: &mut HostFiles) -> Journald {
    let mut files = vec![MAIN.to_string()];
    for dir in [
        "/usr/lib/systemd/journald.conf.d",
        "/etc/systemd/journald.conf.d",
    ] {
        files.extend(f.list(dir, |n| n.ends_with(".conf")));
    }
    let mut j = Journald {
        present: BINARIES.iter().any(|b| f.exists(b)) || files.iter().any(|x| f.exists(x)),
        storage: "auto".into(),
        ..Default::default()
    };
    for file in files {
        let Some(text) = f.text(&file) else { continue };
        let mut in_journal = false;
        for line in text.lines() {
            let t = line.trim();
            if t.starts_with('[') {
                in_journal = t == "[Journal]";
                continue;
            }
            if !in_journal || t.starts_with('#') || t.starts_with(';') {
                continue;
            }
            let Some((k, v)) = t.split_once('=') else {
                continue;
            };
            let v = v.trim();
            match k.trim() {
                "Storage" => j.storage = v.to_ascii_lowercase(),
                "MaxRetentionSec" => j.max_retention_seconds = seconds(v).unwrap_or(-1),
                "MaxFileSec" => j.max_file_seconds = seconds(v).unwrap_or(-1),
                "SystemMaxUse" => j.system_max_use = v.to_string(),
                "ForwardToSyslog" => j.forward_to_syslog = v.to_string(),
                _ => {}
            }
        }
    }
    j.effective_storage = match j.storage.as_str() {
        "auto" if f.local("/var/log/journal").is_dir() => "persistent",
        "auto" => "volatile",
        other => other,
    }
    .to_string();
    j
}

/// A systemd time span ("1year", "6month 2w", "3600", "90d") in seconds;
/// `None` when it does not parse.
pub fn seconds(span: &str) -> Option<i64> {
    const UNITS: &[(&[&str], f64)] = &[
        (&["", "s", "sec", "second", "seconds"], 1.0),
        (&["m", "min", "minute", "minutes"], 60.0),
        (&["h", "hr", "hour", "hours"], 3600.0),
        (&["d", "day", "days"], 86400.0),
        (&["w", "week", "weeks"], 604_800.0),
        (&["M", "month", "months"], 2_629_800.0),
        (&["y", "year", "years"], 31_557_600.0),
    ];
    let mut total = 0.0;
    let mut rest = span.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..digits].parse().ok()?;
        rest = rest[digits..].trim_start();
        let unit_len = rest
            .find(|c: char| !c.is_alphabetic())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        let factor = UNITS.iter().find(|(names, _)| names.contains(&unit))?.1;
        total += number * factor;
        rest = rest[unit_len..].trim_start();
    }
    Some(total as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_spans() {
        assert_eq!(seconds("3600"), Some(3600));
        assert_eq!(seconds("1year"), Some(31_557_600));
        assert_eq!(seconds("1y 1d"), Some(31_557_600 + 86_400));
        assert_eq!(seconds("12month"), Some(31_557_600));
        assert_eq!(seconds("2 weeks"), Some(1_209_600));
        assert_eq!(seconds("1 fortnight"), None);
        assert_eq!(seconds(""), None);
    }
}

//! The OS release (os-release under the host root) and its end of support
//! from `lifecycles.toml`, the table shipped with gamsa: each date with the
//! vendor page it comes from, so an auditor can check it.

use gamsa_proto::v1::OsSupport;
use std::path::Path;
use std::sync::LazyLock;

/// The table, as shipped.
pub const LIFECYCLES_TOML: &str = include_str!("lifecycles.toml");

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    release: Vec<Release>,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    pub id: String,
    pub version: String,
    pub end_of_support: String,
    pub source: String,
}

/// The table parsed and checked: every date `YYYY-MM-DD`, every source set.
pub fn parse(text: &str) -> Result<Vec<Release>, String> {
    let table: Table = toml::from_str(text).map_err(|e| format!("lifecycles.toml: {e}"))?;
    for r in &table.release {
        if chrono::NaiveDate::parse_from_str(&r.end_of_support, "%Y-%m-%d").is_err() {
            return Err(format!(
                "lifecycles.toml: {} {}: end_of_support '{}' is not YYYY-MM-DD",
                r.id, r.version, r.end_of_support
            ));
        }
        if r.source.trim().is_empty() {
            return Err(format!(
                "lifecycles.toml: {} {}: no source",
                r.id, r.version
            ));
        }
    }
    Ok(table.release)
}

static TABLE: LazyLock<Vec<Release>> =
    LazyLock::new(|| parse(LIFECYCLES_TOML).expect("the shipped lifecycles.toml parses"));

/// `KEY=value` of an os-release text, quotes removed.
fn field(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='))
        .map(|v| v.trim().trim_matches(['"', '\'']).to_string())
        .unwrap_or_default()
}

/// The entry of `table` for os-release `id` and `version_id`: the longest
/// version equal to it or a prefix of it at a dot ("9" for "9.4").
pub fn lookup<'a>(table: &'a [Release], id: &str, version_id: &str) -> Option<&'a Release> {
    table
        .iter()
        .filter(|r| r.id == id)
        .filter(|r| {
            version_id == r.version
                || version_id
                    .strip_prefix(&r.version)
                    .is_some_and(|rest| rest.starts_with('.'))
        })
        .max_by_key(|r| r.version.len())
}

/// The host's OS release and its end of support; an error names the file
/// when os-release cannot be read.
pub fn os_support(root: &Path) -> Result<OsSupport, String> {
    let mut errors = Vec::new();
    let mut text = None;
    for p in ["/etc/os-release", "/usr/lib/os-release"] {
        match super::super::read_bounded(&root.join(p.trim_start_matches('/')), 64 * 1024) {
            Ok(t) => {
                text = Some(t);
                break;
            }
            Err(e) => errors.push(super::super::io_error(Path::new(p), &e)),
        }
    }
    let text = text.ok_or_else(|| errors.join("; "))?;
    let mut os = OsSupport {
        id: field(&text, "ID"),
        version_id: field(&text, "VERSION_ID"),
        pretty_name: field(&text, "PRETTY_NAME"),
        ..Default::default()
    };
    if let Some(r) = lookup(&TABLE, &os.id, &os.version_id) {
        os.release = format!("{} {}", r.id, r.version);
        os.end_of_support = r.end_of_support.clone();
        os.source = r.source.clone();
    }
    Ok(os)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_table_parses_and_matches_releases() {
        let t = parse(LIFECYCLES_TOML).unwrap();
        assert_eq!(lookup(&t, "rocky", "9.4").unwrap().version, "9");
        assert_eq!(lookup(&t, "sles", "15.5").unwrap().version, "15.5");
        assert_eq!(
            lookup(&t, "ubuntu", "22.04").unwrap().end_of_support,
            "2027-04-01"
        );
        assert!(lookup(&t, "debian", "1").is_none());
        assert!(lookup(&t, "debian", "").is_none());
        assert!(lookup(&t, "ubuntu", "22.10").is_none());
        let bad =
            "[[release]]\nid = \"x\"\nversion = \"1\"\nend_of_support = \"June\"\nsource = \"s\"\n";
        assert!(parse(bad)
            .unwrap_err()
            .contains("x 1: end_of_support 'June'"));
    }
}

//! Checklist catalogs: data files a compliance specialist reads and reviews
//! (`collector/catalogs/*.toml`, schema in its README), built into the
//! binary and extendable with more files from configured directories.
//!
//! Loading checks what a reviewer cannot see at a glance: ids repeat, a row
//! with neither or both of `rule` / `manual`, an unknown rule, a group naming
//! an item that does not exist. Every error names file, line and field.

use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

/// The catalogs shipped with gamsa.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("emr-s014.toml", include_str!("../catalogs/emr-s014.toml")),
    (
        "cloud-notice.toml",
        include_str!("../catalogs/cloud-notice.toml"),
    ),
    ("isms-p.toml", include_str!("../catalogs/isms-p.toml")),
    (
        "digital-service.toml",
        include_str!("../catalogs/digital-service.toml"),
    ),
    ("nia-ops.toml", include_str!("../catalogs/nia-ops.toml")),
];

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    pub catalog: CatalogInfo,
    #[serde(default)]
    pub groups: Vec<Group>,
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogInfo {
    pub id: String,
    pub title_ko: String,
    pub title_en: String,
    pub version: String,
    pub source: String,
    #[serde(with = "humantime_serde")]
    pub freshness: Duration,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    pub id: String,
    pub title_ko: String,
    pub title_en: String,
    #[serde(default)]
    pub forms: Vec<String>,
    pub items: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section_ko: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section_en: Option<String>,
    pub title_ko: String,
    pub title_en: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forms: Vec<String>,
    #[serde(default)]
    pub evidence_examples: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub criteria_ko: Vec<String>,
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub freshness: Option<Duration>,
    pub rows: Vec<Row>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Row {
    pub id: String,
    pub question_ko: String,
    pub question_en: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct CatalogError {
    pub file: String,
    pub message: String,
}

/// The line (1-based) of the first occurrence of `needle` in `text`.
fn line_of(text: &str, needle: &str) -> usize {
    text.find(needle)
        .map(|i| text[..i].matches('\n').count() + 1)
        .unwrap_or(0)
}

impl Catalog {
    /// Parses and checks one catalog file against the known rule names.
    pub fn parse(text: &str, file: &str, rules: &HashSet<String>) -> Result<Catalog, CatalogError> {
        let err = |message: String| CatalogError {
            file: file.to_string(),
            message,
        };
        let catalog: Catalog =
            toml::from_str(text).map_err(|e| err(crate::toml_error::toml_error(text, &e)))?;
        let mut ids = HashSet::new();
        for item in &catalog.items {
            let at = |field: &str| {
                format!(
                    "line {}: item {}: {field}",
                    line_of(text, &format!("id = \"{}\"", item.id)),
                    item.id
                )
            };
            if !ids.insert(item.id.clone()) {
                return Err(err(format!("{}: duplicate item id", at("id"))));
            }
            if item.rows.is_empty() {
                return Err(err(format!(
                    "{}: an item needs at least one row",
                    at("rows")
                )));
            }
            for row in &item.rows {
                let at = format!(
                    "line {}: row {}",
                    line_of(text, &format!("id = \"{}\"", row.id)),
                    row.id
                );
                if !ids.insert(row.id.clone()) {
                    return Err(err(format!("{at}: id: duplicate row id")));
                }
                match (&row.rule, &row.manual) {
                    (Some(rule), None) if !rules.contains(rule) => {
                        return Err(err(format!("{at}: rule: unknown rule {rule:?}")))
                    }
                    (Some(_), None) => {}
                    (None, Some(why)) if !why.trim().is_empty() => {}
                    (None, Some(_)) => {
                        return Err(err(format!("{at}: manual: the reason is empty")))
                    }
                    (Some(_), Some(_)) => {
                        return Err(err(format!(
                            "{at}: has both rule and manual; a row is one or the other"
                        )))
                    }
                    (None, None) => {
                        return Err(err(format!(
                        "{at}: needs either rule (automated) or manual (why no machine can answer)"
                    )))
                    }
                }
            }
        }
        for g in &catalog.groups {
            for id in &g.items {
                if !catalog.items.iter().any(|i| &i.id == id) {
                    return Err(err(format!(
                        "line {}: group {}: items: unknown item {id:?}",
                        line_of(text, &format!("id = \"{}\"", g.id)),
                        g.id
                    )));
                }
            }
        }
        Ok(catalog)
    }

    pub fn item(&self, id: &str) -> Option<&Item> {
        self.items.iter().find(|i| i.id == id)
    }

    pub fn group(&self, id: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.id == id)
    }
}

/// Loads the built-in catalogs and every `*.toml` in `extra_dirs`. A file
/// with the id of a built-in catalog replaces it.
pub fn load_all(
    extra_dirs: &[impl AsRef<Path>],
    rules: &HashSet<String>,
) -> Result<Vec<Catalog>, CatalogError> {
    let mut out: Vec<Catalog> = Vec::new();
    let mut add = |c: Catalog| {
        out.retain(|o| o.catalog.id != c.catalog.id);
        out.push(c);
    };
    for (name, text) in BUILT_IN {
        add(Catalog::parse(text, &format!("built-in {name}"), rules)?);
    }
    for dir in extra_dirs {
        let dir = dir.as_ref();
        let entries = std::fs::read_dir(dir).map_err(|e| CatalogError {
            file: dir.display().to_string(),
            message: e.to_string(),
        })?;
        let mut files: Vec<_> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        for f in files {
            let text = std::fs::read_to_string(&f).map_err(|e| CatalogError {
                file: f.display().to_string(),
                message: e.to_string(),
            })?;
            add(Catalog::parse(&text, &f.display().to_string(), rules)?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ids of the built-in rules, read from their file: catalogs are
    /// checked against rule names, never against the rules engine.
    fn rule_names() -> HashSet<String> {
        let rules: toml::Table = toml::from_str(include_str!("../rules/rules.toml")).unwrap();
        rules["rule"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn built_in_catalogs_pass_the_lint() {
        let all = load_all(&[] as &[&Path], &rule_names()).unwrap();
        let ids: Vec<&str> = all.iter().map(|c| c.catalog.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "emr-s014",
                "cloud-notice",
                "isms-p",
                "digital-service",
                "nia-ops"
            ]
        );
        let emr = &all[0];
        let two_a: Vec<&str> = emr
            .items
            .iter()
            .filter(|i| i.forms.iter().any(|f| f == "2A"))
            .map(|i| i.id.as_str())
            .collect();
        assert_eq!(two_a, ["2.1", "2.2", "3.1", "4.3"]);
        assert_eq!(emr.groups.len(), 5);
        assert_eq!(
            emr.item("4.3").unwrap().rows[0].rule.as_deref(),
            Some("domestic-location")
        );
    }

    #[test]
    fn lint_names_file_line_and_field() {
        let rules = rule_names();
        let text = BUILT_IN[0].1;
        let dup = text.replacen("id = \"1.2\"", "id = \"1.1\"", 1);
        let e = Catalog::parse(&dup, "emr.toml", &rules)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("emr.toml: line ") && e.contains("duplicate item id"),
            "{e}"
        );
        let unknown = text.replacen(
            "rule = \"domestic-location\"",
            "rule = \"domestic-locaton\"",
            1,
        );
        let e = Catalog::parse(&unknown, "emr.toml", &rules)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown rule \"domestic-locaton\""), "{e}");
        let neither = text.replacen("rule = \"domestic-location\"", "", 1);
        let e = Catalog::parse(&neither, "emr.toml", &rules)
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs either rule"), "{e}");
        let typo = text.replacen("title_en", "titel_en", 1);
        let e = Catalog::parse(&typo, "emr.toml", &rules)
            .unwrap_err()
            .to_string();
        assert!(e.contains("titel_en"), "{e}");
    }
}

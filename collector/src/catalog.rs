//! Checklist catalogs: data files a compliance specialist reads and reviews
//! (`collector/catalogs/*.toml`, schema in its README), built into the
//! binary and extendable with more files from configured directories.
//!
//! Loading checks what a reviewer cannot see at a glance: ids repeat, a row
//! with neither or both of `rule` / `manual`, an unknown rule, a group naming
//! an item that does not exist, an automated row that does not say how far
//! its evidence answers the question or why (a Y is a promise an auditor
//! signs on: the row must say what its evidence does not cover), a row that
//! claims a full answer from a rule whose evidence can only ever answer part.
//! Every error names file, line and field.

use crate::verdict::Answers;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
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
    ("kisa-unix.toml", include_str!("../catalogs/kisa-unix.toml")),
    ("tomcat.toml", include_str!("../catalogs/tomcat.toml")),
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
    /// The source's own weight of the item, where it gives one (the Unix
    /// vulnerability checks: 상, 중, 하).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub importance: Option<String>,
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
    /// Automated rows: how far the rule's evidence answers the question.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answers: Option<Answers>,
    /// Automated rows: why this evidence answers this question, and what it
    /// does not cover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rationale_ko: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rationale_en: Option<String>,
    /// Partial rows: the documents or procedures that complete the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completes_ko: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completes_en: Option<String>,
}

impl Row {
    /// How far the row's evidence answers it: a manual row's documents
    /// answer all of it.
    pub fn answers(&self) -> Answers {
        self.answers.unwrap_or_default()
    }
}

/// Rule ids and how far each rule's evidence can answer any question.
pub type RuleReach = BTreeMap<String, Answers>;

fn present(s: &Option<String>) -> bool {
    s.as_deref().is_some_and(|s| !s.trim().is_empty())
}

/// What is wrong with an automated row's `answers`, rationale and
/// completion, given how far its rule can answer.
fn automated_row_problem(row: &Row, rule: &str, reach: Answers) -> Option<String> {
    let Some(answers) = row.answers else {
        return Some(
            "answers: say how far the rule's evidence answers this question: \"full\" or \"partial\""
                .into(),
        );
    };
    if !present(&row.rationale_ko) || !present(&row.rationale_en) {
        return Some(
            "rationale_ko, rationale_en: say why this evidence answers this question and what it does not cover"
                .into(),
        );
    }
    let completes = present(&row.completes_ko) && present(&row.completes_en);
    match answers {
        Answers::Partial if !completes => Some(
            "completes_ko, completes_en: a partial row names the documents or procedures that complete it"
                .into(),
        ),
        Answers::Full if row.completes_ko.is_some() || row.completes_en.is_some() => Some(
            "completes_ko, completes_en: only a partial row is completed by documents".into(),
        ),
        Answers::Full if reach == Answers::Partial => Some(format!(
            "answers: rule {rule:?} can only answer part of a question; the row must be \"partial\""
        )),
        _ => None,
    }
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
    pub fn parse(text: &str, file: &str, rules: &RuleReach) -> Result<Catalog, CatalogError> {
        let err = |message: String| CatalogError {
            file: file.to_string(),
            message,
        };
        let catalog: Catalog =
            toml::from_str(text).map_err(|e| err(gamsa_proto::config::toml_error(text, &e)))?;
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
            if let Some(i) = item
                .importance
                .as_deref()
                .filter(|i| !["상", "중", "하"].contains(i))
            {
                return Err(err(format!(
                    "{}: {i:?}: one of 상, 중, 하",
                    at("importance")
                )));
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
                    (Some(rule), None) => match rules.get(rule) {
                        None => return Err(err(format!("{at}: rule: unknown rule {rule:?}"))),
                        Some(reach) => {
                            if let Some(problem) = automated_row_problem(row, rule, *reach) {
                                return Err(err(format!("{at}: {problem}")));
                            }
                        }
                    },
                    (None, Some(_))
                        if row.answers.is_some()
                            || row.rationale_ko.is_some()
                            || row.rationale_en.is_some()
                            || row.completes_ko.is_some()
                            || row.completes_en.is_some() =>
                    {
                        return Err(err(format!(
                            "{at}: answers, rationale and completes are for automated rows; a manual row says why in `manual`"
                        )))
                    }
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
    rules: &RuleReach,
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

    /// The built-in rules and how far each can answer, read from their
    /// file: catalogs are checked against rule data, never against the
    /// rules engine.
    fn rule_names() -> RuleReach {
        let rules: toml::Table = toml::from_str(include_str!("../rules/rules.toml")).unwrap();
        rules["rule"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let answers = match r.get("answers").and_then(|a| a.as_str()) {
                    Some("partial") => Answers::Partial,
                    _ => Answers::Full,
                };
                (r["id"].as_str().unwrap().to_string(), answers)
            })
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
                "nia-ops",
                "kisa-unix",
                "tomcat"
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

    #[test]
    fn automated_rows_say_how_far_they_answer_and_why() {
        let rules = rule_names();
        let text = BUILT_IN[0].1;
        let lint = |t: &str| {
            Catalog::parse(t, "emr.toml", &rules)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        // 4.3-1 (domestic-location) is partial; 5.1-1 names monitoring-alerting,
        // whose evidence can only ever answer part of a question.
        let row = |id: &str| {
            let at = text.find(&format!("id = \"{id}\"")).unwrap();
            at + text[at..].find("answers = ").unwrap()
        };
        let without = |id: &str, field: &str| {
            let at = row(id);
            let start = at + text[at..].find(field).unwrap();
            let end = start + text[start..].find('\n').unwrap();
            format!("{}{}", &text[..start], &text[end..])
        };
        let e = lint(&without("4.3-1", "answers = "));
        assert!(
            e.contains("row 4.3-1") && e.contains("answers: say how far"),
            "{e}"
        );
        let e = lint(&without("4.3-1", "rationale_ko = "));
        assert!(e.contains("row 4.3-1: rationale_ko, rationale_en"), "{e}");
        let e = lint(&without("4.3-1", "completes_en = "));
        assert!(e.contains("row 4.3-1: completes_ko, completes_en"), "{e}");

        let full = |id: &str| {
            let t = without(id, "completes_ko = ");
            let at = t.find(&format!("id = \"{id}\"")).unwrap();
            let at = at + t[at..].find("completes_en = ").unwrap();
            let end = at + t[at..].find('\n').unwrap();
            let t = format!("{}{}", &t[..at], &t[end..]);
            let at = t.find(&format!("id = \"{id}\"")).unwrap();
            format!(
                "{}{}",
                &t[..at],
                t[at..].replacen("answers = \"partial\"", "answers = \"full\"", 1)
            )
        };
        assert_eq!(lint(&full("4.3-1")), "", "a full row may stand on its rule");
        let e = lint(&full("5.1-1"));
        assert!(
            e.contains("row 5.1-1: answers: rule \"monitoring-alerting\" can only answer part"),
            "{e}"
        );
        let at = row("4.3-1");
        let stray = format!(
            "{}{}",
            &text[..at],
            text[at..].replacen("answers = \"partial\"", "answers = \"full\"", 1)
        );
        assert!(lint(&stray).contains("only a partial row is completed"));

        let manual = text.replacen(
            "  manual = \"A management plan is a document",
            "  rationale_en = \"x\"\n  manual = \"A management plan is a document",
            1,
        );
        let e = lint(&manual);
        assert!(
            e.contains("row 3.4-1") && e.contains("are for automated rows"),
            "{e}"
        );
    }

    /// The README's list of automated rows, from the built-in catalogs.
    fn automated_rows_section(catalogs: &[Catalog]) -> String {
        let mut out = String::from(
            "| row | rule | highest | why this evidence, and what it does not cover | completed by |\n|---|---|---|---|---|\n",
        );
        for c in catalogs {
            for item in &c.items {
                for row in item.rows.iter().filter(|r| r.rule.is_some()) {
                    let cell =
                        |s: &Option<String>| s.clone().unwrap_or_default().replace('|', "\\|");
                    out.push_str(&format!(
                        "| `{}/{}` | `{}` | {} | {} | {} |\n",
                        c.catalog.id,
                        row.id,
                        row.rule.as_deref().unwrap_or_default(),
                        row.answers().highest().as_str(),
                        cell(&row.rationale_en),
                        cell(&row.completes_en),
                    ));
                }
            }
        }
        out
    }

    #[test]
    fn catalog_readme_lists_every_automated_row() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/catalogs/README.md");
        let readme = std::fs::read_to_string(path).unwrap();
        let (begin, end) = (
            "<!-- automated rows: begin -->\n",
            "<!-- automated rows: end -->",
        );
        let (head, rest) = readme.split_once(begin).expect("begin marker");
        let (listed, tail) = rest.split_once(end).expect("end marker");
        let all = load_all(&[] as &[&Path], &rule_names()).unwrap();
        let wanted = automated_rows_section(&all);
        if std::env::var_os("GAMSA_UPDATE_README").is_some() {
            std::fs::write(path, format!("{head}{begin}{wanted}{end}{tail}")).unwrap();
        } else {
            assert_eq!(
                listed, wanted,
                "collector/catalogs/README.md lists other automated rows than the catalogs; \
                 rerun with GAMSA_UPDATE_README=1"
            );
        }
        let automated = all
            .iter()
            .flat_map(|c| &c.items)
            .flat_map(|i| &i.rows)
            .filter(|r| r.rule.is_some())
            .count();
        assert_eq!(wanted.lines().count(), automated + 2);
    }
}

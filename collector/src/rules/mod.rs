//! Rules: how evidence answers a checklist row, written in CEL so that a
//! reviewer can read them (`collector/rules/rules.toml`) and nobody has to
//! learn a home-made language.
//!
//! A `host` rule is evaluated once per host against `host` (that host's
//! latest fresh evidence, grouped by probe); a `fleet` rule once against
//! `hosts` (all of them) and `fleet` (precomputed cross-host facts), and its
//! `offender` once per host to name the hosts that make it fail. A `pass`
//! expression answers true, false, or null for "cannot tell" — which becomes
//! UNKNOWN, never a pass. A rule also says how old its evidence may be
//! (`freshness`), which hosts it is about (`expects`, see `expectations`),
//! and whether its evidence can ever answer a question in full (`answers`).

pub mod evaluate;
pub mod hostwise;
pub mod input;
pub(crate) mod parallel;
pub use parallel::{free_in_background, in_background};
pub mod value;

use crate::catalog::RuleReach;
use crate::verdict::Answers;
use gamsa_proto::probes::PROBES;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

pub const BUILT_IN: &str = include_str!("../../rules/rules.toml");

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Host,
    Fleet,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDef {
    pub id: String,
    pub title_en: String,
    pub title_ko: String,
    /// What to change on a failing host, shown beside every failure.
    #[serde(default)]
    pub remediation_en: String,
    #[serde(default)]
    pub remediation_ko: String,
    pub scope: Scope,
    /// Probes whose fresh evidence the rule needs; a host in scope without
    /// it is UNKNOWN.
    pub needs: Vec<String>,
    /// How old evidence may be for this rule, whatever the item says.
    #[serde(default, with = "humantime_serde")]
    pub freshness: Option<Duration>,
    /// Host rules: the expectation that says which hosts the rule is about.
    #[serde(default)]
    pub expects: Option<String>,
    /// The expected hosts without configuration ("label=value"; empty:
    /// every host).
    #[serde(default)]
    pub expected_hosts: Vec<String>,
    /// Whether the rule's evidence can ever answer a question in full.
    #[serde(default)]
    pub answers: Answers,
    /// Partial rules: why the evidence can never answer in full.
    #[serde(default)]
    pub limit_en: Option<String>,
    #[serde(default)]
    pub limit_ko: Option<String>,
    pub pass: String,
    #[serde(default)]
    pub detail: Option<String>,
    /// Fleet rules: true for a host that makes the rule fail (evaluated
    /// per host, with `host`).
    #[serde(default)]
    pub offender: Option<String>,
    /// One failing host makes the row N (a hard violation), not P.
    #[serde(default)]
    pub strict: bool,
    #[serde(default)]
    pub params: toml::Table,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    rule: Vec<RuleDef>,
}

/// A rule with its expressions compiled.
pub struct Rule {
    pub def: RuleDef,
    pub pass: cel_interpreter::Program,
    pub detail: Option<cel_interpreter::Program>,
    pub offender: Option<cel_interpreter::Program>,
    pub params: cel_interpreter::Value,
    /// Field names the rule's expressions select (what the input must keep).
    pub selects: HashSet<String>,
    /// Whether an expression reads the time: `now`, or an `observedAt`
    /// (which moves as evidence is seen again). A host rule that does not
    /// gives the same result for the same evidence, so the kept evaluation
    /// takes it from the previous one where a host's evidence is the same.
    /// Read from the source text, so that it errs towards judging again.
    pub reads_time: bool,
    /// Whether an expression names `observedAt`.
    pub reads_observed_at: bool,
    /// The fields of `host` the expressions select; None when one uses
    /// `host` otherwise. Two hosts equal in these fields (and in the
    /// evidence times, where the rule reads `observedAt`) get the same
    /// answer from the rule's expressions in one evaluation
    /// (`evaluate::Runs`).
    pub host: Option<BTreeSet<String>>,
}

#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct RuleError {
    pub file: String,
    pub message: String,
}

/// Names a rule may select besides evidence fields: the shape of the rule
/// input built in `input.rs`.
const INPUT_FIELDS: &[&str] = &[
    "name",
    "agentId",
    "labels",
    "role",
    "zone",
    "region",
    "regionCode",
    "country",
    "subject",
    "observedAt",
    "zonesByRole",
    "hostCount",
    "previous",
];

/// Every JSON field name in gamsa.v1, for checking what rules select.
fn evidence_fields() -> HashSet<String> {
    let mut names = HashSet::new();
    for m in gamsa_proto::descriptor_pool().all_messages() {
        for f in m.fields() {
            names.insert(f.json_name().to_string());
        }
    }
    names.extend(PROBES.iter().map(|p| p.name.to_string()));
    names.extend(INPUT_FIELDS.iter().map(|s| s.to_string()));
    names
}

/// Field names selected anywhere in `expr` (`a.b.c` → b, c).
/// The expressions directly under `expr`.
fn children(expr: &cel_parser::ast::IdedExpr) -> Vec<&cel_parser::ast::IdedExpr> {
    use cel_parser::ast::{EntryExpr, Expr, IdedEntryExpr, IdedExpr};
    fn entries(entries: &[IdedEntryExpr]) -> Vec<&IdedExpr> {
        entries
            .iter()
            .flat_map(|e| match &e.expr {
                EntryExpr::MapEntry(me) => vec![&me.key, &me.value],
                EntryExpr::StructField(f) => vec![&f.value],
            })
            .collect()
    }
    match &expr.expr {
        Expr::Select(s) => vec![&s.operand],
        Expr::Call(c) => c.target.iter().map(|t| &**t).chain(&c.args).collect(),
        Expr::Comprehension(c) => vec![
            &c.iter_range,
            &c.accu_init,
            &c.loop_cond,
            &c.loop_step,
            &c.result,
        ],
        Expr::List(l) => l.elements.iter().collect(),
        Expr::Map(m) => entries(&m.entries),
        Expr::Struct(s) => entries(&s.entries),
        Expr::Unspecified | Expr::Ident(_) | Expr::Literal(_) => vec![],
    }
}

fn selected_fields(expr: &cel_parser::ast::IdedExpr, out: &mut Vec<String>) {
    if let cel_parser::ast::Expr::Select(s) = &expr.expr {
        out.push(s.field.clone());
    }
    for c in children(expr) {
        selected_fields(c, out);
    }
}

/// The fields of `host` that `expr` selects (`host.services`, `host.name`)
/// into `out`; false when it uses `host` otherwise (whole, or passed to a
/// function), so that all of it may matter.
fn host_fields(expr: &cel_parser::ast::IdedExpr, out: &mut BTreeSet<String>) -> bool {
    use cel_parser::ast::Expr;
    match &expr.expr {
        Expr::Select(s) if matches!(&s.operand.expr, Expr::Ident(n) if n == "host") => {
            out.insert(s.field.clone());
            true
        }
        Expr::Ident(n) => n != "host",
        _ => children(expr).into_iter().all(|c| host_fields(c, out)),
    }
}

fn compile(
    rule: &RuleDef,
    field: &str,
    src: &str,
    known: &HashSet<String>,
    selects: &mut HashSet<String>,
    host: &mut Option<BTreeSet<String>>,
) -> Result<cel_interpreter::Program, String> {
    let program = cel_interpreter::Program::compile(src)
        .map_err(|e| format!("rule {}: {field}: {e}", rule.id))?;
    let ast = cel_parser::Parser::default()
        .parse(src)
        .map_err(|e| format!("rule {}: {field}: {e}", rule.id))?;
    let mut fields = Vec::new();
    selected_fields(&ast, &mut fields);
    if let Some(read) = host {
        if !host_fields(&ast, read) {
            *host = None;
        }
    }
    let params: HashSet<&str> = rule.params.keys().map(String::as_str).collect();
    for f in fields {
        if !known.contains(&f) && !params.contains(f.as_str()) {
            return Err(format!(
                "rule {}: {field}: unknown evidence field {f:?} (not in gamsa.v1 nor the rule input)",
                rule.id
            ));
        }
        selects.insert(f);
    }
    Ok(program)
}

/// Parses and compiles a rules file; errors name the rule and field.
pub fn parse(text: &str, file: &str) -> Result<Vec<Rule>, RuleError> {
    let err = |message: String| RuleError {
        file: file.to_string(),
        message,
    };
    let parsed: RulesFile =
        toml::from_str(text).map_err(|e| err(gamsa_proto::config::toml_error(text, &e)))?;
    let known = evidence_fields();
    let probes: HashSet<&str> = PROBES.iter().map(|p| p.name).collect();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for def in parsed.rule {
        if !seen.insert(def.id.clone()) {
            return Err(err(format!("rule {}: duplicate id", def.id)));
        }
        for p in &def.needs {
            if !probes.contains(p.as_str()) {
                return Err(err(format!("rule {}: needs: unknown probe {p:?}", def.id)));
            }
        }
        if def.scope == Scope::Fleet && def.offender.is_none() {
            return Err(err(format!(
                "rule {}: a fleet rule needs `offender`",
                def.id
            )));
        }
        if def.scope == Scope::Host && def.offender.is_some() {
            return Err(err(format!(
                "rule {}: `offender` is for fleet rules; a host rule's `pass` names its failing hosts",
                def.id
            )));
        }
        if let Some(problem) = expectation_problem(&def, &out) {
            return Err(err(format!("rule {}: {problem}", def.id)));
        }
        if def.remediation_en.trim().is_empty() || def.remediation_ko.trim().is_empty() {
            return Err(err(format!(
                "rule {}: remediation_en, remediation_ko: a rule says what to change on a failing host",
                def.id
            )));
        }
        let limit = |s: &Option<String>| s.as_deref().is_some_and(|s| !s.trim().is_empty());
        if def.answers == Answers::Partial && !(limit(&def.limit_en) && limit(&def.limit_ko)) {
            return Err(err(format!(
                "rule {}: limit_en, limit_ko: a partial rule says why its evidence can never answer in full",
                def.id
            )));
        }
        let (mut selects, mut host) = (HashSet::new(), Some(BTreeSet::new()));
        let mut c = |field: &str, src: Option<&str>| {
            src.map(|s| compile(&def, field, s, &known, &mut selects, &mut host))
                .transpose()
                .map_err(err)
        };
        let (detail, offender) = (
            c("detail", def.detail.as_deref())?,
            c("offender", def.offender.as_deref())?,
        );
        let pass =
            compile(&def, "pass", &def.pass, &known, &mut selects, &mut host).map_err(err)?;
        let programs = [Some(&pass), detail.as_ref(), offender.as_ref()];
        let sources = [Some(&def.pass), def.detail.as_ref(), def.offender.as_ref()];
        let reads_observed_at = sources.iter().flatten().any(|s| s.contains("observedAt"));
        let reads_time = reads_observed_at
            || programs
                .iter()
                .flatten()
                .any(|p| p.references().has_variable("now"));
        let rule = Rule {
            reads_time,
            reads_observed_at,
            host,
            pass,
            detail,
            offender,
            selects,
            params: cel_interpreter::to_value(&def.params)
                .map_err(|e| err(format!("rule {}: params: {e}", def.id)))?,
            def,
        };
        out.push(rule);
    }
    Ok(out)
}

/// What is wrong with a rule's `expects` / `expected_hosts`, given the rules
/// before it: an expectation is for host rules, its default hosts are
/// selectors, and rules naming one expectation agree on its default hosts.
fn expectation_problem(def: &RuleDef, earlier: &[Rule]) -> Option<String> {
    let Some(of) = &def.expects else {
        return (!def.expected_hosts.is_empty())
            .then(|| "expected_hosts: needs `expects`".to_string());
    };
    if def.scope == Scope::Fleet {
        return Some("expects: expectations are for host rules".into());
    }
    if let Some(s) = def.expected_hosts.iter().find(|s| !s.contains('=')) {
        return Some(format!(
            "expected_hosts: {s:?} is not a selector (\"label=value\")"
        ));
    }
    earlier
        .iter()
        .find(|r| r.def.expects.as_ref() == Some(of) && r.def.expected_hosts != def.expected_hosts)
        .map(|r| {
            format!(
                "expected_hosts: differs from rule {}, which expects {of:?} too",
                r.def.id
            )
        })
}

/// How far each rule's evidence can answer a question, by rule id (what
/// the catalog lint checks rows against).
pub fn reach(rules: &BTreeMap<String, std::sync::Arc<Rule>>) -> RuleReach {
    rules
        .iter()
        .map(|(id, r)| (id.clone(), r.def.answers))
        .collect()
}

/// Each expectation the rules name, with its default hosts.
pub fn expectation_defaults(
    rules: &BTreeMap<String, std::sync::Arc<Rule>>,
) -> BTreeMap<String, Vec<String>> {
    rules
        .values()
        .filter_map(|r| Some((r.def.expects.clone()?, r.def.expected_hosts.clone())))
        .collect()
}

/// The built-in rules, by id.
pub fn built_in() -> Result<BTreeMap<String, std::sync::Arc<Rule>>, RuleError> {
    Ok(parse(BUILT_IN, "built-in rules.toml")?
        .into_iter()
        .map(|r| (r.def.id.clone(), std::sync::Arc::new(r)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_reading_the_time_are_told_apart() {
        let rules = built_in().unwrap();
        // `now`, and `observedAt` with `now`; neither.
        assert!(rules["backup-fresh"].reads_time);
        assert!(rules["vulnerability-scan-half-yearly"].reads_time);
        assert!(!rules["domestic-location"].reads_time);
        assert!(!rules["kisa-u01-root-remote"].reads_time);
        // `observedAt` alone.
        let first = "!host.region.all(r, r.country == params.country) ? false";
        let text = BUILT_IN.replacen(
            first,
            &format!("host.region.exists(r, r.observedAt < '2020') ? null\n: {first}"),
            1,
        );
        assert_ne!(text, BUILT_IN);
        let rules = parse(&text, "r.toml").unwrap();
        let rule = rules.iter().find(|r| r.def.id == "domestic-location");
        assert!(rule.unwrap().reads_time);
    }

    #[test]
    fn built_in_rules_compile_and_typos_are_named() {
        let rules = built_in().unwrap();
        assert!(rules.contains_key("domestic-location"));
        let bad = BUILT_IN.replacen("activeUplinks", "activeUplinkz", 1);
        let e = parse(&bad, "r.toml")
            .err()
            .expect("typo must be refused")
            .to_string();
        assert!(
            e.contains("unknown evidence field \"activeUplinkz\""),
            "{e}"
        );
        let bad = BUILT_IN.replacen("needs = [\"redundancy\"]", "needs = [\"redundancyy\"]", 1);
        assert!(parse(&bad, "r.toml").is_err());
        let bad = BUILT_IN.replacen("limit_ko = ", "limit_kr = ", 1);
        assert!(parse(&bad, "r.toml").is_err());
        let bad = BUILT_IN.replacen("limit_ko = ", "# limit_ko = ", 1);
        let e = parse(&bad, "r.toml").err().expect("no limit").to_string();
        assert!(
            e.contains("rule router-redundancy: limit_en, limit_ko"),
            "{e}"
        );
        let bad = BUILT_IN.replacen(
            "expects = \"backup\"\npass",
            "expects = \"backup\"\nexpected_hosts = [\"role=db\"]\npass",
            1,
        );
        let e = parse(&bad, "r.toml")
            .err()
            .expect("disagreeing defaults")
            .to_string();
        assert!(e.contains("differs from rule backup-fresh"), "{e}");
        let bad = BUILT_IN.replacen("remediation_ko = ", "# remediation_ko = ", 1);
        let e = parse(&bad, "r.toml")
            .err()
            .expect("no remediation")
            .to_string();
        assert!(
            e.contains("rule network-redundancy-host: remediation_en, remediation_ko"),
            "{e}"
        );
        let rules = built_in().unwrap();
        assert!(rules
            .values()
            .all(|r| !r.def.remediation_en.is_empty() && !r.def.remediation_ko.is_empty()));
        assert_eq!(reach(&rules)["monitoring-agent"], Answers::Partial);
        assert_eq!(reach(&rules)["domestic-location"], Answers::Full);
        let defaults = expectation_defaults(&rules);
        assert_eq!(
            defaults.keys().collect::<Vec<_>>(),
            [
                "backup",
                "port_scan",
                "production",
                "router",
                "time_sync",
                "tls",
                "tomcat"
            ]
        );
        assert!(
            defaults["backup"].is_empty(),
            "every host keeps backups by default"
        );
    }
}

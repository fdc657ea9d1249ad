//! Expectations: which hosts must show a kind of evidence (backups, TLS
//! endpoints, time sync, router redundancy, port scans), by label, from the
//! collector configuration (`[[expectations]]`).
//!
//! Without them a rule could only skip a host that reports nothing, and one
//! host with one backup would make a whole fleet's backup rows Y. With them,
//! a host that should show the evidence and does not is UNKNOWN (or N), and
//! a host is outside a rule (NA) only because an expectation, with its
//! justification, says so. The safe default is that every host is expected,
//! unless the rule itself names the hosts it is about (routers by role).

use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

/// One `[[expectations]]` entry.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// What is expected: a name rules give in `expects` ("backup", "tls",
    /// "time_sync", "router", "port_scan").
    pub of: String,
    /// The hosts that must show it: "label=value" selectors (any one
    /// matching; "host=<name>" matches the host name). The others are
    /// outside the rules that expect it.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// No host shows it, and none has to (e.g. no router hosts: the cloud
    /// provider's virtual router routes).
    #[serde(default)]
    pub none: bool,
    /// Why the hosts left out need not show it; shown beside their NA.
    pub justification: String,
}

/// Which hosts are in a rule's scope, and why the others are not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The expectation's name.
    pub of: String,
    /// Selectors; empty: every host (unless `none`).
    pub hosts: Vec<String>,
    pub none: bool,
    /// From the configuration; None when the rule's own default applies.
    pub justification: Option<String>,
}

impl Scope {
    /// Whether the host named `name` with `labels` must show the evidence.
    pub fn includes(&self, name: &str, labels: &BTreeMap<String, String>) -> bool {
        if self.none {
            return false;
        }
        self.hosts.is_empty()
            || self.hosts.iter().any(|s| match s.split_once('=') {
                Some(("host", v)) => v == name,
                Some((k, v)) => labels.get(k).is_some_and(|l| l == v),
                None => false,
            })
    }

    /// Why a host outside the scope is NA.
    pub fn excluded(&self) -> String {
        let of = &self.of;
        match &self.justification {
            Some(j) => format!("not expected to show {of} evidence: {j}"),
            None => format!("outside {of} hosts ({})", self.hosts.join(", ")),
        }
    }

    /// The row's answer when no host is in scope: NA when the
    /// configuration says none is expected, else what to declare.
    pub fn empty(&self) -> Result<(String, String), (String, String)> {
        let of = &self.of;
        match (&self.justification, self.none) {
            (Some(j), true) => Ok((
                format!("no host is expected to show {of} evidence: {j}"),
                format!("{of} 증적 대상 호스트 없음: {j}"),
            )),
            _ => {
                let which = if self.hosts.is_empty() {
                    "no host reports".to_string()
                } else {
                    format!("no host matches {}", self.hosts.join(", "))
                };
                Err((
                    format!(
                        "{which}: label the hosts that have {of}, or declare in the collector \
                         configuration [[expectations]] of = \"{of}\" with hosts = [...] or \
                         none = true, and a justification"
                    ),
                    format!(
                        "대상 호스트 없음: {of} 대상 호스트에 레이블을 달거나 수집기 설정 \
                         [[expectations]] of = \"{of}\"에 hosts 또는 none = true와 사유를 선언해야 함"
                    ),
                ))
            }
        }
    }
}

/// Checks entries on their own: one per name, selectors of the form
/// "label=value", hosts or none (not both), a justification. Errors name
/// the entry (`expectations[1].hosts`).
pub fn check(entries: &[Expectation]) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    for (i, e) in entries.iter().enumerate() {
        let at = |field: &str| format!("expectations[{i}].{field}");
        if !seen.insert(e.of.as_str()) {
            return Err(format!(
                "{}: {:?} is declared twice; give one entry per name",
                at("of"),
                e.of
            ));
        }
        if let Some(s) = e.hosts.iter().find(|s| {
            s.split_once('=')
                .is_none_or(|(k, v)| k.trim().is_empty() || v.trim().is_empty())
        }) {
            return Err(format!(
                "{}: {s:?} is not a selector; write \"label=value\", e.g. \"role=db\"",
                at("hosts")
            ));
        }
        match (e.hosts.is_empty(), e.none) {
            (true, false) => {
                return Err(format!(
                    "{}: name the expected hosts (hosts = [\"role=db\"]) or say none = true",
                    at("hosts")
                ))
            }
            (false, true) => {
                return Err(format!(
                    "{}: none = true expects no host; leave hosts out",
                    at("none")
                ))
            }
            _ => {}
        }
        if e.justification.trim().is_empty() {
            return Err(format!(
                "{}: say why the hosts left out need not show {} evidence",
                at("justification"),
                e.of
            ));
        }
    }
    Ok(())
}

/// The expectations the rules name, with each name's default hosts: a
/// rule's scope is the configured entry for its name, else the default.
#[derive(Debug, Clone, Default)]
pub struct Expectations {
    defaults: BTreeMap<String, Vec<String>>,
    configured: BTreeMap<String, Expectation>,
}

impl Expectations {
    /// `defaults`: name → the hosts the rules expect without configuration
    /// (empty: every host). Refuses a configured name no rule expects.
    pub fn new(
        defaults: BTreeMap<String, Vec<String>>,
        configured: &[Expectation],
    ) -> Result<Self, String> {
        check(configured)?;
        for (i, e) in configured.iter().enumerate() {
            if !defaults.contains_key(&e.of) {
                let known: Vec<&str> = defaults.keys().map(String::as_str).collect();
                return Err(format!(
                    "expectations[{i}].of: no rule expects {:?} (known: {})",
                    e.of,
                    known.join(", ")
                ));
            }
        }
        Ok(Self {
            defaults,
            configured: configured
                .iter()
                .map(|e| (e.of.clone(), e.clone()))
                .collect(),
        })
    }

    /// The scope of the expectation `of`.
    pub fn scope(&self, of: &str) -> Scope {
        match self.configured.get(of) {
            Some(e) => Scope {
                of: of.to_string(),
                hosts: e.hosts.clone(),
                none: e.none,
                justification: Some(e.justification.clone()),
            },
            None => Scope {
                of: of.to_string(),
                hosts: self.defaults.get(of).cloned().unwrap_or_default(),
                none: false,
                justification: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(of: &str, hosts: &[&str], none: bool, why: &str) -> Expectation {
        Expectation {
            of: of.into(),
            hosts: hosts.iter().map(|s| s.to_string()).collect(),
            none,
            justification: why.into(),
        }
    }

    #[test]
    fn scopes_default_to_every_host_and_narrow_only_with_a_justification() {
        let defaults = BTreeMap::from([
            ("backup".to_string(), vec![]),
            ("router".to_string(), vec!["role=router".to_string()]),
        ]);
        let labels = |role: &str| BTreeMap::from([("role".to_string(), role.to_string())]);
        let e = Expectations::new(defaults.clone(), &[]).unwrap();
        assert!(e.scope("backup").includes("web-1", &labels("web")));
        assert!(!e.scope("router").includes("web-1", &labels("web")));
        assert!(e.scope("router").includes("r-1", &labels("router")));
        assert!(e.scope("router").empty().is_err(), "no router: declare");

        let e = Expectations::new(
            defaults.clone(),
            &[
                entry(
                    "backup",
                    &["role=db", "host=web-9"],
                    false,
                    "web keeps no data",
                ),
                entry("router", &[], true, "the cloud's virtual router"),
            ],
        )
        .unwrap();
        let backup = e.scope("backup");
        assert!(backup.includes("db-1", &labels("db")));
        assert!(backup.includes("web-9", &labels("web")));
        assert!(!backup.includes("web-1", &labels("web")));
        assert!(backup.excluded().contains("web keeps no data"));
        assert!(backup.empty().is_err(), "expected hosts missing: UNKNOWN");
        let router = e.scope("router");
        assert!(!router.includes("r-1", &labels("router")));
        assert!(router.empty().unwrap().0.contains("virtual router"));

        for (bad, why) in [
            (vec![entry("backup", &["db"], false, "x")], "hosts: \"db\""),
            (
                vec![entry("backup", &[], false, "x")],
                "name the expected hosts",
            ),
            (
                vec![entry("backup", &["role=db"], true, "x")],
                "leave hosts out",
            ),
            (
                vec![entry("backup", &["role=db"], false, " ")],
                "justification",
            ),
            (
                vec![
                    entry("backup", &["role=db"], false, "x"),
                    entry("backup", &["role=web"], false, "y"),
                ],
                "declared twice",
            ),
            (
                vec![entry("bakup", &[], true, "x")],
                "no rule expects \"bakup\"",
            ),
        ] {
            let e = Expectations::new(defaults.clone(), &bad).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
    }
}

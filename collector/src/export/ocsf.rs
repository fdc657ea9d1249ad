//! Verdicts as OCSF Compliance Findings (class 2003, category Findings), the
//! form SIEMs and security lakes read, as Prowler writes its own: one
//! finding per checklist item and host (the host is the finding's resource),
//! and one for an item no host answers (manual rows, attestations). An
//! export is a JSON array of findings; a verdict change sent to a webhook is
//! one finding for the item, every host among its resources.

use crate::catalog::CatalogInfo;
use crate::verdict::{HostResult, ItemResult, Outcome, RowResult, Verdict};
use serde_json::{json, Value};
use std::collections::HashMap;

/// The OCSF schema version the findings follow.
pub const OCSF_VERSION: &str = "1.5.0";
const CLASS_UID: u32 = 2003;
const CATEGORY_UID: u32 = 2;

/// What a finding reports: creation (an export, a first evaluation) or an
/// update (a verdict that changed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    Create = 1,
    Update = 2,
}

impl Activity {
    fn name(self) -> &'static str {
        match self {
            Activity::Create => "Create",
            Activity::Update => "Update",
        }
    }
}

/// OCSF compliance status (`compliance.status_id`): 1 Pass, 2 Warning (no
/// result for want of information), 3 Fail, 99 Other (not applicable).
fn compliance_status(o: Outcome) -> (u32, &'static str) {
    match o {
        Outcome::Pass => (1, "Pass"),
        Outcome::Unknown => (2, "Warning"),
        Outcome::Fail => (3, "Fail"),
        Outcome::Na => (99, "NA"),
    }
}

/// An item verdict as the outcome it amounts to: a P is not a pass.
fn verdict_outcome(v: Verdict) -> Outcome {
    match v {
        Verdict::Y => Outcome::Pass,
        Verdict::N | Verdict::P => Outcome::Fail,
        Verdict::Unknown => Outcome::Unknown,
        Verdict::Na => Outcome::Na,
    }
}

/// Severity (`severity_id`): a failure is Medium, an unanswered check Low,
/// the rest Informational; catalogs rank no item above another.
fn severity(o: Outcome) -> (u32, &'static str) {
    match o {
        Outcome::Fail => (3, "Medium"),
        Outcome::Unknown => (2, "Low"),
        Outcome::Pass | Outcome::Na => (1, "Informational"),
    }
}

/// One finding about `item` of `catalog`: its outcome, its checks (the
/// item's rows as [`item_checks`] or [`host_checks`] give them), and the
/// hosts it is about as resources. `gamsa` is added as `unmapped.gamsa`
/// (the item's own verdict, a change's before and after, the evidence
/// cited: the item's unless `gamsa` names it).
#[allow(clippy::too_many_arguments)]
pub fn finding(
    catalog: &CatalogInfo,
    item: &ItemResult,
    outcome: Outcome,
    hosts: &[(&str, Outcome)],
    checks: Vec<Value>,
    activity: Activity,
    now_ms: i64,
    mut gamsa: serde_json::Map<String, Value>,
) -> Value {
    let (status_id, status) = compliance_status(outcome);
    let (severity_id, severity) = severity(outcome);
    let uid = match hosts {
        [(host, _)] => format!("gamsa-{}-{}-{host}", catalog.id, item.id),
        _ => format!("gamsa-{}-{}", catalog.id, item.id),
    };
    let resources: Vec<Value> = hosts
        .iter()
        .map(|(h, o)| {
            json!({ "uid": h, "name": h, "type": "Host",
                    "data": { "outcome": o } })
        })
        .collect();
    gamsa.insert("catalog".into(), json!(catalog.id));
    gamsa.insert("item".into(), json!(item.id));
    gamsa.insert("verdict".into(), json!(item.verdict));
    gamsa
        .entry("evidence")
        .or_insert_with(|| json!(item.evidence));
    let time_dt = chrono::DateTime::from_timestamp_millis(now_ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    json!({
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "class_uid": CLASS_UID,
        "class_name": "Compliance Finding",
        "activity_id": activity as u32,
        "activity_name": activity.name(),
        "type_uid": CLASS_UID * 100 + activity as u32,
        "type_name": format!("Compliance Finding: {}", activity.name()),
        "time": now_ms,
        "time_dt": time_dt,
        "severity_id": severity_id,
        "severity": severity,
        "status_id": 1,
        "status": "New",
        "status_code": outcome_code(outcome),
        "status_detail": item.reason_en,
        "message": format!("{} {}: {}", catalog.id, item.id, item.reason_en),
        "metadata": {
            "version": OCSF_VERSION,
            "product": {
                "name": "gamsa",
                "vendor_name": "gamsa",
                "version": env!("CARGO_PKG_VERSION"),
            },
            "event_code": format!("{}/{}", catalog.id, item.id),
        },
        "finding_info": {
            "uid": uid,
            "title": format!("{} {}", item.id, item.title_en),
            "desc": item.reason_en,
            "types": [catalog.id],
            "created_time": now_ms,
        },
        "compliance": {
            "standards": [format!("{} {}", catalog.title_en, catalog.version)],
            "requirements": [item.id],
            "control": format!("{} {}", item.id, item.title_ko),
            "desc": item.reason_ko,
            "status_id": status_id,
            "status": status,
            "checks": checks,
        },
        "resources": resources,
        "unmapped": { "gamsa": gamsa },
    })
}

/// A check of one row as the item answers it.
fn check(row: &RowResult, outcome: Outcome, desc: &str) -> Value {
    let (id, s) = compliance_status(outcome);
    json!({ "uid": row.id, "name": row.question_en, "desc": desc,
            "status": s, "status_id": id })
}

/// The item's rows as checks, each with its verdict over every host.
pub fn item_checks(item: &ItemResult) -> Vec<Value> {
    item.rows
        .iter()
        .map(|r| check(r, verdict_outcome(r.verdict), &r.reason_en))
        .collect()
}

/// The rows as one host answers them: its outcome and reason on each row
/// it is judged by, the item's verdict on rows no host answers (attested).
fn host_checks(item: &ItemResult, host: &[(&RowResult, &HostResult)]) -> Vec<Value> {
    let judged = host.iter().map(|(row, r)| check(row, r.outcome, &r.reason));
    let attested = item
        .rows
        .iter()
        .filter(|r| r.hosts.is_empty())
        .map(|r| check(r, verdict_outcome(r.verdict), &r.reason_en));
    judged.chain(attested).collect()
}

fn outcome_code(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "PASS",
        Outcome::Fail => "FAIL",
        Outcome::Unknown => "UNKNOWN",
        Outcome::Na => "NA",
    }
}

/// The findings of an export: one per (item, host), one per item without
/// hosts. A host's finding holds that host's checks and the evidence its
/// results cite, not the fleet's: its size does not grow with the fleet.
pub fn findings<'a>(
    catalog: &'a CatalogInfo,
    items: &'a [&'a ItemResult],
    now_ms: i64,
) -> impl Iterator<Item = Value> + 'a {
    items.iter().flat_map(move |item| {
        let whole = item.hosts.is_empty().then(|| {
            finding(
                catalog,
                item,
                verdict_outcome(item.verdict),
                &[],
                item_checks(item),
                Activity::Create,
                now_ms,
                Default::default(),
            )
        });
        let mut by_host: HashMap<&str, Vec<(&RowResult, &HostResult)>> = HashMap::new();
        for row in &item.rows {
            for r in row.hosts.iter() {
                by_host.entry(r.host.as_str()).or_default().push((row, r));
            }
        }
        whole
            .into_iter()
            .chain(item.hosts.iter().map(move |(host, outcome)| {
                let rows = by_host.get(host.as_str()).map_or(&[][..], Vec::as_slice);
                let mut cited: Vec<&str> = Vec::new();
                for id in rows.iter().flat_map(|(_, r)| r.evidence.iter()) {
                    if !cited.contains(&id.as_str()) {
                        cited.push(id);
                    }
                }
                let mut gamsa = serde_json::Map::new();
                gamsa.insert("evidence".into(), json!(cited));
                finding(
                    catalog,
                    item,
                    *outcome,
                    &[(host.as_str(), *outcome)],
                    host_checks(item, rows),
                    Activity::Create,
                    now_ms,
                    gamsa,
                )
            }))
    })
}

/// A verdict change of `item` as one finding (activity Update): every host
/// among the resources, `before` and `after` in `unmapped.gamsa`.
pub fn change(
    catalog: &CatalogInfo,
    item: &ItemResult,
    before: Option<Verdict>,
    now_ms: i64,
) -> Value {
    let hosts: Vec<(&str, Outcome)> = item.hosts.iter().map(|(h, o)| (h.as_str(), *o)).collect();
    let mut gamsa = serde_json::Map::new();
    gamsa.insert("before".into(), json!(before));
    gamsa.insert("after".into(), json!(item.verdict));
    finding(
        catalog,
        item,
        verdict_outcome(item.verdict),
        &hosts,
        item_checks(item),
        Activity::Update,
        now_ms,
        gamsa,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    fn item(verdict: Verdict, hosts: &[(&str, Outcome)]) -> ItemResult {
        ItemResult {
            catalog: "c".into(),
            id: "1.1".into(),
            title_ko: "제목".into(),
            title_en: "Title".into(),
            verdict,
            reason_en: "why".into(),
            reason_ko: "이유".into(),
            hosts: Arc::new(
                hosts
                    .iter()
                    .map(|(h, o)| (h.to_string(), *o))
                    .collect::<BTreeMap<_, _>>(),
            ),
            rows: vec![],
            evidence: Arc::new(vec![]),
            evaluated_at: String::new(),
            na_mark: None,
        }
    }

    fn info() -> CatalogInfo {
        CatalogInfo {
            id: "c".into(),
            title_ko: "기준".into(),
            title_en: "Standard".into(),
            version: "2025".into(),
            source: String::new(),
            freshness: std::time::Duration::from_secs(60),
        }
    }

    #[test]
    fn one_finding_per_item_and_host_with_the_hosts_outcome() {
        let failing = item(Verdict::N, &[("a", Outcome::Pass), ("b", Outcome::Fail)]);
        let manual = item(Verdict::Unknown, &[]);
        let f: Vec<Value> = findings(&info(), &[&failing, &manual], 1_700_000_000_000).collect();
        assert_eq!(f.len(), 3);
        assert_eq!(f[0]["resources"][0]["uid"], "a");
        assert_eq!(f[0]["compliance"]["status_id"], 1);
        assert_eq!(f[1]["compliance"]["status_id"], 3);
        assert_eq!(f[1]["finding_info"]["uid"], "gamsa-c-1.1-b");
        assert_eq!(f[2]["compliance"]["status_id"], 2);
        assert_eq!(f[2]["resources"].as_array().unwrap().len(), 0);
        assert_eq!(f[0]["type_uid"], 200301);
    }

    #[test]
    fn a_hosts_finding_holds_its_own_checks_and_evidence_only() {
        let result = |host: &str, outcome, ev: &[&str]| HostResult {
            host: host.into(),
            outcome,
            reason: format!("{host} says"),
            detail: vec![],
            evidence: Arc::new(ev.iter().map(|e| e.to_string()).collect()),
        };
        let mut it = item(Verdict::N, &[("a", Outcome::Pass), ("b", Outcome::Fail)]);
        it.rows = vec![
            RowResult::of_rule(
                "r1",
                "rule-1",
                vec![
                    result("a", Outcome::Pass, &["ea1"]),
                    result("b", Outcome::Fail, &["eb1", "eb2"]),
                ],
            ),
            RowResult::of_rule("r2", "rule-2", vec![result("b", Outcome::Pass, &["eb2"])]),
        ];
        it.evidence = Arc::new(vec!["ea1".into(), "eb1".into(), "eb2".into()]);
        let f: Vec<Value> = findings(&info(), &[&it], 0).collect();
        assert_eq!(f[0]["unmapped"]["gamsa"]["evidence"], json!(["ea1"]));
        assert_eq!(f[1]["unmapped"]["gamsa"]["evidence"], json!(["eb1", "eb2"]));
        let checks = f[1]["compliance"]["checks"].as_array().unwrap();
        assert_eq!(checks.len(), 2);
        assert_eq!(checks[0]["desc"], "b says");
        assert_eq!(checks[0]["status_id"], 3);
        assert_eq!(checks[1]["status_id"], 1);
        assert_eq!(f[0]["compliance"]["checks"].as_array().unwrap().len(), 1);
        // A change names the item's whole evidence.
        let c = change(&info(), &it, None, 0);
        assert_eq!(
            c["unmapped"]["gamsa"]["evidence"].as_array().unwrap().len(),
            3
        );
    }

    #[test]
    fn a_partial_answer_is_not_a_pass() {
        let partial = item(Verdict::P, &[("a", Outcome::Pass)]);
        let c = change(&info(), &partial, Some(Verdict::Y), 0);
        assert_eq!(c["compliance"]["status_id"], 3);
        assert_eq!(c["type_uid"], 200302);
        assert_eq!(c["unmapped"]["gamsa"]["before"], "Y");
        assert_eq!(c["unmapped"]["gamsa"]["after"], "P");
    }
}

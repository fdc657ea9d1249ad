//! From rule results to checklist answers.
//!
//! host results (PASS / FAIL / UNKNOWN / NA per host) → a row verdict →
//! an item verdict over its rows. Every verdict carries its reason in Korean
//! and English, the hosts behind it and the evidence ids it stands on.
//!
//! A row whose evidence answers only part of its question (`answers =
//! "partial"`) reaches at most P, saying what completes it; an operator's
//! attestation of those documents completes it. A host is NA only when an
//! expectation leaves it out; a row with no host in scope is UNKNOWN unless
//! the configuration says no host is expected.

use super::input::{self, FleetFacts, HostFacts, HostInput};
use super::{Rule, Scope};
use crate::catalog::{Catalog, Item, Row};
use crate::expectations::{self, Expectations};
use crate::records::{Attestation, Documents};
use crate::verdict::{Answers, HostResult, ItemResult, Outcome, RowResult, Verdict};
use cel_interpreter::{Context, Value};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// A rule's host results, shared by the rows naming it and, where they did
/// not change, by the evaluations after (`Judged`).
type Shared = Arc<Vec<Arc<HostResult>>>;

/// A rule's answer over the hosts of one freshness window.
#[derive(Debug, Clone)]
pub struct RuleResult {
    verdict: Verdict,
    reason_en: String,
    reason_ko: String,
    /// Shared by every row that names the rule.
    pub(super) hosts: Shared,
}

/// Hosts a reason names before it says how many more there are.
const SHOWN: usize = 10;

/// `names` (the first of `total` hosts, at least `SHOWN` of them where
/// there are as many) as a reason lists them.
fn list<S: AsRef<str>>(names: &[S], total: u64) -> String {
    let mut s = names
        .iter()
        .take(SHOWN)
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(", ");
    if total > SHOWN as u64 {
        s.push_str(&format!(" (+{})", total - SHOWN as u64));
    }
    s
}

/// How a host rule's results came out: how many of each outcome, and the
/// first hosts (in name order) that fail and that could not be checked,
/// as its reason names them. What the rule's answer reads of its results
/// (`host_rule`), so that the tallies of consecutive ranges of hosts,
/// added in order, answer as the results of them all (`hostwise`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    results: u64,
    pass: u64,
    fail: u64,
    unknown: u64,
    failing: Vec<String>,
    unchecked: Vec<String>,
}

impl Tally {
    pub fn of(results: &[Arc<HostResult>]) -> Self {
        let mut t = Tally {
            results: results.len() as u64,
            ..Tally::default()
        };
        for r in results {
            let (count, names) = match r.outcome {
                Outcome::Pass => (&mut t.pass, None),
                Outcome::Fail => (&mut t.fail, Some(&mut t.failing)),
                Outcome::Unknown => (&mut t.unknown, Some(&mut t.unchecked)),
                Outcome::Na => continue,
            };
            *count += 1;
            if let Some(names) = names.filter(|n| n.len() < SHOWN) {
                names.push(r.host.clone());
            }
        }
        t
    }

    /// Adds the tally of hosts that come after these in name order.
    pub fn add(&mut self, later: &Tally) {
        self.results += later.results;
        self.pass += later.pass;
        self.fail += later.fail;
        self.unknown += later.unknown;
        for (names, more) in [
            (&mut self.failing, &later.failing),
            (&mut self.unchecked, &later.unchecked),
        ] {
            let room = SHOWN.saturating_sub(names.len());
            names.extend(more.iter().take(room).cloned());
        }
    }
}

/// Ids of the host's evidence from the probes the rule needs.
fn evidence_ids(rule: &Rule, h: &HostInput) -> Arc<Vec<String>> {
    match rule.def.needs.as_slice() {
        // Most rules need one probe: its list, shared, not a copy a host.
        [probe] => h.evidence.get(probe).cloned().unwrap_or_default(),
        needs => Arc::new(
            needs
                .iter()
                .flat_map(|p| {
                    h.evidence
                        .get(p)
                        .into_iter()
                        .flat_map(|ids| ids.iter())
                        .cloned()
                })
                .collect(),
        ),
    }
}

/// What a rule's expressions said of one host input: `pass`, and `detail`
/// where `pass` is false or null.
#[derive(Clone)]
struct Ran {
    pass: Result<Value, String>,
    detail: Vec<String>,
}

/// What a rule's expressions said of the hosts judged so far, by what they
/// read of a host (`Rule::host`): hosts alike in that (made from one image,
/// reporting the same services) run them once. Within one rule and window
/// of one evaluation, where `now`, `fleet` and `params` are the same for
/// every host.
struct Runs<'r> {
    rule: &'r Rule,
    by_input: HashMap<Vec<u8>, Ran>,
    /// How many times the expressions ran.
    ran: u64,
}

impl<'r> Runs<'r> {
    fn new(rule: &'r Rule) -> Self {
        Self {
            rule,
            by_input: HashMap::new(),
            ran: 0,
        }
    }

    /// What the rule's expressions read of `h`, exactly; None when they
    /// use `host` whole.
    fn key(&self, h: &HostInput) -> Option<Vec<u8>> {
        let mut key = Vec::new();
        let mut put = |bytes: &[u8]| {
            key.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
            key.extend_from_slice(bytes);
        };
        for field in self.rule.host.as_ref()? {
            put(field.as_bytes());
            match h.lists.get(field) {
                Some(d) if self.rule.reads_observed_at => put(&d.timed),
                Some(d) => put(&d.untimed),
                // An empty list, or a field of the host itself.
                None if field == "labels" => put(format!("{:?}", h.labels).as_bytes()),
                None => put(format!("{:?}", input::field(&h.value, field)).as_bytes()),
            }
        }
        Some(key)
    }

    fn run(&mut self, base: &Context, h: &HostInput) -> Ran {
        let key = self.key(h);
        if let Some(ran) = key.as_ref().and_then(|k| self.by_input.get(k)) {
            return ran.clone();
        }
        self.ran += 1;
        let mut ctx = base.new_inner_scope();
        ctx.add_variable_from_value("host", h.value.clone());
        let pass = run(&self.rule.pass, &ctx);
        let detail = match pass {
            Ok(Value::Bool(false)) | Ok(Value::Null) => self
                .rule
                .detail
                .as_ref()
                .and_then(|d| run(d, &ctx).ok())
                .map(flatten_strings)
                .unwrap_or_default(),
            _ => vec![],
        };
        let ran = Ran { pass, detail };
        if let Some(k) = key {
            self.by_input.insert(k, ran.clone());
        }
        ran
    }
}

/// Evaluates one host rule on one host; `scope` is the rule's expectation,
/// if it has one.
fn host_result(
    rule: &Rule,
    scope: Option<&expectations::Scope>,
    runs: &mut Runs,
    base: &Context,
    h: &HostInput,
) -> Arc<HostResult> {
    let evidence = evidence_ids(rule, h);
    let result = move |outcome, reason: String, detail| {
        Arc::new(HostResult {
            host: h.name.clone(),
            outcome,
            reason,
            detail,
            evidence,
        })
    };
    if let Some(scope) = scope.filter(|s| !s.includes(&h.name, &h.labels)) {
        return result(Outcome::Na, scope.excluded(), vec![]);
    }
    let needed = &rule.def.needs;
    let have = needed.iter().all(|p| h.observed.contains(p.as_str()));
    let errors: Vec<String> = needed
        .iter()
        .flat_map(|p| h.errors.get(p.as_str()).cloned().unwrap_or_default())
        .collect();
    if !have {
        if !errors.is_empty() {
            return result(
                Outcome::Unknown,
                format!("could not check: {}", errors.join("; ")),
                vec![],
            );
        }
        return result(
            Outcome::Unknown,
            format!("no fresh {} evidence", needed.join(" and ")),
            vec![],
        );
    }
    let Ran { pass, detail } = runs.run(base, h);
    match pass {
        Ok(Value::Bool(true)) if errors.is_empty() => {
            result(Outcome::Pass, "passes".into(), vec![])
        }
        Ok(Value::Bool(true)) => result(
            Outcome::Unknown,
            format!(
                "observed evidence passes, but could not check: {}",
                errors.join("; ")
            ),
            vec![],
        ),
        Ok(Value::Bool(false)) => result(Outcome::Fail, "fails".into(), detail),
        Ok(Value::Null) => result(Outcome::Unknown, "evidence does not tell".into(), detail),
        Ok(other) => result(
            Outcome::Unknown,
            format!("pass gave {other:?}, not a bool"),
            vec![],
        ),
        Err(e) => result(Outcome::Unknown, format!("rule error: {e}"), vec![]),
    }
}

/// Runs a CEL program; a panic inside the interpreter (it has unfinished
/// corners) becomes an error for this host instead of taking the collector down.
fn run(program: &cel_interpreter::Program, ctx: &Context) -> Result<Value, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| program.execute(ctx)))
        .map_err(|_| "the CEL interpreter cannot evaluate this expression".to_string())?
        .map_err(|e| e.to_string())
}

fn flatten_strings(v: Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.to_string()],
        Value::List(l) => l.iter().cloned().flat_map(flatten_strings).collect(),
        _ => vec![],
    }
}

/// The variables every rule sees besides `host` / `hosts`.
#[derive(Clone)]
struct Vars {
    params: Value,
    fleet: Value,
    now: Value,
}

impl Vars {
    fn context(&self) -> Context<'_> {
        let mut ctx = Context::default();
        ctx.add_variable_from_value("params", self.params.clone());
        ctx.add_variable_from_value("fleet", self.fleet.clone());
        ctx.add_variable_from_value("now", self.now.clone());
        ctx
    }
}

/// `f` on each of `items`, with the rule's variables, on every core.
fn on_every_core<T: Sync, R: Send>(
    vars: &Vars,
    items: &[T],
    f: impl Fn(&Context, &T) -> R + Sync,
) -> Vec<R> {
    super::parallel::map_parts(items, |part| {
        let base = vars.context();
        part.iter().map(|x| f(&base, x)).collect()
    })
}

/// Results a host rule gave before.
struct Earlier<'r> {
    /// This evaluation's other windows: by host and `HostInput::fingerprint`.
    windows: Vec<(&'r [HostInput], &'r [Arc<HostResult>])>,
    /// The previous evaluation's: by host and `HostInput::content`.
    previous: Vec<(&'r [u64], &'r Shared)>,
    /// Whether the previous results stand without running the rule (it
    /// does not read the time); else they are only shared where the rule,
    /// run again, says the same.
    previous_stand: bool,
}

/// Host results for `hosts`: a host whose input is the same as in one of
/// the `earlier` results takes its result from there; the rest are
/// evaluated on every core. A result equal to the previous evaluation's is
/// that one, and results all the previous evaluation's are its vector, so
/// that what did not change is shared, not copied (and items over them are
/// not merged again, `Evaluator::merged_hosts`). Returns them, how many were
/// evaluated, and how many times the rule's expressions ran for those
/// (`Runs`).
fn host_results(
    rule: &Rule,
    scope: Option<&expectations::Scope>,
    vars: &Vars,
    hosts: &[HostInput],
    earlier: &Earlier,
) -> (Shared, usize, u64) {
    let ran = std::sync::atomic::AtomicU64::new(0);
    let by_fingerprint: HashMap<(&str, u64), &Arc<HostResult>> = earlier
        .windows
        .iter()
        .flat_map(|(inputs, results)| inputs.iter().zip(results.iter()))
        .map(|(h, r)| ((h.name.as_str(), h.fingerprint), r))
        .collect();
    let by_content: HashMap<(&str, u64), &Arc<HostResult>> = earlier
        .previous
        .iter()
        .flat_map(|(contents, results)| contents.iter().zip(results.iter()))
        .map(|(c, r)| ((r.host.as_str(), *c), r))
        .collect();
    let before = |h: &HostInput| by_content.get(&(h.name.as_str(), h.content)).copied();
    let mut out: Vec<Option<Arc<HostResult>>> = hosts
        .iter()
        .map(|h| {
            by_fingerprint
                .get(&(h.name.as_str(), h.fingerprint))
                .copied()
                .or_else(|| before(h).filter(|_| earlier.previous_stand))
                .cloned()
        })
        .collect();
    let todo: Vec<(usize, &HostInput)> = hosts
        .iter()
        .enumerate()
        .filter(|(i, _)| out[*i].is_none())
        .collect();
    let fresh = super::parallel::map_parts(&todo, |part| {
        let (base, mut runs) = (vars.context(), Runs::new(rule));
        let judged: Vec<_> = part
            .iter()
            .map(|(i, h)| (*i, host_result(rule, scope, &mut runs, &base, h)))
            .collect();
        ran.fetch_add(runs.ran, std::sync::atomic::Ordering::Relaxed);
        judged
    });
    let evaluated = fresh.len();
    for (i, r) in fresh {
        let same = before(&hosts[i]).filter(|b| ***b == *r);
        out[i] = Some(same.cloned().unwrap_or(r));
    }
    let out: Vec<Arc<HostResult>> = out.into_iter().flatten().collect();
    let unchanged = earlier.previous.iter().find(|(_, results)| {
        results.len() == out.len() && results.iter().zip(&out).all(|(a, b)| Arc::ptr_eq(a, b))
    });
    let ran = ran.into_inner();
    match unchanged {
        Some((_, results)) => (Arc::clone(results), evaluated, ran),
        None => (Arc::new(out), evaluated, ran),
    }
}

/// A host rule's answer over the hosts `tally` counts; `results` are
/// their results (none where only the answer is wanted, `hostwise`).
fn host_rule(
    rule: &Rule,
    scope: Option<&expectations::Scope>,
    tally: &Tally,
    results: Shared,
) -> RuleResult {
    let (pass, fail, unknown) = (tally.pass, tally.fail, tally.unknown);
    let considered = pass + fail + unknown;
    let title = &rule.def.title_en;
    let (verdict, en, ko) = if considered == 0 {
        match scope.filter(|_| tally.results > 0).map(|s| s.empty()) {
            Some(Ok((en, ko))) => (Verdict::Na, format!("{title}: {en}"), ko),
            Some(Err((en, ko))) => (Verdict::Unknown, format!("{title}: {en}"), ko),
            None => {
                let needs = rule.def.needs.join("/");
                (
                    Verdict::Unknown,
                    format!("{title}: no host reports fresh {needs} evidence"),
                    format!("최신 {needs} 증적을 보고한 호스트 없음"),
                )
            }
        }
    } else {
        let verdict = if fail > 0 && rule.def.strict {
            Verdict::N
        } else if fail == 0 && unknown == 0 {
            Verdict::Y
        } else if pass == 0 && fail == 0 {
            Verdict::Unknown
        } else if pass == 0 {
            Verdict::N
        } else {
            Verdict::P
        };
        let mut en = format!("{title}: {pass}/{considered} hosts pass");
        let mut ko = format!("{considered}개 호스트 중 {pass}개 충족");
        if fail > 0 {
            en.push_str(&format!("; failing: {}", list(&tally.failing, fail)));
            ko.push_str(&format!("; 미충족: {}", list(&tally.failing, fail)));
        }
        if unknown > 0 {
            en.push_str(&format!(
                "; could not check: {}",
                list(&tally.unchecked, unknown)
            ));
            ko.push_str(&format!("; 확인 불가: {}", list(&tally.unchecked, unknown)));
        }
        (verdict, en, ko)
    };
    RuleResult {
        verdict,
        reason_en: en,
        reason_ko: ko,
        hosts: results,
    }
}

impl RuleResult {
    /// This answer without its host results.
    pub fn without_hosts(&self) -> RuleResult {
        RuleResult {
            hosts: Arc::default(),
            ..self.clone()
        }
    }
}

/// The answer naming a rule no rule file defines.
fn unknown_rule(rule_id: &str) -> RuleResult {
    RuleResult {
        verdict: Verdict::Unknown,
        reason_en: format!("unknown rule {rule_id}"),
        reason_ko: "알 수 없는 규칙".into(),
        hosts: Arc::default(),
    }
}

/// One host's part in a fleet rule: does `offender` name it?
fn offender_result(rule: &Rule, base: &Context, h: &HostInput) -> Arc<HostResult> {
    let mut ctx = base.new_inner_scope();
    ctx.add_variable_from_value("host", h.value.clone());
    let (outcome, reason) = match rule.offender.as_ref().map(|o| run(o, &ctx)) {
        Some(Ok(Value::Bool(true))) => (Outcome::Fail, "fails".to_string()),
        Some(Ok(Value::Bool(false))) => (Outcome::Pass, "passes".to_string()),
        Some(Ok(other)) => (
            Outcome::Unknown,
            format!("offender gave {other:?}, not a bool"),
        ),
        Some(Err(e)) => (Outcome::Unknown, format!("rule error: {e}")),
        None => (Outcome::Unknown, "the rule names no offender".to_string()),
    };
    Arc::new(HostResult {
        host: h.name.clone(),
        outcome,
        reason,
        detail: vec![],
        evidence: evidence_ids(rule, h),
    })
}

/// A fleet rule: `pass` once over all hosts, `offender` once per host (so
/// that naming the failing hosts stays linear in the fleet's size).
fn fleet_rule(rule: &Rule, vars: &Vars, hosts: &[HostInput]) -> RuleResult {
    let with: Vec<&HostInput> = hosts
        .iter()
        .filter(|h| rule.def.needs.iter().any(|p| h.observed.contains(p)))
        .collect();
    let title = &rule.def.title_en;
    let mk = |verdict, en: String, ko: String, results: Vec<Arc<HostResult>>| RuleResult {
        verdict,
        reason_en: en,
        reason_ko: ko,
        hosts: Arc::new(results),
    };
    if with.is_empty() {
        let needs = rule.def.needs.join("/");
        return mk(
            Verdict::Unknown,
            format!("{title}: no host reports fresh {needs} evidence"),
            format!("최신 {needs} 증적을 보고한 호스트 없음"),
            vec![],
        );
    }
    let results = on_every_core(vars, &with, |base, h| offender_result(rule, base, h));
    let base = vars.context();
    let mut ctx = base.new_inner_scope();
    ctx.add_variable_from_value(
        "hosts",
        Value::List(Arc::new(with.iter().map(|h| h.value.clone()).collect())),
    );
    let named: Vec<&str> = results
        .iter()
        .filter(|r| r.outcome == Outcome::Fail)
        .map(|r| r.host.as_str())
        .collect();
    match run(&rule.pass, &ctx) {
        Ok(Value::Bool(true)) => mk(
            Verdict::Y,
            format!("{title}: holds across {} hosts", with.len()),
            format!("{}개 호스트 전체에서 충족", with.len()),
            results,
        ),
        Ok(Value::Bool(false)) => {
            // With no host named, the fleet as a whole fails (alert rules
            // found on no host): no host passes it, so it is N.
            let verdict = if rule.def.strict || named.is_empty() || named.len() >= with.len() {
                Verdict::N
            } else {
                Verdict::P
            };
            let (en, ko) = if named.is_empty() {
                (
                    format!("{title}: fails for the fleet as a whole"),
                    "미충족: 전체 호스트 기준".to_string(),
                )
            } else {
                (
                    format!("{title}: fails for {}", list(&named, named.len() as u64)),
                    format!("미충족: {}", list(&named, named.len() as u64)),
                )
            };
            mk(verdict, en, ko, results)
        }
        Ok(other) => mk(
            Verdict::Unknown,
            format!("{title}: evidence does not tell ({other:?})"),
            "증적으로 판단 불가".into(),
            results,
        ),
        Err(e) => mk(
            Verdict::Unknown,
            format!("{title}: rule error: {e}"),
            "규칙 오류".into(),
            results,
        ),
    }
}

/// Each host's worst outcome across `rows`, and the evidence ids they stand
/// on (sorted, once each). Borrows while merging and copies once at the end:
/// an item of a large fleet has tens of thousands of host results.
fn worst_outcomes(rows: &[RowResult]) -> HostsAndEvidence {
    let rank = Outcome::rank;
    let mut worst: HashMap<&str, Outcome> = HashMap::new();
    let mut evidence: Vec<&str> = Vec::new();
    for h in rows.iter().flat_map(|r| r.hosts.iter()) {
        let e = worst.entry(&h.host).or_insert(h.outcome);
        if rank(h.outcome) < rank(*e) {
            *e = h.outcome;
        }
        evidence.extend(h.evidence.iter().map(String::as_str));
    }
    evidence.sort_unstable();
    evidence.dedup();
    (
        Arc::new(worst.into_iter().map(|(h, o)| (h.to_string(), o)).collect()),
        Arc::new(evidence.into_iter().map(str::to_string).collect()),
    )
}

/// An item's hosts with their worst outcome, and its evidence ids.
type HostsAndEvidence = (Arc<BTreeMap<String, Outcome>>, Arc<Vec<String>>);

/// Combines row verdicts into an item verdict.
pub fn combine(rows: &[Verdict]) -> Verdict {
    let considered: Vec<Verdict> = rows.iter().copied().filter(|v| *v != Verdict::Na).collect();
    let all = |v: Verdict| considered.iter().all(|x| *x == v);
    let any = |v: Verdict| considered.contains(&v);
    if considered.is_empty() {
        Verdict::Na
    } else if all(Verdict::Y) {
        Verdict::Y
    } else if all(Verdict::N) {
        Verdict::N
    } else if all(Verdict::Unknown) {
        Verdict::Unknown
    } else if any(Verdict::Y) || any(Verdict::P) {
        Verdict::P
    } else {
        // N beside UNKNOWN: a violation is known whatever the rest says.
        Verdict::N
    }
}

/// Makes `item` what an item outside the chosen applicant group answers:
/// NA, whatever its rows say (they are kept, for whoever reads on).
pub fn outside_group(item: &mut ItemResult) {
    item.verdict = Verdict::Na;
    item.reason_en = "not applicable to the chosen applicant group".into();
    item.reason_ko = "선택한 신청 유형에 해당하지 않음".into();
}

/// What an evaluation's host rules gave, kept for the next evaluation
/// (`Evaluator::into_judged`). Under a rule that does not read the time
/// (`Rule::reads_time`) and with the same `fleet`, a host whose input says
/// the same (`HostInput::content`) takes its result from here instead of
/// running the rule again: under ingest, most hosts' evidence between two
/// evaluations was only seen again. Results that did not change are the
/// previous ones, and so are items' merged hosts over them, so an
/// evaluation allocates for what changed. Everything here is shared with
/// the evaluation's rows and items: keeping it costs the contents alone.
#[derive(Default)]
pub struct Judged {
    /// Rule id → each window's `fleet`, its inputs' contents and the
    /// rule's results there, in the inputs' order.
    by_rule: HashMap<String, Vec<JudgedWindow>>,
    /// Items' hosts and evidence by the rule results they were merged from.
    merged: HashMap<MergeKey, Merged>,
    /// How the evaluation that left it came by its host results.
    pub counts: HostResults,
}

/// How an evaluation came by its host results: taken from the previous
/// evaluation (`Judged`), or judged by running the rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostResults {
    pub reused: u64,
    pub judged: u64,
    /// Of `judged`, how many ran the rule's expressions; the others took
    /// what they said of a host alike in what they read (`Runs`).
    pub ran: u64,
}

struct JudgedWindow {
    fleet: Value,
    contents: Arc<Vec<u64>>,
    results: Shared,
}

/// The rule results of an item's automated rows, by address: the results
/// are held (`Merged::from`) while the key is, so an address names one.
type MergeKey = Vec<usize>;

struct Merged {
    from: Vec<Shared>,
    hosts: HostsAndEvidence,
}

/// Evaluates catalogs against evidence; caches rule results per freshness
/// window so that a rule shared by many items runs once, and takes host
/// results from the previous evaluation where nothing they read changed
/// (`Judged`).
pub struct Evaluator<'a> {
    pub rules: &'a BTreeMap<String, Arc<Rule>>,
    pub expectations: &'a Expectations,
    pub known: &'a BTreeMap<String, HostFacts>,
    pub documents: &'a Documents,
    pub now_ms: i64,
    converted: &'a [input::Converted],
    previous: &'a Judged,
    /// Host results taken from `previous` and judged, so far.
    counts: HostResults,
    /// Each window start asked for → the start of the window standing for it.
    windows: HashMap<i64, i64>,
    /// Host inputs, their contents and `fleet` by window start (see `window`).
    inputs: HashMap<i64, Vec<HostInput>>,
    contents: HashMap<i64, Arc<Vec<u64>>>,
    fleet: HashMap<i64, Value>,
    facts: HashMap<i64, FleetFacts>,
    /// Rule results by (rule, window start).
    results: HashMap<(String, i64), RuleResult>,
    /// `worst_outcomes` by the rule results of an item's rows: items naming
    /// the same rules share them, and so do evaluations (`Judged`).
    merged: HashMap<MergeKey, Merged>,
    /// Rule results given rather than evaluated here (`hostwise`).
    given: Given<'a>,
    /// Given a fleet rule's results: them cut to this range of hosts, and
    /// what `fleet` says of these hosts, by (rule, window asked for).
    cut: HashMap<(String, i64), RuleResult>,
    fleet_seen: HashMap<i64, FleetFacts>,
    differs: Option<String>,
    /// Given fleet rules: how the host rules' results here came out, by
    /// (rule, window asked for).
    tallies: HashMap<(String, i64), Tally>,
}

/// Rule results an evaluator is given rather than evaluates, by (rule,
/// window start asked for): how an evaluation a range of hosts at a time
/// comes to the verdicts of the whole fleet (`hostwise`).
#[derive(Clone, Copy, Default)]
pub enum Given<'a> {
    /// Everything is evaluated here.
    #[default]
    Nothing,
    /// The evidence is that of the hosts from `from` (the first when
    /// None) up to but not including `to` (the last when None); each fleet
    /// rule's results over every host are given.
    Fleet {
        results: &'a HashMap<(String, i64), RuleResult>,
        from: Option<&'a str>,
        to: Option<&'a str>,
    },
    /// Every rule's answer is given (without host results).
    Answers(&'a HashMap<(String, i64), RuleResult>),
}

/// When the evidence of the rule `rule_id`, on a row of `item`, must have
/// been observed to count: the rule's own freshness, else the item's, else
/// the catalog's, before `now_ms`.
pub fn row_window(
    rules: &BTreeMap<String, Arc<Rule>>,
    now_ms: i64,
    catalog: &Catalog,
    item: &Item,
    rule_id: &str,
) -> i64 {
    let item_freshness = item.freshness.unwrap_or(catalog.catalog.freshness);
    let freshness = rules
        .get(rule_id)
        .and_then(|r| r.def.freshness)
        .unwrap_or(item_freshness);
    now_ms - freshness.as_millis() as i64
}

impl<'a> Evaluator<'a> {
    pub fn new(
        rules: &'a BTreeMap<String, Arc<Rule>>,
        expectations: &'a Expectations,
        converted: &'a [input::Converted],
        known: &'a BTreeMap<String, HostFacts>,
        documents: &'a Documents,
        now_ms: i64,
        previous: &'a Judged,
    ) -> Self {
        Self {
            rules,
            expectations,
            known,
            documents,
            now_ms,
            converted,
            previous,
            counts: HostResults::default(),
            windows: HashMap::new(),
            inputs: HashMap::new(),
            contents: HashMap::new(),
            fleet: HashMap::new(),
            facts: HashMap::new(),
            results: HashMap::new(),
            merged: HashMap::new(),
            given: Given::Nothing,
            cut: HashMap::new(),
            fleet_seen: HashMap::new(),
            differs: None,
            tallies: HashMap::new(),
        }
    }

    /// This evaluator, given `given`.
    pub fn given(self, given: Given<'a>) -> Self {
        Self { given, ..self }
    }

    /// The answer of the rule `rule_id` over the window asked for, `since`:
    /// given, or evaluated here (tallied where fleet rules are given).
    fn answer(&mut self, rule_id: &str, since: i64) -> RuleResult {
        let key = (rule_id.to_string(), since);
        match self.given {
            Given::Answers(answers) => {
                if let Some(a) = answers.get(&key) {
                    return a.clone();
                }
            }
            Given::Fleet { results, from, to } => {
                if let Some(all) = results.get(&key) {
                    if let Some(cut) = self.cut.get(&key) {
                        return cut.clone();
                    }
                    let hosts = &all.hosts;
                    let at = |name: Option<&str>, none| {
                        name.map_or(none, |n| hosts.partition_point(|h| h.host.as_str() < n))
                    };
                    let (first, end) = (at(from, 0), at(to, hosts.len()));
                    let cut = RuleResult {
                        hosts: Arc::new(hosts[first..end.max(first)].to_vec()),
                        ..all.clone()
                    };
                    self.check_given(rule_id, since, &cut);
                    self.cut.insert(key, cut.clone());
                    return cut;
                }
            }
            Given::Nothing => {}
        }
        let start = self.window(since);
        let r = self.rule_result(rule_id, start).clone();
        if matches!(self.given, Given::Fleet { .. }) {
            self.tallies
                .entry(key)
                .or_insert_with(|| Tally::of(&r.hosts));
        }
        r
    }

    /// Given the fleet rule `rule_id`'s results `cut` to these hosts over
    /// the window asked for, `since`: notes what `fleet` says of these
    /// hosts, and whether the results are of these hosts' evidence (the
    /// same hosts with the probes it needs, citing the same evidence).
    fn check_given(&mut self, rule_id: &str, since: i64, cut: &RuleResult) {
        let start = self.window(since);
        let facts = self.facts[&start].clone();
        self.fleet_seen.entry(since).or_insert(facts);
        let Some(rule) = self.rules.get(rule_id) else {
            return;
        };
        let with: Vec<&HostInput> = self.inputs[&start]
            .iter()
            .filter(|h| rule.def.needs.iter().any(|p| h.observed.contains(p)))
            .collect();
        let same = with.len() == cut.hosts.len()
            && with
                .iter()
                .zip(cut.hosts.iter())
                .all(|(h, r)| h.name == r.host && evidence_ids(rule, h) == r.evidence);
        if !same && self.differs.is_none() {
            self.differs = Some(format!(
                "the evidence of the fleet rule {rule_id} differs between its first read and the hosts' (the store changed while read)"
            ));
        }
    }

    /// The answer of the host rule `rule_id` over hosts tallied `tally`,
    /// without their results.
    pub fn tallied(&self, rule_id: &str, tally: &Tally) -> RuleResult {
        match self.rules.get(rule_id) {
            None => unknown_rule(rule_id),
            Some(rule) => {
                let scope = rule
                    .def
                    .expects
                    .as_ref()
                    .map(|of| self.expectations.scope(of));
                host_rule(rule, scope.as_ref(), tally, Arc::default())
            }
        }
    }

    /// The result of a fleet rule over the window asked for, `since`, and
    /// what `fleet` said there.
    pub fn fleet_rule(&mut self, rule_id: &str, since: i64) -> (RuleResult, FleetFacts) {
        let start = self.window(since);
        let r = self.rule_result(rule_id, start).clone();
        (r, self.facts[&start].clone())
    }

    /// Given fleet rules: the host rules' tallies, by (rule, window asked
    /// for); what `fleet` said of these hosts, by window asked for; and
    /// why the given results are not of these hosts' evidence, if not.
    #[allow(clippy::type_complexity)]
    pub fn into_tallies(
        self,
    ) -> (
        HashMap<(String, i64), Tally>,
        HashMap<i64, FleetFacts>,
        Option<String>,
    ) {
        (self.tallies, self.fleet_seen, self.differs)
    }

    /// The result of a rule over the window starting at `since` (a start
    /// that `window` gave).
    fn rule_result(&mut self, rule_id: &str, since: i64) -> &RuleResult {
        let key = (rule_id.to_string(), since);
        if !self.results.contains_key(&key) {
            let (start, before) = (std::time::Instant::now(), self.counts);
            let result = self.evaluate_rule(rule_id, since);
            // Which rules an evaluation's time goes to.
            tracing::debug!(
                rule = rule_id,
                judged = self.counts.judged - before.judged,
                ran = self.counts.ran - before.ran,
                ms = start.elapsed().as_millis() as u64,
                "rule evaluated"
            );
            self.results.insert(key.clone(), result);
        }
        &self.results[&key]
    }

    /// The start of the window whose inputs stand for one starting at
    /// `since`: an already built window that selects exactly the same
    /// evidence (usually all of it is fresh under every window), or a new
    /// one. Rule results are kept per window, so such windows share them.
    fn window(&mut self, since: i64) -> i64 {
        if let Some(start) = self.windows.get(&since) {
            return *start;
        }
        let converted = self.converted;
        let same = self.inputs.keys().copied().find(|&other| {
            let (lo, hi) = (since.min(other), since.max(other));
            !converted
                .iter()
                .any(|c| c.observed_ms >= lo && c.observed_ms < hi)
        });
        let start = same.unwrap_or_else(|| {
            let (hosts, facts) = input::build(self.converted, since, self.known);
            let fleet = facts.value();
            self.facts.insert(since, facts);
            let contents = hosts.iter().map(|h| h.content).collect();
            self.contents.insert(since, Arc::new(contents));
            self.inputs.insert(since, hosts);
            self.fleet.insert(since, fleet);
            since
        });
        self.windows.insert(since, start);
        start
    }

    fn evaluate_rule(&mut self, rule_id: &str, since: i64) -> RuleResult {
        let hosts = &self.inputs[&since];
        match self.rules.get(rule_id) {
            None => unknown_rule(rule_id),
            Some(rule) => {
                let vars = Vars {
                    params: rule.params.clone(),
                    fleet: self.fleet[&since].clone(),
                    now: Value::Timestamp(
                        chrono::DateTime::from_timestamp_millis(self.now_ms)
                            .unwrap_or_default()
                            .fixed_offset(),
                    ),
                };
                let scope = rule
                    .def
                    .expects
                    .as_ref()
                    .map(|of| self.expectations.scope(of));
                match rule.def.scope {
                    Scope::Host => {
                        // Results stand only where `fleet` (which a host
                        // rule may read) is the same.
                        let fleet = &self.fleet[&since];
                        let windows = self
                            .results
                            .iter()
                            .filter(|((r, other), _)| r == rule_id && &self.fleet[other] == fleet)
                            .map(|((_, other), result)| {
                                (self.inputs[other].as_slice(), result.hosts.as_slice())
                            })
                            .collect();
                        let previous = self
                            .previous
                            .by_rule
                            .get(rule_id)
                            .into_iter()
                            .flatten()
                            .filter(|w| &w.fleet == fleet)
                            .map(|w| (w.contents.as_slice(), &w.results))
                            .collect();
                        let earlier = Earlier {
                            windows,
                            previous,
                            previous_stand: !rule.reads_time,
                        };
                        let (results, evaluated, ran) =
                            host_results(rule, scope.as_ref(), &vars, hosts, &earlier);
                        self.counts.judged += evaluated as u64;
                        self.counts.ran += ran;
                        self.counts.reused += (results.len() - evaluated) as u64;
                        host_rule(rule, scope.as_ref(), &Tally::of(&results), results)
                    }
                    Scope::Fleet => fleet_rule(rule, &vars, hosts),
                }
            }
        }
    }

    /// The newest unexpired attestation of a row.
    fn attestation(&self, catalog: &str, item: &Item, row: &Row) -> Option<Attestation> {
        self.documents
            .attestations
            .iter()
            .filter(|a| a.catalog == catalog && a.item == item.id && a.row == row.id)
            .filter(|a| a.expires_ms.is_none_or(|e| e > self.now_ms))
            .max_by_key(|a| a.at_ms)
            .cloned()
    }

    /// An automated row: the rule's answer, at most P for a partial row
    /// unless the attested documents complete it; an attestation marking
    /// the row not applicable makes it NA. Documents never lift a rule's
    /// N or UNKNOWN: they complete what the evidence shows, not stand for it.
    fn automated_row(&self, catalog: &str, item: &Item, row: &Row, r: &RuleResult) -> RowResult {
        let answers = row.answers();
        let att = self.attestation(catalog, item, row);
        let attested = att.as_ref().and_then(|a| Verdict::parse(&a.verdict));
        let (verdict, en, ko) = match (&att, attested, r.verdict) {
            (Some(a), Some(Verdict::Na), _) => (
                Verdict::Na,
                format!("marked not applicable by {}: {}", a.by, a.comment),
                format!("{} 해당없음 지정: {}", a.by, a.comment),
            ),
            (Some(a), Some(v), Verdict::Y) => (
                v,
                format!(
                    "{}; completed by documents attested by {}: {}",
                    r.reason_en, a.by, a.comment
                ),
                format!("{}; {} 확인 문서로 보완: {}", r.reason_ko, a.by, a.comment),
            ),
            (_, _, Verdict::Y) if answers == Answers::Partial => (
                Verdict::P,
                format!(
                    "{}; the evidence answers part of this row, completed by: {}",
                    r.reason_en,
                    row.completes_en.as_deref().unwrap_or_default()
                ),
                format!(
                    "{}; 증적은 질문의 일부만 답함, 보완 자료: {}",
                    r.reason_ko,
                    row.completes_ko.as_deref().unwrap_or_default()
                ),
            ),
            (Some(a), Some(Verdict::N), Verdict::P) => (
                Verdict::N,
                format!("{}; attested N by {}: {}", r.reason_en, a.by, a.comment),
                format!("{}; {} 확인 결과 N: {}", r.reason_ko, a.by, a.comment),
            ),
            _ => (r.verdict, r.reason_en.clone(), r.reason_ko.clone()),
        };
        RowResult {
            id: row.id.clone(),
            question_ko: row.question_ko.clone(),
            question_en: row.question_en.clone(),
            rule: row.rule.clone(),
            manual: None,
            verdict,
            reason_en: en,
            reason_ko: ko,
            answers: Some(answers),
            highest: Some(answers.highest()),
            rationale_en: row.rationale_en.clone(),
            rationale_ko: row.rationale_ko.clone(),
            completes_en: row.completes_en.clone(),
            completes_ko: row.completes_ko.clone(),
            hosts: r.hosts.clone(),
            attestation: att,
        }
    }

    fn manual_row(&self, catalog: &str, item: &Item, row: &Row) -> RowResult {
        let att = self.attestation(catalog, item, row);
        let (verdict, en, ko) = match &att {
            Some(a) => (
                Verdict::parse(&a.verdict).unwrap_or(Verdict::Unknown),
                format!("attested by {}: {}", a.by, a.comment),
                format!("{} 확인: {}", a.by, a.comment),
            ),
            None => (
                Verdict::Unknown,
                format!(
                    "manual check, no documentary evidence yet ({})",
                    row.manual.clone().unwrap_or_default()
                ),
                "수동 확인 항목: 증빙 자료 미제출".to_string(),
            ),
        };
        RowResult {
            id: row.id.clone(),
            question_ko: row.question_ko.clone(),
            question_en: row.question_en.clone(),
            rule: None,
            manual: row.manual.clone(),
            verdict,
            reason_en: en,
            reason_ko: ko,
            answers: None,
            highest: None,
            rationale_en: None,
            rationale_ko: None,
            completes_en: None,
            completes_ko: None,
            hosts: Arc::default(),
            attestation: att,
        }
    }

    /// Evaluates one item; `applicable` false makes it NA (applicant group).
    /// A rule's own freshness wins over the item's (time sync is stale in
    /// an hour, a vulnerability check counts for a year).
    pub fn item(&mut self, catalog: &Catalog, item: &Item, applicable: bool) -> ItemResult {
        let cat = &catalog.catalog.id;
        let mut rows = Vec::new();
        for row in &item.rows {
            rows.push(match &row.rule {
                Some(rule) => {
                    let since = row_window(self.rules, self.now_ms, catalog, item, rule);
                    let r = self.answer(rule, since);
                    self.automated_row(cat, item, row, &r)
                }
                None => self.manual_row(cat, item, row),
            });
        }
        let (hosts, evidence) = self.merged_hosts(&rows);
        let na_mark = self
            .documents
            .na_marks
            .iter()
            .filter(|m| &m.catalog == cat && m.item == item.id)
            .max_by_key(|m| m.at_ms)
            .cloned();
        let row_verdicts: Vec<Verdict> = rows.iter().map(|r| r.verdict).collect();
        let (verdict, en, ko) = if let Some(m) = &na_mark {
            (
                Verdict::Na,
                format!("marked not applicable by {}: {}", m.by, m.justification),
                format!("{} 해당없음 지정: {}", m.by, m.justification),
            )
        } else {
            let v = combine(&row_verdicts);
            let worst = rows
                .iter()
                .filter(|r| r.verdict == v)
                .chain(rows.iter())
                .next();
            let (en, ko) = worst
                .map(|r| {
                    (
                        format!("{} — {}", r.id, r.reason_en),
                        format!("{} — {}", r.id, r.reason_ko),
                    )
                })
                .unwrap_or_default();
            (v, en, ko)
        };
        let mut result = ItemResult {
            catalog: cat.clone(),
            id: item.id.clone(),
            title_ko: item.title_ko.clone(),
            title_en: item.title_en.clone(),
            verdict,
            reason_en: en,
            reason_ko: ko,
            hosts,
            rows,
            evidence,
            evaluated_at: gamsa_proto::Timestamp::from_unix_millis(self.now_ms)
                .serialize(serde_json::value::Serializer)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            na_mark,
        };
        if !applicable {
            outside_group(&mut result);
        }
        result
    }

    /// Evaluates a whole catalog, optionally for one applicant group.
    pub fn catalog(&mut self, catalog: &Catalog, group: Option<&str>) -> Vec<ItemResult> {
        let group = group.and_then(|g| catalog.group(g));
        catalog
            .items
            .iter()
            .map(|item| {
                let applicable = group.is_none_or(|g| g.items.contains(&item.id));
                self.item(catalog, item, applicable)
            })
            .collect()
    }

    /// Each host's worst outcome over `rows` and their evidence: merged
    /// once for the same rule results, in this evaluation or the previous.
    fn merged_hosts(&mut self, rows: &[RowResult]) -> HostsAndEvidence {
        let from: Vec<&Shared> = rows
            .iter()
            .filter(|r| r.rule.is_some())
            .map(|r| &r.hosts)
            .collect();
        let key: MergeKey = from.iter().map(|h| Arc::as_ptr(h) as usize).collect();
        if let Some(m) = self.merged.get(&key) {
            return m.hosts.clone();
        }
        let before = self.previous.merged.get(&key).filter(|m| {
            m.from.len() == from.len() && m.from.iter().zip(&from).all(|(a, b)| Arc::ptr_eq(a, b))
        });
        let hosts = match before {
            Some(m) => m.hosts.clone(),
            None => worst_outcomes(rows),
        };
        let from = from.into_iter().cloned().collect();
        let merged = Merged {
            from,
            hosts: hosts.clone(),
        };
        self.merged.insert(key, merged);
        hosts
    }

    /// What the host rules gave, and the items merged from them, for the
    /// next evaluation.
    pub fn into_judged(self) -> Judged {
        let mut by_rule: HashMap<String, Vec<JudgedWindow>> = HashMap::new();
        for ((rule_id, since), result) in self.results {
            let keep = self
                .rules
                .get(&rule_id)
                .is_some_and(|r| r.def.scope == Scope::Host);
            if keep {
                by_rule.entry(rule_id).or_default().push(JudgedWindow {
                    fleet: self.fleet[&since].clone(),
                    contents: self.contents[&since].clone(),
                    results: result.hosts,
                });
            }
        }
        Judged {
            by_rule,
            merged: self.merged,
            counts: self.counts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tallies of consecutive hosts, added in order, are the tally of
    /// them all, naming the same first hosts.
    #[test]
    fn tallies_of_consecutive_hosts_add_up_to_the_tally_of_them_all() {
        use Outcome::*;
        let results: Vec<Arc<HostResult>> = (0..40)
            .map(|i| {
                Arc::new(HostResult {
                    host: format!("h{i:02}"),
                    outcome: [Pass, Fail, Fail, Unknown, Na][i % 5],
                    reason: String::new(),
                    detail: vec![],
                    evidence: Arc::default(),
                })
            })
            .collect();
        let whole = Tally::of(&results);
        assert_eq!((whole.pass, whole.fail, whole.unknown), (8, 16, 8));
        assert_eq!(whole.results, 40);
        assert_eq!(whole.failing.len(), SHOWN);
        assert_eq!(whole.failing[..3], ["h01", "h02", "h06"]);
        for size in [1, 3, 7, 40] {
            let mut added = Tally::default();
            for part in results.chunks(size) {
                added.add(&Tally::of(part));
            }
            assert_eq!(added, whole, "parts of {size}");
        }
    }

    #[test]
    fn rows_combine_into_item_verdicts() {
        use Verdict::*;
        assert_eq!(combine(&[Y, Y, Na]), Y);
        assert_eq!(combine(&[Y, Unknown]), P);
        assert_eq!(combine(&[N, N]), N);
        assert_eq!(combine(&[N, Unknown]), N);
        assert_eq!(combine(&[Unknown, Unknown]), Unknown);
        assert_eq!(combine(&[Na, Na]), Na);
        assert_eq!(combine(&[Y, N]), P);
    }

    /// Four rules over 60 hosts: 50 alike, 10 reporting another payload,
    /// each at its own time. Each rule's results equal those of every host
    /// judged alone; the expressions run once for each distinct input a
    /// part of the hosts holds, unless they read the host's name, the
    /// times, or the host whole.
    #[test]
    fn hosts_alike_in_what_a_rule_reads_run_its_expressions_once() {
        use gamsa_proto::v1::{evidence::Payload, Evidence, Status, TimeSync};
        let rule = |id: &str, pass: &str, detail: &str| {
            format!(
                "[[rule]]\nid = \"{id}\"\ntitle_en = \"t\"\ntitle_ko = \"t\"\n\
                 remediation_en = \"r\"\nremediation_ko = \"r\"\nscope = \"host\"\n\
                 needs = [\"time_sync\"]\npass = {pass:?}\n{detail}\n"
            )
        };
        let all = "host.time_sync.all(t, t.synchronised)";
        let text = [
            rule(
                "payload",
                all,
                r#"detail = "host.time_sync.map(t, t.daemon)""#,
            ),
            rule(
                "name",
                all,
                r#"detail = "host.time_sync.map(t, host.name + ': ' + t.daemon)""#,
            ),
            rule("whole", &format!("size(host) > 0 && {all}"), ""),
            rule(
                "times",
                "host.time_sync.all(t, t.synchronised && t.observedAt != '')",
                "",
            ),
        ]
        .concat();
        let rules = super::super::parse(&text, "t.toml").unwrap();
        assert_eq!(
            rules[0].host,
            Some(["time_sync".to_string()].into_iter().collect())
        );
        assert_eq!(rules[2].host, None, "size(host) reads it whole");
        let evidence: Vec<Evidence> = (0..60)
            .map(|i| Evidence {
                id: format!("e{i}"),
                agent_id: format!("a{i}"),
                host: format!("h{i:02}"),
                observed_at: Some(gamsa_proto::Timestamp::from_unix_millis(
                    1_700_000_000_000 + i,
                )),
                probe: "time_sync".into(),
                subject: "clock".into(),
                status: Status::Observed as i32,
                payload: Some(Payload::TimeSync(TimeSync {
                    synchronised: i >= 50,
                    daemon: if i >= 50 { "chrony" } else { "ntpd" }.into(),
                    ..Default::default()
                })),
                ..Default::default()
            })
            .collect();
        let converted = input::convert(&evidence, None, &input::Payloads::default());
        let (hosts, fleet) = input::build(&converted, 0, &BTreeMap::new());
        assert_eq!(hosts.len(), 60);
        let vars = Vars {
            params: Value::Null,
            fleet: fleet.value(),
            now: Value::Null,
        };
        let none = Earlier {
            windows: vec![],
            previous: vec![],
            previous_stand: false,
        };
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
        for (rule, most) in rules.iter().zip([2 * threads, 60, 60, 60]) {
            let (results, judged, ran) = host_results(rule, None, &vars, &hosts, &none);
            assert_eq!(judged, 60);
            assert!(ran <= most, "{}: ran {ran} times", rule.def.id);
            if rule.def.id != "payload" {
                assert_eq!(ran, 60, "{}", rule.def.id);
            }
            for (h, r) in hosts.iter().zip(results.iter()) {
                let (alone, ..) = host_results(rule, None, &vars, std::slice::from_ref(h), &none);
                assert_eq!(**r, *alone[0], "{} on {}", rule.def.id, h.name);
            }
            let fails = results.iter().filter(|r| r.outcome == Outcome::Fail);
            assert_eq!(fails.count(), 50, "{}", rule.def.id);
        }
        let (results, ..) = host_results(&rules[1], None, &vars, &hosts, &none);
        assert_eq!(results[7].detail, ["h07: ntpd"]);
        assert_eq!(results[8].detail, ["h08: ntpd"]);
    }
}

//! Filled-form exports: the seed 001 forms (양식2A, 2B, 2-1, 2-4, 2-5, 3) or
//! a whole checklist, filled from the current verdicts and evidence, as
//! printable HTML, PDF, CSV of the verdict rows, JSON, the cited evidence
//! as NDJSON, or OCSF Compliance Findings for SIEMs (`ocsf`).
//!
//! Evidence holds IP inventories (seed 003 forbids leaking them), so an
//! export that leaves the organisation can have every IP address replaced by
//! a keyed label (`redact`) and be encrypted to an age recipient (`encrypt`).

pub mod body;
pub mod csv;
pub mod encrypt;
pub mod findings;
pub mod forms;
pub mod html;
pub mod location;
pub mod made;
pub mod model;
pub mod monthly;
pub mod network;
pub mod ocsf;
pub mod page;
pub mod pdf;
pub mod redact;

use crate::checklists::Checklists;
use crate::store::Store;
use crate::verdict::{ItemResult, Outcome};
use body::{Body, Spool};
use forms::{ItemLabel, Kind};
use gamsa_proto::v1::Evidence;
use model::FilledForm;
use serde::Deserialize;
use std::collections::{BTreeSet, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

/// `[export]` in the collector configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExportConfig {
    /// TrueType font with Hangul glyphs embedded (subset) into PDF exports.
    pub pdf_font: PathBuf,
}

/// Debian's fonts-nanum.
pub const DEFAULT_PDF_FONT: &str = "/usr/share/fonts/truetype/nanum/NanumGothic.ttf";

impl Default for ExportConfig {
    fn default() -> Self {
        Self {
            pdf_font: PathBuf::from(DEFAULT_PDF_FONT),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Html,
    Pdf,
    Csv,
    Json,
    Ndjson,
    Ocsf,
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "html" => Format::Html,
            "pdf" => Format::Pdf,
            "csv" => Format::Csv,
            "json" => Format::Json,
            "ndjson" => Format::Ndjson,
            "ocsf" => Format::Ocsf,
            _ => {
                return Err(format!(
                    "format {s:?}: expected html, pdf, csv, json, ndjson or ocsf"
                ))
            }
        })
    }
}

impl Format {
    /// Whether the API hands this format out a page of hosts at a time:
    /// the machine-readable ones, whose size grows with the fleet.
    pub fn paged(self) -> bool {
        matches!(self, Format::Json | Format::Ndjson | Format::Ocsf)
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Html => "html",
            Format::Pdf => "pdf",
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Ndjson => "ndjson",
            Format::Ocsf => "ocsf.json",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Html => "text/html; charset=utf-8",
            Format::Pdf => "application/pdf",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Json | Format::Ocsf => "application/json",
            Format::Ndjson => "application/x-ndjson",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Request {
    pub catalog: String,
    /// A seed form id; None exports the whole checklist.
    pub form: Option<String>,
    pub format: Format,
    pub group: Option<String>,
    pub redact_ips: bool,
    pub hosts: Hosts,
}

/// Which of the fleet's hosts an export holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hosts {
    /// Every host, in one file: the command line, the dashboard's
    /// downloads, and the API when asked with `all=true`.
    All,
    /// One page (JSON, NDJSON and OCSF through the API, unless `all`): the
    /// hosts after `after` in name order (from the first when None), at
    /// most `limit` of them, fewer if they do not fit in
    /// [`page::MAX_PAGE_BYTES`].
    Page { after: Option<String>, limit: usize },
}

impl Request {
    /// "emr-s014 form 2B pdf group II-2 redacted", for the access log.
    pub fn describe(&self) -> String {
        let mut s = format!("{} ", self.catalog);
        match &self.form {
            Some(f) => s.push_str(&format!("form {f} ")),
            None => s.push_str("checklist "),
        }
        s.push_str(self.format.extension());
        if let Some(g) = &self.group {
            s.push_str(&format!(" group {g}"));
        }
        if self.redact_ips {
            s.push_str(" redacted");
        }
        match &self.hosts {
            Hosts::All => {}
            Hosts::Page { after: None, .. } => s.push_str(" page from the first host"),
            Hosts::Page { after: Some(h), .. } => s.push_str(&format!(" page after {h}")),
        }
        s
    }
}

/// An export ready to send or write.
#[derive(Debug)]
pub struct Output {
    pub body: Body,
    pub content_type: &'static str,
    pub file_name: String,
}

impl Output {
    /// Encrypts the output to age recipients (when any).
    pub fn encrypted_to(self, recipients: &[String]) -> Result<Output, ExportError> {
        if recipients.is_empty() {
            return Ok(self);
        }
        let r = encrypt::parse_recipients(recipients).map_err(ExportError::BadRequest)?;
        let file_name = format!("{}.age", self.file_name);
        let body = match self.body {
            // Encrypted as it is made, on the maker's heels.
            Body::Stream(_) => {
                let mut from = self.body.reader();
                body::streamed(file_name.clone(), move |out| {
                    encrypt::encrypt_to(&mut from, out, &r)
                })
            }
            body => {
                let mut out = Spool::default();
                encrypt::encrypt_to(&mut body.reader(), &mut out, &r).map_err(failed)?;
                out.finish().map_err(failed)?
            }
        };
        Ok(Output {
            body,
            content_type: "application/octet-stream",
            file_name,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The request names something that does not exist.
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Pdf(#[from] pdf::PdfError),
    #[error(transparent)]
    NotYet(#[from] crate::evaluation::NotYet),
    #[error("{0:#}")]
    Failed(#[from] anyhow::Error),
}

impl From<crate::store::StoreError> for ExportError {
    fn from(e: crate::store::StoreError) -> Self {
        ExportError::Failed(e.into())
    }
}

/// What an export reads.
pub struct Source<'a> {
    pub checklists: &'a Checklists,
    pub store: &'a Arc<dyn Store>,
    /// A serving collector's kept evaluation: exports answer from it, as of
    /// its time, instead of evaluating the fleet again. None (the command
    /// line) evaluates.
    pub kept: Option<&'a crate::evaluation::Kept>,
    /// A serving collector's reports made a while ago (`made`), handed out
    /// again rather than made per request. None (the command line) makes
    /// each.
    pub made: Option<&'a made::Made>,
    /// Finding counts (`assessment::Tallies`), which refuse a report too
    /// large before it is read: a serving collector's, kept between
    /// requests; elsewhere a fresh one, counted in the store when asked.
    pub tallies: &'a crate::assessment::Tallies,
    pub data_dir: &'a Path,
    pub config: &'a ExportConfig,
    pub collector_id: &'a str,
}

/// An export as the API and the dashboard ask for it (query parameters).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Query {
    pub catalog: String,
    #[serde(default)]
    pub form: String,
    pub format: String,
    #[serde(default)]
    pub group: String,
    /// "true", "1" or "on" (an HTML checkbox).
    #[serde(default)]
    pub redact_ips: String,
    /// age recipients, separated by commas or white space.
    #[serde(default)]
    pub encrypt_to: String,
    /// JSON, NDJSON and OCSF come a page at a time: the hosts after this
    /// one (the page before's last, which the `Link` header names).
    #[serde(default)]
    pub after: String,
    /// At most this many hosts a page (1 to [`page::MAX_LIMIT`]; by
    /// default as many as usually fit in a page of the format).
    pub limit: Option<usize>,
    /// "true": every host in one answer instead of a page.
    #[serde(default)]
    pub all: String,
}

/// Splits a list of age recipients given in one field.
pub fn recipients(field: &str) -> Vec<String> {
    field
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .collect()
}

/// "true", "1" or "on" (an HTML checkbox): a query's yes.
pub fn yes(field: &str) -> bool {
    matches!(field, "true" | "1" | "on")
}

impl Query {
    pub fn request(&self) -> Result<Request, ExportError> {
        let some = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
        let format: Format = self.format.parse().map_err(ExportError::BadRequest)?;
        let after = some(&self.after);
        // A form of every host's evidence (2-1, 2-4) comes a page at a
        // time as a document too (its CSV holds the verdict rows alone); an
        // unknown form is refused by `export`.
        let per_host = format != Format::Csv
            && some(&self.form)
                .and_then(|f| forms::find(&self.catalog, &f).ok())
                .is_some_and(|spec| spec.kind.per_host());
        let hosts = if !(format.paged() || per_host) || yes(&self.all) {
            if after.is_some() || self.limit.is_some() {
                return Err(ExportError::BadRequest(format!(
                    "after, limit: only json, ndjson and ocsf exports and the host forms (2-1, 2-4) in html and pdf come a page at a time, and not with all={}",
                    self.all
                )));
            }
            Hosts::All
        } else {
            let limit = self.limit.unwrap_or(page::default_limit(format));
            if !(1..=page::MAX_LIMIT).contains(&limit) {
                return Err(ExportError::BadRequest(format!(
                    "limit: from 1 to {}, not {limit}",
                    page::MAX_LIMIT
                )));
            }
            Hosts::Page { after, limit }
        };
        Ok(Request {
            catalog: self.catalog.clone(),
            form: some(&self.form),
            format,
            group: some(&self.group),
            redact_ips: yes(&self.redact_ips),
            hosts,
        })
    }

    /// The query of the page after host `after`.
    pub fn next(&self, after: &str) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("catalog", &self.catalog),
            ("form", &self.form),
            ("format", &self.format),
            ("group", &self.group),
            ("redactIps", &self.redact_ips),
            ("encryptTo", &self.encrypt_to),
        ] {
            if !value.is_empty() {
                q.append_pair(name, value);
            }
        }
        if let Some(limit) = self.limit {
            q.append_pair("limit", &limit.to_string());
        }
        q.append_pair("after", after);
        q.finish()
    }
}

/// Korean time for forms, e.g. "2025-03-02 09:00 KST".
pub fn kst(ms: i64) -> String {
    if ms <= 0 {
        return String::new();
    }
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&chrono_tz::Asia::Seoul)
                .format("%Y-%m-%d %H:%M KST")
                .to_string()
        })
        .unwrap_or_default()
}

/// When an evidence was observed, in Korean time: for a run of unchanged
/// observations (`firstObservedAt`), its first and last.
pub fn kst_observed(e: &gamsa_proto::v1::Evidence) -> String {
    let last = kst(e.observed_at.map(|t| t.unix_millis()).unwrap_or(0));
    match e.first_observed_at {
        Some(first) => format!("{} – {last}", kst(first.unix_millis())),
        None => last,
    }
}

pub fn outcome_ko(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "충족",
        Outcome::Fail => "미충족",
        Outcome::Unknown => "확인 불가",
        Outcome::Na => "해당 없음",
    }
}

/// What an evidence form shows: the latest evidence of its probes observed
/// since `since_ms` (Unix ms), from hosts that are not `revoked`.
struct Shows {
    probes: &'static [&'static str],
    since_ms: i64,
    revoked: HashSet<String>,
}

impl Shows {
    fn keeps(&self, e: &Evidence) -> bool {
        self.probes.contains(&e.probe.as_str())
            && !self.revoked.contains(&e.host)
            && e.observed_at.map(|t| t.unix_millis()).unwrap_or(0) >= self.since_ms
    }
}

/// What every page of an export is made from: the catalog, the form, the
/// item results and what the form shows, read once.
struct Gathered<'a> {
    catalog: &'a crate::catalog::Catalog,
    group: Option<&'a crate::catalog::Group>,
    spec: Option<&'static forms::FormSpec>,
    kind: Kind,
    items: Vec<ItemResult>,
    /// The kept evaluation's time, and whether a newer one is on its way.
    as_of: Option<(i64, bool)>,
    /// The evidence an evidence form shows, in host, probe and subject
    /// order: the kept evaluation's (what its verdicts judged), else read.
    shown: Vec<Arc<Evidence>>,
    redactor: Option<redact::Redactor>,
}

async fn gather<'a>(src: &Source<'a>, req: &Request) -> Result<Gathered<'a>, ExportError> {
    let bad = ExportError::BadRequest;
    let (catalog, group) = src
        .checklists
        .choose(&req.catalog, req.group.as_deref())
        .map_err(|e| bad(e.to_string()))?;
    let spec = req
        .form
        .as_deref()
        .map(|f| forms::find(&req.catalog, f))
        .transpose()
        .map_err(bad)?;
    let kind = spec.map_or(Kind::Checklist(ItemLabel::Generic), |s| s.kind);
    let group_id = group.map(|g| g.id.as_str());
    let (all, as_of, kept) = match src.kept {
        Some(kept) => {
            use crate::evaluation::{CATCH_UP, EXPORT_WAITS_FOR};
            let (e, includes) = kept
                .current(src.store.as_ref(), CATCH_UP, EXPORT_WAITS_FOR)
                .await?;
            let items = e.items_of(catalog, group_id);
            (items, Some((e.as_of_ms, !includes)), Some(e))
        }
        None => (
            src.checklists
                .evaluate(src.store.as_ref(), &[catalog.catalog.id.as_str()], group_id)
                .await?,
            None,
            None,
        ),
    };
    let wanted: Vec<String> = match kind {
        Kind::Checklist(_) => forms::items_on(catalog, req.form.as_deref())
            .into_iter()
            .map(|i| i.id.clone())
            .collect(),
        Kind::Redundancy => vec!["2.1".into()],
        Kind::Location | Kind::Services => vec!["4.3".into()],
    };
    let mut all = all;
    let items: Vec<ItemResult> = wanted
        .iter()
        .filter_map(|id| {
            let at = all.iter().position(|i| &i.id == id)?;
            Some(all.swap_remove(at))
        })
        .collect();
    let freshness = items
        .first()
        .and_then(|i| catalog.item(&i.id))
        .and_then(|d| d.freshness)
        .unwrap_or(catalog.catalog.freshness);
    let shown = match kind.probes() {
        None => Vec::new(),
        Some(probes) => {
            // As of the kept evaluation (what its verdicts judged), else now.
            let (now, agents) = match &kept {
                Some(e) => (e.as_of_ms, e.agents.clone()),
                None => (
                    crate::clock::now_ms(),
                    Arc::new(src.store.list_agents().await?),
                ),
            };
            let shows = Shows {
                probes,
                since_ms: now - freshness.as_millis() as i64,
                revoked: revoked(&agents),
            };
            match &kept {
                Some(e) => e
                    .shown
                    .iter()
                    .filter(|ev| shows.keeps(ev))
                    .cloned()
                    .collect(),
                None => {
                    let read = src
                        .store
                        .latest_evidence_of_probes(probes.iter().map(|p| p.to_string()).collect())
                        .await?;
                    let mut shown: Vec<Arc<Evidence>> = read
                        .into_iter()
                        .filter(|ev| shows.keeps(ev))
                        .map(Arc::new)
                        .collect();
                    shown.sort_by(|a, b| {
                        (&a.host, &a.probe, &a.subject).cmp(&(&b.host, &b.probe, &b.subject))
                    });
                    shown
                }
            }
        }
    };
    let redactor = if req.redact_ips {
        Some(
            redact::Redactor::load_or_create(src.data_dir)
                .map_err(|e| ExportError::Failed(e.into()))?,
        )
    } else {
        None
    };
    Ok(Gathered {
        catalog,
        group,
        spec,
        kind,
        items,
        as_of,
        shown,
        redactor,
    })
}

/// The hosts of revoked agents: their evidence is not shown.
fn revoked(agents: &[crate::store::AgentRecord]) -> HashSet<String> {
    agents
        .iter()
        .filter(|a| a.revoked)
        .map(|a| a.host.clone())
        .collect()
}

/// Builds the export `req` asks for; for a page, also the host the next
/// page starts after, if any hosts are left.
pub async fn export(
    src: &Source<'_>,
    req: &Request,
) -> Result<(Output, Option<String>), ExportError> {
    let g = gather(src, req).await?;
    let (body, next) = match &req.hosts {
        Hosts::All => (whole(src, req, g).await?, None),
        Hosts::Page { after, limit } => {
            page::render_page(src, req, &g, after.as_deref(), *limit).await?
        }
    };
    let stem = format!(
        "gamsa-{}-{}{}",
        req.catalog,
        req.form
            .as_deref()
            .map_or("checklist".to_string(), |f| format!("form-{f}")),
        req.group
            .as_deref()
            .map_or(String::new(), |g| format!("-{g}"))
    );
    Ok((
        Output {
            body,
            content_type: req.format.content_type(),
            file_name: format!("{stem}.{}", req.format.extension()),
        },
        next,
    ))
}

/// Every host's export. The machine-readable formats, which run to
/// hundreds of megabytes at a fleet's size, are [`body::streamed`]: made
/// while they are sent, their first byte at once.
async fn whole(src: &Source<'_>, req: &Request, g: Gathered<'_>) -> Result<Body, ExportError> {
    let items: Vec<&ItemResult> = g.items.iter().collect();
    let shown: Vec<&Evidence> = g.shown.iter().map(|e| &**e).collect();
    if !req.format.paged() {
        return render(src, req, &g, &items, &shown).await;
    }
    let what = req.describe();
    Ok(match req.format {
        Format::Json => {
            let form = filled(src, req, &g, &items, &shown, crate::clock::now_ms())?;
            let Gathered {
                items, redactor, ..
            } = g;
            body::streamed(what, move |out| {
                let items: Vec<&ItemResult> = items.iter().collect();
                json(out, &form, &items, redactor.as_ref())
            })
        }
        Format::Ocsf => {
            let (now, info) = (crate::clock::now_ms(), g.catalog.catalog.clone());
            let Gathered {
                items, redactor, ..
            } = g;
            body::streamed(what, move |out| {
                let items: Vec<&ItemResult> = items.iter().collect();
                array(out, ocsf::findings(&info, &items, now), redactor.as_ref())
            })
        }
        _ => ndjson(src.store.clone(), cited(&items, &shown), g.redactor, what),
    })
}

/// The export of `items` and `shown` (all of `g`'s, or a page's part), in
/// memory or a temporary file.
async fn render(
    src: &Source<'_>,
    req: &Request,
    g: &Gathered<'_>,
    items: &[&ItemResult],
    shown: &[&Evidence],
) -> Result<Body, ExportError> {
    let now = crate::clock::now_ms();
    let form = filled(src, req, g, items, shown, now)?;
    let redactor = g.redactor.as_ref();
    let spooled = |write: &dyn Fn(&mut dyn Write) -> std::io::Result<()>| {
        let mut out = Spool::default();
        write(&mut out).and_then(|()| out.finish()).map_err(failed)
    };
    Ok(match req.format {
        Format::Html => html::render(&form).into_bytes().into(),
        Format::Pdf => pdf::render(&form, &src.config.pdf_font)?.into(),
        Format::Csv => csv::render(&form.rows)
            .map_err(|e| ExportError::Failed(e.into()))?
            .into(),
        Format::Json => spooled(&|out| json(out, &form, items, redactor))?,
        Format::Ocsf => spooled(&|out| {
            array(
                out,
                ocsf::findings(&g.catalog.catalog, items, now),
                redactor,
            )
        })?,
        Format::Ndjson => ndjson(
            src.store.clone(),
            cited(items, shown),
            g.redactor.clone(),
            req.describe(),
        )
        .into_bytes()
        .await
        .map_err(failed)?
        .into(),
    })
}

/// The evidence an NDJSON export holds: what `items` cite and the forms
/// show, by id.
fn cited(items: &[&ItemResult], shown: &[&Evidence]) -> Vec<String> {
    let ids: BTreeSet<&String> = items
        .iter()
        .flat_map(|i| i.evidence.iter())
        .chain(shown.iter().map(|e| &e.id))
        .collect();
    ids.into_iter().cloned().collect()
}

/// The filled form of `items` and `shown` as of `now`, redacted if asked.
fn filled(
    src: &Source<'_>,
    req: &Request,
    g: &Gathered<'_>,
    items: &[&ItemResult],
    shown: &[&Evidence],
    now: i64,
) -> Result<FilledForm, ExportError> {
    let catalog = g.catalog;
    let mut fields = vec![(
        "점검 기준".to_string(),
        format!("{} ({})", catalog.catalog.title_ko, catalog.catalog.version),
    )];
    if let Some(g) = g.group {
        fields.push(("신청 유형".into(), g.title_ko.clone()));
    }
    fields.push(("작성 시각".into(), kst(now)));
    if let Some((at, pending)) = g.as_of {
        let mut v = kst(at);
        if pending {
            v.push_str(" (이후 변경 사항 평가 중)");
        }
        fields.push(("평가 시각".into(), v));
    }
    fields.push(("수집기".into(), src.collector_id.to_string()));
    let spec = g.spec;
    let mut form = FilledForm {
        catalog: catalog.catalog.id.clone(),
        catalog_title_ko: catalog.catalog.title_ko.clone(),
        catalog_version: catalog.catalog.version.clone(),
        form: req.form.clone().unwrap_or_default(),
        title_ko: spec.map_or(catalog.catalog.title_ko.clone(), |s| s.title_ko.to_string()),
        notes_ko: spec.map_or(vec![], |s| {
            s.notes_ko.iter().map(|n| n.to_string()).collect()
        }),
        fields,
        tables: vec![],
        rows: forms::verdict_rows(catalog, items),
        generated_at: chrono::DateTime::from_timestamp_millis(now)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        redacted: req.redact_ips,
    };
    form.tables = match g.kind {
        Kind::Checklist(label) => {
            let split = req.catalog == "cloud-notice" && req.form.as_deref() == Some("3");
            let caption = |item: &str| {
                if split {
                    forms::cloud_notice_part(item)
                } else {
                    String::new()
                }
            };
            let mut tables = forms::checklist_tables(label, &form, &caption);
            tables.extend(forms::rationale_table(&form));
            tables
        }
        Kind::Redundancy => match items.first() {
            Some(item) => network::tables(catalog, item, shown),
            None => vec![],
        },
        Kind::Location => match items.first() {
            Some(item) => location::location_tables(item, shown),
            None => vec![],
        },
        Kind::Services => {
            form.notes_ko.push(
                "gamsa는 리전 위치의 국내 여부를 증적(리전·백업)으로 표기합니다. 리전 한정 서비스 여부는 계약서(SLA)로 확인하여 표기하십시오."
                    .into(),
            );
            vec![location::services_table(shown)]
        }
    };
    if let Some(r) = &g.redactor {
        form = r.apply(&form).map_err(|e| ExportError::Failed(e.into()))?;
    }
    Ok(form)
}

fn failed(e: impl Into<anyhow::Error>) -> ExportError {
    ExportError::Failed(e.into())
}

/// The JSON export, `{"form": …, "items": [...]}`, written one item at a
/// time: a fleet's items hold every host's result, and made into one JSON
/// tree (to redact it) they outgrow memory.
fn json(
    out: &mut dyn Write,
    form: &FilledForm,
    items: &[&ItemResult],
    redactor: Option<&redact::Redactor>,
) -> std::io::Result<()> {
    out.write_all(b"{\n  \"form\": ")?;
    serde_json::to_writer_pretty(&mut *out, form)?;
    out.write_all(b",\n  \"items\": [")?;
    for (n, item) in items.iter().enumerate() {
        out.write_all(if n == 0 { b"\n" } else { b",\n" })?;
        match redactor {
            Some(r) => {
                let mut v = serde_json::to_value(item)?;
                r.value(&mut v);
                serde_json::to_writer_pretty(&mut *out, &v)
            }
            None => serde_json::to_writer_pretty(&mut *out, item),
        }?;
    }
    out.write_all(b"\n  ]\n}\n")
}

/// A JSON array of `values`, one per line, each redacted alone: an OCSF
/// export holds a finding per host and item, too many to hold as one tree.
fn array(
    out: &mut dyn Write,
    values: impl Iterator<Item = serde_json::Value>,
    redactor: Option<&redact::Redactor>,
) -> std::io::Result<()> {
    out.write_all(b"[")?;
    for (n, mut v) in values.enumerate() {
        out.write_all(if n == 0 { b"\n" } else { b",\n" })?;
        if let Some(r) = redactor {
            r.value(&mut v);
        }
        serde_json::to_writer(&mut *out, &v)?;
    }
    out.write_all(b"\n]\n")
}

/// Evidence read from the store per batch of ids, so that an export of a
/// fleet's cited evidence never holds more than one batch decoded.
const EVIDENCE_PER_READ: usize = 500;

/// The first batch is smaller: the first line waits for it alone.
const FIRST_READ: usize = 20;

/// The NDJSON export: every evidence of `cited` (ids in order), one per
/// line, read from the store a batch at a time while it is sent.
fn ndjson(
    store: Arc<dyn Store>,
    cited: Vec<String>,
    redactor: Option<redact::Redactor>,
    what: String,
) -> Body {
    let runtime = tokio::runtime::Handle::current();
    body::streamed(what, move |out| {
        let (first, rest) = cited.split_at(cited.len().min(FIRST_READ));
        let reads = std::iter::once(first).chain(rest.chunks(EVIDENCE_PER_READ));
        for ids in reads.filter(|ids| !ids.is_empty()) {
            let mut evidence = runtime
                .block_on(store.evidence_by_ids(ids.to_vec()))
                .map_err(std::io::Error::other)?;
            // The batches are consecutive runs of the ordered ids.
            evidence.sort_by(|a, b| a.id.cmp(&b.id));
            for e in &evidence {
                let mut v = serde_json::to_value(e)?;
                if let Some(r) = &redactor {
                    r.value(&mut v);
                }
                serde_json::to_writer(&mut *out, &v)?;
                out.write_all(b"\n")?;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    #[tokio::test]
    async fn ndjson_reads_the_store_in_batches_in_the_order_of_ids() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("gamsa.db")).unwrap();
        let n = EVIDENCE_PER_READ * 2 + 7;
        let id = |i: usize| format!("ev-{i:05}");
        let evidence = (0..n)
            .rev()
            .map(|i| Evidence {
                id: id(i),
                host: "h".into(),
                probe: "tls".into(),
                subject: format!("s{i}"),
                observed_at: Some(gamsa_proto::Timestamp {
                    seconds: 1_700_000_000,
                    nanos: 0,
                }),
                ..Default::default()
            })
            .collect();
        store.insert_batch(evidence).await.unwrap();
        let cited: BTreeSet<String> = (0..n).map(id).chain(["ev-missing".into()]).collect();
        let out = ndjson(
            Arc::new(store),
            cited.into_iter().collect(),
            None,
            "test".into(),
        );
        let read: Vec<String> = String::from_utf8(out.into_bytes().await.unwrap())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].to_string())
            .collect();
        let want: Vec<String> = (0..n).map(|i| format!("\"{}\"", id(i))).collect();
        assert_eq!(read, want);
    }
}

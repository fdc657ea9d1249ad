//! The exports page (every seed form and checklist in every format, with
//! applicant group, IP redaction and age encryption), the export itself, and
//! downloads of uploaded documentary evidence. Auditors may take all of
//! these; each is recorded in the access log before it is served.

use super::i18n::Lang;
use super::{page, record, refuse, refused, Language, SignedIn};
use crate::catalog::Catalog;
use crate::export::{forms::FORMS, Output};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/exports", get(exports))
        .route("/exports/download", get(download))
        .route("/documents/{sha256}", get(document))
}

async fn exports(State(state): State<AppState>, SignedIn(s): SignedIn, lang: Language) -> Response {
    let body = exports_page(lang.0, &state.checklists.catalogs);
    let title = lang.0.t("exports");
    page(&state, lang, title, Some(&s), body)
}

async fn download(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Query(q): Query<crate::export::Query>,
) -> Response {
    // A browser's download is one file: every host, whatever the format.
    let q = crate::export::Query {
        all: "true".into(),
        ..q
    };
    let req = match q.request() {
        Ok(r) => r,
        Err(e) => return refused(&s, e.into()),
    };
    let recipients = crate::export::recipients(&q.encrypt_to);
    match crate::operations::take_export(&state.export_source(), &s.actor(), &req, &recipients)
        .await
    {
        Ok((out, _)) => crate::download::file(out),
        Err(e) => refused(&s, e),
    }
}

async fn document(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path(sha256): Path<String>,
) -> Response {
    let (name, content) = match state.store.file(&sha256).await {
        Ok(Some(f)) => f,
        Ok(None) => return refuse(StatusCode::NOT_FOUND, "no such document"),
        Err(e) => return refuse(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    };
    if let Err(r) = record(
        &state,
        &s,
        crate::access_log::DOCUMENT_DOWNLOAD,
        &format!("{name} sha256:{sha256}"),
    )
    .await
    {
        return r;
    }
    crate::download::file(Output {
        body: content.into(),
        content_type: "application/octet-stream",
        file_name: name,
    })
}

fn exports_page(lang: Lang, catalogs: &[Catalog]) -> Markup {
    html! {
        h1 { (lang.t("exports")) }
        p.muted { (lang.t("exports_note")) }
        @for c in catalogs {
            @let forms: Vec<_> = FORMS.iter().filter(|f| f.catalog == c.catalog.id).collect();
            div.box.export {
                h2 { (c.catalog.id) " — " (lang.pick(&c.catalog.title_ko, &c.catalog.title_en)) }
                @if !forms.is_empty() {
                    p {
                        @for f in &forms {
                            a.form href=(super::pages::export_link(&c.catalog.id, f.id, "html", None)) { (f.title_ko) }
                            " " small { "(" a href=(super::pages::export_link(&c.catalog.id, f.id, "pdf", None)) { "PDF" } ")" } br;
                        }
                    }
                }
                form method="get" action="/exports/download" {
                    input type="hidden" name="catalog" value=(c.catalog.id);
                    label { (lang.t("form")) " " select name="form" {
                        option value="" { (lang.t("whole_checklist")) }
                        @for f in &forms { option value=(f.id) { (f.id) } }
                    } } " "
                    label { (lang.t("format")) " " select name="format" {
                        @for f in ["html", "pdf", "csv", "json", "ndjson", "ocsf"] { option { (f) } }
                    } } " "
                    @if !c.groups.is_empty() {
                        label { (lang.t("group")) " " select name="group" {
                            option value="" { (lang.t("all_groups")) }
                            @for g in &c.groups { option value=(g.id) { (g.id) } }
                        } } " "
                    }
                    label { input type="checkbox" name="redactIps" value="true"; " " (lang.t("redact_ips")) } " "
                    br;
                    label { (lang.t("encrypt_to")) " " input name="encryptTo" size="64" placeholder="age1…"; } " "
                    button type="submit" { (lang.t("export")) }
                }
            }
        }
    }
}

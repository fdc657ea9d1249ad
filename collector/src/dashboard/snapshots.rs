//! The snapshots page: every stored snapshot with its hash and author, a
//! download (recorded in the access log, optionally encrypted to an age
//! recipient), the public key and how to verify offline, a button for
//! operators and admins to take one now, and the comparison of two
//! snapshots: which items changed verdict.

use super::i18n::Lang;
use super::{check_csrf, page, pages, refuse, refused, CsrfForm, Language, SignedIn};
use crate::export::ExportError;
use crate::operations::OpError;
use crate::snapshot::{diff::Diff, Listed};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use maud::{html, Markup};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/snapshots", get(list).post(create))
        .route("/snapshots/public-key", get(public_key))
        .route("/snapshots/diff", get(diff))
        .route("/snapshots/download", get(download))
}

async fn list(State(state): State<AppState>, SignedIn(s): SignedIn, lang: Language) -> Response {
    let (snapshots, key) = match (state.snapshots.list().await, state.snapshots.public_key()) {
        (Ok(l), Ok(k)) => (l, k),
        (Err(e), _) | (_, Err(e)) => {
            return refuse(StatusCode::SERVICE_UNAVAILABLE, &format!("{e:#}"))
        }
    };
    let body = list_page(ListPage {
        lang: lang.0,
        snapshots: &snapshots,
        fingerprint: &crate::snapshot::key::fingerprint(&key),
        config: state.snapshots.config(),
        can_write: s.role.may_write(),
        csrf: &s.csrf,
    });
    let title = lang.0.t("snapshots");
    page(&state, lang, title, Some(&s), body)
}

async fn create(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Err(r) = check_csrf(&s, &f.csrf) {
        return r.into_response();
    }
    match crate::operations::create_snapshot(&state.snapshots, &s.actor()).await {
        Ok(_) => Redirect::to("/snapshots").into_response(),
        Err(e) => refused(&s, e),
    }
}

async fn public_key(State(state): State<AppState>, SignedIn(_): SignedIn) -> Response {
    match state.snapshots.public_key() {
        Ok(key) => crate::download::public_key(&key),
        Err(e) => refuse(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e:#}")),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DownloadQuery {
    id: String,
    #[serde(default)]
    encrypt_to: String,
}

async fn download(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Query(q): Query<DownloadQuery>,
) -> Response {
    let recipients = crate::export::recipients(&q.encrypt_to);
    // A browser's download is one file: the tar of everything.
    match crate::operations::download_snapshot(
        &state.snapshots,
        &s.actor(),
        &q.id,
        true,
        &recipients,
    )
    .await
    {
        Ok(Some(out)) => crate::download::file(out),
        Ok(None) => refuse(StatusCode::NOT_FOUND, "no such snapshot"),
        Err(OpError::Export(ExportError::BadRequest(e))) => refuse(StatusCode::BAD_REQUEST, &e),
        Err(e) => refuse(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    }
}

#[derive(Deserialize)]
struct DiffQuery {
    from: String,
    to: String,
}

async fn diff(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    lang: Language,
    Query(q): Query<DiffQuery>,
) -> Response {
    let d = match state.snapshots.diff(&q.from, &q.to).await {
        Ok(d) => d,
        Err(e) => return refuse(StatusCode::NOT_FOUND, &format!("{e:#}")),
    };
    if let Err(r) = super::record(
        &state,
        &s,
        crate::access_log::SNAPSHOT_DIFF,
        &format!("{} to {}", q.from, q.to),
    )
    .await
    {
        return r;
    }
    let body = diff_page(lang.0, &d);
    let title = lang.0.t("compare");
    page(&state, lang, title, Some(&s), body)
}

struct ListPage<'a> {
    lang: Lang,
    snapshots: &'a [Listed],
    fingerprint: &'a str,
    config: &'a crate::snapshot::SnapshotConfig,
    can_write: bool,
    csrf: &'a str,
}

fn list_page(p: ListPage<'_>) -> Markup {
    let lang = p.lang;
    html! {
        h1 { (lang.t("snapshots")) " (" (p.snapshots.len()) ")" }
        div.box {
            p {
                strong { (lang.t("schedule")) ": " }
                @if p.config.enabled { code { (p.config.schedule) } " " (p.config.timezone) } @else { "—" }
            }
            p { strong { (lang.t("public_key")) ": " } a href="/snapshots/public-key" { "snapshot-signing.pub" } }
            p { strong { (lang.t("fingerprint")) ": " } code.fingerprint { (p.fingerprint) } }
            p { (lang.t("verify_howto")) br;
                code { "gamsa-collector snapshot verify FILE.json --public-key snapshot-signing.pub [--chain DIR]" } }
            @if p.can_write {
                form.noprint method="post" action="/snapshots" {
                    input type="hidden" name="csrf" value=(p.csrf);
                    button type="submit" { (lang.t("create_snapshot")) }
                }
            }
        }
        @if p.snapshots.is_empty() {
            p { (lang.t("no_snapshots")) }
        } @else {
            form.noprint.box method="get" action="/snapshots/diff" {
                strong { (lang.t("compare")) ": " }
                label { (lang.t("from")) " " select name="from" {
                    @for (n, l) in p.snapshots.iter().enumerate() { option value=(l.id) selected[n == 1] { "#" (l.sequence) " " (l.created_at) } }
                } } " "
                label { (lang.t("to")) " " select name="to" {
                    @for (n, l) in p.snapshots.iter().enumerate() { option value=(l.id) selected[n == 0] { "#" (l.sequence) " " (l.created_at) } }
                } } " "
                button type="submit" { (lang.t("compare")) }
            }
            table.snapshots {
                tr { th { "#" } th { (lang.t("created")) } th { (lang.t("taken_by")) } th { "SHA-256" } th { (lang.t("size")) } th { (lang.t("download")) } }
                @for l in p.snapshots {
                    tr {
                        td.num { (l.sequence) }
                        td { (l.created_at) }
                        td { (l.taken_by) }
                        td { code { (l.sha256) } }
                        td.num { (l.bytes / 1024) " KiB" }
                        td { a.download href={"/snapshots/download?id=" (l.id)} { (l.download) } }
                    }
                }
            }
            form.noprint.box method="get" action="/snapshots/download" {
                strong { (lang.t("download")) ": " }
                select name="id" { @for l in p.snapshots { option value=(l.id) { "#" (l.sequence) " " (l.created_at) } } } " "
                label { (lang.t("encrypt_to")) " " input name="encryptTo" size="40" placeholder="age1…" required; } " "
                button type="submit" { (lang.t("download")) }
            }
        }
    }
}

fn diff_page(lang: Lang, d: &Diff) -> Markup {
    html! {
        p.noprint { a href="/snapshots" { "← " (lang.t("snapshots")) } }
        h1 { (lang.t("compare")) ": #" (d.from.sequence) " → #" (d.to.sequence) }
        table {
            tr { th {} th { "#" } th { (lang.t("created")) } th { "SHA-256" } }
            tr { td { (lang.t("from")) } td.num { (d.from.sequence) } td { (d.from.created_at) } td { code { (d.from.sha256) } } }
            tr { td { (lang.t("to")) } td.num { (d.to.sequence) } td { (d.to.created_at) } td { code { (d.to.sha256) } } }
        }
        h2 { (lang.t("changed")) " (" (d.changes.len()) ")" }
        table.changes {
            tr { th { (lang.t("item")) } th { (lang.t("title")) } th { (lang.t("from")) } th { (lang.t("to")) } }
            @for c in &d.changes {
                tr {
                    td { a href={"/catalogs/" (c.catalog) "/items/" (c.id)} { (c.catalog) "/" (c.id) } }
                    td { (lang.pick(&c.title_ko, &c.title_en)) }
                    td { (pages::badge(c.from.as_deref())) }
                    td { (pages::badge(c.to.as_deref())) }
                }
            }
        }
        p.muted { (d.unchanged) " " (lang.t("unchanged")) }
    }
}

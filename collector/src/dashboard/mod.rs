//! The auditor dashboard, served by the collector itself (no separate
//! front-end server): sign-in, catalog overviews worst-first with their
//! trend and what changed since the last snapshot (`trend`), item detail
//! with the evidence behind each verdict, what to change and its history,
//! hosts and a page per host (`hosts`), service availability and outages
//! (`availability`), snapshots (`snapshots`), exports
//! and uploaded documents (`exports`), the access log for admins
//! (`access_log`), and — for operators — documentary evidence and NA marks. Auditors are strictly read-only; every state-changing form
//! carries a CSRF token, sign-in included.

pub mod access_log;
pub mod admin;
pub mod auth;
pub mod availability;
pub mod drift;
pub mod exports;
pub mod findings;
pub mod hosts;
pub mod i18n;
pub mod pages;
pub mod snapshots;
pub mod trend;

use crate::evaluation::Evaluation;
use crate::export::ExportError;
use crate::operations::{self, NewAttestation, OpError};
use crate::state::AppState;
use auth::Session;
use axum::extract::{ConnectInfo, FromRequestParts, Multipart, Path, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use axum_extra::extract::cookie::{Cookie, CookieJar};
use i18n::Lang;
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;

pub fn routes(state: &AppState) -> Router<AppState> {
    let throttle = std::sync::Arc::new(auth::Throttle::new(&state.http));
    Router::new()
        .route("/", get(index))
        .route(
            "/login",
            get(login_page).post(login).layer(axum::Extension(throttle)),
        )
        .route("/logout", post(logout))
        .route("/catalogs/{catalog}", get(overview))
        .route("/catalogs/{catalog}/items/{id}", get(item))
        .route("/catalogs/{catalog}/items/{id}/attest", post(attest))
        .route("/catalogs/{catalog}/items/{id}/na", post(mark_na))
        .merge(hosts::routes())
        .merge(drift::routes())
        .merge(availability::routes())
        .merge(findings::routes())
        .merge(snapshots::routes())
        .merge(exports::routes())
        .merge(access_log::routes())
        .merge(admin::routes())
}

/// Records an access before the page or file is served; refuses when it
/// cannot be recorded.
async fn record(state: &AppState, s: &Session, action: &str, what: &str) -> Result<(), Response> {
    let actor = s.actor();
    crate::access_log::record(
        state.store.as_ref(),
        &actor.who(),
        actor.role_name(),
        action,
        what,
    )
    .await
    .map_err(|e| refuse(StatusCode::SERVICE_UNAVAILABLE, &format!("access log: {e}")))
}

/// The page language: `?lang=` (remembered in a cookie), else the cookie, else Korean.
struct Language(Lang, Option<Cookie<'static>>);

impl<S: Send + Sync> FromRequestParts<S> for Language {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, s: &S) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_request_parts(parts, s).await?;
        let query = parts.uri.query().unwrap_or("");
        let asked = query.split('&').find_map(|kv| kv.strip_prefix("lang="));
        Ok(match asked {
            Some(l) => {
                let lang = Lang::parse(l);
                let mut c = Cookie::new("gamsa_lang", lang.code());
                c.set_path("/");
                c.set_same_site(axum_extra::extract::cookie::SameSite::Strict);
                Language(lang, Some(c))
            }
            None => Language(
                Lang::parse(jar.get("gamsa_lang").map(|c| c.value()).unwrap_or("ko")),
                None,
            ),
        })
    }
}

/// Pages for signed-in users only: anyone else is sent to sign in.
struct SignedIn(Session);

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_request_parts(parts, state)
            .await
            .map_err(|e| match e {})?;
        let Some(token) = jar
            .get(auth::cookie_name(&state.http))
            .map(|c| c.value().to_string())
        else {
            return Err(Redirect::to("/login").into_response());
        };
        match auth::session(state, &token).await {
            Some(s) => Ok(SignedIn(s)),
            None => {
                tracing::info!("refused session: unknown, signed out or expired; sign in again");
                Err(Redirect::to("/login").into_response())
            }
        }
    }
}

fn page(
    state: &AppState,
    lang: Language,
    title: &str,
    who: Option<&Session>,
    body: maud::Markup,
) -> Response {
    let html = pages::layout(
        lang.0,
        title,
        who.map(|s| (s.user.as_str(), s.role, s.csrf.as_str())),
        &state.checklists.catalogs,
        body,
    );
    let mut resp = Html(html.into_string()).into_response();
    if let Some(c) = lang.1 {
        if let Ok(v) = c.to_string().parse() {
            resp.headers_mut().append(axum::http::header::SET_COOKIE, v);
        }
    }
    resp
}

fn refuse(status: StatusCode, why: &str) -> Response {
    crate::metrics::refusal("dashboard");
    (status, why.to_string()).into_response()
}

/// Why a form was refused.
struct Refused(&'static str);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        refuse(StatusCode::FORBIDDEN, self.0)
    }
}

/// A state-changing request must carry the session's CSRF token.
fn check_csrf(s: &Session, given: &str) -> Result<(), Refused> {
    if !given.is_empty() && given == s.csrf {
        Ok(())
    } else {
        tracing::warn!(user = %s.user, "refused form: missing or wrong CSRF token");
        Err(Refused("missing or wrong CSRF token"))
    }
}

/// The answer to an operation that was refused or failed.
fn refused(s: &Session, e: OpError) -> Response {
    match e {
        OpError::ReadOnly(_) => {
            tracing::warn!(user = %s.user, role = %s.role, "refused write by a read-only user");
            Refused("auditors are read-only").into_response()
        }
        OpError::AdminOnly(_) => {
            tracing::warn!(user = %s.user, role = %s.role, "refused access log: admins only");
            refuse(StatusCode::FORBIDDEN, "the access log is for admins")
        }
        OpError::NotAdmin(_) => {
            tracing::warn!(user = %s.user, role = %s.role, "refused credentials: admins only");
            refuse(StatusCode::FORBIDDEN, "tokens and users are for admins")
        }
        OpError::NoItem { .. } => refuse(StatusCode::NOT_FOUND, "no such item"),
        OpError::NotFound(why) => refuse(StatusCode::NOT_FOUND, &why),
        OpError::Invalid(why) | OpError::Export(ExportError::BadRequest(why)) => {
            refuse(StatusCode::BAD_REQUEST, &why)
        }
        OpError::TooLarge => refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "file too large or unreadable",
        ),
        OpError::Store(e) => refuse(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        OpError::Export(e @ ExportError::NotYet(_)) => {
            refuse(StatusCode::SERVICE_UNAVAILABLE, &e.to_string())
        }
        e @ (OpError::Export(_) | OpError::Failed(_)) => {
            refuse(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())
        }
    }
}

#[derive(Deserialize)]
struct LoginError {
    error: Option<String>,
}

/// The cookie that carries the sign-in form's CSRF token (there is no
/// session yet to bind it to): the form must echo it, which a page of
/// another origin cannot do.
const LOGIN_COOKIE: &str = "gamsa_login";

async fn login_page(
    State(state): State<AppState>,
    lang: Language,
    jar: CookieJar,
    Query(q): Query<LoginError>,
) -> Response {
    let l = lang.0;
    let token = crate::tokens::generate("login");
    let mut cookie = Cookie::new(LOGIN_COOKIE, token.clone());
    cookie.set_http_only(true);
    cookie.set_same_site(axum_extra::extract::cookie::SameSite::Strict);
    cookie.set_secure(state.http.secure_cookies);
    cookie.set_path("/login");
    let body = pages::login(l, q.error.is_some(), &token);
    let resp = page(&state, lang, l.t("sign_in"), None, body);
    (jar.add(cookie), resp).into_response()
}

#[derive(Deserialize)]
struct LoginForm {
    user: String,
    password: String,
    #[serde(default)]
    csrf: String,
}

async fn login(
    State(state): State<AppState>,
    Extension(throttle): Extension<Arc<auth::Throttle>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    jar: CookieJar,
    Form(f): Form<LoginForm>,
) -> Response {
    let address = peer.ip();
    if let Err(t) = throttle.admit(address, &f.user) {
        crate::metrics::refusal(t.reason());
        tracing::warn!(user = %f.user, %address, reason = t.reason(), "refused sign-in: too many attempts");
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(axum::http::header::RETRY_AFTER, "60")],
            "too many sign-in attempts; try again in a minute",
        )
            .into_response();
    }
    let expected = jar.get(LOGIN_COOKIE).map(|c| c.value().to_string());
    if f.csrf.is_empty() || expected.as_deref() != Some(f.csrf.as_str()) {
        tracing::warn!(user = %f.user, %address, "refused sign-in: missing or wrong CSRF token");
        return Refused("missing or wrong CSRF token; reload the sign-in page").into_response();
    }
    let jar = jar.remove(Cookie::build(LOGIN_COOKIE).path("/login"));
    match auth::sign_in(&state, &throttle, &f.user, &f.password).await {
        Ok(Some(cookie)) => {
            tracing::info!(user = %f.user, %address, "signed in");
            (jar.add(cookie), Redirect::to("/")).into_response()
        }
        Ok(None) => {
            crate::metrics::refusal("dashboard_login");
            tracing::warn!(user = %f.user, %address, "refused sign-in: wrong user name or password");
            Redirect::to("/login?error=1").into_response()
        }
        Err(e) => refuse(StatusCode::SERVICE_UNAVAILABLE, &format!("{e:#}")),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    jar: CookieJar,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Err(r) = check_csrf(&s, &f.csrf) {
        return r.into_response();
    }
    auth::sign_out(&state, &s).await;
    (
        jar.remove(
            Cookie::build(auth::cookie_name(&state.http))
                .path("/")
                .secure(state.http.secure_cookies),
        ),
        Redirect::to("/login"),
    )
        .into_response()
}

/// The kept evaluation (`evaluation.rs`); a page waits only for the first
/// one after start, and says so when it is not there in time.
async fn verdicts(state: &AppState) -> Result<Arc<Evaluation>, Response> {
    state
        .verdicts
        .get()
        .await
        .map_err(|e| refuse(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()))
}

/// `body` under the line saying as of when its verdicts are.
fn as_of(lang: i18n::Lang, state: &AppState, e: &Evaluation, body: maud::Markup) -> maud::Markup {
    maud::html! { (pages::as_of(lang, e, state.verdicts.pending(e))) (body) }
}

async fn index(State(state): State<AppState>, SignedIn(s): SignedIn, lang: Language) -> Response {
    let e = match verdicts(&state).await {
        Ok(e) => e,
        Err(r) => return r,
    };
    if let Err(r) = record(&state, &s, crate::access_log::ITEM_LIST, "all catalogs").await {
        return r;
    }
    let stored = state.snapshots.stored().await;
    let since = trend::since_last(&stored, &e.items, None);
    let body = pages::index(lang.0, &state.checklists.catalogs, &e.items, &since);
    let body = as_of(lang.0, &state, &e, body);
    let title = lang.0.t("catalogs");
    page(&state, lang, title, Some(&s), body)
}

#[derive(Deserialize)]
struct GroupQuery {
    group: Option<String>,
    /// Item pages: which page of each row's hosts.
    #[serde(default)]
    page: usize,
}

async fn overview(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    lang: Language,
    Path(catalog): Path<String>,
    Query(q): Query<GroupQuery>,
) -> Response {
    let Some(c) = state.checklists.catalog(&catalog) else {
        return refuse(StatusCode::NOT_FOUND, "no such catalog");
    };
    let group = q.group.filter(|g| c.group(g).is_some());
    let e = match verdicts(&state).await {
        Ok(e) => e,
        Err(r) => return r,
    };
    let mut items = e.items_of(c, group.as_deref());
    crate::report::worst_first(&mut items);
    if let Err(r) = record(&state, &s, crate::access_log::ITEM_LIST, &catalog).await {
        return r;
    }
    let stored = state.snapshots.stored().await;
    // Snapshots freeze verdicts without an applicant group: compare like with like.
    let since = match group {
        None => trend::since_last(&stored, &items, Some(&catalog)),
        Some(_) => None,
    };
    let body = pages::overview(pages::Overview {
        lang: lang.0,
        catalog: c,
        group: group.as_deref(),
        items: &items,
        trend: &trend::points(&stored, &catalog),
        since: &since,
    });
    let body = as_of(lang.0, &state, &e, body);
    page(&state, lang, &catalog, Some(&s), body)
}

async fn item(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    lang: Language,
    Path((catalog, id)): Path<(String, String)>,
    Query(q): Query<GroupQuery>,
) -> Response {
    let Some((c, item)) = state
        .checklists
        .catalog(&catalog)
        .and_then(|c| Some((c, c.item(&id)?)))
    else {
        return refuse(StatusCode::NOT_FOUND, "no such item");
    };
    let group = q.group.filter(|g| c.group(g).is_some());
    let e = match verdicts(&state).await {
        Ok(e) => e,
        Err(r) => return r,
    };
    let Some(result) = e.item_of(c, &id, group.as_deref()) else {
        return refuse(StatusCode::NOT_FOUND, "no such item");
    };
    let result = &result;
    // The hosts this page shows, not the whole fleet's: their detail lines
    // up to a budget, and their evidence read up to another (each is a line
    // here; the whole evidence is on its host's page), the rest named.
    let shown: Vec<&crate::verdict::HostResult> = result
        .rows
        .iter()
        .flat_map(|row| {
            pages::worst_first(&row.hosts)
                .into_iter()
                .skip(q.page * pages::HOSTS_PER_PAGE)
                .take(pages::HOSTS_PER_PAGE)
        })
        .collect();
    let detail_lines = crate::verdict::details_shown(shown.iter().copied(), pages::DETAIL_BUDGET);
    let mut host_of = std::collections::HashMap::new();
    let ids: Vec<String> = shown
        .iter()
        .flat_map(|h| h.evidence.iter().map(|e| (e, &h.host)))
        .filter(|(e, h)| host_of.insert(e.as_str(), h.as_str()).is_none())
        .map(|(e, _)| e.clone())
        .collect();
    let encoded = |e: &gamsa_proto::v1::Evidence| prost::Message::encoded_len(e);
    // An item shown without the evidence it stands on, for want of a read,
    // would look like an item that stands on none.
    let read =
        crate::store::evidence_within(state.store.as_ref(), ids, pages::EVIDENCE_READ, encoded)
            .await;
    let (evidence, unread) = match read {
        Ok(read) => read,
        Err(e) => {
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("reading the item's evidence: {e}"),
            )
        }
    };
    let unread: Vec<(String, String)> = unread
        .into_iter()
        .map(|id| {
            let host = host_of.get(id.as_str()).copied().unwrap_or_default();
            (host.to_string(), id)
        })
        .collect();
    if let Err(r) = record(
        &state,
        &s,
        crate::access_log::ITEM_VIEW,
        &format!("{catalog}/{id}"),
    )
    .await
    {
        return r;
    }
    tracing::info!(user = %s.user, role = %s.role, catalog = %catalog, item = %id, "item viewed");
    let history = state.snapshots.history(&catalog, &id).await;
    // Rows answered from synthetic checks show this month's availability and
    // outages beside their verdict (as the availability page computes them).
    let synthetic = result.rows.iter().any(|row| {
        row.rule
            .as_ref()
            .and_then(|r| state.checklists.rules.get(r))
            .is_some_and(|r| r.def.needs.iter().any(|n| n == "synthetic"))
    });
    let availability = if synthetic {
        let now = crate::clock::now_ms();
        let month = crate::availability::month_of(now);
        crate::availability::month_report(state.store.as_ref(), &state.availability, &month, now)
            .await
            .ok()
    } else {
        None
    };
    let body = pages::item(pages::ItemPage {
        lang: lang.0,
        catalog: c,
        item,
        result,
        evidence: &evidence,
        unread: &unread,
        detail_lines,
        history: &history,
        group: group.as_deref(),
        rules: &state.checklists.rules,
        page: q.page,
        can_write: s.role.may_write(),
        csrf: &s.csrf,
        availability: availability.as_ref(),
    });
    let body = as_of(lang.0, &state, &e, body);
    page(&state, lang, &format!("{catalog}/{id}"), Some(&s), body)
}

async fn attest(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path((catalog, id)): Path<(String, String)>,
    mut form: Multipart,
) -> Response {
    let (mut csrf, mut new) = (String::new(), NewAttestation::default());
    while let Ok(Some(field)) = form.next_field().await {
        let name = field.name().unwrap_or("").to_string();
        if name == "file" {
            let file_name = field.file_name().unwrap_or("").to_string();
            match field.bytes().await {
                Ok(b) => new.document = Some((file_name, b.to_vec())),
                Err(_) => {
                    return refuse(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "file too large or unreadable",
                    )
                }
            }
        } else {
            let value = field.text().await.unwrap_or_default();
            match name.as_str() {
                "csrf" => csrf = value,
                "row" => new.row = value,
                "verdict" => new.verdict = value,
                "comment" => new.comment = value,
                _ => {}
            }
        }
    }
    if let Err(r) = check_csrf(&s, &csrf) {
        return r.into_response();
    }
    let to = format!("/catalogs/{catalog}/items/{id}");
    new.catalog = catalog;
    new.item = id;
    match operations::attest(state.store.as_ref(), &state.checklists, &s.actor(), new).await {
        Ok(_) => {
            state.verdicts.include_writes(state.store.as_ref()).await;
            Redirect::to(&to).into_response()
        }
        Err(OpError::Invalid(_)) => refuse(StatusCode::BAD_REQUEST, "unknown row or verdict"),
        Err(e) => refused(&s, e),
    }
}

#[derive(Deserialize)]
struct NaForm {
    #[serde(default)]
    csrf: String,
    justification: String,
}

async fn mark_na(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path((catalog, id)): Path<(String, String)>,
    Form(f): Form<NaForm>,
) -> Response {
    if let Err(r) = check_csrf(&s, &f.csrf) {
        return r.into_response();
    }
    match operations::mark_na(
        state.store.as_ref(),
        &state.checklists,
        &s.actor(),
        &catalog,
        &id,
        &f.justification,
    )
    .await
    {
        Ok(_) => {
            state.verdicts.include_writes(state.store.as_ref()).await;
            Redirect::to(&format!("/catalogs/{catalog}/items/{id}")).into_response()
        }
        Err(OpError::NoItem { .. } | OpError::Invalid(_)) => refuse(
            StatusCode::BAD_REQUEST,
            "unknown item or empty justification",
        ),
        Err(e) => refused(&s, e),
    }
}

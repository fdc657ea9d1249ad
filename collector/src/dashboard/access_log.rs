//! The access log page, for admins: who viewed which item, and who took
//! which export, snapshot or document out of the collector, newest first.

use super::i18n::Lang;
use super::{page, refused, Language, SignedIn};
use crate::records::Access;
use crate::state::AppState;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};

/// How many records the page shows.
const SHOWN: u32 = 1000;

pub fn routes() -> Router<AppState> {
    Router::new().route("/access-log", get(access_log))
}

async fn access_log(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    lang: Language,
) -> Response {
    let records =
        match crate::operations::read_access_log(state.store.as_ref(), &s.actor(), SHOWN).await {
            Ok(r) => r,
            Err(e) => return refused(&s, e),
        };
    let body = access_page(lang.0, &records);
    let title = lang.0.t("access_log");
    page(&state, lang, title, Some(&s), body)
}

fn access_page(lang: Lang, records: &[Access]) -> Markup {
    html! {
        h1 { (lang.t("access_log")) " (" (records.len()) ")" }
        table.access {
            tr { th { (lang.t("when")) } th { (lang.t("who")) } th { (lang.t("role")) } th { (lang.t("action")) } th { (lang.t("what")) } }
            @for a in records {
                tr { td { (a.at) } td { (a.who) } td { (a.role) } td { (a.action) } td { (a.what) } }
            }
        }
    }
}

//! The credentials page, for admins: API and enrolment tokens (never their
//! secrets) with a button to revoke each, and users with their roles, to
//! change or delete. Every change is a form with the session's CSRF token
//! and one operation (`operations.rs`), as the API and the command line do.

use super::i18n::Lang;
use super::{check_csrf, page, refused, Language, SignedIn};
use crate::actor::Role;
use crate::operations::{self, TokenView, UserView};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{html, Markup};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(admin))
        .route("/admin/tokens/{id}/revoke", post(revoke_token))
        .route("/admin/users/{name}/role", post(set_role))
        .route("/admin/users/{name}/delete", post(delete_user))
}

async fn admin(State(state): State<AppState>, SignedIn(s): SignedIn, lang: Language) -> Response {
    let store = state.store.as_ref();
    let actor = s.actor();
    let lists = match operations::list_tokens(store, &actor).await {
        Ok(tokens) => operations::list_users(store, &actor)
            .await
            .map(|users| (tokens, users)),
        Err(e) => Err(e),
    };
    let (tokens, users) = match lists {
        Ok(l) => l,
        Err(e) => return refused(&s, e),
    };
    let body = admin_page(lang.0, &tokens, &users, &s.csrf);
    let title = lang.0.pick("자격 증명", "Credentials");
    page(&state, lang, title, Some(&s), body)
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn revoke_token(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Err(r) = check_csrf(&s, &f.csrf) {
        return r.into_response();
    }
    match operations::revoke_token(state.store.as_ref(), &s.actor(), &id).await {
        Ok(_) => Redirect::to("/admin").into_response(),
        Err(e) => refused(&s, e),
    }
}

#[derive(Deserialize)]
struct RoleForm {
    #[serde(default)]
    csrf: String,
    role: String,
}

async fn set_role(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path(name): Path<String>,
    Form(f): Form<RoleForm>,
) -> Response {
    if let Err(r) = check_csrf(&s, &f.csrf) {
        return r.into_response();
    }
    let Ok(role) = f.role.parse::<Role>() else {
        return super::refuse(StatusCode::BAD_REQUEST, "unknown role");
    };
    match operations::set_user_role(state.store.as_ref(), &s.actor(), &name, role).await {
        Ok(()) => Redirect::to("/admin").into_response(),
        Err(e) => refused(&s, e),
    }
}

async fn delete_user(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path(name): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Err(r) = check_csrf(&s, &f.csrf) {
        return r.into_response();
    }
    match operations::delete_user(state.store.as_ref(), &s.actor(), &name).await {
        Ok(()) => Redirect::to("/admin").into_response(),
        Err(e) => refused(&s, e),
    }
}

fn admin_page(lang: Lang, tokens: &[TokenView], users: &[UserView], csrf: &str) -> Markup {
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    html! {
        h1 { (lang.pick("토큰", "Tokens")) " (" (tokens.len()) ")" }
        table.tokens {
            tr {
                th { "id" } th { (lang.pick("종류", "Kind")) } th { (lang.pick("이름", "Name")) }
                th { (lang.pick("역할", "Role")) } th { (lang.pick("생성", "Created")) }
                th { (lang.pick("만료", "Expires")) } th { (lang.pick("남은 사용", "Uses left")) }
                th { (lang.pick("마지막 사용", "Last used")) } th {}
            }
            @for t in tokens {
                tr {
                    td { code { (t.id) } } td { (t.kind) } td { (t.name) } td { (t.role) }
                    td { (t.created) }
                    td { (dash(&t.expires)) @if t.expired { " " (lang.pick("(만료됨)", "(expired)")) } }
                    td { (dash(&t.uses_left.zip(t.max_uses).map(|(l, m)| format!("{l}/{m}")))) }
                    td { (dash(&t.last_used)) }
                    td {
                        form method="post" action=(format!("/admin/tokens/{}/revoke", t.id)) {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" { (lang.pick("폐기", "Revoke")) }
                        }
                    }
                }
            }
        }
        h1 { (lang.pick("사용자", "Users")) " (" (users.len()) ")" }
        p { (lang.pick(
            "역할을 바꾸거나 삭제하면 그 사용자의 세션이 곧바로 끝납니다.",
            "Changing a role or deleting a user ends the user's sessions at once.",
        )) }
        table.users {
            tr { th { (lang.pick("이름", "Name")) } th { (lang.pick("역할", "Role")) } th {} th {} }
            @for u in users {
                tr {
                    td { (u.name) }
                    td { (u.role) }
                    td {
                        form method="post" action=(format!("/admin/users/{}/role", u.name)) {
                            input type="hidden" name="csrf" value=(csrf);
                            select name="role" {
                                @for r in [Role::Admin, Role::Operator, Role::Auditor] {
                                    option value=(r.as_str()) selected[r.as_str() == u.role] { (r.as_str()) }
                                }
                            }
                            button type="submit" { (lang.pick("역할 변경", "Change role")) }
                        }
                    }
                    td {
                        form method="post" action=(format!("/admin/users/{}/delete", u.name)) {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" { (lang.pick("삭제", "Delete")) }
                        }
                    }
                }
            }
        }
    }
}

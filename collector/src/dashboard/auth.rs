//! Dashboard sign-in: local users with argon2 password hashes, session
//! cookies (HttpOnly, SameSite=Strict, Secure when configured for TLS) and a
//! CSRF token bound to the session for every state-changing form.

use crate::actor::{Actor, Role};
use crate::state::AppState;
use crate::store::{Store, TokenKind, TokenRecord, User};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum_extra::extract::cookie::{Cookie, SameSite};
use sha2::{Digest, Sha256};

pub const COOKIE: &str = "gamsa_session";

pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>()).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Creates or updates a user.
pub async fn add_user(
    store: &dyn Store,
    name: &str,
    role: &str,
    password: &str,
) -> anyhow::Result<()> {
    let role: Role = role.parse()?;
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_alphanumeric() || "._-@".contains(c))
    {
        anyhow::bail!("user name {name:?}: use 1-64 letters, digits, '.', '_', '-', '@'");
    }
    if password.chars().count() < 12 {
        anyhow::bail!("password: at least 12 characters");
    }
    let password_hash = hash_password(password).map_err(anyhow::Error::msg)?;
    store
        .upsert_user(User {
            name: name.into(),
            role: role.as_str().into(),
            password_hash,
        })
        .await?;
    Ok(())
}

/// A signed-in user.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: String,
    pub role: Role,
    pub csrf: String,
    token_hash: String,
}

impl Session {
    /// The user, as the operations know them.
    pub fn actor(&self) -> Actor {
        Actor::User {
            name: self.user.clone(),
            role: self.role,
        }
    }
}

/// The CSRF token of a session: derived from the secret session token, so a
/// page of another origin can neither read nor compute it.
fn csrf_for(token: &str) -> String {
    hex::encode(Sha256::digest(format!("gamsa-csrf:{token}").as_bytes()))
}

/// Checks a password and opens a session; returns the cookie to set.
pub async fn sign_in(
    state: &AppState,
    user: &str,
    password: &str,
) -> anyhow::Result<Option<Cookie<'static>>> {
    let Some(u) = state.store.get_user(user).await? else {
        // Spend the same time as a real check so user names cannot be probed.
        static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let dummy = DUMMY.get_or_init(|| hash_password("not a password").unwrap_or_default());
        let _ = verify_password(password, dummy);
        return Ok(None);
    };
    if !verify_password(password, &u.password_hash) {
        return Ok(None);
    }
    let token = crate::tokens::generate("gamsa_session");
    state
        .store
        .create_token(
            &crate::tokens::hash(&token),
            TokenRecord {
                kind: TokenKind::Session,
                name: u.name.clone(),
                role: u.role.clone(),
                expires_at_ms: Some(
                    crate::clock::now_ms() + state.http.session_lifetime.as_millis() as i64,
                ),
                max_uses: 0,
            },
        )
        .await?;
    let mut cookie = Cookie::new(COOKIE, token);
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Strict);
    cookie.set_secure(state.http.secure_cookies);
    cookie.set_path("/");
    Ok(Some(cookie))
}

/// The session of a cookie value, if live.
pub async fn session(state: &AppState, token: &str) -> Option<Session> {
    let token_hash = crate::tokens::hash(token);
    let rec = state
        .store
        .use_token(&token_hash, TokenKind::Session, crate::clock::now_ms())
        .await
        .ok()??;
    // A session whose role is none of the three is no session.
    let role = rec.role.parse().ok()?;
    Some(Session {
        user: rec.name,
        role,
        csrf: csrf_for(token),
        token_hash,
    })
}

pub async fn sign_out(state: &AppState, s: &Session) {
    let _ = state.store.delete_token(&s.token_hash).await;
}

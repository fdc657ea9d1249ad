//! Dashboard sign-in: local users with argon2 password hashes, session
//! cookies (HttpOnly, SameSite=Strict, Secure when configured for TLS) and a
//! CSRF token bound to the session for every state-changing form.
//!
//! `POST /login` is open to anyone who reaches the port, and each password
//! check costs tens of milliseconds of CPU and ~19 MiB: checks run on
//! threads of their own at a lower CPU priority (nice 10), a few at a time
//! (`[http] password_checks`), so a flood of sign-ins cannot stall ingest
//! or the API on the async runtime, nor take their cores; and each
//! client address and each user name gets a few attempts a minute
//! (`login_attempts_per_address`, `login_attempts_per_user`), so passwords
//! cannot be guessed at the speed of the CPU.

use crate::actor::{Actor, Role};
use crate::config::HttpConfig;
use crate::state::AppState;
use crate::store::{Store, TokenKind, TokenRecord, User};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum_extra::extract::cookie::{Cookie, SameSite};
use governor::{DefaultKeyedRateLimiter, Quota};
use sha2::{Digest, Sha256};
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// The session cookie's name: with the `__Host-` prefix when it is
/// `Secure` (the browser then keeps it to this host, path `/`, HTTPS only).
pub fn cookie_name(http: &crate::config::HttpConfig) -> &'static str {
    if http.secure_cookies {
        "__Host-gamsa_session"
    } else {
        "gamsa_session"
    }
}

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

/// Clients (addresses, user names) each limiter remembers at most; beyond
/// it, sign-in is refused to all until old entries expire, so a flood from
/// many addresses cannot grow memory without bound.
const MAX_KEYS: usize = 100_000;

/// How often limiter entries back at their full allowance are dropped.
const SWEEP: Duration = Duration::from_secs(60);

/// Longest user name `add_user` accepts: longer ones cannot exist.
const MAX_USER: usize = 64;

/// Why a sign-in attempt was turned away before its password was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttled {
    Address,
    User,
    /// More clients are signing in than the limiters remember.
    Full,
}

impl Throttled {
    /// The metrics reason and the log's word for it.
    pub fn reason(self) -> &'static str {
        match self {
            Throttled::Address => "dashboard_login_throttled_address",
            Throttled::User => "dashboard_login_throttled_user",
            Throttled::Full => "dashboard_login_throttled_full",
        }
    }
}

/// The limits on sign-in attempts and password checks, shared by every
/// request of one collector.
pub struct Throttle {
    by_address: DefaultKeyedRateLimiter<IpAddr>,
    by_user: DefaultKeyedRateLimiter<String>,
    checks: Semaphore,
    swept: Mutex<Instant>,
}

/// The limiter key of a client address: IPv4 as is, IPv6 by its /64 (one
/// host commonly holds a whole /64).
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
}

impl Throttle {
    pub fn new(http: &HttpConfig) -> Self {
        let checks = match http.password_checks {
            0 => std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)),
            n => n,
        };
        Self {
            by_address: governor::RateLimiter::keyed(per_minute(http.login_attempts_per_address)),
            by_user: governor::RateLimiter::keyed(per_minute(http.login_attempts_per_user)),
            checks: Semaphore::new(checks),
            swept: Mutex::new(Instant::now()),
        }
    }

    /// Counts one attempt by `peer` for `user`: refused once either has
    /// used its allowance for the minute.
    pub fn admit(&self, peer: IpAddr, user: &str) -> Result<(), Throttled> {
        self.sweep();
        if self.by_address.len() >= MAX_KEYS || self.by_user.len() >= MAX_KEYS {
            return Err(Throttled::Full);
        }
        self.by_address
            .check_key(&address_key(peer))
            .map_err(|_| Throttled::Address)?;
        if user.len() <= MAX_USER {
            self.by_user
                .check_key(&user.to_lowercase())
                .map_err(|_| Throttled::User)?;
        }
        Ok(())
    }

    /// Drops entries back at their full allowance: every minute, and every
    /// second while a limiter is full.
    fn sweep(&self) {
        let Ok(mut last) = self.swept.lock() else {
            return;
        };
        let full = self.by_address.len() >= MAX_KEYS || self.by_user.len() >= MAX_KEYS;
        let due = if full { Duration::from_secs(1) } else { SWEEP };
        if last.elapsed() >= due {
            self.by_address.retain_recent();
            self.by_user.retain_recent();
            *last = Instant::now();
        }
    }

    /// Checks `password` against `hash` on a thread of its own at a lower
    /// CPU priority, at most `password_checks` at a time: where cores are
    /// few, ingest and the store's threads run first and a flood of
    /// sign-ins waits instead of them.
    async fn verify(&self, password: &str, hash: &str) -> anyhow::Result<bool> {
        let _permit = self.checks.acquire().await?;
        let (password, hash) = (password.to_string(), hash.to_string());
        let (done, answer) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("password-check".into())
            .spawn(move || {
                lower_priority();
                let _ = done.send(verify_password(&password, &hash));
            })?;
        Ok(answer.await?)
    }
}

/// Nice value of password-check threads (0 is the default, 19 the lowest).
const PASSWORD_CHECK_NICE: libc::c_int = 10;

/// Lowers the calling thread's CPU priority (Linux: a thread's nice value is
/// its own). Best effort: where it cannot be lowered, the check runs as is.
fn lower_priority() {
    // SAFETY: plain system calls on the calling thread; no memory is shared.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, PASSWORD_CHECK_NICE);
    }
}

/// Checks a password and opens a session; returns the cookie to set, or
/// `None` for a wrong user name or password.
pub async fn sign_in(
    state: &AppState,
    throttle: &Throttle,
    user: &str,
    password: &str,
) -> anyhow::Result<Option<Cookie<'static>>> {
    let found = if user.len() <= MAX_USER {
        state.store.get_user(user).await?
    } else {
        None
    };
    let Some(u) = found else {
        // Spend the same time as a real check so user names cannot be probed.
        static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let dummy = DUMMY.get_or_init(|| hash_password("not a password").unwrap_or_default());
        let _ = throttle.verify(password, dummy).await?;
        return Ok(None);
    };
    if !throttle.verify(password, &u.password_hash).await? {
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
    let mut cookie = Cookie::new(cookie_name(&state.http), token);
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

//! Bearer, enrolment and session tokens: random secrets shown once, stored
//! as SHA-256, and the rules for creating them.

use crate::actor::Role;
use crate::store::{Store, StoreError, TokenKind, TokenRecord};
use sha2::{Digest, Sha256};
use std::time::Duration;

pub fn generate(prefix: &str) -> String {
    let bytes: [u8; 24] = rand::random();
    format!("{prefix}_{}", hex::encode(bytes))
}

pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A token to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewToken {
    /// Agent enrolment, bound to one agent name when given, for `uses`
    /// agents (a DaemonSet's shared token: its node count).
    Enrol { agent: Option<String>, uses: u32 },
    /// An HTTP API bearer token.
    Api { name: String, role: Role },
}

/// How long an enrolment token lives unless told: long enough to roll out,
/// short enough that a leaked one is soon worthless.
pub const ENROL_TTL: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    AgentName(#[from] crate::pki::PkiError),
    #[error("storing the token: {0}")]
    Store(#[from] StoreError),
}

/// Stores `token`'s hash, valid for `ttl` (enrolment: `ENROL_TTL` when not
/// given; API tokens: until deleted), and returns the secret, which is
/// shown once and kept nowhere.
pub async fn create(
    store: &dyn Store,
    token: NewToken,
    ttl: Option<Duration>,
) -> Result<String, TokenError> {
    let (prefix, record, ttl) = match token {
        NewToken::Enrol { agent, uses } => {
            if let Some(a) = &agent {
                crate::pki::validate_agent_name(a)?;
            }
            let record = TokenRecord {
                kind: TokenKind::Enrol,
                name: agent.unwrap_or_default(),
                role: String::new(),
                expires_at_ms: None,
                max_uses: uses,
            };
            ("gamsa-enrol", record, ttl.or(Some(ENROL_TTL)))
        }
        NewToken::Api { name, role } => {
            let record = TokenRecord {
                kind: TokenKind::Api,
                name,
                role: role.as_str().into(),
                expires_at_ms: None,
                max_uses: 0,
            };
            ("gamsa", record, ttl)
        }
    };
    let secret = generate(prefix);
    let record = TokenRecord {
        expires_at_ms: ttl.map(|t| crate::clock::now_ms() + t.as_millis() as i64),
        ..record
    };
    store.create_token(&hash(&secret), record).await?;
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    #[tokio::test]
    async fn enrolment_tokens_expire_in_a_day_and_bind_valid_names_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("gamsa.db")).unwrap();
        let enrol = |agent: &str, uses| NewToken::Enrol {
            agent: Some(agent.into()),
            uses,
        };
        let e = create(&store, enrol("node a", 1), None).await.unwrap_err();
        assert!(matches!(e, TokenError::AgentName(_)), "{e}");

        let before = crate::clock::now_ms();
        let t = create(&store, enrol("node-a", 2), None).await.unwrap();
        assert!(t.starts_with("gamsa-enrol_"), "{t}");
        let found = store
            .use_token(&hash(&t), TokenKind::Enrol, before)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((found.name.as_str(), found.max_uses), ("node-a", 2));
        let expires = found.expires_at_ms.unwrap() - before;
        assert!((86_400_000..86_460_000).contains(&expires), "{expires}");

        let t = create(
            &store,
            NewToken::Api {
                name: "ci".into(),
                role: Role::Operator,
            },
            None,
        )
        .await
        .unwrap();
        assert!(t.starts_with("gamsa_"), "{t}");
        let found = store
            .use_token(&hash(&t), TokenKind::Api, before)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                found.name.as_str(),
                found.role.as_str(),
                found.expires_at_ms
            ),
            ("ci", "operator", None),
            "API tokens live until deleted"
        );
    }
}

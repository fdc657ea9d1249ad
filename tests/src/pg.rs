//! Scratch schemas on the real PostgreSQL: each test gets a schema of its
//! own, reached through a URL whose `search_path` points at it, and dropped
//! when the test ends, so tests run in parallel and leave nothing behind.
//!
//! PostgreSQL must be running: an unreachable server fails the test with
//! the URL and the way to point the tests elsewhere, it is never skipped.

use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// The server the tests use unless `GAMSA_TEST_PG_URL` names another.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub fn base_url() -> String {
    std::env::var("GAMSA_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_URL.into())
}

/// A schema dropped (with everything in it) on drop.
pub struct Scratch {
    base: String,
    pub schema: String,
    /// `base_url()` with `search_path` set to the schema.
    pub url: String,
}

/// Runs `sql` on a connection of its own, on a thread of its own, so it
/// works from synchronous and asynchronous tests alike.
fn execute(url: &str, sql: String) -> Result<(), String> {
    let url = url.to_string();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async {
            let mut conn =
                tokio::time::timeout(Duration::from_secs(30), PgConnection::connect(&url))
                    .await
                    .map_err(|_| "no answer within 30 s".to_string())?
                    .map_err(|e| e.to_string())?;
            conn.execute(AssertSqlSafe(sql))
                .await
                .map_err(|e| e.to_string())?;
            conn.close().await.map_err(|e| e.to_string())
        })
    })
    .join()
    .map_err(|_| "the PostgreSQL thread panicked".to_string())?
}

impl Scratch {
    /// Creates a fresh schema named after `prefix` on `base_url()`.
    pub fn create(prefix: &str) -> Scratch {
        Self::create_on(&base_url(), prefix)
    }

    /// Creates a fresh schema named after `prefix` on the server at `base`.
    pub fn create_on(base: &str, prefix: &str) -> Scratch {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let base = base.to_string();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let schema = format!(
            "{prefix}_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        if let Err(e) = execute(&base, format!("CREATE SCHEMA {schema}")) {
            panic!(
                "PostgreSQL at {base} is unreachable or refused CREATE SCHEMA: {e}\n\
                 These tests need a real PostgreSQL: start one there, or set \
                 GAMSA_TEST_PG_URL to a server where this user may create schemas."
            );
        }
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
        Scratch { base, schema, url }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = execute(
            &self.base,
            format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema),
        ) {
            eprintln!("could not drop scratch schema {}: {e}", self.schema);
        }
    }
}

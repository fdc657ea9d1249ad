//! Reports made once and kept a while.
//!
//! The monthly operation report of a large fleet reads the month's
//! evidence of every host in scope: seconds of work at 10,000 hosts. Made
//! per request, every auditor's click repeated it and a few clicking at
//! once held every core. Instead the first request for a report (month,
//! scope and format) makes it, requests arriving meanwhile wait for that
//! one, and later ones are answered with it while it is younger than
//! `fresh`; the report says when it was made. Only answers are kept, never
//! errors, and at most [`MAX_KEPT`] reports, the least recently made going
//! first.

use super::{ExportError, Output};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The most reports kept at once.
pub const MAX_KEPT: usize = 16;

/// How long a made report is handed out again.
pub const FRESH: Duration = Duration::from_secs(300);

/// A report made, and when: its bytes (always in memory: a report is a
/// document for people, megabytes at most), type and name.
type Slot = Arc<tokio::sync::Mutex<Option<(Instant, Kept)>>>;

#[derive(Clone)]
struct Kept {
    bytes: Vec<u8>,
    content_type: &'static str,
    file_name: String,
}

impl Kept {
    fn output(&self) -> Output {
        Output {
            body: self.bytes.clone().into(),
            content_type: self.content_type,
            file_name: self.file_name.clone(),
        }
    }
}

/// Reports kept by what was asked for.
pub struct Made {
    fresh: Duration,
    slots: Mutex<HashMap<String, Slot>>,
}

impl Default for Made {
    fn default() -> Self {
        Self::new(FRESH)
    }
}

impl Made {
    pub fn new(fresh: Duration) -> Self {
        Self {
            fresh,
            slots: Mutex::default(),
        }
    }

    /// The report `key` names: kept, or made by `make` (once, however many
    /// ask at the same time).
    pub async fn get_or_make<F>(&self, key: &str, make: F) -> Result<Output, ExportError>
    where
        F: Future<Output = Result<Output, ExportError>>,
    {
        let slot = self.slot(key);
        let mut kept = slot.lock().await;
        if let Some((at, k)) = kept.as_ref() {
            if at.elapsed() < self.fresh {
                return Ok(k.output());
            }
        }
        let out = make.await?;
        if let Some(bytes) = out.body.as_bytes() {
            let k = Kept {
                bytes: bytes.to_vec(),
                content_type: out.content_type,
                file_name: out.file_name.clone(),
            };
            *kept = Some((Instant::now(), k));
        }
        Ok(out)
    }

    /// The slot of `key`, made room for when new.
    fn slot(&self, key: &str) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = slots.get(key) {
            return s.clone();
        }
        if slots.len() >= MAX_KEPT {
            // The oldest made (or one not made yet, whose maker holds it).
            let oldest = slots
                .iter()
                .min_by_key(|(_, s)| {
                    s.try_lock()
                        .ok()
                        .and_then(|k| k.as_ref().map(|(at, _)| *at))
                })
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                slots.remove(&k);
            }
        }
        let s = Slot::default();
        slots.insert(key.to_string(), s.clone());
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn output(n: usize) -> Output {
        Output {
            body: n.to_string().into_bytes().into(),
            content_type: "text/plain",
            file_name: format!("{n}.txt"),
        }
    }

    #[tokio::test]
    async fn made_once_for_everyone_asking_until_it_is_old() {
        let made = Arc::new(Made::new(Duration::from_millis(300)));
        let makes = Arc::new(AtomicUsize::new(0));
        let ask = |made: Arc<Made>, makes: Arc<AtomicUsize>| async move {
            made.get_or_make("2026-12 all html", async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok(output(makes.fetch_add(1, Ordering::SeqCst)))
            })
            .await
            .unwrap()
        };
        let together: Vec<_> = (0..5)
            .map(|_| tokio::spawn(ask(made.clone(), makes.clone())))
            .collect();
        for t in together {
            assert_eq!(t.await.unwrap().body.as_bytes(), Some(&b"0"[..]));
        }
        assert_eq!(makes.load(Ordering::SeqCst), 1);
        assert_eq!(
            ask(made.clone(), makes.clone()).await.body.as_bytes(),
            Some(&b"0"[..])
        );
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert_eq!(
            ask(made.clone(), makes.clone()).await.body.as_bytes(),
            Some(&b"1"[..])
        );
        // An error is not kept: the next request makes it again.
        let failed = made
            .get_or_make("other", async { Err(ExportError::BadRequest("no".into())) })
            .await;
        assert!(failed.is_err());
        let again = made.get_or_make("other", async { Ok(output(9)) }).await;
        assert_eq!(again.unwrap().body.as_bytes(), Some(&b"9"[..]));
    }

    #[tokio::test]
    async fn at_most_max_kept_the_oldest_going_first() {
        let made = Made::default();
        for n in 0..MAX_KEPT + 3 {
            made.get_or_make(&n.to_string(), async move { Ok(output(n)) })
                .await
                .unwrap();
        }
        let slots = made.slots.lock().unwrap();
        assert_eq!(slots.len(), MAX_KEPT);
        assert!(!slots.contains_key("0") && slots.contains_key(&(MAX_KEPT + 2).to_string()));
    }
}

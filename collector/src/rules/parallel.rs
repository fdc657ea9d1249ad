//! Work spread over every core, in order: evaluating a large fleet is many
//! small independent steps (one evidence to convert, one host to judge), so
//! each thread takes one contiguous part and the parts are joined in order.
//!
//! That work is done in the background ([`in_background`]): on a thread of
//! its own at a lower scheduling priority, which the threads it spreads the
//! work over inherit. An evaluation of a large fleet under ingest runs again
//! and again for tens of seconds of CPU; at the same priority it took the
//! cores from the requests and the ingest it serves.

/// `f` applied to consecutive parts of `items`, one part per core; the
/// results concatenated in the order of `items`.
pub fn map_parts<'a, T: Sync, R: Send>(
    items: &'a [T],
    f: impl Fn(&'a [T]) -> Vec<R> + Sync,
) -> Vec<R> {
    // Asked once: on Linux the answer reads cgroup files every time.
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let threads =
        *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if threads == 1 || items.len() < 2 {
        return f(items);
    }
    let part = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let f = &f;
        let handles: Vec<_> = items.chunks(part).map(|p| s.spawn(move || f(p))).collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// The niceness of background work: the scheduler gives it what requests
/// and ingest leave.
const BACKGROUND_NICE: i32 = 10;

/// Runs `f` on a new thread at a lower scheduling priority (Linux keeps the
/// niceness per thread, and threads inherit it, so only this work and the
/// threads `map_parts` makes for it run lower); `None` if `f` panicked.
pub async fn in_background<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> Option<R> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("gamsa-background".into())
        .spawn(move || {
            lower_priority();
            let _ = tx.send(f());
        });
    match spawned {
        Ok(_) => rx.await.ok(),
        Err(e) => {
            tracing::warn!(error = %e, "no thread for background work");
            None
        }
    }
}

/// Drops `value` on a background thread, not the caller's: for a large
/// structure (an evaluation, a reading of the fleet's evidence) whose
/// millions of allocations take a tenth of a second or more to free, which
/// an async worker would otherwise spend while requests wait. `what` names
/// it in the debug log, with how long freeing took.
pub fn free_in_background<T: Send + 'static>(what: &'static str, value: T) {
    tokio::spawn(in_background(move || {
        let started = std::time::Instant::now();
        drop(value);
        tracing::debug!(
            what,
            took_ms = started.elapsed().as_millis() as u64,
            "freed in the background"
        );
    }));
}

/// Lowers the calling thread's priority by `BACKGROUND_NICE` (at most to
/// 19, the lowest); best effort (where it cannot, the work runs at the
/// usual priority).
fn lower_priority() {
    // SAFETY: plain system calls on the calling thread's own id.
    let done = unsafe {
        let me = libc::gettid() as libc::id_t;
        let now = libc::getpriority(libc::PRIO_PROCESS, me);
        libc::setpriority(libc::PRIO_PROCESS, me, (now + BACKGROUND_NICE).min(19))
    };
    if done != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "background work at the usual priority");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parts_keep_their_order() {
        let items: Vec<u32> = (0..1001).collect();
        let doubled = super::map_parts(&items, |p| p.iter().map(|i| i * 2).collect());
        assert_eq!(doubled, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        assert!(super::map_parts(&[] as &[u32], |p| p.to_vec()).is_empty());
    }

    /// The niceness of the calling thread.
    fn nice() -> i32 {
        // SAFETY: as in `lower_priority`.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) }
    }

    #[tokio::test]
    async fn background_work_and_its_helpers_run_lower_and_the_caller_does_not() {
        let before = nice();
        let (own, helpers) = super::in_background(|| {
            let helpers = super::map_parts(&[0u8; 64], |p| vec![nice(); p.len().min(1)]);
            (nice(), helpers)
        })
        .await
        .unwrap();
        assert_eq!(own, (before + super::BACKGROUND_NICE).min(19));
        assert!(helpers.iter().all(|n| *n == own), "{helpers:?}");
        assert_eq!(nice(), before, "the caller's priority is its own");
        assert!(super::in_background(|| -> u8 { panic!("lost") })
            .await
            .is_none());
    }
}

//! Work spread over every core, in order: evaluating a large fleet is many
//! small independent steps (one evidence to convert, one host to judge), so
//! each thread takes one contiguous part and the parts are joined in order.

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

#[cfg(test)]
mod tests {
    #[test]
    fn parts_keep_their_order() {
        let items: Vec<u32> = (0..1001).collect();
        let doubled = super::map_parts(&items, |p| p.iter().map(|i| i * 2).collect());
        assert_eq!(doubled, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        assert!(super::map_parts(&[] as &[u32], |p| p.to_vec()).is_empty());
    }
}

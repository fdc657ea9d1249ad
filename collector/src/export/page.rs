//! The machine-readable exports (JSON, NDJSON, OCSF) and the forms with a
//! row per host (2-1, 2-4) as HTML and PDF, a page of hosts at a time.
//!
//! Why: at a fleet's size these exports hold every host's results and
//! evidence (hundreds of megabytes), which no one answer should carry. A
//! page is the same export over some of the hosts: the hosts after a
//! cursor in name order, as many as fit in [`MAX_PAGE_BYTES`]. Every page
//! carries every item's verdict and rows, which are the whole fleet's; only
//! the host results, and the evidence they cite, are cut to the page. The
//! cursor is a host name, so pages stay consistent while the fleet changes:
//! a host added before the cursor is missed by this walk, none is repeated.
//! The API names the next page in a `Link` header; the last page has none.

use super::{render, ExportError, Format, Gathered, Request, Source};
use crate::export::body::Body;
use crate::verdict::ItemResult;
use gamsa_proto::v1::Evidence;
use std::collections::BTreeSet;
use std::ops::Bound;
use std::sync::Arc;

/// The most bytes a page holds, unless one host alone needs more.
pub const MAX_PAGE_BYTES: u64 = 1_000_000;

/// The most hosts a page may be asked for.
pub const MAX_LIMIT: usize = 1000;

/// Hosts a page holds unless asked otherwise: about what fits in
/// [`MAX_PAGE_BYTES`] at a 10,000-host fleet (BENCHMARKS.md: some 7 KB a
/// host in JSON, 30 KB in OCSF, 40 KB in NDJSON; a host form's row, 0.3 to
/// 1.2 KB in HTML; a PDF's rows are kept few to stay quick). CSV, which
/// holds the verdict rows alone, is not paged.
pub fn default_limit(format: Format) -> usize {
    match format {
        Format::Json => 100,
        Format::Ocsf => 25,
        Format::Ndjson => 20,
        Format::Html | Format::Csv => 500,
        Format::Pdf => 100,
    }
}

/// The first `n + 1` hosts after `after` that `items` and `shown` name, in
/// name order (one more than a page, to tell whether another follows).
fn hosts_after<'a>(
    items: &'a [ItemResult],
    shown: &'a [Arc<Evidence>],
    after: Option<&str>,
    n: usize,
) -> Vec<&'a str> {
    let from = after.map_or(Bound::Unbounded, Bound::Excluded);
    let mut hosts: BTreeSet<&str> = BTreeSet::new();
    for item in items {
        hosts.extend(
            item.hosts
                .range::<str, _>((from, Bound::Unbounded))
                .take(n + 1)
                .map(|(h, _)| h.as_str()),
        );
    }
    // `shown` is in host order (`Gathered::shown`).
    let start = after.map_or(0, |a| shown.partition_point(|e| e.host.as_str() <= a));
    let mut distinct = 0;
    let mut previous = None;
    for e in &shown[start..] {
        if previous != Some(e.host.as_str()) {
            if distinct > n {
                break;
            }
            distinct += 1;
            previous = Some(e.host.as_str());
            hosts.insert(e.host.as_str());
        }
    }
    hosts.into_iter().take(n + 1).collect()
}

/// Of [`MAX_PAGE_BYTES`], what a page is sized to: hosts differ, and a
/// page guessed from some of them should still fit.
const AIM: u64 = MAX_PAGE_BYTES * 9 / 10;

/// The page of `g` after host `after` with at most `limit` hosts (fewer if
/// they would not fit in [`MAX_PAGE_BYTES`]), and the host the next page
/// starts after, if any are left.
///
/// A machine-readable page is a fixed part (the form, every item's
/// verdicts) and a part per host, which grows with what the host reported
/// (from 7 KB to 200 KB at 10,000 hosts, BENCHMARKS.md). Both parts are
/// measured on the page with no host and with its first host, and the page
/// is made with as many hosts as fit; if its hosts turn out larger than the
/// first, it is made again with fewer, in proportion. So a page costs about
/// what it holds. The host forms' rows are small and even, and a PDF's
/// fixed part is costly to make: those are made at `limit` first.
pub(super) async fn render_page(
    src: &Source<'_>,
    req: &Request,
    g: &Gathered<'_>,
    after: Option<&str>,
    limit: usize,
) -> Result<(Body, Option<String>), ExportError> {
    let found = hosts_after(&g.items, &g.shown, after, limit);
    let hosts = &found[..found.len().min(limit)];
    let page_of = |n: usize| render_hosts(src, req, g, after, hosts[..n].last().copied());
    let mut n = hosts.len();
    if n > 1 && req.format.paged() {
        let fixed = size(&page_of(0).await?);
        let per_host = size(&page_of(1).await?).saturating_sub(fixed).max(1);
        n = n.min((AIM.saturating_sub(fixed) / per_host).max(1) as usize);
    }
    loop {
        let body = page_of(n).await?;
        let bytes = size(&body);
        if bytes <= MAX_PAGE_BYTES || n <= 1 {
            let next = hosts[..n].last().filter(|_| n < found.len());
            let next = next.map(|h| h.to_string());
            return Ok((body, next));
        }
        n = ((n as u64 * AIM / bytes) as usize).clamp(1, n - 1);
    }
}

/// A body's length; one of unknown length counts as over any page.
fn size(body: &Body) -> u64 {
    body.known_len().unwrap_or(u64::MAX)
}

/// The page of `g`'s hosts after `after` up to and including `last` (no
/// host when None).
async fn render_hosts(
    src: &Source<'_>,
    req: &Request,
    g: &Gathered<'_>,
    after: Option<&str>,
    last: Option<&str>,
) -> Result<Body, ExportError> {
    let cut: Vec<ItemResult> = g
        .items
        .iter()
        .map(|i| i.of_host_range(after, last))
        .collect();
    let items: Vec<&ItemResult> = match req.format {
        // An OCSF finding is a host's, or an item's without hosts: those
        // once, on the first page.
        Format::Ocsf => cut
            .iter()
            .zip(&g.items)
            .filter(|(c, i)| !c.hosts.is_empty() || (after.is_none() && i.hosts.is_empty()))
            .map(|(c, _)| c)
            .collect(),
        _ => cut.iter().collect(),
    };
    // `shown` is in host order (`Gathered::shown`).
    let start = after.map_or(0, |a| g.shown.partition_point(|e| e.host.as_str() <= a));
    let end = last.map_or(start, |l| g.shown.partition_point(|e| e.host.as_str() <= l));
    let shown: Vec<&Evidence> = g.shown[start..end.max(start)]
        .iter()
        .map(|e| &**e)
        .collect();
    render(src, req, g, &items, &shown).await
}

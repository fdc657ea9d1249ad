//! Unchanged evidence seen again: one row per run of observations.
//!
//! Why: an idle host re-sends the same evidence every cycle. Kept as a row
//! per observation, even with its content stored once (`rows.rs`), that is
//! about 250 bytes an observation, 700 KiB a host-day. Like osquery's
//! differential results, the store records instead that the content was
//! seen again.
//!
//! What: the latest row of a (host, probe, subject) stands for a run of
//! observations of its content, from its `observed_ms` to its `last_ms`. An
//! observation of the same content, observed after the run's last, extends
//! the run; one observed within it (a replay after a reconnect, say) is
//! recorded already. Anything else is a row of its own: a change, a content
//! that comes back after another (a new run, so the history of changes
//! stays exact), or an observation older than the run. So what was observed
//! at any time stays answerable: the run covering that time.
//!
//! A run spans at most [`SPAN_MS`] (a day) from its first observation: then
//! the next observation starts a new run. A row or two a day per key cost
//! little, and a query for a time window finds every run that overlaps it
//! among the rows first observed at most a span before the window (an
//! index range, not the whole history).
//!
//! Both stores decide with [`plan`], in the transaction that writes, after
//! reading the latest run of each key the group touches ([`Run`]), and
//! then write what it says.

use super::rows::{observed_ms, Stored};
use std::collections::{BTreeMap, HashMap};

/// The longest a run lasts, from its first observation to its last.
pub(super) const SPAN_MS: i64 = 86_400_000;

/// A (host, probe, subject).
pub(super) type Key<'a> = (&'a str, &'a str, &'a str);

pub(super) fn key(row: &Stored) -> Key<'_> {
    (&row.ev.host, &row.ev.probe, &row.ev.subject)
}

/// The latest run of a key as stored: its row, content, first and last
/// observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Run {
    pub seq: i64,
    /// None for a row stored whole, before deduplication: never extended.
    pub body_seq: Option<i64>,
    pub first_ms: i64,
    pub last_ms: i64,
}

/// A run an observation extends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Target {
    /// Stored before the group, by its row's `seq`.
    Stored(i64),
    /// Started by the group's row of this index.
    New(usize),
}

/// What becomes of one observation of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fate {
    /// A row of its own (unless its id is stored already: a replay).
    Insert,
    /// Moves the last observation of a run.
    Extend(Target),
    /// Within a run already: nothing to store.
    Covered,
}

/// The fate of each of a group's rows (`rows[i]`: an observation and its
/// content's `body_seq`), given the latest run stored of each key, and the
/// new last observation of every extended run (with the index of the row
/// that observed it).
pub(super) fn plan(
    rows: &[(&Stored, i64)],
    stored: &HashMap<Key<'_>, Run>,
) -> (Vec<Fate>, BTreeMap<Target, (i64, usize)>) {
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by_key(|&i| (key(rows[i].0), observed_ms(&rows[i].0.ev), i));
    let mut fates = vec![Fate::Insert; rows.len()];
    let mut last = BTreeMap::new();
    // The latest run of the key being walked: target, content, first, last.
    let mut current: Option<(Key<'_>, Target, i64, i64, i64)> = None;
    for i in order {
        let (row, body) = rows[i];
        let (k, at) = (key(row), observed_ms(&row.ev));
        if current.is_none_or(|c| c.0 != k) {
            current = stored.get(&k).and_then(|r| {
                let body = r.body_seq?;
                Some((k, Target::Stored(r.seq), body, r.first_ms, r.last_ms))
            });
        }
        match &mut current {
            Some((_, target, b, first, l))
                if *b == body && at >= *first && (at <= *l || at - *first < SPAN_MS) =>
            {
                if at > *l {
                    *l = at;
                    last.insert(*target, (at, i));
                    fates[i] = Fate::Extend(*target);
                } else {
                    fates[i] = Fate::Covered;
                }
            }
            c => {
                // A row of its own; the key's latest run from now on, unless
                // it is older than the run there.
                let newer = match c {
                    Some((_, _, _, _, l)) => at >= *l,
                    None => stored.get(&k).is_none_or(|r| at >= r.last_ms),
                };
                if newer {
                    *c = Some((k, Target::New(i), body, at, at));
                }
            }
        }
    }
    (fates, last)
}

/// What a group comes to once its `Insert` rows are written (`inserted`:
/// the index and `seq` of each row that was new): the runs to extend
/// (their row's `seq`, new last observation and the index of a row of their
/// key), and whether each row was accepted (a new row or a run extended)
/// rather than a replay.
pub(super) fn settle(
    fates: &[Fate],
    last: &BTreeMap<Target, (i64, usize)>,
    inserted: &HashMap<usize, i64>,
) -> (Vec<(i64, i64, usize)>, Vec<bool>) {
    let seq = |t: &Target| match t {
        Target::Stored(seq) => Some(*seq),
        Target::New(i) => inserted.get(i).copied(),
    };
    let extend = last
        .iter()
        .filter_map(|(t, (at, i))| Some((seq(t)?, *at, *i)))
        .collect();
    let accepted = fates
        .iter()
        .enumerate()
        .map(|(i, f)| match f {
            Fate::Insert => inserted.contains_key(&i),
            Fate::Extend(t) => seq(t).is_some(),
            Fate::Covered => false,
        })
        .collect();
    (extend, accepted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gamsa_proto::v1::Evidence;
    use gamsa_proto::Timestamp;

    fn obs(id: &str, subject: &str, at_ms: i64) -> Stored {
        Stored::new(Evidence {
            id: id.into(),
            host: "web-1".into(),
            probe: "tls".into(),
            subject: subject.into(),
            observed_at: Some(Timestamp::from_unix_millis(at_ms)),
            ..Default::default()
        })
    }

    /// The latest run stored of one key of web-1's `tls`.
    fn stored(
        subject: &str,
        seq: i64,
        body_seq: Option<i64>,
        first_ms: i64,
        last_ms: i64,
    ) -> HashMap<Key<'_>, Run> {
        HashMap::from([(
            ("web-1", "tls", subject),
            Run {
                seq,
                body_seq,
                first_ms,
                last_ms,
            },
        )])
    }

    #[test]
    fn extends_the_latest_run_and_covers_what_it_holds() {
        let (a, b, c, d, e) = (
            obs("a", "s", 2_000),
            obs("b", "s", 3_000),
            obs("c", "s", 1_500),
            obs("d", "s", 500),
            obs("e", "s", 4_000),
        );
        // Content 7 stored from 1,000 to 1,800 in row 10; then a seen
        // again (2,000), b changed (3,000), c within the run (1,500), d
        // older than it (500), e back to content 7 after b (a new run).
        let rows = [(&a, 7), (&b, 8), (&c, 7), (&d, 7), (&e, 7)];
        let runs = stored("s", 10, Some(7), 1_000, 1_800);
        let (fates, last) = plan(&rows, &runs);
        assert_eq!(
            fates,
            [
                Fate::Extend(Target::Stored(10)),
                Fate::Insert,
                Fate::Covered,
                Fate::Insert,
                Fate::Insert,
            ]
        );
        assert_eq!(last, BTreeMap::from([(Target::Stored(10), (2_000, 0))]));
    }

    #[test]
    fn a_run_spans_at_most_a_day() {
        let (a, b) = (obs("a", "s", SPAN_MS - 1), obs("b", "s", SPAN_MS + 5));
        let rows = [(&a, 1), (&b, 1)];
        let runs = stored("s", 1, Some(1), 0, 10);
        let (fates, _) = plan(&rows, &runs);
        assert_eq!(fates, [Fate::Extend(Target::Stored(1)), Fate::Insert]);
    }

    #[test]
    fn a_run_started_in_the_group_is_extended_and_keys_stay_apart() {
        let (a, b, c, d) = (
            obs("a", "s", 3_000),
            obs("b", "s", 1_000),
            obs("c", "other", 2_000),
            obs("d", "s", 2_000),
        );
        let rows = [(&a, 5), (&b, 5), (&c, 5), (&d, 5)];
        let legacy = stored("other", 3, None, 1_000, 1_000);
        let (fates, last) = plan(&rows, &legacy);
        assert_eq!(
            fates,
            [
                Fate::Extend(Target::New(1)),
                Fate::Insert,
                Fate::Insert,
                Fate::Extend(Target::New(1)),
            ],
            "b starts the run (oldest), d and a extend it; a row stored whole is never extended"
        );
        assert_eq!(last, BTreeMap::from([(Target::New(1), (3_000, 0))]));

        // b turns out to be a replay (not inserted): a and d had nothing to
        // extend; c was new.
        let (extend, accepted) = settle(&fates, &last, &HashMap::from([(2, 41)]));
        assert!(extend.is_empty());
        assert_eq!(accepted, [false, false, true, false]);
        let (extend, accepted) = settle(&fates, &last, &HashMap::from([(1, 40), (2, 41)]));
        assert_eq!(extend, [(40, 3_000, 0)]);
        assert_eq!(accepted, [true; 4]);
    }
}

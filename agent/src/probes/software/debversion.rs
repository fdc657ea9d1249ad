//! Debian version ordering, as dpkg orders versions (deb-version(7)):
//! `[epoch:]upstream[-revision]`, the epoch compared as a number, then the
//! upstream version and the revision each by dpkg's `verrevcmp`: runs of
//! non-digits compared character by character (letters before other
//! characters, `~` before everything, even the end), runs of digits as
//! numbers. Written here rather than taken from a crate so that the one
//! comparison a pending-update verdict rests on is small enough to read,
//! and its tests ask the real `dpkg --compare-versions`.

use std::cmp::Ordering;

/// A version that does not follow deb-version(7) closely enough to order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("version '{version}': {why}")]
pub struct BadVersion {
    pub version: String,
    pub why: &'static str,
}

/// The parts of a version, borrowed from it.
struct Parts<'a> {
    epoch: u64,
    upstream: &'a [u8],
    revision: &'a [u8],
}

fn parts(version: &str) -> Result<Parts<'_>, BadVersion> {
    let bad = |why| BadVersion {
        version: version.escape_debug().to_string(),
        why,
    };
    let v = version.trim();
    if v.is_empty() {
        return Err(bad("empty"));
    }
    let (epoch, rest) = match v.split_once(':') {
        Some((e, rest)) => (
            e.parse::<u64>()
                .map_err(|_| bad("the epoch is not a number"))?,
            rest,
        ),
        None => (0, v),
    };
    let (upstream, revision) = match rest.rsplit_once('-') {
        Some((u, r)) => (u, r),
        None => (rest, ""),
    };
    if upstream.is_empty() {
        return Err(bad("no upstream version"));
    }
    if v.bytes()
        .any(|b| b.is_ascii_whitespace() || !b.is_ascii_graphic())
    {
        return Err(bad("a character a version cannot hold"));
    }
    Ok(Parts {
        epoch,
        upstream: upstream.as_bytes(),
        revision: revision.as_bytes(),
    })
}

/// Whether `version` can be ordered.
pub fn check(version: &str) -> Result<(), BadVersion> {
    parts(version).map(|_| ())
}

/// Orders two versions as `dpkg --compare-versions` does.
pub fn compare(a: &str, b: &str) -> Result<Ordering, BadVersion> {
    let (a, b) = (parts(a)?, parts(b)?);
    Ok(a.epoch
        .cmp(&b.epoch)
        .then_with(|| verrevcmp(a.upstream, b.upstream))
        .then_with(|| verrevcmp(a.revision, b.revision)))
}

/// A character's weight in a non-digit run: the end and digits 0, `~`
/// below everything, letters by code, other characters after letters.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    let digit = |s: &[u8], i: usize| s.get(i).is_some_and(u8::is_ascii_digit);
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !digit(a, i)) || (j < b.len() && !digit(b, j)) {
            let (ac, bc) = (order(a.get(i).copied()), order(b.get(j).copied()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while digit(a, i) && digit(b, j) {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if digit(a, i) {
            return Ordering::Greater;
        }
        if digit(b, j) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    /// Cases from deb-version(7) and dpkg's own test suite.
    const CASES: &[(&str, &str, Ordering)] = &[
        ("1.0", "1.0", Equal),
        ("1.0-0", "1.0", Equal),
        ("1:1.0", "1.0", Greater),
        ("0:1.0", "1.0", Equal),
        ("1.0~rc1", "1.0", Less),
        ("1.0~~", "1.0~", Less),
        ("1.0~~a", "1.0~~", Greater),
        ("1.0a", "1.0", Greater),
        ("1.0+b1", "1.0", Greater),
        ("1.10", "1.9", Greater),
        ("1.001", "1.1", Equal),
        ("2.36-9+deb12u4", "2.36-9+deb12u10", Less),
        ("3.0.11-1~deb12u2", "3.0.11-1", Less),
        ("1:9.18.24-1", "1:9.18.28-1~deb12u2", Less),
        ("7.88.1-10+deb12u5", "7.88.1-10+deb12u12", Less),
        ("1.2-3-4", "1.2-3", Greater),
    ];

    #[test]
    fn orders_as_deb_version_says() {
        for (a, b, want) in CASES {
            assert_eq!(compare(a, b).unwrap(), *want, "{a} vs {b}");
            assert_eq!(compare(b, a).unwrap(), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_version() {
        assert!(compare("", "1").is_err());
        assert!(compare("x:1.0", "1").unwrap_err().why.contains("epoch"));
        assert!(compare("1:", "1").is_err());
        assert!(compare("1.0 2", "1").is_err());
        assert!(check("1.0\u{0}").is_err());
    }
}

//! Kubernetes versions against `support.toml`, the end-of-support table
//! shipped with gamsa: each date with the page it comes from, so an auditor
//! can check it.

use gamsa_proto::v1::KubeVersion;
use std::sync::LazyLock;

/// The table, as shipped.
pub const SUPPORT_TOML: &str = include_str!("support.toml");

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    release: Vec<Release>,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    pub distribution: String,
    pub minor: String,
    pub end_of_support: String,
    pub source: String,
}

/// The upstream project's line; other distributions fall back to it.
const UPSTREAM: &str = "kubernetes";

/// The table parsed and checked: every minor `1.N`, every date
/// `YYYY-MM-DD`, every source set, an upstream entry to fall back to.
pub fn parse(text: &str) -> Result<Vec<Release>, String> {
    let table: Table = toml::from_str(text).map_err(|e| format!("support.toml: {e}"))?;
    for r in &table.release {
        let what = format!("support.toml: {} {}", r.distribution, r.minor);
        if minor_number(&r.minor).is_none() {
            return Err(format!("{what}: minor is not 1.N"));
        }
        if chrono::NaiveDate::parse_from_str(&r.end_of_support, "%Y-%m-%d").is_err() {
            return Err(format!(
                "{what}: end_of_support '{}' is not YYYY-MM-DD",
                r.end_of_support
            ));
        }
        if r.source.trim().is_empty() {
            return Err(format!("{what}: no source"));
        }
    }
    if !table.release.iter().any(|r| r.distribution == UPSTREAM) {
        return Err("support.toml: no upstream (kubernetes) release".into());
    }
    Ok(table.release)
}

static TABLE: LazyLock<Vec<Release>> =
    LazyLock::new(|| parse(SUPPORT_TOML).expect("the shipped support.toml parses"));

/// N of "1.N".
fn minor_number(minor: &str) -> Option<u32> {
    minor.strip_prefix("1.")?.parse().ok()
}

/// The minor release ("1.29") of a version as Kubernetes reports it
/// ("v1.29.3-eks-adc7111", "v1.30.2+k3s1", "1.28").
pub fn minor_of(version: &str) -> Option<String> {
    let v = version.trim().trim_start_matches('v');
    let mut parts = v.split(['.', '-', '+']);
    let major: u32 = parts.next()?.parse().ok()?;
    let minor: u32 = parts.next()?.parse().ok()?;
    (major == 1).then(|| format!("1.{minor}"))
}

/// The distribution a version's suffix names ("-eks-"), else upstream.
fn distribution_of(version: &str) -> &'static str {
    if version.contains("-eks-") {
        "eks"
    } else {
        UPSTREAM
    }
}

/// `version` against `table`: the distribution's entry for its minor
/// release, else upstream's; a minor older than every upstream entry ended
/// no later than the oldest one.
pub fn lookup(table: &[Release], version: &str) -> KubeVersion {
    let mut out = KubeVersion {
        version: version.to_string(),
        ..Default::default()
    };
    let Some(minor) = minor_of(version) else {
        if !version.is_empty() {
            out.error = format!("version '{version}' is not 1.N");
        }
        return out;
    };
    let dist = distribution_of(version);
    let entry = |d: &str| {
        table
            .iter()
            .find(|r| r.distribution == d && r.minor == minor)
    };
    if let Some(r) = entry(dist).or_else(|| entry(UPSTREAM)) {
        out.distribution = r.distribution.clone();
        out.end_of_support = r.end_of_support.clone();
        out.source = r.source.clone();
    } else if let Some(oldest) = table
        .iter()
        .filter(|r| r.distribution == UPSTREAM)
        .min_by_key(|r| minor_number(&r.minor))
        .filter(|o| minor_number(&minor) < minor_number(&o.minor))
    {
        out.distribution = UPSTREAM.into();
        out.end_of_support = oldest.end_of_support.clone();
        out.source = format!(
            "older than {}, whose support ended {}: {}",
            oldest.minor, oldest.end_of_support, oldest.source
        );
    }
    out.minor = minor;
    out
}

/// `version` against the shipped table.
pub fn support(version: &str) -> KubeVersion {
    lookup(&TABLE, version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_table_parses_and_matches_versions() {
        let t = parse(SUPPORT_TOML).unwrap();
        let v = lookup(&t, "v1.33.4");
        assert_eq!(
            (
                v.minor.as_str(),
                v.distribution.as_str(),
                v.end_of_support.as_str()
            ),
            ("1.33", "kubernetes", "2026-06-28")
        );
        assert!(v.source.contains("kubernetes.io/releases/1.33"));
        let eks = lookup(&t, "v1.33.5-eks-3025e55");
        assert_eq!(
            (eks.distribution.as_str(), eks.end_of_support.as_str()),
            ("eks", "2026-07-29")
        );
        // An EKS release the table lists only upstream falls back to it.
        assert_eq!(lookup(&t, "v1.28.1-eks-1").distribution, "kubernetes");
        let old = lookup(&t, "v1.19.16");
        assert_eq!(old.end_of_support, "2024-02-28");
        assert!(old.source.starts_with("older than 1.26"), "{}", old.source);
        let future = lookup(&t, "v1.99.0");
        assert_eq!(
            (future.minor.as_str(), future.end_of_support.as_str()),
            ("1.99", "")
        );
        assert!(lookup(&t, "banana").error.contains("not 1.N"));
        assert_eq!(minor_of("v1.30.2+k3s1").as_deref(), Some("1.30"));
        let bad = "[[release]]\ndistribution = \"kubernetes\"\nminor = \"1.30\"\nend_of_support = \"June\"\nsource = \"s\"\n";
        assert!(parse(bad)
            .unwrap_err()
            .contains("kubernetes 1.30: end_of_support 'June'"));
    }
}

//! IP redaction for exports that leave the organisation (`--redact-ips`).
//!
//! Every IPv4 and IPv6 address in the exported text — evidence fields, host
//! names, subjects like `10.0.0.5:443`, map keys — is replaced by a label
//! `ip-<10 hex>` (`ip6-` for IPv6), the first 40 bits of
//! HMAC-SHA256(key, address in its standard text form). The same address
//! gets the same label everywhere and in every export of this collector, so
//! an auditor can still follow one host across tables, but the label cannot
//! be reversed by hashing all 2^32 IPv4 addresses without the key
//! (`<data_dir>/pki/redaction.key`, 0600, made on first use).
//!
//! What is found: runs of hex digits, `:` and `.` that parse as an address
//! (`fe80::1%eth0` keeps `%eth0`, `[::1]:443` keeps the brackets and port),
//! and dotted quads inside longer runs (`10.0.0.5:443`, `10.0.0.5.nip.io`,
//! a sentence ending in `10.0.0.5.`). Cloud host names that spell an IPv4
//! address with dashes (`ip-10-0-1-23.ap-northeast-2.compute.internal`, the
//! default EKS node name, and so the DaemonSet's host) get the label of that
//! address. Version strings that happen to be dotted quads are redacted too:
//! over-redaction is the safe side.

use hmac::{Hmac, Mac};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;
use sha2::Sha256;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

/// Four dash-separated decimal octets standing alone, with an optional `ip-`
/// in front: `ip-10-0-1-23`, `10-0-1-23.nip.io`.
static DASHED_V4: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"\b(?:ip-)?(\d{1,3})-(\d{1,3})-(\d{1,3})-(\d{1,3})\b").expect("valid")
});

#[derive(Debug, thiserror::Error)]
#[error("redaction key {path}: {message}")]
pub struct RedactError {
    pub path: PathBuf,
    pub message: String,
}

#[derive(Clone)]
pub struct Redactor {
    key: [u8; 32],
}

pub fn key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("pki").join("redaction.key")
}

impl Redactor {
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    /// The collector's redaction key, created (exclusively) on first use.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, RedactError> {
        let path = key_path(data_dir);
        let err = |message: String| RedactError {
            path: path.clone(),
            message,
        };
        if let Some(dir) = path.parent() {
            crate::private::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
        }
        let fresh: [u8; 32] = rand::random();
        crate::private::write_new(&path, hex::encode(fresh).as_bytes())
            .map_err(|e| err(e.to_string()))?;
        let text = std::fs::read_to_string(&path).map_err(|e| err(e.to_string()))?;
        let key = hex::decode(text.trim())
            .ok()
            .and_then(|k| <[u8; 32]>::try_from(k).ok())
            .ok_or_else(|| err("expected 64 hex digits".into()))?;
        Ok(Self::new(key))
    }

    /// The label that stands for `ip`.
    pub fn label(&self, ip: IpAddr) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("any key length");
        mac.update(ip.to_string().as_bytes());
        let tag = hex::encode(&mac.finalize().into_bytes()[..5]);
        match ip {
            IpAddr::V4(_) => format!("ip-{tag}"),
            IpAddr::V6(_) => format!("ip6-{tag}"),
        }
    }

    /// `run` (hex digits, ':' and '.') with the addresses in it replaced.
    fn run(&self, run: &str, out: &mut String) {
        // "10.0.0.5." ends a sentence or starts a name ("10.0.0.5.nip.io").
        let bare = run.trim_end_matches('.');
        if bare.len() < run.len() {
            self.run(bare, out);
            out.push_str(&run[bare.len()..]);
            return;
        }
        let trimmed = |s: &str| -> Option<IpAddr> {
            s.parse().ok().or_else(|| {
                // "host:fe80::1" leaves a single leading colon on the run.
                let s = s.strip_prefix(':').filter(|r| !r.starts_with(':'))?;
                s.parse().ok()
            })
        };
        if let Some(ip) = trimmed(run) {
            if run.starts_with(':') && !run.starts_with("::") {
                out.push(':');
            }
            out.push_str(&self.label(ip));
            return;
        }
        // Dotted quads inside a longer run: "10.0.0.5:443".
        let mut rest = run;
        while !rest.is_empty() {
            let start = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            out.push_str(&rest[..start]);
            rest = &rest[start..];
            let end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len());
            let candidate = rest[..end].trim_end_matches('.');
            // "1.2.3.4.5": the first four parts are the address to hide.
            let quad_end = candidate
                .match_indices('.')
                .nth(3)
                .map_or(candidate.len(), |(i, _)| i);
            match candidate[..quad_end].parse::<Ipv4Addr>() {
                Ok(ip) => {
                    out.push_str(&self.label(IpAddr::V4(ip)));
                    out.push_str(&candidate[quad_end..]);
                }
                Err(_) => out.push_str(candidate),
            }
            rest = &rest[candidate.len()..];
        }
    }

    pub fn text(&self, s: &str) -> String {
        let undashed = DASHED_V4.replace_all(s, |c: &regex::Captures| {
            let octets: Option<Vec<u8>> = (1..=4).map(|i| c[i].parse().ok()).collect();
            match octets {
                Some(o) => self.label(IpAddr::V4(Ipv4Addr::new(o[0], o[1], o[2], o[3]))),
                None => c[0].to_string(),
            }
        });
        self.dotted(&undashed)
    }

    fn dotted(&self, s: &str) -> String {
        let is_run = |c: char| c.is_ascii_hexdigit() || c == ':' || c == '.';
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while !rest.is_empty() {
            let start = rest.find(is_run).unwrap_or(rest.len());
            out.push_str(&rest[..start]);
            rest = &rest[start..];
            let end = rest.find(|c: char| !is_run(c)).unwrap_or(rest.len());
            if end > 0 {
                self.run(&rest[..end], &mut out);
            }
            rest = &rest[end..];
        }
        out
    }

    /// Redacts every string and map key in `v`.
    pub fn value(&self, v: &mut Value) {
        match v {
            Value::String(s) => *s = self.text(s),
            Value::Array(items) => items.iter_mut().for_each(|i| self.value(i)),
            Value::Object(map) => {
                let old = std::mem::take(map);
                for (k, mut item) in old {
                    self.value(&mut item);
                    map.insert(self.text(&k), item);
                }
            }
            _ => {}
        }
    }

    /// A redacted copy of any serialisable document.
    pub fn apply<T: Serialize + DeserializeOwned>(&self, doc: &T) -> Result<T, serde_json::Error> {
        let mut v = serde_json::to_value(doc)?;
        self.value(&mut v);
        serde_json::from_value(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_become_consistent_labels_and_the_rest_stays() {
        let r = Redactor::new([7; 32]);
        let a = r.label("10.0.0.5".parse().unwrap());
        let six = r.label("fe80::1".parse().unwrap());
        assert!(a.starts_with("ip-") && a.len() == 13, "{a}");
        assert_eq!(r.text("10.0.0.5:443"), format!("{a}:443"));
        assert_eq!(
            r.text("ipv4 via 10.0.0.5 dev eth0"),
            format!("ipv4 via {a} dev eth0")
        );
        assert_eq!(r.text("[fe80::1]:8443"), format!("[{six}]:8443"));
        assert_eq!(r.text("fe80::1%eth0"), format!("{six}%eth0"));
        assert_eq!(r.text("addr:fe80::1"), format!("addr:{six}"));
        assert_eq!(
            r.text("host-a 2025-03-01T10:00:00.123Z aa:bb:cc:dd:ee:ff 1.2.3 백업"),
            "host-a 2025-03-01T10:00:00.123Z aa:bb:cc:dd:ee:ff 1.2.3 백업"
        );
        let mut v = serde_json::json!({"10.0.0.5": ["::1", {"gateway": "10.0.0.5"}], "n": 3});
        r.value(&mut v);
        let text = v.to_string();
        assert!(
            !text.contains("10.0.0.5") && !text.contains("\"::1\""),
            "{text}"
        );
        assert_eq!(v[&a][1]["gateway"], a);
        assert_ne!(Redactor::new([8; 32]).label("10.0.0.5".parse().unwrap()), a);
    }

    #[test]
    fn addresses_followed_by_a_dot_or_spelled_with_dashes_are_hidden() {
        let r = Redactor::new([7; 32]);
        let a = r.label("10.0.0.5".parse().unwrap());
        let b = r.label("10.0.1.23".parse().unwrap());
        let six = r.label("fe80::1".parse().unwrap());
        assert_eq!(r.text("reached 10.0.0.5."), format!("reached {a}."));
        assert_eq!(r.text("10.0.0.5.nip.io"), format!("{a}.nip.io"));
        assert_eq!(r.text("10.0.0.5.443"), format!("{a}.443"));
        assert_eq!(r.text("via fe80::1."), format!("via {six}."));
        assert_eq!(
            r.text("ip-10-0-1-23.ap-northeast-2.compute.internal"),
            format!("{b}.ap-northeast-2.compute.internal")
        );
        assert_eq!(r.text("node 10-0-1-23.nip.io"), format!("node {b}.nip.io"));
        // Not addresses: a date, an octet out of range, a longer number.
        for keep in ["2025-03-01", "10-0-1-256", "x10-0-1-23", "ip-10-0-1"] {
            assert_eq!(r.text(keep), keep);
        }
    }
}

//! Cipher suites: which ones to offer, their IANA names, and which are weak.
//!
//! The catalogue is rustls's `CipherSuite` enum, which carries every suite in
//! the IANA registry (not only the few rustls implements), so the probe can
//! offer suites no modern library would negotiate and name what it gets.

use super::legacy::{SSL3, TLS11, TLS13};
use rustls::CipherSuite;
use std::sync::LazyLock;

/// Signalling values, not suites: never reported as accepted.
const SCSVS: [u16; 2] = [0x00ff, 0x5600];

/// Every named suite for SSL 3.0–TLS 1.2, in code order.
pub static LEGACY: LazyLock<Vec<u16>> =
    LazyLock::new(|| catalogue().filter(|c| c >> 8 != 0x13).collect());
/// The TLS 1.3 suites.
pub static TLS13_SUITES: LazyLock<Vec<u16>> =
    LazyLock::new(|| catalogue().filter(|c| c >> 8 == 0x13).collect());

fn catalogue() -> impl Iterator<Item = u16> {
    (0..=u16::MAX).filter(|c| !SCSVS.contains(c) && CipherSuite::from(*c).as_str().is_some())
}

/// The suites to offer for `version`.
pub fn for_version(version: u16) -> &'static [u16] {
    if version == TLS13 {
        &TLS13_SUITES
    } else {
        &LEGACY
    }
}

/// The IANA name of `code`, or its hex value when unnamed.
pub fn name(code: u16) -> String {
    match CipherSuite::from(code).as_str() {
        // rustls prefixes the 1.3 suites "TLS13_"; IANA writes "TLS_".
        Some(n) if n.starts_with("TLS13_") => format!("TLS_{}", &n[6..]),
        // One code point IANA lists under two names; the first is the TLS one.
        Some(n) => n.split("_or_").next().unwrap_or(n).to_string(),
        None => format!("0x{code:04X}"),
    }
}

/// Why the suite `name` is weak when negotiated at `version`, or `None`.
///
/// Weak, at any version: NULL encryption, EXPORT-grade, anonymous
/// (unauthenticated) key exchange, RC4, RC2, single DES (incl. DES40),
/// 3DES and IDEA (64-bit blocks: Sweet32), MD5 MACs. Weak at SSL 3.0 to
/// TLS 1.1 only: CBC with a SHA-1 MAC (BEAST, Lucky13; TLS 1.2 fixed the IV).
pub fn weakness(name: &str, version: u16) -> Option<&'static str> {
    let (kx, cipher) = name.split_once("_WITH_").unwrap_or(("", name));
    if name == "TLS_NULL_WITH_NULL_NULL" || cipher.starts_with("NULL") {
        return Some("NULL encryption");
    }
    if kx.contains("EXPORT") || cipher.contains("EXPORT") {
        return Some("EXPORT");
    }
    if kx.contains("_anon") {
        return Some("anonymous key exchange");
    }
    let first = |p: &str| cipher.starts_with(p);
    if first("RC4") {
        Some("RC4")
    } else if first("RC2") {
        Some("RC2")
    } else if first("3DES") {
        Some("3DES")
    } else if first("DES") {
        Some("DES")
    } else if first("IDEA") {
        Some("IDEA")
    } else if cipher.ends_with("_MD5") {
        Some("MD5 MAC")
    } else if (SSL3..=TLS11).contains(&version)
        && cipher.contains("_CBC_")
        && cipher.ends_with("_SHA")
    {
        Some("CBC with SHA-1 in TLS 1.1 or older")
    } else {
        None
    }
}

/// Splits `suites` into (weak at `version`, not weak).
pub fn partition(suites: &[u16], version: u16) -> (Vec<u16>, Vec<u16>) {
    suites
        .iter()
        .partition(|&&c| weakness(&name(c), version).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::tls::legacy::{TLS10, TLS12};

    #[test]
    fn catalogue_holds_the_registry_without_signalling_values() {
        assert!(LEGACY.len() > 300, "{}", LEGACY.len());
        assert!(LEGACY.contains(&0x0005) && LEGACY.contains(&0xc02f));
        assert!(!LEGACY.contains(&0x00ff) && !LEGACY.contains(&0x5600));
        assert_eq!(*TLS13_SUITES, vec![0x1301, 0x1302, 0x1303, 0x1304, 0x1305]);
        assert_eq!(name(0x1301), "TLS_AES_128_GCM_SHA256");
        assert_eq!(name(0x001e), "TLS_KRB5_WITH_DES_CBC_SHA");
        assert_eq!(name(0xc02f), "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
        assert_eq!(name(0xabcd), "0xABCD");
    }

    #[test]
    fn classifies_weak_suites() {
        let weak = |n: &str, v| weakness(n, v);
        assert_eq!(
            weak("TLS_NULL_WITH_NULL_NULL", TLS12),
            Some("NULL encryption")
        );
        assert_eq!(
            weak("TLS_ECDHE_RSA_WITH_NULL_SHA", TLS12),
            Some("NULL encryption")
        );
        assert_eq!(
            weak("TLS_RSA_EXPORT_WITH_RC4_40_MD5", TLS12),
            Some("EXPORT")
        );
        assert_eq!(
            weak("TLS_DH_anon_WITH_AES_128_GCM_SHA256", TLS12),
            Some("anonymous key exchange")
        );
        assert_eq!(
            weak("TLS_ECDH_anon_WITH_AES_256_CBC_SHA", TLS12),
            Some("anonymous key exchange")
        );
        assert_eq!(weak("TLS_RSA_WITH_RC4_128_SHA", TLS12), Some("RC4"));
        assert_eq!(weak("TLS_RSA_WITH_3DES_EDE_CBC_SHA", TLS12), Some("3DES"));
        assert_eq!(weak("TLS_RSA_WITH_DES_CBC_SHA", TLS12), Some("DES"));
        assert_eq!(weak("TLS_RSA_WITH_IDEA_CBC_SHA", TLS12), Some("IDEA"));
        assert_eq!(
            weak("TLS_RSA_WITH_AES_128_CBC_SHA", TLS10),
            Some("CBC with SHA-1 in TLS 1.1 or older")
        );
        assert_eq!(weak("TLS_RSA_WITH_AES_128_CBC_SHA", TLS12), None);
        assert_eq!(weak("TLS_RSA_WITH_AES_128_CBC_SHA256", TLS12), None);
        assert_eq!(weak("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", TLS12), None);
        assert_eq!(weak("TLS_AES_128_GCM_SHA256", TLS13), None);
        let (w, s) = partition(&[0x0005, 0xc02f, 0x002f], TLS12);
        assert_eq!((w, s), (vec![0x0005], vec![0xc02f, 0x002f]));
    }
}

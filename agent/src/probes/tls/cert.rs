//! Certificate facts (x509-parser) and trust (rustls's WebPKI verifier).
//!
//! Trust is evaluated on the chain the server *sent*, after the connection,
//! not inside it: an expired, self-signed or wrongly named certificate is
//! still observed, and "trusted" and "matches the name" become two facts for
//! the collector's rules instead of one connection failure.

use gamsa_proto::v1::Certificate;
use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, RootCertStore};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;
use x509_parser::der_parser::oid::Oid;
use x509_parser::prelude::*;
use x509_parser::public_key::PublicKey;

/// Largest CA bundle file read.
const BUNDLE_LIMIT: u64 = 16 * 1024 * 1024;

/// The trust anchors chains are verified against.
#[derive(Debug, Clone)]
pub struct Roots {
    pub store: Arc<RootCertStore>,
    /// Where they came from, for error messages.
    pub source: String,
}

/// Trust anchors: `ca_bundle` when set (a PEM file), else the system store,
/// else Mozilla's roots (a minimal container may have no store at all).
pub fn load_roots(ca_bundle: &Path) -> Result<Roots, String> {
    let mut store = RootCertStore::empty();
    if !ca_bundle.as_os_str().is_empty() {
        let pem = crate::probes::read_bounded(ca_bundle, BUNDLE_LIMIT)
            .map_err(|e| format!("tls.ca_bundle {}: {e}", ca_bundle.display()))?;
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let cert = cert.map_err(|e| format!("tls.ca_bundle {}: {e}", ca_bundle.display()))?;
            store
                .add(cert)
                .map_err(|e| format!("tls.ca_bundle {}: {e}", ca_bundle.display()))?;
        }
        if store.is_empty() {
            return Err(format!(
                "tls.ca_bundle {}: no certificates",
                ca_bundle.display()
            ));
        }
        return Ok(Roots {
            store: Arc::new(store),
            source: ca_bundle.display().to_string(),
        });
    }
    let native = rustls_native_certs::load_native_certs();
    let (added, _) = store.add_parsable_certificates(native.certs);
    if added > 0 {
        return Ok(Roots {
            store: Arc::new(store),
            source: "system trust store".into(),
        });
    }
    store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    Ok(Roots {
        store: Arc::new(store),
        source: "Mozilla roots (no system trust store found)".into(),
    })
}

/// Whether a chain is trusted and names `name`.
#[derive(Debug, Clone, PartialEq)]
pub struct Trust {
    pub chain_trusted: bool,
    pub hostname_matches: bool,
    /// Why the chain is not trusted; empty when it is.
    pub chain_error: String,
}

/// Verifies `chain` (leaf first) for `name` against `roots`, now.
pub fn assess(
    chain: &[CertificateDer<'static>],
    name: &ServerName<'static>,
    roots: &Result<Roots, String>,
) -> Trust {
    let Some((leaf, intermediates)) = chain.split_first() else {
        return Trust {
            chain_trusted: false,
            hostname_matches: false,
            chain_error: "server sent no certificate".into(),
        };
    };
    let hostname_matches = webpki::EndEntityCert::try_from(leaf)
        .and_then(|c| c.verify_is_valid_for_subject_name(name))
        .is_ok();
    let roots = match roots {
        Ok(r) => r,
        Err(e) => {
            return Trust {
                chain_trusted: false,
                hostname_matches,
                chain_error: e.clone(),
            }
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        match WebPkiServerVerifier::builder_with_provider(roots.store.clone(), provider).build() {
            Ok(v) => v,
            Err(e) => {
                return Trust {
                    chain_trusted: false,
                    hostname_matches,
                    chain_error: format!("trust anchors from {}: {e}", roots.source),
                }
            }
        };
    // WebPKI checks the chain before the name, so a name error means the
    // chain itself verified.
    let chain_error =
        match verifier.verify_server_cert(leaf, intermediates, name, &[], UnixTime::now()) {
            Ok(_) => String::new(),
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => String::new(),
            Err(e) => format!("{e} (trust anchors: {})", roots.source),
        };
    Trust {
        chain_trusted: chain_error.is_empty(),
        hostname_matches,
        chain_error,
    }
}

/// The facts of one DER certificate, at `now` (Unix seconds).
pub fn facts(der: &[u8], now: i64) -> Result<Certificate, String> {
    let (_, cert) =
        X509Certificate::from_der(der).map_err(|e| format!("unparsable certificate: {e}"))?;
    let not_before = cert.validity().not_before.timestamp();
    let not_after = cert.validity().not_after.timestamp();
    let dns_names = match cert.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                GeneralName::DNSName(d) => Some(d.to_string()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let (key_algorithm, key_bits) = key(cert.public_key());
    let self_signed = cert.subject() == cert.issuer()
        && !matches!(
            cert.verify_signature(None),
            Err(X509Error::SignatureVerificationError)
        );
    Ok(Certificate {
        subject: rfc4514(cert.subject()),
        issuer: rfc4514(cert.issuer()),
        dns_names,
        not_before: Some(timestamp(not_before)),
        not_after: Some(timestamp(not_after)),
        days_remaining: (not_after - now).div_euclid(86_400),
        key_algorithm,
        key_bits,
        signature_algorithm: oid_name(&cert.signature_algorithm.algorithm),
        self_signed,
        sha256_fingerprint: hex::encode(Sha256::digest(der)),
    })
}

fn timestamp(seconds: i64) -> gamsa_proto::Timestamp {
    gamsa_proto::Timestamp { seconds, nanos: 0 }
}

fn oid_name(oid: &Oid) -> String {
    x509_parser::objects::oid2sn(oid, x509_parser::objects::oid_registry())
        .map(str::to_string)
        .unwrap_or_else(|_| oid.to_id_string())
}

/// Key algorithm and size in bits (the curve's size for EC keys).
fn key(spki: &SubjectPublicKeyInfo) -> (String, u32) {
    let algorithm = &spki.algorithm.algorithm;
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => ("RSA".into(), significant_bits(rsa.modulus)),
        Ok(PublicKey::EC(point)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|oid| oid.to_id_string());
            let bits = match curve.as_deref() {
                Some("1.2.840.10045.3.1.7" | "1.3.132.0.10" | "1.3.36.3.3.2.8.1.1.7") => 256,
                Some("1.3.132.0.34" | "1.3.36.3.3.2.8.1.1.11") => 384,
                Some("1.3.132.0.35") => 521,
                Some("1.3.36.3.3.2.8.1.1.13") => 512,
                Some("1.3.132.0.33") => 224,
                Some("1.2.840.10045.3.1.1") => 192,
                _ => point.key_size() as u32,
            };
            ("EC".into(), bits)
        }
        Ok(PublicKey::DSA(y)) => ("DSA".into(), significant_bits(y)),
        _ => match algorithm.to_id_string().as_str() {
            "1.3.101.112" => ("Ed25519".into(), 256),
            "1.3.101.113" => ("Ed448".into(), 456),
            _ => (oid_name(algorithm), 0),
        },
    }
}

/// Bits in a big-endian unsigned integer, ignoring leading zeros.
fn significant_bits(n: &[u8]) -> u32 {
    let n = &n[n.iter().take_while(|b| **b == 0).count()..];
    match n.first() {
        Some(first) => (n.len() as u32) * 8 - first.leading_zeros(),
        None => 0,
    }
}

/// A distinguished name as RFC 4514 writes it (last RDN first), with the
/// attribute names and escaping Python's `cryptography` uses, so the subject
/// reads the same here as in sslyze and OpenSSL-based tools.
pub fn rfc4514(name: &X509Name) -> String {
    let rdns: Vec<String> = name
        .iter()
        .map(|rdn| {
            rdn.iter()
                .map(|attr| {
                    let key = match attr.attr_type().to_id_string().as_str() {
                        "2.5.4.3" => "CN".to_string(),
                        "2.5.4.7" => "L".into(),
                        "2.5.4.8" => "ST".into(),
                        "2.5.4.10" => "O".into(),
                        "2.5.4.11" => "OU".into(),
                        "2.5.4.6" => "C".into(),
                        "2.5.4.9" => "STREET".into(),
                        "0.9.2342.19200300.100.1.25" => "DC".into(),
                        "0.9.2342.19200300.100.1.1" => "UID".into(),
                        other => other.to_string(),
                    };
                    let value = match attr.as_str() {
                        Ok(s) => escape(s),
                        Err(_) => format!("#{}", hex::encode(attr.attr_value().data)),
                    };
                    format!("{key}={value}")
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' | '"' | '+' | ',' | ';' | '<' | '>' => {
                out.push('\\');
                out.push(c);
            }
            '\0' => out.push_str("\\00"),
            _ => out.push(c),
        }
    }
    if out.starts_with('#') || out.starts_with(' ') {
        out.insert(0, '\\');
    }
    if out.ends_with(' ') && !out.ends_with("\\ ") {
        out.pop();
        out.push_str("\\ ");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        date_time_ymd, BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair,
    };

    const DAY: i64 = 86_400;

    fn roots_of(ca: &CertificateDer<'static>) -> Result<Roots, String> {
        let mut store = RootCertStore::empty();
        store.add(ca.clone()).unwrap();
        Ok(Roots {
            store: Arc::new(store),
            source: "test CA".into(),
        })
    }

    fn name(n: &str) -> ServerName<'static> {
        ServerName::try_from(n.to_string()).unwrap()
    }

    #[test]
    fn facts_and_trust_of_a_ca_signed_chain() {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Test CA");
        ca_params
            .distinguished_name
            .push(DnType::OrganizationName, "Gamsa, Inc+Co");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, &ca_key);

        let leaf_key = KeyPair::generate().unwrap();
        let mut leaf_params = CertificateParams::new(vec!["db.example".into()]).unwrap();
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "db.example");
        leaf_params.not_before = date_time_ymd(2020, 1, 1);
        leaf_params.not_after = date_time_ymd(4000, 1, 1);
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
        let chain = vec![leaf.der().clone(), ca_cert.der().clone()];

        let not_after = 64_060_588_800; // 4000-01-01
        let f = facts(leaf.der(), not_after - 10 * DAY - 1).unwrap();
        assert_eq!(f.subject, "CN=db.example");
        assert_eq!(f.issuer, "O=Gamsa\\, Inc\\+Co,CN=Test CA");
        assert_eq!(f.dns_names, vec!["db.example"]);
        assert_eq!(f.not_after.unwrap().seconds, not_after);
        assert_eq!(f.days_remaining, 10);
        assert_eq!(facts(leaf.der(), not_after + 1).unwrap().days_remaining, -1);
        assert_eq!((f.key_algorithm.as_str(), f.key_bits), ("EC", 256));
        assert_eq!(f.signature_algorithm, "ecdsa-with-SHA256");
        assert!(!f.self_signed);
        assert_eq!(
            f.sha256_fingerprint,
            hex::encode(Sha256::digest(leaf.der()))
        );
        assert!(facts(ca_cert.der(), 0).unwrap().self_signed);

        let trusted = roots_of(ca_cert.der());
        assert_eq!(
            assess(&chain, &name("db.example"), &trusted),
            Trust {
                chain_trusted: true,
                hostname_matches: true,
                chain_error: String::new()
            }
        );
        let wrong = assess(&chain, &name("other.example"), &trusted);
        assert!(wrong.chain_trusted && !wrong.hostname_matches);
        // Against other roots: untrusted, and the name is still judged.
        let other = roots_of(
            &rcgen::generate_simple_self_signed(vec!["x".into()])
                .unwrap()
                .cert
                .der()
                .clone(),
        );
        let t = assess(&chain, &name("db.example"), &other);
        assert!(!t.chain_trusted && t.hostname_matches);
        assert!(t.chain_error.contains("UnknownIssuer"), "{}", t.chain_error);
        let t = assess(
            &chain,
            &name("db.example"),
            &Err("tls.ca_bundle x: gone".into()),
        );
        assert_eq!(
            (t.chain_trusted, t.chain_error.as_str()),
            (false, "tls.ca_bundle x: gone")
        );
        assert!(!assess(&[], &name("db.example"), &trusted).chain_trusted);
    }

    #[test]
    fn names_are_escaped_as_rfc4514_says() {
        assert_eq!(escape("a,b"), "a\\,b");
        assert_eq!(escape("#x "), "\\#x\\ ");
        assert_eq!(escape(" lead"), "\\ lead");
        assert_eq!(escape("q\"<>;\\"), "q\\\"\\<\\>\\;\\\\");
        assert_eq!(significant_bits(&[0, 0x01, 0xff]), 9);
        assert_eq!(significant_bits(&[0x80; 128]), 1024);
        assert_eq!(significant_bits(&[]), 0);
        assert!(facts(b"not a certificate", 0).is_err());
    }

    #[test]
    fn bundles_load_or_say_why_not() {
        let dir = tempfile::tempdir().unwrap();
        let pem = rcgen::generate_simple_self_signed(vec!["x".into()])
            .unwrap()
            .cert
            .pem();
        let good = dir.path().join("ca.pem");
        std::fs::write(&good, pem).unwrap();
        assert_eq!(load_roots(&good).unwrap().store.len(), 1);
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "nothing").unwrap();
        assert!(load_roots(&empty).unwrap_err().contains("no certificates"));
        assert!(load_roots(&dir.path().join("missing.pem"))
            .unwrap_err()
            .contains("missing.pem"));
    }
}

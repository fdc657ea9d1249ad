//! Certificate facts and trust on arbitrary DER: the chain is whatever the
//! server sent, parsed before anything is trusted.
//!
//! `facts` is the x509-parser side (subject, SANs, key size, self-signed);
//! `assess` is rustls's WebPKI verifier and name check on the same bytes
//! as the leaf, against the system roots (loaded once).

#![no_main]

use gamsa_agent::probes::tls::cert::{self, Roots};
use libfuzzer_sys::fuzz_target;
use rustls::pki_types::{CertificateDer, ServerName};
use std::path::Path;
use std::sync::OnceLock;

/// 2027-01-01T00:00:00Z.
const NOW: i64 = 1_798_761_600;

fn roots() -> &'static Result<Roots, String> {
    static ROOTS: OnceLock<Result<Roots, String>> = OnceLock::new();
    ROOTS.get_or_init(|| cert::load_roots(Path::new("")))
}

fuzz_target!(|data: &[u8]| {
    let _ = cert::facts(data, NOW);
    let leaf = CertificateDer::from(data.to_vec());
    let dns = ServerName::try_from("localhost").unwrap();
    let ip = ServerName::try_from("127.0.0.1").unwrap();
    let _ = cert::assess(std::slice::from_ref(&leaf), &dns, roots());
    // The same bytes as leaf and intermediate: two parses of one chain.
    let _ = cert::assess(&[leaf.clone(), leaf], &ip, roots());
});

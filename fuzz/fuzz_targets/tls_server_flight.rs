//! The legacy handshake's reader of a server's first flight (ServerHello,
//! alerts, the TLS ≤ 1.2 Certificate message) on arbitrary bytes: the agent
//! reads this from any listener it probes, hostile ones included.
//!
//! Every combination of `want_cert` and `eof` is tried, on the whole input
//! and on every prefix cut at a record boundary guess (the probe calls the
//! parser again as bytes arrive). Certificates the parser hands back are
//! read as the probe reads them (`cert::facts`).

#![no_main]

use gamsa_agent::probes::tls::cert;
use gamsa_agent::probes::tls::legacy::{parse_flight, Flight};
use libfuzzer_sys::fuzz_target;

/// 2027-01-01T00:00:00Z: a fixed "now" keeps runs reproducible.
const NOW: i64 = 1_798_761_600;

fuzz_target!(|data: &[u8]| {
    for want_cert in [false, true] {
        for eof in [false, true] {
            if let Flight::Hello(hello) = parse_flight(data, want_cert, eof) {
                for der in &hello.certificates {
                    let _ = cert::facts(der, NOW);
                }
            }
        }
    }
    // The probe reads incrementally: a prefix is what it has seen so far.
    if data.len() > 5 {
        let _ = parse_flight(&data[..data.len() / 2], true, false);
    }
});

//! The collector's and the agent's TOML configuration parsers (with their
//! validation: store URL, snapshot settings, TLS targets, scan scope, …) on
//! arbitrary UTF-8. Errors are expected; a panic is a bug.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = gamsa_collector::config::Config::parse(text, "collector.toml");
        let _ = gamsa_agent::config::Config::parse(text, "agent.toml");
    }
});

//! Checklist catalog parsing and lint on arbitrary UTF-8: operators add
//! catalog files from configured directories. Errors are expected; a panic
//! is a bug.

#![no_main]

use gamsa_collector::catalog::{Catalog, RuleReach};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// What each built-in rule can answer, as the collector lints catalogs with.
fn rules() -> &'static RuleReach {
    static RULES: OnceLock<RuleReach> = OnceLock::new();
    RULES.get_or_init(|| {
        gamsa_collector::rules::reach(&gamsa_collector::rules::built_in().expect("built-in rules load"))
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Catalog::parse(text, "fuzz.toml", rules());
    }
});

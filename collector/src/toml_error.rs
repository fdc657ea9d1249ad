//! TOML errors as one line naming the line and the problem, the same for
//! the configuration, catalogs and rules. A leaf, so that the catalog and
//! rules loaders need nothing from the configuration above them.

/// One line naming the line and the problem of a TOML error in `text`.
pub fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().trim().to_string();
    match e.span() {
        Some(span) => {
            // Bytes, not a str slice: a span need not fall on a char boundary.
            let before = &text.as_bytes()[..span.start.min(text.len())];
            let line = before.iter().filter(|b| **b == b'\n').count() + 1;
            format!("line {line}: {msg}")
        }
        None => msg,
    }
}

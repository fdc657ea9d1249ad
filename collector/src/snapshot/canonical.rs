//! The one byte form a snapshot is hashed and signed in: RFC 8785 JSON
//! Canonicalization (sorted keys, no whitespace, ES6 number form). Anyone can
//! recompute it from the JSON with any JCS implementation, so a signature
//! does not depend on how this program happened to print the file.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// The RFC 8785 canonical bytes of `value`.
pub fn to_vec<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    serde_json_canonicalizer::to_vec(value)
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_sorted_and_whitespace_dropped() {
        let a = to_vec(&json!({"b": 1, "a": [1.0, "가"], "c": {"z": null, "y": 1e21}})).unwrap();
        assert_eq!(
            String::from_utf8(a).unwrap(),
            r#"{"a":[1,"가"],"b":1,"c":{"y":1e+21,"z":null}}"#
        );
        let b = to_vec(&json!({"c": {"y": 1e21, "z": null}, "a": [1, "가"], "b": 1})).unwrap();
        assert_eq!(
            sha256_hex(
                &to_vec(&json!({"b": 1, "a": [1.0, "가"], "c": {"z": null, "y": 1e21}})).unwrap()
            ),
            sha256_hex(&b)
        );
    }
}

//! Bearer and enrolment tokens: random secrets shown once, stored as SHA-256.

use sha2::{Digest, Sha256};

pub fn generate(prefix: &str) -> String {
    let bytes: [u8; 24] = rand::random();
    format!("{prefix}_{}", hex::encode(bytes))
}

pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

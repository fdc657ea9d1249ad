//! Encryption of bundles that leave the collector (exports, snapshot
//! downloads) to age x25519 recipients (`age1…`), the format the `age` and
//! `rage` tools decrypt with the recipient's identity (`AGE-SECRET-KEY-1…`).

use std::io::{Read, Write};
use std::path::Path;

/// Every age file starts with this line.
const HEADER: &[u8] = b"age-encryption.org/v1\n";

pub fn is_encrypted(bytes: &[u8]) -> bool {
    bytes.starts_with(HEADER)
}

pub fn parse_recipients(list: &[String]) -> Result<Vec<age::x25519::Recipient>, String> {
    list.iter()
        .map(|r| {
            r.trim().parse::<age::x25519::Recipient>().map_err(|e| {
                format!("age recipient {r:?}: {e} (expected an age1… x25519 public key)")
            })
        })
        .collect()
}

pub fn encrypt(bytes: &[u8], recipients: &[age::x25519::Recipient]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    encrypt_to(&mut &bytes[..], &mut out, recipients)?;
    Ok(out)
}

/// Encrypts what `from` reads into `to`, a piece at a time.
pub fn encrypt_to(
    from: &mut dyn Read,
    to: &mut dyn Write,
    recipients: &[age::x25519::Recipient],
) -> std::io::Result<()> {
    let encryptor =
        age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
            .map_err(std::io::Error::other)?;
    let mut w = encryptor.wrap_output(to).map_err(std::io::Error::other)?;
    std::io::copy(from, &mut w)?;
    w.finish()?;
    Ok(())
}

/// Reads an identity file (`AGE-SECRET-KEY-1…`, `#` comments allowed).
pub fn read_identity(path: &Path) -> Result<age::x25519::Identity, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .map(str::trim)
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .ok_or_else(|| format!("{}: no AGE-SECRET-KEY-1… line", path.display()))?
        .parse()
        .map_err(|e| format!("{}: {e}", path.display()))
}

pub fn decrypt(bytes: &[u8], identity: &age::x25519::Identity) -> Result<Vec<u8>, String> {
    let decryptor = age::Decryptor::new(bytes).map_err(|e| e.to_string())?;
    let mut r = decryptor
        .decrypt(std::iter::once(identity as &dyn age::Identity))
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    r.read_to_end(&mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    #[test]
    fn round_trip_with_the_identity_and_refusal_without() {
        let id = age::x25519::Identity::generate();
        let other = age::x25519::Identity::generate();
        let recipients = parse_recipients(&[id.to_public().to_string()]).unwrap();
        let sealed = encrypt("증적 10.0.0.5".as_bytes(), &recipients).unwrap();
        assert!(is_encrypted(&sealed));
        assert!(!sealed.windows(8).any(|w| w == b"10.0.0.5"));
        assert_eq!(decrypt(&sealed, &id).unwrap(), "증적 10.0.0.5".as_bytes());
        assert!(decrypt(&sealed, &other).is_err());
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("key.txt");
        std::fs::write(
            &f,
            format!("# created\n{}\n", id.to_string().expose_secret()),
        )
        .unwrap();
        assert_eq!(
            read_identity(&f).unwrap().to_public().to_string(),
            id.to_public().to_string()
        );
        assert!(parse_recipients(&["age1nope".into()])
            .unwrap_err()
            .contains("age1nope"));
    }
}

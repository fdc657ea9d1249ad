//! An evidence's encoding split at its payload: the payload's field left
//! as bytes, everything else decoded.
//!
//! Why: a reader that converts each distinct payload once (the collector's
//! rule input, where 10,000 hosts made from one image report the same
//! package lists) knows a payload by its bytes. Decoding it whole only to
//! encode it again and find it already known was most of the time a
//! reading of the fleet took; split, a known payload is never decoded.
//!
//! The payload's fields are those of `Evidence`'s `payload` oneof, read
//! from the descriptors, so a payload added to the protocol is split
//! without a change here. Decoding what `split` returns gives exactly what
//! decoding the encodings whole gives (protobuf's own rules: a later field
//! of the oneof replaces an earlier one of another kind, and merges into
//! one of its own).

use crate::v1::{evidence::Payload, Evidence};
use prost::Message;

/// Why an encoding could not be split or decoded.
#[derive(Debug, thiserror::Error)]
pub enum SplitError {
    #[error("malformed protobuf: {0}")]
    Wire(&'static str),
    #[error(transparent)]
    Decode(#[from] prost::DecodeError),
}

/// An evidence decoded but for its payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// The evidence, with no payload.
    pub evidence: Evidence,
    /// The payload's fields, as encoded, in the order read; empty when the
    /// evidence has none. `Evidence::decode` of them gives the payload.
    pub payload: Vec<u8>,
}

impl Split {
    /// The payload, decoded.
    pub fn decode_payload(&self) -> Result<Option<Payload>, prost::DecodeError> {
        decode_payload(&self.payload)
    }

    /// The evidence whole, its payload decoded.
    pub fn whole(self) -> Result<Evidence, prost::DecodeError> {
        Ok(Evidence {
            payload: self.decode_payload()?,
            ..self.evidence
        })
    }
}

/// A payload's fields as `Split::payload` holds them, decoded.
pub fn decode_payload(encoded: &[u8]) -> Result<Option<Payload>, prost::DecodeError> {
    Ok(Evidence::decode(encoded)?.payload)
}

/// The evidence that `encodings`, read one after the other, make (as
/// `Evidence::decode` of the first merged with the rest), split at its
/// payload.
pub fn split(encodings: &[&[u8]]) -> Result<Split, SplitError> {
    let mut rest = Vec::new();
    let mut payload = Vec::new();
    for encoding in encodings {
        let mut buf = *encoding;
        while !buf.is_empty() {
            let start = encoding.len() - buf.len();
            let number = field(&mut buf)?;
            let end = encoding.len() - buf.len();
            let to = if payload_fields().contains(&number) {
                &mut payload
            } else {
                &mut rest
            };
            to.extend_from_slice(&encoding[start..end]);
        }
    }
    Ok(Split {
        evidence: Evidence::decode(rest.as_slice())?,
        payload,
    })
}

/// The numbers of `Evidence`'s payload fields.
fn payload_fields() -> &'static [u32] {
    static FIELDS: std::sync::OnceLock<Vec<u32>> = std::sync::OnceLock::new();
    FIELDS.get_or_init(|| {
        let evidence = crate::descriptor_pool()
            .get_message_by_name("gamsa.v1.Evidence")
            .expect("gamsa.v1.Evidence is in the descriptors");
        let payload = evidence
            .oneofs()
            .find(|o| o.name() == "payload")
            .expect("gamsa.v1.Evidence has its payload oneof");
        payload.fields().map(|f| f.number()).collect()
    })
}

/// Reads one field off `buf`, returning its number.
fn field(buf: &mut &[u8]) -> Result<u32, SplitError> {
    let key = varint(buf)?;
    let number = u32::try_from(key >> 3)
        .ok()
        .filter(|n| *n > 0)
        .ok_or(SplitError::Wire("invalid field number"))?;
    let skip = match key & 7 {
        0 => {
            varint(buf)?;
            0
        }
        1 => 8,
        2 => usize::try_from(varint(buf)?).map_err(|_| SplitError::Wire("length too large"))?,
        5 => 4,
        _ => return Err(SplitError::Wire("unsupported wire type")),
    };
    if skip > buf.len() {
        return Err(SplitError::Wire("buffer underflow"));
    }
    *buf = &buf[skip..];
    Ok(number)
}

/// Reads a varint off `buf`.
fn varint(buf: &mut &[u8]) -> Result<u64, SplitError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = buf
            .split_first()
            .ok_or(SplitError::Wire("buffer underflow"))?;
        *buf = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(SplitError::Wire("invalid varint"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::{Package, Services, Software, Status, TimeSync};

    fn evidence(payload: Option<Payload>) -> Evidence {
        Evidence {
            id: "e1".into(),
            agent_id: "a1".into(),
            host: "web-01".into(),
            observed_at: Some(crate::Timestamp::from_unix_millis(1_700_000_000_123)),
            probe: "software".into(),
            subject: "dpkg".into(),
            status: Status::Observed as i32,
            error: String::new(),
            first_observed_at: None,
            payload,
        }
    }

    #[test]
    fn split_then_decoded_is_the_evidence_decoded_whole() {
        let payloads = [
            None,
            Some(Payload::Software(Software {
                packages: vec![Package {
                    name: "openssl".into(),
                    version: "3.0.15-1".into(),
                    ..Default::default()
                }],
                ..Default::default()
            })),
            Some(Payload::Services(Services::default())),
            Some(Payload::TimeSync(TimeSync {
                synchronised: true,
                ..Default::default()
            })),
        ];
        for p in payloads {
            let ev = evidence(p.clone());
            let s = split(&[&ev.encode_to_vec()]).unwrap();
            assert_eq!(
                s.evidence,
                Evidence {
                    payload: None,
                    ..ev.clone()
                }
            );
            assert_eq!(s.decode_payload().unwrap(), p);
            assert_eq!(s.payload.is_empty(), p.is_none());
        }
    }

    #[test]
    fn encodings_read_one_after_another_merge_as_protobuf_does() {
        // The store's two parts: the content, then the observation's time.
        let whole = evidence(Some(Payload::TimeSync(TimeSync {
            synchronised: true,
            ..Default::default()
        })));
        let content = Evidence {
            id: String::new(),
            observed_at: None,
            ..whole.clone()
        };
        let observed = Evidence {
            observed_at: whole.observed_at,
            ..Default::default()
        };
        let s = split(&[&content.encode_to_vec(), &observed.encode_to_vec()]).unwrap();
        let mut merged = Evidence::decode(content.encode_to_vec().as_slice()).unwrap();
        merged.merge(observed.encode_to_vec().as_slice()).unwrap();
        assert_eq!(s.decode_payload().unwrap(), merged.payload.take());
        assert_eq!(s.evidence, merged);
        // A later payload of another kind replaces the first, as decoding does.
        let other = evidence(Some(Payload::Software(Software::default())));
        let s = split(&[&whole.encode_to_vec(), &other.encode_to_vec()]).unwrap();
        assert_eq!(s.decode_payload().unwrap(), other.payload);
    }

    #[test]
    fn a_cut_or_malformed_encoding_is_an_error_not_a_panic() {
        let bytes = evidence(Some(Payload::Software(Software {
            packages: vec![Package {
                name: "openssl".into(),
                ..Default::default()
            }],
            ..Default::default()
        })))
        .encode_to_vec();
        for cut in 1..bytes.len() {
            let whole_fails = Evidence::decode(&bytes[..cut]).is_err();
            let split_fails = match split(&[&bytes[..cut]]) {
                Ok(s) => s.decode_payload().is_err(),
                Err(_) => true,
            };
            assert_eq!(split_fails, whole_fails, "cut at {cut}");
        }
        assert!(split(&[&[0xff; 11]]).is_err(), "an endless varint");
        assert!(split(&[&[0x03]]).is_err(), "a group's wire type");
        assert!(split(&[&[0x00, 0x00]]).is_err(), "field number 0");
    }
}

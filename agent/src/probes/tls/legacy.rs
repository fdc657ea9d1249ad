//! A hand-built ClientHello for any version from SSL 3.0 to TLS 1.3, and a
//! parser for the server's first flight (ServerHello, Certificate, alerts).
//!
//! rustls speaks only TLS 1.2 and 1.3 with modern suites, so it cannot ask a
//! server "would you accept TLS 1.0 with RC4?". Like sslyze and testssl.sh,
//! the probe writes that question itself: one ClientHello offering a chosen
//! version and suite list, and reads just enough of the answer to learn the
//! server's choice. No handshake is ever completed, so no key material is
//! needed beyond a random X25519 share for TLS 1.3.
//!
//! The parser reads bytes from an untrusted peer: it is a pure function over
//! a bounded buffer, checks every length before using it, caps record and
//! message sizes, and returns a verdict instead of panicking.

use rand::RngCore;

pub const SSL3: u16 = 0x0300;
pub const TLS10: u16 = 0x0301;
pub const TLS11: u16 = 0x0302;
pub const TLS12: u16 = 0x0303;
pub const TLS13: u16 = 0x0304;

/// Largest TLSCiphertext fragment a record may carry (RFC 8446 §5.2).
pub const MAX_RECORD: usize = 16384 + 256;
/// Most bytes read before the flight must have told us what we want; a
/// certificate chain larger than this is not a real server's.
pub const MAX_FLIGHT: usize = 256 * 1024;

const HANDSHAKE: u8 = 22;
const ALERT: u8 = 21;
const CLIENT_HELLO: u8 = 1;
const SERVER_HELLO: u8 = 2;
const CERTIFICATE: u8 = 11;
/// The ServerHello.random of a HelloRetryRequest (RFC 8446 §4.1.3).
const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// Every named group: NIST and SECG curves, brainpool, X25519/X448, FFDHE.
const GROUPS: &[u16] = &[
    0x001d, 0x0017, 0x0018, 0x0019, 0x001e, 0x001a, 0x001b, 0x001c, 0x0016, 0x0015, 0x0014, 0x0013,
    0x0012, 0x0011, 0x0010, 0x000f, 0x000e, 0x000d, 0x000c, 0x000b, 0x000a, 0x0009, 0x0008, 0x0007,
    0x0006, 0x0005, 0x0004, 0x0003, 0x0002, 0x0001, 0x0100, 0x0101, 0x0102, 0x0103, 0x0104,
];
/// Signature schemes: RSA PKCS#1 and PSS, ECDSA, EdDSA, DSA, with SHA-1 to SHA-512.
const SIGNATURE_SCHEMES: &[u16] = &[
    0x0403, 0x0503, 0x0603, 0x0807, 0x0808, 0x0804, 0x0805, 0x0806, 0x0809, 0x080a, 0x080b, 0x0401,
    0x0501, 0x0601, 0x0303, 0x0301, 0x0302, 0x0402, 0x0502, 0x0602, 0x0203, 0x0201, 0x0202,
];
const X25519: u16 = 0x001d;

/// The ClientHello record offering exactly `version` and `suites`, with SNI
/// when `sni` is a DNS name.
pub fn client_hello(version: u16, suites: &[u16], sni: Option<&str>) -> Vec<u8> {
    let mut rng = rand::rng();
    let mut body = Vec::with_capacity(2048);
    put_u16(&mut body, version.min(TLS12));
    let mut random = [0u8; 32];
    rng.fill_bytes(&mut random);
    body.extend_from_slice(&random);
    if version == TLS13 {
        // A session id makes middleboxes treat the hello like TLS 1.2's.
        let mut sid = [0u8; 32];
        rng.fill_bytes(&mut sid);
        body.push(32);
        body.extend_from_slice(&sid);
    } else {
        body.push(0);
    }
    let mut offered = suites.to_vec();
    if version != TLS13 {
        // Secure renegotiation signal: some servers refuse hellos without it.
        offered.push(0x00ff);
    }
    put_u16(&mut body, (offered.len() * 2) as u16);
    for s in offered {
        put_u16(&mut body, s);
    }
    body.extend_from_slice(&[1, 0]); // compression: null only
    if version >= TLS10 {
        let mut exts = extensions(version, sni, &mut rng);
        // Some servers hang on hellos of 256–511 bytes (RFC 7685): pad past them.
        let hello_len = 4 + body.len() + 2 + exts.len();
        if (256..512).contains(&hello_len) {
            let pad = 512usize.saturating_sub(hello_len + 4);
            put_u16(&mut exts, 0x0015);
            put_u16(&mut exts, pad as u16);
            exts.resize(exts.len() + pad, 0);
        }
        put_u16(&mut body, exts.len() as u16);
        body.extend_from_slice(&exts);
    }
    let mut hs = vec![CLIENT_HELLO];
    put_u24(&mut hs, body.len());
    hs.extend_from_slice(&body);
    let mut record = vec![HANDSHAKE];
    put_u16(&mut record, if version == SSL3 { SSL3 } else { TLS10 });
    put_u16(&mut record, hs.len() as u16);
    record.extend_from_slice(&hs);
    record
}

fn extensions(version: u16, sni: Option<&str>, rng: &mut impl RngCore) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    if let Some(name) = sni.filter(|n| !n.is_empty() && n.len() < 256) {
        let mut list = vec![0]; // host_name
        put_u16(&mut list, name.len() as u16);
        list.extend_from_slice(name.as_bytes());
        let mut data = Vec::new();
        put_u16(&mut data, list.len() as u16);
        data.extend_from_slice(&list);
        put_ext(&mut out, 0x0000, &data);
    }
    put_ext(&mut out, 0x000a, &u16_list(GROUPS));
    if version < TLS13 {
        put_ext(&mut out, 0x000b, &[3, 0, 1, 2]); // EC point formats
    }
    if version >= TLS12 {
        put_ext(&mut out, 0x000d, &u16_list(SIGNATURE_SCHEMES));
    }
    if version == TLS13 {
        put_ext(&mut out, 0x002b, &[2, 0x03, 0x04]); // supported_versions
        let mut share = [0u8; 32];
        rng.fill_bytes(&mut share);
        let mut entry = Vec::new();
        put_u16(&mut entry, X25519);
        put_u16(&mut entry, 32);
        entry.extend_from_slice(&share);
        let mut data = Vec::new();
        put_u16(&mut data, entry.len() as u16);
        data.extend_from_slice(&entry);
        put_ext(&mut out, 0x0033, &data); // key_share
    }
    out
}

fn u16_list(values: &[u16]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + values.len() * 2);
    put_u16(&mut out, (values.len() * 2) as u16);
    for v in values {
        put_u16(&mut out, *v);
    }
    out
}

fn put_ext(out: &mut Vec<u8>, kind: u16, data: &[u8]) {
    put_u16(out, kind);
    put_u16(out, data.len() as u16);
    out.extend_from_slice(data);
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_u24(out: &mut Vec<u8>, v: usize) {
    out.extend_from_slice(&(v as u32).to_be_bytes()[1..]);
}

/// What the server's first bytes say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flight {
    /// Not enough bytes yet.
    Incomplete,
    /// The server chose a version and suite.
    Hello(ServerHello),
    /// The server refused with a fatal alert (or close_notify).
    Alert(u8),
    /// The connection ended before the server said anything.
    Closed,
    /// The first bytes are not a TLS record: another protocol listens here.
    NotTls,
    /// TLS records, but ones no conforming server sends.
    Malformed(&'static str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHello {
    /// The negotiated version (from supported_versions when present).
    pub version: u16,
    pub suite: u16,
    /// A TLS 1.3 HelloRetryRequest: the server accepts 1.3 but wants
    /// another key share.
    pub retry: bool,
    /// The DER certificates of a TLS ≤ 1.2 Certificate message, leaf first;
    /// empty when not asked for, not sent, or cut short.
    pub certificates: Vec<Vec<u8>>,
}

/// Reads the flight in `buf`. With `want_cert`, waits past the ServerHello
/// for a TLS ≤ 1.2 Certificate message. `eof`: no more bytes will come.
pub fn parse_flight(buf: &[u8], want_cert: bool, eof: bool) -> Flight {
    match read_flight(buf, want_cert) {
        Step::Done(f) => f,
        Step::More(hello) => match (hello, eof) {
            (Some(h), true) => Flight::Hello(h),
            (None, true) if buf.is_empty() => Flight::Closed,
            (None, true) => Flight::Malformed("connection closed mid-record"),
            (_, false) if buf.len() > MAX_FLIGHT => Flight::Malformed("flight too long"),
            (_, false) => Flight::Incomplete,
        },
    }
}

enum Step {
    Done(Flight),
    /// Needs more bytes; holds the ServerHello if already seen.
    More(Option<ServerHello>),
}

fn read_flight(buf: &[u8], want_cert: bool) -> Step {
    // Any TLS record starts with a content type 20–24 and major version 3.
    match buf {
        [t, ..] if !(20..=24).contains(t) => return Step::Done(Flight::NotTls),
        [_, major, ..] if *major != 3 => return Step::Done(Flight::NotTls),
        _ => {}
    }
    let mut handshake = Vec::new();
    let mut hs_pos = 0;
    let mut hello: Option<ServerHello> = None;
    let mut rest = buf;
    while rest.len() >= 5 {
        let (kind, major) = (rest[0], rest[1]);
        let len = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
        if !(20..=24).contains(&kind) || major != 3 {
            return Step::Done(Flight::Malformed("bad record header"));
        }
        if len > MAX_RECORD {
            return Step::Done(Flight::Malformed("record too long"));
        }
        if rest.len() < 5 + len {
            break;
        }
        let payload = &rest[5..5 + len];
        rest = &rest[5 + len..];
        match kind {
            ALERT => {
                if let Some(h) = hello {
                    return Step::Done(Flight::Hello(h));
                }
                let [level, description, ..] = payload else {
                    return Step::Done(Flight::Malformed("short alert"));
                };
                // Warnings (e.g. unrecognized_name) precede a hello; go on.
                if *level == 1 && *description != 0 {
                    continue;
                }
                return Step::Done(Flight::Alert(*description));
            }
            HANDSHAKE if !payload.is_empty() => {
                handshake.extend_from_slice(payload);
                loop {
                    let (msg_type, body, next) = match message(&handshake[hs_pos..]) {
                        Ok(Some(m)) => m,
                        Ok(None) => break,
                        Err(why) => return Step::Done(Flight::Malformed(why)),
                    };
                    hs_pos += next;
                    match (&mut hello, msg_type) {
                        (None, SERVER_HELLO) => match server_hello(body) {
                            Some(h) if !want_cert || h.version >= TLS13 || h.retry => {
                                return Step::Done(Flight::Hello(h));
                            }
                            Some(h) => hello = Some(h),
                            None => return Step::Done(Flight::Malformed("bad ServerHello")),
                        },
                        (None, _) => return Step::Done(Flight::Malformed("no ServerHello")),
                        (Some(h), CERTIFICATE) => {
                            h.certificates = certificate_list(body).unwrap_or_default();
                            return Step::Done(Flight::Hello(h.clone()));
                        }
                        // Any other message: the server sends no certificate.
                        (Some(h), _) => return Step::Done(Flight::Hello(h.clone())),
                    }
                }
            }
            _ => {
                return Step::Done(match hello {
                    Some(h) => Flight::Hello(h),
                    None => Flight::Malformed("unexpected record before ServerHello"),
                })
            }
        }
    }
    Step::More(hello)
}

/// A handshake message: type, body, and bytes used including its header.
type Message<'a> = (u8, &'a [u8], usize);

/// The first complete handshake message in `buf`, if there is one yet.
fn message(buf: &[u8]) -> Result<Option<Message<'_>>, &'static str> {
    let [kind, a, b, c, rest @ ..] = buf else {
        return Ok(None);
    };
    let len = u32::from_be_bytes([0, *a, *b, *c]) as usize;
    if len > MAX_FLIGHT {
        return Err("handshake message too long");
    }
    Ok((rest.len() >= len).then(|| (*kind, &rest[..len], 4 + len)))
}

/// A bounds-checked reader over a message body.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn u24(&mut self) -> Option<usize> {
        self.take(3)
            .map(|b| u32::from_be_bytes([0, b[0], b[1], b[2]]) as usize)
    }
}

fn server_hello(body: &[u8]) -> Option<ServerHello> {
    let mut r = Reader(body);
    let mut version = r.u16()?;
    let retry = r.take(32)? == HRR_RANDOM;
    let sid_len = usize::from(r.u8()?);
    if sid_len > 32 {
        return None;
    }
    r.take(sid_len)?;
    let suite = r.u16()?;
    r.u8()?; // compression method
    if !r.0.is_empty() {
        let len = usize::from(r.u16()?);
        let mut exts = Reader(r.take(len)?);
        while !exts.0.is_empty() {
            let kind = exts.u16()?;
            let data_len = usize::from(exts.u16()?);
            let data = exts.take(data_len)?;
            if kind == 0x002b {
                let [hi, lo] = data else { return None };
                version = u16::from_be_bytes([*hi, *lo]);
            }
        }
    }
    Some(ServerHello {
        version,
        suite,
        retry,
        certificates: Vec::new(),
    })
}

/// The DER certificates of a TLS ≤ 1.2 Certificate message.
fn certificate_list(body: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut r = Reader(body);
    let total = r.u24()?;
    let mut list = Reader(r.take(total)?);
    let mut out = Vec::new();
    while !list.0.is_empty() {
        let len = list.u24()?;
        out.push(list.take(len)?.to_vec());
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record(kind: u8, payload: &[u8]) -> Vec<u8> {
        let mut r = vec![kind, 3, 3];
        put_u16(&mut r, payload.len() as u16);
        r.extend_from_slice(payload);
        r
    }

    fn handshake(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![kind];
        put_u24(&mut m, body.len());
        m.extend_from_slice(body);
        m
    }

    fn hello_body(version: u16, suite: u16, random: [u8; 32], exts: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        put_u16(&mut b, version);
        b.extend_from_slice(&random);
        b.push(4);
        b.extend_from_slice(&[9, 9, 9, 9]);
        put_u16(&mut b, suite);
        b.push(0);
        if !exts.is_empty() {
            put_u16(&mut b, exts.len() as u16);
            b.extend_from_slice(exts);
        }
        b
    }

    fn certificate_body(certs: &[&[u8]]) -> Vec<u8> {
        let mut list = Vec::new();
        for c in certs {
            put_u24(&mut list, c.len());
            list.extend_from_slice(c);
        }
        let mut b = Vec::new();
        put_u24(&mut b, list.len());
        b.extend_from_slice(&list);
        b
    }

    /// A TLS 1.2 flight: ServerHello, Certificate, ServerHelloDone in one record.
    fn tls12_flight() -> Vec<u8> {
        let mut hs = handshake(SERVER_HELLO, &hello_body(TLS12, 0xc02f, [7; 32], &[]));
        hs.extend(handshake(
            CERTIFICATE,
            &certificate_body(&[b"leaf-der", b"ca-der"]),
        ));
        hs.extend(handshake(14, &[]));
        record(HANDSHAKE, &hs)
    }

    fn expected_tls12() -> ServerHello {
        ServerHello {
            version: TLS12,
            suite: 0xc02f,
            retry: false,
            certificates: vec![b"leaf-der".to_vec(), b"ca-der".to_vec()],
        }
    }

    #[test]
    fn reads_hello_and_certificate_however_the_records_are_cut() {
        let flight = tls12_flight();
        assert_eq!(
            parse_flight(&flight, true, false),
            Flight::Hello(expected_tls12())
        );
        // Without asking for the certificate the verdict comes at the hello.
        let Flight::Hello(h) = parse_flight(&flight, false, false) else {
            panic!()
        };
        assert!(h.certificates.is_empty());
        // One handshake byte per record: same answer.
        let payload = &flight[5..];
        let split: Vec<u8> = payload
            .iter()
            .flat_map(|b| record(HANDSHAKE, &[*b]))
            .collect();
        assert_eq!(
            parse_flight(&split, true, false),
            Flight::Hello(expected_tls12())
        );
        // Every strict prefix is incomplete; at end of stream it never
        // claims a certificate it did not fully read.
        for cut in 0..flight.len() {
            assert_eq!(
                parse_flight(&flight[..cut], true, false),
                Flight::Incomplete,
                "cut {cut}"
            );
            match parse_flight(&flight[..cut], true, true) {
                Flight::Hello(h) => assert!(h.certificates.is_empty(), "cut {cut}"),
                Flight::Closed => assert_eq!(cut, 0),
                Flight::Malformed(_) => {}
                other => panic!("cut {cut}: {other:?}"),
            }
        }
    }

    #[test]
    fn alerts_warnings_and_other_protocols() {
        assert_eq!(
            parse_flight(&record(ALERT, &[2, 40]), true, false),
            Flight::Alert(40)
        );
        assert_eq!(
            parse_flight(&record(ALERT, &[1, 0]), true, false),
            Flight::Alert(0)
        );
        // A warning (unrecognized_name) before the hello is passed over.
        let mut warned = record(ALERT, &[1, 112]);
        warned.extend(tls12_flight());
        assert_eq!(
            parse_flight(&warned, true, false),
            Flight::Hello(expected_tls12())
        );
        assert_eq!(
            parse_flight(&record(ALERT, &[2]), true, false),
            Flight::Malformed("short alert")
        );
        assert_eq!(parse_flight(b"", true, true), Flight::Closed);
        assert_eq!(
            parse_flight(b"HTTP/1.1 400 Bad Request\r\n", true, false),
            Flight::NotTls
        );
        assert_eq!(
            parse_flight(b"-ERR unknown command\r\n", true, false),
            Flight::NotTls
        );
        assert_eq!(parse_flight(b"\x16\x00", true, false), Flight::NotTls);
        // SSLv2 SERVER-HELLO framing.
        assert_eq!(
            parse_flight(&[0x80, 0x2e, 0x04, 0x00], true, false),
            Flight::NotTls
        );
        // Application data before any hello.
        assert_eq!(
            parse_flight(&record(23, b"x"), true, false),
            Flight::Malformed("unexpected record before ServerHello")
        );
    }

    #[test]
    fn tls13_hello_and_retry_request() {
        let mut exts = Vec::new();
        put_ext(&mut exts, 0x002b, &[0x03, 0x04]);
        let hello = record(
            HANDSHAKE,
            &handshake(SERVER_HELLO, &hello_body(TLS12, 0x1301, [1; 32], &exts)),
        );
        let Flight::Hello(h) = parse_flight(&hello, true, false) else {
            panic!()
        };
        assert_eq!((h.version, h.suite, h.retry), (TLS13, 0x1301, false));
        let retry = record(
            HANDSHAKE,
            &handshake(SERVER_HELLO, &hello_body(TLS12, 0x1302, HRR_RANDOM, &exts)),
        );
        let Flight::Hello(h) = parse_flight(&retry, true, false) else {
            panic!()
        };
        assert_eq!((h.version, h.suite, h.retry), (TLS13, 0x1302, true));
        // A supported_versions extension of the wrong size is malformed.
        let mut bad = Vec::new();
        put_ext(&mut bad, 0x002b, &[0x03]);
        let hello = record(
            HANDSHAKE,
            &handshake(SERVER_HELLO, &hello_body(TLS12, 0x1301, [1; 32], &bad)),
        );
        assert_eq!(
            parse_flight(&hello, true, false),
            Flight::Malformed("bad ServerHello")
        );
    }

    #[test]
    fn refuses_oversized_and_lying_lengths() {
        let mut big = vec![HANDSHAKE, 3, 3];
        put_u16(&mut big, (MAX_RECORD + 1) as u16);
        assert_eq!(
            parse_flight(&big, true, false),
            Flight::Malformed("record too long")
        );
        // A handshake message claiming 16 MiB.
        let lying = record(HANDSHAKE, &[SERVER_HELLO, 0xff, 0xff, 0xff]);
        assert_eq!(
            parse_flight(&lying, true, false),
            Flight::Malformed("handshake message too long")
        );
        // A session id longer than 32 bytes.
        let mut body = hello_body(TLS12, 0x002f, [0; 32], &[]);
        body[34] = 33;
        assert_eq!(
            parse_flight(
                &record(HANDSHAKE, &handshake(SERVER_HELLO, &body)),
                true,
                false
            ),
            Flight::Malformed("bad ServerHello")
        );
        // Extensions length beyond the message.
        let mut body = hello_body(TLS12, 0x002f, [0; 32], &[0, 1, 0, 0]);
        let n = body.len();
        body[n - 6] = 0x40;
        assert_eq!(
            parse_flight(
                &record(HANDSHAKE, &handshake(SERVER_HELLO, &body)),
                true,
                false
            ),
            Flight::Malformed("bad ServerHello")
        );
        // A certificate list that overruns: the hello stands, no certificates.
        let mut hs = handshake(SERVER_HELLO, &hello_body(TLS12, 0x002f, [0; 32], &[]));
        hs.extend(handshake(CERTIFICATE, &[0, 0, 9, 0, 0, 99, 1, 2]));
        let Flight::Hello(h) = parse_flight(&record(HANDSHAKE, &hs), true, false) else {
            panic!()
        };
        assert!(h.certificates.is_empty());
        // Endless valid-looking records of nothing useful stop at MAX_FLIGHT.
        let mut endless = record(ALERT, &[1, 112]);
        while endless.len() <= MAX_FLIGHT {
            endless.extend(record(ALERT, &[1, 112]));
        }
        endless.extend([HANDSHAKE, 3, 3, 0]);
        assert_eq!(
            parse_flight(&endless, true, false),
            Flight::Malformed("flight too long")
        );
    }

    #[test]
    fn every_single_byte_corruption_of_a_flight_is_survived() {
        let flight = tls12_flight();
        for i in 0..flight.len() {
            for b in 0..=255u8 {
                let mut f = flight.clone();
                f[i] = b;
                for (want, eof) in [(true, false), (true, true), (false, true)] {
                    if let Flight::Hello(h) = parse_flight(&f, want, eof) {
                        assert!(h.certificates.len() <= 2);
                    }
                }
            }
        }
    }

    /// Extensions by type, in order.
    type Extensions = Vec<(u16, Vec<u8>)>;

    /// Splits a ClientHello record into (version, suites, extensions).
    fn dissect(hello: &[u8]) -> (u16, Vec<u16>, Extensions) {
        assert_eq!(hello[0], HANDSHAKE);
        assert_eq!(
            usize::from(u16::from_be_bytes([hello[3], hello[4]])),
            hello.len() - 5
        );
        let (kind, body, used) = message(&hello[5..]).unwrap().unwrap();
        assert_eq!((kind, used), (CLIENT_HELLO, hello.len() - 5));
        let mut r = Reader(body);
        let version = r.u16().unwrap();
        r.take(32).unwrap();
        let sid = usize::from(r.u8().unwrap());
        r.take(sid).unwrap();
        let n = usize::from(r.u16().unwrap());
        let mut s = Reader(r.take(n).unwrap());
        let suites = std::iter::from_fn(|| s.u16()).collect();
        assert_eq!(r.take(2).unwrap(), &[1, 0]);
        let mut exts = Vec::new();
        if !r.0.is_empty() {
            let n = usize::from(r.u16().unwrap());
            let mut e = Reader(r.take(n).unwrap());
            while !e.0.is_empty() {
                let kind = e.u16().unwrap();
                let len = usize::from(e.u16().unwrap());
                exts.push((kind, e.take(len).unwrap().to_vec()));
            }
        }
        assert!(r.0.is_empty());
        (version, suites, exts)
    }

    #[test]
    fn client_hellos_offer_what_was_asked() {
        let (v, suites, exts) =
            dissect(&client_hello(TLS10, &[0x0005, 0x002f], Some("db.example")));
        assert_eq!(v, TLS10);
        assert_eq!(suites, vec![0x0005, 0x002f, 0x00ff]);
        let kinds: Vec<u16> = exts.iter().map(|e| e.0).collect();
        assert!(kinds.contains(&0x0000) && kinds.contains(&0x000a) && !kinds.contains(&0x000d));
        assert!(exts[0].1.ends_with(b"db.example"));
        let (v, suites, exts) = dissect(&client_hello(SSL3, &[0x000a], None));
        assert_eq!((v, suites, exts), (SSL3, vec![0x000a, 0x00ff], vec![]));
        let (v, suites, exts) = dissect(&client_hello(TLS13, &[0x1301], None));
        assert_eq!((v, suites), (TLS12, vec![0x1301]));
        let kinds: Vec<u16> = exts.iter().map(|e| e.0).collect();
        assert!(kinds.contains(&0x002b) && kinds.contains(&0x0033) && kinds.contains(&0x000d));
        // No hello lands in the 256–511 byte range some servers choke on.
        for n in 0..400u16 {
            let suites: Vec<u16> = (1..=n).collect();
            let len = client_hello(TLS12, &suites, Some("a.example")).len() - 5;
            assert!(!(256..512).contains(&len), "{n} suites: {len} bytes");
        }
    }

    #[test]
    fn a_rustls_server_answers_our_hellos() {
        use std::sync::Arc;
        let key = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.signing_key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![key.cert.der().clone()], der)
        .unwrap();
        let config = Arc::new(config);
        let answer = |hello: Vec<u8>| {
            let mut server = rustls::ServerConnection::new(config.clone()).unwrap();
            let _ = server.read_tls(&mut hello.as_slice());
            let _ = server.process_new_packets();
            let mut out = Vec::new();
            while server.wants_write() {
                server.write_tls(&mut out).unwrap();
            }
            parse_flight(&out, true, true)
        };
        let suites: Vec<u16> = crate::probes::tls::suites::LEGACY.clone();
        let Flight::Hello(h) = answer(client_hello(TLS12, &suites, Some("localhost"))) else {
            panic!("no TLS 1.2 hello")
        };
        assert_eq!(h.version, TLS12);
        assert_eq!(h.certificates, vec![key.cert.der().to_vec()]);
        let Flight::Hello(h) = answer(client_hello(TLS13, &[0x1302, 0x1301], None)) else {
            panic!("no TLS 1.3 hello")
        };
        assert_eq!(h.version, TLS13);
        assert!([0x1301, 0x1302].contains(&h.suite));
        // rustls refuses TLS 1.0 with an alert.
        assert!(matches!(
            answer(client_hello(TLS10, &suites, None)),
            Flight::Alert(_)
        ));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..4096), want: bool, eof: bool) {
            let verdict = parse_flight(&buf, want, eof);
            prop_assert!(!(eof && verdict == Flight::Incomplete));
        }

        #[test]
        fn arbitrary_records_never_panic(
            records in proptest::collection::vec((20u8..=24, proptest::collection::vec(any::<u8>(), 0..300)), 0..8),
            want: bool,
        ) {
            let buf: Vec<u8> = records.iter().flat_map(|(k, p)| record(*k, p)).collect();
            let _ = parse_flight(&buf, want, false);
            let _ = parse_flight(&buf, want, true);
        }
    }
}

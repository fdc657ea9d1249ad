//! STARTTLS: the plaintext exchange that turns a PostgreSQL or SMTP
//! connection into a TLS one. Databases and mail relays are where an
//! "encrypted channel" is most often missing, and they only show it after
//! this preamble. A server that answers "no TLS here" is a finding
//! (`Declined`), not a failure.

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum Starttls {
    #[default]
    #[serde(rename = "")]
    None,
    #[serde(rename = "postgres")]
    Postgres,
    #[serde(rename = "smtp")]
    Smtp,
}

impl Starttls {
    pub fn as_str(self) -> &'static str {
        match self {
            Starttls::None => "",
            Starttls::Postgres => "postgres",
            Starttls::Smtp => "smtp",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StarttlsError {
    /// The server speaks the protocol but offers no TLS.
    #[error("{0}")]
    Declined(String),
    /// The server does not speak the protocol as expected.
    #[error("{0}")]
    Protocol(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Runs the `kind` preamble on `stream`; afterwards it carries TLS.
pub async fn upgrade(stream: &mut TcpStream, kind: Starttls) -> Result<(), StarttlsError> {
    match kind {
        Starttls::None => Ok(()),
        Starttls::Postgres => postgres(stream).await,
        Starttls::Smtp => smtp(stream).await,
    }
}

/// PostgreSQL's SSLRequest: length 8, code 80877103; one byte answers.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

async fn postgres(stream: &mut TcpStream) -> Result<(), StarttlsError> {
    stream.write_all(&SSL_REQUEST).await?;
    let mut answer = [0u8; 1];
    if stream.read(&mut answer).await? == 0 {
        return Err(StarttlsError::Protocol(
            "closed the connection after SSLRequest: not PostgreSQL".into(),
        ));
    }
    match answer[0] {
        b'S' => Ok(()),
        b'N' => Err(StarttlsError::Declined(
            "TLS not offered: PostgreSQL answered 'N' to SSLRequest".into(),
        )),
        b'E' => Err(StarttlsError::Protocol(
            "PostgreSQL answered SSLRequest with an error (a server older than 7.0?)".into(),
        )),
        other => Err(StarttlsError::Protocol(format!(
            "answered SSLRequest with byte 0x{other:02x}: not PostgreSQL"
        ))),
    }
}

/// Longest SMTP reply read (RFC 5321 lines are ≤ 512 bytes; EHLO lists a few).
const SMTP_REPLY_LIMIT: usize = 16 * 1024;

async fn smtp(stream: &mut TcpStream) -> Result<(), StarttlsError> {
    let (code, _) = smtp_reply(stream).await?;
    if code != 220 {
        return Err(StarttlsError::Protocol(format!(
            "SMTP greeting {code}, expected 220"
        )));
    }
    stream.write_all(b"EHLO gamsa-agent.invalid\r\n").await?;
    let (code, lines) = smtp_reply(stream).await?;
    if code != 250 {
        return Err(StarttlsError::Protocol(format!(
            "SMTP EHLO answered {code}, expected 250"
        )));
    }
    let offers = lines.iter().skip(1).any(|l| {
        l.split_whitespace()
            .next()
            .is_some_and(|k| k.eq_ignore_ascii_case("STARTTLS"))
    });
    if !offers {
        return Err(StarttlsError::Declined(
            "TLS not offered: the SMTP server's EHLO reply lists no STARTTLS".into(),
        ));
    }
    stream.write_all(b"STARTTLS\r\n").await?;
    let (code, lines) = smtp_reply(stream).await?;
    if code != 220 {
        return Err(StarttlsError::Declined(format!(
            "TLS not offered: the SMTP server answered STARTTLS with {code} {}",
            lines.first().map(String::as_str).unwrap_or("")
        )));
    }
    Ok(())
}

/// Reads one (possibly multi-line) SMTP reply: its code and the text of
/// each line. Reads byte-wise up to the final line so no TLS byte that
/// follows is swallowed, and never more than `SMTP_REPLY_LIMIT`.
async fn smtp_reply(stream: &mut TcpStream) -> Result<(u16, Vec<String>), StarttlsError> {
    let mut lines = Vec::new();
    let mut line = Vec::with_capacity(128);
    let mut total = 0;
    let mut byte = [0u8; 1];
    loop {
        if stream.read(&mut byte).await? == 0 {
            return Err(StarttlsError::Protocol(
                "SMTP server closed the connection".into(),
            ));
        }
        total += 1;
        if total > SMTP_REPLY_LIMIT {
            return Err(StarttlsError::Protocol("SMTP reply too long".into()));
        }
        if byte[0] != b'\n' {
            line.push(byte[0]);
            continue;
        }
        let text = String::from_utf8_lossy(&line)
            .trim_end_matches('\r')
            .to_string();
        line.clear();
        let bytes = text.as_bytes();
        let sep = bytes.get(3).copied().unwrap_or(b' ');
        if bytes.len() < 3 || !bytes[..3].iter().all(u8::is_ascii_digit) || !b" -".contains(&sep) {
            return Err(StarttlsError::Protocol(format!(
                "not an SMTP reply: {text:.60}"
            )));
        }
        lines.push(text.get(4..).unwrap_or("").to_string());
        if sep == b' ' {
            return Ok((text[..3].parse().unwrap_or(0), lines));
        }
    }
}

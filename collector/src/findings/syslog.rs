//! A verdict change as one RFC 5424 syslog message, over UDP (one datagram)
//! or TCP (octet-counting framing, RFC 6587, which rsyslog and syslog-ng
//! read). The change is in structured data (`gamsa@32473`: catalog, item,
//! before, after, the hosts not passing) and the message text repeats it
//! for people.

use super::Change;
use crate::verdict::{Outcome, Verdict};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Udp,
}

/// Facility 13, "log audit".
const FACILITY: u8 = 13;
/// Structured-data id: RFC 5612's example enterprise number, for a tool
/// without an IANA number of its own.
const SD_ID: &str = "gamsa@32473";
/// Hosts named in the structured data at most; the rest are counted.
const MAX_HOSTS: usize = 50;

/// Severity: a verdict turned N is a warning, P or UNKNOWN a notice, the
/// rest informational.
fn severity(after: Verdict) -> u8 {
    match after {
        Verdict::N => 4,
        Verdict::P | Verdict::Unknown => 5,
        Verdict::Y | Verdict::Na => 6,
    }
}

/// A PARAM-VALUE: `"`, `\` and `]` escaped (RFC 5424 section 6.3.3).
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A header field: printable US-ASCII without spaces, else `-`.
fn header_field(v: &str, max: usize) -> String {
    let v: String = v
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if v.is_empty() {
        "-".into()
    } else {
        v
    }
}

pub fn line(change: &Change, hostname: &str) -> String {
    let item = &change.item;
    let before = change.before.map_or("-", Verdict::as_str);
    let not_passing: Vec<&str> = item
        .hosts
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Fail | Outcome::Unknown))
        .map(|(h, _)| h.as_str())
        .collect();
    let mut hosts = not_passing
        .iter()
        .take(MAX_HOSTS)
        .copied()
        .collect::<Vec<_>>()
        .join(",");
    if not_passing.len() > MAX_HOSTS {
        hosts.push_str(&format!(",+{}", not_passing.len() - MAX_HOSTS));
    }
    let timestamp = chrono::DateTime::from_timestamp_millis(change.at_ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    format!(
        "<{pri}>1 {timestamp} {host} gamsa-collector {pid} verdict-change [{SD_ID} catalog=\"{catalog}\" item=\"{id}\" before=\"{before}\" after=\"{after}\" hosts=\"{hosts}\" notPassing=\"{n}\"] \u{feff}{catalog} {id} {before} -> {after}: {reason}",
        pri = FACILITY * 8 + severity(item.verdict),
        host = header_field(hostname, 255),
        pid = std::process::id(),
        catalog = escape(&change.catalog.id),
        id = escape(&item.id),
        after = item.verdict.as_str(),
        hosts = escape(&hosts),
        n = not_passing.len(),
        reason = item.reason_en.replace('\n', " "),
    )
}

pub async fn send(
    transport: Transport,
    addr: &str,
    line: &str,
    timeout: Duration,
) -> std::io::Result<()> {
    let attempt = async {
        match transport {
            Transport::Udp => {
                let to = tokio::net::lookup_host(addr).await?.next().ok_or_else(|| {
                    std::io::Error::new(std::io::ErrorKind::NotFound, "no address")
                })?;
                let bind = if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
                let socket = tokio::net::UdpSocket::bind(bind).await?;
                socket.send_to(line.as_bytes(), to).await.map(|_| ())
            }
            Transport::Tcp => {
                let mut s = tokio::net::TcpStream::connect(addr).await?;
                s.write_all(format!("{} {line}", line.len()).as_bytes())
                    .await?;
                s.shutdown().await
            }
        }
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out"))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    #[test]
    fn a_change_is_one_rfc5424_line_with_escaped_structured_data() {
        let hosts: BTreeMap<String, Outcome> = [
            ("a".to_string(), Outcome::Pass),
            ("b]\"".to_string(), Outcome::Fail),
        ]
        .into();
        let change = Change {
            catalog: toml::from_str(
                "id = \"c\"\ntitle_ko = \"\"\ntitle_en = \"\"\nversion = \"1\"\nsource = \"\"\nfreshness = \"1h\"",
            )
            .unwrap(),
            item: crate::verdict::ItemResult {
                catalog: "c".into(),
                id: "1.1".into(),
                title_ko: String::new(),
                title_en: String::new(),
                verdict: Verdict::N,
                reason_en: "one host fails\nsecond line".into(),
                reason_ko: String::new(),
                hosts: Arc::new(hosts),
                rows: vec![],
                evidence: Arc::default(),
                evaluated_at: String::new(),
                na_mark: None,
            },
            before: Some(Verdict::Y),
            at_ms: 1_700_000_000_000,
        };
        let l = line(&change, "collector 1");
        assert!(
            l.starts_with("<108>1 2023-11-14T22:13:20.000Z collector1 gamsa-collector "),
            "{l}"
        );
        assert!(
            l.contains(" verdict-change [gamsa@32473 catalog=\"c\" item=\"1.1\" before=\"Y\" after=\"N\" hosts=\"b\\]\\\"\" notPassing=\"1\"] \u{feff}c 1.1 Y -> N: one host fails second line"),
            "{l}"
        );
        assert!(!l.contains('\n'));
    }
}

//! The host inventory: one row per host with what an asset list asks (OS
//! and version, kernel, addresses, role, zone, anti-malware, packages, the
//! OS's end of support, last seen), from the agents' records and each host's
//! latest evidence.
//!
//! Why paged: a host's latest evidence holds bodies of any size (a package
//! list of 20,000 entries), so the inventory reads the latest evidence of
//! one page of hosts at a time and keeps only the row; no read holds the
//! fleet's evidence at once. The command line walks every page, the API
//! answers one. Hosts are ordered by name, so pages are stable while the
//! fleet is.
//!
//! Why remembered: a host's `software` evidence carries its whole package
//! list (about 88 KB of JSON on a real Debian host), of which a row reads
//! the count, the end of support and anti-malware. Reading and decoding a
//! hundred lists was most of a page's time. A page instead reads the ids of
//! its hosts' latest evidence (`Store::latest_stamps_of`), and only the
//! evidence not seen before; what a row reads of each is kept by id
//! ([`Seen`]). An evidence's content never changes under its id (an
//! unchanged observation extends the same evidence), so what is kept stays
//! true; it is bounded, and forgotten at once when full.

use crate::store::{AgentRecord, Store, StoreError};
use gamsa_proto::v1::{evidence::Payload, Evidence, Software, Status};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// The probes whose evidence a row reads ([`row`]).
const PROBES: &[&str] = &["host", "redundancy", "region", "software"];

/// Hosts per page unless asked.
pub const PAGE: usize = 100;

/// The most hosts one page may ask for.
pub const MAX_PAGE: usize = 1000;
/// The highest page the API accepts (a million pages of one host is more
/// hosts than any fleet).
pub const MAX_PAGE_INDEX: usize = 1_000_000;

/// Which page of the inventory, and whether its addresses are redacted.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Request {
    /// Zero-based page, by host name.
    pub page: usize,
    /// Hosts per page (at most `MAX_PAGE`).
    pub limit: usize,
    /// Every IP address replaced by the collector's keyed label, as in
    /// exports (`--redact-ips`).
    #[serde(deserialize_with = "flag")]
    pub redact_ips: bool,
}

impl Default for Request {
    fn default() -> Self {
        Self {
            page: 0,
            limit: PAGE,
            redact_ips: false,
        }
    }
}

/// "true", "1" or "on" (as exports' `redactIps`); anything else is false.
fn flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let s = String::deserialize(d)?;
    Ok(matches!(s.as_str(), "true" | "1" | "on"))
}

/// One host of the inventory. Empty strings (and `packages` null) are what
/// the host's evidence does not say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostRow {
    pub host: String,
    pub agent_id: String,
    /// The OS name and version (`host` evidence, else the agent's Hello).
    pub os: String,
    pub os_version: String,
    pub kernel: String,
    /// The host's interface addresses ("address/prefix"; `redundancy`
    /// evidence, loopback and container interfaces left out).
    pub addresses: Vec<String>,
    /// The agent's labels `role` and (unless the cloud or the network
    /// evidence says) `zone`.
    pub role: String,
    pub zone: String,
    /// Anti-malware and EDR products found, each "running" or "installed".
    pub anti_malware: Vec<String>,
    /// Installed packages of every package database read; null when none
    /// was read.
    pub packages: Option<u64>,
    /// The OS release's end of security support (YYYY-MM-DD).
    pub end_of_support: String,
    /// The agent's last contact, Unix milliseconds.
    pub last_seen_ms: i64,
    /// The host's agent is revoked: its evidence no longer counts.
    pub revoked: bool,
}

/// One page of the inventory.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    pub hosts: Vec<HostRow>,
    pub page: usize,
    pub limit: usize,
    /// Hosts in the whole inventory.
    pub total: usize,
    /// The next page, while there is one.
    pub next: Option<usize>,
}

/// The most evidence [`Seen`] keeps (about a kilobyte each): four probes
/// of a 25,000-host fleet.
const SEEN_MAX: usize = 100_000;

/// What rows read of the evidence read before, by evidence id (module
/// documentation).
#[derive(Default)]
pub struct Seen {
    by_id: Mutex<HashMap<String, Evidence>>,
}

impl Seen {
    fn get(&self, ids: &[&str]) -> (Vec<Evidence>, Vec<String>) {
        let kept = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        let (mut found, mut missing) = (Vec::new(), Vec::new());
        for id in ids {
            match kept.get(*id) {
                Some(e) => found.push(e.clone()),
                None => missing.push(id.to_string()),
            }
        }
        (found, missing)
    }

    fn keep(&self, evidence: &[Evidence]) {
        let mut kept = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() + evidence.len() > SEEN_MAX {
            kept.clear();
        }
        for e in evidence {
            kept.insert(e.id.clone(), e.clone());
        }
    }
}

/// `ev` with only what [`row`] reads of it: a software evidence without
/// its package list, security updates and compilers.
fn as_read(mut ev: Evidence) -> Evidence {
    if let Some(Payload::Software(s)) = &mut ev.payload {
        *s = Software {
            os: s.os.take(),
            databases: std::mem::take(&mut s.databases),
            anti_malware: std::mem::take(&mut s.anti_malware),
            ..Default::default()
        };
    }
    ev
}

/// Page `page` (zero-based) of `limit` hosts, by host name.
pub async fn page(
    store: &dyn Store,
    seen: &Seen,
    page: usize,
    limit: usize,
) -> Result<Page, StoreError> {
    let limit = limit.clamp(1, MAX_PAGE);
    let offset = u32::try_from(page.saturating_mul(limit)).unwrap_or(u32::MAX);
    let (agents, total) = store.host_agents_page(offset, limit as u32).await?;
    let total = usize::try_from(total).unwrap_or(usize::MAX);
    // The ids of the page's hosts' latest evidence in one read; whole, only
    // those not seen before.
    let names: Vec<&str> = agents.iter().map(|a| a.host.as_str()).collect();
    let stamps = store.latest_stamps_of(&names, PROBES).await?;
    let ids: Vec<&str> = stamps
        .iter()
        .map(|s| s.stamp.evidence.id.as_str())
        .collect();
    let (mut evidence, missing) = seen.get(&ids);
    if !missing.is_empty() {
        let read: Vec<Evidence> = store
            .evidence_by_ids(missing)
            .await?
            .into_iter()
            .map(as_read)
            .collect();
        seen.keep(&read);
        evidence.extend(read);
    }
    // Each host's in (probe, subject) order, as the store keeps them.
    evidence.sort_by(|a, b| (&a.probe, &a.subject).cmp(&(&b.probe, &b.subject)));
    let mut by_host: BTreeMap<String, Vec<Evidence>> = BTreeMap::new();
    for e in evidence {
        by_host.entry(e.host.clone()).or_default().push(e);
    }
    let rows = agents
        .iter()
        .map(|a| row(a, by_host.get(a.host.as_str()).map_or(&[], Vec::as_slice)))
        .collect();
    let next = (page.saturating_add(1).saturating_mul(limit) < total).then_some(page + 1);
    Ok(Page {
        hosts: rows,
        page,
        limit,
        total,
        next,
    })
}

/// A host's row from its agent and its latest evidence.
pub fn row(agent: &AgentRecord, evidence: &[Evidence]) -> HostRow {
    let mut r = HostRow {
        host: agent.host.clone(),
        agent_id: agent.agent_id.clone(),
        os: agent.os.clone(),
        os_version: String::new(),
        kernel: agent.kernel.clone(),
        addresses: vec![],
        role: agent.labels.get("role").cloned().unwrap_or_default(),
        zone: String::new(),
        anti_malware: vec![],
        packages: None,
        end_of_support: String::new(),
        last_seen_ms: agent.last_seen_ms,
        revoked: agent.revoked,
    };
    let (mut region_zone, mut network_zone) = (String::new(), String::new());
    let observed = evidence
        .iter()
        .filter(|e| e.status == Status::Observed as i32);
    for e in observed {
        match &e.payload {
            Some(Payload::HostInfo(h)) => {
                r.os = h.os_name.clone();
                r.os_version = h.os_version.clone();
                r.kernel = h.kernel_version.clone();
            }
            Some(Payload::NetworkRedundancy(n)) => {
                for i in &n.interfaces {
                    for a in &i.addresses {
                        if !r.addresses.contains(a) {
                            r.addresses.push(a.clone());
                        }
                    }
                }
                network_zone = n.zone.clone();
            }
            Some(Payload::CloudRegion(c)) => region_zone = c.zone.clone(),
            Some(Payload::Software(s)) => {
                let read: Vec<_> = s.databases.iter().filter(|d| d.error.is_empty()).collect();
                if !read.is_empty() {
                    r.packages = Some(read.iter().map(|d| u64::from(d.count)).sum());
                }
                if let Some(os) = &s.os {
                    r.end_of_support = os.end_of_support.clone();
                }
                r.anti_malware = s
                    .anti_malware
                    .iter()
                    .map(|a| {
                        let state = if a.processes.is_empty() {
                            "installed"
                        } else {
                            "running"
                        };
                        format!("{} ({state})", a.product)
                    })
                    .collect();
            }
            _ => {}
        }
    }
    // As the rules place a host: the cloud's zone, the network's, the label.
    r.zone = [region_zone, network_zone]
        .into_iter()
        .find(|z| !z.is_empty())
        .or_else(|| agent.labels.get("zone").cloned())
        .unwrap_or_default();
    r
}

/// A row as one CSV line: lists joined by spaces.
#[derive(Serialize)]
struct CsvRow<'a> {
    host: &'a str,
    agent: &'a str,
    os: &'a str,
    os_version: &'a str,
    kernel: &'a str,
    addresses: String,
    role: &'a str,
    zone: &'a str,
    anti_malware: String,
    packages: Option<u64>,
    end_of_support: &'a str,
    last_seen: String,
    revoked: bool,
}

/// The rows as CSV with a header, starting with a UTF-8 byte order mark (as
/// every CSV gamsa writes, for spreadsheet programs); `last_seen` in RFC 3339.
pub fn csv(rows: &[HostRow]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer("\u{feff}".as_bytes().to_vec());
    for r in rows {
        let last_seen = chrono::DateTime::from_timestamp_millis(r.last_seen_ms)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default();
        w.serialize(CsvRow {
            host: &r.host,
            agent: &r.agent_id,
            os: &r.os,
            os_version: &r.os_version,
            kernel: &r.kernel,
            addresses: r.addresses.join(" "),
            role: &r.role,
            zone: &r.zone,
            anti_malware: r.anti_malware.join("; "),
            packages: r.packages,
            end_of_support: &r.end_of_support,
            last_seen,
            revoked: r.revoked,
        })?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use gamsa_proto::v1::*;

    fn agent(id: &str, host: &str, revoked: bool, seen: i64) -> AgentRecord {
        AgentRecord {
            agent_id: id.into(),
            host: host.into(),
            os: "Linux".into(),
            kernel: "6.1.0-hello".into(),
            labels: [
                ("role".to_string(), "web".to_string()),
                ("zone".to_string(), "label-a".to_string()),
            ]
            .into(),
            last_seen_ms: seen,
            revoked,
            ..Default::default()
        }
    }

    fn ev(payload: Payload, status: Status) -> Evidence {
        Evidence {
            status: status as i32,
            payload: Some(payload),
            ..Default::default()
        }
    }

    #[test]
    fn a_row_takes_each_fact_from_its_evidence_and_the_agent_fills_the_rest() {
        let a = agent("web-1", "web-1", false, 1_700_000_000_000);
        let bare = row(&a, &[]);
        assert_eq!(
            (
                bare.os.as_str(),
                bare.kernel.as_str(),
                bare.zone.as_str(),
                bare.packages
            ),
            ("Linux", "6.1.0-hello", "label-a", None)
        );
        let evidence = vec![
            ev(
                Payload::HostInfo(HostInfo {
                    os_name: "Debian GNU/Linux".into(),
                    os_version: "12".into(),
                    kernel_version: "6.1.0-18-amd64".into(),
                    ..Default::default()
                }),
                Status::Observed,
            ),
            ev(
                Payload::NetworkRedundancy(NetworkRedundancy {
                    zone: "net-b".into(),
                    interfaces: vec![NetInterface {
                        name: "eth0".into(),
                        addresses: vec!["10.0.0.5/24".into(), "fe80::1/64".into()],
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                Status::Observed,
            ),
            ev(
                Payload::Software(Software {
                    os: Some(OsSupport {
                        end_of_support: "2028-06-30".into(),
                        ..Default::default()
                    }),
                    databases: vec![
                        PackageDatabase {
                            kind: "dpkg".into(),
                            count: 412,
                            ..Default::default()
                        },
                        PackageDatabase {
                            kind: "rpm".into(),
                            count: 9,
                            error: "rpm database not read".into(),
                            ..Default::default()
                        },
                    ],
                    anti_malware: vec![
                        AntiMalware {
                            product: "ClamAV".into(),
                            processes: vec!["clamd".into()],
                            ..Default::default()
                        },
                        AntiMalware {
                            product: "Wazuh".into(),
                            ..Default::default()
                        },
                    ],
                    ..Default::default()
                }),
                Status::Observed,
            ),
            // Could not observe: says nothing.
            ev(
                Payload::CloudRegion(CloudRegion {
                    zone: "ignored".into(),
                    ..Default::default()
                }),
                Status::Error,
            ),
        ];
        let r = row(&a, &evidence);
        assert_eq!(r.os, "Debian GNU/Linux");
        assert_eq!(r.os_version, "12");
        assert_eq!(r.kernel, "6.1.0-18-amd64");
        assert_eq!(r.addresses, ["10.0.0.5/24", "fe80::1/64"]);
        assert_eq!(r.zone, "net-b");
        assert_eq!(r.role, "web");
        assert_eq!(r.packages, Some(412));
        assert_eq!(r.end_of_support, "2028-06-30");
        assert_eq!(r.anti_malware, ["ClamAV (running)", "Wazuh (installed)"]);
        let text = String::from_utf8(csv(&[r]).unwrap()).unwrap();
        assert!(
            text.starts_with("\u{feff}host,agent,os,os_version,kernel,addresses,"),
            "{text}"
        );
        assert!(
            text.contains("web-1,web-1,Debian GNU/Linux,12,6.1.0-18-amd64,10.0.0.5/24 fe80::1/64,web,net-b,ClamAV (running); Wazuh (installed),412,2028-06-30,2023-11-14T22:13:20Z,false"),
            "{text}"
        );
    }
}

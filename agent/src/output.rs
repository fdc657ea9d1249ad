//! Printing evidence for people and pipes: NDJSON (one canonical-JSON evidence
//! per line) or a table with one row per evidence, and, on a terminal, a
//! progress line while probes run (a full port scan takes a minute).

use gamsa_proto::v1::{evidence::Payload, Evidence, Status};
use std::io::Write;

/// One line of NDJSON.
pub fn json_line(ev: &Evidence) -> String {
    serde_json::to_string(ev).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// Envelope fields of the JSON form; any other key is the payload.
const ENVELOPE: &[&str] = &[
    "id",
    "agentId",
    "host",
    "observedAt",
    "probe",
    "subject",
    "status",
    "error",
];

/// A short human summary of an evidence's payload.
pub fn summary(ev: &Evidence) -> String {
    if ev.status == Status::Error as i32 {
        return format!("could not check: {}", ev.error);
    }
    match &ev.payload {
        Some(Payload::HostInfo(h)) => format!(
            "{} {} kernel {} · {} CPUs · {} MiB RAM · up {}h",
            h.os_name,
            h.os_version,
            h.kernel_version,
            h.cpu_count,
            h.memory_total_bytes / (1024 * 1024),
            h.uptime_seconds / 3600
        ),
        Some(Payload::ListeningSockets(s)) => {
            let exposed = s
                .sockets
                .iter()
                .filter(|s| s.exposure != "loopback")
                .count();
            let mut ports: Vec<String> = s
                .sockets
                .iter()
                .map(|s| format!("{}/{}", s.port, s.protocol.get(..3).unwrap_or(&s.protocol)))
                .collect();
            ports.dedup();
            ports.truncate(12);
            format!(
                "{} listening ({} beyond loopback): {}",
                s.sockets.len(),
                exposed,
                ports.join(" ")
            )
        }
        Some(Payload::TlsEndpoint(t)) => tls_summary(t),
        Some(Payload::PortScan(p)) => {
            let mut open: Vec<String> = p.open_ports.iter().take(12).map(u32::to_string).collect();
            if p.open_ports.len() > 12 {
                open.push("…".into());
            }
            format!(
                "{} open{}{} · {} closed · {} filtered · ports {} in {} ms from {}",
                p.open_ports.len(),
                if open.is_empty() { "" } else { ": " },
                open.join(" "),
                p.closed_count,
                p.filtered_count,
                p.ports_spec,
                p.duration_ms,
                p.source_address
            )
        }
        Some(Payload::BackupArtifact(b)) => {
            let age = match b.age_seconds {
                -1 => "no successful backup".to_string(),
                s => format!("newest {}h{:02}m old", s / 3600, s % 3600 / 60),
            };
            let place = [b.location.as_str(), b.region.as_str(), b.country.as_str()]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "{} · {} (max {}h) · {} {} · {}",
                if b.fresh { "fresh" } else { "STALE" },
                age,
                b.max_age_seconds / 3600,
                b.count,
                b.kind,
                if place.is_empty() {
                    "location unknown"
                } else {
                    &place
                }
            )
        }
        Some(Payload::DiskEncryption(d)) => format!(
            "{} {} · {} · {}",
            if d.encrypted {
                "encrypted"
            } else {
                "NOT encrypted"
            },
            d.scheme,
            if d.swap {
                "swap".to_string()
            } else {
                format!("{} on {}", d.fs_type, d.device)
            },
            d.stack.join(" > ")
        ),
        Some(Payload::CloudRegion(r)) => format!(
            "{} {} zone {} · country {} · from {}",
            r.provider,
            r.region,
            if r.zone.is_empty() { "-" } else { &r.zone },
            if r.country.is_empty() {
                "unknown"
            } else {
                &r.country
            },
            r.source
        ),
        Some(Payload::NetworkRedundancy(r)) => redundancy_summary(r),
        Some(Payload::TimeSync(t)) => format!(
            "{} · daemon {} · est. error {} µs · offset {} µs · collector offset {}",
            if t.synchronised {
                "synchronised"
            } else {
                "NOT synchronised"
            },
            if t.daemon.is_empty() {
                "none"
            } else {
                &t.daemon
            },
            t.estimated_error_us,
            t.offset_us,
            if t.collector_offset_known {
                format!("{} ms", t.collector_offset_ms)
            } else {
                "unknown".into()
            }
        ),
        Some(_) => {
            // Probes without a dedicated summary: the payload's JSON, cut short.
            let v = serde_json::to_value(ev).unwrap_or_default();
            let payload = v
                .as_object()
                .and_then(|o| o.iter().find(|(k, _)| !ENVELOPE.contains(&k.as_str())))
                .map(|(_, v)| v.to_string())
                .unwrap_or_default();
            payload.chars().take(100).collect()
        }
        None => String::new(),
    }
}

/// "2 uplinks (eno1 eno2) · bond0 active-backup 2/2 slaves up · 2 default
/// routes, ECMP · resolvers 10.0.0.2 · VRRP keepalived · zone a".
fn redundancy_summary(r: &gamsa_proto::v1::NetworkRedundancy) -> String {
    let uplinks: Vec<&str> = r.active_uplinks.iter().map(|i| i.name.as_str()).collect();
    let mut parts = vec![format!("{} uplinks ({})", uplinks.len(), uplinks.join(" "))];
    for b in &r.bonds {
        parts.push(format!(
            "{} {} {}/{} slaves up",
            b.name,
            b.mode,
            b.active_slaves.len(),
            b.slaves.len()
        ));
    }
    parts.push(format!(
        "{} default routes{}",
        r.default_routes.len(),
        if r.ecmp { ", ECMP" } else { "" }
    ));
    parts.push(format!("resolvers {}", r.resolvers.join(" ")));
    if r.vrrp_present {
        parts.push(format!("VRRP {}", r.vrrp_processes.join(" ")));
    }
    if !r.zone.is_empty() {
        parts.push(format!("zone {}", r.zone));
    }
    parts.join(" · ")
}

/// "TLS1.2 TLS1.3 · 0 weak suites · cert 89d left · trusted · name ok".
fn tls_summary(t: &gamsa_proto::v1::TlsEndpoint) -> String {
    use gamsa_proto::v1::TlsVersion;
    if !t.tls_offered {
        // The notice says why ("TLS not offered: PostgreSQL answered 'N' ...").
        return t
            .notices
            .first()
            .cloned()
            .unwrap_or_else(|| "TLS not offered".into());
    }
    let versions: Vec<String> = t
        .accepted_versions
        .iter()
        .map(|v| match TlsVersion::try_from(*v) {
            Ok(TlsVersion::Ssl3) => "SSL3".into(),
            Ok(TlsVersion::Tls10) => "TLS1.0".into(),
            Ok(TlsVersion::Tls11) => "TLS1.1".into(),
            Ok(TlsVersion::Tls12) => "TLS1.2".into(),
            Ok(TlsVersion::Tls13) => "TLS1.3".into(),
            _ => format!("version {v}"),
        })
        .collect();
    let mut parts = vec![
        versions.join(" "),
        format!(
            "{} weak suites{}",
            t.weak_cipher_suites.len(),
            if t.cipher_suites_complete {
                ""
            } else {
                " (incomplete)"
            }
        ),
    ];
    match &t.leaf {
        Some(leaf) => {
            parts.push(format!("cert {}d left", leaf.days_remaining));
            parts.push(
                if t.chain_trusted {
                    "trusted"
                } else {
                    "untrusted"
                }
                .into(),
            );
            parts.push(
                if t.hostname_matches {
                    "name ok"
                } else {
                    "name mismatch"
                }
                .into(),
            );
        }
        None => parts.push("no certificate".into()),
    }
    parts.join(" · ")
}

fn status_name(ev: &Evidence) -> &'static str {
    if ev.status == Status::Error as i32 {
        "ERROR"
    } else {
        "OK"
    }
}

/// Writes evidence as an aligned table.
pub fn write_table(out: &mut impl Write, evidence: &[Evidence]) -> std::io::Result<()> {
    let rows: Vec<[String; 4]> = evidence
        .iter()
        .map(|e| {
            [
                e.probe.clone(),
                e.subject.clone(),
                status_name(e).into(),
                summary(e),
            ]
        })
        .collect();
    let headers = ["PROBE", "SUBJECT", "STATUS", "SUMMARY"];
    let mut widths = headers.map(str::len);
    for r in &rows {
        for i in 0..3 {
            widths[i] = widths[i].max(r[i].chars().count());
        }
    }
    writeln!(
        out,
        "{:w0$}  {:w1$}  {:w2$}  {}",
        headers[0],
        headers[1],
        headers[2],
        headers[3],
        w0 = widths[0],
        w1 = widths[1],
        w2 = widths[2]
    )?;
    for r in rows {
        writeln!(
            out,
            "{:w0$}  {:w1$}  {:w2$}  {}",
            r[0],
            r[1],
            r[2],
            r[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        )?;
    }
    Ok(())
}

/// Frames of the spinner.
const SPINNER: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
/// Quiet this long, so that a quick scan prints no progress at all.
const PROGRESS_DELAY: std::time::Duration = std::time::Duration::from_millis(300);
const PROGRESS_TICK: std::time::Duration = std::time::Duration::from_millis(100);

/// One progress line: "⠹ 12s · 6/8 probes done · running: port_scan, tls".
pub fn progress_line(
    frame: usize,
    elapsed: std::time::Duration,
    total: usize,
    running: &[&str],
) -> String {
    format!(
        "{} {}s · {}/{total} probes done · running: {}",
        SPINNER[frame % SPINNER.len()],
        elapsed.as_secs(),
        total - running.len(),
        running.join(", ")
    )
}

/// A progress line on a terminal, redrawn in place until [`Progress::finish`].
/// Draws nothing during the first moment, nor when `out` is not a terminal.
pub struct Progress {
    running: std::sync::Arc<std::sync::Mutex<Vec<&'static str>>>,
    ticker: Option<(
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    )>,
}

impl Progress {
    /// Starts drawing to `out` (stderr) when `tty`; `probes` are the names
    /// of the probes about to run.
    pub fn start(
        probes: Vec<&'static str>,
        tty: bool,
        mut out: impl Write + Send + 'static,
    ) -> Self {
        let total = probes.len();
        let running = std::sync::Arc::new(std::sync::Mutex::new(probes));
        let ticker = tty.then(|| {
            let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
            let running = running.clone();
            let task = tokio::spawn(async move {
                let started = tokio::time::Instant::now();
                tokio::select! {
                    _ = tokio::time::sleep(PROGRESS_DELAY) => {}
                    _ = &mut stopped => return,
                }
                let mut tick = tokio::time::interval(PROGRESS_TICK);
                let mut drawn = false;
                for frame in 0.. {
                    tokio::select! {
                        _ = tick.tick() => {}
                        _ = &mut stopped => break,
                    }
                    let names = running.lock().map(|r| r.clone()).unwrap_or_default();
                    let line = progress_line(frame, started.elapsed(), total, &names);
                    drawn = write!(out, "\r\x1b[2K{line}")
                        .and_then(|()| out.flush())
                        .is_ok();
                }
                if drawn {
                    let _ = write!(out, "\r\x1b[2K").and_then(|()| out.flush());
                }
            });
            (stop, task)
        });
        Self { running, ticker }
    }

    /// `probe` has finished.
    pub fn done(&self, probe: &str) {
        if let Ok(mut r) = self.running.lock() {
            if let Some(i) = r.iter().position(|n| *n == probe) {
                r.remove(i);
            }
        }
    }

    /// Stops drawing and clears the line.
    pub async fn finish(self) {
        if let Some((stop, task)) = self.ticker {
            let _ = stop.send(());
            let _ = task.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gamsa_proto::v1::{Certificate, PortScan, TlsEndpoint, TlsVersion};

    fn tls(t: TlsEndpoint) -> String {
        summary(&crate::evidence::observed(
            "a",
            "h",
            "tls",
            "x:1",
            Payload::TlsEndpoint(t),
        ))
    }

    #[test]
    fn socket_rows_take_any_protocol_name() {
        use gamsa_proto::v1::{ListeningSocket, ListeningSockets};
        let socket = |protocol: &str| ListeningSocket {
            protocol: protocol.into(),
            port: 22,
            exposure: "any".into(),
            ..Default::default()
        };
        let s = summary(&crate::evidence::observed(
            "a",
            "h",
            "ports",
            "h",
            Payload::ListeningSockets(ListeningSockets {
                sockets: vec![socket("tcp6"), socket("x"), socket("a가")],
            }),
        ));
        assert!(s.ends_with("22/tcp 22/x 22/a가"), "{s}");
    }

    #[test]
    fn tls_rows_read_as_facts() {
        let t = TlsEndpoint {
            tls_offered: true,
            cipher_suites_complete: true,
            accepted_versions: vec![TlsVersion::Tls10 as i32, TlsVersion::Tls13 as i32],
            weak_cipher_suites: vec!["TLS_RSA_WITH_RC4_128_SHA".into()],
            leaf: Some(Certificate {
                days_remaining: -3,
                ..Default::default()
            }),
            hostname_matches: true,
            ..Default::default()
        };
        assert_eq!(
            tls(t),
            "TLS1.0 TLS1.3 · 1 weak suites · cert -3d left · untrusted · name ok"
        );
        let pg = TlsEndpoint {
            notices: vec!["TLS not offered: PostgreSQL answered 'N' to SSLRequest".into()],
            ..Default::default()
        };
        assert_eq!(
            tls(pg),
            "TLS not offered: PostgreSQL answered 'N' to SSLRequest"
        );
    }

    #[test]
    fn port_scan_rows_read_as_a_scan() {
        let ev = crate::evidence::observed(
            "a",
            "h",
            "port_scan",
            "127.0.0.1",
            Payload::PortScan(PortScan {
                open_ports: vec![22, 443],
                closed_count: 1021,
                filtered_count: 1,
                duration_ms: 40,
                ports_spec: "1-1024".into(),
                source_address: "127.0.0.1".into(),
                ..Default::default()
            }),
        );
        assert_eq!(
            summary(&ev),
            "2 open: 22 443 · 1021 closed · 1 filtered · ports 1-1024 in 40 ms from 127.0.0.1"
        );
    }

    #[test]
    fn redundancy_rows_name_the_links() {
        use gamsa_proto::v1::{Bond, NetInterface, NetworkRedundancy, Route};
        let link = |n: &str| NetInterface {
            name: n.into(),
            ..Default::default()
        };
        let route = Route {
            family: "ipv4".into(),
            ..Default::default()
        };
        let ev = crate::evidence::observed(
            "a",
            "h",
            "redundancy",
            "h",
            Payload::NetworkRedundancy(NetworkRedundancy {
                active_uplinks: vec![link("eno1"), link("eno2")],
                bonds: vec![Bond {
                    name: "bond0".into(),
                    mode: "active-backup".into(),
                    slaves: vec!["eno1".into(), "eno2".into()],
                    active_slaves: vec!["eno1".into()],
                    ..Default::default()
                }],
                default_routes: vec![route.clone(), route],
                ecmp: true,
                resolvers: vec!["10.0.0.2".into()],
                vrrp_present: true,
                vrrp_processes: vec!["keepalived".into()],
                zone: "a".into(),
                ..Default::default()
            }),
        );
        assert_eq!(
            summary(&ev),
            "2 uplinks (eno1 eno2) · bond0 active-backup 1/2 slaves up · 2 default routes, ECMP · resolvers 10.0.0.2 · VRRP keepalived · zone a"
        );
    }

    #[test]
    fn progress_names_what_still_runs() {
        let line = progress_line(
            2,
            std::time::Duration::from_millis(12_400),
            8,
            &["port_scan", "tls"],
        );
        assert_eq!(line, "⠹ 12s · 6/8 probes done · running: port_scan, tls");
    }
}

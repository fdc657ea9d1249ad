//! One line per evidence for people: the agent's `scan --format table` and
//! the quickstart's first-scan listing print it. It lives with the protocol
//! because it reads nothing but the message, and both sides print it.
//!
//! The registry ([`crate::probes`]) names each probe's function here; a
//! probe without one is summarised by its payload's JSON, cut short.

use crate::v1::{
    Accounts, Authentication, BackupArtifact, CloudRegion, DiskEncryption, Evidence, FileModes,
    HostInfo, ListeningSockets, NetworkRedundancy, PortScan, Status, SyntheticCheck, TimeSync,
    TlsEndpoint, TlsVersion,
};

/// A short human summary of an evidence: what its payload says, or why the
/// probe could not observe.
pub fn summary(ev: &Evidence) -> String {
    if ev.status == Status::Error as i32 {
        return format!("could not check: {}", ev.error);
    }
    ev.payload.as_ref().map(|p| p.summary()).unwrap_or_default()
}

/// Probes without a dedicated summary: the payload's JSON, cut short.
pub(crate) fn generic<M: serde::Serialize>(message: &M) -> String {
    let json = serde_json::to_value(message)
        .unwrap_or_default()
        .to_string();
    json.chars().take(100).collect()
}

/// "Ubuntu 24.04 kernel 6.8.0 · 8 CPUs · 15923 MiB RAM · up 52h".
pub(crate) fn host(h: &HostInfo) -> String {
    format!(
        "{} {} kernel {} · {} CPUs · {} MiB RAM · up {}h",
        h.os_name,
        h.os_version,
        h.kernel_version,
        h.cpu_count,
        h.memory_total_bytes / (1024 * 1024),
        h.uptime_seconds / 3600
    )
}

/// "3 listening (1 beyond loopback): 22/tcp 53/udp 631/tcp".
pub(crate) fn ports(s: &ListeningSockets) -> String {
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

/// "2 open: 22 443 · 1021 closed · 1 filtered · ports 1-1024 in 40 ms from 127.0.0.1".
pub(crate) fn port_scan(p: &PortScan) -> String {
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

/// "fresh · newest 3h05m old (max 26h) · 12 restic · NAS, kr-central-1, KR".
pub(crate) fn backup(b: &BackupArtifact) -> String {
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

/// "encrypted luks2 · ext4 on /dev/mapper/root · nvme0n1p3 > luks > root".
pub(crate) fn encryption(d: &DiskEncryption) -> String {
    format!(
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
    )
}

/// "aws ap-northeast-2 zone ap-northeast-2a · country KR · from imds".
pub(crate) fn region(r: &CloudRegion) -> String {
    format!(
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
    )
}

/// "synchronised · daemon chronyd · est. error 120 µs · offset 15 µs ·
/// collector offset 2 ms".
pub(crate) fn time_sync(t: &TimeSync) -> String {
    format!(
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
    )
}

/// "2 uplinks (eno1 eno2) · bond0 active-backup 2/2 slaves up · 2 default
/// routes, ECMP · resolvers 10.0.0.2 · VRRP keepalived · zone a".
pub(crate) fn redundancy(r: &NetworkRedundancy) -> String {
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
pub(crate) fn tls(t: &TlsEndpoint) -> String {
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

/// "31 accounts (3 with a login shell, 1 with UID 0) · 52 groups · 4 sudo rules".
pub(crate) fn accounts(a: &Accounts) -> String {
    format!(
        "{} accounts ({} with a login shell, {} with UID 0) · {} groups · {} sudo rules",
        a.accounts.len(),
        a.accounts.iter().filter(|x| x.login_shell).count(),
        a.accounts.iter().filter(|x| x.uid == 0).count(),
        a.groups.len(),
        a.sudoers.len()
    )
}

/// "ssh (sshd -T) PermitRootLogin no · lock-out pam_faillock deny 5 · TMOUT 600".
pub(crate) fn authentication(a: &Authentication) -> String {
    let ssh = a.ssh.as_ref().filter(|s| s.present).map_or_else(
        || "no SSH server".to_string(),
        |s| {
            format!(
                "ssh ({}) PermitRootLogin {}",
                s.source,
                s.settings
                    .get("permitrootlogin")
                    .map_or("unset", |v| v.as_str())
            )
        },
    );
    let lockout = if a.lockout_module.is_empty() {
        "no lock-out".to_string()
    } else {
        format!(
            "lock-out {} deny {}",
            a.lockout_module,
            a.lockout.get("deny").map_or("unset", |v| v.as_str())
        )
    };
    let tmout = if a.tmout_seconds < 0 {
        "no TMOUT".to_string()
    } else {
        format!("TMOUT {}", a.tmout_seconds)
    };
    format!("{ssh} · {lockout} · {tmout}")
}

/// "14 files (3 absent) · 5 homes · 0 trust files".
pub(crate) fn files(f: &FileModes) -> String {
    format!(
        "{} files ({} absent) · {} homes · {} trust files",
        f.files.len(),
        f.files.iter().filter(|x| !x.exists).count(),
        f.homes.len(),
        f.trust_files.iter().filter(|x| x.exists).count()
    )
}

pub(crate) fn synthetic(c: &SyntheticCheck) -> String {
    use crate::v1::synthetic_check::Report;
    let state = if c.up {
        "up".to_string()
    } else {
        format!("down: {}", c.error)
    };
    match c.report() {
        Report::Summary => format!(
            "{} {} · {} runs, {} failed · p50 {} ms, p95 {} ms · {state}",
            c.kind, c.target, c.checks_run, c.failures, c.latency_p50_ms, c.latency_p95_ms
        ),
        _ => format!("{} {} · {state}", c.kind, c.target),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::evidence::Payload;
    use crate::v1::{AgentNotice, Bond, Certificate, ListeningSocket, NetInterface, Route};

    fn of(payload: Payload) -> String {
        summary(&Evidence {
            probe: payload.probe().into(),
            status: Status::Observed as i32,
            payload: Some(payload),
            ..Default::default()
        })
    }

    #[test]
    fn socket_rows_take_any_protocol_name() {
        let socket = |protocol: &str| ListeningSocket {
            protocol: protocol.into(),
            port: 22,
            exposure: "any".into(),
            ..Default::default()
        };
        let s = of(Payload::ListeningSockets(ListeningSockets {
            sockets: vec![socket("tcp6"), socket("x"), socket("a가")],
        }));
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
            of(Payload::TlsEndpoint(t)),
            "TLS1.0 TLS1.3 · 1 weak suites · cert -3d left · untrusted · name ok"
        );
        let pg = TlsEndpoint {
            notices: vec!["TLS not offered: PostgreSQL answered 'N' to SSLRequest".into()],
            ..Default::default()
        };
        assert_eq!(
            of(Payload::TlsEndpoint(pg)),
            "TLS not offered: PostgreSQL answered 'N' to SSLRequest"
        );
    }

    #[test]
    fn port_scan_rows_read_as_a_scan() {
        let s = of(Payload::PortScan(PortScan {
            open_ports: vec![22, 443],
            closed_count: 1021,
            filtered_count: 1,
            duration_ms: 40,
            ports_spec: "1-1024".into(),
            source_address: "127.0.0.1".into(),
            ..Default::default()
        }));
        assert_eq!(
            s,
            "2 open: 22 443 · 1021 closed · 1 filtered · ports 1-1024 in 40 ms from 127.0.0.1"
        );
    }

    #[test]
    fn redundancy_rows_name_the_links() {
        let link = |n: &str| NetInterface {
            name: n.into(),
            ..Default::default()
        };
        let route = Route {
            family: "ipv4".into(),
            ..Default::default()
        };
        let s = of(Payload::NetworkRedundancy(NetworkRedundancy {
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
        }));
        assert_eq!(
            s,
            "2 uplinks (eno1 eno2) · bond0 active-backup 1/2 slaves up · 2 default routes, ECMP · resolvers 10.0.0.2 · VRRP keepalived · zone a"
        );
    }

    #[test]
    fn errors_say_why_and_notices_show_their_json() {
        let ev = Evidence {
            probe: "tls".into(),
            status: Status::Error as i32,
            error: "연결 거부".into(),
            ..Default::default()
        };
        assert_eq!(summary(&ev), "could not check: 연결 거부");
        let notice = |detail: String| {
            of(Payload::AgentNotice(AgentNotice {
                kind: "spool_dropped".into(),
                count: 3,
                detail,
            }))
        };
        let s = notice("감사".into());
        for field in [
            r#""kind":"spool_dropped""#,
            r#""count":"3""#,
            r#""detail":"감사""#,
        ] {
            assert!(s.contains(field), "{s}");
        }
        let s = notice("감".repeat(200));
        assert_eq!(s.chars().count(), 100);
    }
}

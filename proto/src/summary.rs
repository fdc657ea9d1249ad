//! One line per evidence for people: the agent's `scan --format table` and
//! the quickstart's first-scan listing print it. It lives with the protocol
//! because it reads nothing but the message, and both sides print it.
//!
//! The registry ([`crate::probes`]) names each probe's function here; a
//! probe without one is summarised by its payload's JSON, cut short.

use crate::v1::{
    Accounts, Authentication, BackupArtifact, CloudRegion, Cluster, ConfigDrift, DiskEncryption,
    Evidence, FileModes, HostInfo, ListeningSockets, Logging, Monitoring, NetworkRedundancy,
    PortScan, Services, Software, Status, SyntheticCheck, TimeSync, TlsEndpoint, TlsVersion,
    Tomcat,
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

/// "14 files (3 absent) · 5 homes · 0 trust files · walk 20 SUID/SGID,
/// 4 world-writable, 0 unowned" (", stopped by max_duration" when a bound
/// ended the walk).
pub(crate) fn files(f: &FileModes) -> String {
    let walk = f.walk.as_ref().map_or(String::new(), |w| {
        format!(
            " · walk {} SUID/SGID, {} world-writable, {} unowned{}",
            w.suid_sgid.len(),
            w.world_writable.len(),
            w.unowned.len(),
            if w.stopped_by.is_empty() {
                String::new()
            } else {
                format!(", stopped by {}", w.stopped_by)
            }
        )
    });
    format!(
        "{} files ({} absent) · {} homes · {} trust files{walk}",
        f.files.len(),
        f.files.iter().filter(|x| !x.exists).count(),
        f.homes.len(),
        f.trust_files.iter().filter(|x| x.exists).count()
    )
}

/// "12 units enabled · inetd 1 enabled · ftp vsftpd · 2 exports · snmpd 1 community · postfix".
pub(crate) fn services(s: &Services) -> String {
    let mut parts = vec![format!(
        "{} units enabled",
        s.units.iter().filter(|u| u.enabled).count()
    )];
    let inetd = s.inetd.iter().filter(|i| i.enabled).count();
    if !s.inetd.is_empty() {
        parts.push(format!("(x)inetd {inetd} enabled"));
    }
    for f in &s.ftp {
        parts.push(format!("ftp {}", f.daemon));
    }
    if !s.exports.is_empty() {
        parts.push(format!("{} NFS exports", s.exports.len()));
    }
    if let Some(snmp) = s.snmp.as_ref().filter(|s| s.present) {
        parts.push(format!("snmpd {} communities", snmp.communities.len()));
    }
    for m in &s.mail {
        parts.push(m.daemon.clone());
    }
    if s.dns.as_ref().is_some_and(|d| d.present) {
        parts.push("named".into());
    }
    parts.join(" · ")
}

/// "rsyslog · 9 rules (1 remote) · journald persistent · 7 logs, shortest kept 28 days".
pub(crate) fn logging(l: &Logging) -> String {
    let mut parts = Vec::new();
    if !l.daemons.is_empty() {
        parts.push(l.daemons.join(" "));
    }
    parts.push(format!(
        "{} rules ({} remote)",
        l.rules.len(),
        l.rules.iter().filter(|r| r.kind == "remote").count()
    ));
    if let Some(j) = l.journald.as_ref().filter(|j| j.present) {
        parts.push(format!("journald {}", j.effective_storage));
    }
    let kept: Vec<i64> = l
        .files
        .iter()
        .map(|f| f.retention_days)
        .filter(|d| *d >= 0)
        .collect();
    parts.push(match kept.iter().min() {
        Some(d) => format!("{} logs, shortest kept {d} days", l.files.len()),
        None => format!("{} logs", l.files.len()),
    });
    parts.join(" · ")
}

/// "debian 12 (support ends 2026-06-10) · 838 packages · 0 security updates pending · 1 compiler · anti-malware: ClamAV".
pub(crate) fn software(s: &Software) -> String {
    let os = s.os.clone().unwrap_or_default();
    let support = if os.end_of_support.is_empty() {
        "support end unknown".to_string()
    } else {
        format!("support ends {}", os.end_of_support)
    };
    let updates = s.security_updates.clone().unwrap_or_default();
    let pending = if updates.known {
        format!("{} security updates pending", updates.pending.len())
    } else {
        "security updates unknown".to_string()
    };
    let products: Vec<&str> = s.anti_malware.iter().map(|a| a.product.as_str()).collect();
    format!(
        "{} {} ({support}) · {} packages · {pending} · {} compilers · anti-malware: {}",
        os.id,
        os.version_id,
        s.databases.iter().map(|d| d.count).sum::<u32>(),
        s.compilers.len(),
        if products.is_empty() {
            "none".to_string()
        } else {
            products.join(", ")
        }
    )
}

/// "2 Tomcat installations: /var/lib/tomcat10 10.1.60 (running as tomcat) · …".
pub(crate) fn tomcat(t: &Tomcat) -> String {
    if t.instances.is_empty() {
        return "no Tomcat installation found".to_string();
    }
    let each: Vec<String> = t
        .instances
        .iter()
        .map(|i| {
            let version = if i.version.is_empty() {
                "version unknown"
            } else {
                &i.version
            };
            let run = if i.running {
                format!("running as {}", i.process_user)
            } else {
                "not running".to_string()
            };
            format!("{} {version} ({run}, {} apps)", i.base, i.apps.len())
        })
        .collect();
    format!(
        "{} Tomcat installation{}: {}",
        t.instances.len(),
        if t.instances.len() == 1 { "" } else { "s" },
        each.join(" · ")
    )
}

/// "modified /etc/ssh/sshd_config: +2 −1 lines" or, for the watch,
/// "watching 212 files in 31 directories (inotify)".
pub(crate) fn config_drift(d: &ConfigDrift) -> String {
    if let Some(c) = &d.change {
        let lines = |mark: char| {
            c.diff
                .iter()
                .filter(|l| l.starts_with(mark) && !l.starts_with(&format!("{mark}{mark}{mark}")))
                .count()
        };
        let what = if c.secret {
            "content not reported (secret)".to_string()
        } else if !c.no_diff.is_empty() {
            c.no_diff.clone()
        } else {
            format!("+{} −{} lines", lines('+'), lines('-'))
        };
        return format!("{} {}: {what}", c.kind, c.path);
    }
    let w = d.watch.clone().unwrap_or_default();
    let how = if w.events {
        "inotify".to_string()
    } else if w.error.is_empty() {
        "rescans only".to_string()
    } else {
        format!("rescans only: {}", w.error)
    };
    let limit = if w.limit_reached {
        format!(" · limit of {} watches reached", w.max_watches)
    } else {
        String::new()
    };
    format!(
        "watching {} files in {} directories ({how}){limit}",
        w.files, w.watches
    )
}

/// "node_exporter, prometheus running · 12 alert rules (cpu, disk, memory)
/// · 1 receiver with a notifier".
pub(crate) fn monitoring(m: &Monitoring) -> String {
    let running: Vec<&str> = m
        .agents
        .iter()
        .filter(|a| a.running)
        .map(|a| a.name.as_str())
        .collect();
    let mut resources: Vec<&str> = m
        .alert_rules
        .iter()
        .flat_map(|r| r.resources.iter().map(String::as_str))
        .collect();
    resources.sort_unstable();
    resources.dedup();
    let notifying = m
        .receivers
        .iter()
        .filter(|r| !r.notifiers.is_empty() && r.placeholders.is_empty())
        .count();
    format!(
        "{} running · {} alert rules ({}) · {} receivers with a notifier",
        if running.is_empty() {
            "no monitoring agent".to_string()
        } else {
            running.join(", ")
        },
        m.alert_rules.len(),
        resources.join(", "),
        notifying
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

pub(crate) fn cluster(c: &Cluster) -> String {
    let mut parts = Vec::new();
    if let Some(n) = &c.node {
        let kubelet = n.kubelet.as_ref().map_or("", |k| k.version.as_str());
        let ready = if n.ready { "Ready" } else { "not Ready" };
        parts.push(format!("node {} {ready} · kubelet {kubelet}", n.name));
    }
    if c.reporter {
        if let Some(v) = &c.control_plane {
            parts.push(if v.error.is_empty() {
                format!("control plane {}", v.version)
            } else {
                format!("control plane: {}", v.error)
            });
        }
        if let Some(n) = &c.nodes {
            parts.push(format!("{}/{} nodes Ready", n.ready, n.total));
        }
        if let Some(p) = &c.network_policies {
            parts.push(format!(
                "{} of {} namespaces without a NetworkPolicy",
                p.without_policy_total, p.namespaces
            ));
        }
        if let Some(a) = &c.autoscaling {
            parts.push(format!("{} HPAs", a.horizontal_total));
        }
    } else if !c.reporter_node.is_empty() {
        parts.push(format!("cluster reported by {}", c.reporter_node));
    }
    if let Some(a) = &c.apiserver {
        parts.push(if a.error.is_empty() {
            format!("audit policy {:?}", a.policy_file)
        } else {
            format!("audit: {}", a.error)
        });
    }
    parts.join(" · ")
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

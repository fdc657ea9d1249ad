//! Golden fleets of the service and log checks (`services` and `logging`
//! evidence): a host whose services and logs are set up as the Unix guide
//! asks, one where every check the evidence answers is broken, one of each
//! side by side, and a host whose configuration could not be read.
//!
//! The two configurations are the real probes' output on the hardened and
//! the vulnerable fixture roots of `quickstart/tests/kisa_unix.rs`
//! (`host_services/*.json`), so these fleets hold what the agent reports.

use super::{Case, RuleCases};
use crate::fixture::Host;
use gamsa_collector::verdict::Verdict::{Na, Unknown, N, P, Y};
use gamsa_proto::v1::{evidence::Payload, Logging, Services};

fn services(good: bool) -> Services {
    let text = if good {
        include_str!("host_services/services-good.json")
    } else {
        include_str!("host_services/services-bad.json")
    };
    serde_json::from_str(text).expect("services fixture")
}

fn logging(good: bool) -> Logging {
    let text = if good {
        include_str!("host_services/logging-good.json")
    } else {
        include_str!("host_services/logging-bad.json")
    };
    serde_json::from_str(text).expect("logging fixture")
}

fn configured(h: Host, good: bool) -> Host {
    let name = h.name.clone();
    h.add("services", &name, Payload::Services(services(good)))
        .add("logging", &name, Payload::Logging(logging(good)))
}

/// Services and logs as the guide asks (and a host firewall enabled).
pub fn hardened(h: Host) -> Host {
    configured(h, true)
}

/// Every service and log setting the checks read broken.
pub fn vulnerable(h: Host) -> Host {
    configured(h, false)
}

fn unread(h: Host) -> Host {
    h.error("services", "probe task failed")
        .error("logging", "probe task failed")
}

/// SSH the only listener (U-52 reads the ports too).
fn ssh_only(h: Host) -> Host {
    h.listening(&[(22, "any")])
}

/// The cases of one rule: hardened Y, vulnerable N, both P, unread UNKNOWN.
fn cases(rule: &'static str) -> RuleCases {
    RuleCases {
        rule,
        unreachable: &[(
            Na,
            "every host has services and logging evidence: no expectation leaves hosts out",
        )],
        cases: vec![
            Case {
                fleet: "a host whose services and logs are set up as the guide asks",
                hosts: || vec![ssh_only(hardened(Host::new("web-1", "web")))],
                expect: &[],
                answer: Y,
                why: "the settings the check reads are as the guide asks",
            },
            Case {
                fleet: "a host with the guide's vulnerable services and log settings",
                hosts: || vec![ssh_only(vulnerable(Host::new("web-1", "web")))],
                expect: &[],
                answer: N,
                why: "the guide calls this host vulnerable",
            },
            Case {
                fleet: "one host as the guide asks, one vulnerable",
                hosts: || {
                    vec![
                        ssh_only(hardened(Host::new("web-1", "web"))),
                        ssh_only(vulnerable(Host::new("web-2", "web"))),
                    ]
                },
                expect: &[],
                answer: P,
                why: "web-2 is vulnerable",
            },
            Case {
                fleet: "the host's services and logs could not be read",
                hosts: || vec![ssh_only(unread(Host::new("web-1", "web")))],
                expect: &[],
                answer: Unknown,
                why: "could not check is never passed",
            },
        ],
    }
}

pub fn table() -> Vec<RuleCases> {
    [
        "kisa-u34-finger",
        "kisa-u35-ftp-anonymous",
        "kisa-u36-r-services",
        "kisa-u38-dos-services",
        "kisa-u39-nfs-off",
        "kisa-u40-nfs-exports",
        "kisa-u41-automount",
        "kisa-u42-rpc-services",
        "kisa-u43-nis",
        "kisa-u44-tftp-talk",
        "kisa-u46-mail-queue",
        "kisa-u47-mail-relay",
        "kisa-u48-expn-vrfy",
        "kisa-u50-dns-transfer",
        "kisa-u51-dns-update",
        "kisa-u52-telnet",
        "kisa-u53-ftp-banner",
        "kisa-u54-ftp-cleartext",
        "kisa-u57-ftpusers",
        "kisa-u58-snmp-off",
        "kisa-u59-snmp-version",
        "kisa-u60-snmp-community",
        "kisa-u61-snmp-acl",
        "kisa-u66-logging",
        "kisa-u67-log-modes",
        "audit-logging",
        "log-forwarding",
        "log-retention-year",
        "prohibited-services",
        "host-firewall-enabled",
    ]
    .into_iter()
    .map(cases)
    .collect()
}

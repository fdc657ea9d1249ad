//! Golden fleets: for every rule that answers catalog rows, small fleets that
//! drive it to each verdict it can reach, each with the answer an auditor
//! would give and why. A case states the rule's answer; every catalog row
//! naming the rule must then show it, except that a row whose evidence
//! answers only part of its question shows P for the rule's Y, naming what
//! completes it. Verdicts a rule cannot reach say why.
//!
//! Fleets are stored in a real SQLite store and evaluated with the built-in
//! catalogs and rules, and the expectations a case configures.

#[path = "golden/backup.rs"]
mod backup;
#[path = "golden/cluster.rs"]
mod cluster;
mod fixture;
#[path = "golden/host_config.rs"]
mod host_config;
#[path = "golden/host_services.rs"]
mod host_services;
#[path = "golden/operations.rs"]
mod operations;
#[path = "golden/software.rs"]
mod software;
#[path = "golden/tomcat.rs"]
mod tomcat;

use fixture::{Host, DAY, HOUR};
use gamsa_collector::checklists::Checklists;
use gamsa_collector::expectations::Expectation;
use gamsa_collector::records::Attestation;
use gamsa_collector::store::{sqlite::SqliteStore, Store};
use gamsa_collector::verdict::{Answers, ItemResult, Outcome, RowResult, Verdict};
use gamsa_proto::v1::TlsVersion::{Tls10, Tls12, Tls13};
use std::collections::BTreeSet;

use Verdict::{Na, Unknown, N, P, Y};

/// One fleet, what the rule answers for it, and why an auditor agrees.
struct Case {
    fleet: &'static str,
    hosts: fn() -> Vec<Host>,
    /// `[[expectations]]`: of, hosts, none.
    expect: &'static [(&'static str, &'static [&'static str], bool)],
    answer: Verdict,
    why: &'static str,
}

struct RuleCases {
    rule: &'static str,
    /// Verdicts no fleet can drive this rule to, and why.
    unreachable: &'static [(Verdict, &'static str)],
    cases: Vec<Case>,
}

const KR: &str = "ap-northeast-2";
const MAX_AGE: i64 = 26 * HOUR;

fn seoul(name: &str, role: &str, zone: &str) -> Host {
    Host::new(name, role).region(KR, zone, "KR")
}

/// Two NICs, each carrying a default route.
fn two_lines(h: Host) -> Host {
    h.links(
        &[("eth0", ""), ("eth1", "")],
        &[],
        &[("ipv4", "eth0"), ("ipv4", "eth1")],
        "",
    )
}

/// The ordinary machine: one NIC with an IPv4 and an IPv6 default route.
fn one_nic(h: Host) -> Host {
    h.links(
        &[("eth0", "")],
        &[],
        &[("ipv4", "eth0"), ("ipv6", "eth0")],
        "",
    )
}

/// A sound TLS endpoint on 443 and nothing else listening but SSH.
fn sound_tls(h: Host) -> Host {
    h.tls_endpoint(443, &[Tls12, Tls13], 200, true, true)
        .listening(&[(22, "any"), (443, "any"), (5432, "loopback")])
}

/// A source backed up an hour ago into s3://emr-dr (declared in
/// kr-central-1), on schedule, kept, copied and restore-tested.
fn good_backup(h: Host) -> Host {
    backup::source(h, backup::GOOD)
}

fn table() -> Vec<RuleCases> {
    vec![
        RuleCases {
            rule: "network-redundancy-host",
            unreachable: &[(Na, "every host is attached to a network: no expectation leaves a host out of this rule")],
            cases: vec![
                Case {
                    fleet: "two NICs, each carrying a default route",
                    hosts: || vec![two_lines(Host::new("web-1", "web"))],
                    expect: &[],
                    answer: Y,
                    why: "two physical links each carry traffic out: two lines at the host",
                },
                Case {
                    fleet: "a bond of two active slaves carries both default routes",
                    hosts: || vec![Host::new("web-1", "web").links(
                        &[("eth0", "bond0"), ("eth1", "bond0")],
                        &[("bond0", "")],
                        &[("ipv4", "bond0"), ("ipv6", "bond0")],
                        "",
                    )],
                    expect: &[],
                    answer: Y,
                    why: "the bond's two slaves are two physical links under one route",
                },
                Case {
                    fleet: "a bond of two slaves in a bridge that carries the default route",
                    hosts: || vec![Host::new("kvm-1", "web").links(
                        &[("eth0", "bond0"), ("eth1", "bond0")],
                        &[("bond0", "br0"), ("br0", "")],
                        &[("ipv4", "br0")],
                        "",
                    )],
                    expect: &[],
                    answer: Y,
                    why: "traffic out of br0 leaves over the bond's two links",
                },
                Case {
                    fleet: "one NIC with an IPv4 and an IPv6 default route",
                    hosts: || vec![one_nic(Host::new("web-1", "web"))],
                    expect: &[],
                    answer: N,
                    why: "two address families over one cable are one line",
                },
                Case {
                    fleet: "two NICs, only one carries a default route",
                    hosts: || vec![Host::new("web-1", "web").links(
                        &[("eth0", ""), ("eth1", "")],
                        &[],
                        &[("ipv4", "eth0")],
                        "",
                    )],
                    expect: &[],
                    answer: N,
                    why: "a second NIC no route leaves by (a storage network) is no second line",
                },
                Case {
                    fleet: "one host with two lines, one with one",
                    hosts: || vec![two_lines(Host::new("web-1", "web")), one_nic(Host::new("web-2", "web"))],
                    expect: &[],
                    answer: P,
                    why: "met on web-1, not on web-2",
                },
                Case {
                    fleet: "the default route leaves by a VLAN the evidence cannot trace to a NIC",
                    hosts: || vec![Host::new("web-1", "web").links(
                        &[("eth0", "")],
                        &[("eth0.100", "")],
                        &[("ipv4", "eth0.100")],
                        "",
                    )],
                    expect: &[],
                    answer: Unknown,
                    why: "the links under the VLAN are not in the evidence: neither one line nor two is shown",
                },
                Case {
                    fleet: "the host has no default route",
                    hosts: || vec![Host::new("db-1", "db").links(&[("eth0", ""), ("eth1", "")], &[], &[], "")],
                    expect: &[],
                    answer: Unknown,
                    why: "which links carry its traffic cannot be told",
                },
                Case {
                    fleet: "the redundancy probe could not read the network",
                    hosts: || vec![Host::new("web-1", "web").error("redundancy", "permission denied: /proc/net/bonding")],
                    expect: &[],
                    answer: Unknown,
                    why: "could not check is never passed",
                },
            ],
        },
        RuleCases {
            rule: "network-redundancy-zones",
            unreachable: &[(Na, "a fleet rule over every host: no expectation leaves hosts out")],
            cases: vec![
                Case {
                    fleet: "web hosts in two zones",
                    hosts: || vec![seoul("web-1", "web", "ap-northeast-2a"), seoul("web-2", "web", "ap-northeast-2c")],
                    expect: &[],
                    answer: Y,
                    why: "every role runs in two zones",
                },
                Case {
                    fleet: "web in two zones, db in one",
                    hosts: || vec![
                        seoul("web-1", "web", "ap-northeast-2a"),
                        seoul("web-2", "web", "ap-northeast-2c"),
                        seoul("db-1", "db", "ap-northeast-2a"),
                    ],
                    expect: &[],
                    answer: P,
                    why: "the database has no second zone",
                },
                Case {
                    fleet: "every host in one zone",
                    hosts: || vec![seoul("web-1", "web", "ap-northeast-2a"), seoul("web-2", "web", "ap-northeast-2a")],
                    expect: &[],
                    answer: N,
                    why: "one zone's failure takes every role down",
                },
                Case {
                    fleet: "a host whose zone is not known",
                    hosts: || vec![Host::new("web-1", "web").region(KR, "", "KR")],
                    expect: &[],
                    answer: Unknown,
                    why: "an unknown zone is not one zone",
                },
            ],
        },
        RuleCases {
            rule: "router-redundancy",
            unreachable: &[],
            cases: vec![
                Case {
                    fleet: "the router host runs a VRRP daemon",
                    hosts: || vec![Host::new("r-1", "router").vrrp(true), Host::new("web-1", "web").vrrp(false)],
                    expect: &[],
                    answer: Y,
                    why: "the router is set up for failover; web-1 is no router",
                },
                Case {
                    fleet: "routers named by configuration (role=edge)",
                    hosts: || vec![Host::new("edge-1", "edge").vrrp(true)],
                    expect: &[("router", &["role=edge"], false)],
                    answer: Y,
                    why: "the operator declared which hosts route",
                },
                Case {
                    fleet: "two routers, one without VRRP",
                    hosts: || vec![Host::new("r-1", "router").vrrp(true), Host::new("r-2", "lb").vrrp(false)],
                    expect: &[],
                    answer: P,
                    why: "the load balancer has no failover",
                },
                Case {
                    fleet: "a router without VRRP",
                    hosts: || vec![Host::new("r-1", "gateway").vrrp(false)],
                    expect: &[],
                    answer: N,
                    why: "nothing takes over when it fails",
                },
                Case {
                    fleet: "no router-role host and nothing declared",
                    hosts: || vec![Host::new("web-1", "web").vrrp(false)],
                    expect: &[],
                    answer: Unknown,
                    why: "where the routers are is not known: no host in scope is not 'not applicable'",
                },
                Case {
                    fleet: "configuration says there is no router host",
                    hosts: || vec![Host::new("web-1", "web").vrrp(false)],
                    expect: &[("router", &[], true)],
                    answer: Na,
                    why: "the operator declared, with a justification, that no host routes",
                },
            ],
        },
        RuleCases {
            rule: "domestic-location",
            unreachable: &[(Na, "every host is somewhere: no expectation leaves hosts out")],
            cases: vec![
                Case {
                    fleet: "hosts and backups in Korea",
                    hosts: || vec![
                        seoul("web-1", "web", "ap-northeast-2a"),
                        seoul("db-1", "db", "ap-northeast-2a").backup_source("pg", Some(HOUR), MAX_AGE, "s3://emr", "", "KR"),
                    ],
                    expect: &[],
                    answer: Y,
                    why: "every region and backup country is KR",
                },
                Case {
                    fleet: "one host redeployed in us-east-1",
                    hosts: || vec![seoul("web-1", "web", "ap-northeast-2a"), Host::new("web-2", "web").region("us-east-1", "us-east-1a", "US")],
                    expect: &[],
                    answer: N,
                    why: "one system abroad is a violation, whatever the others",
                },
                Case {
                    fleet: "a backup kept in Tokyo",
                    hosts: || vec![seoul("db-1", "db", "ap-northeast-2a").backup_source("pg", Some(HOUR), MAX_AGE, "s3://dr", "ap-northeast-1", "JP")],
                    expect: &[],
                    answer: N,
                    why: "backups must stay in Korea too",
                },
                Case {
                    fleet: "one host without region evidence",
                    hosts: || vec![seoul("web-1", "web", "ap-northeast-2a"), one_nic(Host::new("web-2", "web"))],
                    expect: &[],
                    answer: P,
                    why: "web-1 is in Korea; where web-2 runs is not shown",
                },
                Case {
                    fleet: "a backup whose country is not stated",
                    hosts: || vec![seoul("db-1", "db", "ap-northeast-2a").backup_source("pg", Some(HOUR), MAX_AGE, "nas-1", "", "")],
                    expect: &[],
                    answer: Unknown,
                    why: "where the backup is cannot be told",
                },
                Case {
                    fleet: "no cloud metadata answered",
                    hosts: || vec![Host::new("web-1", "web").error("region", "no metadata service answered")],
                    expect: &[],
                    answer: Unknown,
                    why: "could not check is never passed",
                },
            ],
        },
        RuleCases {
            rule: "location-known",
            unreachable: &[(Na, "every host is somewhere: no expectation leaves hosts out")],
            cases: vec![
                Case {
                    fleet: "a host in Seoul with its backup in Korea, one in us-east-1",
                    hosts: || vec![
                        seoul("db-1", "db", "ap-northeast-2a").backup_source("pg", Some(HOUR), MAX_AGE, "s3://emr", "", "KR"),
                        Host::new("web-2", "web").region("us-east-1", "us-east-1a", "US"),
                    ],
                    expect: &[],
                    answer: Y,
                    why: "where each host and backup is kept is known, abroad or not: that is what a user may ask",
                },
                Case {
                    fleet: "a region regions.toml does not know",
                    hosts: || vec![Host::new("web-1", "web").region("xx-new-1", "xx-new-1a", "")],
                    expect: &[],
                    answer: N,
                    why: "the host's country is not known, so it cannot be disclosed",
                },
                Case {
                    fleet: "one host in Seoul, one in an unknown region",
                    hosts: || vec![seoul("web-1", "web", "ap-northeast-2a"), Host::new("web-2", "web").region("xx-new-1", "xx-new-1a", "")],
                    expect: &[],
                    answer: P,
                    why: "web-1's country is known, web-2's is not",
                },
                Case {
                    fleet: "a backup whose country is not stated",
                    hosts: || vec![seoul("db-1", "db", "ap-northeast-2a").backup_source("pg", Some(HOUR), MAX_AGE, "nas-1", "", "")],
                    expect: &[],
                    answer: Unknown,
                    why: "where the backup is kept cannot be told",
                },
                Case {
                    fleet: "no cloud metadata answered",
                    hosts: || vec![Host::new("web-1", "web").error("region", "no metadata service answered")],
                    expect: &[],
                    answer: Unknown,
                    why: "could not check is never passed",
                },
            ],
        },
        RuleCases {
            rule: "backup-fresh",
            unreachable: &[],
            cases: vec![
                Case {
                    fleet: "the last backup an hour ago, observed a minute ago",
                    hosts: || vec![good_backup(seoul("db-1", "db", "ap-northeast-2a"))],
                    expect: &[],
                    answer: Y,
                    why: "within its 26-hour schedule now",
                },
                Case {
                    fleet: "only the hosts configured to keep backups (role=db)",
                    hosts: || vec![good_backup(seoul("db-1", "db", "ap-northeast-2a")), seoul("web-1", "web", "ap-northeast-2a")],
                    expect: &[("backup", &["role=db"], false)],
                    answer: Y,
                    why: "web-1 keeps no data, as the operator declared",
                },
                Case {
                    fleet: "one host with a backup, one expected host reporting none",
                    hosts: || vec![good_backup(seoul("db-1", "db", "ap-northeast-2a")), seoul("db-2", "db", "ap-northeast-2c")],
                    expect: &[],
                    answer: P,
                    why: "one backup does not stand for the fleet: db-2's backups are not shown",
                },
                Case {
                    fleet: "the last success was already 30 hours old when observed",
                    hosts: || vec![seoul("db-1", "db", "ap-northeast-2a").backup_source("pg", Some(30 * HOUR), MAX_AGE, "s3://emr-dr", "", "KR")],
                    expect: &[],
                    answer: N,
                    why: "a daily backup was missed",
                },
                Case {
                    fleet: "a source with no successful backup",
                    hosts: || vec![seoul("db-1", "db", "ap-northeast-2a").backup_source("pg", None, MAX_AGE, "s3://emr-dr", "", "KR")],
                    expect: &[],
                    answer: N,
                    why: "nothing to restore from",
                },
                Case {
                    fleet: "fine when observed three days ago, nothing observed since",
                    hosts: || vec![good_backup(seoul("db-1", "db", "ap-northeast-2a").ago(3 * DAY))],
                    expect: &[],
                    answer: Unknown,
                    why: "judged now, the last known success is older than the schedule; whether later backups ran is not shown (the agent's own 'fresh' is three days old)",
                },
                Case {
                    fleet: "no host reports backups",
                    hosts: || vec![seoul("web-1", "web", "ap-northeast-2a")],
                    expect: &[],
                    answer: Unknown,
                    why: "every host is expected to keep backups unless configured otherwise",
                },
                Case {
                    fleet: "the configured backup hosts (role=db) report nothing",
                    hosts: || vec![seoul("web-1", "web", "ap-northeast-2a")],
                    expect: &[("backup", &["role=db"], false)],
                    answer: Unknown,
                    why: "the hosts that must keep backups are missing",
                },
                Case {
                    fleet: "configuration says no host keeps backups",
                    hosts: || vec![seoul("web-1", "web", "ap-northeast-2a")],
                    expect: &[("backup", &[], true)],
                    answer: Na,
                    why: "declared with a justification",
                },
            ],
        },
        RuleCases {
            rule: "backup-separated",
            unreachable: &[],
            cases: vec![
                Case {
                    fleet: "the backup declared in another region",
                    hosts: || vec![good_backup(seoul("db-1", "db", "ap-northeast-2a"))],
                    expect: &[],
                    answer: Y,
                    why: "kept in kr-central-1, the host runs in ap-northeast-2 (as declared)",
                },
                Case {
                    fleet: "one backup elsewhere, one in the host's own region",
                    hosts: || vec![
                        good_backup(seoul("db-1", "db", "ap-northeast-2a")),
                        seoul("db-2", "db", "ap-northeast-2c").backup_source("pg", Some(HOUR), MAX_AGE, "s3://same", KR, "KR"),
                    ],
                    expect: &[],
                    answer: P,
                    why: "db-2's backup may share the host's facilities",
                },
                Case {
                    fleet: "the backup is kept on the host itself",
                    hosts: || vec![seoul("db-1", "db", "ap-northeast-2a").backup_source("pg", Some(HOUR), MAX_AGE, "db-1", "", "KR")],
                    expect: &[],
                    answer: N,
                    why: "a backup on the system it protects is not separate",
                },
                Case {
                    fleet: "the location is free text only",
                    hosts: || vec![seoul("db-1", "db", "ap-northeast-2a").backup_source("pg", Some(HOUR), MAX_AGE, "NAS, IDC-2 Seoul", "", "KR")],
                    expect: &[],
                    answer: Unknown,
                    why: "'NAS, IDC-2 Seoul' may or may not be another facility",
                },
                Case {
                    fleet: "the host's own region is not known",
                    hosts: || vec![good_backup(Host::new("db-1", "db"))],
                    expect: &[],
                    answer: Unknown,
                    why: "'another region' needs the host's region",
                },
                Case {
                    fleet: "configuration says no host keeps backups",
                    hosts: || vec![seoul("web-1", "web", "ap-northeast-2a")],
                    expect: &[("backup", &[], true)],
                    answer: Na,
                    why: "declared with a justification",
                },
            ],
        },
        RuleCases {
            rule: "encryption-at-rest",
            unreachable: &[(Na, "every host has disks: no expectation leaves hosts out")],
            cases: vec![
                Case {
                    fleet: "every data filesystem on LUKS, /boot plain",
                    hosts: || vec![Host::new("db-1", "db").disk("/", "luks2").disk("/var/lib/emr", "luks2").disk("/boot", "none")],
                    expect: &[],
                    answer: Y,
                    why: "/boot holds no data",
                },
                Case {
                    fleet: "one host with a plain /data",
                    hosts: || vec![Host::new("db-1", "db").disk("/", "luks2"), Host::new("db-2", "db").disk("/", "luks2").disk("/data", "none")],
                    expect: &[],
                    answer: P,
                    why: "db-2 keeps data in clear",
                },
                Case {
                    fleet: "nothing encrypted",
                    hosts: || vec![Host::new("db-1", "db").disk("/", "none")],
                    expect: &[],
                    answer: N,
                    why: "data at rest is in clear",
                },
                Case {
                    fleet: "the encryption of / could not be determined",
                    hosts: || vec![Host::new("db-1", "db").disk("/", "unknown")],
                    expect: &[],
                    answer: Unknown,
                    why: "'unknown' is not 'not encrypted'",
                },
            ],
        },
        RuleCases {
            rule: "encrypted-channel",
            unreachable: &[],
            cases: vec![
                Case {
                    fleet: "TLS 1.2+ on 443, SSH beside it",
                    hosts: || vec![sound_tls(Host::new("web-1", "web"))],
                    expect: &[],
                    answer: Y,
                    why: "every listener beyond loopback is encrypted",
                },
                Case {
                    fleet: "an endpoint accepting TLS 1.0",
                    hosts: || vec![Host::new("web-1", "web").tls_endpoint(443, &[Tls10, Tls12], 200, true, true).listening(&[(443, "any")])],
                    expect: &[],
                    answer: N,
                    why: "a legacy protocol is accepted",
                },
                Case {
                    fleet: "a certificate expiring in 10 days",
                    hosts: || vec![Host::new("web-1", "web").tls_endpoint(443, &[Tls13], 10, true, true).listening(&[(443, "any")])],
                    expect: &[],
                    answer: N,
                    why: "inside the 30-day renewal margin",
                },
                Case {
                    fleet: "one sound host, one untrusted certificate",
                    hosts: || vec![sound_tls(Host::new("web-1", "web")), Host::new("web-2", "web").tls_endpoint(443, &[Tls13], 200, false, true).listening(&[(443, "any")])],
                    expect: &[],
                    answer: P,
                    why: "web-2's chain is not trusted",
                },
                Case {
                    fleet: "port 8080 listens with no TLS evidence",
                    hosts: || vec![Host::new("web-1", "web").tls_endpoint(443, &[Tls13], 200, true, true).listening(&[(443, "any"), (8080, "any")])],
                    expect: &[],
                    answer: Unknown,
                    why: "8080 may carry data in clear, or only redirect: not shown",
                },
                Case {
                    fleet: "cipher suites not fully enumerated",
                    hosts: || vec![Host::new("web-1", "web").tls_endpoint(443, &[Tls13], 200, true, false).listening(&[(443, "any")])],
                    expect: &[],
                    answer: Unknown,
                    why: "no weak suite seen is not no weak suite",
                },
                Case {
                    fleet: "no TLS endpoint reported",
                    hosts: || vec![Host::new("web-1", "web").listening(&[(22, "any")])],
                    expect: &[],
                    answer: Unknown,
                    why: "every host is expected to show its TLS unless configured otherwise",
                },
                Case {
                    fleet: "configuration says no host serves TLS",
                    hosts: || vec![Host::new("batch-1", "batch").listening(&[(22, "any")])],
                    expect: &[("tls", &[], true)],
                    answer: Na,
                    why: "declared with a justification",
                },
            ],
        },
        RuleCases {
            rule: "time-sync",
            unreachable: &[],
            cases: vec![
                Case {
                    fleet: "chrony synchronised, 5 ms from the collector, a minute ago",
                    hosts: || vec![Host::new("web-1", "web").clock(true, "chrony", 5)],
                    expect: &[],
                    answer: Y,
                    why: "the clock is disciplined now",
                },
                Case {
                    fleet: "the kernel clock is not synchronised",
                    hosts: || vec![Host::new("web-1", "web").clock(false, "", 0)],
                    expect: &[],
                    answer: N,
                    why: "no time daemon keeps the clock",
                },
                Case {
                    fleet: "5 seconds off the collector",
                    hosts: || vec![Host::new("web-1", "web").clock(true, "chrony", 5000)],
                    expect: &[],
                    answer: N,
                    why: "log times are seconds apart",
                },
                Case {
                    fleet: "one host synchronised, one not",
                    hosts: || vec![Host::new("web-1", "web").clock(true, "chrony", 5), Host::new("web-2", "web").clock(false, "", 0)],
                    expect: &[],
                    answer: P,
                    why: "web-2's clock drifts",
                },
                Case {
                    fleet: "last observed two hours ago",
                    hosts: || vec![Host::new("web-1", "web").ago(2 * HOUR).clock(true, "chrony", 5)],
                    expect: &[],
                    answer: Unknown,
                    why: "a clock two hours unobserved may have drifted (time sync counts for an hour)",
                },
                Case {
                    fleet: "configuration says no host needs time sync",
                    hosts: || vec![Host::new("web-1", "web").clock(false, "", 0)],
                    expect: &[("time_sync", &[], true)],
                    answer: Na,
                    why: "declared with a justification",
                },
            ],
        },
        RuleCases {
            rule: "unnecessary-ports",
            unreachable: &[(Na, "every host has ports: no expectation leaves hosts out")],
            cases: vec![
                Case {
                    fleet: "a web host listening on 22 and 443",
                    hosts: || vec![Host::new("web-1", "web").listening(&[(22, "any"), (443, "any"), (5432, "loopback")])],
                    expect: &[],
                    answer: Y,
                    why: "only the web role's ports, the database on loopback",
                },
                Case {
                    fleet: "a web host listening on 8080 too",
                    hosts: || vec![Host::new("web-1", "web").listening(&[(22, "any"), (8080, "any")])],
                    expect: &[],
                    answer: N,
                    why: "8080 is not on the web allow-list",
                },
                Case {
                    fleet: "one host clean, one with 8080",
                    hosts: || vec![Host::new("web-1", "web").listening(&[(443, "any")]), Host::new("web-2", "web").listening(&[(8080, "any")])],
                    expect: &[],
                    answer: P,
                    why: "web-2 exposes an unlisted port",
                },
                Case {
                    fleet: "the ports probe could not read /proc",
                    hosts: || vec![Host::new("web-1", "web").error("ports", "permission denied: /proc/net/tcp")],
                    expect: &[],
                    answer: Unknown,
                    why: "could not check is never passed",
                },
            ],
        },
        RuleCases {
            rule: "vulnerability-scan-recent",
            unreachable: &[(N, "nothing gamsa observes shows that no check was done (others may scan)")],
            cases: vec![
                Case {
                    fleet: "a scan of the host's address 200 days ago",
                    hosts: || vec![Host::new("web-1", "web").ago(200 * DAY).scan("10.0.0.5")],
                    expect: &[],
                    answer: Y,
                    why: "within the year seed 001 counts checks for",
                },
                Case {
                    fleet: "one host scanned over the network, one only on loopback",
                    hosts: || vec![Host::new("web-1", "web").scan("10.0.0.5"), Host::new("web-2", "web").scan("127.0.0.1")],
                    expect: &[],
                    answer: P,
                    why: "web-2's exposure was never looked at",
                },
                Case {
                    fleet: "the default scan of loopback only",
                    hosts: || vec![Host::new("web-1", "web").scan("127.0.0.1")],
                    expect: &[],
                    answer: Unknown,
                    why: "a loopback scan shows nothing of the host's exposure",
                },
                Case {
                    fleet: "the last scan 400 days ago",
                    hosts: || vec![Host::new("web-1", "web").ago(400 * DAY).scan("10.0.0.5")],
                    expect: &[],
                    answer: Unknown,
                    why: "checks older than a year do not count",
                },
                Case {
                    fleet: "configuration says no host is scanned by gamsa",
                    hosts: || vec![Host::new("web-1", "web").scan("127.0.0.1")],
                    expect: &[("port_scan", &[], true)],
                    answer: Na,
                    why: "declared with a justification (an outside vendor scans)",
                },
            ],
        },
        RuleCases {
            rule: "vulnerability-scan-half-yearly",
            unreachable: &[(N, "nothing gamsa observes shows that no check was done (others may scan)")],
            cases: vec![
                Case {
                    fleet: "an external host scanned 100 days ago, an internal one 200 days ago",
                    hosts: || vec![
                        Host::new("web-1", "web").label("exposure", "external").ago(100 * DAY).scan("10.0.0.5"),
                        Host::new("db-1", "db").ago(200 * DAY).scan("10.0.0.6"),
                    ],
                    expect: &[],
                    answer: Y,
                    why: "external services half-yearly, internal systems yearly",
                },
                Case {
                    fleet: "an external host scanned 200 days ago beside a fine internal one",
                    hosts: || vec![
                        Host::new("web-1", "web").label("exposure", "external").ago(200 * DAY).scan("10.0.0.5"),
                        Host::new("db-1", "db").ago(200 * DAY).scan("10.0.0.6"),
                    ],
                    expect: &[],
                    answer: P,
                    why: "the external service is past its half year",
                },
                Case {
                    fleet: "an external host scanned 200 days ago",
                    hosts: || vec![Host::new("web-1", "web").label("exposure", "external").ago(200 * DAY).scan("10.0.0.5")],
                    expect: &[],
                    answer: Unknown,
                    why: "no check within the half year is shown",
                },
                Case {
                    fleet: "configuration says no host is scanned by gamsa",
                    hosts: || vec![Host::new("web-1", "web").scan("127.0.0.1")],
                    expect: &[("port_scan", &[], true)],
                    answer: Na,
                    why: "declared with a justification",
                },
            ],
        },
        RuleCases {
            rule: "monitoring-agent",
            unreachable: &[(Na, "every host runs an agent: no expectation leaves hosts out")],
            cases: vec![
                Case {
                    fleet: "metrics a minute ago",
                    hosts: || vec![Host::new("web-1", "web").metrics(2)],
                    expect: &[],
                    answer: Y,
                    why: "the agent reads the host now (not monitoring: rows stay P)",
                },
                Case {
                    fleet: "metrics without a disk",
                    hosts: || vec![Host::new("web-1", "web").metrics(0)],
                    expect: &[],
                    answer: N,
                    why: "the disk figures are missing",
                },
                Case {
                    fleet: "one host reporting, one with no disks",
                    hosts: || vec![Host::new("web-1", "web").metrics(2), Host::new("web-2", "web").metrics(0)],
                    expect: &[],
                    answer: P,
                    why: "web-2's disks are not read",
                },
                Case {
                    fleet: "the last metrics an hour ago",
                    hosts: || vec![Host::new("web-1", "web").ago(HOUR).metrics(2)],
                    expect: &[],
                    answer: Unknown,
                    why: "an hour of silence is no monitoring (metrics count for 30 minutes)",
                },
            ],
        },
        RuleCases {
            rule: "service-checks",
            unreachable: &[
                (Na, "a fleet rule over the hosts reporting synthetic checks: no expectation leaves hosts out"),
                (N, "the agent reports every check with its interval; a host without checks sends no synthetic evidence and is outside the rule"),
                (P, "no host reporting checks can fail (see N)"),
            ],
            cases: vec![
                Case {
                    fleet: "checks reported a minute ago",
                    hosts: || vec![Host::new("mon-1", "monitor").synthetic("portal"), Host::new("web-1", "web")],
                    expect: &[],
                    answer: Y,
                    why: "availability is measured (rows stay P: the SLA completes them)",
                },
                Case {
                    fleet: "the last report three hours ago",
                    hosts: || vec![Host::new("mon-1", "monitor").ago(3 * HOUR).synthetic("portal")],
                    expect: &[],
                    answer: Unknown,
                    why: "reports count for 2 hours (summaries are hourly)",
                },
                Case {
                    fleet: "no host checks a service",
                    hosts: || vec![Host::new("web-1", "web").metrics(2)],
                    expect: &[],
                    answer: Unknown,
                    why: "nothing measures availability",
                },
            ],
        },
    ]
    .into_iter()
    .chain(host_config::table())
    .chain(host_services::table())
    .chain(software::table())
    .chain(tomcat::table())
    .chain(operations::table())
    .chain(cluster::table())
    .chain(backup::table())
    .collect()
}

/// The justification golden expectations carry.
const JUSTIFIED: &str = "golden fleet: declared by the operator";

fn expectations(expect: &[(&str, &[&str], bool)]) -> Vec<Expectation> {
    expect
        .iter()
        .map(|(of, hosts, none)| Expectation {
            of: of.to_string(),
            hosts: hosts.iter().map(|s| s.to_string()).collect(),
            none: *none,
            justification: JUSTIFIED.into(),
        })
        .collect()
}

/// `hosts` stored and every catalog evaluated with `expect`, after `then`
/// adds documents to the store.
async fn evaluate(
    hosts: Vec<Host>,
    expect: &[Expectation],
    attestations: Vec<Attestation>,
) -> Vec<ItemResult> {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("gamsa.db")).unwrap();
    fixture::store_hosts(&store, hosts).await;
    for a in attestations {
        store.add_attestation(a, None).await.unwrap();
    }
    loaded()
        .expecting(expect)
        .unwrap()
        .evaluate(&store, &[], None)
        .await
        .unwrap()
}

/// The built-in catalogs and rules, loaded once per test process: parsing
/// them is most of a golden case's time in a debug build.
fn loaded() -> Checklists {
    static LOADED: std::sync::OnceLock<Checklists> = std::sync::OnceLock::new();
    let c = LOADED.get_or_init(|| Checklists::load(&[]).unwrap());
    Checklists {
        catalogs: c.catalogs.clone(),
        rules: c.rules.clone(),
        expectations: c.expectations.clone(),
        payloads: Default::default(),
    }
}

/// Every automated row, with its catalog.
fn automated(items: &[ItemResult]) -> impl Iterator<Item = (&ItemResult, &RowResult)> {
    items
        .iter()
        .flat_map(|i| i.rows.iter().map(move |r| (i, r)))
        .filter(|(_, r)| r.rule.is_some())
}

/// What a row shows for its rule's answer: a partial row's Y is P.
fn shown(answer: Verdict, answers: Answers) -> Verdict {
    if answer == Y && answers == Answers::Partial {
        P
    } else {
        answer
    }
}

#[tokio::test]
async fn every_automated_row_gives_the_auditors_answer_on_each_golden_fleet() {
    let rules = loaded().rules;
    let mut failures = Vec::new();
    let mut rows_checked = 0;
    for rc in table() {
        for case in &rc.cases {
            let items = evaluate((case.hosts)(), &expectations(case.expect), vec![]).await;
            for (item, row) in automated(&items).filter(|(_, r)| r.rule.as_deref() == Some(rc.rule))
            {
                rows_checked += 1;
                let answers = row.answers.expect("automated rows say how far they answer");
                let want = shown(case.answer, answers);
                let at = format!(
                    "{}/{} {} on \"{}\"",
                    item.catalog, item.id, row.id, case.fleet
                );
                if row.verdict != want {
                    failures.push(format!(
                        "{at}: {:?}, the auditor's answer is {want:?} ({}): {}",
                        row.verdict, case.why, row.reason_en
                    ));
                }
                if row.highest != Some(answers.highest()) {
                    failures.push(format!("{at}: highest {:?}", row.highest));
                }
                if want == P && case.answer == Y {
                    let completes = row.completes_en.as_deref().unwrap_or_default();
                    if completes.is_empty() || !row.reason_en.contains(completes) {
                        failures.push(format!(
                            "{at}: P without naming what completes it: {}",
                            row.reason_en
                        ));
                    }
                }
                // A failing host, or one the evidence cannot tell about,
                // says why, where the rule has a `detail`.
                let explains = rules[rc.rule].def.detail.is_some();
                for h in row.hosts.iter().filter(|h| {
                    h.outcome == Outcome::Fail
                        || (h.outcome == Outcome::Unknown && h.reason == "evidence does not tell")
                }) {
                    if explains && h.detail.is_empty() {
                        failures.push(format!("{at}: {} {:?} without detail", h.host, h.outcome));
                    }
                }
                if want == Na && !row.reason_en.contains(JUSTIFIED) {
                    failures.push(format!(
                        "{at}: NA without the justification: {}",
                        row.reason_en
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(rows_checked > 200, "{rows_checked} rows checked");
}

#[test]
fn every_rule_of_every_catalog_reaches_each_verdict_or_says_why_not() {
    let checklists = Checklists::load(&[]).unwrap();
    let named: BTreeSet<&str> = checklists
        .catalogs
        .iter()
        .flat_map(|c| &c.items)
        .flat_map(|i| &i.rows)
        .filter_map(|r| r.rule.as_deref())
        .collect();
    let table = table();
    let covered: BTreeSet<&str> = table.iter().map(|r| r.rule).collect();
    assert_eq!(
        named, covered,
        "rules named by catalog rows without golden fleets, or fleets of no row's rule"
    );
    for rc in &table {
        let reached: BTreeSet<Verdict> = rc.cases.iter().map(|c| c.answer).collect();
        let excused: BTreeSet<Verdict> = rc.unreachable.iter().map(|(v, _)| *v).collect();
        assert!(
            reached.is_disjoint(&excused),
            "{}: reached and excused {:?}",
            rc.rule,
            reached.intersection(&excused)
        );
        let all: BTreeSet<Verdict> = [Y, P, N, Na, Unknown].into();
        assert_eq!(
            &reached | &excused,
            all,
            "{}: a verdict neither reached nor excused",
            rc.rule
        );
    }
}

/// The ordinary machine of a default quickstart: one NIC with an IPv4 and
/// an IPv6 default route, no cloud metadata, the default loopback port
/// scan, a TLS probe of the collector's own listener (its private CA is not
/// trusted), SSH, a synchronised clock, plain disks, no backups, no
/// monitoring stack (its monitoring evidence names no agent), its
/// configuration files watched.
fn ordinary_machine() -> Host {
    let machine = one_nic(Host::new("laptop", ""))
        .error("region", "no metadata service answered")
        .scan("127.0.0.1")
        .tls_endpoint(7443, &[Tls12, Tls13], 300, false, true)
        .listening(&[(22, "any"), (7443, "loopback"), (7080, "loopback")])
        .clock(true, "systemd-timesyncd", 3)
        .disk("/", "none")
        .disk("/boot/efi", "none")
        .metrics(2);
    operations::watched(operations::unmonitored(machine), true, false)
}

#[tokio::test]
async fn on_an_ordinary_single_nic_machine_no_row_the_evidence_cannot_answer_is_y() {
    let items = evaluate(vec![ordinary_machine()], &[], vec![]).await;
    let y: Vec<String> = automated(&items)
        .filter(|(_, r)| r.verdict == Y && r.answers != Some(Answers::Full))
        .map(|(i, r)| format!("{}/{}", i.catalog, r.id))
        .collect();
    assert!(
        y.is_empty(),
        "Y where the evidence answers only part: {y:?}"
    );
    // The rows the issue found answered Y on such a machine.
    let row = |catalog: &str, id: &str| {
        automated(&items)
            .find(|(i, r)| i.catalog == catalog && r.id == id)
            .map(|(_, r)| r.clone())
            .unwrap()
    };
    for (catalog, id, want) in [
        ("emr-s014", "2.1-1", N),
        ("emr-s014", "5.1-1", N),
        ("isms-p", "2.11.2-1", Unknown),
        ("cloud-notice", "13.4.1-1", N),
    ] {
        let r = row(catalog, id);
        assert_eq!(r.verdict, want, "{catalog}/{id}: {}", r.reason_en);
    }
    let lines = row("emr-s014", "2.1-1");
    let laptop = &lines.hosts[0];
    assert_eq!(laptop.outcome, Outcome::Fail);
    assert!(
        laptop
            .detail
            .iter()
            .any(|d| d == "1 physical links carry a default route (2 needed; 2 default routes)")
            && laptop.detail.iter().any(|d| d == "line: eth0"),
        "{:?}",
        laptop.detail
    );
    let scan = row("isms-p", "2.11.2-1");
    assert!(
        scan.hosts[0]
            .detail
            .iter()
            .any(|d| d.contains("loopback only")),
        "{:?}",
        scan.hosts[0].detail
    );
    // Whatever the machine, no automated row is Y on this evidence.
    let any_y: Vec<String> = automated(&items)
        .filter(|(_, r)| r.verdict == Y)
        .map(|(i, r)| format!("{}/{}", i.catalog, r.id))
        .collect();
    assert!(any_y.is_empty(), "{any_y:?}");
}

/// A fleet on which every rule holds.
fn exemplary_fleet() -> Vec<Host> {
    let host = |name: &str, role: &str, zone: &str| {
        good_backup(two_lines(seoul(name, role, zone)))
            .disk("/", "luks2")
            .tls_endpoint(443, &[Tls13], 200, true, true)
            .listening(&[(22, "any"), (443, "any")])
            .clock(true, "chrony", 2)
            .scan("10.0.0.5")
            .metrics(2)
            .synthetic("portal")
    };
    let host = |name: &str, role: &str, zone: &str| {
        let hardened = host_services::hardened(host_config::hardened(host(name, role, zone)));
        operations::watched(tomcat::hardened(software::patched(hardened)), true, false)
    };
    vec![
        operations::prometheus(host("web-1", "web", "ap-northeast-2a")),
        operations::exporter(host("web-2", "web", "ap-northeast-2c")),
        operations::exporter(host("lb-1", "lb", "ap-northeast-2a").vrrp(true)),
        operations::exporter(host("lb-2", "lb", "ap-northeast-2c").vrrp(true)),
    ]
    .into_iter()
    .map(|h| cluster::sound(h, "web-1"))
    .collect()
}

#[tokio::test]
async fn where_every_rule_holds_full_rows_are_y_and_partial_rows_p_until_documents_complete_them() {
    let items = evaluate(exemplary_fleet(), &[], vec![]).await;
    let mut partial = 0;
    for (item, row) in automated(&items) {
        let at = format!("{}/{}", item.catalog, row.id);
        match row.answers {
            Some(Answers::Full) => assert_eq!(row.verdict, Y, "{at}: {}", row.reason_en),
            Some(Answers::Partial) => {
                partial += 1;
                assert_eq!(row.verdict, P, "{at}: {}", row.reason_en);
                assert!(
                    row.reason_ko.contains(row.completes_ko.as_deref().unwrap()),
                    "{at}"
                );
                assert!(
                    row.rationale_en.as_deref().is_some_and(|r| r.len() > 40),
                    "{at}"
                );
            }
            None => panic!("{at}: an automated row without `answers`"),
        }
    }
    assert!(partial > 30, "{partial}");

    // The operator attests the documents that complete 4.3-1: Y. An
    // attestation cannot lift what the evidence does not show: with web-2
    // abroad, 4.3-1 stays N. A row the operator marks not applicable is NA.
    let attest = |row: &str, item: &str, catalog: &str, verdict: &str| Attestation {
        catalog: catalog.into(),
        item: item.into(),
        row: row.into(),
        verdict: verdict.into(),
        comment: "SLA and 국내 물리적 위치 확인서 reviewed".into(),
        file_name: "sla.pdf".into(),
        file_sha256: String::new(),
        by: "lee".into(),
        at_ms: fixture::now(),
        expires_ms: Some(fixture::now() + DAY),
    };
    let documents = vec![
        attest("4.3-1", "4.3", "emr-s014", "Y"),
        attest("2.11.2-5", "2.11.2", "isms-p", "NA"),
    ];
    let items = evaluate(exemplary_fleet(), &[], documents.clone()).await;
    let row = |items: &[ItemResult], catalog: &str, id: &str| {
        automated(items)
            .find(|(i, r)| i.catalog == catalog && r.id == id)
            .map(|(_, r)| r.clone())
            .unwrap()
    };
    let completed = row(&items, "emr-s014", "4.3-1");
    assert_eq!(completed.verdict, Y, "{}", completed.reason_en);
    assert!(completed
        .reason_en
        .contains("completed by documents attested by lee"));
    assert_eq!(
        completed.attestation.as_ref().map(|a| a.by.as_str()),
        Some("lee")
    );
    let vasp = row(&items, "isms-p", "2.11.2-5");
    assert_eq!(vasp.verdict, Na, "{}", vasp.reason_en);
    assert!(vasp.reason_en.contains("marked not applicable by lee"));

    let mut abroad = exemplary_fleet();
    abroad.push(Host::new("web-3", "web").region("us-east-1", "us-east-1a", "US"));
    let items = evaluate(abroad, &[], documents).await;
    assert_eq!(row(&items, "emr-s014", "4.3-1").verdict, N);
}

#[tokio::test]
async fn form_2a_marks_na_only_where_an_expectation_says_so() {
    use gamsa_collector::export::forms;
    let form_row = |items: &[ItemResult], row: &str| {
        let checklists = Checklists::load(&[]).unwrap();
        let emr = checklists.catalog("emr-s014").unwrap();
        let on_2a: Vec<&ItemResult> = forms::items_on(emr, Some("2A"))
            .iter()
            .filter_map(|d| {
                items
                    .iter()
                    .find(|i| i.catalog == "emr-s014" && i.id == d.id)
            })
            .collect();
        forms::verdict_rows(emr, &on_2a)
            .into_iter()
            .find(|r| r.row == row)
            .unwrap()
    };
    let web = || vec![two_lines(seoul("web-1", "web", "ap-northeast-2a"))];
    // No router-role host and nothing declared: no mark on 2.1-3, "확인 불가".
    let items = evaluate(web(), &[], vec![]).await;
    let r = form_row(&items, "2.1-3");
    assert_eq!(r.verdict, "UNKNOWN");
    let v = Verdict::parse(&r.verdict).unwrap_or(Unknown);
    assert_eq!(forms::mark_column(v), None);
    assert!(forms::remark(v, &r.reason_ko).starts_with("확인 불가"));
    assert!(
        r.reason_en.contains("[[expectations]] of = \"router\""),
        "{}",
        r.reason_en
    );
    // Declared, with a justification: N/A, the justification in the remark.
    let items = evaluate(web(), &expectations(&[("router", &[], true)]), vec![]).await;
    let r = form_row(&items, "2.1-3");
    assert_eq!(r.verdict, "NA");
    assert_eq!(forms::mark_column(Na), Some(3));
    assert!(r.reason_ko.contains(JUSTIFIED), "{}", r.reason_ko);
    assert_eq!(r.highest, "P");
    assert!(!r.rationale_ko.is_empty());
}

#[tokio::test]
async fn the_item_page_and_the_api_show_the_highest_verdict_rationale_and_completion() {
    use gamsa_collector::dashboard::{i18n::Lang, pages};
    let items = evaluate(exemplary_fleet(), &[], vec![]).await;
    let checklists = Checklists::load(&[]).unwrap();
    let emr = checklists.catalog("emr-s014").unwrap();
    let result = items
        .iter()
        .find(|i| i.catalog == "emr-s014" && i.id == "4.3")
        .unwrap();
    let def = emr.item("4.3").unwrap();
    let row = &def.rows[0];
    let page_of = |lang: Lang,
                   result: &gamsa_collector::verdict::ItemResult,
                   evidence: &[gamsa_proto::v1::Evidence],
                   unread: &[(String, String)],
                   detail_lines: usize| {
        pages::item(pages::ItemPage {
            lang,
            catalog: emr,
            item: def,
            result,
            evidence,
            unread,
            detail_lines,
            history: &[],
            group: None,
            rules: &checklists.rules,
            page: 0,
            can_write: false,
            csrf: "",
            availability: None,
        })
        .into_string()
    };
    let page = |lang, evidence: &[gamsa_proto::v1::Evidence]| {
        page_of(lang, result, evidence, &[], usize::MAX)
    };
    for (lang, highest, rationale, completes) in [
        (
            Lang::Ko,
            "최고 판정",
            row.rationale_ko.as_deref().unwrap(),
            row.completes_ko.as_deref().unwrap(),
        ),
        (
            Lang::En,
            "Highest verdict",
            row.rationale_en.as_deref().unwrap(),
            row.completes_en.as_deref().unwrap(),
        ),
    ] {
        let page = page(lang, &[]);
        let escaped = |s: &str| s.replace('&', "&amp;").replace('"', "&quot;");
        assert!(page.contains(highest), "{page}");
        assert!(page.contains(&escaped(rationale)), "{lang:?}: {rationale}");
        assert!(page.contains(&escaped(completes)), "{lang:?}: {completes}");
    }
    // The evidence of the page's hosts: one line each, linked to the whole
    // evidence on its host's page, however large it is.
    let big = gamsa_proto::v1::Evidence {
        id: "0193-ev".into(),
        host: "web-1".into(),
        probe: "software".into(),
        status: gamsa_proto::v1::Status::Error as i32,
        error: "x".repeat(100_000),
        ..Default::default()
    };
    let (without, with) = (
        page(Lang::En, &[]),
        page(Lang::En, std::slice::from_ref(&big)),
    );
    assert!(
        with.len() - without.len() < 1000,
        "{} bytes for one evidence",
        with.len() - without.len()
    );
    assert!(with.contains("href=\"/hosts/web-1#ev-0193-ev\""), "{with}");
    assert!(with.contains("could not check: xxx"), "{with}");
    // Evidence past the page's read is named, linked to its host's page;
    // detail lines past the page's budget are counted, the host linked.
    let mut detailed = result.clone();
    let mut hosts: Vec<_> = detailed.rows[0]
        .hosts
        .iter()
        .map(|h| (**h).clone())
        .collect();
    hosts[0].detail = vec!["line one".into(), "line two".into(), "line three".into()];
    let first = hosts[0].host.clone();
    detailed.rows[0].hosts =
        std::sync::Arc::new(hosts.into_iter().map(std::sync::Arc::new).collect());
    let unread = [("web-2".to_string(), "0194-ev".to_string())];
    let cut = page_of(Lang::En, &detailed, std::slice::from_ref(&big), &unread, 1);
    assert!(cut.contains("Evidence (2)"), "{cut}");
    assert!(cut.contains("href=\"/hosts/web-2#ev-0194-ev\""), "{cut}");
    assert!(
        cut.contains("line one") && !cut.contains("line two"),
        "{cut}"
    );
    assert!(cut.contains("more on the host's page: 2"), "{cut}");
    assert!(cut.contains(&format!("href=\"/hosts/{first}\"")), "{cut}");
    let whole = page_of(Lang::En, &detailed, &[], &[], usize::MAX);
    assert!(whole.contains("line three") && !whole.contains("more on the host"));
    // The API's item answer serialises the same row.
    let json = serde_json::to_value(&result.rows[0]).unwrap();
    assert_eq!(json["highest"], "P");
    assert_eq!(json["answers"], "partial");
    assert_eq!(json["rationaleEn"], row.rationale_en.clone().unwrap());
    assert_eq!(json["completesKo"], row.completes_ko.clone().unwrap());
    let item = serde_json::to_value(def).unwrap();
    assert_eq!(item["rows"][0]["answers"], "partial");
}

//! Golden fleets of the software rules: a patched production host with
//! ClamAV running, and for each rule the same host with the one fact the
//! rule reads broken, one of each side by side, and a host whose evidence
//! cannot tell.

use super::{Case, RuleCases};
use crate::fixture::{now, Host, DAY};
use gamsa_collector::verdict::Verdict::{Na, Unknown, N, P, Y};
use gamsa_proto::v1::{evidence::Payload, *};

fn ago(ms: i64) -> Option<gamsa_proto::Timestamp> {
    Some(gamsa_proto::Timestamp::from_unix_millis(now() - ms))
}

/// A Debian 12 host, lists refreshed a day ago, nothing pending, no
/// compilers, ClamAV running with day-old signatures; `change` breaks it.
fn software(h: Host, change: fn(&mut Software)) -> Host {
    let mut s = Software {
        os: Some(OsSupport {
            id: "debian".into(),
            version_id: "12".into(),
            pretty_name: "Debian GNU/Linux 12 (bookworm)".into(),
            release: "debian 12".into(),
            end_of_support: "2099-06-30".into(),
            source: "https://wiki.debian.org/LTS".into(),
        }),
        databases: vec![PackageDatabase {
            kind: "dpkg".into(),
            path: "/var/lib/dpkg/status".into(),
            count: 2,
            sha256: "0".repeat(64),
            ..Default::default()
        }],
        security_updates: Some(SecurityUpdates {
            manager: "apt".into(),
            known: true,
            sources: vec![
                "/var/lib/apt/lists/x_dists_bookworm-security_main_binary-amd64_Packages".into(),
            ],
            metadata_updated: ago(DAY),
            ..Default::default()
        }),
        anti_malware: vec![AntiMalware {
            product: "ClamAV".into(),
            packages: vec!["clamav-daemon 1.0.7".into()],
            processes: vec!["clamd".into()],
            signatures_path: "/var/lib/clamav/*.cld".into(),
            signatures_updated: ago(DAY),
        }],
        processes_read: true,
        ..Default::default()
    };
    change(&mut s);
    let name = h.name.clone();
    h.label("env", "production")
        .add("software", &name, Payload::Software(s))
}

pub fn patched(h: Host) -> Host {
    software(h, |_| {})
}

fn eol(s: &mut Software) {
    let os = s.os.as_mut().unwrap();
    os.version_id = "10".into();
    os.end_of_support = "2024-06-30".into();
}

fn unknown_release(s: &mut Software) {
    let os = s.os.as_mut().unwrap();
    (os.id, os.release, os.end_of_support) = ("gentoo".into(), String::new(), String::new());
}

fn pending(s: &mut Software) {
    s.security_updates.as_mut().unwrap().pending = vec![PendingUpdate {
        name: "openssl".into(),
        architecture: "amd64".into(),
        installed: "3.0.15-1~deb12u1".into(),
        available: "3.0.17-1~deb12u2".into(),
        suite: "bookworm-security".into(),
    }];
}

fn rpm_only(s: &mut Software) {
    s.databases = vec![PackageDatabase {
        kind: "rpm".into(),
        path: "/var/lib/rpm/Packages".into(),
        error: "/var/lib/rpm/Packages: unsupported format (Berkeley DB; this agent reads rpm's SQLite database): its packages and package-installed tools are not known".into(),
        ..Default::default()
    }];
    *s.security_updates.as_mut().unwrap() = SecurityUpdates {
        error: "pending updates of rpm packages are not known: dnf's and yum's repository metadata are not read by this agent".into(),
        ..Default::default()
    };
}

/// A RHEL 9 host whose rpm database (SQLite) was read.
fn rhel(s: &mut Software) {
    rpm_only(s);
    let os = s.os.as_mut().unwrap();
    (os.id, os.version_id, os.release, os.end_of_support) = (
        "rhel".into(),
        "9.4".into(),
        "rhel 9".into(),
        "2032-05-31".into(),
    );
    s.databases = vec![PackageDatabase {
        kind: "rpm".into(),
        path: "/var/lib/rpm/rpmdb.sqlite".into(),
        count: 1,
        sha256: "0".repeat(64),
        ..Default::default()
    }];
    s.packages = vec![Package {
        name: "bash".into(),
        version: "5.1.8-9.el9".into(),
        architecture: "x86_64".into(),
        database: "rpm".into(),
    }];
}

fn rhel_gcc(s: &mut Software) {
    rhel(s);
    s.compilers = vec![Compiler {
        name: "gcc-c++".into(),
        found: "rpm:gcc-c++".into(),
        by: "package".into(),
    }];
}

fn gcc(s: &mut Software) {
    s.compilers = vec![Compiler {
        name: "gcc".into(),
        found: "/usr/bin/gcc".into(),
        by: "file".into(),
    }];
}

fn no_anti_malware(s: &mut Software) {
    s.anti_malware.clear();
}

fn processes_unread(s: &mut Software) {
    s.anti_malware.clear();
    s.processes_read = false;
}

fn stale_signatures(s: &mut Software) {
    s.anti_malware[0].signatures_updated = ago(30 * DAY);
}

fn edr_only(s: &mut Software) {
    s.anti_malware = vec![AntiMalware {
        product: "CrowdStrike Falcon".into(),
        processes: vec!["falcon-sensor".into()],
        ..Default::default()
    }];
}

macro_rules! software_rule {
    ($rule:literal, $na:expr, $bad:ident, $broken:literal, $untold:ident, $why_untold:literal) => {
        RuleCases {
            rule: $rule,
            unreachable: $na,
            cases: vec![
                Case {
                    fleet: "a patched production host with ClamAV running",
                    hosts: || vec![patched(Host::new("web-1", "web"))],
                    expect: &[],
                    answer: Y,
                    why: "what the rule reads is as it should be",
                },
                Case {
                    fleet: $broken,
                    hosts: || vec![software(Host::new("web-1", "web"), $bad)],
                    expect: &[],
                    answer: N,
                    why: "the host breaks what the rule reads",
                },
                Case {
                    fleet: concat!("one patched host, one where ", $broken),
                    hosts: || {
                        vec![
                            patched(Host::new("web-1", "web")),
                            software(Host::new("web-2", "web"), $bad),
                        ]
                    },
                    expect: &[],
                    answer: P,
                    why: "web-2 breaks it",
                },
                Case {
                    fleet: $why_untold,
                    hosts: || vec![software(Host::new("web-1", "web"), $untold)],
                    expect: &[],
                    answer: Unknown,
                    why: "could not check is never passed",
                },
            ],
        }
    };
}

const EVERY_HOST: &[(gamsa_collector::verdict::Verdict, &str)] = &[(
    Na,
    "every host has software evidence: no expectation leaves hosts out",
)];

pub fn table() -> Vec<RuleCases> {
    let mut no_compilers = software_rule!(
        "no-compilers",
        &[],
        gcc,
        "gcc is in /usr/bin",
        rpm_only,
        "an rpm host with a Berkeley DB database: packages not read"
    );
    no_compilers.cases.extend([
        Case {
            fleet: "a RHEL 9 host, its rpm database read, no compiler",
            hosts: || vec![software(Host::new("web-1", "web"), rhel)],
            expect: &[],
            answer: Y,
            why: "the rpm packages were read and none is a compiler",
        },
        Case {
            fleet: "a RHEL 9 host with gcc-c++ installed by rpm",
            hosts: || vec![software(Host::new("web-1", "web"), rhel_gcc)],
            expect: &[],
            answer: N,
            why: "a compiler package on a production host",
        },
    ]);
    let mut updates = software_rule!(
        "security-updates-applied",
        EVERY_HOST,
        pending,
        "an openssl security update is pending",
        rpm_only,
        "an rpm host: no apt lists"
    );
    updates.cases.push(Case {
        fleet: "a RHEL 9 host, its rpm database read",
        hosts: || vec![software(Host::new("web-1", "web"), rhel)],
        expect: &[],
        answer: Unknown,
        why: "dnf's metadata is not read: pending updates are not known",
    });
    let mut supported = software_rule!(
        "os-supported",
        EVERY_HOST,
        eol,
        "Debian 10 is past its end of support",
        unknown_release,
        "a release the lifecycle table does not know"
    );
    supported.cases.push(Case {
        fleet: "a RHEL 9 host, its rpm database read",
        hosts: || vec![software(Host::new("web-1", "web"), rhel)],
        expect: &[],
        answer: Y,
        why: "RHEL 9 is supported until 2032",
    });
    no_compilers.cases.push(Case {
        fleet: "configuration says no host is production",
        hosts: || vec![patched(Host::new("dev-1", "dev"))],
        expect: &[("production", &[], true)],
        answer: Na,
        why: "declared with a justification",
    });
    vec![
        supported,
        updates,
        no_compilers,
        software_rule!(
            "anti-malware-running",
            EVERY_HOST,
            no_anti_malware,
            "no anti-malware product",
            processes_unread,
            "processes not readable, no product by package"
        ),
        software_rule!(
            "anti-malware-signatures-fresh",
            EVERY_HOST,
            stale_signatures,
            "ClamAV's signatures are 30 days old",
            edr_only,
            "an EDR keeping no signatures locally"
        ),
    ]
}

//! Golden fleets of the Tomcat checks (`tomcat-*` rules, TOM-101 to
//! TOM-503): a Tomcat hardened as the checks ask, and for each rule the same
//! installation with the one fact the rule reads broken, one of each side by
//! side, a host where the agent found no Tomcat, and a fleet the
//! configuration says runs none.

use super::{Case, RuleCases};
use crate::fixture::Host;
use gamsa_collector::verdict::Verdict::{Na, Unknown, N, P, Y};
use gamsa_proto::v1::{evidence::Payload, *};

const BASE: &str = "/var/lib/tomcat10";

fn mode(path: &str, mode: u32, kind: &str) -> FileMode {
    FileMode {
        path: path.into(),
        exists: true,
        mode,
        owner: "root".into(),
        group: "tomcat".into(),
        kind: kind.into(),
        ..Default::default()
    }
}

fn valve(class: &str, attributes: &[(&str, &str)]) -> TomcatValve {
    TomcatValve {
        scope: "Host localhost".into(),
        class_name: format!("org.apache.catalina.valves.{class}"),
        attributes: attributes
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        file: format!("{BASE}/conf/server.xml"),
    }
}

fn app(name: &str) -> TomcatApp {
    TomcatApp {
        name: name.into(),
        doc_base: format!("{BASE}/webapps/{name}"),
        host: "localhost".into(),
        ..Default::default()
    }
}

/// An installation as the checks ask: running as tomcat, current 10.1,
/// no manager or samples, error pages, access log, tight modes.
fn hardened_instance() -> TomcatInstance {
    TomcatInstance {
        base: BASE.into(),
        home: "/usr/share/tomcat10".into(),
        found_by: "process".into(),
        running: true,
        pid: 812,
        process_user: "tomcat".into(),
        process_uid: 997,
        version: "10.1.60".into(),
        version_number: 10_001_060,
        branch: "10.1".into(),
        version_source: "lib/catalina.jar".into(),
        server_valves: vec![valve("AccessLogValve", &[("directory", "logs")])],
        connectors: vec![TomcatConnector {
            port: 8080,
            protocol: "HTTP/1.1".into(),
            address: "127.0.0.1".into(),
            ..Default::default()
        }],
        users: vec![TomcatUser {
            name: "ops-7f3k".into(),
            roles: vec!["manager-script".into()],
            admin: true,
            password_state: "set".into(),
        }],
        users_file: format!("{BASE}/conf/tomcat-users.xml"),
        config_files: vec![
            mode(&format!("{BASE}/conf"), 0o750, "dir"),
            mode(&format!("{BASE}/conf/server.xml"), 0o640, "file"),
            mode(&format!("{BASE}/conf/tomcat-users.xml"), 0o640, "file"),
            mode(&format!("{BASE}/conf/web.xml"), 0o640, "file"),
        ],
        log_dirs: vec![mode(&format!("{BASE}/logs"), 0o750, "dir")],
        log_files: vec![mode(&format!("{BASE}/logs/catalina.log"), 0o640, "file")],
        log_files_complete: true,
        error_pages: vec!["404 /error.html".into(), "500 /error.html".into()],
        apps: vec![app("ROOT")],
        source_entries_checked: 3,
        source_walk_complete: true,
        ..Default::default()
    }
}

fn configured(h: Host, change: fn(&mut TomcatInstance)) -> Host {
    let mut i = hardened_instance();
    change(&mut i);
    let name = h.name.clone();
    h.add(
        "tomcat",
        &name,
        Payload::Tomcat(Tomcat {
            instances: vec![i],
            notices: vec![],
        }),
    )
}

pub fn hardened(h: Host) -> Host {
    configured(h, |_| {})
}

/// The agent looked and found no Tomcat.
fn no_tomcat(h: Host) -> Host {
    let name = h.name.clone();
    h.add("tomcat", &name, Payload::Tomcat(Tomcat::default()))
}

fn open_manager(h: Host) -> Host {
    configured(h, |i| i.apps.push(app("manager")))
}
fn admin_named_admin(h: Host) -> Host {
    configured(h, |i| i.users[0].name = "admin".into())
}
fn default_password(h: Host) -> Host {
    configured(h, |i| i.users[0].password_state = "known_default".into())
}
fn users_file_readable(h: Host) -> Host {
    configured(h, |i| i.config_files[2].mode = 0o644)
}
fn runs_as_root(h: Host) -> Host {
    configured(h, |i| {
        i.process_uid = 0;
        i.process_user = "root".into();
    })
}
fn server_xml_group_writable(h: Host) -> Host {
    configured(h, |i| i.config_files[1].mode = 0o660)
}
fn page_world_writable(h: Host) -> Host {
    configured(h, |i| {
        i.source_writable_by_others = vec![format!("{BASE}/webapps/ROOT/index.html")]
    })
}
fn no_error_pages(h: Host) -> Host {
    configured(h, |i| i.error_pages.clear())
}
fn listings_on(h: Host) -> Host {
    configured(h, |i| i.listings = true)
}
fn examples_deployed(h: Host) -> Host {
    configured(h, |i| {
        let mut e = app("examples");
        e.sample = "examples".into();
        i.apps.push(e);
    })
}
fn restricted_manager(h: Host) -> Host {
    configured(h, |i| {
        let mut m = app("manager");
        m.valves = vec![valve(
            "RemoteCIDRValve",
            &[("allow", "127.0.0.0/8, ::1/128")],
        )];
        i.apps.push(m);
    })
}
fn no_access_log(h: Host) -> Host {
    configured(h, |i| i.server_valves.clear())
}
fn logs_open(h: Host) -> Host {
    configured(h, |i| i.log_dirs[0].mode = 0o755)
}
fn old_struts(h: Host) -> Host {
    configured(h, |i| {
        i.apps[0].struts = vec![TomcatLibrary {
            path: format!("{BASE}/webapps/ROOT/WEB-INF/lib/struts2-core-2.5.30.jar"),
            version: "2.5.30".into(),
            version_number: 2_005_030,
        }]
    })
}
fn old_tomcat(h: Host) -> Host {
    configured(h, |i| {
        i.version = "10.1.20".into();
        i.version_number = 10_001_020;
    })
}
fn sslv3_connector(h: Host) -> Host {
    configured(h, |i| {
        i.connectors.push(TomcatConnector {
            port: 8443,
            ssl_enabled: true,
            ssl_protocols: "+SSLv3,+TLSv1.2".into(),
            ..Default::default()
        })
    })
}

/// The cases of one rule: hardened Y, `bad` N, both P, no Tomcat found
/// UNKNOWN, and NA where the configuration says no host runs Tomcat.
macro_rules! tomcat_rule {
    ($rule:literal, $bad:ident, $broken:literal) => {
        RuleCases {
            rule: $rule,
            unreachable: &[],
            cases: vec![
                Case {
                    fleet: "a Tomcat hardened as the checks ask",
                    hosts: || vec![hardened(Host::new("was-1", "was"))],
                    expect: &[],
                    answer: Y,
                    why: "the fact the check reads is as it asks",
                },
                Case {
                    fleet: $broken,
                    hosts: || vec![$bad(Host::new("was-1", "was"))],
                    expect: &[],
                    answer: N,
                    why: "the check calls this Tomcat vulnerable",
                },
                Case {
                    fleet: concat!("one hardened Tomcat, one where ", $broken),
                    hosts: || {
                        vec![
                            hardened(Host::new("was-1", "was")),
                            $bad(Host::new("was-2", "was")),
                        ]
                    },
                    expect: &[],
                    answer: P,
                    why: "was-2 is vulnerable",
                },
                Case {
                    fleet: "the agent found no Tomcat on a host expected to run one",
                    hosts: || vec![no_tomcat(Host::new("was-1", "was"))],
                    expect: &[],
                    answer: Unknown,
                    why: "nothing was checked: say which hosts run Tomcat",
                },
                Case {
                    fleet: "the configuration says no host runs Tomcat",
                    hosts: || vec![no_tomcat(Host::new("web-1", "web"))],
                    expect: &[("tomcat", &[], true)],
                    answer: Na,
                    why: "the operator declared, with a justification, that no host runs Tomcat",
                },
            ],
        }
    };
}

pub fn table() -> Vec<RuleCases> {
    vec![
        tomcat_rule!(
            "tomcat-manager-restricted",
            open_manager,
            "the manager is deployed without an address valve"
        ),
        tomcat_rule!(
            "tomcat-admin-names",
            admin_named_admin,
            "the console administrator is named admin"
        ),
        tomcat_rule!(
            "tomcat-admin-passwords",
            default_password,
            "the administrator's password is a known default"
        ),
        tomcat_rule!(
            "tomcat-users-file-mode",
            users_file_readable,
            "tomcat-users.xml is 0644"
        ),
        tomcat_rule!("tomcat-process-user", runs_as_root, "Tomcat runs as root"),
        tomcat_rule!(
            "tomcat-config-write",
            server_xml_group_writable,
            "server.xml is 0660"
        ),
        tomcat_rule!(
            "tomcat-source-write",
            page_world_writable,
            "ROOT/index.html is writable by others"
        ),
        tomcat_rule!("tomcat-error-pages", no_error_pages, "no error page is set"),
        tomcat_rule!("tomcat-listings", listings_on, "directory listings are on"),
        tomcat_rule!(
            "tomcat-samples",
            examples_deployed,
            "the examples are deployed"
        ),
        tomcat_rule!(
            "tomcat-manager-removed",
            restricted_manager,
            "the manager is deployed (restricted to loopback)"
        ),
        tomcat_rule!("tomcat-access-log", no_access_log, "no access log valve"),
        tomcat_rule!("tomcat-log-modes", logs_open, "logs/ is 0755"),
        tomcat_rule!(
            "tomcat-struts-version",
            old_struts,
            "an application carries Struts 2.5.30"
        ),
        tomcat_rule!("tomcat-version", old_tomcat, "Tomcat is 10.1.20"),
        tomcat_rule!("tomcat-sslv3", sslv3_connector, "a connector enables SSLv3"),
    ]
}

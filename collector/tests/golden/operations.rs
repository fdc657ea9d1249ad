//! Golden fleets of the operations rules: the monitoring stack
//! (`monitoring-thresholds`, `monitoring-alerting`: agents on every host,
//! alert rules and receivers on any) and configuration drift
//! (`config-drift-watched`).

use super::{Case, RuleCases};
use crate::fixture::{Host, HOUR};
use gamsa_collector::verdict::Verdict::{Na, Unknown, N, P, Y};
use gamsa_proto::v1::{evidence::Payload, *};

fn rule(resource: &str, threshold: &str) -> AlertRule {
    AlertRule {
        file: "/etc/prometheus/rules/node.yml".into(),
        group: "node".into(),
        alert: format!("High{resource}"),
        expr: format!("x {threshold}"),
        resources: vec![resource.into()],
        threshold: threshold.into(),
        ..Default::default()
    }
}

fn agent(name: &str) -> MonitoringAgent {
    MonitoringAgent {
        name: name.into(),
        running: true,
        process: name.into(),
        ..Default::default()
    }
}

/// What the monitoring probe reports: `agents` running, the Prometheus
/// stack's alert `rules`, and whether it sends to an Alertmanager whose
/// routed receiver mails `to`.
fn monitoring(h: Host, agents: &[&str], rules: Vec<AlertRule>, to: Option<&str>) -> Host {
    let name = h.name.clone();
    let mut m = Monitoring {
        agents: agents.iter().map(|a| agent(a)).collect(),
        alert_rules: rules,
        ..Default::default()
    };
    if let Some(to) = to {
        m.sources.push(MonitoringSource {
            path: "/etc/prometheus/prometheus.yml".into(),
            kind: "prometheus".into(),
            count: 1,
            ..Default::default()
        });
        m.receivers.push(AlertReceiver {
            file: "/etc/prometheus/alertmanager.yml".into(),
            name: "ops".into(),
            notifiers: vec!["email".into()],
            routed: true,
            placeholders: if to.contains("example.") {
                vec![format!("email: to: {to}")]
            } else {
                vec![]
            },
        });
    }
    h.add("monitoring", &name, Payload::Monitoring(m))
}

fn every_resource() -> Vec<AlertRule> {
    vec![
        rule("cpu", "> 80"),
        rule("memory", "< 10"),
        rule("disk", "< 10"),
        rule("traffic", "> 1e+08"),
        rule("service_down", "== 0"),
    ]
}

/// The Prometheus host of a watched fleet.
pub fn prometheus(h: Host) -> Host {
    monitoring(
        h,
        &["node_exporter", "prometheus", "alertmanager"],
        every_resource(),
        Some("oncall@hospital.kr"),
    )
}

/// A host of that fleet: node_exporter only.
pub fn exporter(h: Host) -> Host {
    monitoring(h, &["node_exporter"], vec![], None)
}

/// No monitoring agent, no rule: the evidence of a host nothing watches.
pub fn unmonitored(h: Host) -> Host {
    monitoring(h, &[], vec![], None)
}

fn unreadable_rules(h: Host) -> Host {
    let name = h.name.clone();
    h.add(
        "monitoring",
        &name,
        Payload::Monitoring(Monitoring {
            agents: vec![agent("node_exporter"), agent("prometheus")],
            sources: vec![MonitoringSource {
                path: "/etc/prometheus/rules/node.yml".into(),
                kind: "rules".into(),
                error: "/etc/prometheus/rules/node.yml: Permission denied (os error 13)".into(),
                ..Default::default()
            }],
            ..Default::default()
        }),
    )
}

/// The config_drift watch's evidence.
pub fn watched(h: Host, events: bool, limit_reached: bool) -> Host {
    h.add(
        "config_drift",
        "watch",
        Payload::ConfigDrift(ConfigDrift {
            change: None,
            watch: Some(DriftWatch {
                events,
                files: 120,
                watches: 30,
                max_watches: 256,
                limit_reached,
                error: if events {
                    String::new()
                } else {
                    "inotify: Too many open files (os error 24)".into()
                },
                ..Default::default()
            }),
        }),
    )
}

/// A change the watch reported (evidence without the watch's state).
fn changed(h: Host) -> Host {
    h.add(
        "config_drift",
        "/etc/ssh/sshd_config",
        Payload::ConfigDrift(ConfigDrift {
            change: Some(ConfigChange {
                path: "/etc/ssh/sshd_config".into(),
                kind: "modified".into(),
                diff: vec!["-PermitRootLogin no".into(), "+PermitRootLogin yes".into()],
                detected_by: "event".into(),
                ..Default::default()
            }),
            watch: None,
        }),
    )
}

pub fn table() -> Vec<RuleCases> {
    vec![
        RuleCases {
            rule: "monitoring-thresholds",
            unreachable: &[(Na, "a fleet rule over every host reporting monitoring evidence: no expectation leaves hosts out")],
            cases: vec![
                Case {
                    fleet: "Prometheus with CPU, memory, disk and traffic alerts; node_exporter on every host",
                    hosts: || vec![prometheus(Host::new("mon-1", "mon")), exporter(Host::new("web-1", "web"))],
                    expect: &[],
                    answer: Y,
                    why: "every host is watched and each resource has an alert with a threshold",
                },
                Case {
                    fleet: "the same, with one host running no agent",
                    hosts: || vec![
                        prometheus(Host::new("mon-1", "mon")),
                        exporter(Host::new("web-1", "web")),
                        unmonitored(Host::new("web-2", "web")),
                    ],
                    expect: &[],
                    answer: P,
                    why: "web-2's usage is read by nothing",
                },
                Case {
                    fleet: "node_exporter everywhere, alerts for CPU and disk only",
                    hosts: || vec![
                        monitoring(Host::new("mon-1", "mon"), &["node_exporter", "prometheus"],
                            vec![rule("cpu", "> 80"), rule("disk", "< 10")], None),
                        exporter(Host::new("web-1", "web")),
                    ],
                    expect: &[],
                    answer: N,
                    why: "memory and traffic cross no threshold anyone set",
                },
                Case {
                    fleet: "node_exporter everywhere, the rule file unreadable",
                    hosts: || vec![unreadable_rules(Host::new("mon-1", "mon")), exporter(Host::new("web-1", "web"))],
                    expect: &[],
                    answer: Unknown,
                    why: "rules that could not be read are not absent rules",
                },
            ],
        },
        RuleCases {
            rule: "monitoring-alerting",
            unreachable: &[(Na, "a fleet rule over every host reporting monitoring evidence: no expectation leaves hosts out")],
            cases: vec![
                Case {
                    fleet: "a service-down alert, sent to an Alertmanager that mails the on-call address",
                    hosts: || vec![prometheus(Host::new("mon-1", "mon")), exporter(Host::new("web-1", "web"))],
                    expect: &[],
                    answer: Y,
                    why: "a failure is raised and sent to a person automatically",
                },
                Case {
                    fleet: "the same, with one host running no agent",
                    hosts: || vec![
                        prometheus(Host::new("mon-1", "mon")),
                        unmonitored(Host::new("web-2", "web")),
                    ],
                    expect: &[],
                    answer: P,
                    why: "web-2 can fail unnoticed",
                },
                Case {
                    fleet: "the receiver mails an example.org address",
                    hosts: || vec![monitoring(Host::new("mon-1", "mon"), &["node_exporter", "prometheus"],
                        every_resource(), Some("alerts@example.org"))],
                    expect: &[],
                    answer: N,
                    why: "the documentation's placeholder notifies no one",
                },
                Case {
                    fleet: "monitoring evidence an afternoon old",
                    hosts: || vec![prometheus(Host::new("mon-1", "mon").ago(5 * HOUR))],
                    expect: &[],
                    answer: Unknown,
                    why: "alerting configuration counts for two hours",
                },
            ],
        },
        RuleCases {
            rule: "config-drift-watched",
            unreachable: &[(Na, "every host's configuration is watched: no expectation leaves hosts out")],
            cases: vec![
                Case {
                    fleet: "inotify watching within its bounds, a change reported",
                    hosts: || vec![changed(watched(Host::new("web-1", "web"), true, false))],
                    expect: &[],
                    answer: Y,
                    why: "each change is reported as it happens",
                },
                Case {
                    fleet: "one host watching, one whose watch bound was reached",
                    hosts: || vec![
                        watched(Host::new("web-1", "web"), true, false),
                        watched(Host::new("web-2", "web"), true, true),
                    ],
                    expect: &[],
                    answer: P,
                    why: "some of web-2's files change unseen",
                },
                Case {
                    fleet: "inotify could not start",
                    hosts: || vec![watched(Host::new("web-1", "web"), false, false)],
                    expect: &[],
                    answer: N,
                    why: "a comparison every five minutes is not real-time monitoring",
                },
                Case {
                    fleet: "no drift evidence",
                    hosts: || vec![Host::new("web-1", "web").metrics(2)],
                    expect: &[],
                    answer: Unknown,
                    why: "no watch reported",
                },
            ],
        },
    ]
}

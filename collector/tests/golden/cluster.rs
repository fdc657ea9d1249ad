//! Golden fleets of the Kubernetes cluster rules (`cluster-version-supported`,
//! `cluster-autoscaling`): every agent reports its node, the reporter the
//! cluster-wide parts. End-of-support dates are set relative to today, so
//! the fleets mean the same whenever they run.

use super::{Case, RuleCases};
use crate::fixture::Host;
use gamsa_collector::verdict::Verdict::{Na, Unknown, N, P, Y};
use gamsa_proto::v1::{evidence::Payload, *};

/// YYYY-MM-DD `days` from today (negative: in the past).
fn day(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days))
        .format("%Y-%m-%d")
        .to_string()
}

fn version(v: &str, ends_in_days: Option<i64>) -> KubeVersion {
    KubeVersion {
        version: v.into(),
        minor: v
            .trim_start_matches('v')
            .rsplit_once('.')
            .map(|(m, _)| m.to_string())
            .unwrap_or_default(),
        distribution: if ends_in_days.is_some() {
            "kubernetes".into()
        } else {
            String::new()
        },
        end_of_support: ends_in_days.map(day).unwrap_or_default(),
        source: ends_in_days
            .map(|_| "https://kubernetes.io/releases/ (End Of Life Date)".into())
            .unwrap_or_default(),
        error: String::new(),
    }
}

fn node(name: &str, kubelet: KubeVersion) -> ClusterNode {
    ClusterNode {
        name: name.into(),
        ready: true,
        kubelet: Some(kubelet),
        container_runtime: "containerd://1.7.24".into(),
        os_image: "Debian GNU/Linux 12 (bookworm)".into(),
        ..Default::default()
    }
}

/// HPAs, and whether the cluster-autoscaler runs; `refused`: the HPA list
/// answered 403.
fn autoscaling(hpas: u32, node_autoscaler: bool, refused: bool) -> ClusterAutoscaling {
    ClusterAutoscaling {
        horizontal: (0..hpas)
            .map(|i| HorizontalAutoscaler {
                namespace: "web".into(),
                name: format!("app-{i}"),
                target: format!("Deployment/app-{i}"),
                min_replicas: 2,
                max_replicas: 10,
            })
            .collect(),
        horizontal_total: hpas,
        horizontal_error: if refused {
            "https://10.96.0.1/apis/autoscaling/v2/horizontalpodautoscalers?limit=500: HTTP 403: forbidden".into()
        } else {
            String::new()
        },
        node_autoscalers: if node_autoscaler {
            vec!["cluster-autoscaler".into()]
        } else {
            vec![]
        },
        ..Default::default()
    }
}

/// The reporter's evidence: its node, the control plane and every node
/// at `kubelet`, and `scaling`.
fn reporter(
    h: Host,
    control_plane: KubeVersion,
    kubelet: KubeVersion,
    scaling: ClusterAutoscaling,
) -> Host {
    let name = h.name.clone();
    let me = node(&name, kubelet.clone());
    h.add(
        "cluster",
        "kubernetes",
        Payload::Cluster(Cluster {
            node: Some(me.clone()),
            reporter: true,
            reporter_node: name.clone(),
            control_plane: Some(control_plane),
            nodes: Some(ClusterNodes {
                nodes: vec![me, node("w-2", kubelet)],
                total: 2,
                ready: 2,
                ..Default::default()
            }),
            autoscaling: Some(scaling),
            ..Default::default()
        }),
    )
}

/// Another node's agent: itself only.
fn member(h: Host, kubelet: KubeVersion, reporter_node: &str) -> Host {
    let name = h.name.clone();
    h.add(
        "cluster",
        "kubernetes",
        Payload::Cluster(Cluster {
            node: Some(node(&name, kubelet)),
            reporter_node: reporter_node.into(),
            ..Default::default()
        }),
    )
}

fn supported() -> KubeVersion {
    version("v1.35.1", Some(200))
}

/// A node of a sound cluster (supported versions, pods and nodes
/// autoscaled): the reporter when `reporter_node` is its own name.
pub fn sound(h: Host, reporter_node: &str) -> Host {
    if h.name == reporter_node {
        reporter(h, supported(), supported(), autoscaling(2, true, false))
    } else {
        member(h, supported(), reporter_node)
    }
}

pub fn table() -> Vec<RuleCases> {
    vec![
        RuleCases {
            rule: "cluster-version-supported",
            unreachable: &[
                (P, "strict: a release past its end of support fails the cluster, whichever host reports it"),
                (Na, "a fleet rule over the hosts reporting cluster evidence: no expectation leaves hosts out"),
            ],
            cases: vec![
                Case {
                    fleet: "control plane and nodes on a release supported for months yet",
                    hosts: || vec![
                        reporter(Host::new("cp-1", "k8s"), supported(), supported(), autoscaling(1, true, false)),
                        member(Host::new("w-2", "k8s"), supported(), "cp-1"),
                    ],
                    expect: &[],
                    answer: Y,
                    why: "every part of the cluster still receives fixes",
                },
                Case {
                    fleet: "the control plane upgraded, one node's kubelet left on a release past its end",
                    hosts: || vec![
                        reporter(Host::new("cp-1", "k8s"), supported(), supported(), autoscaling(1, true, false)),
                        member(Host::new("w-2", "k8s"), version("v1.27.9", Some(-400)), "cp-1"),
                    ],
                    expect: &[],
                    answer: N,
                    why: "w-2 runs a kubelet no longer fixed",
                },
                Case {
                    fleet: "the control plane on a release that ended yesterday",
                    hosts: || vec![reporter(Host::new("cp-1", "k8s"), version("v1.34.2", Some(-1)), supported(),
                        autoscaling(1, true, false))],
                    expect: &[],
                    answer: N,
                    why: "the API server no longer receives security fixes",
                },
                Case {
                    fleet: "only a node that is not the reporter reports",
                    hosts: || vec![member(Host::new("w-2", "k8s"), supported(), "cp-1")],
                    expect: &[],
                    answer: Unknown,
                    why: "the control plane's version was not reported",
                },
                Case {
                    fleet: "a release newer than gamsa's table knows",
                    hosts: || vec![reporter(Host::new("cp-1", "k8s"), version("v1.99.0", None), supported(),
                        autoscaling(1, true, false))],
                    expect: &[],
                    answer: Unknown,
                    why: "no end of support is known for it",
                },
            ],
        },
        RuleCases {
            rule: "cluster-autoscaling",
            unreachable: &[
                (P, "strict: the autoscalers are the cluster's, reported once for it"),
                (Na, "a fleet rule over the hosts reporting cluster evidence: no expectation leaves hosts out"),
            ],
            cases: vec![
                Case {
                    fleet: "HorizontalPodAutoscalers and the cluster-autoscaler",
                    hosts: || vec![
                        reporter(Host::new("cp-1", "k8s"), supported(), supported(), autoscaling(3, true, false)),
                        member(Host::new("w-2", "k8s"), supported(), "cp-1"),
                    ],
                    expect: &[],
                    answer: Y,
                    why: "pods and nodes are set to scale with load",
                },
                Case {
                    fleet: "no HorizontalPodAutoscaler at all",
                    hosts: || vec![reporter(Host::new("cp-1", "k8s"), supported(), supported(), autoscaling(0, true, false))],
                    expect: &[],
                    answer: N,
                    why: "no pod scales with load",
                },
                Case {
                    fleet: "the HorizontalPodAutoscaler list refused (403)",
                    hosts: || vec![reporter(Host::new("cp-1", "k8s"), supported(), supported(), autoscaling(0, true, true))],
                    expect: &[],
                    answer: Unknown,
                    why: "a refused list is not an empty one",
                },
                Case {
                    fleet: "HPAs, and no node autoscaler visible",
                    hosts: || vec![reporter(Host::new("cp-1", "k8s"), supported(), supported(), autoscaling(2, false, false))],
                    expect: &[],
                    answer: Unknown,
                    why: "a provider-managed node autoscaler cannot be seen from the API",
                },
            ],
        },
    ]
}

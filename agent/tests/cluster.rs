//! cluster against a Kubernetes API stand-in that answers as the API
//! documents: lists paged by `limit` and an opaque `continue` token (410
//! Gone for a token it did not issue), `labelSelector` with `!=`, the node
//! list as a `meta.k8s.io/v1` Table when asked for one, 403 Forbidden
//! Status objects where RBAC would refuse, and 401 without the token; and
//! a host root holding a kubeadm kube-apiserver manifest and audit policy.

mod common;

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use gamsa_agent::config::Config;
use gamsa_agent::probes::cluster::{self, ClusterProbe};
use gamsa_agent::probes::kube::KubernetesConfig;
use gamsa_agent::probes::Probe;
use gamsa_proto::v1::{evidence::Payload, Cluster, Evidence};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

const TOKEN: &str = "cluster-reader";

/// What the stand-in serves, and every request it saw ("path?query").
#[derive(Clone, Default)]
struct Api {
    nodes: Vec<Value>,
    version: String,
    /// Resources RBAC refuses: their list path answers 403.
    forbidden: Vec<&'static str>,
    seen: Arc<Mutex<Vec<String>>>,
}

fn node(name: &str, ready: &str, kubelet: &str, labels: Value) -> Value {
    json!({
        "kind": "Node", "apiVersion": "v1",
        "metadata": {"name": name, "uid": format!("uid-{name}"), "resourceVersion": "4711",
                     "creationTimestamp": "2026-01-05T02:00:00Z", "labels": labels},
        "spec": {"podCIDR": "10.244.1.0/24", "providerID": format!("openstack:///{name}")},
        "status": {
            "conditions": [
                {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory",
                 "message": "kubelet has sufficient memory available",
                 "lastHeartbeatTime": "2026-12-03T08:00:00Z", "lastTransitionTime": "2026-01-05T02:00:00Z"},
                {"type": "Ready", "status": ready,
                 "reason": if ready == "True" { "KubeletReady" } else { "NodeStatusUnknown" },
                 "message": if ready == "True" { "kubelet is posting ready status" } else { "Kubelet stopped posting node status." },
                 "lastHeartbeatTime": "2026-12-03T08:00:00Z", "lastTransitionTime": "2026-01-05T02:00:00Z"}
            ],
            "nodeInfo": {
                "machineID": "0f3c", "systemUUID": "0f3c", "bootID": "b00t",
                "kernelVersion": "6.1.0-28-amd64", "osImage": "Debian GNU/Linux 12 (bookworm)",
                "containerRuntimeVersion": "containerd://1.7.24", "kubeletVersion": kubelet,
                "kubeProxyVersion": kubelet, "operatingSystem": "linux", "architecture": "amd64"
            }
        }
    })
}

fn named(kind: &str, api_version: &str, namespace: Option<&str>, name: &str) -> Value {
    let mut meta = json!({"name": name, "uid": format!("uid-{name}"), "resourceVersion": "12"});
    if let Some(ns) = namespace {
        meta["namespace"] = json!(ns);
    }
    json!({"kind": kind, "apiVersion": api_version, "metadata": meta})
}

/// `labelSelector` as the API reads it, for the `key!=value` terms the
/// probe sends (an absent label is "not equal").
fn selected(obj: &Value, selector: Option<&String>) -> bool {
    selector.is_none_or(|s| {
        s.split(',').all(|term| {
            let (k, v) = term.split_once("!=").expect("only != selectors are sent");
            obj["metadata"]["labels"][k].as_str() != Some(v)
        })
    })
}

fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                      "message": message, "reason": reason, "code": code.as_u16()});
    (code, axum::Json(body)).into_response()
}

/// One page of `items` and its list metadata, honouring `limit` and
/// `continue` ("page-<offset>", opaque to clients); the API's 410 Gone for
/// a token it did not issue.
fn page(
    items: Vec<Value>,
    q: &HashMap<String, String>,
) -> Result<(Vec<Value>, Value), Box<Response>> {
    let start = match q.get("continue") {
        None => 0,
        Some(t) => match t
            .strip_prefix("page-")
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(n) if n <= items.len() => n,
            _ => return Err(Box::new(status(
                StatusCode::GONE,
                "Expired",
                "The provided continue parameter is too old to display a consistent list result.",
            ))),
        },
    };
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0)
        .unwrap_or(usize::MAX);
    let end = start.saturating_add(limit).min(items.len());
    let mut meta = json!({"resourceVersion": "90210"});
    if end < items.len() {
        meta["continue"] = json!(format!("page-{end}"));
        meta["remainingItemCount"] = json!(items.len() - end);
    }
    Ok((items[start..end].to_vec(), meta))
}

fn list(kind: &str, api_version: &str, items: Vec<Value>, q: &HashMap<String, String>) -> Response {
    match page(items, q) {
        Ok((items, meta)) => axum::Json(
            json!({"kind": kind, "apiVersion": api_version, "metadata": meta, "items": items}),
        )
        .into_response(),
        Err(r) => *r,
    }
}

/// `GET /api/v1/nodes`: a NodeList, or a Table when the client asks for one.
async fn nodes(
    State(api): State<Api>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let items: Vec<Value> = api
        .nodes
        .iter()
        .filter(|n| selected(n, q.get("labelSelector")))
        .cloned()
        .collect();
    let accept = headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !accept.contains("as=Table") {
        return list("NodeList", "v1", items, &q);
    }
    match page(items, &q) {
        Ok((items, meta)) => {
            let rows: Vec<Value> = items
                .iter()
                .map(|n| {
                    let ready = n["status"]["conditions"][1]["status"] == "True";
                    json!({"cells": [n["metadata"]["name"], if ready { "Ready" } else { "NotReady" }, "<none>", "332d",
                                     n["status"]["nodeInfo"]["kubeletVersion"]],
                           "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": n["metadata"]}})
                })
                .collect();
            let column = |name: &str, format: &str| json!({"name": name, "type": "string", "format": format, "description": "", "priority": 0});
            axum::Json(json!({
                "kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta,
                "columnDefinitions": [column("Name", "name"), column("Status", ""), column("Roles", ""), column("Age", ""), column("Version", "")],
                "rows": rows
            }))
            .into_response()
        }
        Err(r) => *r,
    }
}

fn stand_in(api: Api) -> Router {
    let seen = api.seen.clone();
    let logged = move |req: axum::extract::Request, next: axum::middleware::Next| {
        let seen = seen.clone();
        async move {
            let uri = req.uri().to_string();
            seen.lock().unwrap().push(uri);
            next.run(req).await
        }
    };
    let simple = |kind: &'static str,
                  api_version: &'static str,
                  items: Vec<Value>,
                  resource: &'static str| {
        get(
            move |State(api): State<Api>, Query(q): Query<HashMap<String, String>>| {
                let items = items.clone();
                async move {
                    if api.forbidden.contains(&resource) {
                        return status(
                        StatusCode::FORBIDDEN,
                        "Forbidden",
                        &format!("{resource} is forbidden: User \"system:serviceaccount:gamsa-agent:gamsa-agent\" cannot list resource \"{resource}\""),
                    );
                    }
                    list(kind, api_version, items, &q)
                }
            },
        )
    };
    let hpa = |ns: &str, name: &str, min: Option<u32>, max: u32| {
        let mut h = named("HorizontalPodAutoscaler", "autoscaling/v2", Some(ns), name);
        h["spec"] = json!({"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}, "maxReplicas": max,
                           "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]});
        if let Some(m) = min {
            h["spec"]["minReplicas"] = json!(m);
        }
        h
    };
    let binding = |name: &str, role: &str, subjects: Value| {
        let mut b = named(
            "ClusterRoleBinding",
            "rbac.authorization.k8s.io/v1",
            None,
            name,
        );
        b["roleRef"] =
            json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role});
        b["subjects"] = subjects;
        b
    };
    let routes = Router::new()
        .route("/api/v1/nodes", get(nodes))
        .route(
            "/api/v1/nodes/{name}",
            get(|State(api): State<Api>, UrlPath(name): UrlPath<String>| async move {
                match api.nodes.iter().find(|n| n["metadata"]["name"] == name.as_str()) {
                    Some(n) => axum::Json(n.clone()).into_response(),
                    None => status(StatusCode::NOT_FOUND, "NotFound", &format!("nodes \"{name}\" not found")),
                }
            }),
        )
        .route(
            "/version",
            get(|State(api): State<Api>| async move {
                axum::Json(json!({"major": "1", "minor": "27", "gitVersion": api.version, "gitCommit": "4c9411232e10168d7b050c49a1b59f6df9d7ea4b",
                                  "gitTreeState": "clean", "buildDate": "2023-12-14T19:18:17Z", "goVersion": "go1.20.12",
                                  "compiler": "gc", "platform": "linux/amd64"}))
            }),
        )
        .route(
            "/apis",
            get(|| async {
                let group = |name: &str, v: &str| json!({"name": name, "versions": [{"groupVersion": format!("{name}/{v}"), "version": v}],
                                                        "preferredVersion": {"groupVersion": format!("{name}/{v}"), "version": v}});
                axum::Json(json!({"kind": "APIGroupList", "apiVersion": "v1",
                                  "groups": [group("apps", "v1"), group("autoscaling", "v2"), group("networking.k8s.io", "v1"),
                                             group("autoscaling.k8s.io", "v1")]}))
            }),
        )
        .route(
            "/apis/autoscaling/v2/horizontalpodautoscalers",
            simple("HorizontalPodAutoscalerList", "autoscaling/v2",
                   vec![hpa("web", "frontend", Some(2), 10), hpa("web", "api", None, 4)], "horizontalpodautoscalers"),
        )
        .route(
            "/apis/apps/v1/namespaces/kube-system/deployments",
            simple("DeploymentList", "apps/v1",
                   vec![named("Deployment", "apps/v1", Some("kube-system"), "coredns"),
                        named("Deployment", "apps/v1", Some("kube-system"), "cluster-autoscaler")], "deployments"),
        )
        .route(
            "/api/v1/namespaces",
            simple("NamespaceList", "v1",
                   ["default", "kube-node-lease", "kube-public", "kube-system", "web"].iter().map(|n| named("Namespace", "v1", None, n)).collect(),
                   "namespaces"),
        )
        .route(
            "/apis/networking.k8s.io/v1/networkpolicies",
            simple("NetworkPolicyList", "networking.k8s.io/v1",
                   vec![named("NetworkPolicy", "networking.k8s.io/v1", Some("web"), "default-deny"),
                        named("NetworkPolicy", "networking.k8s.io/v1", Some("web"), "allow-ingress"),
                        named("NetworkPolicy", "networking.k8s.io/v1", Some("kube-system"), "dns")],
                   "networkpolicies"),
        )
        .route(
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            simple("ClusterRoleBindingList", "rbac.authorization.k8s.io/v1",
                   vec![
                       binding("cluster-admin", "cluster-admin", json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:masters"}])),
                       binding("ops-admins", "cluster-admin", json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice@hospital.kr"},
                                                                     {"kind": "ServiceAccount", "name": "deployer", "namespace": "ci"}])),
                       binding("view-all", "view", json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "bob"}])),
                   ],
                   "clusterrolebindings"),
        )
        .with_state(api)
        .layer(axum::middleware::from_fn(logged));
    common::kube_api(TOKEN, routes)
}

/// Three nodes of a self-managed 1.27 cluster (past its end of support):
/// a Fargate-style virtual node that sorts first, the Ready control-plane
/// node "cp-1", a NotReady worker "a-worker" that sorts before it, and a
/// Ready worker "w-2".
fn cluster_nodes() -> Vec<Value> {
    vec![
        node(
            "a-fargate",
            "True",
            "v1.27.9-eks-5e0fdde",
            json!({"eks.amazonaws.com/compute-type": "fargate"}),
        ),
        node(
            "a-worker",
            "Unknown",
            "v1.27.9",
            json!({"kubernetes.io/hostname": "a-worker"}),
        ),
        node(
            "cp-1",
            "True",
            "v1.27.9",
            json!({"node-role.kubernetes.io/control-plane": ""}),
        ),
        node(
            "w-2",
            "True",
            "v1.26.15",
            json!({"kubernetes.io/hostname": "w-2"}),
        ),
    ]
}

async fn scan(api: &Api, me: &str, root: &Path, toml: &str) -> Vec<Evidence> {
    let config = Config::parse(toml, "agent.toml").unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), TOKEN).unwrap();
    let kube = KubernetesConfig {
        api_url: common::serve(stand_in(api.clone())).await,
        token_file: dir.path().join("token"),
        node_name: me.into(),
        ..KubernetesConfig::default()
    };
    ClusterProbe::new(config.probes.cluster, kube)
        .run(&common::ctx(root))
        .await
}

fn cluster(evidence: &[Evidence]) -> &Cluster {
    match common::observed(evidence) {
        Payload::Cluster(c) => c,
        other => panic!("wrong payload {other:?}"),
    }
}

const PAGED: &str = "[probes.cluster]\npage_size = 2\n";

/// A kubeadm control-plane node's files.
fn control_plane_root(root: &Path) {
    common::write(
        root,
        "etc/kubernetes/manifests/kube-apiserver.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  labels:\n    component: kube-apiserver\n    tier: control-plane\n  name: kube-apiserver\n  namespace: kube-system\nspec:\n  containers:\n  - command:\n    - kube-apiserver\n    - --advertise-address=10.0.0.10\n    - --allow-privileged=true\n    - --audit-log-maxage=30\n    - --audit-log-path=/var/log/kubernetes/audit/audit.log\n    - --audit-policy-file=/etc/kubernetes/audit/policy.yaml\n    - --authorization-mode=Node,RBAC\n    image: registry.k8s.io/kube-apiserver:v1.27.9\n    name: kube-apiserver\n    volumeMounts:\n    - mountPath: /etc/kubernetes/audit\n      name: audit\n      readOnly: true\n  hostNetwork: true\n  volumes:\n  - hostPath:\n      path: /etc/kubernetes/audit\n      type: DirectoryOrCreate\n    name: audit\n",
    );
    common::write(
        root,
        "etc/kubernetes/audit/policy.yaml",
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages:\n  - RequestReceived\nrules:\n  - level: None\n    users: [\"system:kube-proxy\"]\n  - level: RequestResponse\n    resources:\n    - group: \"\"\n      resources: [\"secrets\"]\n  - level: Metadata\n",
    );
}

#[tokio::test]
async fn the_first_ready_node_reports_the_cluster_paged_and_past_its_support() {
    let api = Api {
        nodes: cluster_nodes(),
        version: "v1.27.9".into(),
        forbidden: vec!["deployments"],
        ..Api::default()
    };
    let root = tempfile::tempdir().unwrap();
    control_plane_root(root.path());
    let ev = scan(&api, "cp-1", root.path(), PAGED).await;
    let c = cluster(&ev);
    assert_eq!(ev[0].subject, "kubernetes");
    // The Fargate node runs no agent and a-worker is not Ready: cp-1 reports.
    assert!(c.reporter);
    assert_eq!(c.reporter_node, "cp-1");

    let me = c.node.as_ref().unwrap();
    assert!(me.ready && me.control_plane);
    assert_eq!(me.container_runtime, "containerd://1.7.24");
    assert_eq!(me.os_image, "Debian GNU/Linux 12 (bookworm)");
    let kubelet = me.kubelet.as_ref().unwrap();
    assert_eq!(
        (kubelet.minor.as_str(), kubelet.end_of_support.as_str()),
        ("1.27", "2024-06-28")
    );
    assert!(
        kubelet.source.contains("kubernetes.io"),
        "{}",
        kubelet.source
    );

    let cp = c.control_plane.as_ref().unwrap();
    assert_eq!(
        (
            cp.version.as_str(),
            cp.end_of_support.as_str(),
            cp.error.as_str()
        ),
        ("v1.27.9", "2024-06-28", "")
    );

    // Four nodes at two a page: every page was read.
    let nodes = c.nodes.as_ref().unwrap();
    assert_eq!(
        (
            nodes.total,
            nodes.ready,
            nodes.control_plane,
            nodes.truncated
        ),
        (4, 3, 1, false)
    );
    let not_ready = nodes.nodes.iter().find(|n| n.name == "a-worker").unwrap();
    assert!(
        !not_ready.ready && not_ready.ready_reason.contains("NodeStatusUnknown"),
        "{}",
        not_ready.ready_reason
    );
    let eks = nodes.nodes.iter().find(|n| n.name == "a-fargate").unwrap();
    assert_eq!(
        eks.kubelet.as_ref().unwrap().distribution,
        "kubernetes",
        "EKS 1.27 is not in the table: upstream's date"
    );
    let seen = api.seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|u| u.starts_with("/api/v1/nodes?") && u.contains("continue=page-2")),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .all(|u| !u.starts_with("/api/v1/nodes?") || u.contains("limit=2")),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|u| u.contains("labelSelector=type%21%3Dvirtual-kubelet%2Ceks.amazonaws.com%2Fcompute-type%21%3Dfargate")),
        "{seen:?}"
    );

    // HPAs listed; the Deployments in kube-system refused: an error, never
    // "no node autoscaler".
    let a = c.autoscaling.as_ref().unwrap();
    assert_eq!(a.horizontal_total, 2);
    let api_hpa = a.horizontal.iter().find(|h| h.name == "api").unwrap();
    assert_eq!(
        (
            api_hpa.target.as_str(),
            api_hpa.min_replicas,
            api_hpa.max_replicas
        ),
        ("Deployment/api", 1, 4)
    );
    assert!(a.node_autoscalers.is_empty());
    assert!(
        a.node_autoscalers_error.contains("403") && a.node_autoscalers_error.contains("forbidden"),
        "{}",
        a.node_autoscalers_error
    );
    assert!(a.vertical && !a.karpenter);

    let p = c.network_policies.as_ref().unwrap();
    assert_eq!((p.namespaces, p.policies, p.truncated), (5, 3, false));
    assert_eq!(
        p.without_policy,
        vec!["default", "kube-node-lease", "kube-public"]
    );
    assert_eq!(p.without_policy_total, 3);

    let admins = c.admins.as_ref().unwrap();
    assert_eq!(admins.bindings.len(), 2);
    assert_eq!(
        admins.subjects,
        vec!["ServiceAccount:ci/deployer", "User:alice@hospital.kr"]
    );

    let audit = c.apiserver.as_ref().unwrap();
    assert_eq!(audit.error, "");
    assert_eq!(audit.policy_file, "/etc/kubernetes/audit/policy.yaml");
    assert_eq!(audit.log_path, "/var/log/kubernetes/audit/audit.log");
    assert_eq!(audit.log_max_age_days, 30);
    assert_eq!(audit.levels, vec!["None", "RequestResponse", "Metadata"]);
}

#[tokio::test]
async fn other_nodes_report_only_themselves() {
    let api = Api {
        nodes: cluster_nodes(),
        version: "v1.27.9".into(),
        ..Api::default()
    };
    let root = tempfile::tempdir().unwrap();
    let ev = scan(&api, "w-2", root.path(), PAGED).await;
    let c = cluster(&ev);
    assert!(!c.reporter);
    assert_eq!(c.reporter_node, "cp-1");
    let me = c.node.as_ref().unwrap();
    assert_eq!(me.kubelet.as_ref().unwrap().end_of_support, "2024-02-28");
    assert!(c.control_plane.is_none() && c.nodes.is_none() && c.autoscaling.is_none());
    assert!(c.network_policies.is_none() && c.admins.is_none() && c.apiserver.is_none());
    let seen = api.seen.lock().unwrap().clone();
    assert!(
        !seen
            .iter()
            .any(|u| u.contains("clusterrolebindings") || u.starts_with("/version")),
        "{seen:?}"
    );
}

#[tokio::test]
async fn refused_lists_caps_and_a_managed_control_plane() {
    // No control-plane node (a managed control plane); namespaces and
    // bindings refused; nodes capped at two.
    let mut nodes = cluster_nodes();
    nodes[2]["metadata"]["labels"] = json!({});
    let api = Api {
        nodes,
        version: "v1.35.1".into(),
        forbidden: vec!["namespaces", "clusterrolebindings"],
        ..Api::default()
    };
    let root = tempfile::tempdir().unwrap();
    let ev = scan(
        &api,
        "cp-1",
        root.path(),
        "[probes.cluster]\npage_size = 1\nmax_items = 2\n",
    )
    .await;
    let c = cluster(&ev);
    // The Table is capped too: the first two agent-running nodes are
    // a-worker (not Ready) and cp-1.
    assert!(c.reporter);
    let nodes = c.nodes.as_ref().unwrap();
    assert!(nodes.truncated);
    assert_eq!(nodes.total, 2);
    let cp = c.control_plane.as_ref().unwrap();
    assert_eq!(cp.end_of_support, "2027-02-28");
    let p = c.network_policies.as_ref().unwrap();
    assert!(p.error.contains("403"), "{}", p.error);
    assert!(p.without_policy.is_empty() && p.namespaces == 0);
    assert!(c.admins.as_ref().unwrap().error.contains("403"));
    // Two HPAs at a cap of two: exactly full is not cut.
    assert!(!c.autoscaling.as_ref().unwrap().horizontal_truncated);
    let audit = c.apiserver.as_ref().unwrap();
    assert!(audit.error.starts_with("not observable"), "{}", audit.error);
    assert_eq!(audit.policy_file, "");
}

#[tokio::test]
async fn without_the_node_or_the_token_the_probe_reports_an_error() {
    let api = Api {
        nodes: cluster_nodes(),
        version: "v1.27.9".into(),
        ..Api::default()
    };
    let root = tempfile::tempdir().unwrap();
    let ev = scan(&api, "gone", root.path(), "").await;
    assert!(
        common::is_error(&ev[0]) && ev[0].error.contains("404"),
        "{:?}",
        ev[0]
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "wrong").unwrap();
    let kube = KubernetesConfig {
        api_url: common::serve(stand_in(api)).await,
        token_file: dir.path().join("token"),
        node_name: "cp-1".into(),
        ..KubernetesConfig::default()
    };
    let ev = ClusterProbe::new(cluster::Config::default(), kube)
        .run(&common::ctx(root.path()))
        .await;
    assert!(
        common::is_error(&ev[0]) && ev[0].error.contains("401"),
        "{:?}",
        ev[0]
    );

    // Outside a cluster there is nothing to report.
    let outside = KubernetesConfig {
        api_url: String::new(),
        ..KubernetesConfig::default()
    };
    if std::env::var_os("KUBERNETES_SERVICE_HOST").is_none() {
        let ev = ClusterProbe::new(cluster::Config::default(), outside)
            .run(&common::ctx(root.path()))
            .await;
        assert!(ev.is_empty(), "{ev:?}");
    }
}

#[test]
fn bad_sections_are_config_errors_naming_the_field() {
    for (toml, field) in [
        (
            "[probes.cluster]\npage_size = 0\n",
            "probes.cluster.page_size",
        ),
        (
            "[probes.cluster]\nmax_items = 0\n",
            "probes.cluster.max_items",
        ),
        (
            "[probes.cluster]\napiserver_manifest = \"etc/x.yaml\"\n",
            "probes.cluster.apiserver_manifest",
        ),
        ("[probes.cluster]\nlimit = 3\n", "limit"),
    ] {
        let e = Config::parse(toml, "agent.toml").unwrap_err().to_string();
        assert!(e.contains(field), "{toml}: {e}");
    }
}

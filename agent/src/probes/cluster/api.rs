//! The cluster-wide parts, each from its own list (GETs, paged, capped).
//! A part whose list fails (a 403 where RBAC does not grant it, a timeout)
//! keeps its error beside the others, so one refused resource never reads
//! as "none found" and never hides the parts that could be read.

use super::support;
use crate::probes::kube::{self, KubeClient, List, Listed, Page};
use gamsa_proto::v1::{
    ClusterAdminBinding, ClusterAdmins, ClusterAutoscaling, ClusterNetworkPolicies, ClusterNode,
    ClusterNodes, HorizontalAutoscaler, KubeVersion,
};
use serde::Deserialize;
use std::collections::BTreeSet;

const JSON: &str = "application/json";

/// How much of the API the probe reads: entries per request and per list.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub page_size: u32,
    pub max_items: usize,
}

impl Bounds {
    async fn list<T: serde::de::DeserializeOwned>(
        &self,
        kube: &KubeClient,
        path: &str,
    ) -> Result<Listed<T>, String> {
        kube.list::<List<T>>(path, &[], JSON, self.page_size, self.max_items)
            .await
            .map_err(|e| e.to_string())
    }
}

/// This node as the API shows it.
pub fn node(n: &kube::Node) -> ClusterNode {
    let ready = n.status.conditions.iter().find(|c| c.kind == "Ready");
    let info = &n.status.node_info;
    let labels = &n.metadata.labels;
    ClusterNode {
        name: n.metadata.name.clone(),
        ready: ready.is_some_and(|c| c.status == "True"),
        ready_reason: match ready {
            None => "no Ready condition".into(),
            Some(c) if c.status == "True" => String::new(),
            Some(c) => format!("{} {}: {}", c.status, c.reason, c.message),
        },
        kubelet: Some(support::support(&info.kubelet_version)),
        kube_proxy_version: info.kube_proxy_version.clone(),
        container_runtime: info.container_runtime_version.clone(),
        os_image: info.os_image.clone(),
        kernel_version: info.kernel_version.clone(),
        control_plane: labels.contains_key("node-role.kubernetes.io/control-plane")
            || labels.contains_key("node-role.kubernetes.io/master"),
    }
}

/// Nodes where no agent of the DaemonSet runs: virtual kubelets (EKS
/// Fargate, virtual-kubelet providers). They never report, so they never
/// take the reporter's turn.
pub const AGENTLESS: &str = "type!=virtual-kubelet,eks.amazonaws.com/compute-type!=fargate";

/// A page of `GET /api/v1/nodes` asked as a Table (`Accept:
/// application/json;as=Table;v=v1;g=meta.k8s.io`): a name and a status
/// column per node, a few hundred bytes instead of the whole object, since
/// every agent asks it every run.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Table {
    #[serde(default)]
    metadata: kube::ListMeta,
    #[serde(default)]
    column_definitions: Vec<Column>,
    #[serde(default)]
    rows: Vec<Row>,
}

#[derive(Debug, Deserialize)]
struct Column {
    name: String,
}

#[derive(Debug, Deserialize)]
struct Row {
    #[serde(default)]
    cells: Vec<serde_json::Value>,
}

impl Page for Table {
    /// (name, Ready)
    type Item = (String, bool);
    fn take(self) -> (Vec<(String, bool)>, String) {
        let col = |n: &str| self.column_definitions.iter().position(|c| c.name == n);
        let (name, status) = (col("Name"), col("Status"));
        let rows = self
            .rows
            .iter()
            .filter_map(|r| {
                let cell = |i: Option<usize>| r.cells.get(i?)?.as_str().map(str::to_string);
                // "Ready", "NotReady", "Ready,SchedulingDisabled", "Unknown".
                let ready = cell(status)?.split(',').any(|s| s == "Ready");
                Some((cell(name)?, ready))
            })
            .collect();
        (rows, self.metadata.next)
    }
}

pub const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io, application/json";

/// The node whose agent reports the cluster-wide parts: among the Ready
/// nodes that run an agent, the name that sorts first. Every agent reads
/// the same list, so they agree without writing anything to the API.
pub async fn reporter(kube: &KubeClient, b: Bounds) -> Result<Option<String>, String> {
    let listed = kube
        .list::<Table>(
            "/api/v1/nodes",
            &[("labelSelector", AGENTLESS)],
            TABLE,
            b.page_size,
            b.max_items,
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(listed
        .items
        .into_iter()
        .filter(|(_, ready)| *ready)
        .map(|(name, _)| name)
        .min())
}

/// Every node, with its versions against the table.
pub async fn nodes(kube: &KubeClient, b: Bounds) -> ClusterNodes {
    match b.list::<kube::Node>(kube, "/api/v1/nodes").await {
        Ok(l) => {
            let nodes: Vec<ClusterNode> = l.items.iter().map(node).collect();
            ClusterNodes {
                total: nodes.len() as u32,
                ready: nodes.iter().filter(|n| n.ready).count() as u32,
                control_plane: nodes.iter().filter(|n| n.control_plane).count() as u32,
                truncated: l.truncated,
                nodes,
                error: String::new(),
            }
        }
        Err(error) => ClusterNodes {
            error,
            ..Default::default()
        },
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Version {
    git_version: String,
}

/// The control plane's version (`GET /version`).
pub async fn control_plane(kube: &KubeClient) -> KubeVersion {
    match kube.get::<Version>("/version").await {
        Ok(v) => support::support(&v.git_version),
        Err(e) => KubeVersion {
            error: e.to_string(),
            ..Default::default()
        },
    }
}

#[derive(Debug, Deserialize)]
struct Hpa {
    metadata: kube::ObjectMeta,
    #[serde(default)]
    spec: HpaSpec,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct HpaSpec {
    scale_target_ref: TargetRef,
    min_replicas: Option<u32>,
    max_replicas: u32,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TargetRef {
    kind: String,
    name: String,
}

#[derive(Debug, Deserialize)]
struct ApiGroupList {
    #[serde(default)]
    groups: Vec<ApiGroup>,
}

#[derive(Debug, Deserialize)]
struct ApiGroup {
    name: String,
}

/// HorizontalPodAutoscalers, node autoscalers in kube-system, and the
/// Karpenter and VerticalPodAutoscaler API groups.
pub async fn autoscaling(kube: &KubeClient, b: Bounds) -> ClusterAutoscaling {
    let mut out = ClusterAutoscaling::default();
    match b
        .list::<Hpa>(kube, "/apis/autoscaling/v2/horizontalpodautoscalers")
        .await
    {
        Ok(l) => {
            out.horizontal_total = l.items.len() as u32;
            out.horizontal_truncated = l.truncated;
            out.horizontal = l
                .items
                .into_iter()
                .map(|h| HorizontalAutoscaler {
                    namespace: h.metadata.namespace,
                    name: h.metadata.name,
                    target: format!(
                        "{}/{}",
                        h.spec.scale_target_ref.kind, h.spec.scale_target_ref.name
                    ),
                    // The API's default when unset.
                    min_replicas: h.spec.min_replicas.unwrap_or(1),
                    max_replicas: h.spec.max_replicas,
                })
                .collect();
        }
        Err(e) => out.horizontal_error = e,
    }
    match b
        .list::<Named>(kube, "/apis/apps/v1/namespaces/kube-system/deployments")
        .await
    {
        Ok(l) => {
            out.node_autoscalers = l
                .items
                .into_iter()
                .map(|d| d.metadata.name)
                .filter(|n| n.contains("cluster-autoscaler") || n.contains("karpenter"))
                .collect();
        }
        Err(e) => out.node_autoscalers_error = e,
    }
    match kube.get::<ApiGroupList>("/apis").await {
        Ok(g) => {
            out.karpenter = g.groups.iter().any(|g| g.name == "karpenter.sh");
            out.vertical = g.groups.iter().any(|g| g.name == "autoscaling.k8s.io");
        }
        Err(e) => out.api_groups_error = e.to_string(),
    }
    out
}

/// Any object, by its metadata alone.
#[derive(Debug, Deserialize)]
struct Named {
    metadata: kube::ObjectMeta,
}

/// Namespaces and the NetworkPolicies in each: those without any listed.
pub async fn network_policies(kube: &KubeClient, b: Bounds) -> ClusterNetworkPolicies {
    let mut out = ClusterNetworkPolicies::default();
    let (namespaces, policies) = match (
        b.list::<Named>(kube, "/api/v1/namespaces").await,
        b.list::<Named>(kube, "/apis/networking.k8s.io/v1/networkpolicies")
            .await,
    ) {
        (Ok(n), Ok(p)) => (n, p),
        (n, p) => {
            out.error = [n.err(), p.err()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join("; ");
            return out;
        }
    };
    let with: BTreeSet<&str> = policies
        .items
        .iter()
        .map(|p| p.metadata.namespace.as_str())
        .collect();
    let without: Vec<String> = namespaces
        .items
        .iter()
        .map(|n| n.metadata.name.clone())
        .filter(|n| !with.contains(n.as_str()))
        .collect();
    out.namespaces = namespaces.items.len() as u32;
    out.policies = policies.items.len() as u32;
    out.without_policy_total = without.len() as u32;
    out.without_policy = without;
    out.truncated = namespaces.truncated || policies.truncated;
    out
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Binding {
    metadata: kube::ObjectMeta,
    role_ref: RoleRef,
    #[serde(default)]
    subjects: Vec<Subject>,
}

#[derive(Debug, Deserialize)]
struct RoleRef {
    kind: String,
    name: String,
}

#[derive(Debug, Deserialize)]
struct Subject {
    kind: String,
    name: String,
    #[serde(default)]
    namespace: String,
}

/// ClusterRoleBindings to cluster-admin and whom they bind.
pub async fn admins(kube: &KubeClient, b: Bounds) -> ClusterAdmins {
    match b
        .list::<Binding>(
            kube,
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        )
        .await
    {
        Ok(l) => {
            let bindings: Vec<ClusterAdminBinding> = l
                .items
                .into_iter()
                .filter(|b| b.role_ref.kind == "ClusterRole" && b.role_ref.name == "cluster-admin")
                .map(|b| ClusterAdminBinding {
                    binding: b.metadata.name,
                    subjects: b
                        .subjects
                        .iter()
                        .map(|s| match s.kind.as_str() {
                            "ServiceAccount" => {
                                format!("ServiceAccount:{}/{}", s.namespace, s.name)
                            }
                            _ => format!("{}:{}", s.kind, s.name),
                        })
                        .collect(),
                })
                .collect();
            let subjects: BTreeSet<String> = bindings
                .iter()
                .flat_map(|b| b.subjects.iter())
                .filter(|s| {
                    !s.split_once(':')
                        .is_some_and(|(_, n)| n.starts_with("system:"))
                })
                .cloned()
                .collect();
            ClusterAdmins {
                bindings,
                subjects: subjects.into_iter().collect(),
                truncated: l.truncated,
                error: String::new(),
            }
        }
        Err(error) => ClusterAdmins {
            error,
            ..Default::default()
        },
    }
}

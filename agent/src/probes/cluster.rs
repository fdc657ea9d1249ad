//! `cluster`: the Kubernetes cluster this node belongs to, read-only.
//!
//! Seed 003 asks that clusters be kept within their support and that pods
//! and nodes scale with load; auditors also ask who administers a cluster,
//! whether its namespaces are isolated and whether its API is audited. The
//! probe reads what answers that and judges nothing (the collector's rules
//! do):
//!
//! - this node (`GET /api/v1/nodes/{name}`): Ready, the kubelet's version
//!   against the end-of-support table (`cluster/support.toml`), kube-proxy,
//!   container runtime, OS image and kernel, every agent;
//! - on a node holding the kube-apiserver static pod manifest (under the host
//!   root), the API server's audit settings (`cluster/audit.rs`);
//! - cluster-wide, from one agent only (`cluster/api.rs`): the control
//!   plane's version (`/version`), every node, HorizontalPodAutoscalers,
//!   node autoscalers (cluster-autoscaler, Karpenter) and the
//!   VerticalPodAutoscaler API, namespaces without a NetworkPolicy, and
//!   ClusterRoleBindings to cluster-admin.
//!
//! One agent per cluster reports the cluster-wide parts, or a cluster of
//! 1,000 nodes would send them 1,000 times: the agent on the Ready node
//! whose name sorts first (virtual nodes, which run no agent, left out).
//! Every agent reads the node list (as a Table: names and status only) and
//! so agrees on it without writing to the API; a Lease would need write
//! access, and the agent's access stays read-only. When that node's agent
//! is down, nobody reports the cluster-wide parts until the node is no
//! longer Ready, and the rules answer UNKNOWN for want of fresh evidence.
//!
//! Only GETs, each list paged (`limit`/`continue`) and capped at
//! `max_items`, a cut list marked `truncated`. A part the API refuses or
//! fails carries its error; without the node itself the probe reports
//! error evidence. Outside a cluster (no API) it reports nothing.

mod api;
pub mod audit;
mod support;

use super::kube::{KubeClient, KubernetesConfig};
use super::{Probe, ProbeContext, Section};
use gamsa_proto::v1::{evidence::Payload, ApiServerAudit, Cluster, Evidence};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Entries asked per request (`limit`).
    pub page_size: u32,
    /// Entries kept per list; a longer list is cut and marked.
    pub max_items: u32,
    /// The kube-apiserver static pod manifest, under the host root.
    pub apiserver_manifest: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Duration::from_secs(3600),
            page_size: 500,
            max_items: 5000,
            apiserver_manifest: "/etc/kubernetes/manifests/kube-apiserver.yaml".into(),
        }
    }
}

impl Section for Config {
    fn enabled(&self) -> bool {
        self.enabled
    }

    fn validate(&self) -> Result<(), String> {
        if self.page_size == 0 {
            return Err("page_size must be at least 1".into());
        }
        if self.max_items == 0 {
            return Err("max_items must be at least 1".into());
        }
        if !self.apiserver_manifest.starts_with('/') {
            return Err(format!(
                "apiserver_manifest '{}' is not an absolute path",
                self.apiserver_manifest
            ));
        }
        Ok(())
    }

    fn build(&self, config: &crate::config::Config) -> Arc<dyn Probe> {
        Arc::new(ClusterProbe::new(self.clone(), config.kubernetes.clone()))
    }
}

pub struct ClusterProbe {
    config: Config,
    kubernetes: KubernetesConfig,
}

impl ClusterProbe {
    pub fn new(config: Config, kubernetes: KubernetesConfig) -> Self {
        Self { config, kubernetes }
    }

    fn bounds(&self) -> api::Bounds {
        api::Bounds {
            page_size: self.config.page_size,
            max_items: self.config.max_items as usize,
        }
    }

    async fn observe(&self, ctx: &ProbeContext, kube: &KubeClient) -> Result<Cluster, String> {
        let me = kube.node().await.map_err(|e| e.to_string())?;
        let mut out = Cluster {
            node: Some(api::node(&me)),
            ..Default::default()
        };
        let root = ctx.host_root.clone();
        let manifest = self.config.apiserver_manifest.clone();
        out.apiserver = tokio::task::spawn_blocking(move || audit::observe(&root, &manifest))
            .await
            .map_err(|e| format!("probe task failed: {e}"))?;
        let b = self.bounds();
        let reporter = match api::reporter(kube, b).await {
            Ok(r) => r,
            Err(e) => {
                // Nobody can tell whose turn it is: report this node alone,
                // saying why the cluster-wide parts are missing.
                out.nodes = Some(gamsa_proto::v1::ClusterNodes {
                    error: e,
                    ..Default::default()
                });
                return Ok(out);
            }
        };
        out.reporter_node = reporter.clone().unwrap_or_default();
        out.reporter = reporter.as_deref() == Some(kube.node_name());
        if !out.reporter {
            return Ok(out);
        }
        let (control_plane, nodes, autoscaling, network_policies, admins) = tokio::join!(
            api::control_plane(kube),
            api::nodes(kube, b),
            api::autoscaling(kube, b),
            api::network_policies(kube, b),
            api::admins(kube, b),
        );
        if out.apiserver.is_none() && nodes.error.is_empty() && nodes.control_plane == 0 {
            out.apiserver = Some(ApiServerAudit {
                error: "not observable: no node of the cluster is a control-plane node (a \
                        managed control plane); the provider's audit logging shows it"
                    .into(),
                ..Default::default()
            });
        }
        out.control_plane = Some(control_plane);
        out.nodes = Some(nodes);
        out.autoscaling = Some(autoscaling);
        out.network_policies = Some(network_policies);
        out.admins = Some(admins);
        Ok(out)
    }
}

#[async_trait::async_trait]
impl Probe for ClusterProbe {
    fn name(&self) -> &'static str {
        "cluster"
    }

    fn interval(&self) -> Duration {
        self.config.interval
    }

    async fn run(&self, ctx: &ProbeContext) -> Vec<Evidence> {
        const SUBJECT: &str = "kubernetes";
        let kube = match KubeClient::new(&self.kubernetes) {
            Ok(Some(k)) => k,
            // Not in a cluster: nothing to report.
            Ok(None) => return vec![],
            Err(e) => return vec![ctx.error("cluster", SUBJECT, e)],
        };
        vec![match self.observe(ctx, &kube).await {
            Ok(c) => ctx.observed("cluster", SUBJECT, Payload::Cluster(c)),
            Err(e) => ctx.error("cluster", SUBJECT, e),
        }]
    }
}

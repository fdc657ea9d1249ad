//! `redundancy`: how this host is attached to the network, for the
//! "redundant network" checklist rows: active physical uplinks, bonds and
//! their live slaves, default routes (several, or equal-cost multipath),
//! DNS resolvers, whether a VRRP daemon runs, and the zone.
//!
//! Everything is read under the host root, so a DaemonSet sees the node:
//! `/sys/class/net` ([`links`] says which interfaces count as uplinks and
//! why the others do not), `/proc/net/bonding` ([`bonding`]),
//! `/proc/net/route` and `/proc/net/ipv6_route` ([`routes`]),
//! `/etc/resolv.conf` ([`resolvers`]) and the process names (VRRP). Where
//! the agent shares the host's network namespace, [`netlink`] replaces the
//! procfs routes with the kernel's full answer (every IPv4 multipath next
//! hop, dead next hops left out) and adds addresses. The zone is
//! the configured one, else the `zone` label, else this node's
//! `topology.kubernetes.io/zone` label in Kubernetes; the collector
//! prefers the region probe's zone anyway. When sysfs or the route table
//! cannot be read the evidence is an error: no uplinks seen is not the
//! same as none present.

mod bonding;
mod links;
mod netlink;
mod resolvers;
mod routes;

use super::kube::{self, KubeClient, KubernetesConfig};
use super::{Probe, ProbeContext, Section};
use gamsa_proto::v1::{evidence::Payload, Evidence, NetworkRedundancy};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

const NAME: &str = "redundancy";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// This host's zone (availability zone, data hall). Empty: the `zone`
    /// label, else the Kubernetes node's zone label.
    pub zone: String,
    /// Process names (the kernel's 15-byte `comm`) of VRRP daemons.
    pub vrrp_processes: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Duration::from_secs(3600),
            zone: String::new(),
            vrrp_processes: vec!["keepalived".into(), "vrrpd".into(), "ucarp".into()],
        }
    }
}

impl Section for Config {
    fn enabled(&self) -> bool {
        self.enabled
    }

    fn build(&self, config: &crate::config::Config) -> Arc<dyn Probe> {
        Arc::new(RedundancyProbe::new(
            self.clone(),
            config.kubernetes.clone(),
        ))
    }
}

pub struct RedundancyProbe {
    config: Config,
    kubernetes: KubernetesConfig,
}

impl RedundancyProbe {
    pub fn new(config: Config, kubernetes: KubernetesConfig) -> Self {
        Self { config, kubernetes }
    }

    /// The zone and where it came from.
    async fn zone(&self, ctx: &ProbeContext) -> (String, &'static str) {
        if !self.config.zone.is_empty() {
            return (self.config.zone.clone(), "config");
        }
        if let Some(z) = ctx.labels.get("zone").filter(|z| !z.is_empty()) {
            return (z.clone(), "label");
        }
        let node = match KubeClient::new(&self.kubernetes) {
            Ok(Some(client)) => client.node().await.map_err(|e| e.to_string()),
            Ok(None) => return (String::new(), ""),
            Err(e) => Err(e.to_string()),
        };
        match node.map(|n| n.metadata.labels.get(kube::ZONE_LABEL).cloned()) {
            Ok(Some(z)) if !z.is_empty() => (z, "kubernetes"),
            Ok(_) => (String::new(), ""),
            Err(e) => {
                tracing::warn!(error = %e, "redundancy: node zone label not read");
                (String::new(), "")
            }
        }
    }
}

/// What the files under the host root say.
struct Files {
    links: links::Links,
    bonds: Vec<gamsa_proto::v1::Bond>,
    /// Default routes, IPv4 then IPv6.
    routes: Vec<gamsa_proto::v1::Route>,
    resolvers: (Vec<String>, String),
    vrrp: Vec<String>,
}

fn read_files(ctx: &ProbeContext, vrrp_names: &[String]) -> Result<Files, String> {
    let names = super::procs::names(ctx).map_err(|e| format!("cannot list processes: {e}"))?;
    Ok(Files {
        links: links::read(&ctx.host_path("/sys/class/net"))?,
        bonds: bonding::read(&ctx.host_path("/proc/net/bonding"))?,
        routes: [
            routes::read_v4(&ctx.host_path("/proc/net/route"))?,
            routes::read_v6(&ctx.host_path("/proc/net/ipv6_route"))?,
        ]
        .concat(),
        resolvers: resolvers::read_host(&ctx.host_root)?,
        vrrp: vrrp_names
            .iter()
            .filter(|n| names.contains(n.as_str()))
            .cloned()
            .collect(),
    })
}

async fn observe(ctx: &ProbeContext, config: &Config) -> Result<NetworkRedundancy, String> {
    let (c, vrrp_names) = (ctx.clone(), config.vrrp_processes.clone());
    let mut files = tokio::task::spawn_blocking(move || read_files(&c, &vrrp_names))
        .await
        .map_err(|e| format!("probe task failed: {e}"))??;
    if netlink::same_namespace(&ctx.host_path("/proc/self/ns/net")) {
        let names: HashMap<u32, String> = files
            .links
            .links
            .iter()
            .map(|l| (l.index, l.iface.name.clone()))
            .collect();
        match netlink::read(&names).await {
            Ok(view) => {
                files.routes = view.defaults;
                for l in &mut files.links.links {
                    l.iface.addresses = view.addresses.get(&l.index).cloned().unwrap_or_default();
                }
            }
            Err(e) => tracing::warn!(error = %e, "redundancy: only procfs routes reported"),
        }
    }
    links::apply_bonds(&mut files.links, &files.bonds);
    let default_routes = routes::normalise(files.routes);
    let interfaces: Vec<_> = files.links.links.into_iter().map(|l| l.iface).collect();
    Ok(NetworkRedundancy {
        active_uplinks: interfaces
            .iter()
            .filter(|i| i.excluded_because.is_empty())
            .cloned()
            .collect(),
        bonds: files.bonds,
        ecmp: routes::equal_cost(&default_routes),
        default_routes,
        resolvers: files.resolvers.0,
        resolvers_source: files.resolvers.1,
        zone: String::new(),
        zone_source: String::new(),
        vrrp_present: !files.vrrp.is_empty(),
        vrrp_processes: files.vrrp,
        interfaces,
        container_interfaces: files.links.container_interfaces,
    })
}

#[async_trait::async_trait]
impl Probe for RedundancyProbe {
    fn name(&self) -> &'static str {
        NAME
    }

    fn interval(&self) -> Duration {
        self.config.interval
    }

    async fn run(&self, ctx: &ProbeContext) -> Vec<Evidence> {
        vec![match observe(ctx, &self.config).await {
            Ok(mut r) => {
                let (zone, source) = self.zone(ctx).await;
                r.zone = zone;
                r.zone_source = source.into();
                ctx.observed(NAME, &ctx.host, Payload::NetworkRedundancy(r))
            }
            Err(why) => ctx.error(NAME, &ctx.host, why),
        }]
    }
}

//! Reading the Kubernetes API from inside a cluster, for the probes that
//! need it: the node's topology labels (region, redundancy), Velero backups
//! and CronJob status (backup), the cluster's nodes, autoscalers, network
//! policies and bindings (cluster).
//!
//! Only GETs, with the pod's service-account token, re-read on every request
//! because bound tokens rotate. Outside a cluster (no `api_url` and no
//! `KUBERNETES_SERVICE_HOST`) there is no client and those sources are off.

use super::http::{self, FetchError};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KubernetesConfig {
    /// API base URL. Empty: in-cluster, from `KUBERNETES_SERVICE_HOST` and
    /// `KUBERNETES_SERVICE_PORT`.
    pub api_url: String,
    /// Bearer token file; a missing file sends no token.
    pub token_file: PathBuf,
    /// CA certificates (PEM) trusted for an https `api_url`; nothing else is.
    pub ca_file: PathBuf,
    /// This node's name. Empty: `NODE_NAME`.
    pub node_name: String,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for KubernetesConfig {
    fn default() -> Self {
        let sa = PathBuf::from("/var/run/secrets/kubernetes.io/serviceaccount");
        Self {
            api_url: String::new(),
            token_file: sa.join("token"),
            ca_file: sa.join("ca.crt"),
            node_name: String::new(),
            timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("reading {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not a usable CA certificate: {source}")]
    Ca {
        path: String,
        source: reqwest::Error,
    },
    #[error("building the Kubernetes API client: {0}")]
    Client(reqwest::Error),
    #[error("no node name: set kubernetes.node_name or NODE_NAME")]
    NoNodeName,
    #[error(transparent)]
    Fetch(#[from] FetchError),
}

pub struct KubeClient {
    base: String,
    token_file: PathBuf,
    node_name: String,
    http: reqwest::Client,
}

/// The parts of a Kubernetes object's metadata the probes read.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ObjectMeta {
    pub name: String,
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
}

/// `GET /api/v1/nodes/{name}`, reduced to what the probes read.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Node {
    pub metadata: ObjectMeta,
    pub spec: NodeSpec,
    pub status: NodeStatus,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NodeStatus {
    pub conditions: Vec<NodeCondition>,
    pub node_info: NodeInfo,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NodeCondition {
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    pub reason: String,
    pub message: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NodeInfo {
    pub kubelet_version: String,
    pub kube_proxy_version: String,
    pub container_runtime_version: String,
    pub os_image: String,
    pub kernel_version: String,
}

/// One page of a list answer: its entries and the `continue` token of the
/// next page ("" on the last).
pub trait Page: DeserializeOwned {
    type Item;
    fn take(self) -> (Vec<Self::Item>, String);
}

/// The `metadata` of a list answer.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListMeta {
    #[serde(rename = "continue")]
    pub next: String,
}

/// A list of objects (`NodeList`, `NamespaceList`, ...).
#[derive(Debug, Deserialize)]
#[serde(bound = "T: DeserializeOwned")]
pub struct List<T> {
    #[serde(default)]
    pub metadata: ListMeta,
    #[serde(default = "Vec::new")]
    pub items: Vec<T>,
}

impl<T: DeserializeOwned> Page for List<T> {
    type Item = T;
    fn take(self) -> (Vec<T>, String) {
        (self.items, self.metadata.next)
    }
}

/// What a bounded list read: at most its cap of entries, and whether more
/// were left unread.
#[derive(Debug)]
pub struct Listed<T> {
    pub items: Vec<T>,
    pub truncated: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NodeSpec {
    /// "aws:///ap-northeast-2a/i-0abc", "gce://project/zone/name", ...
    #[serde(rename = "providerID")]
    pub provider_id: String,
}

pub const REGION_LABEL: &str = "topology.kubernetes.io/region";
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

impl KubeClient {
    /// The client for `config`; `None` outside a cluster.
    pub fn new(config: &KubernetesConfig) -> Result<Option<Self>, KubeError> {
        let base = if !config.api_url.is_empty() {
            config.api_url.trim_end_matches('/').to_string()
        } else {
            match (
                std::env::var("KUBERNETES_SERVICE_HOST"),
                std::env::var("KUBERNETES_SERVICE_PORT"),
            ) {
                (Ok(host), Ok(port)) if !host.is_empty() => {
                    let host = if host.contains(':') {
                        format!("[{host}]")
                    } else {
                        host
                    };
                    format!("https://{host}:{port}")
                }
                _ => return Ok(None),
            }
        };
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .no_proxy();
        if base.starts_with("https://") {
            let pem = std::fs::read(&config.ca_file).map_err(|source| KubeError::File {
                path: config.ca_file.display().to_string(),
                source,
            })?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|source| KubeError::Ca {
                    path: config.ca_file.display().to_string(),
                    source,
                })?;
            builder = builder.tls_built_in_root_certs(false);
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        let node_name = if config.node_name.is_empty() {
            std::env::var("NODE_NAME").unwrap_or_default()
        } else {
            config.node_name.clone()
        };
        Ok(Some(Self {
            base,
            token_file: config.token_file.clone(),
            node_name,
            http: builder.build().map_err(KubeError::Client)?,
        }))
    }

    /// GETs `path` (e.g. "/api/v1/nodes/n1") and parses the JSON answer.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, KubeError> {
        self.get_as(path, &[], "application/json").await
    }

    /// GETs `path` with `query` parameters, asking for `accept` (a Table,
    /// say), and parses the JSON answer.
    pub async fn get_as<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        accept: &str,
    ) -> Result<T, KubeError> {
        let mut req = self
            .http
            .get(format!("{}{path}", self.base))
            .query(query)
            .header("Accept", accept);
        match super::read_bounded(&self.token_file, 64 * 1024) {
            Ok(token) => req = req.bearer_auth(token.trim()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(KubeError::File {
                    path: self.token_file.display().to_string(),
                    source,
                })
            }
        }
        Ok(http::send(req, http::BODY_LIMIT).await?.json()?)
    }

    /// Lists `path` a page of `page_size` at a time (`limit`, then each
    /// answer's `continue` token), keeping at most `cap` entries: a list cut
    /// there says so (`truncated`) rather than pass for the whole.
    pub async fn list<P: Page>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        accept: &str,
        page_size: u32,
        cap: usize,
    ) -> Result<Listed<P::Item>, KubeError> {
        let limit = page_size.max(1).to_string();
        let mut items = Vec::new();
        let mut next = String::new();
        loop {
            let mut q: Vec<(&str, &str)> = query.to_vec();
            q.push(("limit", &limit));
            if !next.is_empty() {
                q.push(("continue", &next));
            }
            let (page, token) = self.get_as::<P>(path, &q, accept).await?.take();
            items.extend(page);
            if items.len() > cap || (items.len() == cap && !token.is_empty()) {
                items.truncate(cap);
                return Ok(Listed {
                    items,
                    truncated: true,
                });
            }
            if token.is_empty() {
                return Ok(Listed {
                    items,
                    truncated: false,
                });
            }
            next = token;
        }
    }

    /// This node's name ("" when neither configured nor in `NODE_NAME`).
    pub fn node_name(&self) -> &str {
        &self.node_name
    }

    /// This node's object.
    pub async fn node(&self) -> Result<Node, KubeError> {
        if self.node_name.is_empty() {
            return Err(KubeError::NoNodeName);
        }
        self.get(&format!("/api/v1/nodes/{}", self.node_name)).await
    }
}

//! `region`: where this host runs: provider, region, zone and country.
//!
//! Certification asks that health and personal data stay in Korea, so the
//! country must come from the platform, not from what someone typed. The
//! probe asks each platform's instance metadata service the way its provider
//! documents it, all at once with a short connect timeout so that a host
//! with no metadata service answers quickly:
//!
//! - AWS IMDSv2 (a session token from `PUT /latest/api/token`, then
//!   `placement/region`, `placement/availability-zone`, `instance-id`);
//! - GCP (`Metadata-Flavor: Google`, `instance/zone`, `instance/id`);
//! - Azure IMDS (`Metadata: true`, `compute.location`, `compute.zone`);
//! - OpenStack (`/openstack/latest/meta_data.json`, `availability_zone`),
//!   which NHN Cloud and KT Cloud (D platform) run; their zones are mapped
//!   in `regions.toml`. NAVER Cloud has no metadata service read here: use
//!   the static location or the Kubernetes node labels (NKS);
//! - in Kubernetes, the node's `topology.kubernetes.io/region|zone` labels.
//!
//! Platform metadata wins over node labels. On premises, a static location
//! in the config replaces all of it. Countries come from `regions.toml`, a
//! data file people review; an unknown region has an empty country.

use super::http::{self, FetchError};
use super::kube::{self, KubeClient, KubernetesConfig};
use super::{Probe, ProbeContext, Section};
use gamsa_proto::v1::{evidence::Payload, CloudRegion, Evidence};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// A fixed location (on premises); when set, nothing is asked.
    #[serde(rename = "static")]
    pub fixed: Option<StaticRegion>,
    /// Metadata service base URLs; an empty one is not asked.
    pub aws_url: String,
    pub gcp_url: String,
    pub azure_url: String,
    pub openstack_url: String,
    /// Also read this node's topology labels when running in Kubernetes.
    pub kubernetes: bool,
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Longest wait for one service's whole answer.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StaticRegion {
    pub provider: String,
    pub region: String,
    pub zone: String,
    /// ISO 3166-1 alpha-2; empty: looked up from the region.
    pub country: String,
}

/// Largest metadata answer read: real ones are a few KiB, and a service
/// that sends more (or never stops) must not cost the agent its memory.
const METADATA_LIMIT: usize = 1024 * 1024;

/// The link-local address every supported provider serves metadata on.
const METADATA: &str = "http://169.254.169.254";

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Duration::from_secs(3600),
            fixed: None,
            aws_url: METADATA.into(),
            gcp_url: METADATA.into(),
            azure_url: METADATA.into(),
            openstack_url: METADATA.into(),
            kubernetes: true,
            connect_timeout: Duration::from_millis(300),
            timeout: Duration::from_secs(2),
        }
    }
}

/// True for a two-capital-letter country code.
pub fn is_country(code: &str) -> bool {
    code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase())
}

/// `regions.toml`: per provider, region code → country; and OpenStack
/// zones → (provider, region).
#[derive(Debug, Default, Deserialize)]
pub struct RegionTable {
    #[serde(default)]
    pub openstack_zones: BTreeMap<String, OpenStackZone>,
    #[serde(flatten)]
    pub countries: BTreeMap<String, BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenStackZone {
    pub provider: String,
    pub region: String,
}

pub const REGIONS_TOML: &str = include_str!("regions.toml");

pub fn parse_table(text: &str) -> Result<RegionTable, toml::de::Error> {
    toml::from_str(text)
}

/// The compiled-in table (a unit test proves it parses).
static TABLE: LazyLock<RegionTable> =
    LazyLock::new(|| parse_table(REGIONS_TOML).unwrap_or_default());

impl RegionTable {
    /// The country of `region` at `provider`; with no provider, the country
    /// if every provider that has such a region agrees on it.
    pub fn country(&self, provider: &str, region: &str) -> Option<String> {
        if region.is_empty() {
            return None;
        }
        if let Some(regions) = self.countries.get(provider) {
            return regions.get(region).cloned();
        }
        let mut found = self.countries.values().filter_map(|r| r.get(region));
        let first = found.next()?;
        found.all(|c| c == first).then(|| first.clone())
    }
}

/// The country of a region, from `regions.toml` (also used for backups).
pub fn country_of(provider: &str, region: &str) -> Option<String> {
    TABLE.country(provider, region)
}

#[derive(Debug, Deserialize)]
struct AzureInstance {
    compute: AzureCompute,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AzureCompute {
    location: String,
    #[serde(default)]
    zone: String,
    #[serde(default)]
    vm_id: String,
}

#[derive(Debug, Deserialize)]
struct OpenStackMeta {
    #[serde(default)]
    availability_zone: String,
    #[serde(default)]
    uuid: String,
}

fn located(provider: &str, region: &str, zone: &str, source: &str, id: &str) -> CloudRegion {
    CloudRegion {
        provider: provider.into(),
        region: region.into(),
        zone: zone.into(),
        country: String::new(),
        source: source.into(),
        instance_id: id.into(),
    }
}

async fn aws(client: &reqwest::Client, base: &str) -> Result<CloudRegion, FetchError> {
    let token = http::send(
        client
            .put(format!("{base}/latest/api/token"))
            .header("X-aws-ec2-metadata-token-ttl-seconds", "60"),
        4096,
    )
    .await?
    .text();
    let get = |path: &str| {
        http::send(
            client
                .get(format!("{base}/latest/meta-data/{path}"))
                .header("X-aws-ec2-metadata-token", &token),
            4096,
        )
    };
    let (region, zone, id) = tokio::try_join!(
        get("placement/region"),
        get("placement/availability-zone"),
        get("instance-id")
    )?;
    Ok(located(
        "aws",
        &region.text(),
        &zone.text(),
        "aws-imds",
        &id.text(),
    ))
}

async fn gcp(client: &reqwest::Client, base: &str) -> Result<CloudRegion, String> {
    let get = |path: &str| {
        http::send(
            client
                .get(format!("{base}/computeMetadata/v1/instance/{path}"))
                .header("Metadata-Flavor", "Google"),
            4096,
        )
    };
    let (zone, id) = tokio::try_join!(get("zone"), get("id")).map_err(|e| e.to_string())?;
    if zone
        .headers
        .get("metadata-flavor")
        .and_then(|v| v.to_str().ok())
        != Some("Google")
    {
        return Err(format!(
            "{}: answer lacks Metadata-Flavor: Google",
            zone.url
        ));
    }
    // "projects/123456789/zones/asia-northeast3-a"
    let text = zone.text();
    let zone_name = text.rsplit('/').next().unwrap_or_default();
    let region = zone_name
        .rsplit_once('-')
        .map(|(r, _)| r)
        .ok_or_else(|| format!("{}: unexpected zone {text:?}", zone.url))?;
    Ok(located(
        "gcp",
        region,
        zone_name,
        "gcp-metadata",
        &id.text(),
    ))
}

async fn azure(client: &reqwest::Client, base: &str) -> Result<CloudRegion, FetchError> {
    let resp = http::send(
        client
            .get(format!("{base}/metadata/instance?api-version=2021-02-01"))
            .header("Metadata", "true"),
        METADATA_LIMIT,
    )
    .await?;
    let c = resp.json::<AzureInstance>()?.compute;
    Ok(located(
        "azure",
        &c.location,
        &c.zone,
        "azure-imds",
        &c.vm_id,
    ))
}

async fn openstack(client: &reqwest::Client, base: &str) -> Result<CloudRegion, String> {
    let resp = http::send(
        client.get(format!("{base}/openstack/latest/meta_data.json")),
        METADATA_LIMIT,
    )
    .await
    .map_err(|e| e.to_string())?;
    let meta: OpenStackMeta = resp.json().map_err(|e| e.to_string())?;
    if meta.availability_zone.is_empty() {
        return Err(format!("{}: no availability_zone", resp.url));
    }
    let zone = &meta.availability_zone;
    Ok(match TABLE.openstack_zones.get(zone) {
        Some(z) => located(&z.provider, &z.region, zone, "openstack", &meta.uuid),
        None => located("openstack", "", zone, "openstack", &meta.uuid),
    })
}

/// The provider a node's `spec.providerID` names ("aws:///...", "gce://...").
fn provider_of(provider_id: &str) -> &'static str {
    match provider_id.split_once("://").map(|(s, _)| s) {
        Some("aws") => "aws",
        Some("gce") => "gcp",
        Some("azure") => "azure",
        Some("openstack") => "openstack",
        _ => "",
    }
}

async fn kubernetes(config: &KubernetesConfig) -> Result<CloudRegion, String> {
    let client = KubeClient::new(config)
        .map_err(|e| e.to_string())?
        .ok_or("not running in a cluster")?;
    let node = client.node().await.map_err(|e| e.to_string())?;
    let label = |k: &str| node.metadata.labels.get(k).cloned().unwrap_or_default();
    let (region, zone) = (label(kube::REGION_LABEL), label(kube::ZONE_LABEL));
    if region.is_empty() && zone.is_empty() {
        return Err(format!(
            "node {} has no {} or {} label",
            node.metadata.name,
            kube::REGION_LABEL,
            kube::ZONE_LABEL
        ));
    }
    let provider = provider_of(&node.spec.provider_id);
    Ok(located(
        provider,
        &region,
        &zone,
        "kubernetes",
        &node.spec.provider_id,
    ))
}

/// `source` when it is switched on.
async fn when(
    on: bool,
    source: impl std::future::Future<Output = Result<CloudRegion, String>>,
) -> Result<CloudRegion, String> {
    if on {
        source.await
    } else {
        Err("switched off".into())
    }
}

impl Section for Config {
    fn enabled(&self) -> bool {
        self.enabled
    }

    fn validate(&self) -> Result<(), String> {
        match &self.fixed {
            Some(s) if !s.country.is_empty() && !is_country(&s.country) => Err(format!(
                "static.country {:?}: expected an ISO 3166-1 alpha-2 code like \"KR\"",
                s.country
            )),
            _ => Ok(()),
        }
    }

    fn build(&self, config: &crate::config::Config) -> Arc<dyn Probe> {
        Arc::new(RegionProbe::new(self.clone(), config.kubernetes.clone()))
    }
}

pub struct RegionProbe {
    config: Config,
    kubernetes: KubernetesConfig,
}

impl RegionProbe {
    pub fn new(config: Config, kubernetes: KubernetesConfig) -> Self {
        Self { config, kubernetes }
    }

    /// Every source at once; the first in priority order that answered, or
    /// every source's reason.
    async fn locate(&self) -> Result<CloudRegion, String> {
        if let Some(s) = &self.config.fixed {
            let mut r = located(&s.provider, &s.region, &s.zone, "static", "");
            r.country = s.country.clone();
            return Ok(r);
        }
        let c = &self.config;
        let client = reqwest::Client::builder()
            .connect_timeout(c.connect_timeout)
            .timeout(c.timeout)
            .no_proxy()
            .build()
            .map_err(|e| format!("building the HTTP client: {e}"))?;
        let (a, g, z, o, k) = tokio::join!(
            when(!c.aws_url.is_empty(), async {
                aws(&client, &c.aws_url).await.map_err(|e| e.to_string())
            }),
            when(!c.gcp_url.is_empty(), gcp(&client, &c.gcp_url)),
            when(!c.azure_url.is_empty(), async {
                azure(&client, &c.azure_url)
                    .await
                    .map_err(|e| e.to_string())
            }),
            when(
                !c.openstack_url.is_empty(),
                openstack(&client, &c.openstack_url)
            ),
            when(c.kubernetes, kubernetes(&self.kubernetes)),
        );
        let mut reasons = Vec::new();
        for (source, result) in [
            ("aws-imds", a),
            ("gcp-metadata", g),
            ("azure-imds", z),
            ("openstack", o),
            ("kubernetes", k),
        ] {
            match result {
                Ok(r) => return Ok(r),
                Err(why) => reasons.push(format!("{source}: {why}")),
            }
        }
        Err(format!(
            "no cloud metadata service answered ({})",
            reasons.join("; ")
        ))
    }
}

#[async_trait::async_trait]
impl Probe for RegionProbe {
    fn name(&self) -> &'static str {
        "region"
    }

    fn interval(&self) -> Duration {
        self.config.interval
    }

    async fn run(&self, ctx: &ProbeContext) -> Vec<Evidence> {
        vec![match self.locate().await {
            Ok(mut r) => {
                if r.country.is_empty() {
                    r.country = country_of(&r.provider, &r.region).unwrap_or_default();
                }
                ctx.observed("region", &ctx.host, Payload::CloudRegion(r))
            }
            Err(why) => ctx.error("region", &ctx.host, why),
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_table_parses_and_every_country_is_a_code() {
        let t = parse_table(REGIONS_TOML).expect("regions.toml");
        for (provider, regions) in &t.countries {
            for (region, country) in regions {
                assert!(is_country(country), "{provider}.{region} = {country:?}");
            }
        }
        for (zone, z) in &t.openstack_zones {
            assert!(
                t.countries
                    .get(&z.provider)
                    .is_some_and(|r| r.contains_key(&z.region)),
                "openstack zone {zone}: {}.{} is not in the table",
                z.provider,
                z.region
            );
        }
        for (provider, least) in [("aws", 35), ("gcp", 40), ("azure", 60)] {
            assert!(t.countries[provider].len() >= least, "{provider}");
        }
        assert_eq!(t.country("aws", "ap-northeast-2").as_deref(), Some("KR"));
        assert_eq!(t.country("gcp", "asia-northeast3").as_deref(), Some("KR"));
        assert_eq!(t.country("azure", "koreasouth").as_deref(), Some("KR"));
        assert_eq!(t.country("ncp", "KR").as_deref(), Some("KR"));
        assert_eq!(
            t.country("aws", "asia-northeast3"),
            None,
            "providers differ"
        );
        // Unknown provider: unique across providers, else unknown.
        assert_eq!(t.country("", "koreacentral").as_deref(), Some("KR"));
        assert_eq!(t.country("", "atlantis-1"), None);
    }

    #[test]
    fn provider_ids_name_providers() {
        assert_eq!(provider_of("aws:///ap-northeast-2a/i-0abc"), "aws");
        assert_eq!(provider_of("gce://proj/asia-northeast3-a/node"), "gcp");
        assert_eq!(provider_of("kind://docker/kind/kind-control-plane"), "");
        assert_eq!(provider_of(""), "");
    }
}

//! region against loopback HTTP servers that answer exactly as each
//! provider's metadata service documents (headers required, tokens checked,
//! real response shapes), and a Kubernetes API stand-in.

mod common;

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, put};
use axum::Router;
use gamsa_agent::probes::kube::KubernetesConfig;
use gamsa_agent::probes::region::{self, RegionProbe, StaticRegion};
use gamsa_agent::probes::Probe;
use gamsa_proto::v1::{evidence::Payload, CloudRegion};
use std::time::{Duration, Instant};

const AWS_TOKEN: &str = "AQAEAFd2-test-session-token==";

/// EC2 IMDSv2: a session token from PUT (TTL header required), then GETs
/// carrying it; without it, 401 as when IMDSv2 is required.
fn aws_imds() -> Router {
    let token = put(|h: HeaderMap| async move {
        match h.get("x-aws-ec2-metadata-token-ttl-seconds") {
            Some(_) => (StatusCode::OK, AWS_TOKEN).into_response(),
            None => StatusCode::BAD_REQUEST.into_response(),
        }
    });
    let meta = |value: &'static str| {
        get(move |h: HeaderMap| async move {
            if h.get("x-aws-ec2-metadata-token")
                .and_then(|v| v.to_str().ok())
                != Some(AWS_TOKEN)
            {
                return StatusCode::UNAUTHORIZED.into_response();
            }
            value.into_response()
        })
    };
    Router::new()
        .route("/latest/api/token", token)
        .route("/latest/meta-data/placement/region", meta("ap-northeast-2"))
        .route(
            "/latest/meta-data/placement/availability-zone",
            meta("ap-northeast-2a"),
        )
        .route("/latest/meta-data/instance-id", meta("i-0123456789abcdef0"))
}

/// GCE metadata: `Metadata-Flavor: Google` required and echoed.
fn gcp_metadata() -> Router {
    let meta = |value: &'static str| {
        get(move |h: HeaderMap| async move {
            if h.get("metadata-flavor").and_then(|v| v.to_str().ok()) != Some("Google") {
                return (
                    StatusCode::FORBIDDEN,
                    "Missing required header: Metadata-Flavor",
                )
                    .into_response();
            }
            (
                [
                    ("Metadata-Flavor", "Google"),
                    ("Content-Type", "application/text"),
                ],
                value,
            )
                .into_response()
        })
    };
    Router::new()
        .route(
            "/computeMetadata/v1/instance/zone",
            meta("projects/123456789012/zones/asia-northeast3-a"),
        )
        .route(
            "/computeMetadata/v1/instance/id",
            meta("4520031799277581759"),
        )
}

const AZURE_INSTANCE: &str = r#"{"compute":{"azEnvironment":"AzurePublicCloud","location":"koreacentral","name":"emr-db-1","offer":"0001-com-ubuntu-server-jammy","osType":"Linux","platformFaultDomain":"0","provider":"Microsoft.Compute","publisher":"canonical","resourceGroupName":"emr-rg","sku":"22_04-lts-gen2","tagsList":[],"vmId":"02aab8a4-74ef-476e-8182-f6d2ba4166a6","vmSize":"Standard_D2s_v5","zone":"1"},"network":{"interface":[{"ipv4":{"ipAddress":[{"privateIpAddress":"10.1.0.4","publicIpAddress":""}],"subnet":[{"address":"10.1.0.0","prefix":"24"}]},"ipv6":{"ipAddress":[]},"macAddress":"000D3A8F1234"}]}}"#;

/// Azure IMDS: `Metadata: true` and an api-version are required.
fn azure_imds() -> Router {
    Router::new().route(
        "/metadata/instance",
        get(|h: HeaderMap, q: axum::extract::RawQuery| async move {
            if h.get("metadata").and_then(|v| v.to_str().ok()) != Some("true") {
                let e = r#"{"error":"Bad request. Required metadata header not specified"}"#;
                return (StatusCode::BAD_REQUEST, e).into_response();
            }
            if !q.0.unwrap_or_default().contains("api-version=") {
                let e = r#"{"error":"Bad request. api-version was not specified in the request"}"#;
                return (StatusCode::BAD_REQUEST, e).into_response();
            }
            (
                [("Content-Type", "application/json; charset=utf-8")],
                AZURE_INSTANCE,
            )
                .into_response()
        }),
    )
}

/// OpenStack Nova metadata with the given availability zone.
fn openstack_metadata(zone: &'static str) -> Router {
    Router::new().route(
        "/openstack/latest/meta_data.json",
        get(move || async move {
            format!(
                r#"{{"uuid": "d8e02d56-2648-49a3-bf97-6be8f1204f38", "meta": {{"role": "web"}}, "hostname": "emr-web-1.novalocal", "name": "emr-web-1", "launch_index": 0, "availability_zone": "{zone}", "project_id": "f7ac731cc11f40efbc03a9f9e1d1d21f", "devices": [], "dedicated_cpus": []}}"#
            )
        }),
    )
}

fn node_json(region: &str, zone: &str, provider_id: &str) -> String {
    format!(
        r#"{{"kind":"Node","apiVersion":"v1","metadata":{{"name":"node-1","uid":"6f1b7c1e-8f1c-4a83-9f4e-2f3b1c9d0a11","resourceVersion":"48213","creationTimestamp":"2025-01-06T02:11:09Z","labels":{{"kubernetes.io/arch":"amd64","kubernetes.io/hostname":"node-1","kubernetes.io/os":"linux","topology.kubernetes.io/region":"{region}","topology.kubernetes.io/zone":"{zone}"}}}},"spec":{{"providerID":"{provider_id}"}},"status":{{"nodeInfo":{{"kubeletVersion":"v1.31.4"}}}}}}"#
    )
}

/// Every metadata URL pointing at a closed loopback port, Kubernetes off.
fn nothing() -> region::Config {
    region::Config {
        aws_url: common::closed_url(),
        gcp_url: common::closed_url(),
        azure_url: common::closed_url(),
        openstack_url: common::closed_url(),
        kubernetes: false,
        ..region::Config::default()
    }
}

async fn locate(config: region::Config, kube: KubernetesConfig) -> CloudRegion {
    let probe = RegionProbe::new(config, kube);
    let evidence = probe.run(&common::ctx(std::path::Path::new("/"))).await;
    assert_eq!(evidence[0].subject, "test-host");
    match common::observed(&evidence) {
        Payload::CloudRegion(r) => r.clone(),
        other => panic!("wrong payload {other:?}"),
    }
}

#[tokio::test]
async fn aws_imdsv2_with_session_token() {
    let config = region::Config {
        aws_url: common::serve(aws_imds()).await,
        ..nothing()
    };
    let r = locate(config, KubernetesConfig::default()).await;
    assert_eq!(
        (r.provider.as_str(), r.region.as_str(), r.zone.as_str()),
        ("aws", "ap-northeast-2", "ap-northeast-2a")
    );
    assert_eq!((r.country.as_str(), r.source.as_str()), ("KR", "aws-imds"));
    assert_eq!(r.instance_id, "i-0123456789abcdef0");
}

#[tokio::test]
async fn gcp_metadata_flavor() {
    let config = region::Config {
        gcp_url: common::serve(gcp_metadata()).await,
        ..nothing()
    };
    let r = locate(config, KubernetesConfig::default()).await;
    assert_eq!(
        (
            r.provider.as_str(),
            r.region.as_str(),
            r.zone.as_str(),
            r.country.as_str()
        ),
        ("gcp", "asia-northeast3", "asia-northeast3-a", "KR")
    );
    assert_eq!(
        (r.source.as_str(), r.instance_id.as_str()),
        ("gcp-metadata", "4520031799277581759")
    );
}

#[tokio::test]
async fn gcp_answer_without_flavor_header_is_not_gcp() {
    // A server that answers the path but is not Google's metadata service.
    let impostor = Router::new().route(
        "/computeMetadata/v1/instance/{*rest}",
        get(|| async { "projects/1/zones/asia-northeast3-a" }),
    );
    let config = region::Config {
        gcp_url: common::serve(impostor).await,
        ..nothing()
    };
    let evidence = RegionProbe::new(config, KubernetesConfig::default())
        .run(&common::ctx(std::path::Path::new("/")))
        .await;
    assert!(common::is_error(&evidence[0]), "{evidence:?}");
    assert!(
        evidence[0].error.contains("Metadata-Flavor"),
        "{}",
        evidence[0].error
    );
}

#[tokio::test]
async fn azure_imds_location_and_zone() {
    let config = region::Config {
        azure_url: common::serve(azure_imds()).await,
        ..nothing()
    };
    let r = locate(config, KubernetesConfig::default()).await;
    assert_eq!(
        (
            r.provider.as_str(),
            r.region.as_str(),
            r.zone.as_str(),
            r.country.as_str()
        ),
        ("azure", "koreacentral", "1", "KR")
    );
    assert_eq!(r.instance_id, "02aab8a4-74ef-476e-8182-f6d2ba4166a6");
}

#[tokio::test]
async fn openstack_zones_of_korean_clouds_and_unknown_zones() {
    let config = region::Config {
        openstack_url: common::serve(openstack_metadata("kr2-pub-a")).await,
        ..nothing()
    };
    let r = locate(config, KubernetesConfig::default()).await;
    assert_eq!(
        (
            r.provider.as_str(),
            r.region.as_str(),
            r.zone.as_str(),
            r.country.as_str()
        ),
        ("nhn", "KR2", "kr2-pub-a", "KR")
    );
    assert_eq!(r.source, "openstack");

    let config = region::Config {
        openstack_url: common::serve(openstack_metadata("nova")).await,
        ..nothing()
    };
    let r = locate(config, KubernetesConfig::default()).await;
    assert_eq!(
        (r.provider.as_str(), r.zone.as_str()),
        ("openstack", "nova")
    );
    assert_eq!(
        r.country, "",
        "an unknown zone's country is unknown, not guessed"
    );
}

#[tokio::test]
async fn kubernetes_node_labels_and_cloud_metadata_priority() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "sa-token-1\n").unwrap();
    let api = common::kube_api(
        "sa-token-1",
        Router::new()
            .route(
                "/api/v1/nodes/node-1",
                get(|| async {
                    node_json(
                        "ap-northeast-2",
                        "ap-northeast-2c",
                        "aws:///ap-northeast-2c/i-0fedcba9876543210",
                    )
                }),
            )
            .route(
                "/api/v1/nodes/nks-node",
                get(|| async { node_json("KR", "KR-2", "navercloudplatform://12345678") }),
            ),
    );
    let kube = KubernetesConfig {
        api_url: common::serve(api).await,
        token_file: token_file.clone(),
        node_name: "node-1".into(),
        ..KubernetesConfig::default()
    };
    let only_kube = region::Config {
        kubernetes: true,
        ..nothing()
    };
    let r = locate(only_kube.clone(), kube.clone()).await;
    assert_eq!(
        (
            r.provider.as_str(),
            r.region.as_str(),
            r.zone.as_str(),
            r.country.as_str()
        ),
        ("aws", "ap-northeast-2", "ap-northeast-2c", "KR")
    );
    assert_eq!(r.source, "kubernetes");

    // NKS: provider not recognised, but "KR" is a region of one provider only.
    let nks = KubernetesConfig {
        node_name: "nks-node".into(),
        ..kube.clone()
    };
    let r = locate(only_kube.clone(), nks).await;
    assert_eq!(
        (r.region.as_str(), r.zone.as_str(), r.country.as_str()),
        ("KR", "KR-2", "KR")
    );

    // The platform's metadata wins over node labels.
    let both = region::Config {
        aws_url: common::serve(aws_imds()).await,
        ..only_kube.clone()
    };
    assert_eq!(locate(both, kube.clone()).await.source, "aws-imds");

    // A wrong token is refused by the API: error evidence saying so.
    std::fs::write(&token_file, "stale").unwrap();
    let evidence = RegionProbe::new(only_kube, kube)
        .run(&common::ctx(std::path::Path::new("/")))
        .await;
    assert!(common::is_error(&evidence[0]));
    assert!(evidence[0].error.contains("401"), "{}", evidence[0].error);
}

#[tokio::test]
async fn nothing_answers_quickly_gives_one_error() {
    let start = Instant::now();
    let evidence = RegionProbe::new(nothing(), KubernetesConfig::default())
        .run(&common::ctx(std::path::Path::new("/")))
        .await;
    // Refused connections end at once; a hang would never end.
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(evidence.len(), 1);
    assert!(common::is_error(&evidence[0]));
    for source in [
        "aws-imds",
        "gcp-metadata",
        "azure-imds",
        "openstack",
        "kubernetes",
    ] {
        assert!(evidence[0].error.contains(source), "{}", evidence[0].error);
    }

    // Services that accept connections and never answer: bounded by `timeout`,
    // asked together (one after another would take 4 × 800 ms).
    let config = region::Config {
        aws_url: common::silent_url().await,
        gcp_url: common::silent_url().await,
        azure_url: common::silent_url().await,
        openstack_url: common::silent_url().await,
        timeout: Duration::from_millis(800),
        ..nothing()
    };
    let start = Instant::now();
    let evidence = RegionProbe::new(config, KubernetesConfig::default())
        .run(&common::ctx(std::path::Path::new("/")))
        .await;
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_millis(3200),
        "{took:?}"
    );
    assert!(common::is_error(&evidence[0]));
    assert!(evidence[0]
        .error
        .contains("no cloud metadata service answered"));
}

#[tokio::test]
async fn static_location_for_premises() {
    let fixed = |country: &str| region::Config {
        fixed: Some(StaticRegion {
            provider: "aws".into(),
            region: "ap-northeast-2".into(),
            zone: "".into(),
            country: country.into(),
        }),
        ..nothing()
    };
    let r = locate(fixed(""), KubernetesConfig::default()).await;
    assert_eq!((r.source.as_str(), r.country.as_str()), ("static", "KR"));
    let r = locate(fixed("JP"), KubernetesConfig::default()).await;
    assert_eq!(r.country, "JP", "an explicit country wins");

    let err = gamsa_agent::config::Config::parse(
        "[probes.region]\nstatic = { provider = \"idc\", country = \"Korea\" }\n",
        "a.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("ISO 3166-1"), "{err}");
}

//! The OpenAPI description (`collector/src/api/openapi.json`) and the API's
//! router agree: every route registered under `collector/src/api/` is
//! described with each of its methods, nothing else is described, and a real
//! collector answers every described operation from its handler with a
//! status the description lists.

use gamsa_collector::api::openapi::DOCUMENT;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

type Operations = BTreeSet<(String, String)>;

const METHODS: [&str; 7] = ["get", "post", "put", "delete", "patch", "head", "options"];

fn document() -> Value {
    serde_json::from_str(DOCUMENT).expect("openapi.json is JSON")
}

/// (method, path) of every operation the description lists.
fn described(doc: &Value) -> Operations {
    let paths = doc["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            let item = item.as_object().expect("path item");
            item.keys()
                .filter(|k| METHODS.contains(&k.as_str()))
                .map(|m| (m.to_uppercase(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The text of each `.route(...)` call in `source`, parentheses balanced.
fn route_calls(source: &str) -> Vec<&str> {
    let mut calls = vec![];
    let mut rest = source;
    while let Some(at) = rest.find(".route(") {
        let args = &rest[at + ".route(".len()..];
        let mut depth = 1;
        let end = args
            .char_indices()
            .find(|&(_, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .map(|(i, _)| i)
            .expect("unbalanced .route(");
        calls.push(&args[..end]);
        rest = &args[end..];
    }
    calls
}

/// (method, path) of every route registered in the `.rs` files under `dir`:
/// the path is the call's first string literal, the methods the method
/// router functions chained in it (`get(list).post(create)`).
fn registered(dir: &Path) -> Operations {
    let literal = regex::Regex::new(r#"^\s*"([^"]+)""#).unwrap();
    let method =
        regex::Regex::new(r"(?:^|[^A-Za-z0-9_:])(get|post|put|delete|patch|head|options)\(")
            .unwrap();
    let mut ops = Operations::new();
    let mut files = vec![dir.to_path_buf()];
    while let Some(f) = files.pop() {
        if f.is_dir() {
            files.extend(std::fs::read_dir(&f).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        if f.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let source = std::fs::read_to_string(&f).unwrap();
        for call in route_calls(&source) {
            let path = literal
                .captures(call)
                .unwrap_or_else(|| panic!("{}: route without a literal path: {call}", f.display()))
                [1]
            .to_string();
            let handler = &call[literal.find(call).unwrap().end()..];
            let methods: Vec<_> = method
                .captures_iter(handler)
                .map(|c| c[1].to_uppercase())
                .collect();
            assert!(
                !methods.is_empty(),
                "{}: route {path} without a method",
                f.display()
            );
            ops.extend(methods.into_iter().map(|m| (m, path.clone())));
        }
    }
    ops
}

#[test]
fn every_route_is_described_and_nothing_else() {
    let api = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api");
    let routes = registered(&api);
    assert!(
        routes.contains(&("GET".into(), "/api/v1/openapi.json".into())),
        "the walk found no routes: {routes:?}"
    );
    let doc = described(&document());
    let undocumented: Vec<_> = routes.difference(&doc).collect();
    let unrouted: Vec<_> = doc.difference(&routes).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from collector/src/api/openapi.json: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "described in openapi.json but not routed: {unrouted:?}"
    );
}

#[test]
fn the_walk_sees_a_route_added_without_description() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("extra.rs"),
        "Router::new()\n    .route(\n        \"/api/v1/things/{id}\",\n        get(things::get_thing).delete(remove),\n    )\n    .route(\"/healthz\", get(|| async { \"ok\" }))",
    )
    .unwrap();
    let found = registered(dir.path());
    let expected: Operations = [
        ("GET", "/api/v1/things/{id}"),
        ("DELETE", "/api/v1/things/{id}"),
        ("GET", "/healthz"),
    ]
    .into_iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    assert_eq!(found, expected);
    assert!(!described(&document()).contains(&("DELETE".into(), "/api/v1/things/{id}".into())));
}

/// Every described operation, asked of a real collector with an admin token
/// (path parameters "x", POST bodies `{}`), answers from its handler (never
/// the router's 404 or 405) with a status its description lists.
#[test]
fn a_real_collector_answers_every_operation_as_described() {
    let c = gamsa_tests::Collector::start().unwrap();
    let base = format!("http://127.0.0.1:{}", c.http);
    let served: Value = ureq::get(&format!("{base}/api/v1/openapi.json"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    assert_eq!(
        served,
        document(),
        "served description differs from the file"
    );
    let doc = document();
    let parameter = regex::Regex::new(r"\{[^}]+\}").unwrap();
    for (method, path) in described(&doc) {
        let url = format!("{base}{}", parameter.replace_all(&path, "x"));
        let req = ureq::request(&method, &url).set("Authorization", &format!("Bearer {}", c.token));
        let result = if method == "POST" {
            req.set("Content-Type", "application/json")
                .send_string("{}")
        } else {
            req.call()
        };
        let (status, body) = match result {
            Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
            Err(ureq::Error::Status(s, r)) => (s, r.into_string().unwrap_or_default()),
            Err(e) => panic!("{method} {url}: {e}"),
        };
        let listed = &doc["paths"][&path][method.to_lowercase()]["responses"];
        assert!(
            listed.get(status.to_string()).is_some(),
            "{method} {path}: status {status} not described ({body})"
        );
        assert_ne!(status, 405, "{method} {path}: not routed");
        if status == 404 {
            let v: Value = serde_json::from_str(&body).unwrap_or_else(|_| {
                panic!("{method} {path}: the router's 404, not the handler's: {body:?}")
            });
            assert!(v["error"].is_string(), "{method} {path}: {body}");
        }
    }
}

/// axum's refusals of a malformed query or body answer `{"error": ...}` as
/// every other error does (schemathesis found them as plain text, which the
/// description does not list).
#[test]
fn malformed_requests_answer_json_errors() {
    let c = gamsa_tests::Collector::start().unwrap();
    let base = format!("http://127.0.0.1:{}", c.http);
    let auth = format!("Bearer {}", c.token);
    let na = format!("{base}/api/v1/catalogs/emr-s014/items/x/na");
    let cases = [
        (
            ureq::get(&format!("{base}/api/v1/evidence?limit=-1")),
            None,
            400,
            "limit",
        ),
        (
            ureq::post(&na).set("Content-Type", "text/plain"),
            Some("x"),
            415,
            "Content-Type",
        ),
        (
            ureq::post(&na).set("Content-Type", "application/json"),
            Some("{\"x\": 1}"),
            422,
            "x",
        ),
        (
            ureq::post(&na).set("Content-Type", "application/json"),
            Some("{"),
            400,
            "EOF",
        ),
    ];
    for (req, body, status, names) in cases {
        let req = req.set("Authorization", &auth);
        let url = req.url().to_string();
        let result = match body {
            Some(b) => req.send_string(b),
            None => req.call(),
        };
        let Err(ureq::Error::Status(got, r)) = result else {
            panic!("{url}: not refused");
        };
        assert_eq!(got, status, "{url}");
        assert!(
            r.content_type() == "application/json",
            "{url}: {}",
            r.content_type()
        );
        let v: Value = r.into_json().unwrap();
        let error = v["error"].as_str().unwrap_or_else(|| panic!("{url}: {v}"));
        assert!(error.contains(names), "{url}: {error}");
    }
}

/// An item's answer carries its page's evidence up to a budget and names the
/// rest, and its hosts' detail lines up to another: twelve hosts' package
/// lists (about 180 KB of JSON each) and 300 pending updates each, listed on
/// two rows, in one page would be over two and a half megabytes.
#[test]
fn an_items_answer_carries_evidence_up_to_its_budget_and_names_the_rest() {
    use gamsa_proto::v1::{
        evidence::Payload, Evidence, OsSupport, Package, PendingUpdate, SecurityUpdates, Software,
        Status,
    };
    let c = gamsa_tests::Collector::start().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let location = gamsa_collector::store::Location::Sqlite(c.data().join("gamsa.db"));
        let store = gamsa_collector::store::open(&location).await.unwrap();
        let now = gamsa_proto::Timestamp::from_unix_millis(gamsa_collector::clock::now_ms());
        let packages: Vec<Package> = (0..2000)
            .map(|i| Package {
                name: format!("package-{i:05}"),
                version: format!("1.{i}.0-1ubuntu0.{i}"),
                architecture: "amd64".into(),
                database: "dpkg".into(),
            })
            .collect();
        for h in 0..12 {
            let host = format!("big-{h:02}");
            gamsa_collector::grpc::enrol::bind(store.as_ref(), &host, &host)
                .await
                .unwrap();
            let software = Evidence {
                id: format!("{host}-software"),
                agent_id: host.clone(),
                host: host.clone(),
                observed_at: Some(now),
                first_observed_at: None,
                probe: "software".into(),
                subject: host.clone(),
                status: Status::Observed as i32,
                error: String::new(),
                payload: Some(Payload::Software(Software {
                    packages: packages.clone(),
                    os: Some(OsSupport {
                        id: "debian".into(),
                        release: "debian 12".into(),
                        end_of_support: "2028-06-30".into(),
                        ..Default::default()
                    }),
                    security_updates: Some(SecurityUpdates {
                        manager: "apt".into(),
                        known: true,
                        metadata_updated: Some(now),
                        pending: packages[..300]
                            .iter()
                            .map(|p| PendingUpdate {
                                name: p.name.clone(),
                                architecture: p.architecture.clone(),
                                installed: p.version.clone(),
                                available: format!("{}+deb12u1", p.version),
                                suite: "bookworm-security".into(),
                            })
                            .collect(),
                        ..Default::default()
                    }),
                    ..Default::default()
                })),
            };
            store.insert_batch(vec![software]).await.unwrap();
        }
    });
    let item = "/api/v1/catalogs/isms-p/items/2.11.2";
    let ids = |v: &Value, key: &str| -> BTreeSet<String> {
        v[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                e.as_str()
                    .map_or_else(|| e["id"].as_str().unwrap().to_string(), str::to_string)
            })
            .collect()
    };
    let answer = gamsa_tests::wait_for(
        "the twelve hosts evaluated",
        std::time::Duration::from_secs(60),
        || {
            let v = c.get(item).ok()?;
            (v["page"]["hosts"] == 12).then_some(v)
        },
    );
    let bytes = serde_json::to_vec(&answer).unwrap().len();
    assert!(bytes < 1_000_000, "{bytes} bytes");
    let (shown, left_out) = (ids(&answer, "evidence"), ids(&answer, "evidenceLeftOut"));
    assert!(
        !shown.is_empty() && !left_out.is_empty(),
        "{shown:?} / {left_out:?}"
    );
    assert!(shown.is_disjoint(&left_out));
    let cited: BTreeSet<String> = answer["result"]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        &shown | &left_out,
        cited,
        "every evidence the page cites, shown or named"
    );
    // A smaller page carries its hosts' evidence and detail whole.
    let small = c.get(&format!("{item}?limit=2")).unwrap();
    assert_eq!(ids(&small, "evidence").len(), 2);
    assert!(ids(&small, "evidenceLeftOut").is_empty());
    // (detail lines shown, left out) of each host of row 2.11.2-2.
    let details = |v: &Value| -> Vec<(usize, u64)> {
        let rows = v["result"]["rows"].as_array().unwrap();
        let row = rows.iter().find(|r| r["id"] == "2.11.2-2").unwrap();
        row["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                let shown = h["detail"].as_array().map_or(0, Vec::len);
                (shown, h["detailLeftOut"].as_u64().unwrap_or(0))
            })
            .collect()
    };
    let whole = details(&small);
    assert!(
        whole.iter().all(|(n, left)| *n > 300 && *left == 0),
        "{whole:?}"
    );
    let cut = details(&answer);
    assert_eq!(cut.len(), 12);
    assert!(
        cut.iter()
            .all(|(n, left)| *left > 0 && *n + *left as usize == whole[0].0 && *n == cut[0].0),
        "the same first lines of each, the rest counted: {cut:?} of {}",
        whole[0].0
    );
}

//! Producer and consumer share only this crate: the collector links no
//! probe (nor the scanner or rtnetlink), and the agent nothing of the
//! collector. (An HTTP client is no longer agent-only: the collector's
//! verdict-change webhooks use the same reqwest.) Checked on the resolved dependency graph `cargo metadata`
//! reports, following normal and build dependencies (what a build of the
//! crate compiles), not dev-dependencies.

use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::process::Command;

struct Graph {
    /// Package id → its name.
    names: HashMap<String, String>,
    /// Package id → ids of its normal and build dependencies.
    deps: HashMap<String, Vec<String>>,
}

impl Graph {
    fn load() -> Self {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
        // For this machine's platform only: dependencies of other platforms
        // need not be downloaded, and this one's are (the test was built).
        let out = Command::new(cargo)
            .args(["metadata", "--format-version", "1", "--locked", "--offline"])
            .args(["--filter-platform", &host_triple()])
            .args(["--manifest-path", manifest])
            .output()
            .expect("cargo runs");
        assert!(
            out.status.success(),
            "cargo metadata: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
        let names = meta["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let s = |k: &str| p[k].as_str().unwrap().to_string();
                (s("id"), s("name"))
            })
            .collect();
        let deps = meta["resolve"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|node| {
                let linked = node["deps"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|d| {
                        d["dep_kinds"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|k| k["kind"].as_str() != Some("dev"))
                    })
                    .map(|d| d["pkg"].as_str().unwrap().to_string())
                    .collect();
                (node["id"].as_str().unwrap().to_string(), linked)
            })
            .collect();
        Self { names, deps }
    }

    /// Names of every package `root` depends on, directly or not.
    fn tree(&self, root: &str) -> BTreeSet<&str> {
        let start = self
            .names
            .iter()
            .find(|(_, n)| n.as_str() == root)
            .map(|(id, _)| id)
            .unwrap_or_else(|| panic!("{root} is not in the workspace"));
        let mut seen = BTreeSet::new();
        let mut todo = vec![start];
        while let Some(id) = todo.pop() {
            for dep in self.deps.get(id).into_iter().flatten() {
                if seen.insert(self.names[dep].as_str()) {
                    todo.push(dep);
                }
            }
        }
        seen
    }
}

/// "x86_64-unknown-linux-gnu", as `rustc -vV` says.
fn host_triple() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc).arg("-vV").output().expect("rustc runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .to_string()
}

#[test]
fn the_collector_links_no_probe() {
    let graph = Graph::load();
    let tree = graph.tree("gamsa-collector");
    assert!(tree.contains("gamsa-proto"), "{tree:?}");
    for agent_only in ["gamsa-agent", "rtnetlink"] {
        assert!(
            !tree.contains(agent_only),
            "gamsa-collector depends on {agent_only}: producer and consumer share only gamsa-proto"
        );
    }
}

#[test]
fn the_agent_links_nothing_of_the_collector() {
    let graph = Graph::load();
    let tree = graph.tree("gamsa-agent");
    assert!(tree.contains("gamsa-proto"), "{tree:?}");
    assert!(
        !tree.contains("gamsa-collector"),
        "gamsa-agent depends on gamsa-collector: producer and consumer share only gamsa-proto"
    );
}

#[test]
fn the_quickstart_links_both_sides() {
    let graph = Graph::load();
    let tree = graph.tree("gamsa-quickstart");
    assert!(tree.contains("gamsa-agent") && tree.contains("gamsa-collector"));
}

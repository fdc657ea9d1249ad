//! The API server's audit settings, from the kube-apiserver static pod
//! manifest on a control-plane node (kubeadm writes it to
//! `/etc/kubernetes/manifests/kube-apiserver.yaml`): `--audit-policy-file`,
//! `--audit-log-path`, `--audit-log-maxage`, and the policy's rule levels
//! when the policy file (a host path, as kubeadm mounts it) can be read.
//! A managed control plane has no such file on any node: the probe then
//! says the policy is not observable rather than absent.

use gamsa_proto::v1::ApiServerAudit;
use serde::Deserialize;
use std::path::Path;

/// Largest manifest or policy file read.
const LIMIT: u64 = 1024 * 1024;

#[derive(Debug, Deserialize)]
struct Pod {
    #[serde(default)]
    spec: PodSpec,
}

#[derive(Debug, Default, Deserialize)]
struct PodSpec {
    #[serde(default)]
    containers: Vec<Container>,
}

#[derive(Debug, Deserialize)]
struct Container {
    #[serde(default)]
    name: String,
    #[serde(default)]
    command: Vec<String>,
    #[serde(default)]
    args: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Policy {
    #[serde(default)]
    rules: Vec<PolicyRule>,
}

#[derive(Debug, Deserialize)]
struct PolicyRule {
    #[serde(default)]
    level: String,
}

/// The value of `--name` in a command line, written `--name=value` or
/// `--name value`; the last one wins, as for the API server's flags.
fn flag(argv: &[String], name: &str) -> Option<String> {
    let long = format!("--{name}");
    let mut found = None;
    let mut it = argv.iter();
    while let Some(a) = it.next() {
        if let Some(v) = a.strip_prefix(&long) {
            if let Some(v) = v.strip_prefix('=') {
                found = Some(v.to_string());
            } else if v.is_empty() {
                found = it.next().cloned();
            }
        }
    }
    found
}

/// The audit settings of the manifest `text`; `policy` reads a file the
/// manifest names (a path on the host).
pub fn parse(
    text: &str,
    manifest: &str,
    policy: impl Fn(&str) -> Result<String, String>,
) -> ApiServerAudit {
    let mut out = ApiServerAudit {
        manifest: manifest.to_string(),
        ..Default::default()
    };
    let pod: Pod = match serde_yaml_ng::from_str(text) {
        Ok(p) => p,
        Err(e) => {
            out.error = format!("{manifest}: not a Pod manifest: {e}");
            return out;
        }
    };
    let Some(c) = pod.spec.containers.iter().find(|c| {
        c.name == "kube-apiserver" || c.command.iter().any(|a| a.ends_with("kube-apiserver"))
    }) else {
        out.error = format!("{manifest}: no kube-apiserver container");
        return out;
    };
    let argv: Vec<String> = c.command.iter().chain(&c.args).cloned().collect();
    out.policy_file = flag(&argv, "audit-policy-file").unwrap_or_default();
    out.log_path = flag(&argv, "audit-log-path").unwrap_or_default();
    out.log_max_age_days = flag(&argv, "audit-log-maxage")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if !out.policy_file.is_empty() {
        match policy(&out.policy_file).and_then(|t| {
            serde_yaml_ng::from_str::<Policy>(&t)
                .map_err(|e| format!("{}: not an audit Policy: {e}", out.policy_file))
        }) {
            Ok(p) => out.levels = p.rules.into_iter().map(|r| r.level).collect(),
            Err(e) => out.policy_error = e,
        }
    }
    out
}

/// The audit settings on this node: `None` when the manifest is absent
/// (not a control-plane node of a self-managed cluster).
pub fn observe(root: &Path, manifest: &str) -> Option<ApiServerAudit> {
    let read = |p: &str| {
        let file = root.join(p.trim_start_matches('/'));
        super::super::read_bounded(&file, LIMIT)
            .map_err(|e| super::super::io_error(Path::new(p), &e))
    };
    let file = root.join(manifest.trim_start_matches('/'));
    match super::super::read_bounded(&file, LIMIT) {
        Ok(text) => Some(parse(&text, manifest, read)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => Some(ApiServerAudit {
            manifest: manifest.to_string(),
            error: super::super::io_error(Path::new(manifest), &e),
            ..Default::default()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: kube-apiserver\n  namespace: kube-system\nspec:\n  containers:\n  - name: kube-apiserver\n    image: registry.k8s.io/kube-apiserver:v1.33.4\n    command:\n    - kube-apiserver\n    - --advertise-address=10.0.0.10\n    - --audit-policy-file=/etc/kubernetes/audit-policy.yaml\n    - --audit-log-path\n    - /var/log/kubernetes/audit/audit.log\n    - --audit-log-maxage=30\n";

    #[test]
    fn flags_in_both_forms_and_the_policy_levels() {
        let a = parse(
            MANIFEST,
            "/etc/kubernetes/manifests/kube-apiserver.yaml",
            |p| {
                assert_eq!(p, "/etc/kubernetes/audit-policy.yaml");
                Ok("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n  users: [\"system:kube-proxy\"]\n- level: Metadata\n".into())
            },
        );
        assert_eq!(a.error, "");
        assert_eq!(a.policy_file, "/etc/kubernetes/audit-policy.yaml");
        assert_eq!(a.log_path, "/var/log/kubernetes/audit/audit.log");
        assert_eq!(a.log_max_age_days, 30);
        assert_eq!(a.levels, vec!["None", "Metadata"]);
        let unreadable = parse(MANIFEST, "m", |p| Err(format!("{p}: Permission denied")));
        assert!(unreadable.levels.is_empty());
        assert!(unreadable.policy_error.contains("Permission denied"));
        let none = parse(
            &MANIFEST.replace(
                "    - --audit-policy-file=/etc/kubernetes/audit-policy.yaml\n",
                "",
            ),
            "m",
            |_| panic!("no policy to read"),
        );
        assert_eq!(
            (none.policy_file.as_str(), none.policy_error.as_str()),
            ("", "")
        );
        assert!(parse("[1, 2]", "m", |_| Ok(String::new()))
            .error
            .contains("not a Pod manifest"));
        assert!(parse(
            "spec:\n  containers:\n  - name: etcd\n    command: [etcd]\n",
            "m",
            |_| Ok(String::new())
        )
        .error
        .contains("no kube-apiserver container"));
    }
}

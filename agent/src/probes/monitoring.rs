//! `monitoring`: whether the host's resources are watched, and what raises
//! an alarm (nia-ops CMR-002, CMR-003, CMR-007: usage against thresholds,
//! failures sent to staff automatically; EMR 5.1).
//!
//! Three observations, each from what the tools themselves read:
//! - the monitoring agents that run (by the kernel's process name) or are
//!   installed (dpkg): node_exporter, Zabbix, CloudWatch, Datadog, Wazuh,
//!   Telegraf, Prometheus, Alertmanager and others ([`AGENTS`]);
//! - Prometheus alert rules: the rule files a Prometheus configuration
//!   names (`rule_files`, globs relative to it) and the configured ones,
//!   each alert classified by the metric names of its expression (CPU,
//!   memory, disk, traffic, service down) with its threshold when the
//!   expression ends in a simple comparison; and whether the configuration
//!   sends alerts to an Alertmanager;
//! - Alertmanager receivers: which notifiers each has (e-mail, Slack,
//!   webhook, PagerDuty, ...), whether the route tree reaches it, and
//!   targets that are documentation placeholders (example.com), which
//!   notify no one.
//!
//! A file that cannot be read or parsed is named with its error in
//! `sources`; it is never read as "no rules". Files are bounded in size,
//! globs in matches, rules in number.

use super::{Probe, ProbeContext, Section};
use gamsa_proto::v1::{
    evidence::Payload, AlertReceiver, AlertRule, Evidence, Monitoring, MonitoringAgent,
    MonitoringSource,
};
use serde::Deserialize;
use serde_yaml_ng::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Monitoring agents: the name reported, its process names (as the kernel
/// keeps them: at most 15 bytes) and its Debian packages.
pub const AGENTS: &[(&str, &[&str], &[&str])] = &[
    (
        "node_exporter",
        &["node_exporter", "prometheus-node"],
        &["prometheus-node-exporter"],
    ),
    ("prometheus", &["prometheus"], &["prometheus"]),
    (
        "alertmanager",
        &["alertmanager", "prometheus-aler"],
        &["prometheus-alertmanager"],
    ),
    (
        "zabbix_agent",
        &["zabbix_agentd", "zabbix_agent2"],
        &["zabbix-agent", "zabbix-agent2"],
    ),
    (
        "cloudwatch_agent",
        &["amazon-cloudwat"],
        &["amazon-cloudwatch-agent"],
    ),
    // Its process is called "agent": known by its package only.
    ("datadog_agent", &[], &["datadog-agent"]),
    ("wazuh_agent", &["wazuh-agentd"], &["wazuh-agent"]),
    ("telegraf", &["telegraf"], &["telegraf"]),
    (
        "grafana_agent",
        &["grafana-agent", "alloy"],
        &["grafana-agent", "alloy"],
    ),
    ("collectd", &["collectd"], &["collectd", "collectd-core"]),
    ("netdata", &["netdata"], &["netdata"]),
    ("nrpe", &["nrpe"], &["nagios-nrpe-server"]),
    ("metricbeat", &["metricbeat"], &["metricbeat"]),
    (
        "otel_collector",
        &["otelcol", "otelcol-contrib"],
        &["otelcol", "otelcol-contrib"],
    ),
];

/// What an alert watches, by the metric names of its expression: the
/// resource and the name prefixes (or exact names, without `_` at the end)
/// of node_exporter, Windows exporter, cAdvisor, Telegraf and the
/// blackbox exporter.
const RESOURCES: &[(&str, &[&str])] = &[
    (
        "cpu",
        &[
            "node_cpu_",
            "node_load",
            "node_pressure_cpu_",
            "windows_cpu_",
            "container_cpu_",
            "process_cpu_seconds_total",
            "cpu_usage_",
        ],
    ),
    (
        "memory",
        &[
            "node_memory_",
            "node_pressure_memory_",
            "windows_memory_",
            "windows_os_physical_memory_",
            "container_memory_",
            "mem_",
        ],
    ),
    (
        "disk",
        &[
            "node_filesystem_",
            "node_disk_",
            "windows_logical_disk_",
            "container_fs_",
            "kubelet_volume_stats_",
            "disk_",
        ],
    ),
    (
        "traffic",
        &[
            "node_network_",
            "windows_net_",
            "container_network_",
            "net_",
            "ifHCInOctets",
            "ifHCOutOctets",
        ],
    ),
    (
        "service_down",
        &["up", "probe_success", "probe_http_status_code"],
    ),
];

/// Alertmanager notifier kinds: `<kind>_configs` in a receiver.
const NOTIFIERS: &[&str] = &[
    "email",
    "slack",
    "webhook",
    "pagerduty",
    "opsgenie",
    "pushover",
    "victorops",
    "wechat",
    "telegram",
    "sns",
    "webex",
    "discord",
    "msteams",
    "msteamsv2",
    "jira",
    "rocketchat",
];

/// Domains reserved for documentation (RFC 2606): a notifier sending there
/// notifies no one; nor does one whose key is a template's `<placeholder>`.
const PLACEHOLDER_DOMAINS: &[&str] = &["example.com", "example.org", "example.net", ".invalid"];

/// The most bytes of one configuration or rule file.
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// The most files one glob names, and rules kept in all.
const MAX_GLOB_FILES: usize = 256;
const MAX_RULES: usize = 10_000;
/// An expression is kept up to this many characters.
const MAX_EXPR_CHARS: usize = 1000;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Prometheus configurations whose `rule_files` are read.
    pub prometheus_configs: Vec<String>,
    /// More rule files (globs on host paths).
    pub rule_files: Vec<String>,
    /// Alertmanager configurations.
    pub alertmanager_configs: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Duration::from_secs(900),
            prometheus_configs: vec!["/etc/prometheus/prometheus.yml".into()],
            rule_files: Vec::new(),
            alertmanager_configs: vec![
                "/etc/prometheus/alertmanager.yml".into(),
                "/etc/alertmanager/alertmanager.yml".into(),
            ],
        }
    }
}

impl Section for Config {
    fn enabled(&self) -> bool {
        self.enabled
    }

    fn validate(&self) -> Result<(), String> {
        for (field, paths) in [
            ("prometheus_configs", &self.prometheus_configs),
            ("rule_files", &self.rule_files),
            ("alertmanager_configs", &self.alertmanager_configs),
        ] {
            for p in paths {
                if !p.starts_with('/') {
                    return Err(format!("{field}: {p:?} is not an absolute path"));
                }
                glob::Pattern::new(p).map_err(|e| format!("{field}: {p:?}: {e}"))?;
            }
        }
        Ok(())
    }

    fn build(&self, _: &crate::config::Config) -> Arc<dyn Probe> {
        Arc::new(MonitoringProbe {
            config: self.clone(),
        })
    }
}

pub struct MonitoringProbe {
    config: Config,
}

#[async_trait::async_trait]
impl Probe for MonitoringProbe {
    fn name(&self) -> &'static str {
        "monitoring"
    }

    fn interval(&self) -> Duration {
        self.config.interval
    }

    async fn run(&self, ctx: &ProbeContext) -> Vec<Evidence> {
        let (config, c) = (self.config.clone(), ctx.clone());
        match tokio::task::spawn_blocking(move || observe(&config, &c)).await {
            Ok(Ok(m)) => vec![ctx.observed("monitoring", &ctx.host, Payload::Monitoring(m))],
            Ok(Err(e)) => vec![ctx.error("monitoring", &ctx.host, e)],
            Err(e) => vec![ctx.error("monitoring", &ctx.host, e)],
        }
    }
}

/// Everything the probe reports for the host.
pub fn observe(config: &Config, ctx: &ProbeContext) -> Result<Monitoring, String> {
    let mut m = Monitoring {
        agents: agents(ctx)?,
        ..Default::default()
    };
    let mut rule_files: BTreeSet<String> = BTreeSet::new();
    for pattern in &config.prometheus_configs {
        for path in matches(ctx, pattern) {
            let (source, files) = prometheus_config(ctx, &path);
            m.sources.push(source);
            rule_files.extend(files);
        }
    }
    for pattern in &config.rule_files {
        rule_files.extend(matches(ctx, pattern));
    }
    for path in rule_files {
        let source = rule_file(ctx, &path, &mut m.alert_rules);
        m.sources.push(source);
    }
    for pattern in &config.alertmanager_configs {
        for path in matches(ctx, pattern) {
            let source = alertmanager_config(ctx, &path, &mut m.receivers);
            m.sources.push(source);
        }
    }
    Ok(m)
}

/// The monitoring agents running or installed. A host whose processes
/// cannot be read is error evidence, never "none runs".
fn agents(ctx: &ProbeContext) -> Result<Vec<MonitoringAgent>, String> {
    let running = super::procs::names(ctx)?;
    let packages = super::dpkg::installed(ctx)?.unwrap_or_default();
    let mut out = Vec::new();
    for (name, processes, pkgs) in AGENTS {
        let process = processes.iter().find(|p| running.contains(**p));
        let package = pkgs.iter().find(|p| packages.contains_key(**p));
        if process.is_none() && package.is_none() {
            continue;
        }
        out.push(MonitoringAgent {
            name: name.to_string(),
            running: process.is_some(),
            process: process.map(|p| p.to_string()).unwrap_or_default(),
            package: package.map(|p| p.to_string()).unwrap_or_default(),
            package_version: package
                .and_then(|p| packages.get(*p).cloned())
                .unwrap_or_default(),
        });
    }
    Ok(out)
}

/// The host paths a glob (a host path) matches, in order, bounded. A path
/// without glob characters is itself when it exists.
fn matches(ctx: &ProbeContext, pattern: &str) -> Vec<String> {
    let full = ctx.host_path(pattern);
    let Some(full) = full.to_str() else {
        return Vec::new();
    };
    let root = ctx.host_root.to_string_lossy();
    let root = root.trim_end_matches('/');
    let Ok(paths) = glob::glob(full) else {
        return Vec::new();
    };
    paths
        .flatten()
        .filter(|p| p.is_file())
        .take(MAX_GLOB_FILES)
        .filter_map(|p| {
            let s = p.to_str()?;
            Some(format!(
                "/{}",
                s.strip_prefix(root)?.trim_start_matches('/')
            ))
        })
        .collect()
}

/// Reads and parses one YAML file under the host root.
fn yaml(ctx: &ProbeContext, path: &str) -> Result<Value, String> {
    let full = ctx.host_path(path);
    let text =
        super::read_bounded(&full, MAX_FILE_BYTES).map_err(|e| super::io_error(&full, &e))?;
    serde_yaml_ng::from_str(&text).map_err(|e| format!("{path}: {e}"))
}

fn source(path: &str, kind: &str, result: Result<u32, String>) -> MonitoringSource {
    let (count, error) = match result {
        Ok(n) => (n, String::new()),
        Err(e) => (0, e),
    };
    MonitoringSource {
        path: path.to_string(),
        kind: kind.into(),
        error,
        count,
    }
}

/// A Prometheus configuration: how many Alertmanagers it sends to, and the
/// rule files its `rule_files` globs name (relative to its directory).
fn prometheus_config(ctx: &ProbeContext, path: &str) -> (MonitoringSource, Vec<String>) {
    let doc = match yaml(ctx, path) {
        Ok(d) => d,
        Err(e) => return (source(path, "prometheus", Err(e)), Vec::new()),
    };
    let alertmanagers = doc
        .get("alerting")
        .and_then(|a| a.get("alertmanagers"))
        .and_then(Value::as_sequence)
        .map(|s| s.iter().filter(|am| sends_somewhere(am)).count())
        .unwrap_or(0);
    let dir = Path::new(path)
        .parent()
        .map(|p| p.to_string_lossy().to_string())
        .unwrap_or_else(|| "/".into());
    let mut files = Vec::new();
    for pattern in doc
        .get("rule_files")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let host = if pattern.starts_with('/') {
            pattern.to_string()
        } else {
            format!("{}/{pattern}", dir.trim_end_matches('/'))
        };
        files.extend(matches(ctx, &host));
    }
    (source(path, "prometheus", Ok(alertmanagers as u32)), files)
}

/// An `alertmanagers` entry with static targets or any service discovery.
fn sends_somewhere(am: &Value) -> bool {
    let Some(map) = am.as_mapping() else {
        return false;
    };
    map.iter().any(|(k, v)| match k.as_str() {
        Some("static_configs") => v.as_sequence().is_some_and(|s| {
            s.iter().any(|c| {
                c.get("targets")
                    .and_then(Value::as_sequence)
                    .is_some_and(|t| !t.is_empty())
            })
        }),
        Some(k) => k.ends_with("_sd_configs") && v.as_sequence().is_some_and(|s| !s.is_empty()),
        None => false,
    })
}

/// The alert rules of one Prometheus rule file (recording rules skipped).
fn rule_file(ctx: &ProbeContext, path: &str, out: &mut Vec<AlertRule>) -> MonitoringSource {
    let doc = match yaml(ctx, path) {
        Ok(d) => d,
        Err(e) => return source(path, "rules", Err(e)),
    };
    let Some(groups) = doc.get("groups").and_then(Value::as_sequence) else {
        return source(path, "rules", Err(format!("{path}: no `groups` list")));
    };
    let mut n = 0u32;
    for (gi, group) in groups.iter().enumerate() {
        let gname = group
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some(rules) = group.get("rules").and_then(Value::as_sequence) else {
            return source(
                path,
                "rules",
                Err(format!("{path}: groups[{gi}] ({gname}): no `rules` list")),
            );
        };
        for (ri, rule) in rules.iter().enumerate() {
            let Some(alert) = rule.get("alert").and_then(Value::as_str) else {
                continue;
            };
            let Some(expr) = rule.get("expr").and_then(scalar) else {
                return source(
                    path,
                    "rules",
                    Err(format!(
                        "{path}: groups[{gi}].rules[{ri}] ({alert}): no `expr`"
                    )),
                );
            };
            if out.len() >= MAX_RULES {
                break;
            }
            n += 1;
            out.push(AlertRule {
                file: path.to_string(),
                group: gname.to_string(),
                alert: alert.to_string(),
                expr: expr.chars().take(MAX_EXPR_CHARS).collect(),
                resources: resources(&expr),
                threshold: threshold(&expr),
                for_duration: rule.get("for").and_then(scalar).unwrap_or_default(),
                severity: rule
                    .get("labels")
                    .and_then(|l| l.get("severity"))
                    .and_then(scalar)
                    .unwrap_or_default(),
            });
        }
    }
    source(path, "rules", Ok(n))
}

/// A YAML scalar as text (expressions may be plain numbers: `expr: 1`).
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// What an expression watches, by its metric names.
pub fn resources(expr: &str) -> Vec<String> {
    let names: BTreeSet<&str> = identifiers(expr).collect();
    RESOURCES
        .iter()
        .filter(|(_, prefixes)| {
            names.iter().any(|n| {
                prefixes.iter().any(|p| {
                    if p.ends_with('_') {
                        n.starts_with(p)
                    } else {
                        n == p
                    }
                })
            })
        })
        .map(|(r, _)| r.to_string())
        .collect()
}

/// The identifiers of a PromQL expression, outside label matchers and
/// strings (`{mode="idle"}` names no metric).
fn identifiers(expr: &str) -> impl Iterator<Item = &str> {
    let mut out = Vec::new();
    let (mut depth, mut quote) = (0usize, None::<char>);
    let mut start = None;
    for (i, ch) in expr.char_indices() {
        if let Some(q) = quote {
            if ch == q {
                quote = None;
            }
            continue;
        }
        let ident = ch.is_ascii_alphanumeric() || ch == '_' || ch == ':';
        if ident {
            if start.is_none() {
                start = Some(i);
            }
            continue;
        }
        if let Some(s) = start.take() {
            if depth == 0 {
                out.push(&expr[s..i]);
            }
        }
        match ch {
            '"' | '\'' | '`' => quote = Some(ch),
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if let Some(s) = start {
        if depth == 0 {
            out.push(&expr[s..]);
        }
    }
    out.into_iter()
        .filter(|t| !t.starts_with(|c: char| c.is_ascii_digit()))
}

/// The comparison an expression ends in, when it ends in one with a number:
/// "> 80", "== 0", "< 0.1"; "" otherwise.
pub fn threshold(expr: &str) -> String {
    let e = expr.trim_end();
    let number_start = e
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_digit() || matches!(c, '.' | 'e' | '+' | '-' | '_'))
        .last()
        .map(|(i, _)| i);
    let Some(at) = number_start else {
        return String::new();
    };
    let number = &e[at..];
    if number.parse::<f64>().is_err() {
        return String::new();
    }
    let before = e[..at].trim_end();
    let before = before
        .strip_suffix("bool")
        .map(str::trim_end)
        .unwrap_or(before);
    for op in [">=", "<=", "==", "!=", ">", "<"] {
        if before.ends_with(op) {
            return format!("{op} {number}");
        }
    }
    String::new()
}

/// The receivers of one Alertmanager configuration.
fn alertmanager_config(
    ctx: &ProbeContext,
    path: &str,
    out: &mut Vec<AlertReceiver>,
) -> MonitoringSource {
    let doc = match yaml(ctx, path) {
        Ok(d) => d,
        Err(e) => return source(path, "alertmanager", Err(e)),
    };
    let mut routed = BTreeSet::new();
    if let Some(route) = doc.get("route") {
        route_receivers(route, 0, &mut routed);
    }
    let receivers = doc
        .get("receivers")
        .and_then(Value::as_sequence)
        .cloned()
        .unwrap_or_default();
    let mut n = 0;
    for r in &receivers {
        let name = r.get("name").and_then(Value::as_str).unwrap_or_default();
        let mut notifiers = Vec::new();
        let mut placeholders = Vec::new();
        for kind in NOTIFIERS {
            let Some(configs) = r
                .get(format!("{kind}_configs").as_str())
                .and_then(Value::as_sequence)
            else {
                continue;
            };
            if configs.is_empty() {
                continue;
            }
            notifiers.push(kind.to_string());
            let mut texts = BTreeMap::new();
            for c in configs {
                strings(c, 0, &mut texts);
            }
            for (key, text) in texts {
                let template = text.starts_with('<') && text.ends_with('>');
                if template || PLACEHOLDER_DOMAINS.iter().any(|d| text.contains(d)) {
                    placeholders.push(format!("{kind}: {key}: {text}"));
                }
            }
        }
        n += 1;
        out.push(AlertReceiver {
            file: path.to_string(),
            name: name.to_string(),
            notifiers,
            routed: routed.contains(name),
            placeholders,
        });
    }
    source(path, "alertmanager", Ok(n))
}

/// Receivers the route tree names (to a bounded depth).
fn route_receivers(route: &Value, depth: usize, out: &mut BTreeSet<String>) {
    if depth > 32 {
        return;
    }
    if let Some(r) = route.get("receiver").and_then(Value::as_str) {
        out.insert(r.to_string());
    }
    for child in route
        .get("routes")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        route_receivers(child, depth + 1, out);
    }
}

/// The string values of a notifier's configuration that name where it
/// sends (addresses, URLs), by key; values of keys holding secrets are left
/// out unless they are `<placeholders>`.
fn strings(v: &Value, depth: usize, out: &mut BTreeMap<String, String>) {
    if depth > 8 {
        return;
    }
    let Some(map) = v.as_mapping() else {
        return;
    };
    for (k, v) in map {
        let Some(k) = k.as_str() else { continue };
        let secret = ["password", "secret", "key", "token", "auth"]
            .iter()
            .any(|s| k.contains(s));
        match v {
            // A secret's value is never kept, unless it is a template's
            // placeholder ("<team-X-key>"), which is no secret and no key.
            Value::String(s)
                if (!secret || (s.starts_with('<') && s.ends_with('>'))) && out.len() < 64 =>
            {
                out.insert(k.to_string(), s.chars().take(200).collect());
            }
            Value::Mapping(_) => strings(v, depth + 1, out),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_are_classified_by_their_metrics() {
        let cpu = r#"100 - (avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m])) * 100) > 80"#;
        assert_eq!(resources(cpu), ["cpu"]);
        assert_eq!(threshold(cpu), "> 80");
        let disk = "node_filesystem_avail_bytes{fstype!=\"tmpfs\"} / node_filesystem_size_bytes * 100 < 10";
        assert_eq!(resources(disk), ["disk"]);
        assert_eq!(threshold(disk), "< 10");
        assert_eq!(resources("up{job=\"node\"} == 0"), ["service_down"]);
        assert_eq!(threshold("up == 0"), "== 0");
        assert_eq!(resources("probe_success == 0"), ["service_down"]);
        assert_eq!(
            resources("rate(node_network_receive_bytes_total[5m]) > 1e+08"),
            ["traffic"]
        );
        assert_eq!(threshold("rate(x[5m]) > 1e+08"), "> 1e+08");
        // A label value or a string names no metric; no comparison, no threshold.
        assert!(resources(r#"absent(foo{job="up"})"#).is_empty());
        assert_eq!(
            threshold("predict_linear(node_filesystem_free_bytes[6h], 86400)"),
            ""
        );
        assert_eq!(threshold("x > bool 3"), "> 3");
        // A metric named like a prefix's stem is not that resource.
        assert!(resources("uptime_seconds > 3").is_empty());
    }
}

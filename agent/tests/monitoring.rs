//! The monitoring probe on real Prometheus and Alertmanager files: rule
//! files that Debian's `promtool check` accepts (node alerts written here,
//! and gamsa's own deploy/prometheus/gamsa-alerts.yml), the Alertmanager
//! configuration Debian's prometheus-alertmanager package installs (every
//! receiver a documentation placeholder) and one with a real address, both
//! accepted by `amtool check-config`; the host's real dpkg status. A file
//! promtool refuses is an error naming the file, never "no rules".

mod common;

use common::{ctx, write};
use gamsa_agent::probes::monitoring::{observe, Config};
use std::path::Path;
use std::process::Command;

const NODE_RULES: &str = r#"groups:
  - name: node
    rules:
      - alert: HostHighCpu
        expr: 100 - (avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m])) * 100) > 80
        for: 10m
        labels:
          severity: warning
      - alert: HostLowMemory
        expr: node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes * 100 < 10
        for: 5m
        labels:
          severity: critical
      - alert: HostDiskFull
        expr: node_filesystem_avail_bytes{fstype!~"tmpfs|overlay"} / node_filesystem_size_bytes * 100 < 15
      - alert: HostHighTraffic
        expr: sum by (instance) (rate(node_network_receive_bytes_total[5m])) > 1e+08
      - alert: TargetDown
        expr: up == 0
        for: 2m
      - record: instance:node_cpu:rate5m
        expr: rate(node_cpu_seconds_total[5m])
"#;

const ONCALL: &str = r#"route:
  receiver: oncall
  routes:
    - matchers: ['severity="critical"']
      receiver: oncall
receivers:
  - name: oncall
    email_configs:
      - to: oncall@hospital.kr
        from: alertmanager@hospital.kr
        smarthost: mail.hospital.kr:587
  - name: unused
    webhook_configs:
      - url: http://sms-gateway.hospital.kr/alert
"#;

fn check(tool: &str, args: &[&str], file: &Path) -> std::process::Output {
    Command::new(tool)
        .args(args)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("{tool}: {e} (Debian's prometheus and prometheus-alertmanager)"))
}

#[test]
fn rules_receivers_and_agents_from_real_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "/etc/prometheus/prometheus.yml",
        "global:\n  evaluation_interval: 15s\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['localhost:9093']\nrule_files:\n  - rules/*.yml\nscrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['localhost:9100']\n",
    );
    write(root, "/etc/prometheus/rules/node.yml", NODE_RULES);
    let gamsa = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/prometheus/gamsa-alerts.yml"),
    )
    .unwrap();
    write(root, "/etc/prometheus/rules/gamsa.yml", &gamsa);
    // Debian's own example, as its package installs it.
    let debian = std::fs::read_to_string("/etc/prometheus/alertmanager.yml")
        .expect("prometheus-alertmanager installs /etc/prometheus/alertmanager.yml");
    write(root, "/etc/prometheus/alertmanager.yml", &debian);
    write(root, "/etc/alertmanager/alertmanager.yml", ONCALL);
    // The real tools accept every file the probe reads.
    let out = check(
        "promtool",
        &["check", "config"],
        &root.join("etc/prometheus/prometheus.yml"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        stdout.contains("SUCCESS: 6 rules found") || stdout.contains("6 rules found"),
        "{stdout}"
    );
    for am in [
        "etc/prometheus/alertmanager.yml",
        "etc/alertmanager/alertmanager.yml",
    ] {
        let out = check("amtool", &["check-config"], &root.join(am));
        assert!(
            out.status.success(),
            "{am}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    // The host's processes and its real dpkg record.
    write(root, "/proc/101/comm", "prometheus-node\n");
    write(root, "/proc/102/comm", "prometheus\n");
    write(root, "/proc/103/comm", "bash\n");
    let status = std::fs::read_to_string("/var/lib/dpkg/status").unwrap();
    write(root, "/var/lib/dpkg/status", &status);

    let m = observe(&Config::default(), &ctx(root)).unwrap();

    let errors: Vec<_> = m.sources.iter().filter(|s| !s.error.is_empty()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    let prometheus = m.sources.iter().find(|s| s.kind == "prometheus").unwrap();
    assert_eq!(prometheus.count, 1, "one Alertmanager to send to");
    let agent = |name: &str| m.agents.iter().find(|a| a.name == name);
    let node = agent("node_exporter").expect("node_exporter");
    assert!(
        node.running && node.process == "prometheus-node",
        "{node:?}"
    );
    let prom = agent("prometheus").expect("prometheus");
    assert!(prom.running, "{prom:?}");
    let version = Command::new("dpkg-query")
        .args(["-W", "-f=${Version}", "prometheus"])
        .output()
        .unwrap();
    assert_eq!(
        prom.package_version,
        String::from_utf8_lossy(&version.stdout)
    );
    assert!(agent("zabbix_agent").is_none());

    let rule = |name: &str| m.alert_rules.iter().find(|r| r.alert == name).unwrap();
    for (alert, resource, threshold) in [
        ("HostHighCpu", "cpu", "> 80"),
        ("HostLowMemory", "memory", "< 10"),
        ("HostDiskFull", "disk", "< 15"),
        ("HostHighTraffic", "traffic", "> 1e+08"),
        ("TargetDown", "service_down", "== 0"),
    ] {
        let r = rule(alert);
        assert_eq!(r.resources, [resource], "{r:?}");
        assert_eq!(r.threshold, threshold, "{r:?}");
    }
    assert_eq!(rule("HostHighCpu").for_duration, "10m");
    assert_eq!(rule("HostLowMemory").severity, "critical");
    // Recording rules are no alerts; gamsa's own alerts watch no host
    // resource.
    let gamsa_alerts = gamsa.matches("- alert:").count();
    let from_gamsa: Vec<_> = m
        .alert_rules
        .iter()
        .filter(|r| r.file.ends_with("gamsa.yml"))
        .collect();
    assert_eq!(from_gamsa.len(), gamsa_alerts);
    assert!(
        from_gamsa.iter().all(|r| r.resources.is_empty()),
        "{from_gamsa:?}"
    );
    assert_eq!(m.alert_rules.len(), 5 + gamsa_alerts);

    // Debian's example notifies no one: example.org addresses and
    // <placeholder> keys. The on-call receiver does.
    let debian: Vec<_> = m
        .receivers
        .iter()
        .filter(|r| r.file == "/etc/prometheus/alertmanager.yml")
        .collect();
    assert!(debian.len() >= 4, "{debian:?}");
    assert!(
        debian.iter().all(|r| !r.placeholders.is_empty()),
        "{debian:?}"
    );
    assert!(debian
        .iter()
        .any(|r| r.notifiers.contains(&"pagerduty".to_string())));
    let oncall = m.receivers.iter().find(|r| r.name == "oncall").unwrap();
    assert!(
        oncall.routed && oncall.placeholders.is_empty(),
        "{oncall:?}"
    );
    assert_eq!(oncall.notifiers, ["email"]);
    let unused = m.receivers.iter().find(|r| r.name == "unused").unwrap();
    assert!(!unused.routed, "no route reaches it: {unused:?}");
}

#[test]
fn a_rule_file_promtool_refuses_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "/proc/1/comm", "prometheus\n");
    let broken =
        "groups:\n  - name: node\n    rules:\n      - alert: Broken\n        expr: [up == 0\n";
    write(root, "/etc/prometheus/rules/broken.yml", broken);
    let out = check(
        "promtool",
        &["check", "rules"],
        &root.join("etc/prometheus/rules/broken.yml"),
    );
    assert!(!out.status.success(), "promtool accepted it");
    let config = Config {
        prometheus_configs: vec![],
        rule_files: vec!["/etc/prometheus/rules/*.yml".into()],
        alertmanager_configs: vec![],
        ..Config::default()
    };
    let m = observe(&config, &ctx(root)).unwrap();
    assert!(m.alert_rules.is_empty());
    assert_eq!(m.sources.len(), 1, "{:?}", m.sources);
    assert!(
        m.sources[0]
            .error
            .starts_with("/etc/prometheus/rules/broken.yml: "),
        "{:?}",
        m.sources[0]
    );
    // No process table: the probe cannot tell which agents run.
    let empty = tempfile::tempdir().unwrap();
    let e = observe(&config, &ctx(empty.path())).unwrap_err();
    assert!(e.contains("/proc"), "{e}");
}

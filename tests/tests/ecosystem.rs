//! gamsa in a monitoring and SIEM setup, with real components on loopback:
//! the compliance gauges of `/metrics` against the API's verdicts, the names
//! the example alert rules and Grafana dashboard query against a real scrape,
//! `export --format ocsf` read by py-ocsf-models, and verdict changes
//! delivered to a real rsyslog (RFC 5424 over TCP) and a webhook server,
//! once for collectors sharing a PostgreSQL store.

use gamsa_tests::pg::Scratch;
use gamsa_tests::{agent_config, free_port, start_agent, wait_for, Collector, Proc, Settings};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A webhook receiver on loopback: answers every POST 200 and keeps the
/// JSON bodies.
fn webhook() -> (u16, Arc<Mutex<Vec<Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let kept = bodies.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let mut reader = BufReader::new(conn);
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_ok() {
                if let Ok(v) = serde_json::from_slice(&body) {
                    kept.lock().unwrap().push(v);
                }
            }
            let _ = reader
                .get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (port, bodies)
}

/// rsyslogd with a configuration of its own: RFC 5424 messages received
/// over TCP on a loopback port, written one per line as rsyslog parsed them.
fn rsyslog(dir: &Path) -> (u16, PathBuf, Proc) {
    let port = free_port();
    let out = dir.join("syslog.out");
    let conf = dir.join("rsyslog.conf");
    std::fs::write(
        &conf,
        format!(
            r#"global(workDirectory="{dir}")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="{port}")
template(name="parsed" type="string" string="%protocol-version%|%app-name%|%msgid%|%structured-data%|%msg%\n")
*.* action(type="omfile" file="{out}" template="parsed")
"#,
            dir = dir.display(),
            out = out.display()
        ),
    )
    .unwrap();
    let mut cmd = Command::new("rsyslogd");
    cmd.arg("-n")
        .arg("-f")
        .arg(&conf)
        .arg("-i")
        .arg(dir.join("rsyslog.pid"));
    let proc = Proc::spawn(cmd, dir.join("rsyslog.log"))
        .expect("rsyslogd (apt-get install rsyslog; tests/run.sh installs it)");
    wait_for("rsyslog listening", Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    });
    (port, out, proc)
}

fn scrape(c: &Collector) -> String {
    ureq::get(&format!("http://127.0.0.1:{}/metrics", c.http))
        .call()
        .unwrap()
        .into_string()
        .unwrap()
}

/// Samples of `name` in an exposition: labels → value.
fn samples(text: &str, name: &str) -> Vec<(BTreeMap<String, String>, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (n, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            (n == name).then(|| {
                let labels = labels
                    .split(',')
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
                    .collect();
                (labels, value.parse().unwrap_or(f64::NAN))
            })
        })
        .collect()
}

/// Item counts per verdict of `catalog`, as the API answers now.
fn api_counts(c: &Collector, catalog: &str) -> BTreeMap<String, f64> {
    let mut out: BTreeMap<String, f64> = ["Y", "P", "N", "NA", "UNKNOWN"]
        .iter()
        .map(|v| (v.to_string(), 0.0))
        .collect();
    for i in c.get(&format!("/api/v1/catalogs/{catalog}/items")).unwrap()["items"]
        .as_array()
        .unwrap()
    {
        *out.entry(i["verdict"].as_str().unwrap().to_string())
            .or_default() += 1.0;
    }
    out
}

fn gauge_counts(text: &str, catalog: &str) -> BTreeMap<String, f64> {
    samples(text, "gamsa_collector_compliance_items")
        .into_iter()
        .filter(|(l, _)| l["catalog"] == catalog)
        .map(|(l, v)| (l["verdict"].clone(), v))
        .collect()
}

/// Metric names an exposition declares (`# TYPE`), with the series names
/// each type adds.
fn exported(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for l in text.lines() {
        let mut f = l.split_whitespace();
        if let (Some("#"), Some("TYPE"), Some(n), Some(t)) =
            (f.next(), f.next(), f.next(), f.next())
        {
            names.insert(n.to_string());
            let suffixes: &[&str] = match t {
                "counter" => &["_total", "_created"],
                "histogram" => &["_bucket", "_sum", "_count", "_created"],
                _ => &[],
            };
            names.extend(suffixes.iter().map(|s| format!("{n}{s}")));
        }
    }
    names
}

/// Metric names (`gamsa_…`) in a text of PromQL expressions.
fn queried(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("gamsa_collector_") {
        let start = i + at;
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        out.insert(text[start..end].to_string());
        i = end;
    }
    out
}

fn settings(sinks: &str) -> Settings {
    Settings {
        sections: format!(
            "[findings]\ninterval = \"1s\"\nattempts = 2\nsilent_after = \"1h\"\n{sinks}"
        ),
        ..Settings::default()
    }
}

#[test]
fn compliance_metrics_ocsf_export_and_verdict_changes_to_rsyslog_and_a_webhook() {
    let dir = tempfile::tempdir().unwrap();
    let (syslog_port, syslog_out, _rsyslog) = rsyslog(dir.path());
    let (hook_port, bodies) = webhook();
    let nowhere = free_port();
    let sinks = format!(
        "[[findings.sinks]]\nurl = \"tcp://127.0.0.1:{syslog_port}\"\nname = \"rsyslog\"\n\
         [[findings.sinks]]\nurl = \"http://127.0.0.1:{hook_port}/hook\"\n\
         [[findings.sinks]]\nurl = \"tcp://127.0.0.1:{nowhere}\"\nname = \"nowhere\"\ntimeout = \"1s\"\n"
    );
    let collector = Collector::start_configured(None, settings(&sinks)).unwrap();
    // The baseline: an evaluation before any agent reports.
    wait_for("a first evaluation", Duration::from_secs(20), || {
        samples(
            &scrape(&collector),
            "gamsa_collector_compliance_evaluated_timestamp_seconds",
        )
        .first()
        .filter(|(_, v)| *v > 0.0)
        .map(|_| ())
    });

    let creds = collector.issue("node-a").unwrap();
    let cfg = agent_config(collector.dir.path(), "node-a", &collector, &creds, "").unwrap();
    let _agent = start_agent(&cfg, collector.dir.path().join("agent.log")).unwrap();
    wait_for("host and ports evidence", Duration::from_secs(30), || {
        let probes: BTreeSet<String> = collector
            .evidence("host=node-a")
            .iter()
            .filter_map(|e| e["probe"].as_str().map(str::to_string))
            .collect();
        (probes.contains("host") && probes.contains("ports")).then_some(())
    });

    // The gauges equal the API's verdicts, for every catalog, once they come
    // from an evaluation that has seen the agent's evidence (both read the
    // kept evaluation: an earlier one also makes them equal).
    let catalogs: Vec<String> = collector.get("/api/v1/catalogs").unwrap()["catalogs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert!(catalogs.len() >= 2, "{catalogs:?}");
    let text = wait_for(
        "gauges equal to the API's verdicts",
        Duration::from_secs(30),
        || {
            let text = scrape(&collector);
            let seen_host = samples(&text, "gamsa_collector_evidence_oldest_age_seconds")
                .iter()
                .any(|(l, _)| l["probe"] == "host");
            (seen_host
                && catalogs
                    .iter()
                    .all(|c| gauge_counts(&text, c) == api_counts(&collector, c)))
            .then_some(text)
        },
    );
    let emr = gauge_counts(&text, "emr-s014");
    assert!(
        emr["Y"] + emr["P"] + emr["N"] > 0.0,
        "no item answered: {emr:?}"
    );
    let ages = samples(&text, "gamsa_collector_evidence_oldest_age_seconds");
    let host_age = ages.iter().find(|(l, _)| l["probe"] == "host").unwrap().1;
    assert!(
        (0.0..120.0).contains(&host_age),
        "host evidence age {host_age}"
    );
    assert_eq!(
        samples(&text, "gamsa_collector_agents_silent")[0].1,
        0.0,
        "node-a just reported"
    );
    assert!(!samples(&text, "gamsa_collector_compliance_hosts_failing").is_empty());
    assert!(text.contains("as of gamsa_collector_compliance_evaluated_timestamp_seconds"));

    // Every metric the alert rules and the dashboard query is exported
    // (refusals show once there was one: a request without a token).
    assert!(ureq::get(&format!(
        "http://127.0.0.1:{}/api/v1/agents",
        collector.http
    ))
    .call()
    .is_err());
    let names = exported(&scrape(&collector));
    for file in [
        "deploy/prometheus/gamsa-alerts.yml",
        "deploy/grafana/gamsa-dashboard.json",
    ] {
        let body = std::fs::read_to_string(repo().join(file)).unwrap();
        let exprs = if file.ends_with(".json") {
            let v: Value = serde_json::from_str(&body).unwrap();
            let mut e = String::new();
            for p in v["panels"].as_array().unwrap() {
                for t in p["targets"].as_array().unwrap() {
                    e.push_str(t["expr"].as_str().unwrap());
                    e.push('\n');
                }
            }
            e
        } else {
            body
        };
        let wanted = queried(&exprs);
        assert!(wanted.len() >= 5, "{file}: {wanted:?}");
        let missing: Vec<_> = wanted.difference(&names).collect();
        assert!(
            missing.is_empty(),
            "{file} queries {missing:?}, not exported"
        );
    }

    // Verdict changes reach the webhook as OCSF findings and rsyslog as
    // RFC 5424 messages; the last change of each item is its verdict now.
    let changes = wait_for("changes at both sinks", Duration::from_secs(30), || {
        let b = bodies.lock().unwrap().clone();
        let lines = std::fs::read_to_string(&syslog_out).unwrap_or_default();
        (!b.is_empty() && lines.lines().count() >= b.len()).then_some((b, lines))
    });
    let (hooked, lines) = changes;
    for f in &hooked {
        let g = &f["unmapped"]["gamsa"];
        let line = format!(
            "1|gamsa-collector|verdict-change|[gamsa@32473 catalog=\"{}\" item=\"{}\" before=\"{}\" after=\"{}\"",
            g["catalog"].as_str().unwrap(),
            g["item"].as_str().unwrap(),
            g["before"].as_str().unwrap_or("-"),
            g["after"].as_str().unwrap()
        );
        assert!(
            lines.contains(&line),
            "{line} not in rsyslog's output:\n{lines}"
        );
        assert_eq!(f["type_uid"], 200302, "{f}");
    }
    wait_for(
        "last changes equal the API's verdicts",
        Duration::from_secs(30),
        || {
            let mut last: BTreeMap<(String, String), String> = BTreeMap::new();
            for f in bodies.lock().unwrap().iter() {
                let g = &f["unmapped"]["gamsa"];
                last.insert(
                    (g["catalog"].as_str()?.into(), g["item"].as_str()?.into()),
                    g["after"].as_str()?.into(),
                );
            }
            last.iter()
                .all(|((c, i), after)| {
                    collector
                        .get(&format!("/api/v1/catalogs/{c}/items/{i}"))
                        .map(|v| v["result"]["verdict"] == after.as_str())
                        .unwrap_or(false)
                })
                .then_some(())
        },
    );
    // A sink nobody listens on: counted failed, not retried forever.
    wait_for("failed sends counted", Duration::from_secs(30), || {
        samples(&scrape(&collector), "gamsa_collector_findings_failed_total")
            .iter()
            .any(|(l, v)| l["sink"] == "nowhere" && *v >= 1.0)
            .then_some(())
    });
    let sent = samples(&scrape(&collector), "gamsa_collector_findings_sent_total");
    assert!(sent
        .iter()
        .any(|(l, v)| l["sink"] == "rsyslog" && *v >= hooked.len() as f64));

    // OCSF: the export and the webhook bodies parse as py-ocsf-models'
    // ComplianceFinding; one export finding per (item, host).
    let export = collector.dir.path().join("emr.ocsf.json");
    let url = format!(
        "http://127.0.0.1:{}/api/v1/exports?catalog=emr-s014&format=ocsf",
        collector.http
    );
    let bytes = ureq::get(&url)
        .set("Authorization", &format!("Bearer {}", collector.token))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    std::fs::write(&export, &bytes).unwrap();
    let findings: Vec<Value> = serde_json::from_str(&bytes).unwrap();
    let items = collector.get("/api/v1/catalogs/emr-s014/items").unwrap();
    let expected: usize = items["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let hosts: u64 = i["hostCounts"]
                .as_object()
                .map_or(0, |c| c.values().filter_map(Value::as_u64).sum());
            (hosts as usize).max(1)
        })
        .sum();
    assert_eq!(findings.len(), expected);
    assert!(findings
        .iter()
        .any(|f| f["resources"][0]["uid"] == "node-a"));
    let hooks = collector.dir.path().join("hooks.json");
    std::fs::write(&hooks, serde_json::to_vec(&hooked).unwrap()).unwrap();
    for file in [&export, &hooks] {
        let out = Command::new("python3")
            .arg("-c")
            .arg(
                "import json, sys\n\
                 from py_ocsf_models.events.findings.compliance_finding import ComplianceFinding\n\
                 fs = json.load(open(sys.argv[1]))\n\
                 for f in fs:\n\
                 \x20   m = ComplianceFinding(**f)\n\
                 \x20   assert m.class_uid == 2003 and m.category_uid == 2, m\n\
                 \x20   assert m.compliance.status_id is not None\n\
                 print(len(fs))",
            )
            .arg(file)
            .output()
            .expect("python3");
        assert!(
            out.status.success(),
            "py-ocsf-models refused {}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse::<usize>()
                .unwrap()
                > 0
        );
    }
}

#[test]
fn collectors_sharing_postgresql_send_each_verdict_change_once() {
    let scratch = Scratch::create("gamsa_findings");
    let (hook_port, bodies) = webhook();
    let sinks = format!("[[findings.sinks]]\nurl = \"http://127.0.0.1:{hook_port}/\"\n");
    let first = Collector::start_configured(Some(&scratch.url), settings(&sinks)).unwrap();
    let second = first.replica().unwrap();
    for c in [&first, &second] {
        wait_for("a first evaluation", Duration::from_secs(20), || {
            samples(
                &scrape(c),
                "gamsa_collector_compliance_evaluated_timestamp_seconds",
            )
            .first()
            .filter(|(_, v)| *v > 0.0)
            .map(|_| ())
        });
    }
    let creds = first.issue("node-b").unwrap();
    let cfg = agent_config(first.dir.path(), "node-b", &first, &creds, "").unwrap();
    let _agent = start_agent(&cfg, first.dir.path().join("agent.log")).unwrap();
    // The agent's first cycle, an evaluation and the lease holder's tick:
    // on a loaded machine the cycle alone has taken most of 30 s.
    wait_for("verdict changes", Duration::from_secs(90), || {
        (!bodies.lock().unwrap().is_empty()).then_some(())
    });
    // Both replicas evaluated the new evidence several times since.
    std::thread::sleep(Duration::from_secs(4));
    let got = bodies.lock().unwrap().clone();
    let mut seen = BTreeSet::new();
    for f in &got {
        let g = &f["unmapped"]["gamsa"];
        let key = (
            g["catalog"].to_string(),
            g["item"].to_string(),
            g["before"].to_string(),
            g["after"].to_string(),
        );
        assert!(seen.insert(key.clone()), "{key:?} sent twice");
    }
    let sent = |c: &Collector| -> f64 {
        samples(&scrape(c), "gamsa_collector_findings_sent_total")
            .iter()
            .map(|(_, v)| v)
            .sum()
    };
    let (a, b) = (sent(&first), sent(&second));
    assert!(
        (a == 0.0) != (b == 0.0),
        "one collector sends, the other not: {a} and {b}"
    );
}

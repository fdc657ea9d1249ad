//! The host inventory end to end: two real agents report this machine under
//! two host names to a real collector; the API pages through the hosts (one
//! a page), each row saying what the hosts' latest evidence says (OS,
//! kernel, addresses, packages, end of support, anti-malware), with the
//! addresses replaced by keyed labels when asked; the command line writes
//! the same rows as CSV and JSON; every read is in the access log.

use anyhow::Result;
use gamsa_tests::{agent_config, run, start_agent, wait_for, Collector};
use serde_json::Value;
use std::time::Duration;

const HOSTS: [&str; 2] = ["inv-1", "inv-2"];
const WAIT: Duration = Duration::from_secs(60);

/// The newest observed evidence of `probe` on `host`, once there is one.
fn latest(c: &Collector, host: &str, probe: &str) -> Value {
    wait_for(&format!("{probe} evidence of {host}"), WAIT, || {
        c.evidence(&format!("host={host}&probe={probe}"))
            .into_iter()
            .find(|e| e["status"] == "STATUS_OBSERVED")
    })
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_inventory_lists_each_host_from_its_latest_evidence_page_by_page() -> Result<()> {
    let c = Collector::start()?;
    let dir = tempfile::tempdir()?;
    let mut agents = Vec::new();
    for host in HOSTS {
        let creds = c.issue(host)?;
        let cfg = agent_config(dir.path(), host, &c, &creds, "")?;
        agents.push(start_agent(&cfg, dir.path().join(format!("{host}.log")))?);
    }
    let mut expected = Vec::new();
    for host in HOSTS {
        let info = latest(&c, host, "host");
        let software = latest(&c, host, "software");
        let network = latest(&c, host, "redundancy");
        expected.push((host, info, software, network));
    }

    // One host a page, by name; each row as its evidence says.
    let mut seen = Vec::new();
    let mut page = 0;
    loop {
        let p = c.get(&format!("/api/v1/inventory?limit=1&page={page}"))?;
        assert_eq!(p["total"], 2, "{p}");
        let hosts = p["hosts"].as_array().unwrap();
        assert_eq!(hosts.len(), 1, "{p}");
        seen.push(hosts[0].clone());
        match p["next"].as_u64() {
            Some(n) => page = n as usize,
            None => break,
        }
    }
    let names: Vec<&str> = seen.iter().filter_map(|r| r["host"].as_str()).collect();
    assert_eq!(names, HOSTS);
    for (row, (host, info, software, network)) in seen.iter().zip(&expected) {
        let at = format!("{host}: {row}");
        let info = &info["hostInfo"];
        assert_eq!(row["agentId"], *host, "{at}");
        assert_eq!(row["os"], info["osName"], "{at}");
        assert_eq!(row["osVersion"], info["osVersion"], "{at}");
        assert_eq!(row["kernel"], info["kernelVersion"], "{at}");
        assert!(!row["kernel"].as_str().unwrap_or("").is_empty(), "{at}");
        let software = &software["software"];
        let packages: u64 = software["databases"]
            .as_array()
            .map(|d| {
                d.iter()
                    .filter(|d| d["error"].as_str().unwrap_or("").is_empty())
                    .filter_map(|d| d["count"].as_u64())
                    .sum()
            })
            .unwrap_or(0);
        if packages > 0 {
            assert_eq!(row["packages"].as_u64(), Some(packages), "{at}");
        }
        assert_eq!(
            row["endOfSupport"].as_str().unwrap_or(""),
            software["os"]["endOfSupport"].as_str().unwrap_or(""),
            "{at}"
        );
        let products: Vec<String> = software["antiMalware"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| p["product"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(strings(&row["antiMalware"]).len(), products.len(), "{at}");
        let mut addresses: Vec<String> = network["networkRedundancy"]["interfaces"]
            .as_array()
            .map(|i| i.iter().flat_map(|i| strings(&i["addresses"])).collect())
            .unwrap_or_default();
        addresses.sort();
        addresses.dedup();
        let mut listed = strings(&row["addresses"]);
        listed.sort();
        assert_eq!(listed, addresses, "{at}");
        assert!(row["lastSeenMs"].as_i64().unwrap() > 0, "{at}");
        assert_eq!(row["revoked"], false, "{at}");
    }

    // Redacted: no address left, the same labels for both hosts (one
    // machine).
    let redacted = c.get("/api/v1/inventory?redactIps=true")?;
    let rows = redacted["hosts"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for r in rows {
        for a in strings(&r["addresses"]) {
            let ip = a.split('/').next().unwrap();
            assert!(
                ip.parse::<std::net::IpAddr>().is_err(),
                "{a} not redacted: {r}"
            );
            assert!(a.starts_with("ip-") || a.starts_with("ip6-"), "{a}");
        }
    }
    assert_eq!(rows[0]["addresses"], rows[1]["addresses"]);

    // The command line: the same hosts as CSV and as JSON.
    let csv = run(c.cmd().args(["inventory", "--format", "csv"]))?;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(
        lines[0]
            .trim_start_matches('\u{feff}')
            .starts_with("host,agent,os,os_version,kernel,addresses"),
        "{csv}"
    );
    for (line, row) in lines[1..].iter().zip(&seen) {
        let kernel = row["kernel"].as_str().unwrap();
        assert!(
            line.starts_with(&format!("{},", row["host"].as_str().unwrap()))
                && line.contains(kernel),
            "{line}"
        );
    }
    let json: Value = serde_json::from_str(&run(c.cmd().args(["inventory", "--format", "json"]))?)?;
    let cli: Vec<(&str, &Value)> = json["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["host"].as_str().unwrap(), &r["packages"]))
        .collect();
    let api: Vec<(&str, &Value)> = seen
        .iter()
        .map(|r| (r["host"].as_str().unwrap(), &r["packages"]))
        .collect();
    assert_eq!(cli, api);
    let refused = c.cmd().args(["inventory", "--format", "xml"]).output()?;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--format xml: expected csv or json"));

    // Every read recorded: two pages, the redacted read, two CLI reads.
    let log = c.get("/api/v1/access-log?limit=1000")?;
    let reads: Vec<&str> = log["accessLog"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "inventory-view")
        .filter_map(|r| r["what"].as_str())
        .collect();
    assert_eq!(reads.len(), 5, "{reads:?}");
    assert!(reads.contains(&"page 1 (1 of 2 hosts)"), "{reads:?}");
    assert!(
        reads.contains(&"page 0 (2 of 2 hosts) redacted"),
        "{reads:?}"
    );
    drop(agents);
    Ok(())
}

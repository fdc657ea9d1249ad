//! The assessment history end to end: a real agent reads a fixture host root
//! whose /etc/passwd is world-writable (KISA U-16), a real collector
//! evaluates every second and records the host's findings. The finding
//! appears (new), persists (recurring), stays open while the host is silent
//! and while its files evidence cannot be read (UNKNOWN is not fixed), is
//! fixed once fresh evidence shows the mode corrected, and comes back as a
//! new stretch when the mode is broken again. The findings report is taken
//! by the command line and the API, each recorded in the access log. Once on
//! SQLite and once on PostgreSQL.

use anyhow::Result;
use gamsa_tests::{agent_config, pg, run, start_agent, wait_for, Collector, Proc, Settings};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

const HOST: &str = "assessed-1";
const WAIT: Duration = Duration::from_secs(30);

fn write(root: &Path, path: &str, text: &str, mode: u32) {
    let p = root.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The U-16 finding of the host, as the API lists it.
fn finding(c: &Collector) -> Option<Value> {
    let h = c
        .get(&format!("/api/v1/findings?host={HOST}&catalog=kisa-unix"))
        .ok()?;
    h["findings"]
        .as_array()?
        .iter()
        .find(|f| f["item"] == "U-16" && f["check"] == "kisa-u16-passwd-mode")
        .cloned()
}

/// The host's findings read 7 at a time, following `nextOffset`, are the
/// findings of one answer; a page out of bounds is refused.
fn pages_hold_the_same_findings(c: &Collector) {
    let query = format!("/api/v1/findings?host={HOST}&catalog=kisa-unix");
    let keys = |answer: &Value| -> Vec<(String, String)> {
        answer["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["item"].to_string(), f["check"].to_string()))
            .collect()
    };
    // The agent's probes report one after another: wait until the
    // findings take more than one page.
    let whole = wait_for("more than 7 findings", WAIT, || {
        let whole = c.get(&format!("{query}&limit=1000")).unwrap();
        (whole["findings"].as_array().unwrap().len() > 7).then_some(whole)
    });
    assert!(whole["nextOffset"].is_null(), "{whole}");
    let (mut paged, mut offset, mut pages) = (Vec::new(), 0, 0);
    loop {
        let page = c.get(&format!("{query}&limit=7&offset={offset}")).unwrap();
        paged.extend(keys(&page));
        pages += 1;
        match page["nextOffset"].as_u64() {
            Some(next) => offset = next,
            None => break,
        }
    }
    assert_eq!(paged, keys(&whole));
    assert!(pages > 1, "{} findings fit one page of 7", paged.len());
    assert!(c.get(&format!("{query}&limit=0")).is_err());
    assert!(c.get(&format!("{query}&limit=1001")).is_err());
}

fn last_assessment(c: &Collector) -> i64 {
    c.get("/api/v1/findings").unwrap()["assessments"]["lastMs"]
        .as_i64()
        .unwrap_or(0)
}

/// Waits until `n` more assessments have been recorded.
fn assessments_pass(c: &Collector, n: i64) {
    let start = last_assessment(c);
    wait_for("assessments", WAIT, || {
        (last_assessment(c) >= start + n * 1000).then_some(())
    });
}

fn agent(c: &Collector, dir: &Path, root: &Path, run_no: u32) -> Result<Proc> {
    let creds = c.dir.path().join(format!("agent-{HOST}"));
    if !creds.exists() {
        c.issue(HOST)?;
    }
    let cfg = agent_config(
        dir,
        HOST,
        c,
        &creds,
        &format!("host_root = {:?}", root.display().to_string()),
    )?;
    let mut text = std::fs::read_to_string(&cfg)?;
    text.push_str("[probes.files]\ninterval = \"1s\"\n");
    std::fs::write(&cfg, text)?;
    start_agent(&cfg, dir.join(format!("agent-{run_no}.log")))
}

fn assessment_history(store_url: Option<&str>) -> Result<()> {
    let settings = Settings {
        sections: "[findings]\ninterval = \"1s\"\n".into(),
        ..Settings::default()
    };
    let c = Collector::start_configured(store_url, settings)?;
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("root");
    write(
        &root,
        "etc/passwd",
        "root:x:0:0:root:/root:/bin/bash\n",
        0o666,
    );
    write(&root, "etc/group", "root:x:0:\n", 0o644);
    let passwd = root.join("etc/passwd");
    let mut a = agent(&c, dir.path(), &root, 1)?;

    // Found, then seen again: recurring since the previous assessment.
    let first = wait_for("the finding to recur", WAIT, || {
        finding(&c).filter(|f| f["sincePrevious"] == "recurring")
    });
    assert_eq!(first["open"], true, "{first}");
    assert!(first["fixedMs"].is_null(), "{first}");
    assert!(
        first["remediationEn"]
            .as_str()
            .unwrap()
            .contains("chmod 644"),
        "{first}"
    );
    let first_seen = first["firstSeenMs"].as_i64().unwrap();
    pages_hold_the_same_findings(&c);

    // The host goes silent and is corrected meanwhile: nothing fresh shows
    // the fix, so the finding stays open.
    a.kill();
    std::fs::set_permissions(&passwd, std::fs::Permissions::from_mode(0o644))?;
    assessments_pass(&c, 3);
    let silent = finding(&c).unwrap();
    assert_eq!(silent["open"], true, "silent host: {silent}");
    assert_eq!(silent["firstSeenMs"].as_i64(), Some(first_seen));

    // The agent is back but cannot read the host's accounts: UNKNOWN,
    // still not fixed, and no longer seen failing.
    write(&root, "etc/passwd", "not a passwd line\n", 0o644);
    let mut a = agent(&c, dir.path(), &root, 2)?;
    wait_for("files error evidence", WAIT, || {
        c.evidence(&format!("host={HOST}&probe=files"))
            .first()
            .filter(|e| e["status"] == "STATUS_ERROR")
            .cloned()
    });
    assessments_pass(&c, 2);
    let unknown = finding(&c).unwrap();
    assessments_pass(&c, 2);
    let still = finding(&c).unwrap();
    assert_eq!(still["open"], true, "unknown host: {still}");
    assert!(still["fixedMs"].is_null(), "{still}");
    assert_eq!(
        still["lastSeenMs"], unknown["lastSeenMs"],
        "an unknown host is not seen failing"
    );

    // Fresh evidence of the corrected file fixes it.
    write(
        &root,
        "etc/passwd",
        "root:x:0:0:root:/root:/bin/bash\n",
        0o644,
    );
    let fixed = wait_for("the fix", WAIT, || {
        finding(&c).filter(|f| f["open"] == false)
    });
    assert!(fixed["fixedMs"].as_i64().unwrap() > first_seen, "{fixed}");
    assert_eq!(fixed["timesOpen"], 1, "{fixed}");
    // Asked for open findings only, the store leaves the fixed one out.
    let open = c.get(&format!(
        "/api/v1/findings?host={HOST}&catalog=kisa-unix&open=true"
    ))?;
    assert!(
        open["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["open"] == true && f["check"] != fixed["check"]),
        "{open}"
    );

    // The findings report, by the command line and the API, with the
    // remediation; each recorded in the access log.
    let csv = run(c.cmd().args([
        "findings",
        "--host",
        HOST,
        "--catalog",
        "kisa-unix",
        "--format",
        "csv",
    ]))?;
    let line = csv
        .lines()
        .find(|l| l.contains("kisa-u16-passwd-mode"))
        .unwrap_or_else(|| panic!("no U-16 line: {csv}"));
    assert!(
        line.contains(",fixed,") && line.contains("chmod 644"),
        "{line}"
    );
    let url = format!(
        "http://127.0.0.1:{}/api/v1/findings/report?host={HOST}&format=html",
        c.http
    );
    let html = ureq::get(&url)
        .set("Authorization", &format!("Bearer {}", c.token))
        .call()?
        .into_string()?;
    assert!(
        html.contains("취약점 점검 이력") && html.contains("kisa-unix/U-16"),
        "{html}"
    );
    let log = c.get("/api/v1/access-log?limit=1000")?;
    let exports: Vec<&str> = log["accessLog"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "export")
        .filter_map(|r| r["what"].as_str())
        .collect();
    assert!(
        exports.contains(&format!("findings report host={HOST} catalog=kisa-unix csv").as_str())
            && exports.contains(&format!("findings report host={HOST} html").as_str()),
        "{exports:?}"
    );

    // Broken again: a new stretch, new since the previous assessment.
    std::fs::set_permissions(&passwd, std::fs::Permissions::from_mode(0o666))?;
    let back = wait_for("the finding to come back", WAIT, || {
        finding(&c).filter(|f| f["open"] == true)
    });
    assert_eq!(back["timesOpen"], 2, "{back}");
    assert!(back["firstSeenMs"].as_i64().unwrap() > first_seen);
    a.kill();
    Ok(())
}

#[test]
fn findings_appear_persist_survive_silence_and_get_fixed_sqlite() -> Result<()> {
    assessment_history(None)
}

#[test]
fn findings_appear_persist_survive_silence_and_get_fixed_postgres() -> Result<()> {
    let scratch = pg::Scratch::create("gamsa_assessment");
    assessment_history(Some(&scratch.url))
}

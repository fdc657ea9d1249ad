//! Availability end to end: a real nginx on loopback, checked by two real
//! agents (two vantage points) against a real collector. nginx is stopped
//! for a few seconds and started again: the collector shows one outage of
//! that duration, the month's availability by the seed formula, and the
//! dashboard lists it; a service that only one agent cannot reach is that
//! vantage point's problem, not an outage. A planned maintenance window
//! entered over part of the outage makes that part a planned stop: the
//! availability by failures rises by the formula, the one counting planned
//! stops stays; the monthly operation report shows the outage with its
//! duration, and its PDF read back by poppler's pdftotext does too, as do
//! the availability rows (digital-service 2.1) on the dashboard.

use gamsa_tests::{agent_config, free_port, run, start_agent, wait_for, Collector, Proc};
use serde_json::Value;
use std::io::Read;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// How long nginx stays down.
const DOWN: Duration = Duration::from_secs(6);

/// nginx serving "ok" on `port`, in the foreground, everything under `dir`.
fn nginx(dir: &Path, port: u16, run_no: u32) -> Proc {
    let conf = dir.join("nginx.conf");
    let d = dir.display();
    std::fs::write(
        &conf,
        format!(
            "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/nginx-error.log;\n\
             events {{}}\nhttp {{\n access_log off;\n client_body_temp_path {d}/body;\n\
             proxy_temp_path {d}/proxy;\n fastcgi_temp_path {d}/fastcgi;\n uwsgi_temp_path {d}/uwsgi;\n\
             scgi_temp_path {d}/scgi;\n server {{\n  listen 127.0.0.1:{port};\n\
             location / {{ return 200 \"ok\\n\"; }}\n }}\n}}\n"
        ),
    )
    .unwrap();
    let mut cmd = Command::new("/usr/sbin/nginx");
    cmd.arg("-p").arg(dir).arg("-c").arg(&conf);
    let p = Proc::spawn(cmd, dir.join(format!("nginx-{run_no}.log"))).unwrap();
    wait_for("nginx to answer", Duration::from_secs(10), || {
        ureq::get(&format!("http://127.0.0.1:{port}/")).call().ok()
    });
    p
}

/// The synthetic checks of one agent: `web` on nginx, `api` on `api`.
fn checks(web: u16, api: &str) -> String {
    format!(
        "[probes.synthetic]\nsummary_interval = \"5s\"\n\
         [[probes.synthetic.checks]]\nname = \"web\"\nkind = \"http\"\n\
         target = \"http://127.0.0.1:{web}/\"\nbody_match = \"ok\"\ninterval = \"1s\"\ntimeout = \"800ms\"\n\
         [[probes.synthetic.checks]]\nname = \"api\"\nkind = \"tcp\"\ntarget = \"{api}\"\n\
         interval = \"1s\"\ntimeout = \"800ms\"\n"
    )
}

/// The synthetic reports of `check` from `host`, newest first.
fn reports(c: &Collector, host: &str, check: &str) -> Vec<Value> {
    c.evidence(&format!("probe=synthetic&host={host}"))
        .into_iter()
        .filter(|e| e["subject"] == check)
        .collect()
}

fn service<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == name)
        .unwrap_or_else(|| panic!("no service {name} in {report}"))
}

#[test]
fn an_nginx_outage_seen_from_two_vantage_points() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut web = nginx(dir.path(), port, 0);
    let collector = Collector::start_configured(
        None,
        gamsa_tests::Settings {
            sections: "[availability]\nmin_outage = \"3s\"\n".into(),
            ..Default::default()
        },
    )
    .unwrap();
    // "api" answers from a1 (the collector's own HTTP port) and never
    // from a2 (a port nothing listens on): a2's network problem.
    let closed = free_port();
    let mut agents = Vec::new();
    for (name, api) in [
        ("a1", format!("127.0.0.1:{}", collector.http)),
        ("a2", format!("127.0.0.1:{closed}")),
    ] {
        let creds = collector.issue(name).unwrap();
        let cfg = agent_config(dir.path(), name, &collector, &creds, &checks(port, &api)).unwrap();
        agents.push(start_agent(&cfg, dir.path().join(format!("{name}.log"))).unwrap());
    }
    let up = |host: &str| {
        reports(&collector, host, "web")
            .first()
            .is_some_and(|e| e["syntheticCheck"]["up"] == true)
    };
    wait_for("both agents to see web up", Duration::from_secs(15), || {
        (up("a1") && up("a2")).then_some(())
    });

    web.kill();
    let stopped = Instant::now();
    wait_for(
        "both agents to see web down",
        Duration::from_secs(5),
        || (!up("a1") && !up("a2")).then_some(()),
    );
    std::thread::sleep(DOWN.saturating_sub(stopped.elapsed()));
    let _web = nginx(dir.path(), port, 1);
    let down_for = stopped.elapsed();
    wait_for(
        "both agents to see web up again",
        Duration::from_secs(5),
        || (up("a1") && up("a2")).then_some(()),
    );

    let report = collector.get("/api/v1/availability").unwrap();
    let s = service(&report, "web");
    let outages = s["outages"].as_array().unwrap();
    assert_eq!(outages.len(), 1, "one outage: {s}");
    let o = &outages[0];
    assert!(o["end"].is_string(), "ended: {o}");
    let seconds = o["durationSeconds"].as_i64().unwrap();
    // Down from when the second vantage point saw it down (within a check
    // interval of the stop) until the first saw it up again.
    let lo = down_for.as_secs() as i64 - 3;
    let hi = down_for.as_secs() as i64 + 1;
    assert!(
        (lo..=hi).contains(&seconds),
        "{seconds} s, nginx down {down_for:?}"
    );
    assert_eq!(o["vantagePoints"].as_object().unwrap().len(), 2, "{o}");
    assert_eq!(s["quorum"], 2);
    assert_eq!(s["upNow"], true);
    assert_eq!(s["mttrSeconds"], seconds);
    let minutes = s["outageMinutes"].as_f64().unwrap();
    assert!(
        (minutes * 60.0 - seconds as f64).abs() < 1.0,
        "{minutes} min"
    );
    let from = chrono::DateTime::parse_from_rfc3339(report["from"].as_str().unwrap()).unwrap();
    let to = chrono::DateTime::parse_from_rfc3339(report["to"].as_str().unwrap()).unwrap();
    let month_minutes = (to - from).num_minutes() as f64;
    let want = 100.0 * (1.0 - minutes / month_minutes);
    let got = s["availabilityPercent"].as_f64().unwrap();
    assert!((got - want).abs() < 1e-9, "{got} vs {want}");
    assert!(got < 100.0);
    assert!(s["vantageProblems"].as_array().unwrap().is_empty(), "{s}");
    assert_eq!(s["maintenanceMinutes"], 0.0);
    assert_eq!(
        s["availabilityWithPlannedPercent"],
        s["availabilityPercent"]
    );

    // A maintenance window over the outage's first 2 seconds (its start is
    // shown to the second, so the window covers more than 1 s and at most
    // 2 s of it).
    let start = chrono::DateTime::parse_from_rfc3339(o["start"].as_str().unwrap()).unwrap();
    let window = serde_json::json!({
        "service": "web",
        "start": start.to_rfc3339(),
        "end": (start + chrono::Duration::seconds(2)).to_rfc3339(),
        "reason": "nginx 설정 반영 (planned restart)",
    });
    let auth = format!("Bearer {}", collector.token);
    let created: Value = ureq::post(&format!(
        "http://127.0.0.1:{}/api/v1/maintenance",
        collector.http
    ))
    .set("Authorization", &auth)
    .send_json(window)
    .unwrap()
    .into_json()
    .unwrap();
    assert_eq!(created["service"], "web", "{created}");
    let report = collector
        .get(&format!(
            "/api/v1/availability?month={}",
            report["month"].as_str().unwrap()
        ))
        .unwrap();
    let s = service(&report, "web");
    let o = &s["outages"][0];
    let planned = s["maintenanceMinutes"].as_f64().unwrap() * 60.0;
    assert!(planned > 1.0 && planned <= 2.0, "{planned} s planned: {s}");
    assert_eq!(o["planned"], false, "only part of it: {o}");
    assert!(
        (1..=2).contains(&o["maintenanceSeconds"].as_i64().unwrap()),
        "{o}"
    );
    let failures = 100.0 * (1.0 - (minutes - planned / 60.0) / month_minutes);
    let by_failures = s["availabilityPercent"].as_f64().unwrap();
    assert!(
        (by_failures - failures).abs() < 1e-9,
        "{by_failures} vs {failures}"
    );
    assert!(by_failures > got, "a planned stop is no failure");
    let with_planned = s["availabilityWithPlannedPercent"].as_f64().unwrap();
    assert!((with_planned - got).abs() < 1e-9, "{with_planned} vs {got}");
    assert_eq!(s["mttrSeconds"], seconds, "still a failure: {s}");
    assert_eq!(
        report["maintenance"][0]["reason"],
        "nginx 설정 반영 (planned restart)"
    );

    // The monthly operation report shows the outage with its duration, in
    // HTML and in the PDF read back by poppler.
    let shown = humantime::format_duration(Duration::from_secs(seconds as u64)).to_string();
    let kst = start
        .with_timezone(&chrono::FixedOffset::east_opt(9 * 3600).unwrap())
        .format("%Y-%m-%d %H:%M KST")
        .to_string();
    let month = report["month"].as_str().unwrap();
    let fetch = |format: &str| {
        let mut bytes = Vec::new();
        ureq::get(&format!(
            "http://127.0.0.1:{}/api/v1/reports/monthly?month={month}&format={format}",
            collector.http
        ))
        .set("Authorization", &auth)
        .call()
        .unwrap()
        .into_reader()
        .read_to_end(&mut bytes)
        .unwrap();
        bytes
    };
    let html = String::from_utf8(fetch("html")).unwrap();
    assert!(
        html.contains(&format!("<td>web</td><td>{kst}</td>")),
        "{kst} in {html}"
    );
    assert!(
        html.contains(&format!("<td>{shown}</td>")),
        "{shown} in {html}"
    );
    // A format given but empty is no format the schema knows.
    let empty = ureq::get(&format!(
        "http://127.0.0.1:{}/api/v1/reports/monthly?month={month}&format=",
        collector.http
    ))
    .set("Authorization", &auth)
    .call();
    assert!(
        matches!(empty, Err(ureq::Error::Status(400, _))),
        "an empty format: {:?}",
        empty.map(|r| r.status())
    );
    let pdf = dir.path().join("monthly.pdf");
    std::fs::write(&pdf, fetch("pdf")).unwrap();
    let text = run(Command::new("pdftotext").arg(&pdf).arg("-")).unwrap();
    assert!(text.contains("월간 운영보고서"), "{text}");
    assert!(text.contains("장애 내역"), "{text}");
    assert!(text.contains(&kst), "{kst} in {text}");
    assert!(text.contains(&shown), "{shown} in {text}");

    let api = service(&report, "api");
    assert!(api["outages"].as_array().unwrap().is_empty(), "{api}");
    assert_eq!(api["availabilityPercent"], 100.0);
    let problems = api["vantageProblems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{api}");
    assert_eq!(problems[0]["vantagePoint"], "a2");
    assert!(problems[0]["end"].is_null(), "still failing: {api}");
    assert!(
        problems[0]["error"].as_str().unwrap().contains("refused"),
        "{api}"
    );

    // The dashboard shows the same outage.
    let pw = collector.dir.path().join("auditor.pw");
    std::fs::write(&pw, "availability-pw-1").unwrap();
    run(collector
        .cmd()
        .args(["user", "add", "aud", "--role", "auditor", "--password-file"])
        .arg(&pw))
    .unwrap();
    let http = ureq::AgentBuilder::new().redirects(0).build();
    let resp = http
        .post(&format!("http://127.0.0.1:{}/login", collector.http))
        .set("Cookie", "gamsa_login=form-token")
        .send_form(&[
            ("user", "aud"),
            ("password", "availability-pw-1"),
            ("csrf", "form-token"),
        ])
        .unwrap();
    let set = resp.all("set-cookie").join("; ");
    let cookie = set
        .split(';')
        .find_map(|p| p.trim().strip_prefix("gamsa_session="))
        .unwrap_or_else(|| panic!("no session cookie in {set}"));
    let page = http
        .get(&format!(
            "http://127.0.0.1:{}/availability?lang=en",
            collector.http
        ))
        .set("Cookie", &format!("gamsa_session={cookie}"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(page.contains("One vantage point failing alone"), "{page}");
    assert!(
        page.contains(&format!("<td>{shown}</td>")),
        "{shown} in {page}"
    );
    assert!(page.contains(&format!("{by_failures:.3} %")), "{page}");
    assert!(page.contains(&format!("{with_planned:.3} %")), "{page}");
    assert!(page.contains("nginx 설정 반영 (planned restart)"), "{page}");
    assert!(page.contains("/availability/report?month="), "{page}");
    assert!(
        !page.contains("Add maintenance window"),
        "auditors enter no windows: {page}"
    );

    // The availability rows show the month's outage with its duration.
    let item = http
        .get(&format!(
            "http://127.0.0.1:{}/catalogs/digital-service/items/2.1?lang=en",
            collector.http
        ))
        .set("Cookie", &format!("gamsa_session={cookie}"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(
        item.contains(&format!("outage {kst} {shown}")),
        "{kst} {shown} in {item}"
    );
}

//! Configuration drift end to end: a real agent process watching a fixture
//! host root streams to a real collector; a configuration file changed on
//! disk is stored at the collector as a change within seconds, with the
//! changed lines, a shadow change shows no content, and the dashboard
//! lists both on the host's changes page.

use gamsa_tests::{agent_config, run, spooled, wait_for, Collector, Proc};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

fn write(root: &Path, path: &str, text: &str) {
    let full = root.join(path.trim_start_matches('/'));
    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
    std::fs::write(full, text).unwrap();
}

/// Replaces a file by rename, as shadow tools and editors write.
fn replace(root: &Path, path: &str, text: &str) {
    let full = root.join(path.trim_start_matches('/'));
    let tmp = full.with_extension("gamsa-tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(tmp, full).unwrap();
}

/// The stored change of `path`, once it is there (polled every 50 ms).
fn change_of(c: &Collector, path: &str, within: Duration) -> (Value, Duration) {
    let start = Instant::now();
    loop {
        let found = c
            .evidence("probe=config_drift&host=drift-1")
            .into_iter()
            .find(|e| e["subject"] == path && e["configDrift"]["change"].is_object());
        if let Some(e) = found {
            return (e["configDrift"]["change"].clone(), start.elapsed());
        }
        assert!(
            start.elapsed() < within,
            "no change of {path} at the collector within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn lines(change: &Value) -> Vec<String> {
    change["diff"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|l| l.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Signs in with a form POST as the browser would; the session cookie.
fn sign_in(c: &Collector, user: &str, password: &str) -> String {
    let file = c.dir.path().join(format!("{user}.pw"));
    std::fs::write(&file, password).unwrap();
    run(c
        .cmd()
        .args(["user", "add", user, "--role", "auditor", "--password-file"])
        .arg(&file))
    .unwrap();
    let http = ureq::AgentBuilder::new().redirects(0).build();
    let resp = http
        .post(&format!("http://127.0.0.1:{}/login", c.http))
        .set("Cookie", "gamsa_login=form-token")
        .send_form(&[
            ("user", user),
            ("password", password),
            ("csrf", "form-token"),
        ])
        .unwrap();
    let set = resp.all("set-cookie").join("; ");
    set.split(';')
        .find_map(|p| p.trim().strip_prefix("gamsa_session="))
        .unwrap_or_else(|| panic!("no session cookie in {set}"))
        .to_string()
}

fn page(c: &Collector, cookie: &str, path: &str) -> String {
    ureq::get(&format!("http://127.0.0.1:{}{path}", c.http))
        .set("Cookie", &format!("gamsa_session={cookie}"))
        .call()
        .unwrap()
        .into_string()
        .unwrap()
}

#[test]
fn a_file_changed_on_disk_is_a_change_at_the_collector_within_seconds() {
    let collector = Collector::start().unwrap();
    let creds = collector.issue("drift-1").unwrap();
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    write(root, "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n");
    write(
        root,
        "/etc/shadow",
        "root:$y$j9T$oldsalt$oldhash:19000:0:99999:7:::\n",
    );
    write(
        root,
        "/etc/ssh/sshd_config",
        "Port 22\nPermitRootLogin no\nPasswordAuthentication no\n",
    );
    write(root, "/etc/pam.d/su", "auth required pam_wheel.so\n");
    let dir = tempfile::tempdir().unwrap();
    // The periodic comparison an hour away: what arrives is the event's.
    let extra = format!(
        "host_root = \"{}\"\n[probes.config_drift]\ninterval = \"1h\"\n[probes.monitoring]\nenabled = false\n",
        root.display()
    );
    let cfg = agent_config(dir.path(), "drift-1", &collector, &creds, &extra).unwrap();
    let mut cmd = std::process::Command::new(gamsa_tests::binary("gamsa-agent"));
    cmd.arg("run")
        .arg("--config")
        .arg(&cfg)
        .env("GAMSA_LOG", "info,gamsa_agent::transport=debug");
    let agent = Proc::spawn(cmd, dir.path().join("agent.log")).unwrap();
    // The watch's announcement and the first scheduled comparison (up to
    // 2 s after start) both sent: a change made after that is the event's.
    wait_for(
        "the agent's watch and first comparison",
        Duration::from_secs(30),
        || {
            let log = agent.log_text();
            let watches = spooled(&log)
                .into_iter()
                .filter(|s| s.probe == "config_drift" && s.subject == "watch")
                .count();
            (log.contains("config_drift: watching configuration files") && watches >= 2)
                .then_some(())
        },
    );
    // The watch's own evidence: inotify on, the files of the root.
    let watch = wait_for("the watch's evidence", Duration::from_secs(30), || {
        collector
            .evidence("probe=config_drift&host=drift-1")
            .into_iter()
            .find(|e| e["subject"] == "watch")
    });
    assert!(
        watch["configDrift"]["watch"]["files"].as_u64().unwrap() >= 4,
        "{watch}"
    );

    replace(
        root,
        "/etc/ssh/sshd_config",
        "Port 22\nPermitRootLogin yes\nPasswordAuthentication no\n",
    );
    let (ssh, took) = change_of(&collector, "/etc/ssh/sshd_config", Duration::from_secs(10));
    assert!(took < Duration::from_secs(5), "took {took:?}");
    eprintln!("sshd_config change at the collector after {took:?}");
    assert_eq!(ssh["kind"], "modified");
    assert_eq!(ssh["detectedBy"], "event");
    let diff = lines(&ssh);
    assert!(
        diff.contains(&"-PermitRootLogin no".to_string()),
        "{diff:?}"
    );
    assert!(
        diff.contains(&"+PermitRootLogin yes".to_string()),
        "{diff:?}"
    );
    assert_eq!(ssh["sha256Before"].as_str().unwrap().len(), 64);
    assert_ne!(ssh["sha256Before"], ssh["sha256After"]);

    replace(
        root,
        "/etc/shadow",
        "root:$y$j9T$newsalt$newhash:19001:0:99999:7:::\n",
    );
    let (shadow, took) = change_of(&collector, "/etc/shadow", Duration::from_secs(10));
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(shadow["secret"], true, "{shadow}");
    assert!(lines(&shadow).is_empty(), "{shadow}");
    assert_eq!(
        (&shadow["sha256Before"], &shadow["sha256After"]),
        (&Value::from(""), &Value::from("")),
        "no hash of a secret"
    );
    let stored = collector.evidence("probe=config_drift&host=drift-1");
    let text = serde_json::to_string(&stored).unwrap();
    assert!(
        !text.contains("newhash") && !text.contains("oldhash"),
        "shadow content reached the collector"
    );

    // The dashboard lists both on the host's changes page, reached from
    // the host page.
    let cookie = sign_in(&collector, "auditor", "correct horse battery");
    let host = page(&collector, &cookie, "/hosts/drift-1?lang=en");
    assert!(host.contains("href=\"/hosts/drift-1/changes\""), "{host}");
    let changes = page(&collector, &cookie, "/hosts/drift-1/changes?lang=en");
    assert!(changes.contains("/etc/ssh/sshd_config"), "{changes}");
    assert!(changes.contains("+PermitRootLogin yes"), "{changes}");
    assert!(
        changes.contains("/etc/shadow") && changes.contains(">secret<"),
        "{changes}"
    );
    let ko = page(&collector, &cookie, "/hosts/drift-1/changes?lang=ko");
    assert!(ko.contains("설정 변경 이력") && ko.contains("비밀"), "{ko}");
    // A period without the changes lists none.
    let before = page(
        &collector,
        &cookie,
        "/hosts/drift-1/changes?lang=en&from=2020-01-01&to=2020-01-31",
    );
    assert!(
        before.contains("No change in this period.") && !before.contains("/etc/shadow"),
        "{before}"
    );
}

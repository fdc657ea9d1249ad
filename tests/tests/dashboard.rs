//! The dashboard in a real browser: headless Chromium driven over WebDriver
//! (chromedriver), against a real collector fed by a real agent. An auditor
//! signs in, reads every catalog, drills into an item's evidence, downloads
//! a snapshot and verifies it offline with the CLI, prints 양식2B; writes by
//! the auditor are refused; an operator uploads documentary evidence and it
//! changes the item; an admin reads the access log of all of it.

use fantoccini::wd::PrintConfiguration;
use fantoccini::{Client, ClientBuilder, Locator};
use gamsa_tests::{agent_config, start_agent, wait_for, Collector, Proc};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn add_user(c: &Collector, name: &str, role: &str, password: &str) {
    let file = c.dir.path().join(format!("{name}.pw"));
    std::fs::write(&file, password).unwrap();
    gamsa_tests::run(
        c.cmd()
            .args(["user", "add", name, "--role", role, "--password-file"])
            .arg(&file),
    )
    .unwrap();
}

async fn browser(dir: &Path, downloads: &Path) -> (Proc, Client) {
    // The WebDriver client links two rustls back ends; pick one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let port = gamsa_tests::free_port();
    let mut cmd = Command::new("chromedriver");
    cmd.arg(format!("--port={port}"));
    let driver = Proc::spawn(cmd, dir.join("chromedriver.log"))
        .expect("chromedriver (Debian chromium-driver) must be installed");
    let profile = dir.join("chrome-profile");
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=1280,800", "--hide-scrollbars",
                     format!("--user-data-dir={}", profile.display())],
            "prefs": {
                "download.default_directory": downloads.display().to_string(),
                "download.prompt_for_download": false,
                "safebrowsing.enabled": false
            }
        }),
    );
    let url = format!("http://127.0.0.1:{port}");
    let mut last = None;
    for _ in 0..50 {
        match ClientBuilder::rustls()
            .unwrap()
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(c) => return (driver, c),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("no WebDriver session: {last:?}");
}

async fn sign_in(b: &Client, base: &str, user: &str, password: &str) {
    b.goto(&format!("{base}/login?lang=en")).await.unwrap();
    b.find(Locator::Css("input[name=user]"))
        .await
        .unwrap()
        .send_keys(user)
        .await
        .unwrap();
    b.find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    b.find(Locator::Css("form[action='/login'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // Wait for the answer page: signed in (a sign-out form) or refused.
    b.wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css("form[action='/logout'], p.err"))
        .await
        .unwrap();
}

async fn sign_out(b: &Client) {
    b.find(Locator::Css("form[action='/logout'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css("input[name=password]"))
        .await
        .unwrap();
}

async fn text(b: &Client, css: &str) -> String {
    b.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

/// The text of each row matching `css`, its cells joined by single spaces.
async fn rows(b: &Client, css: &str) -> Vec<String> {
    let mut out = Vec::new();
    for row in b.find_all(Locator::Css(css)).await.unwrap() {
        let mut cells = Vec::new();
        for cell in row.find_all(Locator::Css("td")).await.unwrap() {
            cells.push(cell.text().await.unwrap());
        }
        out.push(cells.join(" "));
    }
    out
}

/// Clicks a link that downloads a file into `dir`, and waits for the file.
async fn download(b: &Client, css: &str, dir: &Path, name: &str) -> PathBuf {
    b.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
    let path = dir.join(name);
    let partial = dir.join(format!("{name}.crdownload"));
    wait_for(name, Duration::from_secs(60), || {
        (path.exists() && !partial.exists()).then_some(())
    });
    path
}

/// The session cookie and CSRF token of the signed-in browser.
async fn session(b: &Client) -> (String, String) {
    let cookie = b.get_named_cookie("gamsa_session").await.unwrap();
    let csrf = b
        .find(Locator::Css("form[action='/logout'] input[name=csrf]"))
        .await
        .unwrap()
        .attr("value")
        .await
        .unwrap()
        .unwrap();
    (cookie.value().to_string(), csrf)
}

/// The HTTP status of a form POST with a session cookie.
fn post(url: &str, cookie: &str, form: &[(&str, &str)]) -> u16 {
    match ureq::post(url)
        .set("Cookie", &format!("gamsa_session={cookie}"))
        .send_form(form)
    {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(code, _)) => code,
        Err(e) => panic!("{e}"),
    }
}

fn artifacts(c: &Collector) -> PathBuf {
    std::env::var("GAMSA_TEST_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| c.dir.path().to_path_buf())
}

async fn screenshot(b: &Client, c: &Collector, name: &str) {
    let png = b.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name}: a PNG");
    assert!(png.len() > 10_000, "{name}: a real rendering");
    std::fs::write(artifacts(c).join(name), &png).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auditor_reads_verifies_and_prints_operator_attests_admin_audits() {
    let collector = Collector::start().unwrap();
    let creds = collector.issue("node-a").unwrap();
    let cfg = agent_config(collector.dir.path(), "node-a", &collector, &creds, "").unwrap();
    let _agent = start_agent(&cfg, collector.dir.path().join("agent.log")).unwrap();
    wait_for("host evidence", Duration::from_secs(60), || {
        collector
            .evidence("host=node-a&probe=host")
            .first()
            .cloned()
    });
    add_user(&collector, "kim", "auditor", "auditor-password-1");
    add_user(&collector, "lee", "operator", "operator-password-1");
    add_user(&collector, "park", "admin", "admin-password-01");
    // The night's scheduled snapshot, taken here by the CLI beside the server.
    gamsa_tests::run(collector.cmd().args(["snapshot", "create"])).unwrap();
    let base = format!("http://127.0.0.1:{}", collector.http);
    let downloads = collector.dir.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let (_driver, b) = browser(collector.dir.path(), &downloads).await;

    // A wrong password is refused.
    sign_in(&b, &base, "kim", "not-the-password").await;
    let page = b.source().await.unwrap();
    assert!(page.contains("Wrong user name or password"), "{page}");
    assert!(collector.log().contains("refused sign-in"));
    // So is a sign-in without the form's CSRF token.
    let status = match ureq::post(&format!("{base}/login"))
        .send_form(&[("user", "kim"), ("password", "auditor-password-1")])
    {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(code, _)) => code,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(status, 403, "sign-in without CSRF token");

    sign_in(&b, &base, "kim", "auditor-password-1").await;
    let page = b.source().await.unwrap();
    assert!(page.contains("kim (auditor)"), "{page}");

    // Every catalog: the index lists it, its overview shows every item with
    // a verdict, worst first.
    let catalogs = collector.get("/api/v1/catalogs").unwrap();
    let catalogs = catalogs["catalogs"].as_array().unwrap();
    assert!(catalogs.len() >= 5, "{catalogs:?}");
    let cards = b.find_all(Locator::Css("div.box.catalog")).await.unwrap();
    assert_eq!(cards.len(), catalogs.len(), "the index shows every catalog");
    let rank = |v: &str| {
        ["N", "P", "UNKNOWN", "Y", "NA"]
            .iter()
            .position(|x| *x == v)
    };
    for c in catalogs {
        let id = c["id"].as_str().unwrap();
        b.goto(&format!("{base}/catalogs/{id}")).await.unwrap();
        let rows = b
            .find_all(Locator::Css("table.items tr td:nth-child(2) .v"))
            .await
            .unwrap();
        assert_eq!(
            rows.len() as u64,
            c["items"].as_u64().unwrap(),
            "{id}: every item is listed"
        );
        let mut verdicts = Vec::new();
        for r in &rows {
            verdicts.push(rank(&r.text().await.unwrap()).expect("a verdict"));
        }
        assert!(verdicts.is_sorted(), "{id}: worst first: {verdicts:?}");
        let counts = text(&b, "p.counts").await;
        assert!(counts.contains("UNKNOWN"), "{id}: {counts}");
    }
    // The applicant group picker makes the items II-2 does not answer NA.
    b.goto(&format!("{base}/catalogs/emr-s014")).await.unwrap();
    b.find(Locator::Css("select[name=group]"))
        .await
        .unwrap()
        .select_by_value("II-2")
        .await
        .unwrap();
    b.find(Locator::Css("form.noprint button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css(
            "select[name=group] option[value='II-2'][selected]",
        ))
        .await
        .unwrap();
    let counts = text(&b, "p.counts").await;
    assert!(!counts.contains("NA 0"), "II-2 makes items NA: {counts}");
    screenshot(&b, &collector, "dashboard-overview.png").await;

    // Item 5.1 (monitoring) is answered from the agent's host evidence;
    // the evidence JSON opens under each row.
    b.goto(&format!("{base}/catalogs/emr-s014/items/5.1"))
        .await
        .unwrap();
    let page = b.source().await.unwrap();
    assert!(page.contains("monitoring-agent"), "{page}");
    assert!(page.contains("node-a"));
    let summary = b
        .find(Locator::Css("td > details > summary"))
        .await
        .unwrap();
    let evidence_id = summary.text().await.unwrap();
    summary.click().await.unwrap();
    let shown = text(&b, "pre.evidence").await;
    assert!(
        shown.contains("hostInfo") && shown.contains(&evidence_id) && shown.contains("node-a"),
        "the evidence behind the verdict is shown: {shown}"
    );
    assert!(page.contains("Verdict history"), "{page}");
    assert_eq!(
        b.find_all(Locator::Css("div.hist .v")).await.unwrap().len(),
        2,
        "one snapshot and the current verdict"
    );
    assert!(page.contains("read-only"), "auditor sees no write forms");
    assert!(b
        .find(Locator::Css("form[action$='/attest']"))
        .await
        .is_err());
    b.execute("window.scrollTo(0, 0)", vec![]).await.unwrap();
    screenshot(&b, &collector, "dashboard-item.png").await;

    // The auditor's session cannot write, even with its own CSRF token.
    let (cookie, csrf) = session(&b).await;
    let na = format!("{base}/catalogs/emr-s014/items/5.1/na");
    assert_eq!(
        post(&na, &cookie, &[("csrf", &csrf), ("justification", "x")]),
        403
    );
    assert_eq!(
        post(&format!("{base}/snapshots"), &cookie, &[("csrf", &csrf)]),
        403
    );
    assert!(
        collector
            .log()
            .contains("refused write by a read-only user"),
        "{}",
        collector.log()
    );
    // Nor read the access log.
    let status = match ureq::get(&format!("{base}/access-log"))
        .set("Cookie", &format!("gamsa_session={cookie}"))
        .call()
    {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(code, _)) => code,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(status, 403, "the access log is for admins");

    // The auditor downloads the snapshot and the public key and verifies
    // the snapshot offline with the CLI (no config, no data directory).
    b.goto(&format!("{base}/snapshots")).await.unwrap();
    assert!(
        b.find(Locator::Css("form[action='/snapshots'][method=post]"))
            .await
            .is_err(),
        "no create button for auditors"
    );
    screenshot(&b, &collector, "dashboard-snapshots.png").await;
    let fingerprint = text(&b, "code.fingerprint").await;
    let id = text(&b, "a.download").await;
    let snapshot = download(&b, "a.download", &downloads, &id).await;
    let key = download(
        &b,
        "a[href='/snapshots/public-key']",
        &downloads,
        "snapshot-signing.pub",
    )
    .await;
    let offline = tempfile::tempdir().unwrap();
    let verify = |file: &Path| {
        Command::new(gamsa_tests::binary("gamsa-collector"))
            .current_dir(offline.path())
            .env_remove("GAMSA_COLLECTOR_CONFIG")
            .args(["snapshot", "verify"])
            .arg(file)
            .arg("--public-key")
            .arg(&key)
            .output()
            .unwrap()
    };
    let out = verify(&snapshot);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("verified") && stdout.contains(&fingerprint),
        "{stdout}"
    );
    // The same file with one byte changed does not verify.
    let mut bytes = std::fs::read(&snapshot).unwrap();
    let at = bytes.windows(7).position(|w| w == b"\"node-a").unwrap() + 1;
    bytes[at] = b'N';
    let tampered = offline.path().join(&id);
    std::fs::write(&tampered, &bytes).unwrap();
    let out = verify(&tampered);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&tampered.display().to_string()) && stderr.contains("altered"),
        "{stderr}"
    );

    // The printable 양식2B, filled: from the overview's export link, and
    // printed by the browser.
    b.goto(&format!("{base}/catalogs/emr-s014")).await.unwrap();
    b.find(Locator::Css("a[href$='format=html&form=2B']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css("h1"))
        .await
        .unwrap();
    let h1 = text(&b, "h1").await;
    assert_eq!(h1, "양식2B. EMR 점검표 (ISMS-P 또는 ISMS 미제출)");
    let form = b.source().await.unwrap();
    assert!(
        form.contains("전자의무기록 등의 정보를 백업할 경우"),
        "{form}"
    );
    assert!(
        form.contains("<th>Y</th><th>P</th><th>N</th><th>N/A</th>"),
        "{form}"
    );
    // Item 5.1 is answered from the agent; its row carries the mark of its verdict.
    let row = b
        .find(Locator::XPath("//tr[td[2][text()='5.1']]"))
        .await
        .unwrap();
    let cells = row.find_all(Locator::Css("td.mark")).await.unwrap();
    let mut marks = Vec::new();
    for c in &cells {
        marks.push(c.text().await.unwrap());
    }
    let expected_column = {
        let v = collector
            .get("/api/v1/catalogs/emr-s014/items/5.1")
            .unwrap()["result"]["rows"][0]["verdict"]
            .as_str()
            .unwrap()
            .to_string();
        ["Y", "P", "N", "NA"].iter().position(|x| *x == v)
    };
    assert_eq!(
        marks.iter().position(|m| m == "●"),
        expected_column,
        "{marks:?}"
    );
    let printed = b
        .print(PrintConfiguration::builder().build().unwrap())
        .await
        .unwrap();
    assert!(printed.starts_with(b"%PDF"));
    let pdf = collector.dir.path().join("printed-2B.pdf");
    std::fs::write(&pdf, &printed).unwrap();
    let printed_text = gamsa_tests::run(Command::new("pdftotext").arg(&pdf).arg("-")).unwrap();
    assert!(
        printed_text.contains("양식2B") && printed_text.contains("●"),
        "{printed_text}"
    );
    assert!(
        !printed_text.contains("로그아웃"),
        "the printout is the form, not the dashboard"
    );
    // The hosts page: the agent, its version, probes and health.
    b.goto(&format!("{base}/hosts")).await.unwrap();
    let hosts = rows(&b, "table.hosts tr").await;
    let node = hosts
        .iter()
        .find(|r| r.contains("node-a"))
        .unwrap_or_else(|| panic!("{hosts:?}"));
    assert!(
        node.contains(env!("CARGO_PKG_VERSION"))
            && node.contains("Connected")
            && node.contains("host")
            && node.contains("ports")
            && node.contains("time_sync"),
        "{node}"
    );
    screenshot(&b, &collector, "dashboard-hosts.png").await;
    // A probe that could not observe is shown as the host's health problem:
    // there is no cloud metadata service here, so the region is unknown.
    assert!(
        node.contains("region node-a: no cloud metadata service answered"),
        "{node}"
    );
    b.goto(&format!("{base}/catalogs/emr-s014?lang=ko"))
        .await
        .unwrap();
    assert!(b.source().await.unwrap().contains("판정"));
    screenshot(&b, &collector, "dashboard-overview-ko.png").await;
    sign_out(&b).await;

    // An operator uploads documentary evidence for a manual row (1.2-2, a
    // written restore procedure) and the item's verdict changes.
    sign_in(&b, &base, "lee", "operator-password-1").await;
    b.goto(&format!("{base}/catalogs/emr-s014/items/1.2?lang=en"))
        .await
        .unwrap();
    assert_eq!(text(&b, "h1.item .v").await, "UNKNOWN");
    let (cookie, _) = session(&b).await;
    assert_eq!(
        post(&na, &cookie, &[("csrf", "forged"), ("justification", "x")]),
        403,
        "forged CSRF refused"
    );
    let document = collector.dir.path().join("restore-procedure.txt");
    std::fs::write(&document, "1. stop the writer\n2. restore the dump\n").unwrap();
    let digest = hex::encode(Sha256::digest(std::fs::read(&document).unwrap()));
    let form = b
        .find(Locator::Css("form[action$='/attest']"))
        .await
        .unwrap();
    form.find(Locator::Css("select[name=row]"))
        .await
        .unwrap()
        .select_by_value("1.2-2")
        .await
        .unwrap();
    form.find(Locator::Css("select[name=verdict]"))
        .await
        .unwrap()
        .select_by_value("Y")
        .await
        .unwrap();
    form.find(Locator::Css("textarea[name=comment]"))
        .await
        .unwrap()
        .send_keys("restore procedure v3, approved")
        .await
        .unwrap();
    form.find(Locator::Css("input[type=file]"))
        .await
        .unwrap()
        .send_keys(&document.display().to_string())
        .await
        .unwrap();
    form.find(Locator::Css("button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css("#row-1\\.2-2 p.attestation"))
        .await
        .unwrap();
    assert_eq!(text(&b, "h1.item .v").await, "P", "Y beside UNKNOWN");
    assert_eq!(text(&b, "#row-1\\.2-2 > td:nth-child(3) .v").await, "Y");
    let attested = text(&b, "#row-1\\.2-2 p.attestation").await;
    assert!(
        attested.contains("restore-procedure.txt") && attested.contains(&digest),
        "{attested}"
    );
    let fetched = download(
        &b,
        "#row-1\\.2-2 p.attestation a",
        &downloads,
        "restore-procedure.txt",
    )
    .await;
    assert_eq!(
        std::fs::read(&fetched).unwrap(),
        std::fs::read(&document).unwrap()
    );

    // The operator takes a snapshot; the comparison names the item whose
    // verdict changed.
    b.goto(&format!("{base}/snapshots")).await.unwrap();
    b.find(Locator::Css("form[action='/snapshots'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for("two snapshots", Duration::from_secs(60), || {
        std::fs::read_dir(collector.data().join("snapshots"))
            .ok()
            .map(|d| d.count())
            .filter(|n| *n == 2)
    });
    b.goto(&format!("{base}/snapshots")).await.unwrap();
    b.find(Locator::Css("form[action='/snapshots/diff'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css("table.changes"))
        .await
        .unwrap();
    screenshot(&b, &collector, "dashboard-diff.png").await;
    let changes = text(&b, "table.changes").await;
    assert!(
        changes.contains("emr-s014/1.2") && changes.contains("UNKNOWN") && changes.contains("P"),
        "{changes}"
    );
    // The NA mark form, too.
    b.goto(&format!("{base}/catalogs/emr-s014/items/8.1"))
        .await
        .unwrap();
    b.find(Locator::Css("form[action$='/na'] textarea"))
        .await
        .unwrap()
        .send_keys("no data centre of our own")
        .await
        .unwrap();
    b.find(Locator::Css("form[action$='/na'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css("div.box strong"))
        .await
        .unwrap();
    let page = b.source().await.unwrap();
    assert!(
        page.contains("no data centre of our own") && page.contains("lee"),
        "{page}"
    );
    sign_out(&b).await;

    // The admin reads who saw and took what.
    sign_in(&b, &base, "park", "admin-password-01").await;
    b.goto(&format!("{base}/access-log")).await.unwrap();
    let log = rows(&b, "table.access tr").await;
    for expected in [
        "user:kim auditor item-view emr-s014/5.1",
        &format!(
            "user:kim auditor snapshot-download {}",
            id.trim_end_matches(".json")
        ),
        "user:kim auditor export emr-s014 form 2B html",
        "user:lee operator document-download restore-procedure.txt",
        "user:lee operator snapshot-create",
    ] {
        assert!(
            log.iter().any(|r| r.contains(expected)),
            "{expected:?} in {log:#?}"
        );
    }

    // The same over the API, with an auditor's token.
    let token = gamsa_tests::run(collector.cmd().args([
        "token",
        "create",
        "--api",
        "--role",
        "auditor",
        "--name",
        "audit-bot",
    ]))
    .unwrap()
    .trim()
    .to_string();
    let api = |method: &str, path: &str| {
        let r = ureq::request(method, &format!("{base}{path}"))
            .set("Authorization", &format!("Bearer {token}"))
            .call();
        match r {
            Ok(r) => (r.status(), {
                let mut body = Vec::new();
                std::io::Read::read_to_end(&mut r.into_reader(), &mut body).unwrap();
                body
            }),
            Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap().into_bytes()),
            Err(e) => panic!("{e}"),
        }
    };
    let (status, body) = api("GET", "/api/v1/snapshots");
    assert_eq!(status, 200);
    let listed: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(listed["snapshots"].as_array().unwrap().len(), 2);
    assert_eq!(listed["publicKeyFingerprint"], fingerprint.as_str());
    assert_eq!(
        api("POST", "/api/v1/snapshots").0,
        403,
        "auditors are read-only"
    );
    let (status, body) = api("GET", "/api/v1/snapshots/diff?from=1&to=2");
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains(r#""id":"1.2""#));
    let identity = collector.dir.path().join("auditor.age");
    gamsa_tests::run(Command::new("age-keygen").arg("-o").arg(&identity)).unwrap();
    let recipient = std::fs::read_to_string(&identity)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("# public key: ").map(str::to_string))
        .unwrap();
    let (status, sealed) = api("GET", &format!("/api/v1/snapshots/2?encryptTo={recipient}"));
    assert_eq!(status, 200);
    assert!(sealed.starts_with(b"age-encryption.org/v1\n"));
    let sealed_path = collector.dir.path().join("snapshot-2.json.age");
    std::fs::write(&sealed_path, &sealed).unwrap();
    let out = Command::new(gamsa_tests::binary("gamsa-collector"))
        .env_remove("GAMSA_COLLECTOR_CONFIG")
        .args(["snapshot", "verify"])
        .arg(&sealed_path)
        .arg("--public-key")
        .arg(&key)
        .arg("--identity")
        .arg(&identity)
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("snapshot #2"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, body) = api(
        "GET",
        "/api/v1/exports?catalog=emr-s014&form=2B&format=json&redactIps=true",
    );
    assert_eq!(status, 200);
    let exported: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(exported["form"]["form"], "2B");
    assert_eq!(exported["form"]["redacted"], true);
    assert_eq!(api("GET", "/api/v1/access-log").0, 403);
    let log = collector.get("/api/v1/access-log").unwrap();
    let log = serde_json::to_string(&log["accessLog"]).unwrap();
    for expected in [
        r#""action":"snapshot-download","at""#,
        r#""what":"emr-s014 form 2B json redacted","who":"token:audit-bot""#,
        r#""what":"00000002"#,
    ] {
        assert!(log.contains(expected), "{expected} in {log}");
    }
    b.close().await.unwrap();
}

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

/// Where screenshots go: `GAMSA_TEST_ARTIFACTS`, else a directory under
/// the target's tmp that outlives the test, for a person to look at.
fn artifacts() -> PathBuf {
    let dir = std::env::var("GAMSA_TEST_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Takes a snapshot with the dashboard's button and waits until the
/// collector holds `count` snapshot files (beside `objects/`, the files
/// they name).
async fn take_snapshot(b: &Client, base: &str, collector: &Collector, count: usize) {
    b.goto(&format!("{base}/snapshots")).await.unwrap();
    b.find(Locator::Css("form[action='/snapshots'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for("the snapshot", Duration::from_secs(60), || {
        std::fs::read_dir(collector.data().join("snapshots"))
            .ok()
            .map(|d| {
                d.filter(|e| {
                    e.as_ref()
                        .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "json"))
                })
                .count()
            })
            .filter(|n| *n == count)
    });
}

async fn screenshot(b: &Client, name: &str) {
    let png = b.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name}: a PNG");
    assert!(png.len() > 10_000, "{name}: a real rendering");
    let path = artifacts().join(name);
    std::fs::write(&path, &png).unwrap();
    println!("screenshot: {}", path.display());
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
    screenshot(&b, "dashboard-overview.png").await;

    // Item 5.1 (monitoring) is answered from the agent's monitoring
    // evidence: one line each under the item, linked to the whole evidence
    // on its host's page.
    let item_url = format!("{base}/catalogs/emr-s014/items/5.1");
    b.goto(&item_url).await.unwrap();
    let page = b.source().await.unwrap();
    assert!(page.contains("monitoring-alerting"), "{page}");
    assert!(page.contains("node-a"));
    let link = b.find(Locator::Css("td > a[href*='#ev-']")).await.unwrap();
    let evidence_id = link.text().await.unwrap();
    let href = link.attr("href").await.unwrap().unwrap_or_default();
    assert_eq!(href, format!("/hosts/node-a#ev-{evidence_id}"));
    b.goto(&format!("{base}{href}")).await.unwrap();
    let row = format!("tr[id='ev-{evidence_id}']");
    b.find(Locator::Css(&format!("{row} details > summary")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let shown = text(&b, &format!("{row} pre.evidence")).await;
    assert!(
        shown.contains("\"probe\": \"monitoring\"")
            && shown.contains(&evidence_id)
            && shown.contains("node-a"),
        "the evidence behind the verdict is shown: {shown}"
    );
    b.goto(&item_url).await.unwrap();
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
    screenshot(&b, "dashboard-item.png").await;

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
    screenshot(&b, "dashboard-snapshots.png").await;
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
    screenshot(&b, "dashboard-hosts.png").await;
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
    screenshot(&b, "dashboard-overview-ko.png").await;
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
    take_snapshot(&b, &base, &collector, 2).await;
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
    screenshot(&b, "dashboard-diff.png").await;
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
            id.trim_end_matches(".tar")
        ),
        "user:kim auditor export emr-s014 form 2B html",
        "user:lee operator document-download restore-procedure.txt",
        "user:lee operator snapshot-create",
        // Pages that show bulk data are recorded like the API's bulk reads.
        "user:kim auditor item-list emr-s014",
        "user:kim auditor item-list all catalogs",
        "user:kim auditor host-list 1 agents",
        "user:lee operator snapshot-diff",
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
    let (status, sealed) = api(
        "GET",
        &format!("/api/v1/snapshots/2?all=true&encryptTo={recipient}"),
    );
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
    // Answered from the kept evaluation, and saying as of when.
    let fields = exported["form"]["fields"].as_array().unwrap();
    assert!(fields.iter().any(|f| f[0] == "평가 시각"), "{fields:?}");
    assert!(
        exported["items"].as_array().is_some_and(|i| !i.is_empty()),
        "{exported}"
    );
    assert_eq!(api("GET", "/api/v1/access-log").0, 403);
    let log = collector.get("/api/v1/access-log").unwrap();
    let log = serde_json::to_string(&log["accessLog"]).unwrap();
    for expected in [
        r#""action":"snapshot-download","at""#,
        r#""what":"emr-s014 form 2B json redacted page from the first host","who":"token:audit-bot""#,
        r#""what":"00000002"#,
    ] {
        assert!(log.contains(expected), "{expected} in {log}");
    }
    // Evidence the store cannot read under an item page is an error, never
    // an item that seems to stand on no evidence.
    let item = "/catalogs/emr-s014/items/5.1";
    let (cookie, _) = session(&b).await;
    assert!(fetch(&base, item, &cookie).contains("monitoring-alerting"));
    let db = collector.data().join("gamsa.db");
    gamsa_tests::run(
        Command::new("python3")
            .arg("-c")
            .arg(
                "import sqlite3, sys\n\
         c = sqlite3.connect(sys.argv[1], timeout=30)\n\
         c.execute('ALTER TABLE evidence_bodies RENAME TO evidence_bodies_gone')\n\
         c.commit()",
            )
            .arg(&db),
    )
    .unwrap();
    match ureq::get(&format!("{base}{item}"))
        .set("Cookie", &format!("gamsa_session={cookie}"))
        .call()
    {
        Err(ureq::Error::Status(503, r)) => {
            let why = r.into_string().unwrap();
            assert!(why.contains("reading the item's evidence"), "{why}");
        }
        other => panic!("{item} with its evidence unreadable: {other:?}"),
    }
    b.close().await.unwrap();
}

/// The page at `path` as the signed-in browser's session sees it, fetched
/// beside the browser: its size and text.
fn fetch(base: &str, path: &str, cookie: &str) -> String {
    ureq::get(&format!("{base}{path}"))
        .set("Cookie", &format!("gamsa_session={cookie}"))
        .call()
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .into_string()
        .unwrap()
}

/// Each catalog item's verdict count in a stored snapshot, as the API hands
/// out its signed file: [Y, P, N, UNKNOWN].
fn snapshot_counts(c: &Collector, sequence: u64, catalog: &str) -> [u64; 4] {
    let url = format!("http://127.0.0.1:{}/api/v1/snapshots/{sequence}", c.http);
    let file: serde_json::Value = ureq::get(&url)
        .set("Authorization", &format!("Bearer {}", c.token))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    let mut counts = [0; 4];
    for i in file["body"]["items"].as_array().unwrap() {
        if i["catalog"] == catalog {
            if let Some(n) = ["Y", "P", "N", "UNKNOWN"]
                .iter()
                .position(|v| i["verdict"] == *v)
            {
                counts[n] += 1;
            }
        }
    }
    counts
}

/// A day's work: what changed since last night's snapshot, the trend over
/// the snapshots, the hosts narrowed by filters, a failing host's page with
/// the rule, the reason and what to change, the item with its failing hosts
/// first, in English and Korean.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daily_work_changes_trend_hosts_host_page_and_remediation() {
    // A service listening on every address, outside any role's allow-list:
    // both hosts' ports probes see it and unnecessary-ports fails for them.
    let listener = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let collector = Collector::start().unwrap();
    let mut agents = Vec::new();
    for (name, zone) in [("node-a", "a"), ("node-b", "b")] {
        let creds = collector.issue(name).unwrap();
        let labels = format!("[labels]\nzone = \"{zone}\"\nrole = \"web\"\n");
        let cfg = agent_config(collector.dir.path(), name, &collector, &creds, &labels).unwrap();
        agents.push(start_agent(&cfg, collector.dir.path().join(format!("{name}.log"))).unwrap());
    }
    for name in ["node-a", "node-b"] {
        wait_for(
            "ports evidence with the listener",
            Duration::from_secs(60),
            || {
                collector
                    .evidence(&format!("host={name}&probe=ports"))
                    .first()
                    .filter(|e| e.to_string().contains(&format!("\"port\":{port}")))
                    .cloned()
            },
        );
    }
    add_user(&collector, "lee", "operator", "operator-password-1");
    gamsa_tests::run(collector.cmd().args(["snapshot", "create"])).unwrap();
    let base = format!("http://127.0.0.1:{}", collector.http);
    let downloads = collector.dir.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let (_driver, b) = browser(collector.dir.path(), &downloads).await;
    sign_in(&b, &base, "lee", "operator-password-1").await;

    // What changed: the operator marks an item NA; the index names it,
    // with its verdict in last night's snapshot and now.
    b.goto(&format!("{base}/catalogs/isms-p/items/2.11.4"))
        .await
        .unwrap();
    let before = text(&b, "h1.item .v").await;
    assert_ne!(before, "NA");
    b.find(Locator::Css("form[action$='/na'] textarea"))
        .await
        .unwrap()
        .send_keys("drills are run by the parent company")
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
    b.goto(&format!("{base}/")).await.unwrap();
    assert!(text(&b, "div.changes-box").await.contains("snapshot #1"));
    let changed = rows(&b, "table.changes.since tr").await;
    assert!(
        changed
            .iter()
            .any(|r| r.starts_with("isms-p/2.11.4 ") && r.ends_with(&format!(" {before} NA"))),
        "{changed:?}"
    );
    // Catalog cards say which edition of the source document they follow.
    let cards = text(&b, "div.cards").await;
    assert!(!cards.contains("seed-0"), "{cards}");
    assert!(
        cards.contains("2022. 3.") && cards.contains("원문에 판 표기 없음"),
        "{cards}"
    );
    screenshot(&b, "journey-changes.png").await;

    // The trend: one point per snapshot, each with that snapshot's counts.
    take_snapshot(&b, &base, &collector, 2).await;
    b.goto(&format!("{base}/catalogs/isms-p")).await.unwrap();
    let points = b.find_all(Locator::Css("svg.trend g.point")).await.unwrap();
    assert_eq!(points.len(), 2, "one point per snapshot");
    for (n, point) in points.iter().enumerate() {
        let sequence = n as u64 + 1;
        assert_eq!(
            point.attr("data-sequence").await.unwrap().as_deref(),
            Some(sequence.to_string().as_str())
        );
        let mut drawn = [0; 4];
        for (i, a) in ["data-y", "data-p", "data-n", "data-unknown"]
            .iter()
            .enumerate()
        {
            drawn[i] = point.attr(a).await.unwrap().unwrap().parse().unwrap();
        }
        assert_eq!(
            drawn,
            snapshot_counts(&collector, sequence, "isms-p"),
            "#{sequence}"
        );
    }
    let (first, second) = (
        snapshot_counts(&collector, 1, "isms-p"),
        snapshot_counts(&collector, 2, "isms-p"),
    );
    assert_eq!(
        first.iter().sum::<u64>(),
        second.iter().sum::<u64>() + 1,
        "the item marked NA left the drawn verdicts"
    );
    assert!(text(&b, "div.changes-box").await.contains("snapshot #2"));
    screenshot(&b, "journey-trend.png").await;

    // Hosts: a filter by label narrows the list; so does a search.
    b.goto(&format!("{base}/hosts")).await.unwrap();
    assert_eq!(rows(&b, "table.hosts tr").await.len() - 1, 2);
    b.find(Locator::Css("form.filters input[name=label]"))
        .await
        .unwrap()
        .send_keys("zone=b")
        .await
        .unwrap();
    b.find(Locator::Css("form.filters button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css(
            "form.filters input[name=label][value='zone=b']",
        ))
        .await
        .unwrap();
    let listed = rows(&b, "table.hosts tr").await;
    assert_eq!(listed.len(), 2, "a header and one host: {listed:?}");
    assert!(listed[1].starts_with("node-b"), "{listed:?}");
    assert_eq!(text(&b, "span.matching").await, "1");
    screenshot(&b, "journey-hosts-filtered.png").await;
    b.goto(&format!("{base}/hosts?q=NODE-A&outcome=fail"))
        .await
        .unwrap();
    let listed = rows(&b, "table.hosts tr").await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(
        listed[1].starts_with("node-a") && listed[1].contains("FAIL"),
        "{listed:?}"
    );

    // The host page: facts, the row it fails with why and what to change,
    // and its latest evidence.
    b.find(Locator::Css("table.hosts a[href='/hosts/node-a']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css("h1.host"))
        .await
        .unwrap();
    assert!(text(&b, "table.facts").await.contains("zone=a"));
    let failures = rows(&b, "table.failing tr.failure").await;
    let ports = failures
        .iter()
        .find(|r| r.contains("unnecessary-ports") && r.contains("cloud-notice / 11.1.2"))
        .unwrap_or_else(|| panic!("{failures:?}"));
    assert!(
        ports.contains(&format!("/{port} on")),
        "the reason names the port: {ports}"
    );
    assert!(
        ports.contains("systemctl disable --now <service>"),
        "remediation beside the failure: {ports}"
    );
    let evidence = text(&b, "table.evidence").await;
    for probe in ["host", "ports", "time_sync"] {
        assert!(evidence.contains(probe), "{probe}: {evidence}");
    }
    screenshot(&b, "journey-host.png").await;
    b.goto(&format!("{base}/hosts/node-a?lang=ko"))
        .await
        .unwrap();
    assert!(text(&b, "table.failing").await.contains("조치 방법"));
    assert!(text(&b, "table.failing")
        .await
        .contains("systemctl disable --now <서비스>"));
    screenshot(&b, "journey-host-ko.png").await;

    // The item: counts per outcome, failing hosts first, the remediation.
    b.goto(&format!(
        "{base}/catalogs/cloud-notice/items/11.1.2?lang=en"
    ))
    .await
    .unwrap();
    let row = text(&b, "tr.row").await;
    assert!(row.contains("FAIL 2"), "{row}");
    let remediation = text(&b, "tr.row p.remediation").await;
    assert!(
        remediation.starts_with("Remediation: Stop and disable"),
        "{remediation}"
    );
    let hosts = rows(&b, "tr.row table.row-hosts tr").await;
    assert!(
        hosts[1].contains("FAIL") && hosts[2].contains("FAIL"),
        "{hosts:?}"
    );
    screenshot(&b, "journey-item.png").await;

    // Each page that showed bulk data is in the access log.
    let log = collector.get("/api/v1/access-log?limit=1000").unwrap();
    let log = log.to_string();
    for expected in [
        r#""action":"item-list","at""#,
        r#""action":"host-list","at""#,
        r#""what":"host=node-a","who":"user:lee""#,
        r#""what":"2 agents label=zone%3Db","who":"user:lee""#,
    ] {
        assert!(log.contains(expected), "{expected} in {log}");
    }
    drop(listener);
}

/// At fleet scale no page grows with the fleet: 2,000 hosts put straight
/// into the store (PostgreSQL), the host list and an item page each show
/// one page of 50, with counts of all and links to the next, under 1 MB;
/// so do the item API's answers, whose pages together give every host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_stay_small_and_page_through_two_thousand_hosts() {
    use sqlx::Connection;
    const HOSTS: usize = 2000;
    const MB: usize = 1 << 20;
    let scratch = gamsa_tests::pg::Scratch::create("gamsa_dash");
    let collector = Collector::start_on(Some(&scratch.url)).unwrap();
    let mut conn = sqlx::PgConnection::connect(&scratch.url).await.unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "INSERT INTO agents (agent_id, host, version, os, kernel, capabilities, labels, first_seen, last_seen, peer)
         SELECT 'host-' || lpad(g::text, 4, '0'), 'host-' || lpad(g::text, 4, '0'), '0.1.0', 'Linux', '6.1',
                '[\"host\",\"ports\"]',
                json_build_object('zone', CASE WHEN g % 2 = 0 THEN 'a' ELSE 'b' END, 'role', 'web')::text,
                {now_ms}, {now_ms}, '127.0.0.1:1'
         FROM generate_series(1, {HOSTS}) g;
         UPDATE changes SET counter = counter + 1 WHERE slot = 0"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    // Written beside the collector, counted as any write: the kept
    // evaluation follows within a poll and an evaluation.
    let api = |path: &str| {
        let v = collector.get(path).unwrap();
        let bytes = serde_json::to_vec(&v).unwrap().len();
        assert!(bytes < MB, "{path}: {bytes} bytes");
        println!("{path}: {bytes} bytes");
        v
    };
    let item = "/api/v1/catalogs/cloud-notice/items/11.1.2";
    wait_for("the 2,000 hosts evaluated", Duration::from_secs(60), || {
        (collector.get(item).ok()?["page"]["hosts"] == HOSTS).then_some(())
    });
    let first = api(item);
    assert_eq!(first["result"]["hostCounts"]["UNKNOWN"], HOSTS);
    assert_eq!(first["result"]["hosts"].as_object().unwrap().len(), 50);
    assert_eq!(first["page"]["next"], 1);
    assert!(first["changeCounter"].as_i64().unwrap() > 0);
    let list = api("/api/v1/catalogs/cloud-notice/items");
    assert!(list["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["hostCounts"]["UNKNOWN"] == HOSTS));
    // Every host, a page at a time.
    let mut seen = std::collections::BTreeSet::new();
    let mut next = Some(0);
    while let Some(p) = next {
        let page = api(&format!("{item}?page={p}&limit=1000"));
        for host in page["result"]["hosts"].as_object().unwrap().keys() {
            assert!(seen.insert(host.clone()), "{host} on two pages");
        }
        next = page["page"]["next"].as_u64();
    }
    assert_eq!(seen.len(), HOSTS);
    add_user(&collector, "kim", "auditor", "auditor-password-1");
    let base = format!("http://127.0.0.1:{}", collector.http);
    let downloads = collector.dir.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let (_driver, b) = browser(collector.dir.path(), &downloads).await;
    sign_in(&b, &base, "kim", "auditor-password-1").await;
    let (cookie, _) = session(&b).await;
    let page = |path: &str| {
        let html = fetch(&base, path, &cookie);
        assert!(html.len() < MB, "{path}: {} bytes", html.len());
        println!("{path}: {} bytes", html.len());
        html
    };
    let listed = |html: &str| html.matches("<td><a href=\"/hosts/host-").count();

    let first = page("/hosts?lang=en");
    assert_eq!(listed(&first), 50, "one page of hosts");
    assert!(first.contains("<span class=\"matching\">2000</span>"));
    assert!(first.contains("page 1 / 40") && first.contains("href=\"/hosts?page=1\""));
    let last = page("/hosts?page=39");
    assert_eq!(listed(&last), 50);
    assert!(!last.contains("class=\"next\"") && last.contains("class=\"prev\""));
    assert!(first.contains("/hosts/host-0001\"") && !last.contains("/hosts/host-0001\""));
    let zone = page("/hosts?label=zone%3Db&page=3");
    assert_eq!(listed(&zone), 50);
    assert!(zone.contains("<span class=\"matching\">1000</span>"));
    assert!(!zone.contains("<code>zone=a</code>"), "only zone b");
    let one = page("/hosts?q=host-1234&health=none&lang=en");
    assert_eq!(listed(&one), 1);
    assert!(
        one.contains("class=\"v v-UNKNOWN\">no evidence<") && !one.contains("class=\"v v-Y\">OK<"),
        "not OK without evidence"
    );

    // An item over every host: counts of all, one page of hosts per row,
    // and only the evidence of the hosts shown.
    let item = page("/catalogs/cloud-notice/items/11.1.2");
    assert!(item.contains("UNKNOWN</span> 2000"), "counts of all hosts");
    assert_eq!(item.matches("<td><a href=\"/hosts/host-").count(), 50);
    assert!(item.contains("href=\"?page=1\""));
    let later = page("/catalogs/cloud-notice/items/11.1.2?page=39");
    assert_eq!(later.matches("<td><a href=\"/hosts/host-").count(), 50);
    for path in ["/", "/catalogs/cloud-notice", "/catalogs/nia-ops"] {
        page(path);
    }
    b.goto(&format!("{base}/hosts?lang=en")).await.unwrap();
    screenshot(&b, "scale-hosts.png").await;
}

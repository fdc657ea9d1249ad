//! The dashboard in a real browser: headless Chromium driven over WebDriver
//! (chromedriver), against a real collector fed by a real agent.

use fantoccini::{Client, ClientBuilder, Locator};
use gamsa_tests::{agent_config, start_agent, wait_for, Collector, Proc};
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

async fn browser(dir: &std::path::Path) -> (Proc, Client) {
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
                     "--window-size=1280,800", format!("--user-data-dir={}", profile.display())]
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
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("form[action='/logout'], p.err"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auditor_reads_items_and_evidence_but_cannot_write() {
    let collector = Collector::start().unwrap();
    let creds = collector.issue("node-a").unwrap();
    let cfg = agent_config(collector.dir.path(), "node-a", &collector, &creds, "").unwrap();
    let _agent = start_agent(&cfg, collector.dir.path().join("agent.log")).unwrap();
    wait_for("host evidence", Duration::from_secs(30), || {
        collector
            .evidence("host=node-a&probe=host")
            .first()
            .cloned()
    });
    add_user(&collector, "kim", "auditor", "auditor-password-1");
    add_user(&collector, "lee", "operator", "operator-password-1");
    let base = format!("http://127.0.0.1:{}", collector.http);
    let (_driver, b) = browser(collector.dir.path()).await;

    // A wrong password is refused.
    sign_in(&b, &base, "kim", "not-the-password").await;
    let page = b.source().await.unwrap();
    assert!(page.contains("Wrong user name or password"), "{page}");
    assert!(collector.log().contains("refused sign-in"));

    sign_in(&b, &base, "kim", "auditor-password-1").await;
    let page = b.source().await.unwrap();
    assert!(page.contains("kim (auditor)"), "{page}");
    assert!(page.contains("5.1"), "overview lists items: {page}");

    // Item 5.1 (monitoring) is answered from the agent's host evidence.
    b.goto(&format!("{base}/catalogs/emr-s014/items/5.1"))
        .await
        .unwrap();
    let page = b.source().await.unwrap();
    assert!(page.contains("monitoring-agent"), "{page}");
    let evidence_rows = b.find_all(Locator::Css("pre.evidence")).await.unwrap();
    assert!(
        !evidence_rows.is_empty(),
        "the evidence behind the verdict is shown"
    );
    assert!(page.contains("node-a"));
    assert!(page.contains("hostInfo"), "evidence JSON is shown: {page}");
    assert!(page.contains("read-only"), "auditor sees no write forms");
    assert!(b
        .find(Locator::Css("form[action$='/attest']"))
        .await
        .is_err());
    let png = b.screenshot().await.unwrap();
    let artifacts = std::env::var("GAMSA_TEST_ARTIFACTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| collector.dir.path().to_path_buf());
    std::fs::write(artifacts.join("dashboard-item.png"), &png).unwrap();
    assert!(png.len() > 10_000, "a real rendering");

    // The auditor's session cannot write, even with its own CSRF token.
    let cookie = b.get_named_cookie("gamsa_session").await.unwrap();
    let csrf = b
        .find(Locator::Css("form[action='/logout'] input[name=csrf]"))
        .await
        .unwrap()
        .attr("value")
        .await
        .unwrap()
        .unwrap();
    // The HTTP status of a NA-mark POST with this session and CSRF token.
    let post = |cookie: &str, csrf: &str| match ureq::post(&format!(
        "{base}/catalogs/emr-s014/items/5.1/na"
    ))
    .set("Cookie", &format!("gamsa_session={cookie}"))
    .send_form(&[("csrf", csrf), ("justification", "x")])
    {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(code, _)) => code,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(post(cookie.value(), &csrf), 403);
    assert!(
        collector
            .log()
            .contains("refused write by a read-only user"),
        "{}",
        collector.log()
    );

    // Korean is one click away.
    b.goto(&format!("{base}/catalogs/emr-s014?lang=ko"))
        .await
        .unwrap();
    assert!(b.source().await.unwrap().contains("판정"));
    b.find(Locator::Css("form[action='/logout'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("input[name=password]"))
        .await
        .unwrap();

    // An operator can mark an item NA from the form, and needs the CSRF token.
    sign_in(&b, &base, "lee", "operator-password-1").await;
    b.goto(&format!("{base}/catalogs/emr-s014/items/8.1"))
        .await
        .unwrap();
    let cookie = b.get_named_cookie("gamsa_session").await.unwrap();
    assert_eq!(post(cookie.value(), "forged"), 403, "forged CSRF refused");
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
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("div.box strong"))
        .await
        .unwrap();
    let page = b.source().await.unwrap();
    assert!(
        page.contains("no data centre of our own") && page.contains("lee"),
        "{page}"
    );
    b.close().await.unwrap();
}

//! Credentials end against the real collector process: tokens are listed
//! without their secrets and revoked at once, a demoted or deleted user's
//! session is refused from its next request, a failed enrolment uses nothing
//! up, agents racing to enrol one name with a shared token get one
//! certificate (SQLite and PostgreSQL), and a reinstated agent streams again
//! only with the certificate of its new enrolment.

use gamsa_proto::v1::{enrolment_client::EnrolmentClient, EnrolRequest, EnrolResponse};
use gamsa_tests::pg::Scratch;
use gamsa_tests::raw::{batch, client, hello, open};
use gamsa_tests::{run, Collector};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

const ANSWER: Duration = Duration::from_secs(15);

fn add_user(c: &Collector, name: &str, role: &str, password: &str) {
    let file = c.dir.path().join(format!("{name}.pw"));
    std::fs::write(&file, password).unwrap();
    run(c
        .cmd()
        .args(["user", "add", name, "--role", role, "--password-file"])
        .arg(&file))
    .unwrap();
}

/// Signs in with a form POST as the browser would; the session cookie.
fn sign_in(c: &Collector, user: &str, password: &str) -> String {
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
    assert_eq!(resp.status(), 303, "signed in");
    let set = resp.all("set-cookie").join("; ");
    set.split(';')
        .find_map(|p| p.trim().strip_prefix("gamsa_session="))
        .unwrap_or_else(|| panic!("no session cookie in {set}"))
        .to_string()
}

/// The status of the admins' access log page asked for with `cookie`.
fn access_log_page(c: &Collector, cookie: &str) -> u16 {
    let http = ureq::AgentBuilder::new().redirects(0).build();
    match http
        .get(&format!("http://127.0.0.1:{}/access-log", c.http))
        .set("Cookie", &format!("gamsa_session={cookie}"))
        .call()
    {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(code, _)) => code,
        Err(e) => panic!("{e}"),
    }
}

/// An API call with `token`: status and JSON body.
fn api(
    c: &Collector,
    token: &str,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let req = ureq::request(method, &format!("http://127.0.0.1:{}{path}", c.http))
        .set("Authorization", &format!("Bearer {token}"));
    let resp = match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    };
    match resp {
        Ok(r) => (r.status(), r.into_json().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_json().unwrap_or_default()),
        Err(e) => panic!("{method} {path}: {e}"),
    }
}

fn token(c: &Collector, args: &[&str]) -> String {
    run(c.cmd().args(["token", "create"]).args(args))
        .unwrap()
        .trim()
        .to_string()
}

/// `token list` of the command line: (id, name, uses left) per token.
fn listed(c: &Collector) -> Vec<(String, String, String)> {
    run(c.cmd().args(["token", "list"]))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].to_string(), f[2].to_string(), f[6].to_string())
        })
        .collect()
}

#[test]
fn a_demoted_or_deleted_users_session_is_refused_at_once() {
    let c = Collector::start().unwrap();
    let password = "correct horse battery staple";
    for name in ["boss", "lee", "kim"] {
        add_user(&c, name, "admin", password);
    }

    // Demoted by the command line.
    let boss = sign_in(&c, "boss", password);
    assert_eq!(
        access_log_page(&c, &boss),
        200,
        "an admin reads the access log"
    );
    run(c.cmd().args(["user", "role", "boss", "auditor"])).unwrap();
    assert_eq!(
        access_log_page(&c, &boss),
        303,
        "the same cookie, demoted: sent to sign in"
    );
    let again = sign_in(&c, "boss", password);
    assert_eq!(
        access_log_page(&c, &again),
        403,
        "signed in again: an auditor"
    );

    // Demoted through the API by an admin token.
    let lee = sign_in(&c, "lee", password);
    assert_eq!(access_log_page(&c, &lee), 200);
    let (status, body) = api(
        &c,
        &c.token,
        "PUT",
        "/api/v1/users/lee/role",
        Some(serde_json::json!({ "role": "operator" })),
    );
    assert_eq!(
        (status, body["role"].as_str()),
        (200, Some("operator")),
        "{body}"
    );
    assert_ne!(access_log_page(&c, &lee), 200);

    // Reset by `user add` (role and password), as before this command existed.
    let kim = sign_in(&c, "kim", password);
    assert_eq!(access_log_page(&c, &kim), 200);
    add_user(&c, "kim", "auditor", password);
    assert_ne!(access_log_page(&c, &kim), 200);

    // Deleted: signed out, and cannot sign in.
    let kim = sign_in(&c, "kim", password);
    let (status, _) = api(&c, &c.token, "DELETE", "/api/v1/users/kim", None);
    assert_eq!(status, 200);
    assert_eq!(access_log_page(&c, &kim), 303);
    let (status, body) = api(&c, &c.token, "GET", "/api/v1/users", None);
    assert_eq!(status, 200);
    assert_eq!(
        body["users"],
        serde_json::json!([
            { "name": "boss", "role": "auditor" },
            { "name": "lee", "role": "operator" }
        ])
    );
    let users = run(c.cmd().args(["user", "list"])).unwrap();
    assert_eq!(users, "boss\tauditor\nlee\toperator\n");
    let log = run(c.cmd().args(["user", "delete", "kim"]));
    assert!(log.unwrap_err().to_string().contains("no user \"kim\""));
    assert!(!c.log().contains(password), "passwords are never logged");
}

#[test]
fn tokens_are_listed_without_secrets_and_revoked_at_once() {
    let c = Collector::start().unwrap();
    let ci = token(&c, &["--api", "--role", "auditor", "--name", "ci"]);
    let fleet = token(&c, &["--uses", "3"]);
    assert_eq!(api(&c, &ci, "GET", "/api/v1/agents", None).0, 200);

    let (status, body) = api(&c, &ci, "GET", "/api/v1/tokens", None);
    assert_eq!(status, 403, "{body}");
    let (status, body) = api(&c, &c.token, "GET", "/api/v1/tokens", None);
    assert_eq!(status, 200, "{body}");
    let text = body.to_string();
    for secret in [&ci, &fleet, &c.token] {
        assert!(!text.contains(&secret[secret.len() - 20..]), "{text}");
    }
    let tokens = body["tokens"].as_array().unwrap();
    let kinds: Vec<(&str, &str)> = tokens
        .iter()
        .map(|t| (t["kind"].as_str().unwrap(), t["name"].as_str().unwrap()))
        .collect();
    assert_eq!(kinds, [("api", "e2e"), ("api", "ci"), ("enrol", "")]);
    assert_eq!(tokens[2]["usesLeft"], 3);
    assert!(tokens[2]["lastUsed"].is_null(), "{text}");
    // The admin token's use of a moment ago, recorded in the background.
    gamsa_tests::wait_for("the admin token's last use", ANSWER, || {
        let (_, body) = api(&c, &c.token, "GET", "/api/v1/tokens", None);
        body["tokens"][0]["lastUsed"].as_str().map(str::to_string)
    });

    let cli = listed(&c);
    assert_eq!(cli[1].1, "ci");
    assert_eq!(cli[2].2, "3/3");
    let id = tokens[1]["id"].as_str().unwrap();
    assert_eq!(cli[1].0, id);

    let (status, body) = api(
        &c,
        &c.token,
        "DELETE",
        &format!("/api/v1/tokens/{id}"),
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["revoked"]["name"], "ci");
    assert_eq!(
        api(&c, &ci, "GET", "/api/v1/agents", None).0,
        401,
        "refused from the next request on"
    );
    run(c.cmd().args(["token", "revoke", &cli[2].0[..8]])).unwrap();
    assert_eq!(listed(&c).len(), 1);
    let (_, log) = api(&c, &c.token, "GET", "/api/v1/access-log", None);
    let actions: Vec<&str> = log["accessLog"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["action"].as_str())
        .collect();
    for action in ["token-list", "token-revoke"] {
        assert!(actions.contains(&action), "{actions:?}");
    }
    for secret in [&ci, &fleet] {
        assert!(
            !c.log().contains(secret.as_str()),
            "tokens are never logged"
        );
    }
}

/// A fresh key and a CSR for it.
fn csr() -> (rcgen::KeyPair, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let csr = rcgen::CertificateParams::default()
        .serialize_request(&key)
        .unwrap()
        .pem()
        .unwrap();
    (key, csr)
}

/// An enrolment client of `c`, connected.
async fn enrolment(c: &Collector) -> EnrolmentClient<tonic::transport::Channel> {
    let ca = std::fs::read_to_string(c.data().join("pki/ca.crt")).unwrap();
    let channel = Endpoint::from_shared(format!("https://127.0.0.1:{}", c.grpc))
        .unwrap()
        .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca)))
        .unwrap()
        .connect()
        .await
        .unwrap();
    EnrolmentClient::new(channel)
}

fn request(token: &str, agent: &str, host: &str, csr_pem: &str) -> EnrolRequest {
    EnrolRequest {
        token: token.into(),
        agent_id: agent.into(),
        csr_pem: csr_pem.into(),
        host: host.into(),
    }
}

/// Asks `c` to enrol `agent` for `host` with `token` and `csr_pem`.
async fn enrol(
    c: &Collector,
    token: &str,
    agent: &str,
    host: &str,
    csr_pem: &str,
) -> Result<EnrolResponse, tonic::Status> {
    enrolment(c)
        .await
        .enrol(request(token, agent, host, csr_pem))
        .await
        .map(|r| r.into_inner())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_enrolment_uses_nothing_up() {
    let c = Collector::start().unwrap();
    let once = token(&c, &["--uses", "1"]);
    let (key, good) = csr();
    let e = enrol(&c, &once, "node-1", "node-1", "not a CSR")
        .await
        .unwrap_err();
    assert!(e.message().contains("bad CSR"), "{e:?}");
    let e = enrol(&c, &once, "bad name!", "node-1", &good)
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");
    // A host another agent holds.
    let _ = c.issue("holder").unwrap();
    let e = enrol(&c, &once, "node-1", "holder", &good)
        .await
        .unwrap_err();
    assert!(e.message().contains("\"holder\""), "{e:?}");
    assert_eq!(listed(&c)[1].2, "1/1", "three refusals used nothing");

    let enrolled = enrol(&c, &once, "node-1", "node-1", &good).await.unwrap();
    assert!(enrolled.certificate_pem.contains("BEGIN CERTIFICATE"));
    assert_eq!(listed(&c)[1].2, "0/1");
    drop(key);
    let e = enrol(&c, &once, "node-2", "node-2", &good)
        .await
        .unwrap_err();
    assert!(e.message().contains("used-up"), "{e:?}");
}

/// Twelve agents enrol one name at once with a shared token of twelve uses:
/// one gets a certificate, one use is taken.
async fn enrolments_racing_for_one_name_get_one_certificate(c: Collector) {
    let shared = token(&c, &["--uses", "12"]);
    // Connected first, then asked all at once.
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(12));
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let (mut client, start) = (enrolment(&c).await, start.clone());
        let asked = request(&shared, "node-twin", "twin", &csr().1);
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            client.enrol(asked).await
        }));
    }
    let mut certificates = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => certificates += 1,
            Err(e) => assert!(e.message().contains("already enrolled"), "{e:?}"),
        }
    }
    assert_eq!(certificates, 1);
    assert_eq!(listed(&c)[1].2, "11/12");
}

#[tokio::test(flavor = "multi_thread")]
async fn enrolments_racing_for_one_name_get_one_certificate_on_sqlite() {
    enrolments_racing_for_one_name_get_one_certificate(Collector::start().unwrap()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn enrolments_racing_for_one_name_get_one_certificate_on_postgres() {
    let scratch = Scratch::create("gamsa_creds");
    enrolments_racing_for_one_name_get_one_certificate(
        Collector::start_on(Some(&scratch.url)).unwrap(),
    )
    .await;
}

/// Writes an enrolled agent's key, certificate and CA into `dir`.
fn credentials(dir: &Path, key: &rcgen::KeyPair, enrolled: &EnrolResponse) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("agent.key"), key.serialize_pem()).unwrap();
    std::fs::write(dir.join("agent.crt"), &enrolled.certificate_pem).unwrap();
    std::fs::write(dir.join("ca.crt"), &enrolled.ca_pem).unwrap();
    dir.to_path_buf()
}

/// Whether `agent` with the credentials in `creds` gets a batch acked.
async fn streams(c: &Collector, creds: &Path, agent: &str) -> Result<(), tonic::Status> {
    let ingest = client(c, Some(creds)).await.unwrap();
    let mut s = open(ingest, vec![hello(agent)]).await?;
    s.send_acked(batch(agent), 1, ANSWER).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reinstated_agent_streams_again_only_with_a_new_certificate() {
    let c = Collector::start().unwrap();
    let old = c.issue("node-r").unwrap();
    streams(&c, &old, "node-r").await.unwrap();

    let (status, body) = api(&c, &c.token, "POST", "/api/v1/agents/node-r/revoke", None);
    assert_eq!(status, 200, "{body}");
    let e = streams(&c, &old, "node-r").await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e:?}");
    // A token bound to the name does not bring a revoked agent back.
    let bound = token(&c, &["--name", "node-r"]);
    let (_, request) = csr();
    let e = enrol(&c, &bound, "node-r", "node-r", &request)
        .await
        .unwrap_err();
    assert!(e.message().contains("reinstate"), "{e:?}");

    let reinstated = run(c.cmd().args(["agent", "reinstate", "node-r"])).unwrap();
    let fresh = reinstated.trim();
    assert!(fresh.starts_with("gamsa-enrol_"), "{reinstated}");
    let e = streams(&c, &old, "node-r").await.unwrap_err();
    assert_eq!(
        e.code(),
        tonic::Code::PermissionDenied,
        "the revoked certificate stays refused: {e:?}"
    );
    let (key, request) = csr();
    let enrolled = enrol(&c, fresh, "node-r", "node-r", &request)
        .await
        .unwrap();
    let new = credentials(&c.dir.path().join("node-r-new"), &key, &enrolled);
    streams(&c, &new, "node-r").await.unwrap();
    assert!(streams(&c, &old, "node-r").await.is_err());
    let agents = c.get("/api/v1/agents").unwrap();
    assert_eq!(agents["agents"][0]["revoked"], false, "{agents}");
    agents_are_listed_a_page_at_a_time(&c);
    // Reinstating an agent that is not revoked says so.
    let (status, body) = api(
        &c,
        &c.token,
        "POST",
        "/api/v1/agents/node-r/reinstate",
        None,
    );
    assert_eq!(status, 404, "{body}");
    assert!(body["error"].as_str().unwrap().contains("not revoked"));
}

/// `GET /api/v1/agents` pages by agent id with `nextOffset`; a page out of
/// bounds is refused.
fn agents_are_listed_a_page_at_a_time(c: &Collector) {
    for name in ["node-p1", "node-p2"] {
        c.issue(name).unwrap();
    }
    let ids = |answer: &serde_json::Value| -> Vec<String> {
        answer["agents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["agentId"].as_str().unwrap().to_string())
            .collect()
    };
    let all = c.get("/api/v1/agents").unwrap();
    assert!(all["nextOffset"].is_null(), "{all}");
    assert_eq!(ids(&all), ["node-p1", "node-p2", "node-r"]);
    let first = c.get("/api/v1/agents?limit=2").unwrap();
    assert_eq!(ids(&first), ["node-p1", "node-p2"]);
    assert_eq!(first["nextOffset"], 2);
    let last = c.get("/api/v1/agents?limit=2&offset=2").unwrap();
    assert_eq!(ids(&last), ["node-r"]);
    assert!(last["nextOffset"].is_null(), "{last}");
    for refused in ["limit=0", "limit=1001"] {
        let (status, body) = api(
            c,
            &c.token,
            "GET",
            &format!("/api/v1/agents?{refused}"),
            None,
        );
        assert_eq!(status, 400, "{refused}: {body}");
    }
}

/// A dashboard page or form post with the session `cookie`: status and body.
fn dashboard(
    c: &Collector,
    cookie: &str,
    path: &str,
    form: Option<&[(&str, &str)]>,
) -> (u16, String) {
    let http = ureq::AgentBuilder::new().redirects(0).build();
    let url = format!("http://127.0.0.1:{}{path}", c.http);
    let cookie = format!("gamsa_session={cookie}");
    let resp = match form {
        Some(f) => http.post(&url).set("Cookie", &cookie).send_form(f),
        None => http.get(&url).set("Cookie", &cookie).call(),
    };
    match resp {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(e) => panic!("{path}: {e}"),
    }
}

/// The CSRF token of a session, as the dashboard derives it.
fn csrf(cookie: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(format!("gamsa-csrf:{cookie}")))
}

#[test]
fn admins_revoke_tokens_and_change_roles_on_the_dashboard() {
    let c = Collector::start().unwrap();
    let password = "correct horse battery staple";
    add_user(&c, "boss", "admin", password);
    add_user(&c, "ana", "operator", password);
    let ci = token(&c, &["--api", "--role", "operator", "--name", "ci"]);
    let boss = sign_in(&c, "boss", password);
    let ana = sign_in(&c, "ana", password);
    assert_eq!(dashboard(&c, &ana, "/admin", None).0, 403, "operators");

    let (status, page) = dashboard(&c, &boss, "/admin", None);
    assert_eq!(status, 200);
    let (_, body) = api(&c, &c.token, "GET", "/api/v1/tokens", None);
    let id = body["tokens"][1]["id"].as_str().unwrap().to_string();
    assert!(page.contains(&id) && page.contains(">ci<"), "{page}");
    assert!(
        !page.contains(&ci[ci.len() - 20..]),
        "no secret on the page"
    );

    let revoke = format!("/admin/tokens/{id}/revoke");
    assert_eq!(dashboard(&c, &boss, &revoke, Some(&[("csrf", "")])).0, 403);
    assert_eq!(api(&c, &ci, "GET", "/api/v1/agents", None).0, 200);
    let token = csrf(&boss);
    assert_eq!(
        dashboard(&c, &boss, &revoke, Some(&[("csrf", &token)])).0,
        303
    );
    assert_eq!(api(&c, &ci, "GET", "/api/v1/agents", None).0, 401);

    let role = [("csrf", token.as_str()), ("role", "auditor")];
    assert_eq!(
        dashboard(&c, &boss, "/admin/users/ana/role", Some(&role)).0,
        303
    );
    assert_eq!(dashboard(&c, &ana, "/", None).0, 303, "ana signs in again");
    let delete = [("csrf", token.as_str())];
    assert_eq!(
        dashboard(&c, &boss, "/admin/users/ana/delete", Some(&delete)).0,
        303
    );
    let (_, users) = api(&c, &c.token, "GET", "/api/v1/users", None);
    assert_eq!(
        users["users"],
        serde_json::json!([{ "name": "boss", "role": "admin" }])
    );
}

//! The Tomcat checks end to end with Debian's real Tomcat 10: two
//! CATALINA_BASE directories made by the package's own
//! `tomcat10-instance-create`, one hardened as TOM-101 to TOM-503 ask and
//! started (catalina.sh run, as the tomcat user, on a loopback port, so the
//! probe finds it by its process), one left with the faults the checks look
//! for (Debian's manager and examples descriptors, its default ROOT page,
//! admin/admin, listings on, SSLv3, no access log, open modes). The real
//! probe reads both, a real SQLite store keeps the evidence and the
//! built-in `tomcat` catalog is evaluated: Y (P on partial rows) on every
//! automated item of the good one, N on each item the bad one breaks.

use gamsa_agent::probes::tomcat::{observe, Config};
use gamsa_agent::probes::ProbeContext;
use gamsa_collector::checklists::Checklists;
use gamsa_collector::store::{sqlite::SqliteStore, AgentRecord, Store};
use gamsa_collector::verdict::Verdict;
use gamsa_proto::v1::{evidence::Payload, Tomcat};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const HOME: &str = "/usr/share/tomcat10";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The tomcat user's UID and GID from the machine's passwd.
fn tomcat_ids() -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let line = passwd
        .lines()
        .find(|l| l.starts_with("tomcat:"))
        .expect("the tomcat10 package creates the tomcat user (tests/run.sh)");
    let f: Vec<&str> = line.split(':').collect();
    (f[2].parse().unwrap(), f[3].parse().unwrap())
}

fn mode(p: &Path, m: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
}

/// A CATALINA_BASE made by Debian's tomcat10-instance-create.
fn instance(base: &Path, port: u16) {
    let made = Command::new("tomcat10-instance-create")
        .args(["-p", &port.to_string(), "-c", &free_port().to_string()])
        .arg(base)
        .stdout(Stdio::null())
        .status()
        .expect("tomcat10-user must be installed (tests/run.sh)");
    assert!(made.success());
    let server = base.join("conf/server.xml");
    let text = std::fs::read_to_string(&server).unwrap();
    // Loopback only, and no shutdown port.
    let mut text = text.replace(
        &format!("<Connector port=\"{port}\" protocol=\"HTTP/1.1\""),
        &format!("<Connector port=\"{port}\" address=\"127.0.0.1\" protocol=\"HTTP/1.1\""),
    );
    let at = text.find("<Server port=\"").unwrap() + "<Server port=\"".len();
    let end = at + text[at..].find('"').unwrap();
    text.replace_range(at..end, "-1");
    std::fs::write(&server, text).unwrap();
    std::fs::create_dir_all(base.join("conf/Catalina/localhost")).unwrap();
}

fn good(base: &Path, port: u16) {
    instance(base, port);
    let (uid, gid) = tomcat_ids();
    let web = base.join("conf/web.xml");
    let text = std::fs::read_to_string(&web).unwrap().replace(
        "</web-app>",
        "<error-page><error-code>404</error-code><location>/error.html</location></error-page>\n\
         <error-page><error-code>500</error-code><location>/error.html</location></error-page>\n</web-app>",
    );
    std::fs::write(&web, text).unwrap();
    std::fs::write(
        base.join("conf/tomcat-users.xml"),
        r#"<tomcat-users><user username="ops-7f3k" password="Vq8#mR2p!xL" roles="manager-gui"/></tomcat-users>"#,
    )
    .unwrap();
    std::fs::create_dir_all(base.join("webapps/ROOT")).unwrap();
    std::fs::write(base.join("webapps/ROOT/index.html"), "<h1>shop</h1>").unwrap();
    for entry in std::fs::read_dir(base.join("conf")).unwrap().flatten() {
        if entry.path().is_file() {
            mode(&entry.path(), 0o640);
        }
        std::os::unix::fs::chown(entry.path(), Some(0), Some(gid)).unwrap();
    }
    std::os::unix::fs::chown(base.join("conf"), Some(0), Some(gid)).unwrap();
    mode(&base.join("conf"), 0o750);
    for d in ["logs", "temp", "work"] {
        std::os::unix::fs::chown(base.join(d), Some(uid), Some(gid)).unwrap();
        mode(&base.join(d), 0o750);
    }
}

fn bad(base: &Path, port: u16) {
    instance(base, port);
    std::fs::write(
        base.join("conf/server.xml"),
        format!(
            r#"<Server port="-1" shutdown="SHUTDOWN"><Service name="Catalina">
  <Connector port="{port}" address="127.0.0.1" protocol="HTTP/1.1"/>
  <Connector port="{}" protocol="org.apache.coyote.http11.Http11NioProtocol" SSLEnabled="true">
    <SSLHostConfig protocols="+SSLv3,+TLSv1.2"><Certificate certificateKeystoreFile="conf/localhost.jks" type="RSA"/></SSLHostConfig>
  </Connector>
  <Engine name="Catalina" defaultHost="localhost"><Host name="localhost" appBase="webapps"/></Engine>
</Service></Server>"#,
            free_port()
        ),
    )
    .unwrap();
    for d in ["manager.xml", "host-manager.xml", "examples.xml"] {
        std::fs::copy(
            Path::new("/etc/tomcat10/Catalina/localhost").join(d),
            base.join("conf/Catalina/localhost").join(d),
        )
        .expect("tomcat10-admin and tomcat10-examples must be installed (tests/run.sh)");
    }
    std::fs::write(
        base.join("conf/tomcat-users.xml"),
        r#"<tomcat-users><user username="admin" password="admin" roles="manager-gui,admin-gui"/></tomcat-users>"#,
    )
    .unwrap();
    let web = base.join("conf/web.xml");
    let text = std::fs::read_to_string(&web).unwrap();
    let at = text.find("<param-name>listings</param-name>").unwrap();
    let (head, tail) = text.split_at(at);
    let tail = tail.replacen(
        "<param-value>false</param-value>",
        "<param-value>true</param-value>",
        1,
    );
    std::fs::write(&web, format!("{head}{tail}")).unwrap();
    std::fs::create_dir_all(base.join("webapps/ROOT")).unwrap();
    let index = base.join("webapps/ROOT/index.html");
    std::fs::copy("/var/lib/tomcat10/webapps/ROOT/index.html", &index).unwrap();
    mode(&index, 0o666);
    std::fs::create_dir_all(base.join("webapps/shop/WEB-INF/lib")).unwrap();
    std::fs::write(
        base.join("webapps/shop/WEB-INF/lib/struts2-core-2.5.30.jar"),
        b"",
    )
    .unwrap();
    for f in ["server.xml", "web.xml", "tomcat-users.xml"] {
        mode(&base.join("conf").join(f), 0o666);
    }
    mode(&base.join("logs"), 0o777);
}

/// The real Tomcat, run as Debian's service runs it (catalina.sh run, as
/// tomcat, umask 0027), killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(base: &Path, port: u16) -> Running {
    let (uid, gid) = tomcat_ids();
    let child = Command::new(format!("{HOME}/bin/catalina.sh"))
        .arg("run")
        .env("CATALINA_BASE", base)
        .env("CATALINA_HOME", HOME)
        .env("CATALINA_TMPDIR", base.join("temp"))
        .uid(uid)
        .gid(gid)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let running = Running(child);
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "Tomcat did not listen on {port} within 90 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    running
}

/// The tomcat verdicts of a host whose installation is `base`, evaluated
/// from a real store.
async fn verdicts(found: &Tomcat, host: &str, base: &str) -> BTreeMap<String, (Verdict, String)> {
    let ctx = ProbeContext {
        agent_id: host.into(),
        host: host.into(),
        host_root: "/".into(),
        labels: BTreeMap::new(),
        control: Default::default(),
    };
    // Only this installation: another Tomcat on the machine running the
    // tests is not this host's.
    let mine = Tomcat {
        instances: found
            .instances
            .iter()
            .filter(|i| i.base == base)
            .cloned()
            .collect(),
        notices: found.notices.clone(),
    };
    assert_eq!(mine.instances.len(), 1, "{base}: {found:?}");
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("gamsa.db")).unwrap();
    store
        .upsert_agent(AgentRecord {
            agent_id: host.into(),
            host: host.into(),
            last_seen_ms: gamsa_collector::clock::now_ms(),
            ..Default::default()
        })
        .await
        .unwrap();
    store
        .insert_batch(vec![ctx.observed("tomcat", host, Payload::Tomcat(mine))])
        .await
        .unwrap();
    Checklists::load(&[])
        .unwrap()
        .evaluate(&store, &["tomcat"], None)
        .await
        .unwrap()
        .into_iter()
        .map(|i| (i.id.clone(), (i.verdict, i.reason_en.clone())))
        .collect()
}

#[tokio::test]
async fn a_hardened_real_tomcat_passes_and_a_faulty_one_fails_the_tom_items() {
    let t = tempfile::tempdir().unwrap();
    mode(t.path(), 0o755);
    let (good_base, bad_base) = (t.path().join("good"), t.path().join("bad"));
    let good_port = free_port();
    good(&good_base, good_port);
    bad(&bad_base, free_port());
    let running = start(&good_base, good_port);

    let (g, b) = (
        good_base.display().to_string(),
        bad_base.display().to_string(),
    );
    let config = Config {
        paths: vec![g.clone(), b.clone()],
        ..Config::default()
    };
    let found = observe(Path::new("/"), &config).unwrap();
    drop(running);
    let good_found = found.instances.iter().find(|i| i.base == g).unwrap();
    assert_eq!(
        (
            good_found.found_by.as_str(),
            good_found.process_user.as_str()
        ),
        ("process", "tomcat"),
        "the running Tomcat is found by its process"
    );
    assert_eq!(good_found.home, HOME);
    // Tomcat wrote its own log under catalina.sh's umask 0027.
    assert!(
        good_found
            .log_files
            .iter()
            .any(|f| f.path.contains("/logs/catalina.") && f.mode == 0o640),
        "{:?}",
        good_found.log_files
    );
    let bad_found = found.instances.iter().find(|i| i.base == b).unwrap();
    assert!(!bad_found.running && bad_found.found_by == "configured");

    let good = verdicts(&found, "good", &g).await;
    let bad = verdicts(&found, "bad", &b).await;
    assert_eq!(good.len(), 16, "{good:?}");
    let partial = ["TOM-202", "TOM-403", "TOM-501", "TOM-502"];
    let mut wrong = Vec::new();
    for (id, (verdict, why)) in &good {
        let want = if partial.contains(&id.as_str()) {
            Verdict::P
        } else {
            Verdict::Y
        };
        if *verdict != want {
            wrong.push(format!("good {id}: {verdict:?}, want {want:?}: {why}"));
        }
    }
    // The faulty base breaks all but these: it is not running (its process
    // user is unknown) and it is the same, current, Tomcat.
    let unbroken = ["TOM-204", "TOM-502"];
    for (id, (verdict, why)) in &bad {
        if !unbroken.contains(&id.as_str()) && *verdict != Verdict::N {
            wrong.push(format!("bad {id}: {verdict:?}, want N: {why}"));
        }
    }
    assert_eq!(bad["TOM-204"].0, Verdict::Unknown, "{:?}", bad["TOM-204"]);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

//! Shared by the probe integration tests: a probe context over a host root,
//! and helpers to build sysfs/procfs-shaped trees from real files.
#![allow(dead_code)] // each test binary uses its own share of these helpers

use gamsa_agent::probes::{ControlState, ProbeContext};
use gamsa_proto::v1::{evidence::Payload, Evidence, Status};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

pub fn ctx(root: &Path) -> ProbeContext {
    ProbeContext {
        agent_id: "test-agent".into(),
        host: "test-host".into(),
        host_root: root.to_path_buf(),
        labels: BTreeMap::new(),
        control: Arc::new(ControlState::default()),
    }
}

/// Writes `text` to `root/rel`, creating parent directories.
pub fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel.trim_start_matches('/'));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap();
}

/// Makes `root/link` a symlink to `target` (relative, as sysfs links are).
pub fn symlink(root: &Path, link: &str, target: &str) {
    let p = root.join(link.trim_start_matches('/'));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(target, &p).unwrap();
}

/// The one evidence, which must be observed; panics with its error otherwise.
pub fn observed(evidence: &[Evidence]) -> &Payload {
    assert_eq!(evidence.len(), 1, "{evidence:#?}");
    let ev = &evidence[0];
    assert_eq!(ev.status, Status::Observed as i32, "error: {}", ev.error);
    ev.payload.as_ref().expect("payload")
}

pub fn is_error(ev: &Evidence) -> bool {
    ev.status == Status::Error as i32 && ev.payload.is_none() && !ev.error.is_empty()
}

/// Serves `app` on a fresh loopback port; returns its base URL.
pub async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// A loopback URL where nothing listens (the port was just freed).
pub fn closed_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", l.local_addr().unwrap())
}

/// A loopback server that accepts connections and never answers.
pub async fn silent_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    format!("http://{addr}")
}

/// A Kubernetes API stand-in: `routes` answer only requests that carry
/// `Authorization: Bearer <token>`; others get the API server's 401.
pub fn kube_api(token: &'static str, routes: axum::Router) -> axum::Router {
    use axum::http::{Request, StatusCode};
    use axum::middleware::Next;
    use axum::response::{IntoResponse, Response};
    routes.layer(axum::middleware::from_fn(
        move |req: Request<axum::body::Body>, next: Next| async move {
            let auth = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            if auth.as_deref() != Some(&format!("Bearer {token}")) {
                let body = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#;
                return (StatusCode::UNAUTHORIZED, body).into_response();
            }
            let resp: Response = next.run(req).await;
            resp
        },
    ))
}

/// `gamsa-agent scan --once --probe probe`: the evidence, peak RSS in KiB
/// (GNU time) and how long it took.
pub fn run_agent(config: &Path, probe: &str) -> (serde_json::Value, i64, std::time::Duration) {
    let dir = tempfile::tempdir().unwrap();
    let rss_file = dir.path().join("rss");
    let started = std::time::Instant::now();
    let out = std::process::Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(&rss_file)
        .arg(env!("CARGO_BIN_EXE_gamsa-agent"))
        .arg("-c")
        .arg(config)
        .args(["scan", "--once", "--probe", probe])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("/usr/bin/time must be installed (Debian: time)");
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let evidence: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(evidence.len(), 1, "{evidence:?}");
    let rss = std::fs::read_to_string(&rss_file).unwrap();
    (evidence[0].clone(), rss.trim().parse().unwrap(), took)
}

/// A real process whose kernel name is `name` (a copy of `sleep` in `dir`,
/// sleeping `secs`), returned once the kernel shows that name.
///
/// Another test thread forking while the copy is being written holds the
/// file open for writing until it execs, and running the copy then fails
/// with "text file busy": the spawn is retried until that clears.
pub fn process_named(dir: &Path, name: &str, secs: u32) -> std::process::Child {
    let program = dir.join(name);
    std::fs::copy("/bin/sleep", &program).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let child = loop {
        match std::process::Command::new(&program)
            .arg(secs.to_string())
            .spawn()
        {
            Ok(c) => break c,
            Err(e)
                if e.kind() == std::io::ErrorKind::ExecutableFileBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10))
            }
            Err(e) => panic!("{}: {e}", program.display()),
        }
    };
    // spawn() returns before the child has exec'd; until it has, its kernel
    // name is still this test's.
    let comm = format!("/proc/{}/comm", child.id());
    while std::fs::read_to_string(&comm).unwrap_or_default().trim() != name {
        assert!(std::time::Instant::now() < deadline, "{comm}: never {name}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child
}

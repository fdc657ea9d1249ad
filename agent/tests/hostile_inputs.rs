//! Hostile inputs for the probes that read the network or the host root:
//! metadata services that accept and never answer or answer without end,
//! and a host root whose /proc/net/tcp never ends. The real agent binary
//! runs each case as its own process, so that its peak memory can be
//! compared with a run on ordinary input: what the probe reads must be
//! bounded, not whatever the input offers.

mod common;

use axum::body::{Body, Bytes};
use axum::Router;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Most extra memory a hostile input may cost over an ordinary run.
const EXTRA_KIB: i64 = 16 * 1024;

/// Runs `gamsa-agent -c config scan --once --probe probe`; returns its
/// evidence and its peak resident memory in KiB. GNU time measures it: the
/// kernel folds the forking process's memory into the child's peak, so
/// the agent must be started by a small process, not by this test.
fn run_agent(config: &Path, probe: &str) -> (Vec<serde_json::Value>, i64) {
    let dir = tempfile::tempdir().unwrap();
    let rss_file = dir.path().join("rss");
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(&rss_file)
        .arg(env!("CARGO_BIN_EXE_gamsa-agent"))
        .arg("-c")
        .arg(config)
        .args(["scan", "--once", "--probe", probe])
        .stdin(Stdio::null())
        .output()
        .expect("/usr/bin/time must be installed (Debian: time)");
    assert!(
        out.status.success(),
        "agent failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let evidence = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let rss = std::fs::read_to_string(&rss_file).unwrap();
    (evidence, rss.trim().parse().unwrap())
}

fn only_error(evidence: &[serde_json::Value]) -> String {
    assert_eq!(evidence.len(), 1, "{evidence:?}");
    assert_eq!(evidence[0]["status"], "STATUS_ERROR", "{}", evidence[0]);
    evidence[0]["error"].as_str().unwrap().to_string()
}

fn region_config(dir: &Path, name: &str, urls: [&str; 4]) -> PathBuf {
    let path = dir.join(name);
    // interval 10s: the scheduler would cut the probe off at 10 s, saying
    // so; the probe's own 2 s timeout must end it first.
    std::fs::write(
        &path,
        format!(
            "host = \"h\"\n[probes.region]\ninterval = \"10s\"\nkubernetes = false\ntimeout = \"2s\"\naws_url = {:?}\ngcp_url = {:?}\nazure_url = {:?}\nopenstack_url = {:?}\n",
            urls[0], urls[1], urls[2], urls[3]
        ),
    )
    .unwrap();
    path
}

/// Answers every request with 200 and a 50 MB body, streamed.
fn enormous() -> Router {
    static CHUNK: [u8; 64 * 1024] = [b' '; 64 * 1024];
    Router::new().fallback(|| async {
        let chunks =
            (0..800).map(|_| Ok::<_, std::convert::Infallible>(Bytes::from_static(&CHUNK)));
        (
            [("content-type", "application/json")],
            Body::from_stream(futures::stream::iter(chunks)),
        )
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn metadata_services_that_stall_or_flood_give_one_bounded_error() {
    let dir = tempfile::tempdir().unwrap();
    let closed = common::closed_url();
    let ordinary = region_config(
        dir.path(),
        "ordinary.toml",
        [&closed, &closed, &closed, &closed],
    );
    let (silent, flood) = (common::silent_url().await, common::serve(enormous()).await);
    let hostile = region_config(
        dir.path(),
        "hostile.toml",
        [&silent, &silent, &flood, &flood],
    );
    // The server runs on this runtime while the child blocks a thread.
    let (base, bad) = tokio::task::spawn_blocking(move || {
        (
            run_agent(&ordinary, "region"),
            run_agent(&hostile, "region"),
        )
    })
    .await
    .unwrap();
    only_error(&base.0);
    let why = only_error(&bad.0);
    assert!(
        why.starts_with("no cloud metadata service answered"),
        "{why}"
    );
    assert!(
        !why.contains("did not finish"),
        "the probe's own timeout must end it: {why}"
    );
    for source in ["aws-imds", "gcp-metadata"] {
        let part = why.split("; ").find(|p| p.contains(source)).unwrap();
        assert!(part.contains("timed out"), "{part}");
    }
    for source in ["azure-imds", "openstack"] {
        let part = why.split("; ").find(|p| p.contains(source)).unwrap();
        assert!(part.contains("larger than 1048576 bytes"), "{part}");
    }
    assert!(
        bad.1 < base.1 + EXTRA_KIB,
        "peak memory {} KiB against {} KiB on ordinary input",
        bad.1,
        base.1
    );
}

const TCP_HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

/// A host root whose /proc/net tables are small and ordinary, except
/// `tcp`, which `hostile` makes.
fn ports_root(dir: &Path, hostile: impl FnOnce(&Path)) -> PathBuf {
    let root = dir.join("root");
    let row = "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0\n";
    for t in ["tcp6", "udp", "udp6"] {
        common::write(&root, &format!("proc/net/{t}"), TCP_HEADER);
    }
    common::write(&root, "proc/net/tcp", &format!("{TCP_HEADER}{row}"));
    hostile(&root.join("proc/net/tcp"));
    let config = dir.join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "host = \"h\"\nhost_root = {:?}\n",
            root.display().to_string()
        ),
    )
    .unwrap();
    config
}

#[test]
fn an_endless_proc_net_tcp_is_refused_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (base, base_rss) = run_agent(&ports_root(&dir.path().join("a"), |_| {}), "ports");
    assert_eq!(base[0]["status"], "STATUS_OBSERVED", "{}", base[0]);
    assert_eq!(base[0]["listeningSockets"]["sockets"][0]["port"], 8080);

    // A FIFO fed rows of established connections without end.
    let (endless_config, writer) = {
        let mut path = None;
        let config = ports_root(&dir.path().join("b"), |tcp| {
            std::fs::remove_file(tcp).unwrap();
            let c = std::ffi::CString::new(tcp.to_str().unwrap()).unwrap();
            // SAFETY: a valid NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
            path = Some(tcp.to_path_buf());
        });
        let fifo = path.unwrap();
        let writer = std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
            let row = "   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 99 1 0000000000000000 20 4 30 10 -1\n";
            let chunk = format!("{TCP_HEADER}{}", row.repeat(400));
            let mut sent: u64 = 0;
            // Ends when the reader gives up (EPIPE).
            while f.write_all(chunk.as_bytes()).is_ok() {
                sent += chunk.len() as u64;
            }
            sent
        });
        (config, writer)
    };
    let (endless, endless_rss) = run_agent(&endless_config, "ports");
    let sent = writer.join().unwrap();
    let why = only_error(&endless);
    assert!(
        why.contains("proc/net/tcp is larger than 67108864 bytes"),
        "{why}"
    );
    assert!(
        sent >= 64 * 1024 * 1024,
        "the probe stopped early: {sent} bytes"
    );
    assert!(
        endless_rss < base_rss + EXTRA_KIB,
        "peak memory {endless_rss} KiB against {base_rss} KiB on ordinary input"
    );

    // One line of a gigantic (sparse) file: refused at the line limit.
    let config = ports_root(&dir.path().join("c"), |tcp| {
        std::fs::File::create(tcp)
            .unwrap()
            .set_len(1 << 30)
            .unwrap();
    });
    let (huge, huge_rss) = run_agent(&config, "ports");
    let why = only_error(&huge);
    assert!(why.contains("proc/net/tcp has a line longer than"), "{why}");
    assert!(huge_rss < base_rss + EXTRA_KIB, "{huge_rss} KiB");
}

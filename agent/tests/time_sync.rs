//! time_sync against the real kernel clock and real processes.

mod common;

use gamsa_agent::probes::time_sync::{self, TimeSyncProbe};
use gamsa_agent::probes::Probe;
use gamsa_proto::v1::evidence::Payload;
use std::process::Command;

/// The kernel's view through an independent implementation: Python's ctypes
/// calling adjtimex(2) directly. Returns (synchronised, esterror µs).
fn python_adjtimex() -> (bool, i64) {
    let script = r#"
import ctypes
class Timex(ctypes.Structure):
    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
                ("pad", ctypes.c_byte * 256)]
t = Timex()
state = ctypes.CDLL(None, use_errno=True).adjtimex(ctypes.byref(t))
print(int(state != 5 and not (t.status & 0x40)), t.esterror)
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .output()
        .expect("python3 must be installed for this test (Debian: python3)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut it = text.split_whitespace();
    (
        it.next().unwrap() == "1",
        it.next().unwrap().parse().unwrap(),
    )
}

#[tokio::test]
async fn real_kernel_state_daemon_and_collector_offset() {
    // A real process whose kernel name is "chronyd": a copy of sleep.
    let dir = tempfile::tempdir().unwrap();
    let mut child = common::process_named(dir.path(), "chronyd", 30);

    let ctx = common::ctx(std::path::Path::new("/"));
    ctx.control.set_collector_offset(-42);
    let probe = TimeSyncProbe::new(time_sync::Config::default());
    let evidence = probe.run(&ctx).await;
    child.kill().unwrap();
    child.wait().unwrap();

    let Payload::TimeSync(t) = common::observed(&evidence) else {
        panic!("wrong payload: {evidence:?}")
    };
    assert_eq!(evidence[0].subject, "test-host");
    assert_eq!(t.daemon, "chrony");
    assert!(t.collector_offset_known);
    assert_eq!(t.collector_offset_ms, -42);
    let (synced, esterror) = python_adjtimex();
    assert_eq!(t.synchronised, synced);
    // The estimate only moves when a daemon updates it; allow for one update.
    assert!(
        (t.estimated_error_us - esterror).abs() <= 1_000_000,
        "{t:?} vs {esterror}"
    );
    assert!(t.max_error_us >= 0 && t.estimated_error_us >= 0, "{t:?}");
}

#[tokio::test]
async fn daemons_from_a_proc_tree_and_error_without_proc() {
    let root = tempfile::tempdir().unwrap();
    common::write(root.path(), "proc/1/comm", "systemd\n");
    common::write(root.path(), "proc/412/comm", "systemd-timesyn\n");
    common::write(root.path(), "proc/self/comm", "chronyd\n"); // not a pid
    let probe = TimeSyncProbe::new(time_sync::Config::default());
    let ctx = common::ctx(root.path());
    let evidence = probe.run(&ctx).await;
    let Payload::TimeSync(t) = common::observed(&evidence) else {
        panic!("wrong payload")
    };
    assert_eq!(t.daemon, "systemd-timesyncd");
    assert!(!t.collector_offset_known);

    let empty = tempfile::tempdir().unwrap();
    let evidence = probe.run(&common::ctx(empty.path())).await;
    assert!(common::is_error(&evidence[0]), "{evidence:?}");
    assert!(evidence[0].error.contains("proc"), "{}", evidence[0].error);
}

//! `scan --once` on a terminal: while a slow probe runs, a progress line
//! names it; through a pipe, nothing but the evidence. The terminal is a
//! real pseudo-terminal made by util-linux `script`, in a network namespace
//! with one address besides loopback, so that the scan is paced.

mod netns;

use netns::Netns;

/// Not loopback, so `max_rate` paces the scan; on the namespace's `lo`.
const PACED: &str = "10.77.0.1";

fn config(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("agent.toml");
    // 150 paced ports at 50 connections/s: about three seconds.
    std::fs::write(
        &path,
        format!(
            "host = \"h\"\n[probes.port_scan]\ninterval = \"10m\"\ntargets = [\"127.0.0.1\", \"{PACED}\"]\nallow = [\"127.0.0.0/8\", \"{PACED}/32\"]\nports = \"1-150\"\nmax_rate = 50\nscan_log = {:?}\n",
            dir.join("scan.log").display().to_string()
        ),
    )
    .unwrap();
    path
}

#[test]
fn a_terminal_sees_progress_and_a_pipe_does_not() {
    let ns = Netns::new("progress");
    ns.ip(&format!("addr add {PACED}/32 dev lo"));
    let dir = tempfile::tempdir().unwrap();
    let command = format!(
        "{} -c {} scan --once --format table --probe port_scan",
        env!("CARGO_BIN_EXE_gamsa-agent"),
        config(dir.path()).display()
    );
    let out = ns
        .command("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .output()
        .expect("script must be installed (Debian: bsdutils)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(
        screen.contains("0/1 probes done · running: port_scan"),
        "{screen}"
    );
    // How far the scan is: 150 ports on each of two addresses.
    assert!(screen.contains("/300 ports)"), "{screen}");
    // The line is cleared before the table is printed.
    let table = screen.rsplit("\r\x1b[2K").next().unwrap();
    assert!(table.trim_start().starts_with("PROBE"), "{table:?}");
    assert!(
        table.contains("port_scan") && table.contains("127.0.0.1"),
        "{table}"
    );

    let piped = ns
        .command(env!("CARGO_BIN_EXE_gamsa-agent"))
        .args(["-c"])
        .arg(config(dir.path()))
        .args([
            "scan",
            "--once",
            "--format",
            "table",
            "--probe",
            "port_scan",
        ])
        .output()
        .unwrap();
    assert!(piped.status.success());
    assert!(
        piped.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&piped.stderr)
    );
    assert!(String::from_utf8_lossy(&piped.stdout).starts_with("PROBE"));
}

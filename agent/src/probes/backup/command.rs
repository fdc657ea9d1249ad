//! What restic and pgbackrest say about their backups: the JSON a command
//! prints (`restic snapshots --json`, `pgbackrest info --output=json`), or
//! the same JSON kept in a file by a job that runs the tool.
//!
//! Commands run without a shell, with bounded output; the caller bounds
//! the time, and dropping the future kills the process.

use crate::probes::ProbeContext;
use std::collections::BTreeMap;

/// Most bytes of command output or JSON file read.
const OUTPUT_LIMIT: usize = 64 * 1024 * 1024;

/// Runs `argv` (no shell); its stdout, at most OUTPUT_LIMIT bytes. The
/// caller bounds the time: dropping the future kills the process.
pub(super) async fn run_command(
    argv: &[String],
    env: &BTreeMap<String, String>,
) -> Result<Vec<u8>, String> {
    use std::process::Stdio;
    use tokio::io::AsyncReadExt;
    let shown = argv.join(" ");
    let mut child = tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("`{shown}`: {e}"))?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(format!("`{shown}`: no output pipes"));
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let (mut stdout, mut stderr) = (stdout.take(OUTPUT_LIMIT as u64 + 1), stderr.take(64 * 1024));
    let read_out = async {
        let failed = |e| format!("`{shown}`: reading output: {e}");
        stdout.read_to_end(&mut out).await.map_err(failed)?;
        // Over the limit: stop now (the process is killed when dropped).
        if out.len() > OUTPUT_LIMIT {
            return Err(format!(
                "`{shown}`: output larger than {OUTPUT_LIMIT} bytes"
            ));
        }
        Ok(())
    };
    let read_err = async {
        stderr
            .read_to_end(&mut err)
            .await
            .map_err(|e| format!("`{shown}`: reading errors: {e}"))
    };
    tokio::try_join!(read_out, read_err)?;
    let status = child.wait().await.map_err(|e| format!("`{shown}`: {e}"))?;
    if !status.success() {
        let err = String::from_utf8_lossy(&err);
        let err = err.trim();
        let start = err.char_indices().rev().nth(499).map_or(0, |(i, _)| i);
        return Err(format!("`{shown}` {status}: {}", &err[start..]));
    }
    Ok(out)
}

/// The JSON a restic or pgbackrest source (or a copy of it) prints with
/// `command`, or keeps in the file `path`.
pub(super) async fn tool_output(
    ctx: &ProbeContext,
    command: &[String],
    path: &str,
    env: &BTreeMap<String, String>,
) -> Result<Vec<u8>, String> {
    if !command.is_empty() {
        return run_command(command, env).await;
    }
    let path = ctx.host_path(path);
    crate::probes::read_bounded(&path, OUTPUT_LIMIT as u64)
        .map(String::into_bytes)
        .map_err(|e| format!("{}: {e}", path.display()))
}

//! Which programs run on the host, by the kernel's short name
//! (`/proc/<pid>/comm`, at most 15 bytes).
//!
//! Read under the host root so that a DaemonSet sees the node's processes
//! (`/host/proc` is the host's procfs), not only its own container's.

use super::ProbeContext;
use std::collections::BTreeSet;

/// Most `/proc` entries looked at: bounds the walk on a host with an
/// enormous process table.
const MAX_PROCESSES: usize = 200_000;

/// The distinct `comm` names of every process visible under the host root.
/// Processes that exit while being read are skipped.
pub fn names(ctx: &ProbeContext) -> Result<BTreeSet<String>, String> {
    let proc_dir = ctx.host_path("/proc");
    let entries =
        std::fs::read_dir(&proc_dir).map_err(|e| format!("{}: {e}", proc_dir.display()))?;
    let mut names = BTreeSet::new();
    for entry in entries.flatten().take(MAX_PROCESSES) {
        let is_pid = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()));
        if !is_pid {
            continue;
        }
        if let Ok(comm) = super::read_bounded(&entry.path().join("comm"), 256) {
            names.insert(comm.trim_end_matches('\n').to_string());
        }
    }
    if names.is_empty() {
        return Err(format!("{}: no process visible", proc_dir.display()));
    }
    Ok(names)
}

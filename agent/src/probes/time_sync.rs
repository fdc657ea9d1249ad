//! `time_sync`: is this host's clock disciplined, and by what?
//!
//! Logs are evidence only if their timestamps can be trusted (cloud security
//! notice 13.1.5). The kernel knows whether a time daemon has synchronised
//! the clock: `adjtimex(2)` with no modes only reads that state, needs no
//! privilege and is not namespaced, so a container sees the node's clock.
//! Which daemon does the work comes from the host's process names. The
//! offset to the collector's clock, measured by the transport at connect
//! time, is a second opinion independent of the host's own claims.

use super::{Probe, ProbeContext};
use gamsa_proto::v1::{evidence::Payload, Evidence, TimeSync};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// `[probes.time_sync]`: its schedule alone.
pub type Config = super::Scheduled<TimeSyncProbe>;

impl super::Every for TimeSyncProbe {}

impl From<Config> for TimeSyncProbe {
    fn from(config: Config) -> Self {
        Self::new(config)
    }
}

pub struct TimeSyncProbe {
    config: Config,
}

impl TimeSyncProbe {
    pub fn new(config: Config) -> Self {
        Self { config }
    }
}

/// The kernel's clock discipline state, as `adjtimex(2)` returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelClock {
    /// The return value: TIME_OK, TIME_INS, ..., TIME_ERROR.
    pub state: i32,
    /// STA_* flags.
    pub status: i32,
    /// Remaining offset being slewed: µs, or ns when STA_NANO is set.
    pub offset: i64,
    pub esterror_us: i64,
    pub maxerror_us: i64,
}

/// Reads the kernel clock state without changing it.
pub fn kernel_clock() -> std::io::Result<KernelClock> {
    // SAFETY: an all-zero `timex` is a valid value (plain integers), and
    // with `modes == 0` adjtimex only writes the current state into it.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    tx.modes = 0;
    // SAFETY: `tx` is a valid, exclusively borrowed timex for the call.
    let state = unsafe { libc::adjtimex(&mut tx) };
    if state < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(KernelClock {
        state,
        status: tx.status,
        offset: tx.offset,
        esterror_us: tx.esterror,
        maxerror_us: tx.maxerror,
    })
}

impl KernelClock {
    /// Synchronised: a daemon has cleared STA_UNSYNC and the kernel does not
    /// report TIME_ERROR (which it also does for STA_CLOCKERR).
    pub fn synchronised(&self) -> bool {
        self.status & libc::STA_UNSYNC == 0 && self.state != libc::TIME_ERROR
    }

    pub fn offset_us(&self) -> i64 {
        if self.status & libc::STA_NANO != 0 {
            self.offset / 1000
        } else {
            self.offset
        }
    }
}

/// The time daemon among the host's process names, by the kernel's 15-byte
/// `comm` ("systemd-timesyncd" shows as "systemd-timesyn").
pub fn daemon<'a>(names: impl IntoIterator<Item = &'a String>) -> &'static str {
    let mut found = "";
    for n in names {
        let d = match n.as_str() {
            "chronyd" => "chrony",
            "ntpd" => "ntpd",
            "systemd-timesyn" => "systemd-timesyncd",
            _ => continue,
        };
        // chrony and ntpd discipline the clock better than timesyncd's SNTP;
        // if both run, name the stronger one.
        if found.is_empty() || found == "systemd-timesyncd" {
            found = d;
        }
    }
    found
}

fn observe(ctx: &ProbeContext) -> Result<TimeSync, String> {
    let clock = kernel_clock().map_err(|e| format!("adjtimex: {e}"))?;
    let daemon = match super::procs::names(ctx) {
        Ok(names) => daemon(&names),
        Err(e) => return Err(format!("cannot list processes: {e}")),
    };
    let known = ctx.control.collector_offset_known.load(Ordering::Relaxed);
    Ok(TimeSync {
        synchronised: clock.synchronised(),
        estimated_error_us: clock.esterror_us,
        offset_us: clock.offset_us(),
        daemon: daemon.to_string(),
        collector_offset_ms: if known {
            ctx.control.collector_offset_ms.load(Ordering::Relaxed)
        } else {
            0
        },
        collector_offset_known: known,
        max_error_us: clock.maxerror_us,
    })
}

#[async_trait::async_trait]
impl Probe for TimeSyncProbe {
    fn name(&self) -> &'static str {
        "time_sync"
    }

    fn interval(&self) -> Duration {
        self.config.interval
    }

    async fn run(&self, ctx: &ProbeContext) -> Vec<Evidence> {
        let c = ctx.clone();
        vec![
            match tokio::task::spawn_blocking(move || observe(&c)).await {
                Ok(Ok(t)) => ctx.observed("time_sync", &ctx.host, Payload::TimeSync(t)),
                Ok(Err(why)) => ctx.error("time_sync", &ctx.host, why),
                Err(e) => ctx.error("time_sync", &ctx.host, format!("probe task failed: {e}")),
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_flags_decide_synchronised_and_units() {
        let synced = KernelClock {
            state: libc::TIME_OK,
            status: libc::STA_PLL | libc::STA_NANO,
            offset: -25_000,
            esterror_us: 120,
            maxerror_us: 4000,
        };
        assert!(synced.synchronised());
        assert_eq!(synced.offset_us(), -25);
        let unsync = KernelClock {
            state: libc::TIME_ERROR,
            status: libc::STA_UNSYNC,
            offset: 7,
            ..synced
        };
        assert!(!unsync.synchronised());
        assert_eq!(unsync.offset_us(), 7, "microseconds without STA_NANO");
        let clock_error = KernelClock {
            state: libc::TIME_ERROR,
            status: libc::STA_PLL | libc::STA_CLOCKERR,
            ..synced
        };
        assert!(!clock_error.synchronised());
    }

    #[test]
    fn daemon_names_from_truncated_comm() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            daemon(&names(&["bash", "systemd-timesyn"])),
            "systemd-timesyncd"
        );
        assert_eq!(daemon(&names(&["systemd-timesyn", "chronyd"])), "chrony");
        assert_eq!(daemon(&names(&["ntpd", "systemd-timesyn"])), "ntpd");
        assert_eq!(
            daemon(&names(&["systemd-timesyncd", "sshd"])),
            "",
            "comm is 15 bytes"
        );
    }
}

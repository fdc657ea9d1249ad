//! Probes: one file per kind of evidence.
//!
//! Which probes exist is declared once, in the registry
//! (`gamsa_proto::for_each_probe!`); each probe's module has its section
//! type `Config` implementing [`Section`], and the registry makes the
//! `[probes]` configuration and [`enabled`] from them.
//!
//! A probe observes and reports; it never judges (the collector's rules do).
//! When it cannot observe something it returns error evidence saying why, so
//! that "could not check" can never be mistaken for "passed". Every probe
//! bounds its own work with timeouts; the scheduler bounds it again.

pub mod accounts;
pub mod authentication;
pub mod backup;
pub mod cluster;
pub mod config_drift;
pub mod config_files;
pub mod dpkg;
pub mod encryption;
pub mod files;
pub mod host;
pub mod http;
pub mod kube;
pub mod logging;
pub mod monitoring;
pub mod port_scan;
pub mod ports;
pub mod procs;
pub mod redundancy;
pub mod region;
pub mod services;
pub mod software;
pub mod synthetic;
pub mod time_sync;
pub mod tls;
pub mod tomcat;

use crate::config::Config;
use gamsa_proto::v1::{evidence::Payload, Evidence};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What every probe run can see: who and where it is, and the collector's
/// latest instructions.
#[derive(Clone)]
pub struct ProbeContext {
    pub agent_id: String,
    pub host: String,
    /// The host's root filesystem: "/" on a VM, "/host" in a DaemonSet.
    pub host_root: PathBuf,
    pub labels: BTreeMap<String, String>,
    pub control: Arc<ControlState>,
}

/// State the collector can change at run time over the ingest stream.
#[derive(Default)]
pub struct ControlState {
    /// Active scanning is paused (scan consent: the applicant may pause).
    pub scanning_paused: AtomicBool,
    /// Local clock minus collector clock at the last connect, in ms.
    pub collector_offset_ms: AtomicI64,
    pub collector_offset_known: AtomicBool,
    /// A scan scope pushed by the collector, narrowing the configured one.
    pub scan_scope: std::sync::Mutex<Option<gamsa_proto::v1::ScanScope>>,
    /// How far a running port scan is (for the progress line).
    pub port_scan: port_scan::Progress,
}

impl ControlState {
    pub fn set_collector_offset(&self, ms: i64) {
        self.collector_offset_ms.store(ms, Ordering::Relaxed);
        self.collector_offset_known.store(true, Ordering::Relaxed);
    }
}

impl ProbeContext {
    pub fn observed(&self, probe: &str, subject: &str, payload: Payload) -> Evidence {
        crate::evidence::observed(&self.agent_id, &self.host, probe, subject, payload)
    }

    pub fn error(&self, probe: &str, subject: &str, why: impl std::fmt::Display) -> Evidence {
        crate::evidence::error(&self.agent_id, &self.host, probe, subject, why)
    }

    /// A path under the host root: `/proc/net/tcp` → `/host/proc/net/tcp`.
    pub fn host_path(&self, path: &str) -> PathBuf {
        self.host_root.join(path.trim_start_matches('/'))
    }
}

/// One kind of evidence gathering.
#[async_trait::async_trait]
pub trait Probe: Send + Sync {
    /// The evidence `probe` name, e.g. "tls".
    fn name(&self) -> &'static str;
    /// How often the scheduler runs it.
    fn interval(&self) -> Duration;
    /// How long one run may take before the scheduler gives up on it: by
    /// default the interval, within 5 s and `MAX_PROBE_TIME`.
    fn timeout(&self) -> Duration {
        self.interval()
            .clamp(Duration::from_secs(5), crate::scheduler::MAX_PROBE_TIME)
    }
    /// Observes once. Never panics on what it reads; errors become evidence.
    async fn run(&self, ctx: &ProbeContext) -> Vec<Evidence>;
    /// Reports as things happen, for a probe that watches rather than only
    /// polls (`config_drift`): runs until `shutdown` turns true, sending
    /// each evidence to `out` the moment it is made, beside the periodic
    /// `run`. The scheduler runs it; `scan` never does. Watches nothing
    /// by default.
    async fn watch(
        &self,
        _ctx: &ProbeContext,
        _out: tokio::sync::mpsc::Sender<Evidence>,
        _shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
    }
}

/// A probe's configuration section, `[probes.<name>]`: the `Config` type
/// of the probe's module. Its `Default` is the probe's defaults.
pub trait Section: Default + Clone + std::fmt::Debug + serde::de::DeserializeOwned {
    /// Whether the probe runs.
    fn enabled(&self) -> bool;
    /// What serde cannot check. The message starts with the field's name;
    /// the registry puts `probes.<name>.` before it.
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
    /// The probe as configured; `config` holds what probes share
    /// (`[kubernetes]`).
    fn build(&self, config: &Config) -> Arc<dyn Probe>;
}

/// How often a probe set by its schedule alone runs unless its section
/// says otherwise: every five minutes, unless the probe says.
pub trait Every {
    const EVERY: Duration = Duration::from_secs(300);
}

/// The section of a probe set by its schedule alone (`host`, `ports`,
/// `time_sync`, ...): whether it runs and how often (default: the probe's
/// [`Every`]). `P` is the probe it builds, from `Scheduled<P>`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, default, bound = "P: Every")]
pub struct Scheduled<P> {
    pub enabled: bool,
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    #[serde(skip)]
    probe: std::marker::PhantomData<fn() -> P>,
}

impl<P: Every> Default for Scheduled<P> {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: P::EVERY,
            probe: std::marker::PhantomData,
        }
    }
}

impl<P> Clone for Scheduled<P> {
    fn clone(&self) -> Self {
        Self {
            enabled: self.enabled,
            interval: self.interval,
            probe: std::marker::PhantomData,
        }
    }
}

impl<P> std::fmt::Debug for Scheduled<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduled")
            .field("enabled", &self.enabled)
            .field("interval", &self.interval)
            .finish()
    }
}

impl<P: Probe + Every + From<Scheduled<P>> + 'static> Section for Scheduled<P> {
    fn enabled(&self) -> bool {
        self.enabled
    }

    fn build(&self, _: &Config) -> Arc<dyn Probe> {
        Arc::new(P::from(self.clone()))
    }
}

/// The agent's half of the probe registry (`gamsa_proto::probes`): for each
/// probe line, a `[probes.<name>]` section of type `<name>::Config`, its
/// validation and its place in [`enabled`].
macro_rules! registry {
    (
        probes { $( $name:ident $(alias $alias:literal)?: $payload:ident($json:literal) $(, summary $summary:ident)?; )* }
        notices { $($notices:tt)* }
    ) => {
        /// `[probes]`: one section per probe, named as its evidence.
        #[derive(Debug, Clone, Default, serde::Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct ProbesConfig {
            $( $(#[serde(alias = $alias)])? pub $name: $name::Config, )*
        }

        impl ProbesConfig {
            /// Each section's own checks; the message names the section.
            pub fn validate(&self) -> Result<(), String> {
                $(
                    Section::validate(&self.$name)
                        .map_err(|m| format!("probes.{}.{m}", stringify!($name)))?;
                )*
                Ok(())
            }
        }

        /// The probes enabled in `config`, in registry order.
        pub fn enabled(config: &Config) -> Vec<Arc<dyn Probe>> {
            let p = &config.probes;
            let mut out: Vec<Arc<dyn Probe>> = Vec::new();
            $(
                if Section::enabled(&p.$name) {
                    out.push(Section::build(&p.$name, config));
                }
            )*
            out
        }
    };
}

gamsa_proto::for_each_probe!(registry);

/// Reads a small text file, refusing to read more than `limit` bytes so that
/// a hostile or enormous `/proc` file cannot exhaust memory.
pub fn read_bounded(path: &Path, limit: u64) -> std::io::Result<String> {
    use std::io::Read;
    let f = std::fs::File::open(path)?;
    let mut buf = String::new();
    f.take(limit + 1).read_to_string(&mut buf)?;
    if buf.len() as u64 > limit {
        return Err(std::io::Error::other(format!(
            "{} is larger than {limit} bytes",
            path.display()
        )));
    }
    Ok(buf)
}

/// Longest line [`read_lines`] accepts: kernel tables have short lines, so a
/// longer one means the file is not what it claims to be.
pub const MAX_LINE: usize = 64 * 1024;

/// Streams a text file line by line (without the newline) to `each`, in
/// constant memory, refusing files larger than `limit` bytes or with a line
/// longer than [`MAX_LINE`]: a huge `/proc/net` table or a hostile file in
/// a host root cannot exhaust memory. Invalid UTF-8 is replaced, not fatal.
pub fn read_lines(path: &Path, limit: u64, each: impl FnMut(&str)) -> std::io::Result<()> {
    read_lines_from(std::fs::File::open(path)?, path, limit, each)
}

/// [`read_lines`] of any reader (a decompressed file, say); `path` names
/// it in errors.
pub fn read_lines_from(
    reader: impl std::io::Read,
    path: &Path,
    limit: u64,
    mut each: impl FnMut(&str),
) -> std::io::Result<()> {
    use std::io::{BufRead, Read};
    let mut reader = std::io::BufReader::new(reader);
    let mut line = Vec::new();
    let mut total: u64 = 0;
    loop {
        line.clear();
        let n = (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(());
        }
        total += n as u64;
        if total > limit {
            return Err(std::io::Error::other(format!(
                "{} is larger than {limit} bytes",
                path.display()
            )));
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        } else if n > MAX_LINE {
            return Err(std::io::Error::other(format!(
                "{} has a line longer than {MAX_LINE} bytes",
                path.display()
            )));
        }
        each(&String::from_utf8_lossy(&line));
    }
}

/// "path: error", without naming the path twice when the error already
/// starts with it (as [`read_bounded`]'s and [`read_lines`]' limits do).
pub fn io_error(path: &Path, e: &std::io::Error) -> String {
    let (p, e) = (path.display().to_string(), e.to_string());
    if e.starts_with(&p) {
        e
    } else {
        format!("{p}: {e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each registered probe runs under its registry name, in registry order.
    #[test]
    fn every_registered_probe_runs_under_its_name() {
        let config = Config::parse(
            "[[probes.backup.sources]]\nname = \"b\"\nkind = \"files\"\nmax_age = \"1h\"\npath = \"/b/*\"\n\
             [[probes.synthetic.checks]]\nname = \"db\"\nkind = \"tcp\"\ntarget = \"127.0.0.1:5432\"\n",
            "a.toml",
        )
        .unwrap();
        let running: Vec<&str> = enabled(&config).iter().map(|p| p.name()).collect();
        let registered: Vec<&str> = gamsa_proto::probes::PROBES
            .iter()
            .filter(|p| !p.notice)
            .map(|p| p.name)
            .collect();
        assert_eq!(running, registered);
        // Backup without sources and synthetic without checks have nothing
        // to look at.
        let names: Vec<&str> = enabled(&Config::default())
            .iter()
            .map(|p| p.name())
            .collect();
        assert!(
            !names.contains(&"backup")
                && !names.contains(&"synthetic")
                && names.contains(&"port_scan")
        );
    }
}

//! `services`: which services the host enables and runs, and the settings
//! the Unix checks (U-34 to U-61) read of those that are present.
//!
//! Enabled is read from files, so that it works the same on a VM and in a
//! DaemonSet reading the node under `/host`: systemd's enabling symlinks
//! (`units.rs`), SysV start links, (x)inetd services (`inetd.rs`). Running
//! is what the host's process table shows (`procs`) and, on the host's own
//! root with systemd answering, what `systemctl` lists. The settings of
//! FTP (`ftp.rs`), NFS exports (`nfs.rs`), SNMP (`snmp.rs`), mail
//! (`mail.rs`) and DNS (`dns.rs`) are read where their configuration
//! exists. Facts, never verdicts: the collector's rules judge. Every read is
//! bounded (`config_files`); what cannot be read is a notice naming it.

mod dns;
mod ftp;
mod inetd;
mod mail;
mod nfs;
mod snmp;
mod units;

use super::config_files::HostFiles;
use super::{Probe, ProbeContext};
use gamsa_proto::v1::{evidence::Payload, Evidence, Services};
use std::path::Path;
use std::time::Duration;

/// `[probes.services]`: its schedule alone.
pub type Config = super::Scheduled<ServicesProbe>;

impl super::Every for ServicesProbe {}

impl From<Config> for ServicesProbe {
    fn from(config: Config) -> Self {
        Self { config }
    }
}

pub struct ServicesProbe {
    config: Config,
}

/// The services evidence of the host under `root`; `processes` are the
/// host's process names when they could be read.
pub fn observe(root: &Path, processes: Result<Vec<String>, String>) -> Services {
    let mut f = HostFiles::new(root);
    let mut units = units::enabled(&mut f);
    let mut s = Services {
        sysv_started: units::sysv_started(&mut f),
        inetd: inetd::services(&mut f),
        ftp: ftp::servers(&mut f),
        exports: nfs::exports(&mut f),
        snmp: Some(snmp::server(&mut f)),
        mail: mail::servers(&mut f),
        dns: Some(dns::server(&mut f)),
        ..Default::default()
    };
    if root == Path::new("/") {
        match units::running() {
            Ok(Some(running)) => {
                s.running_source = "systemctl".into();
                for name in running {
                    units::unit(&mut units, &name).running = true;
                }
            }
            Ok(None) => {}
            Err(why) => f.notices.push(why),
        }
    }
    s.units = units.into_values().collect();
    match processes {
        Ok(p) => s.processes = p,
        Err(why) => f.notices.push(why),
    }
    s.files = f.read;
    s.notices = f.notices;
    s
}

#[async_trait::async_trait]
impl Probe for ServicesProbe {
    fn name(&self) -> &'static str {
        "services"
    }

    fn interval(&self) -> Duration {
        self.config.interval
    }

    async fn run(&self, ctx: &ProbeContext) -> Vec<Evidence> {
        let c = ctx.clone();
        let observed = tokio::task::spawn_blocking(move || {
            let processes = super::procs::names(&c).map(|n| n.into_iter().collect());
            observe(&c.host_root, processes)
        })
        .await;
        vec![match observed {
            Ok(s) => ctx.observed("services", &ctx.host, Payload::Services(s)),
            Err(e) => ctx.error("services", &ctx.host, format!("probe task failed: {e}")),
        }]
    }
}

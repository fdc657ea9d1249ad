//! `host`: what machine this is: OS release, kernel, uptime, boot time,
//! machine id, CPU and memory. Auditors need it to tell hosts apart and to see
//! that monitoring (CPU, memory, disk) is in place.

use super::{Probe, ProbeContext};
use gamsa_proto::v1::{evidence::Payload, DiskUsage, Evidence, HostInfo};
use std::time::Duration;
use sysinfo::{Disks, MemoryRefreshKind, System};

/// `[probes.host]`: its schedule alone.
pub type Config = super::Scheduled<HostProbe>;

/// Hourly: OS, kernel and machine change seldom, and hourly samples of CPU,
/// memory and disk use are what the monthly operation report reads; each
/// observation's changing figures are a new content to store.
impl super::Every for HostProbe {
    const EVERY: std::time::Duration = std::time::Duration::from_secs(3600);
}

impl From<Config> for HostProbe {
    fn from(config: Config) -> Self {
        Self::new(config)
    }
}

pub struct HostProbe {
    config: Config,
}

impl HostProbe {
    pub fn new(config: Config) -> Self {
        Self { config }
    }
}

/// `/etc/os-release` fields, read under the host root so that a DaemonSet
/// reports the node's OS, not the container's.
fn os_release(ctx: &ProbeContext) -> Option<(String, String)> {
    let text = super::read_bounded(&ctx.host_path("/etc/os-release"), 64 * 1024)
        .or_else(|_| super::read_bounded(&ctx.host_path("/usr/lib/os-release"), 64 * 1024))
        .ok()?;
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(|v| v.trim().trim_matches('"').to_string())
    };
    Some((
        field("NAME")?,
        field("VERSION_ID")
            .or_else(|| field("VERSION"))
            .unwrap_or_default(),
    ))
}

fn observe(ctx: &ProbeContext) -> Result<HostInfo, String> {
    let mut sys = System::new();
    sys.refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
    sys.refresh_cpu_usage();
    std::thread::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL);
    sys.refresh_cpu_usage();
    let (os_name, os_version) = os_release(ctx)
        .or_else(|| Some((System::name()?, System::os_version().unwrap_or_default())))
        .ok_or("no /etc/os-release and no OS name from the kernel")?;
    let machine_id = super::read_bounded(&ctx.host_path("/etc/machine-id"), 1024)
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let boot = System::boot_time();
    let disks = Disks::new_with_refreshed_list()
        .iter()
        .filter(|d| d.total_space() > 0)
        .map(|d| DiskUsage {
            mount_point: d.mount_point().display().to_string(),
            file_system: d.file_system().to_string_lossy().into_owned(),
            total_bytes: d.total_space(),
            available_bytes: d.available_space(),
        })
        .collect();
    Ok(HostInfo {
        os_name,
        os_version,
        kernel_version: System::kernel_version().unwrap_or_default(),
        hostname: System::host_name().unwrap_or_default(),
        machine_id,
        uptime_seconds: System::uptime(),
        boot_time: Some(gamsa_proto::Timestamp {
            seconds: boot as i64,
            nanos: 0,
        }),
        cpu_brand: sys
            .cpus()
            .first()
            .map(|c| c.brand().trim().to_string())
            .unwrap_or_default(),
        cpu_count: sys.cpus().len() as u32,
        memory_total_bytes: sys.total_memory(),
        memory_used_bytes: sys.used_memory(),
        // NaN before the first measurement on some systems; the collector
        // refuses numbers that are not finite.
        cpu_usage_percent: Some(sys.global_cpu_usage())
            .filter(|u| u.is_finite())
            .unwrap_or_default(),
        disks,
        agent_version: env!("CARGO_PKG_VERSION").to_string(),
        architecture: System::cpu_arch(),
        labels: ctx.labels.clone().into_iter().collect(),
    })
}

#[async_trait::async_trait]
impl Probe for HostProbe {
    fn name(&self) -> &'static str {
        "host"
    }

    fn interval(&self) -> Duration {
        self.config.interval
    }

    async fn run(&self, ctx: &ProbeContext) -> Vec<Evidence> {
        let c = ctx.clone();
        let result = tokio::task::spawn_blocking(move || observe(&c)).await;
        vec![match result {
            Ok(Ok(info)) => ctx.observed("host", &ctx.host, Payload::HostInfo(info)),
            Ok(Err(why)) => ctx.error("host", &ctx.host, why),
            Err(e) => ctx.error("host", &ctx.host, format!("probe task failed: {e}")),
        }]
    }
}

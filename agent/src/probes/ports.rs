//! `ports`: every listening TCP and UDP socket (IPv4 and IPv6), read from
//! `/proc/net/{tcp,tcp6,udp,udp6}`, with the owning process when visible.
//!
//! Reading the kernel's tables rather than connecting makes this passive and
//! exact: it sees sockets bound to any address, including ones a firewall
//! hides from scanners. Owners come from matching socket inodes in
//! `/proc/<pid>/fd`; without the privilege to read another process's fds the
//! owner is left empty rather than guessed.

use super::{Probe, ProbeContext};
use gamsa_proto::v1::{evidence::Payload, Evidence, ListeningSocket, ListeningSockets, ProcessRef};
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::Duration;

/// `[probes.ports]`: its schedule alone.
pub type Config = super::Scheduled<PortsProbe>;

impl super::Every for PortsProbe {}

impl From<Config> for PortsProbe {
    fn from(config: Config) -> Self {
        Self::new(config)
    }
}

pub struct PortsProbe {
    config: Config,
}

impl PortsProbe {
    pub fn new(config: Config) -> Self {
        Self { config }
    }
}

/// Largest `/proc/net/*` table read (a busy host has many connections:
/// about 150 bytes each).
const TABLE_LIMIT: u64 = 64 * 1024 * 1024;
/// TCP_LISTEN in the kernel's `st` column.
const TCP_LISTEN: &str = "0A";
/// TCP_CLOSE: how unconnected (bound) UDP sockets appear.
const UDP_UNCONNECTED: &str = "07";

/// One row of a `/proc/net` table that is a listening socket.
#[derive(Debug, Clone, PartialEq)]
pub struct RawSocket {
    pub protocol: &'static str,
    pub address: IpAddr,
    pub port: u16,
    pub inode: u64,
}

fn parse_addr(hex: &str, v6: bool) -> Option<IpAddr> {
    if v6 {
        if hex.len() != 32 {
            return None;
        }
        // Four 32-bit words, each in host (little-endian) byte order.
        let mut bytes = [0u8; 16];
        for w in 0..4 {
            let word = u32::from_str_radix(&hex[w * 8..w * 8 + 8], 16).ok()?;
            bytes[w * 4..w * 4 + 4].copy_from_slice(&word.to_le_bytes());
        }
        Some(IpAddr::V6(Ipv6Addr::from(bytes)))
    } else {
        let word = u32::from_str_radix(hex, 16).ok()?;
        Some(IpAddr::V4(Ipv4Addr::from(word.to_le_bytes())))
    }
}

/// One row of a `/proc/net/{tcp,udp}[6]` table, if it is a listening
/// socket. Malformed rows (and the header) are skipped, never fatal.
pub fn parse_row(line: &str, protocol: &'static str) -> Option<RawSocket> {
    let v6 = protocol.ends_with('6');
    let listening = if protocol.starts_with("tcp") {
        TCP_LISTEN
    } else {
        UDP_UNCONNECTED
    };
    let cols: Vec<&str> = line.split_whitespace().collect();
    if cols.len() < 10 || cols[3] != listening {
        return None;
    }
    let (addr, port) = cols[1].split_once(':')?;
    Some(RawSocket {
        protocol,
        address: parse_addr(addr, v6)?,
        port: u16::from_str_radix(port, 16).ok()?,
        inode: cols[9].parse().ok()?,
    })
}

/// "loopback", "any", or the specific address.
pub fn exposure(addr: &IpAddr) -> String {
    if addr.is_loopback() {
        "loopback".into()
    } else if addr.is_unspecified() {
        "any".into()
    } else if let IpAddr::V6(v6) = addr {
        match v6.to_ipv4_mapped() {
            Some(v4) if v4.is_loopback() => "loopback".into(),
            Some(v4) if v4.is_unspecified() => "any".into(),
            _ => addr.to_string(),
        }
    } else {
        addr.to_string()
    }
}

/// Maps socket inodes to their owning process by walking `/proc/<pid>/fd`.
fn socket_owners(proc_root: &Path, wanted: &HashSet<u64>) -> HashMap<u64, ProcessRef> {
    let mut owners = HashMap::new();
    let Ok(entries) = std::fs::read_dir(proc_root) else {
        return owners;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let Some(inode) = target
                .to_str()
                .and_then(|t| t.strip_prefix("socket:["))
                .and_then(|t| t.strip_suffix(']'))
                .and_then(|t| t.parse::<u64>().ok())
            else {
                continue;
            };
            if wanted.contains(&inode) && !owners.contains_key(&inode) {
                let comm = super::read_bounded(&entry.path().join("comm"), 4096)
                    .map(|s| s.trim().to_string())
                    .unwrap_or_default();
                let exe = std::fs::read_link(entry.path().join("exe"))
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                owners.insert(
                    inode,
                    ProcessRef {
                        name: comm,
                        pid,
                        exe,
                    },
                );
            }
        }
    }
    owners
}

/// The listening sockets of the `/proc/net` tables named in `protocols`
/// ("tcp", "tcp6", "udp", "udp6"). A missing IPv6 table is not an error.
pub fn read_listeners(
    ctx: &ProbeContext,
    protocols: &[&'static str],
) -> Result<Vec<RawSocket>, String> {
    let mut raw = Vec::new();
    let mut readable = 0;
    let mut errors = Vec::new();
    for &protocol in protocols {
        let path = ctx.host_path(&format!("/proc/net/{protocol}"));
        // Streamed: a host with a million connections costs time, not
        // memory; only the listening rows are kept.
        let mut rows = Vec::new();
        match super::read_lines(&path, TABLE_LIMIT, |line| {
            rows.extend(parse_row(line, protocol))
        }) {
            Ok(()) => {
                readable += 1;
                raw.extend(rows);
            }
            // A kernel without IPv6 has no tcp6/udp6: that is not an error.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && protocol.ends_with('6') => {}
            Err(e) => errors.push(super::io_error(&path, &e)),
        }
    }
    if readable == 0 || !errors.is_empty() {
        return Err(errors.join("; "));
    }
    Ok(raw)
}

fn observe(ctx: &ProbeContext) -> Result<ListeningSockets, String> {
    let raw = read_listeners(ctx, &["tcp", "tcp6", "udp", "udp6"])?;
    let wanted: HashSet<u64> = raw.iter().map(|r| r.inode).collect();
    let owners = socket_owners(&ctx.host_path("/proc"), &wanted);
    let mut sockets: Vec<ListeningSocket> = raw
        .into_iter()
        .map(|r| ListeningSocket {
            protocol: r.protocol.to_string(),
            address: r.address.to_string(),
            port: u32::from(r.port),
            process: owners.get(&r.inode).cloned(),
            exposure: exposure(&r.address),
        })
        .collect();
    sockets.sort_by(|a, b| {
        (a.protocol.as_str(), a.port, a.address.as_str()).cmp(&(
            b.protocol.as_str(),
            b.port,
            b.address.as_str(),
        ))
    });
    sockets.dedup();
    Ok(ListeningSockets { sockets })
}

#[async_trait::async_trait]
impl Probe for PortsProbe {
    fn name(&self) -> &'static str {
        "ports"
    }

    fn interval(&self) -> Duration {
        self.config.interval
    }

    async fn run(&self, ctx: &ProbeContext) -> Vec<Evidence> {
        let c = ctx.clone();
        let subject = format!("{}:listeners", ctx.host);
        vec![
            match tokio::task::spawn_blocking(move || observe(&c)).await {
                Ok(Ok(s)) => ctx.observed("ports", &subject, Payload::ListeningSockets(s)),
                Ok(Err(why)) => ctx.error("ports", &subject, why),
                Err(e) => ctx.error("ports", &subject, format!("probe task failed: {e}")),
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kernel_rows_and_skips_garbage() {
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0\n\
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 999 1\n\
   2: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 4 1\n\
   garbage line\n\
   3: ZZZZ:1F90 00000000:0000 0A 0 0 0 0 0 77\n";
        let table = |text: &str, protocol| -> Vec<RawSocket> {
            text.lines()
                .filter_map(|l| parse_row(l, protocol))
                .collect()
        };
        let rows = table(tcp, "tcp");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].address, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(rows[0].port, 8080);
        assert_eq!(rows[0].inode, 12345);
        assert_eq!(exposure(&rows[1].address), "any");
        let tcp6 = "header\n 0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 0 0 0 0 0 55 1\n";
        let rows = table(tcp6, "tcp6");
        assert_eq!(rows[0].address, "::1".parse::<IpAddr>().unwrap());
        assert_eq!(exposure(&rows[0].address), "loopback");
    }
}

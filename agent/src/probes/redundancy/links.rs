//! Network interfaces from `/sys/class/net`, and which of them are active
//! uplinks.
//!
//! The rule: an active uplink is a physical link (the interface has a
//! backing `device`) whose operstate is up (or "unknown" with carrier, as
//! some drivers report) and which has carrier. Bond slaves and bridge ports
//! are physical, so they count; bond masters, bridges, VLANs, tunnels and
//! veths have no device and do not, so one cable is never counted twice (a
//! bond over two NICs is two uplinks, not three). A bond slave counts only
//! while its bond uses it (see [`super::bonding`]): a live cable that the
//! bond left out of its 802.3ad aggregator carries nothing. Loopback is
//! skipped, and
//! virtual interfaces named for container networking ([`CONTAINER_PREFIXES`])
//! are only counted: a Kubernetes node has one per pod.

use gamsa_proto::v1::{Bond, NetInterface};
use std::path::Path;

/// Most interfaces looked at, bounding the walk on a host with thousands.
const MAX_INTERFACES: usize = 65_536;
/// ARPHRD_LOOPBACK in `/sys/class/net/*/type`.
const ARPHRD_LOOPBACK: &str = "772";

/// Name prefixes of virtual interfaces that container runtimes and CNI
/// plugins make (Docker, CNI bridges, Flannel, Calico, Cilium, Weave,
/// kube-proxy IPVS, libvirt guests, Podman).
pub const CONTAINER_PREFIXES: &[&str] = &[
    "veth", "docker", "br-", "cni", "flannel", "cali", "tunl", "vxlan", "cilium", "lxc", "weave",
    "kube-", "virbr", "vnet", "podman", "nerdctl",
];

/// One interface, as sysfs shows it.
#[derive(Debug, Clone)]
pub struct Link {
    pub index: u32,
    pub iface: NetInterface,
}

/// What the interfaces of the host are.
#[derive(Debug, Default)]
pub struct Links {
    /// Every interface but loopback and container plumbing, by name.
    pub links: Vec<Link>,
    pub container_interfaces: u32,
}

fn attr(dir: &Path, name: &str) -> Option<String> {
    super::super::read_bounded(&dir.join(name), 4096)
        .ok()
        .map(|s| s.trim().to_string())
}

fn exists(dir: &Path, name: &str) -> bool {
    std::fs::symlink_metadata(dir.join(name)).is_ok()
}

/// Why `i` is not an active uplink, if it is not.
fn excluded_because(i: &NetInterface) -> String {
    let up = i.operstate == "up" || (i.operstate == "unknown" && i.carrier);
    match i.kind.as_str() {
        "bond" => "bond master: its slaves are the links".into(),
        "bridge" => "bridge: its ports are the links".into(),
        "virtual" => "virtual interface: no backing device".into(),
        _ if !up => format!("operstate {}", i.operstate),
        _ if !i.carrier => "no carrier".into(),
        _ => String::new(),
    }
}

fn read_link(dir: &Path, name: &str) -> Option<Link> {
    if attr(dir, "type").as_deref() == Some(ARPHRD_LOOPBACK) {
        return None;
    }
    let kind = if exists(dir, "bonding") {
        "bond"
    } else if exists(dir, "bridge") {
        "bridge"
    } else if exists(dir, "device") {
        "physical"
    } else {
        "virtual"
    };
    let master = std::fs::read_link(dir.join("master"))
        .ok()
        .and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let mut iface = NetInterface {
        name: name.to_string(),
        mac: attr(dir, "address").unwrap_or_default(),
        // -1 or EINVAL (link down, or a driver that does not say): unknown.
        speed_mbps: attr(dir, "speed")
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0),
        addresses: Vec::new(),
        operstate: attr(dir, "operstate").unwrap_or_else(|| "unknown".into()),
        // Reading `carrier` of a down interface fails with EINVAL.
        carrier: attr(dir, "carrier").as_deref() == Some("1"),
        kind: kind.into(),
        master,
        excluded_because: String::new(),
    };
    iface.excluded_because = excluded_because(&iface);
    Some(Link {
        index: attr(dir, "ifindex")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        iface,
    })
}

/// Reads `<root>/sys/class/net`.
pub fn read(class_net: &Path) -> Result<Links, String> {
    let entries =
        std::fs::read_dir(class_net).map_err(|e| format!("{}: {e}", class_net.display()))?;
    let mut out = Links::default();
    for entry in entries.take(MAX_INTERFACES) {
        let entry = entry.map_err(|e| format!("{}: {e}", class_net.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let dir = entry.path();
        let Some(link) = read_link(&dir, &name) else {
            continue;
        };
        if link.iface.kind == "virtual" && CONTAINER_PREFIXES.iter().any(|p| name.starts_with(p)) {
            out.container_interfaces += 1;
            continue;
        }
        out.links.push(link);
    }
    if out.links.is_empty() && out.container_interfaces == 0 {
        // Even a namespace with nothing configured has loopback; a root
        // without it is not a sysfs we can read.
        let lo = class_net.join("lo");
        if !lo.exists() {
            return Err(format!("{}: no network interfaces", class_net.display()));
        }
    }
    out.links.sort_by(|a, b| a.iface.name.cmp(&b.iface.name));
    Ok(out)
}

/// Marks the slaves a bond does not use as not being active uplinks.
pub fn apply_bonds(links: &mut Links, bonds: &[Bond]) {
    for l in &mut links.links {
        let i = &mut l.iface;
        let Some(bond) = bonds.iter().find(|b| b.name == i.master) else {
            continue;
        };
        if i.excluded_because.is_empty() && !bond.active_slaves.contains(&i.name) {
            i.excluded_because = format!(
                "{} does not use it (its MII status is down, or it is outside the active aggregator)",
                bond.name
            );
        }
    }
}

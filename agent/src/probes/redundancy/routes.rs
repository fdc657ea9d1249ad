//! Default routes from `/proc/net/route` (IPv4, main table) and
//! `/proc/net/ipv6_route` (IPv6, every table), streamed so that a router
//! with a full BGP table costs time, not memory.
//!
//! These files are what a captured or foreign host root offers. They have
//! blind spots: `/proc/net/route` shows only the first next hop of a
//! multipath route, and a dead IPv6 sibling route stays listed; where the
//! agent shares the host's network namespace, [`super::netlink`] answers
//! instead.

use gamsa_proto::v1::Route;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

/// Largest route table read.
const LIMIT: u64 = 1024 * 1024 * 1024;

const RTF_UP: u32 = 0x0001;
const RTF_GATEWAY: u32 = 0x0002;
const RTF_REJECT: u32 = 0x0200;
const RTF_CACHE: u32 = 0x0100_0000;

/// One row of `/proc/net/route`, if it is a usable default route.
fn v4_default(line: &str) -> Option<Route> {
    let c: Vec<&str> = line.split_whitespace().collect();
    if c.len() < 8 {
        return None;
    }
    let hex = |s: &str| u32::from_str_radix(s, 16).ok();
    let (dest, gateway, flags, mask) = (hex(c[1])?, hex(c[2])?, hex(c[3])?, hex(c[7])?);
    if dest != 0 || mask != 0 || flags & RTF_UP == 0 || flags & RTF_REJECT != 0 {
        return None;
    }
    Some(Route {
        family: "ipv4".into(),
        // The kernel prints the address in host (little-endian) order.
        gateway: if flags & RTF_GATEWAY != 0 {
            Ipv4Addr::from(gateway.to_le_bytes()).to_string()
        } else {
            String::new()
        },
        interface: c[0].to_string(),
        metric: c[6].parse().ok()?,
    })
}

fn v6(hex: &str) -> Option<Ipv6Addr> {
    if hex.len() != 32 {
        return None;
    }
    u128::from_str_radix(hex, 16).ok().map(Ipv6Addr::from)
}

/// One row of `/proc/net/ipv6_route`, if it is a usable default route.
fn v6_default(line: &str) -> Option<Route> {
    let c: Vec<&str> = line.split_whitespace().collect();
    if c.len() < 10 {
        return None;
    }
    let hex = |s: &str| u32::from_str_radix(s, 16).ok();
    let (dest, plen, next_hop) = (v6(c[0])?, hex(c[1])?, v6(c[4])?);
    let (metric, flags) = (hex(c[5])?, hex(c[8])?);
    if !dest.is_unspecified() || plen != 0 || flags & RTF_UP == 0 {
        return None;
    }
    if flags & (RTF_REJECT | RTF_CACHE) != 0 {
        return None;
    }
    Some(Route {
        family: "ipv6".into(),
        gateway: if next_hop.is_unspecified() {
            String::new()
        } else {
            next_hop.to_string()
        },
        interface: c[9].to_string(),
        metric,
    })
}

fn read(path: &Path, row: fn(&str) -> Option<Route>) -> std::io::Result<Vec<Route>> {
    let mut routes = Vec::new();
    super::super::read_lines(path, LIMIT, |line| routes.extend(row(line)))?;
    Ok(routes)
}

/// IPv4 default routes of `<root>/proc/net/route`.
pub fn read_v4(path: &Path) -> Result<Vec<Route>, String> {
    read(path, v4_default).map_err(|e| super::super::io_error(path, &e))
}

/// IPv6 default routes of `<root>/proc/net/ipv6_route`; none when IPv6 is
/// off (the file does not exist).
pub fn read_v6(path: &Path) -> Result<Vec<Route>, String> {
    match read(path, v6_default) {
        Ok(r) => Ok(r),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(super::super::io_error(path, &e)),
    }
}

/// Sorted, without repeats.
pub fn normalise(mut routes: Vec<Route>) -> Vec<Route> {
    let key = |r: &Route| {
        (
            r.family.clone(),
            r.metric,
            r.interface.clone(),
            r.gateway.clone(),
        )
    };
    routes.sort_by_key(key);
    routes.dedup();
    routes
}

/// Whether two or more next hops of one family share that family's lowest
/// metric: the kernel spreads traffic across them (equal-cost multipath).
pub fn equal_cost(routes: &[Route]) -> bool {
    ["ipv4", "ipv6"].iter().any(|family| {
        let metrics: Vec<u32> = routes
            .iter()
            .filter(|r| r.family == *family)
            .map(|r| r.metric)
            .collect();
        metrics
            .iter()
            .min()
            .is_some_and(|low| metrics.iter().filter(|m| *m == low).count() >= 2)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_rows() {
        let r = v4_default("eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0").unwrap();
        assert_eq!((r.gateway.as_str(), r.metric), ("192.0.2.1", 100));
        assert!(v4_default("eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0").is_none());
        // `ip route add unreachable default`: RTF_REJECT.
        assert!(v4_default("*\t00000000\t00000000\t0201\t0\t0\t0\t00000000\t0\t0\t0").is_none());
        let r = v6_default("00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000003 00000000 00000003     eth0").unwrap();
        assert_eq!(
            (r.gateway.as_str(), r.metric, r.interface.as_str()),
            ("fd00::1", 1024, "eth0")
        );
        // The kernel's own unreachable default on lo.
        assert!(v6_default("00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo").is_none());
    }
}

//! The agent's own network namespace over rtnetlink, for what procfs does
//! not show: every next hop of an IPv4 multipath (ECMP) default route,
//! which next hops are dead (an IPv6 sibling route over a down link stays
//! in `/proc/net/ipv6_route`), and the interfaces' addresses. Default
//! routes come from the main tables, as `ip route show default` lists them.
//!
//! Netlink answers for the namespace the agent runs in, so it is asked only
//! when that is the namespace the host root's procfs shows (compared by the
//! `/proc/self/ns/net` links): on a VM, or in a DaemonSet with hostNetwork.
//! Otherwise, as with a captured tree, procfs alone is reported.

use futures::TryStreamExt;
use gamsa_proto::v1::Route;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteNextHopFlags,
    RouteType,
};
use rtnetlink::RouteMessageBuilder;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::Duration;

/// Longest wait for both dumps.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Whether the namespace `<root>/proc/self/ns/net` names is the agent's.
pub fn same_namespace(root_ns: &Path) -> bool {
    match (
        std::fs::read_link("/proc/self/ns/net"),
        std::fs::read_link(root_ns),
    ) {
        (Ok(ours), Ok(theirs)) => ours == theirs,
        _ => false,
    }
}

#[derive(Debug, Default)]
pub struct View {
    /// Default routes of the main tables, one per live next hop.
    pub defaults: Vec<Route>,
    /// "address/prefix" by interface index.
    pub addresses: HashMap<u32, Vec<String>>,
}

fn gateway(attrs: &[RouteAttribute]) -> String {
    attrs
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Gateway(RouteAddress::Inet(g)) => Some(g.to_string()),
            RouteAttribute::Gateway(RouteAddress::Inet6(g)) => Some(g.to_string()),
            _ => None,
        })
        .unwrap_or_default()
}

/// The live next hops of a default route of the main table; none for any
/// other route. A dead next hop (its link is down) carries nothing.
fn default_hops(r: &RouteMessage, family: &str, name: impl Fn(u32) -> String) -> Vec<Route> {
    let table = r
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(r.header.table));
    if table != u32::from(RouteHeader::RT_TABLE_MAIN)
        || r.header.destination_prefix_length != 0
        || r.header.kind != RouteType::Unicast
        || r.header.flags.contains(RouteFlags::Dead)
    {
        return Vec::new();
    }
    let mut metric = 0;
    let mut oif = None;
    let mut hops = None;
    for a in &r.attributes {
        match a {
            RouteAttribute::Priority(p) => metric = *p,
            RouteAttribute::Oif(i) => oif = Some(*i),
            RouteAttribute::MultiPath(h) => hops = Some(h),
            _ => {}
        }
    }
    let route = |gateway, interface| Route {
        family: family.into(),
        gateway,
        interface,
        metric,
    };
    match hops {
        Some(hops) => hops
            .iter()
            .filter(|h| !h.flags.contains(RouteNextHopFlags::Dead))
            .map(|h| route(gateway(&h.attributes), name(h.interface_index)))
            .collect(),
        None => vec![route(
            gateway(&r.attributes),
            oif.map(name).unwrap_or_default(),
        )],
    }
}

/// Stops the connection task however [`dump`] ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn dump(names: &HashMap<u32, String>) -> Result<View, String> {
    let (connection, handle, _) =
        rtnetlink::new_connection().map_err(|e| format!("opening a netlink socket: {e}"))?;
    let _task = AbortOnDrop(tokio::spawn(connection));
    let failed = |what: &'static str| move |e: rtnetlink::Error| format!("{what}: {e}");
    let name = |index: u32| {
        names
            .get(&index)
            .cloned()
            .unwrap_or_else(|| format!("if{index}"))
    };
    let mut view = View::default();
    let requests = [
        ("ipv4", RouteMessageBuilder::<Ipv4Addr>::new().build()),
        ("ipv6", RouteMessageBuilder::<Ipv6Addr>::new().build()),
    ];
    for (family, request) in requests {
        let mut routes = handle.route().get(request).execute();
        while let Some(r) = routes.try_next().await.map_err(failed("route dump"))? {
            view.defaults.extend(default_hops(&r, family, name));
        }
    }
    let mut addresses = handle.address().get().execute();
    while let Some(a) = addresses.try_next().await.map_err(failed("address dump"))? {
        let local = a.attributes.iter().find_map(|x| match x {
            AddressAttribute::Local(ip) => Some(*ip),
            _ => None,
        });
        let address = a.attributes.iter().find_map(|x| match x {
            AddressAttribute::Address(ip) => Some(*ip),
            _ => None,
        });
        // IPv4 point-to-point: Address is the peer, Local our own.
        let ip: Option<IpAddr> = local.or(address);
        if let Some(ip) = ip {
            view.addresses
                .entry(a.header.index)
                .or_default()
                .push(format!("{ip}/{}", a.header.prefix_len));
        }
    }
    Ok(view)
}

/// Dumps routes and addresses; `names` maps interface indexes to names.
pub async fn read(names: &HashMap<u32, String>) -> Result<View, String> {
    match tokio::time::timeout(TIMEOUT, dump(names)).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("netlink {e}")),
        Err(_) => Err(format!("netlink: no answer within {}s", TIMEOUT.as_secs())),
    }
}

//! ports against real sockets this test binds (TCP and UDP, IPv4 and IPv6,
//! loopback, any, specific and IPv4-mapped addresses), and against
//! iproute2's `ss -ltnup`, which reads the same kernel state through
//! netlink's sock_diag rather than /proc/net.

mod common;

use gamsa_agent::probes::ports::{self, PortsProbe};
use gamsa_agent::probes::Probe;
use gamsa_proto::v1::{evidence::Payload, ListeningSocket};
use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

async fn sockets() -> Vec<ListeningSocket> {
    let evidence = PortsProbe::new(ports::Config::default())
        .run(&common::ctx(Path::new("/")))
        .await;
    match common::observed(&evidence) {
        Payload::ListeningSockets(s) => s.sockets.clone(),
        other => panic!("wrong payload {other:?}"),
    }
}

/// A non-loopback IPv4 address of this machine, if it has one.
fn specific_v4() -> Option<IpAddr> {
    if_addrs::get_if_addrs()
        .ok()?
        .into_iter()
        .map(|i| i.ip())
        .find(|ip| ip.is_ipv4() && !ip.is_loopback())
}

/// Sockets bound by this process: (protocol, bound address, exposure).
struct Bound {
    tcp: Vec<TcpListener>,
    udp: Vec<UdpSocket>,
    expected: Vec<(&'static str, SocketAddr, String)>,
}

fn bind_all() -> Bound {
    let mut addrs: Vec<(String, String)> = [
        ("127.0.0.1:0", "loopback"),
        ("0.0.0.0:0", "any"),
        ("127.0.0.2:0", "loopback"),
        ("[::1]:0", "loopback"),
        // Dual-stack (bindv6only=0): reachable over IPv4 and IPv6.
        ("[::]:0", "any"),
        ("[::ffff:127.0.0.1]:0", "loopback"),
    ]
    .map(|(a, e)| (a.to_string(), e.to_string()))
    .to_vec();
    if let Some(ip) = specific_v4() {
        addrs.push((format!("{ip}:0"), ip.to_string()));
    }
    let mut b = Bound {
        tcp: Vec::new(),
        udp: Vec::new(),
        expected: Vec::new(),
    };
    for (addr, exposure) in addrs {
        let t = TcpListener::bind(addr.as_str()).unwrap_or_else(|e| panic!("bind tcp {addr}: {e}"));
        let u = UdpSocket::bind(addr.as_str()).unwrap_or_else(|e| panic!("bind udp {addr}: {e}"));
        let six = addr.starts_with('[');
        b.expected.push((
            if six { "tcp6" } else { "tcp" },
            t.local_addr().unwrap(),
            exposure.clone(),
        ));
        b.expected.push((
            if six { "udp6" } else { "udp" },
            u.local_addr().unwrap(),
            exposure,
        ));
        b.tcp.push(t);
        b.udp.push(u);
    }
    b
}

#[tokio::test]
async fn every_socket_this_test_binds_appears_with_its_owner() {
    let bound = bind_all();
    let found = sockets().await;
    let comm = std::fs::read_to_string("/proc/self/comm").unwrap();
    let exe = std::fs::read_link("/proc/self/exe").unwrap();
    for (protocol, addr, exposure) in &bound.expected {
        let s = found
            .iter()
            .find(|s| {
                s.protocol == *protocol
                    && s.port == u32::from(addr.port())
                    && s.address.parse::<IpAddr>().ok() == Some(addr.ip())
            })
            .unwrap_or_else(|| panic!("{protocol} {addr} not reported"));
        assert_eq!(&s.exposure, exposure, "{protocol} {addr}");
        let p = s.process.as_ref().expect("owner");
        assert_eq!(p.pid, std::process::id(), "{protocol} {addr}");
        assert_eq!(p.name, comm.trim());
        assert_eq!(Path::new(&p.exe), exe);
    }
    drop(bound);
}

/// One listening socket as `ss` prints it: (protocol as the probe names
/// it, address, port, owner pids).
type Row = (String, IpAddr, u16);

fn ss() -> BTreeSet<(Row, BTreeSet<u32>)> {
    let out = Command::new("ss")
        .args(["-H", "-l", "-t", "-u", "-n", "-p"])
        .output()
        .expect("ss must be installed (Debian: iproute2)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines()
        .map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let (addr, port) = cols[4].rsplit_once(':').unwrap();
            // "127.0.0.53%lo" is bound to a device; "*" is the dual-stack any.
            let addr = addr.split('%').next().unwrap();
            let ip: IpAddr = match addr {
                "*" => "::".parse().unwrap(),
                a => a.trim_matches(['[', ']']).parse().unwrap(),
            };
            let protocol = format!("{}{}", cols[0], if ip.is_ipv6() { "6" } else { "" });
            let pids = line
                .split("pid=")
                .skip(1)
                .filter_map(|p| p.split(',').next()?.parse().ok())
                .collect();
            ((protocol, ip, port.parse().unwrap()), pids)
        })
        .collect()
}

fn probe_rows(found: &[ListeningSocket]) -> BTreeSet<(Row, Option<u32>)> {
    found
        .iter()
        .map(|s| {
            (
                (
                    s.protocol.clone(),
                    s.address.parse().unwrap(),
                    s.port as u16,
                ),
                s.process.as_ref().map(|p| p.pid),
            )
        })
        .collect()
}

/// Same sockets, and each owner the probe names is one `ss` names.
fn agree(probe: &BTreeSet<(Row, Option<u32>)>, ss: &BTreeSet<(Row, BTreeSet<u32>)>) -> bool {
    let a: BTreeSet<&Row> = probe.iter().map(|(r, _)| r).collect();
    let b: BTreeSet<&Row> = ss.iter().map(|(r, _)| r).collect();
    a == b
        && probe.iter().all(|(row, pid)| {
            ss.iter()
                .filter(|(r, _)| r == row)
                .any(|(_, pids)| match pid {
                    Some(p) => pids.contains(p),
                    None => pids.is_empty(),
                })
        })
}

#[tokio::test]
async fn the_full_set_agrees_with_ss() {
    let bound = bind_all();
    // Other programs on this machine open and close sockets between the two
    // reads; agreement on one attempt of many is required, not on the first.
    let mut last = None;
    for _ in 0..50 {
        let probe = probe_rows(&sockets().await);
        let theirs = ss();
        if agree(&probe, &theirs) {
            for (protocol, addr, _) in &bound.expected {
                assert!(probe.iter().any(|((p, ip, port), _)| p == protocol
                    && *ip == addr.ip()
                    && *port == addr.port()));
            }
            return;
        }
        last = Some((probe, theirs));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (probe, theirs) = last.unwrap();
    let a: BTreeSet<_> = probe.iter().map(|(r, _)| r.clone()).collect();
    let b: BTreeSet<_> = theirs.iter().map(|(r, _)| r.clone()).collect();
    panic!(
        "probe and ss never agreed; only in probe: {:?}; only in ss: {:?}; owners: {probe:?} vs {theirs:?}",
        a.difference(&b).collect::<Vec<_>>(),
        b.difference(&a).collect::<Vec<_>>()
    );
}

//! redundancy on sysfs/procfs-shaped trees (the shapes of real bonding
//! reports: active-backup, and 802.3ad with one slave down and one left out
//! of the aggregator), on this machine's own /sys and /proc compared with
//! iproute2, and inside a network namespace this test makes, with two
//! links and multipath default routes, running the real agent binary.
//!
//! The kernel here is built without bonding (CONFIG_BONDING is not set), so
//! no real bond can be made; bonds are covered by the captured shapes.

mod common;
mod netns;

use gamsa_agent::probes::kube::KubernetesConfig;
use gamsa_agent::probes::redundancy::{self, RedundancyProbe};
use gamsa_agent::probes::Probe;
use gamsa_proto::v1::{evidence::Payload, NetworkRedundancy};
use netns::Netns;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

#[derive(Clone, Copy)]
enum Kind {
    Physical,
    Virtual,
    Bond,
    Loopback,
}

/// One interface as sysfs lays it out: `/sys/class/net/<name>` is a link
/// into `/sys/devices/...`; physical ones have a `device` link.
struct Nic<'a> {
    name: &'a str,
    kind: Kind,
    index: u32,
    operstate: &'a str,
    /// None: reading `carrier` fails, as it does on a down interface.
    carrier: Option<&'a str>,
    speed: &'a str,
    master: Option<&'a str>,
}

fn nic(root: &Path, n: Nic) {
    let dev = match n.kind {
        Kind::Physical => format!(
            "sys/devices/pci0000:00/0000:00:1c.{}/net/{}",
            n.index, n.name
        ),
        _ => format!("sys/devices/virtual/net/{}", n.name),
    };
    let f = |file: &str, text: &str| common::write(root, &format!("{dev}/{file}"), text);
    f("ifindex", &format!("{}\n", n.index));
    f("operstate", &format!("{}\n", n.operstate));
    f("speed", &format!("{}\n", n.speed));
    f("address", &format!("52:54:00:00:00:{:02x}\n", n.index));
    f(
        "type",
        if matches!(n.kind, Kind::Loopback) {
            "772\n"
        } else {
            "1\n"
        },
    );
    if let Some(c) = n.carrier {
        f("carrier", &format!("{c}\n"));
    }
    match n.kind {
        Kind::Physical => common::symlink(
            root,
            &format!("{dev}/device"),
            &format!("../../../0000:00:1c.{}", n.index),
        ),
        Kind::Bond => f("bonding/mode", "active-backup 1\n"),
        _ => {}
    }
    if let Some(m) = n.master {
        common::symlink(
            root,
            &format!("{dev}/master"),
            &format!("../../../../virtual/net/{m}"),
        );
    }
    common::symlink(
        root,
        &format!("sys/class/net/{}", n.name),
        &format!("../../{}", dev.trim_start_matches("sys/")),
    );
}

fn up<'a>(name: &'a str, kind: Kind, index: u32) -> Nic<'a> {
    Nic {
        name,
        kind,
        index,
        operstate: "up",
        carrier: Some("1"),
        speed: "10000",
        master: None,
    }
}

const ROUTE_HEADER: &str = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT                                                       \n";

/// `/proc/net/bonding/bond0` of an active-backup bond, both slaves up.
const ACTIVE_BACKUP: &str = "Ethernet Channel Bonding Driver: v6.1.0-18-amd64

Bonding Mode: fault-tolerance (active-backup)
Primary Slave: None
Currently Active Slave: eno1
MII Status: up
MII Polling Interval (ms): 100
Up Delay (ms): 0
Down Delay (ms): 0
Peer Notification Delay (ms): 0

Slave Interface: eno1
MII Status: up
Speed: 10000 Mbps
Duplex: full
Link Failure Count: 0
Permanent HW addr: 52:54:00:00:00:02
Slave queue ID: 0

Slave Interface: eno2
MII Status: up
Speed: 10000 Mbps
Duplex: full
Link Failure Count: 1
Permanent HW addr: 52:54:00:00:00:03
Slave queue ID: 0
";

/// An 802.3ad bond: f0 in the active aggregator, f1 down, f2 up but in an
/// aggregator of its own (its switch port does not speak LACP).
const LACP_ONE_DOWN: &str = "Ethernet Channel Bonding Driver: v5.15.0-91-generic

Bonding Mode: IEEE 802.3ad Dynamic link aggregation
Transmit Hash Policy: layer3+4 (1)
MII Status: up
MII Polling Interval (ms): 100
Up Delay (ms): 0
Down Delay (ms): 0
Peer Notification Delay (ms): 0

802.3ad info
LACP active: on
LACP rate: fast
Min links: 0
Aggregator selection policy (ad_select): stable
System priority: 65535
System MAC address: 52:54:00:00:00:0b
Active Aggregator Info:
\tAggregator ID: 1
\tNumber of ports: 1
\tActor Key: 15
\tPartner Key: 32769
\tPartner Mac Address: 00:1c:73:aa:bb:cc

Slave Interface: enp1s0f0
MII Status: up
Speed: 10000 Mbps
Duplex: full
Link Failure Count: 0
Permanent HW addr: 52:54:00:00:00:0b
Slave queue ID: 0
Aggregator ID: 1
Actor Churn State: none
Partner Churn State: none
Actor Churned Count: 0
Partner Churned Count: 0
details actor lacp pdu:
    system priority: 65535
    system mac address: 52:54:00:00:00:0b
    port key: 15
    port priority: 255
    port number: 1
    port state: 63
details partner lacp pdu:
    system priority: 32768
    system mac address: 00:1c:73:aa:bb:cc
    oper key: 32769
    port priority: 32768
    port number: 12
    port state: 61

Slave Interface: enp1s0f1
MII Status: down
Speed: Unknown
Duplex: Unknown
Link Failure Count: 3
Permanent HW addr: 52:54:00:00:00:0c
Slave queue ID: 0
Aggregator ID: 2
Actor Churn State: churned
Partner Churn State: churned
Actor Churned Count: 1
Partner Churned Count: 1
details actor lacp pdu:
    system priority: 65535
    system mac address: 52:54:00:00:00:0b
    port key: 0
    port priority: 255
    port number: 2
    port state: 69
details partner lacp pdu:
    system priority: 65535
    system mac address: 00:00:00:00:00:00
    oper key: 1
    port priority: 255
    port number: 1
    port state: 1

Slave Interface: enp1s0f2
MII Status: up
Speed: 10000 Mbps
Duplex: full
Link Failure Count: 0
Permanent HW addr: 52:54:00:00:00:0d
Slave queue ID: 0
Aggregator ID: 3
Actor Churn State: churned
Partner Churn State: churned
Actor Churned Count: 1
Partner Churned Count: 1
details actor lacp pdu:
    system priority: 65535
    system mac address: 52:54:00:00:00:0b
    port key: 15
    port priority: 255
    port number: 3
    port state: 69
details partner lacp pdu:
    system priority: 65535
    system mac address: 00:00:00:00:00:00
    oper key: 1
    port priority: 255
    port number: 1
    port state: 1
";

/// `/proc/net/ipv6_route` rows: a router-advertised default on `dev`, and
/// the kernel's own unreachable default on lo (never a route out).
fn ipv6_routes(dev: &str) -> String {
    format!(
        "fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001 {dev:>8}\n\
         00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000a1b2cfffe3d4e5f 00000400 00000001 00000000 00450003 {dev:>8}\n\
         00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n"
    )
}

async fn run(root: &Path, config: redundancy::Config) -> Vec<gamsa_proto::v1::Evidence> {
    RedundancyProbe::new(config, KubernetesConfig::default())
        .run(&common::ctx(root))
        .await
}

async fn observe(root: &Path) -> NetworkRedundancy {
    let evidence = run(root, redundancy::Config::default()).await;
    assert_eq!(evidence[0].probe, "redundancy");
    assert_eq!(evidence[0].subject, "test-host");
    match common::observed(&evidence) {
        Payload::NetworkRedundancy(r) => r.clone(),
        other => panic!("wrong payload {other:?}"),
    }
}

fn names(i: &[gamsa_proto::v1::NetInterface]) -> Vec<&str> {
    i.iter().map(|i| i.name.as_str()).collect()
}

fn excluded<'a>(r: &'a NetworkRedundancy, name: &str) -> &'a str {
    &r.interfaces
        .iter()
        .find(|i| i.name == name)
        .unwrap_or_else(|| panic!("{name} not listed: {:?}", names(&r.interfaces)))
        .excluded_because
}

fn processes(root: &Path, names: &[(u32, &str)]) {
    for (pid, name) in names {
        common::write(root, &format!("proc/{pid}/comm"), &format!("{name}\n"));
    }
}

#[tokio::test]
async fn active_backup_bond_with_both_slaves_up_and_a_keepalived() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    nic(root, up("lo", Kind::Loopback, 1));
    nic(
        root,
        Nic {
            master: Some("bond0"),
            ..up("eno1", Kind::Physical, 2)
        },
    );
    nic(
        root,
        Nic {
            master: Some("bond0"),
            ..up("eno2", Kind::Physical, 3)
        },
    );
    nic(root, up("bond0", Kind::Bond, 4));
    nic(
        root,
        Nic {
            operstate: "down",
            carrier: None,
            speed: "-1",
            ..up("eno3", Kind::Physical, 5)
        },
    );
    nic(root, up("docker0", Kind::Virtual, 6));
    nic(root, up("veth1a2b3c", Kind::Virtual, 7));
    nic(root, up("br0", Kind::Virtual, 8));
    common::write(root, "proc/net/bonding/bond0", ACTIVE_BACKUP);
    common::write(
        root,
        "proc/net/route",
        &format!(
            "{ROUTE_HEADER}bond0\t00000000\t0100000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
             bond0\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
             docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
        ),
    );
    common::write(root, "proc/net/ipv6_route", &ipv6_routes("bond0"));
    // systemd-resolved: resolv.conf is an absolute link to the stub file,
    // which must be read under the root, then the upstream list is used.
    common::write(
        root,
        "run/systemd/resolve/stub-resolv.conf",
        "# This is /run/systemd/resolve/stub-resolv.conf managed by man:systemd-resolved(8).\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n",
    );
    common::write(
        root,
        "run/systemd/resolve/resolv.conf",
        "# This is /run/systemd/resolve/resolv.conf managed by man:systemd-resolved(8).\nnameserver 10.0.0.2\nnameserver 10.0.1.2\nnameserver 10.0.0.2\nsearch ap-northeast-2.compute.internal\n",
    );
    common::symlink(
        root,
        "etc/resolv.conf",
        "/run/systemd/resolve/stub-resolv.conf",
    );
    processes(
        root,
        &[(1, "systemd"), (812, "keepalived"), (813, "keepalived")],
    );

    let r = observe(root).await;
    assert_eq!(names(&r.active_uplinks), ["eno1", "eno2"]);
    assert_eq!(r.active_uplinks[0].speed_mbps, 10000);
    assert_eq!(r.active_uplinks[0].mac, "52:54:00:00:00:02");
    assert_eq!(r.active_uplinks[0].master, "bond0");
    assert_eq!(
        names(&r.interfaces),
        ["bond0", "br0", "eno1", "eno2", "eno3"],
        "loopback skipped, container plumbing counted only"
    );
    assert_eq!(r.container_interfaces, 2);
    assert!(excluded(&r, "bond0").starts_with("bond master"));
    assert!(excluded(&r, "br0").starts_with("virtual interface"));
    assert_eq!(excluded(&r, "eno3"), "operstate down");
    assert_eq!(r.interfaces[4].speed_mbps, 0, "speed -1 is unknown");
    assert!(!r.interfaces[4].carrier);

    assert_eq!(r.bonds.len(), 1);
    let b = &r.bonds[0];
    assert_eq!(
        (b.name.as_str(), b.mode.as_str(), b.current_slave.as_str()),
        ("bond0", "active-backup", "eno1")
    );
    assert_eq!(b.slaves, ["eno1", "eno2"]);
    assert_eq!(b.active_slaves, ["eno1", "eno2"]);
    assert_eq!(b.mii_status, "up");

    let routes: Vec<(&str, &str, &str, u32)> = r
        .default_routes
        .iter()
        .map(|r| {
            (
                r.family.as_str(),
                r.gateway.as_str(),
                r.interface.as_str(),
                r.metric,
            )
        })
        .collect();
    assert_eq!(
        routes,
        [
            ("ipv4", "10.0.0.1", "bond0", 0),
            ("ipv6", "fe80::a1b:2cff:fe3d:4e5f", "bond0", 1024)
        ]
    );
    assert!(!r.ecmp, "one default per family");
    assert_eq!(r.resolvers, ["10.0.0.2", "10.0.1.2"]);
    assert_eq!(r.resolvers_source, "/run/systemd/resolve/resolv.conf");
    assert!(r.vrrp_present);
    assert_eq!(r.vrrp_processes, ["keepalived"]);
    assert!(
        r.active_uplinks.iter().all(|i| i.addresses.is_empty()),
        "addresses only come from the agent's own namespace"
    );
}

#[tokio::test]
async fn lacp_bond_with_one_slave_down_and_one_outside_the_aggregator() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    nic(root, up("lo", Kind::Loopback, 1));
    nic(root, up("bond0", Kind::Bond, 10));
    nic(
        root,
        Nic {
            master: Some("bond0"),
            ..up("enp1s0f0", Kind::Physical, 11)
        },
    );
    nic(
        root,
        Nic {
            master: Some("bond0"),
            operstate: "down",
            carrier: Some("0"),
            ..up("enp1s0f1", Kind::Physical, 12)
        },
    );
    nic(
        root,
        Nic {
            master: Some("bond0"),
            ..up("enp1s0f2", Kind::Physical, 13)
        },
    );
    // Some drivers report "unknown" with carrier up: a live link.
    nic(
        root,
        Nic {
            operstate: "unknown",
            ..up("eth9", Kind::Physical, 14)
        },
    );
    common::write(root, "proc/net/bonding/bond0", LACP_ONE_DOWN);
    // Two IPv4 defaults of equal metric (ECMP as procfs shows it).
    common::write(
        root,
        "proc/net/route",
        &format!(
            "{ROUTE_HEADER}bond0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n\
             eth9\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
        ),
    );
    // No IPv6 on this host: the table is absent, which is not an error.
    common::write(
        root,
        "etc/resolv.conf",
        "nameserver 192.168.1.53 # primary\n",
    );
    processes(root, &[(1, "systemd"), (400, "sshd")]);

    let r = observe(root).await;
    let b = &r.bonds[0];
    assert_eq!(b.mode, "802.3ad");
    assert_eq!(b.slaves, ["enp1s0f0", "enp1s0f1", "enp1s0f2"]);
    assert_eq!(b.active_slaves, ["enp1s0f0"], "f1 down, f2 not aggregated");
    assert_eq!(b.current_slave, "");
    assert_eq!(names(&r.active_uplinks), ["enp1s0f0", "eth9"]);
    assert_eq!(excluded(&r, "enp1s0f1"), "operstate down");
    assert!(
        excluded(&r, "enp1s0f2").starts_with("bond0 does not use it"),
        "{}",
        excluded(&r, "enp1s0f2")
    );
    assert_eq!(r.default_routes.len(), 2);
    assert!(r.ecmp);
    assert_eq!(r.resolvers, ["192.168.1.53"]);
    assert_eq!(r.resolvers_source, "/etc/resolv.conf");
    assert!(!r.vrrp_present && r.vrrp_processes.is_empty());
    assert_eq!(r.zone, "");
}

#[tokio::test]
async fn zone_from_config_then_labels() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    nic(root, up("lo", Kind::Loopback, 1));
    nic(root, up("eth0", Kind::Physical, 2));
    common::write(root, "proc/net/route", ROUTE_HEADER);
    processes(root, &[(1, "init")]);
    let mut ctx = common::ctx(root);
    ctx.labels.insert("zone".into(), "idc-2".into());
    let zone = |config: redundancy::Config| {
        let ctx = ctx.clone();
        async move {
            let ev = RedundancyProbe::new(config, KubernetesConfig::default())
                .run(&ctx)
                .await;
            match common::observed(&ev) {
                Payload::NetworkRedundancy(r) => (r.zone.clone(), r.zone_source.clone()),
                other => panic!("{other:?}"),
            }
        }
    };
    assert_eq!(
        zone(redundancy::Config::default()).await,
        ("idc-2".into(), "label".into())
    );
    let configured = redundancy::Config {
        zone: "hall-a".into(),
        ..redundancy::Config::default()
    };
    assert_eq!(zone(configured).await, ("hall-a".into(), "config".into()));
}

#[tokio::test]
async fn zone_from_the_kubernetes_node_label() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    nic(root, up("lo", Kind::Loopback, 1));
    nic(root, up("eth0", Kind::Physical, 2));
    common::write(root, "proc/net/route", ROUTE_HEADER);
    processes(root, &[(1, "init")]);
    let token = dir.path().join("token");
    std::fs::write(&token, "sa-token\n").unwrap();
    let node = r#"{"kind":"Node","apiVersion":"v1","metadata":{"name":"node-1","labels":{"kubernetes.io/hostname":"node-1","topology.kubernetes.io/region":"ap-northeast-2","topology.kubernetes.io/zone":"ap-northeast-2c"}},"spec":{"providerID":"aws:///ap-northeast-2c/i-0fedcba9876543210"}}"#;
    let api = common::kube_api(
        "sa-token",
        axum::Router::new().route(
            "/api/v1/nodes/node-1",
            axum::routing::get(move || async move { node }),
        ),
    );
    let kube = KubernetesConfig {
        api_url: common::serve(api).await,
        token_file: token,
        node_name: "node-1".into(),
        ..KubernetesConfig::default()
    };
    let ev = RedundancyProbe::new(redundancy::Config::default(), kube)
        .run(&common::ctx(root))
        .await;
    match common::observed(&ev) {
        Payload::NetworkRedundancy(r) => {
            assert_eq!(
                (r.zone.as_str(), r.zone_source.as_str()),
                ("ap-northeast-2c", "kubernetes")
            );
            assert_eq!(names(&r.active_uplinks), ["eth0"]);
            assert!(r.default_routes.is_empty());
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn unreadable_roots_and_garbage_are_errors_naming_the_file() {
    // No sysfs at all.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    processes(root, &[(1, "init")]);
    let ev = run(root, redundancy::Config::default()).await;
    assert_eq!(ev.len(), 1);
    assert!(common::is_error(&ev[0]), "{ev:?}");
    assert!(ev[0].error.contains("sys/class/net"), "{}", ev[0].error);

    // sysfs but no route table.
    nic(root, up("lo", Kind::Loopback, 1));
    nic(root, up("eth0", Kind::Physical, 2));
    let ev = run(root, redundancy::Config::default()).await;
    assert!(common::is_error(&ev[0]));
    assert!(ev[0].error.contains("proc/net/route"), "{}", ev[0].error);

    // A file in /proc/net/bonding that is not a bonding report.
    common::write(root, "proc/net/route", ROUTE_HEADER);
    common::write(root, "proc/net/bonding/bond0", "hello\nworld\n");
    let ev = run(root, redundancy::Config::default()).await;
    assert!(common::is_error(&ev[0]));
    assert!(
        ev[0].error.contains("proc/net/bonding/bond0") && ev[0].error.contains("Bonding Mode"),
        "{}",
        ev[0].error
    );

    // An enormous route table with no newline: refused, not read whole.
    std::fs::remove_file(root.join("proc/net/bonding/bond0")).unwrap();
    let f = std::fs::File::create(root.join("proc/net/route")).unwrap();
    f.set_len(8 * 1024 * 1024).unwrap();
    let ev = run(root, redundancy::Config::default()).await;
    assert!(common::is_error(&ev[0]));
    assert!(ev[0].error.contains("line longer than"), "{}", ev[0].error);

    // No process visible: VRRP presence cannot be told, so no claim at all.
    common::write(root, "proc/net/route", ROUTE_HEADER);
    std::fs::remove_dir_all(root.join("proc/1")).unwrap();
    let ev = run(root, redundancy::Config::default()).await;
    assert!(common::is_error(&ev[0]));
    assert!(
        ev[0].error.contains("cannot list processes"),
        "{}",
        ev[0].error
    );
}

fn json(cmd: &mut Command) -> serde_json::Value {
    let out = cmd.output().expect("iproute2 must be installed");
    assert!(
        out.status.success(),
        "{:?}: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Default routes as `ip -j route show default` (netlink, iproute2's own
/// code) lists them: (family, gateway, dev) per live next hop.
fn iproute2_defaults(netns: Option<&str>) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for (family, flag) in [("ipv4", "-4"), ("ipv6", "-6")] {
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "ip"]);
                c
            }
            None => Command::new("ip"),
        };
        cmd.args(["-j", flag, "route", "show", "default"]);
        let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
        let dead = |v: &serde_json::Value| {
            v["flags"]
                .as_array()
                .is_some_and(|f| f.iter().any(|f| f == "dead"))
        };
        for r in json(&mut cmd).as_array().unwrap() {
            match r["nexthops"].as_array() {
                Some(hops) => {
                    for h in hops.iter().filter(|h| !dead(h)) {
                        out.insert((family.into(), s(&h["gateway"]), s(&h["dev"])));
                    }
                }
                None if r["type"].as_str().unwrap_or("unicast") == "unicast" => {
                    out.insert((family.into(), s(&r["gateway"]), s(&r["dev"])));
                }
                None => {}
            }
        }
    }
    out
}

fn agent_defaults(r: &NetworkRedundancy) -> BTreeSet<(String, String, String)> {
    r.default_routes
        .iter()
        .map(|r| (r.family.clone(), r.gateway.clone(), r.interface.clone()))
        .collect()
}

#[tokio::test]
async fn this_machine_agrees_with_iproute2() {
    // A real process whose kernel name is "keepalived": a copy of sleep.
    let dir = tempfile::tempdir().unwrap();
    let mut child = common::process_named(dir.path(), "keepalived", 60);
    let r = observe(Path::new("/")).await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(r.vrrp_present);
    assert_eq!(r.vrrp_processes, ["keepalived"]);

    assert_eq!(agent_defaults(&r), iproute2_defaults(None));

    // Every interface iproute2 lists, with its MAC and operstate.
    let links = json(Command::new("ip").args(["-j", "link", "show"]));
    let mut seen = 0;
    for l in links.as_array().unwrap() {
        let name = l["ifname"].as_str().unwrap();
        if name == "lo" {
            continue;
        }
        let Some(i) = r.interfaces.iter().find(|i| i.name == name) else {
            assert!(
                name.starts_with("veth") || name.starts_with("docker") || name.starts_with("cni"),
                "{name} missing from {:?}",
                names(&r.interfaces)
            );
            continue;
        };
        seen += 1;
        assert_eq!(i.mac, l["address"].as_str().unwrap_or_default(), "{name}");
        assert_eq!(
            i.operstate,
            l["operstate"].as_str().unwrap().to_lowercase(),
            "{name}"
        );
        let physical = std::fs::symlink_metadata(format!("/sys/class/net/{name}/device")).is_ok();
        let live = l["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "LOWER_UP");
        assert_eq!(
            r.active_uplinks.iter().any(|u| u.name == name),
            physical && live && i.operstate == "up",
            "{name}: {}",
            i.excluded_because
        );
        // Addresses as `ip -j addr` has them.
        let addr = json(Command::new("ip").args(["-j", "addr", "show", "dev", name]));
        let want: BTreeSet<String> = addr[0]["addr_info"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]))
            .collect();
        let got: BTreeSet<String> = i.addresses.iter().cloned().collect();
        assert_eq!(got, want, "{name}");
    }
    assert_eq!(seen, r.interfaces.len());

    let resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let want: Vec<&str> = resolv
        .lines()
        .filter_map(|l| l.strip_prefix("nameserver"))
        .map(str::trim)
        .collect();
    if !want.iter().all(|w| w.starts_with("127.0.0.5")) {
        assert_eq!(r.resolvers, want);
    }
}

/// The real agent binary, run inside `ns`.
fn scan_in(ns: &Netns, config: &Path) -> NetworkRedundancy {
    let out = ns
        .command(env!("CARGO_BIN_EXE_gamsa-agent"))
        .arg("-c")
        .arg(config)
        .args(["scan", "--once", "--probe", "redundancy"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ev: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ev["status"], "STATUS_OBSERVED", "{ev}");
    serde_json::from_value(ev["networkRedundancy"].clone()).unwrap()
}

#[test]
fn network_namespace_with_two_links_and_multipath_defaults() {
    let ns = Netns::new("red");
    for (link, peer) in [("up0", "up0p"), ("up1", "up1p"), ("veth7", "veth7p")] {
        ns.ip(&format!("link add {link} type veth peer name {peer}"));
        ns.ip(&format!("link set {link} up"));
        ns.ip(&format!("link set {peer} up"));
    }
    ns.ip("addr add 203.0.113.2/24 dev up0");
    ns.ip("addr add 198.51.100.2/24 dev up1");
    ns.ip("-6 addr add 2001:db8:1::2/64 dev up0 nodad");
    ns.ip("-6 addr add 2001:db8:2::2/64 dev up1 nodad");
    ns.ip("route add default nexthop via 203.0.113.1 dev up0 nexthop via 198.51.100.1 dev up1");
    ns.ip(
        "-6 route add default nexthop via 2001:db8:1::1 dev up0 nexthop via 2001:db8:2::1 dev up1",
    );

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        "host = \"ns-host\"\n[probes.redundancy]\nzone = \"zone-b\"\n",
    )
    .unwrap();
    let r = scan_in(&ns, &config);
    // procfs shows one IPv4 next hop; netlink shows both.
    assert_eq!(agent_defaults(&r), iproute2_defaults(Some(&ns.name)));
    assert_eq!(
        agent_defaults(&r),
        [
            ("ipv4", "198.51.100.1", "up1"),
            ("ipv4", "203.0.113.1", "up0"),
            ("ipv6", "2001:db8:1::1", "up0"),
            ("ipv6", "2001:db8:2::1", "up1"),
        ]
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect()
    );
    assert!(r.ecmp);
    // veths are virtual: listed (up*) or counted (veth*), never uplinks.
    assert!(r.active_uplinks.is_empty(), "{:?}", r.active_uplinks);
    assert_eq!(names(&r.interfaces), ["up0", "up0p", "up1", "up1p"]);
    assert_eq!(r.container_interfaces, 2);
    let up0 = &r.interfaces[0];
    assert!(up0.carrier && up0.operstate == "up" && up0.kind == "virtual");
    assert!(
        up0.addresses.contains(&"203.0.113.2/24".to_string()),
        "{:?}",
        up0.addresses
    );
    assert!(up0.addresses.contains(&"2001:db8:1::2/64".to_string()));
    assert_eq!(
        (r.zone.as_str(), r.zone_source.as_str()),
        ("zone-b", "config")
    );

    // One link down: its next hops leave, as iproute2 agrees.
    ns.ip("link set up1 down");
    let r = scan_in(&ns, &config);
    assert_eq!(agent_defaults(&r), iproute2_defaults(Some(&ns.name)));
    assert!(
        agent_defaults(&r).iter().all(|(_, _, dev)| dev == "up0"),
        "{:?}",
        r.default_routes
    );
    assert!(!r.ecmp);
    assert_eq!(
        r.interfaces
            .iter()
            .find(|i| i.name == "up1")
            .unwrap()
            .operstate,
        "down"
    );
}

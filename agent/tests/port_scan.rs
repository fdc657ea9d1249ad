//! port_scan against real listeners and nftables rules in network
//! namespaces this test makes (so nothing else on the machine listens or
//! connects there), compared with nmap's TCP connect scan; and the consent
//! rules with real sockets: targets outside `allow` are never contacted,
//! every scan is logged, `max_rate` and `concurrency` hold as the listeners
//! see it, and pausing stops a scan.
//!
//! Connection times are the kernel's (TCP_INFO: when the handshake's ACK
//! arrived), so a busy test thread that accepts late does not skew them;
//! and every timing assertion is a lower bound, which a slow machine only
//! makes easier to meet.

mod common;
mod netns;

use gamsa_agent::probes::port_scan::{self, PortScanProbe};
use gamsa_agent::probes::{Probe, ProbeContext};
use gamsa_proto::v1::{evidence::Payload, Evidence, PortScan};
use netns::Netns;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Runs `f` on a single-threaded runtime inside `ns`: every socket the
/// test and the probe open is in the namespace.
fn in_netns<T: Send, F: std::future::Future<Output = T>>(
    ns: &Netns,
    f: impl FnOnce() -> F + Send,
) -> T {
    ns.enter(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f())
    })
}

/// When the kernel saw the connection complete.
fn arrival(stream: &tokio::net::TcpStream) -> Instant {
    // SAFETY: zeroed tcp_info is valid plain data; getsockopt writes at
    // most `len` bytes into it.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0, "TCP_INFO: {}", std::io::Error::last_os_error());
    Instant::now() - Duration::from_millis(u64::from(info.tcpi_last_ack_recv))
}

/// Listeners that record every connection's arrival.
#[derive(Clone, Default)]
struct Arrivals(Arc<Mutex<Vec<(u16, Instant)>>>, Arc<tokio::sync::Notify>);

impl Arrivals {
    /// Listens on `addr` (inside the runtime's namespace).
    fn listen(&self, addr: &str) -> u16 {
        let l = std::net::TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let l = tokio::net::TcpListener::from_std(l).unwrap();
        let me = self.clone();
        tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                let at = arrival(&s);
                me.0.lock().unwrap().push((port, at));
                me.1.notify_waiters();
            }
        });
        port
    }

    fn all(&self) -> Vec<(u16, Instant)> {
        let mut v = self.0.lock().unwrap().clone();
        v.sort_by_key(|(_, at)| *at);
        v
    }

    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    /// Waits (generously) until at least `n` connections arrived.
    async fn wait_for(&self, n: usize) {
        let wait = async {
            loop {
                let notified = self.1.notified();
                if self.count() >= n {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(Duration::from_secs(120), wait)
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} connections arrived", self.count()));
    }
}

/// An address of the namespace that is not loopback, so `max_rate` paces
/// connections to it (loopback is unpaced); it is on `lo`, so nothing
/// leaves the namespace.
const PACED: &str = "10.77.0.1";

fn add_paced_address(ns: &Netns) {
    ns.ip(&format!("addr add {PACED}/32 dev lo"));
}

fn scan_config(
    dir: &Path,
    targets: &[&str],
    ports: &str,
    rate: u32,
    concurrency: usize,
) -> port_scan::Config {
    port_scan::Config {
        enabled: true,
        interval: Duration::from_secs(600),
        targets: targets.iter().map(|t| t.to_string()).collect(),
        allow: vec![
            "127.0.0.0/8".into(),
            "::1/128".into(),
            format!("{PACED}/32"),
        ],
        ports: ports.into(),
        max_rate: rate,
        concurrency,
        connect_timeout: Duration::from_secs(1),
        scan_log: dir.join("log/scan.log"),
    }
}

fn log_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn scan_of(ev: &Evidence) -> &PortScan {
    assert_eq!(ev.probe, "port_scan");
    match ev.payload.as_ref() {
        Some(Payload::PortScan(p)) => p,
        _ => panic!("{} is not an observed scan: {}", ev.subject, ev.error),
    }
}

/// (open ports, closed count, filtered count) of one nmap XML report.
fn nmap_counts(xml: &str) -> (Vec<u32>, u32, u32) {
    // nmap's XML starts with a DOCTYPE.
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(xml, options).unwrap();
    let (mut open, mut closed, mut filtered) = (Vec::new(), 0, 0);
    let mut count = |state: &str, n: u32, port: Option<u32>| match state {
        "open" => open.extend(port),
        "closed" => closed += n,
        "filtered" => filtered += n,
        other => panic!("nmap state {other}"),
    };
    for node in doc.descendants() {
        match node.tag_name().name() {
            "extraports" => count(
                node.attribute("state").unwrap(),
                node.attribute("count").unwrap().parse().unwrap(),
                None,
            ),
            "port" => {
                let state = node
                    .children()
                    .find(|c| c.has_tag_name("state"))
                    .unwrap()
                    .attribute("state")
                    .unwrap();
                let port = node.attribute("portid").unwrap().parse().unwrap();
                count(state, 1, Some(port));
            }
            _ => {}
        }
    }
    open.sort_unstable();
    (open, closed, filtered)
}

/// The agent binary's `scan --once --probe port_scan` inside `ns`.
fn agent_scan(ns: &Netns, config: &Path) -> Vec<Evidence> {
    let out = ns
        .command(env!("CARGO_BIN_EXE_gamsa-agent"))
        .arg("-c")
        .arg(config)
        .args(["scan", "--once", "--probe", "port_scan"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn write_agent_config(dir: &Path, c: &port_scan::Config) -> PathBuf {
    let path = dir.join("agent.toml");
    let list = |v: &[String]| {
        v.iter()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    std::fs::write(
        &path,
        format!(
            "host = \"scanner\"\n[probes.port_scan]\ninterval = \"10m\"\ntargets = [{}]\nallow = [{}]\nports = {:?}\nmax_rate = {}\nconcurrency = {}\nconnect_timeout = \"{}ms\"\nscan_log = {:?}\n",
            list(&c.targets),
            list(&c.allow),
            c.ports,
            c.max_rate,
            c.concurrency,
            c.connect_timeout.as_millis(),
            c.scan_log.display().to_string()
        ),
    )
    .unwrap();
    path
}

/// Drops, ICMP rejects and TCP resets for IPv4 and IPv6 alike.
const FIREWALL: &str = "table inet gamsa_test {
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport 20020-20022 drop
    tcp dport 20030 reject with icmpx admin-prohibited
    tcp dport 20031 reject with tcp reset
  }
}
";

#[test]
fn open_closed_and_filtered_agree_with_nmap() {
    let ns = Netns::new("scan");
    ns.nft(FIREWALL);
    let dir = tempfile::tempdir().unwrap();
    let config = scan_config(dir.path(), &["127.0.0.1", "::1"], "20000-20100", 2000, 64);
    let config_path = write_agent_config(dir.path(), &config);

    // Nobody accepts: both scanners only need the handshake, which the
    // kernel completes into the listen queue.
    let _listeners: Vec<std::net::TcpListener> = ns.enter(|| {
        // 20021 listens, but the firewall hides it: filtered, not open.
        let v4 = [20001, 20013, 20021, 20050, 20100].map(|p| ("127.0.0.1", p));
        let v6 = [20002, 20050].map(|p| ("::1", p));
        v4.iter()
            .chain(&v6)
            .map(|a| std::net::TcpListener::bind(*a).unwrap())
            .collect()
    });
    let agent = agent_scan(&ns, &config_path);
    let nmap: Vec<String> = [("-4", "127.0.0.1"), ("-6", "::1")]
        .iter()
        .map(|(family, target)| {
            let out = ns
                .command("nmap")
                .args([
                    "-sT",
                    "-Pn",
                    "-n",
                    family,
                    "-p",
                    "20000-20100",
                    "-oX",
                    "-",
                    target,
                ])
                .output()
                .expect("nmap must be installed (Debian: nmap)");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        })
        .collect();

    assert_eq!(agent.len(), 2, "{agent:?}");
    for (ev, xml, (open, filtered)) in [
        (&agent[0], &nmap[0], (vec![20001, 20013, 20050, 20100], 4)),
        (&agent[1], &nmap[1], (vec![20002, 20050], 4)),
    ] {
        let p = scan_of(ev);
        let theirs = nmap_counts(xml);
        assert_eq!(
            (p.open_ports.clone(), p.closed_count, p.filtered_count),
            theirs,
            "{} disagrees with nmap",
            ev.subject
        );
        assert_eq!(p.open_ports, open, "{}", ev.subject);
        assert_eq!(p.filtered_count, filtered);
        assert_eq!(
            p.closed_count as usize,
            101 - open.len() - filtered as usize
        );
        assert_eq!(p.ports_spec, "20000-20100");
    }
    assert_eq!(scan_of(&agent[0]).address, "127.0.0.1");
    assert_eq!(scan_of(&agent[1]).address, "::1");
}

fn ctx() -> ProbeContext {
    common::ctx(Path::new("/"))
}

#[test]
fn targets_outside_allow_are_never_contacted_and_every_scan_is_logged() {
    let ns = Netns::new("scope");
    let dir = tempfile::tempdir().unwrap();
    in_netns(&ns, || async {
        let allowed = Arrivals::default();
        let port = allowed.listen("127.0.0.1:0");
        // Outside the allow list: a listener nobody accepts from, so any
        // connection would wait in its queue.
        let outside = std::net::TcpListener::bind(("127.0.0.3", port)).unwrap();
        let outside6 = std::net::TcpListener::bind(("::1", port)).unwrap();
        outside.set_nonblocking(true).unwrap();
        outside6.set_nonblocking(true).unwrap();

        let config = port_scan::Config {
            allow: vec!["127.0.0.1/32".into()],
            ..scan_config(
                dir.path(),
                &["127.0.0.1", "127.0.0.3", "::1", "127.0.0.0/30"],
                &format!("{port},{}", port + 1),
                100,
                4,
            )
        };
        let evidence = PortScanProbe::new(config.clone()).run(&ctx()).await;
        let subjects: Vec<&str> = evidence.iter().map(|e| e.subject.as_str()).collect();
        assert_eq!(subjects, ["127.0.0.3", "::1", "127.0.0.0/30", "127.0.0.1"]);
        for ev in &evidence[..3] {
            assert!(common::is_error(ev), "{ev:?}");
            assert!(ev.error.contains("refused, not probed"), "{}", ev.error);
        }
        assert!(evidence[0]
            .error
            .contains("outside the scan allow-list [127.0.0.1/32]"));
        assert_eq!(scan_of(&evidence[3]).open_ports, [u32::from(port)]);
        allowed.wait_for(1).await;
        // The scan is over and loopback handshakes complete at once: a
        // contacted listener would have a connection waiting.
        for l in [&outside, &outside6] {
            let e = l.accept().expect_err("a refused target was contacted");
            assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
        }

        // One line before the first connection, one after the last.
        let log = log_lines(&config.scan_log);
        assert_eq!(log.len(), 2, "{log:?}");
        let (start, entry) = (&log[0], &log[1]);
        assert_eq!(
            (start["event"].as_str(), entry["event"].as_str()),
            (Some("start"), Some("end"))
        );
        assert_eq!(start["addresses"], serde_json::json!(["127.0.0.1"]));
        for k in [
            "start",
            "targets",
            "allow",
            "ports",
            "sources",
            "maxRate",
            "concurrency",
        ] {
            assert_eq!(start[k], entry[k], "{k}");
        }
        let time = |k: &str| humantime::parse_rfc3339(entry[k].as_str().unwrap()).unwrap();
        assert!(time("start") <= time("end"));
        assert_eq!(entry["outcome"], "completed");
        assert_eq!(
            entry["targets"],
            serde_json::json!(["127.0.0.1", "127.0.0.3", "::1", "127.0.0.0/30"])
        );
        assert_eq!(entry["allow"], "[127.0.0.1/32]");
        assert_eq!(entry["ports"], format!("{port}-{}", port + 1));
        assert_eq!(entry["sources"], serde_json::json!(["127.0.0.1"]));
        assert_eq!(entry["maxRate"], 100);
        assert_eq!(entry["addresses"][0]["address"], "127.0.0.1");
        assert_eq!(entry["addresses"][0]["open"], 1);
        assert_eq!(entry["addresses"][0]["closed"], 1);
        assert!(
            entry.get("openPorts").is_none(),
            "the log keeps counts, not ports"
        );
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&config.scan_log).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);

        // A log that cannot be opened: nothing is scanned at all.
        let blocked = port_scan::Config {
            scan_log: dir.path().join("log/scan.log/not-a-dir"),
            ..config
        };
        let before = allowed.count();
        let evidence = PortScanProbe::new(blocked).run(&ctx()).await;
        let last = evidence.last().unwrap();
        assert!(
            common::is_error(last) && last.error.contains("consent record"),
            "{last:?}"
        );
        assert_eq!(allowed.count(), before);
    });
}

#[test]
fn max_rate_holds_as_the_listeners_see_it() {
    let ns = Netns::new("rate");
    add_paced_address(&ns);
    let dir = tempfile::tempdir().unwrap();
    let (n, rate, concurrency) = (40usize, 10u32, 4usize);
    let arrivals = in_netns(&ns, || async {
        let listeners = Arrivals::default();
        for p in 0..n {
            listeners.listen(&format!("{PACED}:{}", 22000 + p));
        }
        let config = scan_config(
            dir.path(),
            &[PACED],
            &format!("22000-{}", 22000 + n - 1),
            rate,
            concurrency,
        );
        let evidence = PortScanProbe::new(config).run(&ctx()).await;
        assert_eq!(scan_of(&evidence[0]).open_ports.len(), n);
        listeners.wait_for(n).await;
        listeners.all()
    });
    assert_eq!(arrivals.len(), n, "each port once");
    let ports: BTreeSet<u16> = arrivals.iter().map(|(p, _)| *p).collect();
    assert_eq!(ports.len(), n);
    // A token bucket of `rate` per second with a burst of rate/10 (at least
    // one): n connections take at least (n - burst) / rate.
    let burst = (rate / 10).max(1) as usize;
    let span = arrivals[n - 1].1 - arrivals[0].1;
    let least = Duration::from_secs_f64((n - burst) as f64 / f64::from(rate));
    assert!(
        span >= least.mul_f64(0.8),
        "{n} connections in {span:?}, less than {least:?}"
    );
    // Never more than the rate (plus the burst, plus attempts that got a
    // token and then waited for the scheduler) in any one second.
    for (i, (_, start)) in arrivals.iter().enumerate() {
        let within = arrivals[i..]
            .iter()
            .take_while(|(_, at)| *at < *start + Duration::from_secs(1))
            .count();
        assert!(
            within <= rate as usize + burst + concurrency,
            "{within} connections within one second"
        );
    }
}

#[test]
fn concurrency_holds_as_the_listeners_see_it() {
    // 21000 and 21007 listen; the six ports between them drop every SYN, so
    // each attempt there holds its slot for the whole connect timeout. With
    // two slots the last port can only be tried after three rounds.
    let ns = Netns::new("conc");
    ns.nft(
        "table inet gamsa_test {\n chain input {\n  type filter hook input priority 0; policy accept;\n  tcp dport 21001-21006 drop\n }\n}\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let (first, last, scan) = in_netns(&ns, || async {
        let listeners = Arrivals::default();
        listeners.listen("127.0.0.1:21000");
        listeners.listen("127.0.0.1:21007");
        let config = scan_config(dir.path(), &["127.0.0.1"], "21000-21007", 1000, 2);
        let evidence = PortScanProbe::new(config).run(&ctx()).await;
        listeners.wait_for(2).await;
        let all = listeners.all();
        (all[0], all[1], scan_of(&evidence[0]).clone())
    });
    assert_eq!((first.0, last.0), (21000, 21007));
    assert_eq!(scan.open_ports, [21000, 21007]);
    assert_eq!(scan.filtered_count, 6);
    let gap = last.1 - first.1;
    assert!(
        gap >= Duration::from_millis(2500),
        "the last port was tried {gap:?} after the first: more than 2 attempts were in flight"
    );
}

#[test]
fn pausing_stops_a_scan_and_paused_runs_touch_nothing() {
    let ns = Netns::new("pause");
    add_paced_address(&ns);
    let dir = tempfile::tempdir().unwrap();
    let n = 60;
    in_netns(&ns, || async {
        let listeners = Arrivals::default();
        for p in 0..n {
            listeners.listen(&format!("{PACED}:{}", 23000 + p));
        }
        let config = scan_config(
            dir.path(),
            &[PACED],
            &format!("23000-{}", 23000 + n - 1),
            10,
            2,
        );
        let ctx = ctx();
        let probe = Arc::new(PortScanProbe::new(config.clone()));
        let running = tokio::spawn({
            let (probe, ctx) = (probe.clone(), ctx.clone());
            async move { probe.run(&ctx).await }
        });
        listeners.wait_for(3).await;
        ctx.control.scanning_paused.store(true, Ordering::Relaxed);
        let evidence = running.await.unwrap();
        let stopped = Instant::now();
        assert_eq!(evidence.len(), 1);
        assert!(common::is_error(&evidence[0]), "{evidence:?}");
        assert!(
            evidence[0]
                .error
                .starts_with("scan paused by the collector after"),
            "{}",
            evidence[0].error
        );
        assert!(listeners.count() < n, "the scan ran to the end");
        let log = log_lines(&config.scan_log);
        assert_eq!(log.len(), 2);
        assert_eq!(log[1]["outcome"], "paused");

        // While paused: a notice, no connection, no scan logged.
        let before = listeners.count();
        let evidence = probe.run(&ctx).await;
        assert_eq!(evidence.len(), 1);
        assert_eq!(evidence[0].probe, "agent");
        match &evidence[0].payload {
            Some(Payload::AgentNotice(n)) => assert_eq!(n.kind, "scan_paused"),
            other => panic!("{other:?}"),
        }
        assert_eq!(listeners.count(), before);
        assert_eq!(log_lines(&config.scan_log).len(), 2);
        // Nothing connected after the paused scan returned.
        let late: Vec<SocketAddr> = listeners
            .all()
            .iter()
            .filter(|(_, at)| *at > stopped + Duration::from_millis(100))
            .map(|(p, _)| SocketAddr::new(PACED.parse().unwrap(), *p))
            .collect();
        assert!(late.is_empty(), "connections after the pause: {late:?}");
    });
}

#[test]
fn a_scan_killed_midway_is_still_on_record() {
    let ns = Netns::new("kill");
    add_paced_address(&ns);
    let dir = tempfile::tempdir().unwrap();
    let config = scan_config(dir.path(), &[PACED], "24000-24099", 10, 2);
    let config_path = write_agent_config(dir.path(), &config);
    in_netns(&ns, || async {
        let listeners = Arrivals::default();
        listeners.listen(&format!("{PACED}:24000"));
        let mut agent = ns
            .command(env!("CARGO_BIN_EXE_gamsa-agent"))
            .arg("-c")
            .arg(&config_path)
            .args(["scan", "--once", "--probe", "port_scan"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        listeners.wait_for(1).await;
        agent.kill().unwrap(); // SIGKILL: no chance to write anything more
        agent.wait().unwrap();
    });
    let log = log_lines(&config.scan_log);
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["event"], "start");
    assert_eq!(log[0]["ports"], "24000-24099");
    assert_eq!(log[0]["targets"], serde_json::json!([PACED]));
}

#[test]
fn loopback_is_not_paced_and_other_addresses_are() {
    // 2,000 ports at one connection per second would need over half an
    // hour, more than the scan's budget: paced, the scan is refused.
    let ns = Netns::new("unpaced");
    add_paced_address(&ns);
    let dir = tempfile::tempdir().unwrap();
    in_netns(&ns, || async {
        let listeners = Arrivals::default();
        listeners.listen("127.0.0.1:25000");
        let config = scan_config(dir.path(), &["127.0.0.1"], "25000-26999", 1, 64);
        let clock = Instant::now();
        let evidence = PortScanProbe::new(config.clone()).run(&ctx()).await;
        assert_eq!(evidence.len(), 1, "{evidence:?}");
        let scan = scan_of(&evidence[0]);
        assert_eq!(scan.open_ports, [25000]);
        assert_eq!(scan.closed_count, 1999);
        assert!(
            clock.elapsed() < Duration::from_secs(30),
            "loopback scan took {:?}",
            clock.elapsed()
        );
        assert_eq!(log_lines(&config.scan_log)[0]["loopbackUnpaced"], true);

        // The same scan of an address that is not loopback keeps max_rate.
        let paced = scan_config(dir.path(), &[PACED], "25000-26999", 1, 64);
        let evidence = PortScanProbe::new(paced).run(&ctx()).await;
        assert!(common::is_error(&evidence[0]), "{evidence:?}");
        assert!(
            evidence[0]
                .error
                .contains("2000 connections at max_rate 1/s need at least"),
            "{}",
            evidence[0].error
        );
    });
}

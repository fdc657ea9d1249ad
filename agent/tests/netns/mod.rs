//! Network namespaces a test makes and removes: besides loopback, the only
//! place tests send traffic, and the only place they change links, routes
//! or firewall rules. Needs root (`ip netns add`); without it the test
//! fails saying so rather than passing untested.
#![allow(dead_code)] // each test binary uses its own share of these helpers

use std::ffi::OsStr;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

pub struct Netns {
    pub name: String,
}

fn check(what: &str, out: Output) -> Output {
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

impl Netns {
    /// A fresh namespace with loopback up.
    pub fn new(tag: &str) -> Self {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "gamsa-{tag}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let _ = Command::new("ip")
            .args(["netns", "del", &name])
            .stderr(Stdio::null())
            .status();
        check(
            "ip netns add (needs root)",
            Command::new("ip")
                .args(["netns", "add", &name])
                .output()
                .expect("ip must be installed (Debian: iproute2)"),
        );
        let ns = Netns { name };
        ns.ip("link set lo up");
        ns
    }

    /// `ip -n <ns> <args>`, which must succeed.
    pub fn ip(&self, args: &str) {
        check(
            &format!("ip -n {} {args}", self.name),
            Command::new("ip")
                .args(["-n", &self.name])
                .args(args.split_whitespace())
                .output()
                .unwrap(),
        );
    }

    /// `program` to be run inside the namespace.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }

    /// Loads an nftables ruleset into the namespace.
    pub fn nft(&self, ruleset: &str) {
        let mut child = self
            .command("nft")
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nft must be installed (Debian: nftables)");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(ruleset.as_bytes())
            .unwrap();
        check("nft -f -", child.wait_with_output().unwrap());
    }

    /// Runs `f` on a thread that has entered the namespace: sockets it
    /// makes (and threads it starts) live there.
    pub fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let ns = std::fs::File::open(format!("/run/netns/{}", self.name)).unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                // SAFETY: setns on a valid namespace fd changes only this
                // thread's network namespace.
                let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
                f()
            })
            .join()
            .unwrap()
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

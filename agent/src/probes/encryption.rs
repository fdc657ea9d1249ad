//! `encryption`: is each disk-backed filesystem and swap device encrypted
//! at rest, and how?
//!
//! The answer is in the block device stack, which the kernel shows in sysfs:
//! a mount's device (`/sys/dev/block/MAJ:MIN`) may be a device-mapper
//! target (`dm/uuid`: `CRYPT-LUKS2-…` is dm-crypt with LUKS2, `LVM-…` is
//! LVM) over other devices (`slaves/`), a partition (`partition`) of a disk,
//! a RAID array, or a loop device over a file on another filesystem. A
//! filesystem is encrypted when every path from it down to the disks passes
//! through dm-crypt (LVM over LUKS, LUKS over a partition, RAID of LUKS
//! legs). `scheme` names the first dm-crypt layer found.
//!
//! What is reported: every mount whose device is a block device, plus
//! btrfs/ZFS-like filesystems whose device number is anonymous. Not
//! reported: pseudo and memory filesystems (proc, sysfs, tmpfs, overlay:
//! an overlay's writable layer is a directory on a disk mount that is
//! reported itself), network filesystems, and zram swap (memory). Bind
//! mounts of the same filesystem fold into one evidence under the mount of
//! its root. fscrypt (per-directory encryption) is not detected: such a
//! filesystem is reported as its block stack says.
//!
//! Mounts come from the host's init process (`<host root>/proc/1/mountinfo`:
//! in a DaemonSet the node's mount namespace, not the container's), falling
//! back to `/proc/self/mountinfo` when that is unreadable (an unprivileged
//! agent on a VM). In Kubernetes, the API server's EncryptionConfiguration
//! (when its path is configured) says whether Secrets are encrypted in etcd.

use super::{Probe, ProbeContext, Section};
use gamsa_proto::v1::{evidence::Payload, DiskEncryption, Evidence};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// The kube-apiserver's `--encryption-provider-config` file (under the
    /// host root), on control-plane nodes. Empty: not checked.
    pub apiserver_encryption_config: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Duration::from_secs(3600),
            apiserver_encryption_config: String::new(),
        }
    }
}

impl Section for Config {
    fn enabled(&self) -> bool {
        self.enabled
    }

    fn build(&self, _: &crate::config::Config) -> Arc<dyn Probe> {
        Arc::new(EncryptionProbe::new(self.clone()))
    }
}

pub struct EncryptionProbe {
    config: Config,
}

impl EncryptionProbe {
    pub fn new(config: Config) -> Self {
        Self { config }
    }
}

/// One line of mountinfo.
#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    pub major: u32,
    pub minor: u32,
    /// The directory of the filesystem mounted here ("/" unless a bind).
    pub root: String,
    pub mount_point: String,
    pub fs_type: String,
    pub source: String,
}

/// Undoes mountinfo's octal escapes (`\040` is a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses `/proc/<pid>/mountinfo`; malformed lines are skipped.
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let l: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            let (major, minor) = l.get(2)?.split_once(':')?;
            Some(Mount {
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
                root: unescape(l.get(3)?),
                mount_point: unescape(l.get(4)?),
                fs_type: r.first()?.to_string(),
                source: unescape(r.get(1)?),
            })
        })
        .collect()
}

/// Disk filesystems whose mounts carry an anonymous device number (0:N).
const ANONYMOUS_DEV_FS: &[&str] = &["btrfs", "zfs", "bcachefs"];

fn disk_backed(m: &Mount) -> bool {
    m.major != 0 || ANONYMOUS_DEV_FS.contains(&m.fs_type.as_str())
}

/// What one block device is, from sysfs.
#[derive(Debug, Clone, PartialEq)]
enum Role {
    /// dm-crypt; the scheme ("luks2", "plain-dm-crypt", ...).
    Crypt(String),
    /// Another device-mapper target ("lvm", "multipath", "dm").
    Mapper(&'static str),
    Partition,
    Raid,
    /// A loop device over this file.
    Loop(String),
    Disk,
}

impl Role {
    fn label(&self) -> String {
        match self {
            Role::Crypt(s) => format!("crypt-{s}"),
            Role::Mapper(m) => (*m).to_string(),
            Role::Partition => "part".into(),
            Role::Raid => "raid".into(),
            Role::Loop(_) => "loop".into(),
            Role::Disk => "disk".into(),
        }
    }
}

/// The dm-crypt scheme a device-mapper UUID names, if it is dm-crypt.
/// CRYPT-VERITY and CRYPT-INTEGRITY are integrity targets, not encryption.
fn crypt_scheme(uuid: &str) -> Option<String> {
    let kind = uuid.strip_prefix("CRYPT-")?.split('-').next()?;
    Some(match kind {
        "LUKS1" => "luks1".into(),
        "LUKS2" => "luks2".into(),
        "PLAIN" => "plain-dm-crypt".into(),
        "VERITY" | "INTEGRITY" => return None,
        other => other.to_ascii_lowercase(), // BITLK, TCRYPT, FVAULT2
    })
}

/// The block device stack of one filesystem.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stack {
    /// Top device name ("dm-1", "nvme0n1p2"); empty when unknown.
    pub device: String,
    /// Every layer, depth first: "dm-1:lvm", "dm-0:crypt-luks2", ...
    pub layers: Vec<String>,
    pub encrypted: bool,
    pub scheme: String,
    /// Some layer could not be followed (no device, cycle, too deep).
    pub unresolved: bool,
}

/// Reads the stack under the host's sysfs, following loop devices into the
/// mounts that hold their backing files.
struct Sysfs<'a> {
    ctx: &'a ProbeContext,
    mounts: &'a [Mount],
}

/// Deepest stack followed: guards against loops in a malformed tree.
const MAX_DEPTH: usize = 16;

impl Sysfs<'_> {
    fn class(&self, name: &str) -> std::path::PathBuf {
        self.ctx.host_path(&format!("/sys/class/block/{name}"))
    }

    fn read(&self, path: &Path) -> Option<String> {
        super::read_bounded(path, 4096)
            .ok()
            .map(|s| s.trim().to_string())
    }

    /// The device name of MAJ:MIN, from the `/sys/dev/block` link.
    fn by_number(&self, major: u32, minor: u32) -> Option<String> {
        let link = self
            .ctx
            .host_path(&format!("/sys/dev/block/{major}:{minor}"));
        let target = std::fs::read_link(link).ok()?;
        Some(target.file_name()?.to_string_lossy().into_owned())
    }

    /// The device name of a `/dev/...` path (`/dev/mapper/x` by dm name).
    fn by_path(&self, dev: &str) -> Option<String> {
        if let Some(mapped) = dev.strip_prefix("/dev/mapper/") {
            let dir = std::fs::read_dir(self.ctx.host_path("/sys/class/block")).ok()?;
            return dir.flatten().find_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                (self.read(&e.path().join("dm/name")).as_deref() == Some(mapped)).then_some(name)
            });
        }
        let name = dev.strip_prefix("/dev/")?;
        self.class(name).exists().then(|| name.to_string())
    }

    fn role(&self, name: &str) -> Role {
        let dir = self.class(name);
        if let Some(uuid) = self.read(&dir.join("dm/uuid")) {
            return match crypt_scheme(&uuid) {
                Some(scheme) => Role::Crypt(scheme),
                None if uuid.starts_with("LVM-") => Role::Mapper("lvm"),
                None if uuid.starts_with("mpath-") => Role::Mapper("multipath"),
                None => Role::Mapper("dm"),
            };
        }
        if dir.join("partition").exists() {
            Role::Partition
        } else if dir.join("md").is_dir() {
            Role::Raid
        } else if let Some(file) = self.read(&dir.join("loop/backing_file")) {
            Role::Loop(file)
        } else {
            Role::Disk
        }
    }

    /// The devices directly below `name`.
    fn below(&self, name: &str, role: &Role) -> Vec<String> {
        match role {
            Role::Partition => std::fs::read_link(self.class(name))
                .ok()
                .and_then(|t| Some(t.parent()?.file_name()?.to_string_lossy().into_owned()))
                .into_iter()
                .collect(),
            Role::Crypt(_) | Role::Mapper(_) | Role::Raid => {
                let mut v: Vec<String> = std::fs::read_dir(self.class(name).join("slaves"))
                    .map(|d| {
                        d.flatten()
                            .map(|e| e.file_name().to_string_lossy().into_owned())
                            .collect()
                    })
                    .unwrap_or_default();
                v.sort();
                v
            }
            Role::Loop(_) | Role::Disk => Vec::new(),
        }
    }

    /// Walks from `name` down; returns whether every path is encrypted.
    fn walk(
        &self,
        name: &str,
        depth: usize,
        stack: &mut Stack,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        if depth > MAX_DEPTH || !seen.insert(name.to_string()) {
            stack.unresolved = true;
            return false;
        }
        let role = self.role(name);
        stack.layers.push(format!("{name}:{}", role.label()));
        if let Role::Crypt(scheme) = &role {
            if stack.scheme.is_empty() {
                stack.scheme = scheme.clone();
            }
            // Below dm-crypt, the rest of the stack is still shown.
            for child in self.below(name, &role) {
                self.walk(&child, depth + 1, stack, seen);
            }
            return true;
        }
        if let Role::Loop(file) = &role {
            stack.layers.push(format!("{file}:file"));
            let below = holding_mount(self.mounts, file).and_then(|m| self.mount_device(m));
            let Some(device) = below else {
                stack.unresolved = true;
                return false;
            };
            return self.walk(&device, depth + 1, stack, seen);
        }
        let children = self.below(name, &role);
        let mut all = !children.is_empty();
        for child in children {
            all &= self.walk(&child, depth + 1, stack, seen);
        }
        all
    }

    fn mount_device(&self, m: &Mount) -> Option<String> {
        if m.major != 0 {
            self.by_number(m.major, m.minor)
        } else {
            self.by_path(&m.source)
        }
    }

    fn stack(&self, device: Option<String>) -> Stack {
        let Some(device) = device else {
            return Stack {
                scheme: "unknown".into(),
                unresolved: true,
                ..Stack::default()
            };
        };
        let mut stack = Stack {
            device: device.clone(),
            ..Stack::default()
        };
        stack.encrypted = self.walk(&device, 0, &mut stack, &mut BTreeSet::new());
        if !stack.encrypted {
            stack.scheme = if stack.unresolved { "unknown" } else { "none" }.into();
        }
        stack
    }
}

/// The mount whose mount point is the longest prefix of `path`.
fn holding_mount<'a>(mounts: &'a [Mount], path: &str) -> Option<&'a Mount> {
    mounts
        .iter()
        .filter(|m| disk_backed(m))
        .filter(|m| {
            let mp = m.mount_point.trim_end_matches('/');
            path == mp || path.starts_with(&format!("{mp}/"))
        })
        .max_by_key(|m| m.mount_point.len())
}

/// The mounts reported: disk-backed, one per filesystem (the mount of its
/// root, else the first), in mountinfo order.
pub fn reported_mounts(mounts: &[Mount]) -> Vec<&Mount> {
    let mut out: Vec<&Mount> = Vec::new();
    for m in mounts.iter().filter(|m| disk_backed(m)) {
        let same = |o: &&Mount| (o.major, o.minor, &o.source) == (m.major, m.minor, &m.source);
        match out.iter().position(same) {
            Some(i) if out[i].root != "/" && m.root == "/" => out[i] = m,
            Some(_) => {}
            None => out.push(m),
        }
    }
    out
}

/// One row of `/proc/swaps`.
#[derive(Debug, Clone, PartialEq)]
pub struct Swap {
    pub path: String,
    pub file: bool,
}

pub fn parse_swaps(text: &str) -> Vec<Swap> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let mut cols = l.split_whitespace();
            let path = unescape(cols.next()?);
            let file = cols.next()? == "file";
            Some(Swap { path, file })
        })
        .collect()
}

fn evidence(
    mount_point: &str,
    device: String,
    fs_type: &str,
    stack: Stack,
    swap: bool,
) -> DiskEncryption {
    DiskEncryption {
        mount_point: mount_point.into(),
        device,
        fs_type: fs_type.into(),
        encrypted: stack.encrypted,
        scheme: stack.scheme,
        stack: stack.layers,
        swap,
    }
}

fn read_mounts(ctx: &ProbeContext) -> Result<Vec<Mount>, String> {
    let init = ctx.host_path("/proc/1/mountinfo");
    let text = super::read_bounded(&init, 16 * 1024 * 1024).or_else(|first| {
        super::read_bounded(&ctx.host_path("/proc/self/mountinfo"), 16 * 1024 * 1024)
            .map_err(|_| format!("{}: {first}", init.display()))
    })?;
    Ok(parse_mountinfo(&text))
}

/// Every reported filesystem and swap device, with its subject.
fn observe(ctx: &ProbeContext) -> Result<Vec<(String, DiskEncryption)>, String> {
    let mounts = read_mounts(ctx)?;
    let sys = Sysfs {
        ctx,
        mounts: &mounts,
    };
    let mut out = Vec::new();
    for m in reported_mounts(&mounts) {
        let device = sys.mount_device(m);
        let shown = device
            .as_ref()
            .map_or(m.source.clone(), |d| format!("/dev/{d}"));
        let stack = sys.stack(device);
        out.push((
            m.mount_point.clone(),
            evidence(&m.mount_point, shown, &m.fs_type, stack, false),
        ));
    }
    let swaps = ctx.host_path("/proc/swaps");
    let text = super::read_bounded(&swaps, 1024 * 1024)
        .map_err(|e| format!("{}: {e}", swaps.display()))?;
    for s in parse_swaps(&text) {
        let (device, mut prefix) = if s.file {
            let holder = holding_mount(&mounts, &s.path);
            (
                holder.and_then(|m| sys.mount_device(m)),
                vec![format!("{}:file", s.path)],
            )
        } else {
            (sys.by_path(&s.path), Vec::new())
        };
        // zram is compressed memory, not a disk.
        if device.as_deref().is_some_and(|d| d.starts_with("zram")) && !s.file {
            continue;
        }
        let mut stack = sys.stack(device);
        prefix.append(&mut stack.layers);
        stack.layers = prefix;
        out.push((
            s.path.clone(),
            evidence("", s.path.clone(), "swap", stack, true),
        ));
    }
    Ok(out)
}

/// The parts of a kube-apiserver EncryptionConfiguration read here.
#[derive(Debug, Deserialize)]
struct EncryptionConfiguration {
    #[serde(default)]
    resources: Vec<ResourceProviders>,
}

#[derive(Debug, Deserialize)]
struct ResourceProviders {
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    providers: Vec<serde_yaml_ng::Mapping>,
}

/// Whether Secrets are encrypted in etcd: the first `resources` entry that
/// covers secrets decides, and its first provider is the one that writes;
/// `identity` first (or no entry) means stored in plain text.
pub fn secrets_encryption(yaml: &str) -> Result<Stack, String> {
    let cfg: EncryptionConfiguration = serde_yaml_ng::from_str(yaml)
        .map_err(|e| format!("not an EncryptionConfiguration: {e}"))?;
    let entry = cfg.resources.iter().find(|r| {
        r.resources
            .iter()
            .any(|n| matches!(n.as_str(), "secrets" | "*." | "*.*"))
    });
    let providers: Vec<String> = entry
        .map(|e| {
            e.providers
                .iter()
                .filter_map(|p| p.keys().next()?.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let first = providers.first().map(String::as_str).unwrap_or("identity");
    Ok(Stack {
        encrypted: first != "identity",
        scheme: if first == "identity" {
            "none".into()
        } else {
            first.into()
        },
        layers: providers,
        ..Stack::default()
    })
}

#[async_trait::async_trait]
impl Probe for EncryptionProbe {
    fn name(&self) -> &'static str {
        "encryption"
    }

    fn interval(&self) -> Duration {
        self.config.interval
    }

    async fn run(&self, ctx: &ProbeContext) -> Vec<Evidence> {
        let c = ctx.clone();
        let mut out = match tokio::task::spawn_blocking(move || observe(&c)).await {
            Ok(Ok(found)) => found
                .into_iter()
                .map(|(subject, d)| {
                    ctx.observed("encryption", &subject, Payload::DiskEncryption(d))
                })
                .collect(),
            Ok(Err(why)) => vec![ctx.error("encryption", &ctx.host, why)],
            Err(e) => vec![ctx.error("encryption", &ctx.host, format!("probe task failed: {e}"))],
        };
        let path = &self.config.apiserver_encryption_config;
        if !path.is_empty() {
            let subject = "kubernetes:secrets";
            let file = ctx.host_path(path);
            out.push(
                match super::read_bounded(&file, 1024 * 1024)
                    .map_err(|e| e.to_string())
                    .and_then(|y| secrets_encryption(&y))
                {
                    Ok(s) => ctx.observed(
                        "encryption",
                        subject,
                        Payload::DiskEncryption(evidence("", path.clone(), "etcd", s, false)),
                    ),
                    Err(why) => {
                        ctx.error("encryption", subject, format!("{}: {why}", file.display()))
                    }
                },
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines_escapes_and_garbage() {
        let text = "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n\
            42 27 254:0 /run/netns /run/net\\040ns rw shared:1 master:2 - ext4 /dev/vda rw\n\
            garbage\n\
            50 27 0:45 / /home rw - btrfs /dev/nvme0n1p4 rw,subvol=/home\n";
        let m = parse_mountinfo(text);
        assert_eq!(m.len(), 3);
        assert_eq!(m[1].mount_point, "/run/net ns");
        assert_eq!(
            (m[1].major, m[1].minor, m[1].root.as_str()),
            (254, 0, "/run/netns")
        );
        assert_eq!(m[2].fs_type, "btrfs");
        let reported = reported_mounts(&m);
        assert_eq!(reported.len(), 2, "the bind of /run/netns folds into /");
        assert_eq!(reported[0].mount_point, "/");
    }

    #[test]
    fn crypt_uuids() {
        assert_eq!(
            crypt_scheme("CRYPT-LUKS2-8f9a2b1c-luks-root").as_deref(),
            Some("luks2")
        );
        assert_eq!(
            crypt_scheme("CRYPT-LUKS1-0123-sdb1_crypt").as_deref(),
            Some("luks1")
        );
        assert_eq!(
            crypt_scheme("CRYPT-PLAIN-swap").as_deref(),
            Some("plain-dm-crypt")
        );
        assert_eq!(crypt_scheme("CRYPT-VERITY-abc-root"), None);
        assert_eq!(crypt_scheme("LVM-abcdef"), None);
    }

    #[test]
    fn apiserver_encryption_configuration() {
        let aescbc = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources:\n      - secrets\n      - configmaps\n    providers:\n      - aescbc:\n          keys:\n            - name: key1\n              secret: c2VjcmV0IGlzIHNlY3VyZQ==\n      - identity: {}\n";
        let s = secrets_encryption(aescbc).unwrap();
        assert!(s.encrypted);
        assert_eq!(
            (s.scheme.as_str(), s.layers.clone()),
            ("aescbc", vec!["aescbc".into(), "identity".into()])
        );
        let identity_first =
            aescbc.replace("      - aescbc:", "      - identity: {}\n      - aescbc:");
        let s = secrets_encryption(&identity_first).unwrap();
        assert!(!s.encrypted);
        assert_eq!(s.scheme, "none");
        let only_configmaps = aescbc.replace("      - secrets\n", "");
        assert!(!secrets_encryption(&only_configmaps).unwrap().encrypted);
        assert!(secrets_encryption("resources: 7").is_err());
    }
}

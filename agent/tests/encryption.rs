//! encryption against sysfs/procfs-shaped trees built from real files and
//! relative symlinks exactly as the kernel lays them out (this machine's
//! kernel has no device-mapper, so dm-crypt stacks cannot be made for
//! real), and against this machine's own /proc and /sys.

mod common;

use common::{symlink, write};
use gamsa_agent::probes::encryption::{self, parse_mountinfo, EncryptionProbe};
use gamsa_agent::probes::Probe;
use gamsa_proto::v1::{evidence::Payload, DiskEncryption, Evidence};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const NVME: &str = "pci0000:00/0000:00:04.0/nvme/nvme0";
const SCSI: &str = "pci0000:00/0000:00:05.0/virtio2/host0/target0:0:0/0:0:0:0/block";
const VIRTUAL: &str = "virtual/block";

/// A block device as sysfs shows it: its directory under /sys/devices, and
/// the /sys/class/block, /sys/dev/block (and, for whole disks, /sys/block)
/// links to it.
fn device(root: &Path, devpath: &str, name: &str, dev: &str, whole: bool) {
    let dir = format!("sys/devices/{devpath}/{name}");
    write(root, &format!("{dir}/dev"), &format!("{dev}\n"));
    write(root, &format!("{dir}/size"), "209715200\n");
    symlink(
        root,
        &format!("sys/class/block/{name}"),
        &format!("../../devices/{devpath}/{name}"),
    );
    symlink(
        root,
        &format!("sys/dev/block/{dev}"),
        &format!("../../devices/{devpath}/{name}"),
    );
    if whole {
        symlink(
            root,
            &format!("sys/block/{name}"),
            &format!("../devices/{devpath}/{name}"),
        );
    }
}

fn disk(root: &Path, devpath: &str, name: &str, dev: &str) {
    device(root, devpath, name, dev, true);
}

fn partition(root: &Path, devpath: &str, disk: &str, name: &str, dev: &str, n: u32) {
    device(root, &format!("{devpath}/{disk}"), name, dev, false);
    write(
        root,
        &format!("sys/devices/{devpath}/{disk}/{name}/partition"),
        &format!("{n}\n"),
    );
}

/// A device-mapper target over `slaves` (name, sysfs devices path of it).
fn mapper(root: &Path, name: &str, dev: &str, uuid: &str, dm_name: &str, slaves: &[(&str, &str)]) {
    device(root, VIRTUAL, name, dev, true);
    let dir = format!("sys/devices/{VIRTUAL}/{name}");
    write(root, &format!("{dir}/dm/uuid"), &format!("{uuid}\n"));
    write(root, &format!("{dir}/dm/name"), &format!("{dm_name}\n"));
    write(root, &format!("{dir}/dm/suspended"), "0\n");
    for (slave, path) in slaves {
        symlink(
            root,
            &format!("{dir}/slaves/{slave}"),
            &format!("../../../../{path}/{slave}"),
        );
        let holders = format!("sys/devices/{path}/{slave}/holders/{name}");
        symlink(
            root,
            &holders,
            &format!("../../../../../../{VIRTUAL}/{name}"),
        );
    }
}

fn raid(root: &Path, name: &str, dev: &str, legs: &[(&str, &str)]) {
    device(root, VIRTUAL, name, dev, true);
    let dir = format!("sys/devices/{VIRTUAL}/{name}");
    write(root, &format!("{dir}/md/level"), "raid1\n");
    for (leg, path) in legs {
        symlink(
            root,
            &format!("{dir}/slaves/{leg}"),
            &format!("../../../../{path}/{leg}"),
        );
    }
}

/// A host with most of what servers run: LVM on LUKS2 on an NVMe partition,
/// plain dm-crypt, LUKS1 on a whole disk, unencrypted disks, btrfs, RAID of
/// LUKS legs and a mixed RAID, a snap loop device, swap in every form, and
/// pseudo filesystems, binds and network mounts that must not be reported.
fn server(root: &Path) {
    let nvme_disk = format!("{NVME}/nvme0n1");
    disk(root, NVME, "nvme0n1", "259:0");
    for (n, part) in [
        (1, "nvme0n1p1"),
        (2, "nvme0n1p2"),
        (3, "nvme0n1p3"),
        (4, "nvme0n1p4"),
    ] {
        partition(root, NVME, "nvme0n1", part, &format!("259:{n}"), n);
    }
    mapper(
        root,
        "dm-0",
        "253:0",
        "CRYPT-LUKS2-3f2a9c1d8e7b4a6f9e0d1c2b3a4f5e6d-luks-3f2a9c1d",
        "luks-3f2a9c1d",
        &[("nvme0n1p3", &nvme_disk)],
    );
    mapper(
        root,
        "dm-1",
        "253:1",
        "LVM-Xq3bV8mXk2PqL0rT5yW9zA1bC3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5bC7d",
        "vg0-root",
        &[("dm-0", VIRTUAL)],
    );
    mapper(
        root,
        "dm-2",
        "253:2",
        "LVM-Xq3bV8mXk2PqL0rT5yW9zA1bC3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5bC7e",
        "vg0-swap",
        &[("dm-0", VIRTUAL)],
    );
    disk(root, SCSI, "sda", "8:0");
    partition(root, SCSI, "sda", "sda1", "8:1", 1);
    mapper(
        root,
        "dm-3",
        "253:3",
        "CRYPT-PLAIN-data",
        "data",
        &[("sda1", &format!("{SCSI}/sda"))],
    );
    disk(root, SCSI, "sdb", "8:16");
    partition(root, SCSI, "sdb", "sdb1", "8:17", 1);
    partition(root, SCSI, "sdb", "sdb2", "8:18", 2);
    disk(root, SCSI, "sdc", "8:32");
    mapper(
        root,
        "dm-4",
        "253:4",
        "CRYPT-LUKS1-6c1b0e2f9a8d4c7b8e5f3a2d1c0b9a8e-archive",
        "archive",
        &[("sdc", SCSI)],
    );
    disk(root, SCSI, "sdd", "8:48");
    disk(root, SCSI, "sde", "8:64");
    mapper(
        root,
        "dm-5",
        "253:5",
        "CRYPT-LUKS2-aa11-leg0",
        "leg0",
        &[("sdd", SCSI)],
    );
    raid(root, "md0", "9:0", &[("dm-5", VIRTUAL), ("sde", SCSI)]);
    disk(root, SCSI, "sdf", "8:80");
    disk(root, SCSI, "sdg", "8:96");
    mapper(
        root,
        "dm-6",
        "253:6",
        "CRYPT-LUKS2-bb22-vault0",
        "vault0",
        &[("sdf", SCSI)],
    );
    mapper(
        root,
        "dm-7",
        "253:7",
        "CRYPT-LUKS2-cc33-vault1",
        "vault1",
        &[("sdg", SCSI)],
    );
    raid(root, "md1", "9:1", &[("dm-6", VIRTUAL), ("dm-7", VIRTUAL)]);
    mapper(
        root,
        "dm-8",
        "253:8",
        "CRYPT-VERITY-dd44-usr",
        "usr-verity",
        &[("sdb2", &format!("{SCSI}/sdb"))],
    );
    device(root, VIRTUAL, "loop0", "7:0", true);
    write(
        root,
        &format!("sys/devices/{VIRTUAL}/loop0/loop/backing_file"),
        "/var/lib/snapd/snaps/core22_1380.snap\n",
    );
    device(root, VIRTUAL, "zram0", "252:0", true);

    write(
        root,
        "proc/1/mountinfo",
        "22 1 253:1 / / rw,relatime shared:1 - ext4 /dev/mapper/vg0-root rw,errors=remount-ro\n\
         23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw\n\
         24 22 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw\n\
         25 22 0:5 / /dev rw,nosuid,relatime shared:8 - devtmpfs udev rw,size=8123456k,nr_inodes=2030864,mode=755\n\
         26 22 0:25 / /run rw,nosuid,nodev,noexec,relatime shared:5 - tmpfs tmpfs rw,size=1634568k,mode=755\n\
         27 22 259:2 / /boot rw,relatime shared:30 - ext4 /dev/nvme0n1p2 rw\n\
         28 27 259:1 / /boot/efi rw,relatime shared:31 - vfat /dev/nvme0n1p1 rw,fmask=0077,dmask=0077\n\
         29 22 253:3 / /data rw,relatime shared:32 - xfs /dev/mapper/data rw,attr2,inode64\n\
         30 22 8:17 / /srv rw,relatime shared:33 - ext4 /dev/sdb1 rw\n\
         31 22 253:4 / /archive rw,relatime shared:34 - ext4 /dev/mapper/archive rw\n\
         32 22 0:45 /@home /home rw,relatime shared:35 - btrfs /dev/nvme0n1p4 rw,ssd,space_cache=v2,subvolid=257,subvol=/@home\n\
         33 22 9:0 / /mixed rw,relatime shared:36 - ext4 /dev/md0 rw\n\
         34 22 9:1 / /vault rw,relatime shared:37 - ext4 /dev/md1 rw\n\
         35 22 7:0 / /snap/core22/1380 ro,nodev,relatime shared:38 - squashfs /dev/loop0 ro,errors=continue\n\
         36 22 253:1 /var/lib/kubelet /var/lib/kubelet rw,relatime shared:39 - ext4 /dev/mapper/vg0-root rw\n\
         37 22 0:60 / /mnt/nfs rw,relatime shared:40 - nfs4 10.0.0.9:/export rw,vers=4.2\n\
         38 26 0:61 / /run/containerd/io.containerd.runtime.v2.task/k8s.io/abc/rootfs rw,relatime - overlay overlay rw,lowerdir=/var/lib/containerd/l1,upperdir=/var/lib/containerd/u1,workdir=/var/lib/containerd/w1\n\
         39 22 8:99 / /mnt/gone rw,relatime - ext4 /dev/sdz1 rw\n\
         40 22 253:8 / /usr rw,relatime - ext4 /dev/mapper/usr-verity ro\n",
    );
    write(
        root,
        "proc/swaps",
        "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n\
         /dev/dm-2                               partition\t8388604\t\t0\t\t-2\n\
         /swapfile                               file\t\t2097148\t\t0\t\t-3\n\
         /dev/zram0                              partition\t4194300\t\t0\t\t100\n\
         /dev/sdb2                               partition\t1048572\t\t0\t\t-4\n",
    );
}

async fn scan(root: &Path, config: encryption::Config) -> Vec<Evidence> {
    EncryptionProbe::new(config).run(&common::ctx(root)).await
}

fn by_subject(evidence: &[Evidence]) -> BTreeMap<String, DiskEncryption> {
    evidence
        .iter()
        .map(|e| match &e.payload {
            Some(Payload::DiskEncryption(d)) => (e.subject.clone(), d.clone()),
            _ => panic!("{}: {}", e.subject, e.error),
        })
        .collect()
}

#[tokio::test]
async fn block_stacks_of_a_server() {
    let root = tempfile::tempdir().unwrap();
    server(root.path());
    let found = by_subject(&scan(root.path(), encryption::Config::default()).await);
    let subjects: BTreeSet<&str> = found.keys().map(String::as_str).collect();
    let expected = [
        "/",
        "/boot",
        "/boot/efi",
        "/data",
        "/srv",
        "/archive",
        "/home",
        "/mixed",
        "/vault",
        "/snap/core22/1380",
        "/mnt/gone",
        "/usr",
        "/dev/dm-2",
        "/swapfile",
        "/dev/sdb2",
    ];
    assert_eq!(
        subjects,
        expected.into_iter().collect(),
        "pseudo, network, binds and zram left out"
    );

    let root_fs = &found["/"];
    assert!(root_fs.encrypted);
    assert_eq!(
        (
            root_fs.scheme.as_str(),
            root_fs.device.as_str(),
            root_fs.fs_type.as_str()
        ),
        ("luks2", "/dev/dm-1", "ext4")
    );
    assert_eq!(
        root_fs.stack,
        [
            "dm-1:lvm",
            "dm-0:crypt-luks2",
            "nvme0n1p3:part",
            "nvme0n1:disk"
        ]
    );

    for (mount, scheme) in [
        ("/boot", "none"),
        ("/boot/efi", "none"),
        ("/srv", "none"),
        ("/home", "none"),
    ] {
        assert!(!found[mount].encrypted, "{mount}");
        assert_eq!(found[mount].scheme, scheme, "{mount}");
    }
    assert_eq!(
        found["/home"].stack,
        ["nvme0n1p4:part", "nvme0n1:disk"],
        "btrfs found by its source"
    );
    assert_eq!(found["/boot/efi"].fs_type, "vfat");

    assert!(found["/data"].encrypted);
    assert_eq!(found["/data"].scheme, "plain-dm-crypt");
    assert_eq!(
        found["/data"].stack,
        ["dm-3:crypt-plain-dm-crypt", "sda1:part", "sda:disk"]
    );
    assert_eq!(
        (
            found["/archive"].scheme.as_str(),
            found["/archive"].encrypted
        ),
        ("luks1", true)
    );

    // RAID: encrypted only when every leg is.
    assert!(found["/vault"].encrypted);
    assert_eq!(
        found["/vault"].stack,
        [
            "md1:raid",
            "dm-6:crypt-luks2",
            "sdf:disk",
            "dm-7:crypt-luks2",
            "sdg:disk"
        ]
    );
    assert!(!found["/mixed"].encrypted, "one leg is plain sde");
    assert_eq!(found["/mixed"].scheme, "none");

    // dm-verity protects integrity, not confidentiality.
    assert!(!found["/usr"].encrypted);
    assert_eq!(found["/usr"].stack[0], "dm-8:dm");

    // A snap's loop device: as encrypted as the filesystem holding its file.
    let snap = &found["/snap/core22/1380"];
    assert!(snap.encrypted);
    assert_eq!(
        snap.stack[..2],
        [
            "loop0:loop".to_string(),
            "/var/lib/snapd/snaps/core22_1380.snap:file".to_string()
        ]
    );

    // A device sysfs does not know: unknown, never "none".
    let gone = &found["/mnt/gone"];
    assert_eq!(
        (gone.encrypted, gone.scheme.as_str(), gone.device.as_str()),
        (false, "unknown", "/dev/sdz1")
    );

    // Swap: LVM on LUKS, a file on the encrypted root, a plain partition.
    let swap = &found["/dev/dm-2"];
    assert!(swap.swap && swap.encrypted && swap.mount_point.is_empty());
    assert_eq!(
        swap.stack,
        [
            "dm-2:lvm",
            "dm-0:crypt-luks2",
            "nvme0n1p3:part",
            "nvme0n1:disk"
        ]
    );
    let file = &found["/swapfile"];
    assert!(file.swap && file.encrypted);
    assert_eq!(file.stack[0], "/swapfile:file");
    assert!(!found["/dev/sdb2"].encrypted);
}

#[tokio::test]
async fn mountinfo_fallback_and_unreadable_host() {
    // No /proc/1 (an unprivileged agent): the agent's own mount table.
    let root = tempfile::tempdir().unwrap();
    disk(root.path(), SCSI, "sdb", "8:16");
    write(
        root.path(),
        "proc/self/mountinfo",
        "30 1 8:16 / / rw - ext4 /dev/sdb rw\n",
    );
    write(
        root.path(),
        "proc/swaps",
        "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n",
    );
    let found = by_subject(&scan(root.path(), encryption::Config::default()).await);
    assert_eq!(found["/"].stack, ["sdb:disk"]);

    let empty = tempfile::tempdir().unwrap();
    let ev = scan(empty.path(), encryption::Config::default()).await;
    assert_eq!(ev.len(), 1);
    assert!(common::is_error(&ev[0]));
    assert!(ev[0].error.contains("proc/1/mountinfo"), "{}", ev[0].error);
}

#[tokio::test]
async fn kubernetes_secrets_encryption_configuration() {
    let root = tempfile::tempdir().unwrap();
    server(root.path());
    write(
        root.path(),
        "etc/kubernetes/enc/enc.yaml",
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources:\n      - secrets\n    providers:\n      - kms:\n          apiVersion: v2\n          name: kms-plugin\n          endpoint: unix:///var/run/kmsplugin/socket.sock\n      - identity: {}\n",
    );
    let config = |path: &str| encryption::Config {
        apiserver_encryption_config: path.into(),
        ..encryption::Config::default()
    };
    let ev = scan(root.path(), config("/etc/kubernetes/enc/enc.yaml")).await;
    let found = by_subject(&ev);
    let secrets = &found["kubernetes:secrets"];
    assert!(secrets.encrypted);
    assert_eq!(
        (secrets.scheme.as_str(), secrets.fs_type.as_str()),
        ("kms", "etcd")
    );
    assert_eq!(secrets.stack, ["kms", "identity"]);

    let ev = scan(root.path(), config("/etc/kubernetes/enc/missing.yaml")).await;
    let last = ev.last().unwrap();
    assert_eq!(last.subject, "kubernetes:secrets");
    assert!(
        common::is_error(last) && last.error.contains("missing.yaml"),
        "{}",
        last.error
    );
}

#[tokio::test]
async fn this_machine_every_disk_mount_reported() {
    let ev = scan(Path::new("/"), encryption::Config::default()).await;
    let found = by_subject(&ev);
    // Independently: the distinct block devices mounted (major != 0).
    let text = std::fs::read_to_string("/proc/1/mountinfo")
        .or_else(|_| std::fs::read_to_string("/proc/self/mountinfo"))
        .unwrap();
    let devices: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(2))
        .filter(|d| !d.starts_with("0:"))
        .map(str::to_string)
        .collect();
    let mounts = parse_mountinfo(&text);
    for dev in &devices {
        let name = std::fs::read_link(format!("/sys/dev/block/{dev}"))
            .ok()
            .and_then(|t| Some(t.file_name()?.to_string_lossy().into_owned()));
        let reported = found.values().filter(|d| !d.swap).any(|d| match &name {
            Some(n) => {
                d.device == format!("/dev/{n}")
                    && d.stack
                        .first()
                        .is_some_and(|l| l.starts_with(&format!("{n}:")))
            }
            None => d.scheme == "unknown",
        });
        assert!(reported, "device {dev} ({name:?}) not reported: {found:#?}");
    }
    let disk_mounts = found.values().filter(|d| !d.swap).count();
    let anonymous_disk = mounts
        .iter()
        .filter(|m| m.major == 0 && ["btrfs", "zfs", "bcachefs"].contains(&m.fs_type.as_str()))
        .count();
    assert!(
        disk_mounts >= devices.len() && disk_mounts <= devices.len() + anonymous_disk,
        "{found:#?}"
    );
    let root_mount = mounts.iter().find(|m| m.mount_point == "/").unwrap();
    assert_eq!(found["/"].fs_type, root_mount.fs_type);
    let swaps = std::fs::read_to_string("/proc/swaps").unwrap();
    let real_swaps = swaps
        .lines()
        .skip(1)
        .filter(|l| !l.starts_with("/dev/zram"))
        .count();
    assert_eq!(found.values().filter(|d| d.swap).count(), real_swaps);
    for d in found.values() {
        // Encrypted exactly when a dm-crypt layer is in the stack (no RAID here).
        assert_eq!(
            d.encrypted,
            d.stack.iter().any(|l| l.contains(":crypt-")),
            "{d:?}"
        );
        if d.scheme == "none" {
            assert!(!d.encrypted && !d.stack.is_empty(), "{d:?}");
        }
    }
}

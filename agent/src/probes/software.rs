//! `software`: what is installed on the host and what keeps it patched and
//! protected. The checklists ask whether security patches are applied
//! (KISA U-64, ISMS-P 2.11.2, the NIA terms), whether the OS is still
//! supported, whether compilers were left on production servers and
//! whether anti-virus runs with fresh signatures; this probe reports the
//! facts they rest on, read only under the host root and never from the
//! network:
//!
//! - installed packages from dpkg's status file (`dpkg.rs`, streamed and
//!   bounded), with a count and a SHA-256 of the whole set, the list itself
//!   cut at [`MAX_PACKAGES`] (evidence stays well under the collector's
//!   `[ingest]` caps), and from rpm's SQLite database (`rpm.rs`); rpm's
//!   older Berkeley DB and ndb databases are named as unsupported;
//! - security updates apt's local lists offer for them (`apt.rs`, ordered
//!   by `debversion.rs`);
//! - the OS release and its end of support (`lifecycle.rs`,
//!   `lifecycles.toml`);
//! - compilers and build tools by file and by package;
//! - anti-malware and EDR products by package, process and install path,
//!   and where the product keeps signatures locally, their age.

pub mod apt;
pub mod debversion;
pub mod dpkg;
pub mod lifecycle;
pub mod rpm;

use super::{Probe, ProbeContext, Section};
use gamsa_proto::v1::{
    evidence::Payload, AntiMalware, Compiler, Evidence, Package, PackageDatabase, SecurityUpdates,
    Software,
};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The most packages listed in one evidence: about 60 bytes each, so at
/// most ~1.2 MB, under `[ingest] max_evidence_bytes` (4 MiB). The count
/// and hash always cover every package.
pub const MAX_PACKAGES: usize = 20_000;
/// The most entries looked at in one binary directory.
const MAX_DIR_ENTRIES: usize = 100_000;
/// The most signature files looked at per product.
const MAX_SIGNATURE_FILES: usize = 10_000;
/// Where compilers are looked for, on the host.
const BIN_DIRS: &[&str] = &["/usr/bin", "/bin", "/usr/local/bin"];
/// Compilers and build tools, by command name (a versioned name such as
/// `gcc-12` counts as `gcc`).
const COMPILERS: &[&str] = &[
    "cc", "c++", "gcc", "g++", "clang", "clang++", "tcc", "gfortran", "javac", "rustc", "go",
    "make", "gmake",
];
/// Packages that install a compiler or build tool (a versioned name such
/// as `gcc-12` or `openjdk-17-jdk` counts).
const COMPILER_PACKAGES: &[&str] = &[
    "build-essential",
    "gcc",
    "g++",
    "clang",
    "tcc",
    "gfortran",
    "make",
    "rustc",
    "golang-go",
    "default-jdk",
    "default-jdk-headless",
    // rpm's names (RHEL, Fedora, SUSE).
    "gcc-c++",
    "gcc-gfortran",
    "golang",
    "rust",
];

/// An anti-malware or EDR product and how to recognise it.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Product {
    /// Its name in the evidence.
    pub product: String,
    /// Package names (dpkg or rpm).
    pub packages: Vec<String>,
    /// Process names as the kernel shows them (`/proc/<pid>/comm`, at most
    /// 15 bytes).
    pub processes: Vec<String>,
    /// Install paths on the host; one existing is enough.
    pub paths: Vec<String>,
    /// Glob patterns of its signature files on the host; the newest one's
    /// modification time is the signatures' age.
    pub signatures: Vec<String>,
}

/// The products gamsa knows by name: their package and process names as
/// their vendors ship them. Others (AhnLab V3, ALYac, ...) are declared in
/// `[[probes.software.anti_malware]]` with the names their installers use.
fn builtin_products() -> Vec<Product> {
    let p = |product: &str, packages: &[&str], processes: &[&str], signatures: &[&str]| Product {
        product: product.into(),
        packages: packages.iter().map(|s| s.to_string()).collect(),
        processes: processes.iter().map(|s| s.to_string()).collect(),
        paths: vec![],
        signatures: signatures.iter().map(|s| s.to_string()).collect(),
    };
    vec![
        p(
            "ClamAV",
            &[
                "clamav",
                "clamav-daemon",
                "clamav-freshclam",
                "clamd",
                "clamav-update",
            ],
            &["clamd", "freshclam", "clamonacc"],
            &[
                "/var/lib/clamav/*.cvd",
                "/var/lib/clamav/*.cld",
                "/var/lib/clamav/*.cud",
            ],
        ),
        p(
            "CrowdStrike Falcon",
            &["falcon-sensor"],
            &["falcon-sensor", "falcond"],
            &[],
        ),
        p(
            "SentinelOne",
            &["sentinelagent", "SentinelAgent"],
            &["s1-agent", "s1-orchestrator", "s1-scanner", "s1-network"],
            &[],
        ),
        p(
            "Microsoft Defender for Endpoint",
            &["mdatp"],
            &["wdavdaemon"],
            &[],
        ),
        p(
            "Wazuh agent",
            &["wazuh-agent"],
            &["wazuh-agentd", "wazuh-syscheckd", "wazuh-modulesd"],
            &[],
        ),
        p(
            "OSSEC HIDS",
            &["ossec-hids-agent", "ossec-hids"],
            &["ossec-agentd", "ossec-syscheckd"],
            &[],
        ),
        p(
            "Trend Micro Deep Security",
            &["ds_agent"],
            &["ds_agent"],
            &[],
        ),
    ]
}

/// `[probes.software]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Anti-malware products beyond the built-in ones.
    pub anti_malware: Vec<Product>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Duration::from_secs(3600),
            anti_malware: Vec::new(),
        }
    }
}

impl Section for Config {
    fn enabled(&self) -> bool {
        self.enabled
    }

    fn validate(&self) -> Result<(), String> {
        for (i, p) in self.anti_malware.iter().enumerate() {
            let at = format!("anti_malware[{i}]");
            if p.product.trim().is_empty() {
                return Err(format!("{at}.product: empty"));
            }
            if p.packages.is_empty() && p.processes.is_empty() && p.paths.is_empty() {
                return Err(format!(
                    "{at}: '{}' names no package, process or path to recognise it by",
                    p.product
                ));
            }
            if let Some(bad) = p
                .paths
                .iter()
                .chain(&p.signatures)
                .find(|x| !x.starts_with('/'))
            {
                return Err(format!("{at}: '{bad}' is not an absolute path"));
            }
            if let Some(bad) = p.signatures.iter().find(|s| glob::Pattern::new(s).is_err()) {
                return Err(format!("{at}.signatures: '{bad}' is not a glob pattern"));
            }
        }
        Ok(())
    }

    fn build(&self, _: &crate::config::Config) -> Arc<dyn Probe> {
        Arc::new(SoftwareProbe::new(self.clone()))
    }
}

pub struct SoftwareProbe {
    config: Config,
}

impl SoftwareProbe {
    pub fn new(config: Config) -> Self {
        Self { config }
    }
}

/// `path` (absolute, on the host) with `.` and `..` resolved lexically and
/// never above the host's `/`.
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out
}

/// Whether the host path `host` is an executable file, following symlinks
/// as the host would (absolute targets under the host root, at most 16).
fn executable(root: &Path, host: &Path) -> bool {
    let mut p = normalise(host);
    for _ in 0..16 {
        let local = root.join(p.strip_prefix("/").unwrap_or(&p));
        match std::fs::symlink_metadata(&local) {
            Ok(m) if m.file_type().is_symlink() => {
                let Ok(target) = std::fs::read_link(&local) else {
                    return false;
                };
                let dir = p
                    .parent()
                    .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
                p = normalise(&dir.join(target));
            }
            Ok(m) => return m.is_file() && m.permissions().mode() & 0o111 != 0,
            Err(_) => return false,
        }
    }
    false
}

/// `name` is `base` or `base-<version>` (digits and dots).
fn versioned(name: &str, base: &str) -> bool {
    name == base
        || name
            .strip_prefix(base)
            .and_then(|r| r.strip_prefix('-'))
            .is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
}

/// A package that installs a compiler or build tool.
fn compiler_package(name: &str) -> bool {
    COMPILER_PACKAGES.iter().any(|base| versioned(name, base))
        || name.strip_prefix("openjdk-").is_some_and(|r| {
            r.split_once('-').is_some_and(|(v, kind)| {
                v.bytes().all(|b| b.is_ascii_digit()) && kind.starts_with("jdk")
            })
        })
        || name
            .strip_prefix("golang-")
            .and_then(|r| r.strip_suffix("-go"))
            .is_some_and(|v| v.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
        // rpm's JDKs: java-17-openjdk-devel, java-1.8.0-openjdk-devel.
        || name
            .strip_prefix("java-")
            .and_then(|r| r.strip_suffix("-openjdk-devel"))
            .is_some_and(|v| v.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
}

/// Compilers by file under the binary directories, then by package.
fn compilers(root: &Path, packages: &[Package], notices: &mut Vec<String>) -> Vec<Compiler> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for dir in BIN_DIRS {
        let local = root.join(dir.trim_start_matches('/'));
        // /bin is often a link to usr/bin: each directory once.
        if !seen.insert(std::fs::canonicalize(&local).unwrap_or_else(|_| local.clone())) {
            continue;
        }
        let names: BTreeSet<String> = match std::fs::read_dir(&local) {
            Ok(rd) => rd
                .take(MAX_DIR_ENTRIES)
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                notices.push(super::io_error(Path::new(dir), &e));
                continue;
            }
        };
        for name in names {
            let Some(tool) = COMPILERS.iter().find(|t| versioned(&name, t)) else {
                continue;
            };
            let host = Path::new(dir).join(&name);
            if executable(root, &host) {
                out.push(Compiler {
                    name: tool.to_string(),
                    found: host.display().to_string(),
                    by: "file".into(),
                });
            }
        }
    }
    out.extend(
        packages
            .iter()
            .filter(|p| compiler_package(&p.name))
            .map(|p| Compiler {
                name: p.name.clone(),
                found: format!("{}:{}", p.database, p.name),
                by: "package".into(),
            }),
    );
    out
}

/// The newest modification time of the files `patterns` match under root.
fn newest(root: &Path, patterns: &[String]) -> Option<SystemTime> {
    let prefix = glob::Pattern::escape(&root.display().to_string());
    patterns
        .iter()
        .filter_map(|p| {
            glob::glob(&format!(
                "{}/{}",
                prefix.trim_end_matches('/'),
                p.trim_start_matches('/')
            ))
            .ok()
        })
        .flat_map(|paths| paths.take(MAX_SIGNATURE_FILES))
        .filter_map(|p| std::fs::metadata(p.ok()?).ok()?.modified().ok())
        .max()
}

fn timestamp(t: SystemTime) -> gamsa_proto::Timestamp {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    gamsa_proto::Timestamp {
        seconds: d.as_secs() as i64,
        nanos: 0,
    }
}

/// The products found by package, process or path, with their signatures.
fn anti_malware(
    root: &Path,
    products: &[Product],
    packages: &[Package],
    processes: &BTreeSet<String>,
) -> Vec<AntiMalware> {
    products
        .iter()
        .filter_map(|p| {
            let found_packages: Vec<String> = packages
                .iter()
                .filter(|x| p.packages.contains(&x.name))
                .map(|x| format!("{} {}", x.name, x.version))
                .collect();
            let found_processes: Vec<String> = p
                .processes
                .iter()
                .filter(|x| processes.contains(*x))
                .cloned()
                .collect();
            let at_path = p
                .paths
                .iter()
                .any(|x| std::fs::symlink_metadata(root.join(x.trim_start_matches('/'))).is_ok());
            if found_packages.is_empty() && found_processes.is_empty() && !at_path {
                return None;
            }
            let updated = newest(root, &p.signatures);
            Some(AntiMalware {
                product: p.product.clone(),
                packages: found_packages,
                processes: found_processes,
                signatures_path: if updated.is_some() {
                    p.signatures.join(", ")
                } else {
                    String::new()
                },
                signatures_updated: updated.map(timestamp),
            })
        })
        .collect()
}

/// SHA-256 of the packages, one "name arch version" line each.
fn packages_hash(packages: &[Package]) -> String {
    let mut h = Sha256::new();
    for p in packages {
        h.update(format!("{} {} {}\n", p.name, p.architecture, p.version).as_bytes());
    }
    hex::encode(h.finalize())
}

/// The software evidence of the host under `root`, whose running process
/// names are `processes` (an error when they could not be read). Fails
/// only when a package database that exists cannot be read.
pub fn observe(
    root: &Path,
    processes: Result<BTreeSet<String>, String>,
    extra_products: &[Product],
) -> Result<Software, String> {
    let mut notices = Vec::new();
    let os = match lifecycle::os_support(root) {
        Ok(os) => Some(os),
        Err(why) => {
            notices.push(why);
            None
        }
    };
    let mut databases = Vec::new();
    let mut packages: Vec<Package> = Vec::new();
    let mut security_updates = SecurityUpdates::default();
    if let Some(installed) = dpkg::installed(root)? {
        let all: Vec<Package> = installed
            .iter()
            .map(|p| Package {
                name: p.name.clone(),
                version: p.version.clone(),
                architecture: p.architecture.clone(),
                database: "dpkg".into(),
            })
            .collect();
        databases.push(PackageDatabase {
            kind: "dpkg".into(),
            path: "/var/lib/dpkg/status".into(),
            count: all.len() as u32,
            sha256: packages_hash(&all),
            truncated: all.len() > MAX_PACKAGES,
            error: String::new(),
        });
        security_updates = apt::security_updates(root, &installed);
        packages = all;
    }
    // /var/lib/rpm is often a link to /usr/lib/sysimage/rpm: each
    // database once.
    let mut rpm_seen = BTreeSet::new();
    for rpmdb in rpm::SQLITE_PATHS {
        let local = root.join(rpmdb.trim_start_matches('/'));
        if !local.is_file() || !rpm_seen.insert(std::fs::canonicalize(&local).unwrap_or(local)) {
            continue;
        }
        match rpm::read_sqlite(root, rpmdb) {
            Ok(installed) => {
                let all: Vec<Package> = installed
                    .into_iter()
                    .map(|p| Package {
                        name: p.name,
                        version: p.version,
                        architecture: p.architecture,
                        database: "rpm".into(),
                    })
                    .collect();
                databases.push(PackageDatabase {
                    kind: "rpm".into(),
                    path: rpmdb.to_string(),
                    count: all.len() as u32,
                    sha256: packages_hash(&all),
                    truncated: packages.len() + all.len() > MAX_PACKAGES,
                    error: String::new(),
                });
                packages.extend(all);
            }
            Err(why) => databases.push(PackageDatabase {
                kind: "rpm".into(),
                path: rpmdb.to_string(),
                error: format!("{why}; its packages and package-installed tools are not known"),
                ..Default::default()
            }),
        }
    }
    if rpm_seen.is_empty() {
        for (rpmdb, format) in rpm::UNSUPPORTED {
            if root.join(rpmdb.trim_start_matches('/')).is_file() {
                databases.push(PackageDatabase {
                    kind: "rpm".into(),
                    path: rpmdb.to_string(),
                    error: format!("{rpmdb}: unsupported format ({format}; this agent reads rpm's SQLite database): its packages and package-installed tools are not known"),
                    ..Default::default()
                });
                break;
            }
        }
    }
    packages.sort_by(|a, b| {
        (&a.name, &a.architecture, &a.database).cmp(&(&b.name, &b.architecture, &b.database))
    });
    if databases.is_empty() {
        notices.push(
            "no package database (/var/lib/dpkg/status, /var/lib/rpm, /usr/lib/sysimage/rpm) under the host root".into(),
        );
    }
    if security_updates.manager.is_empty() {
        security_updates.error = if databases.iter().any(|d| d.kind == "rpm") {
            "pending updates of rpm packages are not known: dnf's and yum's repository metadata are not read by this agent".into()
        } else {
            "no package manager metadata this agent reads (apt)".into()
        };
    }
    let processes_read = processes.is_ok();
    let processes = processes.unwrap_or_else(|why| {
        notices.push(format!("anti-malware processes not checked: {why}"));
        BTreeSet::new()
    });
    let mut products = builtin_products();
    products.extend(extra_products.iter().cloned());
    let compilers = compilers(root, &packages, &mut notices);
    let anti_malware = anti_malware(root, &products, &packages, &processes);
    packages.truncate(MAX_PACKAGES);
    Ok(Software {
        os,
        databases,
        packages,
        security_updates: Some(security_updates),
        compilers,
        anti_malware,
        notices,
        processes_read,
    })
}

#[async_trait::async_trait]
impl Probe for SoftwareProbe {
    fn name(&self) -> &'static str {
        "software"
    }

    fn interval(&self) -> Duration {
        self.config.interval
    }

    async fn run(&self, ctx: &ProbeContext) -> Vec<Evidence> {
        let c = ctx.clone();
        let extra = self.config.anti_malware.clone();
        let result = tokio::task::spawn_blocking(move || {
            observe(&c.host_root, super::procs::names(&c), &extra)
        })
        .await;
        vec![match result {
            Ok(Ok(s)) => ctx.observed("software", &ctx.host, Payload::Software(s)),
            Ok(Err(why)) => ctx.error("software", &ctx.host, why),
            Err(e) => ctx.error("software", &ctx.host, format!("probe task failed: {e}")),
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiler_packages_by_name() {
        for yes in [
            "gcc",
            "gcc-12",
            "g++-13",
            "clang-16",
            "openjdk-17-jdk",
            "openjdk-21-jdk-headless",
            "golang-1.22-go",
            "build-essential",
            "make",
            "gcc-c++",
            "java-17-openjdk-devel",
            "java-1.8.0-openjdk-devel",
        ] {
            assert!(compiler_package(yes), "{yes}");
        }
        for no in [
            "gcc-12-base",
            "libgcc-s1",
            "openjdk-17-jre",
            "cpp",
            "makedev",
            "golang-src",
            "java-17-openjdk-headless",
            "libgcc",
        ] {
            assert!(!compiler_package(no), "{no}");
        }
    }

    #[test]
    fn paths_never_climb_above_the_host_root() {
        assert_eq!(
            normalise(Path::new("/usr/bin/../../../etc/x")),
            Path::new("/etc/x")
        );
        assert_eq!(normalise(Path::new("/a/./b")), Path::new("/a/b"));
    }
}

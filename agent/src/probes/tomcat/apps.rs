//! The web applications of an installation and the files around them:
//! each deployed context (descriptors in `conf/<Engine>/<Host>/`, then
//! directories and WARs of the host's `appBase`), its valves, error pages,
//! listings, whether it is a sample, its Struts jars; the modes of the
//! configuration and log files; application files others may write.
//!
//! Directory listings and the walk of application files are bounded in
//! entries and never follow a symlink, so a link loop or an enormous
//! application costs a bound reported in the evidence, not the agent's time.

use super::conf::{self, HostEntry, MAX_XML_BYTES};
use super::root::{resolve, under};
use super::version;
use crate::probes::files::{file_mode, Names};
use gamsa_proto::v1::{FileMode, TomcatApp, TomcatLibrary, TomcatValve};
use std::path::Path;

/// Most applications per installation.
const MAX_APPS: usize = 200;
/// Most entries of one directory listed (conf, logs, WEB-INF/lib, appBase).
const MAX_DIR_ENTRIES: usize = 2_000;
/// Most log files reported.
const MAX_LOG_FILES: usize = 500;
/// Most application entries walked for their modes, and how deep.
const MAX_SOURCE_ENTRIES: u64 = 50_000;
const MAX_SOURCE_DEPTH: usize = 32;
/// Most files others may write listed by name (all are counted).
const MAX_LISTED: usize = 20;
/// Most bytes of a ROOT index page read.
const MAX_INDEX_BYTES: u64 = 64 * 1024;

/// What the installation's files are read with.
pub struct Site<'a> {
    pub root: &'a Path,
    pub base: &'a str,
    pub home: &'a str,
    pub names: &'a Names,
    pub notices: Vec<String>,
}

impl Site<'_> {
    /// `${catalina.base}` and `${catalina.home}` replaced, then made
    /// absolute against CATALINA_BASE.
    fn path(&self, written: &str) -> String {
        let home = if self.home.is_empty() {
            self.base
        } else {
            self.home
        };
        let p = written
            .replace("${catalina.base}", self.base)
            .replace("${catalina.home}", home);
        under(self.base, &p)
    }

    /// Names in the directory `host` (sorted), at most `max`; a directory
    /// that cannot be read is a notice.
    fn list(&mut self, host: &str, max: usize) -> Vec<String> {
        let local = match resolve(self.root, host) {
            Ok(l) => l,
            Err(e) => {
                self.notices.push(e);
                return Vec::new();
            }
        };
        match std::fs::read_dir(&local) {
            Ok(entries) => {
                let mut names: Vec<String> = entries
                    .flatten()
                    .take(max)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                names.sort();
                names
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                self.notices.push(format!("{host}: {e}"));
                Vec::new()
            }
        }
    }

    /// The mode of `host`, its symlinks followed inside the root.
    pub fn stat(&self, host: &str) -> FileMode {
        match resolve(self.root, host) {
            Ok(l) => file_mode(host, std::fs::metadata(l), self.names),
            Err(e) => FileMode {
                path: host.into(),
                error: e,
                ..Default::default()
            },
        }
    }

    /// The mode of the entry `host` itself (a symlink is reported as one).
    fn lstat(&self, host: &str) -> Option<(FileMode, std::fs::Metadata)> {
        let local = resolve(self.root, parent(host)).ok()?.join(file_name(host));
        let m = std::fs::symlink_metadata(local).ok()?;
        Some((file_mode(host, Ok(m.clone()), self.names), m))
    }

    /// A parsed XML file, or None with a notice.
    fn xml<T>(&mut self, host: &str, each: impl FnOnce(&roxmltree::Document) -> T) -> Option<T> {
        let read = conf::read(self.root, host, MAX_XML_BYTES)
            .and_then(|text| conf::parse(&text, host).map(|d| each(&d)));
        read.map_err(|e| self.notices.push(e)).ok()
    }
}

fn parent(host: &str) -> &str {
    host.rsplit_once('/')
        .map_or("/", |(p, _)| if p.is_empty() { "/" } else { p })
}

fn file_name(host: &str) -> &str {
    host.rsplit_once('/').map_or(host, |(_, n)| n)
}

/// The files of conf/ and the context descriptors, conf/ itself first.
pub fn config_files(site: &mut Site, hosts: &[HostEntry]) -> Vec<FileMode> {
    let conf_dir = site.path("conf");
    let mut out = vec![site.stat(&conf_dir)];
    let mut dirs = vec![conf_dir];
    dirs.extend(
        hosts
            .iter()
            .map(|h| site.path(&format!("conf/{}/{}", h.engine, h.name))),
    );
    for d in dirs {
        for n in site.list(&d, MAX_DIR_ENTRIES) {
            if let Some((f, m)) = site.lstat(&format!("{d}/{n}")) {
                if m.is_file() {
                    out.push(f);
                }
            }
        }
    }
    out
}

/// The log directories (logs/ and each AccessLogValve's) and their files.
pub fn logs(site: &mut Site, valves: &[TomcatValve]) -> (Vec<FileMode>, Vec<FileMode>, bool) {
    let mut dirs = vec![site.path("logs")];
    for v in valves
        .iter()
        .filter(|v| v.class_name.ends_with("AccessLogValve"))
    {
        let d = site.path(v.attributes.get("directory").map_or("logs", String::as_str));
        if !dirs.contains(&d) {
            dirs.push(d);
        }
    }
    let (mut modes, mut files, mut complete) = (Vec::new(), Vec::new(), true);
    for d in &dirs {
        let m = site.stat(d);
        if !m.exists {
            modes.push(m);
            continue;
        }
        modes.push(m);
        let names = site.list(d, MAX_DIR_ENTRIES + 1);
        complete &= names.len() <= MAX_DIR_ENTRIES;
        for n in names.iter().take(MAX_DIR_ENTRIES) {
            if files.len() >= MAX_LOG_FILES {
                complete = false;
                break;
            }
            if let Some((f, meta)) = site.lstat(&format!("{d}/{n}")) {
                if meta.is_file() {
                    files.push(f);
                }
            }
        }
    }
    (modes, files, complete)
}

/// Every application deployed on the installation's hosts. `shared`: the
/// valves of conf/context.xml, which apply to every context.
pub fn apps(site: &mut Site, hosts: &[HostEntry], shared: &[TomcatValve]) -> Vec<TomcatApp> {
    let mut out: Vec<TomcatApp> = Vec::new();
    for h in hosts {
        let descriptors = site.path(&format!("conf/{}/{}", h.engine, h.name));
        for n in site.list(&descriptors, MAX_DIR_ENTRIES) {
            let Some(stem) = n.strip_suffix(".xml") else {
                continue;
            };
            let file = format!("{descriptors}/{n}");
            let Some((doc_base, valves)) = site.xml(&file, |d| {
                (
                    d.root_element().attribute("docBase").map(str::to_string),
                    conf::context_valves(d, "Context", &file),
                )
            }) else {
                continue;
            };
            let doc_base = match doc_base {
                Some(b) => site.path(&b),
                None => under(&site.path(&h.app_base), stem),
            };
            out.push(TomcatApp {
                name: stem.replace('#', "/"),
                doc_base,
                descriptor: file,
                valves,
                host: h.name.clone(),
                ..Default::default()
            });
        }
        let app_base = site.path(&h.app_base);
        for n in site.list(&app_base, MAX_DIR_ENTRIES) {
            let name = n.strip_suffix(".war").unwrap_or(&n).replace('#', "/");
            if out.iter().any(|a| a.host == h.name && a.name == name) {
                continue;
            }
            let doc_base = format!("{app_base}/{n}");
            let is_dir = resolve(site.root, &doc_base).is_ok_and(|l| l.is_dir());
            if !is_dir && !n.ends_with(".war") {
                continue;
            }
            let meta = format!("{doc_base}/META-INF/context.xml");
            let exists = resolve(site.root, &meta).is_ok_and(|l| l.is_file());
            let valves = if exists {
                site.xml(&meta, |d| conf::context_valves(d, "Context", &meta))
                    .unwrap_or_default()
            } else {
                Vec::new()
            };
            out.push(TomcatApp {
                name,
                doc_base,
                descriptor: if exists { meta } else { String::new() },
                valves,
                host: h.name.clone(),
                ..Default::default()
            });
        }
    }
    out.truncate(MAX_APPS);
    for a in &mut out {
        a.valves.extend(shared.iter().cloned());
        inspect(site, a);
    }
    out
}

/// An application's web.xml, sample status and Struts jars.
fn inspect(site: &mut Site, a: &mut TomcatApp) {
    if !resolve(site.root, &a.doc_base).is_ok_and(|l| l.is_dir()) {
        return;
    }
    let web = format!("{}/WEB-INF/web.xml", a.doc_base);
    if resolve(site.root, &web).is_ok_and(|l| l.is_file()) {
        if let Some(w) = site.xml(&web, conf::web_xml) {
            a.error_pages = w.error_pages;
            a.listings = w.listings.unwrap_or_default();
        }
    }
    a.sample = sample(site, a).unwrap_or_default().to_string();
    let lib = format!("{}/WEB-INF/lib", a.doc_base);
    for n in site.list(&lib, MAX_DIR_ENTRIES) {
        let path = format!("{lib}/{n}");
        let Ok(local) = resolve(site.root, &path) else {
            continue;
        };
        match version::struts(&n, &local) {
            Some(Ok(v)) => a.struts.push(TomcatLibrary {
                version_number: version::number(&v),
                version: v,
                path,
            }),
            Some(Err(e)) => {
                site.notices.push(format!("{path}: {e}"));
                a.struts.push(TomcatLibrary {
                    path,
                    ..Default::default()
                });
            }
            None => {}
        }
    }
}

/// Whether an application is one Tomcat ships as a sample or default.
fn sample(site: &Site, a: &TomcatApp) -> Option<&'static str> {
    let base = a.doc_base.to_ascii_lowercase();
    if a.name == "examples" || base.ends_with("/examples") {
        return Some("examples");
    }
    if a.name == "docs" || a.name == "tomcat-docs" || base.ends_with("-docs") {
        return Some("docs");
    }
    if a.name != "ROOT" && !a.name.is_empty() {
        return None;
    }
    ["index.html", "index.jsp"].iter().find_map(|i| {
        let local = resolve(site.root, &format!("{}/{i}", a.doc_base)).ok()?;
        let page = conf::read_bytes(&local, MAX_INDEX_BYTES).ok()?;
        let page = String::from_utf8_lossy(&page);
        (page.contains("Congratulations") && page.contains("Tomcat")).then_some("default ROOT page")
    })
}

/// Application files others may write: each directory in `dirs` walked
/// without following symlinks. (listed, entries checked, complete).
pub fn writable_by_others(site: &Site, dirs: &[String]) -> (Vec<String>, u64, bool) {
    let (mut listed, mut checked, mut complete) = (Vec::new(), 0u64, true);
    let mut walked: Vec<std::path::PathBuf> = Vec::new();
    for d in dirs {
        let Ok(local) = resolve(site.root, d) else {
            continue;
        };
        // A docBase inside an appBase already walked is not walked again.
        if walked.iter().any(|w| local.starts_with(w)) {
            continue;
        }
        walked.push(local.clone());
        let mut stack = vec![(local, d.clone(), 0usize)];
        while let Some((local, host, depth)) = stack.pop() {
            let Ok(m) = std::fs::symlink_metadata(&local) else {
                continue;
            };
            checked += 1;
            if checked > MAX_SOURCE_ENTRIES {
                return (listed, checked - 1, false);
            }
            if !m.file_type().is_symlink() && m_mode(&m) & 0o002 != 0 && listed.len() < MAX_LISTED {
                listed.push(host.clone());
            }
            if m.is_dir() {
                if depth >= MAX_SOURCE_DEPTH {
                    complete = false;
                    continue;
                }
                let Ok(entries) = std::fs::read_dir(&local) else {
                    complete = false;
                    continue;
                };
                for e in entries.flatten() {
                    if checked + stack.len() as u64 >= MAX_SOURCE_ENTRIES {
                        complete = false;
                        break;
                    }
                    let n = e.file_name().to_string_lossy().into_owned();
                    stack.push((e.path(), format!("{host}/{n}"), depth + 1));
                }
            }
        }
    }
    (listed, checked, complete)
}

fn m_mode(m: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::MetadataExt;
    m.mode()
}

//! `tomcat`: each Apache Tomcat installation on the host, with the facts
//! the Tomcat hardening checks (TOM-101 to TOM-503) read: who may reach
//! the manager applications, the console's users and facts about their
//! passwords (never a password), file modes of configuration, logs and
//! application files, the process user, error pages, directory listings,
//! sample applications, the access log, Tomcat's and Struts' versions and
//! the connectors' SSL protocols.
//!
//! Installations are found from running JVMs (`-Dcatalina.base=`) and from
//! configured CATALINA_BASE paths, so a stopped Tomcat or one in a fixture
//! root is assessed as well. Everything is read under the host root
//! (`tomcat/root.rs`), each file bounded; a file that cannot be read is
//! named in the installation's notices or errors, never taken as a pass.

mod apps;
mod conf;
mod discover;
mod root;
mod version;

use super::files::Names;
use super::{Probe, ProbeContext};
use gamsa_proto::v1::{evidence::Payload, Evidence, Tomcat, TomcatInstance};
use serde::Deserialize;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// `[probes.tomcat]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// CATALINA_BASE directories assessed whether Tomcat runs or not (those
    /// that do not exist are skipped); running ones are found by process.
    pub paths: Vec<String>,
    /// Also look for running Tomcat processes.
    pub processes: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Duration::from_secs(3600),
            paths: ["/var/lib/tomcat9", "/var/lib/tomcat10", "/var/lib/tomcat11"]
                .map(String::from)
                .to_vec(),
            processes: true,
        }
    }
}

impl super::Section for Config {
    fn enabled(&self) -> bool {
        self.enabled
    }

    fn validate(&self) -> Result<(), String> {
        match self.paths.iter().find(|p| !p.starts_with('/')) {
            Some(p) => Err(format!("paths: {p:?} is not an absolute path")),
            None => Ok(()),
        }
    }

    fn build(&self, _: &crate::config::Config) -> Arc<dyn Probe> {
        Arc::new(TomcatProbe {
            config: self.clone(),
        })
    }
}

pub struct TomcatProbe {
    config: Config,
}

impl From<Config> for TomcatProbe {
    fn from(config: Config) -> Self {
        Self { config }
    }
}

/// The tomcat evidence of the host under `root`.
pub fn observe(root: &Path, config: &Config) -> Result<Tomcat, String> {
    let names = Names::of(root)?;
    let mut notices = Vec::new();
    let running = if config.processes {
        discover::processes(root, &mut notices)
    } else {
        Vec::new()
    };
    let found = discover::merge(running, discover::configured(root, &config.paths));
    let instances = found
        .into_iter()
        .map(|f| instance(root, f, &names))
        .collect();
    Ok(Tomcat { instances, notices })
}

fn instance(root: &Path, f: discover::Found, names: &Names) -> TomcatInstance {
    let home = if f.home.is_empty() {
        discover::home_of(root, &f.base)
    } else {
        f.home.clone()
    };
    let mut i = TomcatInstance {
        base: f.base.clone(),
        home: home.clone(),
        found_by: f.found_by.into(),
        ..Default::default()
    };
    if let Some((pid, uid)) = f.process {
        i.running = true;
        i.pid = pid;
        i.process_uid = uid;
        i.process_user = names.user(uid);
    }
    let mut site = apps::Site {
        root,
        base: &f.base,
        home: &home,
        names,
        notices: Vec::new(),
    };
    if !home.is_empty() {
        match root::resolve(root, &home).and_then(|h| version::tomcat(&h)) {
            Ok(Some((v, source))) => {
                i.version_number = version::number(&v);
                i.branch = version::branch(&v);
                i.version = v;
                i.version_source = source.into();
            }
            Ok(None) => site
                .notices
                .push(format!("{home}: no Tomcat version found")),
            Err(e) => site.notices.push(format!("{home}/{e}")),
        }
    }

    let server_file = root::under(&f.base, "conf/server.xml");
    let server = match conf::read(root, &server_file, conf::MAX_XML_BYTES)
        .and_then(|t| conf::parse(&t, &server_file).map(|d| conf::server(&d, &server_file)))
    {
        Ok(s) => s,
        Err(e) => {
            i.server_xml_error = e;
            conf::Server::default()
        }
    };
    i.connectors = server.connectors.clone();
    i.server_valves = server.valves.clone();
    i.passwords_digested = server.passwords_digested;

    i.users_file = root::under(
        &f.base,
        server
            .users_file
            .as_deref()
            .unwrap_or("conf/tomcat-users.xml"),
    );
    match conf::read(root, &i.users_file, conf::MAX_XML_BYTES)
        .and_then(|t| conf::parse(&t, &i.users_file).map(|d| conf::users(&d, i.passwords_digested)))
    {
        Ok(u) => i.users = u,
        Err(e) => i.users_error = e,
    }

    let web_file = root::under(&f.base, "conf/web.xml");
    match conf::read(root, &web_file, conf::MAX_XML_BYTES)
        .and_then(|t| conf::parse(&t, &web_file).map(|d| conf::web_xml(&d)))
    {
        Ok(w) => {
            i.error_pages = w.error_pages;
            i.listings = w.listings.is_some_and(|l| l == "true");
        }
        Err(e) => i.web_xml_error = e,
    }

    let context_file = root::under(&f.base, "conf/context.xml");
    let shared = match conf::read(root, &context_file, conf::MAX_XML_BYTES).and_then(|t| {
        conf::parse(&t, &context_file)
            .map(|d| conf::context_valves(&d, "conf/context.xml", &context_file))
    }) {
        Ok(v) => v,
        Err(e) => {
            site.notices.push(e);
            Vec::new()
        }
    };

    i.apps = apps::apps(&mut site, &server.hosts, &shared);
    i.config_files = apps::config_files(&mut site, &server.hosts);
    if !i.config_files.iter().any(|c| c.path == i.users_file) {
        i.config_files.push(site.stat(&i.users_file));
    }
    let (log_dirs, log_files, complete) = apps::logs(&mut site, &server.valves);
    i.log_dirs = log_dirs;
    i.log_files = log_files;
    i.log_files_complete = complete;
    let mut sources: Vec<String> = server
        .hosts
        .iter()
        .map(|h| root::under(&f.base, &h.app_base))
        .collect();
    sources.extend(i.apps.iter().map(|a| a.doc_base.clone()));
    let (listed, checked, complete) = apps::writable_by_others(&site, &sources);
    i.source_writable_by_others = listed;
    i.source_entries_checked = checked;
    i.source_walk_complete = complete;
    i.notices = site.notices;
    i
}

#[async_trait::async_trait]
impl Probe for TomcatProbe {
    fn name(&self) -> &'static str {
        "tomcat"
    }

    fn interval(&self) -> Duration {
        self.config.interval
    }

    async fn run(&self, ctx: &ProbeContext) -> Vec<Evidence> {
        let root = ctx.host_root.clone();
        let config = self.config.clone();
        vec![
            match tokio::task::spawn_blocking(move || observe(&root, &config)).await {
                Ok(Ok(t)) => ctx.observed("tomcat", &ctx.host, Payload::Tomcat(t)),
                Ok(Err(why)) => ctx.error("tomcat", &ctx.host, why),
                Err(e) => ctx.error("tomcat", &ctx.host, format!("probe task failed: {e}")),
            },
        ]
    }
}

//! `authentication`: how users authenticate to this host and what their
//! sessions get (U-01, U-02, U-03, U-06, U-12, U-13, U-30, U-62).
//!
//! The SSH server's settings come from the server itself where it can say:
//! on the host's own root (`/`) with its binary present, `sshd -T` prints the
//! effective configuration, defaults and `Include`s resolved. In a
//! container reading the node's files under `/host`, the node's binary may
//! not run and absolute `Include` paths would point into the container, so
//! the configuration is parsed as sshd reads it: the first value of a
//! keyword counts, `Include` globs are read in place (under the host root),
//! `Match` blocks are left out, and the defaults rules ask about are filled
//! in. PAM, login.defs and the profiles are read as files; anything that
//! cannot be read is a notice naming the file, never a silent default.

use super::config_files::{HostFiles, MAX_DEPTH};
use super::{Probe, ProbeContext};
use gamsa_proto::v1::{
    evidence::Payload, Authentication, Banner, Evidence, SshServer, UmaskSetting,
};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long `sshd -T` may take.
const SSHD_TIMEOUT: Duration = Duration::from_secs(10);

/// `[probes.authentication]`: its schedule alone.
pub type Config = super::Scheduled<AuthenticationProbe>;

impl super::Every for AuthenticationProbe {}

impl From<Config> for AuthenticationProbe {
    fn from(config: Config) -> Self {
        Self { config }
    }
}

pub struct AuthenticationProbe {
    config: Config,
}

/// Defaults of the keywords the rules read, as `sshd -T` prints them when
/// the configuration does not set them (OpenSSH 9).
const SSHD_DEFAULTS: &[(&str, &str)] = &[
    ("permitrootlogin", "prohibit-password"),
    ("passwordauthentication", "yes"),
    ("permitemptypasswords", "no"),
    ("maxauthtries", "6"),
    ("banner", "none"),
    ("clientaliveinterval", "0"),
    ("clientalivecountmax", "3"),
];

/// `sshd -T` output: "keyword value" lines; the first of a keyword counts.
/// Values are normalised as parsed ones are (OpenSSH 9 still prints the old
/// name `without-password`).
pub fn parse_sshd_t(out: &str) -> BTreeMap<String, String> {
    let mut settings = BTreeMap::new();
    for line in out.lines() {
        if let Some((k, v)) = line.split_once(' ') {
            let k = k.to_ascii_lowercase();
            let v = normalise(&k, v);
            settings.entry(k).or_insert(v);
        }
    }
    settings
}

/// Runs `sshd -T -f config`; its effective settings or why not.
pub fn sshd_effective(binary: &Path, config: &Path) -> Result<BTreeMap<String, String>, String> {
    let mut child = std::process::Command::new(binary)
        .arg("-T")
        .arg("-f")
        .arg(config)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", binary.display()))?;
    let deadline = std::time::Instant::now() + SSHD_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{} -T: no answer within {SSHD_TIMEOUT:?}",
                    binary.display()
                ));
            }
        }
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "{} -T: {}",
            binary.display(),
            err.lines().next().unwrap_or("failed").trim()
        ));
    }
    Ok(parse_sshd_t(&String::from_utf8_lossy(&out.stdout)))
}

/// A value as `sshd -T` prints it: yes/no keywords in lower case; the old
/// name of prohibit-password (`without-password`) replaced by the new.
fn normalise(keyword: &str, value: &str) -> String {
    let v = value.trim().trim_matches('"');
    match (keyword, v.to_ascii_lowercase().as_str()) {
        ("permitrootlogin", "without-password") => "prohibit-password".into(),
        (_, l @ ("yes" | "no" | "prohibit-password" | "forced-commands-only")) => l.into(),
        _ => v.to_string(),
    }
}

/// sshd_config parsed as sshd reads it (see the module docs).
fn sshd_parsed(r: &mut HostFiles, host_config: &str) -> (BTreeMap<String, String>, Vec<String>) {
    fn read(
        r: &mut HostFiles,
        host: &str,
        depth: usize,
        seen: &mut HashSet<String>,
        settings: &mut BTreeMap<String, String>,
        files: &mut Vec<String>,
    ) {
        if depth > MAX_DEPTH || !seen.insert(host.to_string()) {
            r.notices.push(format!(
                "{host}: included in a loop or too deep, not read again"
            ));
            return;
        }
        let Some(text) = r.text(host) else { return };
        files.push(host.to_string());
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (keyword, value) = match line.split_once(|c: char| c.is_whitespace() || c == '=') {
                Some((k, v)) => (
                    k.to_ascii_lowercase(),
                    v.trim().trim_start_matches('=').trim(),
                ),
                None => (line.to_ascii_lowercase(), ""),
            };
            match keyword.as_str() {
                // What follows a Match applies to some connections only.
                "match" => return,
                "include" => {
                    for pattern in value.split_whitespace() {
                        let pattern = if pattern.starts_with('/') {
                            pattern.to_string()
                        } else {
                            format!("/etc/ssh/{pattern}")
                        };
                        for f in r.glob(&pattern) {
                            read(r, &f, depth + 1, seen, settings, files);
                        }
                    }
                }
                _ => {
                    let v = normalise(&keyword, value);
                    settings.entry(keyword).or_insert(v);
                }
            }
        }
    }
    let mut settings = BTreeMap::new();
    let mut files = Vec::new();
    read(
        r,
        host_config,
        0,
        &mut HashSet::new(),
        &mut settings,
        &mut files,
    );
    if !files.is_empty() {
        for (k, v) in SSHD_DEFAULTS {
            settings
                .entry(k.to_string())
                .or_insert_with(|| v.to_string());
        }
    }
    (settings, files)
}

const SSHD_CONFIG: &str = "/etc/ssh/sshd_config";

/// The sshd configuration `config` (a host path) under `root` as this probe
/// parses it, with the files read; what could not be read goes to `notices`.
pub fn sshd_config_parsed(
    root: &Path,
    config: &str,
    notices: &mut Vec<String>,
) -> (BTreeMap<String, String>, Vec<String>) {
    let mut r = HostFiles::new(root);
    let parsed = sshd_parsed(&mut r, config);
    notices.extend(r.notices);
    parsed
}

fn ssh(r: &mut HostFiles, sshd_binary: &Path) -> SshServer {
    let binary_present = r.root == Path::new("/") && sshd_binary.exists();
    let config_present = r.local(SSHD_CONFIG).exists();
    let mut server = SshServer {
        present: binary_present || config_present,
        ..Default::default()
    };
    if binary_present {
        match sshd_effective(sshd_binary, &r.local(SSHD_CONFIG)) {
            Ok(settings) => {
                server.source = "sshd -T".into();
                server.settings = settings.into_iter().collect();
                server.files = vec![SSHD_CONFIG.into()];
                return server;
            }
            Err(why) => server.fallback_reason = why,
        }
    } else if config_present {
        server.fallback_reason = if r.root == Path::new("/") {
            format!("{} not found", sshd_binary.display())
        } else {
            "the host root is not /: the node's sshd is not run from here".into()
        };
    }
    if config_present {
        let (settings, files) = sshd_parsed(r, SSHD_CONFIG);
        server.source = "sshd_config".into();
        server.settings = settings.into_iter().collect();
        server.files = files;
    }
    server
}

/// `KEY value` lines (login.defs); the last value of a key counts.
fn key_values(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.split_once(char::is_whitespace)?;
            Some((k.to_string(), v.trim().to_string()))
        })
        .collect()
}

/// `key = value` lines (pwquality.conf, faillock.conf); a bare word is
/// a flag ("enforce_for_root" → "").
fn conf_values(text: &str, into: &mut BTreeMap<String, String>) {
    for l in text.lines().map(str::trim) {
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        match l.split_once('=') {
            Some((k, v)) => into.insert(k.trim().to_string(), v.trim().to_string()),
            None => into.insert(l.to_string(), String::new()),
        };
    }
}

/// One PAM rule: type, control, module file name, arguments.
struct PamLine {
    kind: String,
    control: String,
    module: String,
    args: Vec<String>,
}

/// The rules of a PAM service file, includes followed in place.
fn pam_stack(
    r: &mut HostFiles,
    service: &str,
    depth: usize,
    files: &mut Vec<String>,
) -> Vec<PamLine> {
    let host = format!("/etc/pam.d/{service}");
    if depth > MAX_DEPTH {
        r.notices
            .push(format!("{host}: included too deep, not read"));
        return vec![];
    }
    let Some(text) = r.text(&host) else {
        return vec![];
    };
    if !files.contains(&host) {
        files.push(host.clone());
    }
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if words[0] == "@include" {
            if let Some(inc) = words.get(1) {
                out.extend(pam_stack(r, inc, depth + 1, files));
            }
            continue;
        }
        // A control in brackets may hold spaces: "[success=1 default=ignore]".
        let (control, rest) = if words.get(1).is_some_and(|w| w.starts_with('[')) {
            let end = words.iter().position(|w| w.ends_with(']')).unwrap_or(1);
            (words[1..=end].join(" "), &words[end + 1..])
        } else {
            (
                words.get(1).unwrap_or(&"").to_string(),
                words.get(2..).unwrap_or(&[]),
            )
        };
        let kind = words[0].trim_start_matches('-').to_string();
        if control == "include" || control == "substack" {
            if let Some(inc) = rest.first() {
                out.extend(
                    pam_stack(r, inc, depth + 1, files)
                        .into_iter()
                        .filter(|l| l.kind == kind),
                );
            }
            continue;
        }
        let Some(module) = rest.first() else { continue };
        out.push(PamLine {
            kind,
            control,
            module: module.rsplit('/').next().unwrap_or(module).to_string(),
            args: rest[1..].iter().map(|a| a.to_string()).collect(),
        });
    }
    out
}

/// The services whose stacks say how passwords are set and logins checked,
/// Debian's and Red Hat's names.
const PAM_SERVICES: &[&str] = &[
    "common-password",
    "common-auth",
    "system-auth",
    "password-auth",
];

/// Shell profiles where TMOUT and umask are set for every user.
const PROFILES: &[&str] = &[
    "/etc/profile",
    "/etc/profile.d/*.sh",
    "/etc/bash.bashrc",
    "/etc/bashrc",
    "/etc/csh.cshrc",
    "/etc/csh.login",
];

/// TMOUT and umask assignments in one profile's text.
fn profile_settings(
    host: &str,
    text: &str,
    tmout: &mut Option<(i64, String)>,
    umasks: &mut Vec<UmaskSetting>,
) {
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        for stmt in line.split(';').map(str::trim) {
            let words: Vec<&str> = stmt.split_whitespace().collect();
            let assign = words
                .iter()
                .find_map(|w| w.strip_prefix("TMOUT="))
                .or_else(|| {
                    (words.first() == Some(&"set") && words.get(1) == Some(&"autologout"))
                        .then(|| words.get(2).copied().unwrap_or(""))
                        .map(|m| m.trim_start_matches('='))
                });
            if let Some(v) = assign {
                let csh = stmt.contains("autologout");
                if let Ok(n) = v.trim_matches(|c| c == '"' || c == '\'').parse::<i64>() {
                    // csh's autologout is in minutes.
                    let secs = if csh { n * 60 } else { n };
                    if secs > 0 && tmout.as_ref().is_none_or(|(t, _)| secs < *t) {
                        *tmout = Some((secs, format!("{host}:{}", i + 1)));
                    }
                }
            }
            if words.first() == Some(&"umask") {
                if let Some(v) = words
                    .get(1)
                    .filter(|v| v.bytes().all(|b| (b'0'..=b'7').contains(&b)))
                {
                    umasks.push(UmaskSetting {
                        file: host.to_string(),
                        line: i as u32 + 1,
                        value: v.to_string(),
                        mask: u32::from_str_radix(v, 8).unwrap_or(0),
                    });
                }
            }
        }
    }
}

/// The authentication evidence of the host under `root`.
pub fn observe(root: &Path, sshd_binary: &Path) -> Authentication {
    let mut r = HostFiles::new(root);
    let mut a = Authentication {
        ssh: Some(ssh(&mut r, sshd_binary)),
        tmout_seconds: -1,
        ..Default::default()
    };
    if let Some(t) = r.text("/etc/login.defs") {
        a.login_defs = key_values(&t).into_iter().collect();
        if let Some(v) = a.login_defs.get("UMASK") {
            let line = t
                .lines()
                .position(|l| l.trim_start().starts_with("UMASK"))
                .map_or(0, |i| i as u32 + 1);
            a.umasks.push(UmaskSetting {
                file: "/etc/login.defs".into(),
                line,
                value: v.clone(),
                mask: u32::from_str_radix(v.trim_start_matches("0o"), 8).unwrap_or(0),
            });
        }
    }
    let mut pwquality = BTreeMap::new();
    for f in std::iter::once("/etc/security/pwquality.conf".to_string())
        .chain(r.glob("/etc/security/pwquality.conf.d/*.conf"))
    {
        if let Some(t) = r.text(&f) {
            conf_values(&t, &mut pwquality);
        }
    }
    let mut lockout = BTreeMap::new();
    if let Some(t) = r.text("/etc/security/faillock.conf") {
        conf_values(&t, &mut lockout);
    }
    let mut pam_files = Vec::new();
    for service in PAM_SERVICES {
        for l in pam_stack(&mut r, service, 0, &mut pam_files) {
            let args = || {
                l.args.iter().map(|a| match a.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => (a.clone(), String::new()),
                })
            };
            let module = l.module.trim_end_matches(".so");
            match (l.kind.as_str(), module) {
                ("password", "pam_pwquality" | "pam_cracklib") => {
                    a.pwquality_module = module.into();
                    pwquality.extend(args());
                }
                ("auth", "pam_faillock" | "pam_tally2") => {
                    a.lockout_module = module.into();
                    lockout.extend(args());
                }
                _ => {}
            }
        }
    }
    a.pwquality = pwquality.into_iter().collect();
    a.lockout = lockout.into_iter().collect();
    for l in pam_stack(&mut r, "su", 0, &mut pam_files) {
        if l.kind == "auth"
            && l.module.trim_end_matches(".so") == "pam_wheel"
            && (l.control == "required" || l.control == "requisite")
            && !l.args.iter().any(|x| x == "trust" || x == "deny")
        {
            a.su_restricted = true;
            a.su_group = l
                .args
                .iter()
                .find_map(|x| x.strip_prefix("group="))
                .unwrap_or("wheel")
                .to_string();
        }
    }
    a.pam_files = pam_files;
    let mut tmout = None;
    for pattern in PROFILES {
        let files = if pattern.contains('*') {
            r.glob(pattern)
        } else {
            vec![pattern.to_string()]
        };
        for f in files {
            if let Some(t) = r.text(&f) {
                profile_settings(&f, &t, &mut tmout, &mut a.umasks);
            }
        }
    }
    if let Some((secs, source)) = tmout {
        a.tmout_seconds = secs;
        a.tmout_source = source;
    }
    let mut banners: Vec<String> = ["/etc/issue", "/etc/issue.net", "/etc/motd"]
        .map(String::from)
        .to_vec();
    if let Some(b) = a
        .ssh
        .as_ref()
        .and_then(|s| s.settings.get("banner"))
        .filter(|b| *b != "none")
    {
        banners.push(b.clone());
    }
    for path in banners {
        let text = r.text(&path);
        a.banners.push(Banner {
            present: text.is_some(),
            length: text.map_or(0, |t| {
                t.chars().filter(|c| !c.is_whitespace()).count() as u64
            }),
            path,
        });
    }
    a.notices = r.notices;
    a
}

#[async_trait::async_trait]
impl Probe for AuthenticationProbe {
    fn name(&self) -> &'static str {
        "authentication"
    }

    fn interval(&self) -> Duration {
        self.config.interval
    }

    async fn run(&self, ctx: &ProbeContext) -> Vec<Evidence> {
        let root = ctx.host_root.clone();
        let sshd = PathBuf::from("/usr/sbin/sshd");
        vec![
            match tokio::task::spawn_blocking(move || observe(&root, &sshd)).await {
                Ok(a) => ctx.observed("authentication", &ctx.host, Payload::Authentication(a)),
                Err(e) => ctx.error(
                    "authentication",
                    &ctx.host,
                    format!("probe task failed: {e}"),
                ),
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_tmout_and_umask() {
        let mut tmout = None;
        let mut umasks = vec![];
        profile_settings(
            "/etc/profile",
            "# TMOUT=1\nreadonly TMOUT=600; export TMOUT\numask 027\nTMOUT=900\n",
            &mut tmout,
            &mut umasks,
        );
        assert_eq!(tmout, Some((600, "/etc/profile:2".into())));
        assert_eq!(umasks.len(), 1);
        assert_eq!(umasks[0].value, "027");
    }

    #[test]
    fn sshd_t_first_value_counts() {
        let s = parse_sshd_t("permitrootlogin no\nhostkey /a\nhostkey /b\n");
        assert_eq!(s["permitrootlogin"], "no");
        assert_eq!(s["hostkey"], "/a");
    }
}

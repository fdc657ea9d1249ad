//! The SNMP agent's `snmpd.conf`: each community line described without
//! its community (a secret: only whether it is a default name, its length
//! and character classes, and the source it is limited to), and the SNMPv3
//! users granted access.

use super::super::config_files::{HostFiles, MAX_ENTRIES};
use gamsa_proto::v1::{SnmpCommunity, SnmpServer};

const COMMUNITY: &[&str] = &["rocommunity", "rwcommunity", "rocommunity6", "rwcommunity6"];
const SEC_NAME: &[&str] = &["com2sec", "com2sec6"];
const V3_USERS: &[&str] = &["rouser", "rwuser", "createuser"];

pub fn server(f: &mut HostFiles) -> SnmpServer {
    let config = "/etc/snmp/snmpd.conf";
    let Some(text) = f.text(config) else {
        return SnmpServer::default();
    };
    let mut s = SnmpServer {
        present: true,
        config: config.into(),
        ..Default::default()
    };
    for (n, line) in text.lines().enumerate() {
        let w: Vec<&str> = line
            .split('#')
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        let Some(directive) = w.first().map(|d| d.to_ascii_lowercase()) else {
            continue;
        };
        // Options such as `-V view` or `-Cn context` come before the fields.
        let fields: Vec<&str> = {
            let mut out = vec![];
            let mut skip = false;
            for x in &w[1..] {
                if skip {
                    skip = false;
                } else if x.starts_with('-') {
                    skip = x.len() == 2 || x.len() == 3 && x.starts_with("-C");
                } else {
                    out.push(*x);
                }
            }
            out
        };
        let (community, source) = if COMMUNITY.contains(&directive.as_str()) {
            (fields.first(), fields.get(1))
        } else if SEC_NAME.contains(&directive.as_str()) {
            (fields.get(2), fields.get(1))
        } else {
            if V3_USERS.contains(&directive.as_str()) {
                s.v3_users += 1;
            }
            continue;
        };
        let Some(c) = community else { continue };
        if s.communities.len() >= MAX_ENTRIES {
            break;
        }
        s.communities.push(SnmpCommunity {
            directive,
            line: n as u32 + 1,
            default_name: c.eq_ignore_ascii_case("public") || c.eq_ignore_ascii_case("private"),
            length: c.chars().count() as u32,
            has_letter: c.chars().any(|x| x.is_alphabetic()),
            has_digit: c.chars().any(|x| x.is_ascii_digit()),
            has_special: c.chars().any(|x| !x.is_alphanumeric()),
            source: source.map_or("", |s| s).to_string(),
        });
    }
    s
}

//! The probe registry: every kind of evidence, declared once.
//!
//! One line per probe gives its name (the evidence's `probe`, which is also
//! its agent configuration section `[probes.<name>]`), the section's former
//! names, its payload (the `Evidence.payload` variant and that field's JSON
//! key) and the function that summarises it in one line. Everything else is
//! generated from the line: here the name ↔ payload table the collector's
//! rules use ([`PROBES`]) and the summaries; in the agent the `[probes]`
//! configuration, `enabled()` and the validation of each section (the
//! agent expands [`for_each_probe!`] with its own macro, as wasmtime's
//! `foreach_builtin_function!` is expanded by each user). Nothing else in
//! the workspace lists probes.

use crate::v1::evidence::Payload;

/// Calls the macro `$callback` with the registry: `probes { … }`, one line
/// per probe the agent runs, then `notices { … }`, the evidence the agent
/// reports about itself (no configuration section).
///
/// A line: `name [alias "old"]: PayloadVariant("jsonKey") [, summary fn];`
/// where `fn` names a function of [`crate::summary`] (without one, the
/// summary is the payload's JSON, cut short).
#[macro_export]
macro_rules! for_each_probe {
    ($callback:ident) => {
        $callback! {
            probes {
                host: HostInfo("hostInfo"), summary host;
                ports: ListeningSockets("listeningSockets"), summary ports;
                tls: TlsEndpoint("tlsEndpoint"), summary tls;
                port_scan alias "scan": PortScan("portScan"), summary port_scan;
                backup: BackupArtifact("backupArtifact"), summary backup;
                encryption: DiskEncryption("diskEncryption"), summary encryption;
                region: CloudRegion("cloudRegion"), summary region;
                redundancy: NetworkRedundancy("networkRedundancy"), summary redundancy;
                time_sync: TimeSync("timeSync"), summary time_sync;
                accounts: Accounts("accounts"), summary accounts;
                authentication: Authentication("authentication"), summary authentication;
                files: FileModes("fileModes"), summary files;
                services: Services("services"), summary services;
                logging: Logging("logging"), summary logging;
                software: Software("software"), summary software;
                tomcat: Tomcat("tomcat"), summary tomcat;
                config_drift: ConfigDrift("configDrift"), summary config_drift;
                monitoring: Monitoring("monitoring"), summary monitoring;
                synthetic: SyntheticCheck("syntheticCheck"), summary synthetic;
                cluster: Cluster("cluster"), summary cluster;
            }
            notices {
                agent: AgentNotice("agentNotice");
            }
        }
    };
}

/// One kind of evidence: the name in `Evidence.probe` and the JSON key of
/// its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub name: &'static str,
    /// The payload field of the evidence JSON form ("portScan").
    pub payload: &'static str,
    /// Evidence the agent reports about itself: no probe, no section.
    pub notice: bool,
}

/// Calls `summary::$f` on a payload message, or the generic summary.
macro_rules! summarise {
    ($message:ident) => {
        crate::summary::generic($message)
    };
    ($message:ident, $f:ident) => {
        crate::summary::$f($message)
    };
}

macro_rules! tables {
    (
        probes { $( $name:ident $(alias $alias:literal)?: $variant:ident($json:literal) $(, summary $summary:ident)?; )* }
        notices { $( $notice:ident: $nvariant:ident($njson:literal); )* }
    ) => {
        /// Every kind of evidence, probes in registry order, then notices.
        pub const PROBES: &[Probe] = &[
            $( Probe { name: stringify!($name), payload: $json, notice: false }, )*
            $( Probe { name: stringify!($notice), payload: $njson, notice: true }, )*
        ];

        impl Payload {
            /// The name of the probe whose evidence carries this payload.
            pub fn probe(&self) -> &'static str {
                match self {
                    $( Payload::$variant(_) => stringify!($name), )*
                    $( Payload::$nvariant(_) => stringify!($notice), )*
                }
            }

            /// One line for people: what the payload says.
            pub fn summary(&self) -> String {
                match self {
                    $( Payload::$variant(m) => summarise!(m $(, $summary)?), )*
                    $( Payload::$nvariant(m) => summarise!(m), )*
                }
            }
        }

        /// A payload serialises as its message: the value of the payload's
        /// key in the evidence JSON form.
        impl serde::Serialize for Payload {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self {
                    $( Payload::$variant(m) => m.serialize(s), )*
                    $( Payload::$nvariant(m) => m.serialize(s), )*
                }
            }
        }
    };
}

crate::for_each_probe!(tables);

/// The registry entry named `name`.
pub fn find(name: &str) -> Option<&'static Probe> {
    PROBES.iter().find(|p| p.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::{evidence::Payload, AgentNotice, Evidence, PortScan};

    /// The registry's JSON keys are the oneof's field names, and every
    /// payload field of `Evidence` has exactly one entry.
    #[test]
    fn registry_matches_the_evidence_message() {
        let evidence = crate::descriptor_pool()
            .get_message_by_name("gamsa.v1.Evidence")
            .unwrap();
        let oneof = evidence.oneofs().find(|o| o.name() == "payload").unwrap();
        let mut keys: Vec<String> = oneof.fields().map(|f| f.json_name().to_string()).collect();
        let mut registered: Vec<String> = PROBES.iter().map(|p| p.payload.to_string()).collect();
        keys.sort();
        registered.sort();
        assert_eq!(keys, registered);
        let mut names: Vec<&str> = PROBES.iter().map(|p| p.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), PROBES.len(), "a probe name is used twice");
    }

    #[test]
    fn payloads_know_their_probe_and_serialise_as_their_message() {
        let payload = Payload::PortScan(PortScan {
            open_ports: vec![22],
            ..Default::default()
        });
        assert_eq!(payload.probe(), "port_scan");
        let ev = Evidence {
            probe: payload.probe().into(),
            payload: Some(payload.clone()),
            ..Default::default()
        };
        let whole = serde_json::to_value(&ev).unwrap();
        let key = find(&ev.probe).unwrap().payload;
        assert_eq!(whole[key], serde_json::to_value(&payload).unwrap());
        assert_eq!(whole[key]["openPorts"][0], 22);
        let notice = Payload::AgentNotice(AgentNotice::default());
        assert_eq!(notice.probe(), "agent");
        assert_eq!(find("agent").unwrap().payload, "agentNotice");
        assert!(find("agent").unwrap().notice && !find("port_scan").unwrap().notice);
        assert!(find("scan").is_none());
    }
}

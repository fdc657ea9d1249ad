//! Linux bonds from `/proc/net/bonding/<bond>`, the bonding driver's own
//! report: its mode, its slaves and each slave's MII (link) status.
//!
//! A slave counts as active when its MII status is up; in 802.3ad only the
//! ports of the active aggregator carry traffic, so a slave that is up but
//! sits in another aggregator (its partner did not agree to LACP) is not
//! active. Files that are not bonding reports give an error naming them.

use gamsa_proto::v1::Bond;
use std::path::Path;

/// Largest bonding report read (a few KiB per slave).
const LIMIT: u64 = 1024 * 1024;
/// Most bonds read.
const MAX_BONDS: usize = 1024;

/// The kernel's short mode name for the text `/proc/net/bonding` prints.
fn mode_name(text: &str) -> String {
    let known = [
        ("load balancing (round-robin)", "balance-rr"),
        ("fault-tolerance (active-backup)", "active-backup"),
        ("load balancing (xor)", "balance-xor"),
        ("fault-tolerance (broadcast)", "broadcast"),
        ("IEEE 802.3ad Dynamic link aggregation", "802.3ad"),
        ("transmit load balancing", "balance-tlb"),
        ("adaptive load balancing", "balance-alb"),
    ];
    known
        .iter()
        .find(|(long, _)| text.starts_with(long))
        .map(|(_, short)| short.to_string())
        .unwrap_or_else(|| text.to_string())
}

struct Slave {
    name: String,
    mii_up: bool,
    aggregator: Option<String>,
}

/// Parses one bonding report.
pub fn parse(name: &str, text: &str) -> Result<Bond, String> {
    let mut bond = Bond {
        name: name.to_string(),
        ..Default::default()
    };
    let mut slaves: Vec<Slave> = Vec::new();
    let mut active_aggregator = None;
    let mut in_active_aggregator_info = false;
    for line in text.lines() {
        let line = line.trim();
        let Some((key, value)) = line.split_once(':') else {
            if !line.is_empty() {
                in_active_aggregator_info = false;
            }
            continue;
        };
        let value = value.trim();
        match (key, slaves.last_mut()) {
            ("Slave Interface", _) => slaves.push(Slave {
                name: value.to_string(),
                mii_up: false,
                aggregator: None,
            }),
            ("Bonding Mode", None) => bond.mode = mode_name(value),
            ("Currently Active Slave", None) if value != "None" => {
                bond.current_slave = value.to_string()
            }
            ("MII Status", None) => bond.mii_status = value.to_string(),
            ("Active Aggregator Info", None) => in_active_aggregator_info = true,
            ("Aggregator ID", None) if in_active_aggregator_info => {
                active_aggregator = Some(value.to_string())
            }
            ("MII Status", Some(s)) => s.mii_up = value == "up",
            ("Aggregator ID", Some(s)) => s.aggregator = Some(value.to_string()),
            _ => {}
        }
    }
    if bond.mode.is_empty() {
        return Err("no \"Bonding Mode:\" line: not a bonding driver report".into());
    }
    for s in &slaves {
        let in_active = match (&active_aggregator, &s.aggregator) {
            (Some(active), Some(mine)) if bond.mode == "802.3ad" => active == mine,
            _ => true,
        };
        bond.slaves.push(s.name.clone());
        if s.mii_up && in_active {
            bond.active_slaves.push(s.name.clone());
        }
    }
    Ok(bond)
}

/// Every bond under `dir` (`<root>/proc/net/bonding`); none when the
/// directory does not exist (the bonding driver is not loaded).
pub fn read(dir: &Path) -> Result<Vec<Bond>, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    let mut bonds = Vec::new();
    for entry in entries.take(MAX_BONDS) {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = entry.path();
        let text = super::super::read_bounded(&path, LIMIT)
            .map_err(|e| super::super::io_error(&path, &e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        bonds.push(parse(&name, &text).map_err(|e| format!("{}: {e}", path.display()))?);
    }
    bonds.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(bonds)
}

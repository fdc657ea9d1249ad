//! What changed between two snapshots: which items changed verdict, which
//! appeared or went away. Read from the files alone (the API, the dashboard
//! and `gamsa-collector snapshot diff` all compare the same way), and also
//! the source of an item's verdict history: a snapshot is the signed record
//! of what gamsa answered on a day.

use super::contents::{known_format, Envelope, Header};
use super::seal::VerifyError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One item's answer as a snapshot froze it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ItemVerdict {
    pub catalog: String,
    pub id: String,
    pub title_ko: String,
    pub title_en: String,
    pub verdict: String,
}

/// A snapshot's header and every item's verdict, keyed by (catalog, item).
#[derive(Debug, Clone)]
pub struct Verdicts {
    pub file: PathBuf,
    pub sha256: String,
    pub header: Header,
    pub items: ItemVerdicts,
}

#[derive(Deserialize)]
struct Items {
    items: Vec<ItemVerdict>,
}

/// Reads the verdicts of a snapshot file. This does not check the
/// signature; `seal::verify` does.
pub fn verdicts(file: &Path, bytes: &[u8]) -> Result<Verdicts, VerifyError> {
    let parse = |message: String| VerifyError::Parse {
        file: file.to_path_buf(),
        message,
    };
    let envelope: Envelope = serde_json::from_slice(bytes).map_err(|e| parse(e.to_string()))?;
    if !known_format(&envelope.format) {
        return Err(VerifyError::Format {
            file: file.to_path_buf(),
            found: envelope.format,
        });
    }
    let header: Header =
        serde_json::from_value(envelope.body.clone()).map_err(|e| parse(format!("body: {e}")))?;
    let items: Items =
        serde_json::from_value(envelope.body).map_err(|e| parse(format!("body.items: {e}")))?;
    Ok(Verdicts {
        file: file.to_path_buf(),
        sha256: envelope.sha256,
        header,
        items: items
            .items
            .into_iter()
            .map(|i| ((i.catalog.clone(), i.id.clone()), i))
            .collect(),
    })
}

/// A snapshot as one side of a comparison.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Side {
    pub file: String,
    pub sequence: u64,
    pub created_at: String,
    pub sha256: String,
}

/// One item whose verdict differs; `None` where the item is absent.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub catalog: String,
    pub id: String,
    pub title_ko: String,
    pub title_en: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Diff {
    pub from: Side,
    pub to: Side,
    pub changes: Vec<Change>,
    /// Items present in both with the same verdict.
    pub unchanged: usize,
}

fn side(v: &Verdicts) -> Side {
    Side {
        file: v
            .file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        sequence: v.header.sequence,
        created_at: v.header.created_at.clone(),
        sha256: v.sha256.clone(),
    }
}

/// Item verdicts keyed by (catalog, item), as a snapshot holds them.
pub type ItemVerdicts = BTreeMap<(String, String), ItemVerdict>;

/// The items of `a` and `b` whose verdicts differ, in catalog order, and
/// how many are present in both with the same verdict.
pub fn changes(a: &ItemVerdicts, b: &ItemVerdicts) -> (Vec<Change>, usize) {
    let mut changes = Vec::new();
    let mut unchanged = 0;
    let keys: std::collections::BTreeSet<&(String, String)> = a.keys().chain(b.keys()).collect();
    for key in keys {
        let (x, y) = (a.get(key), b.get(key));
        if let (Some(x), Some(y)) = (x, y) {
            if x.verdict == y.verdict {
                unchanged += 1;
                continue;
            }
        }
        let Some(named) = y.or(x) else { continue };
        changes.push(Change {
            catalog: key.0.clone(),
            id: key.1.clone(),
            title_ko: named.title_ko.clone(),
            title_en: named.title_en.clone(),
            from: x.map(|i| i.verdict.clone()),
            to: y.map(|i| i.verdict.clone()),
        });
    }
    (changes, unchanged)
}

/// The items of snapshots `a` and `b` whose verdicts differ.
pub fn diff(a: &Verdicts, b: &Verdicts) -> Diff {
    let (changes, unchanged) = changes(&a.items, &b.items);
    Diff {
        from: side(a),
        to: side(b),
        changes,
        unchanged,
    }
}

impl Diff {
    /// The comparison as lines for a terminal.
    pub fn text(&self) -> String {
        let mut s = format!(
            "from #{} {} ({}, sha256 {})\n  to #{} {} ({}, sha256 {})\n",
            self.from.sequence,
            self.from.created_at,
            self.from.file,
            self.from.sha256,
            self.to.sequence,
            self.to.created_at,
            self.to.file,
            self.to.sha256
        );
        let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".into());
        for c in &self.changes {
            s.push_str(&format!(
                "{}/{}\t{} → {}\t{}\n",
                c.catalog,
                c.id,
                dash(&c.from),
                dash(&c.to),
                c.title_en
            ));
        }
        s.push_str(&format!(
            "{} item(s) changed verdict, {} unchanged\n",
            self.changes.len(),
            self.unchanged
        ));
        s
    }
}

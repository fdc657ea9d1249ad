//! A filled form as data, before it becomes HTML, PDF, CSV or JSON: every
//! output format renders the same `FilledForm`, so they cannot disagree, and
//! IP redaction is applied once to it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FilledForm {
    pub catalog: String,
    pub catalog_title_ko: String,
    pub catalog_version: String,
    /// The form id ("2B", "3", "2-1"); empty for a whole catalog.
    pub form: String,
    pub title_ko: String,
    /// Lines printed under the title (the form's legend and notes).
    pub notes_ko: Vec<String>,
    /// Label/value lines of the form's head (applicant group, time, collector).
    pub fields: Vec<(String, String)>,
    pub tables: Vec<Table>,
    /// One row per checklist row on the form, with its verdict (the CSV).
    pub rows: Vec<VerdictRow>,
    pub generated_at: String,
    pub redacted: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Column {
    pub label: String,
    /// Width on an A4 page in millimetres; HTML uses them as proportions.
    pub width_mm: f32,
    /// Centred single marks (the Y/P/N/N/A columns).
    pub mark: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Table {
    /// Printed above the table, e.g. "○ 관리적 보호조치".
    pub caption: String,
    /// An optional row above the column labels: (label, columns spanned).
    pub groups: Vec<(String, usize)>,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<String>>,
    /// How many leading columns show a value only where it changes (the
    /// form's merged 분류 / 항목 cells).
    pub merge_leading: usize,
}

impl Table {
    pub fn new(caption: &str, columns: &[(&str, f32, bool)]) -> Self {
        Self {
            caption: caption.into(),
            groups: vec![],
            columns: columns
                .iter()
                .map(|(label, width_mm, mark)| Column {
                    label: (*label).into(),
                    width_mm: *width_mm,
                    mark: *mark,
                })
                .collect(),
            rows: vec![],
            merge_leading: 0,
        }
    }

    /// The cell text to print, blank where a merged leading column repeats.
    pub fn shown(&self, row: usize, col: usize) -> &str {
        let cell = self.rows[row].get(col).map(String::as_str).unwrap_or("");
        let repeats = row > 0
            && col < self.merge_leading
            && (0..=col).all(|c| self.rows[row].get(c) == self.rows[row - 1].get(c));
        if repeats {
            ""
        } else {
            cell
        }
    }
}

/// One checklist row with its answer: the CSV and JSON export's unit.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerdictRow {
    pub catalog: String,
    pub item: String,
    pub section_ko: String,
    pub item_title_ko: String,
    pub row: String,
    pub question_ko: String,
    pub question_en: String,
    /// Y, P, N, NA or UNKNOWN.
    pub verdict: String,
    /// The item's verdict over all its rows.
    pub item_verdict: String,
    /// "automated" or "manual".
    pub kind: String,
    /// Automated rows: the highest verdict the evidence alone can give (Y,
    /// or P where it answers only part of the question), why the evidence
    /// answers the row and what it does not cover, and what completes a
    /// partial row. Empty for manual rows.
    pub highest: String,
    pub rationale_ko: String,
    pub rationale_en: String,
    pub completes_ko: String,
    pub completes_en: String,
    pub reason_ko: String,
    pub reason_en: String,
    pub hosts_pass: usize,
    pub hosts_fail: usize,
    pub hosts_unknown: usize,
    pub evidence_count: usize,
    pub attested_by: String,
    pub evaluated_at: String,
}

//! The monthly operation report made on schedule and taken into the
//! snapshot chain (`[reports]`): `monthly_day` days after a month ends
//! (UTC, the month the availability figures count in), the report of that
//! month is made for each configured scope as HTML and PDF, written once
//! (0600) into `reports/` beside the snapshots, and a snapshot is taken
//! that carries each file's name and SHA-256 (`Body::reports`): the chain's
//! signature then vouches for the report as made on that day, and a file
//! changed later no longer matches the hash.
//!
//! Collectors sharing a store make it once: the month's report is taken
//! under the store lease `report:monthly:<month>`.

use super::contents::ReportDocument;
use super::Snapshots;
use crate::availability::{month_bounds, month_of, AvailabilityConfig};
use crate::export::monthly::{self, Scope};
use crate::export::{ExportConfig, Format, Source};
use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

/// `[reports]` in the collector configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportsConfig {
    /// Make a month's operation report this many days after the month ends
    /// (00:00 UTC), into the snapshot chain; 0: never on schedule.
    pub monthly_day: u32,
    /// Scopes to make it for: "all", or a host label such as "role=web".
    pub scopes: Vec<String>,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        Self {
            monthly_day: 1,
            scopes: vec!["all".into()],
        }
    }
}

impl ReportsConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.monthly_day > 28 {
            return Err("reports.monthly_day: 0 (off) to 28 days after the month's end".into());
        }
        if self.scopes.is_empty() {
            return Err("reports.scopes: at least one (\"all\")".into());
        }
        for s in &self.scopes {
            Scope::parse(s).map_err(|e| format!("reports.scopes: {e}"))?;
        }
        Ok(())
    }

    /// When the report of the month before the one `now` is in falls due,
    /// and that month.
    fn due_for(&self, now: DateTime<Utc>) -> Option<(DateTime<Utc>, String)> {
        let (first, _) = month_bounds(&month_of(now.timestamp_millis())).ok()?;
        let month = month_of(first.timestamp_millis() - 1);
        Some((
            first + chrono::Duration::days(i64::from(self.monthly_day)),
            month,
        ))
    }

    /// The next report due strictly after `now`, and its month.
    pub fn next_after(&self, now: DateTime<Utc>) -> Option<(DateTime<Utc>, String)> {
        let (due, month) = self.due_for(now)?;
        if due > now {
            return Some((due, month));
        }
        let (_, next) = month_bounds(&month_of(now.timestamp_millis())).ok()?;
        self.due_for(next)
    }
}

/// The `takenBy` of snapshots carrying a scheduled report.
pub const TAKEN_BY: &str = "schedule:monthly-report";

/// What making the reports needs beside the snapshots.
pub struct Settings {
    pub reports: ReportsConfig,
    pub export: ExportConfig,
    pub availability: AvailabilityConfig,
}

/// Makes `month`'s reports for every scope, writes them beside the
/// snapshots and takes the snapshot carrying them.
pub async fn make(
    snapshots: &Snapshots,
    settings: &Settings,
    month: &str,
) -> anyhow::Result<super::Created> {
    let dir = snapshots.archive.dir.join("reports");
    crate::private::create_dir_all(&dir)
        .with_context(|| format!("{}: cannot create", dir.display()))?;
    let tallies = crate::assessment::Tallies::default();
    let src = Source {
        checklists: &snapshots.checklists,
        store: &snapshots.store,
        kept: None,
        made: None,
        tallies: &tallies,
        data_dir: &snapshots.data_dir,
        config: &settings.export,
        collector_id: &snapshots.collector_id,
    };
    let now = crate::clock::now_ms();
    let mut documents = Vec::new();
    for scope in &settings.reports.scopes {
        let scope = Scope::parse(scope)?;
        let report = monthly::build(&src, &settings.availability, month, &scope, now).await?;
        for format in [Format::Html, Format::Pdf] {
            let out = monthly::render(
                &report,
                format,
                &snapshots.collector_id,
                &settings.export.pdf_font,
            )?;
            let path = dir.join(&out.file_name);
            let bytes = out.body.into_bytes().await?;
            let written = crate::private::write_new(&path, &bytes)
                .with_context(|| format!("{}: cannot write", path.display()))?;
            anyhow::ensure!(
                written,
                "{}: already made; a report file is never rewritten",
                path.display()
            );
            documents.push(ReportDocument {
                kind: "monthly-operation-report".into(),
                month: month.to_string(),
                scope: scope.describe(),
                file_name: out.file_name,
                sha256: hex::encode(Sha256::digest(&bytes)),
                bytes: bytes.len() as u64,
            });
        }
    }
    snapshots.create_with(TAKEN_BY, documents).await
}

/// Makes the month's reports if this collector wins the month's lease.
async fn take_due(snapshots: &Snapshots, settings: &Settings, month: &str) {
    let lease = format!("report:monthly:{month}");
    let day = Duration::from_secs(86_400);
    match snapshots
        .store()
        .try_lease(
            &lease,
            super::schedule::holder(),
            day,
            crate::clock::now_ms(),
        )
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!(month, "monthly report made by another collector");
            return;
        }
        Err(e) => {
            tracing::error!(month, error = %e, "monthly report skipped: the store did not grant its lease");
            return;
        }
    }
    match make(snapshots, settings, month).await {
        Ok(c) => tracing::info!(
            month, snapshot = %c.entry.id, sha256 = %c.sha256,
            "monthly operation report made and taken into the snapshot chain"
        ),
        Err(e) => tracing::error!(month, error = %format!("{e:#}"), "monthly report failed"),
    }
}

/// Starts the monthly schedule (unless `monthly_day` is 0) as a background
/// task ending when `stop` turns true.
pub fn spawn(
    snapshots: Arc<Snapshots>,
    settings: Settings,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    if settings.reports.monthly_day == 0 {
        return;
    }
    tokio::spawn(async move {
        while let Some((due, month)) = settings.reports.next_after(Utc::now()) {
            tracing::debug!(%due, month, "next monthly operation report");
            tokio::select! {
                _ = super::schedule::sleep_until(due) => {}
                _ = stop.wait_for(|v| *v) => return,
            }
            take_due(&snapshots, &settings, &month).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn a_month_is_reported_its_day_after_it_ends() {
        let c = ReportsConfig {
            monthly_day: 2,
            ..Default::default()
        };
        let (due, month) = c.next_after(at("2026-12-01T10:00:00Z")).unwrap();
        assert_eq!(
            (due, month.as_str()),
            (at("2026-12-03T00:00:00Z"), "2026-11")
        );
        let (due, month) = c.next_after(at("2026-12-03T00:00:00Z")).unwrap();
        assert_eq!(
            (due, month.as_str()),
            (at("2027-01-03T00:00:00Z"), "2026-12")
        );
        assert!(ReportsConfig {
            monthly_day: 29,
            ..Default::default()
        }
        .validate()
        .unwrap_err()
        .starts_with("reports.monthly_day"));
        let bad = ReportsConfig {
            scopes: vec!["web".into()],
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().starts_with("reports.scopes"));
    }
}

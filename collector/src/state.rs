//! What the collector's servers share: the store, checklists and the kept
//! evaluation, snapshots and settings, the CA files and the control
//! channels of connected agents.
//! Only the servers (`api`, `dashboard`, `grpc`, `server`) see it; the
//! layers below take what they need as arguments.

use crate::pki::PkiPaths;
use crate::store::Store;
use gamsa_proto::v1::CollectorMessage;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Where control messages for one connected agent go.
pub type AgentSender = mpsc::Sender<Result<CollectorMessage, tonic::Status>>;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub pki: PkiPaths,
    pub collector_id: String,
    pub checklists: Arc<crate::checklists::Checklists>,
    /// The kept evaluation of every catalog: what pages and the API read.
    pub verdicts: Arc<crate::evaluation::Kept>,
    /// Findings counts kept until the next assessment.
    pub tallies: Arc<crate::assessment::Tallies>,
    /// Reports made a while ago, handed out again (`export::made`).
    pub made: Arc<crate::export::made::Made>,
    /// Dashboard settings: `Secure` cookies, session lifetime, limits.
    pub http: Arc<crate::config::HttpConfig>,
    /// Open ingest streams by agent id: how control messages reach agents.
    pub agents: Arc<Mutex<HashMap<String, AgentSender>>>,
    /// This collector's signed snapshots (`<data_dir>/snapshots`).
    pub snapshots: Arc<crate::snapshot::Snapshots>,
    pub export: Arc<crate::export::ExportConfig>,
    /// `[availability]`: outage threshold, quorum, targets.
    pub availability: Arc<crate::availability::AvailabilityConfig>,
    /// What inventory rows read of the evidence read before.
    pub inventory: Arc<crate::inventory::Seen>,
}

impl AppState {
    /// The collector's data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        &self.snapshots.data_dir
    }

    /// What this collector's exports read.
    pub fn export_source(&self) -> crate::export::Source<'_> {
        crate::export::Source {
            checklists: &self.checklists,
            store: &self.store,
            kept: Some(&self.verdicts),
            made: Some(&self.made),
            tallies: self.tallies.as_ref(),
            data_dir: self.data_dir(),
            config: &self.export,
            collector_id: &self.collector_id,
        }
    }
}

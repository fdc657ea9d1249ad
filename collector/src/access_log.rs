//! Who looked at or took what out of the collector, and when (cloud notice
//! 7.2.2, 13.1.3): every item view, export, snapshot download and document
//! download — by the dashboard, the API or the command line — and every bulk
//! read of the API (evidence, item lists, hosts, snapshot diffs, findings,
//! the host inventory) is one record
//! appended to the store's access log, which admins read. The log is in the
//! store, not a local file, so every collector sharing a store writes to and
//! reads the same log. Recording comes before serving: what cannot be
//! recorded is refused.

use crate::records::Access;
use crate::store::{Store, StoreError};

/// The actions recorded.
pub const ITEM_VIEW: &str = "item-view";
pub const EXPORT: &str = "export";
pub const SNAPSHOT_CREATE: &str = "snapshot-create";
pub const SNAPSHOT_DOWNLOAD: &str = "snapshot-download";
pub const DOCUMENT_DOWNLOAD: &str = "document-download";
pub const EVIDENCE_QUERY: &str = "evidence-query";
pub const ITEM_LIST: &str = "item-list";
pub const HOST_LIST: &str = "host-list";
pub const SNAPSHOT_DIFF: &str = "snapshot-diff";
/// The findings history of hosts (`operations::read_findings`).
pub const FINDINGS_VIEW: &str = "findings-view";
/// A page of the host inventory (`operations::read_inventory`).
pub const INVENTORY_VIEW: &str = "inventory-view";
/// Credentials (`operations`): reads and changes by admins.
pub const TOKEN_LIST: &str = "token-list";
pub const TOKEN_REVOKE: &str = "token-revoke";
pub const USER_LIST: &str = "user-list";
pub const USER_DELETE: &str = "user-delete";
pub const USER_ROLE: &str = "user-role";
pub const AGENT_REVOKE: &str = "agent-revoke";
pub const AGENT_REINSTATE: &str = "agent-reinstate";
/// Planned maintenance windows (`operations`): added and deleted by admins.
pub const MAINTENANCE_ADD: &str = "maintenance-add";
pub const MAINTENANCE_DELETE: &str = "maintenance-delete";

/// Appends one access record.
pub async fn record(
    store: &dyn Store,
    who: &str,
    role: &str,
    action: &str,
    what: &str,
) -> Result<(), StoreError> {
    store
        .append_access(Access {
            at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            who: who.into(),
            role: role.into(),
            action: action.into(),
            what: what.into(),
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    #[tokio::test]
    async fn records_append_and_read_back_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("gamsa.db")).unwrap();
        for i in 0..5 {
            record(&store, "alice", "auditor", EXPORT, &format!("thing {i}"))
                .await
                .unwrap();
        }
        let last = store.access_log(3).await.unwrap();
        assert_eq!(
            last.iter().map(|a| a.what.as_str()).collect::<Vec<_>>(),
            ["thing 4", "thing 3", "thing 2"]
        );
        assert_eq!(last[0].who, "alice");
        assert_eq!(last[0].action, "export");
        drop(store);
        let store = SqliteStore::open(&dir.path().join("gamsa.db")).unwrap();
        assert_eq!(store.access_log(100).await.unwrap().len(), 5, "durable");
    }
}

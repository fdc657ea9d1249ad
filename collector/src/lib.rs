//! gamsa collector: receives evidence from agents over mutual TLS, stores it
//! durably, answers checklists from it and serves the answers to auditors.
//!
//! Modules in layers, each using only its own layer and those before it
//! (ARCHITECTURE.md states the invariants; `tests/layers.rs` checks them):
//! - leaves: `actor` (who acts, and roles), `clock`, `private` (owner-only
//!   files), `records` (what the store keeps besides evidence), `verdict`
//!   (the answers), `metrics`;
//! - `store` (storage trait and backends), `pki` (the collector's CA),
//!   `tls` (the gRPC listener's TLS), `tokens`;
//! - `catalog`, `expectations` and `rules`: the rules engine;
//! - `checklists` (the engine against the store), `by_hosts` (the same
//!   a range of hosts at a time, in bounded memory), `evaluation` (the kept
//!   evaluation pages and the API read), `access_log`, `report`,
//!   `availability` (outages and availability from synthetic checks),
//!   `assessment` (the findings history read back and compared);
//! - `export` (filled forms), `snapshot` (signed snapshots), `download`
//!   (files over HTTP), `findings` (periodic evaluation: compliance
//!   gauges, verdict changes to SIEMs, the findings history);
//! - `operations`: each write, export and snapshot hand-out, one function
//!   for the API, the dashboard and the command line;
//! - `config` (the TOML file, composing the sections above);
//! - `state` (what the servers share), `api` (HTTP/JSON), `dashboard`
//!   (HTML), `grpc` (ingest and enrolment), `control` (the command line's
//!   socket to the serving collector), `server` (wiring).

pub mod access_log;
pub mod actor;
pub mod api;
pub mod assessment;
pub mod availability;
pub mod by_hosts;
pub mod catalog;
pub mod checklists;
pub mod clock;
pub mod config;
pub mod control;
pub mod dashboard;
pub mod download;
pub mod evaluation;
pub mod expectations;
pub mod export;
pub mod findings;
pub mod grpc;
pub mod inventory;
pub mod metrics;
pub mod operations;
pub mod pki;
pub mod private;
pub mod records;
pub mod report;
pub mod retention;
pub mod rules;
pub mod server;
pub mod snapshot;
pub mod state;
pub mod store;
pub mod tls;
pub mod tokens;
pub mod verdict;

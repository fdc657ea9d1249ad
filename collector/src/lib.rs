//! gamsa collector: receives evidence from agents over mutual TLS, stores it
//! durably and serves it to auditors.
//!
//! Module map: `pki` (the collector's CA), `tls` (the gRPC listener's TLS),
//! `grpc` (ingest and enrolment services), `store` (storage trait and
//! backends), `api` (HTTP/JSON read API), `server` (wiring), `quickstart`,
//! `snapshot` (signed evidence snapshots), `export` (filled forms),
//! `access_log` (who downloaded what).

pub mod access_log;
pub mod api;
pub mod catalog;
pub mod checklists;
pub mod clock;
pub mod config;
pub mod dashboard;
pub mod export;
pub mod grpc;
pub mod metrics;
pub mod pki;
pub mod private;
pub mod quickstart;
pub mod records;
pub mod report;
pub mod rules;
pub mod server;
pub mod snapshot;
pub mod state;
pub mod store;
pub mod tls;
pub mod tokens;
pub mod toml_error;
pub mod verdict;

//! Inlet's host: it loads data source connectors (WebAssembly components),
//! runs them in a sandbox, and serves the API around them.
//!
//! - [`plugin`], [`sandbox`], [`runtime`], [`pool`] and [`model`] come from the
//!   `inlet-runtime` crate: plugin directories, what a connector may reach, running
//!   connectors within their budgets, pooled sessions, the version-neutral model.
//! - [`exec`] runs one connector by hand (`inlet plugin exec`); [`check`] runs the conformance suite (`inlet plugin check`).
//! - [`catalog_store`] stores a discovery's pages as they arrive, diffed against the current catalog.
//! - [`core`] holds the application's rules (data sources, checks, discovery, plugin
//!   administration) as services over [`db`], [`vault`], [`runtime`], [`pool`] and [`tunnel`].
//! - [`api`] serves the REST API over the core; [`workers`] run its background tasks.
//! - [`db`] stores; [`vault`] seals secrets; [`auth`] verifies callers.
//! - [`results`] writes previews and query results as JSON, NDJSON, CSV and Arrow IPC.
//! - [`events`] names what happened to data sources (the outbox's kinds and severities).

pub mod alerts;
pub mod api;
pub mod auth;
pub mod catalog_diff;
pub mod catalog_listing;
pub mod catalog_store;
pub mod check;
pub mod connectors;
pub mod core;
pub mod data_dir;
pub mod db;
pub mod events;
pub mod exec;
pub mod file_links;
pub mod health;
pub mod results;
pub mod settings;
pub mod source;
pub mod storage;
pub mod tunnel;
pub mod vault;
pub mod workers;

// The connector runtime lives in its own crate (an edit here does not
// re-typecheck it); its modules keep their paths in this one.
pub use inlet_runtime::{log_format, model, outbound, plugin, pool, runtime, sandbox};

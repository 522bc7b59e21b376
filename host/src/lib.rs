//! Inlet's host: it loads data source connectors (WebAssembly components),
//! runs them in a sandbox, and serves the API around them.
//!
//! - [`plugin`] reads plugin directories: manifests, config schemas, secrets.
//! - [`sandbox`] decides what a connector may reach (egress policy, files).
//! - [`runtime`] compiles, caches, instantiates and calls connectors.
//! - [`exec`] runs one connector by hand (`inlet plugin exec`); [`check`] runs the conformance suite (`inlet plugin check`).
//! - [`api`] serves the REST API; [`db`] stores; [`vault`] seals secrets; [`auth`] verifies callers.
//! - [`events`] names what happened to data sources (the outbox's kinds and severities).

pub mod alerts;
pub mod api;
pub mod auth;
pub mod catalog_diff;
pub mod check;
pub mod connectors;
pub mod data_dir;
pub mod db;
pub mod events;
pub mod exec;
pub mod file_links;
pub mod health;
pub mod log_format;
pub mod model;
mod outbound;
pub mod plugin;
pub mod pool;
pub mod runtime;
pub mod sandbox;
pub mod settings;
pub mod source;
pub mod storage;
pub mod tunnel;
pub mod vault;

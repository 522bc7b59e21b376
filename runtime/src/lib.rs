//! Inlet's connector runtime, the part of the host that runs plugin code:
//!
//! - [`plugin`] reads plugin directories and packages: manifests, config schemas, secrets, signatures.
//! - [`sandbox`] decides what a connector may reach (egress policy, files, HTTP origins).
//! - [`runtime`] compiles, caches, instantiates and calls connectors within their budgets.
//! - [`pool`] keeps live connections (sessions) per data source.
//! - [`model`] is the version-neutral shape of what connectors answer.
//! - [`outbound`] opens the host's own HTTP connections (TCP, then TLS with the web PKI roots);
//!   [`log_format`] writes log lines with control characters escaped.
//!
//! The host crate (`inlet`) re-exports these modules under the same names.

pub mod log_format;
pub mod model;
pub mod outbound;
pub mod plugin;
pub mod pool;
pub mod runtime;
pub mod sandbox;

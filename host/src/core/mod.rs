//! The application core: the rules of Inlet, for every adapter (the HTTP
//! API, the CLI, the background workers). It works over the database, the
//! vault, the runtime, the connection pools and the tunnels, and answers in
//! domain terms: [`Error`], never an HTTP status.
//!
//! - [`App`] (in `app`): the shared state, the secrets, and a discovery job's run.
//! - [`data_sources`]: create, change, re-credential, delete; status moves; closing connections.
//! - `checks`: connection tests, retries, history and the circuit breaker.
//! - [`discovery`]: queuing discoveries and when schemas refresh on their own.
//! - [`reading`]: previews and queries, streamed a batch at a time.
//! - [`organizations`]: an organization's own settings (querying on or off).
//! - [`plugins`] and [`plugin_registry`]: plugin administration and the running set.
//! - `connections` and `tunnels`: a data source's pooled connections and SSH tunnel.
//! - [`domain`]: status, settings, tunnel spec, check origin, catalog shapes.
//! - [`counters`] and [`schema_cache`]: in-process figures and parsed catalogs.

mod app;
mod checks;
mod connections;
pub mod counters;
pub mod data_sources;
pub mod discovery;
pub mod domain;
mod error;
pub mod organizations;
pub mod plugin_registry;
pub mod plugins;
pub mod reading;
pub mod schema_cache;
mod tunnels;

pub use app::App;
pub use connections::file_ref;
pub use error::{Error, Result};

//! A discovery's catalog on its way into storage.
//!
//! Pages are stored as the connector returns them, beside the data source's
//! current catalog (which readers keep seeing), and diffed against it page by
//! page: a table whose column digest did not move is not read back at all.
//! The last page in, the job is completed with its diff and the new catalog
//! becomes the current one. Memory holds a page or two, never the catalog.
//!
//! - [`encoding`]: how one table is stored (its definition and digest).
//! - [`writer`]: the task that stores, diffs and publishes a discovery.

pub mod encoding;
pub mod writer;

pub use writer::{CatalogError, Finished, PageSender, Writing, start};

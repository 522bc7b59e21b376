//! Plugins on disk: a directory holding `plugin.toml` (the manifest) and
//! `plugin.wasm` (the component). This module reads and validates them; it
//! never runs plugin code (that is the runtime's job).

pub mod config;
pub mod manifest;

pub use config::{ConfigError, FieldError, Secrets};

/// Credentials the host keeps for a data source's SSH tunnel: sealed like
/// the connector's, never passed to it. No plugin may declare these names.
pub const SSH_SECRET_FIELDS: [&str; 3] = ["ssh_password", "ssh_private_key", "ssh_private_key_passphrase"];
pub use manifest::{HttpSpec, Manifest, ManifestError, SourceType};

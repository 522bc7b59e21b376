//! Plugins on disk: a directory holding `plugin.toml` (the manifest),
//! `plugin.wasm` (the component) and optionally `plugin.sig` (the
//! publisher's signature). This module reads, validates and verifies them;
//! it never runs plugin code (that is the runtime's job).

pub mod category;
pub mod config;
pub mod manifest;
pub mod package;
pub mod retarget;
pub mod signature;

pub use category::{Category, UnknownCategory};
pub use config::{ConfigError, FieldError, Secrets};

/// Credentials the host keeps for a data source's SSH tunnel: sealed like
/// the connector's, never passed to it. No plugin may declare these names.
pub const SSH_SECRET_FIELDS: [&str; 3] = ["ssh_password", "ssh_private_key", "ssh_private_key_passphrase"];
pub use manifest::{HttpSpec, Limits, Manifest, ManifestError, SourceType};

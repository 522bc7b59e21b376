//! Plugins on disk: a directory holding `plugin.toml` (the manifest) and
//! `plugin.wasm` (the component). This module reads and validates them; it
//! never runs plugin code (that is the runtime's job).

pub mod config;
pub mod manifest;

pub use config::{ConfigError, FieldError, Secrets};
pub use manifest::{HttpSpec, Manifest, ManifestError, SourceType};

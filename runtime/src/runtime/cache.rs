//! Compiled components on disk, keyed by the wasm's sha256 and the engine's
//! compatibility hash, so a restart deserializes (~ms) instead of compiling.
//!
//! The cache directory belongs to the host: artifacts are written atomically
//! (temporary file, then rename) and a stale or corrupt artifact is recompiled.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::LoadKind;

pub struct ComponentCache {
    dir: PathBuf,
    /// The engine's compatibility hash as hex: artifacts from another wasmtime
    /// version or engine configuration never match.
    engine_key: String,
}

impl ComponentCache {
    pub fn new(engine: &Engine, dir: PathBuf) -> Self {
        let mut hasher = Sha256Hasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_key = hex::encode(&hasher.0.finalize()[..12]);
        Self { dir, engine_key }
    }

    /// The component for `wasm`, from the cache when possible. Returns it with
    /// the wasm's sha256 (hex) and how it was obtained.
    pub fn load(&self, engine: &Engine, wasm: &[u8]) -> Result<(Component, String, LoadKind), String> {
        let sha256 = hex::encode(Sha256::digest(wasm));
        let path = self.artifact_path(&sha256);
        if path.exists() {
            // SAFETY: the artifact was produced by `precompile_component` with
            // an engine of the same compatibility hash and lives in the host's
            // own data directory, which is as trusted as the binary.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => return Ok((component, sha256, LoadKind::Cached)),
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "discarding unusable compiled component");
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        let artifact = engine.precompile_component(wasm).map_err(|error| format!("{error:#}"))?;
        if let Err(error) = self.store(&path, &artifact) {
            // Still usable, only slower on the next start.
            tracing::warn!(path = %path.display(), %error, "cannot cache compiled component");
        }
        // SAFETY: the bytes were produced just now by `precompile_component` on this engine.
        let component = unsafe { Component::deserialize(engine, &artifact) }.map_err(|error| format!("{error:#}"))?;
        Ok((component, sha256, LoadKind::Compiled))
    }

    fn artifact_path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}-{}.cwasm", self.engine_key))
    }

    fn store(&self, path: &Path, artifact: &[u8]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let temporary = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&temporary, artifact)?;
        std::fs::rename(&temporary, path)
    }
}

/// Feeds `Hash` output into SHA-256, which is stable across Rust releases
/// (unlike `DefaultHasher`).
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        u64::from_le_bytes(digest[..8].try_into().unwrap_or_default())
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

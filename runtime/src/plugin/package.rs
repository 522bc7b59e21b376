//! A plugin package on its way in (upload or CLI install): the manifest's
//! text, the wasm and an optional `plugin.sig`, checked before anything is
//! stored — sizes, the manifest (including its WIT API version), and the
//! signature under the platform's trust policy. Compiling the component is
//! the runtime's part and comes after.

use ed25519_dalek::VerifyingKey;
use thiserror::Error;

use super::manifest::{Manifest, ManifestError};
use super::signature::{SignatureError, SignatureFile, Verdict, digest};

/// The largest wasm accepted.
pub const MAX_WASM_BYTES: usize = 64 << 20;
/// The largest manifest accepted.
pub const MAX_MANIFEST_BYTES: usize = 256 << 10;
/// The largest signature file accepted.
pub const MAX_SIGNATURE_BYTES: usize = 8 << 10;

/// What the platform accepts (`INLET_TRUSTED_PLUGIN_KEYS`,
/// `INLET_ALLOW_UNSIGNED_PLUGINS`).
#[derive(Debug, Clone, Default)]
pub struct TrustPolicy {
    pub trusted_keys: Vec<VerifyingKey>,
    /// Whether unsigned packages, and packages signed by keys nobody
    /// trusted, may be installed. Tampered ones never may.
    pub allow_unsigned: bool,
}

/// The parts of a package.
#[derive(Debug, Clone)]
pub struct Package {
    pub manifest: String,
    pub wasm: Vec<u8>,
    pub signature: Option<String>,
}

/// A package that passed every check but compiling.
#[derive(Debug)]
pub struct Verified {
    /// Parsed once here; the runtime compiles the component against it.
    pub manifest: Manifest,
    pub seal: Seal,
}

/// What verification found about the package's bytes and signature.
#[derive(Debug, Clone)]
pub struct Seal {
    pub sha256: String,
    /// `trusted`, `untrusted_allowed` or `unsigned_allowed`.
    pub signature_status: &'static str,
    pub signer_key_id: Option<String>,
}

#[derive(Debug, Error)]
pub enum PackageError {
    #[error("the {part} is {size} bytes; at most {limit} are accepted")]
    TooLarge { part: &'static str, size: usize, limit: usize },
    #[error("the plugin targets WIT API version {declared}; this host supports {}", crate::runtime::wit::supported())]
    UnsupportedApiVersion { declared: String },
    #[error("{0}")]
    Manifest(ManifestError),
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error("the plugin is not signed; sign it with `inlet plugin sign`, or let the admin allow unsigned plugins")]
    Unsigned,
    #[error("the plugin is signed by key {key_id}, which is not a trusted publisher key")]
    Untrusted { key_id: String },
}

impl PackageError {
    /// A stable code for API errors.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "payload_too_large",
            Self::UnsupportedApiVersion { .. } => "unsupported_api_version",
            Self::Manifest(_) => "invalid_manifest",
            Self::Signature(SignatureError::Tampered(_)) => "plugin_tampered",
            Self::Signature(_) => "invalid_signature",
            Self::Unsigned => "plugin_unsigned",
            Self::Untrusted { .. } => "plugin_untrusted",
        }
    }
}

impl Package {
    /// Checks sizes, the manifest and the signature.
    pub fn verify(&self, policy: &TrustPolicy) -> Result<Verified, PackageError> {
        for (part, size, limit) in [
            ("wasm", self.wasm.len(), MAX_WASM_BYTES),
            ("manifest", self.manifest.len(), MAX_MANIFEST_BYTES),
            ("signature", self.signature.as_ref().map_or(0, String::len), MAX_SIGNATURE_BYTES),
        ] {
            if size > limit {
                return Err(PackageError::TooLarge { part, size, limit });
            }
        }
        let manifest = Manifest::parse(&self.manifest, "plugin.toml").map_err(|error| match error {
            ManifestError::UnsupportedApiVersion { declared, .. } => PackageError::UnsupportedApiVersion { declared },
            other => PackageError::Manifest(other),
        })?;
        let sha256 = digest(&self.wasm);
        let (signature_status, signer_key_id) = match &self.signature {
            None if policy.allow_unsigned => ("unsigned_allowed", None),
            None => return Err(PackageError::Unsigned),
            Some(text) => {
                let file = SignatureFile::parse(text)?;
                let version = manifest.version.to_string();
                match file.verify(&manifest.id, &version, &self.wasm, self.manifest.as_bytes(), &policy.trusted_keys)? {
                    Verdict::Trusted { key_id } => ("trusted", Some(key_id)),
                    Verdict::Untrusted { key_id } if policy.allow_unsigned => ("untrusted_allowed", Some(key_id)),
                    Verdict::Untrusted { key_id } => return Err(PackageError::Untrusted { key_id }),
                }
            }
        };
        Ok(Verified { manifest, seal: Seal { sha256, signature_status, signer_key_id } })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::signature::{generate_key, read_key};

    const MANIFEST: &str = r#"
id = "demo"
name = "Demo"
version = "1.0.0"
api_version = "0.1.0"

[[types]]
id = "demo"
name = "Demo"
config_schema = '{"type": "object", "properties": {"password": {"type": "string", "writeOnly": true}}}'
"#;

    fn package(signature: Option<String>) -> Package {
        Package { manifest: MANIFEST.to_owned(), wasm: b"\0asm component".to_vec(), signature }
    }

    fn signed(key: &ed25519_dalek::SigningKey, wasm: &[u8]) -> String {
        let file = SignatureFile::sign(key, "demo", "1.0.0", wasm, MANIFEST.as_bytes());
        serde_json::to_string(&file).unwrap()
    }

    #[test]
    fn trust_decides_signed_and_unsigned_packages() {
        let key = read_key(&generate_key().0).unwrap();
        let strict = TrustPolicy { trusted_keys: vec![key.verifying_key()], allow_unsigned: false };
        let relaxed = TrustPolicy { trusted_keys: vec![], allow_unsigned: true };
        let good = package(Some(signed(&key, b"\0asm component")));
        assert_eq!(good.verify(&strict).unwrap().seal.signature_status, "trusted");
        assert_eq!(good.verify(&relaxed).unwrap().seal.signature_status, "untrusted_allowed");
        assert!(matches!(good.verify(&TrustPolicy::default()), Err(PackageError::Untrusted { .. })));
        assert!(matches!(package(None).verify(&strict), Err(PackageError::Unsigned)));
        assert_eq!(package(None).verify(&relaxed).unwrap().seal.signature_status, "unsigned_allowed");
    }

    #[test]
    fn tampering_is_refused_even_when_unsigned_plugins_are_allowed() {
        let key = read_key(&generate_key().0).unwrap();
        let relaxed = TrustPolicy { trusted_keys: vec![key.verifying_key()], allow_unsigned: true };
        let tampered = package(Some(signed(&key, b"the original bytes")));
        let error = tampered.verify(&relaxed).unwrap_err();
        assert_eq!(error.code(), "plugin_tampered", "{error}");
    }

    #[test]
    fn unsupported_api_versions_name_the_supported_ones() {
        let mut old = package(None);
        old.manifest = MANIFEST.replace("0.1.0\"\n\n[[types]]", "9.9.0\"\n\n[[types]]");
        let error = old.verify(&TrustPolicy { allow_unsigned: true, ..TrustPolicy::default() }).unwrap_err();
        assert_eq!(error.code(), "unsupported_api_version");
        assert!(error.to_string().contains("9.9.0") && error.to_string().contains("0.1.0"), "{error}");
    }

    #[test]
    fn oversized_parts_are_refused_before_parsing() {
        let mut big = package(None);
        big.wasm = vec![0; MAX_WASM_BYTES + 1];
        assert_eq!(big.verify(&TrustPolicy::default()).unwrap_err().code(), "payload_too_large");
    }
}

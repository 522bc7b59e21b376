//! Plugin signatures: a publisher signs, with ed25519, a statement naming
//! the plugin, its version, its wasm's SHA-256 and its manifest's SHA-256.
//! The statement travels as `plugin.sig` (JSON) beside the package.
//!
//! Verifying answers one of: trusted (a valid signature by a configured
//! publisher key), untrusted (valid, by another key), or tampered (the
//! package's bytes are not the signed ones, or the signature is forged);
//! tampered packages are always refused, whatever the policy.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// The statement's format; part of what is signed.
pub const FORMAT: &str = "inlet-plugin-signature-v1";
/// A signing key file's kind.
const KEY_KIND: &str = "inlet-plugin-signing-key-v1";

/// `plugin.sig`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureFile {
    pub format: String,
    pub plugin: String,
    pub version: String,
    pub wasm_sha256: String,
    pub manifest_sha256: String,
    /// The publisher's ed25519 public key (base64 of 32 bytes).
    pub public_key: String,
    /// base64 of the 64-byte signature over [`SignatureFile::message`].
    pub signature: String,
}

/// A signing key as `inlet plugin keygen` writes it (keep it secret).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    kind: String,
    /// base64 of the 32-byte ed25519 seed.
    secret: String,
    public_key: String,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("plugin.sig is not a valid signature file: {0}")]
    Malformed(String),
    #[error("the package was changed after it was signed: {0}")]
    Tampered(String),
    #[error("not a signing key file: {0}")]
    BadKey(String),
}

/// How a package's signature checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Signed by one of the trusted publisher keys (its id).
    Trusted { key_id: String },
    /// Validly signed, by a key nobody configured as trusted.
    Untrusted { key_id: String },
}

/// The SHA-256 of `bytes` in hex.
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A short, stable name for a public key: the first 16 hex digits of its SHA-256.
pub fn key_id(public_key: &VerifyingKey) -> String {
    digest(public_key.as_bytes())[..16].to_owned()
}

/// Parses a base64 public key (as configured in `INLET_TRUSTED_PLUGIN_KEYS`).
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, SignatureError> {
    let bytes = BASE64.decode(text.trim()).map_err(|e| SignatureError::BadKey(format!("public key: {e}")))?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| SignatureError::BadKey("a public key is 32 bytes".into()))?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| SignatureError::BadKey(format!("public key: {e}")))
}

impl SignatureFile {
    /// Exactly what is signed.
    fn message(plugin: &str, version: &str, wasm_sha256: &str, manifest_sha256: &str) -> String {
        format!("{FORMAT}\n{plugin}\n{version}\n{wasm_sha256}\n{manifest_sha256}\n")
    }

    /// Signs a package.
    pub fn sign(key: &SigningKey, plugin: &str, version: &str, wasm: &[u8], manifest: &[u8]) -> Self {
        let (wasm_sha256, manifest_sha256) = (digest(wasm), digest(manifest));
        let signature = key.sign(Self::message(plugin, version, &wasm_sha256, &manifest_sha256).as_bytes());
        Self {
            format: FORMAT.to_owned(),
            plugin: plugin.to_owned(),
            version: version.to_owned(),
            wasm_sha256,
            manifest_sha256,
            public_key: BASE64.encode(key.verifying_key().as_bytes()),
            signature: BASE64.encode(signature.to_bytes()),
        }
    }

    pub fn parse(text: &str) -> Result<Self, SignatureError> {
        let file: Self = serde_json::from_str(text).map_err(|e| SignatureError::Malformed(e.to_string()))?;
        if file.format != FORMAT {
            return Err(SignatureError::Malformed(format!("format `{}` is not `{FORMAT}`", file.format)));
        }
        Ok(file)
    }

    /// Checks the signature against the package and `trusted` keys.
    pub fn verify(
        &self,
        plugin: &str,
        version: &str,
        wasm: &[u8],
        manifest: &[u8],
        trusted: &[VerifyingKey],
    ) -> Result<Verdict, SignatureError> {
        let tampered = |what: &str| SignatureError::Tampered(what.to_owned());
        if self.wasm_sha256 != digest(wasm) {
            return Err(tampered("the wasm's SHA-256 is not the signed one"));
        }
        if self.manifest_sha256 != digest(manifest) {
            return Err(tampered("the manifest's SHA-256 is not the signed one"));
        }
        if self.plugin != plugin || self.version != version {
            return Err(tampered("the signature names another plugin or version"));
        }
        let key = parse_public_key(&self.public_key).map_err(|e| SignatureError::Malformed(e.to_string()))?;
        let bytes = BASE64.decode(&self.signature).map_err(|e| SignatureError::Malformed(format!("signature: {e}")))?;
        let signature =
            Signature::from_slice(&bytes).map_err(|e| SignatureError::Malformed(format!("signature: {e}")))?;
        let message = Self::message(plugin, version, &self.wasm_sha256, &self.manifest_sha256);
        key.verify(message.as_bytes(), &signature).map_err(|_| tampered("the signature does not verify"))?;
        let key_id = key_id(&key);
        Ok(if trusted.contains(&key) { Verdict::Trusted { key_id } } else { Verdict::Untrusted { key_id } })
    }
}

/// A new signing key: the key file's text (secret) and the public key (base64).
pub fn generate_key() -> (String, String) {
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let public_key = BASE64.encode(key.verifying_key().as_bytes());
    let file =
        KeyFile { kind: KEY_KIND.to_owned(), secret: BASE64.encode(key.to_bytes()), public_key: public_key.clone() };
    // A struct of strings always serializes.
    let text = serde_json::to_string_pretty(&file).unwrap_or_default();
    (text, public_key)
}

/// Reads a key file written by [`generate_key`].
pub fn read_key(text: &str) -> Result<SigningKey, SignatureError> {
    let file: KeyFile = serde_json::from_str(text).map_err(|e| SignatureError::BadKey(e.to_string()))?;
    if file.kind != KEY_KIND {
        return Err(SignatureError::BadKey(format!("kind `{}` is not `{KEY_KIND}`", file.kind)));
    }
    let seed = BASE64.decode(&file.secret).map_err(|e| SignatureError::BadKey(e.to_string()))?;
    let seed: [u8; 32] = seed.try_into().map_err(|_| SignatureError::BadKey("the secret is 32 bytes".into()))?;
    Ok(SigningKey::from_bytes(&seed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        let (text, _) = generate_key();
        read_key(&text).expect("key")
    }

    #[test]
    fn a_signed_package_verifies_as_trusted_only_with_its_key_configured() {
        let key = key();
        let sig = SignatureFile::sign(&key, "pg", "1.2.0", b"wasm", b"manifest");
        let reparsed = SignatureFile::parse(&serde_json::to_string(&sig).unwrap()).unwrap();
        let trusted = [key.verifying_key()];
        let id = key_id(&key.verifying_key());
        assert_eq!(
            reparsed.verify("pg", "1.2.0", b"wasm", b"manifest", &trusted),
            Ok(Verdict::Trusted { key_id: id.clone() })
        );
        assert_eq!(reparsed.verify("pg", "1.2.0", b"wasm", b"manifest", &[]), Ok(Verdict::Untrusted { key_id: id }));
    }

    #[test]
    fn any_change_is_tampering() {
        let key = key();
        let trusted = [key.verifying_key()];
        let sig = SignatureFile::sign(&key, "pg", "1.2.0", b"wasm", b"manifest");
        let tampered = |r: Result<Verdict, SignatureError>| matches!(r, Err(SignatureError::Tampered(_)));
        assert!(tampered(sig.verify("pg", "1.2.0", b"wasm!", b"manifest", &trusted)));
        assert!(tampered(sig.verify("pg", "1.2.0", b"wasm", b"manifest!", &trusted)));
        assert!(tampered(sig.verify("pg", "1.3.0", b"wasm", b"manifest", &trusted)));
        let mut forged = sig.clone();
        forged.wasm_sha256 = digest(b"other");
        assert!(tampered(forged.verify("pg", "1.2.0", b"other", b"manifest", &trusted)), "hashes re-signed by nobody");
        let mut other_key = SignatureFile::sign(&self::key(), "pg", "1.2.0", b"wasm", b"manifest");
        other_key.public_key = sig.public_key.clone();
        assert!(
            tampered(other_key.verify("pg", "1.2.0", b"wasm", b"manifest", &trusted)),
            "a signature by another key"
        );
    }

    #[test]
    fn malformed_files_and_keys_are_refused() {
        assert!(matches!(SignatureFile::parse("{}"), Err(SignatureError::Malformed(_))));
        assert!(matches!(SignatureFile::parse("not json"), Err(SignatureError::Malformed(_))));
        let mut sig = SignatureFile::sign(&key(), "pg", "1", b"w", b"m");
        sig.format = "v0".into();
        assert!(SignatureFile::parse(&serde_json::to_string(&sig).unwrap()).is_err());
        assert!(read_key("{}").is_err());
        assert!(parse_public_key("AAAA").is_err());
    }
}

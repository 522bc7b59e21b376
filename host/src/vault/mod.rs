//! The credential vault: the keys and the sealing of data source secrets.
//!
//! A master key (KEK, [`MasterKey`]) wraps one data key per organization
//! (DEK, [`DataKey`]); secrets are sealed with the organization's data key and
//! associated data ([`SecretAad`]) that binds organization, data source and
//! field, so a ciphertext opens only in the row it was written for.
//!
//! - [`keys`] holds key material (heap-allocated, zeroized on drop).
//! - [`keyring`] wraps, unwraps and re-wraps data keys under master keys.
//! - [`master`] loads the keyring from `INLET_MASTER_KEY` or the key file.
//! - [`seal`] seals and opens secrets.
//!
//! This module owns the cryptography and the key file, nothing else: it never
//! touches the database (callers store the strings it produces), and it never
//! puts key material or plaintext in an error, a log line or a `Debug` output.

pub mod keyring;
pub mod keys;
pub mod master;
pub mod seal;

pub use keyring::Keyring;
pub use keys::{DataKey, MasterKey};
pub use master::KeySource;
pub use seal::{SecretAad, open, seal};
pub use zeroize::Zeroizing;

use std::path::PathBuf;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use rand::rngs::OsRng;
use thiserror::Error;

/// Length of an AES-256-GCM nonce (96 bits).
const NONCE_LEN: usize = 12;
/// Length of an AES-256-GCM authentication tag.
const TAG_LEN: usize = 16;

#[derive(Debug, Error)]
pub enum VaultError {
    /// A wrapped data key names a master key the keyring does not hold.
    #[error(
        "the master key does not match the one that sealed this data (key id {key_id} not in the \
         keyring): INLET_MASTER_KEY is wrong, or the previous key is missing from \
         INLET_PREVIOUS_MASTER_KEYS during a rotation"
    )]
    UnknownMasterKey { key_id: String },
    /// The master key with the right id did not authenticate the wrapped data key.
    #[error(
        "cannot unwrap the data key of organization `{org_id}` with master key {key_id}: \
         INLET_MASTER_KEY is wrong, or the stored data key was altered or belongs to another \
         organization"
    )]
    DataKeyRejected { org_id: String, key_id: String },
    /// A sealed secret did not authenticate under this data key and associated data.
    #[error(
        "cannot open secret: it was sealed for another organization, data source or field, or it \
         was altered"
    )]
    SecretRejected,
    /// A stored string is not in the vault's format. `what` names the kind of
    /// string; `reason` never quotes it.
    #[error("malformed {what}: {reason}")]
    Malformed { what: &'static str, reason: String },
    /// A master key given as text cannot be parsed. `origin` says where it came
    /// from (an environment variable or the key file), never what it was.
    #[error("{origin} is not a valid master key: {reason}")]
    InvalidMasterKey { origin: String, reason: &'static str },
    #[error(
        "master key file {} has mode {mode:04o}, wider than 0600; restrict it with `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    KeyFilePermissions { path: PathBuf, mode: u32 },
    #[error("master key file {}: {reason}", path.display())]
    KeyFile { path: PathBuf, reason: String },
    #[error("the operating system's random number generator failed: {0}")]
    Random(String),
    #[error("cannot encrypt: {0}")]
    Encrypt(&'static str),
}

/// Fills `buf` from the operating system's generator.
fn fill_random(buf: &mut [u8]) -> Result<(), VaultError> {
    OsRng.try_fill_bytes(buf).map_err(|error| VaultError::Random(error.to_string()))
}

fn cipher(key: &[u8; 32]) -> Aes256Gcm {
    Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key))
}

/// AES-256-GCM with a fresh random nonce; returns
/// base64url-nopad(nonce || ciphertext || tag).
fn encrypt(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Result<String, VaultError> {
    let mut nonce = [0u8; NONCE_LEN];
    fill_random(&mut nonce)?;
    let ciphertext = cipher(key)
        .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad })
        .map_err(|_| VaultError::Encrypt("the plaintext is too long"))?;
    let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    Ok(URL_SAFE_NO_PAD.encode(out))
}

/// Why [`decrypt`] failed: the payload is not well-formed, or it did not
/// authenticate (wrong key, wrong associated data, or altered).
enum DecryptError {
    Malformed(String),
    Rejected,
}

/// The inverse of [`encrypt`]; the plaintext is zeroized when dropped.
fn decrypt(key: &[u8; 32], aad: &[u8], payload: &str) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| DecryptError::Malformed("the payload is not unpadded base64url".into()))?;
    if bytes.len() < NONCE_LEN + TAG_LEN {
        return Err(DecryptError::Malformed(format!(
            "the payload is {} bytes, shorter than a nonce and a tag",
            bytes.len()
        )));
    }
    let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
    cipher(key)
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad })
        .map(Zeroizing::new)
        .map_err(|_| DecryptError::Rejected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypt_decrypt_round_trip_and_reject_other_aad_or_key() {
        let key = [7u8; 32];
        let payload = encrypt(&key, b"aad", b"hello").unwrap();
        assert_eq!(decrypt(&key, b"aad", &payload).ok().unwrap().as_slice(), b"hello");
        assert!(matches!(decrypt(&key, b"other", &payload), Err(DecryptError::Rejected)));
        assert!(matches!(decrypt(&[8u8; 32], b"aad", &payload), Err(DecryptError::Rejected)));
        assert!(matches!(decrypt(&key, b"aad", "AAAA"), Err(DecryptError::Malformed(_))));
        assert!(matches!(decrypt(&key, b"aad", "not base64!"), Err(DecryptError::Malformed(_))));
    }
}

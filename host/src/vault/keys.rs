//! Key material: the master key (KEK) and the per-organization data keys
//! (DEK). Both are 32 bytes kept on the heap (so moving a key never leaves a
//! copy behind on the stack) and zeroized on drop; their `Debug` shows no key
//! bytes. This module never writes a key anywhere: encoding a master key for
//! the key file returns a [`Zeroizing`] string the caller must not log.

use std::fmt;

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use super::{VaultError, fill_random};

/// Key length in bytes (AES-256).
pub const KEY_LEN: usize = 32;

/// Standard base64, padding optional (`openssl rand -base64 32` pads).
const KEY_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// 32 secret bytes on the heap, zeroized on drop.
struct KeyBytes(Box<[u8; KEY_LEN]>);

impl KeyBytes {
    fn zeroed() -> Self {
        Self(Box::new([0u8; KEY_LEN]))
    }

    fn random() -> Result<Self, VaultError> {
        let mut key = Self::zeroed();
        fill_random(&mut key.0[..])?;
        Ok(key)
    }
}

impl Drop for KeyBytes {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// The master key (KEK): wraps data keys, never seals secrets itself.
pub struct MasterKey {
    bytes: KeyBytes,
    id: String,
}

impl MasterKey {
    /// A fresh random key from the operating system's generator.
    pub fn generate() -> Result<Self, VaultError> {
        Ok(Self::from_key_bytes(KeyBytes::random()?))
    }

    /// Parses a key given as standard base64 of 32 bytes, or as 64 hex
    /// characters; surrounding whitespace is ignored. `origin` names where the
    /// text came from for the error message, which never quotes the text.
    pub fn parse(text: &str, origin: &str) -> Result<Self, VaultError> {
        let invalid = |reason| VaultError::InvalidMasterKey { origin: origin.to_owned(), reason };
        let text = text.trim();
        if text.is_empty() {
            return Err(invalid("it is empty"));
        }
        let mut key = KeyBytes::zeroed();
        if text.len() == 2 * KEY_LEN && text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            hex::decode_to_slice(text, &mut key.0[..]).map_err(|_| invalid("it is not valid hex"))?;
            return Ok(Self::from_key_bytes(key));
        }
        // The decoder's own errors quote the offending character, so they are
        // replaced by a fixed reason.
        let decoded = Zeroizing::new(KEY_BASE64.decode(text).map_err(|_| {
            invalid("expected 32 bytes as standard base64 (`openssl rand -base64 32`) or 64 hex characters")
        })?);
        if decoded.len() != KEY_LEN {
            return Err(invalid("it is valid base64 but does not decode to exactly 32 bytes"));
        }
        key.0.copy_from_slice(&decoded);
        Ok(Self::from_key_bytes(key))
    }

    /// Builds a key from raw bytes, zeroizing the caller's copy.
    pub fn from_bytes(bytes: &mut [u8; KEY_LEN]) -> Self {
        let mut key = KeyBytes::zeroed();
        key.0.copy_from_slice(&bytes[..]);
        bytes.zeroize();
        Self::from_key_bytes(key)
    }

    fn from_key_bytes(bytes: KeyBytes) -> Self {
        let id = key_id(&bytes.0);
        Self { bytes, id }
    }

    /// The key's public id: the first 8 bytes of SHA-256("inlet-kek-id" || key)
    /// in hex. Safe to log and to store beside what the key wrapped.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The key as standard base64, the key file's format and one of the
    /// formats of `INLET_MASTER_KEY`. Secret: never log it.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(KEY_BASE64.encode(&self.bytes.0[..]))
    }

    pub(super) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.bytes.0
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey").field("id", &self.id).finish_non_exhaustive()
    }
}

fn key_id(key: &[u8; KEY_LEN]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"inlet-kek-id");
    hasher.update(key);
    hex::encode(&hasher.finalize()[..8])
}

/// One organization's data key (DEK): seals that organization's secrets.
/// Stored only wrapped under a master key (see [`super::Keyring`]).
pub struct DataKey {
    bytes: KeyBytes,
}

impl DataKey {
    pub(super) fn generate() -> Result<Self, VaultError> {
        Ok(Self { bytes: KeyBytes::random()? })
    }

    /// Copies an unwrapped key out of a buffer that has the right length.
    pub(super) fn from_slice(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != KEY_LEN {
            return None;
        }
        let mut key = KeyBytes::zeroed();
        key.0.copy_from_slice(bytes);
        Some(Self { bytes: key })
    }

    pub(super) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.bytes.0
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn parses_hex_and_base64_to_the_same_key() {
        let from_hex = MasterKey::parse(HEX_KEY, "test").unwrap();
        let base64 = from_hex.to_base64();
        assert_eq!(base64.len(), 44);
        let from_base64 = MasterKey::parse(&format!("  {}\n", base64.as_str()), "test").unwrap();
        assert_eq!(from_hex.bytes(), from_base64.bytes());
        assert_eq!(from_hex.id(), from_base64.id());
        let unpadded = MasterKey::parse(base64.trim_end_matches('='), "test").unwrap();
        assert_eq!(unpadded.id(), from_hex.id());
        let mut raw: [u8; 32] = std::array::from_fn(|index| index as u8);
        let from_raw = MasterKey::from_bytes(&mut raw);
        assert_eq!(raw, [0u8; 32], "the caller's copy is zeroized");
        assert_eq!(from_raw.id(), from_hex.id());
    }

    #[test]
    fn key_id_is_a_prefix_of_the_domain_separated_sha256() {
        let key = MasterKey::parse(HEX_KEY, "test").unwrap();
        let mut hasher = Sha256::new();
        hasher.update(b"inlet-kek-id");
        hasher.update(hex::decode(HEX_KEY).unwrap());
        assert_eq!(key.id(), &hex::encode(hasher.finalize())[..16]);
        assert_eq!(key.id().len(), 16);
        assert_ne!(MasterKey::generate().unwrap().id(), key.id());
    }

    #[test]
    fn malformed_keys_are_refused_without_echoing_them() {
        let too_short = "c2hvcnQta2V5LXNlY3JldA=="; // 16 bytes
        let bad_chars = "zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
        let not_base64 = "hunter2-is-my-password!!";
        for text in [too_short, bad_chars, not_base64, &HEX_KEY[..62], ""] {
            let error = MasterKey::parse(text, "INLET_MASTER_KEY").unwrap_err();
            let message = error.to_string();
            assert!(message.starts_with("INLET_MASTER_KEY is not a valid master key"), "{message}");
            if !text.is_empty() {
                assert!(!message.contains(text), "{message}");
                assert!(!format!("{error:?}").contains(text));
            }
            assert!(!message.contains("hunter2"));
        }
    }

    #[test]
    fn debug_never_shows_key_bytes() {
        let master = MasterKey::parse(HEX_KEY, "test").unwrap();
        let debug = format!("{master:?}");
        assert!(debug.contains(master.id()), "{debug}");
        assert!(!debug.contains("0102030405"), "{debug}");
        assert!(!debug.contains(master.to_base64().as_str()), "{debug}");
        assert!(!debug.contains("[0, 1, 2"), "{debug}");
        let data = DataKey::from_slice(&[0xAB; 32]).unwrap();
        let debug = format!("{data:?}");
        assert_eq!(debug, "DataKey(..)");
        assert!(DataKey::from_slice(&[0; 31]).is_none());
    }
}

//! The keyring: the primary master key, which wraps every new data key, and
//! the previous master keys, kept only to unwrap during a rotation.
//!
//! A wrapped data key is `v1.<master key id>.<base64url-nopad(nonce ||
//! ciphertext)>`, AES-256-GCM under the master key with associated data
//! `inlet:dek:v1:<org id>`, so a wrapped key moved to another organization
//! does not unwrap. This module never stores anything: callers persist the
//! wrapped strings.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::keys::{DataKey, MasterKey};
use super::{DecryptError, VaultError, decrypt, encrypt};

const WRAPPED_VERSION: &str = "v1";
const WRAPPED: &str = "wrapped data key";

pub struct Keyring {
    primary: MasterKey,
    previous: Vec<MasterKey>,
}

impl Keyring {
    /// A keyring whose new wrappings use `primary`; `previous` keys only
    /// unwrap. Previous keys equal to the primary (or to each other) are
    /// dropped.
    pub fn new(primary: MasterKey, previous: Vec<MasterKey>) -> Self {
        let mut kept: Vec<MasterKey> = Vec::with_capacity(previous.len());
        for key in previous {
            if key.id() != primary.id() && kept.iter().all(|other| other.id() != key.id()) {
                kept.push(key);
            }
        }
        Self { primary, previous: kept }
    }

    /// The id of the key that wraps new data keys (safe to log).
    pub fn primary_id(&self) -> &str {
        self.primary.id()
    }

    /// The ids of the previous keys, which only unwrap (safe to log).
    pub fn previous_ids(&self) -> impl Iterator<Item = &str> {
        self.previous.iter().map(MasterKey::id)
    }

    /// A new random data key for `org_id` and its wrapping under the primary
    /// key, to be stored with the organization.
    pub fn generate_data_key(&self, org_id: &str) -> Result<(DataKey, String), VaultError> {
        let key = DataKey::generate()?;
        let wrapped = self.wrap_data_key(org_id, &key)?;
        Ok((key, wrapped))
    }

    /// Wraps `key` for `org_id` under the primary key, with a fresh nonce.
    pub fn wrap_data_key(&self, org_id: &str, key: &DataKey) -> Result<String, VaultError> {
        let payload = encrypt(self.primary.bytes(), &dek_aad(org_id), key.bytes())?;
        Ok(format!("{WRAPPED_VERSION}.{}.{payload}", self.primary.id()))
    }

    /// Unwraps `org_id`'s data key with whichever master key wrapped it.
    pub fn unwrap_data_key(&self, org_id: &str, wrapped: &str) -> Result<DataKey, VaultError> {
        let (key_id, payload) = parse_wrapped(wrapped)?;
        let master = self.key(key_id).ok_or_else(|| VaultError::UnknownMasterKey { key_id: key_id.to_owned() })?;
        let plain = decrypt(master.bytes(), &dek_aad(org_id), payload).map_err(|error| match error {
            DecryptError::Malformed(reason) => VaultError::Malformed { what: WRAPPED, reason },
            DecryptError::Rejected => {
                VaultError::DataKeyRejected { org_id: org_id.to_owned(), key_id: key_id.to_owned() }
            }
        })?;
        DataKey::from_slice(&plain).ok_or_else(|| VaultError::Malformed {
            what: WRAPPED,
            reason: format!("it holds {} bytes instead of 32", plain.len()),
        })
    }

    /// Re-wraps `org_id`'s data key under the primary key if another key
    /// wrapped it; `None` when it already uses the primary key. The data key
    /// itself does not change, so secrets sealed with it stay valid. This is
    /// what `inlet keys rotate` runs over every organization.
    pub fn rewrap(&self, org_id: &str, wrapped: &str) -> Result<Option<String>, VaultError> {
        let (key_id, _) = parse_wrapped(wrapped)?;
        // Unwrap even when already primary, so a broken wrapping is reported
        // by the rotation rather than found later.
        let key = self.unwrap_data_key(org_id, wrapped)?;
        if key_id == self.primary.id() {
            return Ok(None);
        }
        self.wrap_data_key(org_id, &key).map(Some)
    }

    /// A 32-byte key for another purpose (signing presigned URLs, ...):
    /// HMAC-SHA256 of `label` under the primary master key, so each label has
    /// its own key and none of them reveals the master key. The result changes
    /// when the primary key is rotated. The caller owns (and should zeroize)
    /// the returned bytes.
    pub fn derive_key(&self, label: &str) -> [u8; 32] {
        // HMAC takes keys of any length, so this cannot fail for 32 bytes.
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(self.primary.bytes()).expect("HMAC accepts a key of any length");
        mac.update(b"inlet:derive:v1:");
        mac.update(label.as_bytes());
        mac.finalize().into_bytes().into()
    }

    fn key(&self, id: &str) -> Option<&MasterKey> {
        std::iter::once(&self.primary).chain(&self.previous).find(|key| key.id() == id)
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring").field("primary", &self.primary).field("previous", &self.previous).finish()
    }
}

fn dek_aad(org_id: &str) -> Vec<u8> {
    format!("inlet:dek:v1:{org_id}").into_bytes()
}

/// Splits `v1.<key id>.<payload>` into the key id and the payload.
fn parse_wrapped(wrapped: &str) -> Result<(&str, &str), VaultError> {
    let malformed = |reason: &str| VaultError::Malformed { what: WRAPPED, reason: reason.to_owned() };
    let mut parts = wrapped.trim().splitn(3, '.');
    let (Some(version), Some(key_id), Some(payload)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(malformed("expected `v1.<key id>.<payload>`"));
    };
    if version != WRAPPED_VERSION {
        return Err(malformed("unknown version (expected `v1`)"));
    }
    if key_id.len() != 16 || !key_id.bytes().all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(malformed("the key id is not 16 lowercase hex characters"));
    }
    Ok((key_id, payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring() -> Keyring {
        Keyring::new(MasterKey::generate().unwrap(), Vec::new())
    }

    #[test]
    fn data_key_round_trip_and_format() {
        let keyring = keyring();
        let (key, wrapped) = keyring.generate_data_key("org-1").unwrap();
        let parts: Vec<&str> = wrapped.split('.').collect();
        assert_eq!(parts.len(), 3, "{wrapped}");
        assert_eq!(parts[0], "v1");
        assert_eq!(parts[1], keyring.primary_id());
        assert_eq!(parts[2].len(), 80, "base64url-nopad of 12 + 32 + 16 bytes");
        let unwrapped = keyring.unwrap_data_key("org-1", &wrapped).unwrap();
        assert_eq!(unwrapped.bytes(), key.bytes());
        // A fresh nonce each time.
        let again = keyring.wrap_data_key("org-1", &key).unwrap();
        assert_ne!(again, wrapped);
        assert_eq!(keyring.unwrap_data_key("org-1", &again).unwrap().bytes(), key.bytes());
        assert_ne!(keyring.generate_data_key("org-1").unwrap().0.bytes(), key.bytes());
    }

    #[test]
    fn a_wrapped_key_moved_to_another_org_does_not_unwrap() {
        let keyring = keyring();
        let (_, wrapped) = keyring.generate_data_key("org-1").unwrap();
        let error = keyring.unwrap_data_key("org-2", &wrapped).unwrap_err();
        assert!(matches!(error, VaultError::DataKeyRejected { .. }), "{error}");
        assert!(error.to_string().contains("INLET_MASTER_KEY"), "{error}");
    }

    #[test]
    fn a_flipped_byte_in_a_wrapped_key_fails() {
        let keyring = keyring();
        let (_, wrapped) = keyring.generate_data_key("org-1").unwrap();
        let mut bytes = wrapped.into_bytes();
        let last = bytes.len() - 10;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        let error = keyring.unwrap_data_key("org-1", &tampered).unwrap_err();
        assert!(matches!(error, VaultError::DataKeyRejected { .. }), "{error}");
    }

    #[test]
    fn a_wrong_master_key_fails_with_a_clear_error() {
        let (_, wrapped) = keyring().generate_data_key("org-1").unwrap();
        let other = keyring();
        let error = other.unwrap_data_key("org-1", &wrapped).unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, VaultError::UnknownMasterKey { .. }), "{message}");
        assert!(message.starts_with("the master key does not match the one that sealed this data"), "{message}");
        assert!(message.contains(wrapped.split('.').nth(1).unwrap()), "{message}");
        assert!(message.contains("INLET_MASTER_KEY"), "{message}");
    }

    #[test]
    fn malformed_wrapped_keys_are_refused() {
        let keyring = keyring();
        let (_, wrapped) = keyring.generate_data_key("org-1").unwrap();
        let id = keyring.primary_id();
        for bad in [
            "",
            "v1",
            "v1.abc",
            &wrapped.replacen("v1.", "v2.", 1),
            &format!("v1.{}.AAAA", id),
            &format!("v1.{}.not*base64", id),
            &format!("v1.{}.{}", id.to_uppercase(), wrapped.split('.').nth(2).unwrap()),
        ] {
            let error = keyring.unwrap_data_key("org-1", bad).unwrap_err();
            assert!(matches!(error, VaultError::Malformed { .. }), "{bad}: {error}");
        }
    }

    #[test]
    fn rotation_unwraps_old_wrappings_and_rewraps_them_under_the_new_key() {
        let old_text = MasterKey::generate().unwrap().to_base64();
        let old = Keyring::new(MasterKey::parse(&old_text, "old").unwrap(), Vec::new());
        let (key, old_wrapped) = old.generate_data_key("org-1").unwrap();

        let new_primary = MasterKey::generate().unwrap();
        let new_text = new_primary.to_base64();
        let rotating = Keyring::new(new_primary, vec![MasterKey::parse(&old_text, "old").unwrap()]);
        assert_eq!(rotating.previous_ids().collect::<Vec<_>>(), vec![old.primary_id()]);
        assert_eq!(rotating.unwrap_data_key("org-1", &old_wrapped).unwrap().bytes(), key.bytes());

        let rewrapped = rotating.rewrap("org-1", &old_wrapped).unwrap().expect("rewrapped");
        assert!(rewrapped.starts_with(&format!("v1.{}.", rotating.primary_id())));
        assert_eq!(rotating.rewrap("org-1", &rewrapped).unwrap(), None);

        // The new key alone opens the new wrapping, and not the old one.
        let new_only = Keyring::new(MasterKey::parse(&new_text, "new").unwrap(), Vec::new());
        assert_eq!(new_only.unwrap_data_key("org-1", &rewrapped).unwrap().bytes(), key.bytes());
        assert!(matches!(new_only.unwrap_data_key("org-1", &old_wrapped), Err(VaultError::UnknownMasterKey { .. })));
        // A rewrap for the wrong org is refused, not silently rebound.
        assert!(rotating.rewrap("org-2", &old_wrapped).is_err());
    }

    #[test]
    fn derived_keys_are_stable_per_label_and_differ_from_the_master_key() {
        let text = MasterKey::generate().unwrap().to_base64();
        let ring = Keyring::new(MasterKey::parse(&text, "a").unwrap(), Vec::new());
        let same = Keyring::new(MasterKey::parse(&text, "b").unwrap(), Vec::new());
        let url = ring.derive_key("inlet:file-url:v1");
        assert_eq!(url, same.derive_key("inlet:file-url:v1"));
        assert_ne!(url, ring.derive_key("inlet:other:v1"));
        assert_ne!(&url, ring.primary.bytes());
        assert_ne!(url, keyring().derive_key("inlet:file-url:v1"));
    }

    #[test]
    fn previous_keys_equal_to_the_primary_are_dropped() {
        let text = MasterKey::generate().unwrap().to_base64();
        let other = MasterKey::generate().unwrap().to_base64();
        let keyring = Keyring::new(
            MasterKey::parse(&text, "a").unwrap(),
            vec![
                MasterKey::parse(&text, "b").unwrap(),
                MasterKey::parse(&other, "c").unwrap(),
                MasterKey::parse(&other, "d").unwrap(),
            ],
        );
        assert_eq!(keyring.previous_ids().count(), 1);
        let debug = format!("{keyring:?}");
        assert!(!debug.contains(text.as_str()) && !debug.contains(other.as_str()), "{debug}");
    }
}

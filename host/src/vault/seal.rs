//! Sealing and opening data source secrets with an organization's data key.
//!
//! A sealed secret is `v1.<base64url-nopad(nonce || ciphertext)>`:
//! AES-256-GCM with a fresh random 96-bit nonce and associated data that
//! binds organization, data source and field ([`SecretAad`]), so a ciphertext
//! copied into another row, data source, field or organization does not open.
//! Opened plaintext is returned in a [`Zeroizing`] string; this module never
//! logs or returns it any other way, and its errors never quote it.

use zeroize::{Zeroize, Zeroizing};

use super::keys::DataKey;
use super::{DecryptError, VaultError, decrypt, encrypt};

const SEALED_PREFIX: &str = "v1.";
const SEALED: &str = "sealed secret";
const AAD_LABEL: &[u8] = b"inlet:secret:v1";

/// Where a secret belongs; sealed into its associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretAad<'a> {
    pub org_id: &'a str,
    pub data_source_id: &'a str,
    pub field: &'a str,
}

impl SecretAad<'_> {
    /// `inlet:secret:v1`, then each part as a big-endian u32 length and its
    /// bytes: no two different triples encode the same way.
    fn encode(&self) -> Result<Vec<u8>, VaultError> {
        let parts = [self.org_id, self.data_source_id, self.field];
        let mut out = Vec::with_capacity(AAD_LABEL.len() + parts.iter().map(|part| 4 + part.len()).sum::<usize>());
        out.extend_from_slice(AAD_LABEL);
        for part in parts {
            let len = u32::try_from(part.len()).map_err(|_| VaultError::Malformed {
                what: "secret location",
                reason: "an id or field name is longer than 4 GiB".into(),
            })?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
        Ok(out)
    }
}

/// Seals `plaintext` for the location `aad` with a fresh nonce.
pub fn seal(dek: &DataKey, aad: &SecretAad<'_>, plaintext: &str) -> Result<String, VaultError> {
    let payload = encrypt(dek.bytes(), &aad.encode()?, plaintext.as_bytes())?;
    Ok(format!("{SEALED_PREFIX}{payload}"))
}

/// Opens a secret sealed by [`seal`] for the same data key and location.
pub fn open(dek: &DataKey, aad: &SecretAad<'_>, sealed: &str) -> Result<Zeroizing<String>, VaultError> {
    let payload = sealed
        .trim()
        .strip_prefix(SEALED_PREFIX)
        .ok_or_else(|| VaultError::Malformed { what: SEALED, reason: "expected `v1.<payload>`".into() })?;
    let mut plain = decrypt(dek.bytes(), &aad.encode()?, payload).map_err(|error| match error {
        DecryptError::Malformed(reason) => VaultError::Malformed { what: SEALED, reason },
        DecryptError::Rejected => VaultError::SecretRejected,
    })?;
    // Move the bytes into the string without copying; on failure take them
    // back out of the error and wipe them.
    match String::from_utf8(std::mem::take(&mut *plain)) {
        Ok(text) => Ok(Zeroizing::new(text)),
        Err(error) => {
            error.into_bytes().zeroize();
            Err(VaultError::Malformed { what: SEALED, reason: "the plaintext is not UTF-8".into() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vault::{Keyring, MasterKey};

    const AAD: SecretAad<'static> = SecretAad { org_id: "org-1", data_source_id: "ds-1", field: "password" };

    fn data_key() -> DataKey {
        let keyring = Keyring::new(MasterKey::generate().unwrap(), Vec::new());
        keyring.generate_data_key("org-1").unwrap().0
    }

    #[test]
    fn round_trip() {
        let dek = data_key();
        for plaintext in ["s3cret", "", "pässwörd ✓", &"x".repeat(10_000)] {
            let sealed = seal(&dek, &AAD, plaintext).unwrap();
            assert!(sealed.starts_with("v1."), "{sealed}");
            assert_eq!(open(&dek, &AAD, &sealed).unwrap().as_str(), plaintext);
        }
    }

    #[test]
    fn each_seal_uses_a_fresh_nonce() {
        let dek = data_key();
        let first = seal(&dek, &AAD, "same").unwrap();
        let second = seal(&dek, &AAD, "same").unwrap();
        assert_ne!(first, second);
        assert_ne!(first[3..19], second[3..19], "the nonces differ");
    }

    #[test]
    fn a_secret_moved_elsewhere_does_not_open() {
        let dek = data_key();
        let sealed = seal(&dek, &AAD, "s3cret").unwrap();
        let elsewhere = [
            SecretAad { org_id: "org-2", ..AAD },
            SecretAad { data_source_id: "ds-2", ..AAD },
            SecretAad { field: "api_key", ..AAD },
            // Shifting bytes between parts must not collide.
            SecretAad { org_id: "org-1d", data_source_id: "s-1", ..AAD },
            SecretAad { data_source_id: "ds-1password", field: "", ..AAD },
        ];
        for aad in elsewhere {
            let error = open(&dek, &aad, &sealed).unwrap_err();
            assert!(matches!(error, VaultError::SecretRejected), "{aad:?}: {error}");
            assert_eq!(
                error.to_string(),
                "cannot open secret: it was sealed for another organization, data source or \
                 field, or it was altered"
            );
        }
        // Another organization's data key does not open it either.
        let error = open(&data_key(), &AAD, &sealed).unwrap_err();
        assert!(matches!(error, VaultError::SecretRejected), "{error}");
    }

    #[test]
    fn a_flipped_byte_fails() {
        let dek = data_key();
        let sealed = seal(&dek, &AAD, "s3cret-value").unwrap();
        // Every full character of the payload (the last may carry padding bits).
        for index in 3..sealed.len() - 1 {
            let mut bytes = sealed.clone().into_bytes();
            bytes[index] = if bytes[index] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(bytes).unwrap();
            let error = open(&dek, &AAD, &tampered).unwrap_err();
            assert!(matches!(error, VaultError::SecretRejected), "{index}: {error}");
        }
        let truncated = &sealed[..sealed.len() - 4];
        assert!(open(&dek, &AAD, truncated).is_err());
    }

    #[test]
    fn malformed_sealed_strings_are_refused_without_quoting_them() {
        let dek = data_key();
        for bad in ["", "s3cret", "v2.AAAA", "v1.", "v1.AAAA", "v1.!!not-base64!!"] {
            let error = open(&dek, &AAD, bad).unwrap_err();
            assert!(matches!(error, VaultError::Malformed { .. }), "{bad}: {error}");
            if bad.len() > 4 {
                assert!(!error.to_string().contains(bad), "{error}");
            }
        }
    }

    #[test]
    fn aad_encoding_is_length_prefixed() {
        let encoded = SecretAad { org_id: "o", data_source_id: "ds", field: "" }.encode().unwrap();
        let mut expected = b"inlet:secret:v1".to_vec();
        expected.extend_from_slice(&[0, 0, 0, 1, b'o', 0, 0, 0, 2, b'd', b's', 0, 0, 0, 0]);
        assert_eq!(encoded, expected);
    }
}

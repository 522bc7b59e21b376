//! Private keys and host key fingerprints: pure functions, no I/O.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use russh::keys::ssh_key::{self, HashAlg, PrivateKey};
use sha2::{Digest, Sha256};

use super::TunnelError;

/// The `SHA256:…` fingerprint of a public key blob (the SSH wire encoding), as
/// `ssh-keygen -lf` prints it: base64 without padding.
pub fn fingerprint_of_blob(blob: &[u8]) -> String {
    format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(blob)))
}

/// The `SHA256:…` fingerprint of a public key.
pub fn fingerprint_of(key: &ssh_key::public::KeyData) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// Checks and normalises a pinned fingerprint: surrounding blanks are ignored, the
/// `SHA256:` prefix is required (case-insensitive), base64 padding is dropped, and the
/// rest must decode to 32 bytes.
pub fn normalize_fingerprint(pinned: &str) -> Result<String, TunnelError> {
    let trimmed = pinned.trim();
    let Some((prefix, body)) = trimmed.split_once(':') else {
        return Err(TunnelError::Config(format!(
            "host key fingerprint {trimmed:?} is not of the form SHA256:<base64> (as `ssh-keygen -lf` prints it)"
        )));
    };
    if !prefix.eq_ignore_ascii_case("SHA256") {
        return Err(TunnelError::Config(format!(
            "host key fingerprint uses {prefix:?}; only SHA256:<base64> fingerprints are accepted"
        )));
    }
    let body = body.trim_end_matches('=');
    let bytes = STANDARD_NO_PAD
        .decode(body)
        .or_else(|_| STANDARD.decode(body))
        .map_err(|_| TunnelError::Config(format!("host key fingerprint {trimmed:?} is not valid base64")))?;
    if bytes.len() != 32 {
        return Err(TunnelError::Config(format!(
            "host key fingerprint {trimmed:?} is {} bytes long; a SHA256 fingerprint is 32",
            bytes.len()
        )));
    }
    Ok(format!("SHA256:{body}"))
}

/// Reads an OpenSSH (or PEM/PKCS#8) private key, decrypting it with the passphrase if it
/// is encrypted. An empty passphrase counts as none.
pub fn decode_private_key(pem: &str, passphrase: Option<&str>) -> Result<PrivateKey, TunnelError> {
    let passphrase = passphrase.filter(|p| !p.is_empty());
    if pem.trim().is_empty() {
        return Err(TunnelError::Key("no private key was given".into()));
    }
    match russh::keys::decode_secret_key(pem, passphrase) {
        Ok(key) => Ok(key),
        Err(russh::keys::Error::KeyIsEncrypted) => {
            Err(TunnelError::Key("the private key is encrypted and no passphrase was given".into()))
        }
        Err(error) => {
            let encrypted = PrivateKey::from_openssh(pem).map(|key| key.is_encrypted()).unwrap_or(false);
            if encrypted && passphrase.is_some() {
                Err(TunnelError::Key("the passphrase does not decrypt the private key".into()))
            } else {
                Err(TunnelError::Key(format!(
                    "the private key could not be read (expected an OpenSSH private key): {error}"
                )))
            }
        }
    }
}

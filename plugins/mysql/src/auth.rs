//! The authentication plugins' arithmetic and their little state machine,
//! kept free of I/O so every path can be tested without a server.
//!
//! - `mysql_native_password`: SHA1(password) XOR SHA1(nonce + SHA1(SHA1(password))).
//! - `caching_sha2_password`: SHA256(password) XOR SHA256(SHA256(SHA256(password)) + nonce)
//!   ("fast auth"); when the server's cache misses it asks for the password
//!   itself ("full auth"): cleartext over TLS, otherwise RSA-OAEP encrypted with
//!   the server's public key after XOR with the nonce.
//! - `sha256_password`: the full-auth half of the above.
//! - `mysql_clear_password`: the password itself, only ever over TLS.

use std::num::NonZeroU32;

use rand_core::{CryptoRng, RngCore};
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::{Oaep, RsaPublicKey};
use sha1::Sha1;
use sha2::{Digest, Sha256};

use inlet_sdk::ConnectorError;

pub const NATIVE_PASSWORD: &str = "mysql_native_password";
pub const CACHING_SHA2_PASSWORD: &str = "caching_sha2_password";
pub const SHA256_PASSWORD: &str = "sha256_password";
pub const CLEAR_PASSWORD: &str = "mysql_clear_password";

/// caching_sha2_password's AuthMoreData codes.
const FAST_AUTH_SUCCESS: u8 = 0x03;
const PERFORM_FULL_AUTH: u8 = 0x04;
/// What the client sends to ask for the server's RSA key (caching_sha2 / sha256).
const REQUEST_KEY_CACHING_SHA2: u8 = 0x02;
const REQUEST_KEY_SHA256: u8 = 0x01;

/// `SHA1(password) XOR SHA1(nonce + SHA1(SHA1(password)))`; empty for an empty password.
pub fn native_password(password: &[u8], nonce: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let stage1 = Sha1::digest(password);
    let stage2 = Sha1::digest(stage1);
    let mut hasher = Sha1::new();
    hasher.update(nonce);
    hasher.update(stage2);
    let mask = hasher.finalize();
    stage1.iter().zip(mask.iter()).map(|(a, b)| a ^ b).collect()
}

/// `SHA256(password) XOR SHA256(SHA256(SHA256(password)) + nonce)`; empty for an empty password.
pub fn caching_sha2_password(password: &[u8], nonce: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let stage1 = Sha256::digest(password);
    let stage2 = Sha256::digest(stage1);
    let mut hasher = Sha256::new();
    hasher.update(stage2);
    hasher.update(nonce);
    let mask = hasher.finalize();
    stage1.iter().zip(mask.iter()).map(|(a, b)| a ^ b).collect()
}

/// The password with its terminating NUL, XORed with the nonce repeated:
/// what the server decrypts with its private key and XORs back.
pub fn xor_with_nonce(password: &[u8], nonce: &[u8]) -> Vec<u8> {
    let mut plain = password.to_vec();
    plain.push(0);
    if !nonce.is_empty() {
        for (byte, key) in plain.iter_mut().zip(nonce.iter().cycle()) {
            *byte ^= key;
        }
    }
    plain
}

/// The server's RSA public key, in the SubjectPublicKeyInfo PEM the servers
/// send ("BEGIN PUBLIC KEY") or PKCS#1 ("BEGIN RSA PUBLIC KEY").
pub fn parse_public_key(pem: &[u8]) -> Result<RsaPublicKey, ConnectorError> {
    let text = std::str::from_utf8(pem)
        .map_err(|_| ConnectorError::protocol("the server's RSA public key is not PEM text"))?
        .trim_matches(|c: char| c == '\0' || c.is_whitespace());
    RsaPublicKey::from_public_key_pem(text)
        .or_else(|_| RsaPublicKey::from_pkcs1_pem(text))
        .map_err(|error| ConnectorError::protocol(format!("the server's RSA public key does not parse: {error}")))
}

/// RSA-OAEP (SHA-1, as OpenSSL's RSA_PKCS1_OAEP_PADDING) of the password XOR nonce.
pub fn rsa_encrypt_password(
    key: &RsaPublicKey,
    password: &[u8],
    nonce: &[u8],
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<Vec<u8>, ConnectorError> {
    let plain = xor_with_nonce(password, nonce);
    key.encrypt(rng, Oaep::new::<Sha1>(), &plain).map_err(|error| match error {
        rsa::Error::MessageTooLong => {
            ConnectorError::config("the password is too long to be RSA-encrypted with the server's key; use TLS")
        }
        other => ConnectorError::internal(format!("RSA encryption of the password: {other}")),
    })
}

/// Randomness for RSA-OAEP from the host (wasi:random in the guest).
pub struct OsRandom;

impl RngCore for OsRandom {
    fn next_u32(&mut self) -> u32 {
        let mut bytes = [0u8; 4];
        self.fill_bytes(&mut bytes);
        u32::from_le_bytes(bytes)
    }

    fn next_u64(&mut self) -> u64 {
        let mut bytes = [0u8; 8];
        self.fill_bytes(&mut bytes);
        u64::from_le_bytes(bytes)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        // rand_core 0.6's infallible signature: a host without randomness is
        // a broken sandbox, and padding with zeros would be worse than a trap.
        if let Err(error) = self.try_fill_bytes(dest) {
            panic!("no randomness from the host: {error}");
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        // rand_core 0.6 without std carries only an error code.
        const CODE: NonZeroU32 = match NonZeroU32::new(rand_core::Error::CUSTOM_START) {
            Some(code) => code,
            None => NonZeroU32::MIN,
        };
        getrandom::fill(dest).map_err(|_| rand_core::Error::from(CODE))
    }
}

impl CryptoRng for OsRandom {}

/// Where a plugin's conversation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// The scramble (or first message) was sent.
    Sent,
    /// We asked for the server's RSA key and wait for it.
    AwaitingKey,
    /// Nothing more to send; only OK or ERR may follow.
    Done,
}

/// The client side of one authentication exchange.
pub struct Auth<'a> {
    plugin: String,
    nonce: Vec<u8>,
    password: &'a [u8],
    /// TLS is on: cleartext passwords may be sent.
    secure: bool,
    /// A configured server key: no need to ask (and trust) the server for it.
    server_key: Option<&'a str>,
    stage: Stage,
}

impl<'a> Auth<'a> {
    pub fn new(password: &'a str, secure: bool, server_key: Option<&'a str>) -> Self {
        Self {
            plugin: String::new(),
            nonce: Vec::new(),
            password: password.as_bytes(),
            secure,
            server_key,
            stage: Stage::Done,
        }
    }

    /// The plugin now in use.
    pub fn plugin(&self) -> &str {
        &self.plugin
    }

    /// The first response, for the plugin the greeting names. An unknown or
    /// missing plugin is answered as mysql_native_password: the server then
    /// switches to the account's plugin if it is a different one.
    pub fn start(&mut self, plugin: Option<&str>, nonce: &[u8]) -> Result<Vec<u8>, ConnectorError> {
        let plugin = match plugin {
            Some(name @ (NATIVE_PASSWORD | CACHING_SHA2_PASSWORD | SHA256_PASSWORD)) => name,
            Some(CLEAR_PASSWORD) if self.secure => CLEAR_PASSWORD,
            _ => NATIVE_PASSWORD,
        };
        self.switch(plugin, nonce)
    }

    /// An AuthSwitchRequest: the server wants another plugin, with a new nonce.
    pub fn switch(&mut self, plugin: &str, nonce: &[u8]) -> Result<Vec<u8>, ConnectorError> {
        self.plugin = plugin.to_owned();
        self.nonce = nonce.to_vec();
        self.stage = Stage::Sent;
        match plugin {
            NATIVE_PASSWORD => {
                self.stage = Stage::Done;
                Ok(native_password(self.password, nonce))
            }
            CACHING_SHA2_PASSWORD => Ok(caching_sha2_password(self.password, nonce)),
            SHA256_PASSWORD => {
                if self.password.is_empty() {
                    self.stage = Stage::Done;
                    Ok(vec![0])
                } else {
                    self.full_auth(REQUEST_KEY_SHA256)
                }
            }
            CLEAR_PASSWORD => {
                if !self.secure {
                    return Err(ConnectorError::config(
                        "the server asks for the password in cleartext (mysql_clear_password) over an \
                         unencrypted connection; set ssl_mode to required or stricter",
                    ));
                }
                self.stage = Stage::Done;
                Ok(nul_terminated(self.password))
            }
            other => Err(ConnectorError::unsupported(format!(
                "the server asks for the `{other}` authentication plugin; this connector speaks \
                 mysql_native_password, caching_sha2_password, sha256_password and (over TLS) mysql_clear_password"
            ))),
        }
    }

    /// An AuthMoreData packet's body (after its 0x01): what to send back, if anything.
    pub fn more_data(&mut self, data: &[u8]) -> Result<Option<Vec<u8>>, ConnectorError> {
        match (self.plugin.as_str(), self.stage) {
            (CACHING_SHA2_PASSWORD, Stage::Sent) => match data {
                [FAST_AUTH_SUCCESS] => {
                    self.stage = Stage::Done;
                    Ok(None)
                }
                [PERFORM_FULL_AUTH] => self.full_auth(REQUEST_KEY_CACHING_SHA2).map(Some),
                _ => Err(ConnectorError::protocol("unexpected caching_sha2_password message from the server")),
            },
            (CACHING_SHA2_PASSWORD | SHA256_PASSWORD, Stage::AwaitingKey) => {
                let key = parse_public_key(data)?;
                self.stage = Stage::Done;
                rsa_encrypt_password(&key, self.password, &self.nonce, &mut OsRandom).map(Some)
            }
            _ => Err(ConnectorError::protocol(format!(
                "unexpected authentication data from the server (plugin {})",
                self.plugin
            ))),
        }
    }

    /// The password itself: in cleartext over TLS, else RSA-encrypted with
    /// the configured key, else a request for the server's key.
    fn full_auth(&mut self, request_key: u8) -> Result<Vec<u8>, ConnectorError> {
        if self.secure {
            self.stage = Stage::Done;
            return Ok(nul_terminated(self.password));
        }
        if let Some(pem) = self.server_key {
            let key = parse_public_key(pem.as_bytes())
                .map_err(|error| ConnectorError::config(format!("server_public_key: {}", error.message)))?;
            self.stage = Stage::Done;
            return rsa_encrypt_password(&key, self.password, &self.nonce, &mut OsRandom);
        }
        self.stage = Stage::AwaitingKey;
        Ok(vec![request_key])
    }
}

fn nul_terminated(password: &[u8]) -> Vec<u8> {
    let mut out = password.to_vec();
    out.push(0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs8::{EncodePublicKey, LineEnding};
    use rsa::{Oaep, RsaPrivateKey};

    const NONCE: &[u8; 20] = b"WJKzE(8~6.&o~MDM7i/I";

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The server's check for mysql_native_password: it stores
    /// SHA1(SHA1(password)) and accepts a response whose XOR with
    /// SHA1(nonce + stored) hashes to what it stores.
    fn server_accepts_native(stored: &[u8], nonce: &[u8], response: &[u8]) -> bool {
        let mut hasher = Sha1::new();
        hasher.update(nonce);
        hasher.update(stored);
        let mask = hasher.finalize();
        let stage1: Vec<u8> = response.iter().zip(mask.iter()).map(|(a, b)| a ^ b).collect();
        Sha1::digest(&stage1).as_slice() == stored
    }

    #[test]
    fn native_password_matches_the_servers_stored_hash() {
        // MariaDB's and MySQL's docs: PASSWORD('notagoodpwd') =
        // '*3A70EE9FC6594F88CE9E959CD51C5A1C002DC937', i.e. SHA1(SHA1(pw)).
        let stored = Sha1::digest(Sha1::digest(b"notagoodpwd"));
        assert_eq!(hex(&stored), "3a70ee9fc6594f88ce9e959cd51c5a1c002dc937");
        let response = native_password(b"notagoodpwd", NONCE);
        assert_eq!(response.len(), 20);
        assert!(server_accepts_native(&stored, NONCE, &response));
        assert!(!server_accepts_native(&stored, NONCE, &native_password(b"notagoodpwe", NONCE)));
        assert!(native_password(b"", NONCE).is_empty());
    }

    #[test]
    fn native_password_known_vector() {
        // Computed independently (Python hashlib) for password "secret" and the nonce above.
        assert_eq!(hex(&native_password(b"secret", NONCE)), "4e8398b2d1b268a6e3e84f707af1a506ed161955");
    }

    #[test]
    fn caching_sha2_fast_auth_matches_the_servers_check() {
        // The server caches SHA256(SHA256(password)) and recovers
        // SHA256(password) from the response with the same mask.
        let password = b"s3cret-pa55";
        let stored = Sha256::digest(Sha256::digest(password));
        let response = caching_sha2_password(password, NONCE);
        let mut hasher = Sha256::new();
        hasher.update(stored);
        hasher.update(NONCE);
        let mask = hasher.finalize();
        let stage1: Vec<u8> = response.iter().zip(mask.iter()).map(|(a, b)| a ^ b).collect();
        assert_eq!(Sha256::digest(&stage1), stored);
        assert!(caching_sha2_password(b"", NONCE).is_empty());
    }

    #[test]
    fn caching_sha2_known_vector() {
        // Computed independently (Python hashlib) for password "secret" and the nonce above.
        assert_eq!(
            hex(&caching_sha2_password(b"secret", NONCE)),
            "49f483b7d9ee53ab61a0db7bb097efc119840db9c6327455b1600be26bf82fde"
        );
    }

    #[test]
    fn xor_with_nonce_includes_the_nul_and_cycles() {
        let nonce = [1u8, 2];
        assert_eq!(xor_with_nonce(b"abc", &nonce), vec![b'a' ^ 1, b'b' ^ 2, b'c' ^ 1, 2]);
    }

    fn test_key() -> (RsaPrivateKey, String) {
        // 1024 bits keeps the test fast; servers use 2048.
        let private = RsaPrivateKey::new(&mut OsRandom, 1024).unwrap();
        let pem = private.to_public_key().to_public_key_pem(LineEnding::LF).unwrap();
        (private, pem)
    }

    /// What the server does with the RSA message: decrypt, XOR with the nonce.
    fn server_decrypts(private: &RsaPrivateKey, message: &[u8], nonce: &[u8]) -> Vec<u8> {
        let plain = private.decrypt(Oaep::new::<Sha1>(), message).unwrap();
        xor_with_nonce_raw(&plain, nonce)
    }

    fn xor_with_nonce_raw(bytes: &[u8], nonce: &[u8]) -> Vec<u8> {
        bytes.iter().zip(nonce.iter().cycle()).map(|(a, b)| a ^ b).collect()
    }

    #[test]
    fn caching_sha2_full_auth_over_plaintext_asks_for_the_key_and_encrypts() {
        let (private, pem) = test_key();
        let mut auth = Auth::new("s3cret-pa55", false, None);
        let first = auth.start(Some(CACHING_SHA2_PASSWORD), NONCE).unwrap();
        assert_eq!(first, caching_sha2_password(b"s3cret-pa55", NONCE));
        // The cache missed: the client asks for the key (0x02)…
        assert_eq!(auth.more_data(&[PERFORM_FULL_AUTH]).unwrap(), Some(vec![REQUEST_KEY_CACHING_SHA2]));
        // …and answers the PEM with the encrypted password.
        let message = auth.more_data(pem.as_bytes()).unwrap().unwrap();
        assert_eq!(message.len(), 128);
        assert_eq!(server_decrypts(&private, &message, NONCE), b"s3cret-pa55\0");
        // Nothing more is expected before OK.
        assert!(auth.more_data(&[FAST_AUTH_SUCCESS]).is_err());
    }

    #[test]
    fn caching_sha2_full_auth_uses_a_configured_key_without_asking() {
        let (private, pem) = test_key();
        let mut auth = Auth::new("pw", false, Some(&pem));
        auth.start(Some(CACHING_SHA2_PASSWORD), NONCE).unwrap();
        let message = auth.more_data(&[PERFORM_FULL_AUTH]).unwrap().unwrap();
        assert_eq!(server_decrypts(&private, &message, NONCE), b"pw\0");
    }

    #[test]
    fn caching_sha2_full_auth_over_tls_sends_the_password() {
        let mut auth = Auth::new("pw", true, None);
        auth.start(Some(CACHING_SHA2_PASSWORD), NONCE).unwrap();
        assert_eq!(auth.more_data(&[PERFORM_FULL_AUTH]).unwrap(), Some(b"pw\0".to_vec()));
    }

    #[test]
    fn caching_sha2_fast_auth_success_waits_for_ok() {
        let mut auth = Auth::new("pw", false, None);
        auth.start(Some(CACHING_SHA2_PASSWORD), NONCE).unwrap();
        assert_eq!(auth.more_data(&[FAST_AUTH_SUCCESS]).unwrap(), None);
        assert!(auth.more_data(&[9]).is_err());
    }

    #[test]
    fn a_garbage_public_key_is_a_protocol_error() {
        let mut auth = Auth::new("pw", false, None);
        auth.start(Some(CACHING_SHA2_PASSWORD), NONCE).unwrap();
        auth.more_data(&[PERFORM_FULL_AUTH]).unwrap();
        let error = auth.more_data(b"-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n").unwrap_err();
        assert_eq!(error.kind, inlet_sdk::ErrorKind::Protocol);
        assert!(parse_public_key(&[0xFF, 0xFE]).is_err());
    }

    #[test]
    fn sha256_password_requests_the_key_with_0x01() {
        let (private, pem) = test_key();
        let mut auth = Auth::new("pw", false, None);
        assert_eq!(auth.switch(SHA256_PASSWORD, NONCE).unwrap(), vec![REQUEST_KEY_SHA256]);
        let message = auth.more_data(pem.as_bytes()).unwrap().unwrap();
        assert_eq!(server_decrypts(&private, &message, NONCE), b"pw\0");
    }

    #[test]
    fn cleartext_is_refused_without_tls() {
        let mut plain = Auth::new("pw", false, None);
        assert_eq!(plain.switch(CLEAR_PASSWORD, &[]).unwrap_err().kind, inlet_sdk::ErrorKind::Config);
        let mut tls = Auth::new("pw", true, None);
        assert_eq!(tls.switch(CLEAR_PASSWORD, &[]).unwrap(), b"pw\0");
    }

    #[test]
    fn unknown_plugins_start_as_native_and_fail_on_switch() {
        let mut auth = Auth::new("pw", false, None);
        assert_eq!(auth.start(Some("client_ed25519"), NONCE).unwrap(), native_password(b"pw", NONCE));
        assert_eq!(auth.plugin(), NATIVE_PASSWORD);
        assert_eq!(auth.switch("client_ed25519", NONCE).unwrap_err().kind, inlet_sdk::ErrorKind::Unsupported);
    }
}

//! Loading the keyring at startup: the primary master key from
//! `INLET_MASTER_KEY`, or else from `<data dir>/master.key` (created with mode
//! 0600 on first start), plus the previous keys of a rotation from
//! `INLET_PREVIOUS_MASTER_KEYS`.
//!
//! This module owns the key file: it creates it atomically (a fully written
//! temporary file hard-linked into place, so a concurrent start never reads a
//! half-written key) and refuses one that others may read. It never echoes a
//! key, in an error or in a log line.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::keyring::Keyring;
use super::keys::MasterKey;
use super::{VaultError, fill_random};

/// The key file's name inside the data directory.
pub const KEY_FILE_NAME: &str = "master.key";

/// The largest key file read (a key is 44 characters of base64).
const KEY_FILE_MAX_LEN: usize = 1024;

/// Where the primary master key came from (safe to log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `INLET_MASTER_KEY`.
    Environment,
    /// The key file; `created` when this start generated it.
    File { path: PathBuf, created: bool },
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Environment => f.write_str("INLET_MASTER_KEY"),
            Self::File { path, created: false } => write!(f, "key file {}", path.display()),
            Self::File { path, created: true } => write!(f, "new key file {}", path.display()),
        }
    }
}

impl Keyring {
    /// Loads the keyring. `env_value` is `INLET_MASTER_KEY` (standard base64
    /// of 32 bytes, or 64 hex characters); without it the key comes from
    /// `<data_dir>/master.key`, which is created on first start.
    /// `previous_env` is `INLET_PREVIOUS_MASTER_KEYS`, comma-separated keys in
    /// the same formats, used only to unwrap during a rotation.
    pub fn load(
        env_value: Option<&str>,
        previous_env: Option<&str>,
        data_dir: &Path,
    ) -> Result<(Keyring, KeySource), VaultError> {
        let (primary, source) = match env_value {
            Some(text) => (MasterKey::parse(text, "INLET_MASTER_KEY")?, KeySource::Environment),
            None => load_or_create_key_file(data_dir)?,
        };
        let previous = parse_previous(previous_env.unwrap_or(""))?;
        let keyring = Keyring::new(primary, previous);
        tracing::info!(
            source = %source,
            key_id = keyring.primary_id(),
            previous_keys = keyring.previous_ids().count(),
            "master key loaded"
        );
        Ok((keyring, source))
    }
}

fn parse_previous(text: &str) -> Result<Vec<MasterKey>, VaultError> {
    text.split(',')
        .enumerate()
        .filter(|(_, entry)| !entry.trim().is_empty())
        .map(|(index, entry)| {
            let origin = format!("INLET_PREVIOUS_MASTER_KEYS entry {}", index + 1);
            MasterKey::parse(entry, &origin)
        })
        .collect()
}

fn load_or_create_key_file(data_dir: &Path) -> Result<(MasterKey, KeySource), VaultError> {
    let path = data_dir.join(KEY_FILE_NAME);
    let file_error = |reason: String| VaultError::KeyFile { path: path.clone(), reason };
    match File::open(&path) {
        Ok(file) => {
            let key = read_key_file(&path, file)?;
            return Ok((key, KeySource::File { path, created: false }));
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(file_error(format!("cannot open: {error}"))),
    }
    crate::data_dir::prepare(data_dir, None)
        .map_err(|error| file_error(format!("cannot create the data directory {}: {error}", data_dir.display())))?;
    let key = MasterKey::generate()?;
    if create_key_file(&path, &key)? {
        tracing::info!(path = %path.display(), key_id = key.id(), "created a new master key file");
        return Ok((key, KeySource::File { path, created: true }));
    }
    // Another process created it first: use theirs.
    let file = File::open(&path).map_err(|error| file_error(format!("cannot open: {error}")))?;
    let key = read_key_file(&path, file)?;
    Ok((key, KeySource::File { path, created: false }))
}

fn read_key_file(path: &Path, file: File) -> Result<MasterKey, VaultError> {
    let file_error = |reason: String| VaultError::KeyFile { path: path.to_owned(), reason };
    let metadata = file.metadata().map_err(|error| file_error(format!("cannot read its metadata: {error}")))?;
    if !metadata.is_file() {
        return Err(file_error("it is not a regular file".into()));
    }
    let mode = metadata.permissions().mode() & 0o7777;
    if mode & 0o7177 != 0 {
        return Err(VaultError::KeyFilePermissions { path: path.to_owned(), mode });
    }
    let text = read_small(file, KEY_FILE_MAX_LEN).map_err(|error| match error {
        ReadSmallError::Io(error) => file_error(format!("cannot read: {error}")),
        ReadSmallError::TooLarge => {
            file_error(format!("it is larger than {KEY_FILE_MAX_LEN} bytes, so it is not a key file"))
        }
    })?;
    let origin = format!("master key file {}", path.display());
    let text = std::str::from_utf8(&text)
        .map_err(|_| VaultError::InvalidMasterKey { origin: origin.clone(), reason: "it is not text" })?;
    MasterKey::parse(text, &origin)
}

enum ReadSmallError {
    Io(io::Error),
    TooLarge,
}

/// Reads at most `max` bytes into a buffer allocated once (so no copy of the
/// key is left behind by a reallocation) and zeroized on drop.
fn read_small(mut file: File, max: usize) -> Result<Zeroizing<Vec<u8>>, ReadSmallError> {
    let mut buf = Zeroizing::new(vec![0u8; max + 1]);
    let mut len = 0;
    while len < buf.len() {
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(read) => len += read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(ReadSmallError::Io(error)),
        }
    }
    if len > max {
        return Err(ReadSmallError::TooLarge);
    }
    buf.truncate(len);
    Ok(buf)
}

/// Writes `key` to `path` with mode 0600 unless the file exists; returns
/// whether this call created it.
fn create_key_file(path: &Path, key: &MasterKey) -> Result<bool, VaultError> {
    let file_error = |reason: String| VaultError::KeyFile { path: path.to_owned(), reason };
    let mut suffix = [0u8; 8];
    fill_random(&mut suffix)?;
    let temp = path.with_file_name(format!(".{KEY_FILE_NAME}.{}.tmp", hex::encode(suffix)));
    let written = write_new_file(&temp, &key.to_base64())
        .map_err(|error| file_error(format!("cannot write {}: {error}", temp.display())));
    let linked = written.and_then(|()| match std::fs::hard_link(&temp, path) {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(error) => Err(file_error(format!("cannot create: {error}"))),
    });
    if let Err(error) = std::fs::remove_file(&temp)
        && error.kind() != io::ErrorKind::NotFound
    {
        tracing::warn!(path = %temp.display(), %error, "cannot remove a temporary key file");
    }
    let created = linked?;
    if created && let Some(dir) = path.parent() {
        // Make the new directory entry durable; failure here is not fatal.
        if let Err(error) = File::open(dir).and_then(|dir| dir.sync_all()) {
            tracing::warn!(path = %dir.display(), %error, "cannot sync the data directory");
        }
    }
    Ok(created)
}

fn write_new_file(path: &Path, contents: &str) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_key_file_is_created_with_mode_0600_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        let (first, source) = Keyring::load(None, None, &data_dir).unwrap();
        let path = data_dir.join(KEY_FILE_NAME);
        assert_eq!(source, KeySource::File { path: path.clone(), created: true });
        assert_eq!(mode(&path), 0o600);
        let entries: Vec<_> = std::fs::read_dir(&data_dir).unwrap().collect();
        assert_eq!(entries.len(), 1, "no temporary file left behind");

        let (second, source) = Keyring::load(None, None, &data_dir).unwrap();
        assert_eq!(source, KeySource::File { path: path.clone(), created: false });
        assert_eq!(second.primary_id(), first.primary_id());
        let (_, wrapped) = first.generate_data_key("org-1").unwrap();
        assert!(second.unwrap_data_key("org-1", &wrapped).is_ok());
    }

    #[test]
    fn a_key_file_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE_NAME);
        std::fs::write(&path, format!("{}\n", MasterKey::generate().unwrap().to_base64().as_str())).unwrap();
        for wide in [0o644, 0o640, 0o604, 0o700] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(wide)).unwrap();
            let error = Keyring::load(None, None, dir.path()).unwrap_err();
            assert!(matches!(error, VaultError::KeyFilePermissions { .. }), "{error}");
            let message = error.to_string();
            assert!(message.contains(&format!("{wide:04o}")), "{message}");
            assert!(message.contains("0600"), "{message}");
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert!(Keyring::load(None, None, dir.path()).is_ok(), "0400 is narrower than 0600");
    }

    #[test]
    fn a_malformed_key_file_is_refused_without_echoing_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE_NAME);
        write_new_file(&path, "sekrit-not-a-key").unwrap();
        let error = Keyring::load(None, None, dir.path()).unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, VaultError::InvalidMasterKey { .. }), "{message}");
        assert!(message.contains(KEY_FILE_NAME), "{message}");
        assert!(!message.contains("sekrit"), "{message}");

        std::fs::remove_file(&path).unwrap();
        write_new_file(&path, &"A".repeat(4096)).unwrap();
        let error = Keyring::load(None, None, dir.path()).unwrap_err();
        assert!(matches!(error, VaultError::KeyFile { .. }), "{error}");
        assert!(!error.to_string().contains("AAAA"), "{error}");
    }

    #[test]
    fn the_environment_wins_over_the_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let (keyring, source) = Keyring::load(Some(HEX_KEY), None, dir.path()).unwrap();
        assert_eq!(source, KeySource::Environment);
        assert_eq!(keyring.primary_id(), MasterKey::parse(HEX_KEY, "x").unwrap().id());
        assert!(!dir.path().join(KEY_FILE_NAME).exists(), "no key file when the env gives the key");
    }

    #[test]
    fn a_malformed_master_key_is_refused_without_echoing_it() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["correct-horse-battery-staple", "", &HEX_KEY[2..], "c2hvcnQ="] {
            let error = Keyring::load(Some(bad), None, dir.path()).unwrap_err();
            let message = error.to_string();
            assert!(message.starts_with("INLET_MASTER_KEY is not a valid master key"), "{message}");
            if !bad.is_empty() {
                assert!(!message.contains(bad), "{message}");
                assert!(!format!("{error:?}").contains(bad));
            }
        }
        assert!(!dir.path().join(KEY_FILE_NAME).exists(), "a bad env key never falls back to a file");
    }

    #[test]
    fn previous_keys_are_parsed_and_a_bad_one_is_named_by_position() {
        let dir = tempfile::tempdir().unwrap();
        let old_a = MasterKey::generate().unwrap();
        let old_b = MasterKey::generate().unwrap();
        let previous = format!(" {} ,{},", old_a.to_base64().as_str(), hex::encode(old_b.bytes()));
        let (keyring, _) = Keyring::load(Some(HEX_KEY), Some(&previous), dir.path()).unwrap();
        let ids: Vec<&str> = keyring.previous_ids().collect();
        assert_eq!(ids, vec![old_a.id(), old_b.id()]);

        let previous = format!("{},not-a-key-at-all", old_a.to_base64().as_str());
        let error = Keyring::load(Some(HEX_KEY), Some(&previous), dir.path()).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("INLET_PREVIOUS_MASTER_KEYS entry 2"), "{message}");
        assert!(!message.contains("not-a-key-at-all"), "{message}");
    }

    #[test]
    fn rotation_from_the_key_file_to_an_environment_key() {
        let dir = tempfile::tempdir().unwrap();
        let (old, _) = Keyring::load(None, None, dir.path()).unwrap();
        let (_, wrapped) = old.generate_data_key("org-1").unwrap();
        let old_text = std::fs::read_to_string(dir.path().join(KEY_FILE_NAME)).unwrap();
        let (rotating, _) = Keyring::load(Some(HEX_KEY), Some(&old_text), dir.path()).unwrap();
        let rewrapped = rotating.rewrap("org-1", &wrapped).unwrap().expect("rewrapped");
        let (new_only, _) = Keyring::load(Some(HEX_KEY), None, dir.path()).unwrap();
        assert!(new_only.unwrap_data_key("org-1", &rewrapped).is_ok());
    }
}

//! The package's signature (`plugin.sig`), judged as an install would judge
//! it on this machine (`INLET_TRUSTED_PLUGIN_KEYS`): a tampered or malformed
//! signature fails; a missing one, or one by a key not trusted here, is a
//! warning, since the author may not have signed yet or may trust other keys.

use std::path::Path;

use super::report::Status;
use crate::plugin::package::TrustPolicy;
use crate::plugin::signature::{SignatureFile, Verdict};

/// The status and message of the `signature` line.
pub fn check(dir: &Path, plugin: &str, version: &str, trust: &TrustPolicy) -> (Status, String) {
    let text = match std::fs::read_to_string(dir.join("plugin.sig")) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return (
                Status::Warn,
                "unsigned: platforms refuse it unless they allow unsigned plugins; sign it with `inlet plugin sign`"
                    .into(),
            );
        }
        Err(error) => return (Status::Fail, format!("cannot read plugin.sig: {error}")),
    };
    let read = |name: &str| std::fs::read(dir.join(name)).map_err(|e| format!("cannot read {name}: {e}"));
    let (wasm, manifest) = match (read("plugin.wasm"), read("plugin.toml")) {
        (Ok(wasm), Ok(manifest)) => (wasm, manifest),
        (Err(error), _) | (_, Err(error)) => return (Status::Fail, error),
    };
    let verdict = SignatureFile::parse(&text)
        .and_then(|file| file.verify(plugin, version, &wasm, &manifest, &trust.trusted_keys));
    match verdict {
        Ok(Verdict::Trusted { key_id }) => (Status::Pass, format!("signed by key {key_id}, trusted here")),
        Ok(Verdict::Untrusted { key_id }) => (
            Status::Warn,
            format!("signed by key {key_id}, which INLET_TRUSTED_PLUGIN_KEYS does not list on this machine"),
        ),
        Err(error) => (Status::Fail, error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::signature::{generate_key, read_key};

    fn package(dir: &Path) {
        std::fs::write(dir.join("plugin.wasm"), b"wasm").unwrap();
        std::fs::write(dir.join("plugin.toml"), b"manifest").unwrap();
    }

    #[test]
    fn unsigned_untrusted_trusted_and_tampered() {
        let dir = tempfile::tempdir().unwrap();
        package(dir.path());
        let key = read_key(&generate_key().0).unwrap();
        let trusted = TrustPolicy { trusted_keys: vec![key.verifying_key()], allow_unsigned: false };
        assert_eq!(check(dir.path(), "p", "1.0.0", &trusted).0, Status::Warn);
        let sig = SignatureFile::sign(&key, "p", "1.0.0", b"wasm", b"manifest");
        std::fs::write(dir.path().join("plugin.sig"), serde_json::to_string(&sig).unwrap()).unwrap();
        assert_eq!(check(dir.path(), "p", "1.0.0", &trusted).0, Status::Pass);
        assert_eq!(check(dir.path(), "p", "1.0.0", &TrustPolicy::default()).0, Status::Warn);
        std::fs::write(dir.path().join("plugin.wasm"), b"wasm!").unwrap();
        let (status, message) = check(dir.path(), "p", "1.0.0", &trusted);
        assert_eq!(status, Status::Fail, "{message}");
        assert!(message.contains("changed after it was signed"), "{message}");
    }
}

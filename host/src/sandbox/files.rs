//! The one read-only directory a file-based data source may read.
//!
//! WASI preopens are directories, so the host grants the directory that holds
//! the data source's file and hands the connector the file's path inside the
//! guest. The storage layer keeps every stored file in a directory of its own,
//! so that directory holds nothing else.

use std::path::{Path, PathBuf};

use thiserror::Error;

/// Where the granted directory appears inside the guest.
pub const GUEST_DATA_DIR: &str = "/data";

/// A read-only directory grant and the path the connector sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileGrant {
    /// The host directory to preopen, read-only.
    pub host_dir: PathBuf,
    /// The configured path rewritten for the guest (`/data/<name>` or `/data`).
    pub guest_path: String,
}

#[derive(Debug, Error)]
pub enum FileGrantError {
    #[error("file_path must not be empty")]
    Empty,
    #[error("file_path `{0}` does not exist")]
    NotFound(String),
    #[error("file_path `{path}` cannot be read: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("file_path `{path}` is outside the allowed files root")]
    OutsideRoot { path: String },
    #[error("file_path `{path}` points into the server's own data")]
    Forbidden { path: String },
}

/// Grants a stored file the host itself resolved (within the data source's
/// organization): its folder holds that file alone, so it is granted without
/// the root and data-dir rules meant for paths users type.
pub fn grant_stored(path: &Path) -> Result<FileGrant, FileGrantError> {
    let shown = || path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return Err(FileGrantError::Unreadable { path: shown(), reason: "not a stored file".into() });
    };
    if !path.is_file() {
        return Err(FileGrantError::NotFound(shown()));
    }
    Ok(FileGrant { host_dir: dir.to_path_buf(), guest_path: format!("{GUEST_DATA_DIR}/{name}") })
}

/// Grants the file or directory at `configured`, resolved against `root`
/// when relative. With a root, the resolved path must stay inside it
/// (symlinks and `..` included). Nothing inside `denied` (the server's data
/// directory: database, key file, cache) is ever granted, nor anything that
/// contains it.
pub fn grant(configured: &str, root: Option<&Path>, denied: &[PathBuf]) -> Result<FileGrant, FileGrantError> {
    if configured.trim().is_empty() {
        return Err(FileGrantError::Empty);
    }
    let path = Path::new(configured);
    let joined = match root {
        Some(root) if path.is_relative() => root.join(path),
        _ => path.to_path_buf(),
    };
    let resolved = std::fs::canonicalize(&joined).map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => FileGrantError::NotFound(configured.to_owned()),
        _ => FileGrantError::Unreadable { path: configured.to_owned(), reason: error.to_string() },
    })?;
    if let Some(root) = root {
        let root = std::fs::canonicalize(root).map_err(|error| FileGrantError::Unreadable {
            path: root.display().to_string(),
            reason: error.to_string(),
        })?;
        if !resolved.starts_with(&root) {
            return Err(FileGrantError::OutsideRoot { path: configured.to_owned() });
        }
    }
    for denied in denied {
        let Ok(denied) = std::fs::canonicalize(denied) else { continue };
        // The grant is the file's directory: it must not hold the data dir either.
        let granted_dir = if resolved.is_dir() { resolved.as_path() } else { resolved.parent().unwrap_or(&resolved) };
        if resolved.starts_with(&denied) || denied.starts_with(granted_dir) {
            return Err(FileGrantError::Forbidden { path: configured.to_owned() });
        }
    }
    if resolved.is_dir() {
        return Ok(FileGrant { host_dir: resolved, guest_path: GUEST_DATA_DIR.to_owned() });
    }
    let (Some(dir), Some(name)) = (resolved.parent(), resolved.file_name()) else {
        return Err(FileGrantError::Unreadable { path: configured.to_owned(), reason: "not a regular file".into() });
    };
    let name = name.to_str().ok_or_else(|| FileGrantError::Unreadable {
        path: configured.to_owned(),
        reason: "the file name is not valid UTF-8".into(),
    })?;
    Ok(FileGrant { host_dir: dir.to_path_buf(), guest_path: format!("{GUEST_DATA_DIR}/{name}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_grants_its_directory_and_maps_into_the_guest() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("orders.csv");
        std::fs::write(&file, "a\n1\n").unwrap();
        let grant = grant(file.to_str().unwrap(), None, &[]).unwrap();
        assert_eq!(grant.host_dir, std::fs::canonicalize(dir.path()).unwrap());
        assert_eq!(grant.guest_path, "/data/orders.csv");
    }

    #[test]
    fn the_data_dir_is_never_granted() {
        let data = tempfile::tempdir().unwrap();
        std::fs::write(data.path().join("inlet.db"), "x").unwrap();
        let denied = [data.path().to_path_buf()];
        let path = data.path().join("inlet.db");
        assert!(matches!(grant(path.to_str().unwrap(), None, &denied), Err(FileGrantError::Forbidden { .. })));
        // Nor a directory above it, which would expose it.
        let parent = data.path().parent().unwrap().to_str().unwrap().to_owned();
        assert!(matches!(grant(&parent, None, &denied), Err(FileGrantError::Forbidden { .. })));
    }

    #[test]
    fn a_root_confines_relative_and_escaping_paths() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("f1")).unwrap();
        std::fs::write(root.path().join("f1/x.csv"), "a\n").unwrap();
        assert!(grant("f1/x.csv", Some(root.path()), &[]).is_ok());
        assert!(matches!(grant("../../etc/passwd", Some(root.path()), &[]), Err(FileGrantError::OutsideRoot { .. })));
        assert!(matches!(grant("/etc/passwd", Some(root.path()), &[]), Err(FileGrantError::OutsideRoot { .. })));
        assert!(matches!(grant("f1/none.csv", Some(root.path()), &[]), Err(FileGrantError::NotFound(_))));
        assert!(matches!(grant("", Some(root.path()), &[]), Err(FileGrantError::Empty)));
    }
}

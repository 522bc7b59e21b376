//! The server's data directory: created private (0700) with the SQLite
//! database inside it private (0600), like the master key file. Existing
//! ones are left as the operator set them, with a warning when looser.

use std::fs::{DirBuilder, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The modes new state is created with.
pub const DIR_MODE: u32 = 0o700;
pub const FILE_MODE: u32 = 0o600;

/// Creates the data dir (0700, parents included) and, when the database is
/// the embedded SQLite file, that file (0600) before SQLite opens it (its
/// WAL and shared-memory files take the database file's mode).
pub fn prepare(data_dir: &Path, sqlite_file: Option<&Path>) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(DIR_MODE).create(data_dir)?;
    if let Some(file) = sqlite_file {
        match OpenOptions::new().write(true).create_new(true).mode(FILE_MODE).open(file) {
            Ok(_) => {}
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// The state others can read: (path, mode) for each of `paths` whose mode
/// gives anything to group or others.
pub fn loose(paths: &[PathBuf]) -> Vec<(PathBuf, u32)> {
    paths
        .iter()
        .filter_map(|path| {
            let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
            (mode & 0o077 != 0).then(|| (path.clone(), mode))
        })
        .collect()
}

/// Logs a warning for each of the server's private paths others can read.
pub fn warn_if_loose(paths: &[PathBuf]) {
    for (path, mode) in loose(paths) {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{mode:o}"),
            "the server's state is readable by other users: chmod it to 0700 (directories) or 0600 (files)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_state_is_private_and_loose_state_is_found() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("a/data");
        let db = dir.join("inlet.db");
        prepare(&dir, Some(&db)).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&dir), mode(&db)), (DIR_MODE, FILE_MODE));
        assert!(loose(&[dir.clone(), db.clone()]).is_empty());
        prepare(&dir, Some(&db)).unwrap();
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(loose(&[dir, db.clone()]), vec![(db, 0o644)]);
    }
}

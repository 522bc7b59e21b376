//! Which server files a file-based data source may read, and the one
//! read-only directory a connector is granted for it.
//!
//! On a server, a data source names a stored file (`storage://<id>`) by
//! default; a path on the server's file system is allowed only under the
//! roots the operator configured (`INLET_FILES_ROOT`). Paths are resolved
//! (symlinks and `..` followed) before the check, and `/proc`, `/sys`,
//! `/dev` and the server's data dir are never granted whatever the roots
//! say. `inlet plugin exec`/`check` (no server, the user's own files) read
//! any local path but those.
//!
//! WASI preopens are directories, so the host grants the directory that holds
//! the data source's file and hands the connector the file's path inside the
//! guest. The storage layer keeps every stored file in a directory of its own,
//! so that directory holds nothing else.

use std::path::{Path, PathBuf};

use thiserror::Error;

/// Where the granted directory appears inside the guest.
pub const GUEST_DATA_DIR: &str = "/data";

/// Never granted nor served, whatever the roots say.
const SYSTEM_DENIED: [&str; 3] = ["/proc", "/sys", "/dev"];

/// A read-only directory grant and the path the connector sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileGrant {
    /// The host directory to preopen, read-only (canonical when granted).
    pub host_dir: PathBuf,
    /// The configured path rewritten for the guest (`/data/<name>` or `/data`).
    pub guest_path: String,
}

#[derive(Debug, Error)]
pub enum FileGrantError {
    #[error("file_path must not be empty")]
    Empty,
    #[error(
        "file_path `{path}` names a file on the server, and this server reads none: upload the file and use storage://<file id> (operators allow server paths with INLET_FILES_ROOT)"
    )]
    ServerPathsDisabled { path: String },
    #[error("file_path `{0}` does not exist")]
    NotFound(String),
    #[error("file_path `{path}` cannot be read: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("file_path `{path}` is outside the allowed files roots")]
    OutsideRoot { path: String },
    #[error("file_path `{path}` points into the server's own data or system files")]
    Forbidden { path: String },
    #[error("file_path `{path}` changed while it was being opened")]
    Changed { path: String },
}

/// Which server paths file sources may name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum FileRoots {
    /// None: stored files only (a server's default).
    #[default]
    StoredOnly,
    /// Paths under these directories (`INLET_FILES_ROOT`).
    Under(Vec<PathBuf>),
    /// Any local path (`inlet plugin exec`/`check` on the user's own files).
    Anywhere,
}

impl FileRoots {
    /// `INLET_FILES_ROOT`: directories separated by `:` as in `PATH`
    /// (empty entries ignored); unset or empty means stored files only.
    pub fn parse(text: Option<&str>) -> Self {
        let roots: Vec<PathBuf> =
            text.unwrap_or_default().split(':').filter(|r| !r.trim().is_empty()).map(PathBuf::from).collect();
        if roots.is_empty() { Self::StoredOnly } else { Self::Under(roots) }
    }
}

/// The path rules: allowed roots and the paths never granted (the data dir).
#[derive(Debug, Clone, Default)]
pub struct FilesPolicy {
    pub roots: FileRoots,
    /// Never granted nor served: the server's data directory.
    pub denied: Vec<PathBuf>,
}

impl FilesPolicy {
    /// Checks a configured path as a data source is saved: the file need
    /// not exist yet, but where it would be must be allowed.
    pub fn check(&self, configured: &str) -> Result<(), FileGrantError> {
        match self.resolve(configured) {
            Ok(_) => return Ok(()),
            Err(FileGrantError::NotFound(_)) => {}
            Err(error) => return Err(error),
        }
        // A missing file: judge the deepest existing ancestor plus the rest.
        let mut judged = false;
        for candidate in self.candidates(configured)? {
            if let Some(resolved) = resolve_missing(&candidate) {
                self.allowed(configured, &resolved, false)?;
                judged = true;
            }
        }
        if judged { Ok(()) } else { Err(FileGrantError::OutsideRoot { path: configured.to_owned() }) }
    }

    /// The canonical path of an existing, allowed file or directory.
    pub fn resolve(&self, configured: &str) -> Result<PathBuf, FileGrantError> {
        let candidates = self.candidates(configured)?;
        let mut last = FileGrantError::NotFound(configured.to_owned());
        for candidate in candidates {
            match std::fs::canonicalize(&candidate) {
                Ok(resolved) => {
                    self.allowed(configured, &resolved, resolved.is_dir())?;
                    return Ok(resolved);
                }
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => {
                    last = FileGrantError::Unreadable { path: configured.to_owned(), reason: error.to_string() }
                }
            }
        }
        Err(last)
    }

    /// Grants the file or directory at `configured`.
    pub fn grant(&self, configured: &str) -> Result<FileGrant, FileGrantError> {
        let resolved = self.resolve(configured)?;
        if resolved.is_dir() {
            return Ok(FileGrant { host_dir: resolved, guest_path: GUEST_DATA_DIR.to_owned() });
        }
        let (Some(dir), Some(name)) = (resolved.parent(), resolved.file_name()) else {
            return Err(FileGrantError::Unreadable {
                path: configured.to_owned(),
                reason: "not a regular file".into(),
            });
        };
        let name = name.to_str().ok_or_else(|| FileGrantError::Unreadable {
            path: configured.to_owned(),
            reason: "the file name is not valid UTF-8".into(),
        })?;
        Ok(FileGrant { host_dir: dir.to_path_buf(), guest_path: format!("{GUEST_DATA_DIR}/{name}") })
    }

    /// Where `configured` may be: itself when absolute, else under each root.
    fn candidates(&self, configured: &str) -> Result<Vec<PathBuf>, FileGrantError> {
        if configured.trim().is_empty() {
            return Err(FileGrantError::Empty);
        }
        let path = Path::new(configured);
        match &self.roots {
            FileRoots::StoredOnly => Err(FileGrantError::ServerPathsDisabled { path: configured.to_owned() }),
            FileRoots::Anywhere => Ok(vec![path.to_path_buf()]),
            FileRoots::Under(roots) if path.is_relative() => Ok(roots.iter().map(|root| root.join(path)).collect()),
            FileRoots::Under(_) => Ok(vec![path.to_path_buf()]),
        }
    }

    /// Whether a resolved path may be granted: under a root, outside the
    /// system and data dirs, and (for the directory the grant opens) not
    /// holding any of them.
    fn allowed(&self, configured: &str, resolved: &Path, is_dir: bool) -> Result<(), FileGrantError> {
        if let FileRoots::Under(roots) = &self.roots {
            let inside =
                roots.iter().filter_map(|root| std::fs::canonicalize(root).ok()).any(|r| resolved.starts_with(r));
            if !inside {
                return Err(FileGrantError::OutsideRoot { path: configured.to_owned() });
            }
        }
        let granted_dir = if is_dir { resolved } else { resolved.parent().unwrap_or(resolved) };
        let denied = SYSTEM_DENIED
            .iter()
            .map(PathBuf::from)
            .chain(self.denied.iter().map(|d| std::fs::canonicalize(d).unwrap_or_else(|_| d.clone())));
        for denied in denied {
            if resolved.starts_with(&denied) || denied.starts_with(granted_dir) {
                return Err(FileGrantError::Forbidden { path: configured.to_owned() });
            }
        }
        Ok(())
    }
}

/// The canonical form of a path that does not exist (yet): its deepest
/// existing ancestor resolved, the missing rest appended. `None` when the
/// rest climbs (`..`), which cannot be judged before it exists.
fn resolve_missing(path: &Path) -> Option<PathBuf> {
    let mut existing = path;
    let mut rest = Vec::new();
    loop {
        if let Ok(resolved) = std::fs::canonicalize(existing) {
            let mut out = resolved;
            for part in rest.iter().rev() {
                out.push(part);
            }
            return Some(out);
        }
        // `file_name` is `None` for a path ending in `..`: not judged.
        let name = existing.file_name()?;
        rest.push(name.to_owned());
        existing = existing.parent()?;
    }
}

/// Grants a stored file the host itself resolved (within the data source's
/// organization): its folder holds that file alone, so it is granted without
/// the root and data-dir rules meant for paths users type.
pub fn grant_stored(path: &Path) -> Result<FileGrant, FileGrantError> {
    let shown = || path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if !path.is_file() {
        return Err(FileGrantError::NotFound(shown()));
    }
    let resolved = std::fs::canonicalize(path)
        .map_err(|error| FileGrantError::Unreadable { path: shown(), reason: error.to_string() })?;
    let (Some(dir), Some(name)) = (resolved.parent(), resolved.file_name().and_then(|n| n.to_str())) else {
        return Err(FileGrantError::Unreadable { path: shown(), reason: "not a stored file".into() });
    };
    Ok(FileGrant { host_dir: dir.to_path_buf(), guest_path: format!("{GUEST_DATA_DIR}/{name}") })
}

impl FileGrant {
    /// Re-checked as the directory is opened: it must still be the
    /// canonical path that passed the policy, so a component swapped for a
    /// symlink since the grant (a race) is refused rather than followed.
    /// Inside the preopen the guest cannot follow a symlink out of it.
    pub fn verify_unchanged(&self) -> Result<(), FileGrantError> {
        match std::fs::canonicalize(&self.host_dir) {
            Ok(now) if now == self.host_dir => Ok(()),
            _ => Err(FileGrantError::Changed { path: self.guest_path.clone() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn under(root: &Path, denied: &[PathBuf]) -> FilesPolicy {
        FilesPolicy { roots: FileRoots::Under(vec![root.to_path_buf()]), denied: denied.to_vec() }
    }

    #[test]
    fn a_file_grants_its_directory_and_maps_into_the_guest() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("orders.csv");
        std::fs::write(&file, "a\n1\n").unwrap();
        let grant = under(dir.path(), &[]).grant(file.to_str().unwrap()).unwrap();
        assert_eq!(grant.host_dir, std::fs::canonicalize(dir.path()).unwrap());
        assert_eq!(grant.guest_path, "/data/orders.csv");
        grant.verify_unchanged().unwrap();
    }

    #[test]
    fn without_roots_no_server_path_is_granted() {
        let policy = FilesPolicy::default();
        for path in ["/proc/self/environ", "/etc/hostname", "relative.csv"] {
            assert!(matches!(policy.grant(path), Err(FileGrantError::ServerPathsDisabled { .. })), "{path}");
            assert!(policy.check(path).is_err(), "{path}");
        }
    }

    #[test]
    fn system_dirs_are_refused_whatever_the_roots_say() {
        let policy = FilesPolicy { roots: FileRoots::Under(vec!["/".into()]), denied: vec![] };
        for path in ["/proc/self/environ", "/proc/self/cwd/../../etc/hostname", "/sys/kernel/hostname", "/dev/null"] {
            assert!(policy.grant(path).is_err(), "{path} was granted");
        }
        let anywhere = FilesPolicy { roots: FileRoots::Anywhere, denied: vec![] };
        assert!(matches!(anywhere.grant("/proc/self/environ"), Err(FileGrantError::Forbidden { .. })));
        assert!(matches!(anywhere.check("/proc/self/nothing-here"), Err(FileGrantError::Forbidden { .. })));
    }

    #[test]
    fn the_data_dir_is_never_granted() {
        let data = tempfile::tempdir().unwrap();
        std::fs::write(data.path().join("inlet.db"), "x").unwrap();
        let denied = [data.path().to_path_buf()];
        let policy = FilesPolicy { roots: FileRoots::Anywhere, denied: denied.to_vec() };
        let path = data.path().join("inlet.db");
        assert!(matches!(policy.grant(path.to_str().unwrap()), Err(FileGrantError::Forbidden { .. })));
        // Nor a directory above it, which would expose it.
        let parent = data.path().parent().unwrap().to_str().unwrap().to_owned();
        assert!(matches!(policy.grant(&parent), Err(FileGrantError::Forbidden { .. })));
        // Even when a root contains it.
        assert!(matches!(under(data.path(), &denied).grant("inlet.db"), Err(FileGrantError::Forbidden { .. })));
    }

    #[test]
    fn roots_confine_relative_escaping_and_symlinked_paths() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("f1")).unwrap();
        std::fs::write(root.path().join("f1/x.csv"), "a\n").unwrap();
        std::fs::write(outside.path().join("secret.csv"), "s\n").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.csv"), root.path().join("link.csv")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("dirlink")).unwrap();
        let policy = under(root.path(), &[]);
        assert!(policy.grant("f1/x.csv").is_ok());
        for escaping in ["../../etc/passwd", "/etc/passwd", "link.csv", "dirlink/secret.csv", "f1/../../x"] {
            assert!(policy.grant(escaping).is_err(), "{escaping} was granted");
        }
        assert!(matches!(policy.check("dirlink/not-yet.csv"), Err(FileGrantError::OutsideRoot { .. })));
        assert!(policy.check("f1/not-yet.csv").is_ok(), "a missing file inside the root may be named");
        assert!(matches!(policy.grant("f1/none.csv"), Err(FileGrantError::NotFound(_))));
        assert!(matches!(policy.grant(""), Err(FileGrantError::Empty)));
    }

    #[test]
    fn several_roots_each_allow_their_files() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::fs::write(b.path().join("only-in-b.csv"), "x\n").unwrap();
        let text = format!("{}::{}", a.path().display(), b.path().display());
        let policy = FilesPolicy { roots: FileRoots::parse(Some(text.as_str())), denied: vec![] };
        assert_eq!(policy.roots, FileRoots::Under(vec![a.path().into(), b.path().into()]));
        assert!(policy.grant("only-in-b.csv").is_ok());
        assert!(policy.grant(b.path().join("only-in-b.csv").to_str().unwrap()).is_ok());
        assert_eq!(FileRoots::parse(Some("")), FileRoots::StoredOnly);
        assert_eq!(FileRoots::parse(None), FileRoots::StoredOnly);
    }

    #[test]
    fn a_directory_swapped_for_a_symlink_after_the_grant_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("d")).unwrap();
        std::fs::write(root.path().join("d/x.csv"), "a\n").unwrap();
        let grant = under(root.path(), &[]).grant("d/x.csv").unwrap();
        std::fs::rename(root.path().join("d"), root.path().join("d-old")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("d")).unwrap();
        assert!(matches!(grant.verify_unchanged(), Err(FileGrantError::Changed { .. })));
    }
}

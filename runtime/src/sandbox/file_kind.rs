//! Which kinds of file a connector may be granted: regular files and folders,
//! nothing else. Opening a FIFO blocks the opener until a writer comes (for
//! ever, on a thread of the blocking pool); a socket or a device is not data.
//!
//! - [`check_grant`] refuses a grant whose folder holds one (the folder is
//!   what the guest can open, so the whole tree is scanned, within bounds);
//! - [`open_regular`] opens a file for the host without blocking on one
//!   (`O_NONBLOCK | O_NOFOLLOW`, then `fstat`), for when a check would race;
//! - the runtime refuses the guest's own open of one (`runtime::fs_guard`),
//!   which covers what a scan cannot see: a file made after the grant, or
//!   past the scan's bounds.
//!
//! This module inspects files; it never reads them.

use std::fs::{File, FileType, OpenOptions};
use std::io;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use thiserror::Error;

use super::files::FileGrant;

/// Entries a grant's scan looks at, at most; past them the runtime's guard
/// alone keeps the guest away from special files.
pub const SCAN_ENTRIES: usize = 10_000;
/// Folder depth a grant's scan goes down to.
pub const SCAN_DEPTH: usize = 16;

/// What a directory entry is, as far as a grant cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Regular,
    Directory,
    /// Not followed: the guest cannot follow a link out of its folder, and a
    /// link to a special file inside it finds that file refused too.
    Symlink,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
}

impl Kind {
    pub fn of(file_type: FileType) -> Self {
        if file_type.is_file() {
            Self::Regular
        } else if file_type.is_dir() {
            Self::Directory
        } else if file_type.is_symlink() {
            Self::Symlink
        } else if file_type.is_fifo() {
            Self::Fifo
        } else if file_type.is_socket() {
            Self::Socket
        } else if file_type.is_block_device() {
            Self::BlockDevice
        } else {
            Self::CharDevice
        }
    }

    /// Whether a connector may have it.
    pub fn is_grantable(self) -> bool {
        matches!(self, Self::Regular | Self::Directory | Self::Symlink)
    }

    pub fn describe(self) -> &'static str {
        match self {
            Self::Regular => "regular file",
            Self::Directory => "folder",
            Self::Symlink => "symbolic link",
            Self::Fifo => "FIFO (named pipe)",
            Self::Socket => "socket",
            Self::CharDevice => "character device",
            Self::BlockDevice => "block device",
        }
    }
}

#[derive(Debug, Error)]
pub enum FileKindError {
    #[error("`{path}` is a {kind}: only regular files and folders can be granted to a connector")]
    Special { path: String, kind: &'static str },
    #[error("cannot inspect `{path}`: {reason}")]
    Unreadable { path: String, reason: String },
}

/// Refuses `grant` when its folder (what the guest can open) holds anything
/// but regular files, folders and links, or when the file it names is not
/// a regular file. Scans at most [`SCAN_ENTRIES`] entries, [`SCAN_DEPTH`]
/// deep; answers how many it looked at.
pub fn check_grant(grant: &FileGrant) -> Result<usize, FileKindError> {
    let named = grant.guest_path.strip_prefix(super::files::GUEST_DATA_DIR).unwrap_or_default();
    if let Some(name) = named.strip_prefix('/').filter(|name| !name.is_empty()) {
        let path = grant.host_dir.join(name);
        let kind = kind_of(&path, name)?;
        if kind != Kind::Regular && kind != Kind::Symlink {
            return Err(FileKindError::Special { path: name.to_owned(), kind: kind.describe() });
        }
    }
    let mut seen = 0;
    scan(&grant.host_dir, Path::new(""), 0, &mut seen)?;
    Ok(seen)
}

fn kind_of(path: &Path, shown: &str) -> Result<Kind, FileKindError> {
    std::fs::symlink_metadata(path)
        .map(|meta| Kind::of(meta.file_type()))
        .map_err(|error| FileKindError::Unreadable { path: shown.to_owned(), reason: error.to_string() })
}

/// A folder or entry the host cannot read is skipped: the guest runs with
/// the host's rights, so it cannot open it either.
fn scan(root: &Path, relative: &Path, depth: usize, seen: &mut usize) -> Result<(), FileKindError> {
    if depth > SCAN_DEPTH || *seen >= SCAN_ENTRIES {
        return Ok(());
    }
    let Ok(entries) = std::fs::read_dir(root.join(relative)) else { return Ok(()) };
    for entry in entries.flatten() {
        if *seen >= SCAN_ENTRIES {
            return Ok(());
        }
        *seen += 1;
        let path = relative.join(entry.file_name());
        // `file_type` does not follow links.
        let Ok(kind) = entry.file_type().map(Kind::of) else { continue };
        if !kind.is_grantable() {
            return Err(FileKindError::Special { path: path.display().to_string(), kind: kind.describe() });
        }
        if kind == Kind::Directory {
            scan(root, &path, depth + 1, seen)?;
        }
    }
    Ok(())
}

/// Opens `path` for reading only if it is a regular file, without ever
/// blocking on a FIFO: the open itself is non-blocking and does not follow a
/// final symlink, and the opened descriptor's type is checked (`fstat`), so a
/// file swapped after a check is still caught. On regular files `O_NONBLOCK`
/// changes nothing.
pub fn open_regular(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW).open(path)?;
    let kind = Kind::of(file.metadata()?.file_type());
    if kind != Kind::Regular {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a {} is not a regular file", kind.describe()),
        ));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;
    use std::path::PathBuf;

    fn mkfifo(path: &Path) {
        let status = std::process::Command::new("mkfifo").arg(path).status().expect("mkfifo");
        assert!(status.success());
    }

    fn folder_grant(dir: &Path) -> FileGrant {
        FileGrant { host_dir: dir.to_path_buf(), guest_path: super::super::files::GUEST_DATA_DIR.into() }
    }

    #[test]
    fn regular_files_folders_and_links_are_granted() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.csv"), "a\n").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/b.csv"), "b\n").unwrap();
        std::os::unix::fs::symlink("/dev/null", dir.path().join("link")).unwrap();
        assert_eq!(check_grant(&folder_grant(dir.path())).unwrap(), 4);
        let file = FileGrant { host_dir: dir.path().to_path_buf(), guest_path: "/data/a.csv".into() };
        assert!(check_grant(&file).is_ok());
    }

    #[test]
    fn a_fifo_or_a_socket_anywhere_in_the_folder_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("deep/er")).unwrap();
        mkfifo(&dir.path().join("deep/er/pipe"));
        let error = check_grant(&folder_grant(dir.path())).unwrap_err().to_string();
        assert!(error.contains("deep/er/pipe") && error.contains("FIFO"), "{error}");

        let dir = tempfile::tempdir().unwrap();
        let _listener = UnixListener::bind(dir.path().join("sock")).unwrap();
        let error = check_grant(&folder_grant(dir.path())).unwrap_err().to_string();
        assert!(error.contains("`sock` is a socket"), "{error}");
        // A file grant exposes its whole folder: a special sibling is refused too.
        std::fs::write(dir.path().join("ok.csv"), "a\n").unwrap();
        let file = FileGrant { host_dir: dir.path().to_path_buf(), guest_path: "/data/ok.csv".into() };
        assert!(check_grant(&file).is_err());
    }

    #[test]
    fn a_named_fifo_is_refused_before_the_scan() {
        let dir = tempfile::tempdir().unwrap();
        mkfifo(&dir.path().join("p.csv"));
        let file = FileGrant { host_dir: dir.path().to_path_buf(), guest_path: "/data/p.csv".into() };
        let error = check_grant(&file).unwrap_err().to_string();
        assert!(error.starts_with("`p.csv` is a FIFO"), "{error}");
    }

    #[test]
    fn opening_a_fifo_for_the_host_fails_at_once_instead_of_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo: PathBuf = dir.path().join("pipe");
        mkfifo(&fifo);
        let started = std::time::Instant::now();
        let error = open_regular(&fifo).unwrap_err();
        assert!(error.to_string().contains("FIFO"), "{error}");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        assert!(open_regular(Path::new("/dev/null")).is_err(), "a device is refused");
        std::fs::write(dir.path().join("f"), "x").unwrap();
        assert!(open_regular(&dir.path().join("f")).is_ok());
        std::os::unix::fs::symlink(dir.path().join("f"), dir.path().join("l")).unwrap();
        assert!(open_regular(&dir.path().join("l")).is_err(), "a final symlink is not followed");
    }
}

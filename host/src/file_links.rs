//! Signed file links: what a link binds and how its download is served.
//!
//! A link signs (HMAC-SHA256, compared in constant time) the organization,
//! the data source, the identity of the file it resolved to when issued
//! (a stored file's id and SHA-256, or a server path with its size and
//! modification time) and the expiry. The download resolves the data
//! source's file again and checks the signature against what it finds
//! now: a link issued before `file_path` changed, or for a file that has
//! changed since, no longer verifies.
//!
//! Resolving and opening a server path touch the filesystem (a hung mount
//! blocks), so both run on the bounded file pool (`sandbox::file_pool`)
//! with a deadline, never on the async workers.

use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use thiserror::Error;

use crate::sandbox::file_pool::{self, FilePoolError};
use crate::sandbox::files::{FileGrantError, FilesPolicy};

/// The file a link serves, as resolved when it is issued and again when used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileIdentity {
    Stored { id: String, sha256: String },
    Path { path: PathBuf, size: u64, mtime_ns: i128 },
}

impl FileIdentity {
    /// The identity of a server path: the canonical path, its size and mtime.
    pub fn of_path(canonical: &Path, metadata: &std::fs::Metadata) -> Self {
        let mtime_ns = i128::from(metadata.mtime()) * 1_000_000_000 + i128::from(metadata.mtime_nsec());
        Self::Path { path: canonical.to_path_buf(), size: metadata.len(), mtime_ns }
    }

    fn parts(&self) -> Vec<Vec<u8>> {
        match self {
            Self::Stored { id, sha256 } => vec![b"stored".to_vec(), id.as_bytes().to_vec(), sha256.as_bytes().to_vec()],
            Self::Path { path, size, mtime_ns } => vec![
                b"path".to_vec(),
                path.as_os_str().as_encoded_bytes().to_vec(),
                size.to_string().into_bytes(),
                mtime_ns.to_string().into_bytes(),
            ],
        }
    }
}

/// What a link signs.
#[derive(Debug, Clone, Copy)]
pub struct LinkScope<'a> {
    pub org_id: &'a str,
    pub data_source_id: &'a str,
    pub file: &'a FileIdentity,
    pub expires: i64,
}

/// The link's signature over its scope. Each part is length-prefixed, so no
/// two scopes sign the same message.
pub fn sign(key: &[u8; 32], scope: LinkScope<'_>) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    let mut parts = vec![scope.org_id.as_bytes().to_vec(), scope.data_source_id.as_bytes().to_vec()];
    parts.extend(scope.file.parts());
    parts.push(scope.expires.to_string().into_bytes());
    for part in parts {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(&part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// Whether `given` signs exactly this scope (constant time).
pub fn verify(key: &[u8; 32], scope: LinkScope<'_>, given: &[u8]) -> bool {
    bool::from(sign(key, scope).ct_eq(given))
}

/// The Content-Type a download is served with, by the file's extension.
/// What the uploader declared is not trusted: a link is on this host's
/// origin, so it never serves a type a browser would render as a page.
pub fn content_type(name: &str) -> &'static str {
    let lower = name.to_ascii_lowercase();
    let extension = lower.rsplit_once('.').map(|(_, ext)| ext).unwrap_or_default();
    match extension {
        "csv" => "text/csv; charset=utf-8",
        "tsv" => "text/tab-separated-values; charset=utf-8",
        "json" => "application/json",
        "ndjson" | "jsonl" => "application/x-ndjson",
        "parquet" => "application/vnd.apache.parquet",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "xls" => "application/vnd.ms-excel",
        "avro" => "application/avro",
        "gz" => "application/gzip",
        _ => "application/octet-stream",
    }
}

/// Characters kept as they are in an RFC 5987 `filename*` value.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `attachment` with an ASCII fallback name (anything else becomes `_`)
/// and the exact name as RFC 5987 UTF-8 (`filename*`).
pub fn content_disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| if c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '%' | ';') || c == ' ' { c } else { '_' })
        .collect();
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{}", utf8_percent_encode(name, ATTR_CHAR))
}

/// A server path a data source names, resolved for a link or a download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedPath {
    /// The canonical path.
    pub local: PathBuf,
    pub identity: FileIdentity,
    /// The file's name, as shown to the downloader.
    pub name: String,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ResolveError {
    #[error("the file does not exist")]
    NotFound,
    #[error("{0}")]
    Refused(String),
    #[error("the path names a directory, not a file")]
    Directory,
    /// The file pool was busy or the filesystem did not answer in time.
    #[error(transparent)]
    Unavailable(FilePoolError),
}

/// Resolves `configured` under `policy` (symlinks and `..` followed first)
/// on the file pool, within `timeout`.
pub async fn resolve_path(
    policy: &FilesPolicy,
    configured: &str,
    timeout: std::time::Duration,
) -> Result<ResolvedPath, ResolveError> {
    let (policy, configured) = (policy.clone(), configured.to_owned());
    file_pool::run(timeout, move || resolve_path_now(&policy, &configured)).await.map_err(ResolveError::Unavailable)?
}

fn resolve_path_now(policy: &FilesPolicy, configured: &str) -> Result<ResolvedPath, ResolveError> {
    let resolved = policy.resolve(configured).map_err(|error| match error {
        FileGrantError::NotFound(_) | FileGrantError::Empty => ResolveError::NotFound,
        refused => ResolveError::Refused(refused.to_string()),
    })?;
    let metadata = std::fs::metadata(&resolved).map_err(|_| ResolveError::NotFound)?;
    if metadata.is_dir() {
        return Err(ResolveError::Directory);
    }
    let name = resolved.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(ResolvedPath { identity: FileIdentity::of_path(&resolved, &metadata), local: resolved, name })
}

#[derive(Debug, Error)]
pub enum OpenError {
    #[error("the file is gone")]
    Missing,
    #[error("the file is not what the link was issued for")]
    Changed,
}

/// Opens the file for a download without following a symlink at its last
/// component, then checks what was opened: a regular file, at the path that
/// was checked (`/proc/self/fd` names what the descriptor really is, so a
/// directory swapped for a symlink meanwhile is caught) and, for a server
/// path, with the size and mtime the link was issued for.
pub fn open_for_download(path: &Path, expected: &FileIdentity) -> Result<std::fs::File, OpenError> {
    let file =
        std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path).map_err(
            |error| match error.kind() {
                std::io::ErrorKind::NotFound => OpenError::Missing,
                _ => OpenError::Changed,
            },
        )?;
    let metadata = file.metadata().map_err(|_| OpenError::Changed)?;
    if !metadata.is_file() {
        return Err(OpenError::Changed);
    }
    if let FileIdentity::Path { path: checked, .. } = expected {
        use std::os::fd::AsRawFd;
        let opened =
            std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).map_err(|_| OpenError::Changed)?;
        if &opened != checked || &FileIdentity::of_path(checked, &metadata) != expected {
            return Err(OpenError::Changed);
        }
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    fn scope<'a>(file: &'a FileIdentity, ds: &'a str, expires: i64) -> LinkScope<'a> {
        LinkScope { org_id: "o1", data_source_id: ds, file, expires }
    }

    #[test]
    fn a_signature_binds_the_file_the_data_source_and_the_expiry() {
        let file = FileIdentity::Stored { id: "f1".into(), sha256: "aa".into() };
        let signature = sign(&KEY, scope(&file, "d1", 100));
        assert!(verify(&KEY, scope(&file, "d1", 100), &signature));
        assert!(!verify(&KEY, scope(&file, "d2", 100), &signature));
        assert!(!verify(&KEY, scope(&file, "d1", 101), &signature));
        let other = FileIdentity::Stored { id: "f1".into(), sha256: "ab".into() };
        assert!(!verify(&KEY, scope(&other, "d1", 100), &signature));
        let path = |size| FileIdentity::Path { path: "/r/a.csv".into(), size, mtime_ns: 5 };
        let signature = sign(&KEY, scope(&path(10), "d1", 100));
        assert!(verify(&KEY, scope(&path(10), "d1", 100), &signature));
        assert!(!verify(&KEY, scope(&path(11), "d1", 100), &signature));
    }

    #[test]
    fn names_are_encoded_for_the_header() {
        assert_eq!(content_disposition("a.csv"), "attachment; filename=\"a.csv\"; filename*=UTF-8''a.csv");
        let odd = content_disposition("dätä #1 \"x\"%.csv\r\n");
        assert!(odd.is_ascii() && !odd.contains('\r') && !odd.contains('\n'), "{odd}");
        assert!(odd.contains("filename*=UTF-8''d%C3%A4t%C3%A4%20#1%20%22x%22%25.csv%0D%0A"), "{odd}");
        assert!(odd.contains("filename=\"d_t_ #1 _x__.csv__\""), "{odd}");
        assert_eq!(content_type("Report.CSV"), "text/csv; charset=utf-8");
        assert_eq!(content_type("page.html"), "application/octet-stream");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn paths_resolve_on_the_file_pool_under_the_policy() {
        use crate::sandbox::files::FileRoots;
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::write(root.join("a.csv"), "a\n1\n").unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        let policy = FilesPolicy { roots: FileRoots::Under(vec![root.clone()]), denied: Vec::new() };
        let timeout = std::time::Duration::from_secs(5);
        let path = |name: &str| root.join(name).display().to_string();
        let found = resolve_path(&policy, &path("a.csv"), timeout).await.expect("an allowed file");
        assert_eq!(found.name, "a.csv");
        assert_eq!(found.identity, FileIdentity::of_path(&found.local, &std::fs::metadata(&found.local).unwrap()));
        assert_eq!(resolve_path(&policy, &path("sub"), timeout).await, Err(ResolveError::Directory));
        assert_eq!(resolve_path(&policy, &path("none.csv"), timeout).await, Err(ResolveError::NotFound));
        let elsewhere = FilesPolicy { roots: FileRoots::Under(vec![root.join("sub")]), denied: Vec::new() };
        assert!(matches!(resolve_path(&elsewhere, &path("a.csv"), timeout).await, Err(ResolveError::Refused(_))));
    }

    #[test]
    fn downloads_refuse_symlinks_and_changed_files() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("a.csv");
        std::fs::write(&real, "a\n1\n").unwrap();
        let canonical = std::fs::canonicalize(&real).unwrap();
        let identity = FileIdentity::of_path(&canonical, &std::fs::metadata(&canonical).unwrap());
        assert!(open_for_download(&canonical, &identity).is_ok());
        let link = dir.path().join("link.csv");
        std::os::unix::fs::symlink(&canonical, &link).unwrap();
        assert!(matches!(open_for_download(&link, &identity), Err(OpenError::Changed)));
        std::fs::write(&real, "a\n1\n2\n").unwrap();
        assert!(matches!(open_for_download(&canonical, &identity), Err(OpenError::Changed)));
    }
}

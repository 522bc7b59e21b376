//! Uploaded files: bytes in an object store, one folder per file
//! (`<organization>/<id>/<name>`), so that granting a connector the file's
//! folder grants that file and nothing else.
//!
//! The store is a local directory under the data dir by default, or an
//! S3-compatible bucket (`INLET_STORAGE_BACKEND=s3`). Connectors only ever
//! read local files, so a bucket's file is copied once into a local cache,
//! checked against the SHA-256 recorded at upload, before it is granted.
//!
//! Data sources name a stored file as `storage://<id>`; the host resolves it
//! within the data source's organization, never across.

mod cache;
mod http;
mod reference;
mod s3;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use object_store::ObjectStore;
use object_store::ObjectStoreExt;
use object_store::aws::AmazonS3;
use object_store::buffered::BufWriter;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::signer::Signer;
use sha2::{Digest, Sha256};
use thiserror::Error;
use tokio::io::AsyncWriteExt;

pub use reference::{SCHEME, StorageRef, StorageRefError};
pub use s3::S3Settings;

#[derive(Debug, Error)]
pub enum StorageError {
    #[error("cannot open the file store at {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("the file is larger than the {limit_mib} MiB upload limit")]
    TooLarge { limit_mib: u64 },
    #[error("the file store failed: {0}")]
    Store(String),
    #[error("the stored file's bytes do not match the SHA-256 recorded at upload")]
    Corrupt,
    #[error("the stored file is missing from the store")]
    Missing,
}

/// Which store holds the bytes.
#[derive(Debug, Clone)]
pub enum Backend {
    /// A directory (`<data dir>/storage`).
    Local(PathBuf),
    /// An S3-compatible bucket.
    S3(S3Settings),
}

/// The file store and its limits.
pub struct FileStore {
    store: Arc<dyn ObjectStore>,
    place: Place,
    pub max_upload_bytes: u64,
}

/// Where the files can be read locally, and how links to them are signed.
enum Place {
    Local { root: PathBuf },
    Bucket { bucket: Arc<AmazonS3>, prefix: Option<ObjectPath>, cache: cache::LocalCache },
}

/// A stored file as the database knows it.
#[derive(Debug, Clone, Copy)]
pub struct FileRef<'a> {
    pub org_id: &'a str,
    pub id: &'a str,
    pub name: &'a str,
    pub size: u64,
    pub sha256: &'a str,
}

/// An upload in progress: the bytes stream to the store while their size
/// and digest are counted; nothing is visible until [`Upload::finish`].
pub struct Upload {
    writer: BufWriter,
    hasher: Sha256,
    size: u64,
    limit: u64,
}

impl FileStore {
    /// Opens the configured backend; `cache_dir` holds local copies of a
    /// bucket's files.
    pub fn open(backend: &Backend, cache_dir: &Path, max_upload_bytes: u64) -> Result<Self, StorageError> {
        match backend {
            Backend::Local(root) => Self::local(root, max_upload_bytes),
            Backend::S3(settings) => {
                let (bucket, prefix) = settings.open()?;
                let bucket = Arc::new(bucket);
                let cache = cache::LocalCache::new(cache_dir)?;
                Ok(Self { store: bucket.clone(), place: Place::Bucket { bucket, prefix, cache }, max_upload_bytes })
            }
        }
    }

    /// A store in `root` (created if missing).
    pub fn local(root: &Path, max_upload_bytes: u64) -> Result<Self, StorageError> {
        let open = |reason: String| StorageError::Open { path: root.display().to_string(), reason };
        std::fs::create_dir_all(root).map_err(|e| open(e.to_string()))?;
        let store = LocalFileSystem::new_with_prefix(root).map_err(|e| open(e.to_string()))?;
        Ok(Self { store: Arc::new(store), place: Place::Local { root: root.to_path_buf() }, max_upload_bytes })
    }

    /// `local` or `s3`, for logs and metrics.
    pub fn backend_name(&self) -> &'static str {
        match self.place {
            Place::Local { .. } => "local",
            Place::Bucket { .. } => "s3",
        }
    }

    pub fn upload(&self, org_id: &str, id: &str, name: &str) -> Upload {
        let writer = BufWriter::new(self.store.clone(), self.object_path(org_id, id, name));
        Upload { writer, hasher: Sha256::new(), size: 0, limit: self.max_upload_bytes }
    }

    /// A local path holding the file's bytes, for grants and downloads: the
    /// file itself in a local store, a verified copy of a bucket's object.
    pub async fn local_file(&self, file: FileRef<'_>) -> Result<PathBuf, StorageError> {
        match &self.place {
            Place::Local { root } => Ok(root.join(file.org_id).join(file.id).join(stored_segment(file.name).as_ref())),
            Place::Bucket { cache, .. } => {
                let path = self.object_path(file.org_id, file.id, file.name);
                cache.ensure(self.store.as_ref(), &path, file).await
            }
        }
    }

    /// A URL signed by the bucket's credentials that downloads the file
    /// directly from the bucket; `None` for a local store, whose links the
    /// host signs and serves itself.
    pub async fn presigned_url(&self, file: FileRef<'_>, expires_in: Duration) -> Result<Option<String>, StorageError> {
        let Place::Bucket { bucket, .. } = &self.place else { return Ok(None) };
        let path = self.object_path(file.org_id, file.id, file.name);
        let url = bucket
            .signed_url(object_store::signer::Method::GET, &path, expires_in)
            .await
            .map_err(|e| StorageError::Store(e.to_string()))?;
        Ok(Some(url.to_string()))
    }

    /// Removes a stored file (and its local folder or cached copy).
    pub async fn delete(&self, org_id: &str, id: &str, name: &str) -> Result<(), StorageError> {
        match self.store.delete(&self.object_path(org_id, id, name)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(error) => return Err(StorageError::Store(error.to_string())),
        }
        match &self.place {
            // The folder held only this file; a leftover empty folder is harmless.
            Place::Local { root } => {
                let _ = tokio::fs::remove_dir(root.join(org_id).join(id)).await;
            }
            Place::Bucket { cache, .. } => cache.evict(org_id, id).await,
        }
        Ok(())
    }

    fn object_path(&self, org_id: &str, id: &str, name: &str) -> ObjectPath {
        let file = [org_id, id, name].map(stored_segment);
        match &self.place {
            Place::Bucket { prefix: Some(prefix), .. } => ObjectPath::from_iter(prefix.parts().chain(file)),
            _ => ObjectPath::from_iter(file),
        }
    }
}

impl Upload {
    /// Appends a chunk; refuses (and discards the upload) past the limit.
    pub async fn write(&mut self, chunk: bytes::Bytes) -> Result<(), StorageError> {
        self.size += chunk.len() as u64;
        if self.size > self.limit {
            return Err(StorageError::TooLarge { limit_mib: self.limit >> 20 });
        }
        self.hasher.update(&chunk);
        self.writer.put(chunk).await.map_err(|e| StorageError::Store(e.to_string()))
    }

    /// Completes the upload: answers its size and SHA-256 (hex).
    pub async fn finish(mut self) -> Result<(u64, String), StorageError> {
        self.writer.shutdown().await.map_err(|e| StorageError::Store(e.to_string()))?;
        Ok((self.size, hex::encode(self.hasher.finalize())))
    }

    /// Drops what was written so far.
    pub async fn abort(mut self) {
        if let Err(error) = self.writer.abort().await {
            tracing::warn!(%error, "cannot discard an aborted upload");
        }
    }
}

/// The one encoding of a stored file's name on disk and in a bucket: the
/// object store's path-part encoding (`#` → `%23`, `%` → `%25`, `..` →
/// `%2E%2E`, unicode and spaces kept). Storing, joining a local path and
/// granting all go through it; only the download's Content-Disposition shows
/// the name as uploaded.
pub fn stored_segment(name: &str) -> object_store::path::PathPart<'_> {
    object_store::path::PathPart::from(name)
}

/// A file name as uploaded, made safe to be one path segment: the last
/// component, no control characters, at most 200 bytes.
pub fn safe_name(uploaded: Option<&str>) -> String {
    let base = uploaded.unwrap_or("").rsplit(['/', '\\']).next().unwrap_or("");
    let mut name: String = base.chars().filter(|c| !c.is_control()).collect();
    while name.len() > 200 {
        name.pop();
    }
    let name = name.trim().trim_start_matches('.').to_owned();
    if name.is_empty() { "upload".to_owned() } else { name }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploaded_names_become_one_safe_segment() {
        assert_eq!(safe_name(Some("report.csv")), "report.csv");
        assert_eq!(safe_name(Some("../../etc/passwd")), "passwd");
        assert_eq!(safe_name(Some("C:\\\\Users\\\\x\\\\data.xlsx")), "data.xlsx");
        assert_eq!(safe_name(Some("..")), "upload");
        assert_eq!(safe_name(Some(".hidden")), "hidden");
        assert_eq!(safe_name(Some("a\u{0}b\nc.json")), "abc.json");
        assert_eq!(safe_name(None), "upload");
        assert!(safe_name(Some(&"é".repeat(300))).len() <= 200);
    }

    #[tokio::test]
    async fn odd_names_are_stored_and_found_under_one_encoding() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::local(dir.path(), 1 << 20).unwrap();
        for (i, name) in
            ["a#b.csv", "100% real.csv", "dätä 📊.csv", "x..y.csv", "%23.csv", "a?b*c.csv"].into_iter().enumerate()
        {
            let id = format!("id{i}");
            let mut upload = store.upload("org", &id, name);
            upload.write(bytes::Bytes::from_static(b"a\n1\n")).await.unwrap();
            let (size, sha) = upload.finish().await.unwrap();
            let file = FileRef { org_id: "org", id: &id, name, size, sha256: &sha };
            let local = store.local_file(file).await.unwrap();
            assert_eq!(std::fs::read(&local).unwrap(), b"a\n1\n", "{name} is not where it is looked for");
            assert_eq!(local.parent().unwrap(), dir.path().join("org").join(&id), "{name} left its folder");
        }
    }

    #[tokio::test]
    async fn an_upload_streams_counts_and_digests_and_stops_at_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::local(dir.path(), 10).unwrap();
        let mut upload = store.upload("org", "id1", "a.txt");
        upload.write(bytes::Bytes::from_static(b"hello")).await.unwrap();
        let (size, sha) = upload.finish().await.unwrap();
        assert_eq!(size, 5);
        assert_eq!(sha, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        let file = |id, name| FileRef { org_id: "org", id, name, size: 5, sha256: &sha };
        assert_eq!(std::fs::read(store.local_file(file("id1", "a.txt")).await.unwrap()).unwrap(), b"hello");

        let mut big = store.upload("org", "id2", "b.txt");
        big.write(bytes::Bytes::from_static(b"0123456789")).await.unwrap();
        assert!(matches!(big.write(bytes::Bytes::from_static(b"x")).await, Err(StorageError::TooLarge { .. })));
        big.abort().await;
        assert!(!store.local_file(file("id2", "b.txt")).await.unwrap().exists(), "an aborted upload leaves nothing");

        store.delete("org", "id1", "a.txt").await.unwrap();
        assert!(!store.local_file(file("id1", "a.txt")).await.unwrap().exists());
    }
}

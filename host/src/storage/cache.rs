//! Local copies of a bucket's files, for connectors (which read only local
//! files) and downloads. A copy is written beside its final place, checked
//! against the SHA-256 recorded at upload, then renamed into place, so a
//! half-written or tampered copy is never seen. Concurrent requests for the
//! same file wait for one download.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::{FileRef, StorageError};

pub(super) struct LocalCache {
    root: PathBuf,
    /// One lock per file being fetched, so a file is downloaded once.
    fetching: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl LocalCache {
    pub(super) fn new(root: &Path) -> Result<Self, StorageError> {
        std::fs::create_dir_all(root)
            .map_err(|e| StorageError::Open { path: root.display().to_string(), reason: e.to_string() })?;
        Ok(Self { root: root.to_path_buf(), fetching: Mutex::new(HashMap::new()) })
    }

    /// The local copy of `file` (stored at `path`), fetched if missing.
    pub(super) async fn ensure(
        &self,
        store: &dyn ObjectStore,
        path: &ObjectPath,
        file: FileRef<'_>,
    ) -> Result<PathBuf, StorageError> {
        let folder = self.root.join(file.org_id).join(file.id);
        let local = folder.join(super::stored_segment(file.name).as_ref());
        if is_complete(&local, file.size).await {
            return Ok(local);
        }
        let key = format!("{}/{}", file.org_id, file.id);
        let lock = self.lock_for(&key);
        let _guard = lock.lock().await;
        let result = if is_complete(&local, file.size).await {
            Ok(local.clone())
        } else {
            fetch(store, path, file, &folder, &local).await.map(|()| local.clone())
        };
        drop(_guard);
        self.release(&key, &lock);
        result
    }

    /// Drops the copy of a deleted file.
    pub(super) async fn evict(&self, org_id: &str, id: &str) {
        let folder = self.root.join(org_id).join(id);
        if let Err(error) = tokio::fs::remove_dir_all(&folder).await
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(%error, folder = %folder.display(), "cannot remove a cached copy of a deleted file");
        }
    }

    fn lock_for(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut fetching = self.fetching.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        fetching.entry(key.to_owned()).or_default().clone()
    }

    fn release(&self, key: &str, lock: &Arc<tokio::sync::Mutex<()>>) {
        let mut fetching = self.fetching.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Two references: the map's and ours. More means someone still waits.
        if Arc::strong_count(lock) <= 2 {
            fetching.remove(key);
        }
    }
}

/// A copy is complete once renamed into place; its size guards against a
/// file replaced behind our back.
async fn is_complete(local: &Path, size: u64) -> bool {
    tokio::fs::metadata(local).await.is_ok_and(|meta| meta.is_file() && meta.len() == size)
}

async fn fetch(
    store: &dyn ObjectStore,
    path: &ObjectPath,
    file: FileRef<'_>,
    folder: &Path,
    local: &Path,
) -> Result<(), StorageError> {
    let io = |e: std::io::Error| StorageError::Store(format!("cannot write the local copy: {e}"));
    tokio::fs::create_dir_all(folder).await.map_err(io)?;
    let partial = folder.join(format!(".partial-{}", uuid::Uuid::now_v7()));
    let result = async {
        let response = store.get(path).await.map_err(|e| match e {
            object_store::Error::NotFound { .. } => StorageError::Missing,
            other => StorageError::Store(other.to_string()),
        })?;
        let mut out = tokio::fs::File::create(&partial).await.map_err(io)?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut stream = response.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| StorageError::Store(e.to_string()))?;
            size += chunk.len() as u64;
            if size > file.size {
                return Err(StorageError::Corrupt);
            }
            hasher.update(&chunk);
            out.write_all(&chunk).await.map_err(io)?;
        }
        out.flush().await.map_err(io)?;
        out.sync_all().await.map_err(io)?;
        if size != file.size || hex::encode(hasher.finalize()) != file.sha256 {
            return Err(StorageError::Corrupt);
        }
        tokio::fs::rename(&partial, local).await.map_err(io)
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&partial).await;
    }
    result
}

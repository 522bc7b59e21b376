//! The host's blocking file work for connectors' files (granting, checking,
//! opening a file to serve), on a bounded set of threads with a deadline.
//!
//! A file on a hung network mount, or a special file that slips past a
//! check, can block a thread for ever. Each job holds one of
//! [`FILE_THREADS`] permits until its thread returns, so such files can hold
//! at most that many threads; callers wait at most their deadline (for a
//! permit, then for the job) and get a named error, and the tokio blocking
//! pool that name lookups and everything else share stays free.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use thiserror::Error;
use tokio::sync::Semaphore;

/// Threads the host's file work may hold at once.
pub const FILE_THREADS: usize = 16;

static SHARED: LazyLock<FilePool> = LazyLock::new(|| FilePool::new(FILE_THREADS));

#[derive(Debug, Error, PartialEq, Eq)]
pub enum FilePoolError {
    #[error("file access did not finish within {timeout_ms} ms")]
    Timeout { timeout_ms: u64 },
    #[error("file access failed: {0}")]
    Failed(String),
}

/// [`FilePool::run`] on the server's one pool of [`FILE_THREADS`].
pub async fn run<T, F>(timeout: Duration, work: F) -> Result<T, FilePoolError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    SHARED.run(timeout, work).await
}

/// A bounded set of blocking threads.
pub struct FilePool {
    permits: Arc<Semaphore>,
}

impl FilePool {
    pub fn new(threads: usize) -> Self {
        Self { permits: Arc::new(Semaphore::new(threads)) }
    }

    /// Runs `work` on a blocking thread once a permit is free, waiting at
    /// most `timeout` in all. A job that overruns keeps its thread and its
    /// permit until it returns; the caller does not wait for it.
    pub async fn run<T, F>(&self, timeout: Duration, work: F) -> Result<T, FilePoolError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let job = async {
            let permit =
                self.permits.clone().acquire_owned().await.map_err(|error| FilePoolError::Failed(error.to_string()))?;
            tokio::task::spawn_blocking(move || {
                let _permit = permit;
                work()
            })
            .await
            .map_err(|error| FilePoolError::Failed(error.to_string()))
        };
        tokio::time::timeout(timeout, job)
            .await
            .map_err(|_| FilePoolError::Timeout { timeout_ms: timeout.as_millis() as u64 })?
    }

    /// Permits free now.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stuck_jobs_hold_at_most_the_pool_and_callers_get_a_timeout() {
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let wait = Arc::new(std::sync::Mutex::new(wait));
        let pool = Arc::new(FilePool::new(4));
        let mut stuck = Vec::new();
        for _ in 0..4 {
            let wait = wait.clone();
            let pool = pool.clone();
            stuck.push(tokio::spawn(async move {
                pool.run(Duration::from_secs(30), move || {
                    let _ = wait.lock().unwrap().recv();
                    let _ = wait.lock().unwrap().recv();
                })
                .await
            }));
        }
        // Every permit is taken (by jobs that block); the next caller times out.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while pool.available() > 0 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(pool.available(), 0);
        let error = pool.run(Duration::from_millis(100), || 1).await.unwrap_err();
        assert_eq!(error, FilePoolError::Timeout { timeout_ms: 100 });
        for _ in 0..8 {
            let _ = release.send(());
        }
        drop(release);
        for job in stuck {
            job.await.unwrap().unwrap();
        }
        assert_eq!(pool.run(Duration::from_secs(5), || 2).await, Ok(2));
        assert_eq!(run(Duration::from_secs(5), || 3).await, Ok(3), "the shared pool");
    }
}

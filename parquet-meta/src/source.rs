//! Byte ranges of one Parquet file, however they are fetched (a local file,
//! ranged GETs), as the `parquet` crate's `ChunkReader`: page headers are
//! read through a window that grows as needed, page bodies as one range
//! each, so only the pages actually decoded are fetched.

use std::io::Read;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use inlet_sdk::ConnectorError;
use parquet::errors::ParquetError;
use parquet::file::reader::{ChunkReader, Length};

/// The first window a page header is read through; it doubles up to [`MAX_WINDOW`].
const FIRST_WINDOW: usize = 16 << 10;
const MAX_WINDOW: usize = 8 << 20;

/// Where a file's bytes come from.
pub trait Source: Send + Sync + 'static {
    /// The file's size in bytes.
    fn size(&self) -> u64;

    /// `len` bytes at `offset` (the caller keeps within the size).
    fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>, ConnectorError>;
}

struct Inner<S> {
    source: S,
    /// Bytes already fetched (the file's tail, read for the footer).
    known: Option<(u64, Bytes)>,
    failure: Mutex<Option<ConnectorError>>,
}

/// A [`Source`] as a `ChunkReader`. The first error of the source is kept,
/// so that it reaches the user with its own kind rather than as a Parquet
/// decoding error.
pub struct Chunks<S: Source>(Arc<Inner<S>>);

impl<S: Source> Chunks<S> {
    pub fn new(source: S) -> Self {
        Self::with_known(source, None)
    }

    /// Serves reads within `known` (bytes found at an offset) from memory.
    pub fn with_known(source: S, known: Option<(u64, Vec<u8>)>) -> Self {
        let known = known.map(|(offset, bytes)| (offset, Bytes::from(bytes)));
        Self(Arc::new(Inner { source, known, failure: Mutex::new(None) }))
    }

    /// The source's first error, if reading failed because of it.
    pub fn take_failure(&self) -> Option<ConnectorError> {
        self.0.failure.lock().ok().and_then(|mut failure| failure.take())
    }

    /// A handle on the same source and failure.
    pub fn share(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<S: Source> Inner<S> {
    fn fetch(&self, offset: u64, len: usize) -> parquet::errors::Result<Bytes> {
        if offset.checked_add(len as u64).is_none_or(|end| end > self.source.size()) {
            return Err(ParquetError::EOF(format!("{len} bytes at {offset} run past the end of the file")));
        }
        if let Some((start, bytes)) = &self.known
            && offset >= *start
            && offset - start + len as u64 <= bytes.len() as u64
        {
            let from = (offset - start) as usize;
            return Ok(bytes.slice(from..from + len));
        }
        match self.source.read_at(offset, len) {
            Ok(bytes) if bytes.len() == len => Ok(Bytes::from(bytes)),
            Ok(bytes) => Err(self.fail(ConnectorError::protocol(format!(
                "asked for {len} bytes at offset {offset}, got {}",
                bytes.len()
            )))),
            Err(error) => Err(self.fail(error)),
        }
    }

    fn fail(&self, error: ConnectorError) -> ParquetError {
        let message = error.message.clone();
        if let Ok(mut failure) = self.failure.lock()
            && failure.is_none()
        {
            *failure = Some(error);
        }
        ParquetError::General(message)
    }
}

impl<S: Source> Length for Chunks<S> {
    fn len(&self) -> u64 {
        self.0.source.size()
    }
}

impl<S: Source> ChunkReader for Chunks<S> {
    type T = Window<S>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Window<S>> {
        Ok(Window { inner: Arc::clone(&self.0), next: start, buffer: Bytes::new(), size: FIRST_WINDOW })
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        self.0.fetch(start, length)
    }
}

/// Sequential reads from an offset, a growing window at a time.
pub struct Window<S> {
    inner: Arc<Inner<S>>,
    /// The file offset just after `buffer`.
    next: u64,
    buffer: Bytes,
    size: usize,
}

impl<S: Source> Read for Window<S> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.buffer.is_empty() {
            let left = self.inner.source.size().saturating_sub(self.next);
            let len = usize::try_from(left).unwrap_or(usize::MAX).min(self.size);
            if len == 0 || out.is_empty() {
                return Ok(0);
            }
            self.buffer = self.inner.fetch(self.next, len).map_err(std::io::Error::other)?;
            self.next += len as u64;
            self.size = (self.size * 2).min(MAX_WINDOW);
        }
        let n = out.len().min(self.buffer.len());
        out[..n].copy_from_slice(&self.buffer[..n]);
        self.buffer = self.buffer.slice(n..);
        Ok(n)
    }
}

/// A local file as a [`Source`].
pub struct LocalFile {
    file: Mutex<std::fs::File>,
    size: u64,
    name: String,
}

impl LocalFile {
    pub fn open(path: &std::path::Path, name: &str) -> Result<Self, ConnectorError> {
        let file = std::fs::File::open(path).map_err(|error| inlet_sdk::file_error(&error, &format!("open {name}")))?;
        let size = file.metadata().map_err(|error| inlet_sdk::file_error(&error, &format!("stat {name}")))?.len();
        Ok(Self { file: Mutex::new(file), size, name: name.to_owned() })
    }
}

impl Source for LocalFile {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>, ConnectorError> {
        use std::io::{Seek, SeekFrom};
        let io = |error: std::io::Error| inlet_sdk::file_error(&error, &format!("read {}", self.name));
        let mut file = self.file.lock().map_err(|_| ConnectorError::internal("the file lock is poisoned"))?;
        file.seek(SeekFrom::Start(offset)).map_err(io)?;
        let mut bytes = Vec::new();
        bytes.try_reserve_exact(len).map_err(|_| ConnectorError::internal(format!("cannot allocate {len} bytes")))?;
        (&mut *file).take(len as u64).read_to_end(&mut bytes).map_err(io)?;
        Ok(bytes)
    }
}

//! Guest stdout and stderr, line by line into tracing, tagged with the plugin id.
//!
//! Lines are capped so that a hostile guest cannot grow host memory through
//! its output.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

const MAX_LINE: usize = 4096;

#[derive(Clone)]
pub struct GuestOutput {
    plugin: Arc<str>,
    stream: &'static str,
}

impl GuestOutput {
    pub fn new(plugin: Arc<str>, stream: &'static str) -> Self {
        Self { plugin, stream }
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LineWriter { output: self.clone(), line: Vec::new(), dropped: false })
    }
}

struct LineWriter {
    output: GuestOutput,
    line: Vec<u8>,
    /// Whether the current line went over [`MAX_LINE`] and was cut.
    dropped: bool,
}

impl LineWriter {
    fn emit(&mut self) {
        if self.line.is_empty() && !self.dropped {
            return;
        }
        let text = String::from_utf8_lossy(&self.line);
        let suffix = if self.dropped { " [truncated]" } else { "" };
        tracing::info!(plugin = &*self.output.plugin, stream = self.output.stream, "{text}{suffix}");
        self.line.clear();
        self.dropped = false;
    }
}

impl AsyncWrite for LineWriter {
    fn poll_write(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        for &byte in buf {
            if byte == b'\n' {
                self.emit();
            } else if self.line.len() < MAX_LINE {
                self.line.push(byte);
            } else {
                self.dropped = true;
            }
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.emit();
        Poll::Ready(Ok(()))
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        self.emit();
    }
}

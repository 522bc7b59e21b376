//! Guest stdout and stderr, line by line into the connection's log budget
//! ([`LogLimit`]), which tags them with the plugin id.
//!
//! A line is buffered up to [`LINE_BYTES`] and the rest of it dropped, so
//! that a hostile guest cannot grow host memory through its output.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

use super::log_limit::{LINE_BYTES, LogLimit, Origin};

#[derive(Clone)]
pub struct GuestOutput {
    log: Arc<LogLimit>,
    stream: &'static str,
}

impl GuestOutput {
    pub fn new(log: Arc<LogLimit>, stream: &'static str) -> Self {
        Self { log, stream }
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LineWriter { output: self.clone(), line: Vec::new(), dropped: 0 })
    }
}

struct LineWriter {
    output: GuestOutput,
    line: Vec<u8>,
    /// Bytes of the current line past [`LINE_BYTES`], dropped.
    dropped: usize,
}

impl LineWriter {
    fn emit(&mut self) {
        if self.line.is_empty() && self.dropped == 0 {
            return;
        }
        let text = String::from_utf8_lossy(&self.line);
        self.output.log.write_cut(Origin::Stream(self.output.stream), &text, self.dropped);
        self.line.clear();
        self.dropped = 0;
    }
}

impl AsyncWrite for LineWriter {
    fn poll_write(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        for &byte in buf {
            if byte == b'\n' {
                self.emit();
            } else if self.line.len() < LINE_BYTES {
                self.line.push(byte);
            } else {
                self.dropped += 1;
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

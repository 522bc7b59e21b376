//! One connection's budget for writing to the host's log: the `host.log`
//! import and the guest's stdout and stderr share it. At most
//! [`LINES_PER_SECOND`] lines a second and [`BYTES_PER_CALL`] bytes a call
//! reach the log; what is refused is counted and reported once, as a single
//! "suppressed N lines" record when the call ends (or sooner, before the
//! next line that passes). Every line that passes has its control
//! characters escaped (a guest cannot forge a line of the text log) and is
//! cut to [`LINE_BYTES`].

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::bounds;
use crate::log_format::escape_controls;

/// Lines a connection may log per second (log, stdout and stderr together).
pub const LINES_PER_SECOND: u32 = 50;
/// Bytes a connection may log during one call (connect, test, discover).
pub const BYTES_PER_CALL: usize = 256 * 1024;
/// Longest line kept; the rest is cut with a marker.
pub const LINE_BYTES: usize = 4096;

const WINDOW: Duration = Duration::from_secs(1);

/// What a connection's logging needed from the budget, for `plugin check`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogUsage {
    pub lines_written: u64,
    pub lines_suppressed: u64,
    /// Lines cut to [`LINE_BYTES`].
    pub lines_cut: u64,
    /// The most bytes one call wrote.
    pub peak_call_bytes: usize,
}

pub struct LogLimit {
    plugin: Arc<str>,
    state: Mutex<State>,
}

struct State {
    window_start: Instant,
    window_lines: u32,
    call_bytes: usize,
    /// Lines refused since the last "suppressed" record.
    pending: u64,
    usage: LogUsage,
}

/// Where a guest line came from.
#[derive(Debug, Clone, Copy)]
pub enum Origin {
    /// The `host.log` import, at the level the guest chose.
    Log(tracing::Level),
    /// stdout or stderr (logged at info).
    Stream(&'static str),
}

impl LogLimit {
    pub fn new(plugin: Arc<str>) -> Arc<Self> {
        Arc::new(Self {
            plugin,
            state: Mutex::new(State {
                window_start: Instant::now(),
                window_lines: 0,
                call_bytes: 0,
                pending: 0,
                usage: LogUsage::default(),
            }),
        })
    }

    /// Logs one guest line if the budget allows; counts it otherwise.
    pub fn write(&self, origin: Origin, line: &str) {
        self.write_cut(origin, line, 0);
    }

    /// [`LogLimit::write`] for a line whose last `already_cut` bytes were
    /// dropped before it got here (the marker counts them).
    pub fn write_cut(&self, origin: Origin, line: &str, already_cut: usize) {
        let kept = bounds::prefix(line, LINE_BYTES);
        let cut = line.len() - kept.len() + already_cut;
        let suppressed = {
            let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let now = Instant::now();
            if now.duration_since(state.window_start) >= WINDOW {
                state.window_start = now;
                state.window_lines = 0;
            }
            if state.window_lines >= LINES_PER_SECOND || state.call_bytes.saturating_add(kept.len()) > BYTES_PER_CALL {
                state.pending += 1;
                state.usage.lines_suppressed += 1;
                return;
            }
            state.window_lines += 1;
            state.call_bytes += kept.len();
            state.usage.peak_call_bytes = state.usage.peak_call_bytes.max(state.call_bytes);
            state.usage.lines_written += 1;
            if cut > 0 {
                state.usage.lines_cut += 1;
            }
            std::mem::take(&mut state.pending)
        };
        self.report_suppressed(suppressed);
        let text = escape_controls(kept);
        let marker = if cut > 0 { bounds::marker(cut) } else { String::new() };
        let plugin = &*self.plugin;
        match origin {
            Origin::Stream(stream) => tracing::info!(plugin, stream, "{text}{marker}"),
            Origin::Log(tracing::Level::ERROR) => tracing::error!(plugin, "{text}{marker}"),
            Origin::Log(tracing::Level::WARN) => tracing::warn!(plugin, "{text}{marker}"),
            Origin::Log(tracing::Level::INFO) => tracing::info!(plugin, "{text}{marker}"),
            Origin::Log(tracing::Level::DEBUG) => tracing::debug!(plugin, "{text}{marker}"),
            Origin::Log(tracing::Level::TRACE) => tracing::trace!(plugin, "{text}{marker}"),
        }
    }

    /// A call ended: lines it had refused are reported (once), and the next
    /// call's byte budget is fresh.
    pub fn end_call(&self) {
        let suppressed = {
            let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            state.call_bytes = 0;
            std::mem::take(&mut state.pending)
        };
        self.report_suppressed(suppressed);
    }

    pub fn usage(&self) -> LogUsage {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).usage
    }

    fn report_suppressed(&self, lines: u64) {
        if lines > 0 {
            tracing::warn!(
                plugin = &*self.plugin,
                suppressed = lines,
                "suppressed {lines} log lines from the connector (limits: {LINES_PER_SECOND} lines/s, {} per call)",
                bounds::human_bytes(BYTES_PER_CALL)
            );
        }
    }
}

impl Drop for LogLimit {
    fn drop(&mut self) {
        let pending = self.state.get_mut().map(|state| state.pending).unwrap_or(0);
        self.report_suppressed(pending);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_passes_the_rate_and_counts_the_rest() {
        let limit = LogLimit::new(Arc::from("p"));
        for i in 0..1000 {
            limit.write(Origin::Stream("stdout"), &format!("line {i}"));
        }
        let usage = limit.usage();
        assert_eq!(usage.lines_written, u64::from(LINES_PER_SECOND));
        assert_eq!(usage.lines_suppressed, 1000 - u64::from(LINES_PER_SECOND));
    }

    #[test]
    fn a_call_may_write_so_many_bytes_and_the_next_call_starts_afresh() {
        let limit = LogLimit::new(Arc::from("p"));
        let line = "x".repeat(LINE_BYTES);
        // Spread over windows so that only the byte budget binds.
        let per_call = BYTES_PER_CALL / LINE_BYTES;
        for _ in 0..per_call + 5 {
            limit.state.lock().unwrap().window_lines = 0;
            limit.write(Origin::Log(tracing::Level::INFO), &line);
        }
        assert_eq!(limit.usage().lines_written, per_call as u64);
        assert_eq!(limit.usage().lines_suppressed, 5);
        assert_eq!(limit.usage().peak_call_bytes, per_call * LINE_BYTES);
        limit.end_call();
        limit.state.lock().unwrap().window_lines = 0;
        limit.write(Origin::Log(tracing::Level::INFO), "again");
        assert_eq!(limit.usage().lines_written, per_call as u64 + 1);
        assert_eq!(limit.state.lock().unwrap().pending, 0, "the suppressed lines were reported");
    }

    #[test]
    fn long_lines_are_cut_and_counted() {
        let limit = LogLimit::new(Arc::from("p"));
        limit.write(Origin::Stream("stderr"), &"y".repeat(LINE_BYTES * 3));
        assert_eq!(limit.usage().lines_cut, 1);
        assert_eq!(limit.usage().peak_call_bytes, LINE_BYTES);
    }
}

//! How near a connector came to the host's bounds on what it sends back:
//! log lines suppressed or cut, values truncated, catalog page bytes against
//! the page cap. A connector that needed a bound passes with a warning: the
//! host coped, but the author should know before users see markers.

use serde::Serialize;

use super::report::Status;
use crate::runtime::bounds::{self, BoundsUsage, human_bytes};
use crate::runtime::log_limit;

/// The figures, for the JSON report (`budgets`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Budgets {
    pub log_lines_written: u64,
    pub log_lines_suppressed: u64,
    pub log_lines_cut: u64,
    pub log_lines_per_second_cap: u32,
    pub log_peak_call_bytes: usize,
    pub log_bytes_per_call_cap: usize,
    pub values_truncated: u64,
    pub largest_page_bytes: usize,
    pub page_bytes_cap: usize,
}

/// Nothing used yet, with the host's caps.
impl Default for Budgets {
    fn default() -> Self {
        Self::of(&BoundsUsage::default())
    }
}

impl Budgets {
    pub fn of(usage: &BoundsUsage) -> Self {
        Self {
            log_lines_written: usage.log.lines_written,
            log_lines_suppressed: usage.log.lines_suppressed,
            log_lines_cut: usage.log.lines_cut,
            log_lines_per_second_cap: log_limit::LINES_PER_SECOND,
            log_peak_call_bytes: usage.log.peak_call_bytes,
            log_bytes_per_call_cap: log_limit::BYTES_PER_CALL,
            values_truncated: usage.truncated_values,
            largest_page_bytes: usage.largest_page_bytes,
            page_bytes_cap: bounds::limits::PAGE_BYTES,
        }
    }

    /// Warn when a bound had to act or was more than half used.
    pub fn judge(&self) -> (Status, String) {
        let mut near = Vec::new();
        if self.log_lines_suppressed > 0 {
            near.push(format!(
                "{} log lines suppressed (over {} lines/s or {} per call)",
                self.log_lines_suppressed,
                self.log_lines_per_second_cap,
                human_bytes(self.log_bytes_per_call_cap)
            ));
        }
        if self.log_lines_cut > 0 {
            near.push(format!("{} log lines cut to {}", self.log_lines_cut, human_bytes(log_limit::LINE_BYTES)));
        }
        if self.log_peak_call_bytes > self.log_bytes_per_call_cap / 2 {
            near.push("one call logged over half its byte budget".to_owned());
        }
        if self.values_truncated > 0 {
            near.push(format!(
                "{} values truncated to the host's sizes (error {}, step message {}, server version {}, names {})",
                self.values_truncated,
                human_bytes(bounds::limits::ERROR_MESSAGE),
                human_bytes(bounds::limits::STEP_MESSAGE),
                human_bytes(bounds::limits::SERVER_VERSION),
                human_bytes(bounds::limits::NAME)
            ));
        }
        if self.largest_page_bytes > self.page_bytes_cap / 2 {
            near.push("a catalog page over half the page cap: ask for fewer tables per page".to_owned());
        }
        let figures = format!(
            "log {} lines ({} suppressed), at most {} of {} per call; {} values truncated; largest page {} of {}",
            self.log_lines_written,
            self.log_lines_suppressed,
            human_bytes(self.log_peak_call_bytes),
            human_bytes(self.log_bytes_per_call_cap),
            self.values_truncated,
            human_bytes(self.largest_page_bytes),
            human_bytes(self.page_bytes_cap)
        );
        if near.is_empty() {
            (Status::Pass, figures)
        } else {
            (Status::Warn, format!("{}; {figures}", near.join("; ")))
        }
    }

    /// The most of each figure over two measurements.
    pub fn max(self, other: Self) -> Self {
        Self {
            log_lines_written: self.log_lines_written.max(other.log_lines_written),
            log_lines_suppressed: self.log_lines_suppressed.max(other.log_lines_suppressed),
            log_lines_cut: self.log_lines_cut.max(other.log_lines_cut),
            log_peak_call_bytes: self.log_peak_call_bytes.max(other.log_peak_call_bytes),
            values_truncated: self.values_truncated.max(other.values_truncated),
            largest_page_bytes: self.largest_page_bytes.max(other.largest_page_bytes),
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quiet_connector_passes_and_a_flood_or_a_cut_warns() {
        let quiet = Budgets::of(&BoundsUsage::default());
        assert_eq!(quiet.judge().0, Status::Pass);
        let mut flood = BoundsUsage::default();
        flood.log.lines_suppressed = 950;
        let (status, message) = Budgets::of(&flood).judge();
        assert_eq!(status, Status::Warn);
        assert!(message.starts_with("950 log lines suppressed"), "{message}");
        let cut = BoundsUsage { truncated_values: 3, largest_page_bytes: 9 << 20, ..BoundsUsage::default() };
        let (status, message) = Budgets::of(&cut).judge();
        assert_eq!(status, Status::Warn);
        assert!(message.contains("3 values truncated") && message.contains("over half the page cap"), "{message}");
        assert_eq!(quiet.max(Budgets::of(&cut)).values_truncated, 3);
        let caps = Budgets::default().max(Budgets::of(&flood));
        assert_eq!((caps.log_lines_per_second_cap, caps.page_bytes_cap), (50, 16 << 20), "the caps stay");
    }
}

//! The conformance report: one named result per check, rendered as text for
//! people (one line per check, a summary line) or as JSON for machines.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde::Serialize;

/// How one check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    /// Passed, with advice: does not fail the run.
    Warn,
    Fail,
    /// Not run, with the reason.
    Skip,
}

impl Status {
    fn mark(self) -> &'static str {
        match self {
            Self::Pass => "✓",
            Self::Warn => "!",
            Self::Fail => "✗",
            Self::Skip => "–",
        }
    }
}

/// One named result.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub status: Status,
    /// What was seen (pass), the advice (warn), the reason (fail, skip).
    pub message: String,
    pub duration_ms: u64,
}

/// Who was checked.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PluginInfo {
    pub dir: String,
    pub id: Option<String>,
    pub version: Option<String>,
    pub api_version: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Summary {
    pub passed: usize,
    pub warnings: usize,
    pub failed: usize,
    pub skipped: usize,
    pub duration_ms: u64,
}

/// Every check, in the order run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub ok: bool,
    pub plugin: PluginInfo,
    pub checks: Vec<Check>,
    pub summary: Summary,
    /// How near the connector came to the host's bounds (live checks only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budgets: Option<super::budgets::Budgets>,
    #[serde(skip)]
    started: Instant,
}

impl Report {
    pub fn new(dir: &std::path::Path) -> Self {
        Self {
            ok: true,
            plugin: PluginInfo { dir: dir.display().to_string(), ..PluginInfo::default() },
            checks: Vec::new(),
            summary: Summary::default(),
            budgets: None,
            started: Instant::now(),
        }
    }

    pub fn push(&mut self, name: impl Into<String>, status: Status, message: impl Into<String>, took: Duration) {
        let check = Check {
            name: name.into(),
            status,
            message: message.into(),
            duration_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
        };
        match check.status {
            Status::Pass => self.summary.passed += 1,
            Status::Warn => self.summary.warnings += 1,
            Status::Fail => self.summary.failed += 1,
            Status::Skip => self.summary.skipped += 1,
        }
        self.ok = self.summary.failed == 0;
        self.checks.push(check);
    }

    pub fn pass(&mut self, name: impl Into<String>, message: impl Into<String>, took: Duration) {
        self.push(name, Status::Pass, message, took);
    }

    pub fn fail(&mut self, name: impl Into<String>, message: impl Into<String>, took: Duration) {
        self.push(name, Status::Fail, message, took);
    }

    pub fn skip(&mut self, name: impl Into<String>, message: impl Into<String>) {
        self.push(name, Status::Skip, message, Duration::ZERO);
    }

    /// Stamps the total time; call once, when every check has run.
    pub fn finish(&mut self) {
        self.summary.duration_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
    }

    /// The report for people: a header, one line per check, a summary.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let who = match (&self.plugin.id, &self.plugin.version, &self.plugin.api_version) {
            (Some(id), Some(version), Some(api)) => format!(" ({id} {version}, API {api})"),
            _ => String::new(),
        };
        let _ = writeln!(out, "inlet plugin check {}{who}", self.plugin.dir);
        let width = self.checks.iter().map(|c| c.name.chars().count()).max().unwrap_or(0).min(48);
        for check in &self.checks {
            let timing = match check.status {
                Status::Skip => String::new(),
                _ => format!(" ({})", millis(check.duration_ms)),
            };
            let _ =
                writeln!(out, "  {} {:<width$}  {}{timing}", check.status.mark(), check.name, one_line(&check.message));
        }
        let s = &self.summary;
        let verdict = if self.ok { "PASSED" } else { "FAILED" };
        let _ = writeln!(
            out,
            "{verdict}: {} passed, {} failed, {} warnings, {} skipped in {}",
            s.passed,
            s.failed,
            s.warnings,
            s.skipped,
            millis(s.duration_ms)
        );
        out
    }
}

fn millis(ms: u64) -> String {
    if ms >= 1000 { format!("{:.1} s", ms as f64 / 1000.0) } else { format!("{ms} ms") }
}

/// Messages come from plugins too: one line, bounded.
fn one_line(message: &str) -> String {
    let flat: String = message.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if flat.chars().count() > 300 { format!("{}…", flat.chars().take(300).collect::<String>()) } else { flat }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_fails_the_report_and_warnings_do_not() {
        let mut report = Report::new(std::path::Path::new("p"));
        report.pass("manifest", "loads", Duration::from_millis(3));
        report.push("schema", Status::Warn, "additionalProperties", Duration::ZERO);
        report.skip("test", "no --config");
        assert!(report.ok);
        report.fail("discover", "token repeated\nagain", Duration::from_millis(1500));
        report.finish();
        assert!(!report.ok);
        let text = report.to_text();
        assert!(text.contains("✓ manifest"), "{text}");
        assert!(text.contains("✗ discover"), "{text}");
        assert!(text.contains("token repeated again (1.5 s)"), "{text}");
        assert!(text.contains("– test"), "{text}");
        assert!(text.contains("FAILED: 1 passed, 1 failed, 1 warnings, 1 skipped"), "{text}");
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["ok"], false);
        assert_eq!(json["checks"][3]["status"], "fail");
        assert_eq!(json["summary"]["failed"], 1);
    }
}

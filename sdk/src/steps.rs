//! Timed, named stages of connecting and testing.

use std::time::Instant;

use crate::{CheckStep, ConnectorError, Failure};

/// Records each stage's name, outcome and duration, in order.
#[derive(Debug, Default)]
pub struct Steps {
    steps: Vec<CheckStep>,
}

impl Steps {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `stage`, recording how long it took and whether it passed.
    pub fn run<T>(
        &mut self,
        name: &str,
        stage: impl FnOnce() -> Result<T, ConnectorError>,
    ) -> Result<T, ConnectorError> {
        let started = Instant::now();
        let outcome = stage();
        let duration_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let (passed, message) = match &outcome {
            Ok(_) => (true, None),
            Err(error) => (false, Some(error.message.clone())),
        };
        self.steps.push(CheckStep { name: name.to_owned(), passed, duration_us, message });
        outcome
    }

    /// Adds a note to the last recorded step (e.g. "TLS 1.3").
    pub fn annotate_last(&mut self, message: impl Into<String>) {
        if let Some(step) = self.steps.last_mut() {
            step.message = Some(message.into());
        }
    }

    pub fn as_slice(&self) -> &[CheckStep] {
        &self.steps
    }

    pub fn into_steps(self) -> Vec<CheckStep> {
        self.steps
    }

    pub fn into_failure(self, error: ConnectorError) -> Failure {
        Failure { error, steps: self.steps }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_passed_and_failed_stages_in_order() {
        let mut steps = Steps::new();
        assert_eq!(steps.run("one", || Ok(1)).ok(), Some(1));
        let failed: Result<(), _> = steps.run("two", || Err(ConnectorError::auth("bad password")));
        assert!(failed.is_err());
        let recorded = steps.into_steps();
        assert_eq!(recorded.len(), 2);
        assert!(recorded[0].passed);
        assert_eq!(recorded[1].name, "two");
        assert!(!recorded[1].passed);
        assert_eq!(recorded[1].message.as_deref(), Some("bad password"));
    }
}

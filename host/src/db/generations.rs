//! Per-organization change counters. Every write to an organization's data
//! sources bumps its counter after the write commits, so whoever caches what
//! it derived from those rows can tell exactly when that went stale: read the
//! counter before the query, keep the result under it, use the result only
//! while the counter is unchanged.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

#[derive(Debug, Default)]
pub struct Generations {
    counters: RwLock<HashMap<Box<str>, u64>>,
}

impl Generations {
    /// The organization's counter now (0 until its first write).
    pub fn current(&self, org_id: &str) -> u64 {
        let counters = self.counters.read().unwrap_or_else(PoisonError::into_inner);
        counters.get(org_id).copied().unwrap_or(0)
    }

    /// Marks everything derived from the organization's data sources stale.
    pub fn bump(&self, org_id: &str) {
        let mut counters = self.counters.write().unwrap_or_else(PoisonError::into_inner);
        match counters.get_mut(org_id) {
            Some(counter) => *counter += 1,
            None => {
                counters.insert(org_id.into(), 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bump_changes_only_its_organization() {
        let generations = Generations::default();
        let (a, b) = (generations.current("a"), generations.current("b"));
        generations.bump("a");
        assert_ne!(generations.current("a"), a);
        assert_eq!(generations.current("b"), b);
        let a = generations.current("a");
        generations.bump("a");
        assert!(generations.current("a") > a);
    }
}

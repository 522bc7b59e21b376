//! Column names from a header row, made unique the same way by every file
//! connector (csv, excel).

use std::collections::{HashMap, HashSet};

/// A column as the header (or its absence) names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    pub name: String,
    /// Why the name differs from the header, when it does.
    pub comment: Option<String>,
}

/// Names from the header, made unique: an empty name becomes `column_<n>`,
/// a repeated one `<name>_2`, `<name>_3`, …, never taking a name that
/// another column's header holds.
pub fn unique_names(header: &[&str]) -> Vec<Named> {
    let reserved: HashSet<&str> = header.iter().copied().filter(|name| !name.is_empty()).collect();
    let mut used: HashSet<String> = HashSet::new();
    // The next suffix to try per base name, so that a header of thousands of
    // equal names costs linear time, not quadratic.
    let mut next_suffix: HashMap<String, u64> = HashMap::new();
    let mut columns = Vec::with_capacity(header.len());
    for (i, &name) in header.iter().enumerate() {
        if !name.is_empty() && !used.contains(name) {
            used.insert(name.to_owned());
            columns.push(Named { name: name.to_owned(), comment: None });
            continue;
        }
        let (base, comment) = if name.is_empty() {
            (format!("column_{}", i + 1), "the header is empty".to_owned())
        } else {
            let comment = format!("renamed from the duplicate header {name:?}");
            (name.to_owned(), comment)
        };
        let mut candidate = base.clone();
        // `column_<n>` is tried as it is first; a duplicate starts at `_2`.
        if !name.is_empty() || used.contains(&candidate) || reserved.contains(candidate.as_str()) {
            let suffix = next_suffix.entry(base.clone()).or_insert(2);
            loop {
                candidate = format!("{base}_{suffix}");
                *suffix += 1;
                if !used.contains(&candidate) && !reserved.contains(candidate.as_str()) {
                    break;
                }
            }
        }
        used.insert(candidate.clone());
        columns.push(Named { name: candidate, comment: Some(comment) });
    }
    columns
}

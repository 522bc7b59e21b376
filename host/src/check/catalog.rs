//! Discover pages, checked as they arrive: paging terminates (tokens advance,
//! never repeat, a bounded number of pages), every page is well-formed
//! (names present, ordinals and column names unique, constraint columns
//! exist), pages respect the page size and the schema filters, and the
//! catalog stays a reasonable size.
//!
//! Pure bookkeeping over pages; the calls are made by the caller.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::model::{ConstraintKind, DiscoverPage, DiscoverRequest, Table};

/// Bounds a walk stops at.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub max_pages: u32,
    /// The whole catalog as JSON.
    pub max_total_bytes: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Self { max_pages: 1000, max_total_bytes: 256 << 20 }
    }
}

/// Problems are listed up to this many; more are counted.
const MAX_PROBLEMS: usize = 8;

/// A discovered table as the preview check compares it.
#[derive(Debug, Clone)]
pub struct SampleTable {
    pub schema: String,
    pub name: String,
    /// (column, portable type)
    pub columns: Vec<(String, String)>,
}

/// One discovery, page by page.
#[derive(Debug)]
pub struct Walk {
    request: DiscoverRequest,
    bounds: Bounds,
    pub pages: u32,
    /// Every (schema, table) seen, with the page it came on.
    pub tables: BTreeMap<(String, String), u32>,
    pub total_bytes: usize,
    pub largest_page_bytes: usize,
    pub largest_page_tables: usize,
    /// The first table seen with columns, for the preview check.
    pub sample: Option<SampleTable>,
    tokens: HashSet<String>,
    problems: Vec<String>,
    more_problems: usize,
}

/// What to do after a page.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    Page(String),
    Done,
}

impl Walk {
    pub fn new(request: DiscoverRequest, bounds: Bounds) -> Self {
        Self {
            request,
            bounds,
            pages: 0,
            tables: BTreeMap::new(),
            total_bytes: 0,
            largest_page_bytes: 0,
            largest_page_tables: 0,
            sample: None,
            tokens: HashSet::new(),
            problems: Vec::new(),
            more_problems: 0,
        }
    }

    /// The request for the next page.
    pub fn request(&self) -> &DiscoverRequest {
        &self.request
    }

    /// The problems found in pages, as one message (`None`: none).
    pub fn problems(&self) -> Option<String> {
        if self.problems.is_empty() {
            return None;
        }
        let mut message = self.problems.join("; ");
        if self.more_problems > 0 {
            message.push_str(&format!("; and {} more", self.more_problems));
        }
        Some(message)
    }

    fn problem(&mut self, message: String) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(message);
        } else {
            self.more_problems += 1;
        }
    }

    /// Takes one page. `Err` ends the walk: paging cannot go on.
    pub fn add(&mut self, page: &DiscoverPage) -> Result<Next, String> {
        self.pages += 1;
        let n = self.pages;
        let bytes = serde_json::to_vec(page).map(|v| v.len()).unwrap_or(0);
        self.total_bytes += bytes;
        self.largest_page_bytes = self.largest_page_bytes.max(bytes);
        let count: usize = page.schemas.iter().map(|s| s.tables.len()).sum();
        self.largest_page_tables = self.largest_page_tables.max(count);
        if count > self.request.page_size as usize {
            self.problem(format!(
                "page {n} holds {count} tables; the request asked for at most {}",
                self.request.page_size
            ));
        }
        for schema in &page.schemas {
            if schema.name.is_empty() {
                self.problem(format!("page {n}: a schema has no name"));
            }
            if !selected(&self.request, &schema.name) {
                self.problem(format!(
                    "page {n}: schema `{}` is returned although the request excluded it",
                    schema.name
                ));
            }
            for table in &schema.tables {
                for issue in table_problems(table) {
                    self.problem(format!("page {n}: `{}.{}`: {issue}", schema.name, table.name));
                }
                if self.sample.is_none() && !table.columns.is_empty() {
                    let columns = table.columns.iter().map(|c| (c.name.clone(), c.data_type.clone())).collect();
                    self.sample = Some(SampleTable { schema: schema.name.clone(), name: table.name.clone(), columns });
                }
                let key = (schema.name.clone(), table.name.clone());
                if let Some(first) = self.tables.insert(key, n) {
                    self.problem(format!("`{}.{}` appears twice (pages {first} and {n})", schema.name, table.name));
                }
            }
        }
        if self.total_bytes > self.bounds.max_total_bytes {
            return Err(format!(
                "the catalog passed {} MiB after {n} pages: discovery must page a large catalog",
                self.bounds.max_total_bytes >> 20
            ));
        }
        let Some(token) = &page.next_page_token else { return Ok(Next::Done) };
        if Some(token) == self.request.page_token.as_ref() || !self.tokens.insert(token.clone()) {
            return Err(format!("page token {token:?} came back again after {n} pages: paging would never end"));
        }
        if n >= self.bounds.max_pages {
            return Err(format!("discovery did not end after {n} pages"));
        }
        self.request.page_token = Some(token.clone());
        Ok(Next::Page(token.clone()))
    }

    /// The schemas seen, in order.
    pub fn schemas(&self) -> BTreeSet<&str> {
        self.tables.keys().map(|(schema, _)| schema.as_str()).collect()
    }
}

fn selected(request: &DiscoverRequest, schema: &str) -> bool {
    (request.include_schemas.is_empty() || request.include_schemas.iter().any(|s| s == schema))
        && !request.exclude_schemas.iter().any(|s| s == schema)
}

/// What is wrong with one table record.
pub fn table_problems(table: &Table) -> Vec<String> {
    let mut problems = Vec::new();
    if table.name.is_empty() {
        problems.push("the table has no name".to_owned());
    }
    let mut names = HashSet::new();
    let mut ordinals = HashSet::new();
    for column in &table.columns {
        if column.name.is_empty() {
            problems.push(format!("column {} has no name", column.ordinal));
        } else if !names.insert(column.name.as_str()) {
            problems.push(format!("column `{}` appears twice", column.name));
        }
        if !ordinals.insert(column.ordinal) {
            problems.push(format!("ordinal {} is used twice", column.ordinal));
        }
        if column.data_type.is_empty() {
            problems.push(format!("column `{}` has no data type", column.name));
        }
    }
    for constraint in &table.constraints {
        let label =
            if constraint.name.is_empty() { "a constraint".to_owned() } else { format!("`{}`", constraint.name) };
        for column in &constraint.columns {
            if !names.contains(column.as_str()) {
                problems.push(format!("{label} names column `{column}`, which the table does not have"));
            }
        }
        let keyed = matches!(constraint.kind, ConstraintKind::PrimaryKey | ConstraintKind::Unique);
        if keyed && constraint.columns.is_empty() {
            problems.push(format!("{label} has no columns"));
        }
        if constraint.kind == ConstraintKind::ForeignKey {
            if constraint.referenced_table.as_deref().unwrap_or_default().is_empty() {
                problems.push(format!("foreign key {label} references no table"));
            }
            if constraint.referenced_columns.len() != constraint.columns.len() {
                problems.push(format!(
                    "foreign key {label} maps {} columns to {}",
                    constraint.columns.len(),
                    constraint.referenced_columns.len()
                ));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Column, Constraint, ObjectKind, Schema};

    fn column(name: &str, ordinal: u32) -> Column {
        Column {
            name: name.into(),
            ordinal,
            data_type: "int64".into(),
            native_type: "int".into(),
            nullable: true,
            default_value: None,
            max_length: None,
            precision: None,
            scale: None,
            comment: None,
        }
    }

    fn table(name: &str, columns: Vec<Column>, constraints: Vec<Constraint>) -> Table {
        Table {
            name: name.into(),
            kind: ObjectKind::Table,
            columns,
            constraints,
            comment: None,
            row_estimate: None,
            size_bytes: None,
        }
    }

    fn page(tables: Vec<Table>, next: Option<&str>) -> DiscoverPage {
        DiscoverPage { schemas: vec![Schema { name: "s".into(), tables }], next_page_token: next.map(str::to_owned) }
    }

    fn request(page_size: u32) -> DiscoverRequest {
        DiscoverRequest { page_size, ..DiscoverRequest::default() }
    }

    #[test]
    fn a_clean_walk_ends_and_counts() {
        let mut walk = Walk::new(request(2), Bounds::default());
        let next = walk.add(&page(vec![table("a", vec![], vec![]), table("b", vec![], vec![])], Some("2"))).unwrap();
        assert_eq!(next, Next::Page("2".into()));
        assert_eq!(walk.request().page_token.as_deref(), Some("2"));
        assert_eq!(walk.add(&page(vec![table("c", vec![], vec![])], None)).unwrap(), Next::Done);
        assert_eq!(walk.tables.len(), 3);
        assert_eq!(walk.problems(), None);
    }

    #[test]
    fn repeated_and_endless_tokens_stop_the_walk() {
        let mut walk = Walk::new(request(10), Bounds::default());
        walk.add(&page(vec![], Some("x"))).unwrap();
        let error = walk.add(&page(vec![], Some("x"))).unwrap_err();
        assert!(error.contains("came back again"), "{error}");
        let mut walk = Walk::new(request(10), Bounds { max_pages: 5, ..Bounds::default() });
        let error = (0..10).find_map(|i| walk.add(&page(vec![], Some(&i.to_string()))).err()).unwrap();
        assert!(error.contains("did not end after 5 pages"), "{error}");
    }

    #[test]
    fn malformed_pages_are_named() {
        let mut walk = Walk::new(request(1), Bounds::default());
        let bad = table(
            "t",
            vec![column("a", 1), column("", 1)],
            vec![Constraint {
                name: "pk".into(),
                kind: ConstraintKind::PrimaryKey,
                columns: vec!["missing".into()],
                referenced_schema: None,
                referenced_table: None,
                referenced_columns: vec![],
                definition: None,
            }],
        );
        walk.add(&page(vec![bad, table("t", vec![], vec![])], None)).unwrap();
        let problems = walk.problems().unwrap();
        for expected in
            ["holds 2 tables", "column 1 has no name", "ordinal 1 is used twice", "`missing`", "appears twice"]
        {
            assert!(problems.contains(expected), "{expected} in {problems}");
        }
    }

    #[test]
    fn an_excluded_schema_and_a_huge_catalog_are_caught() {
        let mut walk = Walk::new(
            DiscoverRequest { exclude_schemas: vec!["s".into()], page_size: 10, ..DiscoverRequest::default() },
            Bounds { max_pages: 10, max_total_bytes: 100 },
        );
        let error = walk.add(&page(vec![table("a", vec![column("c", 1)], vec![])], Some("1"))).unwrap_err();
        assert!(error.contains("passed 0 MiB"), "{error}");
        assert!(walk.problems().unwrap().contains("excluded"));
    }
}

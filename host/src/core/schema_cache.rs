//! Discovered catalogs in memory, for `GET /data-sources/{id}/schemas`.
//!
//! An entry is a data source's whole catalog as stored (compact JSON per
//! table, sorted once; a page decodes only its own tables), keyed by the
//! data source and tagged with the discovery job that produced it
//! ([`Db::catalog_version`]). A request reads the current version (one
//! indexed query) and serves from memory when it matches, so a discovery
//! finished by any replica is seen at once. Entries are weighed by the size
//! of their stored JSON and evicted least-recently-used past the limit.
//!
//! A page is bounded in bytes as well as rows (`catalog_listing`): each
//! table's JSON size in a response is measured once, when its snapshot is
//! built.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use moka::notification::RemovalCause;
use serde::Serialize;

use super::domain::{DiscoveredTable, SchemaSummary};
use super::error::Error;
use crate::catalog_listing::{self, Cursor, json_len, limits};
use crate::db::{Db, DiscoveredTableRow};

/// One data source's catalog, ready to page.
pub struct Snapshot {
    /// The discovery job whose result this is.
    version: String,
    /// By schema, then table name (byte order), as stored: held compactly,
    /// decoded a page at a time.
    tables: Vec<DiscoveredTableRow>,
    /// Bytes of each table's JSON in a response, in the same order.
    sizes: Vec<usize>,
    /// The schemas' summary, within [`limits::SUMMARY_BYTES`].
    schemas: Vec<SchemaSummary>,
    /// The summary stops short of the catalog's schemas.
    schemas_truncated: bool,
    /// Bytes of stored JSON it was built from: the cache's unit of weight.
    weight: u32,
}

/// A page of a catalog, and how many tables matched in all.
pub struct Page {
    pub items: Vec<DiscoveredTable>,
    pub total: i64,
    pub schemas: Vec<SchemaSummary>,
    pub schemas_truncated: bool,
    /// Where the next page starts, when more tables match.
    pub next_cursor: Option<String>,
    /// The byte cap, not the page size, ended the page.
    pub truncated: bool,
}

/// Which tables a request wants.
pub struct PageRequest<'a> {
    pub schema: Option<&'a str>,
    /// Case-insensitive part of the table name.
    pub search: Option<&'a str>,
    /// Only tables after this one (cursor paging); else `offset` of them skipped.
    pub after: Option<&'a Cursor>,
    pub offset: usize,
    pub limit: usize,
}

/// The cache's figures, for metrics.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SchemaCacheStats {
    pub entries: u64,
    /// Bytes of catalog JSON held.
    pub weight_bytes: u64,
    pub capacity_bytes: u64,
    pub hits: u64,
    pub misses: u64,
    /// Hits over lookups, 0–1; `null` before the first lookup.
    pub hit_rate: Option<f64>,
    /// Entries dropped to stay within the capacity.
    pub evictions: u64,
}

pub struct SchemaCache {
    entries: moka::sync::Cache<String, Arc<Snapshot>>,
    capacity_bytes: u64,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: Arc<AtomicU64>,
}

impl SchemaCache {
    pub fn new(capacity_bytes: u64) -> Self {
        let evictions = Arc::new(AtomicU64::new(0));
        let counted = evictions.clone();
        let entries = moka::sync::Cache::builder()
            .max_capacity(capacity_bytes)
            .weigher(|_id: &String, snapshot: &Arc<Snapshot>| snapshot.weight())
            .eviction_listener(move |_id, _snapshot, cause| {
                if cause == RemovalCause::Size {
                    counted.fetch_add(1, Ordering::Relaxed);
                }
            })
            .build();
        Self { entries, capacity_bytes, hits: AtomicU64::new(0), misses: AtomicU64::new(0), evictions }
    }

    /// A page of the data source's current catalog, from memory when the
    /// cached copy is current, else loaded from the database (and cached).
    pub async fn page(&self, db: &Db, data_source_id: &str, request: &PageRequest<'_>) -> Result<Page, Error> {
        let snapshot = self.current(db, data_source_id).await?;
        match snapshot {
            Some(snapshot) => snapshot.page(request),
            None => Ok(Page {
                items: Vec::new(),
                total: 0,
                schemas: Vec::new(),
                schemas_truncated: false,
                next_cursor: None,
                truncated: false,
            }),
        }
    }

    /// Forgets a data source's catalog (after a hard delete).
    pub fn forget(&self, data_source_id: &str) {
        self.entries.invalidate(data_source_id);
    }

    pub fn stats(&self) -> SchemaCacheStats {
        self.entries.run_pending_tasks();
        let hits = self.hits.load(Ordering::Relaxed);
        let misses = self.misses.load(Ordering::Relaxed);
        let lookups = hits + misses;
        SchemaCacheStats {
            entries: self.entries.entry_count(),
            weight_bytes: self.entries.weighted_size(),
            capacity_bytes: self.capacity_bytes,
            hits,
            misses,
            hit_rate: (lookups > 0).then(|| hits as f64 / lookups as f64),
            evictions: self.evictions.load(Ordering::Relaxed),
        }
    }

    async fn current(&self, db: &Db, data_source_id: &str) -> Result<Option<Arc<Snapshot>>, Error> {
        let Some(version) = db.catalog_version(data_source_id).await? else {
            return Ok(None);
        };
        if let Some(snapshot) = self.entries.get(data_source_id)
            && snapshot.version == version
        {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Some(snapshot));
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let rows = db.all_discovered_tables(data_source_id, &version).await?;
        let snapshot = Arc::new(Snapshot::build(version, rows)?);
        // A discovery that finished while the rows were read may have
        // replaced some of them: serve them, but cache only a known version.
        if db.catalog_version(data_source_id).await?.as_deref() == Some(snapshot.version.as_str()) {
            self.entries.insert(data_source_id.to_owned(), snapshot.clone());
        }
        Ok(Some(snapshot))
    }
}

impl Snapshot {
    fn build(version: String, mut tables: Vec<DiscoveredTableRow>) -> Result<Self, Error> {
        let weight: usize = tables.iter().map(|row| row.definition.len() + row.schema_name.len()).sum();
        tables.sort_unstable_by(|a, b| {
            (a.schema_name.as_str(), a.table_name.as_str()).cmp(&(b.schema_name.as_str(), b.table_name.as_str()))
        });
        let mut schemas: Vec<SchemaSummary> = Vec::new();
        for table in &tables {
            match schemas.last_mut() {
                Some(last) if last.name == table.schema_name => last.table_count += 1,
                _ => schemas.push(SchemaSummary { name: table.schema_name.clone(), table_count: 1 }),
            }
        }
        // Each table decoded once here, for its size (and to fail now on a
        // definition that does not read back), then dropped.
        let sizes = tables.iter().map(|row| decoded(row).map(|table| json_len(&table))).collect::<Result<_, _>>()?;
        let summary = catalog_listing::take(
            schemas.into_iter().map(|schema| {
                let size = json_len(&schema);
                (schema, size)
            }),
            usize::MAX,
            limits::SUMMARY_BYTES,
        );
        let weight = u32::try_from(weight).unwrap_or(u32::MAX);
        Ok(Self { version, tables, sizes, schemas: summary.items, schemas_truncated: summary.more, weight })
    }

    fn weight(&self) -> u32 {
        self.weight
    }

    fn page(&self, request: &PageRequest<'_>) -> Result<Page, Error> {
        let needle = request.search.map(str::to_lowercase);
        let matches = |t: &DiscoveredTableRow| {
            request.schema.is_none_or(|schema| t.schema_name == schema)
                && needle.as_deref().is_none_or(|needle| t.table_name.to_lowercase().contains(needle))
        };
        let unfiltered = request.schema.is_none() && needle.is_none();
        let total = if unfiltered { self.tables.len() } else { self.tables.iter().filter(|t| matches(t)).count() };
        // Sorted by (schema, name): a cursor's successors start at one index.
        let (start, skip) = match request.after {
            Some(after) => (self.tables.partition_point(|t| after.covers(&t.schema_name, &t.table_name)), 0),
            None if unfiltered => (request.offset.min(self.tables.len()), 0),
            None => (0, request.offset),
        };
        let candidates = self.tables[start..]
            .iter()
            .zip(&self.sizes[start..])
            .filter(|(table, _)| unfiltered || matches(table))
            .skip(skip)
            .map(|(table, size)| (table, *size));
        let taken = catalog_listing::take(candidates, request.limit, limits::ITEMS_BYTES);
        let next_cursor = taken
            .items
            .last()
            .filter(|_| taken.more)
            .map(|last| Cursor::after(&last.schema_name, &last.table_name).encode());
        Ok(Page {
            items: taken.items.into_iter().map(decoded).collect::<Result<_, _>>()?,
            total: total as i64,
            schemas: self.schemas.clone(),
            schemas_truncated: self.schemas_truncated,
            next_cursor,
            truncated: taken.cut_by_bytes,
        })
    }
}

/// A stored table as the API shows it.
fn decoded(row: &DiscoveredTableRow) -> Result<DiscoveredTable, Error> {
    let table = crate::catalog_store::encoding::decode(&row.definition).map_err(|e| {
        Error::internal(&format!("stored table {}.{} is not valid", row.schema_name, row.table_name), e)
    })?;
    Ok(DiscoveredTable { schema: row.schema_name.clone(), table })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ObjectKind, Table};

    fn row(schema: &str, name: &str, comment_bytes: usize) -> DiscoveredTableRow {
        let table = Table {
            name: name.into(),
            kind: ObjectKind::Table,
            columns: vec![],
            constraints: vec![],
            comment: Some("c".repeat(comment_bytes)),
            row_estimate: None,
            size_bytes: None,
        };
        let definition = serde_json::to_string(&table).expect("json");
        DiscoveredTableRow { schema_name: schema.into(), table_name: name.into(), kind: "table".into(), definition }
    }

    fn request<'a>(after: Option<&'a Cursor>, limit: usize) -> PageRequest<'a> {
        PageRequest { schema: None, search: None, after, offset: 0, limit }
    }

    /// Every page by cursor, from the first.
    fn all_pages(snapshot: &Snapshot, limit: usize, schema: Option<&str>) -> Vec<Page> {
        let mut pages = Vec::new();
        let mut cursor: Option<Cursor> = None;
        loop {
            let page = snapshot.page(&PageRequest { schema, ..request(cursor.as_ref(), limit) }).expect("page");
            cursor = page.next_cursor.as_deref().map(|c| Cursor::decode(c).expect("a cursor of ours"));
            pages.push(page);
            if cursor.is_none() {
                return pages;
            }
        }
    }

    #[test]
    fn sizes_are_the_json_a_response_carries() {
        let snapshot = Snapshot::build("v1".into(), vec![row("s", "a", 10), row("s", "b", 0)]).expect("snapshot");
        for (table, size) in snapshot.tables.iter().zip(&snapshot.sizes) {
            let table = decoded(table).expect("decoded");
            assert_eq!(serde_json::to_vec(&table).expect("json").len(), *size);
        }
    }

    #[test]
    fn a_catalog_over_the_byte_cap_pages_by_cursor_with_nothing_skipped_or_repeated() {
        // 40 tables of ~200 KiB: about 14 fit in a page's byte cap.
        let rows: Vec<_> =
            (0..40).map(|i| row(if i % 2 == 0 { "a" } else { "b" }, &format!("t{i:02}"), 200 << 10)).collect();
        let snapshot = Snapshot::build("v1".into(), rows).expect("snapshot");
        let pages = all_pages(&snapshot, 500, None);
        assert!(pages.len() >= 3, "{} pages", pages.len());
        let mut names = Vec::new();
        for (i, page) in pages.iter().enumerate() {
            let bytes = serde_json::to_vec(&page.items).expect("json").len();
            assert!(bytes <= limits::ITEMS_BYTES, "page {i}: {bytes} bytes");
            assert_eq!(page.truncated, i + 1 < pages.len(), "page {i} says whether the byte cap ended it");
            assert_eq!(page.total, 40);
            names.extend(page.items.iter().map(|t| format!("{}.{}", t.schema, t.table.name)));
        }
        let expected: Vec<String> =
            snapshot.tables.iter().map(|t| format!("{}.{}", t.schema_name, t.table_name)).collect();
        assert_eq!(names, expected);

        // The same with a filter, and with a row limit smaller than the byte cap.
        let only_b: Vec<String> = all_pages(&snapshot, 500, Some("b"))
            .iter()
            .flat_map(|p| p.items.iter().map(|t| t.table.name.clone()))
            .collect();
        assert_eq!(only_b.len(), 20);
        assert!(only_b.windows(2).all(|w| w[0] < w[1]));
        let small = all_pages(&snapshot, 3, None);
        assert_eq!(small.len(), 14);
        assert!(small.iter().all(|p| !p.truncated));
    }

    #[test]
    fn offset_paging_is_unchanged_below_the_byte_cap() {
        let rows: Vec<_> = (0..10).map(|i| row("s", &format!("t{i}"), 0)).collect();
        let snapshot = Snapshot::build("v1".into(), rows).expect("snapshot");
        let page = snapshot.page(&PageRequest { offset: 4, ..request(None, 3) }).expect("page");
        let names: Vec<&str> = page.items.iter().map(|t| t.table.name.as_str()).collect();
        assert_eq!(names, ["t4", "t5", "t6"]);
        assert!(!page.truncated);
        let next = Cursor::decode(page.next_cursor.as_deref().expect("more follow")).expect("cursor");
        assert_eq!(next, Cursor::after("s", "t6"));
        let last = snapshot.page(&PageRequest { offset: 9, ..request(None, 3) }).expect("page");
        assert_eq!(last.items.len(), 1);
        assert!(last.next_cursor.is_none());
    }

    #[test]
    fn the_schema_summary_is_bounded() {
        let rows: Vec<_> = (0..3000).map(|i| row(&format!("{i:04}{}", "s".repeat(200)), "t", 0)).collect();
        let snapshot = Snapshot::build("v1".into(), rows).expect("snapshot");
        assert!(snapshot.schemas_truncated);
        let bytes = serde_json::to_vec(&snapshot.schemas).expect("json").len();
        assert!(bytes <= limits::SUMMARY_BYTES && bytes > limits::SUMMARY_BYTES / 2, "{bytes}");
    }
}

//! Discovered catalogs in memory, for `GET /data-sources/{id}/schemas`.
//!
//! An entry is a data source's whole catalog, parsed and sorted once, keyed
//! by the data source and tagged with the discovery job that produced it
//! ([`Db::catalog_version`]). A request reads the current version (one
//! indexed query) and serves from memory when it matches, so a discovery
//! finished by any replica is seen at once. Entries are weighed by the size
//! of their stored JSON and evicted least-recently-used past the limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use moka::notification::RemovalCause;
use serde::Serialize;

use super::dto::{DiscoveredTable, SchemaSummary};
use super::error::ApiError;
use crate::db::Db;

/// One data source's catalog, ready to page.
pub struct Snapshot {
    /// The discovery job whose result this is.
    version: String,
    /// By schema, then table name (byte order).
    tables: Vec<DiscoveredTable>,
    schemas: Vec<SchemaSummary>,
    /// Bytes of stored JSON it was built from: the cache's unit of weight.
    weight: u32,
}

/// A page of a catalog, and how many tables matched in all.
pub struct Page {
    pub items: Vec<DiscoveredTable>,
    pub total: i64,
    pub schemas: Vec<SchemaSummary>,
}

/// Which tables a request wants.
pub struct PageRequest<'a> {
    pub schema: Option<&'a str>,
    /// Case-insensitive part of the table name.
    pub search: Option<&'a str>,
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
    pub async fn page(&self, db: &Db, data_source_id: &str, request: &PageRequest<'_>) -> Result<Page, ApiError> {
        let snapshot = self.current(db, data_source_id).await?;
        Ok(match snapshot {
            Some(snapshot) => snapshot.page(request),
            None => Page { items: Vec::new(), total: 0, schemas: Vec::new() },
        })
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

    async fn current(&self, db: &Db, data_source_id: &str) -> Result<Option<Arc<Snapshot>>, ApiError> {
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
        let rows = db.all_discovered_tables(data_source_id).await?;
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
    fn build(version: String, rows: Vec<crate::db::DiscoveredTableRow>) -> Result<Self, ApiError> {
        let mut weight = 0usize;
        let mut tables = rows
            .into_iter()
            .map(|row| {
                weight += row.definition.len() + row.schema_name.len();
                serde_json::from_str::<crate::model::Table>(&row.definition)
                    .map(|table| DiscoveredTable { schema: row.schema_name, table })
                    .map_err(|e| ApiError::internal("stored table is not valid", e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        tables.sort_by(|a, b| {
            (a.schema.as_str(), a.table.name.as_str()).cmp(&(b.schema.as_str(), b.table.name.as_str()))
        });
        let mut schemas: Vec<SchemaSummary> = Vec::new();
        for table in &tables {
            match schemas.last_mut() {
                Some(last) if last.name == table.schema => last.table_count += 1,
                _ => schemas.push(SchemaSummary { name: table.schema.clone(), table_count: 1 }),
            }
        }
        let weight = u32::try_from(weight).unwrap_or(u32::MAX);
        Ok(Self { version, tables, schemas, weight })
    }

    fn weight(&self) -> u32 {
        self.weight
    }

    fn page(&self, request: &PageRequest<'_>) -> Page {
        let needle = request.search.map(str::to_lowercase);
        let matches = |t: &&DiscoveredTable| {
            request.schema.is_none_or(|schema| t.schema == schema)
                && needle.as_deref().is_none_or(|needle| t.table.name.to_lowercase().contains(needle))
        };
        let (items, total) = if request.schema.is_none() && needle.is_none() {
            let end = request.offset.saturating_add(request.limit).min(self.tables.len());
            let items = self.tables.get(request.offset..end).unwrap_or_default().to_vec();
            (items, self.tables.len())
        } else {
            let matching: Vec<&DiscoveredTable> = self.tables.iter().filter(matches).collect();
            let items = matching.iter().skip(request.offset).take(request.limit).map(|t| (*t).clone()).collect();
            (items, matching.len())
        };
        Page { items, total: total as i64, schemas: self.schemas.clone() }
    }
}

//! The task that stores one discovery job's pages as they arrive, diffs
//! them against the current catalog, and completes the job.
//!
//! The connector side hands pages to a [`PageSender`] (a bounded channel:
//! the connector reads the next page while the previous one is stored);
//! [`Writing::finish`] waits for the last page and publishes the catalog, or
//! leaves the job to be failed (which removes what it stored).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use thiserror::Error;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::encoding;
use crate::catalog_diff::DiffBuilder;
use crate::connectors::PageSink;
use crate::db::{Db, DbError, NewEvent, StagedTable};
use crate::model::{Failure, Schema};

/// Pages waiting to be stored while the connector reads the next one.
const QUEUED_PAGES: usize = 1;

#[derive(Debug, Error)]
pub enum CatalogError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("cannot encode a discovered table: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("the catalog writer stopped unexpectedly")]
    Stopped,
}

/// How a job ended.
#[derive(Debug)]
pub enum Finished {
    /// The new catalog is the current one.
    Succeeded,
    /// The connector failed; the job is to be failed with this.
    Failed(Failure),
}

enum Message {
    /// A new attempt (on a new connection) starts over.
    Restart,
    Page(Vec<Schema>),
}

/// Where the connector side sends a discovery's pages.
#[derive(Clone)]
pub struct PageSender(mpsc::Sender<Message>);

impl PageSender {
    /// Starts the catalog over: what an earlier attempt stored is removed.
    /// `false` when the writer has stopped.
    pub async fn restart(&mut self) -> bool {
        self.0.send(Message::Restart).await.is_ok()
    }
}

impl PageSink for PageSender {
    async fn accept(&mut self, schemas: Vec<Schema>) -> bool {
        self.0.send(Message::Page(schemas)).await.is_ok()
    }
}

/// The running writer of one job.
pub struct Writing {
    task: JoinHandle<Result<Writer, CatalogError>>,
}

/// Starts the writer of job `job_id` of a data source.
pub fn start(db: Db, organization_id: &str, data_source_id: &str, job_id: &str) -> (PageSender, Writing) {
    let (sender, receiver) = mpsc::channel(QUEUED_PAGES);
    let writer = Writer {
        db,
        organization_id: organization_id.to_owned(),
        data_source_id: data_source_id.to_owned(),
        job_id: job_id.to_owned(),
        previous: None,
        unseen: HashMap::new(),
        diff: DiffBuilder::default(),
        tables: 0,
        pages: 0,
        spent: Spent::default(),
    };
    (PageSender(sender), Writing { task: tokio::spawn(writer.run(receiver)) })
}

impl Writing {
    /// Waits until every page sent is stored (all senders must be gone),
    /// then completes the job when the discovery succeeded.
    pub async fn finish(self, outcome: Result<u32, Failure>) -> Result<Finished, CatalogError> {
        let writer = self.task.await.map_err(|_| CatalogError::Stopped)??;
        match outcome {
            Ok(_pages) => {
                writer.publish().await?;
                Ok(Finished::Succeeded)
            }
            Err(failure) => Ok(Finished::Failed(failure)),
        }
    }

    /// Waits for the writer without completing anything (the discovery
    /// could not run); the job is to be failed.
    pub async fn stop(self) {
        let _ = self.task.await;
    }
}

/// Time spent per phase, for the debug log.
#[derive(Debug, Default)]
struct Spent {
    encode: Duration,
    diff: Duration,
    store: Duration,
}

struct Writer {
    db: Db,
    organization_id: String,
    data_source_id: String,
    job_id: String,
    /// The current catalog's version (the job that produced it), diffed
    /// against; `None` before the first successful discovery.
    previous: Option<String>,
    /// The previous catalog's tables not yet seen in this job's pages, with
    /// their column digests: names and digests only (a few dozen bytes a
    /// table), one lookup per table instead of a query per page.
    unseen: HashMap<(String, String), Option<String>>,
    diff: DiffBuilder,
    tables: u64,
    pages: u64,
    spent: Spent,
}

impl Writer {
    async fn run(mut self, mut pages: mpsc::Receiver<Message>) -> Result<Self, CatalogError> {
        self.previous = self.db.catalog_version(&self.data_source_id).await?;
        // Whatever is stored beside the current catalog is left from a job
        // that stopped (this one's earlier attempt included).
        self.db.remove_discovered_tables_except(&self.data_source_id, self.previous.as_deref()).await?;
        self.load_previous().await?;
        while let Some(message) = pages.recv().await {
            match message {
                Message::Restart => self.restart().await?,
                Message::Page(schemas) => self.write_page(schemas).await?,
            }
        }
        Ok(self)
    }

    async fn restart(&mut self) -> Result<(), CatalogError> {
        if self.pages > 0 {
            self.db.remove_discovered_tables_of(&self.data_source_id, &self.job_id).await?;
            self.load_previous().await?;
        }
        self.diff = DiffBuilder::default();
        self.tables = 0;
        self.pages = 0;
        Ok(())
    }

    /// The previous catalog's names and digests, all unseen.
    async fn load_previous(&mut self) -> Result<(), CatalogError> {
        self.unseen = match &self.previous {
            None => HashMap::new(),
            Some(previous) => self
                .db
                .catalog_digests(&self.data_source_id, previous)
                .await?
                .into_iter()
                .map(|row| ((row.schema_name, row.table_name), row.columns_digest))
                .collect(),
        };
        Ok(())
    }

    async fn write_page(&mut self, schemas: Vec<Schema>) -> Result<(), CatalogError> {
        let started = Instant::now();
        let mut staged = Vec::with_capacity(schemas.iter().map(|s| s.tables.len()).sum());
        for schema in &schemas {
            for table in &schema.tables {
                staged.push(encoding::stage(&schema.name, table)?);
            }
        }
        let encoded = Instant::now();
        self.spent.encode += encoded - started;
        if let Some(previous) = self.previous.clone() {
            self.diff_page(&previous, &schemas, &staged).await?;
        }
        let diffed = Instant::now();
        self.spent.diff += diffed - encoded;
        drop(schemas);
        self.db.stage_discovered_tables(&self.data_source_id, &self.job_id, &staged).await?;
        self.spent.store += diffed.elapsed();
        self.tables += staged.len() as u64;
        self.pages += 1;
        Ok(())
    }

    /// Adds the page's tables to the diff: new ones, and the column changes
    /// of those whose digest moved (only their stored definitions are read).
    async fn diff_page(
        &mut self,
        previous: &str,
        schemas: &[Schema],
        staged: &[StagedTable],
    ) -> Result<(), CatalogError> {
        let tables = schemas.iter().flat_map(|schema| schema.tables.iter().map(move |table| (schema, table)));
        let mut reread = Vec::new();
        for ((schema, table), row) in tables.zip(staged) {
            match self.unseen.remove(&(schema.name.clone(), table.name.clone())) {
                None => self.diff.table_added(&schema.name, &table.name),
                Some(Some(digest)) if digest == row.columns_digest => {}
                Some(_) => reread.push((schema, table)),
            }
        }
        if reread.is_empty() {
            return Ok(());
        }
        let keys: Vec<(&str, &str)> = reread.iter().map(|(s, t)| (s.name.as_str(), t.name.as_str())).collect();
        let old: HashMap<(String, String), String> = self
            .db
            .definitions_of_job(&self.data_source_id, previous, &keys)
            .await?
            .into_iter()
            .map(|row| ((row.schema_name, row.table_name), row.definition))
            .collect();
        for (schema, table) in reread {
            // A stored definition that no longer parses counts as absent.
            let old = old.get(&(schema.name.clone(), table.name.clone())).and_then(|d| encoding::decode(d).ok());
            match old {
                Some(old) => self.diff.table_kept(&schema.name, &old, table),
                None => self.diff.table_added(&schema.name, &table.name),
            }
        }
        Ok(())
    }

    /// Completes the job: the diff gets the tables that are gone, the job
    /// its diff and event, and the previous catalog is removed.
    async fn publish(self) -> Result<(), CatalogError> {
        let started = Instant::now();
        let diff = match &self.previous {
            None => None,
            Some(previous) => {
                let mut diff = self.diff;
                // What no page named is gone; a table stored before digests
                // were counts only if its definition still parses.
                let mut undigested = Vec::new();
                for ((schema, table), digest) in &self.unseen {
                    match digest {
                        Some(_) => diff.table_removed(schema, table),
                        None => undigested.push((schema.as_str(), table.as_str())),
                    }
                }
                if !undigested.is_empty() {
                    let rows = self.db.definitions_of_job(&self.data_source_id, previous, &undigested).await?;
                    for row in rows.iter().filter(|row| encoding::decode(&row.definition).is_ok()) {
                        diff.table_removed(&row.schema_name, &row.table_name);
                    }
                }
                Some(diff.finish())
            }
        };
        let stored = diff.as_ref().map(serde_json::to_string).transpose()?;
        let event = diff.as_ref().filter(|diff| !diff.is_empty()).map(|diff| NewEvent {
            organization_id: &self.organization_id,
            data_source_id: Some(&self.data_source_id),
            kind: crate::events::EventKind::SchemaChanged,
            payload: serde_json::json!({ "job_id": self.job_id, "summary": diff.summary() }),
        });
        self.db.complete_discovery(&self.job_id, self.tables, stored.as_deref(), event.as_ref()).await?;
        let completed = started.elapsed();
        // Nothing reads the previous catalog any more; rows left by a failure
        // here are removed when the next discovery starts.
        if let Err(error) = self.db.remove_discovered_tables_except(&self.data_source_id, Some(&self.job_id)).await {
            tracing::warn!(job = %self.job_id, %error, "cannot remove the previous catalog");
        }
        tracing::debug!(
            job = %self.job_id,
            pages = self.pages,
            tables = self.tables,
            encode_ms = self.spent.encode.as_millis() as u64,
            diff_ms = self.spent.diff.as_millis() as u64,
            store_ms = self.spent.store.as_millis() as u64,
            complete_ms = completed.as_millis() as u64,
            remove_previous_ms = (started.elapsed() - completed).as_millis() as u64,
            "discovery stored"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog_diff::{SchemaDiff, diff};
    use crate::db::{DataSourceRow, NewDataSource, new_id, now, test_db};
    use crate::model::{Column, ErrorKind, ObjectKind, Table};

    fn column(name: &str, native_type: &str) -> Column {
        Column {
            name: name.into(),
            ordinal: 1,
            data_type: "x".into(),
            native_type: native_type.into(),
            nullable: true,
            default_value: None,
            max_length: None,
            precision: None,
            scale: None,
            comment: None,
        }
    }

    fn table(name: &str, columns: &[(&str, &str)]) -> Table {
        Table {
            name: name.into(),
            kind: ObjectKind::Table,
            columns: columns.iter().map(|(n, t)| column(n, t)).collect(),
            constraints: vec![],
            comment: None,
            row_estimate: Some(1),
            size_bytes: None,
        }
    }

    fn schema(name: &str, tables: Vec<Table>) -> Schema {
        Schema { name: name.into(), tables }
    }

    struct Source {
        db: Db,
        org: String,
        id: String,
        _dir: tempfile::TempDir,
    }

    async fn source() -> Source {
        let (db, dir) = test_db().await;
        let org = db.create_org("acme", "organization", "org-1", "k").await.expect("org");
        let workspace = db.default_workspace(&org.id).await.expect("workspace");
        let at = now();
        let row = DataSourceRow {
            id: new_id(),
            organization_id: org.id.clone(),
            workspace_id: workspace.id,
            name: "warehouse".into(),
            source_type: "postgresql".into(),
            config: "{}".into(),
            connection_settings: "{}".into(),
            schema_refresh: "{}".into(),
            health_check_interval_s: 60,
            status: "active".into(),
            created_at: at.clone(),
            updated_at: at,
            version: 1,
            breaker_state: "closed".into(),
            ..DataSourceRow::default()
        };
        let id = row.id.clone();
        db.insert_data_source(&NewDataSource { row, tags: vec![], shared_with: vec![], secrets: vec![] })
            .await
            .expect("data source");
        Source { db, org: org.id, id, _dir: dir }
    }

    impl Source {
        /// A claimed job, its pages sent (with a restart before each
        /// attempt), finished with `outcome`.
        async fn discover(
            &self,
            attempts: Vec<Vec<Vec<Schema>>>,
            outcome: Result<u32, Failure>,
        ) -> (String, Result<Finished, CatalogError>) {
            let (job, _) = self.db.queue_discovery(&self.id).await.expect("queue");
            self.db.claim_discovery_jobs(1).await.expect("claim");
            let (mut sender, writing) = start(self.db.clone(), &self.org, &self.id, &job.id);
            for pages in attempts {
                sender.restart().await;
                for page in pages {
                    sender.accept(page).await;
                }
            }
            drop(sender);
            (job.id, writing.finish(outcome).await)
        }

        async fn catalog(&self) -> Vec<(String, String, Table)> {
            let version = self.db.catalog_version(&self.id).await.expect("version").expect("a catalog");
            let mut rows: Vec<_> = self
                .db
                .all_discovered_tables(&self.id, &version)
                .await
                .expect("tables")
                .into_iter()
                .map(|row| {
                    let table = encoding::decode(&row.definition).expect("definition");
                    (row.schema_name, row.kind, table)
                })
                .collect();
            rows.sort_by(|a, b| (&a.0, &a.2.name).cmp(&(&b.0, &b.2.name)));
            rows
        }

        async fn stored_rows(&self) -> i64 {
            sqlx::query_scalar("SELECT count(*) FROM discovered_tables WHERE data_source_id = $1")
                .bind(&self.id)
                .fetch_one(self.db.pool())
                .await
                .expect("count")
        }

        async fn job_diff(&self) -> Option<SchemaDiff> {
            let job = self.db.latest_discovery(&self.id).await.expect("job").expect("a job");
            job.diff.map(|diff| serde_json::from_str(&diff).expect("diff"))
        }
    }

    fn first_catalog() -> Vec<Vec<Schema>> {
        vec![
            vec![schema("s", vec![table("a", &[("id", "int4")]), table("b", &[("id", "int4"), ("x", "text")])])],
            vec![schema("s", vec![table("gone", &[("id", "int4")])]), schema("t", vec![table("c", &[])])],
        ]
    }

    fn second_catalog() -> Vec<Vec<Schema>> {
        vec![
            vec![schema("t", vec![table("c", &[])]), schema("s", vec![table("new", &[("id", "int8")])])],
            vec![schema("s", vec![table("b", &[("id", "int8"), ("y", "text")]), table("a", &[("id", "int4")])])],
        ]
    }

    fn flat(pages: &[Vec<Schema>]) -> Vec<(&str, &Table)> {
        pages.iter().flatten().flat_map(|s| s.tables.iter().map(move |t| (s.name.as_str(), t))).collect()
    }

    #[tokio::test]
    async fn pages_become_the_catalog_and_a_rediscovery_stores_the_diff_of_the_whole() {
        let source = source().await;
        let (job, finished) = source.discover(vec![first_catalog()], Ok(2)).await;
        assert!(matches!(finished, Ok(Finished::Succeeded)), "{finished:?}");
        let job_row = source.db.latest_discovery(&source.id).await.unwrap().unwrap();
        assert_eq!((job_row.id, job_row.status.as_str(), job_row.tables_found), (job, "succeeded", Some(4)));
        assert_eq!(source.job_diff().await, None, "no diff for the first discovery");
        let catalog = source.catalog().await;
        let names: Vec<_> = catalog.iter().map(|(s, _, t)| format!("{s}.{}", t.name)).collect();
        assert_eq!(names, ["s.a", "s.b", "s.gone", "t.c"]);
        assert_eq!(catalog[1].2, table("b", &[("id", "int4"), ("x", "text")]), "read back whole");
        assert_eq!(catalog[0].1, "table");

        // A first attempt that stored a page and was retried leaves nothing.
        let abandoned = vec![vec![schema("s", vec![table("half", &[("id", "int4")])])]];
        let (_, finished) = source.discover(vec![abandoned, second_catalog()], Ok(2)).await;
        assert!(matches!(finished, Ok(Finished::Succeeded)), "{finished:?}");
        let expected = diff(flat(&first_catalog()), flat(&second_catalog()));
        assert_eq!(source.job_diff().await, Some(expected.clone()));
        assert_eq!(expected.tables_removed, ["s.gone"]);
        assert_eq!(expected.tables_added, ["s.new"]);
        assert_eq!(source.catalog().await.len(), 4);
        assert_eq!(source.stored_rows().await, 4, "the previous catalog is removed");
        let events = source.db.events_after(0, 10).await.expect("events");
        assert_eq!(events.iter().filter(|e| e.kind == "schema_changed").count(), 1, "{events:?}");

        // The same catalog again: an empty diff, and no event.
        let (_, finished) = source.discover(vec![second_catalog()], Ok(2)).await;
        assert!(matches!(finished, Ok(Finished::Succeeded)), "{finished:?}");
        assert_eq!(source.job_diff().await, Some(SchemaDiff::default()));
        let events = source.db.events_after(0, 10).await.expect("events");
        assert_eq!(events.iter().filter(|e| e.kind == "schema_changed").count(), 1);
    }

    #[tokio::test]
    async fn a_failed_discovery_keeps_the_current_catalog_and_leaves_nothing_behind() {
        let source = source().await;
        source.discover(vec![first_catalog()], Ok(2)).await.1.expect("first");
        let failure = Failure::new(ErrorKind::Timeout, "too slow", true);
        let (job, finished) = source.discover(vec![second_catalog()], Err(failure)).await;
        let Ok(Finished::Failed(failure)) = finished else { panic!("{finished:?}") };
        assert_eq!(failure.error.message, "too slow");
        assert_eq!(source.stored_rows().await, 8, "staged beside the catalog until the job is failed");
        source.db.fail_discovery(&job, "timeout", "too slow").await.expect("fail");
        assert_eq!(source.stored_rows().await, 4);
        let names: Vec<_> = source.catalog().await.into_iter().map(|(_, _, t)| t.name).collect();
        assert_eq!(names, ["a", "b", "gone", "c"]);
    }

    #[tokio::test]
    async fn a_table_returned_twice_fails_the_job_by_name() {
        let source = source().await;
        let within = vec![vec![schema("s", vec![table("a", &[]), table("a", &[])])]];
        let across = vec![vec![schema("s", vec![table("a", &[])])], vec![schema("s", vec![table("a", &[])])]];
        for pages in [within, across] {
            let (job, finished) = source.discover(vec![pages], Ok(2)).await;
            match finished {
                Err(CatalogError::Db(DbError::Conflict(message))) => {
                    assert_eq!(message, "the connector returned s.a twice");
                }
                other => panic!("{other:?}"),
            }
            source.db.fail_discovery(&job, "conflict", "twice").await.expect("fail");
            assert_eq!(source.stored_rows().await, 0);
        }
    }
}

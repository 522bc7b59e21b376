//! Data sources, their tags, shares and sealed secrets.

use sqlx::{Any, FromRow};

use super::events::NewEvent;
use super::sql::{Sql, like_pattern, query_as_with, scalar_with};
use super::{Db, DbError, now};
use crate::events::EventKind;

/// `next_discovery_at` of a data source whose auto-refresh is off.
const PARKED: &str = "9999-12-31T00:00:00.000Z";

/// The columns a new row is written with (the rest have defaults).
const INSERT_COLUMNS: &str = "id, organization_id, workspace_id, name, description, source_type, config, \
    connection_settings, ssh_tunnel, schema_refresh, health_check_interval_s, status, status_reason, \
    last_test, last_tested_at, created_at, created_by, updated_at, updated_by, deleted_at, deleted_by, version";

/// The columns of a [`DataSourceRow`].
const COLUMNS: &str = "id, organization_id, workspace_id, name, description, source_type, config, \
    connection_settings, ssh_tunnel, schema_refresh, health_check_interval_s, status, status_reason, \
    last_test, last_tested_at, created_at, created_by, updated_at, updated_by, deleted_at, deleted_by, version, \
    breaker_state, breaker_failures, breaker_opens, breaker_open_until, next_discovery_at";

#[derive(Debug, Clone, Default, FromRow)]
pub struct DataSourceRow {
    pub id: String,
    pub organization_id: String,
    pub workspace_id: String,
    pub name: String,
    pub description: Option<String>,
    pub source_type: String,
    pub config: String,
    pub connection_settings: String,
    pub ssh_tunnel: Option<String>,
    pub schema_refresh: String,
    pub health_check_interval_s: i64,
    pub status: String,
    pub status_reason: Option<String>,
    pub last_test: Option<String>,
    pub last_tested_at: Option<String>,
    pub created_at: String,
    pub created_by: Option<String>,
    pub updated_at: String,
    pub updated_by: Option<String>,
    pub deleted_at: Option<String>,
    pub deleted_by: Option<String>,
    /// Bumped by every update; updates check it (optimistic concurrency).
    pub version: i64,
    /// The circuit breaker (`closed`, `open`, `half_open`), written with
    /// the health check that changed it.
    pub breaker_state: String,
    pub breaker_failures: i64,
    pub breaker_opens: i64,
    pub breaker_open_until: Option<String>,
    /// The next automatic schema refresh (`None`: not scheduled yet).
    pub next_discovery_at: Option<String>,
}

/// What lives in side tables, by data source id (values sorted).
#[derive(Debug, Default)]
pub struct SideData {
    pub tags: std::collections::BTreeMap<String, Vec<String>>,
    pub shares: std::collections::BTreeMap<String, Vec<String>>,
    pub secret_fields: std::collections::BTreeMap<String, Vec<String>>,
}

/// A data source to insert, with what lives in side tables.
pub struct NewDataSource {
    pub row: DataSourceRow,
    pub tags: Vec<String>,
    pub shared_with: Vec<String>,
    /// (field, sealed value)
    pub secrets: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortKey {
    Name,
    CreatedAt,
    UpdatedAt,
    Status,
    Type,
}

impl SortKey {
    fn column(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::CreatedAt => "created_at",
            Self::UpdatedAt => "updated_at",
            Self::Status => "status",
            Self::Type => "source_type",
        }
    }
}

/// What a finished check writes (see [`Db::record_outcome`]).
#[derive(Debug)]
pub struct Outcome<'a> {
    pub status: &'a str,
    pub reason: Option<&'a str>,
    pub last_test: &'a str,
    pub breaker: BreakerColumns,
}

/// A circuit breaker as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerColumns {
    pub state: &'static str,
    pub failures: i64,
    pub opens: i64,
    pub open_until: Option<String>,
}

/// Which data sources a list returns. Every query is scoped by organization.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListFilter {
    pub org_id: String,
    /// `None`: every workspace of the org; `Some`: only these and what is shared with them.
    pub visible_workspaces: Option<Vec<String>>,
    pub source_type: Option<String>,
    /// The types of one category (`?category=`): `Some(empty)` matches nothing.
    pub source_types: Option<Vec<String>>,
    pub status: Option<String>,
    pub workspace_id: Option<String>,
    pub search: Option<String>,
    pub tag: Option<String>,
    pub include_deleted: bool,
    pub sort: SortKey,
    pub descending: bool,
    pub limit: i64,
    pub offset: i64,
}

impl ListFilter {
    /// The first 100 live data sources of an organization by name, unfiltered.
    pub fn everything(org_id: &str) -> Self {
        Self {
            org_id: org_id.to_owned(),
            visible_workspaces: None,
            source_type: None,
            source_types: None,
            status: None,
            workspace_id: None,
            search: None,
            tag: None,
            include_deleted: false,
            sort: SortKey::Name,
            descending: false,
            limit: 100,
            offset: 0,
        }
    }
}

impl ListFilter {
    fn where_clause(&self, sql: &mut Sql) {
        sql.push(" WHERE organization_id = ").bind_text(&self.org_id);
        if let Some(workspaces) = &self.visible_workspaces {
            if workspaces.is_empty() {
                sql.push(" AND 1 = 0");
            } else {
                sql.push(" AND (workspace_id IN ").bind_list(workspaces);
                sql.push(" OR id IN (SELECT data_source_id FROM data_source_shares WHERE workspace_id IN ");
                sql.bind_list(workspaces).push("))");
            }
        }
        if !self.include_deleted {
            sql.push(" AND deleted_at IS NULL");
        }
        if let Some(source_type) = &self.source_type {
            sql.push(" AND source_type = ").bind_text(source_type);
        }
        match self.source_types.as_deref() {
            Some([]) => {
                sql.push(" AND 1 = 0");
            }
            Some(types) => {
                sql.push(" AND source_type IN ").bind_list(types);
            }
            None => {}
        }
        if let Some(status) = &self.status {
            sql.push(" AND status = ").bind_text(status);
        }
        if let Some(workspace_id) = &self.workspace_id {
            sql.push(" AND (workspace_id = ").bind_text(workspace_id);
            sql.push(" OR id IN (SELECT data_source_id FROM data_source_shares WHERE workspace_id = ");
            sql.bind_text(workspace_id).push("))");
        }
        if let Some(search) = &self.search {
            let pattern = like_pattern(search);
            sql.push(" AND (LOWER(name) LIKE ").bind_text(&pattern).push(" ESCAPE '\\'");
            sql.push(" OR LOWER(COALESCE(description, '')) LIKE ").bind_text(&pattern).push(" ESCAPE '\\')");
        }
        if let Some(tag) = &self.tag {
            sql.push(" AND id IN (SELECT data_source_id FROM data_source_tags WHERE tag = ").bind_text(tag).push(")");
        }
    }
}

impl Db {
    pub async fn insert_data_source(&self, new: &NewDataSource) -> Result<(), DbError> {
        let r = &new.row;
        let mut tx = self.pool.begin().await?;
        sqlx::query(&format!(
            "INSERT INTO data_sources ({INSERT_COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)"
        ))
        .bind(&r.id)
        .bind(&r.organization_id)
        .bind(&r.workspace_id)
        .bind(&r.name)
        .bind(&r.description)
        .bind(&r.source_type)
        .bind(&r.config)
        .bind(&r.connection_settings)
        .bind(&r.ssh_tunnel)
        .bind(&r.schema_refresh)
        .bind(r.health_check_interval_s)
        .bind(&r.status)
        .bind(&r.status_reason)
        .bind(&r.last_test)
        .bind(&r.last_tested_at)
        .bind(&r.created_at)
        .bind(&r.created_by)
        .bind(&r.updated_at)
        .bind(&r.updated_by)
        .bind(&r.deleted_at)
        .bind(&r.deleted_by)
        .bind(r.version)
        .execute(&mut *tx)
        .await
        .map_err(|e| name_conflict(e, &r.name))?;
        replace_side_rows(&mut tx, "data_source_tags", "tag", &r.id, &new.tags).await?;
        replace_side_rows(&mut tx, "data_source_shares", "workspace_id", &r.id, &new.shared_with).await?;
        for (field, sealed) in &new.secrets {
            sqlx::query(
                "INSERT INTO data_source_secrets (data_source_id, field, sealed, updated_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(&r.id)
            .bind(field)
            .bind(sealed)
            .bind(&r.created_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.changed(&r.organization_id);
        Ok(())
    }

    /// One data source of an organization (deleted ones only when asked).
    pub async fn data_source(
        &self,
        org_id: &str,
        id: &str,
        include_deleted: bool,
    ) -> Result<Option<DataSourceRow>, DbError> {
        let deleted = if include_deleted { "" } else { " AND deleted_at IS NULL" };
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM data_sources WHERE organization_id = $1 AND id = $2{deleted}"
        ))
        .bind(org_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// A live data source by id alone, for requests that carry their own
    /// proof of access (presigned URLs) instead of a token.
    pub async fn data_source_any_org(&self, id: &str) -> Result<Option<DataSourceRow>, DbError> {
        Ok(sqlx::query_as(&format!("SELECT {COLUMNS} FROM data_sources WHERE id = $1 AND deleted_at IS NULL"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// A page of data sources and the total that match.
    pub async fn list_data_sources(&self, filter: &ListFilter) -> Result<(Vec<DataSourceRow>, i64), DbError> {
        let mut count = Sql::default();
        count.push("SELECT COUNT(*) FROM data_sources");
        filter.where_clause(&mut count);
        let total = scalar_with(&count)?.fetch_one(&self.pool).await?;
        let mut page = Sql::default();
        page.push(&format!("SELECT {COLUMNS} FROM data_sources"));
        filter.where_clause(&mut page);
        let direction = if filter.descending { "DESC" } else { "ASC" };
        page.push(&format!(" ORDER BY {} {direction}, id {direction} LIMIT ", filter.sort.column()));
        page.bind_int(filter.limit).push(" OFFSET ").bind_int(filter.offset);
        let rows = query_as_with::<DataSourceRow>(&page)?.fetch_all(&self.pool).await?;
        Ok((rows, total))
    }

    /// Writes `row`'s definition if nobody changed it since it was read (its
    /// `version`); replaces tags and shares when given. Status is not written
    /// here (see [`Db::set_status`]), so a test finishing meanwhile is not undone.
    pub async fn update_data_source(
        &self,
        row: &DataSourceRow,
        tags: Option<&[String]>,
        shared_with: Option<&[String]>,
    ) -> Result<DataSourceRow, DbError> {
        let mut tx = self.pool.begin().await?;
        let result = sqlx::query(
            "UPDATE data_sources SET name = $1, description = $2, config = $3, connection_settings = $4, \
             ssh_tunnel = $5, schema_refresh = $6, health_check_interval_s = $7, \
             updated_at = $8, updated_by = $9, version = version + 1, \
             next_discovery_at = CASE WHEN config <> $3 OR schema_refresh <> $6 THEN NULL ELSE next_discovery_at END, \
             next_check_at = CASE WHEN health_check_interval_s <> $7 THEN NULL ELSE next_check_at END \
             WHERE id = $10 AND organization_id = $11 AND version = $12 AND deleted_at IS NULL",
        )
        .bind(&row.name)
        .bind(&row.description)
        .bind(&row.config)
        .bind(&row.connection_settings)
        .bind(&row.ssh_tunnel)
        .bind(&row.schema_refresh)
        .bind(row.health_check_interval_s)
        .bind(&row.updated_at)
        .bind(&row.updated_by)
        .bind(&row.id)
        .bind(&row.organization_id)
        .bind(row.version)
        .execute(&mut *tx)
        .await
        .map_err(|e| name_conflict(e, &row.name))?;
        if result.rows_affected() != 1 {
            return Err(DbError::Conflict("the data source was changed or deleted meanwhile; try again".into()));
        }
        if let Some(tags) = tags {
            replace_side_rows(&mut tx, "data_source_tags", "tag", &row.id, tags).await?;
        }
        if let Some(shared_with) = shared_with {
            replace_side_rows(&mut tx, "data_source_shares", "workspace_id", &row.id, shared_with).await?;
        }
        tx.commit().await?;
        self.changed(&row.organization_id);
        let mut updated = row.clone();
        updated.version += 1;
        Ok(updated)
    }

    /// Records a status change, with the test result that caused it when
    /// there is one; never resurrects a deleted data source. The version
    /// stays: status is not part of the definition. A change of status is
    /// appended to the event outbox in the same transaction.
    pub async fn set_status(
        &self,
        org_id: &str,
        id: &str,
        status: &str,
        reason: Option<&str>,
        last_test: Option<&str>,
    ) -> Result<(), DbError> {
        let mut tx = self.begin_claim().await?;
        let Some(before) = lock_live_state(&mut tx, self.backend, org_id, id).await? else {
            // Nothing to change; readers are told anyway, as for any write.
            self.changed(org_id);
            return Ok(());
        };
        let query = match last_test {
            Some(last_test) => sqlx::query(
                "UPDATE data_sources SET status = $1, status_reason = $2, last_test = $3, last_tested_at = $4 \
                 WHERE id = $5 AND organization_id = $6 AND deleted_at IS NULL",
            )
            .bind(status)
            .bind(reason.map(super::storable))
            .bind(last_test)
            .bind(now())
            .bind(id)
            .bind(org_id),
            None => sqlx::query(
                "UPDATE data_sources SET status = $1, status_reason = $2 \
                 WHERE id = $3 AND organization_id = $4 AND deleted_at IS NULL",
            )
            .bind(status)
            .bind(reason.map(super::storable))
            .bind(id)
            .bind(org_id),
        };
        query.execute(&mut *tx).await?;
        let after = LiveState { status: status.to_owned(), breaker: before.breaker.clone() };
        let appended = append_transitions(&mut tx, self.backend, org_id, id, &before, &after, reason, None).await?;
        tx.commit().await?;
        self.changed(org_id);
        if appended {
            self.events_added();
        }
        Ok(())
    }

    /// Records a check's result: status (unless a user holds the data
    /// source inactive or in maintenance), the test and the breaker, in one
    /// write, with the transitions it makes as events. Never resurrects a
    /// deleted data source.
    pub async fn record_outcome(&self, org_id: &str, id: &str, outcome: &Outcome<'_>) -> Result<(), DbError> {
        let mut tx = self.begin_claim().await?;
        let Some(before) = lock_live_state(&mut tx, self.backend, org_id, id).await? else {
            // Nothing to change; readers are told anyway, as for any write.
            self.changed(org_id);
            return Ok(());
        };
        sqlx::query(
            "UPDATE data_sources SET \
             status = CASE WHEN status IN ('inactive', 'maintenance') THEN status ELSE $1 END, \
             status_reason = CASE WHEN status IN ('inactive', 'maintenance') THEN status_reason ELSE $2 END, \
             last_test = $3, last_tested_at = $4, breaker_state = $5, breaker_failures = $6, breaker_opens = $7, \
             breaker_open_until = $8 WHERE id = $9 AND organization_id = $10 AND deleted_at IS NULL",
        )
        .bind(outcome.status)
        .bind(outcome.reason.map(super::storable))
        .bind(outcome.last_test)
        .bind(now())
        .bind(outcome.breaker.state)
        .bind(outcome.breaker.failures)
        .bind(outcome.breaker.opens)
        .bind(outcome.breaker.open_until.as_deref())
        .bind(id)
        .bind(org_id)
        .execute(&mut *tx)
        .await?;
        let held = matches!(before.status.as_str(), "inactive" | "maintenance");
        let after = LiveState {
            status: if held { before.status.clone() } else { outcome.status.to_owned() },
            breaker: outcome.breaker.state.to_owned(),
        };
        let appended = append_transitions(
            &mut tx,
            self.backend,
            org_id,
            id,
            &before,
            &after,
            outcome.reason,
            Some(&outcome.breaker),
        )
        .await?;
        tx.commit().await?;
        self.changed(org_id);
        if appended {
            self.events_added();
        }
        Ok(())
    }

    /// Replaces the tunnel settings if they are still `before` (the host
    /// pinning a host key it learned); false when they changed meanwhile.
    pub async fn replace_tunnel(&self, org_id: &str, id: &str, before: &str, after: &str) -> Result<bool, DbError> {
        let result = sqlx::query(
            "UPDATE data_sources SET ssh_tunnel = $1, version = version + 1 \
             WHERE id = $2 AND organization_id = $3 AND ssh_tunnel = $4",
        )
        .bind(after)
        .bind(id)
        .bind(org_id)
        .bind(before)
        .execute(&self.pool)
        .await?;
        self.changed(org_id);
        Ok(result.rows_affected() == 1)
    }

    /// Moves the breaker alone (to half-open, when a probe starts).
    pub async fn set_breaker_state(&self, org_id: &str, id: &str, state: &str) -> Result<(), DbError> {
        let mut tx = self.begin_claim().await?;
        let Some(before) = lock_live_state(&mut tx, self.backend, org_id, id).await? else {
            // Nothing to change; readers are told anyway, as for any write.
            self.changed(org_id);
            return Ok(());
        };
        sqlx::query("UPDATE data_sources SET breaker_state = $1 WHERE id = $2 AND organization_id = $3")
            .bind(state)
            .bind(id)
            .bind(org_id)
            .execute(&mut *tx)
            .await?;
        let after = LiveState { status: before.status.clone(), breaker: state.to_owned() };
        let appended = append_transitions(&mut tx, self.backend, org_id, id, &before, &after, None, None).await?;
        tx.commit().await?;
        self.changed(org_id);
        if appended {
            self.events_added();
        }
        Ok(())
    }

    /// Claims up to `limit` data sources due for a health check at `now`
    /// and moves each one's next check to `next_at(interval_s)`. On
    /// PostgreSQL the rows are locked with `SKIP LOCKED`, so replicas
    /// sharing the database never claim the same data source twice.
    pub async fn claim_due_checks(
        &self,
        now: &str,
        limit: i64,
        next_at: impl Fn(i64) -> String,
    ) -> Result<Vec<DataSourceRow>, DbError> {
        let lock = if self.backend == super::Backend::Postgres { " FOR UPDATE SKIP LOCKED" } else { "" };
        let mut tx = self.begin_claim().await?;
        let rows: Vec<DataSourceRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM data_sources WHERE deleted_at IS NULL \
             AND status NOT IN ('inactive', 'maintenance', 'testing') \
             AND (next_check_at IS NULL OR next_check_at <= $1) \
             ORDER BY COALESCE(next_check_at, '') LIMIT $2{lock}"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        for row in &rows {
            sqlx::query("UPDATE data_sources SET next_check_at = $1 WHERE id = $2")
                .bind(next_at(row.health_check_interval_s))
                .bind(&row.id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(rows)
    }

    /// Claims up to `limit` active data sources whose automatic schema
    /// refresh is due at `now` or not yet scheduled, and moves each one's
    /// next refresh to `next_at(row)` (`None`: auto-refresh is off). Returns
    /// those that were due, to be discovered now; one not scheduled before is
    /// only scheduled. Locked with `SKIP LOCKED` on PostgreSQL.
    pub async fn claim_due_discoveries(
        &self,
        now: &str,
        limit: i64,
        next_at: impl Fn(&DataSourceRow) -> Option<String>,
    ) -> Result<Vec<DataSourceRow>, DbError> {
        let lock = if self.backend == super::Backend::Postgres { " FOR UPDATE SKIP LOCKED" } else { "" };
        let mut tx = self.begin_claim().await?;
        let rows: Vec<DataSourceRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM data_sources WHERE deleted_at IS NULL AND status = 'active' \
             AND (next_discovery_at IS NULL OR next_discovery_at <= $1) \
             ORDER BY COALESCE(next_discovery_at, '') LIMIT $2{lock}"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let mut due = Vec::new();
        for row in rows {
            let next = next_at(&row);
            // Off: parked far ahead; an update of config or refresh settings clears it.
            let stored = next.clone().unwrap_or_else(|| PARKED.to_owned());
            sqlx::query("UPDATE data_sources SET next_discovery_at = $1 WHERE id = $2")
                .bind(stored)
                .bind(&row.id)
                .execute(&mut *tx)
                .await?;
            if next.is_some() && row.next_discovery_at.is_some() {
                due.push(row);
            }
        }
        tx.commit().await?;
        Ok(due)
    }

    /// Moves a data source's next automatic schema refresh (after any
    /// successful discovery, so a manual one is not followed by an automatic one).
    pub async fn schedule_discovery(&self, id: &str, next_at: Option<&str>) -> Result<(), DbError> {
        sqlx::query("UPDATE data_sources SET next_discovery_at = $1 WHERE id = $2")
            .bind(next_at.unwrap_or(PARKED))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Tags, shares and secret field names of several data sources, in one
    /// round trip (this is on the path of every GET and list).
    pub async fn side_data_of(&self, ids: &[String]) -> Result<SideData, DbError> {
        let mut side = SideData::default();
        if ids.is_empty() {
            return Ok(side);
        }
        let mut sql = Sql::default();
        sql.push("SELECT 't', data_source_id, tag FROM data_source_tags WHERE data_source_id IN ").bind_list(ids);
        sql.push(
            " UNION ALL SELECT 's', data_source_id, workspace_id FROM data_source_shares WHERE data_source_id IN ",
        );
        sql.bind_list(ids);
        sql.push(" UNION ALL SELECT 'f', data_source_id, field FROM data_source_secrets WHERE data_source_id IN ");
        sql.bind_list(ids).push(" ORDER BY 1, 2, 3");
        for (which, id, value) in query_as_with::<(String, String, String)>(&sql)?.fetch_all(&self.pool).await? {
            let map = match which.as_str() {
                "t" => &mut side.tags,
                "s" => &mut side.shares,
                _ => &mut side.secret_fields,
            };
            map.entry(id).or_default().push(value);
        }
        Ok(side)
    }

    /// Workspaces several data sources are shared with, as (data source id, workspace id).
    pub async fn shares_of(&self, ids: &[String]) -> Result<Vec<(String, String)>, DbError> {
        self.side_table("SELECT data_source_id, workspace_id FROM data_source_shares WHERE data_source_id IN ", "", ids)
            .await
    }

    /// The workspace owning each of several data sources (deleted ones too),
    /// as (data source id, workspace id).
    pub async fn workspaces_of_data_sources(&self, ids: &[String]) -> Result<Vec<(String, String)>, DbError> {
        self.side_table("SELECT id, workspace_id FROM data_sources WHERE id IN ", "", ids).await
    }

    async fn side_table(&self, head: &str, tail: &str, ids: &[String]) -> Result<Vec<(String, String)>, DbError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = Sql::default();
        sql.push(head).bind_list(ids).push(tail);
        Ok(query_as_with::<(String, String)>(&sql)?.fetch_all(&self.pool).await?)
    }

    /// Sealed secrets of one data source, as (field, sealed).
    pub async fn sealed_secrets(&self, id: &str) -> Result<Vec<(String, String)>, DbError> {
        Ok(sqlx::query_as("SELECT field, sealed FROM data_source_secrets WHERE data_source_id = $1 ORDER BY field")
            .bind(id)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Sets (upserts) and removes secret fields in one transaction, and bumps
    /// the data source's version so pooled connections know to reopen.
    pub async fn replace_secrets(
        &self,
        org_id: &str,
        id: &str,
        set: &[(String, String)],
        remove: &[String],
    ) -> Result<(), DbError> {
        let at = now();
        let mut tx = self.pool.begin().await?;
        for field in remove {
            sqlx::query("DELETE FROM data_source_secrets WHERE data_source_id = $1 AND field = $2")
                .bind(id)
                .bind(field)
                .execute(&mut *tx)
                .await?;
        }
        for (field, sealed) in set {
            sqlx::query("DELETE FROM data_source_secrets WHERE data_source_id = $1 AND field = $2")
                .bind(id)
                .bind(field)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO data_source_secrets (data_source_id, field, sealed, updated_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(id)
            .bind(field)
            .bind(sealed)
            .bind(&at)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "UPDATE data_sources SET updated_at = $1, version = version + 1 WHERE id = $2 AND organization_id = $3",
        )
        .bind(&at)
        .bind(id)
        .bind(org_id)
        .execute(&mut *tx)
        .await?;
        // Names only: what changed, never a value.
        let mut fields: Vec<&str> =
            set.iter().map(|(field, _)| field.as_str()).chain(remove.iter().map(String::as_str)).collect();
        fields.sort_unstable();
        fields.dedup();
        let event = NewEvent {
            organization_id: org_id,
            data_source_id: Some(id),
            kind: EventKind::CredentialsChanged,
            payload: serde_json::json!({ "fields": fields }),
        };
        super::events::append(&mut tx, self.backend, &event).await?;
        tx.commit().await?;
        self.changed(org_id);
        self.events_added();
        Ok(())
    }

    pub async fn soft_delete_data_source(&self, org_id: &str, id: &str, actor: &str) -> Result<bool, DbError> {
        let result = sqlx::query(
            "UPDATE data_sources SET deleted_at = $1, deleted_by = $2, version = version + 1 \
             WHERE organization_id = $3 AND id = $4 AND deleted_at IS NULL",
        )
        .bind(now())
        .bind(actor)
        .bind(org_id)
        .bind(id)
        .execute(&self.pool)
        .await?;
        self.changed(org_id);
        Ok(result.rows_affected() == 1)
    }

    /// Removes the data source with its secrets, history and cached schemas.
    pub async fn hard_delete_data_source(&self, org_id: &str, id: &str) -> Result<bool, DbError> {
        let mut tx = self.pool.begin().await?;
        // Explicit deletes, so nothing depends on the backend's cascade settings.
        for table in [
            "data_source_secrets",
            "data_source_tags",
            "data_source_shares",
            "health_checks",
            "discovered_tables",
            "discovery_jobs",
        ] {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE data_source_id IN (SELECT id FROM data_sources WHERE organization_id = $1 AND id = $2)"
            ))
            .bind(org_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        let result = sqlx::query("DELETE FROM data_sources WHERE organization_id = $1 AND id = $2")
            .bind(org_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.changed(org_id);
        Ok(result.rows_affected() == 1)
    }

    /// Live data sources of every organization, by status and by breaker state.
    pub async fn count_all_data_sources(&self) -> Result<(Vec<(String, i64)>, Vec<(String, i64)>), DbError> {
        let by_status = sqlx::query_as(
            "SELECT status, COUNT(*) FROM data_sources WHERE deleted_at IS NULL GROUP BY status ORDER BY status",
        )
        .fetch_all(&self.pool)
        .await?;
        let by_breaker = sqlx::query_as(
            "SELECT breaker_state, COUNT(*) FROM data_sources WHERE deleted_at IS NULL \
             GROUP BY breaker_state ORDER BY breaker_state",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok((by_status, by_breaker))
    }

    /// The live data sources a caller sees (`visible_workspaces` as in
    /// [`ListFilter`]), as (id, status, breaker state): what the metrics count.
    pub async fn visible_states(
        &self,
        org_id: &str,
        visible_workspaces: Option<&[String]>,
    ) -> Result<Vec<(String, String, String)>, DbError> {
        let filter = ListFilter {
            visible_workspaces: visible_workspaces.map(<[String]>::to_vec),
            ..ListFilter::everything(org_id)
        };
        let mut sql = Sql::default();
        sql.push("SELECT id, status, breaker_state FROM data_sources");
        filter.where_clause(&mut sql);
        Ok(query_as_with::<(String, String, String)>(&sql)?.fetch_all(&self.pool).await?)
    }
}

/// Replaces one data source's rows in a (data_source_id, value) side table.
/// `table` and `column` are this module's constants, never input.
async fn replace_side_rows(
    tx: &mut sqlx::Transaction<'_, Any>,
    table: &'static str,
    column: &'static str,
    id: &str,
    values: &[String],
) -> Result<(), DbError> {
    sqlx::query(&format!("DELETE FROM {table} WHERE data_source_id = $1")).bind(id).execute(&mut **tx).await?;
    for value in values {
        sqlx::query(&format!("INSERT INTO {table} (data_source_id, {column}) VALUES ($1, $2)"))
            .bind(id)
            .bind(value)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

fn name_conflict(error: sqlx::Error, name: &str) -> DbError {
    DbError::conflict_on_unique(error, || format!("a data source named `{name}` already exists in this workspace"))
}

/// What the outbox compares before and after a write.
#[derive(Debug, Clone)]
struct LiveState {
    status: String,
    breaker: String,
}

/// Reads a live data source's status and breaker inside `tx`, locking the
/// row on PostgreSQL so that concurrent writers see each other's transitions.
async fn lock_live_state(
    tx: &mut sqlx::AnyConnection,
    backend: super::Backend,
    org_id: &str,
    id: &str,
) -> Result<Option<LiveState>, DbError> {
    let lock = if backend == super::Backend::Postgres { " FOR UPDATE" } else { "" };
    let row: Option<(String, String)> = sqlx::query_as(&format!(
        "SELECT status, breaker_state FROM data_sources \
         WHERE id = $1 AND organization_id = $2 AND deleted_at IS NULL{lock}"
    ))
    .bind(id)
    .bind(org_id)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(row.map(|(status, breaker)| LiveState { status, breaker }))
}

/// Appends the status and breaker transitions from `before` to `after`;
/// answers whether it appended any.
#[allow(clippy::too_many_arguments)]
async fn append_transitions(
    tx: &mut sqlx::AnyConnection,
    backend: super::Backend,
    org_id: &str,
    id: &str,
    before: &LiveState,
    after: &LiveState,
    reason: Option<&str>,
    breaker: Option<&BreakerColumns>,
) -> Result<bool, DbError> {
    let mut appended = false;
    if before.status != after.status {
        let payload = serde_json::json!({ "from": before.status, "to": after.status, "reason": reason });
        let event =
            NewEvent { organization_id: org_id, data_source_id: Some(id), kind: EventKind::StatusChanged, payload };
        super::events::append(tx, backend, &event).await?;
        appended = true;
    }
    if let Some(kind) = crate::events::breaker_kind(&before.breaker, &after.breaker) {
        let payload = match breaker {
            Some(columns) => serde_json::json!({
                "from": before.breaker, "to": after.breaker,
                "failures": columns.failures, "open_until": columns.open_until,
            }),
            None => serde_json::json!({ "from": before.breaker, "to": after.breaker }),
        };
        let event = NewEvent { organization_id: org_id, data_source_id: Some(id), kind, payload };
        super::events::append(tx, backend, &event).await?;
        appended = true;
    }
    Ok(appended)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{new_id, test_db};

    fn row(org: &str, workspace: &str, name: &str) -> DataSourceRow {
        let at = now();
        DataSourceRow {
            id: new_id(),
            organization_id: org.into(),
            workspace_id: workspace.into(),
            name: name.into(),
            description: Some(format!("{name} 100% real_data")),
            source_type: "postgresql".into(),
            config: "{}".into(),
            connection_settings: "{}".into(),
            ssh_tunnel: None,
            schema_refresh: "{}".into(),
            health_check_interval_s: 60,
            status: "testing".into(),
            status_reason: None,
            last_test: None,
            last_tested_at: None,
            created_at: at.clone(),
            created_by: None,
            updated_at: at,
            updated_by: None,
            deleted_at: None,
            deleted_by: None,
            version: 1,
            breaker_state: "closed".into(),
            breaker_failures: 0,
            breaker_opens: 0,
            breaker_open_until: None,
            next_discovery_at: None,
        }
    }

    #[tokio::test]
    async fn transitions_and_only_transitions_become_events_in_order() {
        let (db, _dir) = test_db().await;
        let org = db.create_org("acme", "organization", "org-1", "k").await.expect("org");
        let ws = db.default_workspace(&org.id).await.expect("ws");
        let source = row(&org.id, &ws.id, "orders");
        let id = source.id.clone();
        let new = NewDataSource { row: source, tags: vec![], shared_with: vec![], secrets: vec![] };
        db.insert_data_source(&new).await.expect("insert");
        let closed = BreakerColumns { state: "closed", failures: 0, opens: 0, open_until: None };
        let open = BreakerColumns { state: "open", failures: 5, opens: 1, open_until: Some(now()) };
        let outcome = |status, breaker: &BreakerColumns| Outcome {
            status,
            reason: Some("boom"),
            last_test: "{}",
            breaker: breaker.clone(),
        };
        db.set_status(&org.id, &id, "active", None, Some("{}")).await.expect("active");
        db.record_outcome(&org.id, &id, &outcome("active", &closed)).await.expect("same");
        db.record_outcome(&org.id, &id, &outcome("failed", &open)).await.expect("failed and open");
        db.set_breaker_state(&org.id, &id, "half_open").await.expect("half open");
        db.set_status(&org.id, &id, "maintenance", Some("upgrade"), None).await.expect("maintenance");
        // Held in maintenance: a check's result changes neither status nor events.
        db.record_outcome(&org.id, &id, &outcome("active", &closed)).await.expect("held");
        db.replace_secrets(&org.id, &id, &[("password".into(), "sealed".into())], &[]).await.expect("secrets");
        db.set_status(&org.id, "someone-else", "failed", None, None).await.expect("unknown id is a no-op");

        let events = db.events_after(0, 100).await.expect("events");
        let seen: Vec<(String, String)> = events
            .iter()
            .map(|e| {
                let payload: serde_json::Value = serde_json::from_str(&e.payload).expect("json");
                let to = payload.get("to").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
                (e.kind.clone(), to)
            })
            .collect();
        let expected = [
            ("status_changed", "active"),
            ("status_changed", "failed"),
            ("breaker_opened", "open"),
            ("breaker_half_open", "half_open"),
            ("status_changed", "maintenance"),
            ("breaker_closed", "closed"),
            ("credentials_changed", ""),
        ];
        let expected: Vec<(String, String)> =
            expected.iter().map(|(k, t)| ((*k).to_owned(), (*t).to_owned())).collect();
        assert_eq!(seen, expected);
        assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));
        assert_eq!(events[1].severity, "critical");
        assert!(events[6].payload.contains("password") && !events[6].payload.contains("sealed"));
        assert!(events.iter().all(|e| e.organization_id == org.id && e.data_source_id.as_deref() == Some(&id)));

        let filter = crate::db::EventFilter { kinds: vec!["breaker_opened".into()], ..Default::default() };
        let only = db.org_events(&org.id, 0, &filter, 10).await.expect("filtered");
        assert_eq!(only.len(), 1);
        let hidden =
            crate::db::EventFilter { visible_workspaces: Some(vec!["elsewhere".into()]), ..Default::default() };
        assert!(db.org_events(&org.id, 0, &hidden, 10).await.expect("hidden").is_empty());
        assert!(db.org_events("other-org", 0, &Default::default(), 10).await.expect("other org").is_empty());
        assert_eq!(db.org_events(&org.id, events[3].seq, &Default::default(), 10).await.expect("after").len(), 3);
    }

    fn filter(org: &str) -> ListFilter {
        ListFilter::everything(org)
    }

    #[tokio::test]
    async fn lists_filter_search_sort_and_page() {
        let (db, _dir) = test_db().await;
        let org = db.create_org("acme", "organization", "org-1", "k").await.expect("org");
        let ws = db.default_workspace(&org.id).await.expect("ws");
        for (name, tag) in [("orders", "prod"), ("billing", "prod"), ("scratch", "dev")] {
            let new = NewDataSource {
                row: row(&org.id, &ws.id, name),
                tags: vec![tag.into()],
                shared_with: vec![],
                secrets: vec![],
            };
            db.insert_data_source(&new).await.expect("insert");
        }
        let (rows, total) = db.list_data_sources(&filter(&org.id)).await.expect("list");
        assert_eq!(total, 3);
        assert_eq!(rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["billing", "orders", "scratch"]);
        let mut f = filter(&org.id);
        f.tag = Some("prod".into());
        f.descending = true;
        f.limit = 1;
        let (rows, total) = db.list_data_sources(&f).await.expect("list");
        assert_eq!((total, rows.len(), rows[0].name.as_str()), (2, 1, "orders"));
        let mut f = filter(&org.id);
        f.search = Some("100%".into());
        assert_eq!(db.list_data_sources(&f).await.expect("list").1, 3);
        f.search = Some("ORD".into());
        assert_eq!(db.list_data_sources(&f).await.expect("list").1, 1);
        f.search = Some("_".into());
        assert_eq!(
            db.list_data_sources(&f).await.expect("list").1,
            3,
            "an underscore in descriptions, matched literally"
        );
        let mut f = filter("other-org");
        f.limit = 10;
        assert_eq!(db.list_data_sources(&f).await.expect("list").1, 0);
    }

    #[tokio::test]
    async fn live_names_are_unique_per_workspace_and_updates_check_versions() {
        let (db, _dir) = test_db().await;
        let org = db.create_org("acme", "organization", "org-1", "k").await.expect("org");
        let ws = db.default_workspace(&org.id).await.expect("ws");
        let first = row(&org.id, &ws.id, "orders");
        db.insert_data_source(&NewDataSource {
            row: first.clone(),
            tags: vec![],
            shared_with: vec![],
            secrets: vec![],
        })
        .await
        .expect("insert");
        let clash =
            NewDataSource { row: row(&org.id, &ws.id, "orders"), tags: vec![], shared_with: vec![], secrets: vec![] };
        assert!(matches!(db.insert_data_source(&clash).await, Err(DbError::Conflict(_))));
        let updated = db.update_data_source(&first, None, None).await.expect("update");
        assert!(matches!(db.update_data_source(&first, None, None).await, Err(DbError::Conflict(_))), "stale version");
        assert!(db.soft_delete_data_source(&org.id, &updated.id, "tester").await.expect("delete"));
        db.insert_data_source(&clash).await.expect("the name is free again once deleted");
        assert!(db.hard_delete_data_source(&org.id, &updated.id).await.expect("hard delete"));
        assert!(db.data_source(&org.id, &updated.id, true).await.expect("get").is_none());
    }
}

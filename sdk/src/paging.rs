//! Paging a catalog that the connector holds in memory (files, small sources).
//!
//! Connectors that read a large catalog page by page from a server should page
//! at the server instead (keyset on schema and table name).
//!
//! When the names are cheap but describing a table is not (a file's rows
//! counted, a sheet scanned, an object's footer fetched), page the names and
//! describe only the tables on the page: [`page_lazily`], or
//! [`page_one_table`] for a source that is one table.

use crate::schema::TableBuilder;
use crate::{ConnectorError, DiscoverPage, DiscoverRequest, ObjectKind, Schema, Table};

/// The largest page a connector serves, whatever the host asks for.
pub const MAX_PAGE_SIZE: u32 = 10_000;

/// The number of tables to return for a request (at least 1, at most [`MAX_PAGE_SIZE`]).
pub fn page_size(request: &DiscoverRequest) -> usize {
    request.page_size.clamp(1, MAX_PAGE_SIZE) as usize
}

/// Whether a schema passes the request's include and exclude lists.
pub fn schema_selected(request: &DiscoverRequest, schema: &str) -> bool {
    (request.include_schemas.is_empty() || request.include_schemas.iter().any(|s| s == schema))
        && !request.exclude_schemas.iter().any(|s| s == schema)
}

/// Cuts one page out of a full catalog, ordered by (schema, table) as given.
/// The page token is the number of tables already returned.
pub fn page_catalog(
    request: &DiscoverRequest,
    catalog: Vec<(String, Vec<Table>)>,
) -> Result<DiscoverPage, ConnectorError> {
    let skip: usize = match &request.page_token {
        None => 0,
        Some(token) => token.parse().map_err(|_| ConnectorError::config(format!("invalid page token `{token}`")))?,
    };
    let take = page_size(request);
    let mut seen = 0usize;
    let mut schemas: Vec<Schema> = Vec::new();
    let mut more = false;
    for (name, tables) in catalog.into_iter().filter(|(name, _)| schema_selected(request, name)) {
        let mut page_tables = Vec::new();
        for table in tables {
            if seen >= skip + take {
                more = true;
                break;
            }
            if seen >= skip {
                page_tables.push(table);
            }
            seen += 1;
        }
        if !page_tables.is_empty() {
            schemas.push(Schema { name, tables: page_tables });
        }
        if more {
            break;
        }
    }
    Ok(DiscoverPage { schemas, next_page_token: more.then(|| (skip + take).to_string()) })
}

/// Pages a catalog of stand-ins (tables with a name and kind, cheap to list)
/// like [`page_catalog`], then has `describe` turn each stand-in on the page
/// into the full table. A page that does not hold a table (a later page, an
/// excluded schema) costs no work for it.
pub fn page_lazily(
    request: &DiscoverRequest,
    stand_ins: Vec<(String, Vec<Table>)>,
    mut describe: impl FnMut(&str, Table) -> Result<Table, ConnectorError>,
) -> Result<DiscoverPage, ConnectorError> {
    let mut page = page_catalog(request, stand_ins)?;
    for schema in &mut page.schemas {
        let stand_ins = std::mem::take(&mut schema.tables);
        schema.tables = stand_ins.into_iter().map(|table| describe(&schema.name, table)).collect::<Result<_, _>>()?;
    }
    Ok(page)
}

/// Pages a source that is one table, `name` of `kind` in `schema` (a file,
/// a folder read as one table): `describe` runs only when the page holds it.
pub fn page_one_table(
    request: &DiscoverRequest,
    schema: &str,
    name: String,
    kind: ObjectKind,
    describe: impl FnOnce() -> Result<Table, ConnectorError>,
) -> Result<DiscoverPage, ConnectorError> {
    let stand_in = TableBuilder::new(name, kind).build();
    let mut describe = Some(describe);
    page_lazily(request, vec![(schema.to_owned(), vec![stand_in])], |_, _| {
        describe
            .take()
            .map_or_else(|| Err(ConnectorError::internal("one table described twice")), |describe| describe())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(token: Option<&str>, size: u32) -> DiscoverRequest {
        DiscoverRequest {
            include_schemas: vec![],
            exclude_schemas: vec!["hidden".into()],
            page_token: token.map(str::to_owned),
            page_size: size,
        }
    }

    fn catalog() -> Vec<(String, Vec<Table>)> {
        let tables = |names: &[&str]| names.iter().map(|n| TableBuilder::new(*n, ObjectKind::Table).build()).collect();
        vec![("a".into(), tables(&["t1", "t2"])), ("hidden".into(), tables(&["x"])), ("b".into(), tables(&["t3"]))]
    }

    #[test]
    fn pages_walk_the_catalog_once_and_skip_excluded_schemas() {
        let first = page_catalog(&request(None, 2), catalog()).unwrap();
        assert_eq!(first.schemas.len(), 1);
        assert_eq!(first.schemas[0].tables.len(), 2);
        assert_eq!(first.next_page_token.as_deref(), Some("2"));
        let second = page_catalog(&request(Some("2"), 2), catalog()).unwrap();
        assert_eq!(second.schemas[0].name, "b");
        assert_eq!(second.next_page_token, None);
    }

    #[test]
    fn a_bad_token_is_a_config_error() {
        let error = page_catalog(&request(Some("x"), 2), catalog()).unwrap_err();
        assert_eq!(error.kind, crate::ErrorKind::Config);
    }

    #[test]
    fn only_the_tables_on_the_page_are_described() {
        let mut described = Vec::new();
        let page = page_lazily(&request(Some("1"), 1), catalog(), |schema, table| {
            described.push(format!("{schema}.{}", table.name));
            Ok(TableBuilder::new(table.name, ObjectKind::View).build())
        })
        .unwrap();
        assert_eq!(described, ["a.t2"]);
        assert_eq!(page.schemas[0].tables[0].kind, ObjectKind::View);
        assert_eq!(page.next_page_token.as_deref(), Some("2"));
        let failed = page_lazily(&request(None, 5), catalog(), |_, _| Err(ConnectorError::protocol("bad file")));
        assert_eq!(failed.unwrap_err().kind, crate::ErrorKind::Protocol);
    }

    #[test]
    fn one_table_is_described_only_when_its_page_is_asked_for() {
        let mut calls = 0;
        let mut describe = |token: Option<&str>, exclude: &str| {
            let request = DiscoverRequest { exclude_schemas: vec![exclude.into()], ..request(token, 10) };
            page_one_table(&request, "default", "orders".into(), ObjectKind::File, || {
                calls += 1;
                Ok(TableBuilder::new("orders", ObjectKind::File).row_estimate(Some(7)).build())
            })
        };
        let first = describe(None, "hidden").unwrap();
        assert_eq!(first.schemas[0].tables[0].row_estimate, Some(7));
        assert_eq!(first.next_page_token, None);
        assert!(describe(Some("1"), "hidden").unwrap().schemas.is_empty());
        assert!(describe(None, "default").unwrap().schemas.is_empty());
        assert_eq!(calls, 1);
    }
}

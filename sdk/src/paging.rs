//! Paging a catalog that the connector holds in memory (files, small sources).
//!
//! Connectors that read a large catalog page by page from a server should page
//! at the server instead (keyset on schema and table name).

use crate::{ConnectorError, DiscoverPage, DiscoverRequest, Schema, Table};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ObjectKind;
    use crate::schema::TableBuilder;

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
}

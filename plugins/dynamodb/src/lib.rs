//! Inlet connector for Amazon DynamoDB, over its JSON API through wasi:http
//! (see README.md).
//!
//! - [`api`]: signed calls (ListTables, DescribeTable, Scan) and service errors → error kinds
//! - [`sample`]: attribute-value JSON from a bounded Scan → typed, flattened attribute paths
//! - [`catalog`]: a table and its indexes as catalog objects
//! - [`preview`]: the first items of a table or index, Scan page by Scan page
//! - [`values`]: attribute values as cells of the discovered columns
//! - [`config`]: the data source's configuration and endpoint
//!
//! The catalog is one schema named after the region. Pages follow
//! ListTables (`ExclusiveStartTableName`); a page token is `after:<table>`
//! (continue listing after it) or `within:<n>:<table>` (the table's objects
//! from the n-th on, when a table and its indexes straddle two pages).

pub mod api;
pub mod catalog;
pub mod config;
pub mod preview;
pub mod sample;
pub mod values;

use std::time::Duration;

use inlet_sdk::aws;
use inlet_sdk::deadline::Deadline;
use inlet_sdk::http::{Transport, WasiHttp};
use inlet_sdk::paging;
use inlet_sdk::prelude::*;

use crate::api::Client;
use crate::catalog::SampleNote;
use crate::config::Config;
use crate::sample::Sample;

/// Table names asked for per ListTables call (the service's maximum).
const LIST_PAGE: u32 = 100;
/// ListTables calls per discover page at most, so that a prefix matching
/// few of very many tables still answers (an empty page with a token).
const MAX_LIST_CALLS: usize = 20;
/// Scan calls per table at most (each reads at most 1 MB).
const MAX_SCAN_CALLS: usize = 4;
/// The share of the call's timeout after which discover starts no new table.
const DISCOVER_SHARE: f64 = 0.5;

pub struct DynamoDb;

pub struct DynamoDbConnection {
    client: Client<WasiHttp>,
    config: Config,
    /// Discover stops starting new tables after [`DISCOVER_SHARE`] of this.
    query_timeout: Duration,
}

/// The client for a request's config and secrets, over `transport`.
pub fn client<T: Transport>(
    request: &ConnectRequest,
    config: &Config,
    transport: T,
) -> Result<Client<T>, ConnectorError> {
    let endpoint = config.endpoint()?;
    let scope = Client::<T>::scope(&endpoint, &config.region);
    Ok(Client::new(aws::client::Client::from_request(request, &config.access_key_id, transport, scope)?, endpoint))
}

impl Connector for DynamoDb {
    type Connection = DynamoDbConnection;

    fn connect(request: &ConnectRequest, steps: &mut Steps) -> Result<DynamoDbConnection, ConnectorError> {
        let (config, client) = steps.run("configure", || {
            let config = Config::from_request(request)?;
            let client = client(request, &config, WasiHttp)?;
            Ok((config, client))
        })?;
        steps.annotate_last(format!(
            "{}, {}",
            inlet_sdk::http::redacted(&client.endpoint().url),
            aws::client::credentials_note(request, &config.region, &config.access_key_id)
        ));
        Ok(DynamoDbConnection { client, config, query_timeout: request.query_timeout() })
    }
}

impl Connection for DynamoDbConnection {
    fn test(&mut self, steps: &mut Steps) -> Result<Option<String>, ConnectorError> {
        run_test(&self.client, &self.config, steps)
    }

    fn discover(&mut self, request: &DiscoverRequest) -> Result<DiscoverPage, ConnectorError> {
        discover_page(&self.client, &self.config, request, Deadline::after(self.query_timeout))
    }

    fn preview(&mut self, request: &PreviewRequest) -> Result<Box<dyn Rows<Self>>, ConnectorError> {
        Ok(Box::new(preview::open(&self.client, &self.config, request)?))
    }
}

impl Rows<DynamoDbConnection> for preview::ScanRows {
    fn columns(&self) -> Vec<ResultColumn> {
        preview::ScanRows::columns(self)
    }

    fn next(
        &mut self,
        connection: &mut DynamoDbConnection,
        max_rows: u32,
    ) -> Result<Option<inlet_sdk::Batch>, ConnectorError> {
        self.next_batch(&connection.client, max_rows)
    }
}

/// ListTables (the signature and the endpoint), then, when there is a table,
/// DescribeTable and a one-item Scan (what discover needs).
pub fn run_test<T: Transport>(
    client: &Client<T>,
    config: &Config,
    steps: &mut Steps,
) -> Result<Option<String>, ConnectorError> {
    let prefix = config.table_prefix.as_deref().unwrap_or("");
    let first = steps.run("list tables", || {
        let mut start: Option<String> = None;
        // With a prefix, look a little further for a matching table.
        for _ in 0..if prefix.is_empty() { 1 } else { 5 } {
            let page = client.list_tables(start.as_deref(), if prefix.is_empty() { 1 } else { LIST_PAGE })?;
            if let Some(name) = page.table_names.iter().find(|n| n.starts_with(prefix)) {
                return Ok(Some(name.clone()));
            }
            match page.last_evaluated_table_name {
                Some(last) => start = Some(last),
                None => return Ok(None),
            }
        }
        Ok(None)
    })?;
    match &first {
        Some(name) => steps.annotate_last(format!("signed request accepted; first table {name}")),
        None if prefix.is_empty() => steps.annotate_last("signed request accepted; no tables"),
        None => steps.annotate_last(format!("signed request accepted; no table named {prefix}… found")),
    }
    if let Some(name) = first {
        let description = steps.run("describe table", || client.describe_table(&name))?;
        let items = description.item_count.map(|n| format!(", about {n} items")).unwrap_or_default();
        steps.annotate_last(format!(
            "{name}: {}{items}",
            description.table_status.as_deref().unwrap_or("status unknown")
        ));
        let read = steps.run("scan access", || client.scan(&name, 1, None))?;
        steps.annotate_last(format!("{name}: read {} item(s)", read.items.len()));
    }
    Ok(Some("DynamoDB API 2012-08-10".to_owned()))
}

/// Where a page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Start,
    /// Continue listing after this table.
    After(String),
    /// This table's objects from the n-th on, then list after it.
    Within(String, usize),
}

impl Token {
    fn parse(token: Option<&str>) -> Result<Self, ConnectorError> {
        let Some(token) = token else { return Ok(Token::Start) };
        let invalid = || ConnectorError::config(format!("invalid page token `{token}`"));
        let valid_name = |name: &str| !name.is_empty() && name.len() <= 255;
        if let Some(name) = token.strip_prefix("after:") {
            return if valid_name(name) { Ok(Token::After(name.to_owned())) } else { Err(invalid()) };
        }
        if let Some(rest) = token.strip_prefix("within:") {
            let (skip, name) = rest.split_once(':').ok_or_else(invalid)?;
            let skip: usize = skip.parse().map_err(|_| invalid())?;
            return if valid_name(name) && skip > 0 {
                Ok(Token::Within(name.to_owned(), skip))
            } else {
                Err(invalid())
            };
        }
        Err(invalid())
    }

    fn render(&self) -> Option<String> {
        match self {
            Token::Start => None,
            Token::After(name) => Some(format!("after:{name}")),
            Token::Within(name, skip) => Some(format!("within:{skip}:{name}")),
        }
    }
}

/// A table and its indexes, or `None` when the table is gone.
pub(crate) fn describe<T: Transport>(
    client: &Client<T>,
    config: &Config,
    name: &str,
) -> Result<Option<Vec<Table>>, ConnectorError> {
    let description = match client.describe_table(name) {
        Ok(description) => description,
        Err(error) if error.kind == ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    let mut sample = Sample::default();
    let mut note = SampleNote::default();
    let mut start: Option<serde_json::Value> = None;
    let wanted = u64::from(config.sample_size);
    for _ in 0..MAX_SCAN_CALLS {
        let left = u32::try_from(wanted.saturating_sub(sample.items)).unwrap_or(u32::MAX);
        let page = match client.scan(name, left, start.as_ref()) {
            Ok(page) => page,
            Err(error) if error.kind == ErrorKind::Permission => {
                note.unavailable = Some(error.message);
                break;
            }
            Err(error) => return Err(error),
        };
        for item in &page.items {
            sample.observe(item);
        }
        start = page.last_evaluated_key.filter(|key| !key.is_null());
        if start.is_none() || sample.items >= wanted {
            break;
        }
    }
    note.partial = start.is_some();
    Ok(Some(catalog::objects(&description, &sample, &note)))
}

/// One page: at most `page_size` objects (tables and indexes), listing
/// tables from where the token says; no new table is started once
/// [`DISCOVER_SHARE`] of the call's `deadline` has passed (the page then
/// ends early, with a token).
pub fn discover_page<T: Transport>(
    client: &Client<T>,
    config: &Config,
    request: &DiscoverRequest,
    deadline: Deadline,
) -> Result<DiscoverPage, ConnectorError> {
    let token = Token::parse(request.page_token.as_deref())?;
    let schema = config.region.clone();
    if !paging::schema_selected(request, &schema) {
        return Ok(DiscoverPage { schemas: vec![], next_page_token: None });
    }
    let size = paging::page_size(request);
    let prefix = config.table_prefix.as_deref().unwrap_or("");
    let mut objects: Vec<Table> = Vec::new();
    let page = |objects: Vec<Table>, next: Token| {
        let schemas = if objects.is_empty() { vec![] } else { vec![Schema { name: schema.clone(), tables: objects }] };
        Ok(DiscoverPage { schemas, next_page_token: next.render() })
    };

    let mut after: Option<String> = match token {
        Token::Start => None,
        Token::After(name) => Some(name),
        Token::Within(name, skip) => {
            if let Some(table_objects) = describe(client, config, &name)? {
                let rest: Vec<Table> = table_objects.into_iter().skip(skip).collect();
                if rest.len() > size {
                    let next = Token::Within(name.clone(), skip + size);
                    return page(rest.into_iter().take(size).collect(), next);
                }
                objects.extend(rest);
            }
            Some(name)
        }
    };
    for _ in 0..MAX_LIST_CALLS {
        let listed = client.list_tables(after.as_deref(), LIST_PAGE)?;
        for name in listed.table_names {
            if !name.starts_with(prefix) {
                after = Some(name);
                continue;
            }
            let out_of_time = !objects.is_empty() && deadline.is_past(DISCOVER_SHARE);
            if objects.len() >= size || out_of_time {
                return page(objects, after.map_or(Token::Start, Token::After));
            }
            if let Some(table_objects) = describe(client, config, &name)? {
                let room = size - objects.len();
                if table_objects.len() > room {
                    objects.extend(table_objects.into_iter().take(room));
                    return page(objects, Token::Within(name, room));
                }
                objects.extend(table_objects);
            }
            after = Some(name);
        }
        match listed.last_evaluated_table_name {
            Some(last) => after = Some(last),
            None => return page(objects, Token::Start),
        }
    }
    // Many names listed, few matching: hand back what there is and where to go on.
    page(objects, after.map_or(Token::Start, Token::After))
}

// The exports exist only in the component; native tests call the functions directly.
inlet_sdk::export_connector!(DynamoDb);

#[cfg(test)]
mod tests {
    use inlet_sdk::testing::{connect_request, discover_request};
    use serde_json::{Value, json};

    use super::*;
    use crate::api::fake::{Calls, Scripted};

    fn config(extra: Value) -> Config {
        let mut config =
            json!({"region": "us-east-1", "access_key_id": "AKIDEXAMPLE", "endpoint_url": "http://127.0.0.1:1"});
        if let (Some(config), Value::Object(extra)) = (config.as_object_mut(), extra) {
            config.extend(extra);
        }
        Config::from_json(&config.to_string()).unwrap()
    }

    fn scripted_client(config: &Config, transport: &Scripted) -> Client<Scripted> {
        let mut request = connect_request("dynamodb", &json!({}));
        request.secrets = vec![("secret_access_key".into(), "secret".into())];
        client(&request, config, transport.clone()).unwrap()
    }

    fn describe_answer(name: &str, gsis: usize) -> Value {
        let indexes: Vec<Value> = (0..gsis)
            .map(|i| {
                json!({"IndexName": format!("g{i}"), "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                            "Projection": {"ProjectionType": "KEYS_ONLY"}})
            })
            .collect();
        json!({"Table": {"TableName": name, "TableStatus": "ACTIVE", "ItemCount": 1,
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}, {"AttributeName": "g", "AttributeType": "S"}],
            "GlobalSecondaryIndexes": indexes}})
    }

    fn scan_answer() -> Value {
        json!({"Items": [{"id": {"S": "a"}, "n": {"N": "1"}}], "Count": 1, "ScannedCount": 1})
    }

    fn names(page: &DiscoverPage) -> Vec<String> {
        page.schemas.iter().flat_map(|s| s.tables.iter().map(|t| t.name.clone())).collect()
    }

    #[test]
    fn secrets_are_required_and_the_key_is_masked() {
        let config = config(json!({}));
        let request = connect_request("dynamodb", &json!({}));
        let error = client(&request, &config, Scripted::default()).err().unwrap();
        assert_eq!(error.kind, ErrorKind::Config);
        assert_eq!(error.message, "the secret `secret_access_key` is not set");
    }

    #[test]
    fn test_lists_describes_and_scans_one_table() {
        let config = config(json!({}));
        let transport = Scripted::default();
        transport.answer_json(200, json!({"TableNames": ["orders"], "LastEvaluatedTableName": "orders"}));
        transport.answer_json(200, describe_answer("orders", 0));
        transport.answer_json(200, scan_answer());
        let mut steps = Steps::new();
        let version = run_test(&scripted_client(&config, &transport), &config, &mut steps).unwrap();
        assert_eq!(version.as_deref(), Some("DynamoDB API 2012-08-10"));
        let steps = steps.into_steps();
        let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["list tables", "describe table", "scan access"]);
        assert_eq!(steps[0].message.as_deref(), Some("signed request accepted; first table orders"));
        assert_eq!(steps[1].message.as_deref(), Some("orders: ACTIVE, about 1 items"));
        assert_eq!(transport.calls()[0].1, json!({"Limit": 1}));
        assert_eq!(transport.calls()[2].1, json!({"TableName": "orders", "Limit": 1}));
    }

    #[test]
    fn test_fails_at_the_step_that_failed() {
        let config = config(json!({}));
        let transport = Scripted::default();
        transport.answer_json(400, json!({"__type": "com.amazon.coral.service#UnrecognizedClientException", "message": "The security token included in the request is invalid."}));
        let mut steps = Steps::new();
        let error = run_test(&scripted_client(&config, &transport), &config, &mut steps).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Auth);
        let steps = steps.into_steps();
        assert_eq!(steps.len(), 1);
        assert!(!steps[0].passed);
    }

    #[test]
    fn discover_pages_through_tables_and_splits_a_table_from_its_indexes() {
        let config = config(json!({"sample_size": 5}));
        let transport = Scripted::default();
        // Page 1 (size 3): a (1 object), b (3 objects: 2 fit).
        transport.answer_json(200, json!({"TableNames": ["a", "b", "c"]}));
        transport.answer_json(200, describe_answer("a", 0));
        transport.answer_json(200, scan_answer());
        transport.answer_json(200, describe_answer("b", 2));
        transport.answer_json(200, scan_answer());
        let client = scripted_client(&config, &transport);
        let first =
            discover_page(&client, &config, &discover_request(None, &[], 3), Deadline::after(Duration::from_secs(60)))
                .unwrap();
        assert_eq!(names(&first), ["a", "b", "b/g0"]);
        assert_eq!(first.schemas[0].name, "us-east-1");
        assert_eq!(first.next_page_token.as_deref(), Some("within:2:b"));
        // Page 2: the rest of b, then c; the listing ends.
        transport.answer_json(200, describe_answer("b", 2));
        transport.answer_json(200, scan_answer());
        transport.answer_json(200, json!({"TableNames": ["c"]}));
        transport.answer_json(200, describe_answer("c", 0));
        transport.answer_json(200, scan_answer());
        let second = discover_page(
            &client,
            &config,
            &discover_request(first.next_page_token.as_deref(), &[], 3),
            Deadline::after(Duration::from_secs(60)),
        )
        .unwrap();
        assert_eq!(names(&second), ["b/g1", "c"]);
        assert_eq!(second.next_page_token, None);
        let calls = transport.calls();
        assert_eq!(calls[0].1, json!({"Limit": 100}));
        assert_eq!(calls[2].1, json!({"TableName": "a", "Limit": 5}));
        assert_eq!(calls[7].1, json!({"Limit": 100, "ExclusiveStartTableName": "b"}));
    }

    #[test]
    fn a_full_page_ends_after_the_last_whole_table_and_the_prefix_filters() {
        let config = config(json!({"table_prefix": "app_"}));
        let transport = Scripted::default();
        transport
            .answer_json(200, json!({"TableNames": ["app_a", "other", "app_b"], "LastEvaluatedTableName": "app_b"}));
        transport.answer_json(200, describe_answer("app_a", 0));
        transport.answer_json(200, scan_answer());
        let client = scripted_client(&config, &transport);
        let page =
            discover_page(&client, &config, &discover_request(None, &[], 1), Deadline::after(Duration::from_secs(60)))
                .unwrap();
        assert_eq!(names(&page), ["app_a"]);
        assert_eq!(page.next_page_token.as_deref(), Some("after:other"));
        // Excluding the region's schema: nothing, no calls.
        let excluded = discover_page(
            &client,
            &config,
            &discover_request(None, &["us-east-1"], 10),
            Deadline::after(Duration::ZERO),
        )
        .unwrap();
        assert!(excluded.schemas.is_empty() && excluded.next_page_token.is_none());
        assert_eq!(transport.calls().len(), 3);
    }

    #[test]
    fn listing_is_bounded_per_page_and_scans_continue_to_the_sample_size() {
        let config = config(json!({"table_prefix": "zzz", "sample_size": 3}));
        let transport = Scripted::default();
        for i in 0..MAX_LIST_CALLS {
            transport
                .answer_json(200, json!({"TableNames": [format!("t{i}")], "LastEvaluatedTableName": format!("t{i}")}));
        }
        let client = scripted_client(&config, &transport);
        let page =
            discover_page(&client, &config, &discover_request(None, &[], 10), Deadline::after(Duration::from_secs(60)))
                .unwrap();
        assert!(page.schemas.is_empty());
        assert_eq!(page.next_page_token, Some(format!("after:t{}", MAX_LIST_CALLS - 1)));

        let config = Config { table_prefix: None, ..config };
        let transport = Scripted::default();
        transport.answer_json(200, json!({"TableNames": ["t"]}));
        transport.answer_json(200, describe_answer("t", 0));
        transport.answer_json(
            200,
            json!({"Items": [{"id": {"S": "a"}}, {"id": {"S": "b"}}], "LastEvaluatedKey": {"id": {"S": "b"}}}),
        );
        transport.answer_json(200, json!({"Items": [{"id": {"S": "c"}}], "LastEvaluatedKey": {"id": {"S": "c"}}}));
        let client = scripted_client(&config, &transport);
        let page =
            discover_page(&client, &config, &discover_request(None, &[], 10), Deadline::after(Duration::from_secs(60)))
                .unwrap();
        assert_eq!(names(&page), ["t"]);
        let calls = transport.calls();
        assert_eq!(calls[3].1, json!({"TableName": "t", "Limit": 1, "ExclusiveStartKey": {"id": {"S": "b"}}}));
        assert_eq!(calls.len(), 4);
        let comment = page.schemas[0].tables[0].comment.clone().unwrap();
        assert!(comment.contains("a Scan sample of 3 items of about 1;"), "{comment}");
    }

    #[test]
    fn a_vanished_table_is_skipped_and_a_forbidden_scan_leaves_the_keys() {
        let config = config(json!({}));
        let transport = Scripted::default();
        transport.answer_json(200, json!({"TableNames": ["gone", "locked"]}));
        transport.answer_json(400, json!({"__type": "x#ResourceNotFoundException", "message": "not found"}));
        transport.answer_json(200, describe_answer("locked", 0));
        transport.answer_json(400, json!({"__type": "x#AccessDeniedException", "message": "no dynamodb:Scan"}));
        let client = scripted_client(&config, &transport);
        let page =
            discover_page(&client, &config, &discover_request(None, &[], 10), Deadline::after(Duration::from_secs(60)))
                .unwrap();
        assert_eq!(names(&page), ["locked"]);
        let table = &page.schemas[0].tables[0];
        assert_eq!(table.columns.len(), 2);
        assert!(
            table
                .comment
                .as_deref()
                .unwrap()
                .contains("attributes not sampled: DynamoDB Scan failed: AccessDeniedException")
        );
    }

    #[test]
    fn the_time_budget_ends_a_page_early_with_a_token() {
        let config = config(json!({}));
        let transport = Scripted::default();
        transport.answer_json(200, json!({"TableNames": ["a", "b"]}));
        transport.answer_json(200, describe_answer("a", 0));
        transport.answer_json(200, scan_answer());
        let client = scripted_client(&config, &transport);
        // Out of time after the first table: the page holds it, the token goes on after it.
        let spent = Deadline::after(Duration::from_nanos(1));
        let page = discover_page(&client, &config, &discover_request(None, &[], 10), spent).unwrap();
        assert_eq!(names(&page), ["a"]);
        assert_eq!(page.next_page_token.as_deref(), Some("after:a"));
    }

    #[test]
    fn page_tokens_round_trip_and_garbage_is_a_config_error() {
        assert_eq!(Token::parse(Some("after:t.1")).unwrap(), Token::After("t.1".into()));
        assert_eq!(Token::parse(Some("within:3:a:b")).unwrap(), Token::Within("a:b".into(), 3));
        assert_eq!(Token::Within("x".into(), 2).render().as_deref(), Some("within:2:x"));
        for bad in ["", "after:", "within:x:t", "within:0:t", "within:3", "17"] {
            assert_eq!(Token::parse(Some(bad)).unwrap_err().kind, ErrorKind::Config, "{bad}");
        }
    }
}

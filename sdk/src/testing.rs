//! Requests for a connector's native unit tests, so each plugin does not
//! build its own: `connect_request("csv", &json!({"file_path": …}))`.

use crate::{ConnectRequest, DiscoverRequest};

/// A connect request for `source_type` with `config`, no secrets, no
/// endpoint (file sources) and one-second deadlines.
pub fn connect_request(source_type: &str, config: &serde_json::Value) -> ConnectRequest {
    ConnectRequest {
        source_type: source_type.to_owned(),
        config: config.to_string(),
        secrets: vec![],
        endpoint: None,
        connect_timeout_ms: 1000,
        query_timeout_ms: 1000,
    }
}

/// A discover request for one page of up to `page_size` tables.
pub fn discover_request(page_token: Option<&str>, exclude_schemas: &[&str], page_size: u32) -> DiscoverRequest {
    DiscoverRequest {
        include_schemas: vec![],
        exclude_schemas: exclude_schemas.iter().map(|s| (*s).to_owned()).collect(),
        page_token: page_token.map(str::to_owned),
        page_size,
    }
}

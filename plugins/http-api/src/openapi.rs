//! Endpoints from an OpenAPI document (3.x, and Swagger 2.0 alike): every
//! GET operation that can be called as it stands. Operations with path
//! parameters (`/users/{id}`) or required query parameters are skipped and
//! listed, since no value for them is known. Paths are taken relative to the
//! data source's `base_url` (the document's `servers` are not used: the
//! connector may only call the base URL's origin anyway).

use std::collections::HashSet;

use inlet_sdk::http::Method;

use crate::config::{Endpoint, MAX_ENDPOINTS};
use crate::json::{Json, escape};

/// Member names that usually hold the records of a list response.
const RECORD_KEYS: [&str; 8] = ["data", "items", "results", "records", "rows", "value", "entries", "content"];
/// `$ref` hops followed before giving up (a cycle, or a very long chain).
const MAX_REF_HOPS: usize = 16;

#[derive(Debug, PartialEq)]
pub struct Imported {
    pub endpoints: Vec<Endpoint>,
    /// `GET /users/{id}: a path parameter`, …
    pub skipped: Vec<String>,
    /// `OpenAPI 3.0.3`
    pub spec: String,
    /// `Pet Store 1.0.0`
    pub title: Option<String>,
}

pub fn import(doc: &Json) -> Result<Imported, String> {
    let spec = match (doc.get("openapi").and_then(Json::as_str), doc.get("swagger").and_then(Json::as_str)) {
        (Some(version), _) if version.starts_with("3.") => format!("OpenAPI {version}"),
        (_, Some(version)) if version.starts_with("2.") => format!("Swagger {version}"),
        (Some(version), _) => return Err(format!("OpenAPI {version} is not supported (3.x or Swagger 2.0)")),
        _ => return Err("the document is not OpenAPI: it has no `openapi` version".to_owned()),
    };
    let info = doc.get("info");
    let title = info.and_then(|i| i.get("title")).and_then(Json::as_str).map(str::trim).filter(|t| !t.is_empty());
    let version = info.and_then(|i| i.get("version")).and_then(Json::as_str).map(str::trim);
    let title = title.map(|t| match version {
        Some(v) if !v.is_empty() => format!("{t} {v}"),
        _ => t.to_owned(),
    });
    let Some(Json::Object(paths)) = doc.get("paths") else {
        return Err("the document has no `paths` object".to_owned());
    };
    let mut endpoints = Vec::new();
    let mut skipped = Vec::new();
    let mut names = HashSet::new();
    for (path, item) in paths {
        let item = resolve(doc, item);
        let Some(operation) = item.get("get").map(|op| resolve(doc, op)) else { continue };
        if !path.starts_with('/') {
            skipped.push(format!("GET {path}: not a path"));
            continue;
        }
        if let Some(start) = path.find('{') {
            let name = path[start + 1..].split('}').next().unwrap_or_default();
            skipped.push(format!("GET {path}: the path parameter `{name}` has no value"));
            continue;
        }
        let parameters = params(doc, item).chain(params(doc, operation));
        if let Some(reason) = parameters.filter_map(blocking).next() {
            skipped.push(format!("GET {path}: {reason}"));
            continue;
        }
        if endpoints.len() >= MAX_ENDPOINTS {
            skipped.push(format!("GET {path}: more than {MAX_ENDPOINTS} endpoints"));
            continue;
        }
        let base = operation.get("operationId").and_then(Json::as_str).map(sanitize).filter(|n| !n.is_empty());
        let name = unique(base.unwrap_or_else(|| name_from_path(path)), &mut names);
        let records = success_schema(doc, operation).and_then(|schema| records_pointer(doc, schema));
        endpoints.push(Endpoint { name, path: path.clone(), method: Method::Get, records, body: None });
    }
    Ok(Imported { endpoints, skipped, spec, title })
}

/// Follows local `$ref`s (`#/components/schemas/User`).
fn resolve<'a>(doc: &'a Json, mut value: &'a Json) -> &'a Json {
    for _ in 0..MAX_REF_HOPS {
        let Some(target) = value.get("$ref").and_then(Json::as_str) else { return value };
        match target.strip_prefix('#').and_then(|pointer| doc.pointer(pointer)) {
            Some(next) => value = next,
            None => return value,
        }
    }
    value
}

fn params<'a>(doc: &'a Json, holder: &'a Json) -> impl Iterator<Item = &'a Json> {
    let list: &[Json] = match holder.get("parameters") {
        Some(Json::Array(items, _)) => items,
        _ => &[],
    };
    list.iter().map(move |p| resolve(doc, p))
}

/// Why a parameter keeps the operation from being called as it stands.
fn blocking(parameter: &Json) -> Option<String> {
    let name = parameter.get("name").and_then(Json::as_str).unwrap_or("?");
    let required = matches!(parameter.get("required"), Some(Json::Bool(true)));
    match parameter.get("in").and_then(Json::as_str) {
        Some("path") => Some(format!("the path parameter `{name}` has no value")),
        Some("query" | "header") if required => Some(format!("the required parameter `{name}` has no value")),
        _ => None,
    }
}

/// The schema of the first 2xx JSON response (or `default`).
fn success_schema<'a>(doc: &'a Json, operation: &'a Json) -> Option<&'a Json> {
    let Some(Json::Object(responses)) = operation.get("responses") else { return None };
    let response = ["200", "2XX", "2xx", "201", "203", "206", "default"]
        .iter()
        .find_map(|status| responses.iter().find(|(s, _)| s == status).map(|(_, r)| resolve(doc, r)))?;
    // Swagger 2.0 puts the schema on the response itself.
    if let Some(schema) = response.get("schema") {
        return Some(resolve(doc, schema));
    }
    let Some(Json::Object(content)) = response.get("content") else { return None };
    let media = content
        .iter()
        .find(|(kind, _)| kind.starts_with("application/json"))
        .or_else(|| content.iter().find(|(kind, _)| kind.contains("json")))?;
    media.1.get("schema").map(|schema| resolve(doc, schema))
}

/// `None` for a top-level array; `/data` for an object whose records are
/// under `data` (the one array property, or the one with a usual name).
fn records_pointer(doc: &Json, schema: &Json) -> Option<String> {
    if is_array(schema) {
        return None;
    }
    let Some(Json::Object(properties)) = schema.get("properties") else { return None };
    let arrays: Vec<&String> =
        properties.iter().filter(|(_, property)| is_array(resolve(doc, property))).map(|(name, _)| name).collect();
    let chosen = match arrays.as_slice() {
        [one] => Some(*one),
        several => {
            RECORD_KEYS.iter().find_map(|usual| several.iter().find(|name| name.eq_ignore_ascii_case(usual))).copied()
        }
    }?;
    Some(format!("/{}", escape(chosen)))
}

fn is_array(schema: &Json) -> bool {
    schema.get("type").and_then(Json::as_str) == Some("array") || schema.get("items").is_some()
}

/// `listUsers` stays; `list users!` becomes `list_users`.
fn sanitize(text: &str) -> String {
    let mapped: String = text
        .trim()
        .chars()
        .map(|c| if c.is_alphanumeric() || matches!(c, '_' | '-' | '.') { c } else { '_' })
        .collect();
    mapped.trim_matches('_').to_owned()
}

/// `/v1/users/active` → `v1_users_active`; `/` → `root`.
fn name_from_path(path: &str) -> String {
    let name = sanitize(&path.replace(['/', '.'], "_"));
    if name.is_empty() { "root".to_owned() } else { name }
}

fn unique(name: String, used: &mut HashSet<String>) -> String {
    let mut candidate = name.clone();
    let mut n = 2;
    while !used.insert(candidate.clone()) {
        candidate = format!("{name}_{n}");
        n += 1;
    }
    candidate
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r##"{
      "openapi": "3.0.3",
      "info": {"title": "Shop", "version": "2.1"},
      "paths": {
        "/users": {"get": {"operationId": "listUsers", "responses": {"200": {"description": "ok",
            "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/User"}}}}}}},
            "post": {"operationId": "createUser"}},
        "/orders": {"get": {"responses": {"200": {"$ref": "#/components/responses/OrderPage"}}}},
        "/users/{id}": {"parameters": [{"name": "id", "in": "path", "required": true}], "get": {"operationId": "getUser"}},
        "/search": {"get": {"operationId": "search", "parameters": [{"$ref": "#/components/parameters/Q"}]}},
        "/reports/daily.json": {"get": {"parameters": [{"name": "limit", "in": "query"}],
            "responses": {"default": {"content": {"application/vnd.api+json": {"schema": {"type": "object",
              "properties": {"meta": {"type": "object"}, "links": {"type": "array"}, "data": {"type": "array"}}}}}}}}},
        "/health": {"get": {"operationId": "listUsers"}}
      },
      "components": {
        "schemas": {"User": {"type": "object"}, "Page": {"type": "object", "properties": {
            "total": {"type": "integer"}, "orders": {"$ref": "#/components/schemas/Orders"}}},
          "Orders": {"type": "array", "items": {"type": "object"}}},
        "responses": {"OrderPage": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Page"}}}}},
        "parameters": {"Q": {"name": "q", "in": "query", "required": true}}
      }
    }"##;

    fn endpoint(name: &str, path: &str, records: Option<&str>) -> Endpoint {
        Endpoint {
            name: name.into(),
            path: path.into(),
            method: Method::Get,
            records: records.map(str::to_owned),
            body: None,
        }
    }

    #[test]
    fn get_operations_become_endpoints() {
        let imported = import(&Json::parse(DOC.as_bytes()).unwrap()).unwrap();
        assert_eq!(imported.spec, "OpenAPI 3.0.3");
        assert_eq!(imported.title.as_deref(), Some("Shop 2.1"));
        assert_eq!(
            imported.endpoints,
            [
                endpoint("listUsers", "/users", None),
                endpoint("orders", "/orders", Some("/orders")),
                endpoint("reports_daily_json", "/reports/daily.json", Some("/data")),
                endpoint("listUsers_2", "/health", None),
            ]
        );
        assert_eq!(
            imported.skipped,
            [
                "GET /users/{id}: the path parameter `id` has no value",
                "GET /search: the required parameter `q` has no value"
            ]
        );
    }

    #[test]
    fn swagger_2_and_bad_documents() {
        let swagger = r#"{"swagger":"2.0","paths":{"/pets":{"get":{"responses":{"200":{"schema":{"type":"object",
            "properties":{"results":{"type":"array"},"errors":{"type":"array"}}}}}}}}}"#;
        let imported = import(&Json::parse(swagger.as_bytes()).unwrap()).unwrap();
        assert_eq!(imported.endpoints, [endpoint("pets", "/pets", Some("/results"))]);
        assert_eq!(imported.title, None);
        for (bad, message) in [
            (r#"{"openapi":"4.0","paths":{}}"#, "OpenAPI 4.0 is not supported"),
            (r#"{"paths":{}}"#, "the document is not OpenAPI"),
            (r#"{"openapi":"3.1.0"}"#, "the document has no `paths` object"),
        ] {
            let error = import(&Json::parse(bad.as_bytes()).unwrap()).unwrap_err();
            assert!(error.starts_with(message), "{error}");
        }
    }

    #[test]
    fn names_and_ref_cycles() {
        assert_eq!(name_from_path("/"), "root");
        assert_eq!(name_from_path("/v1/users/"), "v1_users");
        assert_eq!(sanitize(" list users! "), "list_users");
        let cycle = Json::parse(br##"{"a":{"$ref":"#/b"},"b":{"$ref":"#/a"}}"##).unwrap();
        let a = cycle.get("a").unwrap();
        // Gives up after a bounded number of hops.
        assert!(resolve(&cycle, a).get("$ref").is_some());
    }
}

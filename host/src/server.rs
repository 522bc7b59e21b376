//! The HTTP server. Until the REST API lands it answers `/healthz` with the
//! plugins it loaded.

use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

/// A loaded plugin as `/healthz` reports it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PluginSummary {
    pub id: String,
    pub version: String,
    pub api_version: String,
    pub types: Vec<String>,
    pub sha256: String,
}

pub fn router(plugins: Arc<Vec<PluginSummary>>) -> Router {
    Router::new().route("/healthz", get(move || healthz(plugins.clone())))
}

async fn healthz(plugins: Arc<Vec<PluginSummary>>) -> Json<Value> {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION"), "plugins": &*plugins }))
}

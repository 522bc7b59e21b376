//! The OpenAPI 3.1 document, generated from the handlers' annotations, plus
//! what every operation shares: bearer auth and the error answers that any
//! request can get before its handler runs.

use utoipa::OpenApi;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};

use super::error::ErrorBody;

#[derive(OpenApi)]
#[openapi(
    info(title = "Inlet", description = "Data source connections through sandboxed WebAssembly connectors"),
    paths(
        super::data_sources::list,
        super::data_sources::create,
        super::data_sources::get,
        super::data_sources::update,
        super::data_sources::delete,
        super::data_sources::update_credentials,
        super::data_sources::test,
        super::data_sources::discover,
        super::data_sources::schemas,
        super::reading::preview,
        super::reading::query,
        super::data_sources::health,
        super::data_sources::metrics,
        super::data_sources::types,
        super::files::file_url,
        super::files::download,
        super::storage::upload,
        super::storage::list,
        super::storage::get,
        super::storage::delete,
        super::alert_channels::create,
        super::alert_channels::list,
        super::alert_channels::get,
        super::alert_channels::update,
        super::alert_channels::delete,
        super::alert_channels::test,
        super::alert_channels::deliveries,
        super::events::list,
        super::plugins::list,
        super::plugins::get,
        super::plugins::install,
        super::plugins::upgrade,
        super::plugins::enable,
        super::plugins::disable,
        super::plugins::uninstall,
        super::plugins::audit,
        super::plugins::org_list,
        super::plugins::org_switch,
        super::organization::get,
        super::organization::patch,
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerAuth, &CommonErrors),
    security(("bearer" = [])),
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Errors that the extractors and middleware give for any operation: bad
/// query or path (including NUL characters), a missing or invalid token;
/// for operations with a body also 413 (over 1 MiB) and 415 (not JSON).
struct CommonErrors;

impl utoipa::Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
            for operation in operations.into_iter().flatten() {
                add_common_errors(operation);
            }
        }
    }
}

fn add_common_errors(operation: &mut Operation) {
    let mut errors =
        vec![("400", "Malformed query, path or body"), ("401", "Missing, invalid or expired bearer token")];
    if operation.request_body.is_some() {
        errors.push(("413", "Request body over 1 MiB"));
        errors.push(("415", "Request body is not application/json"));
    }
    for (status, description) in errors {
        operation.responses.responses.entry(status.to_owned()).or_insert_with(|| {
            let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
            RefOr::T(ResponseBuilder::new().description(description).content("application/json", content).build())
        });
    }
}

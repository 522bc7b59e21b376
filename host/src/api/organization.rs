//! `GET` and `PATCH /api/v1/organization/settings`: the caller's
//! organization's own switches. The rules (who may change them, what they
//! mean) live in `core::organizations`.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::ApiResult;
use super::extract::{ApiJson, Auth};
use crate::core::organizations::{OrgSettings, OrgSettingsChange};

/// An organization's settings.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrgSettingsBody {
    /// Whether members and admins may run queries (`POST /data-sources/{id}/query`);
    /// previews stay open either way. Default true.
    pub querying: bool,
}

/// A change to the settings; an absent field stays as it is.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgSettingsPatch {
    pub querying: Option<bool>,
}

impl From<OrgSettings> for OrgSettingsBody {
    fn from(settings: OrgSettings) -> Self {
        Self { querying: settings.querying }
    }
}

#[utoipa::path(get, path = "/api/v1/organization/settings", tag = "organization",
    responses((status = 200, body = OrgSettingsBody), (status = 401, body = super::error::ErrorBody),
              (status = 403, body = super::error::ErrorBody)))]
pub async fn get(State(state): State<AppState>, Auth(principal): Auth) -> ApiResult<Json<OrgSettingsBody>> {
    Ok(Json(state.org_settings(&principal).await?.into()))
}

#[utoipa::path(patch, path = "/api/v1/organization/settings", tag = "organization",
    request_body = OrgSettingsPatch,
    responses((status = 200, body = OrgSettingsBody), (status = 400, body = super::error::ErrorBody),
              (status = 401, body = super::error::ErrorBody),
              (status = 403, description = "Not an organization admin", body = super::error::ErrorBody)))]
pub async fn patch(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(body): ApiJson<OrgSettingsPatch>,
) -> ApiResult<Json<OrgSettingsBody>> {
    let change = OrgSettingsChange { querying: body.querying };
    Ok(Json(state.change_org_settings(&principal, change).await?.into()))
}

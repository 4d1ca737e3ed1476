//! CAD variables of an interaction: `GET /api/v1/interactions/{id}/cad` lists them and
//! `PATCH /api/v1/interactions/{id}/cad` changes one.
//!
//! A PATCH names the `version` it read; if another write came first it is a 409 whose
//! `error.current` holds the variable as it now is. Values longer than 256 characters are 422
//! naming `value`; variables not marked editable are 403. Secure values are shown as
//! [`MASK`] to every role not listed in the org setting `secure_cad_roles` (default: admin),
//! and such roles cannot change them either.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::ApiState;
use super::auth::Principal;
use super::command_events::{Concerning, reported, succeeded};
use super::error::ApiError;
use super::interactions::visible;
use super::json::ApiJson;
use super::params::ApiPath;
use crate::routing::model::Role;
use crate::store::{CadUpdate, CadVariable};

/// What a secure value looks like to a role that may not see it.
pub const MASK: &str = "••••";

/// The routes of this resource.
pub(super) fn routes() -> Router<ApiState> {
    Router::new().route("/api/v1/interactions/{id}/cad", get(list).patch(change))
}

/// A change to one CAD variable.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CadPatch {
    /// The variable's key.
    pub key: String,
    /// The new value, at most 256 characters.
    pub value: String,
    /// The version the client last read.
    pub version: i64,
}

fn masked(mut var: CadVariable, may_see_secure: bool) -> CadVariable {
    if var.secure && !may_see_secure {
        var.value = MASK.to_owned();
    }
    var
}

async fn may_see_secure(state: &ApiState, role: Role) -> Result<bool, ApiError> {
    Ok(state
        .store
        .get_settings()
        .await?
        .secure_cad_roles
        .contains(&role))
}

/// The interaction's CAD variables in display order, secure values masked as the org
/// settings require (any role, within scope).
#[utoipa::path(get, path = "/api/v1/interactions/{id}/cad", tag = "interactions",
    params(("id" = String, Path)),
    responses((status = 200, body = Vec<CadVariable>), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub(super) async fn list(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Vec<CadVariable>>, ApiError> {
    let ix = visible(&state, &principal, &id).await?;
    let see = may_see_secure(&state, principal.role).await?;
    let vars = state.store.list_cad(&ix.id).await?;
    Ok(Json(vars.into_iter().map(|v| masked(v, see)).collect()))
}

/// Changes one CAD variable if `version` is current (any role, within scope).
#[utoipa::path(patch, path = "/api/v1/interactions/{id}/cad", tag = "interactions",
    params(("id" = String, Path)), request_body = CadPatch,
    responses((status = 200, body = CadVariable), (status = 403), (status = 404),
        (status = 409, description = "stale version; error.current holds the variable"),
        (status = 422)),
    security(("bearer" = [])))]
pub(super) async fn change(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(patch): ApiJson<CadPatch>,
) -> Result<Json<CadVariable>, ApiError> {
    let result = async {
        let ix = visible(&state, &principal, &id).await?;
        if patch.value.chars().count() > CadVariable::MAX_VALUE_CHARS {
            return Err::<Json<CadVariable>, _>(ApiError::field(
                "value",
                format!("at most {} characters", CadVariable::MAX_VALUE_CHARS),
            ));
        }
        let var = state
            .store
            .get_cad_variable(&ix.id, &patch.key)
            .await?
            .ok_or_else(|| ApiError::field("key", "no such CAD variable on this interaction"))?;
        let see = may_see_secure(&state, principal.role).await?;
        if !var.editable || (var.secure && !see) {
            return Err::<Json<CadVariable>, _>(ApiError::Forbidden);
        }
        match state
            .store
            .update_cad_value(&ix.id, &patch.key, &patch.value, patch.version)
            .await?
        {
            CadUpdate::Updated(var) => Ok(Json(masked(var, see))),
            CadUpdate::Stale(current) => Err(ApiError::Conflict {
                message: format!(
                    "version {} is stale; the variable is at version {}",
                    patch.version, current.version
                ),
                field: Some("version".into()),
                current: serde_json::to_value(masked(current, see)).ok(),
                reason: Some("stale_version"),
            }),
            CadUpdate::NotFound => Err(ApiError::NotFound),
        }
    }
    .await;
    let about = Concerning::Interaction(&id);
    let done = reported(&state, &principal, "interaction.cad", about, result).await?;
    // Everyone the event reaches may not see a secure value, so it never carries one.
    let mut data = json!({"key": done.key, "version": done.version, "secure": done.secure});
    if !done.secure {
        data["value"] = json!(done.value);
    }
    succeeded(&state, &principal, "interaction.cad_changed", about, data).await?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use axum::http::{Method, StatusCode};
    use serde_json::json;

    use super::MASK;
    use crate::cti::interactions::tests::cast;
    use crate::store::CadVariable;

    const CAD: &str = "/api/v1/interactions/ix-a/cad";

    fn var(key: &str, value: &str, editable: bool, secure: bool) -> CadVariable {
        CadVariable {
            key: key.into(),
            value: value.into(),
            editable,
            secure,
            display_order: 0,
            version: 1,
        }
    }

    async fn seeded() -> super::super::interactions::tests::Cast {
        let c = cast().await;
        let ix = "ix-a".into();
        let store = c.api.store();
        store
            .set_cad_variable(&ix, &var("account", "42", true, false))
            .await
            .unwrap();
        store
            .set_cad_variable(&ix, &var("card", "4111111111111111", true, true))
            .await
            .unwrap();
        store
            .set_cad_variable(&ix, &var("tier", "gold", false, false))
            .await
            .unwrap();
        c
    }

    #[tokio::test]
    async fn a_257_character_value_is_422_naming_value() {
        let c = seeded().await;
        let body = json!({"key": "account", "value": "x".repeat(257), "version": 1}).to_string();
        let (status, json) = c
            .api
            .call(Method::PATCH, CAD, Some(&c.alice), Some(&body))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{json}");
        assert_eq!(json["error"]["field"], "value");
        let body = json!({"key": "account", "value": "é".repeat(256), "version": 1}).to_string();
        let (status, json) = c
            .api
            .call(Method::PATCH, CAD, Some(&c.alice), Some(&body))
            .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "256 characters fit, whatever their bytes: {json}"
        );
    }

    #[tokio::test]
    async fn a_stale_version_is_409_with_the_current_values() {
        let c = seeded().await;
        let body = json!({"key": "account", "value": "43", "version": 1}).to_string();
        let (status, json) = c
            .api
            .call(Method::PATCH, CAD, Some(&c.alice), Some(&body))
            .await;
        assert_eq!(status, StatusCode::OK, "{json}");
        assert_eq!(
            (&json["value"], &json["version"]),
            (&"43".into(), &2.into())
        );
        let body = json!({"key": "account", "value": "44", "version": 1}).to_string();
        let (status, json) = c
            .api
            .call(Method::PATCH, CAD, Some(&c.alice), Some(&body))
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{json}");
        assert_eq!(json["error"]["field"], "version");
        assert_eq!(json["error"]["current"]["value"], "43");
        assert_eq!(json["error"]["current"]["version"], 2);
    }

    #[tokio::test]
    async fn secure_values_are_masked_for_agents_but_visible_to_admins() {
        let c = seeded().await;
        let (status, json) = c.api.call(Method::GET, CAD, Some(&c.alice), None).await;
        assert_eq!(status, StatusCode::OK);
        let card = json
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["key"] == "card")
            .unwrap();
        assert_eq!(card["value"], MASK);
        assert!(!json.to_string().contains("4111"));
        let (_, json) = c.api.call(Method::GET, CAD, Some(&c.root), None).await;
        let card = json
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["key"] == "card")
            .unwrap();
        assert_eq!(card["value"], "4111111111111111");

        let body = json!({"key": "card", "value": "0000", "version": 1}).to_string();
        let (status, _) = c
            .api
            .call(Method::PATCH, CAD, Some(&c.alice), Some(&body))
            .await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "a value you cannot see you cannot change"
        );

        let allow = r#"{"secure_cad_roles": ["admin", "supervisor"]}"#;
        let (status, _) = c
            .api
            .call(Method::PUT, "/api/v1/settings", Some(&c.root), Some(allow))
            .await;
        assert_eq!(status, StatusCode::OK);
        let (_, json) = c.api.call(Method::GET, CAD, Some(&c.sue), None).await;
        assert!(json.to_string().contains("4111111111111111"), "{json}");
    }

    #[tokio::test]
    async fn non_editable_variables_and_other_agents_interactions_are_403() {
        let c = seeded().await;
        let body = json!({"key": "tier", "value": "platinum", "version": 1}).to_string();
        let (status, _) = c
            .api
            .call(Method::PATCH, CAD, Some(&c.alice), Some(&body))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = c.api.call(Method::GET, CAD, Some(&c.bob), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let body = json!({"key": "nope", "value": "1", "version": 1}).to_string();
        let (status, json) = c
            .api
            .call(Method::PATCH, CAD, Some(&c.alice), Some(&body))
            .await;
        assert_eq!(
            (status, &json["error"]["field"]),
            (StatusCode::UNPROCESSABLE_ENTITY, &"key".into())
        );
    }
}

//! Organisation settings: `GET /api/v1/settings` (supervisor) and `PUT /api/v1/settings`
//! (admin). A PUT may name only some settings; the others keep their current values.

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use super::ApiState;
use super::auth::Principal;
use super::error::ApiError;
use super::json::{ApiJson, decode};
use crate::routing::model::Role;
use crate::store::OrgSettings;

/// Longest wrap-up, data-shield pause or RONA timeout an admin may set: one hour.
const MAX_SECONDS: u32 = 3600;
/// Most attempts at one callback an admin may set.
const MAX_CALLBACK_ATTEMPTS: u32 = 10;
/// Longest CAD key.
const MAX_CAD_KEY_LEN: usize = 64;

/// The routes of this resource.
pub(super) fn routes() -> Router<ApiState> {
    Router::new().route("/api/v1/settings", get(read).put(update))
}

fn check(s: &OrgSettings) -> Result<(), ApiError> {
    for (field, value, min) in [
        ("data_shield_pause_seconds", s.data_shield_pause_seconds, 0),
        ("wrap_up_max_seconds", s.wrap_up_max_seconds, 1),
        ("rona_timeout_seconds", s.rona_timeout_seconds, 1),
        ("callback_retry_seconds", s.callback_retry_seconds, 1),
    ] {
        if !(min..=MAX_SECONDS).contains(&value) {
            return Err(ApiError::field(
                field,
                format!("must be {min} to {MAX_SECONDS}"),
            ));
        }
    }
    if !(1..=MAX_CALLBACK_ATTEMPTS).contains(&s.callback_max_attempts) {
        return Err(ApiError::field(
            "callback_max_attempts",
            format!("must be 1 to {MAX_CALLBACK_ATTEMPTS}"),
        ));
    }
    if s.offered_cad_keys.len() > OrgSettings::MAX_OFFERED_CAD_KEYS {
        return Err(ApiError::field(
            "offered_cad_keys",
            format!("at most {} keys", OrgSettings::MAX_OFFERED_CAD_KEYS),
        ));
    }
    for (i, key) in s.offered_cad_keys.iter().enumerate() {
        if key.is_empty() || key.len() > MAX_CAD_KEY_LEN {
            return Err(ApiError::field(
                format!("offered_cad_keys[{i}]"),
                format!("must be 1 to {MAX_CAD_KEY_LEN} bytes"),
            ));
        }
        if s.offered_cad_keys[..i].contains(key) {
            return Err(ApiError::field(
                format!("offered_cad_keys[{i}]"),
                "listed twice",
            ));
        }
    }
    Ok(())
}

/// The current settings (supervisor).
#[utoipa::path(get, path = "/api/v1/settings", tag = "admin",
    responses((status = 200, body = OrgSettings), (status = 403)), security(("bearer" = [])))]
pub(super) async fn read(
    State(state): State<ApiState>,
    principal: Principal,
) -> Result<Json<OrgSettings>, ApiError> {
    principal.require(Role::Supervisor)?;
    Ok(Json(state.store.get_settings().await?))
}

/// Changes the named settings (admin).
#[utoipa::path(put, path = "/api/v1/settings", tag = "admin", request_body = OrgSettings,
    responses((status = 200, body = OrgSettings), (status = 403), (status = 422)),
    security(("bearer" = [])))]
pub(super) async fn update(
    State(state): State<ApiState>,
    principal: Principal,
    ApiJson(changes): ApiJson<Value>,
) -> Result<Json<OrgSettings>, ApiError> {
    principal.require(Role::Admin)?;
    let Value::Object(changes) = changes else {
        return Err(ApiError::field("body", "must be a JSON object"));
    };
    let mut merged = state.store.settings_json().await?;
    merged.extend(changes);
    // Re-read strictly so unknown keys and wrong types are named like any other body's.
    let bytes = Bytes::from(Value::Object(merged).to_string());
    let settings: OrgSettings = decode(&bytes)?;
    check(&settings)?;
    state.store.put_settings(&settings).await?;
    if let Some(core) = &state.core {
        core.settings_changed(settings.clone());
    }
    let routing = crate::center::routing_settings(&settings);
    state
        .reconfigure(crate::routing::Command::SetOrgSettings(routing))
        .await?;
    Ok(Json(settings))
}

#[cfg(test)]
mod tests {
    use axum::http::{Method, StatusCode};

    use crate::cti::test_support::Api;
    use crate::routing::model::Role;

    const SETTINGS: &str = "/api/v1/settings";

    #[tokio::test]
    async fn settings_default_then_change_only_the_named_keys() {
        let api = Api::new().await;
        let admin = api.agent("root", Role::Admin, None).await;
        let sup = api.agent("sue", Role::Supervisor, None).await;
        let (status, json) = api.call(Method::GET, SETTINGS, Some(&sup), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json["noise_suppression"], true);
        assert_eq!(json["secure_cad_roles"], serde_json::json!(["admin"]));

        let body = r#"{"offered_cad_keys": ["account", "tier"], "rona_timeout_seconds": 20}"#;
        let (status, json) = api
            .call(Method::PUT, SETTINGS, Some(&admin), Some(body))
            .await;
        assert_eq!(status, StatusCode::OK, "{json}");
        assert_eq!(
            json["noise_suppression"], true,
            "unnamed keys keep their values"
        );
        let (_, json) = api.call(Method::GET, SETTINGS, Some(&sup), None).await;
        assert_eq!(json["rona_timeout_seconds"], 20);
        assert_eq!(json["offered_cad_keys"][1], "tier");
        let (status, _) = api
            .call(Method::PUT, SETTINGS, Some(&sup), Some("{}"))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }

    #[tokio::test]
    async fn bad_settings_are_422s_naming_the_key() {
        let api = Api::new().await;
        let admin = api.agent("root", Role::Admin, None).await;
        let cases = [
            (
                r#"{"offered_cad_keys": ["a", "b", "c", "d", "e", "f", "g"]}"#,
                "offered_cad_keys",
                "invalid_field",
            ),
            (
                r#"{"offered_cad_keys": ["a", "a"]}"#,
                "offered_cad_keys[1]",
                "invalid_field",
            ),
            (
                r#"{"wrap_up_max_seconds": 0}"#,
                "wrap_up_max_seconds",
                "invalid_field",
            ),
            (
                r#"{"noise_suppression": "on"}"#,
                "noise_suppression",
                "invalid_field",
            ),
            (
                r#"{"secure_cad_roles": ["janitor"]}"#,
                "secure_cad_roles[0]",
                "invalid_field",
            ),
            (
                r#"{"noise_supression": false}"#,
                "noise_supression",
                "unknown_field",
            ),
        ];
        for (body, field, code) in cases {
            let (status, json) = api
                .call(Method::PUT, SETTINGS, Some(&admin), Some(body))
                .await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {json}");
            assert_eq!(json["error"]["field"], field, "{body}: {json}");
            assert_eq!(json["error"]["code"], code, "{body}: {json}");
        }
    }
}

//! DIDs (numbers trunks deliver calls to, and the internal number each reaches):
//! `GET /api/v1/dids` (supervisor) lists the profile's and the database's;
//! `POST /api/v1/dids` adds one to the database and `DELETE /api/v1/dids/{number}` removes
//! it (admin). The number in the path may take any form the DID is matched in (`+` is a
//! plain character in a path; `%2B` works too): `0123450000` removes `+33123450000` in
//! France. Profile DIDs cannot be shadowed or removed here (409 naming `number`). Each write
//! is applied to the running switch before the answer (see `trunks`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::ApiState;
use super::auth::Principal;
use super::error::ApiError;
use super::json::ApiJson;
use super::params::ApiPath;
use super::trunks::{apply, check, defined_in_profile, profile_then_stored};
use crate::call::trunks::did_key;
use crate::config::DidSettings;
use crate::routing::model::Role;

/// Longest DID or internal number.
const MAX_NUMBER_CHARS: usize = 32;

/// The routes of this resource.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/dids", get(list).post(create))
        .route("/api/v1/dids/{number}", delete(remove))
}

/// A DID to add.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DidBody {
    /// As the carrier sends it (`+33123450000`, `0123450000`); matched in E.164 when it
    /// parses under the profile's number plan.
    pub number: String,
    /// The queue number or extension it reaches, or an external number it is forwarded to
    /// through the outbound routes.
    pub to: String,
}

/// A DID and where it goes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DidView {
    pub number: String,
    pub to: String,
    /// `profile` (read-only here) or `database`.
    pub source: &'static str,
}

impl DidView {
    fn new(did: &DidSettings, source: &'static str) -> DidView {
        DidView {
            number: did.number.clone(),
            to: did.to.clone(),
            source,
        }
    }
}

/// A number as a SIP URI's user part carries it: no separator, quote or control character.
fn number(field: &str, value: &str) -> Result<(), ApiError> {
    let bad = |c: char| c.is_control() || c.is_whitespace() || "@:;<>\"\\?&".contains(c);
    if value.is_empty() || value.chars().count() > MAX_NUMBER_CHARS || value.chars().any(bad) {
        return Err(ApiError::field(
            field,
            format!(
                "must be 1 to {MAX_NUMBER_CHARS} characters without spaces, separators or \
                 quotes"
            ),
        ));
    }
    Ok(())
}

/// The profile's DIDs and the stored ones (supervisor).
#[utoipa::path(get, path = "/api/v1/dids", tag = "admin",
    responses((status = 200, body = Vec<DidView>), (status = 403)),
    security(("bearer" = [])))]
pub(super) async fn list(
    State(state): State<ApiState>,
    principal: Principal,
) -> Result<Json<Vec<DidView>>, ApiError> {
    principal.require(Role::Supervisor)?;
    let stored = state.store.list_dids().await?;
    let profile = &state.profile_trunks.dialing.dids;
    Ok(Json(profile_then_stored(profile, &stored, DidView::new)))
}

/// Adds a DID and applies it (admin).
#[utoipa::path(post, path = "/api/v1/dids", tag = "admin", request_body = DidBody,
    responses((status = 201, body = DidView), (status = 403), (status = 409), (status = 422),
        (status = 503)),
    security(("bearer" = [])))]
pub(super) async fn create(
    State(state): State<ApiState>,
    principal: Principal,
    ApiJson(body): ApiJson<DidBody>,
) -> Result<(StatusCode, Json<DidView>), ApiError> {
    principal.require(Role::Admin)?;
    number("number", &body.number)?;
    number("to", &body.to)?;
    let did = DidSettings {
        number: body.number,
        to: body.to,
    };
    let _writing = state.trunk_writes.lock().await;
    let dialing = &state.profile_trunks.dialing;
    let plan = dialing.number_plan();
    let key = did_key(&plan, &did.number);
    if dialing
        .dids
        .iter()
        .any(|d| did_key(&plan, &d.number) == key)
    {
        return Err(defined_in_profile("number", "this DID"));
    }
    let mut stored = state.store.stored_trunks().await?;
    if stored.dids.iter().any(|d| did_key(&plan, &d.number) == key) {
        return Err(ApiError::conflict("this DID exists", Some("number")));
    }
    stored.dids.push(did.clone());
    check(&state, &stored)?;
    state.store.create_did(&did).await?;
    apply(&state).await?;
    Ok((StatusCode::CREATED, Json(DidView::new(&did, "database"))))
}

/// Removes a stored DID, given in any form it is matched in, and applies it (admin).
#[utoipa::path(delete, path = "/api/v1/dids/{number}", tag = "admin",
    params(("number" = String, Path)),
    responses((status = 204), (status = 403), (status = 404), (status = 409), (status = 503)),
    security(("bearer" = [])))]
pub(super) async fn remove(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(number): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Role::Admin)?;
    let _writing = state.trunk_writes.lock().await;
    let dialing = &state.profile_trunks.dialing;
    let plan = dialing.number_plan();
    let key = did_key(&plan, &number);
    if dialing
        .dids
        .iter()
        .any(|d| did_key(&plan, &d.number) == key)
    {
        return Err(defined_in_profile("number", "this DID"));
    }
    let stored = state.store.list_dids().await?;
    let Some(did) = stored.iter().find(|d| did_key(&plan, &d.number) == key) else {
        return Err(ApiError::NotFound);
    };
    if !state.store.delete_did(&did.number).await? {
        return Err(ApiError::NotFound);
    }
    apply(&state).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use axum::http::{Method, StatusCode};
    use serde_json::json;

    use crate::config::{DidSettings, ProfileTrunks};
    use crate::cti::test_support::{Api, token_for_role};
    use crate::routing::model::Role;

    /// An API whose profile has DID +33123450000 to 7000.
    async fn api() -> (Api, String) {
        let mut api = Api::new().await;
        let mut profile = ProfileTrunks::default();
        profile.dialing.dids.push(DidSettings {
            number: "+33123450000".into(),
            to: "7000".into(),
        });
        api.state = api.state.clone().with_profile_trunks(profile);
        let admin = token_for_role(api.store(), Role::Admin).await;
        (api, admin)
    }

    #[tokio::test]
    async fn an_admin_adds_lists_and_removes_a_did_in_any_form_of_its_number() {
        let (api, admin) = api().await;
        let body = json!({"number": "+33123450001", "to": "7001"});
        let (status, view) = api
            .json(Method::POST, "/api/v1/dids", &admin, Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{view}");
        assert_eq!(
            view,
            json!({"number": "+33123450001", "to": "7001", "source": "database"})
        );
        // The national form is the same DID.
        let again = json!({"number": "01 23 45 00 01", "to": "7002"});
        let (status, error) = api
            .json(Method::POST, "/api/v1/dids", &admin, Some(again))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "spaces: {error}");
        let again = json!({"number": "0123450001", "to": "7002"});
        let (status, error) = api
            .json(Method::POST, "/api/v1/dids", &admin, Some(again))
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{error}");
        assert_eq!(error["error"]["field"], "number");

        let supervisor = token_for_role(api.store(), Role::Supervisor).await;
        let (status, list) = api
            .json(Method::GET, "/api/v1/dids", &supervisor, None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(list[0]["source"], "profile", "{list}");
        assert_eq!(list[1]["number"], "+33123450001", "{list}");

        for expected in [StatusCode::NO_CONTENT, StatusCode::NOT_FOUND] {
            let (status, _) = api
                .json(Method::DELETE, "/api/v1/dids/0123450001", &admin, None)
                .await;
            assert_eq!(status, expected);
        }
        assert!(api.store().list_dids().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn profile_dids_cannot_be_shadowed_or_removed() {
        let (api, admin) = api().await;
        let body = json!({"number": "0123450000", "to": "7001"});
        let (status, error) = api
            .json(Method::POST, "/api/v1/dids", &admin, Some(body))
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{error}");
        assert_eq!(error["error"]["field"], "number");
        let (status, error) = api
            .json(Method::DELETE, "/api/v1/dids/%2B33123450000", &admin, None)
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{error}");
        assert_eq!(error["error"]["field"], "number");
    }

    #[tokio::test]
    async fn bad_dids_are_refused_naming_the_field_and_only_admins_write() {
        let (api, admin) = api().await;
        for (body, field) in [
            (json!({"number": "", "to": "7000"}), "number"),
            (json!({"number": "+331234", "to": "sip:x@y"}), "to"),
            (json!({"number": "+331234", "to": "70 00"}), "to"),
            (json!({"number": "+331234"}), "to"),
            (json!({"number": "+331234", "to": "7000", "x": 1}), "x"),
        ] {
            let (status, error) = api
                .json(Method::POST, "/api/v1/dids", &admin, Some(body))
                .await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
            assert_eq!(error["error"]["field"], field, "{error}");
        }
        let supervisor = token_for_role(api.store(), Role::Supervisor).await;
        let body = json!({"number": "+331234", "to": "7000"});
        let (status, _) = api
            .json(Method::POST, "/api/v1/dids", &supervisor, Some(body))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let agent = token_for_role(api.store(), Role::Agent).await;
        let (status, _) = api.json(Method::GET, "/api/v1/dids", &agent, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
}

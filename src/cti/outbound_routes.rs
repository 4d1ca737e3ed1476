//! Outbound routes (an E.164 prefix and the trunks to try, in order; the longest matching
//! prefix wins): `GET /api/v1/routes` (supervisor) lists the profile's and the database's;
//! `POST /api/v1/routes` adds one to the database and `DELETE /api/v1/routes/{prefix}`
//! removes it (admin; `+` is a plain character in a path, so `/api/v1/routes/+44` works, as
//! does `%2B44`). To change a route, remove it and add it again. A route may name only
//! trunks with gateways (422 naming `trunks`); profile routes cannot be shadowed or removed
//! here (409 naming `prefix`). Each write is applied to the running switch before the
//! answer (see `trunks`).

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
use crate::config::RouteSettings;
use crate::routing::model::Role;

/// Longest prefix: `+` and the 15 digits of the longest E.164 number.
const MAX_PREFIX_CHARS: usize = 16;
/// Most trunks one route tries.
const MAX_TRUNKS: usize = 16;

/// The routes of this resource.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/routes", get(list).post(create))
        .route("/api/v1/routes/{prefix}", delete(remove))
}

/// A route to add.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteBody {
    /// `+` and digits; `+` alone matches every number.
    pub prefix: String,
    /// Names of trunks with gateways, tried in order.
    pub trunks: Vec<String>,
}

/// A route.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RouteView {
    pub prefix: String,
    pub trunks: Vec<String>,
    /// `profile` (read-only here) or `database`.
    pub source: &'static str,
}

impl RouteView {
    fn new(route: &RouteSettings, source: &'static str) -> RouteView {
        RouteView {
            prefix: route.prefix.clone(),
            trunks: route.trunks.clone(),
            source,
        }
    }
}

fn is_profile_route(state: &ApiState, prefix: &str) -> bool {
    let routes = &state.profile_trunks.dialing.routes;
    routes.iter().any(|r| r.prefix == prefix)
}

/// The profile's routes and the stored ones (supervisor).
#[utoipa::path(get, path = "/api/v1/routes", tag = "admin",
    responses((status = 200, body = Vec<RouteView>), (status = 403)),
    security(("bearer" = [])))]
pub(super) async fn list(
    State(state): State<ApiState>,
    principal: Principal,
) -> Result<Json<Vec<RouteView>>, ApiError> {
    principal.require(Role::Supervisor)?;
    let stored = state.store.list_routes().await?;
    let profile = &state.profile_trunks.dialing.routes;
    Ok(Json(profile_then_stored(profile, &stored, RouteView::new)))
}

/// Adds a route and applies it (admin).
#[utoipa::path(post, path = "/api/v1/routes", tag = "admin", request_body = RouteBody,
    responses((status = 201, body = RouteView), (status = 403), (status = 409), (status = 422),
        (status = 503)),
    security(("bearer" = [])))]
pub(super) async fn create(
    State(state): State<ApiState>,
    principal: Principal,
    ApiJson(body): ApiJson<RouteBody>,
) -> Result<(StatusCode, Json<RouteView>), ApiError> {
    principal.require(Role::Admin)?;
    if body.prefix.len() > MAX_PREFIX_CHARS {
        return Err(ApiError::field(
            "prefix",
            "must be '+' and at most 15 digits",
        ));
    }
    if body.trunks.len() > MAX_TRUNKS {
        return Err(ApiError::field("trunks", format!("at most {MAX_TRUNKS}")));
    }
    let route = RouteSettings {
        prefix: body.prefix,
        trunks: body.trunks,
    };
    let _writing = state.trunk_writes.lock().await;
    if is_profile_route(&state, &route.prefix) {
        return Err(defined_in_profile("prefix", "a route with this prefix"));
    }
    let mut stored = state.store.stored_trunks().await?;
    if stored.routes.iter().any(|r| r.prefix == route.prefix) {
        return Err(ApiError::conflict(
            "a route with this prefix exists",
            Some("prefix"),
        ));
    }
    stored.routes.push(route.clone());
    check(&state, &stored)?;
    state.store.create_route(&route).await?;
    apply(&state).await?;
    Ok((
        StatusCode::CREATED,
        Json(RouteView::new(&route, "database")),
    ))
}

/// Removes a stored route and applies it (admin).
#[utoipa::path(delete, path = "/api/v1/routes/{prefix}", tag = "admin",
    params(("prefix" = String, Path)),
    responses((status = 204), (status = 403), (status = 404), (status = 409), (status = 503)),
    security(("bearer" = [])))]
pub(super) async fn remove(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(prefix): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Role::Admin)?;
    let _writing = state.trunk_writes.lock().await;
    if is_profile_route(&state, &prefix) {
        return Err(defined_in_profile("prefix", "this route"));
    }
    if !state.store.delete_route(&prefix).await? {
        return Err(ApiError::NotFound);
    }
    apply(&state).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use axum::http::{Method, StatusCode};
    use serde_json::json;

    use crate::config::{ProfileTrunks, RouteSettings};
    use crate::cti::test_support::{Api, token_for_role};
    use crate::routing::model::Role;
    use crate::store::test_support::trunk as trunk_fixture;

    /// An API whose profile routes `+1` through trunk `us` (gateways), with stored trunks
    /// `carrier` (gateways) and `ivr` (sources only).
    async fn api() -> (Api, String) {
        let mut api = Api::new().await;
        let mut us = trunk_fixture("us", "192.0.2.1");
        us.gateways = vec!["192.0.2.1".parse().unwrap()];
        let mut profile = ProfileTrunks {
            trunks: vec![us],
            ..ProfileTrunks::default()
        };
        profile.dialing.routes.push(RouteSettings {
            prefix: "+1".into(),
            trunks: vec!["us".into()],
        });
        api.state = api.state.clone().with_profile_trunks(profile);
        let mut carrier = trunk_fixture("carrier", "192.0.2.10");
        carrier.gateways = vec!["192.0.2.10:5080".parse().unwrap()];
        api.store().create_trunk(&carrier).await.unwrap();
        api.store()
            .create_trunk(&trunk_fixture("ivr", "192.0.2.20"))
            .await
            .unwrap();
        let admin = token_for_role(api.store(), Role::Admin).await;
        (api, admin)
    }

    #[tokio::test]
    async fn a_route_through_trunks_with_gateways_is_added_listed_and_removed() {
        let (api, admin) = api().await;
        let body = json!({"prefix": "+33", "trunks": ["carrier", "us"]});
        let (status, view) = api
            .json(Method::POST, "/api/v1/routes", &admin, Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{view}");
        assert_eq!(view["source"], "database");
        let supervisor = token_for_role(api.store(), Role::Supervisor).await;
        let (_, list) = api
            .json(Method::GET, "/api/v1/routes", &supervisor, None)
            .await;
        assert_eq!(
            list,
            json!([
                {"prefix": "+1", "trunks": ["us"], "source": "profile"},
                {"prefix": "+33", "trunks": ["carrier", "us"], "source": "database"},
            ])
        );
        // A trunk a route names can neither go nor lose its gateways.
        let (status, error) = api
            .json(Method::DELETE, "/api/v1/trunks/carrier", &admin, None)
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{error}");
        assert_eq!(error["error"]["field"], "name");
        let gone = json!({"name": "carrier", "inbound_sources": ["192.0.2.10"]});
        let (status, error) = api
            .json(Method::PUT, "/api/v1/trunks/carrier", &admin, Some(gone))
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{error}");
        assert_eq!(error["error"]["field"], "gateways");

        for expected in [StatusCode::NO_CONTENT, StatusCode::NOT_FOUND] {
            let (status, _) = api
                .json(Method::DELETE, "/api/v1/routes/+33", &admin, None)
                .await;
            assert_eq!(status, expected);
        }
        let (status, _) = api
            .json(Method::DELETE, "/api/v1/trunks/carrier", &admin, None)
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }

    #[tokio::test]
    async fn a_route_naming_no_trunk_with_gateways_or_a_bad_prefix_is_refused_naming_the_field() {
        let (api, admin) = api().await;
        for (body, field) in [
            (json!({"prefix": "+33", "trunks": ["nowhere"]}), "trunks"),
            (json!({"prefix": "+33", "trunks": ["ivr"]}), "trunks"),
            (json!({"prefix": "+33", "trunks": []}), "trunks"),
            (json!({"prefix": "33", "trunks": ["carrier"]}), "prefix"),
            (json!({"prefix": "+3a", "trunks": ["carrier"]}), "prefix"),
            (
                json!({"prefix": "+".repeat(40), "trunks": ["carrier"]}),
                "prefix",
            ),
        ] {
            let (status, error) = api
                .json(Method::POST, "/api/v1/routes", &admin, Some(body))
                .await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
            assert_eq!(error["error"]["field"], field, "{error}");
        }
        assert!(api.store().list_routes().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn profile_routes_are_read_only_and_only_admins_write() {
        let (api, admin) = api().await;
        let body = json!({"prefix": "+1", "trunks": ["carrier"]});
        let (status, error) = api
            .json(Method::POST, "/api/v1/routes", &admin, Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{error}");
        assert_eq!(error["error"]["field"], "prefix");
        let (status, _) = api
            .json(Method::DELETE, "/api/v1/routes/%2B1", &admin, None)
            .await;
        assert_eq!(status, StatusCode::CONFLICT);
        let supervisor = token_for_role(api.store(), Role::Supervisor).await;
        let (status, _) = api
            .json(Method::POST, "/api/v1/routes", &supervisor, Some(body))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let agent = token_for_role(api.store(), Role::Agent).await;
        let (status, _) = api.json(Method::GET, "/api/v1/routes", &agent, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
}

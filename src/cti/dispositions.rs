//! Disposition codes and their folders (admin writes; every role reads, since agents choose
//! one at wrap-up): `GET/POST /api/v1/dispositions`, `GET/PUT/DELETE /api/v1/dispositions/{id}`.
//!
//! A code's `parent` must be an existing folder. A folder that still holds codes cannot be
//! deleted (409), nor turned into a code.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};

use super::ApiState;
use super::auth::Principal;
use super::error::ApiError;
use super::json::ApiJson;
use super::params::ApiPath;
use super::validate;
use crate::routing::model::Role;
use crate::store::DispositionCode;

/// The routes of this resource.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/dispositions", get(list).post(create))
        .route(
            "/api/v1/dispositions/{id}",
            get(read).put(update).delete(remove),
        )
}

async fn check(state: &ApiState, code: &DispositionCode) -> Result<(), ApiError> {
    validate::id("id", &code.id)?;
    validate::name("name", &code.name)?;
    if let Some(parent) = &code.parent {
        if *parent == code.id {
            return Err(ApiError::field("parent", "a code cannot be its own folder"));
        }
        match state.store.get_disposition(parent).await? {
            Some(p) if p.folder => {}
            Some(_) => return Err(ApiError::field("parent", "is a code, not a folder")),
            None => return Err(ApiError::field("parent", "no such folder")),
        }
    }
    Ok(())
}

/// Lists codes and folders (any role).
#[utoipa::path(get, path = "/api/v1/dispositions", tag = "admin",
    responses((status = 200, body = Vec<DispositionCode>)), security(("bearer" = [])))]
pub(super) async fn list(
    State(state): State<ApiState>,
    _principal: Principal,
) -> Result<Json<Vec<DispositionCode>>, ApiError> {
    Ok(Json(state.store.list_dispositions().await?))
}

/// One code or folder (any role).
#[utoipa::path(get, path = "/api/v1/dispositions/{id}", tag = "admin",
    params(("id" = String, Path)),
    responses((status = 200, body = DispositionCode), (status = 404)),
    security(("bearer" = [])))]
pub(super) async fn read(
    State(state): State<ApiState>,
    _principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<DispositionCode>, ApiError> {
    let code = state.store.get_disposition(&id).await?;
    code.map(Json).ok_or(ApiError::NotFound)
}

/// Adds a code or folder (admin).
#[utoipa::path(post, path = "/api/v1/dispositions", tag = "admin",
    request_body = DispositionCode,
    responses((status = 201, body = DispositionCode), (status = 409), (status = 422)),
    security(("bearer" = [])))]
pub(super) async fn create(
    State(state): State<ApiState>,
    principal: Principal,
    ApiJson(code): ApiJson<DispositionCode>,
) -> Result<(StatusCode, Json<DispositionCode>), ApiError> {
    principal.require(Role::Admin)?;
    check(&state, &code).await?;
    state.store.create_disposition(&code).await?;
    Ok((StatusCode::CREATED, Json(code)))
}

/// Replaces a code or folder (admin).
#[utoipa::path(put, path = "/api/v1/dispositions/{id}", tag = "admin",
    request_body = DispositionCode, params(("id" = String, Path)),
    responses((status = 200, body = DispositionCode), (status = 404), (status = 409),
        (status = 422)),
    security(("bearer" = [])))]
pub(super) async fn update(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(code): ApiJson<DispositionCode>,
) -> Result<Json<DispositionCode>, ApiError> {
    principal.require(Role::Admin)?;
    validate::same_id(&id, &code.id)?;
    check(&state, &code).await?;
    if !code.folder && state.store.count_disposition_children(&code.id).await? > 0 {
        return Err(ApiError::conflict(
            "the folder still holds codes",
            Some("folder"),
        ));
    }
    if state.store.update_disposition(&code).await? {
        Ok(Json(code))
    } else {
        Err(ApiError::NotFound)
    }
}

/// Removes a code or an empty folder (admin).
#[utoipa::path(delete, path = "/api/v1/dispositions/{id}", tag = "admin",
    params(("id" = String, Path)), responses((status = 204), (status = 404), (status = 409)),
    security(("bearer" = [])))]
pub(super) async fn remove(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Role::Admin)?;
    if state.store.count_disposition_children(&id).await? > 0 {
        return Err(ApiError::conflict("the folder still holds codes", None));
    }
    if state.store.delete_disposition(&id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use axum::http::{Method, StatusCode};

    use crate::cti::test_support::Api;
    use crate::routing::model::Role;

    #[tokio::test]
    async fn codes_go_in_folders_and_a_full_folder_cannot_be_deleted() {
        let api = Api::new().await;
        let admin = api.agent("root", Role::Admin, None).await;
        let agent = api.agent("alice", Role::Agent, None).await;
        let post = |body: &'static str| {
            let (api, admin) = (&api, admin.clone());
            async move {
                api.call(
                    Method::POST,
                    "/api/v1/dispositions",
                    Some(&admin),
                    Some(body),
                )
                .await
            }
        };
        assert_eq!(
            post(r#"{"id": "sales", "name": "Sales", "folder": true}"#)
                .await
                .0,
            StatusCode::CREATED
        );
        assert_eq!(
            post(r#"{"id": "sale", "name": "Sale", "parent": "sales"}"#)
                .await
                .0,
            StatusCode::CREATED
        );
        let (status, json) = post(r#"{"id": "x", "name": "X", "parent": "sale"}"#).await;
        assert_eq!(
            (status, &json["error"]["field"]),
            (StatusCode::UNPROCESSABLE_ENTITY, &"parent".into())
        );
        let (status, json) = post(r#"{"id": "y", "name": "Y", "parent": "nope"}"#).await;
        assert_eq!(
            (status, &json["error"]["field"]),
            (StatusCode::UNPROCESSABLE_ENTITY, &"parent".into())
        );

        let (status, json) = api
            .call(Method::GET, "/api/v1/dispositions", Some(&agent), None)
            .await;
        assert_eq!(status, StatusCode::OK, "agents read codes to choose one");
        assert_eq!(json.as_array().unwrap().len(), 2);
        let (status, _) = api
            .call(
                Method::DELETE,
                "/api/v1/dispositions/sales",
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT);
        let (status, _) = api
            .call(
                Method::DELETE,
                "/api/v1/dispositions/sale",
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _) = api
            .call(
                Method::DELETE,
                "/api/v1/dispositions/sales",
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
}

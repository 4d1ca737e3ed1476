//! CTI REST API: the HTTP interface agent desktops and wallboards use, built with axum.
//!
//! [`app`] returns the whole [`Router`]; the runtime serves it, and tests call
//! `app(state).oneshot(request)` without a server. One file per resource; every error,
//! including unknown routes and methods, answers with the JSON of [`ApiError`].
//!
//! Authentication is not implemented yet: every route is open. A later change adds bearer
//! tokens as a layer here; until then the API must only listen on a trusted interface.

mod cdrs;
mod error;
pub mod events;
mod params;

pub use error::ApiError;
pub use params::{Params, QueryParams, parse_timestamp};

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::store::Store;

/// Largest request body accepted by any route.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What the handlers share. Cheap to clone: every field is a handle.
#[derive(Clone, Debug)]
pub struct ApiState {
    /// The database.
    pub store: Store,
}

impl ApiState {
    /// State over `store`.
    #[must_use]
    pub fn new(store: Store) -> ApiState {
        ApiState { store }
    }
}

/// The CTI API:
/// - `GET /api/v1/health`: `{"status":"ok"}` while the process serves requests;
/// - `GET /api/v1/cdrs`: call detail records (see the `cdrs` module for parameters).
pub fn app(state: ApiState) -> Router {
    Router::new()
        .route("/api/v1/health", get(health))
        .merge(cdrs::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::TempDb;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn send(request: Request<Body>) -> (StatusCode, Value) {
        let db = TempDb::new().await;
        let response = app(ApiState::new(db.store.clone()))
            .oneshot(request)
            .await
            .unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn health_says_ok() {
        let request = Request::get("/api/v1/health").body(Body::empty()).unwrap();
        assert_eq!(
            send(request).await,
            (StatusCode::OK, json!({"status": "ok"}))
        );
    }

    #[tokio::test]
    async fn unknown_routes_are_json_404s() {
        let request = Request::get("/api/v1/nope").body(Body::empty()).unwrap();
        let (status, json) = send(request).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(json["error"]["code"], "not_found");
    }

    #[tokio::test]
    async fn wrong_methods_are_json_405s() {
        let request = Request::delete("/api/v1/cdrs").body(Body::empty()).unwrap();
        let (status, json) = send(request).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(json["error"]["code"], "method_not_allowed");
    }
}

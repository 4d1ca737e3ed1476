//! SIP extensions kept in the database (admin): `GET /api/v1/extensions` lists them (never a
//! secret), `POST /api/v1/extensions` adds one, `PUT /api/v1/extensions/{user}` replaces its
//! password and display name, `DELETE /api/v1/extensions/{user}` removes it. The switch
//! learns of each change at once through the core's request channel.
//!
//! A password must be 16 to 128 characters: a digest hash of the challenge is enough for an
//! offline dictionary attack on a captured REGISTER, so the secret itself must be out of a
//! dictionary's reach. The store keeps only its MD5 and SHA-256 HA1 for the SIP realm
//! (`H(user:realm:password)`, RFC 7616 §3.4.2), never the password.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::ApiState;
use super::auth::Principal;
use super::error::ApiError;
use super::json::ApiJson;
use super::params::ApiPath;
use super::validate;
use crate::dialing::CallingClass;
use crate::routing::model::Role;
use crate::sip::digest::StoredSecret;
use crate::store::Extension;

/// Fewest characters in an extension password.
pub const MIN_PASSWORD_CHARS: usize = 16;
/// Most characters in an extension password.
pub const MAX_PASSWORD_CHARS: usize = 128;

/// The routes of this resource.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/extensions", get(list).post(create))
        .route("/api/v1/extensions/{user}", put(update).delete(remove))
}

/// An extension to add or change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtensionBody {
    /// The SIP user part (`1100` in `sip:1100@domain`).
    pub user: String,
    /// 16 to 128 characters; kept only as digest hashes.
    pub password: String,
    /// Name shown to called parties.
    #[serde(default)]
    pub display_name: Option<String>,
    /// What it may dial outside: `internal`, `national` or `international`; absent: the
    /// profile's `dialing.default_class`.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub calling_class: Option<CallingClass>,
}

/// An extension as listed: no secret, only how it is kept.
#[derive(Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ExtensionView {
    pub user: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub enabled: bool,
    /// `digest_ha1`, or `plaintext` for a row written before hashing (hashed at the next
    /// start).
    pub secret: &'static str,
    /// Its own calling class; absent: the profile's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calling_class: Option<&'static str>,
}

impl From<Extension> for ExtensionView {
    fn from(e: Extension) -> ExtensionView {
        ExtensionView {
            secret: if e.password.is_some() {
                "plaintext"
            } else {
                "digest_ha1"
            },
            user: e.user,
            display_name: e.display_name,
            enabled: e.enabled,
            calling_class: e.calling_class.map(CallingClass::name),
        }
    }
}

fn check(body: &ExtensionBody) -> Result<(), ApiError> {
    validate::id("user", &body.user)?;
    let chars = body.password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars)
        || body.password.chars().any(char::is_control)
    {
        return Err(ApiError::field(
            "password",
            format!(
                "must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters without \
                 control characters"
            ),
        ));
    }
    if crate::config::is_lab_extension_password(&body.password) {
        return Err(ApiError::field(
            "password",
            "must not follow the published lab pattern",
        ));
    }
    if let Some(name) = &body.display_name {
        validate::name("display_name", name)?;
    }
    Ok(())
}

/// The stored row for `body`, hashed for the switch's realm.
fn hashed(state: &ApiState, body: ExtensionBody) -> Result<Extension, ApiError> {
    let realm = state
        .sip_realm
        .as_deref()
        .ok_or(ApiError::CoreUnavailable)?;
    let mut ext = Extension::with_password(&body.user, realm, &body.password);
    ext.display_name = body.display_name;
    ext.calling_class = body.calling_class;
    Ok(ext)
}

/// Tells the running switch (none in route tests).
fn tell_switch(state: &ApiState, ext: &Extension) -> Result<(), ApiError> {
    if let Some(core) = &state.core {
        let secret = StoredSecret::Ha1 {
            md5: ext.ha1_md5.clone(),
            sha256: ext.ha1_sha256.clone(),
        };
        core.extension_changed(ext.user.clone(), Some((secret, ext.calling_class)))?;
    }
    Ok(())
}

/// Lists stored extensions (admin).
#[utoipa::path(get, path = "/api/v1/extensions", tag = "admin",
    responses((status = 200, body = Vec<ExtensionView>), (status = 403)),
    security(("bearer" = [])))]
pub(super) async fn list(
    State(state): State<ApiState>,
    principal: Principal,
) -> Result<Json<Vec<ExtensionView>>, ApiError> {
    principal.require(Role::Admin)?;
    let all = state.store.list_extensions().await?;
    Ok(Json(all.into_iter().map(ExtensionView::from).collect()))
}

/// Adds an extension (admin).
#[utoipa::path(post, path = "/api/v1/extensions", tag = "admin", request_body = ExtensionBody,
    responses((status = 201, body = ExtensionView), (status = 403), (status = 409),
        (status = 422)),
    security(("bearer" = [])))]
pub(super) async fn create(
    State(state): State<ApiState>,
    principal: Principal,
    ApiJson(body): ApiJson<ExtensionBody>,
) -> Result<(StatusCode, Json<ExtensionView>), ApiError> {
    principal.require(Role::Admin)?;
    check(&body)?;
    let ext = hashed(&state, body)?;
    state.store.create_extension(&ext).await?;
    tell_switch(&state, &ext)?;
    Ok((StatusCode::CREATED, Json(ext.into())))
}

/// Replaces an extension's password and display name (admin).
#[utoipa::path(put, path = "/api/v1/extensions/{user}", tag = "admin",
    request_body = ExtensionBody, params(("user" = String, Path)),
    responses((status = 200, body = ExtensionView), (status = 403), (status = 404),
        (status = 422)),
    security(("bearer" = [])))]
pub(super) async fn update(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(user): ApiPath<String>,
    ApiJson(body): ApiJson<ExtensionBody>,
) -> Result<Json<ExtensionView>, ApiError> {
    principal.require(Role::Admin)?;
    if user != body.user {
        return Err(ApiError::field("user", "must match the user in the path"));
    }
    check(&body)?;
    if state.store.get_extension(&user).await?.is_none() {
        return Err(ApiError::NotFound);
    }
    let ext = hashed(&state, body)?;
    state.store.upsert_extension(&ext).await?;
    tell_switch(&state, &ext)?;
    Ok(Json(ext.into()))
}

/// Removes an extension (admin). One the profile also defines falls back to the profile's
/// at the next start.
#[utoipa::path(delete, path = "/api/v1/extensions/{user}", tag = "admin",
    params(("user" = String, Path)), responses((status = 204), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub(super) async fn remove(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(user): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Role::Admin)?;
    if !state.store.delete_extension(&user).await? {
        return Err(ApiError::NotFound);
    }
    if let Some(core) = &state.core {
        core.extension_changed(user, None)?;
    }
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use axum::http::{Method, StatusCode};
    use serde_json::json;

    use crate::cti::test_support::{Api, token_for_role};
    use crate::routing::model::Role;
    use crate::store::ha1_pair;

    const REALM: &str = "switchboard.local";

    async fn api() -> (Api, String) {
        let mut api = Api::new().await;
        api.state = api.state.clone().with_sip_realm(REALM);
        let admin = token_for_role(api.store(), Role::Admin).await;
        (api, admin)
    }

    #[tokio::test]
    async fn a_new_extension_is_stored_as_digest_hashes_only() {
        let (api, admin) = api().await;
        let password = "correct-horse-battery";
        let body = json!({"user": "1100", "password": password, "display_name": "Desk"});
        let (status, view) = api
            .json(
                Method::POST,
                "/api/v1/extensions",
                &admin,
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{view}");
        assert_eq!(
            view,
            json!({"user": "1100", "display_name": "Desk", "enabled": true, "secret": "digest_ha1"})
        );

        let stored = api.store().get_extension("1100").await.unwrap().unwrap();
        assert_eq!(
            stored.password, None,
            "no plaintext in the extensions table"
        );
        let (md5, sha256) = ha1_pair("1100", REALM, password);
        assert_eq!(stored.ha1_md5, Some(md5));
        assert_eq!(stored.ha1_sha256, Some(sha256));
        assert_eq!(stored.ha1_realm.as_deref(), Some(REALM));

        let (status, list) = api
            .json(Method::GET, "/api/v1/extensions", &admin, None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert!(!list.to_string().contains(password), "{list}");
        let (status, _) = api
            .json(Method::POST, "/api/v1/extensions", &admin, Some(body))
            .await;
        assert_eq!(status, StatusCode::CONFLICT);
    }

    #[tokio::test]
    async fn short_or_lab_passwords_and_bad_users_are_refused_naming_the_field() {
        let (api, admin) = api().await;
        for (user, password, field) in [
            ("1100", "fifteen-chars!!", "password"),
            ("1100", "lab-110000000-secret", "password"),
            ("1100", "sixteen\tchars!!!", "password"),
            ("bad user", "long-enough-password", "user"),
        ] {
            let body = json!({"user": user, "password": password});
            let (status, error) = api
                .json(Method::POST, "/api/v1/extensions", &admin, Some(body))
                .await;
            assert_eq!(
                status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{password}: {error}"
            );
            assert_eq!(error["error"]["field"], field, "{error}");
        }
        assert!(api.store().list_extensions().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn only_admins_manage_extensions() {
        let (api, _) = api().await;
        let supervisor = token_for_role(api.store(), Role::Supervisor).await;
        let body = json!({"user": "1100", "password": "x".repeat(20)});
        for (method, body) in [(Method::POST, Some(body)), (Method::GET, None)] {
            let (status, _) = api
                .json(method, "/api/v1/extensions", &supervisor, body)
                .await;
            assert_eq!(status, StatusCode::FORBIDDEN);
        }
    }

    #[tokio::test]
    async fn an_extension_is_changed_and_deleted() {
        let (api, admin) = api().await;
        let uri = "/api/v1/extensions/1100";
        let body = |password: &str| Some(json!({"user": "1100", "password": password}));
        let first = "x".repeat(20);
        let (status, _) = api.json(Method::PUT, uri, &admin, body(&first)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "PUT does not create");
        api.json(Method::POST, "/api/v1/extensions", &admin, body(&first))
            .await;
        let second = "y".repeat(20);
        let (status, _) = api.json(Method::PUT, uri, &admin, body(&second)).await;
        assert_eq!(status, StatusCode::OK);
        let stored = api.store().get_extension("1100").await.unwrap().unwrap();
        assert_eq!(stored.ha1_md5, Some(ha1_pair("1100", REALM, &second).0));
        for expected in [StatusCode::NO_CONTENT, StatusCode::NOT_FOUND] {
            let (status, _) = api.json(Method::DELETE, uri, &admin, None).await;
            assert_eq!(status, expected);
        }
    }

    #[tokio::test]
    async fn an_extensions_calling_class_is_kept_shown_and_a_bad_one_refused_naming_it() {
        let (api, admin) = api().await;
        let body = json!({"user": "1100", "password": "x".repeat(20),
                          "calling_class": "international"});
        let (status, view) = api
            .json(Method::POST, "/api/v1/extensions", &admin, Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{view}");
        assert_eq!(view["calling_class"], "international");
        let stored = api.store().get_extension("1100").await.unwrap().unwrap();
        assert_eq!(
            stored.calling_class,
            Some(crate::dialing::CallingClass::International)
        );
        let bad = json!({"user": "1101", "password": "x".repeat(20), "calling_class": "galactic"});
        let (status, error) = api
            .json(Method::POST, "/api/v1/extensions", &admin, Some(bad))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
        assert!(error.to_string().contains("calling_class"), "{error}");
    }
}

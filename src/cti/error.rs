//! Errors of the CTI API and their JSON form:
//! `{"error": {"code": "...", "message": "...", "field": "..."}}`.
//!
//! Client errors (4xx) explain themselves and name the offending field; server errors (5xx)
//! reveal nothing beyond a fixed message, and their cause goes to the log instead.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use crate::store::StoreError;

/// Longest field name echoed back; longer (client-made) names are cut.
const MAX_ECHOED_FIELD: usize = 64;

/// Why a CTI request failed, classified by blame.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A parameter is malformed (not a number, not a timestamp, given twice).
    #[error("invalid {field}: {message}")]
    InvalidParameter {
        /// The parameter's name.
        field: String,
        /// What is wrong, for the client's developer.
        message: String,
    },
    /// The request has a parameter this endpoint does not take.
    #[error("unknown parameter")]
    UnknownParameter {
        /// The parameter's name as sent.
        field: String,
    },
    /// A parameter is well-formed but outside what the endpoint accepts.
    #[error("{field} out of range: {message}")]
    OutOfRange {
        /// The parameter's name.
        field: String,
        /// The accepted range.
        message: String,
    },
    /// A JSON body field is well-formed JSON but not an acceptable value (wrong type, out of
    /// range, refers to something that does not exist).
    #[error("invalid {field}: {message}")]
    InvalidField {
        /// The field's path, e.g. `"skills[0].level"`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A JSON body has a field the endpoint does not take.
    #[error("unknown field")]
    UnknownField {
        /// The field's path as sent.
        field: String,
    },
    /// The body is not JSON at all (syntax error, truncated, trailing data).
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// The body is not declared as `application/json`.
    #[error("expected Content-Type: application/json")]
    UnsupportedMediaType,
    /// The body is larger than the API accepts.
    #[error("request body too large")]
    PayloadTooLarge,
    /// No valid bearer token (missing, unknown, expired, revoked), or a failed login. Always
    /// the same message, so it never tells which.
    #[error("missing or invalid credentials")]
    Unauthorized,
    /// Authenticated, but the role or scope does not allow this.
    #[error("not allowed for this role")]
    Forbidden,
    /// The request conflicts with the current state (duplicate id, stale version).
    #[error("{message}")]
    Conflict {
        /// What conflicts.
        message: String,
        /// The field at fault, if one is.
        field: Option<String>,
        /// The current state, so the client can retry against it.
        current: Option<Value>,
        /// Why, as a stable snake_case code (`held`, `stale_version`, ...), when one is known.
        reason: Option<&'static str>,
    },
    /// Too many attempts; retry after the given number of seconds.
    #[error("too many requests")]
    TooManyRequests {
        /// Seconds until the next attempt may succeed.
        retry_after_secs: u64,
    },
    /// The client's address is banned for too many failed logins; retry after the given
    /// number of seconds (an admin may lift the ban sooner).
    #[error("too many failed logins from this address")]
    AddressBanned {
        /// Seconds until the ban ends.
        retry_after_secs: u64,
    },
    /// No such resource or route.
    #[error("not found")]
    NotFound,
    /// The route exists but not for this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A dependency (the database) is unreachable right now; retrying later may work.
    #[error("service unavailable")]
    Unavailable(#[source] StoreError),
    /// Anything else on our side.
    #[error("internal error")]
    Internal(#[source] StoreError),
    /// The switch core (calls and routing) is not running or too busy; retry later.
    #[error("the switch core is unavailable")]
    CoreUnavailable,
}

impl ApiError {
    /// A malformed parameter.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::InvalidParameter {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A well-formed parameter outside the accepted range.
    pub fn out_of_range(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::OutOfRange {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A JSON body field with an unacceptable value (422).
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::InvalidField {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A conflict without a current state to return (409).
    pub fn conflict(message: impl Into<String>, field: Option<&str>) -> ApiError {
        ApiError::Conflict {
            message: message.into(),
            field: field.map(str::to_owned),
            current: None,
            reason: None,
        }
    }

    /// A command refused by the state of things (409), with its reason code.
    pub fn refused(reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::Conflict {
            message: message.into(),
            field: None,
            current: None,
            reason: Some(reason),
        }
    }

    /// The most specific code for why: a conflict's reason when it has one, else [`Self::code`].
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::Conflict {
                reason: Some(reason),
                ..
            } => reason,
            _ => self.code(),
        }
    }

    /// The field at fault, if the error names one.
    #[must_use]
    pub fn field_name(&self) -> Option<&str> {
        match self {
            ApiError::InvalidParameter { field, .. }
            | ApiError::UnknownParameter { field }
            | ApiError::OutOfRange { field, .. }
            | ApiError::InvalidField { field, .. }
            | ApiError::UnknownField { field } => Some(truncate(field)),
            ApiError::Conflict { field, .. } => field.as_deref().map(truncate),
            _ => None,
        }
    }

    /// The HTTP status this error answers with.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidParameter { .. } | ApiError::UnknownParameter { .. } => {
                StatusCode::BAD_REQUEST
            }
            ApiError::OutOfRange { .. }
            | ApiError::InvalidField { .. }
            | ApiError::UnknownField { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::MalformedJson(_) => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::TooManyRequests { .. } | ApiError::AddressBanned { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unavailable(_) | ApiError::CoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code clients branch on.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidParameter { .. } => "invalid_parameter",
            ApiError::UnknownParameter { .. } => "unknown_parameter",
            ApiError::OutOfRange { .. } => "out_of_range",
            ApiError::InvalidField { .. } => "invalid_field",
            ApiError::UnknownField { .. } => "unknown_field",
            ApiError::MalformedJson(_) => "malformed_json",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden => "forbidden",
            ApiError::Conflict { .. } => "conflict",
            ApiError::TooManyRequests { .. } => "rate_limited",
            ApiError::AddressBanned { .. } => "address_banned",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Unavailable(_) | ApiError::CoreUnavailable => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Duplicate(what) => {
                ApiError::conflict(format!("{what} already exists"), None)
            }
            StoreError::Unavailable(_) => ApiError::Unavailable(e),
            e => ApiError::Internal(e),
        }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: Detail<'a>,
}

#[derive(Serialize)]
struct Detail<'a> {
    code: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    current: Option<&'a Value>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let ApiError::Unavailable(cause) | ApiError::Internal(cause) = &self {
            tracing::error!(error = %Chain(cause), status = status.as_u16(), "CTI request failed");
        }
        let (message, field) = (self.to_string(), self.field_name());
        let (current, reason) = match &self {
            ApiError::Conflict {
                current, reason, ..
            } => (current.as_ref(), *reason),
            _ => (None, None),
        };
        let body = Body {
            error: Detail {
                code: self.code(),
                message,
                field,
                reason,
                current,
            },
        };
        let mut response = (status, Json(body)).into_response();
        match &self {
            ApiError::Unauthorized => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::TooManyRequests { retry_after_secs }
            | ApiError::AddressBanned { retry_after_secs } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            _ => {}
        }
        response
    }
}

/// At most [`MAX_ECHOED_FIELD`] bytes of `s`, cut on a character boundary.
fn truncate(s: &str) -> &str {
    let mut end = s.len().min(MAX_ECHOED_FIELD);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Displays an error with its sources, `outer: inner: innermost`.
struct Chain<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(e) = source {
            write!(f, ": {e}")?;
            source = e.source();
        }
        Ok(())
    }
}

impl From<crate::bus::requests::CoreUnavailable> for ApiError {
    fn from(_: crate::bus::requests::CoreUnavailable) -> Self {
        ApiError::CoreUnavailable
    }
}

impl From<crate::center::Refused> for ApiError {
    fn from(refused: crate::center::Refused) -> Self {
        ApiError::refused(refused.code(), refused.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn json_of(err: ApiError) -> (StatusCode, serde_json::Value) {
        let response = err.into_response();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn client_errors_name_the_field() {
        let (status, json) = json_of(ApiError::invalid("limit", "must be an integer")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(json["error"]["code"], "invalid_parameter");
        assert_eq!(json["error"]["field"], "limit");
        assert_eq!(
            json["error"]["message"],
            "invalid limit: must be an integer"
        );

        let (status, json) = json_of(ApiError::out_of_range("limit", "1 to 500")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(json["error"]["field"], "limit");
    }

    #[tokio::test]
    async fn server_errors_reveal_nothing_about_the_cause() {
        let cause = StoreError::Corrupt {
            table: "cdrs",
            column: "legs",
            reason: "secret detail".into(),
        };
        let (status, json) = json_of(ApiError::from(cause)).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            json,
            serde_json::json!({"error": {"code": "internal", "message": "internal error"}})
        );
    }

    #[tokio::test]
    async fn store_unavailability_is_a_503() {
        let cause = StoreError::Unavailable(sqlx::Error::PoolTimedOut);
        let (status, json) = json_of(ApiError::from(cause)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(json["error"]["code"], "unavailable");
        assert!(json["error"].get("field").is_none());
    }

    #[tokio::test]
    async fn long_field_names_are_cut_on_a_character_boundary() {
        let field = "é".repeat(100);
        let (_, json) = json_of(ApiError::UnknownParameter { field }).await;
        let echoed = json["error"]["field"].as_str().unwrap();
        assert_eq!(echoed, "é".repeat(32));
    }
}

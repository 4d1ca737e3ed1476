//! JSON request bodies, read strictly and reported as [`ApiError`] JSON.
//!
//! axum's own `Json` rejections are plain text and do not say which field was wrong. Here:
//! a body that is not JSON is 400 `malformed_json`; a field of the wrong type or value is 422
//! `invalid_field` naming its path (`skills[0].level`); a field the type does not take (types
//! use `#[serde(deny_unknown_fields)]`) is 422 `unknown_field` naming it; a missing
//! `Content-Type: application/json` is 415; a body over the limit is 413.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::error::Category;

use super::error::ApiError;

/// A JSON body deserialised into `T`, rejecting with [`ApiError`].
#[derive(Clone, Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::MalformedJson("the body could not be read".into())
            }
        })?;
        decode(&bytes).map(ApiJson)
    }
}

/// Deserialises `bytes` into `T`, classifying failures as the module docs describe.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        classify(&path, e.into_inner())
    })?;
    de.end()
        .map_err(|e| ApiError::MalformedJson(without_position(&e.to_string())))?;
    Ok(value)
}

/// Maps a serde_json error at `path` (`"."` for the top level) to an [`ApiError`].
pub(crate) fn classify(path: &str, e: serde_json::Error) -> ApiError {
    let message = without_position(&e.to_string());
    match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => ApiError::MalformedJson(message),
        Category::Data => {
            let join = |name: &str| {
                if path == "." || path.is_empty() {
                    name.to_owned()
                } else {
                    format!("{path}.{name}")
                }
            };
            if quoted_after(&message, "unknown field ``").is_some() {
                // `{"": 1}`: a key with no name to report, so name what holds it (schemathesis
                // found `field: ""` and `skills[0].` here).
                let holder = path.strip_suffix('.').unwrap_or(path);
                let holder = if holder.is_empty() { "body" } else { holder };
                ApiError::field(holder, "has a field with an empty name")
            } else if let Some(name) = quoted_after(&message, "unknown field `") {
                // serde_path_to_error has already entered the unknown key.
                let field = if path == name || path.ends_with(&format!(".{name}")) {
                    path.to_owned()
                } else {
                    join(name)
                };
                ApiError::UnknownField { field }
            } else if let Some(name) = quoted_after(&message, "missing field `") {
                ApiError::field(join(name), "is required")
            } else if path == "." || path.is_empty() {
                ApiError::field("body", message)
            } else {
                ApiError::field(path, message)
            }
        }
    }
}

/// The text between `prefix` and the next backtick, if `message` starts with `prefix`.
fn quoted_after<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    message.strip_prefix(prefix)?.split('`').next()
}

/// serde_json appends ` at line L column C`; the field name says more to an API client.
fn without_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        level: u8,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        #[serde(default)]
        skills: Vec<Inner>,
    }

    fn field_of(e: &ApiError) -> (&'static str, String) {
        match e {
            ApiError::UnknownField { field } | ApiError::InvalidField { field, .. } => {
                (e.code(), field.clone())
            }
            other => (other.code(), String::new()),
        }
    }

    #[test]
    fn each_kind_of_bad_body_is_classified_and_named() {
        let cases: [(&str, &str, &str); 7] = [
            ("{", "malformed_json", ""),
            ("{\"name\": \"a\"} x", "malformed_json", ""),
            ("{\"name\": 5}", "invalid_field", "name"),
            ("{\"name\": \"a\", \"nmae\": 1}", "unknown_field", "nmae"),
            ("{}", "invalid_field", "name"),
            (
                "{\"name\": \"a\", \"skills\": [{\"level\": 300}]}",
                "invalid_field",
                "skills[0].level",
            ),
            (
                "{\"name\": \"a\", \"skills\": [{\"level\": 3, \"x\": 1}]}",
                "unknown_field",
                "skills[0].x",
            ),
        ];
        for (body, code, field) in cases {
            let err = decode::<Body>(body.as_bytes()).unwrap_err();
            assert_eq!(field_of(&err), (code, field.to_owned()), "{body}: {err:?}");
        }
        assert!(decode::<Body>(b"{\"name\": \"a\"}").is_ok());
        let err = decode::<Body>(b"\"x\"").unwrap_err();
        assert_eq!(field_of(&err), ("invalid_field", "body".to_owned()));
    }

    #[test]
    fn a_key_with_an_empty_name_is_blamed_on_what_holds_it() {
        for (body, field) in [
            (r#"{"": 1, "name": "a"}"#, "body"),
            (r#"{"name": "a", "skills": [{"": 1}]}"#, "skills[0]"),
        ] {
            let err = decode::<Body>(body.as_bytes()).unwrap_err();
            assert_eq!(
                field_of(&err),
                ("invalid_field", field.to_owned()),
                "{body}"
            );
        }
    }
}

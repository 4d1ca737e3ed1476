//! Field rules shared by the admin resources; each failure is a 422 naming the field.

use super::error::ApiError;

/// Longest identifier (agent, team, queue, code ids).
pub const MAX_ID_LEN: usize = 64;
/// Longest display name.
pub const MAX_NAME_LEN: usize = 128;

/// An identifier: 1 to [`MAX_ID_LEN`] ASCII letters, digits, `.`, `_` or `-`, so ids are
/// safe in URLs and logs.
pub fn id(field: &str, value: &str) -> Result<(), ApiError> {
    if value.is_empty()
        || value.len() > MAX_ID_LEN
        || !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return Err(ApiError::field(
            field,
            format!("must be 1 to {MAX_ID_LEN} of A-Z a-z 0-9 . _ -"),
        ));
    }
    Ok(())
}

/// A display name: not blank, at most [`MAX_NAME_LEN`] bytes, no control characters.
pub fn name(field: &str, value: &str) -> Result<(), ApiError> {
    if value.trim().is_empty() || value.len() > MAX_NAME_LEN || value.chars().any(char::is_control)
    {
        return Err(ApiError::field(
            field,
            format!("must be 1 to {MAX_NAME_LEN} bytes without control characters"),
        ));
    }
    Ok(())
}

/// The id in a PUT body must be the one in the path.
pub fn same_id(path: &str, body: &str) -> Result<(), ApiError> {
    if path == body {
        Ok(())
    } else {
        Err(ApiError::field("id", "must match the id in the path"))
    }
}

/// A skill level: 1 to 10.
pub fn level(field: &str, value: u8) -> Result<(), ApiError> {
    if (1..=10).contains(&value) {
        Ok(())
    } else {
        Err(ApiError::field(field, "must be 1 to 10"))
    }
}

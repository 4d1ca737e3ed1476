//! Query-string parameters, read strictly and reported as [`ApiError`] JSON (axum's own
//! `Query` rejection is plain text and does not say which field was wrong).
//!
//! Rules: a parameter the endpoint does not take, or one given twice, is a 400; an empty value
//! (`?number=`) counts as absent.
//!
//! Timestamps are epoch milliseconds (`1700000000000`) or RFC 3339 date-times
//! (`2024-05-01T09:30:00Z`, `2024-05-01T11:30:00.250+02:00`). An unescaped `+` in a query string
//! decodes to a space, so a space where the offset sign belongs is read as `+`.

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;

use super::error::ApiError;
use crate::store::UnixMillis;

/// Path parameters, rejected as [`ApiError`] JSON (axum's `Path` rejection is plain text).
#[derive(Clone, Debug)]
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| ApiPath(value))
            .map_err(|_| ApiError::invalid("path", "a path segment is not valid UTF-8"))
    }
}

/// The decoded `name=value` pairs of a request's query string, in order.
#[derive(Clone, Debug, Default)]
pub struct QueryParams(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .map(|Query(pairs)| QueryParams(pairs))
            .map_err(|_| ApiError::invalid("query", "the query string is not form-urlencoded"))
    }
}

impl QueryParams {
    /// Checks every name is in `allowed` and appears at most once.
    pub fn only(self, allowed: &[&'static str]) -> Result<Params, ApiError> {
        let mut seen: Vec<(&'static str, String)> = Vec::with_capacity(self.0.len());
        for (name, value) in self.0 {
            // `?=0` has no name to report; blame the query string itself (schemathesis found
            // it answered with an empty `field`).
            if name.is_empty() {
                return Err(ApiError::invalid("query", "a parameter has no name"));
            }
            let Some(&known) = allowed.iter().find(|a| **a == name) else {
                return Err(ApiError::UnknownParameter { field: name });
            };
            if seen.iter().any(|(n, _)| *n == known) {
                return Err(ApiError::invalid(known, "given more than once"));
            }
            seen.push((known, value));
        }
        Ok(Params(seen))
    }
}

/// Validated parameters: known names, each at most once.
#[derive(Clone, Debug)]
pub struct Params(Vec<(&'static str, String)>);

impl Params {
    /// The raw value of `name`, `None` if absent or empty.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// `name` as an unsigned integer.
    pub fn u64(&self, name: &'static str) -> Result<Option<u64>, ApiError> {
        self.get(name)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| ApiError::invalid(name, "must be a non-negative integer"))
            })
            .transpose()
    }

    /// `name` as a timestamp (see the module docs for the accepted forms).
    pub fn timestamp(&self, name: &'static str) -> Result<Option<UnixMillis>, ApiError> {
        self.get(name)
            .map(|v| {
                parse_timestamp(v).ok_or_else(|| {
                    ApiError::invalid(
                        name,
                        "must be epoch milliseconds or an RFC 3339 date-time \
                         like 2024-05-01T09:30:00Z",
                    )
                })
            })
            .transpose()
    }
}

/// Epoch milliseconds or an RFC 3339 `date-time` (§5.6), as milliseconds since the epoch.
#[must_use]
pub fn parse_timestamp(s: &str) -> Option<UnixMillis> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok().map(UnixMillis);
    }
    parse_rfc3339(s.as_bytes()).map(UnixMillis)
}

/// `YYYY-MM-DD(T|t| )HH:MM:SS[.fraction](Z|z|(+|-)HH:MM)`; fractions beyond milliseconds are
/// truncated.
fn parse_rfc3339(s: &[u8]) -> Option<i64> {
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let bytes = s.get(range)?;
        if !bytes.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(bytes.iter().fold(0, |n, b| n * 10 + i64::from(b - b'0')))
    };
    let at = |i: usize| s.get(i).copied();

    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if at(4) != Some(b'-') || at(7) != Some(b'-') || at(13) != Some(b':') || at(16) != Some(b':') {
        return None;
    }
    if !matches!(at(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }

    let mut i = 19;
    let mut millis = 0;
    if at(i) == Some(b'.') {
        i += 1;
        let start = i;
        while at(i).is_some_and(|b| b.is_ascii_digit()) {
            i += 1;
        }
        if i == start {
            return None;
        }
        let take = (i - start).min(3);
        millis = num(start..start + take)? * 10_i64.pow(3 - take as u32);
    }

    let offset_minutes = match at(i) {
        Some(b'Z' | b'z') if s.len() == i + 1 => 0,
        Some(sign @ (b'+' | b'-' | b' ')) if s.len() == i + 6 && at(i + 3) == Some(b':') => {
            let (h, m) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if h > 23 || m > 59 {
                return None;
            }
            if sign == b'-' {
                -(h * 60 + m)
            } else {
                h * 60 + m
            }
        }
        _ => return None,
    };

    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1_000 + millis)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ts(s: &str) -> Option<i64> {
        parse_timestamp(s).map(|t| t.0)
    }

    #[test]
    fn epoch_milliseconds_are_taken_as_they_are() {
        assert_eq!(ts("0"), Some(0));
        assert_eq!(ts("1700000000000"), Some(1_700_000_000_000));
        assert_eq!(ts("-5"), Some(-5));
        assert_eq!(ts("99999999999999999999"), None, "overflows i64");
        assert_eq!(ts("12a"), None);
        assert_eq!(ts("-"), None);
    }

    #[test]
    fn rfc3339_date_times_become_epoch_milliseconds() {
        assert_eq!(ts("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(ts("2023-11-14T22:13:20Z"), Some(1_700_000_000_000));
        assert_eq!(ts("2023-11-14t22:13:20.5z"), Some(1_700_000_000_500));
        assert_eq!(ts("2023-11-14T22:13:20.123456Z"), Some(1_700_000_000_123));
        assert_eq!(ts("2023-11-15T00:13:20+02:00"), Some(1_700_000_000_000));
        assert_eq!(
            ts("2023-11-15 00:13:20 02:00"),
            Some(1_700_000_000_000),
            "+ became space"
        );
        assert_eq!(ts("2023-11-14T20:43:20-01:30"), Some(1_700_000_000_000));
        assert_eq!(ts("2024-02-29T00:00:00Z"), Some(1_709_164_800_000));
        assert_eq!(ts("1969-12-31T23:59:59Z"), Some(-1_000));
    }

    #[test]
    fn malformed_or_impossible_date_times_are_refused() {
        for bad in [
            "",
            "2023-11-14",
            "2023-11-14T22:13:20",
            "2023-11-14T22:13Z",
            "2023-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2023-11-14T24:00:00Z",
            "2023-11-14T22:13:20.Z",
            "2023-11-14T22:13:20+0200",
            "2023-11-14T22:13:20Zjunk",
            "2023-11-14X22:13:20Z",
            "yesterday",
            "２０２３-11-14T22:13:20Z",
        ] {
            assert_eq!(ts(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn unknown_and_repeated_parameters_are_refused_by_name() {
        let q = |pairs: &[(&str, &str)]| {
            QueryParams(
                pairs
                    .iter()
                    .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                    .collect(),
            )
        };
        let err = q(&[("limt", "5")]).only(&["limit"]).unwrap_err();
        assert!(matches!(err, ApiError::UnknownParameter { field } if field == "limt"));
        let err = q(&[("limit", "5"), ("limit", "6")])
            .only(&["limit"])
            .unwrap_err();
        assert!(matches!(err, ApiError::InvalidParameter { field, .. } if field == "limit"));
        let err = q(&[("", "0")]).only(&["limit"]).unwrap_err();
        assert_eq!(
            err.field_name(),
            Some("query"),
            "a nameless parameter blames the query"
        );
        let params = q(&[("limit", "")]).only(&["limit"]).unwrap();
        assert_eq!(params.get("limit"), None, "empty counts as absent");
    }

    proptest! {
        #[test]
        fn any_string_parses_or_is_refused_without_panicking(s in ".{0,40}") {
            let _ = parse_timestamp(&s);
        }

        #[test]
        fn printed_utc_times_parse_back(secs in 0_i64..253_402_300_799, ms in 0_i64..1000) {
            let days = secs.div_euclid(86_400);
            let rem = secs.rem_euclid(86_400);
            // civil_from_days, the inverse of days_from_civil.
            let z = days + 719_468;
            let era = z.div_euclid(146_097);
            let doe = z - era * 146_097;
            let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
            let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
            let mp = (5 * doy + 2) / 153;
            let d = doy - (153 * mp + 2) / 5 + 1;
            let m = if mp < 10 { mp + 3 } else { mp - 9 };
            let y = yoe + era * 400 + i64::from(m <= 2);
            let text = format!(
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
                rem / 3600, rem / 60 % 60, rem % 60
            );
            prop_assert_eq!(ts(&text), Some(secs * 1000 + ms));
        }
    }
}

//! URI helpers (RFC 3261 §19.1, RFC 5118): the pieces of `sip:` URIs routing needs.
//!
//! rsip parses full URIs ([`parse_uri`]); the light helpers here avoid its known bugs (a `.`
//! before `@`, colons inside parameters) when only the user, host or one parameter is needed.

use super::headers::{param, parse_params};
use std::borrow::Cow;

/// Splits `host[:port]`, with IPv6 references in brackets (RFC 5118).
pub fn parse_host_port(s: &str) -> Option<(String, Option<u16>)> {
    if s.is_empty() {
        return None;
    }
    if let Some(rest) = s.strip_prefix('[') {
        let close = rest.find(']')?;
        let host = &rest[..close];
        host.parse::<std::net::Ipv6Addr>().ok()?;
        let after = rest[close + 1..].trim();
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.trim().parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        return Some((host.to_owned(), port));
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h.trim(), Some(p.trim().parse().ok()?)),
        None => (s, None),
    };
    // A bare IPv6 address has several colons and is invalid here (RFC 5118 §4.2).
    if host.is_empty()
        || host.contains(':')
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    {
        return None;
    }
    Some((host.to_owned(), port))
}

/// Puts brackets around an IPv6 address for use in a URI or Via.
pub fn host_for_uri(host: &str) -> Cow<'_, str> {
    if host.contains(':') && !host.starts_with('[') {
        Cow::Owned(format!("[{host}]"))
    } else {
        Cow::Borrowed(host)
    }
}

/// Parses a URI with rsip. rsip stumbles on some valid URIs (a `.` before `@`, colons inside
/// parameters): callers that only need the user or host use [`uri_user`] / [`uri_host_port`].
pub fn parse_uri(uri: &str) -> Option<rsip::Uri> {
    rsip::Uri::try_from(uri).ok()
}

/// The URI scheme, lowercased (`sip`, `sips`, `tel`, ...).
pub fn uri_scheme(uri: &str) -> Option<String> {
    let (scheme, _) = uri.split_once(':')?;
    (!scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)))
    .then(|| scheme.to_ascii_lowercase())
}

/// The user part of a `sip:`/`sips:` URI (percent-escapes left as they are).
pub fn uri_user(uri: &str) -> Option<String> {
    let (_, rest) = uri.split_once(':')?;
    let at = rest.rfind('@')?;
    let user = rest[..at].split(':').next().unwrap_or_default();
    (!user.is_empty()).then(|| user.to_owned())
}

/// Host and port of a `sip:`/`sips:` URI, for routing requests to it.
pub fn uri_host_port(uri: &str) -> Option<(String, Option<u16>)> {
    let (_, rest) = uri.split_once(':')?;
    let rest = match rest.rfind('@') {
        Some(at) => &rest[at + 1..],
        None => rest,
    };
    let end = rest.find([';', '?']).unwrap_or(rest.len());
    parse_host_port(&rest[..end])
}

/// A URI parameter (`;transport=tcp`, `;lr`), lowercased name, case kept in the value.
pub fn uri_param(uri: &str, name: &str) -> Option<String> {
    let rest = uri.split_once(':')?.1;
    let rest = match rest.rfind('@') {
        Some(at) => &rest[at..],
        None => rest,
    };
    let rest = rest.split('?').next().unwrap_or_default();
    let start = rest.find(';')?;
    let params = parse_params(&rest[start..])?;
    param(&params, name).map(str::to_owned)
}

/// Decodes `%HH` escapes; invalid escapes are kept literally.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = bytes.get(i + 1..i + 3)
            && let Ok(v) = u8::from_str_radix(std::str::from_utf8(hex).unwrap_or("zz"), 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether two URIs name the same resource, for the digest `uri` check (RFC 3261 §22.4 wants
/// it to be the Request-URI): scheme, user, host (case-insensitive) and port as RFC 3261
/// §19.1.4 compares them, parsed by rsip. URI parameters are not compared: phones add or
/// drop `;transport=` between the request line and their credentials.
pub fn same_uri(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let (Some(a), Some(b)) = (parse_uri(a), parse_uri(b)) else {
        return false;
    };
    a.scheme == b.scheme
        && a.user() == b.user()
        && a.host().to_string().eq_ignore_ascii_case(&b.host().to_string())
        && a.port() == b.port()
}

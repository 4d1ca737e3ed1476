//! Header names: compact forms and the canonical spellings messages are stored and rendered
//! with, so lookups and output agree whatever case a peer used.

use std::borrow::Cow;

/// Long names of the compact header forms (RFC 3261 §7.3.3, RFC 3515, RFC 4028, RFC 3841).
pub(super) fn expand_compact(name: &str) -> Option<&'static str> {
    if name.len() != 1 {
        return None;
    }
    Some(match name.as_bytes()[0].to_ascii_lowercase() {
        b'v' => "Via",
        b'i' => "Call-ID",
        b'f' => "From",
        b't' => "To",
        b'm' => "Contact",
        b'l' => "Content-Length",
        b'c' => "Content-Type",
        b'k' => "Supported",
        b's' => "Subject",
        b'e' => "Content-Encoding",
        b'r' => "Refer-To",
        b'b' => "Referred-By",
        b'x' => "Session-Expires",
        b'o' => "Event",
        b'u' => "Allow-Events",
        b'a' => "Accept-Contact",
        b'j' => "Reject-Contact",
        b'd' => "Request-Disposition",
        b'y' => "Identity",
        _ => return None,
    })
}

/// Canonical spellings so that lookups and output agree whatever case the peer used.
const CANONICAL: &[&str] = &[
    "Via",
    "Call-ID",
    "From",
    "To",
    "CSeq",
    "Contact",
    "Content-Length",
    "Content-Type",
    "Content-Encoding",
    "Content-Disposition",
    "Max-Forwards",
    "Route",
    "Record-Route",
    "Expires",
    "Min-Expires",
    "Authorization",
    "Proxy-Authorization",
    "WWW-Authenticate",
    "Proxy-Authenticate",
    "Allow",
    "Supported",
    "Require",
    "Proxy-Require",
    "Unsupported",
    "User-Agent",
    "Server",
    "Subject",
    "Refer-To",
    "Referred-By",
    "Replaces",
    "Session-Expires",
    "Min-SE",
    "Event",
    "Subscription-State",
    "Accept",
    "Date",
    "Reason",
    "Retry-After",
    "Warning",
    "P-Asserted-Identity",
];

pub(super) fn canonical_name(name: &str) -> Cow<'static, str> {
    if let Some(long) = expand_compact(name) {
        return Cow::Borrowed(long);
    }
    CANONICAL
        .iter()
        .find(|c| c.eq_ignore_ascii_case(name))
        .map(|c| Cow::Borrowed(*c))
        .unwrap_or_else(|| Cow::Owned(name.to_owned()))
}

/// RFC 3261 §25.1 `token` characters.
pub fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

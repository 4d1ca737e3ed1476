//! Typed header values (RFC 3261 §20, RFC 3515, RFC 3891, RFC 3892, RFC 4028, RFC 3581).
//!
//! Parsers tolerate LWS around separators (RFC 4475 `wsinv`) and never panic on any input.

use super::message::{Method, is_token_char};
use super::uri::{SipUri, host_for_uri, parse_host_port, percent_decode, uri_user};
use std::fmt;
use std::time::Duration;

/// Splits a header value on commas that are not inside quotes or angle brackets.
pub fn split_list(value: &str) -> impl Iterator<Item = &str> {
    ListItems { rest: Some(value) }.filter(|s| !s.is_empty())
}

/// The elements of a comma-separated header value, found one at a time so the common reader
/// of the first element only (the top Via) scans no further and allocates nothing.
struct ListItems<'a> {
    /// What is left to split; `None` once the last element was given.
    rest: Option<&'a str>,
}

impl<'a> Iterator for ListItems<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let value = self.rest?;
        let (mut quoted, mut angle, mut escaped) = (false, false, false);
        for (i, c) in value.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' if quoted => escaped = true,
                '"' => quoted = !quoted,
                '<' if !quoted => angle = true,
                '>' if !quoted => angle = false,
                ',' if !quoted && !angle => {
                    self.rest = Some(&value[i + 1..]);
                    return Some(value[..i].trim());
                }
                _ => {}
            }
        }
        self.rest = None;
        Some(value.trim())
    }
}

/// Parses `;name=value;flag` parameters, tolerating LWS around `;` and `=` (RFC 4475 wsinv).
pub(crate) fn parse_params(s: &str) -> Option<Vec<(String, Option<String>)>> {
    let mut params = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        rest = rest.strip_prefix(';')?.trim_start();
        // A value may be a quoted string containing ';'.
        let end = param_end(rest);
        let item = &rest[..end];
        rest = rest[end..].trim_start();
        let (name, value) = match item.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim().to_owned())),
            None => (item.trim(), None),
        };
        if name.is_empty() || !name.bytes().all(is_token_char) {
            return None;
        }
        params.push((name.to_ascii_lowercase(), value));
    }
    Some(params)
}

fn param_end(s: &str) -> usize {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => return i,
            _ => {}
        }
    }
    s.len()
}

pub(crate) fn param<'a>(params: &'a [(String, Option<String>)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_deref().unwrap_or(""))
}

/// CSeq: sequence number and method (RFC 3261 §20.16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    pub seq: u32,
    pub method: Method,
}

impl CSeq {
    pub fn parse(value: &str) -> Option<CSeq> {
        let mut parts = value.split_whitespace();
        // The number must fit 32 bits (RFC 4475 scalar02 sends 2**32).
        let seq = parts.next()?.parse::<u32>().ok()?;
        let method = Method::parse(parts.next()?)?;
        if parts.next().is_some() {
            return None;
        }
        Some(CSeq { seq, method })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// One Via value (RFC 3261 §20.42, RFC 3581).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// `UDP`, `TCP`, ... uppercased.
    pub transport: String,
    /// The sent-by host (IPv6 without brackets).
    pub host: String,
    pub port: Option<u16>,
    pub params: Vec<(String, Option<String>)>,
}

impl Via {
    /// Parses a single Via value, tolerating LWS inside `SIP / 2.0 / UDP`.
    pub fn parse(value: &str) -> Option<Via> {
        let (protocol, rest) = split_protocol(value)?;
        let transport = protocol.to_ascii_uppercase();
        let rest = rest.trim_start();
        let split = rest.find(';').unwrap_or(rest.len());
        let (sent_by, params) = rest.split_at(split);
        let (host, port) = parse_host_port(sent_by.trim())?;
        let params = parse_params(params)?;
        Some(Via {
            transport,
            host,
            port,
            params,
        })
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        param(&self.params, name)
    }

    pub fn branch(&self) -> Option<&str> {
        self.param("branch").filter(|b| !b.is_empty())
    }

    /// True when the branch carries the RFC 3261 magic cookie and something after it.
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch()
            .is_some_and(|b| b.len() > 7 && b.starts_with("z9hG4bK"))
    }

    /// Renders the value back.
    pub fn render(&self) -> String {
        let mut s = format!("SIP/2.0/{} {}", self.transport, host_for_uri(&self.host));
        if let Some(p) = self.port {
            s.push_str(&format!(":{p}"));
        }
        for (n, v) in &self.params {
            s.push(';');
            s.push_str(n);
            if let Some(v) = v {
                s.push('=');
                s.push_str(v);
            }
        }
        s
    }

    /// Sets or replaces a parameter.
    pub fn set_param(&mut self, name: &str, value: Option<String>) {
        match self
            .params
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(p) => p.1 = value,
            None => self.params.push((name.to_owned(), value)),
        }
    }
}

fn split_protocol(value: &str) -> Option<(&str, &str)> {
    // "SIP / 2.0 / UDP host": three '/'-separated tokens with optional LWS.
    let mut rest = value.trim_start();
    let mut tokens = Vec::with_capacity(3);
    for i in 0..3 {
        let end = rest
            .find(|c: char| c == '/' || c.is_whitespace())
            .unwrap_or(rest.len());
        let token = &rest[..end];
        if token.is_empty() {
            return None;
        }
        tokens.push(token);
        rest = rest[end..].trim_start();
        if i < 2 {
            rest = rest.strip_prefix('/')?.trim_start();
        }
    }
    if !tokens[0].eq_ignore_ascii_case("SIP") || tokens[1] != "2.0" {
        return None;
    }
    Some((tokens[2], rest))
}

/// A `name-addr` or `addr-spec` with header parameters (From, To, Contact, Refer-To, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    pub display: Option<String>,
    /// The URI as received, without angle brackets.
    pub uri: String,
    pub params: Vec<(String, Option<String>)>,
}

impl NameAddr {
    /// Parses RFC 3261 §20.10 syntax. For an addr-spec without `<>`, parameters after the URI
    /// belong to the header, not the URI (§20).
    pub fn parse(value: &str) -> Option<NameAddr> {
        let value = value.trim();
        let (display, rest) = if let Some(stripped) = value.strip_prefix('"') {
            let end = closing_quote(stripped)?;
            (
                Some(unescape_quoted(&stripped[..end])),
                stripped[end + 1..].trim_start(),
            )
        } else if let Some(lt) = value.find('<') {
            let d = value[..lt].trim();
            if !d.is_empty() && !d.split_whitespace().all(|w| w.bytes().all(is_token_char)) {
                return None;
            }
            ((!d.is_empty()).then(|| d.to_owned()), &value[lt..])
        } else {
            (None, value)
        };
        let (uri, params) = if let Some(inner) = rest.strip_prefix('<') {
            let close = inner.find('>')?;
            (inner[..close].trim(), &inner[close + 1..])
        } else {
            if display.is_some() {
                return None;
            }
            let split = rest.find(';').unwrap_or(rest.len());
            (rest[..split].trim(), &rest[split..])
        };
        // `<` and `>` are never part of a URI (RFC 3986 §2; RFC 3261 §25.1): a bare addr-spec
        // holding one, rendered back inside `<>`, would read as a different URI and parameters.
        if uri.is_empty()
            || uri.contains(char::is_whitespace)
            || uri.contains(['<', '>'])
            || !uri.contains(':')
        {
            return None;
        }
        Some(NameAddr {
            display,
            uri: uri.to_owned(),
            params: parse_params(params)?,
        })
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        param(&self.params, name)
    }

    /// The URI, when it is a `sip:` or `sips:` one ([`SipUri`], parsed with rsip).
    pub fn sip_uri(&self) -> Option<SipUri> {
        SipUri::parse(&self.uri)
    }

    /// The user part of the URI, without parameters (`sip:1001;x@h` gives `1001;x`).
    pub fn user(&self) -> Option<String> {
        uri_user(&self.uri)
    }

    /// Renders `"Display" <uri>;params`.
    pub fn render(&self) -> String {
        let mut s = String::new();
        if let Some(d) = &self.display {
            s.push('"');
            s.push_str(&d.replace('\\', "\\\\").replace('"', "\\\""));
            s.push_str("\" ");
        }
        s.push('<');
        s.push_str(&self.uri);
        s.push('>');
        for (n, v) in &self.params {
            s.push(';');
            s.push_str(n);
            if let Some(v) = v {
                s.push('=');
                s.push_str(v);
            }
        }
        s
    }

    pub fn set_param(&mut self, name: &str, value: Option<String>) {
        match self
            .params
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(p) => p.1 = value,
            None => self.params.push((name.to_owned(), value)),
        }
    }
}

fn closing_quote(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(i),
            _ => {}
        }
    }
    None
}

fn unescape_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            out.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else {
            out.push(c);
        }
    }
    out
}

/// `Contact` values of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contacts {
    None,
    Wildcard,
    List(Vec<NameAddr>),
    Invalid,
}

/// Replaces header (RFC 3891 §6.1): identifies the dialog to replace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replaces {
    pub call_id: String,
    pub to_tag: String,
    pub from_tag: String,
    pub early_only: bool,
}

impl Replaces {
    pub fn parse(value: &str) -> Option<Replaces> {
        let value = value.trim();
        let split = value.find(';').unwrap_or(value.len());
        let call_id = value[..split].trim();
        if call_id.is_empty() {
            return None;
        }
        let params = parse_params(&value[split..])?;
        Some(Replaces {
            call_id: call_id.to_owned(),
            to_tag: param(&params, "to-tag")?.to_owned(),
            from_tag: param(&params, "from-tag")?.to_owned(),
            early_only: param(&params, "early-only").is_some(),
        })
    }

    /// Extracts the `Replaces` embedded in a Refer-To URI's headers
    /// (`sip:b@h?Replaces=abc%40h%3Bto-tag%3D1%3Bfrom-tag%3D2`), RFC 3891 §7.
    pub fn from_refer_to_uri(uri: &str) -> Option<Replaces> {
        let (_, headers) = uri.split_once('?')?;
        headers.split('&').find_map(|h| {
            let (name, value) = h.split_once('=')?;
            name.eq_ignore_ascii_case("Replaces")
                .then(|| Replaces::parse(&percent_decode(value)))
                .flatten()
        })
    }

    pub fn render(&self) -> String {
        let mut s = format!(
            "{};to-tag={};from-tag={}",
            self.call_id, self.to_tag, self.from_tag
        );
        if self.early_only {
            s.push_str(";early-only");
        }
        s
    }
}

/// Who refreshes a session timer (RFC 4028 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresher {
    Uac,
    Uas,
}

/// Session-Expires (RFC 4028 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionExpires {
    pub interval: Duration,
    pub refresher: Option<Refresher>,
}

impl SessionExpires {
    pub fn parse(value: &str) -> Option<SessionExpires> {
        let value = value.trim();
        let split = value.find(';').unwrap_or(value.len());
        let secs: u64 = value[..split].trim().parse().ok()?;
        let params = parse_params(&value[split..])?;
        let refresher = match param(&params, "refresher") {
            Some(r) if r.eq_ignore_ascii_case("uac") => Some(Refresher::Uac),
            Some(r) if r.eq_ignore_ascii_case("uas") => Some(Refresher::Uas),
            Some(_) => return None,
            None => None,
        };
        Some(SessionExpires {
            interval: Duration::from_secs(secs),
            refresher,
        })
    }
}

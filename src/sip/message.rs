//! SIP messages (RFC 3261 §7, §20, §25): framing, the header list, typed access, serialising.
//!
//! # Why not `rsip::SipMessage`
//! rsip 0.4 parses our URIs (behind [`SipUri`], which works around its gaps), but its message type cannot
//! be the wire model: it does not frame by Content-Length (the body is "everything after the
//! blank line", so RFC 4475 `dblreq` would be misread), it rejects unknown methods (RFC 4475
//! `intmeth` must get a 501, not be dropped), it serialises bodies with `from_utf8_lossy`
//! (binary multipart bodies would be corrupted), and it neither unfolds continuation lines nor
//! knows compact header names. So this module owns framing, the ordered header list and the
//! typed accessors the upper layers need (Via, From/To, CSeq, Contact, Refer-To, Referred-By,
//! Replaces, Session-Expires), and calls rsip only for URIs.
//!
//! Header values are kept as received (after unfolding), so a proxy-style relay loses nothing;
//! multi-valued headers (`Via: a, b`) are split on demand by [`split_list`].

pub use super::framing::{Frame, frame_stream};
pub use super::header_names::is_token_char;
use super::header_names::{canonical_name, expand_compact};
pub use super::headers::*;
pub use super::method::Method;
pub use super::uri::*;
use bytes::{BufMut, Bytes, BytesMut};
use std::borrow::Cow;
use std::sync::OnceLock;

/// The largest message we accept on any transport (RFC 3261 §18.1.1 suggests 1300 bytes for
/// UDP before switching to TCP; we accept up to 64 KiB, the UDP maximum, on both).
pub const MAX_MESSAGE_SIZE: usize = 65_535;
/// The largest header section we accept; bodies may use the rest of [`MAX_MESSAGE_SIZE`].
pub const MAX_HEADER_SECTION: usize = 16 * 1024;
/// At most this many header fields, so a hostile message cannot make us allocate without bound.
pub const MAX_HEADER_COUNT: usize = 128;

/// The reason phrase of a 481: the request names a dialog or transaction this element does not
/// (or no longer) have.
pub const NO_SUCH_DIALOG: &str = "Call/Transaction Does Not Exist";

/// The first line of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    Request { method: Method, uri: String },
    Response { code: u16, reason: String },
}

/// One header field; the name is canonical for known headers (compact forms expanded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderField {
    pub name: Cow<'static, str>,
    pub value: String,
}

/// A parsed SIP request or response.
#[derive(Debug, Clone)]
pub struct Message {
    start: StartLine,
    /// `SIP/2.0` for everything we build; other versions are kept so we can answer 505.
    pub version: Cow<'static, str>,
    headers: Vec<HeaderField>,
    body: Bytes,
    /// Boxed, and only once a typed accessor runs, so a message stays small to move.
    parsed: OnceLock<Box<Parsed>>,
}

/// Headers the switch reads several times per message (the transaction layer, the dialog and
/// the call each look at the top Via, From and To), parsed on first use and kept until the
/// header list changes. Profiled at 2,500 calls/s, re-parsing them was about 8 % of the
/// switch's CPU.
#[derive(Debug, Clone, Default)]
struct Parsed {
    top_via: OnceLock<Option<Via>>,
    from: OnceLock<Option<NameAddr>>,
    to: OnceLock<Option<NameAddr>>,
    /// A request's `sip:`/`sips:` Request-URI, read by validation, routing and the digest
    /// check.
    request_uri: OnceLock<Option<SipUri>>,
}

/// Why bytes could not become a [`Message`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Nothing we could answer: drop the bytes and count them.
    #[error("unparseable message: {0}")]
    Unparseable(&'static str),
    /// A request whose headers we could read but which is malformed; answer with `rejection`.
    #[error("malformed request: {}", rejection.reason)]
    Malformed {
        rejection: Rejection,
        /// The request as far as it could be read, so a response can be routed back.
        partial: Box<Message>,
    },
}

/// A status code and reason phrase to reject a request with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection {
    pub code: u16,
    pub reason: &'static str,
}

impl Rejection {
    pub const fn new(code: u16, reason: &'static str) -> Self {
        Self { code, reason }
    }
}

pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The parsed-header cache is derived from the headers, so two messages with the same start
/// line, headers and body are equal whatever each has parsed so far.
impl PartialEq for Message {
    fn eq(&self, other: &Message) -> bool {
        self.start == other.start
            && self.version == other.version
            && self.headers == other.headers
            && self.body == other.body
    }
}

impl Eq for Message {}

impl Message {
    /// Parses one message. For datagrams the body is cut at Content-Length (extra octets are
    /// ignored, RFC 3261 §18.3); without Content-Length the rest of the datagram is the body.
    pub fn parse(buf: &[u8]) -> Result<Message, ParseError> {
        if buf.len() > MAX_MESSAGE_SIZE {
            return Err(ParseError::Unparseable("message too large"));
        }
        // Leading CRLFs before the start line are ignored (RFC 3261 §7.5).
        let start = buf
            .iter()
            .position(|b| *b != b'\r' && *b != b'\n')
            .ok_or(ParseError::Unparseable("empty"))?;
        let buf = &buf[start..];
        let (head, rest) = match find(buf, b"\r\n\r\n") {
            Some(i) => (&buf[..i], &buf[i + 4..]),
            // A message with no body may end right after the last header's CRLF.
            None if buf.ends_with(b"\r\n") => (&buf[..buf.len() - 2], &[][..]),
            None => return Err(ParseError::Unparseable("no end of header section")),
        };
        if head.len() > MAX_HEADER_SECTION {
            return Err(ParseError::Unparseable("header section too large"));
        }
        // A NUL is only legal escaped in a quoted string (`quoted-pair`, RFC 3261 §25.1;
        // RFC 4475 intmeth); anywhere else it is hostile or broken input.
        if head
            .iter()
            .enumerate()
            .any(|(i, b)| *b == 0 && (i == 0 || head[i - 1] != b'\\'))
        {
            return Err(ParseError::Unparseable("NUL byte in header section"));
        }
        let head = std::str::from_utf8(head)
            .map_err(|_| ParseError::Unparseable("header section is not UTF-8"))?;
        let mut lines = head.split("\r\n");
        let first = lines.next().unwrap_or_default();
        let (start, version, start_problem) = parse_start_line(first)?;

        // A bare CR or LF never belongs in a line, not even as a quoted-pair (RFC 3261 §25.1);
        // kept, it would end the line early at a peer that splits on LF alone (injection).
        let bare_eol = |line: &str| line.contains(['\r', '\n']);
        let mut problem: Option<Rejection> = start_problem;
        if bare_eol(first) {
            problem = problem.or(Some(Rejection::new(400, "Malformed Request-Line")));
        }
        let mut headers: Vec<HeaderField> = Vec::with_capacity(16);
        for line in lines {
            if bare_eol(line) {
                problem = problem.or(Some(Rejection::new(400, "Malformed Header Line")));
                continue;
            }
            if line.starts_with([' ', '\t']) {
                // Continuation line: folded LWS is one SP (RFC 3261 §7.3.1).
                match headers.last_mut() {
                    Some(last) => {
                        let cont = line.trim();
                        if !cont.is_empty() {
                            if !last.value.is_empty() {
                                last.value.push(' ');
                            }
                            last.value.push_str(cont);
                        }
                    }
                    None => problem = problem.or(Some(Rejection::new(400, "Bad Header Folding"))),
                }
                continue;
            }
            let Some((name, value)) = line.split_once(':') else {
                problem = problem.or(Some(Rejection::new(400, "Malformed Header Line")));
                continue;
            };
            let name = name.trim_end_matches([' ', '\t']);
            if name.is_empty() || !name.bytes().all(is_token_char) {
                problem = problem.or(Some(Rejection::new(400, "Malformed Header Name")));
                continue;
            }
            if headers.len() >= MAX_HEADER_COUNT {
                return Err(ParseError::Unparseable("too many header fields"));
            }
            headers.push(HeaderField {
                name: canonical_name(name),
                value: value.trim().to_owned(),
            });
        }

        let lengths: Vec<&str> = headers
            .iter()
            .filter(|h| h.name == "Content-Length")
            .map(|h| h.value.as_str())
            .collect();
        let body = match lengths.as_slice() {
            [] => Bytes::copy_from_slice(rest),
            [one] => match one.parse::<usize>() {
                Ok(n) if n <= rest.len() => Bytes::copy_from_slice(&rest[..n]),
                Ok(_) => {
                    problem = problem.or(Some(Rejection::new(
                        400,
                        "Content-Length Larger Than Message",
                    )));
                    Bytes::copy_from_slice(rest)
                }
                Err(_) => {
                    problem = problem.or(Some(Rejection::new(400, "Bad Content-Length")));
                    Bytes::new()
                }
            },
            _ => {
                problem = problem.or(Some(Rejection::new(400, "Multiple Content-Length Values")));
                Bytes::new()
            }
        };
        let message = Message {
            start,
            version: if version == "SIP/2.0" {
                Cow::Borrowed("SIP/2.0")
            } else {
                Cow::Owned(version)
            },
            headers,
            body,
            parsed: OnceLock::new(),
        };
        match problem {
            None => Ok(message),
            Some(_) if message.is_response() => Err(ParseError::Unparseable("malformed response")),
            Some(rejection) => Err(ParseError::Malformed {
                rejection,
                partial: Box::new(message),
            }),
        }
    }

    /// A new request with no headers; add them with [`Message::push`].
    pub fn request(method: Method, uri: impl Into<String>) -> Message {
        Message {
            start: StartLine::Request {
                method,
                uri: uri.into(),
            },
            version: Cow::Borrowed("SIP/2.0"),
            headers: Vec::new(),
            body: Bytes::new(),
            parsed: OnceLock::new(),
        }
    }

    /// A response to `request` (RFC 3261 §8.2.6): Via, From, To, Call-ID and CSeq copied.
    /// Record-Route is copied into dialog-creating responses (§12.1.1).
    pub fn response_to(request: &Message, code: u16, reason: impl Into<String>) -> Message {
        let mut response = Message {
            start: StartLine::Response {
                code,
                reason: reason.into(),
            },
            version: Cow::Borrowed("SIP/2.0"),
            headers: Vec::with_capacity(8),
            body: Bytes::new(),
            parsed: OnceLock::new(),
        };
        let dialog_creating = (101..300).contains(&code)
            && matches!(request.method(), Some(Method::Invite | Method::Subscribe));
        for h in &request.headers {
            let copy = matches!(&*h.name, "Via" | "From" | "To" | "Call-ID" | "CSeq")
                || (dialog_creating && h.name == "Record-Route");
            if copy {
                response.headers.push(h.clone());
            }
        }
        response
    }

    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    pub fn is_response(&self) -> bool {
        !self.is_request()
    }

    /// The request method, `None` for responses.
    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The Request-URI as received, `None` for responses.
    pub fn request_uri(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    /// Replaces the Request-URI (a no-op on responses).
    pub fn set_request_uri(&mut self, new_uri: impl Into<String>) {
        if let StartLine::Request { uri, .. } = &mut self.start {
            *uri = new_uri.into();
            self.parsed = OnceLock::new();
        }
    }

    /// The Request-URI parsed, when it is a well-formed `sip:` or `sips:` URI.
    pub fn sip_request_uri(&self) -> Option<&SipUri> {
        self.parsed()
            .request_uri
            .get_or_init(|| SipUri::parse(self.request_uri()?))
            .as_ref()
    }

    /// The status code, `None` for requests.
    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response { code, .. } => Some(*code),
            StartLine::Request { .. } => None,
        }
    }

    /// The reason phrase, `None` for requests.
    pub fn reason(&self) -> Option<&str> {
        match &self.start {
            StartLine::Response { reason, .. } => Some(reason),
            StartLine::Request { .. } => None,
        }
    }

    /// All header fields in order.
    pub fn headers(&self) -> &[HeaderField] {
        &self.headers
    }

    /// The first value of a header (case-insensitive name; compact forms accepted).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = expand_compact(name).unwrap_or(name);
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// Every field value with this name, in order (not split on commas; see [`split_list`]).
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        // Stored names are canonical and compared without case, so only a compact form
        // needs translating (no scan of the canonical spellings, no allocation per lookup).
        let name = expand_compact(name).unwrap_or(name);
        self.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    /// Every comma-separated element of every field with this name, in order.
    pub fn header_list<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers_named(name).flat_map(split_list)
    }

    /// The header list, to change: every parsed header is dropped, so no mutator can leave
    /// [`Parsed`] stale.
    fn headers_mut(&mut self) -> &mut Vec<HeaderField> {
        self.parsed = OnceLock::new();
        &mut self.headers
    }

    /// Appends a header field.
    pub fn push(&mut self, name: &str, value: impl Into<String>) -> &mut Self {
        let headers = self.headers_mut();
        headers.push(HeaderField {
            name: canonical_name(name),
            value: value.into(),
        });
        self
    }

    /// Builder form of [`Message::push`].
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.push(name, value);
        self
    }

    /// Inserts a header field before all others (a new top Via).
    pub fn push_front(&mut self, name: &str, value: impl Into<String>) {
        let headers = self.headers_mut();
        headers.insert(
            0,
            HeaderField {
                name: canonical_name(name),
                value: value.into(),
            },
        );
    }

    /// Replaces every field with this name by one field (appended if absent).
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let headers = self.headers_mut();
        let canonical = canonical_name(name);
        let value = value.into();
        if let Some(pos) = headers
            .iter()
            .position(|h| h.name.eq_ignore_ascii_case(&canonical))
        {
            headers[pos].value = value;
            let mut i = 0;
            headers.retain(|h| {
                i += 1;
                i - 1 <= pos || !h.name.eq_ignore_ascii_case(&canonical)
            });
        } else {
            headers.push(HeaderField {
                name: canonical,
                value,
            });
        }
    }

    /// Removes every field with this name.
    pub fn remove(&mut self, name: &str) {
        let headers = self.headers_mut();
        let canonical = canonical_name(name);
        headers.retain(|h| !h.name.eq_ignore_ascii_case(&canonical));
    }

    /// Puts `via` in place of the top Via, keeping it parsed (a received request's Via is
    /// stamped with its source, then read again by every layer above).
    pub fn replace_top_via(&mut self, via: Via) {
        self.remove_first("Via");
        self.push_front("Via", via.render());
        self.parsed = OnceLock::from(Box::new(Parsed {
            top_via: OnceLock::from(Some(via)),
            ..Parsed::default()
        }));
    }

    /// Removes the first element of the first field with this name (the top Via).
    pub fn remove_first(&mut self, name: &str) {
        let headers = self.headers_mut();
        let canonical = canonical_name(name);
        let Some(pos) = headers
            .iter()
            .position(|h| h.name.eq_ignore_ascii_case(&canonical))
        else {
            return;
        };
        let rest: Vec<&str> = split_list(&headers[pos].value).skip(1).collect();
        if rest.is_empty() {
            headers.remove(pos);
        } else {
            headers[pos].value = rest.join(", ");
        }
    }

    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Sets the body and its Content-Type (Content-Length is always written from the body).
    pub fn set_body(&mut self, content_type: &str, body: impl Into<Bytes>) {
        self.body = body.into();
        self.set("Content-Type", content_type);
    }

    /// Removes the body and its Content-Type.
    pub fn clear_body(&mut self) {
        self.body = Bytes::new();
        self.remove("Content-Type");
    }

    /// Serialises the message. Content-Length is always written from the actual body so a
    /// relayed message can never carry a stale length.
    pub fn to_bytes(&self) -> Bytes {
        // Sized exactly: transactions keep these bytes for 64·T1, and a buffer grown by
        // doubling would keep up to twice the message that long.
        let mut out = BytesMut::with_capacity(self.serialised_len());
        match &self.start {
            StartLine::Request { method, uri } => {
                out.put_slice(method.as_str().as_bytes());
                out.put_u8(b' ');
                out.put_slice(uri.as_bytes());
                out.put_u8(b' ');
                out.put_slice(self.version.as_bytes());
            }
            StartLine::Response { code, reason } => {
                out.put_slice(self.version.as_bytes());
                out.put_slice(format!(" {code} ").as_bytes());
                out.put_slice(reason.as_bytes());
            }
        }
        out.put_slice(b"\r\n");
        for h in &self.headers {
            if h.name == "Content-Length" {
                continue;
            }
            out.put_slice(h.name.as_bytes());
            out.put_slice(b": ");
            out.put_slice(h.value.as_bytes());
            out.put_slice(b"\r\n");
        }
        out.put_slice(format!("Content-Length: {}\r\n\r\n", self.body.len()).as_bytes());
        out.put_slice(&self.body);
        debug_assert_eq!(out.len(), self.serialised_len());
        out.freeze()
    }

    /// The length [`Message::to_bytes`] writes.
    fn serialised_len(&self) -> usize {
        let start = match &self.start {
            StartLine::Request { method, uri } => method.as_str().len() + uri.len() + 2,
            StartLine::Response { code, reason } => {
                decimal_len(usize::from(*code)) + reason.len() + 2
            }
        } + self.version.len()
            + 2;
        let headers: usize = self
            .headers
            .iter()
            .filter(|h| h.name != "Content-Length")
            .map(|h| h.name.len() + h.value.len() + 4)
            .sum();
        let length = "Content-Length: ".len() + decimal_len(self.body.len()) + 4;
        start + headers + length + self.body.len()
    }

    // ----- typed access -----

    pub fn call_id(&self) -> Option<&str> {
        self.header("Call-ID").filter(|v| !v.is_empty())
    }

    /// The CSeq header (RFC 3261 §20.16); `None` if absent or malformed.
    pub fn cseq(&self) -> Option<CSeq> {
        CSeq::parse(self.header("CSeq")?)
    }

    fn parsed(&self) -> &Parsed {
        self.parsed.get_or_init(Box::default)
    }

    /// The topmost Via (RFC 3261 §20.42).
    pub fn top_via(&self) -> Option<&Via> {
        self.parsed()
            .top_via
            .get_or_init(|| Via::parse(self.header_list("Via").next()?))
            .as_ref()
    }

    /// Every Via, top first.
    pub fn vias(&self) -> impl Iterator<Item = Option<Via>> + '_ {
        self.header_list("Via").map(Via::parse)
    }

    pub fn from(&self) -> Option<&NameAddr> {
        self.parsed()
            .from
            .get_or_init(|| NameAddr::parse(self.header("From")?))
            .as_ref()
    }

    pub fn to(&self) -> Option<&NameAddr> {
        self.parsed()
            .to
            .get_or_init(|| NameAddr::parse(self.header("To")?))
            .as_ref()
    }

    /// The From tag (`None` when absent, as with RFC 2543 peers).
    pub fn from_tag(&self) -> Option<String> {
        self.from()?.param("tag").map(str::to_owned)
    }

    /// The To tag; present on in-dialog requests and on most responses.
    pub fn to_tag(&self) -> Option<String> {
        self.to()?.param("tag").map(str::to_owned)
    }

    /// Contact values (RFC 3261 §20.10), `Contact: *` as [`Contacts::Wildcard`].
    pub fn contacts(&self) -> Contacts {
        let values: Vec<&str> = self.header_list("Contact").collect();
        if values.is_empty() {
            return Contacts::None;
        }
        if values.iter().any(|v| v.trim() == "*") {
            return if values.len() == 1 {
                Contacts::Wildcard
            } else {
                Contacts::Invalid
            };
        }
        let parsed: Option<Vec<NameAddr>> = values.into_iter().map(NameAddr::parse).collect();
        parsed.map(Contacts::List).unwrap_or(Contacts::Invalid)
    }

    pub fn max_forwards(&self) -> Option<u32> {
        self.header("Max-Forwards")?.trim().parse().ok()
    }

    /// The Expires header in seconds.
    pub fn expires(&self) -> Option<u32> {
        self.header("Expires")?.trim().parse().ok()
    }

    /// Whether the body is a session description (an offer or answer, early or not).
    #[must_use]
    pub fn carries_sdp(&self) -> bool {
        !self.body().is_empty() && self.content_type().as_deref() == Some("application/sdp")
    }

    /// Content-Type without parameters, lowercased.
    pub fn content_type(&self) -> Option<String> {
        let v = self.header("Content-Type")?;
        Some(
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase(),
        )
    }

    /// Refer-To (RFC 3515 §2.1), with any embedded `Replaces` still escaped in the URI.
    pub fn refer_to(&self) -> Option<NameAddr> {
        NameAddr::parse(self.header("Refer-To")?)
    }

    /// Referred-By (RFC 3892).
    pub fn referred_by(&self) -> Option<NameAddr> {
        NameAddr::parse(self.header("Referred-By")?)
    }

    /// Replaces (RFC 3891 §6.1).
    pub fn replaces(&self) -> Option<Replaces> {
        Replaces::parse(self.header("Replaces")?)
    }

    /// Session-Expires (RFC 4028 §4).
    pub fn session_expires(&self) -> Option<SessionExpires> {
        SessionExpires::parse(self.header("Session-Expires")?)
    }

    /// Option tags listed in a header such as Require, Supported or Proxy-Require.
    pub fn option_tags(&self, name: &str) -> Vec<String> {
        self.header_list(name)
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| !t.is_empty())
            .collect()
    }
}

fn parse_start_line(line: &str) -> Result<(StartLine, String, Option<Rejection>), ParseError> {
    if let Some(rest) = line.strip_prefix("SIP/") {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
        let mut parts = rest.splitn(3, ' ');
        let version = format!("SIP/{}", parts.next().unwrap_or_default());
        let code = parts
            .next()
            .filter(|c| c.len() == 3)
            .and_then(|c| c.parse::<u16>().ok())
            .filter(|c| (100..700).contains(c))
            .ok_or(ParseError::Unparseable("bad status code"))?;
        let reason = parts.next().unwrap_or_default().to_owned();
        return Ok((StartLine::Response { code, reason }, version, None));
    }
    // Request-Line = Method SP Request-URI SP SIP-Version: exactly one SP each (RFC 3261 §7.1).
    let parts: Vec<&str> = line.split(' ').collect();
    let method_token = parts.first().copied().unwrap_or_default();
    let method = Method::parse(method_token).ok_or(ParseError::Unparseable("bad method"))?;
    let version = parts.last().copied().unwrap_or_default();
    if parts.len() == 2 {
        // One element short: `METHOD uri` or `METHOD SIP/2.0`. Still recognisably a SIP
        // request, so it gets a 400 when its Via lets the answer be routed.
        let uri = if version.starts_with("SIP/") {
            ""
        } else {
            version
        };
        return Ok((
            StartLine::Request {
                method,
                uri: uri.to_owned(),
            },
            "SIP/2.0".to_owned(),
            Some(Rejection::new(400, "Malformed Request-Line")),
        ));
    }
    if parts.len() < 3 || !version.starts_with("SIP/") {
        // Not recognisably SIP (RFC 4475 test.dat): nothing sensible to answer.
        return Err(ParseError::Unparseable("no SIP version in request line"));
    }
    let mut problem = None;
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
        problem = Some(Rejection::new(400, "Malformed Request-Line"));
    }
    let uri = parts[1..parts.len() - 1].join(" ");
    if problem.is_none() && (uri.starts_with('<') || !uri.contains(':')) {
        problem = Some(Rejection::new(400, "Malformed Request-URI"));
    }
    Ok((
        StartLine::Request { method, uri },
        version.to_owned(),
        problem,
    ))
}

/// Digits in `n` written in decimal.
fn decimal_len(n: usize) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;

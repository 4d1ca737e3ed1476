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
pub use super::headers::*;
pub use super::uri::*;
use bytes::{BufMut, Bytes, BytesMut};
use std::borrow::Cow;
use std::fmt;
use std::sync::OnceLock;

/// The largest message we accept on any transport (RFC 3261 §18.1.1 suggests 1300 bytes for
/// UDP before switching to TCP; we accept up to 64 KiB, the UDP maximum, on both).
pub const MAX_MESSAGE_SIZE: usize = 65_535;
/// The largest header section we accept; bodies may use the rest of [`MAX_MESSAGE_SIZE`].
pub const MAX_HEADER_SECTION: usize = 16 * 1024;
/// At most this many header fields, so a hostile message cannot make us allocate without bound.
pub const MAX_HEADER_COUNT: usize = 128;

/// SIP request methods. Unknown methods are kept, not rejected: a UAS answers them 501.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Register,
    Options,
    Info,
    Update,
    Refer,
    Notify,
    Subscribe,
    Message,
    Prack,
    Publish,
    /// Any other token; methods are case-sensitive (RFC 3261 §7.1).
    Other(String),
}

impl Method {
    /// Parses a method token; `None` when it contains non-token characters.
    pub fn parse(token: &str) -> Option<Method> {
        if token.is_empty() || !token.bytes().all(is_token_char) {
            return None;
        }
        Some(match token {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "REGISTER" => Method::Register,
            "OPTIONS" => Method::Options,
            "INFO" => Method::Info,
            "UPDATE" => Method::Update,
            "REFER" => Method::Refer,
            "NOTIFY" => Method::Notify,
            "SUBSCRIBE" => Method::Subscribe,
            "MESSAGE" => Method::Message,
            "PRACK" => Method::Prack,
            "PUBLISH" => Method::Publish,
            other => Method::Other(other.to_owned()),
        })
    }

    /// The method as it appears on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Register => "REGISTER",
            Method::Options => "OPTIONS",
            Method::Info => "INFO",
            Method::Update => "UPDATE",
            Method::Refer => "REFER",
            Method::Notify => "NOTIFY",
            Method::Subscribe => "SUBSCRIBE",
            Method::Message => "MESSAGE",
            Method::Prack => "PRACK",
            Method::Publish => "PUBLISH",
            Method::Other(s) => s,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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

/// Long names of the compact header forms (RFC 3261 §7.3.3, RFC 3515, RFC 4028, RFC 3841).
fn expand_compact(name: &str) -> Option<&'static str> {
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

fn canonical_name(name: &str) -> Cow<'static, str> {
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
mod tests {
    use super::*;
    use std::time::Duration;

    const INVITE: &str = "INVITE sip:1001@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bK776asdhds;rport\r\n\
Max-Forwards: 70\r\n\
To: <sip:1001@example.com>\r\n\
From: \"Alice\" <sip:1000@example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:1000@10.0.0.1:5062>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 5\r\n\
\r\n\
v=0\r\n";

    #[test]
    fn a_typical_invite_parses_into_typed_headers() {
        let m = Message::parse(INVITE.as_bytes()).unwrap();
        assert_eq!(m.method(), Some(&Method::Invite));
        assert_eq!(m.call_id(), Some("a84b4c76e66710@pc33.example.com"));
        assert_eq!(m.cseq().unwrap().seq, 314159);
        let via = m.top_via().unwrap();
        assert_eq!(via.branch(), Some("z9hG4bK776asdhds"));
        assert_eq!((via.host.as_str(), via.port), ("10.0.0.1", Some(5062)));
        assert_eq!(via.param("rport"), Some(""));
        assert_eq!(m.from_tag().as_deref(), Some("1928301774"));
        assert_eq!(m.from().unwrap().display.as_deref(), Some("Alice"));
        assert_eq!(m.to_tag(), None);
        assert_eq!(m.body().as_ref(), b"v=0\r\n");
    }

    #[test]
    fn parsed_headers_follow_every_change_to_the_header_list() {
        let mut m = Message::parse(INVITE.as_bytes()).unwrap();
        assert_eq!(m.top_via().unwrap().branch(), Some("z9hG4bK776asdhds"));
        assert_eq!(m.from().unwrap().display.as_deref(), Some("Alice"));
        m.push_front("Via", "SIP/2.0/TCP 192.0.2.1;branch=z9hG4bKnew");
        assert_eq!(m.top_via().unwrap().branch(), Some("z9hG4bKnew"));
        m.remove_first("Via");
        assert_eq!(m.top_via().unwrap().branch(), Some("z9hG4bK776asdhds"));
        m.set("From", "<sip:carol@example.com>;tag=9");
        assert_eq!(m.from_tag().as_deref(), Some("9"));
        m.remove("To");
        assert_eq!(m.to(), None);
        m.push("To", "<sip:dave@example.com>");
        assert_eq!(m.to().unwrap().uri, "sip:dave@example.com");

        // A Via put in place stays parsed as what a fresh parse of the message reads.
        let mut stamped = m.top_via().cloned().unwrap();
        stamped.set_param("received", Some("192.0.2.77".into()));
        stamped.set_param("rport", Some("5070".into()));
        m.replace_top_via(stamped);
        let reparsed = Message::parse(&m.to_bytes()).unwrap();
        assert_eq!(m.top_via(), reparsed.top_via());
        assert_eq!(m.top_via().unwrap().param("received"), Some("192.0.2.77"));

        // The parsed Request-URI follows the Request-URI.
        let user = |m: &Message| m.sip_request_uri().and_then(|u| u.user.clone());
        assert_eq!(user(&m).as_deref(), Some("1001"));
        m.set_request_uri("sip:carol@example.com");
        assert_eq!(user(&m).as_deref(), Some("carol"));
        m.set_request_uri("tel:+33612345678");
        assert_eq!(m.sip_request_uri(), None);
    }

    #[test]
    fn headers_are_found_by_any_case_or_compact_form() {
        let m = Message::parse(INVITE.as_bytes()).unwrap();
        let call_id = m.header("Call-ID");
        assert!(call_id.is_some());
        for name in ["call-id", "CALL-ID", "i", "I"] {
            assert_eq!(m.header(name), call_id, "{name}");
            assert_eq!(m.headers_named(name).next(), call_id, "{name}");
        }
        assert_eq!(m.header("X-Nothing"), None);
        assert!(is_sip_scheme("SIPS:a@b") && is_sip_scheme("sip:a@b"));
        assert!(!is_sip_scheme("tel:+1") && !is_sip_scheme("sipx:a@b") && !is_sip_scheme("sip"));
    }

    #[test]
    fn serialising_then_parsing_gives_the_same_message() {
        let m = Message::parse(INVITE.as_bytes()).unwrap();
        let again = Message::parse(&m.to_bytes()).unwrap();
        assert_eq!(m, again);
    }

    #[test]
    fn compact_forms_and_folded_lines_are_normalised() {
        let raw = "OPTIONS sip:x@example.com SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bKa\r\n\
i: abc\r\nf: <sip:a@b>\r\n ;tag=1\r\nt: sip:x@example.com\r\nCSeq: 1 OPTIONS\r\nl: 0\r\n\r\n";
        let m = Message::parse(raw.as_bytes()).unwrap();
        assert_eq!(m.call_id(), Some("abc"));
        assert_eq!(m.from_tag().as_deref(), Some("1"));
        assert!(
            m.to_bytes()
                .starts_with(b"OPTIONS sip:x@example.com SIP/2.0\r\nVia: ")
        );
    }

    #[test]
    fn extra_octets_after_content_length_are_ignored_in_datagrams() {
        let raw = "REGISTER sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\nINVITE junk";
        let m = Message::parse(raw.as_bytes()).unwrap();
        assert!(m.body().is_empty());
    }

    #[test]
    fn a_content_length_beyond_the_datagram_is_a_400() {
        let raw = "OPTIONS sip:x@h SIP/2.0\r\nContent-Length: 99\r\n\r\nabc";
        match Message::parse(raw.as_bytes()) {
            Err(ParseError::Malformed { rejection, .. }) => assert_eq!(rejection.code, 400),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn via_with_lws_inside_the_protocol_parses() {
        let v = Via::parse("SIP  /   2.0 /UDP    192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.host, "192.0.2.2");
        let v6 =
            Via::parse("SIP/2.0/UDP [2001:db8::9:1];branch=z9hG4bKas3;received=[2001:db8::9:255]")
                .unwrap();
        assert_eq!(v6.host, "2001:db8::9:1");
        assert!(Via::parse("SIP/2.0/UDP 2001:db8::9:1").is_none());
    }

    #[test]
    fn list_splitting_ignores_commas_in_quotes_and_brackets() {
        let items: Vec<&str> = split_list("\"a, b\" <sip:x@y;p=a,b>, <sip:z@w>").collect();
        assert_eq!(items, vec!["\"a, b\" <sip:x@y;p=a,b>", "<sip:z@w>"]);
    }

    #[test]
    fn replaces_and_refer_to_headers_are_typed() {
        let m = Message::request(Method::Refer, "sip:a@b")
            .with(
                "Refer-To",
                "<sip:1002@h?Replaces=c1%40h%3Bto-tag%3Dt1%3Bfrom-tag%3Df1>",
            )
            .with("Replaces", "xyz@h;to-tag=a;from-tag=b;early-only")
            .with("x", "1800;refresher=uac");
        let r = m.replaces().unwrap();
        assert!(r.early_only);
        assert_eq!(r.to_tag, "a");
        let embedded = Replaces::from_refer_to_uri(&m.refer_to().unwrap().uri).unwrap();
        assert_eq!(embedded.call_id, "c1@h");
        assert_eq!(embedded.from_tag, "f1");
        let se = m.session_expires().unwrap();
        assert_eq!(se.interval, Duration::from_secs(1800));
        assert_eq!(se.refresher, Some(Refresher::Uac));
    }

    #[test]
    fn response_copies_the_transaction_headers() {
        let req = Message::parse(INVITE.as_bytes()).unwrap();
        let resp = Message::response_to(&req, 486, "Busy Here");
        assert_eq!(resp.status(), Some(486));
        assert_eq!(resp.call_id(), req.call_id());
        assert_eq!(resp.top_via(), req.top_via());
        assert!(resp.header("Contact").is_none());
    }

    #[test]
    fn an_addr_spec_with_angle_brackets_in_its_uri_is_refused() {
        // Found by fuzz/fuzz_targets/sip_message.rs: accepted bare, this From rendered as
        // `<rip:caller@example.org>tag}33243>`, which reads back as another URI plus junk.
        assert_eq!(NameAddr::parse("rip:caller@example.org>tag}33243"), None);
        assert_eq!(NameAddr::parse("<sip:a<b@h>"), None);
        let ok = NameAddr::parse("sip:caller@example.org;tag=1").unwrap();
        assert_eq!(NameAddr::parse(&ok.render()), Some(ok));
    }

    #[test]
    fn bare_cr_or_lf_inside_a_header_line_is_a_400() {
        // Found by fuzz/fuzz_targets/sip_message.rs. Neither may appear in a header value, not
        // even escaped (RFC 3261 §25.1 `quoted-pair`); kept, a display name such as
        // "a\nInjected: x" would become a header of its own at a phone that ends lines at LF.
        let with = |line: &str| {
            format!(
                "OPTIONS sip:a@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n{line}\r\n\
                 To: <sip:a@h>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n\r\n"
            )
        };
        for line in [
            "From: \"a\nInjected: x\" <sip:b@h>;tag=1",
            "From: <sip:b@h>;tag=1\rX",
            "From: <sip:b@h>;tag=1\r",
        ] {
            match Message::parse(with(line).as_bytes()) {
                Err(ParseError::Malformed { rejection, .. }) => {
                    assert_eq!(rejection, Rejection::new(400, "Malformed Header Line"));
                }
                other => panic!("{line:?} gave {other:?}"),
            }
        }
        assert!(Message::parse(with("From: <sip:b@h>;tag=1").as_bytes()).is_ok());
        assert!(matches!(
            Message::parse(b"OPTIONS sip:a\n@h SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\n"),
            Err(ParseError::Malformed { .. })
        ));
        assert!(matches!(
            Message::parse(b"SIP/2.0 200 O\rK\r\nVia: SIP/2.0/UDP h\r\n\r\n"),
            Err(ParseError::Unparseable(_))
        ));
    }

    #[test]
    fn stream_framing_uses_content_length_and_answers_pings() {
        let mut buf = b"\r\n\r\n".to_vec();
        assert_eq!(frame_stream(&buf), Frame::KeepAlive { len: 4, ping: true });
        buf = INVITE.as_bytes().to_vec();
        assert_eq!(frame_stream(&buf[..50]), Frame::Incomplete);
        assert_eq!(frame_stream(&buf), Frame::Message(INVITE.len()));
        buf.extend_from_slice(b"OPTIONS");
        assert_eq!(frame_stream(&buf), Frame::Message(INVITE.len()));
        assert!(matches!(
            frame_stream(b"OPTIONS sip:a SIP/2.0\r\nVia: x\r\n\r\n"),
            Frame::Invalid(_)
        ));
        // The fuzzer's find: a Content-Length near usize::MAX overflowed the total.
        let huge = format!("OPTIONS sip:a SIP/2.0\r\nl: {}\r\n\r\n", usize::MAX - 2);
        assert_eq!(
            frame_stream(huge.as_bytes()),
            Frame::Invalid("message too large")
        );
    }

    #[test]
    fn uri_helpers_extract_user_host_and_params() {
        assert_eq!(
            uri_user("sip:1001@10.0.0.1:5060;transport=tcp").as_deref(),
            Some("1001")
        );
        assert_eq!(
            uri_host_port("sip:1001@10.0.0.1:5060;transport=tcp"),
            Some(("10.0.0.1".into(), Some(5060)))
        );
        assert_eq!(
            uri_param("sip:1001@h;transport=TCP;lr", "transport").as_deref(),
            Some("TCP")
        );
        assert_eq!(
            uri_host_port("sip:[::1]:5070"),
            Some(("::1".into(), Some(5070)))
        );
        assert_eq!(uri_scheme("SIPS:a@b").as_deref(), Some("sips"));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_the_parser(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let _ = Message::parse(&bytes);
            let _ = frame_stream(&bytes);
        }

        #[test]
        fn arbitrary_header_text_never_panics_the_typed_accessors(s in ".{0,200}") {
            let _ = Via::parse(&s);
            let _ = NameAddr::parse(&s);
            let _ = Replaces::parse(&s);
            let _ = Replaces::from_refer_to_uri(&s);
            let _ = SessionExpires::parse(&s);
            let _ = CSeq::parse(&s);
            let _ = uri_host_port(&s);
            let _ = percent_decode(&s);
            let _ = split_list(&s).count();
        }
    }
}

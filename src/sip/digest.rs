//! HTTP Digest authentication for SIP servers: RFC 3261 §22, RFC 7616 (SHA-256), RFC 8760
//! (SHA-256 in SIP) and the RFC 2069 no-qop form that old phones still send.
//!
//! What is here, sans-IO (time is an argument, randomness comes from an RNG passed in):
//! - [`Credentials::parse`]: a robust parser for `Authorization` / `Proxy-Authorization` values.
//! - [`Challenge`]: builds `WWW-Authenticate` / `Proxy-Authenticate` values.
//! - [`NonceIssuer`]: stateless nonces (issue time + salt + HMAC-SHA-256) and a bounded
//!   nonce-count table that rejects replays.
//! - [`Verifier`]: checks a response against a plaintext password or a precomputed HA1, in
//!   constant time, and answers the same way (and with the same work) for unknown users.
//!
//! Only `qop=auth` (and no qop at all) is supported; `auth-int` is refused at parse time
//! because we never offer it.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use md5::Md5;
use rand::RngCore;
use sha2::{Digest, Sha256};
use thiserror::Error;

/// Errors from parsing credentials or building a [`NonceIssuer`], classified by blame.
///
/// Glue mapping: the malformed group (`Malformed`, `DuplicateParam`, `MissingParam`) answers
/// 400 Bad Request; the unsupported group (`NotDigest`, `UnsupportedAlgorithm`,
/// `UnsupportedQop`) answers 401/407 with fresh challenges, so the client can pick something
/// we offer; `SecretTooShort` is an internal configuration error.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DigestError {
    /// Malformed input: the header value does not follow the grammar.
    #[error("malformed digest credentials: {0}")]
    Malformed(&'static str),
    /// Malformed input: a parameter appears twice (RFC 7616 §3.4: each at most once).
    #[error("duplicate digest parameter `{0}`")]
    DuplicateParam(String),
    /// Malformed input: a mandatory parameter is absent.
    #[error("missing digest parameter `{0}`")]
    MissingParam(&'static str),
    /// Unsupported: the scheme is not `Digest` (for example `Basic`).
    #[error("authentication scheme is not Digest")]
    NotDigest,
    /// Unsupported: an algorithm other than MD5, MD5-sess, SHA-256, SHA-256-sess.
    #[error("unsupported digest algorithm `{0}`")]
    UnsupportedAlgorithm(String),
    /// Unsupported: a qop other than `auth`.
    #[error("unsupported qop `{0}`")]
    UnsupportedQop(String),
    /// Internal: the server secret given to [`NonceIssuer::new`] is shorter than 16 bytes.
    #[error("nonce secret must be at least {min} bytes", min = NonceIssuer::MIN_SECRET_LEN)]
    SecretTooShort,
}

/// A digest algorithm (RFC 7616 §3.2 / RFC 8760 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `MD5`, the RFC 2617 / RFC 3261 default when `algorithm` is absent.
    Md5,
    /// `MD5-sess`: HA1 is rehashed with the nonce and cnonce.
    Md5Sess,
    /// `SHA-256` (RFC 8760).
    Sha256,
    /// `SHA-256-sess`.
    Sha256Sess,
}

impl Algorithm {
    /// The token as written in headers (`MD5`, `SHA-256-sess`, …).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Md5Sess => "MD5-sess",
            Self::Sha256 => "SHA-256",
            Self::Sha256Sess => "SHA-256-sess",
        }
    }

    /// Parses a token case-insensitively; `None` for algorithms we do not support.
    #[must_use]
    pub fn from_token(token: &str) -> Option<Self> {
        [Self::Md5, Self::Md5Sess, Self::Sha256, Self::Sha256Sess]
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(token))
    }

    /// The non-session algorithm whose hash this one uses (a stored HA1 is per base algorithm).
    #[must_use]
    pub fn base(self) -> Self {
        match self {
            Self::Md5 | Self::Md5Sess => Self::Md5,
            Self::Sha256 | Self::Sha256Sess => Self::Sha256,
        }
    }

    /// Whether this is a `-sess` variant.
    #[must_use]
    pub fn is_sess(self) -> bool {
        matches!(self, Self::Md5Sess | Self::Sha256Sess)
    }

    /// The lowercase hex hash of `parts` joined by `:`.
    #[must_use]
    pub fn hash_hex(self, parts: &[&[u8]]) -> String {
        fn run<D: Digest>(parts: &[&[u8]]) -> String {
            let mut d = D::new();
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    d.update(b":");
                }
                d.update(p);
            }
            hex::encode(d.finalize())
        }
        match self.base() {
            Self::Sha256 => run::<Sha256>(parts),
            _ => run::<Md5>(parts),
        }
    }

    /// `H(username:realm:password)`, the value to store as a precomputed HA1.
    #[must_use]
    pub fn ha1(self, username: &str, realm: &str, password: &str) -> String {
        self.hash_hex(&[username.as_bytes(), realm.as_bytes(), password.as_bytes()])
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A nonce count (`nc`): exactly 8 hex digits. The text is kept as sent because it enters
/// the response hash verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonceCount {
    value: u32,
    text: String,
}

impl NonceCount {
    /// Parses 8 hex digits.
    pub fn parse(text: &str) -> Result<Self, DigestError> {
        if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(DigestError::Malformed("nc must be 8 hex digits"));
        }
        let value = u32::from_str_radix(text, 16)
            .map_err(|_| DigestError::Malformed("nc must be 8 hex digits"))?;
        Ok(Self {
            value,
            text: text.to_owned(),
        })
    }

    /// The count as a number.
    #[must_use]
    pub fn value(&self) -> u32 {
        self.value
    }

    /// The count as sent.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl From<u32> for NonceCount {
    fn from(value: u32) -> Self {
        Self {
            value,
            text: format!("{value:08x}"),
        }
    }
}

/// The `qop=auth` part of credentials: the client nonce and the nonce count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QopAuth {
    /// `cnonce`.
    pub cnonce: String,
    /// `nc`.
    pub nc: NonceCount,
}

/// Parsed `Authorization` / `Proxy-Authorization` credentials (RFC 3261 §25.1 `credentials`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// `username`.
    pub username: String,
    /// `realm`.
    pub realm: String,
    /// `nonce`, as echoed by the client.
    pub nonce: String,
    /// `uri` (the digest-uri); the glue should check it matches the Request-URI.
    pub uri: String,
    /// `response`, normalised to lowercase hex.
    pub response: String,
    /// `algorithm`, MD5 when absent.
    pub algorithm: Algorithm,
    /// `opaque`, echoed from the challenge if it had one.
    pub opaque: Option<String>,
    /// `Some` for `qop=auth`; `None` for the RFC 2069 form (then `cnonce`/`nc` are ignored).
    pub qop: Option<QopAuth>,
}

/// Upper bound on parameters in one header value, so hostile input stays cheap.
const MAX_PARAMS: usize = 32;

impl Credentials {
    /// Parses a header value such as `Digest username="bob", realm="x", …`.
    ///
    /// Names are case-insensitive and may come in any order; values may be quoted strings
    /// (with `\` escapes and commas inside) or tokens; unknown parameters are ignored;
    /// duplicates are rejected. Never panics.
    pub fn parse(value: &str) -> Result<Self, DigestError> {
        RawParams::parse(value)?.into_credentials()
    }

    /// Builds the credentials a client would send for `qop=auth` (or RFC 2069 when `qop` is
    /// `None`): useful for tests and for authenticating our own requests upstream.
    #[allow(clippy::too_many_arguments)]
    #[must_use]
    pub fn answer(
        algorithm: Algorithm,
        username: &str,
        realm: &str,
        password: &str,
        nonce: &str,
        method: &str,
        uri: &str,
        qop: Option<QopAuth>,
    ) -> Self {
        let ha1 = algorithm.base().ha1(username, realm, password);
        let response = compute_response(algorithm, &ha1, nonce, method, uri, qop.as_ref());
        Self {
            username: username.to_owned(),
            realm: realm.to_owned(),
            nonce: nonce.to_owned(),
            uri: uri.to_owned(),
            response,
            algorithm,
            opaque: None,
            qop,
        }
    }
}

impl FromStr for Credentials {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Digest username={}, realm={}, nonce={}, uri={}, response={}, algorithm={}",
            Quoted(&self.username),
            Quoted(&self.realm),
            Quoted(&self.nonce),
            Quoted(&self.uri),
            Quoted(&self.response),
            self.algorithm,
        )?;
        if let Some(q) = &self.qop {
            write!(
                f,
                ", cnonce={}, qop=auth, nc={}",
                Quoted(&q.cnonce),
                q.nc.as_str()
            )?;
        }
        if let Some(o) = &self.opaque {
            write!(f, ", opaque={}", Quoted(o))?;
        }
        Ok(())
    }
}

#[derive(Default)]
struct RawParams {
    username: Option<String>,
    realm: Option<String>,
    nonce: Option<String>,
    uri: Option<String>,
    response: Option<String>,
    algorithm: Option<String>,
    cnonce: Option<String>,
    opaque: Option<String>,
    qop: Option<String>,
    nc: Option<String>,
    stale: Option<String>,
}

impl RawParams {
    /// The parameters of a `Digest …` header value; see [`Credentials::parse`].
    fn parse(value: &str) -> Result<RawParams, DigestError> {
        let mut cur = Cursor::new(value);
        cur.skip_ws();
        let scheme = cur.take_token();
        if scheme.is_empty() {
            return Err(DigestError::Malformed("missing scheme"));
        }
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Err(DigestError::NotDigest);
        }
        if !cur.at_end() && !cur.skip_ws() {
            return Err(DigestError::Malformed("expected whitespace after scheme"));
        }

        let mut seen: Vec<String> = Vec::new();
        let mut p = RawParams::default();
        loop {
            // Empty list elements are allowed by the `#rule` (RFC 7230 §7).
            while cur.eat(b',') {
                cur.skip_ws();
            }
            if cur.at_end() {
                break;
            }
            let name = cur.take_token();
            if name.is_empty() {
                return Err(DigestError::Malformed("expected parameter name"));
            }
            cur.skip_ws();
            if !cur.eat(b'=') {
                return Err(DigestError::Malformed("expected `=` after parameter name"));
            }
            cur.skip_ws();
            let val = cur.take_value()?;
            cur.skip_ws();
            if !cur.at_end() && !cur.eat(b',') {
                return Err(DigestError::Malformed("expected `,` between parameters"));
            }
            cur.skip_ws();

            let lname = name.to_ascii_lowercase();
            if seen.contains(&lname) {
                return Err(DigestError::DuplicateParam(lname));
            }
            if seen.len() >= MAX_PARAMS {
                return Err(DigestError::Malformed("too many parameters"));
            }
            seen.push(lname.clone());
            let slot = match lname.as_str() {
                "username" => &mut p.username,
                "realm" => &mut p.realm,
                "nonce" => &mut p.nonce,
                "uri" => &mut p.uri,
                "response" => &mut p.response,
                "algorithm" => &mut p.algorithm,
                "cnonce" => &mut p.cnonce,
                "opaque" => &mut p.opaque,
                "qop" => &mut p.qop,
                "nc" => &mut p.nc,
                "stale" => &mut p.stale,
                _ => continue,
            };
            *slot = Some(val);
        }
        Ok(p)
    }

    fn into_challenge(self) -> Result<Challenge, DigestError> {
        let algorithm = match self.algorithm {
            None => Algorithm::Md5,
            Some(a) => Algorithm::from_token(&a).ok_or(DigestError::UnsupportedAlgorithm(a))?,
        };
        // A server may offer several qop values (`"auth,auth-int"`); only `auth` is spoken.
        let qop_auth = match &self.qop {
            None => false,
            Some(list)
                if list
                    .split(',')
                    .any(|q| q.trim().eq_ignore_ascii_case("auth")) =>
            {
                true
            }
            Some(list) => return Err(DigestError::UnsupportedQop(list.clone())),
        };
        Ok(Challenge {
            realm: self.realm.ok_or(DigestError::MissingParam("realm"))?,
            nonce: self.nonce.ok_or(DigestError::MissingParam("nonce"))?,
            algorithm,
            qop_auth,
            opaque: self.opaque,
            stale: self.stale.is_some_and(|v| v.eq_ignore_ascii_case("true")),
        })
    }

    fn into_credentials(self) -> Result<Credentials, DigestError> {
        let algorithm = match self.algorithm {
            None => Algorithm::Md5,
            Some(a) => Algorithm::from_token(&a).ok_or(DigestError::UnsupportedAlgorithm(a))?,
        };
        let response = self.response.ok_or(DigestError::MissingParam("response"))?;
        if response.is_empty() || !response.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(DigestError::Malformed("response must be hex"));
        }
        let qop = match self.qop {
            None => None,
            Some(q) if q.eq_ignore_ascii_case("auth") => Some(QopAuth {
                cnonce: self.cnonce.ok_or(DigestError::MissingParam("cnonce"))?,
                nc: NonceCount::parse(&self.nc.ok_or(DigestError::MissingParam("nc"))?)?,
            }),
            Some(q) => return Err(DigestError::UnsupportedQop(q)),
        };
        Ok(Credentials {
            username: self.username.ok_or(DigestError::MissingParam("username"))?,
            realm: self.realm.ok_or(DigestError::MissingParam("realm"))?,
            nonce: self.nonce.ok_or(DigestError::MissingParam("nonce"))?,
            uri: self.uri.ok_or(DigestError::MissingParam("uri"))?,
            response: response.to_ascii_lowercase(),
            algorithm,
            opaque: self.opaque,
            qop,
        })
    }
}

/// A byte cursor over a `&str`. It only ever stops on ASCII bytes or the end, so every slice
/// it takes falls on a char boundary; `get` keeps that from panicking even if it did not.
struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str) -> Self {
        Self { s, pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Skips linear white space (folded lines included); true if anything was skipped.
    fn skip_ws(&mut self) -> bool {
        let start = self.pos;
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.pos += 1;
        }
        self.pos > start
    }

    fn take_token(&mut self) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(is_token_byte) {
            self.pos += 1;
        }
        self.s.get(start..self.pos).unwrap_or("")
    }

    /// A quoted string (unescaped) or a bare value running to the next comma or space.
    fn take_value(&mut self) -> Result<String, DigestError> {
        if self.eat(b'"') {
            let rest = self.s.get(self.pos..).unwrap_or("");
            let mut out = String::new();
            let mut chars = rest.char_indices();
            while let Some((i, c)) = chars.next() {
                match c {
                    '"' => {
                        self.pos += i + 1;
                        return Ok(out);
                    }
                    '\\' => match chars.next() {
                        Some((_, e)) if !is_forbidden_ctl(e) => out.push(e),
                        Some(_) => return Err(DigestError::Malformed("control character")),
                        None => break,
                    },
                    c if is_forbidden_ctl(c) => {
                        return Err(DigestError::Malformed("control character"));
                    }
                    c => out.push(c),
                }
            }
            Err(DigestError::Malformed("unterminated quoted string"))
        } else {
            // Lenient: some phones send `uri=sip:x@y` or `algorithm=MD5` unquoted.
            let start = self.pos;
            while let Some(b) = self.peek() {
                if matches!(b, b',' | b' ' | b'\t' | b'\r' | b'\n' | b'"') || b.is_ascii_control() {
                    break;
                }
                self.pos += 1;
            }
            // The loop stops only on ASCII bytes, so this slice is on char boundaries.
            let v = self.s.get(start..self.pos).unwrap_or("");
            if v.is_empty() {
                return Err(DigestError::Malformed("empty parameter value"));
            }
            Ok(v.to_owned())
        }
    }
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

fn is_forbidden_ctl(c: char) -> bool {
    c.is_ascii_control() && c != '\t'
}

/// Writes a value as a quoted string, escaping `"` and `\`.
struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write;
        f.write_char('"')?;
        for c in self.0.chars() {
            if c == '"' || c == '\\' {
                f.write_char('\\')?;
            }
            f.write_char(c)?;
        }
        f.write_char('"')
    }
}

/// A `WWW-Authenticate` / `Proxy-Authenticate` challenge (RFC 3261 §25.1 `challenge`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// `realm`.
    pub realm: String,
    /// `nonce`.
    pub nonce: String,
    /// `algorithm`.
    pub algorithm: Algorithm,
    /// Offer `qop="auth"` (true unless talking to a pure RFC 2069 client).
    pub qop_auth: bool,
    /// `opaque`, echoed back unchanged by the client.
    pub opaque: Option<String>,
    /// `stale=true`: the previous response was right but its nonce had expired.
    pub stale: bool,
}

impl Challenge {
    /// Parses a `WWW-Authenticate` / `Proxy-Authenticate` value, as a client reads the
    /// challenge of a server it must authenticate to (a carrier's registrar). Same grammar
    /// and limits as [`Credentials::parse`]; never panics.
    pub fn parse(value: &str) -> Result<Challenge, DigestError> {
        RawParams::parse(value)?.into_challenge()
    }

    /// The credentials answering this challenge for `method` on `uri`: `qop=auth` with
    /// `cnonce` and nonce count `nc` when the server offered it, RFC 2069 otherwise; the
    /// opaque value is echoed.
    #[must_use]
    pub fn answer(
        &self,
        username: &str,
        password: &str,
        method: &str,
        uri: &str,
        cnonce: &str,
        nc: u32,
    ) -> Credentials {
        let qop = self.qop_auth.then(|| QopAuth {
            cnonce: cnonce.to_owned(),
            nc: NonceCount::from(nc),
        });
        let mut credentials = Credentials::answer(
            self.algorithm,
            username,
            &self.realm,
            password,
            &self.nonce,
            method,
            uri,
            qop,
        );
        credentials.opaque.clone_from(&self.opaque);
        credentials
    }
}

impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Digest realm={}, nonce={}, algorithm={}",
            Quoted(&self.realm),
            Quoted(&self.nonce),
            self.algorithm
        )?;
        if self.qop_auth {
            f.write_str(", qop=\"auth\"")?;
        }
        if let Some(o) = &self.opaque {
            write!(f, ", opaque={}", Quoted(o))?;
        }
        if self.stale {
            f.write_str(", stale=true")?;
        }
        Ok(())
    }
}

/// The response hash (RFC 7616 §3.4.1; RFC 2069 when `qop` is `None`).
///
/// `ha1` is the base `H(username:realm:password)` in lowercase hex; for `-sess` algorithms it
/// is rehashed with the nonce and cnonce here.
#[must_use]
pub fn compute_response(
    algorithm: Algorithm,
    ha1: &str,
    nonce: &str,
    method: &str,
    uri: &str,
    qop: Option<&QopAuth>,
) -> String {
    let cnonce = qop.map_or("", |q| q.cnonce.as_str());
    let ha1 = if algorithm.is_sess() {
        algorithm.hash_hex(&[ha1.as_bytes(), nonce.as_bytes(), cnonce.as_bytes()])
    } else {
        ha1.to_owned()
    };
    let ha2 = algorithm.hash_hex(&[method.as_bytes(), uri.as_bytes()]);
    match qop {
        Some(q) => algorithm.hash_hex(&[
            ha1.as_bytes(),
            nonce.as_bytes(),
            q.nc.as_str().as_bytes(),
            q.cnonce.as_bytes(),
            b"auth",
            ha2.as_bytes(),
        ]),
        None => algorithm.hash_hex(&[ha1.as_bytes(), nonce.as_bytes(), ha2.as_bytes()]),
    }
}

/// Compares two byte strings in time that depends only on their lengths.
#[must_use]
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // black_box keeps the optimiser from turning the fold into an early-exit comparison.
    std::hint::black_box(diff) == 0
}

/// HMAC-SHA-256 (RFC 2104) over the concatenation of `parts`.
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > block.len() {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    for p in parts {
        inner.update(p);
    }
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// What [`NonceIssuer::check`] thinks of a nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceStatus {
    /// Ours and within its lifetime.
    Valid,
    /// Ours, but older than the lifetime (or from the future: the epoch moved).
    Stale,
    /// Not ours: bad length, bad hex or bad MAC.
    Invalid,
}

/// What [`NonceIssuer::accept_nc`] thinks of a nonce count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NcStatus {
    /// First time this nc is seen for this nonce; it is now recorded.
    Fresh,
    /// Already seen, or too far behind the highest seen: a replay.
    Replayed,
    /// The nonce was pushed out of the bounded table: the client must get a new nonce.
    Evicted,
}

/// Identity of a nonce inside the replay table: (issue time in ms, salt). The MAC binds both.
type NonceKey = (u64, u64);

/// Sliding anti-replay window per nonce, as IPsec does (RFC 4303 §3.4.3): the highest nc
/// seen plus a bitmap of the 64 below it, so a few requests overtaking each other still pass.
#[derive(Debug, Clone, Copy)]
struct NcWindow {
    highest: u32,
    seen: u64,
}

impl NcWindow {
    const WIDTH: u32 = 64;

    fn new(nc: u32) -> Self {
        Self {
            highest: nc,
            seen: 1,
        }
    }

    fn accept(&mut self, nc: u32) -> bool {
        if nc > self.highest {
            let shift = nc - self.highest;
            self.seen = if shift >= Self::WIDTH {
                0
            } else {
                self.seen << shift
            };
            self.seen |= 1;
            self.highest = nc;
            return true;
        }
        let back = self.highest - nc;
        if back >= Self::WIDTH {
            return false;
        }
        let bit = 1u64 << back;
        if self.seen & bit != 0 {
            return false;
        }
        self.seen |= bit;
        true
    }
}

/// Mints and checks stateless nonces, and tracks nonce counts in a bounded table.
///
/// A nonce is 64 hex digits: issue time (ms since the caller's epoch, 8 bytes) ‖ random salt
/// (8 bytes) ‖ HMAC-SHA-256(secret, time ‖ salt) truncated to 16 bytes. Checking needs no
/// state. The epoch must stay the same for as long as the secret lives (use UNIX time if the
/// secret is persisted; a per-start epoch is fine with a per-start random secret).
///
/// Replay table: only nonces that passed a full response check get an entry, so an attacker
/// without a password cannot fill it. Entries are ordered by issue time; entries past the
/// lifetime are dropped (their nonce is stale anyway), and when the table is full the oldest
/// issued nonce is evicted and a watermark remembers it: any nonce issued at or before the
/// watermark that is not in the table is answered [`NcStatus::Evicted`] (treated as stale,
/// forcing a fresh nonce). So eviction costs an extra challenge round-trip, never a replay.
#[derive(Clone)]
pub struct NonceIssuer {
    secret: Vec<u8>,
    lifetime: Duration,
    capacity: usize,
    table: BTreeMap<NonceKey, NcWindow>,
    watermark: Option<NonceKey>,
}

impl NonceIssuer {
    /// Minimum accepted secret length in bytes.
    pub const MIN_SECRET_LEN: usize = 16;
    const NONCE_HEX_LEN: usize = 64;
    const MAC_LEN: usize = 16;

    /// A new issuer. `secret` should be 32 random bytes from the runtime; `lifetime` is how
    /// long a nonce stays valid (e.g. 300 s); `capacity` bounds the replay table (at least 1).
    pub fn new(
        secret: impl Into<Vec<u8>>,
        lifetime: Duration,
        capacity: usize,
    ) -> Result<Self, DigestError> {
        let secret = secret.into();
        if secret.len() < Self::MIN_SECRET_LEN {
            return Err(DigestError::SecretTooShort);
        }
        Ok(Self {
            secret,
            lifetime,
            capacity: capacity.max(1),
            table: BTreeMap::new(),
            watermark: None,
        })
    }

    /// The configured nonce lifetime.
    #[must_use]
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// Mints a nonce issued at `now` (time since the caller's epoch).
    #[must_use]
    pub fn mint(&self, now: Duration, rng: &mut impl RngCore) -> String {
        let ms = duration_ms(now);
        let salt = rng.next_u64();
        self.encode((ms, salt))
    }

    fn encode(&self, (ms, salt): NonceKey) -> String {
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&ms.to_be_bytes());
        bytes[8..16].copy_from_slice(&salt.to_be_bytes());
        let mac = self.mac(&bytes[..16]);
        bytes[16..].copy_from_slice(&mac);
        hex::encode(bytes)
    }

    fn mac(&self, body: &[u8]) -> [u8; Self::MAC_LEN] {
        let full = hmac_sha256(&self.secret, &[b"switchboard-nonce-v1", body]);
        let mut out = [0u8; Self::MAC_LEN];
        out.copy_from_slice(&full[..Self::MAC_LEN]);
        out
    }

    fn decode(&self, nonce: &str) -> Option<NonceKey> {
        if nonce.len() != Self::NONCE_HEX_LEN {
            return None;
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(nonce, &mut bytes).ok()?;
        let (body, mac) = bytes.split_at(16);
        if !constant_time_eq(&self.mac(body), mac) {
            return None;
        }
        let (ms, salt) = body.split_at(8);
        Some((
            u64::from_be_bytes(ms.try_into().ok()?),
            u64::from_be_bytes(salt.try_into().ok()?),
        ))
    }

    /// Checks a nonce's MAC and age. Pure: no table update.
    #[must_use]
    pub fn check(&self, nonce: &str, now: Duration) -> NonceStatus {
        match self.decode(nonce) {
            None => NonceStatus::Invalid,
            Some(key) if self.is_live(key, now) => NonceStatus::Valid,
            Some(_) => NonceStatus::Stale,
        }
    }

    fn is_live(&self, (ms, _): NonceKey, now: Duration) -> bool {
        let now_ms = duration_ms(now);
        ms <= now_ms && now_ms - ms <= duration_ms(self.lifetime)
    }

    /// Records nonce count `nc` for `nonce` (which must be [`NonceStatus::Valid`]; anything
    /// else is answered `Evicted`). Call only after the response checked out.
    pub fn accept_nc(&mut self, nonce: &str, nc: u32, now: Duration) -> NcStatus {
        let Some(key) = self.decode(nonce).filter(|k| self.is_live(*k, now)) else {
            return NcStatus::Evicted;
        };
        self.purge_expired(now);
        if let Some(w) = self.table.get_mut(&key) {
            return if w.accept(nc) {
                NcStatus::Fresh
            } else {
                NcStatus::Replayed
            };
        }
        if self.watermark.is_some_and(|w| key <= w) {
            return NcStatus::Evicted;
        }
        if self.table.len() >= self.capacity
            && self
                .table
                .first_key_value()
                .is_some_and(|(&first, _)| key < first)
        {
            // The newcomer is older than everything tracked: it is the one to drop.
            self.raise_watermark(key);
            return NcStatus::Evicted;
        }
        while self.table.len() >= self.capacity {
            match self.table.pop_first() {
                Some((old, _)) => self.raise_watermark(old),
                None => break,
            }
        }
        self.table.insert(key, NcWindow::new(nc));
        NcStatus::Fresh
    }

    fn raise_watermark(&mut self, key: NonceKey) {
        self.watermark = Some(self.watermark.map_or(key, |w| w.max(key)));
    }

    fn purge_expired(&mut self, now: Duration) {
        while let Some((&key, _)) = self.table.first_key_value() {
            if self.is_live(key, now) {
                break;
            }
            self.table.pop_first();
        }
    }

    /// Number of nonces currently tracked in the replay table.
    #[must_use]
    pub fn tracked(&self) -> usize {
        self.table.len()
    }
}

impl fmt::Debug for NonceIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NonceIssuer")
            .field("secret", &"<redacted>")
            .field("lifetime", &self.lifetime)
            .field("capacity", &self.capacity)
            .field("tracked", &self.table.len())
            .finish()
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A user's stored secret. `Debug` redacts it.
#[derive(Clone, PartialEq, Eq)]
pub enum StoredSecret {
    /// Plaintext password (lab profile only).
    Password(String),
    /// Precomputed `H(username:realm:password)` per base algorithm, lowercase hex. A missing
    /// one means the user cannot use that algorithm.
    Ha1 {
        /// For MD5 and MD5-sess.
        md5: Option<String>,
        /// For SHA-256 and SHA-256-sess.
        sha256: Option<String>,
    },
}

impl fmt::Debug for StoredSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Password(_) => f.write_str("Password(<redacted>)"),
            Self::Ha1 { md5, sha256 } => write!(
                f,
                "Ha1 {{ md5: {}, sha256: {} }}",
                if md5.is_some() { "<redacted>" } else { "None" },
                if sha256.is_some() {
                    "<redacted>"
                } else {
                    "None"
                },
            ),
        }
    }
}

impl StoredSecret {
    /// Precomputes both HA1 values from a password, for storage.
    #[must_use]
    pub fn ha1_from_password(username: &str, realm: &str, password: &str) -> Self {
        Self::Ha1 {
            md5: Some(Algorithm::Md5.ha1(username, realm, password)),
            sha256: Some(Algorithm::Sha256.ha1(username, realm, password)),
        }
    }

    /// Base HA1 for `algorithm`, or `None` if not stored.
    fn ha1(&self, username: &str, realm: &str, algorithm: Algorithm) -> Option<String> {
        match (self, algorithm.base()) {
            (Self::Password(p), base) => Some(base.ha1(username, realm, p)),
            (Self::Ha1 { sha256, .. }, Algorithm::Sha256) => sha256.clone(),
            (Self::Ha1 { md5, .. }, _) => md5.clone(),
        }
    }
}

/// The outcome of [`Verifier::verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Authenticated.
    Ok,
    /// The response was right for an expired nonce: re-challenge with `stale=true`.
    Stale,
    /// Rejected: re-challenge (or 403 after repeated failures). Says nothing about why.
    Fail,
}

/// Server-side digest verification for one realm.
#[derive(Debug, Clone)]
pub struct Verifier {
    realm: String,
    issuer: NonceIssuer,
    allow_rfc2069: bool,
    opaque: Option<String>,
    dummy: StoredSecret,
}

impl Verifier {
    /// A verifier for `realm`. Old RFC 2069 (no qop) responses are refused until
    /// [`Verifier::allow_rfc2069`] is called: without nc they can be replayed within the
    /// nonce lifetime.
    #[must_use]
    pub fn new(realm: impl Into<String>, issuer: NonceIssuer) -> Self {
        let dummy_password = hex::encode(hmac_sha256(&issuer.secret, &[b"dummy-user"]));
        Self {
            realm: realm.into(),
            issuer,
            allow_rfc2069: false,
            opaque: None,
            dummy: StoredSecret::Password(dummy_password),
        }
    }

    /// Accepts RFC 2069 responses (no qop, so no replay protection within the nonce lifetime).
    #[must_use]
    pub fn allow_rfc2069(mut self, allow: bool) -> Self {
        self.allow_rfc2069 = allow;
        self
    }

    /// Sends this `opaque` in challenges. It carries no security: all state is in the nonce.
    #[must_use]
    pub fn with_opaque(mut self, opaque: Option<String>) -> Self {
        self.opaque = opaque;
        self
    }

    /// Makes [`Verifier::verify_unknown_user`] use precomputed HA1 values, so its work
    /// matches a store of [`StoredSecret::Ha1`] rather than of plaintext passwords.
    #[must_use]
    pub fn dummy_uses_ha1(mut self, ha1: bool) -> Self {
        if let StoredSecret::Password(p) = &self.dummy
            && ha1
        {
            self.dummy = StoredSecret::ha1_from_password("", &self.realm, p);
        }
        self
    }

    /// The realm.
    #[must_use]
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The nonce issuer.
    #[must_use]
    pub fn issuer(&self) -> &NonceIssuer {
        &self.issuer
    }

    /// The two challenge header values to send, SHA-256 first then MD5 (RFC 8760 §2.4),
    /// sharing one fresh nonce. `stale` after a [`Verdict::Stale`].
    #[must_use]
    pub fn challenges(&self, now: Duration, rng: &mut impl RngCore, stale: bool) -> [String; 2] {
        let nonce = self.issuer.mint(now, rng);
        [Algorithm::Sha256, Algorithm::Md5].map(|algorithm| {
            Challenge {
                realm: self.realm.clone(),
                nonce: nonce.clone(),
                algorithm,
                qop_auth: true,
                opaque: self.opaque.clone(),
                stale,
            }
            .to_string()
        })
    }

    /// Verifies `creds` for a request with `method` against the user's stored secret.
    ///
    /// The glue must also check that `creds.uri` matches the Request-URI and that
    /// `creds.username` may act for the request (e.g. register that AOR).
    pub fn verify(
        &mut self,
        now: Duration,
        creds: &Credentials,
        method: &str,
        secret: &StoredSecret,
    ) -> Verdict {
        self.verify_inner(now, creds, method, secret, false)
    }

    /// Verifies against a dummy secret when `creds.username` is unknown: the same work and
    /// the same answer ([`Verdict::Fail`]) as a known user with a wrong password.
    pub fn verify_unknown_user(
        &mut self,
        now: Duration,
        creds: &Credentials,
        method: &str,
    ) -> Verdict {
        let dummy = self.dummy.clone();
        self.verify_inner(now, creds, method, &dummy, true)
    }

    fn verify_inner(
        &mut self,
        now: Duration,
        creds: &Credentials,
        method: &str,
        secret: &StoredSecret,
        force_fail: bool,
    ) -> Verdict {
        // Realm, qop policy and nonce validity do not depend on the user, so failing early
        // on them leaks nothing about which users exist.
        if creds.realm != self.realm || (creds.qop.is_none() && !self.allow_rfc2069) {
            return Verdict::Fail;
        }
        let status = self.issuer.check(&creds.nonce, now);
        if status == NonceStatus::Invalid {
            return Verdict::Fail;
        }
        let (ha1, have_ha1) = match secret.ha1(&creds.username, &self.realm, creds.algorithm) {
            Some(h) => (h, true),
            // Keep the work the same when the user has no HA1 for this algorithm.
            None => (
                self.dummy
                    .ha1(&creds.username, &self.realm, creds.algorithm)
                    .unwrap_or_default(),
                false,
            ),
        };
        let expected = compute_response(
            creds.algorithm,
            &ha1,
            &creds.nonce,
            method,
            &creds.uri,
            creds.qop.as_ref(),
        );
        let matches = constant_time_eq(expected.as_bytes(), creds.response.as_bytes());
        if !matches || !have_ha1 || force_fail {
            return Verdict::Fail;
        }
        if status == NonceStatus::Stale {
            return Verdict::Stale;
        }
        match &creds.qop {
            None => Verdict::Ok,
            Some(q) => match self.issuer.accept_nc(&creds.nonce, q.nc.value(), now) {
                NcStatus::Fresh => Verdict::Ok,
                NcStatus::Replayed => Verdict::Fail,
                NcStatus::Evicted => Verdict::Stale,
            },
        }
    }
}

#[cfg(test)]
#[path = "digest_tests.rs"]
mod tests;

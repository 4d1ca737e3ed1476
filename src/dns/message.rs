//! DNS messages (RFC 1035 §4): the query the switch sends and the answer it reads back.
//!
//! ```text
//!   header (12 octets: id, flags, four counts)
//!   question  × QDCOUNT   name, type, class
//!   answer    × ANCOUNT   name, type, class, TTL, RDLENGTH, RDATA
//!   authority × NSCOUNT
//!   additional× ARCOUNT   (where servers put the A records of SRV targets)
//! ```
//!
//! Answers come off the network from anyone who can guess a port, so parsing reads only
//! within bounds, never panics, allocates no more than the message's own size, and follows
//! compression pointers (§4.1.4) only backwards past the previous jump, which ends every
//! pointer chain, cycles included. A record type it does not know is kept as raw octets.
//! Writing never compresses: queries are small and the answers the tests serve need not be.

use super::DnsError;
use super::name::{MAX_NAME, Name, NameBuilder};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

/// A resource record type (RFC 1035 §3.2.2, RFC 3596, RFC 2782, RFC 6891).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordType(pub u16);

impl RecordType {
    pub const A: RecordType = RecordType(1);
    pub const CNAME: RecordType = RecordType(5);
    pub const AAAA: RecordType = RecordType(28);
    pub const SRV: RecordType = RecordType(33);
    pub const OPT: RecordType = RecordType(41);
}

/// Class IN, the only one the switch asks about.
pub const CLASS_IN: u16 = 1;

/// The response code (RFC 1035 §4.1.1), the low four bits of the flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rcode {
    NoError,
    FormErr,
    ServFail,
    /// The name does not exist (no record of any type).
    NxDomain,
    NotImp,
    Refused,
    Other(u8),
}

impl Rcode {
    fn from_flags(flags: u16) -> Rcode {
        match (flags & 0x000f) as u8 {
            0 => Rcode::NoError,
            1 => Rcode::FormErr,
            2 => Rcode::ServFail,
            3 => Rcode::NxDomain,
            4 => Rcode::NotImp,
            5 => Rcode::Refused,
            other => Rcode::Other(other),
        }
    }

    fn bits(self) -> u16 {
        u16::from(match self {
            Rcode::NoError => 0,
            Rcode::FormErr => 1,
            Rcode::ServFail => 2,
            Rcode::NxDomain => 3,
            Rcode::NotImp => 4,
            Rcode::Refused => 5,
            Rcode::Other(code) => code & 0x0f,
        })
    }
}

/// Flag bits (RFC 1035 §4.1.1).
const QR: u16 = 0x8000;
const TC: u16 = 0x0200;
const RD: u16 = 0x0100;

/// A question: which records of which name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Question {
    pub name: Name,
    pub qtype: RecordType,
    pub class: u16,
}

impl Question {
    /// A question for `name`'s records of `qtype`, class IN.
    #[must_use]
    pub fn new(name: Name, qtype: RecordType) -> Question {
        Question {
            name,
            qtype,
            class: CLASS_IN,
        }
    }
}

/// An SRV record's data (RFC 2782).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Srv {
    /// Lower is tried first.
    pub priority: u16,
    /// Within a priority, the share of picks (0: only when nothing else is left, mostly).
    pub weight: u16,
    pub port: u16,
    /// `.` means the service is not offered at this name.
    pub target: Name,
}

/// What a record holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordData {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Cname(Name),
    Srv(Srv),
    /// A type read as raw octets (a compressed name inside stays as it came).
    Other {
        rtype: RecordType,
        data: Vec<u8>,
    },
}

impl RecordData {
    /// The record's type.
    #[must_use]
    pub fn rtype(&self) -> RecordType {
        match self {
            RecordData::A(_) => RecordType::A,
            RecordData::Aaaa(_) => RecordType::AAAA,
            RecordData::Cname(_) => RecordType::CNAME,
            RecordData::Srv(_) => RecordType::SRV,
            RecordData::Other { rtype, .. } => *rtype,
        }
    }
}

/// A resource record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub name: Name,
    pub class: u16,
    /// Seconds, as sent; see [`Record::ttl`].
    pub ttl_secs: u32,
    pub data: RecordData,
}

impl Record {
    /// A class IN record.
    #[must_use]
    pub fn new(name: Name, ttl_secs: u32, data: RecordData) -> Record {
        Record {
            name,
            class: CLASS_IN,
            ttl_secs,
            data,
        }
    }

    /// How long the record may be kept. A TTL with the top bit set counts as zero (RFC 2181
    /// §8): some servers send negative numbers.
    #[must_use]
    pub fn ttl(&self) -> Duration {
        if self.ttl_secs > i32::MAX as u32 {
            Duration::ZERO
        } else {
            Duration::from_secs(self.ttl_secs.into())
        }
    }
}

/// A DNS message, query or response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: u16,
    /// The flags word as sent; see the accessors.
    pub flags: u16,
    pub questions: Vec<Question>,
    pub answers: Vec<Record>,
    pub authority: Vec<Record>,
    pub additional: Vec<Record>,
}

/// The UDP payload size the switch advertises (EDNS0, RFC 6891): large enough for an SRV set
/// with its addresses, small enough not to fragment (the DNS flag day 2020 value).
pub const EDNS_PAYLOAD: u16 = 1232;

impl Message {
    /// A recursive query for `question`, with `id` (random: it is half of what stops a forged
    /// answer, the source port the other half) and an EDNS0 OPT record so the answer may
    /// exceed 512 octets before it is truncated.
    #[must_use]
    pub fn query(id: u16, question: Question) -> Message {
        Message {
            id,
            flags: RD,
            questions: vec![question],
            answers: Vec::new(),
            authority: Vec::new(),
            additional: vec![Record {
                name: Name::root(),
                class: EDNS_PAYLOAD,
                ttl_secs: 0,
                data: RecordData::Other {
                    rtype: RecordType::OPT,
                    data: Vec::new(),
                },
            }],
        }
    }

    /// A response to `query` with `rcode` and no records yet (what a server or a test sends).
    #[must_use]
    pub fn response_to(query: &Message, rcode: Rcode) -> Message {
        Message {
            id: query.id,
            flags: QR | (query.flags & RD) | rcode.bits(),
            questions: query.questions.clone(),
            answers: Vec::new(),
            authority: Vec::new(),
            additional: Vec::new(),
        }
    }

    /// Whether this is a response (QR set).
    #[must_use]
    pub fn is_response(&self) -> bool {
        self.flags & QR != 0
    }

    /// Whether the server cut the message short (TC): what is here is a part; ask over TCP.
    #[must_use]
    pub fn truncated(&self) -> bool {
        self.flags & TC != 0
    }

    /// Sets or clears TC.
    pub fn set_truncated(&mut self, truncated: bool) {
        self.flags = if truncated {
            self.flags | TC
        } else {
            self.flags & !TC
        };
    }

    /// The response code.
    #[must_use]
    pub fn rcode(&self) -> Rcode {
        Rcode::from_flags(self.flags)
    }

    /// Whether this answers `query`: a response with its id and its one question (RFC 5452
    /// §9.1; the name compared without regard to case).
    #[must_use]
    pub fn answers(&self, query: &Message) -> bool {
        self.is_response() && self.id == query.id && self.questions == query.questions
    }

    /// The message on the wire, names uncompressed. `None` when a section holds more than
    /// 65535 entries or a record's data more than 65535 octets.
    #[must_use]
    pub fn to_bytes(&self) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(512);
        out.extend(self.id.to_be_bytes());
        out.extend(self.flags.to_be_bytes());
        for count in [
            self.questions.len(),
            self.answers.len(),
            self.authority.len(),
            self.additional.len(),
        ] {
            out.extend(u16::try_from(count).ok()?.to_be_bytes());
        }
        for q in &self.questions {
            out.extend(q.name.wire());
            out.extend(q.qtype.0.to_be_bytes());
            out.extend(q.class.to_be_bytes());
        }
        for record in self
            .answers
            .iter()
            .chain(&self.authority)
            .chain(&self.additional)
        {
            out.extend(record.name.wire());
            out.extend(record.data.rtype().0.to_be_bytes());
            out.extend(record.class.to_be_bytes());
            out.extend(record.ttl_secs.to_be_bytes());
            let data = match &record.data {
                RecordData::A(ip) => ip.octets().to_vec(),
                RecordData::Aaaa(ip) => ip.octets().to_vec(),
                RecordData::Cname(name) => name.wire().to_vec(),
                RecordData::Srv(srv) => {
                    let mut d = Vec::with_capacity(6 + srv.target.wire().len());
                    d.extend(srv.priority.to_be_bytes());
                    d.extend(srv.weight.to_be_bytes());
                    d.extend(srv.port.to_be_bytes());
                    d.extend(srv.target.wire());
                    d
                }
                RecordData::Other { data, .. } => data.clone(),
            };
            out.extend(u16::try_from(data.len()).ok()?.to_be_bytes());
            out.extend(data);
        }
        Some(out)
    }

    /// Reads a message. A truncated one (TC) may end inside a record: the records read whole
    /// until then are kept, the rest dropped. Octets after the last record are ignored.
    pub fn parse(bytes: &[u8]) -> Result<Message, DnsError> {
        let mut r = Reader { msg: bytes, at: 0 };
        let id = r.u16()?;
        let flags = r.u16()?;
        let qdcount = r.u16()?;
        let counts = [r.u16()?, r.u16()?, r.u16()?];
        let mut message = Message {
            id,
            flags,
            questions: Vec::new(),
            answers: Vec::new(),
            authority: Vec::new(),
            additional: Vec::new(),
        };
        for _ in 0..qdcount {
            let name = r.name()?;
            let qtype = RecordType(r.u16()?);
            let class = r.u16()?;
            message.questions.push(Question { name, qtype, class });
        }
        let truncated = message.truncated();
        for (section, count) in counts.into_iter().enumerate() {
            for _ in 0..count {
                let record = match r.record() {
                    Ok(record) => record,
                    Err(DnsError::Short) if truncated => return Ok(message),
                    Err(e) => return Err(e),
                };
                match section {
                    0 => message.answers.push(record),
                    1 => message.authority.push(record),
                    _ => message.additional.push(record),
                }
            }
        }
        Ok(message)
    }
}

/// A cursor over a whole message (names inside point anywhere before them).
struct Reader<'a> {
    msg: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, len: usize) -> Result<&[u8], DnsError> {
        let end = self.at.checked_add(len).ok_or(DnsError::Short)?;
        let slice = self.msg.get(self.at..end).ok_or(DnsError::Short)?;
        self.at = end;
        Ok(slice)
    }

    fn u16(&mut self) -> Result<u16, DnsError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, DnsError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A possibly compressed name at the cursor; the cursor ends after its last octet in
    /// sequence (the first pointer, or the root label).
    fn name(&mut self) -> Result<Name, DnsError> {
        let mut labels = NameBuilder::default();
        let mut pos = self.at;
        // Each jump must land before the previous one's target, so chains are finite: no
        // cycle, and at most one jump per octet before the first. The hop count is a second
        // guard, well above any real name's.
        let mut floor = pos;
        let mut jumped = false;
        let mut hops = 0;
        loop {
            let len = *self.msg.get(pos).ok_or(DnsError::Short)?;
            match len & 0xc0 {
                0x00 if len == 0 => {
                    if !jumped {
                        self.at = pos + 1;
                    }
                    return Ok(labels.finish());
                }
                0x00 => {
                    let start = pos + 1;
                    let label = self
                        .msg
                        .get(start..start + usize::from(len))
                        .ok_or(DnsError::Short)?;
                    labels.push(label)?;
                    pos = start + usize::from(len);
                }
                0xc0 => {
                    let low = *self.msg.get(pos + 1).ok_or(DnsError::Short)?;
                    let target = usize::from(len & 0x3f) << 8 | usize::from(low);
                    if target >= floor {
                        return Err(DnsError::Malformed("compression pointer not backwards"));
                    }
                    hops += 1;
                    if hops > MAX_NAME / 2 {
                        return Err(DnsError::Malformed("too many compression pointers"));
                    }
                    if !jumped {
                        self.at = pos + 2;
                        jumped = true;
                    }
                    floor = target;
                    pos = target;
                }
                _ => return Err(DnsError::Malformed("extended label type")),
            }
        }
    }

    fn record(&mut self) -> Result<Record, DnsError> {
        let name = self.name()?;
        let rtype = RecordType(self.u16()?);
        let class = self.u16()?;
        let ttl_secs = self.u32()?;
        let len = usize::from(self.u16()?);
        let start = self.at;
        let end = start + len;
        if end > self.msg.len() {
            return Err(DnsError::Short);
        }
        let data = match rtype {
            RecordType::A => {
                let octets: [u8; 4] = self.take(len)?.try_into().map_err(|_| bad_length())?;
                RecordData::A(Ipv4Addr::from(octets))
            }
            RecordType::AAAA => {
                let octets: [u8; 16] = self.take(len)?.try_into().map_err(|_| bad_length())?;
                RecordData::Aaaa(Ipv6Addr::from(octets))
            }
            RecordType::CNAME => RecordData::Cname(self.name_within(end)?),
            RecordType::SRV => {
                if len < 7 {
                    return Err(bad_length());
                }
                let priority = self.u16()?;
                let weight = self.u16()?;
                let port = self.u16()?;
                let target = self.name_within(end)?;
                RecordData::Srv(Srv {
                    priority,
                    weight,
                    port,
                    target,
                })
            }
            rtype => RecordData::Other {
                rtype,
                data: self.take(len)?.to_vec(),
            },
        };
        if self.at != end {
            return Err(bad_length());
        }
        Ok(Record {
            name,
            class,
            ttl_secs,
            data,
        })
    }

    /// A name inside record data that ends at `end`: it may point outside, but its own
    /// octets must not run past the data.
    fn name_within(&mut self, end: usize) -> Result<Name, DnsError> {
        let limited = &self.msg[..end];
        let mut inner = Reader {
            msg: limited,
            at: self.at,
        };
        let name = inner.name().map_err(|e| match e {
            DnsError::Short => bad_length(),
            other => other,
        })?;
        self.at = inner.at;
        Ok(name)
    }
}

fn bad_length() -> DnsError {
    DnsError::Malformed("record data length does not fit its type")
}

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;

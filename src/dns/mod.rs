//! Locating a trunk's gateways in the DNS (RFC 3263 §4.1–4.2 without NAPTR), sans-IO.
//!
//! - [`message`]: DNS messages (RFC 1035 §4): the query written, the answer read (compression,
//!   truncation, response codes), strictly within bounds since answers are untrusted bytes.
//! - [`srv`]: the order SRV targets are tried in (RFC 2782): priority, then weighted random.
//! - [`locate`]: the [`Locator`] that turns a gateway (`carrier.example`,
//!   `carrier.example:5080`, `192.0.2.10`) into addresses to try in order: the questions to
//!   ask come out, the answers go in; the runtime's client (`runtime/dns_client.rs`) owns the
//!   socket, the clock and the retries.

pub mod locate;
pub mod message;
pub mod name;
pub mod srv;

pub use locate::{Located, Locator, LocatorOutput, Via};
pub use message::{Message, Question, Rcode, Record, RecordData, RecordType, Srv};
pub use name::Name;

/// Why DNS bytes or a name were refused (malformed input: the peer's or the profile's fault).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// The message ends inside a field (a truncated answer's last record may).
    #[error("the DNS message ends early")]
    Short,
    #[error("malformed DNS message: {0}")]
    Malformed(&'static str),
    #[error("{0:?} is not a domain name")]
    BadName(String),
}

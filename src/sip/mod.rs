//! SIP protocol layer (RFC 3261 and friends), sans-IO.

pub mod auth_guard;
pub mod dialog;
pub mod digest;
pub mod framing;
pub mod header_names;
pub mod headers;
pub mod message;
pub mod method;
pub mod outbound_registration;
pub mod registrar;
pub mod transaction;
pub mod transport;
pub mod uri;
pub mod validate;

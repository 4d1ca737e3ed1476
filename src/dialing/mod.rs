//! Dialling external numbers (sans-IO): what a typed number means in E.164, and whether the
//! caller may dial it, and which trunks to try in which order. The first pieces of outbound calling (issue 15 item 2); trunks and the
//! outbound dial plan that picks a gateway build on these.

pub mod number;
pub mod route;
pub mod toll;

pub use number::{E164, NumberError, NumberPlan};
pub use route::{AttemptEnd, OutboundPlan, OutboundRoute, RouteError, fails_over};
pub use toll::{CallingClass, DEFAULT_BLOCKED, TollPolicy, TollRefusal};

//! Dialling external numbers (sans-IO): what a typed number means in E.164, and whether the
//! caller may dial it. The first pieces of outbound calling (issue 15 item 2); trunks and the
//! outbound dial plan that picks a gateway build on these.

pub mod number;
pub mod toll;

pub use number::{E164, NumberError, NumberPlan};
pub use toll::{CallingClass, TollPolicy, TollRefusal};

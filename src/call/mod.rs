//! The B2BUA core (sans-IO): every call is legs the switch terminates, bridged by the switch.
//!
//! ```text
//!  caller            switch (A leg | B leg)             callee
//!    | INVITE (SDP a) ->|                                  |
//!    |<- 407 / ACK      |                                  |
//!    | INVITE+auth ---->|-- INVITE (SDP b', own Call-ID) ->|
//!    |<- 100            |<--------------------------- 180 -|
//!    |<- 180            |<--------------------- 200 (SDP b)|
//!    |<- 200 (SDP a') --|-- ACK -------------------------->|
//!    | ACK ------------>|                                  |
//!    |<==== RTP a<->a' ====> relay <==== RTP b'<->b ======>|
//! ```
//! The switch answers each leg with its own media endpoint (a', b'), so hold, transfer,
//! conference and recording are changes to which endpoints are bridged, not to the phones.
//!
//! [`Switch`] is the one owner of SIP state: the transaction layer, the registrar, dialogs and
//! calls. The runtime feeds it datagrams, media events and timeouts and carries out its
//! [`Output`]s, following the drain contract in the crate docs.
//!
//! Like an endpoint and its connections, the switch routes each message to its call (by
//! dialog, or by the transaction handle its purpose names) and a call is made of legs, one
//! type per role: the inbound leg the switch accepts (`model::InboundLeg`, its UAS role)
//! and outbound legs it places (`outbound::OutboundLeg`, its UAC role: forks, the first
//! 2xx winning), reused by the callee side, consults and blind transfers. A call's
//! deadlines are its own (`timers.rs`). What the contact center decides (which numbers reach
//! queues, how their media is treated) comes in as a [`DialPlan`]. A `Call` decides what
//! happens to itself and queues it as its own outputs (`machine.rs`: answering, hold,
//! conference, the in-dialog relay, consult, warm and blind transfer, hanging up, which of its
//! deadlines are due), and the switch sends its SIP and keeps what needs the switch's maps
//! and resources (routing, ports, admission, CDRs, tombstones). Setting up a leg is still a
//! switch method, as it needs the registrar and the port pool; `machine.rs` lists what moved.

mod admin;
mod admission;
mod attended;
mod bridged_transfer;
mod cdr;
mod consult;
mod courtesy;
#[cfg(test)]
mod courtesy_tests;
mod dial_plan;
mod hold;
mod identifiers;
mod identity;
mod in_dialog;
mod inspect;
mod invite;
mod invite_routing;
#[cfg(test)]
pub(crate) mod lab;
#[cfg(test)]
mod limit_tests;
mod limits;
mod machine;
mod model;
mod outbound;
mod outdial;
#[cfg(test)]
mod outdial_tests;
mod queue;
mod received;
pub mod record;
mod register;
mod rejection;
#[cfg(test)]
mod security_tests;
mod srtp_policy;
#[cfg(test)]
mod srtp_tests;
mod switch;
mod timers;
#[cfg(test)]
mod tls_tests;
mod tombstone;
mod transfer;
#[cfg(test)]
mod trunk_call_tests;
mod trunk_calls;
mod trunk_config;
mod trunk_registration;
#[cfg(test)]
pub(crate) mod trunk_registration_tests;
#[cfg(test)]
mod trunk_tests;
pub mod trunks;

pub use admin::TrunkOverview;
pub use admission::SourceLimits;
pub use dial_plan::{DialPlan, QueueTreatment};
pub use inspect::Holdings;
pub use model::{
    CadFromSip, ConsultFailure, EndpointId, MediaCommand, MediaEvent, MediaPolicy, OfferFailure,
    Output, QueueCommand, QueueEvent, QueueMedia, SwitchEvent,
};
pub use rejection::Rejection;
pub use srtp_policy::{SrtpMode, SrtpPolicy, sdes_allowed};
pub use switch::{RngSeed, Switch, SwitchConfig};
pub use trunk_registration::{TrunkRegistrationState, TrunkRegistrationStatus};

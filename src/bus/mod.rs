//! What passes between the core loop and its clients, below both: [`events`] carries what
//! the core publishes out to desktops (a sequenced ring with live fan-out), and [`requests`]
//! carries what the CTI API asks of the core in (a bounded channel with a reply each);
//! [`outbound`] holds the two requests that need the switch and the contact center in one
//! step (click-to-dial, a website's callback request).
//!
//! Neither `runtime/` nor `cti/` imports the other: both use this module, and `main.rs`
//! composes them. `events` sits below the contact-center core (which names an
//! [`events::Audience`] for each event it emits); `requests` sits above it (it carries the
//! core's request and reply types).

pub mod events;
pub mod outbound;
pub mod requests;

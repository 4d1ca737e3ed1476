//! Switchboard: a SIP/RTP softswitch (B2BUA) for contact centers.
//!
//! # Layers
//! - [`sip`]: messages, transactions, dialogs, registrar and digest auth (sans-IO).
//! - [`media`]: RTP, G.711, SDP and the packet rewriting that keeps streams continuous (sans-IO).
//! - [`call`]: the B2BUA: calls made of legs and bridges (sans-IO).
//! - [`routing`]: agents, queues, the ACD and RONA (sans-IO).
//! - [`dialing`]: external numbers normalised to E.164, calling classes and blocked prefixes
//!   (sans-IO).
//! - [`dns`]: DNS queries and answers, and RFC 3263 location of trunk gateways (SRV, then
//!   A/AAAA) (sans-IO).
//! - [`center`]: the contact center: the ACD plus hold, consult, transfer and recording
//!   stages of queue calls (sans-IO).
//! - [`node`]: the switch and the contact center wired together, as the runtime drives them
//!   (sans-IO).
//! - [`store`]: sqlx repositories (SQLite by default, PostgreSQL).
//! - [`bus`]: the event bus to desktops and the request channel from the API to the core.
//! - [`cti`]: the REST API agent desktops drive.
//! - [`runtime`]: the IO shell: sockets, tasks and the loop that drives the cores.
//! - [`clock`]: the one place that reads clocks.
//!
//! `runtime` and `cti` do not import each other; `main.rs` composes them.
//!
//! # The drain contract
//! Every sans-IO core in this crate is driven the same way: one mutation goes in
//! (`handle_message(now, ..)`, `handle_command(now, ..)` or `handle_timeout(now)`), then the
//! caller drains `poll_output()` until it returns `None`, and finally sleeps until
//! `poll_timeout()` (or until the next input arrives). Cores never read the clock, touch a
//! socket or draw randomness themselves: time is an argument and RNGs are passed in.

#[cfg(feature = "server")]
pub mod bus;
pub mod call;
#[cfg(feature = "server")]
pub mod center;
pub mod clock;
pub mod config;
#[cfg(feature = "server")]
pub mod cti;
pub mod dialing;
pub mod dns;
pub mod ids;
pub mod media;
#[cfg(feature = "server")]
pub mod node;
pub mod routing;
#[cfg(feature = "server")]
pub mod runtime;
#[cfg(all(test, feature = "server"))]
mod sim;
pub mod sip;
#[cfg(feature = "server")]
pub mod store;
#[cfg(feature = "server")]
pub mod tls;

//! Contact-center routing: agents and their state machines, queues, distribution strategies
//! and RONA (sans-IO, like `sip` and `call`).

pub mod model;

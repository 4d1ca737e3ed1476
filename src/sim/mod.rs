//! Tests only: the whole switch in virtual time (issue 14). The switch and the contact
//! center, wired by [`crate::node::Node`] exactly as the runtime wires them, talk to
//! scripted phones over a seeded network (latency, loss, duplication, reordering) and are
//! driven by scripted desktops; a model of the media plane carries out media commands and
//! reports recordings. [`world::World::step`] jumps the clock to the next thing that
//! happens. Every flow runs over many seeds, with invariants checked after every step and
//! at the end (see `invariants.rs`).
//!
//! A failing seed panics with `seed N` and how to replay it: `SIM_SEED=N` runs that seed
//! alone, `SIM_TRACE=1` prints every datagram, action, media command, CDR and event.

mod desktop;
mod invariants;
mod media;
mod net;
mod phone;
mod world;

mod center_flows;
mod ending_flows;
mod plain_flows;

/// Seeds each flow runs over.
const SEEDS: u64 = 200;

/// Runs `flow` over every seed (or only `SIM_SEED`'s).
fn over_seeds(mut flow: impl FnMut(u64)) {
    let only: Option<u64> = std::env::var("SIM_SEED").ok().and_then(|s| s.parse().ok());
    for seed in 0..SEEDS {
        if only.is_none_or(|only| only == seed) {
            flow(seed);
        }
    }
}

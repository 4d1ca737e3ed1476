//! Media: the sans-IO building blocks the runtime uses to anchor RTP for a B2BUA.
//!
//! A leg is a media endpoint; a bridge connects endpoints. Every packet the switch sends
//! toward a leg passes through that leg's [`rewrite::StreamRewriter`], so hold, transfer,
//! conference and recording can re-bridge freely while the leg keeps seeing one continuous
//! RTP stream (one SSRC, continuous sequence numbers and timestamps, RFC 3550 §5.1).
//!
//! - [`rtp`]: RTP packet views and RTP/RTCP demultiplexing (RFC 3550, RFC 5761).
//! - [`g711`]: µ-law and A-law companding and transcoding (ITU-T G.711).
//! - [`sdp`]: SDP parsing, rendering and offer/answer for one audio stream (RFC 8866,
//!   RFC 3264).
//! - [`sdes`]: the `a=crypto` attribute that carries SRTP keys in SDP (RFC 4568).
//! - [`srtp`]: SRTP/SRTCP contexts for SDES-keyed legs (RFC 3711, RFC 4568).
//! - [`rewrite`]: the continuous outgoing stream toward one leg.
//! - [`ports`]: RTP/RTCP port pair allocation from the profile's range.
//! - [`dtmf`]: the digits a phone keys: RFC 4733 telephone-events and in-band tones in its
//!   G.711 audio (ITU-T Q.23/Q.24).
//! - [`denoise`]: RNNoise on 8 kHz G.711 audio, switchable per relay direction mid-call.
//! - [`resample`]: the 8 kHz ↔ 48 kHz polyphase filters the suppressor runs in.
//! - [`rnnoise`]: RNNoise's network with SIMD-friendly inference, one 10 ms frame at a time.
//! - [`recorder`]: stereo WAV call recordings with a JSON sidecar, crash-safe (file IO);
//!   [`recorder::timeline`] places the recorded packets by their RTP numbering (sans-IO).
//! - [`mixer`]: mix-minus conferencing of 20 ms frames.
//! - [`player`]: looped announcements and music on hold as G.711 packets.
//! - [`relay`]: the media relay core: latching, bridging, the stages above and their timers
//!   for every endpoint of one shard.
//!
//! Nothing here reads the clock or touches a socket: time is an `Instant` argument and the
//! runtime binds the ports it is given. [`recorder`] writes files (the architecture allows it)
//! but reads no clock either.

pub mod denoise;
pub mod dtmf;
pub mod g711;
pub mod mixer;
pub mod offer_answer;
pub mod player;
pub mod ports;
pub mod recorder;
pub mod relay;
pub mod resample;
pub mod rewrite;
pub mod rnnoise;
pub mod rtp;
pub mod sdes;
pub mod sdp;
pub mod srtp;
#[cfg(test)]
pub(crate) mod test_signals;

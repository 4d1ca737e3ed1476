//! Which legs speak SRTP keyed by SDES (RFC 4568), and the keys the switch writes for them.
//!
//! SDES puts the master keys in the SDP, in clear text inside the SIP message, so SRTP keyed
//! that way is only as private as the signalling: RFC 4568 §8.3 requires the SDP to travel
//! over a secure transport (TLS). The decision is [`sdes_allowed`], one function of the leg's
//! transport and the profile:
//!
//! - **A caller** that offers `RTP/SAVP` over TLS is answered `RTP/SAVP` with a fresh key of
//!   ours; over UDP or TCP its offer is refused with `488` and `Warning: 302` (incompatible
//!   transport protocol), since answering would send our key in clear and its own key has
//!   already been exposed. A caller that offers `RTP/AVP` is answered plainly, `a=crypto`
//!   lines or not: no "best-effort" SRTP.
//! - **A callee** is offered `RTP/SAVP` when every contact rung registered over TLS (the
//!   forks share one offer), plain `RTP/AVP` otherwise.
//!
//! Yardsticks: Asterisk offers SDES only on endpoints set to `media_encryption=sdes` and
//! warns that the keys are exposed on an insecure transport, but sends them anyway;
//! FreeSWITCH answers any `RTP/SAVP` offer whatever the transport (`rtp_secure_media`). We
//! are stricter: keys never cross plaintext signalling unless the lab switch
//! `media.sdes_over_plain_signalling` says so, which the switch refuses off loopback (see
//! `runtime::exposure`), so tests over UDP can exercise SRTP.
//!
//! Each leg is independent: the relay decrypts on one and encrypts for the other, so an SRTP
//! caller can talk to a plain callee and the other way round. Our keys come from the switch's
//! CSPRNG (ChaCha12 seeded from the OS), one per suite per leg, fresh for every call: each
//! direction of each leg has its own key, since the phone encrypts with its own.

use super::switch::Switch;
use crate::media::sdp::LocalSrtp;
use crate::media::srtp::{MasterKey, SrtpSuite};
use crate::sip::registrar::Transport;

/// Whether the switch does SDES-keyed SRTP at all (the profile's `media.srtp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SrtpMode {
    /// `RTP/SAVP` offers get 488 and callees are never offered it.
    Off,
    /// SRTP where the signalling is secure (see the module doc).
    #[default]
    WhenOfferedOverTls,
}

/// The profile's SRTP settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SrtpPolicy {
    pub mode: SrtpMode,
    /// Lab only: accept `RTP/SAVP` offers over plaintext signalling too.
    pub sdes_over_plain_signalling: bool,
}

/// Whether SDES keys may be exchanged with a phone whose signalling uses `transport`.
#[must_use]
pub fn sdes_allowed(policy: SrtpPolicy, transport: Transport) -> bool {
    match policy.mode {
        SrtpMode::Off => false,
        SrtpMode::WhenOfferedOverTls => transport.is_secure() || policy.sdes_over_plain_signalling,
    }
}

/// Whether the switch offers `RTP/SAVP` to a callee reached over `transport`: only over a
/// secure transport, whatever the lab switch (it lets callers in, it never sends our keys
/// out in clear).
#[must_use]
pub fn offer_sdes_to(policy: SrtpPolicy, transport: Transport) -> bool {
    policy.mode != SrtpMode::Off && transport.is_secure()
}

impl Switch {
    /// Fresh keys for one leg, one per suite we speak.
    pub(super) fn fresh_srtp(&mut self) -> LocalSrtp {
        let rng = &mut self.rng;
        LocalSrtp {
            keys: SrtpSuite::ALL
                .into_iter()
                .map(|suite| MasterKey::generate(suite, rng))
                .collect(),
            offer: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: SrtpPolicy = SrtpPolicy {
        mode: SrtpMode::WhenOfferedOverTls,
        sdes_over_plain_signalling: false,
    };

    #[test]
    fn by_default_keys_are_exchanged_over_tls_only() {
        assert!(sdes_allowed(DEFAULT, Transport::Tls));
        for plain in [Transport::Udp, Transport::Tcp, Transport::Ws] {
            assert!(!sdes_allowed(DEFAULT, plain), "{plain:?}");
        }
    }

    #[test]
    fn the_lab_switch_lets_plain_signalling_callers_in_but_never_offers_over_it() {
        let lab = SrtpPolicy {
            sdes_over_plain_signalling: true,
            ..DEFAULT
        };
        assert!(sdes_allowed(lab, Transport::Udp));
        assert!(!offer_sdes_to(lab, Transport::Udp));
        assert!(offer_sdes_to(lab, Transport::Tls));
    }

    #[test]
    fn off_means_off_even_over_tls() {
        let off = SrtpPolicy {
            mode: SrtpMode::Off,
            sdes_over_plain_signalling: true,
        };
        assert!(!sdes_allowed(off, Transport::Tls));
        assert!(!offer_sdes_to(off, Transport::Tls));
    }
}

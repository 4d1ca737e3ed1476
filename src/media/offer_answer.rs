//! The offer/answer model (RFC 3264) for the one audio stream a B2BUA leg anchors: the
//! switch's own side of a leg ([`LocalMedia`]), what it agrees with the phone
//! ([`Negotiated`]), and the SDES keys of an `RTP/SAVP` leg ([`LocalSrtp`], [`SrtpKeys`]).
//! Parsing and rendering are in [`super::sdp`], which re-exports these.

use std::net::IpAddr;
use std::time::Duration;

use super::sdes::{self, CryptoAttribute};
use super::sdp::{
    AVP, Attribute, Codec, CodecName, Direction, MediaDescription, Origin, SAVP,
    SessionDescription, answer_direction,
};
use super::srtp::MasterKey;

/// The codecs agreed for a leg's audio stream. Payload type numbers are the ones used on
/// that leg in both directions (we answer with the offerer's numbers, RFC 3264 §6.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The audio codec (PCMU or PCMA).
    pub codec: Codec,
    /// RFC 4733 telephone-event, when both sides do it.
    pub telephone_event: Option<Codec>,
    /// The SDES keys, when the leg is `RTP/SAVP` (boxed: media commands carry this by
    /// value, and most legs are plain).
    pub srtp: Option<Box<SrtpKeys>>,
}

/// The two keys of an SRTP leg: each side encrypts with the key it wrote in its own SDP
/// (RFC 4568 §6.1), so the phone's key decrypts what it sends and ours encrypts what we send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrtpKeys {
    /// Ours: what the switch sends to the phone.
    pub local: MasterKey,
    /// The phone's: what it sends to the switch.
    pub remote: MasterKey,
}

impl Negotiated {
    /// The negotiated codecs as a list, audio first.
    #[must_use]
    pub fn codecs(&self) -> Vec<Codec> {
        std::iter::once(self.codec.clone())
            .chain(self.telephone_event.clone())
            .collect()
    }
}

/// Picks the codecs to answer an audio offer with (RFC 3264 §6.1).
///
/// The audio codec is the first one in the offer's preference order that is G.711 at
/// 8000 Hz and named in `supported`. telephone-event is kept, with the offerer's payload
/// type and fmtp, when `supported` names it and it is offered at the audio codec's clock
/// rate. `None` when the stream is disabled, is neither `RTP/AVP` nor `RTP/SAVP`, or shares
/// no codec: the SIP layer answers 488. Keys are not looked at here (`srtp` is `None`):
/// [`LocalMedia::to_answer`] and [`LocalMedia::negotiate`] add them.
///
/// The same function reads an answer to our offer: the answerer's first supported codec is
/// what it will send.
#[must_use]
pub fn answer_codecs(offer: &MediaDescription, supported: &[CodecName]) -> Option<Negotiated> {
    let protocol_ok = offer.protocol.eq_ignore_ascii_case(AVP) || offer.is_savp();
    if offer.is_rejected() || !offer.is_audio() || !protocol_ok {
        return None;
    }
    let codec = offer
        .codecs
        .iter()
        .find(|c| c.name.law().is_some() && c.clock_rate == 8000 && supported.contains(&c.name))?
        .clone();
    let telephone_event = if supported.contains(&CodecName::TelephoneEvent) {
        offer
            .codecs
            .iter()
            .find(|c| c.name == CodecName::TelephoneEvent && c.clock_rate == codec.clock_rate)
            .cloned()
    } else {
        None
    };
    Some(Negotiated {
        codec,
        telephone_event,
        srtp: None,
    })
}

/// The SDES side of a leg: the keys we would send with, one per suite we speak, and whether
/// our offers on the leg are `RTP/SAVP`. A leg without one is plain RTP only: an `RTP/SAVP`
/// offer on it gets no answer (488). Whether a leg gets one is the call layer's decision
/// (the keys must not cross plaintext signalling, RFC 4568 §8.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSrtp {
    /// Our keys, in the order we offer them; an answer takes the one of the suite chosen.
    pub keys: Vec<MasterKey>,
    /// Whether our offers are `RTP/SAVP` with these keys (else plain `RTP/AVP`).
    pub offer: bool,
}

impl LocalSrtp {
    /// The first of `media`'s `a=crypto` lines whose suite we have a key for, and that key.
    fn accept(&self, media: &MediaDescription) -> Option<(CryptoAttribute, MasterKey)> {
        media.crypto().find_map(|c| {
            let ours = self
                .keys
                .iter()
                .find(|k| k.suite() == c.key.suite())?
                .clone();
            Some((c, ours))
        })
    }

    /// Our `a=crypto` lines for an offer, tagged 1, 2, ...
    fn offered(&self) -> Vec<Attribute> {
        (1..)
            .zip(&self.keys)
            .map(|(tag, key)| crypto_line(tag, key))
            .collect()
    }
}

fn crypto_line(tag: u32, key: &MasterKey) -> Attribute {
    Attribute {
        name: sdes::ATTRIBUTE.to_owned(),
        value: Some(
            CryptoAttribute {
                tag,
                key: key.clone(),
            }
            .to_value(),
        ),
    }
}

/// What the switch puts in its own SDP for one leg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMedia {
    /// Our media address (also used in `o=`).
    pub address: IpAddr,
    /// Our RTP port.
    pub port: u16,
    /// Codecs we offer, in preference order; for an answer, the names we support.
    pub codecs: Vec<Codec>,
    /// The direction we want; an answer narrows it with [`answer_direction`].
    pub direction: Direction,
    /// `o=` session id.
    pub session_id: u64,
    /// `o=` session version: increment it for every changed re-offer (RFC 3264 §8).
    pub session_version: u64,
    /// Whether we offer (or accept) `a=rtcp-mux`.
    pub rtcp_mux: bool,
    /// `a=ptime`, usually 20 ms.
    pub ptime: Option<Duration>,
    /// SDES keys, on legs allowed SRTP (see [`LocalSrtp`]).
    pub srtp: Option<LocalSrtp>,
}

impl LocalMedia {
    fn session(&self, media: Vec<MediaDescription>) -> SessionDescription {
        SessionDescription {
            origin: Origin {
                username: "switchboard".to_owned(),
                session_id: self.session_id.to_string(),
                session_version: self.session_version,
                address_type: if self.address.is_ipv4() { "IP4" } else { "IP6" }.to_owned(),
                address: self.address.to_string(),
            },
            session_name: "switchboard".to_owned(),
            connection: Some(self.address),
            direction: None,
            media,
        }
    }

    fn audio(
        &self,
        codecs: Vec<Codec>,
        direction: Direction,
        rtcp_mux: bool,
        crypto: Vec<Attribute>,
    ) -> MediaDescription {
        let protocol = if crypto.is_empty() { AVP } else { SAVP };
        MediaDescription {
            media: "audio".to_owned(),
            port: self.port,
            port_count: None,
            protocol: protocol.to_owned(),
            formats: codecs.iter().map(|c| c.payload_type.to_string()).collect(),
            codecs,
            connection: Some(self.address),
            direction,
            ptime: self.ptime,
            maxptime: None,
            rtcp: None,
            rtcp_mux,
            attributes: crypto,
        }
    }

    /// Our offer: one audio stream with all our codecs, `RTP/SAVP` with our keys when the
    /// leg offers SRTP.
    #[must_use]
    pub fn to_offer(&self) -> SessionDescription {
        let crypto = match &self.srtp {
            Some(srtp) if srtp.offer => srtp.offered(),
            _ => Vec::new(),
        };
        self.session(vec![self.audio(
            self.codecs.clone(),
            self.direction,
            self.rtcp_mux,
            crypto,
        )])
    }

    /// What a leg agreed to, from the phone's side of the exchange (its offer, or its answer
    /// to ours): the codecs of [`answer_codecs`] and, for `RTP/SAVP`, the keys of the first
    /// `a=crypto` line whose suite we have a key for (that is the line our answer accepts,
    /// and in an answer to our offer the line under our tag for that suite). `None` when
    /// the stream is unusable, including `RTP/SAVP` on a leg without [`LocalSrtp`] or with no
    /// usable line. An `RTP/AVP` stream is plain whatever `a=crypto` lines it carries: no
    /// "best-effort" SRTP, whose keys would ride on an offer that never asked for SRTP.
    #[must_use]
    pub fn negotiate(&self, media: &MediaDescription) -> Option<Negotiated> {
        self.negotiate_tagged(media)
            .map(|(negotiated, _)| negotiated)
    }

    /// [`negotiate`](Self::negotiate), with the tag of the `a=crypto` line accepted.
    fn negotiate_tagged(&self, media: &MediaDescription) -> Option<(Negotiated, Option<u32>)> {
        let supported: Vec<CodecName> = self.codecs.iter().map(|c| c.name.clone()).collect();
        let mut negotiated = answer_codecs(media, &supported)?;
        if !media.is_savp() {
            return Some((negotiated, None));
        }
        let (accepted, ours) = self.srtp.as_ref()?.accept(media)?;
        negotiated.srtp = Some(Box::new(SrtpKeys {
            local: ours,
            remote: accepted.key,
        }));
        Some((negotiated, Some(accepted.tag)))
    }

    /// Renders our offer.
    #[must_use]
    pub fn render_offer(&self) -> String {
        self.to_offer().to_string()
    }

    /// Our answer to `offer`: the first enabled audio stream is answered with the codecs of
    /// [`answer_codecs`] (supported = the names in `self.codecs`), the direction of
    /// [`answer_direction`] and rtcp-mux only if both sides want it; every other `m=` line
    /// is answered with port 0 (RFC 3264 §6). An `RTP/SAVP` stream is answered `RTP/SAVP`
    /// with our key for the first offered `a=crypto` line we can use, under its tag; an
    /// `RTP/AVP` one plainly, whatever `a=crypto` lines it carries (no "best-effort" SRTP).
    /// `None` when no audio stream is acceptable, including an `RTP/SAVP` one on a leg
    /// without [`LocalSrtp`] or with no usable line.
    #[must_use]
    pub fn to_answer(
        &self,
        offer: &SessionDescription,
    ) -> Option<(SessionDescription, Negotiated)> {
        let (index, offered) = offer.audio()?;
        let (negotiated, tag) = self.negotiate_tagged(offered)?;
        let crypto: Vec<Attribute> = tag
            .zip(negotiated.srtp.as_ref())
            .map(|(tag, keys)| crypto_line(tag, &keys.local))
            .into_iter()
            .collect();
        let media = offer
            .media
            .iter()
            .enumerate()
            .map(|(i, m)| {
                if i == index {
                    self.audio(
                        negotiated.codecs(),
                        answer_direction(offered.direction, self.direction),
                        self.rtcp_mux && offered.rtcp_mux,
                        crypto.clone(),
                    )
                } else {
                    MediaDescription {
                        port: 0,
                        port_count: None,
                        codecs: Vec::new(),
                        connection: Some(self.address),
                        direction: Direction::default(),
                        rtcp: None,
                        rtcp_mux: false,
                        attributes: Vec::new(),
                        ptime: None,
                        maxptime: None,
                        ..m.clone()
                    }
                }
            })
            .collect();
        Some((self.session(media), negotiated))
    }
}

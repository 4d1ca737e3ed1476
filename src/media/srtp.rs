//! SRTP and SRTCP (RFC 3711) for legs keyed by SDES (RFC 4568), behind our own types.
//!
//! The cryptography is `rtc-srtp` (webrtc-rs's sans-IO SRTP, on its `ring` backend); nothing
//! outside this file sees its types, so the crate can be swapped without touching the relay or
//! the SDP code. Two suites, the ones every SDES phone offers: `AES_CM_128_HMAC_SHA1_80`
//! (RFC 4568 §6.2.1, the mandatory one) and `AES_CM_128_HMAC_SHA1_32` (its 4-byte RTP tag;
//! SRTCP keeps the 10-byte tag, RFC 3711 §5.2).
//!
//! A leg has two contexts: [`SrtpContext::inbound`] with the phone's key (refuses replays in
//! a 64-packet window as RFC 3711 §3.3.2 asks, our own: see `replay`, then authenticates
//! and decrypts) and
//! [`SrtpContext::outbound`] with ours. Packets are transformed in the caller's buffer.
//!
//! Allocation: the crate returns each transformed packet in a fresh `BytesMut`, which is
//! copied back into the caller's buffer, so every protected or unprotected packet costs one
//! heap allocation (two when its header has CSRCs or an extension, which the crate's header
//! parser keeps in vectors). Priced by `cargo bench --bench rtp_relay`.

use rand::RngCore;
use rtc_shared::error::Error as CrateError;
use rtc_srtp::context::Context;
use rtc_srtp::protection_profile::ProtectionProfile;
use std::fmt;
use std::sync::OnceLock;

use replay::ReplayList;
use thiserror::Error;

/// Master key length of the AES-128 suites (RFC 3711 §8.2).
pub const MASTER_KEY_LEN: usize = 16;
/// Master salt length (RFC 3711 §8.2).
pub const MASTER_SALT_LEN: usize = 14;
/// Key and salt as SDES carries them, concatenated (RFC 4568 §6.1).
pub const KEY_MATERIAL_LEN: usize = MASTER_KEY_LEN + MASTER_SALT_LEN;
/// The most an outbound packet grows: SRTCP's 4-byte index and 10-byte tag.
pub const MAX_OVERHEAD: usize = 14;
/// SRTCP's tag, 80 bits in both suites (RFC 3711 §5.2).
const SRTCP_TAG_LEN: usize = 10;
/// SRTCP's E flag and 31-bit index, before the tag.
const SRTCP_INDEX_LEN: usize = 4;

/// An SRTP crypto suite we speak (RFC 4568 §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SrtpSuite {
    /// AES counter mode, 80-bit HMAC-SHA1 tag.
    AesCm128HmacSha1_80,
    /// AES counter mode, 32-bit HMAC-SHA1 tag on SRTP (80 on SRTCP).
    AesCm128HmacSha1_32,
}

impl SrtpSuite {
    /// Every suite, in the order we prefer them.
    pub const ALL: [SrtpSuite; 2] = [
        SrtpSuite::AesCm128HmacSha1_80,
        SrtpSuite::AesCm128HmacSha1_32,
    ];

    /// The suite's name in `a=crypto`.
    #[must_use]
    pub fn sdp_name(self) -> &'static str {
        match self {
            SrtpSuite::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            SrtpSuite::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
        }
    }

    /// The suite named `name` in `a=crypto` (case-sensitive, RFC 4568 §9.2), if we speak it.
    #[must_use]
    pub fn from_sdp_name(name: &str) -> Option<SrtpSuite> {
        SrtpSuite::ALL.into_iter().find(|s| s.sdp_name() == name)
    }

    fn profile(self) -> ProtectionProfile {
        match self {
            SrtpSuite::AesCm128HmacSha1_80 => ProtectionProfile::Aes128CmHmacSha1_80,
            SrtpSuite::AesCm128HmacSha1_32 => ProtectionProfile::Aes128CmHmacSha1_32,
        }
    }
}

/// A master key and salt for one direction of one leg. Its `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey {
    suite: SrtpSuite,
    material: [u8; KEY_MATERIAL_LEN],
}

impl MasterKey {
    /// A fresh key from `rng`, which must be a CSPRNG (the switch's OS-seeded one).
    pub fn generate(suite: SrtpSuite, rng: &mut impl RngCore) -> MasterKey {
        let mut material = [0u8; KEY_MATERIAL_LEN];
        rng.fill_bytes(&mut material);
        MasterKey { suite, material }
    }

    /// The key whose key||salt is `material`.
    #[must_use]
    pub fn from_material(suite: SrtpSuite, material: [u8; KEY_MATERIAL_LEN]) -> MasterKey {
        MasterKey { suite, material }
    }

    /// Its suite.
    #[must_use]
    pub fn suite(&self) -> SrtpSuite {
        self.suite
    }

    /// Key||salt, as `inline:` carries it.
    #[must_use]
    pub fn material(&self) -> &[u8; KEY_MATERIAL_LEN] {
        &self.material
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey({}, <redacted>)", self.suite.sdp_name())
    }
}

/// Why a packet could not be transformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SrtpError {
    /// The authentication tag does not match: forged, corrupted or under another key.
    #[error("SRTP authentication failed")]
    Authentication,
    /// Already received, or older than the replay window.
    #[error("SRTP packet replayed")]
    Replay,
    /// Too short or not RTP/RTCP at all (malformed input).
    #[error("packet too short or malformed for SRTP")]
    Malformed,
    /// The buffer has no room for the tag (our bug, not the peer's).
    #[error("no room in the buffer for the SRTP tag")]
    NoRoom,
}

impl SrtpError {
    fn classify(error: &CrateError) -> SrtpError {
        match error {
            CrateError::RtpFailedToVerifyAuthTag
            | CrateError::RtcpFailedToVerifyAuthTag
            | CrateError::ErrFailedToVerifyAuthTag => SrtpError::Authentication,
            CrateError::SrtpSsrcDuplicated(..) | CrateError::SrtcpSsrcDuplicated(..) => {
                SrtpError::Replay
            }
            _ => SrtpError::Malformed,
        }
    }
}

/// One direction of one leg's SRTP session (RTP and RTCP).
pub struct SrtpContext {
    context: Context,
    /// Inbound only: the RTP and RTCP replay lists.
    replay: Option<(ReplayList, ReplayList)>,
}

impl fmt::Debug for SrtpContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SrtpContext")
    }
}

fn provider() -> &'static dyn rtc_srtp::crypto::RTCCryptoProvider {
    static PROVIDER: OnceLock<std::sync::Arc<dyn rtc_srtp::crypto::RTCCryptoProvider>> =
        OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            rtc_srtp::crypto::default_provider().expect("rtc-srtp is built with its ring backend")
        })
        .as_ref()
}

impl SrtpContext {
    /// Decrypts what the phone sends under `key`, refusing replays.
    #[must_use]
    pub fn inbound(key: &MasterKey) -> SrtpContext {
        SrtpContext::new(key, true)
    }

    /// Encrypts what the switch sends under `key`.
    #[must_use]
    pub fn outbound(key: &MasterKey) -> SrtpContext {
        SrtpContext::new(key, false)
    }

    fn new(key: &MasterKey, inbound: bool) -> SrtpContext {
        let (master_key, salt) = key.material.split_at(MASTER_KEY_LEN);
        // The crate's own replay detection stays off (its default): see `replay`.
        let context = Context::new(
            master_key,
            salt,
            key.suite.profile(),
            None,
            None,
            provider().crypto(),
        )
        .expect("key and salt lengths are fixed by MasterKey and the suites use AES-CM");
        let replay = inbound.then(|| (ReplayList::new(1 << 16), ReplayList::new(1 << 31)));
        SrtpContext { context, replay }
    }

    /// Authenticates and decrypts the SRTP packet `buf[..len]` in place; its plain length.
    pub fn unprotect_rtp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        let packet = buf.get(..len).ok_or(SrtpError::Malformed)?;
        let (Some(sequence), Some(ssrc)) = (be16(packet, 2), be32(packet, 8)) else {
            return Err(SrtpError::Malformed);
        };
        self.unprotect(buf, len, Kind::Rtp, ssrc, u64::from(sequence))
    }

    /// Encrypts and tags the RTP packet `buf[..len]` in place; its protected length. `buf`
    /// must have room for the tag ([`MAX_OVERHEAD`] is always enough).
    pub fn protect_rtp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        self.protect(buf, len, Kind::Rtp)
    }

    /// [`protect_rtp`](Self::protect_rtp) for a packet the switch generated in a `Vec`.
    pub fn protect_rtp_vec(&mut self, packet: &mut Vec<u8>) -> Result<(), SrtpError> {
        let len = packet.len();
        packet.resize(len + MAX_OVERHEAD, 0);
        let protected = self.protect_rtp(packet, len);
        packet.truncate(*protected.as_ref().unwrap_or(&len));
        protected.map(drop)
    }

    /// Authenticates and decrypts the SRTCP packet `buf[..len]` in place; its plain length.
    pub fn unprotect_rtcp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        let packet = buf.get(..len).ok_or(SrtpError::Malformed)?;
        let index_at = len
            .checked_sub(SRTCP_TAG_LEN + SRTCP_INDEX_LEN)
            .filter(|at| *at >= 8)
            .ok_or(SrtpError::Malformed)?;
        let (Some(ssrc), Some(index)) = (be32(packet, 4), be32(packet, index_at)) else {
            return Err(SrtpError::Malformed);
        };
        self.unprotect(buf, len, Kind::Rtcp, ssrc, u64::from(index & 0x7fff_ffff))
    }

    /// Encrypts and tags the RTCP packet `buf[..len]` in place; its protected length.
    pub fn protect_rtcp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        self.protect(buf, len, Kind::Rtcp)
    }

    fn replay_list(&mut self, kind: Kind) -> Option<&mut ReplayList> {
        let (rtp, rtcp) = self.replay.as_mut()?;
        Some(match kind {
            Kind::Rtp => rtp,
            Kind::Rtcp => rtcp,
        })
    }

    /// Refuses a replay of `index` (cheap, before the MAC), authenticates and decrypts, and
    /// only then moves the replay window.
    fn unprotect(
        &mut self,
        buf: &mut [u8],
        len: usize,
        kind: Kind,
        ssrc: u32,
        index: u64,
    ) -> Result<usize, SrtpError> {
        if self
            .replay_list(kind)
            .is_some_and(|list| !list.check(ssrc, index))
        {
            return Err(SrtpError::Replay);
        }
        let packet = &buf[..len];
        let plain = match kind {
            Kind::Rtp => self.context.decrypt_rtp(packet),
            Kind::Rtcp => self.context.decrypt_rtcp(packet),
        }
        .map_err(|e| SrtpError::classify(&e))?;
        if let Some(list) = self.replay_list(kind) {
            list.accept(ssrc, index);
        }
        copy_back(buf, &plain)
    }

    fn protect(&mut self, buf: &mut [u8], len: usize, kind: Kind) -> Result<usize, SrtpError> {
        let packet = buf.get(..len).ok_or(SrtpError::Malformed)?;
        let protected = match kind {
            Kind::Rtp => self.context.encrypt_rtp(packet),
            Kind::Rtcp => self.context.encrypt_rtcp(packet),
        }
        .map_err(|e| SrtpError::classify(&e))?;
        copy_back(buf, &protected)
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Rtp,
    Rtcp,
}

fn be16(packet: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(packet.get(at..at + 2)?.try_into().ok()?))
}

fn be32(packet: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(packet.get(at..at + 4)?.try_into().ok()?))
}

fn copy_back(buf: &mut [u8], packet: &[u8]) -> Result<usize, SrtpError> {
    buf.get_mut(..packet.len())
        .ok_or(SrtpError::NoRoom)?
        .copy_from_slice(packet);
    Ok(packet.len())
}

#[path = "srtp_replay.rs"]
mod replay;

#[cfg(test)]
#[path = "srtp_tests.rs"]
mod tests;

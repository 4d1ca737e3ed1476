//! SDP Security Descriptions (RFC 4568): the `a=crypto` attribute that carries SRTP master
//! keys in the SDP of an `RTP/SAVP` stream.
//!
//! `a=crypto:<tag> <suite> inline:<base64 key||salt>[|<lifetime>][|<MKI>:<length>]` with
//! optional session parameters after it. We read the forms we can honour and skip the rest,
//! line by line, as §5.1.2 and §6.1 ask of an answerer that does not support a parameter
//! (the offerer's other lines may still fit):
//!
//! - one key per line: several `inline:` keys only make sense with MKIs;
//! - no MKI (`|1:4`): every packet would carry the key's index, and the crypto crate has
//!   none;
//! - a lifetime only when it is at least 2^31 packets (a call at 50 packets per second
//!   never reaches it, so we never need the re-keying we do not do);
//! - no session parameters (`KDR=`, `UNENCRYPTED_SRTP`, `FEC_ORDER=` ...): each changes the
//!   transform, and an unknown one must not be ignored (§6.3).
//!
//! Our own lines are the plain form: `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:<key>`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use thiserror::Error;

use super::srtp::{KEY_MATERIAL_LEN, MasterKey, SrtpSuite};

/// The attribute's name.
pub const ATTRIBUTE: &str = "crypto";

/// Lifetimes below this many packets would need re-keying mid-call.
const MIN_LIFETIME_LOG2: u32 = 31;

/// One usable `a=crypto` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptoAttribute {
    /// Ties an answer's line to the offered one it accepts (RFC 4568 §5.1.2).
    pub tag: u32,
    /// The suite and the key of whoever wrote the line: what that side encrypts with.
    pub key: MasterKey,
}

/// Why a line was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Skipped {
    /// Not the RFC 4568 grammar.
    #[error("malformed crypto attribute")]
    Malformed,
    /// A suite we do not speak.
    #[error("unsupported crypto suite")]
    UnknownSuite,
    /// More than one key, an MKI, or a lifetime short enough to need re-keying.
    #[error("unsupported key parameters")]
    KeyParameters,
    /// Session parameters after the key.
    #[error("unsupported session parameters")]
    SessionParameters,
}

impl CryptoAttribute {
    /// Reads an attribute value (what follows `a=crypto:`).
    pub fn parse(value: &str) -> Result<CryptoAttribute, Skipped> {
        let mut fields = value.split_ascii_whitespace();
        let tag = fields.next().ok_or(Skipped::Malformed)?;
        if tag.is_empty() || tag.len() > 9 || !tag.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Skipped::Malformed);
        }
        let tag = tag.parse().map_err(|_| Skipped::Malformed)?;
        let suite = fields.next().ok_or(Skipped::Malformed)?;
        let key_params = fields.next().ok_or(Skipped::Malformed)?;
        let suite = SrtpSuite::from_sdp_name(suite).ok_or(Skipped::UnknownSuite)?;
        if key_params.contains(';') {
            return Err(Skipped::KeyParameters);
        }
        let key = parse_inline(suite, key_params)?;
        if fields.next().is_some() {
            return Err(Skipped::SessionParameters);
        }
        Ok(CryptoAttribute { tag, key })
    }

    /// The attribute value we write (what follows `a=crypto:`).
    #[must_use]
    pub fn to_value(&self) -> String {
        format!(
            "{} {} inline:{}",
            self.tag,
            self.key.suite().sdp_name(),
            STANDARD.encode(self.key.material())
        )
    }
}

/// `inline:<key||salt>[|lifetime]`; the method name is case-sensitive (RFC 4568 §9.2).
fn parse_inline(suite: SrtpSuite, key_params: &str) -> Result<MasterKey, Skipped> {
    let info = key_params
        .strip_prefix("inline:")
        .ok_or(Skipped::Malformed)?;
    let mut parts = info.split('|');
    let material = parts.next().ok_or(Skipped::Malformed)?;
    let material = STANDARD.decode(material).map_err(|_| Skipped::Malformed)?;
    let material: [u8; KEY_MATERIAL_LEN] = material.try_into().map_err(|_| Skipped::Malformed)?;
    for part in parts {
        // An MKI is `value:length`; a lifetime is `2^n` or a decimal count.
        if part.contains(':') || !long_enough(part).ok_or(Skipped::Malformed)? {
            return Err(Skipped::KeyParameters);
        }
    }
    Ok(MasterKey::from_material(suite, material))
}

/// Whether a lifetime is at least 2^31 packets; `None` when it is not a lifetime.
fn long_enough(lifetime: &str) -> Option<bool> {
    if let Some(exponent) = lifetime.strip_prefix("2^") {
        let exponent: u32 = exponent.parse().ok()?;
        return Some(exponent >= MIN_LIFETIME_LOG2);
    }
    if lifetime.is_empty() || !lifetime.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Digits past u64 are a very long lifetime.
    Some(
        lifetime
            .parse::<u64>()
            .map_or(true, |n| n >= 1 << MIN_LIFETIME_LOG2),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";

    fn parse(value: &str) -> Result<CryptoAttribute, Skipped> {
        CryptoAttribute::parse(value)
    }

    #[test]
    fn the_rfc_4568_example_line_is_read_and_written_back_unchanged() {
        let line = format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}");
        let attribute = parse(&line).expect("usable");
        assert_eq!(attribute.tag, 1);
        assert_eq!(attribute.key.suite(), SrtpSuite::AesCm128HmacSha1_80);
        assert_eq!(attribute.to_value(), line);
    }

    #[test]
    fn the_32_bit_tag_suite_and_long_lifetimes_are_accepted() {
        for line in [
            format!("2 AES_CM_128_HMAC_SHA1_32 inline:{KEY}"),
            format!("7 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|2^31"),
            format!("7 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|2^48"),
            format!("7 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|4294967296"),
        ] {
            assert!(parse(&line).is_ok(), "{line}");
        }
    }

    #[test]
    fn forms_we_cannot_honour_are_skipped_with_their_reason() {
        for (line, reason) in [
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|2^20|1:4"),
                Skipped::KeyParameters,
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|1:4"),
                Skipped::KeyParameters,
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|2^20"),
                Skipped::KeyParameters,
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|1048576"),
                Skipped::KeyParameters,
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY};inline:{KEY}"),
                Skipped::KeyParameters,
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY} UNENCRYPTED_SRTP"),
                Skipped::SessionParameters,
            ),
            (
                format!("1 AES_256_CM_HMAC_SHA1_80 inline:{KEY}"),
                Skipped::UnknownSuite,
            ),
            (
                format!("1 F8_128_HMAC_SHA1_80 inline:{KEY}"),
                Skipped::UnknownSuite,
            ),
        ] {
            assert_eq!(parse(&line), Err(reason), "{line}");
        }
    }

    #[test]
    fn malformed_lines_are_skipped_never_a_panic() {
        for line in [
            String::new(),
            "1".to_owned(),
            "1 AES_CM_128_HMAC_SHA1_80".to_owned(),
            format!("x AES_CM_128_HMAC_SHA1_80 inline:{KEY}"),
            format!("1234567890 AES_CM_128_HMAC_SHA1_80 inline:{KEY}"),
            format!("1 AES_CM_128_HMAC_SHA1_80 INLINE:{KEY}"),
            format!("1 AES_CM_128_HMAC_SHA1_80 uri:{KEY}"),
            "1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ=".to_owned(),
            "1 AES_CM_128_HMAC_SHA1_80 inline:!!!notbase64!!!".to_owned(),
            format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|2^x"),
            format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|"),
        ] {
            assert_eq!(parse(&line), Err(Skipped::Malformed), "{line:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_text_parses_or_is_skipped_without_panicking(s in "\\PC{0,120}") {
            let _ = CryptoAttribute::parse(&s);
        }

        #[test]
        fn any_key_round_trips(tag in 0u32..999_999_999, material in proptest::array::uniform30(0u8..)) {
            for suite in SrtpSuite::ALL {
                let attribute = CryptoAttribute { tag, key: MasterKey::from_material(suite, material) };
                proptest::prop_assert_eq!(CryptoAttribute::parse(&attribute.to_value()), Ok(attribute));
            }
        }
    }
}

//! Numbers people type, normalised to E.164 before any gateway sees them (issue 15 item 2).
//!
//! What is accepted follows what agent desktops accept (Webex Contact Center's dial pad:
//! `+CC…` E.164, an international direct-dialling prefix such as `00` or `011` then the
//! country code, or a national number), with the visual separators people paste (spaces,
//! `-`, `.`, parentheses) dropped. A letter or any other character is an error naming where
//! it is: the desktop strips them before sending, so one reaching the switch is a mistake or
//! an attempt to smuggle something into a Request-URI. E.164 caps a number at 15 digits
//! (ITU-T E.164 §6); the shortest real ones are 7 (`+290 xxxx`).
//!
//! Not to be confused with `cti::dial_number`, the desktop's input check: it takes internal
//! numbers, short codes and DTMF suffixes too, and strips letters as the Webex desktop does.
//! A number it lets through that is meant for a carrier comes here next; a Request-URI user
//! from a phone comes here directly, where a letter is refused rather than guessed at.

use std::fmt;

/// Digits in the shortest E.164 number (country code included).
pub const MIN_DIGITS: usize = 7;
/// Digits in the longest (ITU-T E.164 §6).
pub const MAX_DIGITS: usize = 15;
/// Characters typed, separators included, beyond which a number is refused unread.
pub const MAX_INPUT: usize = 64;

/// How national and international numbers are dialled where the switch stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberPlan {
    /// The home country code, without `+` (`33` for France, `1` for NANP).
    pub country_code: String,
    /// The trunk prefix of national numbers (`0` in most of Europe; empty in NANP, where a
    /// national number is dialled as its ten digits or with the country code `1`).
    pub national_prefix: String,
    /// International direct-dialling prefixes (`00`; `011` in NANP).
    pub idd_prefixes: Vec<String>,
}

impl NumberPlan {
    /// France: `+33`, `0` national prefix, `00` international.
    #[must_use]
    pub fn france() -> NumberPlan {
        NumberPlan {
            country_code: "33".into(),
            national_prefix: "0".into(),
            idd_prefixes: vec!["00".into()],
        }
    }

    /// `raw` as an E.164 number, or why it is not one.
    pub fn normalise(&self, raw: &str) -> Result<E164, NumberError> {
        if raw.len() > MAX_INPUT {
            return Err(NumberError::TooLong);
        }
        let mut plus = false;
        let mut digits = String::with_capacity(MAX_DIGITS);
        for (at, ch) in raw.char_indices() {
            match ch {
                '0'..='9' => digits.push(ch),
                '+' if digits.is_empty() && !plus => plus = true,
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(NumberError::Character { at, ch }),
            }
        }
        if digits.is_empty() {
            return Err(NumberError::Empty);
        }
        let international = if plus {
            digits
        } else if let Some(rest) = self
            .idd_prefixes
            .iter()
            .filter(|p| !p.is_empty())
            .find_map(|p| digits.strip_prefix(p.as_str()))
        {
            rest.to_owned()
        } else if self.national_prefix.is_empty() {
            // NANP style: ten national digits, or the country code already in front.
            if digits.starts_with(&self.country_code)
                && digits.len() > national_len_nanp(&self.country_code)
            {
                digits
            } else {
                format!("{}{digits}", self.country_code)
            }
        } else if let Some(rest) = digits.strip_prefix(self.national_prefix.as_str()) {
            format!("{}{rest}", self.country_code)
        } else {
            // No prefix at all: a local number without its area, which E.164 cannot express.
            return Err(NumberError::NoPrefix);
        };
        E164::from_digits(&international)
    }

    /// Whether `number` is in the home country.
    #[must_use]
    pub fn is_national(&self, number: &E164) -> bool {
        number.digits().starts_with(&self.country_code)
    }
}

/// Ten national digits after country code `1`; other plans never take this path.
fn national_len_nanp(country_code: &str) -> usize {
    country_code.len() + 9
}

/// A valid E.164 number, kept as `+` and its digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct E164(String);

impl E164 {
    /// `digits` (no `+`) as a number, if E.164 allows that many and it does not start at 0.
    pub fn from_digits(digits: &str) -> Result<E164, NumberError> {
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NumberError::Empty);
        }
        if digits.starts_with('0') {
            return Err(NumberError::NoCountryCode);
        }
        if digits.len() < MIN_DIGITS {
            return Err(NumberError::TooShort);
        }
        if digits.len() > MAX_DIGITS {
            return Err(NumberError::TooLong);
        }
        Ok(E164(format!("+{digits}")))
    }

    /// `+` and digits, as the profile and the API write an E.164 number.
    pub fn parse(text: &str) -> Result<E164, NumberError> {
        match text.strip_prefix('+') {
            Some(digits) => E164::from_digits(digits),
            None => Err(NumberError::NoCountryCode),
        }
    }

    /// The digits, without `+`.
    #[must_use]
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }

    /// `+` and the digits, as SIP URIs and `P-Asserted-Identity` carry it.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a typed number is not a number the switch will dial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    #[error("the number has no digits")]
    Empty,
    #[error(
        "'{ch}' at byte {at} is not a digit: only digits, a leading +, spaces, '-', '.' and parentheses are allowed"
    )]
    Character { at: usize, ch: char },
    #[error("the number has neither a country code nor a national prefix")]
    NoPrefix,
    #[error("the number starts with 0 after its international prefix: no country code")]
    NoCountryCode,
    #[error("the number has fewer than {MIN_DIGITS} digits")]
    TooShort,
    #[error("the number has more than {MAX_DIGITS} digits")]
    TooLong,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nanp() -> NumberPlan {
        NumberPlan {
            country_code: "1".into(),
            national_prefix: String::new(),
            idd_prefixes: vec!["011".into()],
        }
    }

    #[test]
    fn the_formats_a_desktop_accepts_normalise_to_e164() {
        let fr = NumberPlan::france();
        for (raw, expected) in [
            ("+33 1 23 45 67 89", "+33123456789"),
            ("01 23 45 67 89", "+33123456789"),
            ("01.23.45.67.89", "+33123456789"),
            ("0044 (20) 7946-0958", "+442079460958"),
            ("+12015532447", "+12015532447"),
            ("+290 1234", "+2901234"),
        ] {
            assert_eq!(
                fr.normalise(raw).map(|n| n.to_string()),
                Ok(expected.into())
            );
        }
        for (raw, expected) in [
            ("(201) 553-2447", "+12015532447"),
            ("1 201 553 2447", "+12015532447"),
            ("01161123456789", "+61123456789"),
            ("+33123456789", "+33123456789"),
        ] {
            assert_eq!(
                nanp().normalise(raw).map(|n| n.to_string()),
                Ok(expected.into())
            );
        }
    }

    #[test]
    fn letters_symbols_and_impossible_lengths_are_refused_with_the_reason() {
        let fr = NumberPlan::france();
        assert_eq!(
            fr.normalise("0800 FLOWERS"),
            Err(NumberError::Character { at: 5, ch: 'F' })
        );
        assert_eq!(
            fr.normalise("+33123;user=phone"),
            Err(NumberError::Character { at: 6, ch: ';' })
        );
        assert_eq!(
            fr.normalise("12+34567"),
            Err(NumberError::Character { at: 2, ch: '+' })
        );
        assert_eq!(fr.normalise(" - "), Err(NumberError::Empty));
        assert_eq!(fr.normalise("123456789"), Err(NumberError::NoPrefix));
        assert_eq!(
            fr.normalise("000123456789"),
            Err(NumberError::NoCountryCode)
        );
        assert_eq!(fr.normalise("+331234"), Err(NumberError::TooShort));
        assert_eq!(fr.normalise("+3312345678901234"), Err(NumberError::TooLong));
        assert_eq!(fr.normalise(&"1".repeat(65)), Err(NumberError::TooLong));
        let message = fr.normalise("0800 FLOWERS").unwrap_err().to_string();
        assert!(message.contains("'F' at byte 5"), "{message}");
    }

    #[test]
    fn national_numbers_are_told_from_international_ones() {
        let fr = NumberPlan::france();
        let paris = fr.normalise("01 23 45 67 89").unwrap();
        let london = fr.normalise("+44 20 7946 0958").unwrap();
        assert!(fr.is_national(&paris));
        assert!(!fr.is_national(&london));
    }

    proptest::proptest! {
        /// Whatever is typed, normalising never panics, and a number that normalises is
        /// stable: its own E.164 form normalises to itself.
        #[test]
        fn normalising_is_total_and_idempotent(raw in "[+0-9 ().a-z-]{0,40}") {
            let fr = NumberPlan::france();
            if let Ok(number) = fr.normalise(&raw) {
                proptest::prop_assert_eq!(fr.normalise(number.as_str()), Ok(number.clone()));
                let digits = number.digits().len();
                proptest::prop_assert!((MIN_DIGITS..=MAX_DIGITS).contains(&digits));
            }
        }
    }
}

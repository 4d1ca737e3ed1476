//! Numbers an agent types to consult or transfer to, validated and normalised the way the
//! Webex Contact Center desktop does: every character except digits and `+ # * :` is
//! stripped (spaces, dashes, dots, brackets), then the rest must be 3 to 18 digits in one of
//! the accepted shapes: an internal number or short code, E.164 (`+` then a country code;
//! `+1` numbers must be valid NANP, `+1 NPA NXX XXXX`), or IDD (`00` or `011` then the
//! international number). `+` may only lead; `# * :` may follow digits (DTMF suffixes,
//! extensions). Anything else is refused before a single digit is dialled.

/// Why a number was refused, for the 422's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadNumber {
    /// Fewer than 3 or more than 18 digits after stripping.
    #[error("must have 3 to 18 digits")]
    Length,
    /// `+` somewhere other than the start.
    #[error("'+' may only lead the number")]
    MisplacedPlus,
    /// A `+1` number that is not a valid North American number.
    #[error("a +1 number must be +1 NPA NXX XXXX (area and exchange codes start with 2-9)")]
    NotNanp,
    /// `+` followed by fewer than 8 or more than 15 digits.
    #[error("an E.164 number has 8 to 15 digits after '+'")]
    NotE164,
}

/// The normalised number, or why it is refused.
pub fn normalise(raw: &str) -> Result<String, BadNumber> {
    let kept: String = raw
        .chars()
        .filter(|c| c.is_ascii_digit() || "+#*:".contains(*c))
        .collect();
    let digits: String = kept.chars().filter(char::is_ascii_digit).collect();
    if !(3..=18).contains(&digits.len()) {
        return Err(BadNumber::Length);
    }
    if kept.chars().skip(1).any(|c| c == '+') {
        return Err(BadNumber::MisplacedPlus);
    }
    if let Some(rest) = kept.strip_prefix('+') {
        let national: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if !(8..=15).contains(&national.len()) {
            return Err(BadNumber::NotE164);
        }
        if let Some(nanp) = national.strip_prefix('1') {
            let b = nanp.as_bytes();
            let valid =
                b.len() == 10 && (b'2'..=b'9').contains(&b[0]) && (b'2'..=b'9').contains(&b[3]);
            if !valid {
                return Err(BadNumber::NotNanp);
            }
        }
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_characters_are_stripped_and_accepted_shapes_pass() {
        assert_eq!(normalise("+1 (415) 555-0123").unwrap(), "+14155550123");
        assert_eq!(normalise("+44 20 7946 0958").unwrap(), "+442079460958");
        assert_eq!(normalise("011 44 20 7946 0958").unwrap(), "011442079460958");
        assert_eq!(normalise("00.33.1.23.45.67.89").unwrap(), "0033123456789");
        assert_eq!(normalise("1012").unwrap(), "1012");
        assert_eq!(normalise("*725").unwrap(), "*725");
        assert_eq!(normalise("1234:56#").unwrap(), "1234:56#");
    }

    #[test]
    fn bad_numbers_are_refused_with_the_reason() {
        assert_eq!(normalise("12"), Err(BadNumber::Length));
        assert_eq!(normalise("abc"), Err(BadNumber::Length));
        assert_eq!(normalise("1234567890123456789"), Err(BadNumber::Length));
        assert_eq!(normalise("12+34"), Err(BadNumber::MisplacedPlus));
        assert_eq!(normalise("+1 115 555 0123"), Err(BadNumber::NotNanp));
        assert_eq!(normalise("+1 415 155 0123"), Err(BadNumber::NotNanp));
        assert_eq!(normalise("+1234"), Err(BadNumber::NotE164));
    }

    /// The table: what the Webex desktop accepts and refuses.
    #[test]
    fn the_dial_table() {
        let table: [(&str, Result<&str, BadNumber>); 10] = [
            ("+12015532447", Ok("+12015532447")),
            ("+11234567890", Err(BadNumber::NotNanp)),
            ("01161123456789", Ok("01161123456789")),
            ("+61 2 9374 4000", Ok("+61293744000")),
            ("1-800-FLOWERS", Ok("1800")),
            ("(201) 553.2447 x12", Ok("201553244712")),
            ("45", Err(BadNumber::Length)),
            ("1234567890123456789", Err(BadNumber::Length)),
            ("CALL ME", Err(BadNumber::Length)),
            ("555+1234", Err(BadNumber::MisplacedPlus)),
        ];
        for (raw, expected) in table {
            assert_eq!(normalise(raw).as_deref().map_err(|e| *e), expected, "{raw}");
        }
    }
}

//! Domain names (RFC 1035 §3.1): kept in uncompressed wire form, lowercased, so equality and
//! hashing are RFC 4343's case-insensitive comparison for free.

use super::DnsError;
use std::fmt;

/// Longest name on the wire, length octets and the root label included (RFC 1035 §2.3.4).
pub const MAX_NAME: usize = 255;
/// Longest label (RFC 1035 §2.3.4).
pub const MAX_LABEL: usize = 63;

/// A fully qualified domain name.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Name {
    /// Length-prefixed labels ending with the root's zero octet, ASCII letters lowercased (a
    /// length octet is at most 63, below `A`, so lowercasing never touches one).
    wire: Vec<u8>,
}

impl Name {
    /// The root name, `.`.
    #[must_use]
    pub fn root() -> Name {
        Name { wire: vec![0] }
    }

    /// A name from its dotted text (`_sip._udp.carrier.example`, a trailing dot allowed). No
    /// escapes: names here come from profiles, which only hold host names.
    pub fn from_dotted(text: &str) -> Result<Name, DnsError> {
        let bad = || DnsError::BadName(text.to_owned());
        let trimmed = text.strip_suffix('.').unwrap_or(text);
        if trimmed.is_empty() {
            return Err(bad());
        }
        let mut labels = NameBuilder::default();
        for label in trimmed.split('.') {
            if !label.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') {
                return Err(bad());
            }
            labels.push(label.as_bytes()).map_err(|_| bad())?;
        }
        Ok(labels.finish())
    }

    /// The name in wire form, uncompressed.
    #[must_use]
    pub fn wire(&self) -> &[u8] {
        &self.wire
    }

    /// The labels, root excluded.
    pub fn labels(&self) -> impl Iterator<Item = &[u8]> {
        let mut at = 0;
        std::iter::from_fn(move || {
            let len = usize::from(*self.wire.get(at)?);
            if len == 0 {
                return None;
            }
            let label = self.wire.get(at + 1..at + 1 + len)?;
            at += 1 + len;
            Some(label)
        })
    }

    /// Whether this is the root name (an SRV target of `.` means "no service here", RFC 2782).
    #[must_use]
    pub fn is_root(&self) -> bool {
        self.wire == [0]
    }
}

/// Builds a name label by label, enforcing RFC 1035's limits.
#[derive(Default)]
pub(super) struct NameBuilder {
    wire: Vec<u8>,
}

impl NameBuilder {
    pub(super) fn push(&mut self, label: &[u8]) -> Result<(), DnsError> {
        if label.is_empty() || label.len() > MAX_LABEL {
            return Err(DnsError::Malformed("label empty or longer than 63 octets"));
        }
        // +1 for this label's length octet, +1 for the root's that ends the name.
        if self.wire.len() + 1 + label.len() + 1 > MAX_NAME {
            return Err(DnsError::Malformed("name longer than 255 octets"));
        }
        self.wire.push(label.len() as u8);
        self.wire.extend(label.iter().map(u8::to_ascii_lowercase));
        Ok(())
    }

    pub(super) fn finish(mut self) -> Name {
        self.wire.push(0);
        Name { wire: self.wire }
    }
}

/// Master-file form: dots between labels, `\DDD` for octets that are not plain (a name read
/// off the network may hold any octet, and a log line must not be forged by one).
impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_root() {
            return f.write_str(".");
        }
        for (i, label) in self.labels().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            for &b in label {
                if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'*' {
                    write!(f, "{}", char::from(b))?;
                } else {
                    write!(f, "\\{b:03}")?;
                }
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({self})")
    }
}

impl std::str::FromStr for Name {
    type Err = DnsError;

    fn from_str(text: &str) -> Result<Name, DnsError> {
        Name::from_dotted(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_compare_without_regard_to_case_and_print_dotted() {
        let a = Name::from_dotted("SIP.Carrier.Example.").unwrap();
        let b = Name::from_dotted("sip.carrier.example").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "sip.carrier.example");
        assert_eq!(a.wire(), b"\x03sip\x07carrier\x07example\x00");
        assert_eq!(Name::root().to_string(), ".");
    }

    #[test]
    fn empty_labels_long_labels_and_long_names_are_refused() {
        for bad in ["", ".", "a..b", "a b.example", &"x".repeat(64)] {
            assert!(Name::from_dotted(bad).is_err(), "{bad:?}");
        }
        let label = "x".repeat(63);
        let long = [label.as_str(); 4].join(".");
        assert_eq!(long.len(), 255);
        assert!(Name::from_dotted(&long).is_err(), "256 octets on the wire");
        let fits = [
            label.as_str(),
            label.as_str(),
            label.as_str(),
            &"x".repeat(61),
        ]
        .join(".");
        assert!(Name::from_dotted(&fits).is_ok(), "255 octets on the wire");
    }
}

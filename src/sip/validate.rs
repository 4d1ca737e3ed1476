//! Request validation before any transaction is created (RFC 3261 §8.2, §16.3).
//!
//! Each rejection maps to exactly one status code here, so the answer to a malformed request is
//! decided in one place. Responses are never answered; malformed ones are dropped by the caller.

use super::message::{Contacts, Message, Rejection, is_sip_scheme};

/// Headers that must appear exactly once with a single value (RFC 3261 §20, RFC 4475 multi01).
const SINGLE_VALUED: [(&str, &str); 4] = [
    ("From", "Missing From"),
    ("To", "Missing To"),
    ("Call-ID", "Missing Call-ID"),
    ("CSeq", "Missing CSeq"),
];

/// Checks the mandatory headers and their syntax. `Err` carries the status to answer with.
pub fn validate_request(m: &Message) -> Result<(), Rejection> {
    if m.version != "SIP/2.0" {
        return Err(Rejection::new(505, "Version Not Supported"));
    }
    let method = m.method().ok_or(Rejection::new(400, "Not A Request"))?;
    // A SIP or SIPS Request-URI must follow RFC 3261 §25 (other schemes are judged by routing).
    if is_sip_scheme(m.request_uri().unwrap_or_default()) && m.sip_request_uri().is_none() {
        return Err(Rejection::new(400, "Malformed Request-URI"));
    }
    // The top Via through the message's cache, which every layer above reads again.
    if m.top_via().is_none() || m.vias().skip(1).any(|via| via.is_none()) {
        return Err(Rejection::new(400, "Bad Via"));
    }
    for (name, missing) in SINGLE_VALUED {
        match m.headers_named(name).count() {
            0 => return Err(Rejection::new(400, missing)),
            1 => {}
            _ => {
                return Err(Rejection::new(
                    400,
                    "Multiple Values In Single-Value Header",
                ));
            }
        }
    }
    if m.call_id().is_none() {
        return Err(Rejection::new(400, "Missing Call-ID"));
    }
    if m.from().is_none() {
        return Err(Rejection::new(400, "Bad From"));
    }
    if m.to().is_none() {
        return Err(Rejection::new(400, "Bad To"));
    }
    let cseq = m.cseq().ok_or(Rejection::new(400, "Bad CSeq"))?;
    if &cseq.method != method {
        return Err(Rejection::new(
            400,
            "CSeq Method Does Not Match Request-Line",
        ));
    }
    if m.headers_named("Max-Forwards").count() > 1
        || (m.header("Max-Forwards").is_some() && m.max_forwards().is_none_or(|mf| mf > 255))
    {
        return Err(Rejection::new(400, "Bad Max-Forwards"));
    }
    if m.header("Expires").is_some() && m.expires().is_none() {
        return Err(Rejection::new(400, "Bad Expires"));
    }
    if matches!(m.contacts(), Contacts::Invalid) {
        return Err(Rejection::new(400, "Bad Contact"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(extra: &str, cseq: &str) -> Message {
        let raw = format!(
            "OPTIONS sip:a@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:b@h>;tag=1\r\n\
To: <sip:a@h>\r\nCall-ID: c\r\nCSeq: {cseq}\r\n{extra}Content-Length: 0\r\n\r\n"
        );
        Message::parse(raw.as_bytes()).unwrap()
    }

    #[test]
    fn a_well_formed_request_passes() {
        assert_eq!(validate_request(&req("", "1 OPTIONS")), Ok(()));
    }

    #[test]
    fn cseq_method_mismatch_is_a_400() {
        assert_eq!(
            validate_request(&req("", "1 INVITE")).unwrap_err().code,
            400
        );
    }

    #[test]
    fn a_second_call_id_is_a_400() {
        assert_eq!(
            validate_request(&req("Call-ID: d\r\n", "1 OPTIONS"))
                .unwrap_err()
                .code,
            400
        );
    }

    #[test]
    fn an_overlarge_cseq_is_a_400() {
        assert_eq!(
            validate_request(&req("", "4294967296 OPTIONS"))
                .unwrap_err()
                .code,
            400
        );
    }
}

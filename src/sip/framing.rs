//! Stream framing (RFC 3261 §18.3): message boundaries on TCP by Content-Length, and
//! CRLF keep-alives (RFC 5626 §3.5.1).

use super::message::{MAX_HEADER_SECTION, MAX_MESSAGE_SIZE, find};

/// What a stream transport (TCP) holds at the front of its buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// Not enough bytes yet.
    Incomplete,
    /// `n` bytes of CRLF keep-alive (RFC 5626 §3.5.1): a double CRLF ping wants a CRLF pong.
    KeepAlive { len: usize, ping: bool },
    /// A whole message of `n` bytes.
    Message(usize),
    /// Unframeable (no or bad Content-Length, or too large): close the connection.
    Invalid(&'static str),
}

/// Finds the next message boundary in a stream buffer, using Content-Length (RFC 3261 §18.3).
pub fn frame_stream(buf: &[u8]) -> Frame {
    let crlfs = buf
        .iter()
        .take_while(|b| **b == b'\r' || **b == b'\n')
        .count();
    if crlfs > 0 {
        return Frame::KeepAlive {
            len: crlfs,
            ping: buf[..crlfs].starts_with(b"\r\n\r\n"),
        };
    }
    let Some(head_end) = find(buf, b"\r\n\r\n") else {
        return if buf.len() > MAX_HEADER_SECTION {
            Frame::Invalid("header section too large")
        } else {
            Frame::Incomplete
        };
    };
    if head_end > MAX_HEADER_SECTION {
        return Frame::Invalid("header section too large");
    }
    let head = &buf[..head_end];
    let mut length = None;
    for line in head.split(|b| *b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let name = String::from_utf8_lossy(&line[..colon]);
        let name = name.trim();
        if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l") {
            let value = String::from_utf8_lossy(&line[colon + 1..]);
            match value.trim().parse::<usize>() {
                Ok(n) if length.is_none() => length = Some(n),
                _ => return Frame::Invalid("bad Content-Length"),
            }
        }
    }
    let Some(length) = length else {
        return Frame::Invalid("Content-Length is mandatory on stream transports");
    };
    // A peer's Content-Length is any number it likes: compare it before adding so a huge
    // one is "too large", not an overflow.
    let total = match (head_end + 4).checked_add(length) {
        Some(total) if total <= MAX_MESSAGE_SIZE => total,
        _ => return Frame::Invalid("message too large"),
    };
    if buf.len() < total {
        Frame::Incomplete
    } else {
        Frame::Message(total)
    }
}

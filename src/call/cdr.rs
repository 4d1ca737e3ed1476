//! Call detail records: what a call leaves behind. The record is written when the call
//! starts, again when it is answered (each time as [`Ending::Interrupted`], what it would say
//! if the switch died then) and a last time when it ends, always under the call's one id.

use super::model::{Call, Ending, ForkState, Side};
use super::record::{Cdr, CdrId, CdrLeg, HangupCause, HangupSide, UnixMillis};
use std::time::Duration;

/// The record of `call`, ended by `ending` at `end_ms`.
pub(super) fn build(call: &Call, ending: Ending, end_ms: i64) -> Cdr {
    let (cause, side) = match ending {
        Ending::ByeFromCaller => (HangupCause::NormalClearing, HangupSide::Caller),
        Ending::ByeFromCallee => (HangupCause::NormalClearing, HangupSide::Callee),
        Ending::Cancelled => (HangupCause::Cancelled, HangupSide::Caller),
        Ending::Failed(486 | 600) => (HangupCause::Busy, HangupSide::Callee),
        Ending::Failed(408 | 480) | Ending::NoAnswer => (HangupCause::NoAnswer, HangupSide::Switch),
        Ending::Failed(_) => (HangupCause::Rejected, HangupSide::Callee),
        Ending::NoAck => (HangupCause::RtpTimeout, HangupSide::Switch),
        Ending::RtpTimeout => (HangupCause::RtpTimeout, HangupSide::Switch),
        Ending::Shutdown => (HangupCause::Shutdown, HangupSide::Switch),
        Ending::Hangup => (HangupCause::NormalClearing, HangupSide::Switch),
        Ending::Transferred { left: Side::Caller } => {
            (HangupCause::NormalClearing, HangupSide::Caller)
        }
        Ending::Transferred { left: Side::Callee } => {
            (HangupCause::NormalClearing, HangupSide::Callee)
        }
        Ending::Interrupted => (HangupCause::Interrupted, HangupSide::Switch),
    };
    // After a transfer the record is the transferee's conversation with the target.
    let target = call.transferred_to;
    let role = |side: Side, usual: &'static str| match target {
        Some(t) if t == side => "transfer_target",
        Some(_) => "transferee",
        None => usual,
    };
    let (caller, callee) = match target {
        Some(t) => (call.user(t.other()), call.user(t)),
        None => (call.user(Side::Caller), call.user(Side::Callee)),
    };
    let sip_code = match (call.answered_unix_ms, ending) {
        (Some(_), _) => 200,
        (None, Ending::Cancelled) => 487,
        (None, Ending::NoAnswer) => 408,
        (None, Ending::Failed(code)) => code,
        (None, Ending::Shutdown) => 503,
        (None, _) => 500,
    };
    let duration = call
        .answered_unix_ms
        .map(|a| Duration::from_millis(u64::try_from(end_ms - a).unwrap_or(0)))
        .unwrap_or_default();
    let mut legs = vec![CdrLeg {
        call_id: call.caller.dialog.call_id.clone(),
        role: role(Side::Caller, "caller").into(),
        remote: call.caller.dialog.peer.to_string(),
        codec: call
            .caller
            .endpoint
            .negotiated
            .as_ref()
            .map(|n| n.codec.name.as_str().to_owned()),
        final_code: Some(sip_code),
    }];
    for (i, fork) in call.callee.forks.iter().enumerate().skip(call.first_fork) {
        // A leg a transfer released answered and talked: its record says so, not the
        // `Cancelled` its state machine moved on with.
        let released = fork.released.as_ref();
        let agent = fork.agent.is_some() || released.is_some_and(|r| r.agent.is_some());
        legs.push(CdrLeg {
            call_id: fork.invite.call_id().unwrap_or_default().to_owned(),
            role: role(Side::Callee, if agent { "agent" } else { "callee" }).into(),
            remote: fork.dest.to_string(),
            codec: match released {
                Some(r) => r.codec.clone(),
                None => (call.callee.winner == Some(i))
                    .then(|| call.callee_codec())
                    .flatten(),
            },
            final_code: match fork.state {
                _ if released.is_some() => Some(200),
                ForkState::Answered => Some(200),
                ForkState::Failed(code) => Some(code),
                ForkState::Cancelled | ForkState::CancelPending => Some(487),
                ForkState::Trying | ForkState::Early => None,
            },
        });
    }
    Cdr {
        id: CdrId(call.cdr_id.clone()),
        call_id: call.caller.dialog.call_id.clone(),
        caller: caller.to_owned(),
        callee: callee.to_owned(),
        start_ms: UnixMillis(call.started_unix_ms),
        answer_ms: call.answered_unix_ms.map(UnixMillis),
        end_ms: UnixMillis(end_ms),
        duration,
        hangup_cause: cause,
        hangup_side: side,
        sip_code,
        legs,
        created_ms: UnixMillis(end_ms),
        interaction: call.queue.as_ref().map(|q| q.interaction.0.clone()),
        refused_by: None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::record::{Cdr, HangupCause};
    use crate::call::Output;
    use crate::call::register::auth_tests::switch;
    use crate::sip::message::Message;
    use crate::sip::registrar::Transport;
    use std::collections::HashMap;
    use std::net::SocketAddr;

    const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n\
                       t=0 0\r\nm=audio 30000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

    fn request(method: &str, cseq: u32, to_tag: &str, body: &str) -> Vec<u8> {
        let content_type = if body.is_empty() {
            String::new()
        } else {
            "Content-Type: application/sdp\r\n".to_owned()
        };
        format!(
            "{method} sip:7000@switchboard.local SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bK-{cseq}\r\n\
             From: <sip:1001@switchboard.local>;tag=c1\r\nTo: <sip:7000@switchboard.local>{to_tag}\r\n\
             Call-ID: q1@test\r\nCSeq: {cseq} {method}\r\nContact: <sip:1001@127.0.0.1:40000>\r\n\
             Max-Forwards: 70\r\n{content_type}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    /// The records a step wrote (in progress or final) and the responses it sent.
    fn drain(
        sw: &mut crate::call::Switch,
        now: std::time::Instant,
    ) -> (Vec<(Cdr, bool)>, Vec<Message>) {
        let (mut records, mut responses) = (Vec::new(), Vec::new());
        while let Some(output) = sw.poll_output() {
            match output {
                Output::PersistCdrInProgress(cdr) => records.push((*cdr, false)),
                Output::PersistCdr { cdr, token } => {
                    records.push((*cdr, true));
                    sw.handle_persisted(now, token);
                }
                Output::Transmit { bytes, .. } => responses.push(Message::parse(&bytes).unwrap()),
                _ => {}
            }
        }
        (records, responses)
    }

    #[test]
    fn a_queue_call_is_recorded_as_interrupted_when_answered_and_replaced_when_it_ends() {
        let (mut sw, now) = switch(&[], &[]);
        sw.set_queue_numbers(HashMap::from([("7000".to_owned(), "sales".to_owned())]));
        let phone: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        sw.handle_datagram(now, phone, Transport::Udp, &request("INVITE", 1, "", SDP));
        let (records, responses) = drain(&mut sw, now);
        let [(live, false)] = records.as_slice() else {
            panic!("one in-progress record expected: {records:?}");
        };
        assert_eq!(live.hangup_cause, HangupCause::Interrupted);
        assert_eq!(
            (live.caller.as_str(), live.callee.as_str()),
            ("1001", "7000")
        );
        assert!(live.answer_ms.is_some(), "the switch answers queue calls");
        let ok = responses.iter().find(|r| r.status() == Some(200)).unwrap();
        let to = ok.to().unwrap();
        let tag = to.param("tag").unwrap();

        sw.handle_datagram(
            now,
            phone,
            Transport::Udp,
            &request("BYE", 2, &format!(";tag={tag}"), ""),
        );
        let (records, _) = drain(&mut sw, now);
        let [(end, true)] = records.as_slice() else {
            panic!("one final record expected: {records:?}");
        };
        assert_eq!(end.id, live.id, "one row per call");
        assert_eq!(end.hangup_cause, HangupCause::NormalClearing);
    }
}

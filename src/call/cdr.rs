//! Call detail records: what a call leaves behind. The record is written when the call
//! starts, again when it is answered (each time as [`Ending::Interrupted`], what it would say
//! if the switch died then) and a last time when it ends, always under the call's one id.

use super::model::{Call, Ending, ForkState};
use crate::store::{Cdr, CdrId, CdrLeg, HangupCause, HangupSide, UnixMillis};
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
        Ending::Interrupted => (HangupCause::Interrupted, HangupSide::Switch),
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
        role: "caller".into(),
        remote: call.caller.dialog.peer.to_string(),
        codec: call
            .caller
            .endpoint
            .negotiated
            .as_ref()
            .map(|n| n.codec.name.as_str().to_owned()),
        final_code: Some(sip_code),
    }];
    for (i, fork) in call.forks.iter().enumerate() {
        // A leg a transfer released answered and talked: its record says so, not the
        // `Cancelled` its state machine moved on with.
        let released = fork.released.as_ref();
        let agent = fork.agent.is_some() || released.is_some_and(|r| r.agent.is_some());
        legs.push(CdrLeg {
            call_id: fork.invite.call_id().unwrap_or_default().to_owned(),
            role: if agent { "agent" } else { "callee" }.into(),
            remote: fork.dest.to_string(),
            codec: match released {
                Some(r) => r.codec.clone(),
                None => (call.winner == Some(i))
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
        caller: call.caller_user.clone(),
        callee: call.callee_user.clone(),
        start_ms: UnixMillis(call.started_unix_ms),
        answer_ms: call.answered_unix_ms.map(UnixMillis),
        end_ms: UnixMillis(end_ms),
        duration,
        hangup_cause: cause,
        hangup_side: side,
        sip_code,
        legs,
        created_ms: UnixMillis(end_ms),
    }
}

//! Call detail records: what a finished call leaves behind.

use super::model::{Call, Ending, ForkState, Side};
use crate::store::{Cdr, CdrId, CdrLeg, HangupCause, HangupSide, UnixMillis};
use std::time::Duration;

/// The record of `call`, ended by `ending` at `end_ms`.
pub(super) fn build(call: &Call, ending: Ending, end_ms: i64, id: String) -> Cdr {
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
    for (i, fork) in call.forks.iter().enumerate().skip(call.first_fork) {
        legs.push(CdrLeg {
            call_id: fork.invite.call_id().unwrap_or_default().to_owned(),
            role: role(
                Side::Callee,
                if fork.agent.is_some() {
                    "agent"
                } else {
                    "callee"
                },
            )
            .into(),
            remote: fork.dest.to_string(),
            codec: (call.winner == Some(i))
                .then(|| {
                    call.callee_endpoint
                        .negotiated
                        .as_ref()
                        .map(|n| n.codec.name.as_str().to_owned())
                })
                .flatten(),
            final_code: match fork.state {
                ForkState::Answered => Some(200),
                ForkState::Failed(code) => Some(code),
                ForkState::Cancelled | ForkState::CancelPending => Some(487),
                ForkState::Trying | ForkState::Early => None,
            },
        });
    }
    Cdr {
        id: CdrId(id),
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
    }
}

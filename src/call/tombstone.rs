//! What an ended call leaves behind for 64·T1: only what a late or retransmitted answer to
//! one of its INVITEs still needs (RFC 3261 §13.2.2.4, §17.1.1.3; RFC 6026).
//!
//! A live [`Call`] is a few kilobytes with its messages, legs and media; at 1,000 calls per
//! second, 32 s of ended calls kept whole were most of the switch's memory. Everything else
//! an ended call had is released when it ends: its dialogs (a request in one gets 481), its
//! interaction, its media. What stays, per outbound INVITE of the call (its forks, consult
//! and transfer legs):
//!
//! ```text
//!  leg answered and ACKed     → the ACK's bytes, re-sent for each retransmitted 2xx
//!  leg still without a final  → the leg itself: a 1xx releases a deferred CANCEL (§9.1),
//!                               a late 2xx gets an ACK and a BYE, a failure forgets it
//!  anything else              → nothing
//! ```
//!
//! Transactions keep their own state (the BYE's 200 for its retransmissions, the INVITE
//! absorbing its own), so a tombstone holds no messages of its own but a pending leg's.

use std::time::Instant;

use bytes::Bytes;

use super::model::{Call, CallKey, Fork, ForkState, LegRole, Output};
use super::switch::{ClientPurpose, Switch};
use crate::sip::message::Message;
use crate::sip::registrar::Transport;
use std::net::SocketAddr;

/// Which outbound INVITE of the call a fork was: its leg's role and its index there.
type LegRef = (LegRole, usize);

/// One outbound leg of an ended call that may still hear from its phone.
#[derive(Debug)]
enum Late {
    /// Answered and acknowledged: a retransmitted 2xx gets this ACK again.
    Acked {
        dest: SocketAddr,
        transport: Transport,
        ack: Bytes,
    },
    /// No final answer yet.
    Pending(Box<Fork>),
}

/// An ended call, kept until `until` to answer what arrives late.
#[derive(Debug)]
pub(super) struct Tombstone {
    pub(super) until: Instant,
    legs: Vec<(LegRef, Late)>,
}

impl Tombstone {
    /// What `call` leaves behind.
    pub(super) fn of(call: Call, until: Instant) -> Tombstone {
        let mut legs = Vec::new();
        let mut keep = |leg_ref: LegRef, leg: Fork| {
            if let Some(late) = Late::of(leg) {
                legs.push((leg_ref, late));
            }
        };
        for (index, leg) in call.callee.forks.into_iter().enumerate() {
            keep((LegRole::Callee, index), leg);
        }
        for consult in call.consult.into_iter().chain(call.past_consults) {
            for (index, leg) in consult.leg.forks.into_iter().enumerate() {
                keep((LegRole::Consult(consult.id), index), leg);
            }
        }
        if let Some(transfer) = call.transfer {
            for (index, leg) in transfer.leg.forks.into_iter().enumerate() {
                keep((LegRole::Transfer(transfer.id), index), leg);
            }
        }
        legs.shrink_to_fit();
        Tombstone { until, legs }
    }

    fn leg(&mut self, leg_ref: LegRef) -> Option<&mut Late> {
        self.legs
            .iter_mut()
            .find(|(r, _)| *r == leg_ref)
            .map(|(_, late)| late)
    }
}

impl Late {
    fn of(leg: Fork) -> Option<Late> {
        match (&leg.ack, leg.state) {
            (Some(ack), _) => Some(Late::Acked {
                dest: leg.dest,
                transport: leg.transport,
                ack: ack.clone(),
            }),
            (None, ForkState::Answered | ForkState::Failed(_)) => None,
            (None, _) if leg.released.is_some() => None,
            (None, _) => Some(Late::Pending(Box::new(leg))),
        }
    }
}

impl Switch {
    /// The client transaction purpose `purpose` names a buried call's leg: handles `response`
    /// for it and returns `true`; `false` when the call is not buried.
    pub(super) fn on_late_response(
        &mut self,
        now: Instant,
        call: CallKey,
        purpose: &ClientPurpose,
        response: &Message,
    ) -> bool {
        let ClientPurpose::Fork { role, index, .. } = *purpose else {
            return self.tombstones.contains_key(&call);
        };
        let leg_ref = (role, index);
        let Some(tombstone) = self.tombstones.get_mut(&call) else {
            return false;
        };
        let Some(late) = tombstone.leg(leg_ref) else {
            return true;
        };
        let code = response.status().unwrap_or(0);
        match late {
            Late::Acked {
                dest,
                transport,
                ack,
            } => {
                if (200..300).contains(&code) {
                    self.outputs.push_back(Output::Transmit {
                        to: *dest,
                        transport: *transport,
                        bytes: ack.clone(),
                    });
                }
            }
            Late::Pending(leg) => match code {
                101..=199 => {
                    if let Some(cancel) = leg.provisional_seen() {
                        self.send_cancels(now, vec![cancel]);
                    }
                }
                200..=299 => {
                    // Answered after the call ended: acknowledge it and hang it up.
                    let (dest, transport, invite) = (leg.dest, leg.transport, leg.invite.clone());
                    if let Some((mut dialog, ack)) =
                        self.acknowledge(&invite, dest, transport, response)
                    {
                        self.send_bye(now, &mut dialog);
                        if let Some(late) =
                            self.tombstones.get_mut(&call).and_then(|t| t.leg(leg_ref))
                        {
                            *late = Late::Acked {
                                dest,
                                transport,
                                ack,
                            };
                        }
                    }
                }
                300.. => {
                    // The transaction acknowledged it; nothing more can come.
                    if let Some(t) = self.tombstones.get_mut(&call) {
                        t.legs.retain(|(r, _)| *r != leg_ref);
                    }
                }
                _ => {}
            },
        }
        true
    }

    /// Ends `call`'s life as a call: it is replaced by its tombstone until `until`, and
    /// everything that found it (dialogs, its interaction) forgets it now.
    pub(super) fn bury(&mut self, key: CallKey, until: Instant) {
        let Some(call) = self.calls.remove(&key) else {
            return;
        };
        self.unregister(key, &call);
        self.tombstones.insert(key, Tombstone::of(*call, until));
    }
}

#[cfg(test)]
mod tests {
    use super::super::lab::{DOMAIN, Lab, in_dialog, phone};
    use std::time::Duration;

    /// 64·T1 with the lab's default timing, and a second more.
    const LINGER: Duration = Duration::from_secs(33);

    /// ```text
    ///  1001          switch          1002
    ///   │── BYE ───────▶│── BYE ───────▶│
    ///   │◀── 200 ───────│◀── 200 ───────│   call ended: a tombstone is left
    ///   │               │◀── 200 (INVITE, retransmitted)
    ///   │               │── ACK ───────▶│   the same ACK as before
    /// ```
    #[test]
    fn a_2xx_retransmitted_after_the_call_ended_gets_the_same_ack_again() {
        let mut lab = Lab::new();
        lab.register("1001");
        lab.register("1002");
        let (to_callee, ok) = lab.call("1001", "1002");
        lab.advance(Duration::from_secs(1));
        let unexpected = lab.take_all(phone("1002"));
        lab.send_text(
            phone("1001"),
            &in_dialog(&ok, "BYE", 3, phone("1001"), true, ""),
        );
        let bye = lab.take(phone("1002"), "BYE");
        lab.reply(&bye, 200, phone("1002"));
        assert_eq!(lab.take(phone("1001"), "200").cseq().unwrap().seq, 3);
        assert!(lab.sw.calls.is_empty(), "the call is no longer live");
        assert_eq!(lab.sw.tombstones.len(), 1, "but leaves a tombstone");

        lab.reply(&to_callee, 200, phone("1002"));
        let again = lab.take(phone("1002"), "ACK");
        assert!(
            unexpected.is_empty(),
            "nothing else was sent: {unexpected:?}"
        );
        assert_eq!(again.cseq().unwrap().seq, to_callee.cseq().unwrap().seq);
        assert!(lab.try_take(phone("1002"), "BYE").is_none());

        lab.advance(LINGER);
        assert_eq!(lab.sw.call_count(), 0, "forgotten after 64·T1");
        lab.reply(&to_callee, 200, phone("1002"));
        assert!(lab.try_take(phone("1002"), "ACK").is_none());
    }

    /// ```text
    ///  1001          switch          1002
    ///   │── INVITE ────▶│── INVITE ────▶│
    ///   │               │◀── 180 ───────│
    ///   │── CANCEL ────▶│── CANCEL ────▶│   call ended (487 to 1001)
    ///   │               │◀── 200 (INVITE, crossed the CANCEL)
    ///   │               │── ACK ───────▶│
    ///   │               │── BYE ───────▶│   §15: the late answer is hung up
    /// ```
    #[test]
    fn a_callee_answering_after_the_caller_cancelled_is_acknowledged_and_hung_up() {
        let mut lab = Lab::new();
        lab.register("1001");
        lab.register("1002");
        let to_callee = lab.ring("1001", "1002");
        lab.reply(&to_callee, 180, phone("1002"));
        let _ringing = lab.take(phone("1001"), "180");
        let from = phone("1001");
        lab.send_text(
            from,
            &format!(
                "CANCEL sip:1002@{DOMAIN} SIP/2.0\n\
                 Via: SIP/2.0/UDP {from};branch=z9hG4bK-1001-1002-2\n\
                 From: <sip:1001@{DOMAIN}>;tag=c1001\n\
                 To: <sip:1002@{DOMAIN}>\n\
                 Call-ID: call-1001-1002\n\
                 CSeq: 2 CANCEL\n\
                 Max-Forwards: 70\n\
                 Content-Length: 0\n\n"
            ),
        );
        let _ = lab.take(from, "200");
        let _ = lab.take(from, "487");
        let _cancel = lab.take(phone("1002"), "CANCEL");
        assert!(lab.sw.calls.is_empty(), "the call ended");

        lab.reply(&to_callee, 200, phone("1002"));
        let _ack = lab.take(phone("1002"), "ACK");
        let bye = lab.take(phone("1002"), "BYE");
        assert_eq!(bye.call_id(), to_callee.call_id());
        // Its retransmission is acknowledged again, and hung up only once.
        lab.reply(&to_callee, 200, phone("1002"));
        let _ = lab.take(phone("1002"), "ACK");
        assert!(lab.try_take(phone("1002"), "BYE").is_none());
    }
}

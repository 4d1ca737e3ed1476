//! The courtesy callback offer, the switch's half (issue 15 item 5): the contact center asks
//! to offer a waiting caller a callback ([`QueueCommand::OfferCallback`]); the switch plays
//! the queue's prompt in place of the music and listens for the caller's keys (RFC 4733
//! telephone-events, or DTMF tones in the audio of trunks that send tones). 1 chooses the
//! number the caller called from; 2 lets them key in another, ended by # (* starts it
//! again). The chosen number, once the dial plan reads it as one the default calling class
//! may dial, goes to the contact center ([`QueueEvent::CallbackChosen`]); it decides, and
//! hangs the caller up when it has filed the callback.
//!
//! Choices where the issue is silent:
//! - The prompt loops for [`OFFER_TIME`] (a prompt WAV should end in a few seconds of
//!   silence); a caller who keys nothing by then hears the music again and keeps waiting.
//!   Keying in a number extends the time by [`KEYING_TIME`] per key.
//! - A number the dial plan refuses (an internal extension calling a queue, a premium
//!   number keyed in) ends the offer the same way: music, still waiting. The caller's
//!   place is never lost to the offer.
//! - When an agent answers first, the offer simply ends.

use super::model::*;
use super::switch::Switch;
use std::time::{Duration, Instant};

/// How long the prompt plays before the caller is taken to be waiting on.
pub const OFFER_TIME: Duration = Duration::from_secs(30);
/// How long after each key a caller keying in a number may take for the next.
pub const KEYING_TIME: Duration = Duration::from_secs(10);
/// Most digits a keyed-in number may have (E.164's 15 plus an international prefix).
const MAX_KEYED: usize = 18;
/// The prompt when the queue names none.
pub const DEFAULT_PROMPT: &str = "courtesy-callback.wav";

/// A courtesy callback offer in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CourtesyOffer {
    /// The number keyed in so far, once the caller pressed 2.
    pub keyed: Option<String>,
    /// When the offer lapses.
    pub deadline: Instant,
}

impl Switch {
    /// Starts the offer on the waiting caller of `interaction` (nothing if it is not
    /// waiting: an agent's phone already rings or talks).
    pub(super) fn offer_callback(
        &mut self,
        now: Instant,
        interaction: &InteractionId,
        prompt: Option<String>,
    ) {
        let Some(&call_key) = self.interactions.get(interaction) else {
            return;
        };
        let Some(call) = self.calls.get_mut(&call_key) else {
            return;
        };
        // Answered by the switch, no agent's leg yet: the caller hears music.
        let waiting = matches!(call.state, CallState::Answered | CallState::Connected)
            && call.callee.winner.is_none();
        let Some(q) = call
            .queue
            .as_mut()
            .filter(|q| waiting && q.courtesy.is_none())
        else {
            return;
        };
        q.courtesy = Some(CourtesyOffer {
            keyed: None,
            deadline: now + OFFER_TIME,
        });
        let endpoint = call.caller.endpoint.id;
        let prompt = prompt.unwrap_or_else(|| DEFAULT_PROMPT.to_owned());
        self.outputs
            .push_back(Output::Media(MediaCommand::PlayMusic {
                endpoint,
                music: Some(prompt),
            }));
        self.outputs
            .push_back(Output::Media(MediaCommand::DetectDigits {
                endpoint,
                enabled: true,
            }));
        self.schedule(call_key);
    }

    /// A key the phone on `endpoint` pressed: part of a courtesy offer's answer, or nothing.
    pub(super) fn on_digit(&mut self, now: Instant, endpoint: EndpointId, digit: char) {
        let Some(call_key) = self
            .calls
            .values()
            .find(|c| {
                c.caller.endpoint.id == endpoint
                    && c.queue.as_ref().is_some_and(|q| q.courtesy.is_some())
            })
            .map(|c| c.key)
        else {
            return;
        };
        let Some(call) = self.calls.get_mut(&call_key) else {
            return;
        };
        let caller_number = call.caller_user.clone();
        let Some(offer) = call.queue.as_mut().and_then(|q| q.courtesy.as_mut()) else {
            return;
        };
        let chosen = match (&mut offer.keyed, digit) {
            (None, '1') => Some(caller_number),
            (None, '2') => {
                offer.keyed = Some(String::new());
                offer.deadline = now + KEYING_TIME;
                None
            }
            (None, _) => None,
            (Some(keyed), '#') => Some(std::mem::take(keyed)),
            (Some(keyed), '*') => {
                keyed.clear();
                offer.deadline = now + KEYING_TIME;
                None
            }
            (Some(keyed), d) if d.is_ascii_digit() && keyed.len() < MAX_KEYED => {
                keyed.push(d);
                offer.deadline = now + KEYING_TIME;
                None
            }
            (Some(_), _) => None,
        };
        if let Some(number) = chosen {
            let accepted = self.check_callback_number(&number);
            // A caller whose callback is taken is about to be hung up: silence, not the
            // queue's music starting again for a moment. A refused number: music, and the
            // caller keeps waiting.
            self.end_courtesy_offer(call_key, accepted.is_err());
            if accepted.is_ok() {
                self.outputs
                    .push_back(Output::Media(MediaCommand::StopMusic { endpoint }));
            }
            match accepted {
                Ok(number) => {
                    let Some(q) = self.calls.get(&call_key).and_then(|c| c.queue.as_ref()) else {
                        return;
                    };
                    self.outputs
                        .push_back(Output::Queue(QueueEvent::CallbackChosen {
                            interaction: q.interaction.clone(),
                            number,
                        }));
                }
                Err(why) => {
                    tracing::info!(call = call_key.0, %why, "courtesy callback to a number the dial plan refuses");
                }
            }
        }
        self.schedule(call_key);
    }

    /// Ends the offer on `call_key`: digits are no longer listened for, and the caller hears
    /// the queue's music again unless `music` is false (an agent's leg takes over).
    pub(super) fn end_courtesy_offer(&mut self, call_key: CallKey, music: bool) {
        let Some(call) = self.calls.get_mut(&call_key) else {
            return;
        };
        let endpoint = call.caller.endpoint.id;
        let Some(q) = call.queue.as_mut() else {
            return;
        };
        if q.courtesy.take().is_none() {
            return;
        }
        let queue = q.queue.clone();
        self.outputs
            .push_back(Output::Media(MediaCommand::DetectDigits {
                endpoint,
                enabled: false,
            }));
        if music {
            let music = self.dial_plan.queue_music.get(queue.as_str()).cloned();
            self.outputs
                .push_back(Output::Media(MediaCommand::PlayMusic { endpoint, music }));
        }
    }

    /// The courtesy offer's deadline on `call_key` passed.
    pub(super) fn courtesy_lapsed(&mut self, now: Instant, call_key: CallKey) {
        let lapsed = self
            .calls
            .get(&call_key)
            .and_then(|c| c.queue.as_ref()?.courtesy.as_ref())
            .is_some_and(|o| o.deadline <= now);
        if lapsed {
            self.end_courtesy_offer(call_key, true);
        }
    }
}

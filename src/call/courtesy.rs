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

impl Call {
    /// Starts the offer on this call's waiting caller: `prompt` in place of the music and
    /// keys listened for, until `now` + [`OFFER_TIME`]. `false` (nothing done) when the caller
    /// is not waiting: an agent's phone already rings or talks, or an offer runs already.
    pub fn offer_courtesy(&mut self, now: Instant, prompt: String) -> bool {
        // Answered by the switch, no agent's leg yet: the caller hears music.
        let waiting = matches!(self.state, CallState::Answered | CallState::Connected)
            && self.callee.winner.is_none();
        let Some(q) = self
            .queue
            .as_mut()
            .filter(|q| waiting && q.courtesy.is_none())
        else {
            return false;
        };
        q.courtesy = Some(CourtesyOffer {
            keyed: None,
            deadline: now + OFFER_TIME,
        });
        let endpoint = self.caller.endpoint.id;
        self.output(Output::Media(MediaCommand::PlayMusic {
            endpoint,
            music: Some(prompt),
        }));
        self.output(Output::Media(MediaCommand::DetectDigits {
            endpoint,
            enabled: true,
        }));
        true
    }

    /// A key the caller pressed during the offer: the number it chose, once it has (1: the
    /// number it called from; 2, digits, #: a keyed-in one, * starting it again).
    pub fn courtesy_key(&mut self, now: Instant, digit: char) -> Option<String> {
        let caller_number = self.caller_user.clone();
        let offer = self.queue.as_mut()?.courtesy.as_mut()?;
        match (&mut offer.keyed, digit) {
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
        }
    }

    /// Ends the offer, if one runs: keys are no longer listened for, and the caller hears
    /// `after`. `false` when no offer ran.
    pub fn end_courtesy_offer(&mut self, after: AfterOffer) -> bool {
        let endpoint = self.caller.endpoint.id;
        if self
            .queue
            .as_mut()
            .and_then(|q| q.courtesy.take())
            .is_none()
        {
            return false;
        }
        self.output(Output::Media(MediaCommand::DetectDigits {
            endpoint,
            enabled: false,
        }));
        let media = match after {
            AfterOffer::Music(music) => MediaCommand::PlayMusic { endpoint, music },
            AfterOffer::Silence => MediaCommand::StopMusic { endpoint },
            AfterOffer::Nothing => return true,
        };
        self.output(Output::Media(media));
        true
    }
}

/// What a caller hears once the offer ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterOffer {
    /// The queue's music (its own file, or the profile's): it keeps waiting.
    Music(Option<String>),
    /// Nothing: its callback is taken and it is about to be hung up.
    Silence,
    /// Whatever plays now: an agent's leg takes over.
    Nothing,
}

impl Switch {
    /// Starts the offer on the waiting caller of `interaction` (see [`Call::offer_courtesy`]).
    pub(super) fn offer_callback(
        &mut self,
        now: Instant,
        interaction: &InteractionId,
        prompt: Option<String>,
    ) {
        let Some(&call_key) = self.interactions.get(interaction) else {
            return;
        };
        let prompt = prompt.unwrap_or_else(|| DEFAULT_PROMPT.to_owned());
        let offered = self
            .calls
            .get_mut(&call_key)
            .is_some_and(|call| call.offer_courtesy(now, prompt));
        self.drain_call(now, call_key);
        if offered {
            self.schedule(call_key);
        }
    }

    /// A key the phone on `endpoint` pressed: part of a courtesy offer's answer, or nothing.
    /// A chosen number the dial plan reads as one to call back goes to the contact center
    /// and the caller hears silence until it is hung up; a refused one brings the music back.
    pub(super) fn on_digit(&mut self, now: Instant, endpoint: EndpointId, digit: char) {
        let Some(call) = self
            .call_of_endpoint(endpoint)
            .and_then(|key| self.calls.get_mut(&key))
            .filter(|c| {
                c.caller.endpoint.id == endpoint
                    && c.queue.as_ref().is_some_and(|q| q.courtesy.is_some())
            })
        else {
            return;
        };
        let call_key = call.key;
        if let Some(number) = call.courtesy_key(now, digit) {
            match self.check_callback_number(&number) {
                Ok(number) => {
                    if let Some(call) = self.calls.get_mut(&call_key) {
                        call.end_courtesy_offer(AfterOffer::Silence);
                        if let Some(q) = call.queue.as_ref() {
                            let chosen = QueueEvent::CallbackChosen {
                                interaction: q.interaction.clone(),
                                number,
                            };
                            call.output(Output::Queue(chosen));
                        }
                    }
                }
                Err(why) => {
                    tracing::info!(call = call_key.0, %why, "courtesy callback to a number the dial plan refuses");
                    self.end_courtesy_offer(now, call_key, true);
                }
            }
        }
        self.drain_call(now, call_key);
        self.schedule(call_key);
    }

    /// Ends the offer on `call_key` (see [`Call::end_courtesy_offer`]): the caller hears the
    /// queue's music again unless `music` is false (an agent's leg takes over).
    pub(super) fn end_courtesy_offer(&mut self, now: Instant, call_key: CallKey, music: bool) {
        let Some(call) = self.calls.get_mut(&call_key) else {
            return;
        };
        let after = match call.queue.as_ref() {
            Some(q) if music => {
                AfterOffer::Music(self.dial_plan.queue_music.get(q.queue.as_str()).cloned())
            }
            _ => AfterOffer::Nothing,
        };
        call.end_courtesy_offer(after);
        self.drain_call(now, call_key);
    }

    /// The courtesy offer's deadline on `call_key` passed.
    pub(super) fn courtesy_lapsed(&mut self, now: Instant, call_key: CallKey) {
        let lapsed = self
            .calls
            .get(&call_key)
            .and_then(|c| c.queue.as_ref()?.courtesy.as_ref())
            .is_some_and(|o| o.deadline <= now);
        if lapsed {
            self.end_courtesy_offer(now, call_key, true);
        }
    }
}

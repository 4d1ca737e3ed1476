//! A call as its own machine: the first slice of the endpoint/connection split (issue 14
//! item 1, after quinn-proto's `Endpoint`/`Connection`). What a call decides from its own
//! state alone is a method of [`Call`] that queues what it wants done on the call itself
//! ([`Call::poll_output`]); the switch, as the endpoint, finds the call (by dialog,
//! transaction or interaction), hands it the event and drains its outputs in order
//! ([`Switch::drain_call`]), so nothing the call queued can overtake what the switch queued
//! before it.
//!
//! Connecting an answering agent (with the queue's treatment, injected from the dial plan),
//! hold, resume, the consult swap and the conference live here, and the courtesy offer's
//! start, keys and end in `courtesy.rs` (each feature keeps its call methods beside it). The rest of the call logic still runs as
//! switch methods that look the call up: it needs the transaction layer, the dialog map and
//! the port pool, which reach a call as requests in its outputs once it moves here too.

use super::dial_plan::QueueTreatment;
use super::model::*;
use super::switch::Switch;

impl Call {
    /// The next thing the call wants done, in the order it decided them.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Puts the customer of a connected queue call on or off hold: music to the customer
    /// (which unbridges it, so the agent hears nothing) or the two bridged again; during an
    /// answered consult, hold and resume swap whom the agent talks to instead. A no-op when
    /// the customer already is in that state or the call is not connected.
    pub fn set_held(&mut self, held: bool, by_phone: bool) {
        if self.swap_consult(held) {
            return;
        }
        if self.state == CallState::Ended || self.callee.winner.is_none() {
            return;
        }
        let (customer, agent) = (self.caller.endpoint.id, self.callee.endpoint.id);
        let Some(q) = self.queue.as_mut() else { return };
        if q.held == held {
            return;
        }
        q.held = held;
        let interaction = q.interaction.clone();
        if held {
            self.media(MediaCommand::PlayMusic {
                endpoint: customer,
                music: None,
            });
        } else {
            self.media(MediaCommand::StopMusic { endpoint: customer });
            self.media(MediaCommand::Bridge {
                a: customer,
                b: agent,
            });
        }
        self.outputs
            .push_back(Output::Event(SwitchEvent::QueueCallHeld {
                interaction,
                held,
                by_phone,
            }));
    }

    /// Hold and resume while a consult is answered swap who the agent talks to: the
    /// customer (the consulted party parked on music) or the party (the customer on music).
    /// `true` when handled here.
    fn swap_consult(&mut self, hold_customer: bool) -> bool {
        let Some(consult) = self.consult.as_mut() else {
            return false;
        };
        let (customer, agent, party) = (
            self.caller.endpoint.id,
            self.callee.endpoint.id,
            consult.leg.endpoint.id,
        );
        let (parked, talking, bridge) = match (consult.mode, hold_customer) {
            (ConsultMode::Parked, true) => {
                consult.mode = ConsultMode::Talking;
                (customer, party, (agent, party))
            }
            (ConsultMode::Talking, false) => {
                consult.mode = ConsultMode::Parked;
                (party, customer, (customer, agent))
            }
            _ => return false,
        };
        let Some(q) = self.queue.as_mut() else {
            return false;
        };
        q.held = hold_customer;
        let interaction = q.interaction.clone();
        self.media(MediaCommand::PlayMusic {
            endpoint: parked,
            music: None,
        });
        self.media(MediaCommand::StopMusic { endpoint: talking });
        self.media(MediaCommand::Bridge {
            a: bridge.0,
            b: bridge.1,
        });
        self.outputs
            .push_back(Output::Event(SwitchEvent::QueueCallHeld {
                interaction,
                held: hold_customer,
                by_phone: false,
            }));
        true
    }

    /// Customer, agent and the answered consult's party all hear each other (mix-minus);
    /// a recorded call adds the party to its agent channel. A no-op while the consult
    /// rings or once the call ended.
    pub fn conference(&mut self) {
        let Some(consult) = self.consult.as_mut() else {
            return;
        };
        if consult.mode == ConsultMode::Ringing || self.state == CallState::Ended {
            return;
        }
        consult.mode = ConsultMode::Conference;
        let party = consult.leg.endpoint.id;
        let (customer, agent) = (self.caller.endpoint.id, self.callee.endpoint.id);
        let mut recording = None;
        if let Some(q) = self.queue.as_mut() {
            q.held = false;
            if q.recording {
                recording = Some(crate::media::recorder::RecordingId(q.interaction.0.clone()));
            }
        }
        for endpoint in [customer, party] {
            self.media(MediaCommand::StopMusic { endpoint });
        }
        self.media(MediaCommand::Mix {
            endpoints: vec![customer, agent, party],
        });
        if let Some(recording) = recording {
            self.media(MediaCommand::RecordAgentSide {
                recording,
                endpoint: party,
            });
        }
    }

    /// The offered party's phone answered (fork `index` of the callee side): the music
    /// stops, customer and agent are bridged with `treatment`'s noise suppression, the first
    /// agent to connect starts the recording (after a transfer the new agent answers on the
    /// same switch endpoint, so the recording goes on), and the contact center hears who
    /// answered. `false` when the fork was no offer.
    pub fn connect_agent(&mut self, index: usize, treatment: QueueTreatment) -> bool {
        let (a, b) = (self.caller.endpoint.id, self.callee.endpoint.id);
        let Some(party) = self.callee.forks.get(index).and_then(|f| f.agent.clone()) else {
            return false;
        };
        let Some(q) = self.queue.as_mut() else {
            return false;
        };
        q.offered_to.clear();
        let interaction = q.interaction.clone();
        let courtesy = q.courtesy.take().is_some();
        let start_recording = treatment.record && !q.recording;
        q.recording |= start_recording;
        self.media(MediaCommand::StopMusic { endpoint: a });
        if courtesy {
            // An agent answered while the caller was being offered a callback.
            self.media(MediaCommand::DetectDigits {
                endpoint: a,
                enabled: false,
            });
        }
        self.media(MediaCommand::Bridge { a, b });
        self.media(MediaCommand::Denoise {
            endpoint: a,
            enabled: treatment.denoise_customer,
        });
        self.media(MediaCommand::Denoise {
            endpoint: b,
            enabled: treatment.denoise_agent,
        });
        if start_recording {
            self.media(MediaCommand::StartRecording {
                recording: crate::media::recorder::RecordingId(interaction.0.clone()),
                customer: a,
                agent_side: vec![b],
                dir: treatment.recordings_dir,
            });
        }
        self.outputs
            .push_back(Output::Queue(QueueEvent::OfferAnswered {
                interaction,
                party,
            }));
        true
    }

    fn media(&mut self, command: MediaCommand) {
        self.outputs.push_back(Output::Media(command));
    }
}

impl Switch {
    /// Moves what `call_key`'s call queued onto the switch's outputs, in order.
    pub(super) fn drain_call(&mut self, call_key: CallKey) {
        if let Some(call) = self.calls.get_mut(&call_key) {
            while let Some(output) = call.poll_output() {
                self.outputs.push_back(output);
            }
        }
    }

    /// Hands `interaction`'s call `step` and drains what it decided.
    fn on_interaction_call(&mut self, interaction: &InteractionId, step: impl FnOnce(&mut Call)) {
        let Some(&call_key) = self.interactions.get(interaction) else {
            return;
        };
        if let Some(call) = self.calls.get_mut(&call_key) {
            step(call);
        }
        self.drain_call(call_key);
    }

    /// Puts the customer of `interaction`'s call on or off hold (see [`Call::set_held`]).
    pub(super) fn set_held(&mut self, interaction: &InteractionId, held: bool, by_phone: bool) {
        self.on_interaction_call(interaction, |call| call.set_held(held, by_phone));
    }

    /// Starts a conference on `interaction`'s call (see [`Call::conference`]).
    pub(super) fn conference(&mut self, interaction: &InteractionId) {
        self.on_interaction_call(interaction, Call::conference);
    }
}

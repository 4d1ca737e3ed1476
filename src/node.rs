//! The switch and the contact center wired together as one sans-IO core: what each one's
//! outputs mean for the other, in one place, so the runtime and the simulation
//! (`crate::sim`, tests only) drive exactly the same composition.
//!
//! ```text
//!  datagrams, timeouts ──▶ Switch ──Output::Queue──────▶ ContactCenter (after the switch drained)
//!                            ▲    ──Output::Event──────▶ ContactCenter (at once)
//!                            └──── QueueCommand, routing, media policy, denoise ◀──┘
//!  media events: Inactive, OpenFailed, Digit ──▶ Switch; recording news ──▶ ContactCenter
//! ```
//!
//! What is left for whoever drives the node is IO: [`Output`] is what to send, apply to the
//! media plane, persist or publish. The drain contract is the crate's: after every
//! `handle_*`, drain [`Node::poll_output`] to `None`, then sleep until [`Node::poll_timeout`].

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;

use crate::bus::events::Publication;
use crate::call::{
    DialPlan, MediaCommand, MediaEvent, Output as SwitchOutput, QueueEvent, Switch, SwitchEvent,
};
use crate::center::{ContactCenter, Job, Output as CenterOutput};
use crate::sip::registrar::{BindingChange, Transport};
use crate::store::Cdr;

/// What the node asks its driver to do, in the order it was decided.
#[derive(Debug)]
pub enum Output {
    /// Send bytes.
    Transmit {
        to: SocketAddr,
        transport: Transport,
        bytes: Bytes,
    },
    /// Change the media plane (from the switch or the contact center).
    Media(MediaCommand),
    /// Mirror a registration change in the database.
    PersistBinding(BindingChange),
    /// Write a final CDR, then call [`Node::handle_persisted`] with `token`.
    PersistCdr { token: u64, cdr: Box<Cdr> },
    /// Replace the in-progress record of a call (the crash journal); nobody waits for it.
    PersistCdrInProgress(Box<Cdr>),
    /// A contact-center write, in order.
    Persist(Job),
    /// An event for desktops.
    Publish(Publication),
}

/// The switch and the contact center in one core.
pub struct Node {
    switch: Switch,
    center: ContactCenter,
    /// The latest time handed in: what the cores' reports to each other happen at.
    now: Instant,
    /// Queue events for the contact center, handed over once the switch has drained: the
    /// switch finishes what it was doing before the ACD answers it.
    queue_events: Vec<QueueEvent>,
    outputs: VecDeque<Output>,
}

impl Node {
    /// Wires `switch` to `center`, telling the switch the queue numbers, music, media
    /// overrides and media policy the center is configured with.
    #[must_use]
    pub fn new(mut switch: Switch, center: ContactCenter, now: Instant) -> Node {
        let routing = center.queue_routing();
        switch.set_org_outbound_limit(center.org_outbound_limit());
        switch.set_dial_plan(DialPlan {
            queue_numbers: routing.numbers,
            queue_music: routing.music,
            queue_media: routing.media,
            queue_limits: routing.limits,
            queue_caller_ids: routing.caller_ids,
            agent_classes: routing.agent_classes,
            media_policy: center.media_policy(),
            org_max_calls: center.org_call_limit(),
        });
        Node {
            switch,
            center,
            now,
            queue_events: Vec::new(),
            outputs: VecDeque::new(),
        }
    }

    fn advance(&mut self, now: Instant) {
        self.now = self.now.max(now);
    }

    /// Bytes from the network.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        transport: Transport,
        bytes: &[u8],
    ) {
        self.advance(now);
        self.switch.handle_datagram(now, from, transport, bytes);
    }

    /// News from the media plane: a dead or unopenable endpoint and a keyed digit are the
    /// switch's, recording news is the contact center's.
    pub fn handle_media_event(&mut self, now: Instant, event: MediaEvent) {
        self.advance(now);
        match event {
            MediaEvent::Inactive { .. }
            | MediaEvent::OpenFailed { .. }
            | MediaEvent::Digit { .. } => {
                self.switch.handle_media_event(now, event);
            }
            recording => self.center.handle_media_event(now, recording),
        }
    }

    /// The CDR behind `token` is stored.
    pub fn handle_persisted(&mut self, now: Instant, token: u64) {
        self.advance(now);
        self.switch.handle_persisted(now, token);
    }

    /// A TCP peer could not be reached.
    pub fn handle_transport_error(&mut self, now: Instant, to: SocketAddr, transport: Transport) {
        self.advance(now);
        self.switch.handle_transport_error(now, to, transport);
    }

    /// Both cores' timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        self.switch.handle_timeout(now);
        self.center.handle_timeout(now);
    }

    /// Ends every call.
    pub fn handle_shutdown(&mut self, now: Instant) {
        self.advance(now);
        self.switch.handle_shutdown(now);
    }

    /// The contact center, for a request arriving at `now` (desktops, supervisors, admins).
    /// Its effects come out of [`Node::poll_output`].
    pub fn center_at(&mut self, now: Instant) -> &mut ContactCenter {
        self.advance(now);
        &mut self.center
    }

    /// The contact center, to read.
    #[must_use]
    pub fn center(&self) -> &ContactCenter {
        &self.center
    }

    /// The switch, to read.
    #[must_use]
    pub fn switch(&self) -> &Switch {
        &self.switch
    }

    /// The switch, for what is set up before traffic (restored registrations).
    pub fn switch_mut(&mut self) -> &mut Switch {
        &mut self.switch
    }

    /// The earliest timer of either core.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.switch.poll_timeout(), self.center.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next thing to do; `None` once neither core has anything left.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        if self.outputs.is_empty() {
            self.exchange();
        }
        self.outputs.pop_front()
    }

    /// Lets the two cores answer each other until neither has anything left for the other:
    /// their outputs feed each other (an offer rings a phone; the phone's answer connects
    /// the interaction).
    fn exchange(&mut self) {
        let now = self.now;
        loop {
            self.drain_switch();
            for event in std::mem::take(&mut self.queue_events) {
                self.center.handle_queue_event(now, event);
            }
            let mut quiet = true;
            while let Some(output) = self.center.poll_output() {
                match output {
                    CenterOutput::Switch(command) => {
                        quiet = false;
                        self.switch.handle_queue_command(now, command);
                    }
                    CenterOutput::QueueRouting(routing) => {
                        self.switch.set_queue_numbers(routing.numbers);
                        self.switch.set_queue_music(routing.music);
                        self.switch.set_queue_media(routing.media);
                        self.switch.set_queue_limits(routing.limits);
                        self.switch.set_queue_caller_ids(routing.caller_ids);
                        self.switch.set_agent_classes(routing.agent_classes);
                    }
                    CenterOutput::Media(command) => self.outputs.push_back(Output::Media(command)),
                    CenterOutput::MediaPolicy(policy) => self.switch.set_media_policy(policy),
                    CenterOutput::OrgCallLimits { calls, outbound } => {
                        self.switch.set_org_call_limit(calls);
                        self.switch.set_org_outbound_limit(outbound);
                    }
                    CenterOutput::Denoise {
                        interaction,
                        enabled,
                    } => {
                        quiet = false;
                        self.switch.set_denoise(interaction.as_str(), enabled);
                    }
                    CenterOutput::Publish(event) => self.outputs.push_back(Output::Publish(event)),
                    CenterOutput::Persist(job) => self.outputs.push_back(Output::Persist(job)),
                }
            }
            if quiet && self.queue_events.is_empty() {
                return;
            }
        }
    }

    fn drain_switch(&mut self) {
        while let Some(output) = self.switch.poll_output() {
            let output = match output {
                SwitchOutput::Transmit {
                    to,
                    transport,
                    bytes,
                } => Output::Transmit {
                    to,
                    transport,
                    bytes,
                },
                SwitchOutput::Media(command) => Output::Media(command),
                SwitchOutput::PersistBinding(change) => Output::PersistBinding(change),
                SwitchOutput::PersistCdr { token, cdr } => Output::PersistCdr { token, cdr },
                SwitchOutput::PersistCdrInProgress(cdr) => Output::PersistCdrInProgress(cdr),
                SwitchOutput::Event(event) => {
                    log_event(&event);
                    self.center.handle_switch_event(self.now, event);
                    continue;
                }
                SwitchOutput::Queue(event) => {
                    if let QueueEvent::Arrived { interaction, .. } = &event {
                        tracing::info!(%interaction, "queue call arrived");
                    }
                    self.queue_events.push(event);
                    continue;
                }
            };
            self.outputs.push_back(output);
        }
    }
}

fn log_event(event: &SwitchEvent) {
    match event {
        SwitchEvent::Registered { aor, .. } => tracing::info!(%aor, "registered"),
        SwitchEvent::Unregistered { aor, .. } => tracing::info!(%aor, "unregistered"),
        SwitchEvent::CallStarted { call_id, .. } => tracing::info!(%call_id, "call started"),
        SwitchEvent::CallAnswered { call_id } => tracing::info!(%call_id, "call answered"),
        SwitchEvent::CallEnded {
            call_id,
            cause,
            code,
        } => tracing::info!(%call_id, %cause, code, "call ended"),
        SwitchEvent::QueueCallHeld { .. }
        | SwitchEvent::QueueCallReferred { .. }
        | SwitchEvent::QueueCallReplaced { .. } => {}
    }
}

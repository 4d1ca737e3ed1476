//! Calls, legs and media endpoints, and what the core asks the runtime to do.

pub use super::outbound::{LegRole, OutboundLeg};
use super::record::Cdr;
pub use crate::ids::{InteractionId, Party, QueueId};
pub use crate::media::relay::LatchPolicy;
use crate::media::sdp::{Direction, LocalMedia, Negotiated};
use crate::sip::dialog::Dialog;
use crate::sip::message::Message;
use crate::sip::registrar::{BindingChange, Transport};
use crate::sip::transaction::TransactionKey;
use bytes::Bytes;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A media endpoint: one RTP/RTCP port pair the switch owns for one leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EndpointId(pub u64);

/// Identifies a call inside the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallKey(pub u64);

/// What the runtime must do for the core.
#[derive(Debug)]
pub enum Output {
    /// Send bytes.
    Transmit {
        to: SocketAddr,
        transport: Transport,
        bytes: Bytes,
    },
    /// Change the media plane.
    Media(MediaCommand),
    /// Mirror a registration change in the database.
    PersistBinding(BindingChange),
    /// Write a CDR, then call [`crate::call::Switch::handle_persisted`] with `token`: the
    /// answer to the BYE that ended the call waits for it.
    PersistCdr { token: u64, cdr: Box<Cdr> },
    /// Write (replace) the record of a call still in progress, as it would read if the switch
    /// died now: the crash journal [`Output::PersistCdr`] overwrites when the call ends.
    /// Nobody waits for it.
    PersistCdrInProgress(Box<Cdr>),
    /// Something observers (logs, CTI) may want to know.
    Event(SwitchEvent),
    /// News for the queueing core (the ACD).
    Queue(QueueEvent),
}

/// Why an offer to an agent's phone failed, as the SIP side saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferFailure {
    /// The phone answered 603 Decline.
    Declined,
    /// Not registered, busy, rejecting or unreachable.
    DeviceUnavailable,
}

/// What the switch tells the ACD about queue calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueEvent {
    /// A caller reached a queue number; the switch answered and plays music on hold. One
    /// arrival is this one event, with everything the INVITE said about the caller.
    Arrived {
        interaction: InteractionId,
        queue: QueueId,
        ani: String,
        dnis: String,
        /// The call-associated data the INVITE carried (see [`CadFromSip`]).
        cad: Vec<CadFromSip>,
        /// From the INVITE's `Priority` header (RFC 3261 §20.26): emergency 9, urgent 5,
        /// anything else 0. Higher-priority callers are offered first.
        priority: u8,
    },
    /// A click-to-dial call did not connect: the agent's phone or the customer did not
    /// answer, or the number was refused. `reason` is `agent_unavailable`, a refusal's reason
    /// (`calling_class_national`, `no_route`...), or `customer_<status>`.
    OutdialFailed {
        interaction: InteractionId,
        reason: String,
    },
    /// A waiting caller took the courtesy callback offer: call back `number` (E.164, checked
    /// against the dial plan's default class). The caller is still on the line; the contact
    /// center decides.
    CallbackChosen {
        interaction: InteractionId,
        number: String,
    },
    /// A concurrent-call limit refused a call to a queue before it was answered: the
    /// interaction exists only to say so.
    Refused {
        interaction: InteractionId,
        queue: QueueId,
        ani: String,
        dnis: String,
        /// The limit (`queue_calls`, `org_calls`, `trunk_channels`).
        limit: String,
    },
    /// The offered party's phone answered (an agent's, or a number a transfer or an
    /// overflow rang); caller and party are bridged.
    OfferAnswered {
        interaction: InteractionId,
        party: Party,
    },
    /// The offered party's phone refused or could not be reached.
    OfferFailed {
        interaction: InteractionId,
        party: Party,
        failure: OfferFailure,
    },
    /// The caller hung up before an agent answered.
    Abandoned { interaction: InteractionId },
    /// A connected queue call ended.
    Ended { interaction: InteractionId },
    /// The party the agent consults answered: agent and party talk, the customer is held.
    ConsultAnswered {
        interaction: InteractionId,
        party: Party,
    },
    /// The consult was not answered (ring timeout), declined or could not ring; the customer
    /// is still held by the agent, unless `agent_left`: the agent's phone hung up while the
    /// consult rang, and the customer now has nobody (the contact center requeues it).
    ConsultFailed {
        interaction: InteractionId,
        party: Party,
        reason: ConsultFailure,
        agent_left: bool,
    },
    /// The consulted party left (hung up, or the agent ended the consult); in a conference
    /// the agent and the customer talk again.
    ConsultEnded {
        interaction: InteractionId,
        party: Party,
        by_party: bool,
    },
    /// The consulted party took over the customer (warm transfer, or the agent left the
    /// conference or hung up while consulting); the first agent's leg is gone.
    ConsultTransferred {
        interaction: InteractionId,
        party: Party,
    },
}

/// Why a consult did not connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsultFailure {
    /// Rang out.
    NoAnswer,
    /// The phone answered 603 Decline.
    Declined,
    /// Not registered, busy, rejecting or unreachable.
    Unavailable,
}

impl ConsultFailure {
    /// As events spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsultFailure::NoAnswer => "no_answer",
            ConsultFailure::Declined => "declined",
            ConsultFailure::Unavailable => "unavailable",
        }
    }
}

/// What the ACD asks the switch to do with queue calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueCommand {
    /// Ring `party` (every registered contact of `extension`: an agent's phone, or the
    /// number a transfer or an overflow goes to) for `interaction`.
    Offer {
        interaction: InteractionId,
        party: Party,
        extension: String,
    },
    /// Stop ringing `party` (RONA or another agent won).
    Withdraw {
        interaction: InteractionId,
        party: Party,
    },
    /// End the call on every leg with BYE: the agent ended it from the desktop, or the ACD
    /// refused the caller (queue full, unknown queue).
    Hangup { interaction: InteractionId },
    /// Put the customer on hold: music to the customer, nothing to the agent.
    Hold { interaction: InteractionId },
    /// Take the customer off hold: the two legs talk again.
    Resume { interaction: InteractionId },
    /// Release the agent's leg (BYE) and put the customer back on music, ready to be offered
    /// again: the first half of a blind transfer.
    ReleaseAgent { interaction: InteractionId },
    /// Ring `extension` (an agent's phone or a number) for a consult on a connected call:
    /// the customer goes on hold, the agent talks to the party once it answers. `party` names
    /// it in events.
    Consult {
        interaction: InteractionId,
        party: Party,
        extension: String,
        ring_timeout: std::time::Duration,
    },
    /// End the consult (CANCEL or BYE to the party); from a conference, the agent and the
    /// customer talk again, otherwise the customer stays held.
    ConsultEnd { interaction: InteractionId },
    /// Warm transfer: the customer talks to the consulted party, the agent's leg is released.
    ConsultTransfer { interaction: InteractionId },
    /// Three-way conference of customer, agent and consulted party (mix-minus).
    Conference { interaction: InteractionId },
    /// Click-to-dial: ring the agent's phone (`extension`), then, once it answers, dial
    /// `number` out through a trunk within the extension's calling class; when the customer
    /// answers, the call is a connected interaction like a queue call (see `outdial`).
    Outdial {
        interaction: InteractionId,
        agent: Party,
        extension: String,
        number: String,
        queue: QueueId,
    },
    /// Offer the waiting caller a courtesy callback: play `prompt` (a WAV path relative to
    /// the profile; `None`: the profile's) and listen for 1 (call me back at this number) or
    /// 2 (key in another, then #). Answered by [`QueueEvent::CallbackChosen`], or by nothing
    /// when the caller lets the offer pass.
    OfferCallback {
        interaction: InteractionId,
        prompt: Option<String>,
    },
}

/// The queue side of a call that reached a queue number.
#[derive(Debug, Clone)]
pub struct QueueLeg {
    pub interaction: InteractionId,
    /// The parties whose phones ring for the call now: one, or several agents for
    /// ring-all. Each one's failure is reported on its own.
    pub offered_to: Vec<Party>,
    /// The customer is on hold (hears music; the agent's leg hears nothing).
    pub held: bool,
    /// A recording of this call was started (it follows the call through transfers).
    pub recording: bool,
    /// The queue the call reached.
    pub queue: QueueId,
    /// A courtesy callback is being offered to the waiting caller (see `courtesy`).
    pub courtesy: Option<super::courtesy::CourtesyOffer>,
}

/// A queue's overrides of the org's media settings (`None`: follow the org).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueMedia {
    pub record: Option<bool>,
    pub denoise_customer: Option<bool>,
}

/// What the switch does with the media of queue calls when an agent connects, as the org
/// (and later the queue) settings say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaPolicy {
    /// Record connected queue calls under `recordings_dir`.
    pub record: bool,
    /// Where recordings go (dated folders inside).
    pub recordings_dir: std::path::PathBuf,
    /// Clean the customer's audio before the agent hears it.
    pub denoise_customer: bool,
    /// Clean the agent's audio before the customer hears it.
    pub denoise_agent: bool,
}

/// Media plane commands. Endpoints are bound by the runtime; the core owns port allocation.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaCommand {
    /// Bind `rtp_port` and `rtp_port + 1`.
    Open { endpoint: EndpointId, rtp_port: u16 },
    /// Loop music on hold to the endpoint's phone instead of relaying.
    PlayMusic {
        endpoint: EndpointId,
        /// A queue's own music (a WAV path relative to the profile); `None`: the profile's.
        music: Option<String>,
    },
    /// Loop the ringing tone to the endpoint's phone (an agent waiting for the customer it
    /// dialled); [`MediaCommand::StopMusic`] stops it.
    PlayRingback { endpoint: EndpointId },
    /// Stop the music (or the ringing tone).
    StopMusic { endpoint: EndpointId },
    /// What the leg's phone agreed to: where it listens, its codecs and direction. `remote` is
    /// only the first guess: the runtime latches onto the source of received RTP, as `latch`
    /// allows (the leg's signalling IP, or the SDP address for trusted trunks), and drops
    /// packets from any other source.
    Configure {
        endpoint: EndpointId,
        remote: Option<SocketAddr>,
        negotiated: Negotiated,
        direction: Direction,
        rtcp_mux: bool,
        latch: LatchPolicy,
    },
    /// The leg's signalling established it: the caller's ACK, our ACK of a callee's 2xx, or
    /// early media answered to a caller's offer. Until then nothing is sent to its phone,
    /// relayed or played, whatever address its SDP names.
    Establish { endpoint: EndpointId },
    /// Relay between two endpoints, both ways.
    Bridge { a: EndpointId, b: EndpointId },
    /// Release the ports.
    Close { endpoint: EndpointId },
    /// Clean what `endpoint`'s phone sends (RNNoise) before relaying it to the bridged peer,
    /// or stop cleaning it (`enabled: false`, the default: relayed without decoding). Each
    /// direction is switched on its own, at any time during the call; the usual one is the
    /// customer's endpoint, so the agent hears the customer without the room behind them.
    /// A cleaned direction is delayed by about 13 ms: one RNNoise frame (10 ms) plus the
    /// 8 ↔ 48 kHz resamplers' group delay (about 3.3 ms). RFC 4733 events and comfort noise
    /// pass untouched.
    Denoise { endpoint: EndpointId, enabled: bool },
    /// Report the digits `endpoint`'s phone keys as [`MediaEvent::Digit`] (`enabled: false`,
    /// the default, stops): its RFC 4733 telephone-events on the leg's negotiated type, and
    /// DTMF tones in its G.711 audio until it sends a telephone-event. What is relayed stays
    /// as it was. Off by default because searching the audio decodes every packet; the usual
    /// user is a queued caller offered a callback ("press 1").
    DetectDigits { endpoint: EndpointId, enabled: bool },
    /// Record the call as a stereo WAV `dir/YYYY-MM-DD/<recording>.wav` with a JSON sidecar:
    /// left what `customer`'s phone sends, right what the `agent_side` phones send (mixed
    /// when there are several). Music on hold is never recorded.
    StartRecording {
        recording: crate::media::recorder::RecordingId,
        customer: EndpointId,
        agent_side: Vec<EndpointId>,
        dir: std::path::PathBuf,
    },
    /// Stop capturing until resumed: silence keeps the timeline, skip leaves the span out.
    /// Nothing received while paused (audio or DTMF) is kept anywhere.
    PauseRecording {
        recording: crate::media::recorder::RecordingId,
        behavior: crate::media::recorder::PauseBehavior,
        who: String,
        why: Option<String>,
    },
    /// Capture again; `auto` when a timer rather than a person resumed it.
    ResumeRecording {
        recording: crate::media::recorder::RecordingId,
        auto: bool,
    },
    /// Add an endpoint to the agent side (right channel) of a running recording: a
    /// consulted party who joins a conference or takes the call over.
    RecordAgentSide {
        recording: crate::media::recorder::RecordingId,
        endpoint: EndpointId,
    },
    /// Mark a hold (or its end) in a running recording's sidecar.
    RecordingHold {
        recording: crate::media::recorder::RecordingId,
        held: bool,
    },
    /// Name a party in a running recording's sidecar (`customer:<number>`, `agent:<id>`,
    /// `consult:<id>`...).
    RecordingParticipant {
        recording: crate::media::recorder::RecordingId,
        who: String,
    },
    /// Mix-minus conference: each endpoint's phone hears the sum of the others (20 ms
    /// frames, i32 sum, saturated). Replaces any bridge or music of those endpoints; a later
    /// `Bridge` or `PlayMusic` of a member takes it out of the mix.
    Mix { endpoints: Vec<EndpointId> },
    /// Finalise the WAV and its sidecar.
    StopRecording {
        recording: crate::media::recorder::RecordingId,
    },
}

/// What the media plane tells the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    /// No RTP or RTCP arrived for the profile's RTP timeout.
    Inactive { endpoint: EndpointId },
    /// The runtime could not bind the endpoint's ports.
    OpenFailed { endpoint: EndpointId },
    /// The endpoint's phone keyed `digit` (`0`-`9`, `*`, `#`, `A`-`D`), once per key press;
    /// only while [`MediaCommand::DetectDigits`] is on for it. Digits may be a card number
    /// or a PIN: never log them.
    Digit { endpoint: EndpointId, digit: char },
    /// The WAV and its sidecar are created; capture has begun.
    RecordingStarted {
        recording: crate::media::recorder::RecordingId,
        path: std::path::PathBuf,
    },
    /// Capture is paused.
    RecordingPaused {
        recording: crate::media::recorder::RecordingId,
        path: std::path::PathBuf,
    },
    /// Capture resumed; `auto` when a timer resumed it.
    RecordingResumed {
        recording: crate::media::recorder::RecordingId,
        path: std::path::PathBuf,
        auto: bool,
    },
    /// The WAV and sidecar are finalised.
    RecordingStopped {
        recording: crate::media::recorder::RecordingId,
        path: std::path::PathBuf,
    },
    /// The recording could not be created or written (disk full, unwritable folder) and has
    /// ended; the call goes on.
    RecordingFailed {
        recording: crate::media::recorder::RecordingId,
        error: String,
    },
}

/// Call progress for observers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwitchEvent {
    Registered {
        aor: String,
        contact: String,
    },
    Unregistered {
        aor: String,
        contact: String,
    },
    CallStarted {
        call_id: String,
        caller: String,
        callee: String,
    },
    CallAnswered {
        call_id: String,
    },
    CallEnded {
        call_id: String,
        cause: String,
        code: u16,
    },
    /// A connected queue call went on or off hold, from the desktop (CTI) or from the agent's
    /// phone (a re-INVITE with `a=sendonly`/`a=inactive`, then `a=sendrecv`).
    QueueCallHeld {
        interaction: InteractionId,
        held: bool,
        by_phone: bool,
    },
    /// The agent's phone asked (REFER) to transfer the customer to `target` (a SIP user or
    /// number); the switch accepted and the contact center carries it out.
    QueueCallReferred {
        interaction: InteractionId,
        target: String,
        referred_by: Option<String>,
    },
    /// The agent's phone completed an attended transfer (REFER with Replaces): the switch
    /// already bridged the customer to `target` (the user the phone's second call reached)
    /// and released the agent's legs.
    QueueCallReplaced {
        interaction: InteractionId,
        target: String,
        referred_by: Option<String>,
    },
}

/// One call-associated data variable set by whoever routed the call to us (an IVR, a
/// trunk): a header `X-Cad-<key>: <value>`, or `X-Cad-Secure-<key>: <value>` for values
/// only entitled roles may read (card numbers, account PINs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CadFromSip {
    pub key: String,
    pub value: String,
    pub secure: bool,
}

impl CadFromSip {
    /// The CAD headers of `invite`, in order, at most `limit` of them (a hostile INVITE may
    /// carry many); keys are lower-cased, values cut at 256 characters.
    pub fn from_headers(invite: &Message, limit: usize) -> Vec<CadFromSip> {
        invite
            .headers()
            .iter()
            .filter_map(|h| {
                let lower = h.name.to_ascii_lowercase();
                let rest = lower.strip_prefix("x-cad-")?;
                let (key, secure) = match rest.strip_prefix("secure-") {
                    Some(key) => (key, true),
                    None => (rest, false),
                };
                (!key.is_empty()).then(|| CadFromSip {
                    key: key.to_owned(),
                    value: h.value.chars().take(256).collect(),
                    secure,
                })
            })
            .take(limit)
            .collect()
    }
}

/// The switch's side of one leg's media.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub id: EndpointId,
    pub port: u16,
    pub local: LocalMedia,
    pub negotiated: Option<Negotiated>,
    /// The direction of the last offer relayed to this leg's phone: not `sendrecv` while the
    /// other phone holds it.
    pub offered: Direction,
}

/// Where a call stands, from the caller's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallState {
    /// Callee legs are being tried.
    Routing,
    /// A 2xx went to the caller; waiting for its ACK.
    Answered,
    /// ACK received: media flows.
    Connected,
    /// Final answer given or BYE sent; waiting for stragglers before the call is forgotten.
    Ended,
}

/// A 2xx the switch (as UAS) retransmits until the ACK comes (RFC 3261 §13.3.1.4).
#[derive(Debug, Clone)]
pub struct Pending2xx {
    pub bytes: Bytes,
    pub cseq: u32,
    pub interval: Duration,
    pub next: Instant,
    pub give_up: Instant,
}

impl Pending2xx {
    /// `ok`, sent at `now`: due again `first` later, then at doubling intervals (see
    /// `Call::retransmit_2xx`) until its ACK or `give_up`.
    pub fn new(ok: &Message, now: Instant, first: Duration, give_up: Instant) -> Pending2xx {
        Pending2xx {
            bytes: ok.to_bytes(),
            cseq: ok.cseq().map(|c| c.seq).unwrap_or_default(),
            interval: first,
            next: now + first,
            give_up,
        }
    }
}

/// The inbound leg (the switch's UAS role): the caller's INVITE, which the switch accepts,
/// answers and whose 2xx it retransmits until the ACK. See [`super::outbound`] for the other role.
#[derive(Debug)]
pub struct InboundLeg {
    pub invite: Message,
    /// The INVITE transaction the phone's call arrived in; `None` for a customer leg the
    /// switch placed itself (click-to-dial).
    pub server_txn: Option<TransactionKey>,
    pub dialog: Dialog,
    pub endpoint: Endpoint,
    /// The caller's SDP offer was absent (offer in our 2xx, answer in the ACK).
    pub delayed_offer: bool,
    pub pending_2xx: Option<Pending2xx>,
    /// The caller's INVITE transaction still expects a final response from us.
    pub awaiting_final: bool,
    /// The INVITE came from a trusted trunk: its CAD and `Priority` are believed (see
    /// [`super::trunks`]).
    pub trusted: bool,
}

/// State of one callee fork.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForkState {
    Trying,
    Early,
    /// CANCEL wanted but no provisional yet (RFC 3261 §9.1: must wait for one).
    CancelPending,
    Cancelled,
    Answered,
    Failed(u16),
}

/// One INVITE of an outbound leg ([`super::outbound::OutboundLeg`]) to one contact.
#[derive(Debug)]
pub struct Fork {
    pub invite: Message,
    pub dest: SocketAddr,
    pub transport: Transport,
    pub state: ForkState,
    pub dialog: Option<Dialog>,
    /// Our ACK for its 2xx, resent when the 2xx is retransmitted.
    pub ack: Option<Bytes>,
    /// The party this fork offers a queue call to.
    pub agent: Option<Party>,
    /// What this leg was while it talked, once the switch released it to move the customer
    /// on (a transfer): its state says `Cancelled` so the call treats it as gone.
    pub released: Option<ReleasedLeg>,
}

/// An answered leg the switch hung up to transfer the customer, as its record shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleasedLeg {
    /// The party it reached, if it was a queue offer.
    pub agent: Option<Party>,
    /// The codec it talked.
    pub codec: Option<String>,
}

impl Fork {
    /// The switch hangs this answered leg up (a transfer moves the customer on): the call no
    /// longer counts it, and its record keeps that it answered and talked `codec`.
    pub fn release(&mut self, codec: Option<String>) {
        self.released = Some(ReleasedLeg {
            agent: self.agent.clone(),
            codec,
        });
        self.state = ForkState::Cancelled;
    }
}

impl Fork {
    /// A leg whose INVITE was just sent.
    pub fn trying(
        invite: Message,
        dest: SocketAddr,
        transport: Transport,
        agent: Option<Party>,
    ) -> Fork {
        Fork {
            invite,
            dest,
            transport,
            state: ForkState::Trying,
            dialog: None,
            ack: None,
            agent,
            released: None,
        }
    }
}

/// Why a call ended, for the CDR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    ByeFromCaller,
    ByeFromCallee,
    Cancelled,
    Failed(u16),
    NoAnswer,
    NoAck,
    RtpTimeout,
    Shutdown,
    /// Ended by the switch for the contact-center layer (an agent's end button, a refused
    /// caller).
    Hangup,
    /// The conversation so far is over because of a transfer: the phone on side `left`
    /// referred it elsewhere (its leg is released or already gone), or, in the call a
    /// replaced dialog belonged to, that side's leg moved to another call. No BYE goes to
    /// side `left` from the call this ends.
    Transferred {
        left: Side,
    },
    /// Not ended: what the in-progress record says, should the switch die before the end.
    Interrupted,
}

impl Ending {
    /// Whether ending the call this way sends BYE to the answered leg on `side`.
    pub fn byes(self, side: Side) -> bool {
        match (self, side) {
            (Ending::ByeFromCaller, Side::Caller) | (Ending::ByeFromCallee, Side::Callee) => false,
            (Ending::Transferred { left }, side) => left != side,
            _ => true,
        }
    }
}

/// One call.
#[derive(Debug)]
pub struct Call {
    pub key: CallKey,
    /// The id of its CDR, chosen at the start: every write of the record replaces one row.
    pub cdr_id: String,
    pub caller_user: String,
    pub callee_user: String,
    pub state: CallState,
    pub caller: InboundLeg,
    /// The callee side: the extension's phones, or the agents a queue call is offered to.
    pub callee: OutboundLeg,
    pub started_unix_ms: i64,
    pub answered_unix_ms: Option<i64>,
    /// A re-INVITE/UPDATE relayed from one leg to the other and not yet answered.
    pub relay: Option<Relay>,
    /// A re-INVITE 2xx retransmitted to the leg that sent the re-INVITE, until its ACK.
    pub callee_pending_2xx: Option<Pending2xx>,
    /// Set when the call reached a queue number instead of an extension.
    pub queue: Option<QueueLeg>,
    /// The agent's consult of a third party, while there is one.
    pub consult: Option<ConsultLeg>,
    /// Consults that are over, kept (a few) so late answers to their INVITEs find them.
    pub past_consults: Vec<ConsultLeg>,
    /// A phone's blind transfer of this (plain) call: the latest one, kept after it is over
    /// so late answers to its INVITEs find it.
    pub transfer: Option<TransferLeg>,
    /// Set once a transfer put the target's leg on this side: the record written at the end
    /// names the other side's user as caller (the transferee) and this side's as callee.
    pub transferred_to: Option<Side>,
    /// Forks before this index belong to a conversation already recorded (before a
    /// transfer); the record at the end lists the ones from here on.
    pub first_fork: usize,
    /// When a plain call that still rings gives up (the profile's ring timeout). Queue
    /// calls have none: the contact center decides how long an offer rings.
    pub ring_deadline: Option<Instant>,
    /// The earliest deadline the switch will wake the call at (see [`super::timers`]).
    pub scheduled: Option<Instant>,
    /// Click-to-dial: the customer leg the switch places once the agent's phone answered.
    pub outdial: Option<super::outdial::OutdialLeg>,
    /// What the call decided and the switch has yet to carry out (see `machine`).
    pub(super) outputs: std::collections::VecDeque<super::machine::CallOutput>,
}

/// A phone's blind transfer (REFER) of a plain bridged call: the switch's own outbound leg
/// to the target, with its own media endpoint, while the referrer and the transferee stay
/// bridged until the target answers.
#[derive(Debug)]
pub struct TransferLeg {
    /// Tells this transfer's INVITE answers from an earlier transfer's on the same call.
    pub id: u64,
    /// The side whose phone sent the REFER.
    pub referrer: Side,
    /// The user (extension) being rung.
    pub target: String,
    pub leg: OutboundLeg,
    pub started_unix_ms: i64,
    /// When an unanswered target gives up.
    pub ring_deadline: Instant,
    /// The target still rings; `false` once it answered or failed.
    pub ringing: bool,
    /// The referrer's phone hung up while the target rang: the transferee waits on music,
    /// and a failure ends the call.
    pub referrer_left: bool,
}

/// Where a consult stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsultMode {
    /// The party's phone rings; the customer is held.
    Ringing,
    /// Agent and party talk; the customer is held.
    Talking,
    /// The agent went back to the customer; the party is held (hears music).
    Parked,
    /// All three talk.
    Conference,
}

/// A consult leg: the switch's own call to a third party on behalf of the agent, with its
/// own media endpoint, so it can be bridged to the agent, to the customer, or mixed.
#[derive(Debug)]
pub struct ConsultLeg {
    /// Tells this consult's INVITE answers from an earlier consult's on the same call.
    pub id: u64,
    pub party: Party,
    pub leg: OutboundLeg,
    pub mode: ConsultMode,
    /// When an unanswered consult gives up.
    pub ring_deadline: Instant,
    /// The agent's phone hung up while this consult rang: an answer completes the transfer
    /// (as Asterisk's and FreeSWITCH's attended transfers do), a failure requeues the customer.
    pub agent_left: bool,
    /// The party's early media (a 183 with SDP) already reaches the agent.
    pub early_media: bool,
}

/// Which side of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Caller,
    Callee,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::Caller => Side::Callee,
            Side::Callee => Side::Caller,
        }
    }
}

/// An in-dialog request relayed to the other leg.
#[derive(Debug, Clone)]
pub struct Relay {
    pub from: Side,
    pub server_txn: TransactionKey,
    pub request: Message,
    /// The relayed request's client transaction, once the switch started it.
    pub client_txn: Option<TransactionKey>,
}

impl Call {
    pub fn endpoint(&self, side: Side) -> &Endpoint {
        match side {
            Side::Caller => &self.caller.endpoint,
            Side::Callee => &self.callee.endpoint,
        }
    }

    pub fn endpoint_mut(&mut self, side: Side) -> &mut Endpoint {
        match side {
            Side::Caller => &mut self.caller.endpoint,
            Side::Callee => &mut self.callee.endpoint,
        }
    }

    /// Our 2xx waiting for its ACK on `side`: the caller's INVITE's or a relayed re-INVITE's
    /// to the caller's phone, or a relayed re-INVITE's to the callee's.
    pub fn pending_2xx_mut(&mut self, side: Side) -> &mut Option<Pending2xx> {
        match side {
            Side::Caller => &mut self.caller.pending_2xx,
            Side::Callee => &mut self.callee_pending_2xx,
        }
    }

    pub fn winner_leg(&self) -> Option<&Fork> {
        self.callee.winner_leg()
    }

    pub fn winner_leg_mut(&mut self) -> Option<&mut Fork> {
        self.callee.winner_leg_mut()
    }

    /// The codec the answered callee side talks, once negotiated.
    pub fn callee_codec(&self) -> Option<String> {
        self.callee
            .endpoint
            .negotiated
            .as_ref()
            .map(|n| n.codec.name.as_str().to_owned())
    }

    /// Where a side's signalling comes from (its media latches by it), once known.
    pub fn peer_ip(&self, side: Side) -> Option<std::net::IpAddr> {
        match side {
            Side::Caller => Some(self.caller.dialog.peer.ip()),
            Side::Callee => self.winner_leg().map(|l| l.dest.ip()),
        }
    }

    /// The transport of a side's dialog, once it exists.
    pub fn transport(&self, side: Side) -> Option<Transport> {
        self.dialog(side).map(|d| d.transport)
    }

    /// The dialog of a side, once it exists.
    pub fn dialog(&self, side: Side) -> Option<&Dialog> {
        match side {
            Side::Caller => Some(&self.caller.dialog),
            Side::Callee => self.winner_leg().and_then(|l| l.dialog.as_ref()),
        }
    }

    /// The user (extension) of a side's phone.
    pub fn user(&self, side: Side) -> &str {
        match side {
            Side::Caller => &self.caller_user,
            Side::Callee => &self.callee_user,
        }
    }

    /// The extension of the agent who has (or last had) the call: its calling class applies
    /// to the numbers it consults or transfers to.
    pub fn agent_extension(&self) -> Option<String> {
        self.agents_fork()?.invite.to()?.user()
    }

    /// The agent who has (or last had) the call, when it came as a queue offer: its own
    /// calling class caps its extension's.
    pub fn agent_party(&self) -> Option<crate::ids::AgentId> {
        let fork = self.agents_fork()?;
        match fork
            .agent
            .as_ref()
            .or(fork.released.as_ref()?.agent.as_ref())?
        {
            Party::Agent(agent) => Some(agent.clone()),
            _ => None,
        }
    }

    fn agents_fork(&self) -> Option<&Fork> {
        self.callee.winner_leg().or_else(|| {
            self.callee
                .forks
                .iter()
                .rev()
                .find(|f| f.released.is_some())
        })
    }

    /// A blind transfer of this call is ringing its target.
    pub fn transfer_ringing(&self) -> bool {
        self.transfer.as_ref().is_some_and(|t| t.ringing)
    }

    /// The dialog of a side, once it exists.
    pub fn dialog_mut(&mut self, side: Side) -> Option<&mut Dialog> {
        match side {
            Side::Caller => Some(&mut self.caller.dialog),
            Side::Callee => self.winner_leg_mut().and_then(|l| l.dialog.as_mut()),
        }
    }
}

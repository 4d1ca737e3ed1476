//! The switch core: receives every SIP message, owns every transaction, dialog and call.

use super::cdr;
use super::dial_plan::DialPlan;
use super::model::*;
use super::received::{response_destination, stamp_received};
use crate::media::ports::{BooksOnly, PortAllocator, PortBinder};
use crate::media::sdp::{Codec, Direction, LocalMedia};
use crate::sip::auth_guard::{AuthGuard, AuthPolicy};
use crate::sip::dialog::DialogKey;
use crate::sip::digest::{NonceIssuer, StoredSecret, Verifier};
use crate::sip::message::{Message, Method, NO_SUCH_DIALOG, ParseError};
use crate::sip::registrar::{Registrar, RegistrarConfig, Transport};
use crate::sip::transaction::{
    Incoming, LayerConfig, LayerOutput, Timing, TransactionEvent, TransactionKey, TransactionLayer,
    TryingPolicy,
};
use crate::sip::validate::validate_request;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Methods we implement; sent in Allow.
pub(super) const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, UPDATE, INFO, REFER";

/// The user part of the switch's own Contact: what a carrier we register with sends its
/// calls to.
pub const CONTACT_USER: &str = "switchboard";

/// Everything the core needs from the profile.
#[derive(Debug, Clone)]
pub struct SwitchConfig {
    pub domain: String,
    /// The address and port we put in Via and Contact.
    pub advertised: SocketAddr,
    /// The port we put in Via and Contact on TLS legs (`[sip.tls]`), when TLS is on: our
    /// UDP/TCP port would make a phone open TLS to a port that does not speak it.
    pub tls_port: Option<u16>,
    pub timing: Timing,
    pub ring_timeout: Duration,
    pub max_calls: usize,
    pub registrar: RegistrarConfig,
    pub nonce_lifetime: Duration,
    /// Extensions allowed to register and call, with their digest secrets: the profile's
    /// (lab) merged with the database's `extensions` table at start-up.
    pub extensions: HashMap<String, StoredSecret>,
    pub rtp_ports: (u16, u16),
    /// Digest algorithms to challenge with, most preferred first; credentials computed with
    /// any other are refused.
    pub digest_algorithms: Vec<String>,
    /// Extensions whose digest algorithms replace `digest_algorithms` for them.
    pub extension_digest_algorithms: HashMap<String, Vec<String>>,
    /// Seeds the CSPRNG behind nonces' key, branches, tags, Call-IDs, interaction and CDR
    /// ids: from the OS in production, fixed in tests for reproducible traces.
    pub seed: RngSeed,
    /// Brakes on digest password guessing (the profile's `[sip.auth_guard]`).
    pub auth_guard: AuthPolicy,
    /// Where queue calls may come from without authenticating (the profile's `[[trunks]]`).
    pub trunks: Vec<super::trunks::InboundTrunk>,
    /// Trunks calls to external numbers go out through (`[[trunks]]` with gateways).
    pub outbound_trunks: Vec<super::trunks::OutboundTrunk>,
    /// Who may dial which external numbers, and the routes to them (`[dialing]`).
    pub dialing: super::trunks::Dialing,
    /// Which legs may speak SDES-keyed SRTP (the profile's `media.srtp`).
    pub srtp: super::SrtpPolicy,
}

/// The 256-bit seed of the switch's [`StdRng`] (ChaCha12, a CSPRNG): the nonce key, tags,
/// branches, Call-IDs and ids an attacker could otherwise predict from a few samples, as it
/// could with a 64-bit-seeded `SmallRng`.
#[derive(Clone, Copy)]
pub struct RngSeed(pub [u8; 32]);

impl RngSeed {
    /// A reproducible seed for tests and simulations (never for a live switch: 64 bits of
    /// entropy at most).
    #[must_use]
    pub fn from_u64(seed: u64) -> RngSeed {
        let mut bytes = [0u8; 32];
        StdRng::seed_from_u64(seed).fill(&mut bytes);
        RngSeed(bytes)
    }
}

// A seed is a secret: it never reaches logs.
impl std::fmt::Debug for RngSeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RngSeed(<redacted>)")
    }
}

/// Counters for monitoring and tests.
#[derive(Debug, Default, Clone)]
pub struct SwitchStats {
    pub unparseable: u64,
    pub rejected_malformed: u64,
    pub calls_started: u64,
    pub calls_answered: u64,
    /// Digits reported by the media plane ([`MediaEvent::Digit`]).
    pub digits_received: u64,
}

/// The response `code` to `request` with nothing of ours but what it needs: the methods we
/// allow when the code says the request's is not one of them.
pub(super) fn simple_response(request: &Message, code: u16, reason: &str) -> Message {
    let mut response = Message::response_to(request, code, reason);
    if code == 405 || code == 501 {
        response.push("Allow", ALLOW);
    }
    response
}

/// What a client transaction of ours was for.
#[derive(Debug, Clone)]
pub(super) enum ClientPurpose {
    /// An INVITE of one of the call's outbound legs, to its `index`-th contact.
    Fork {
        call: CallKey,
        role: LegRole,
        index: usize,
    },
    Relay {
        call: CallKey,
    },
    /// A re-INVITE of the switch's own (the transferee's new offer after a transfer).
    Reoffer {
        call: CallKey,
        side: Side,
    },
    /// BYE or CANCEL whose answer does not matter.
    FireAndForget,
    /// A REGISTER of the trunk registration with this id (see
    /// [`super::trunk_registration`]).
    TrunkRegistration(u64),
}

impl ClientPurpose {
    /// The call the transaction belongs to.
    pub(super) fn call(&self) -> Option<CallKey> {
        match *self {
            ClientPurpose::Fork { call, .. }
            | ClientPurpose::Relay { call }
            | ClientPurpose::Reoffer { call, .. } => Some(call),
            ClientPurpose::FireAndForget | ClientPurpose::TrunkRegistration(_) => None,
        }
    }
}

/// The core. See the module docs of [`crate::call`].
pub struct Switch {
    pub(super) cfg: SwitchConfig,
    pub(super) layer: TransactionLayer,
    pub(super) registrar: Registrar,
    pub(super) verifier: Verifier,
    pub(super) ports: PortAllocator,
    /// Binds each pair before it is handed out (the runtime's sockets; [`BooksOnly`] until set).
    port_binder: Box<dyn PortBinder>,
    pub(super) rng: StdRng,
    /// Failed digest attempts per source and user (see [`crate::sip::auth_guard`]).
    pub(super) auth_guard: AuthGuard,
    /// Per-source limits on new calls and the ports they hold (see [`super::admission`]).
    pub(super) admission: super::admission::Admission,
    /// Trunk channels in use, both ways.
    pub(super) trunk_channels: super::limits::CallCounts,
    /// Live calls per queue.
    pub(super) queue_calls: super::limits::CallCounts,
    pub(super) outputs: VecDeque<Output>,
    /// Live calls, boxed: a call is a few kilobytes, and a map's slots are as large as
    /// what it holds.
    pub(super) calls: HashMap<CallKey, Box<Call>>,
    /// Ended calls, kept 64·T1 as what late answers still need; they do not count against
    /// `max_calls` (at 2,000 calls per second that is 64,000 of them).
    pub(super) tombstones: HashMap<CallKey, super::tombstone::Tombstone>,
    /// Where new calls go and how queue calls' media is treated: the contact center's,
    /// injected (see [`super::dial_plan`]).
    pub(super) dial_plan: DialPlan,
    pub(super) dialogs: HashMap<DialogKey, (CallKey, Side)>,
    /// Dialogs of answered consult legs.
    pub(super) consult_dialogs: HashMap<DialogKey, CallKey>,
    pub(super) server_txns: HashMap<TransactionKey, CallKey>,
    pub(super) client_txns: HashMap<TransactionKey, ClientPurpose>,
    /// The switch's registrations with carriers (see [`super::trunk_registration`]).
    pub(super) trunk_registrations: super::trunk_registration::TrunkRegistrations,
    /// Each live call at its earliest deadline (see [`super::timers`]).
    pub(super) call_timers: BinaryHeap<Reverse<(Instant, CallKey)>>,
    /// Tombstones in the order they expire.
    pub(super) lingering: VecDeque<(Instant, CallKey)>,
    /// Answers to BYEs held back until the CDR is written.
    pub(super) held_replies: HashMap<u64, (TransactionKey, Message)>,
    /// Queue calls by interaction id.
    pub(super) interactions: HashMap<InteractionId, CallKey>,
    /// The call whose caller or callee side each media endpoint is, so a media event (a
    /// digit, inactivity) finds its call without a scan of every call. Set when a call is
    /// made and when a leg moves into a call (a transfer, a consult taking over, a
    /// click-to-dial customer answering); an endpoint leaves when it is closed.
    pub(super) endpoint_calls: HashMap<EndpointId, CallKey>,
    pub(super) next_id: u64,
    /// Wall clock at `anchor`, so CDR times and nonces need no clock reads here.
    pub(super) anchor: (Instant, Duration),
    pub(super) last_now: Instant,
    pub stats: SwitchStats,
}

impl Switch {
    /// A core whose wall clock reads `unix_now` at `now`.
    pub fn new(cfg: SwitchConfig, now: Instant, unix_now: Duration) -> Switch {
        let mut rng = StdRng::from_seed(cfg.seed.0);
        let mut secret = [0u8; 32];
        rng.fill(&mut secret);
        // The port draws get their own key from the switch's CSPRNG (so from the OS in
        // production, from the test seed in tests and simulations).
        let mut port_key = [0u8; 32];
        rng.fill(&mut port_key);
        let issuer = NonceIssuer::new(secret.to_vec(), cfg.nonce_lifetime, 65_536)
            .expect("a 32-byte secret is long enough");
        let verifier = Verifier::new(cfg.domain.clone(), issuer);
        let mut switch = Switch {
            layer: TransactionLayer::new(LayerConfig {
                timing: cfg.timing,
                // Completed and Accepted transactions linger 64·T1 (32 s) to absorb
                // retransmissions: at 2,000 calls per second with ~3 per call that is ~200,000.
                max_transactions: 600_000,
                // The TU answers every INVITE at once (a challenge, a lookup), so the standard
                // 200 ms rule would only add a timer per call.
                trying: TryingPolicy::After(Duration::from_millis(200)),
            }),
            registrar: Registrar::new(cfg.registrar.clone()),
            verifier,
            ports: PortAllocator::new(
                cfg.rtp_ports.0..=cfg.rtp_ports.1,
                rand_chacha::ChaCha20Rng::from_seed(port_key),
            )
            .expect("profile validated the port range"),
            port_binder: Box::new(BooksOnly),
            admission: super::admission::Admission::new(Default::default()),
            trunk_channels: Default::default(),
            queue_calls: Default::default(),
            rng,
            auth_guard: AuthGuard::new(cfg.auth_guard),
            outputs: VecDeque::new(),
            calls: HashMap::new(),
            tombstones: HashMap::new(),
            dial_plan: DialPlan::default(),
            dialogs: HashMap::new(),
            consult_dialogs: HashMap::new(),
            server_txns: HashMap::new(),
            client_txns: HashMap::new(),
            trunk_registrations: Default::default(),
            call_timers: BinaryHeap::new(),
            lingering: VecDeque::new(),
            held_replies: HashMap::new(),
            interactions: HashMap::new(),
            endpoint_calls: HashMap::new(),
            next_id: 1,
            anchor: (now, unix_now),
            last_now: now,
            stats: SwitchStats::default(),
            cfg,
        };
        switch.sync_trunk_registrations(now);
        switch
    }

    /// Wall-clock time at `now`.
    pub(super) fn unix(&self, now: Instant) -> Duration {
        self.anchor.1 + now.saturating_duration_since(self.anchor.0)
    }

    pub(super) fn unix_ms(&self, now: Instant) -> i64 {
        i64::try_from(self.unix(now).as_millis()).unwrap_or(i64::MAX)
    }

    pub(super) fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub(super) fn advertised_ip(&self) -> IpAddr {
        self.cfg.advertised.ip()
    }

    /// Our Via for a request leaving on `transport`, with a fresh branch.
    pub(super) fn our_via(&mut self, transport: Transport) -> String {
        let branch = self.new_branch();
        self.local_sip().via(transport, &branch)
    }

    /// Our Contact for a leg on `transport`.
    pub(super) fn our_contact(&self, transport: Transport) -> String {
        self.local_sip().contact(transport)
    }

    /// The digest secret of an extension, `None` for unknown users.
    pub(super) fn secret_of(&self, user: &str) -> Option<&StoredSecret> {
        self.cfg.extensions.get(user)
    }

    /// A fresh local media description for an endpoint on `port`.
    pub(super) fn local_media(&mut self, port: u16) -> LocalMedia {
        let session_id = self.rng.random_range(1..u32::MAX as u64);
        LocalMedia {
            address: self.advertised_ip(),
            port,
            codecs: vec![
                Codec::pcmu(),
                Codec::pcma(),
                Codec::telephone_event(
                    crate::media::rtp::PayloadType::new(101).expect("101 is a valid payload type"),
                ),
            ],
            direction: Direction::SendRecv,
            session_id,
            session_version: 1,
            rtcp_mux: true,
            ptime: Some(Duration::from_millis(20)),
            srtp: None,
        }
    }

    /// Allocates a port pair and asks the runtime to open it.
    pub(super) fn open_endpoint(&mut self) -> Option<Endpoint> {
        let pair = self.ports.allocate(self.port_binder.as_mut()).ok()?;
        let id = EndpointId(self.next_id());
        self.outputs.push_back(Output::Media(MediaCommand::Open {
            endpoint: id,
            rtp_port: pair.rtp(),
        }));
        let local = self.local_media(pair.rtp());
        Some(Endpoint {
            id,
            port: pair.rtp(),
            local,
            negotiated: None,
            offered: Direction::SendRecv,
        })
    }

    pub(super) fn close_endpoint(&mut self, endpoint: &Endpoint) {
        let _ = self.ports.release(endpoint.port);
        self.endpoint_calls.remove(&endpoint.id);
        self.outputs.push_back(Output::Media(MediaCommand::Close {
            endpoint: endpoint.id,
        }));
    }

    /// Routes the media endpoints of `call_key`'s two sides to it: called once the call is
    /// made and whenever a leg moves into it.
    pub(super) fn route_endpoints(&mut self, call_key: CallKey) {
        if let Some(call) = self.calls.get(&call_key) {
            for endpoint in [call.caller.endpoint.id, call.callee.endpoint.id] {
                self.endpoint_calls.insert(endpoint, call_key);
            }
        }
    }

    /// The live call whose caller or callee side `endpoint` is.
    pub(super) fn call_of_endpoint(&self, endpoint: EndpointId) -> Option<CallKey> {
        let call_key = *self.endpoint_calls.get(&endpoint)?;
        let call = self.calls.get(&call_key)?;
        (call.caller.endpoint.id == endpoint || call.callee.endpoint.id == endpoint)
            .then_some(call_key)
    }

    // ----- inputs -----

    fn advance(&mut self, now: Instant) -> bool {
        if now < self.last_now {
            return false;
        }
        self.last_now = now;
        true
    }

    /// Bytes from the network.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        transport: Transport,
        bytes: &[u8],
    ) {
        if !self.advance(now) {
            return;
        }
        let message = match Message::parse(bytes) {
            Ok(m) => m,
            Err(ParseError::Unparseable(why)) => {
                self.stats.unparseable += 1;
                tracing::debug!(%from, why, "dropped unparseable message");
                return;
            }
            Err(ParseError::Malformed { rejection, partial }) => {
                self.reject_stateless(&partial, from, transport, rejection);
                return;
            }
        };
        if message.is_request() {
            if let Err(rejection) = validate_request(&message) {
                self.reject_stateless(&message, from, transport, rejection);
                return;
            }
        } else if message.top_via().is_none()
            || message.cseq().is_none()
            || message.call_id().is_none()
        {
            self.stats.unparseable += 1;
            return;
        }
        let mut message = message;
        let mut reply_to = from;
        if message.is_request() {
            stamp_received(&mut message, from);
            if let Some(via) = message.top_via() {
                reply_to = response_destination(via, from, transport);
            }
        }
        match self
            .layer
            .handle_message_over(now, reply_to, Some(transport), message)
        {
            Ok(incoming) => self.on_incoming(now, reply_to, transport, incoming),
            Err(error) => {
                self.stats.unparseable += 1;
                tracing::debug!(%from, %error, "message dropped by the transaction layer");
            }
        }
        self.drain_layer(now);
    }

    /// A media plane event.
    pub fn handle_media_event(&mut self, now: Instant, event: MediaEvent) {
        if !self.advance(now) {
            return;
        }
        let endpoint = match event {
            MediaEvent::Inactive { endpoint } | MediaEvent::OpenFailed { endpoint } => endpoint,
            MediaEvent::Digit { endpoint, digit } => {
                // The digit itself stays out of the log: it may be a card number or a PIN.
                tracing::debug!(endpoint = endpoint.0, "digit keyed");
                self.stats.digits_received += 1;
                self.on_digit(now, endpoint, digit);
                self.drain_layer(now);
                return;
            }
            // Recording news is for observers: the call goes on whatever became of it.
            _ => return,
        };
        if let Some(call) = self.call_of_endpoint(endpoint) {
            let ending = match event {
                MediaEvent::Inactive { .. } => Ending::RtpTimeout,
                _ => Ending::Failed(503),
            };
            self.end_call(now, call, ending, None);
        }
        self.drain_layer(now);
    }

    /// The CDR behind `token` is stored: release the answer that waited for it.
    pub fn handle_persisted(&mut self, now: Instant, token: u64) {
        if !self.advance(now) {
            return;
        }
        if let Some((key, response)) = self.held_replies.remove(&token) {
            self.respond(now, &key, response);
        }
        self.drain_layer(now);
    }

    /// Timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        if !self.advance(now) {
            return;
        }
        self.layer.handle_timeout(now);
        self.registrar.handle_timeout(now);
        self.fire_call_timers(now);
        self.fire_trunk_registrations(now);
        self.drain_layer(now);
    }

    /// The transport could not reach `to` (a TCP connection that could not be opened or
    /// written): every transaction sending there fails now rather than at its timeout.
    pub fn handle_transport_error(&mut self, now: Instant, to: SocketAddr, transport: Transport) {
        if !self.advance(now) {
            return;
        }
        self.layer.handle_transport_error(now, to, transport);
        self.drain_layer(now);
    }

    /// Ends every call (BYE to answered legs, CANCEL and 503 for ringing ones).
    pub fn handle_shutdown(&mut self, now: Instant) {
        let keys: Vec<CallKey> = self.calls.keys().copied().collect();
        for key in keys {
            self.end_call(now, key, Ending::Shutdown, None);
        }
        self.drain_layer(now);
    }

    /// Makes port allocation bind the pair's sockets first (see [`crate::media::ports`]).
    pub fn set_port_binder(&mut self, binder: Box<dyn PortBinder>) {
        self.port_binder = binder;
    }

    /// Replaces the dial plan: new calls follow it (see [`DialPlan`]).
    pub fn set_dial_plan(&mut self, plan: DialPlan) {
        self.dial_plan = plan;
    }

    /// Replaces the plan's media policy (the org's settings changed).
    pub fn set_media_policy(&mut self, policy: MediaPolicy) {
        self.dial_plan.media_policy = policy;
    }

    /// Turns noise suppression of a live queue call's customer on or off (a supervisor's
    /// per-interaction override). `false` when no such connected call exists.
    pub fn set_denoise(&mut self, interaction: &str, enabled: bool) -> bool {
        let Some(call) = self
            .interactions
            .get(interaction)
            .and_then(|key| self.calls.get(key))
            .filter(|c| c.state != CallState::Ended)
        else {
            return false;
        };
        let endpoint = call.caller.endpoint.id;
        self.outputs
            .push_back(Output::Media(MediaCommand::Denoise { endpoint, enabled }));
        true
    }

    /// Queues with their own music on hold (queue id → WAV path relative to the profile).
    pub fn set_queue_music(&mut self, music: HashMap<String, String>) {
        self.dial_plan.queue_music = music;
    }

    /// Queues' overrides of the org's recording and noise-suppression settings.
    pub fn set_queue_media(&mut self, media: HashMap<String, QueueMedia>) {
        self.dial_plan.queue_media = media;
    }

    /// Replaces the numbers that reach queues (the CTI changed a queue).
    pub fn set_queue_numbers(&mut self, numbers: HashMap<String, String>) {
        self.dial_plan.queue_numbers = numbers;
    }

    /// A command from the ACD.
    pub fn handle_queue_command(&mut self, now: Instant, command: QueueCommand) {
        if !self.advance(now) {
            return;
        }
        self.on_queue_command(now, command);
        self.drain_layer(now);
    }

    /// Loads a binding persisted before a restart.
    pub fn restore_binding(
        &mut self,
        now: Instant,
        aor: &str,
        binding: crate::sip::registrar::PersistedBinding,
    ) {
        if let Ok(aor) = crate::sip::registrar::Aor::parse(aor) {
            let now_unix = self.unix(now).as_secs();
            self.registrar.restore(now, now_unix, aor, binding);
        }
        self.drain_layer(now);
    }

    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.layer.poll_timeout(),
            self.registrar.poll_timeout(),
            self.next_call_timeout(),
            self.trunk_registrations.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Number of live calls.
    pub fn call_count(&self) -> usize {
        self.calls.len() + self.tombstones.len()
    }

    // ----- plumbing -----

    /// Moves transaction and registrar outputs into ours, handling transaction events.
    pub(super) fn drain_layer(&mut self, now: Instant) {
        loop {
            let mut progressed = false;
            while let Some(out) = self.layer.poll_output() {
                progressed = true;
                match out {
                    LayerOutput::Transmit {
                        to,
                        transport,
                        bytes,
                    } => self.outputs.push_back(Output::Transmit {
                        to,
                        transport,
                        bytes,
                    }),
                    LayerOutput::Event(key, event) => self.on_transaction_event(now, key, event),
                }
            }
            while let Some(out) = self.registrar.poll_output() {
                progressed = true;
                self.on_registrar_output(out);
            }
            if !progressed {
                break;
            }
        }
    }

    fn on_registrar_output(&mut self, out: crate::sip::registrar::Output) {
        use crate::sip::registrar::Output as R;
        match out {
            R::Persist(change) => self.outputs.push_back(Output::PersistBinding(change)),
            R::Registered { aor, contact } => {
                self.outputs
                    .push_back(Output::Event(SwitchEvent::Registered {
                        aor: aor.to_string(),
                        contact,
                    }))
            }
            R::Unregistered { aor, contact } | R::BindingExpired { aor, contact } => self
                .outputs
                .push_back(Output::Event(SwitchEvent::Unregistered {
                    aor: aor.to_string(),
                    contact,
                })),
        }
    }

    fn on_incoming(
        &mut self,
        now: Instant,
        from: SocketAddr,
        transport: Transport,
        incoming: Incoming,
    ) {
        match incoming {
            Incoming::Absorbed => {}
            Incoming::Request { key, request } => {
                self.on_request(now, from, transport, key, request)
            }
            Incoming::Ack { ack, .. } => self.on_ack(now, ack),
            Incoming::Response { key, response } => self.on_response(now, key, response),
            Incoming::StrayResponse(message) => self.on_stray(now, from, transport, message),
            Incoming::Overloaded(request) => {
                if !matches!(request.method(), Some(Method::Ack)) {
                    let mut r = Message::response_to(&request, 503, "Service Unavailable");
                    r.push("Retry-After", "5");
                    self.layer.transmit_stateless(from, transport, &r);
                }
            }
        }
    }

    fn on_transaction_event(&mut self, now: Instant, key: TransactionKey, event: TransactionEvent) {
        match event {
            TransactionEvent::Timeout | TransactionEvent::TransportError => {
                if let Some(purpose) = self.client_txns.remove(&key) {
                    self.on_client_timeout(now, purpose);
                }
                self.server_txns.remove(&key);
            }
            TransactionEvent::Terminated => {
                self.client_txns.remove(&key);
                self.server_txns.remove(&key);
            }
        }
    }

    /// A 2xx retransmission to an INVITE of ours arrives outside any transaction (RFC 6026
    /// keeps the transaction for them, but a stray one after that still needs our ACK again).
    fn on_stray(
        &mut self,
        _now: Instant,
        _from: SocketAddr,
        _transport: Transport,
        message: Message,
    ) {
        if message.is_response() {
            tracing::trace!(call_id = message.call_id(), "stray response ignored");
        }
    }

    fn on_request(
        &mut self,
        now: Instant,
        from: SocketAddr,
        transport: Transport,
        key: TransactionKey,
        request: Message,
    ) {
        let Some(method) = request.method().cloned() else {
            return;
        };
        if let Some(rejection) = self.precheck(&request) {
            let mut response = Message::response_to(&request, rejection.code, rejection.reason);
            self.add_to_tag(&mut response, &request);
            if rejection.code == 420 {
                let tags = request.option_tags("Require").join(", ");
                response.push("Unsupported", tags);
            }
            if rejection.code == 405 || rejection.code == 501 {
                response.push("Allow", ALLOW);
            }
            self.respond(now, &key, response);
            return;
        }
        let in_dialog = request.to_tag().is_some();
        match method {
            Method::Register => self.on_register(now, from, transport, key, request),
            Method::Options if !in_dialog => {
                let mut ok = Message::response_to(&request, 200, "OK");
                self.add_to_tag(&mut ok, &request);
                ok.push("Allow", ALLOW);
                ok.push("Accept", "application/sdp");
                ok.push("Supported", "");
                self.respond(now, &key, ok);
            }
            Method::Invite if !in_dialog => self.on_new_invite(now, from, transport, key, request),
            Method::Cancel => self.on_cancel(now, key, request),
            _ if in_dialog => self.on_in_dialog(now, key, request),
            Method::Bye | Method::Update | Method::Info | Method::Prack | Method::Notify => {
                self.respond_simple_to(now, &key, &request, 481, NO_SUCH_DIALOG);
            }
            Method::Other(_) => self.respond_simple_to(now, &key, &request, 501, "Not Implemented"),
            _ => self.respond_simple_to(now, &key, &request, 405, "Method Not Allowed"),
        }
    }

    /// Adds our To tag to a response that establishes or refuses a dialog (§8.2.6.2).
    pub(super) fn add_to_tag(&mut self, response: &mut Message, request: &Message) {
        if request.to_tag().is_none() && response.status() != Some(100) {
            let tag = self.token(10);
            if let Some(to) = response.header("To").map(str::to_owned) {
                response.set("To", format!("{to};tag={tag}"));
            }
        }
    }

    pub(super) fn respond_simple_to(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        request: &Message,
        code: u16,
        reason: &str,
    ) {
        let mut response = simple_response(request, code, reason);
        self.add_to_tag(&mut response, request);
        self.respond(now, key, response);
    }

    /// Sends the TU's response through its server transaction.
    pub(super) fn respond(&mut self, now: Instant, key: &TransactionKey, response: Message) {
        if let Err(error) = self.layer.send_response(now, key, response) {
            tracing::debug!(%error, "response not sent");
        }
    }

    /// Starts a client transaction and remembers what it is for.
    pub(super) fn request(
        &mut self,
        now: Instant,
        dest: SocketAddr,
        transport: Transport,
        request: Message,
        purpose: ClientPurpose,
    ) -> Option<TransactionKey> {
        match self.layer.send_request(now, dest, transport, request) {
            Ok(key) => {
                self.client_txns.insert(key.clone(), purpose);
                Some(key)
            }
            Err(error) => {
                tracing::warn!(%error, "request not sent");
                None
            }
        }
    }

    /// Forgets every way of finding an ended call but its key (its tombstone's).
    pub(super) fn unregister(&mut self, key: CallKey, call: &Call) {
        // Removal is by key, never a scan: at thousands of calls per second a scan of every
        // live dialog per ended call would dominate. Transactions clean their own entries
        // when they terminate; a purpose naming a forgotten call is ignored meanwhile.
        if let Some(q) = &call.queue {
            self.interactions.remove(&q.interaction);
        }
        // A leg moved to another call by a transfer keeps its dialog there.
        let keys = std::iter::once(&call.caller.dialog)
            .chain(call.callee.forks.iter().filter_map(|f| f.dialog.as_ref()))
            .map(|d| d.key());
        for dialog in keys {
            if self
                .dialogs
                .get(&dialog)
                .is_some_and(|(owner, _)| *owner == key)
            {
                self.dialogs.remove(&dialog);
            }
        }
        for consult in call.consult.iter().chain(&call.past_consults) {
            for fork in &consult.leg.forks {
                if let Some(dialog) = &fork.dialog {
                    self.consult_dialogs.remove(&dialog.key());
                }
            }
        }
        if let Some(key) = &call.caller.server_txn {
            self.server_txns.remove(key);
        }
    }

    /// Writes the record of a call in progress (started, answered, a new agent), as it would
    /// read if the switch died now, so a crash leaves it behind marked interrupted.
    pub(super) fn persist_cdr_in_progress(&mut self, now: Instant, call: CallKey) {
        let now_ms = self.unix_ms(now);
        if let Some(live) = self.calls.get(&call) {
            let record = cdr::build(live, Ending::Interrupted, now_ms);
            self.outputs
                .push_back(Output::PersistCdrInProgress(Box::new(record)));
        }
    }

    /// Builds and stores the CDR; returns the token to hold a reply on.
    pub(super) fn persist_cdr(
        &mut self,
        now: Instant,
        call: CallKey,
        ending: Ending,
    ) -> Option<u64> {
        let end_ms = self.unix_ms(now);
        let ended = self.calls.get(&call)?;
        let record = cdr::build(ended, ending, end_ms);
        // The ACD hears about every end of a queue call: after an agent answered it is the
        // end of a conversation (wrap-up follows); before, the caller gave up.
        if let Some(failed) = Switch::outdial_failure(ended) {
            self.outputs.push_back(Output::Queue(failed));
        } else if let Some(q) = &ended.queue {
            let interaction = q.interaction.clone();
            let event = if ended.callee.winner.is_some() {
                QueueEvent::Ended { interaction }
            } else {
                QueueEvent::Abandoned { interaction }
            };
            self.outputs.push_back(Output::Queue(event));
        }
        let token = self.next_id();
        self.outputs
            .push_back(Output::Event(SwitchEvent::CallEnded {
                call_id: record.call_id.clone(),
                cause: record.hangup_cause.as_str().to_owned(),
                code: record.sip_code,
            }));
        self.outputs.push_back(Output::PersistCdr {
            token,
            cdr: Box::new(record),
        });
        Some(token)
    }
}

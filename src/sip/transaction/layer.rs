//! The transaction layer (RFC 3261 §17): every live transaction, keyed for matching
//! (§17.1.3 for responses, §17.2.3 for requests), with their timers merged into one queue.
//!
//! The layer adds what the machines leave out: the destination of each transmission (the
//! request's source address for server transactions, as with RFC 3581 symmetric response
//! routing; the caller's choice for client ones), a cap on live transactions, and the removal
//! of terminated transactions. Messages passed up to the TU come back from
//! [`TransactionLayer::handle_message`]; timer consequences come out of
//! [`TransactionLayer::poll_output`] as [`LayerOutput::Event`]s.
//!
//! Timers: each transaction's next deadline sits in a binary heap of `(deadline, id)`. An
//! entry is valid only while it equals the transaction's recorded deadline; stale ones are
//! skipped when popped (lazy invalidation), the heap top is kept valid after every mutation so
//! [`TransactionLayer::poll_timeout`] is a peek, and the heap is rebuilt when stale entries
//! outnumber live ones. So `handle_timeout` costs O(k log n) for k due timers, whatever n.

use super::invite_client::InviteClientTransaction;
use super::invite_server::{InviteServerTransaction, TryingPolicy};
use super::lingering::Lingering;
use super::non_invite_client::NonInviteClientTransaction;
use super::non_invite_server::NonInviteServerTransaction;
use super::timers::Timing;
use super::{Output, TransactionError};
use crate::sip::message::{Message, Method, Via};
use crate::sip::transport::Transport;
use bytes::Bytes;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

/// The TU's handle on a live transaction: what [`TransactionLayer`] returns for a request
/// it sent or received and takes back to answer it. A number, not the RFC's matching key
/// ([`MatchKey`]), so the TU's own maps (a transaction's purpose, the call it belongs to)
/// hold eight bytes per transaction instead of a copy of its branch and sent-by. Not
/// `Copy`: a handle is cloned deliberately, like the key it replaced. Handles are never
/// reused while the layer lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransactionKey(TxId);

/// Identifies a transaction, as the RFC matches messages to it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MatchKey {
    /// §17.1.3: the branch of the top Via we sent and the CSeq method.
    Client { branch: String, method: Method },
    /// §17.2.3: the branch and sent-by of the request's top Via and its method, with ACK
    /// folded into INVITE (so an ACK for a non-2xx finds its INVITE). CANCEL keeps its own.
    Server {
        branch: String,
        /// `host` or `host:port`, host lowercased.
        sent_by: String,
        method: Method,
    },
    /// Requests whose branch lacks the `z9hG4bK` cookie (RFC 2543 peers, §17.2.3): a small
    /// key on Call-ID, CSeq number, From tag and the top Via as received, method as above.
    /// The To tag is left out so the ACK for a non-2xx still matches its INVITE.
    Rfc2543 {
        call_id: String,
        cseq: u32,
        from_tag: String,
        via: String,
        method: Method,
    },
}

impl MatchKey {
    /// The client key of a request we send, or of a response to it (§17.1.3).
    pub fn client(msg: &Message) -> Option<MatchKey> {
        let via = msg.top_via()?;
        Some(MatchKey::Client {
            branch: via.branch()?.to_owned(),
            method: msg.cseq()?.method,
        })
    }

    /// The server key of a received request (§17.2.3).
    pub fn server(request: &Message) -> Option<MatchKey> {
        Self::server_with_via(request, request.top_via()?)
    }

    fn server_with_via(request: &Message, via: &Via) -> Option<MatchKey> {
        let method = match request.method()? {
            Method::Ack => Method::Invite,
            other => other.clone(),
        };
        Self::server_with_method(request, via, method)
    }

    fn server_with_method(request: &Message, via: &Via, method: Method) -> Option<MatchKey> {
        if via.has_rfc3261_branch() {
            let host = via.host.to_ascii_lowercase();
            let sent_by = match via.port {
                Some(port) => format!("{host}:{port}"),
                None => host,
            };
            return Some(MatchKey::Server {
                branch: via.branch()?.to_owned(),
                sent_by,
                method,
            });
        }
        Some(MatchKey::Rfc2543 {
            call_id: request.call_id()?.to_owned(),
            cseq: request.cseq()?.seq,
            from_tag: request.from_tag().unwrap_or_default(),
            via: request.header_list("Via").next()?.to_owned(),
            method,
        })
    }

    /// The method of the transaction (INVITE for an INVITE server transaction's ACK).
    pub fn method(&self) -> &Method {
        match self {
            MatchKey::Client { method, .. }
            | MatchKey::Server { method, .. }
            | MatchKey::Rfc2543 { method, .. } => method,
        }
    }

    /// True for client transaction keys.
    pub fn is_client(&self) -> bool {
        matches!(self, MatchKey::Client { .. })
    }
}

/// Layer settings; `timing` comes from the profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerConfig {
    /// T1, T2, T4. They must be positive (the profile checks it).
    pub timing: Timing,
    /// Live transactions beyond which new server transactions are refused
    /// ([`Incoming::Overloaded`]). Client transactions are ours and always accepted.
    pub max_transactions: usize,
    /// When INVITE server transactions send 100 Trying on their own.
    pub trying: TryingPolicy,
}

impl Default for LayerConfig {
    fn default() -> Self {
        LayerConfig {
            timing: Timing::default(),
            max_transactions: 100_000,
            trying: TryingPolicy::default(),
        }
    }
}

/// What a received message turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A new request: a server transaction now exists under `key`; the TU answers it with
    /// [`TransactionLayer::send_response`]. A CANCEL is one too: see
    /// [`TransactionLayer::find_invite_server_for_cancel`].
    Request {
        key: TransactionKey,
        request: Message,
    },
    /// A response for the client transaction `key`, passed up.
    Response {
        key: TransactionKey,
        response: Message,
    },
    /// An ACK for the TU (a dialog): the ACK for a 2xx, which belongs to no transaction
    /// (§17.1.1.3). `key` names the INVITE server transaction when it matched one in Accepted.
    Ack {
        key: Option<TransactionKey>,
        ack: Message,
    },
    /// A response that matches no client transaction (say a 2xx retransmitted after Timer M);
    /// the core decides what to do with it (§18.1.2).
    StrayResponse(Message),
    /// A retransmission handled inside its transaction; nothing for the TU.
    Absorbed,
    /// Too many live transactions: none was created. Answer 503 statelessly, e.g. with
    /// [`TransactionLayer::transmit_stateless`], or drop it.
    Overloaded(Message),
}

/// A transaction's news for the TU, other than passed-up messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionEvent {
    /// Timer B or F (treat as a 408) or Timer H (the ACK never came).
    Timeout,
    /// The transport failed for this transaction.
    TransportError,
    /// The transaction is gone; its key no longer matches anything.
    Terminated,
}

/// What the layer asks the runtime to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerOutput {
    /// Send `bytes` to `to` over `transport` (for a stream, the connection to `to`).
    Transmit {
        to: SocketAddr,
        transport: Transport,
        bytes: Bytes,
    },
    /// News about the transaction `key`.
    Event(TransactionKey, TransactionEvent),
}

/// Each machine boxed on its own: they differ in size (an INVITE client holds its request
/// until a final answer), and the map's slots would otherwise all be as large as the
/// largest, for the 64·T1 that finished transactions linger.
#[derive(Debug)]
enum Machine {
    InviteClient(Box<InviteClientTransaction>),
    NonInviteClient(Box<NonInviteClientTransaction>),
    InviteServer(Box<InviteServerTransaction>),
    NonInviteServer(Box<NonInviteServerTransaction>),
    /// Any of them once it only waits out its last timer (see `lingering`).
    Lingering(Box<Lingering>),
}

impl Machine {
    /// Trades a machine in its last state for its small lingering form, or at least frees
    /// its output queue's buffer.
    fn settle_down(&mut self) {
        let lingering = match self {
            Machine::InviteClient(m) => m.linger(),
            Machine::NonInviteClient(m) => m.linger(),
            Machine::InviteServer(m) => m.linger(),
            Machine::NonInviteServer(m) => m.linger(),
            Machine::Lingering(_) => return,
        };
        match lingering {
            Some(l) => *self = Machine::Lingering(Box::new(l)),
            None => match self {
                Machine::InviteClient(m) => m.release_buffers(),
                Machine::NonInviteClient(m) => m.release_buffers(),
                Machine::InviteServer(m) => m.release_buffers(),
                Machine::NonInviteServer(m) => m.release_buffers(),
                Machine::Lingering(_) => {}
            },
        }
    }

    fn poll_output(&mut self) -> Option<Output> {
        match self {
            Machine::InviteClient(m) => m.poll_output(),
            Machine::NonInviteClient(m) => m.poll_output(),
            Machine::InviteServer(m) => m.poll_output(),
            Machine::NonInviteServer(m) => m.poll_output(),
            Machine::Lingering(m) => m.poll_output(),
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Machine::InviteClient(m) => m.poll_timeout(),
            Machine::NonInviteClient(m) => m.poll_timeout(),
            Machine::InviteServer(m) => m.poll_timeout(),
            Machine::NonInviteServer(m) => m.poll_timeout(),
            Machine::Lingering(m) => m.poll_timeout(),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        match self {
            Machine::InviteClient(m) => m.handle_timeout(now),
            Machine::NonInviteClient(m) => m.handle_timeout(now),
            Machine::InviteServer(m) => m.handle_timeout(now),
            Machine::NonInviteServer(m) => m.handle_timeout(now),
            Machine::Lingering(m) => m.handle_timeout(now),
        }
    }

    fn handle_transport_error(&mut self, now: Instant) {
        match self {
            Machine::InviteClient(m) => m.handle_transport_error(now),
            Machine::NonInviteClient(m) => m.handle_transport_error(now),
            Machine::InviteServer(m) => m.handle_transport_error(now),
            Machine::NonInviteServer(m) => m.handle_transport_error(now),
            Machine::Lingering(m) => m.handle_transport_error(now),
        }
    }

    fn handle_message(&mut self, now: Instant, msg: Message) {
        match self {
            Machine::InviteClient(m) => m.handle_response(now, msg),
            Machine::NonInviteClient(m) => m.handle_response(now, msg),
            Machine::InviteServer(m) => m.handle_request(now, msg),
            Machine::NonInviteServer(m) => m.handle_request(now, msg),
            Machine::Lingering(m) => m.handle_message(now, msg),
        }
    }
}

/// Internal handle of a live transaction (cheap to copy into the timer heap).
use super::key_index::TxId;

#[derive(Debug)]
struct Entry {
    key: MatchKey,
    machine: Machine,
    to: SocketAddr,
    transport: Transport,
    /// The deadline this transaction has in the heap; other heap entries for it are stale.
    scheduled: Option<Instant>,
}

/// All live transactions of one shard, sans-IO.
#[derive(Debug)]
pub struct TransactionLayer {
    config: LayerConfig,
    last_now: Option<Instant>,
    next_id: TxId,
    ids: super::key_index::KeyIndex,
    /// Boxed: a live entry is about 180 bytes, and a map's free slots (up to half of them
    /// just after it grows) would otherwise each be as large, for 100,000 transactions and more.
    entries: HashMap<TxId, Box<Entry>>,
    deadlines: BinaryHeap<Reverse<(Instant, TxId)>>,
    /// Scratch list for `handle_timeout`, kept to avoid allocating on every tick.
    due: Vec<TxId>,
    outputs: VecDeque<LayerOutput>,
}

impl TransactionLayer {
    /// An empty layer.
    pub fn new(config: LayerConfig) -> Self {
        TransactionLayer {
            config,
            last_now: None,
            next_id: 0,
            ids: super::key_index::KeyIndex::default(),
            entries: HashMap::new(),
            deadlines: BinaryHeap::new(),
            due: Vec::new(),
            outputs: VecDeque::new(),
        }
    }

    /// Number of live transactions.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no transaction is live.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether the transaction `key` is live.
    pub fn contains(&self, key: &TransactionKey) -> bool {
        self.entries.contains_key(&key.0)
    }

    /// How the RFC matches messages to the live transaction `key`.
    #[cfg(test)]
    pub(super) fn match_key(&self, key: &TransactionKey) -> Option<&MatchKey> {
        self.entries.get(&key.0).map(|e| &e.key)
    }

    fn find(&self, key: &MatchKey) -> Option<TxId> {
        self.ids
            .get(key, |id| self.entries.get(&id).map(|e| &e.key))
    }

    /// A message from the network, already parsed (and, for requests, validated with
    /// `sip::validate::validate_request`). Server transactions get their reliability from the
    /// top Via's transport and send their responses back to `from`.
    pub fn handle_message(
        &mut self,
        now: Instant,
        from: SocketAddr,
        msg: Message,
    ) -> Result<Incoming, TransactionError> {
        self.handle_message_over(now, from, None, msg)
    }

    /// Like [`TransactionLayer::handle_message`], but a server transaction's transport is
    /// the one the request really arrived on when `arrived_over` is given. A request
    /// that came over TCP while its Via claims UDP (RFC 4475's messages sent over TCP, sloppy
    /// clients) is answered on its connection instead of into the void (§18.2.2 follows the
    /// connection for reliable transports).
    pub fn handle_message_over(
        &mut self,
        now: Instant,
        from: SocketAddr,
        arrived_over: Option<Transport>,
        msg: Message,
    ) -> Result<Incoming, TransactionError> {
        let now = self.advance_for_input(now);
        if msg.is_response() {
            let key = MatchKey::client(&msg).ok_or(TransactionError::Malformed(
                "response without Via branch or CSeq",
            ))?;
            let Some(id) = self.find(&key) else {
                return Ok(Incoming::StrayResponse(msg));
            };
            return Ok(match self.deliver(id, now, msg) {
                Some(Output::Response(response)) => Incoming::Response {
                    key: TransactionKey(id),
                    response,
                },
                _ => Incoming::Absorbed,
            });
        }

        const BAD_REQUEST: TransactionError =
            TransactionError::Malformed("request without Via, CSeq or Call-ID");
        let via = msg.top_via().ok_or(BAD_REQUEST)?;
        let key = MatchKey::server_with_via(&msg, via).ok_or(BAD_REQUEST)?;
        if let Some(id) = self.find(&key) {
            return Ok(match self.deliver(id, now, msg) {
                Some(Output::Request(ack)) => Incoming::Ack {
                    key: Some(TransactionKey(id)),
                    ack,
                },
                _ => Incoming::Absorbed,
            });
        }
        let method = msg.method().cloned();
        if method == Some(Method::Ack) {
            return Ok(Incoming::Ack {
                key: None,
                ack: msg,
            });
        }
        if self.entries.len() >= self.config.max_transactions {
            return Ok(Incoming::Overloaded(msg));
        }
        let transport = arrived_over.unwrap_or_else(|| Transport::from_via(&via.transport));
        let reliable = transport.is_reliable();
        let timing = self.config.timing;
        let machine = if method == Some(Method::Invite) {
            Machine::InviteServer(Box::new(InviteServerTransaction::new(
                now,
                &msg,
                reliable,
                timing,
                self.config.trying,
            )))
        } else {
            Machine::NonInviteServer(Box::new(NonInviteServerTransaction::new(
                now, reliable, timing,
            )))
        };
        let id = self.insert(key, machine, from, transport);
        Ok(Incoming::Request {
            key: TransactionKey(id),
            request: msg,
        })
    }

    /// Starts a client transaction for `request` towards `to`. The caller has put the top Via
    /// with a fresh branch ([`super::new_branch`]) on it already.
    pub fn send_request(
        &mut self,
        now: Instant,
        to: SocketAddr,
        transport: Transport,
        request: Message,
    ) -> Result<TransactionKey, TransactionError> {
        let now = self.advance_for_input(now);
        let reliable = transport.is_reliable();
        let key = MatchKey::client(&request).ok_or(TransactionError::Malformed(
            "request without Via branch or CSeq",
        ))?;
        let timing = self.config.timing;
        let machine = match request.method() {
            None => return Err(TransactionError::Malformed("not a request")),
            Some(Method::Ack) => return Err(TransactionError::AckOutsideTransaction),
            _ if self.find(&key).is_some() => return Err(TransactionError::Duplicate),
            Some(Method::Invite) => Machine::InviteClient(Box::new(InviteClientTransaction::new(
                now, request, reliable, timing,
            ))),
            Some(method) => {
                if *method == Method::Cancel {
                    self.cancel_sent(now, &key);
                }
                Machine::NonInviteClient(Box::new(NonInviteClientTransaction::new(
                    now, &request, reliable, timing,
                )))
            }
        };
        Ok(TransactionKey(self.insert(key, machine, to, transport)))
    }

    /// The TU's response for the server transaction `key`.
    pub fn send_response(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        response: Message,
    ) -> Result<(), TransactionError> {
        let now = self.advance_for_input(now);
        let id = key.0;
        let entry = self
            .entries
            .get_mut(&id)
            .ok_or(TransactionError::UnknownTransaction)?;
        let result = match &mut entry.machine {
            Machine::InviteServer(m) => m.send_response(now, response),
            Machine::NonInviteServer(m) => m.send_response(now, response),
            Machine::Lingering(m) => m.send_response(now, response),
            Machine::InviteClient(_) | Machine::NonInviteClient(_) => {
                Err(TransactionError::UnknownTransaction)
            }
        };
        let _ = self.settle(id);
        result
    }

    /// Queues a message sent outside any transaction: the ACK for a 2xx, a stateless 503.
    pub fn transmit_stateless(&mut self, to: SocketAddr, transport: Transport, msg: &Message) {
        self.outputs.push_back(LayerOutput::Transmit {
            to,
            transport,
            bytes: msg.to_bytes(),
        });
    }

    /// The transport to `to` failed (a connection dropped, an ICMP error): every transaction
    /// sending there is told (§17.1.4, §17.2.4). Rare, so a scan is fine.
    pub fn handle_transport_error(&mut self, now: Instant, to: SocketAddr, transport: Transport) {
        let now = self.advance_for_input(now);
        let hit: Vec<TxId> = self
            .entries
            .iter()
            .filter(|(_, e)| e.to == to && e.transport == transport)
            .map(|(id, _)| *id)
            .collect();
        for id in hit {
            if let Some(entry) = self.entries.get_mut(&id) {
                entry.machine.handle_transport_error(now);
            }
            let _ = self.settle(id);
        }
    }

    /// Fires every timer due at `now`. Ignored if `now` is earlier than a previous input's.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.last_now.is_some_and(|last| now < last) {
            return;
        }
        self.last_now = Some(now);
        let mut due = std::mem::take(&mut self.due);
        // Collect first, so a deadline re-armed at or before `now` waits for the next call
        // instead of spinning here.
        while let Some(&Reverse((at, id))) = self.deadlines.peek() {
            if at > now {
                break;
            }
            self.deadlines.pop();
            if let Some(entry) = self.entries.get_mut(&id)
                && entry.scheduled == Some(at)
            {
                entry.scheduled = None;
                due.push(id);
            }
        }
        for id in due.drain(..) {
            if let Some(entry) = self.entries.get_mut(&id) {
                entry.machine.handle_timeout(now);
            }
            let _ = self.settle(id);
        }
        self.due = due;
        self.prune();
    }

    /// A CANCEL is being sent for the INVITE client transaction with the same branch (§9.1
    /// gives a CANCEL its INVITE's branch): that INVITE now gives up 64·T1 later without a
    /// final answer (see [`InviteClientTransaction::cancel_sent`]).
    fn cancel_sent(&mut self, now: Instant, cancel: &MatchKey) {
        let MatchKey::Client { branch, .. } = cancel else {
            return;
        };
        let invite = MatchKey::Client {
            branch: branch.clone(),
            method: Method::Invite,
        };
        let Some(id) = self.find(&invite) else {
            return;
        };
        if let Some(Machine::InviteClient(m)) = self.entries.get_mut(&id).map(|e| &mut e.machine) {
            m.cancel_sent(now);
        }
        let _ = self.settle(id);
    }

    /// The INVITE server transaction a CANCEL targets (§9.2: same branch and sent-by, or the
    /// same RFC 2543 key), if it is still live.
    pub fn find_invite_server_for_cancel(&self, cancel: &Message) -> Option<TransactionKey> {
        if cancel.method() != Some(&Method::Cancel) {
            return None;
        }
        let key = MatchKey::server_with_method(cancel, cancel.top_via()?, Method::Invite)?;
        self.find(&key).map(TransactionKey)
    }

    /// The next output; drain to `None` after every `handle_*`/`send_*`.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<LayerOutput> {
        self.outputs.pop_front()
    }

    /// Hands `transmit` every transmission queued so far, in order, and keeps the events
    /// (in order) for [`Self::poll_output`]: for a caller that must put its messages on the
    /// wire in step with its other outputs but handles events only at the end of its step.
    pub fn take_transmits(&mut self, mut transmit: impl FnMut(SocketAddr, Transport, Bytes)) {
        let mut events = VecDeque::new();
        for output in self.outputs.drain(..) {
            match output {
                LayerOutput::Transmit {
                    to,
                    transport,
                    bytes,
                } => transmit(to, transport, bytes),
                event @ LayerOutput::Event(..) => events.push_back(event),
            }
        }
        if !events.is_empty() {
            self.outputs = events;
        }
    }

    /// The earliest deadline of all live transactions.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.peek().map(|Reverse((at, _))| *at)
    }

    /// Messages and commands are never dropped for a stale `now` (a lost request would be
    /// worse than a late timer): it is raised to the latest time seen.
    fn advance_for_input(&mut self, now: Instant) -> Instant {
        let now = match self.last_now {
            Some(last) if now < last => last,
            _ => now,
        };
        self.last_now = Some(now);
        now
    }

    fn insert(
        &mut self,
        key: MatchKey,
        machine: Machine,
        to: SocketAddr,
        transport: Transport,
    ) -> TxId {
        let id = self.next_id;
        self.next_id += 1;
        self.ids.insert(&key, id);
        self.entries.insert(
            id,
            Box::new(Entry {
                key,
                machine,
                to,
                transport,
                scheduled: None,
            }),
        );
        let _ = self.settle(id);
        id
    }

    /// Hands a matched message to its transaction; returns what the machine passed up.
    fn deliver(&mut self, id: TxId, now: Instant, msg: Message) -> Option<Output> {
        self.entries.get_mut(&id)?.machine.handle_message(now, msg);
        self.settle(id)
    }

    /// Drains a machine after a mutation: transmissions get their destination, events are
    /// queued, a terminated transaction is removed, and its next deadline is queued.
    /// Returns the message the machine passed up, if any (machines pass messages up only in
    /// answer to a message, so there is at most one and never one after a timer).
    fn settle(&mut self, id: TxId) -> Option<Output> {
        let entry = self.entries.get_mut(&id)?;
        let mut passed_up = None;
        let mut terminated = false;
        while let Some(output) = entry.machine.poll_output() {
            match output {
                Output::Transmit(bytes) => self.outputs.push_back(LayerOutput::Transmit {
                    to: entry.to,
                    transport: entry.transport,
                    bytes,
                }),
                Output::Request(_) | Output::Response(_) => passed_up = Some(output),
                Output::Timeout => self.outputs.push_back(LayerOutput::Event(
                    TransactionKey(id),
                    TransactionEvent::Timeout,
                )),
                Output::TransportError => self.outputs.push_back(LayerOutput::Event(
                    TransactionKey(id),
                    TransactionEvent::TransportError,
                )),
                Output::Terminated => terminated = true,
            }
        }
        if terminated {
            if let Some(entry) = self.entries.remove(&id) {
                self.ids.remove(&entry.key, id);
                self.outputs.push_back(LayerOutput::Event(
                    TransactionKey(id),
                    TransactionEvent::Terminated,
                ));
            }
        } else {
            entry.machine.settle_down();
            let next = entry.machine.poll_timeout();
            if next != entry.scheduled {
                entry.scheduled = next;
                if let Some(at) = next {
                    self.deadlines.push(Reverse((at, id)));
                }
            }
        }
        self.prune();
        passed_up
    }

    /// Keeps the heap top valid (so `poll_timeout` can peek) and the heap small.
    fn prune(&mut self) {
        while let Some(&Reverse((at, id))) = self.deadlines.peek() {
            if self
                .entries
                .get(&id)
                .is_some_and(|e| e.scheduled == Some(at))
            {
                break;
            }
            self.deadlines.pop();
        }
        if self.deadlines.len() > 2 * self.entries.len() + 64 {
            self.deadlines = self
                .entries
                .iter()
                .filter_map(|(id, e)| e.scheduled.map(|at| Reverse((at, *id))))
                .collect();
        }
    }
}

#[cfg(test)]
#[path = "layer_tests.rs"]
mod tests;

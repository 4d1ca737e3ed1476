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
use super::non_invite_client::NonInviteClientTransaction;
use super::non_invite_server::NonInviteServerTransaction;
use super::timers::Timing;
use super::{Output, TransactionError};
use crate::sip::message::{Message, Method, Via};
use bytes::Bytes;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

/// Identifies a transaction, as the RFC matches messages to it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TransactionKey {
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

impl TransactionKey {
    /// The client key of a request we send, or of a response to it (§17.1.3).
    pub fn client(msg: &Message) -> Option<TransactionKey> {
        let via = msg.top_via()?;
        Some(TransactionKey::Client {
            branch: via.branch()?.to_owned(),
            method: msg.cseq()?.method,
        })
    }

    /// The server key of a received request (§17.2.3).
    pub fn server(request: &Message) -> Option<TransactionKey> {
        Self::server_with_via(request, &request.top_via()?)
    }

    fn server_with_via(request: &Message, via: &Via) -> Option<TransactionKey> {
        let method = match request.method()? {
            Method::Ack => Method::Invite,
            other => other.clone(),
        };
        Self::server_with_method(request, via, method)
    }

    fn server_with_method(request: &Message, via: &Via, method: Method) -> Option<TransactionKey> {
        if via.has_rfc3261_branch() {
            let host = via.host.to_ascii_lowercase();
            let sent_by = match via.port {
                Some(port) => format!("{host}:{port}"),
                None => host,
            };
            return Some(TransactionKey::Server {
                branch: via.branch()?.to_owned(),
                sent_by,
                method,
            });
        }
        Some(TransactionKey::Rfc2543 {
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
            TransactionKey::Client { method, .. }
            | TransactionKey::Server { method, .. }
            | TransactionKey::Rfc2543 { method, .. } => method,
        }
    }

    /// True for client transaction keys.
    pub fn is_client(&self) -> bool {
        matches!(self, TransactionKey::Client { .. })
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
    /// Send `bytes` to `to`, over a reliable transport (the connection to `to`) or UDP.
    Transmit {
        to: SocketAddr,
        reliable: bool,
        bytes: Bytes,
    },
    /// News about the transaction `key`.
    Event(TransactionKey, TransactionEvent),
}

#[derive(Debug)]
enum Machine {
    InviteClient(InviteClientTransaction),
    NonInviteClient(NonInviteClientTransaction),
    InviteServer(InviteServerTransaction),
    NonInviteServer(NonInviteServerTransaction),
}

impl Machine {
    fn poll_output(&mut self) -> Option<Output> {
        match self {
            Machine::InviteClient(m) => m.poll_output(),
            Machine::NonInviteClient(m) => m.poll_output(),
            Machine::InviteServer(m) => m.poll_output(),
            Machine::NonInviteServer(m) => m.poll_output(),
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Machine::InviteClient(m) => m.poll_timeout(),
            Machine::NonInviteClient(m) => m.poll_timeout(),
            Machine::InviteServer(m) => m.poll_timeout(),
            Machine::NonInviteServer(m) => m.poll_timeout(),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        match self {
            Machine::InviteClient(m) => m.handle_timeout(now),
            Machine::NonInviteClient(m) => m.handle_timeout(now),
            Machine::InviteServer(m) => m.handle_timeout(now),
            Machine::NonInviteServer(m) => m.handle_timeout(now),
        }
    }

    fn handle_transport_error(&mut self, now: Instant) {
        match self {
            Machine::InviteClient(m) => m.handle_transport_error(now),
            Machine::NonInviteClient(m) => m.handle_transport_error(now),
            Machine::InviteServer(m) => m.handle_transport_error(now),
            Machine::NonInviteServer(m) => m.handle_transport_error(now),
        }
    }

    fn handle_message(&mut self, now: Instant, msg: Message) {
        match self {
            Machine::InviteClient(m) => m.handle_response(now, msg),
            Machine::NonInviteClient(m) => m.handle_response(now, msg),
            Machine::InviteServer(m) => m.handle_request(now, msg),
            Machine::NonInviteServer(m) => m.handle_request(now, msg),
        }
    }
}

/// Internal handle of a live transaction (cheap to copy into the timer heap).
type TxId = u64;

#[derive(Debug)]
struct Entry {
    key: TransactionKey,
    machine: Machine,
    to: SocketAddr,
    reliable: bool,
    /// The deadline this transaction has in the heap; other heap entries for it are stale.
    scheduled: Option<Instant>,
}

/// All live transactions of one shard, sans-IO.
#[derive(Debug)]
pub struct TransactionLayer {
    config: LayerConfig,
    last_now: Option<Instant>,
    next_id: TxId,
    ids: HashMap<TransactionKey, TxId>,
    entries: HashMap<TxId, Entry>,
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
            ids: HashMap::new(),
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

    /// Whether a transaction with this key is live.
    pub fn contains(&self, key: &TransactionKey) -> bool {
        self.ids.contains_key(key)
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
        let now = self.advance_for_input(now);
        if msg.is_response() {
            let key = TransactionKey::client(&msg).ok_or(TransactionError::Malformed(
                "response without Via branch or CSeq",
            ))?;
            let Some(&id) = self.ids.get(&key) else {
                return Ok(Incoming::StrayResponse(msg));
            };
            return Ok(match self.deliver(id, now, msg) {
                Some(Output::Response(response)) => Incoming::Response { key, response },
                _ => Incoming::Absorbed,
            });
        }

        const BAD_REQUEST: TransactionError =
            TransactionError::Malformed("request without Via, CSeq or Call-ID");
        let via = msg.top_via().ok_or(BAD_REQUEST)?;
        let key = TransactionKey::server_with_via(&msg, &via).ok_or(BAD_REQUEST)?;
        if let Some(&id) = self.ids.get(&key) {
            return Ok(match self.deliver(id, now, msg) {
                Some(Output::Request(ack)) => Incoming::Ack {
                    key: Some(key),
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
        let reliable = !via.transport.eq_ignore_ascii_case("UDP");
        let timing = self.config.timing;
        let machine = if method == Some(Method::Invite) {
            Machine::InviteServer(InviteServerTransaction::new(
                now,
                &msg,
                reliable,
                timing,
                self.config.trying,
            ))
        } else {
            Machine::NonInviteServer(NonInviteServerTransaction::new(now, reliable, timing))
        };
        self.insert(key.clone(), machine, from, reliable);
        Ok(Incoming::Request { key, request: msg })
    }

    /// Starts a client transaction for `request` towards `to`. The caller has put the top Via
    /// with a fresh branch ([`super::new_branch`]) on it already.
    pub fn send_request(
        &mut self,
        now: Instant,
        to: SocketAddr,
        reliable: bool,
        request: Message,
    ) -> Result<TransactionKey, TransactionError> {
        let now = self.advance_for_input(now);
        let key = TransactionKey::client(&request).ok_or(TransactionError::Malformed(
            "request without Via branch or CSeq",
        ))?;
        let timing = self.config.timing;
        let machine = match request.method() {
            None => return Err(TransactionError::Malformed("not a request")),
            Some(Method::Ack) => return Err(TransactionError::AckOutsideTransaction),
            _ if self.ids.contains_key(&key) => return Err(TransactionError::Duplicate),
            Some(Method::Invite) => {
                Machine::InviteClient(InviteClientTransaction::new(now, request, reliable, timing))
            }
            Some(_) => Machine::NonInviteClient(NonInviteClientTransaction::new(
                now, &request, reliable, timing,
            )),
        };
        self.insert(key.clone(), machine, to, reliable);
        Ok(key)
    }

    /// The TU's response for the server transaction `key`.
    pub fn send_response(
        &mut self,
        now: Instant,
        key: &TransactionKey,
        response: Message,
    ) -> Result<(), TransactionError> {
        let now = self.advance_for_input(now);
        let id = *self
            .ids
            .get(key)
            .ok_or(TransactionError::UnknownTransaction)?;
        let entry = self
            .entries
            .get_mut(&id)
            .ok_or(TransactionError::UnknownTransaction)?;
        let result = match &mut entry.machine {
            Machine::InviteServer(m) => m.send_response(now, response),
            Machine::NonInviteServer(m) => m.send_response(now, response),
            Machine::InviteClient(_) | Machine::NonInviteClient(_) => {
                Err(TransactionError::UnknownTransaction)
            }
        };
        let _ = self.settle(id);
        result
    }

    /// Queues a message sent outside any transaction: the ACK for a 2xx, a stateless 503.
    pub fn transmit_stateless(&mut self, to: SocketAddr, reliable: bool, msg: &Message) {
        self.outputs.push_back(LayerOutput::Transmit {
            to,
            reliable,
            bytes: msg.to_bytes(),
        });
    }

    /// The transport to `to` failed (a connection dropped, an ICMP error): every transaction
    /// sending there is told (§17.1.4, §17.2.4). Rare, so a scan is fine.
    pub fn handle_transport_error(&mut self, now: Instant, to: SocketAddr, reliable: bool) {
        let now = self.advance_for_input(now);
        let hit: Vec<TxId> = self
            .entries
            .iter()
            .filter(|(_, e)| e.to == to && e.reliable == reliable)
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

    /// The INVITE server transaction a CANCEL targets (§9.2: same branch and sent-by, or the
    /// same RFC 2543 key), if it is still live.
    pub fn find_invite_server_for_cancel(&self, cancel: &Message) -> Option<TransactionKey> {
        if cancel.method() != Some(&Method::Cancel) {
            return None;
        }
        let key = TransactionKey::server_with_method(cancel, &cancel.top_via()?, Method::Invite)?;
        self.ids.contains_key(&key).then_some(key)
    }

    /// The next output; drain to `None` after every `handle_*`/`send_*`.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<LayerOutput> {
        self.outputs.pop_front()
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

    fn insert(&mut self, key: TransactionKey, machine: Machine, to: SocketAddr, reliable: bool) {
        let id = self.next_id;
        self.next_id += 1;
        self.ids.insert(key.clone(), id);
        self.entries.insert(
            id,
            Entry {
                key,
                machine,
                to,
                reliable,
                scheduled: None,
            },
        );
        let _ = self.settle(id);
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
                    reliable: entry.reliable,
                    bytes,
                }),
                Output::Request(_) | Output::Response(_) => passed_up = Some(output),
                Output::Timeout => self.outputs.push_back(LayerOutput::Event(
                    entry.key.clone(),
                    TransactionEvent::Timeout,
                )),
                Output::TransportError => self.outputs.push_back(LayerOutput::Event(
                    entry.key.clone(),
                    TransactionEvent::TransportError,
                )),
                Output::Terminated => terminated = true,
            }
        }
        if terminated {
            if let Some(entry) = self.entries.remove(&id) {
                self.ids.remove(&entry.key);
                self.outputs
                    .push_back(LayerOutput::Event(entry.key, TransactionEvent::Terminated));
            }
        } else {
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
mod tests {
    use super::*;
    use crate::sip::transaction::ack_for_non_2xx;
    use crate::sip::transaction::test_support::{ms, request, response, t0};

    fn peer() -> SocketAddr {
        "192.0.2.1:5060".parse().unwrap()
    }

    fn layer() -> TransactionLayer {
        TransactionLayer::new(LayerConfig::default())
    }

    fn drain(layer: &mut TransactionLayer) -> Vec<LayerOutput> {
        std::iter::from_fn(|| layer.poll_output()).collect()
    }

    fn transmitted(outputs: &[LayerOutput]) -> Vec<Message> {
        outputs
            .iter()
            .filter_map(|o| match o {
                LayerOutput::Transmit { bytes, .. } => Some(Message::parse(bytes).unwrap()),
                LayerOutput::Event(..) => None,
            })
            .collect()
    }

    fn new_request(layer: &mut TransactionLayer, now: Instant, req: &Message) -> TransactionKey {
        match layer.handle_message(now, peer(), req.clone()).unwrap() {
            Incoming::Request { key, request } => {
                assert_eq!(&request, req);
                key
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_new_request_creates_a_server_transaction_and_its_retransmissions_are_absorbed() {
        let start = t0();
        let mut layer = layer();
        let req = request(Method::Options, "UDP", "z9hG4bKopt1");
        let key = new_request(&mut layer, start, &req);
        assert_eq!(key.method(), &Method::Options);
        assert!(!key.is_client());
        assert_eq!(
            layer
                .handle_message(start + ms(500), peer(), req.clone())
                .unwrap(),
            Incoming::Absorbed
        );
        layer
            .send_response(start + ms(600), &key, response(&req, 200))
            .unwrap();
        let out = drain(&mut layer);
        assert!(matches!(
            &out[..],
            [LayerOutput::Transmit { to, reliable: false, .. }] if *to == peer()
        ));
        // A retransmission now gets the 200 again and is still absorbed.
        assert_eq!(
            layer.handle_message(start + ms(1500), peer(), req).unwrap(),
            Incoming::Absorbed
        );
        assert_eq!(transmitted(&drain(&mut layer))[0].status(), Some(200));
    }

    #[test]
    fn same_branch_from_another_sent_by_is_another_transaction() {
        let start = t0();
        let mut layer = layer();
        let req = request(Method::Options, "UDP", "z9hG4bKsame");
        let a = new_request(&mut layer, start, &req);
        let mut other = req.clone();
        other.set("Via", "SIP/2.0/UDP 192.0.2.99:5060;branch=z9hG4bKsame");
        let b = new_request(&mut layer, start, &other);
        assert_ne!(a, b);
        assert_eq!(layer.len(), 2);
    }

    #[test]
    fn ack_to_a_non_2xx_is_matched_to_the_invite_server_transaction() {
        let start = t0();
        let mut layer = layer();
        let invite = request(Method::Invite, "UDP", "z9hG4bKinv1");
        let key = new_request(&mut layer, start, &invite);
        let busy = response(&invite, 486);
        layer.send_response(start, &key, busy.clone()).unwrap();
        let _ = drain(&mut layer);
        let ack = ack_for_non_2xx(&invite, &busy);
        assert_eq!(
            layer.handle_message(start + ms(100), peer(), ack).unwrap(),
            Incoming::Absorbed
        );
        // Confirmed: no more Timer G retransmissions, only Timer I to go.
        assert_eq!(layer.poll_timeout(), Some(start + ms(5100)));
        layer.handle_timeout(start + ms(5100));
        assert_eq!(
            drain(&mut layer),
            vec![LayerOutput::Event(key, TransactionEvent::Terminated)]
        );
        assert!(layer.is_empty());
    }

    #[test]
    fn ack_for_a_2xx_goes_to_the_tu_without_a_transaction() {
        let start = t0();
        let mut layer = layer();
        let invite = request(Method::Invite, "UDP", "z9hG4bKinv2");
        let key = new_request(&mut layer, start, &invite);
        layer
            .send_response(start, &key, response(&invite, 200))
            .unwrap();
        let mut ack = ack_for_non_2xx(&invite, &response(&invite, 200));
        ack.set("Via", "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKnewbranch");
        match layer.handle_message(start + ms(10), peer(), ack).unwrap() {
            Incoming::Ack { key: None, .. } => {}
            other => panic!("{other:?}"),
        }
        assert_eq!(layer.len(), 1, "an ACK never creates a transaction");
    }

    #[test]
    fn cancel_is_its_own_transaction_but_finds_its_invite() {
        let start = t0();
        let mut layer = layer();
        let invite = request(Method::Invite, "UDP", "z9hG4bKinv3");
        let invite_key = new_request(&mut layer, start, &invite);
        let cancel = request(Method::Cancel, "UDP", "z9hG4bKinv3");
        let cancel_key = new_request(&mut layer, start + ms(10), &cancel);
        assert_ne!(cancel_key, invite_key);
        assert_eq!(cancel_key.method(), &Method::Cancel);
        assert_eq!(
            layer.find_invite_server_for_cancel(&cancel),
            Some(invite_key)
        );
        let mut elsewhere = cancel.clone();
        elsewhere.set("Via", "SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bKinv3");
        assert_eq!(layer.find_invite_server_for_cancel(&elsewhere), None);
    }

    #[test]
    fn rfc2543_requests_without_the_cookie_are_matched_on_the_fallback_key() {
        let start = t0();
        let mut layer = layer();
        let invite = request(Method::Invite, "UDP", "oldstyle1");
        let key = new_request(&mut layer, start, &invite);
        assert!(matches!(key, TransactionKey::Rfc2543 { .. }));
        assert_eq!(
            layer
                .handle_message(start + ms(500), peer(), invite.clone())
                .unwrap(),
            Incoming::Absorbed
        );
        let busy = response(&invite, 486);
        layer.send_response(start, &key, busy.clone()).unwrap();
        let _ = drain(&mut layer);
        let ack = ack_for_non_2xx(&invite, &busy);
        assert_eq!(
            layer.handle_message(start + ms(600), peer(), ack).unwrap(),
            Incoming::Absorbed
        );
        let cancel = request(Method::Cancel, "UDP", "oldstyle1");
        assert_eq!(layer.find_invite_server_for_cancel(&cancel), Some(key));
    }

    #[test]
    fn responses_are_matched_on_branch_and_cseq_method() {
        let start = t0();
        let mut layer = layer();
        let to: SocketAddr = "198.51.100.5:5060".parse().unwrap();
        let invite = request(Method::Invite, "UDP", "z9hG4bKout1");
        let key = layer
            .send_request(start, to, false, invite.clone())
            .unwrap();
        assert!(key.is_client());
        let out = drain(&mut layer);
        assert!(matches!(&out[..], [LayerOutput::Transmit { to: t, .. }] if *t == to));
        let ringing = response(&invite, 180);
        assert_eq!(
            layer
                .handle_message(start + ms(50), to, ringing.clone())
                .unwrap(),
            Incoming::Response {
                key: key.clone(),
                response: ringing
            }
        );
        // A CANCEL shares the branch but is its own client transaction (§9.1).
        let cancel = request(Method::Cancel, "UDP", "z9hG4bKout1");
        let cancel_key = layer
            .send_request(start + ms(60), to, false, cancel.clone())
            .unwrap();
        assert_ne!(cancel_key, key);
        let cancel_ok = response(&cancel, 200);
        assert!(matches!(
            layer.handle_message(start + ms(70), to, cancel_ok).unwrap(),
            Incoming::Response { key: k, .. } if k == cancel_key
        ));
        let stray = response(&request(Method::Invite, "UDP", "z9hG4bKnobody"), 200);
        assert!(matches!(
            layer.handle_message(start + ms(80), to, stray).unwrap(),
            Incoming::StrayResponse(_)
        ));
    }

    #[test]
    fn the_layer_acks_a_non_2xx_and_absorbs_its_retransmissions() {
        let start = t0();
        let mut layer = layer();
        let to: SocketAddr = "198.51.100.5:5060".parse().unwrap();
        let invite = request(Method::Invite, "UDP", "z9hG4bKout2");
        let key = layer
            .send_request(start, to, false, invite.clone())
            .unwrap();
        let _ = drain(&mut layer);
        let busy = response(&invite, 486);
        assert!(matches!(
            layer
                .handle_message(start + ms(10), to, busy.clone())
                .unwrap(),
            Incoming::Response { .. }
        ));
        let acks = transmitted(&drain(&mut layer));
        assert_eq!(acks.len(), 1);
        assert_eq!(acks[0].method(), Some(&Method::Ack));
        assert_eq!(
            layer.handle_message(start + ms(600), to, busy).unwrap(),
            Incoming::Absorbed
        );
        assert_eq!(transmitted(&drain(&mut layer)), acks);
        assert!(layer.contains(&key));
    }

    #[test]
    fn accepted_invite_client_passes_2xx_retransmissions_up_with_its_key() {
        let start = t0();
        let mut layer = layer();
        let to: SocketAddr = "198.51.100.5:5060".parse().unwrap();
        let invite = request(Method::Invite, "UDP", "z9hG4bKout3");
        let key = layer
            .send_request(start, to, false, invite.clone())
            .unwrap();
        let ok = response(&invite, 200);
        for t in [10, 510, 1510] {
            assert_eq!(
                layer.handle_message(start + ms(t), to, ok.clone()).unwrap(),
                Incoming::Response {
                    key: key.clone(),
                    response: ok.clone()
                }
            );
        }
        // Timer M ends it; a later 2xx is a stray for the dialog to re-ACK.
        layer.handle_timeout(start + ms(10 + 32_000));
        assert!(!layer.contains(&key));
        assert!(matches!(
            layer.handle_message(start + ms(40_000), to, ok).unwrap(),
            Incoming::StrayResponse(_)
        ));
    }

    #[test]
    fn an_ack_matching_an_accepted_invite_server_transaction_is_passed_up_with_its_key() {
        let start = t0();
        let mut layer = layer();
        // RFC 2543 peers ACK a 2xx with the INVITE's own Via, so it matches the transaction.
        let invite = request(Method::Invite, "UDP", "oldstyle2");
        let key = new_request(&mut layer, start, &invite);
        let ok = response(&invite, 200);
        layer.send_response(start, &key, ok.clone()).unwrap();
        let ack = ack_for_non_2xx(&invite, &ok);
        assert_eq!(
            layer
                .handle_message(start + ms(5), peer(), ack.clone())
                .unwrap(),
            Incoming::Ack {
                key: Some(key),
                ack
            }
        );
        assert_eq!(
            layer.handle_message(start + ms(6), peer(), invite).unwrap(),
            Incoming::Absorbed
        );
    }

    #[test]
    fn terminated_transactions_are_removed_and_reported() {
        let start = t0();
        let mut layer = layer();
        let to: SocketAddr = "198.51.100.5:5060".parse().unwrap();
        let bye = request(Method::Bye, "TCP", "z9hG4bKbye");
        let key = layer.send_request(start, to, true, bye.clone()).unwrap();
        let _ = drain(&mut layer);
        assert!(matches!(
            layer
                .handle_message(start + ms(5), to, response(&bye, 200))
                .unwrap(),
            Incoming::Response { .. }
        ));
        assert_eq!(
            drain(&mut layer),
            vec![LayerOutput::Event(
                key.clone(),
                TransactionEvent::Terminated
            )]
        );
        assert!(!layer.contains(&key));
        assert!(layer.is_empty());
        assert_eq!(layer.poll_timeout(), None);
        // A late retransmission of the 200 is now a stray.
        assert!(matches!(
            layer
                .handle_message(start + ms(6), to, response(&bye, 200))
                .unwrap(),
            Incoming::StrayResponse(_)
        ));
    }

    #[test]
    fn timeouts_are_reported_and_every_deadline_moves_forward() {
        let start = t0();
        let mut layer = layer();
        let to: SocketAddr = "198.51.100.5:5060".parse().unwrap();
        let options = request(Method::Options, "UDP", "z9hG4bKto1");
        let invite = request(Method::Invite, "UDP", "z9hG4bKto2");
        let k1 = layer.send_request(start, to, false, options).unwrap();
        let k2 = layer
            .send_request(start + ms(100), to, false, invite)
            .unwrap();
        assert_eq!(drain(&mut layer).len(), 2);
        let mut events = Vec::new();
        let mut sends = 0;
        while let Some(deadline) = layer.poll_timeout() {
            layer.handle_timeout(deadline);
            for o in drain(&mut layer) {
                match o {
                    LayerOutput::Transmit { .. } => sends += 1,
                    LayerOutput::Event(k, e) => events.push((deadline - start, k, e)),
                }
            }
            assert!(layer.poll_timeout().is_none_or(|next| next > deadline));
        }
        assert_eq!(sends, 10 + 6, "retransmissions only: E ten times, A six");
        assert_eq!(
            events,
            vec![
                (ms(32_000), k1.clone(), TransactionEvent::Timeout),
                (ms(32_000), k1, TransactionEvent::Terminated),
                (ms(32_100), k2.clone(), TransactionEvent::Timeout),
                (ms(32_100), k2, TransactionEvent::Terminated),
            ]
        );
        assert!(layer.is_empty());
    }

    #[test]
    fn new_server_transactions_are_refused_beyond_the_cap() {
        let start = t0();
        let mut layer = TransactionLayer::new(LayerConfig {
            max_transactions: 1,
            ..LayerConfig::default()
        });
        let first = request(Method::Invite, "UDP", "z9hG4bKcap1");
        new_request(&mut layer, start, &first);
        let second = request(Method::Invite, "UDP", "z9hG4bKcap2");
        assert_eq!(
            layer.handle_message(start, peer(), second.clone()).unwrap(),
            Incoming::Overloaded(second)
        );
        // Retransmissions of the existing one are still absorbed.
        assert_eq!(
            layer.handle_message(start, peer(), first).unwrap(),
            Incoming::Absorbed
        );
        assert_eq!(layer.len(), 1);
    }

    #[test]
    fn misuse_is_refused_with_an_error() {
        let start = t0();
        let mut layer = layer();
        let to = peer();
        let options = request(Method::Options, "UDP", "z9hG4bKdup");
        let key = layer
            .send_request(start, to, false, options.clone())
            .unwrap();
        assert_eq!(
            layer.send_request(start, to, false, options.clone()),
            Err(TransactionError::Duplicate)
        );
        let ack = request(Method::Ack, "UDP", "z9hG4bKack");
        assert_eq!(
            layer.send_request(start, to, false, ack),
            Err(TransactionError::AckOutsideTransaction)
        );
        assert_eq!(
            layer.send_response(start, &key, response(&options, 200)),
            Err(TransactionError::UnknownTransaction),
            "a client key cannot answer"
        );
        let no_via = Message::request(Method::Options, "sip:a@b").with("CSeq", "1 OPTIONS");
        assert!(matches!(
            layer.handle_message(start, to, no_via),
            Err(TransactionError::Malformed(_))
        ));
    }

    #[test]
    fn time_going_backwards_is_ignored_by_handle_timeout() {
        let start = t0();
        let mut layer = layer();
        let options = request(Method::Options, "UDP", "z9hG4bKback");
        layer
            .send_request(start + ms(1000), peer(), false, options)
            .unwrap();
        let _ = drain(&mut layer);
        layer.handle_timeout(start + ms(1500));
        assert_eq!(drain(&mut layer).len(), 1);
        layer.handle_timeout(start + ms(1000));
        assert_eq!(drain(&mut layer), vec![]);
        assert_eq!(layer.poll_timeout(), Some(start + ms(2500)));
    }

    #[test]
    fn transport_errors_reach_the_transactions_sending_there() {
        let start = t0();
        let mut layer = layer();
        let a: SocketAddr = "198.51.100.5:5060".parse().unwrap();
        let b: SocketAddr = "198.51.100.6:5060".parse().unwrap();
        let ka = layer
            .send_request(
                start,
                a,
                true,
                request(Method::Options, "TCP", "z9hG4bKte1"),
            )
            .unwrap();
        layer
            .send_request(
                start,
                b,
                true,
                request(Method::Options, "TCP", "z9hG4bKte2"),
            )
            .unwrap();
        let _ = drain(&mut layer);
        layer.handle_transport_error(start + ms(1), a, true);
        assert_eq!(
            drain(&mut layer),
            vec![
                LayerOutput::Event(ka.clone(), TransactionEvent::TransportError),
                LayerOutput::Event(ka, TransactionEvent::Terminated),
            ]
        );
        assert_eq!(layer.len(), 1);
    }

    #[test]
    fn stale_heap_entries_do_not_pile_up() {
        let start = t0();
        let mut layer = layer();
        let to = peer();
        for i in 0..1000 {
            let invite = request(Method::Invite, "UDP", &format!("z9hG4bKheap{i}"));
            layer
                .send_request(start, to, false, invite.clone())
                .unwrap();
            // 180 cancels A and B: their heap entry goes stale.
            let _ = layer
                .handle_message(start, to, response(&invite, 180))
                .unwrap();
        }
        assert_eq!(layer.len(), 1000);
        assert_eq!(layer.poll_timeout(), None);
        assert!(layer.deadlines.len() <= 2 * layer.len() + 64);
    }

    #[test]
    fn immediate_trying_policy_answers_an_invite_at_once() {
        let start = t0();
        let mut layer = TransactionLayer::new(LayerConfig {
            trying: TryingPolicy::Immediately,
            ..LayerConfig::default()
        });
        let invite = request(Method::Invite, "UDP", "z9hG4bKimm");
        new_request(&mut layer, start, &invite);
        let sent = transmitted(&drain(&mut layer));
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].status(), Some(100));
        assert_eq!(sent[0].top_via(), invite.top_via());
    }
}

//! Tests only: whole call flows through the switch core on a simulated network, over many
//! seeds, in virtual time (issue 14's harness, first flows).
//!
//! Each run wires the switch to scripted phones through a network that delays every packet
//! by a seeded 1–50 ms (so packets overtake each other), duplicates one in ten, and loses
//! one in ten of what the switch itself repeats until answered (its requests and its 2xx to
//! INVITEs, RFC 3261 §17.1.1.2, §13.3.1.4). The phones answer a repeated request with
//! their first answer again, as a UA's server transactions do; what they send is never lost,
//! because these phones do not retransmit. The clock jumps to the next packet, phone action
//! or switch timeout. After every flow, once 64·T1 has passed, the invariants are checked:
//! no call, transaction or media port is left, and the call has exactly one CDR saying how
//! it ended.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::lab::{DOMAIN, answer_challenge, config, persisted_binding, phone, sdp};
use super::model::Output;
use super::switch::Switch;
use crate::sip::message::{Message, Method};
use crate::sip::registrar::Transport;
use crate::store::{Cdr, HangupCause};

const SWITCH: &str = "127.0.0.1:5060";
const SEEDS: u64 = 200;

/// The phone's name for the server transaction of `request`: branch and method.
fn transaction_of(request: &Message) -> String {
    let branch = request
        .top_via()
        .and_then(|v| v.branch().map(str::to_owned))
        .unwrap_or_default();
    let method = request.method().map(|m| m.to_string()).unwrap_or_default();
    format!("{branch} {method}")
}

/// What the callee's phone does with the INVITE it gets.
#[derive(Debug, Clone, Copy)]
enum Callee {
    /// Rings, answers after this long.
    Answers(Duration),
    /// Rings, then busy.
    Busy,
    /// Rings until cancelled (then 487).
    Rings,
    /// Rings, and answers a CANCEL with 200 but never ends its INVITE (no 487).
    IgnoresCancel,
}

/// What the caller's phone does once it hears ringing.
#[derive(Debug, Clone, Copy)]
enum Caller {
    /// Talks this long after the answer, then hangs up.
    HangsUpAfter(Duration),
    /// Gives up (CANCEL) this long after the first 180.
    CancelsAfter(Duration),
    /// Never acknowledges the 2xx (and never hangs up).
    NeverAcks,
}

/// One flow over one seed.
struct Sim {
    sw: Switch,
    now: Instant,
    rng: SmallRng,
    /// Packets in flight: delivery time and sequence, then the packet.
    in_flight: BinaryHeap<Reverse<(Instant, u64)>>,
    packets: HashMap<u64, (SocketAddr, SocketAddr, Bytes)>,
    next: u64,
    caller: CallerPhone,
    callee: CalleePhone,
    cdrs: Vec<Cdr>,
}

struct CallerPhone {
    script: Caller,
    /// When it acts next (its second INVITE, its BYE or CANCEL).
    due: Option<(Instant, Message)>,
    answered: bool,
    ringing: bool,
    final_code: Option<u16>,
    bye_answered: bool,
    /// 2xx answers to the INVITE received, repeats included.
    oks: u32,
    /// The switch hung up on the caller.
    bye_received: bool,
}

struct CalleePhone {
    script: Callee,
    /// Our answers by the branch of the request they answer, re-sent on repeats.
    answers: HashMap<String, Vec<Message>>,
    /// The final answer to send later (an answer after ringing).
    due: Option<(Instant, String, Message)>,
    invite: Option<Message>,
}

impl Sim {
    fn new(seed: u64, caller: Caller, callee: Callee) -> Sim {
        let now = crate::runtime::clock::now();
        let mut sw = Switch::new(config(seed), now, Duration::from_secs(1_800_000_000));
        sw.restore_binding(now, &format!("1002@{DOMAIN}"), persisted_binding("1002"));
        while sw.poll_output().is_some() {}
        Sim {
            sw,
            now,
            rng: SmallRng::seed_from_u64(seed),
            in_flight: BinaryHeap::new(),
            packets: HashMap::new(),
            next: 0,
            caller: CallerPhone {
                script: caller,
                due: None,
                answered: false,
                ringing: false,
                final_code: None,
                bye_answered: false,
                oks: 0,
                bye_received: false,
            },
            callee: CalleePhone {
                script: callee,
                answers: HashMap::new(),
                due: None,
                invite: None,
            },
            cdrs: Vec::new(),
        }
    }

    fn send(&mut self, from: SocketAddr, to: SocketAddr, bytes: Bytes, lossy: bool) {
        if lossy && self.rng.random_bool(0.1) {
            return;
        }
        let copies = if self.rng.random_bool(0.1) { 2 } else { 1 };
        for _ in 0..copies {
            let delay = Duration::from_millis(self.rng.random_range(1..=50));
            self.next += 1;
            self.in_flight.push(Reverse((self.now + delay, self.next)));
            self.packets.insert(self.next, (from, to, bytes.clone()));
        }
    }

    fn phone_sends(&mut self, from: SocketAddr, message: &Message) {
        let to = SWITCH.parse().expect("an address");
        self.send(from, to, message.to_bytes(), false);
    }

    fn drain_switch(&mut self) {
        while let Some(output) = self.sw.poll_output() {
            match output {
                Output::Transmit { to, bytes, .. } => {
                    let message = Message::parse(&bytes).expect("the switch sends valid SIP");
                    // What the switch repeats by itself may be lost; the rest is not.
                    let repeated = !message.is_response()
                        || (message.status().is_some_and(|c| (200..300).contains(&c))
                            && message.cseq().is_some_and(|c| c.method == Method::Invite));
                    let from = SWITCH.parse().expect("an address");
                    self.send(from, to, bytes, repeated);
                }
                Output::PersistCdr { token, cdr } => {
                    self.cdrs.push(*cdr);
                    self.sw.handle_persisted(self.now, token);
                }
                _ => {}
            }
        }
    }

    /// Runs the flow until nothing is left to happen or `limit` of virtual time passed.
    fn run(&mut self, limit: Duration) {
        let end = self.now + limit;
        self.caller_starts();
        loop {
            self.drain_switch();
            let packet = self.in_flight.peek().map(|Reverse((at, _))| *at);
            let candidates = [
                packet,
                self.sw.poll_timeout(),
                self.caller.due.as_ref().map(|(at, _)| *at),
                self.callee.due.as_ref().map(|(at, _, _)| *at),
            ];
            let Some(at) = candidates.into_iter().flatten().min() else {
                break;
            };
            if at > end {
                break;
            }
            self.now = self.now.max(at);
            if packet == Some(at) {
                let Reverse((_, seq)) = self.in_flight.pop().expect("peeked");
                let (from, to, bytes) = self.packets.remove(&seq).expect("in flight");
                self.deliver(from, to, &bytes);
            } else if self.caller.due.as_ref().is_some_and(|(t, _)| *t == at) {
                let (_, message) = self.caller.due.take().expect("due");
                self.phone_sends(phone("1001"), &message);
            } else if self.callee.due.as_ref().is_some_and(|(t, _, _)| *t == at) {
                let (_, branch, message) = self.callee.due.take().expect("due");
                self.callee
                    .answers
                    .entry(branch)
                    .or_default()
                    .push(message.clone());
                self.phone_sends(phone("1002"), &message);
            } else {
                self.sw.handle_timeout(self.now);
            }
        }
    }

    fn deliver(&mut self, from: SocketAddr, to: SocketAddr, bytes: &Bytes) {
        if to == SWITCH.parse().expect("an address") {
            self.sw
                .handle_datagram(self.now, from, Transport::Udp, bytes);
            return;
        }
        let message = Message::parse(bytes).expect("valid SIP");
        if to == phone("1001") {
            self.caller_receives(message);
        } else if to == phone("1002") {
            self.callee_receives(message);
        }
    }

    fn invite(&self, cseq: u32, auth: Option<String>) -> Message {
        let from = phone("1001");
        let body = sdp(from.port() + 1);
        let mut text = format!(
            "INVITE sip:1002@{DOMAIN} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {from};branch=z9hG4bK-sim-{cseq}\r\n\
             From: <sip:1001@{DOMAIN}>;tag=sim1001\r\n\
             To: <sip:1002@{DOMAIN}>\r\n\
             Call-ID: sim-call\r\n\
             CSeq: {cseq} INVITE\r\n\
             Contact: <sip:1001@{from}>\r\n\
             Max-Forwards: 70\r\n"
        );
        if let Some(credentials) = auth {
            text.push_str(&format!("Proxy-Authorization: {credentials}\r\n"));
        }
        text.push_str(&format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
        Message::parse(text.as_bytes()).expect("valid SIP")
    }

    fn caller_starts(&mut self) {
        let invite = self.invite(1, None);
        self.phone_sends(phone("1001"), &invite);
    }

    /// A request of the caller's in the dialog `ok` set up (or, without a To tag, on the
    /// INVITE's transaction: CANCEL, and ACK for a failure).
    fn caller_request(&self, method: &str, cseq: u32, branch: &str, to: &str) -> Message {
        let from = phone("1001");
        let text = format!(
            "{method} sip:1002@{DOMAIN} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {from};branch={branch}\r\n\
             From: <sip:1001@{DOMAIN}>;tag=sim1001\r\n\
             To: {to}\r\n\
             Call-ID: sim-call\r\n\
             CSeq: {cseq} {method}\r\n\
             Max-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n"
        );
        Message::parse(text.as_bytes()).expect("valid SIP")
    }

    fn caller_receives(&mut self, response: Message) {
        if !response.is_response() {
            // The switch ending the call: a BYE is answered, repeats alike.
            if response.method() == Some(&Method::Bye) {
                self.caller.bye_received = true;
                let ok = Message::response_to(&response, 200, "OK");
                self.phone_sends(phone("1001"), &ok);
            }
            return;
        }
        let (Some(code), Some(cseq)) = (response.status(), response.cseq()) else {
            return;
        };
        let to = response.header("To").unwrap_or_default().to_owned();
        match (code, cseq.method, cseq.seq) {
            (407, Method::Invite, 1) => {
                let ack = self.caller_request("ACK", 1, "z9hG4bK-sim-1", &to);
                self.phone_sends(phone("1001"), &ack);
                if self.caller.due.is_some() || self.caller.final_code.is_some() {
                    return;
                }
                let credentials = answer_challenge(&response, "1001", "1002");
                let invite = self.invite(2, Some(credentials.to_string()));
                self.caller.due = Some((self.now, invite));
            }
            (180, Method::Invite, 2) if !self.caller.ringing => {
                self.caller.ringing = true;
                if let Caller::CancelsAfter(wait) = self.caller.script {
                    let cancel = self.caller_request(
                        "CANCEL",
                        2,
                        "z9hG4bK-sim-2",
                        &format!("<sip:1002@{DOMAIN}>"),
                    );
                    self.caller.due = Some((self.now + wait, cancel));
                }
            }
            (200..=299, Method::Invite, 2) => {
                // Every 2xx gets its ACK, repeats included (§13.2.2.4).
                if !matches!(self.caller.script, Caller::NeverAcks) {
                    let ack = self.caller_request("ACK", 2, "z9hG4bK-sim-ack", &to);
                    self.phone_sends(phone("1001"), &ack);
                }
                self.caller.oks += 1;
                if !self.caller.answered {
                    self.caller.answered = true;
                    self.caller.final_code = Some(code);
                    if let Caller::HangsUpAfter(talk) = self.caller.script {
                        let bye = self.caller_request("BYE", 3, "z9hG4bK-sim-bye", &to);
                        self.caller.due = Some((self.now + talk, bye));
                    }
                }
            }
            (300.., Method::Invite, 2) => {
                let ack = self.caller_request("ACK", 2, "z9hG4bK-sim-2", &to);
                self.phone_sends(phone("1001"), &ack);
                self.caller.final_code.get_or_insert(code);
                self.caller.due = None;
            }
            (200, Method::Bye, _) => self.caller.bye_answered = true,
            _ => {}
        }
    }

    fn callee_receives(&mut self, message: Message) {
        // An ACK (for our failure it shares the INVITE's branch) is never answered.
        if message.is_response() || message.method() == Some(&Method::Ack) {
            return;
        }
        // A CANCEL shares its INVITE's branch: requests are told apart by method too.
        let branch = transaction_of(&message);
        if let Some(answers) = self.callee.answers.get(&branch) {
            for answer in answers.clone() {
                self.phone_sends(phone("1002"), &answer);
            }
            return;
        }
        let tagged = |request: &Message, code: u16| {
            let mut r = Message::response_to(request, code, "Sim");
            if request.to_tag().is_none() {
                let to = request.header("To").unwrap_or_default().to_owned();
                r.set("To", format!("{to};tag=sim1002"));
            }
            r
        };
        let answers = match message.method() {
            Some(Method::Invite) => {
                self.callee.invite = Some(message.clone());
                let ringing = tagged(&message, 180);
                match self.callee.script {
                    Callee::Answers(after) => {
                        let mut ok = tagged(&message, 200);
                        ok.push("Contact", format!("<sip:phone@{}>", phone("1002")));
                        ok.set_body(
                            "application/sdp",
                            Bytes::from(sdp(phone("1002").port() + 1)),
                        );
                        self.callee.due = Some((self.now + after, branch.clone(), ok));
                    }
                    Callee::Busy => {
                        let busy = tagged(&message, 486);
                        self.callee.due =
                            Some((self.now + Duration::from_millis(300), branch.clone(), busy));
                    }
                    Callee::Rings | Callee::IgnoresCancel => {}
                }
                vec![ringing]
            }
            Some(Method::Cancel) => {
                let mut answers = vec![tagged(&message, 200)];
                let unanswered =
                    self.callee.due.take().is_some() || matches!(self.callee.script, Callee::Rings);
                if let Some(invite) = self.callee.invite.clone()
                    && unanswered
                {
                    let terminated = tagged(&invite, 487);
                    let invite_branch = transaction_of(&invite);
                    self.callee
                        .answers
                        .entry(invite_branch)
                        .or_default()
                        .push(terminated.clone());
                    self.phone_sends(phone("1002"), &terminated);
                }
                answers.truncate(1);
                answers
            }
            Some(_) => vec![tagged(&message, 200)],
            None => Vec::new(),
        };
        for answer in &answers {
            self.phone_sends(phone("1002"), answer);
        }
        if !answers.is_empty() {
            self.callee.answers.insert(branch, answers);
        }
    }

    /// Nothing is left behind once every timer has run, and the call has one CDR.
    fn assert_clean(&mut self, seed: u64, cause: HangupCause) {
        // Past every linger (64·T1) and the nonce's lifetime does not matter.
        let later = self.now + Duration::from_secs(40);
        while let Some(at) = self.sw.poll_timeout().filter(|at| *at <= later) {
            self.now = self.now.max(at);
            self.sw.handle_timeout(self.now);
            self.drain_switch();
        }
        assert_eq!(self.sw.call_count(), 0, "seed {seed}: calls left");
        assert!(
            self.sw.layer.is_empty(),
            "seed {seed}: transactions left: {:?}",
            self.sw.layer
        );
        assert_eq!(self.sw.ports.in_use(), 0, "seed {seed}: media ports left");
        assert_eq!(self.cdrs.len(), 1, "seed {seed}: CDRs {:?}", self.cdrs);
        assert_eq!(
            self.cdrs[0].hangup_cause, cause,
            "seed {seed}: {:?}",
            self.cdrs[0]
        );
    }
}

#[test]
fn an_answered_call_hung_up_by_the_caller_ends_cleanly_over_200_seeds() {
    for seed in 0..SEEDS {
        let talk = Duration::from_millis(500 + seed * 7);
        let mut sim = Sim::new(
            seed,
            Caller::HangsUpAfter(talk),
            Callee::Answers(Duration::from_millis(400)),
        );
        sim.run(Duration::from_secs(60));
        assert_eq!(sim.caller.final_code, Some(200), "seed {seed}");
        assert!(sim.caller.bye_answered, "seed {seed}: the BYE was answered");
        sim.assert_clean(seed, HangupCause::NormalClearing);
    }
}

#[test]
fn a_busy_callee_ends_the_call_busy_over_200_seeds() {
    for seed in 0..SEEDS {
        let mut sim = Sim::new(
            seed,
            Caller::HangsUpAfter(Duration::from_secs(1)),
            Callee::Busy,
        );
        sim.run(Duration::from_secs(60));
        assert_eq!(sim.caller.final_code, Some(486), "seed {seed}");
        sim.assert_clean(seed, HangupCause::Busy);
    }
}

#[test]
fn a_caller_who_cancels_while_it_rings_ends_the_call_cancelled_over_200_seeds() {
    for seed in 0..SEEDS {
        let wait = Duration::from_millis(100 + seed * 5);
        let mut sim = Sim::new(seed, Caller::CancelsAfter(wait), Callee::Rings);
        sim.run(Duration::from_secs(60));
        assert_eq!(sim.caller.final_code, Some(487), "seed {seed}");
        sim.assert_clean(seed, HangupCause::Cancelled);
    }
}

#[test]
fn a_callee_who_never_answers_ends_the_call_at_the_ring_timeout_over_200_seeds() {
    for seed in 0..SEEDS {
        let mut sim = Sim::new(
            seed,
            Caller::HangsUpAfter(Duration::from_secs(1)),
            Callee::Rings,
        );
        sim.run(Duration::from_secs(60));
        assert!(
            sim.caller.final_code.is_some_and(|c| c >= 400),
            "seed {seed}: {:?}",
            sim.caller.final_code
        );
        sim.assert_clean(seed, HangupCause::NoAnswer);
    }
}

/// RFC 3261 §9.1: the INVITE a CANCEL could not end is given up 64·T1 after the CANCEL.
#[test]
fn a_callee_that_ignores_cancel_leaves_nothing_behind_over_200_seeds() {
    for seed in 0..SEEDS {
        let wait = Duration::from_millis(100 + seed * 5);
        let mut sim = Sim::new(seed, Caller::CancelsAfter(wait), Callee::IgnoresCancel);
        sim.run(Duration::from_secs(60));
        assert_eq!(sim.caller.final_code, Some(487), "seed {seed}");
        sim.assert_clean(seed, HangupCause::Cancelled);
    }
}

/// The switch repeats its 2xx until 64·T1, then hangs up both legs (RFC 3261 §13.3.1.4).
#[test]
fn a_caller_that_never_acks_is_hung_up_after_64_t1_over_200_seeds() {
    for seed in 0..SEEDS {
        let mut sim = Sim::new(
            seed,
            Caller::NeverAcks,
            Callee::Answers(Duration::from_millis(300)),
        );
        sim.run(Duration::from_secs(60));
        assert!(sim.caller.oks >= 3, "seed {seed}: {} 2xx", sim.caller.oks);
        assert!(sim.caller.bye_received, "seed {seed}: no BYE to the caller");
        sim.assert_clean(seed, HangupCause::RtpTimeout);
    }
}

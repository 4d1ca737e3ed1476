//! Tests only: whole call flows through the switch core on a simulated network, over many
//! seeds, in virtual time (issue 14's harness, first flows).
//!
//! Each run wires the switch to scripted phones through a network that delays every packet
//! by a seeded 1–50 ms (so packets overtake each other), duplicates one in ten, and loses
//! one in ten of what the switch itself repeats until answered (its requests but ACK, and
//! its 2xx to INVITEs, RFC 3261 §17.1.1.2, §13.3.1.4). The phones answer a repeated request with
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
    /// Answers after this long, then puts the caller on hold (re-INVITE `sendonly`) and
    /// takes it back (`sendrecv`).
    AnswersThenHolds(Duration),
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
    start: Instant,
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
    /// The direction each re-INVITE the switch relayed asked for, repeats included.
    reinvites: Vec<String>,
}

struct CalleePhone {
    script: Callee,
    /// Our answers by the branch of the request they answer, re-sent on repeats.
    answers: HashMap<String, Vec<Message>>,
    /// What to send later: a final answer (kept under its transaction, for repeats) or a
    /// request of its own.
    due: Option<(Instant, Option<String>, Message)>,
    invite: Option<Message>,
    /// Re-INVITEs sent (hold, then resume) and how many of them were answered 2xx.
    reinvites: u32,
    reinvites_answered: u32,
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
            start: now,
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
                reinvites: Vec::new(),
            },
            callee: CalleePhone {
                script: callee,
                answers: HashMap::new(),
                due: None,
                invite: None,
                reinvites: 0,
                reinvites_answered: 0,
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
                    // What the switch repeats by itself may be lost; the rest is not. An ACK
                    // is repeated only when its 2xx is, which these phones do not do.
                    let repeated = (!message.is_response()
                        && message.method() != Some(&Method::Ack))
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
                if let Some(branch) = branch {
                    self.callee
                        .answers
                        .entry(branch)
                        .or_default()
                        .push(message.clone());
                }
                self.phone_sends(phone("1002"), &message);
            } else {
                self.sw.handle_timeout(self.now);
            }
        }
    }

    fn deliver(&mut self, from: SocketAddr, to: SocketAddr, bytes: &Bytes) {
        if std::env::var_os("SIM_TRACE").is_some() {
            let text = String::from_utf8_lossy(bytes);
            let first = text.lines().next().unwrap_or_default().to_owned();
            let cseq = text
                .lines()
                .find(|l| l.starts_with("CSeq"))
                .unwrap_or_default()
                .to_owned();
            eprintln!(
                "{:>8?} {} -> {}: {first} [{cseq}]",
                self.now.duration_since(self.start),
                from.port(),
                to.port()
            );
        }
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
            if response.method() == Some(&Method::Invite) {
                // A re-INVITE relayed from the callee: answered with our SDP, repeats alike.
                let direction = ["sendonly", "recvonly", "inactive"]
                    .into_iter()
                    .find(|d| String::from_utf8_lossy(response.body()).contains(d))
                    .unwrap_or("sendrecv");
                self.caller.reinvites.push(direction.to_owned());
                let mut ok = Message::response_to(&response, 200, "OK");
                ok.push("Contact", format!("<sip:1001@{}>", phone("1001")));
                let answer = match direction {
                    "sendonly" => "recvonly",
                    "inactive" => "inactive",
                    _ => "sendrecv",
                };
                let body =
                    sdp(phone("1001").port() + 1).replace("a=sendrecv", &format!("a={answer}"));
                ok.set_body("application/sdp", Bytes::from(body));
                self.phone_sends(phone("1001"), &ok);
                return;
            }
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
        if message.is_response() {
            self.callee_hears_answer(&message);
            return;
        }
        if message.method() == Some(&Method::Ack) {
            // The ACK for our 2xx: the call is up, time to hold (once).
            if matches!(self.callee.script, Callee::AnswersThenHolds(_))
                && self.callee.reinvites == 0
                && self.callee.due.is_none()
            {
                let hold = self.callee_reinvite("sendonly");
                self.callee.due = Some((self.now + Duration::from_millis(300), None, hold));
            }
            // An ACK (for our failure it shares the INVITE's branch) is never answered.
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
                    Callee::Answers(after) | Callee::AnswersThenHolds(after) => {
                        let mut ok = tagged(&message, 200);
                        ok.push("Contact", format!("<sip:phone@{}>", phone("1002")));
                        ok.set_body(
                            "application/sdp",
                            Bytes::from(sdp(phone("1002").port() + 1)),
                        );
                        self.callee.due = Some((self.now + after, Some(branch.clone()), ok));
                    }
                    Callee::Busy => {
                        let busy = tagged(&message, 486);
                        self.callee.due = Some((
                            self.now + Duration::from_millis(300),
                            Some(branch.clone()),
                            busy,
                        ));
                    }
                    Callee::Rings | Callee::IgnoresCancel => {}
                }
                vec![ringing]
            }
            Some(Method::Cancel) => {
                let answers = vec![tagged(&message, 200)];
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

    /// The callee's re-INVITE in the dialog the switch's INVITE set up, with `direction`.
    fn callee_reinvite(&mut self, direction: &str) -> Message {
        self.callee.reinvites += 1;
        let cseq = self.callee.reinvites + 1;
        let invite = self.callee.invite.as_ref().expect("the call is up");
        let header = |name: &str| invite.header(name).unwrap_or_default().to_owned();
        let target = header("Contact");
        let target = target.trim_start_matches('<').trim_end_matches('>');
        let me = phone("1002");
        let body = sdp(me.port() + 1).replace("a=sendrecv", &format!("a={direction}"));
        let text = format!(
            "INVITE {target} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {me};branch=z9hG4bK-sim-re{cseq}\r\n\
             From: {};tag=sim1002\r\n\
             To: {}\r\n\
             Call-ID: {}\r\n\
             CSeq: {cseq} INVITE\r\n\
             Contact: <sip:phone@{me}>\r\n\
             Max-Forwards: 70\r\n\
             Content-Type: application/sdp\r\n\
             Content-Length: {}\r\n\r\n{body}",
            header("To"),
            header("From"),
            header("Call-ID"),
            body.len()
        );
        Message::parse(text.as_bytes()).expect("valid SIP")
    }

    /// An answer to one of the callee's re-INVITEs: every 2xx gets its ACK; the hold's first
    /// one schedules the resume.
    fn callee_hears_answer(&mut self, response: &Message) {
        let (Some(code), Some(cseq)) = (response.status(), response.cseq()) else {
            return;
        };
        if cseq.method != Method::Invite || !(200..300).contains(&code) {
            return;
        }
        let me = phone("1002");
        let text = format!(
            "ACK {} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {me};branch=z9hG4bK-sim-reack{}\r\n\
             From: {}\r\n\
             To: {}\r\n\
             Call-ID: {}\r\n\
             CSeq: {} ACK\r\n\
             Max-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n",
            response
                .header("Contact")
                .unwrap_or("<sip:switchboard@127.0.0.1:5060>")
                .trim_start_matches('<')
                .trim_end_matches('>'),
            cseq.seq,
            response.header("From").unwrap_or_default(),
            response.header("To").unwrap_or_default(),
            response.call_id().unwrap_or_default(),
            cseq.seq
        );
        let ack = Message::parse(text.as_bytes()).expect("valid SIP");
        self.phone_sends(me, &ack);
        if cseq.seq == self.callee.reinvites + 1 && self.callee.reinvites_answered < cseq.seq - 1 {
            self.callee.reinvites_answered = cseq.seq - 1;
            if self.callee.reinvites == 1 {
                let resume = self.callee_reinvite("sendrecv");
                self.callee.due = Some((self.now + Duration::from_millis(500), None, resume));
            }
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

/// A plain call's hold and resume from the callee's phone reach the caller as re-INVITEs,
/// each answered end to end.
#[test]
fn a_hold_and_resume_from_the_callee_reach_the_caller_over_200_seeds() {
    for seed in 0..SEEDS {
        let mut sim = Sim::new(
            seed,
            Caller::HangsUpAfter(Duration::from_secs(10)),
            Callee::AnswersThenHolds(Duration::from_millis(300)),
        );
        sim.run(Duration::from_secs(60));
        assert_eq!(
            sim.callee.reinvites_answered, 2,
            "seed {seed}: both re-INVITEs answered"
        );
        let mut asked = sim.caller.reinvites.clone();
        asked.dedup();
        assert_eq!(
            asked,
            ["sendonly", "sendrecv"],
            "seed {seed}: {:?}",
            sim.caller.reinvites
        );
        assert!(sim.caller.bye_answered, "seed {seed}");
        sim.assert_clean(seed, HangupCause::NormalClearing);
    }
}

/// The caller hangs up while the callee's hold is still being relayed to it: the pending
/// re-INVITE is answered 487 (RFC 3261 §15.1.2) and nothing is left behind.
#[test]
fn a_hang_up_during_a_relayed_hold_answers_the_hold_and_leaves_nothing_over_200_seeds() {
    for seed in 0..SEEDS {
        // The hold goes out 300 ms after the ACK; the BYE comes 0-600 ms after the answer.
        let talk = Duration::from_millis(seed * 3);
        let mut sim = Sim::new(
            seed,
            Caller::HangsUpAfter(talk),
            Callee::AnswersThenHolds(Duration::from_millis(300)),
        );
        sim.run(Duration::from_secs(60));
        assert!(sim.caller.bye_answered, "seed {seed}");
        sim.assert_clean(seed, HangupCause::NormalClearing);
    }
}

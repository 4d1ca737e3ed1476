//! A scripted SIP phone: a small user agent that registers with digest, places calls
//! (answering the switch's 407), answers, rings, refuses or ignores the calls it gets as its
//! [`Incoming`] says, hangs up, holds and resumes with re-INVITE, transfers with REFER (blind,
//! or attended with Replaces), and resolves re-INVITE glare as RFC 3261 §14.1 says (491, then
//! a retry after a random wait).
//!
//! It never retransmits (the network never loses what it sends), but it answers a repeated
//! request with its first answers again and ACKs every 2xx it gets, repeats included, as a
//! UA's transactions do. It is sans-IO like the cores: what it sends goes to `outbox`, what
//! it will do later is in `due`, and time is an argument.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::Rng;
use rand::rngs::SmallRng;

use crate::call::lab::{DOMAIN, digest_answer, sdp};
use crate::sip::message::{Message, Method};

/// What the phone does with a call it is offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incoming {
    /// Rings, answers after this long.
    Answer(Duration),
    /// Rings, then 486 Busy Here after this long.
    Busy(Duration),
    /// Rings, then 603 Decline after this long.
    Decline(Duration),
    /// Rings until cancelled (then 487).
    Ring,
    /// Rings; answers a CANCEL with 200 but never ends its INVITE.
    IgnoreCancel,
}

/// Where one of the phone's calls stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Our INVITE is out, no answer with a tag yet.
    Calling,
    /// Ringing (either way).
    Early,
    /// Answered.
    Up,
    /// Over (failed, cancelled or hung up).
    Ended,
}

/// One call of the phone: its dialog and what happened in it.
#[derive(Debug, Clone)]
pub struct Call {
    pub call_id: String,
    /// We placed it.
    pub outgoing: bool,
    /// Our From (outgoing) or To (incoming) header, with our tag.
    pub local: String,
    pub local_tag: String,
    /// Their header, without their tag until we know it.
    pub remote: String,
    pub remote_tag: Option<String>,
    /// Where in-dialog requests go.
    pub target: String,
    /// The INVITE that set it up (ours, or the one we got).
    pub invite: Message,
    /// The highest CSeq we used in it.
    pub cseq: u32,
    pub stage: Stage,
    /// The final answer to the initial INVITE.
    pub final_code: Option<u16>,
    /// 2xx answers to our initial INVITE, repeats included.
    pub oks: u32,
    /// Our re-INVITE without a final answer yet: its CSeq and direction.
    pub reinvite: Option<(u32, &'static str)>,
    /// Directions of our re-INVITEs the other side accepted, in order.
    pub reinvites_done: Vec<&'static str>,
    /// Directions of re-INVITEs we got (one per CSeq).
    pub reinvites_in: Vec<String>,
    /// 491s our re-INVITEs got, and 491s we answered.
    pub glare_sent: u32,
    pub glare_received: u32,
    /// Final answer to our REFER.
    pub refer_answer: Option<u16>,
    /// Status lines of the NOTIFYs we got (sipfrag), repeats included.
    pub notifies: Vec<String>,
    pub bye_received: bool,
    pub bye_answered: bool,
    /// The last re-INVITE CSeq we got, so a repeat is not counted twice.
    last_reinvite_in: u32,
}

impl Call {
    /// A call set up by `invite`, between `local` (with our tag) and `remote`.
    fn new(
        invite: Message,
        outgoing: bool,
        local: (String, String),
        remote: (String, Option<String>),
        target: String,
    ) -> Call {
        Call {
            call_id: invite.call_id().unwrap_or_default().to_owned(),
            outgoing,
            local: local.0,
            local_tag: local.1,
            remote: remote.0,
            remote_tag: remote.1,
            target,
            cseq: if outgoing { 1 } else { 0 },
            stage: if outgoing {
                Stage::Calling
            } else {
                Stage::Early
            },
            invite,
            final_code: None,
            oks: 0,
            reinvite: None,
            reinvites_done: Vec::new(),
            reinvites_in: Vec::new(),
            glare_sent: 0,
            glare_received: 0,
            refer_answer: None,
            notifies: Vec::new(),
            bye_received: false,
            bye_answered: false,
            last_reinvite_in: 0,
        }
    }

    /// The sipfrag statuses we were notified of, repeats removed.
    pub fn notified(&self) -> Vec<String> {
        let mut seen = self.notifies.clone();
        seen.dedup();
        seen
    }
}

/// Something the phone does later by itself.
#[derive(Debug, Clone)]
enum Due {
    /// The final answer to an INVITE we ring for.
    Final {
        call_id: String,
        key: String,
        response: Message,
    },
    /// A re-INVITE again after glare.
    Retry {
        call_id: String,
        direction: &'static str,
    },
}

/// A scripted phone at one address.
pub struct Phone {
    pub user: String,
    pub addr: SocketAddr,
    pub incoming: Incoming,
    /// ACKs 2xx answers (a phone that never does tests the switch's give-up).
    pub acks: bool,
    rng: SmallRng,
    counter: u32,
    /// Answers we gave, by server transaction (branch and method), re-sent on repeats.
    answered: HashMap<String, Vec<Message>>,
    pub calls: Vec<Call>,
    due: Vec<(Instant, Due)>,
    pub outbox: Vec<Message>,
    /// The final answer to our latest REGISTER.
    pub registered: Option<u16>,
    register_cseq: u32,
    /// Everything the phone got, summarised (`INVITE`, `180 INVITE`...), for traces.
    pub heard: Vec<String>,
}

/// The phone's name for the server transaction of `request`: branch and method (a CANCEL
/// shares its INVITE's branch).
fn transaction_of(request: &Message) -> String {
    let branch = request
        .top_via()
        .and_then(|v| v.branch().map(str::to_owned))
        .unwrap_or_default();
    let method = request.method().map(|m| m.to_string()).unwrap_or_default();
    format!("{branch} {method}")
}

/// A request hop by hop in an INVITE's own transaction (CANCEL, or ACK for a failure):
/// the INVITE's Request-URI, Via and CSeq number, From and To as `like` has them.
fn same_transaction(method: &str, request_uri: &str, via: &str, like: &Message) -> Message {
    parse(&format!(
        "{method} {request_uri} SIP/2.0\r\n\
         Via: {via}\r\n\
         From: {}\r\n\
         To: {}\r\n\
         Call-ID: {}\r\n\
         CSeq: {} {method}\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n",
        like.header("From").unwrap_or_default(),
        like.header("To").unwrap_or_default(),
        like.call_id().unwrap_or_default(),
        like.cseq().map(|c| c.seq).unwrap_or_default(),
    ))
}

fn parse(text: &str) -> Message {
    Message::parse(text.as_bytes()).expect("the phone writes valid SIP")
}

/// `<sip:x>;tag=y` → `y`.
fn tag_of(header: &str) -> Option<String> {
    header
        .split(';')
        .find_map(|p| p.trim().strip_prefix("tag="))
        .map(str::to_owned)
}

/// The URI inside a Contact header.
fn uri_of(contact: &str) -> String {
    let start = contact.find('<').map_or(0, |i| i + 1);
    let end = contact[start..]
        .find('>')
        .map_or(contact.len(), |i| start + i);
    contact[start..end].to_owned()
}

/// The direction of an SDP body (`sendrecv` when none is given).
fn direction_of(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    ["sendonly", "recvonly", "inactive", "sendrecv"]
        .into_iter()
        .find(|d| text.contains(&format!("a={d}")))
        .unwrap_or("sendrecv")
        .to_owned()
}

/// Our answer's direction to an offer's.
fn answer_direction(offer: &str) -> &'static str {
    match offer {
        "sendonly" => "recvonly",
        "recvonly" => "sendonly",
        "inactive" => "inactive",
        _ => "sendrecv",
    }
}

impl Phone {
    pub fn new(user: &str, addr: SocketAddr, incoming: Incoming, rng: SmallRng) -> Phone {
        Phone {
            user: user.to_owned(),
            addr,
            incoming,
            acks: true,
            rng,
            counter: 0,
            answered: HashMap::new(),
            calls: Vec::new(),
            due: Vec::new(),
            outbox: Vec::new(),
            registered: None,
            register_cseq: 0,
            heard: Vec::new(),
        }
    }

    fn next(&mut self) -> u32 {
        self.counter += 1;
        self.counter
    }

    fn branch(&mut self) -> String {
        let n = self.next();
        format!("z9hG4bK-{}-{}-{n}", self.user, self.addr.port())
    }

    fn sdp(&self, direction: &str) -> String {
        sdp(self.addr.port() + 1).replace("a=sendrecv", &format!("a={direction}"))
    }

    /// When the phone next acts by itself.
    pub fn next_due(&self) -> Option<Instant> {
        self.due.iter().map(|(at, _)| *at).min()
    }

    pub fn call(&self, call_id: &str) -> &Call {
        self.calls
            .iter()
            .find(|c| c.call_id == call_id)
            .unwrap_or_else(|| panic!("{} has no call {call_id}", self.user))
    }

    fn call_mut(&mut self, call_id: &str) -> Option<&mut Call> {
        self.calls.iter_mut().find(|c| c.call_id == call_id)
    }

    /// The phone's latest call, if any.
    pub fn last_call(&self) -> Option<&Call> {
        self.calls.last()
    }

    /// Does what is due at `now`.
    pub fn fire(&mut self, now: Instant) {
        while let Some(index) = (0..self.due.len()).find(|&i| self.due[i].0 <= now) {
            let (_, due) = self.due.remove(index);
            match due {
                Due::Final {
                    call_id,
                    key,
                    response,
                } => {
                    let Some(call) = self.call_mut(&call_id) else {
                        continue;
                    };
                    // A CANCEL got here first.
                    if call.stage == Stage::Ended {
                        continue;
                    }
                    let code = response.status().unwrap_or_default();
                    if (200..300).contains(&code) {
                        call.stage = Stage::Up;
                    } else {
                        call.stage = Stage::Ended;
                    }
                    call.final_code = Some(code);
                    self.answered.entry(key).or_default().push(response.clone());
                    self.outbox.push(response);
                }
                Due::Retry { call_id, direction } => {
                    if self
                        .call_mut(&call_id)
                        .is_some_and(|c| c.stage == Stage::Up && c.reinvite.is_none())
                    {
                        self.reinvite(&call_id, direction);
                    }
                }
            }
        }
    }

    // ----- what a script makes the phone do -----

    /// Registers `addr` for `user` (answering the 401 with digest).
    pub fn register(&mut self) {
        let message = self.register_request(None);
        self.outbox.push(message);
    }

    fn register_request(&mut self, authorization: Option<String>) -> Message {
        self.register_cseq += 1;
        let (user, me, cseq) = (&self.user, self.addr, self.register_cseq);
        let branch = format!("z9hG4bK-reg-{user}-{}-{cseq}", me.port());
        let auth = authorization.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
        parse(&format!(
            "REGISTER sip:{DOMAIN} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {me};branch={branch}\r\n\
             From: <sip:{user}@{DOMAIN}>;tag=reg{}\r\n\
             To: <sip:{user}@{DOMAIN}>\r\n\
             Call-ID: reg-{user}-{}\r\n\
             CSeq: {cseq} REGISTER\r\n\
             Contact: <sip:{user}@{me}>\r\n\
             Expires: 3600\r\n\
             Max-Forwards: 70\r\n{auth}\
             Content-Length: 0\r\n\r\n",
            me.port(),
            me.port()
        ))
    }

    /// Calls `target` (an extension or queue number); returns the new call's Call-ID.
    pub fn dial(&mut self, target: &str) -> String {
        let n = self.next();
        let call_id = format!("call-{}-{}-{n}", self.user, self.addr.port());
        let local_tag = format!("t{}-{n}", self.user);
        let local = format!("<sip:{}@{DOMAIN}>;tag={local_tag}", self.user);
        let remote = format!("<sip:{target}@{DOMAIN}>");
        let invite = self.initial_invite(&call_id, &local, &remote, 1, None);
        let target_uri = format!("sip:{target}@{DOMAIN}");
        let call = Call::new(
            invite.clone(),
            true,
            (local, local_tag),
            (remote, None),
            target_uri,
        );
        self.calls.push(call);
        self.outbox.push(invite);
        call_id
    }

    fn initial_invite(
        &mut self,
        call_id: &str,
        local: &str,
        remote: &str,
        cseq: u32,
        auth: Option<String>,
    ) -> Message {
        let me = self.addr;
        let branch = self.branch();
        let uri = uri_of(remote);
        let body = self.sdp("sendrecv");
        let auth = auth.map_or(String::new(), |a| format!("Proxy-Authorization: {a}\r\n"));
        parse(&format!(
            "INVITE {uri} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {me};branch={branch}\r\n\
             From: {local}\r\n\
             To: {remote}\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} INVITE\r\n\
             Contact: <sip:{}@{me}>\r\n\
             Max-Forwards: 70\r\n{auth}\
             Content-Type: application/sdp\r\n\
             Content-Length: {}\r\n\r\n{body}",
            self.user,
            body.len()
        ))
    }

    /// Ends the call: BYE once answered, CANCEL while our INVITE rings.
    pub fn hang_up(&mut self, call_id: &str) {
        let Some(call) = self.call_mut(call_id) else {
            return;
        };
        match call.stage {
            Stage::Up => {
                call.stage = Stage::Ended;
                let bye = self.in_dialog(call_id, "BYE", "", None);
                self.outbox.push(bye);
            }
            Stage::Calling | Stage::Early if call.outgoing => {
                // Whatever answers the INVITE now, we no longer want the call.
                call.stage = Stage::Ended;
                let invite = call.invite.clone();
                let cancel = same_transaction(
                    "CANCEL",
                    invite.request_uri().unwrap_or_default(),
                    invite.header("Via").unwrap_or_default(),
                    &invite,
                );
                self.outbox.push(cancel);
            }
            _ => {}
        }
    }

    /// A re-INVITE offering `direction` (`sendonly` holds, `sendrecv` resumes).
    pub fn reinvite(&mut self, call_id: &str, direction: &'static str) {
        let body = self.sdp(direction);
        let message = self.in_dialog(call_id, "INVITE", "", Some(&body));
        let cseq = message.cseq().map(|c| c.seq).unwrap_or_default();
        if let Some(call) = self.call_mut(call_id) {
            call.reinvite = Some((cseq, direction));
        }
        self.outbox.push(message);
    }

    /// Blind transfer: REFER to `target` (an extension or number).
    pub fn refer(&mut self, call_id: &str, target: &str) {
        let extra = format!(
            "Refer-To: <sip:{target}@{DOMAIN}>\r\nReferred-By: <sip:{}@{DOMAIN}>\r\n",
            self.user
        );
        let message = self.in_dialog(call_id, "REFER", &extra, None);
        self.outbox.push(message);
    }

    /// Attended transfer: REFER on `call_id` naming our other call `replaced` (to `target`)
    /// with Replaces (RFC 3891).
    pub fn refer_replaces(&mut self, call_id: &str, replaced: &str, target: &str) {
        let other = self.call(replaced);
        let replaces = format!(
            "{}%3Bto-tag%3D{}%3Bfrom-tag%3D{}",
            other.call_id,
            other.remote_tag.clone().unwrap_or_default(),
            other.local_tag
        );
        let extra = format!(
            "Refer-To: <sip:{target}@{DOMAIN}?Replaces={replaces}>\r\n\
             Referred-By: <sip:{}@{DOMAIN}>\r\n",
            self.user
        );
        let message = self.in_dialog(call_id, "REFER", &extra, None);
        self.outbox.push(message);
    }

    /// A new request in the dialog of `call_id`.
    fn in_dialog(
        &mut self,
        call_id: &str,
        method: &str,
        extra: &str,
        body: Option<&str>,
    ) -> Message {
        let branch = self.branch();
        let (me, user) = (self.addr, self.user.clone());
        let call = self.call_mut(call_id).expect("a call of this phone");
        call.cseq += 1;
        let remote = match &call.remote_tag {
            Some(tag) if tag_of(&call.remote).is_none() => format!("{};tag={tag}", call.remote),
            _ => call.remote.clone(),
        };
        let body_headers = body.map_or("Content-Length: 0\r\n\r\n".to_owned(), |b| {
            format!(
                "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{b}",
                b.len()
            )
        });
        parse(&format!(
            "{method} {} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {me};branch={branch}\r\n\
             From: {}\r\n\
             To: {remote}\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {} {method}\r\n\
             Contact: <sip:{user}@{me}>\r\n\
             Max-Forwards: 70\r\n{extra}{body_headers}",
            call.target, call.local, call.cseq
        ))
    }

    /// ACK for a 2xx: a new transaction in the dialog, with the INVITE's CSeq.
    fn ack_2xx(&mut self, call_id: &str, cseq: u32) -> Message {
        let branch = self.branch();
        let me = self.addr;
        let call = self.call(call_id);
        let remote = match &call.remote_tag {
            Some(tag) if tag_of(&call.remote).is_none() => format!("{};tag={tag}", call.remote),
            _ => call.remote.clone(),
        };
        parse(&format!(
            "ACK {} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {me};branch={branch}\r\n\
             From: {}\r\n\
             To: {remote}\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} ACK\r\n\
             Max-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n",
            call.target, call.local
        ))
    }

    /// ACK for a failure: part of the INVITE's transaction (same branch, the answer's To).
    fn ack_failure(request_uri: &str, via: &str, response: &Message) -> Message {
        same_transaction("ACK", request_uri, via, response)
    }

    // ----- what the phone does with what it gets -----

    pub fn receive(&mut self, now: Instant, message: Message) {
        let summary = match (message.status(), message.cseq()) {
            (Some(code), Some(cseq)) => format!("{code} {}", cseq.method),
            _ => message.method().map(|m| m.to_string()).unwrap_or_default(),
        };
        self.heard.push(summary);
        if message.is_response() {
            self.on_response(now, &message);
        } else {
            self.on_request(now, message);
        }
    }

    fn on_request(&mut self, now: Instant, request: Message) {
        let call_id = request.call_id().unwrap_or_default().to_owned();
        if request.method() == Some(&Method::Ack) {
            // Our 2xx (or failure) arrived; a UAS ACK needs no answer.
            return;
        }
        let key = transaction_of(&request);
        if let Some(answers) = self.answered.get(&key) {
            self.outbox.extend(answers.iter().cloned());
            return;
        }
        let answers = match request.method() {
            Some(Method::Invite) if request.to_tag().is_none() => self.offered(now, &request, &key),
            Some(Method::Invite) => vec![self.reoffered(&request)],
            Some(Method::Bye) => match self.call_mut(&call_id) {
                Some(call) => {
                    call.stage = Stage::Ended;
                    call.bye_received = true;
                    vec![Message::response_to(&request, 200, "OK")]
                }
                None => vec![Message::response_to(&request, 481, "No Such Call")],
            },
            Some(Method::Cancel) => self.cancelled(&request),
            Some(Method::Notify) => {
                let frag = String::from_utf8_lossy(request.body())
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                if let Some(call) = self.call_mut(&call_id) {
                    call.notifies.push(frag);
                }
                vec![Message::response_to(&request, 200, "OK")]
            }
            _ => vec![Message::response_to(&request, 200, "OK")],
        };
        self.outbox.extend(answers.iter().cloned());
        self.answered.entry(key).or_default().extend(answers);
    }

    /// A new call: ring, and schedule what `incoming` says.
    fn offered(&mut self, now: Instant, invite: &Message, key: &str) -> Vec<Message> {
        let n = self.next();
        let local_tag = format!("t{}-{n}", self.user);
        let to = invite.header("To").unwrap_or_default().to_owned();
        let local = format!("{to};tag={local_tag}");
        let tagged = |code: u16, reason: &str| {
            let mut r = Message::response_to(invite, code, reason);
            r.set("To", local.clone());
            r
        };
        let ringing = tagged(180, "Ringing");
        let call_id = invite.call_id().unwrap_or_default().to_owned();
        let final_after = match self.incoming {
            Incoming::Answer(after) => {
                let mut ok = tagged(200, "OK");
                ok.push("Contact", format!("<sip:{}@{}>", self.user, self.addr));
                ok.set_body("application/sdp", Bytes::from(self.sdp("sendrecv")));
                Some((after, ok))
            }
            Incoming::Busy(after) => Some((after, tagged(486, "Busy Here"))),
            Incoming::Decline(after) => Some((after, tagged(603, "Decline"))),
            Incoming::Ring | Incoming::IgnoreCancel => None,
        };
        if let Some((after, response)) = final_after {
            let due = Due::Final {
                call_id: call_id.clone(),
                key: key.to_owned(),
                response,
            };
            self.due.push((now + after, due));
        }
        let remote = invite.header("From").unwrap_or_default().to_owned();
        let target = uri_of(invite.header("Contact").unwrap_or_default());
        let call = Call::new(
            invite.clone(),
            false,
            (local, local_tag),
            (remote, invite.from_tag()),
            target,
        );
        self.calls.push(call);
        vec![ringing]
    }

    /// A re-INVITE: 491 while ours is out (glare, RFC 3261 §14.2), else the mirrored answer.
    fn reoffered(&mut self, invite: &Message) -> Message {
        let call_id = invite.call_id().unwrap_or_default().to_owned();
        let seq = invite.cseq().map(|c| c.seq).unwrap_or_default();
        let offer = direction_of(invite.body());
        let body = self.sdp(answer_direction(&offer));
        let (user, me) = (self.user.clone(), self.addr);
        let Some(call) = self.call_mut(&call_id).filter(|c| c.stage == Stage::Up) else {
            return Message::response_to(invite, 481, "No Such Call");
        };
        if call.reinvite.is_some() {
            call.glare_sent += 1;
            return Message::response_to(invite, 491, "Request Pending");
        }
        if seq > call.last_reinvite_in {
            call.last_reinvite_in = seq;
            call.reinvites_in.push(offer);
        }
        let mut ok = Message::response_to(invite, 200, "OK");
        ok.push("Contact", format!("<sip:{user}@{me}>"));
        ok.set_body("application/sdp", Bytes::from(body));
        ok
    }

    fn cancelled(&mut self, cancel: &Message) -> Vec<Message> {
        let call_id = cancel.call_id().unwrap_or_default().to_owned();
        let ignores = self.incoming == Incoming::IgnoreCancel;
        let Some(call) = self
            .call_mut(&call_id)
            .filter(|c| !c.outgoing && c.final_code.is_none())
        else {
            // Answered already, or unknown: the CANCEL has nothing to end.
            return vec![Message::response_to(cancel, 200, "OK")];
        };
        let mut answers = vec![Message::response_to(cancel, 200, "OK")];
        if !ignores {
            call.stage = Stage::Ended;
            call.final_code = Some(487);
            let mut terminated = Message::response_to(&call.invite, 487, "Request Terminated");
            terminated.set("To", call.local.clone());
            let invite_key = transaction_of(&call.invite);
            self.answered
                .entry(invite_key)
                .or_default()
                .push(terminated.clone());
            answers.push(terminated);
        }
        answers
    }

    fn on_response(&mut self, now: Instant, response: &Message) {
        let (Some(code), Some(cseq)) = (response.status(), response.cseq()) else {
            return;
        };
        let call_id = response.call_id().unwrap_or_default().to_owned();
        match cseq.method {
            Method::Register => self.on_register_answer(code, cseq.seq, response),
            Method::Invite => self.on_invite_answer(now, code, cseq.seq, &call_id, response),
            Method::Bye if code >= 200 => {
                if let Some(call) = self.call_mut(&call_id) {
                    call.bye_answered = true;
                }
            }
            Method::Refer if code >= 200 => {
                if let Some(call) = self.call_mut(&call_id) {
                    call.refer_answer = Some(code);
                }
            }
            _ => {}
        }
    }

    fn on_register_answer(&mut self, code: u16, seq: u32, response: &Message) {
        if seq != self.register_cseq {
            return;
        }
        if code == 401 {
            let challenge = response.header("WWW-Authenticate").unwrap_or_default();
            let credentials = self.credentials(challenge, "REGISTER", &format!("sip:{DOMAIN}"));
            let message = self.register_request(Some(credentials));
            self.outbox.push(message);
        } else if code >= 200 {
            self.registered = Some(code);
        }
    }

    fn credentials(&self, challenge: &str, method: &str, uri: &str) -> String {
        digest_answer(challenge, &self.user, method, uri).to_string()
    }

    fn on_invite_answer(
        &mut self,
        now: Instant,
        code: u16,
        seq: u32,
        call_id: &str,
        response: &Message,
    ) {
        let Some(call) = self.call_mut(call_id) else {
            return;
        };
        let initial = call.outgoing && call.invite.cseq().is_some_and(|c| c.seq == seq);
        if !initial {
            self.on_reinvite_answer(now, code, seq, call_id, response);
            return;
        }
        if let Some(tag) = response.to_tag() {
            call.remote_tag.get_or_insert(tag);
        }
        match code {
            100..=199 => {
                if call.stage == Stage::Calling && response.to_tag().is_some() {
                    call.stage = Stage::Early;
                }
            }
            200..=299 => {
                call.oks += 1;
                if let Some(contact) = response.header("Contact") {
                    call.target = uri_of(contact);
                }
                let first = call.final_code.is_none();
                call.final_code.get_or_insert(code);
                // A 2xx racing our CANCEL: the call is up, and we do not want it (§15).
                let unwanted = call.stage == Stage::Ended && first;
                if call.stage != Stage::Ended {
                    call.stage = Stage::Up;
                }
                if self.acks {
                    let ack = self.ack_2xx(call_id, seq);
                    self.outbox.push(ack);
                }
                if unwanted {
                    let call = self.call_mut(call_id).expect("found above");
                    call.stage = Stage::Up;
                    self.hang_up(call_id);
                }
            }
            401 | 407 => {
                let via = call.invite.header("Via").unwrap_or_default().to_owned();
                let uri = call.invite.request_uri().unwrap_or_default().to_owned();
                self.outbox.push(Phone::ack_failure(&uri, &via, response));
                let call = self.call_mut(call_id).expect("found above");
                if call.cseq != seq {
                    return;
                }
                call.cseq += 1;
                let (local, remote, cseq) = (call.local.clone(), call.remote.clone(), call.cseq);
                let challenge = response
                    .header("Proxy-Authenticate")
                    .unwrap_or_default()
                    .to_owned();
                let target = uri_of(&remote);
                let credentials = self.credentials(&challenge, "INVITE", &target);
                let invite = self.initial_invite(call_id, &local, &remote, cseq, Some(credentials));
                let call = self.call_mut(call_id).expect("found above");
                call.invite = invite.clone();
                call.remote_tag = None;
                self.outbox.push(invite);
            }
            _ => {
                let via = call.invite.header("Via").unwrap_or_default().to_owned();
                let uri = call.invite.request_uri().unwrap_or_default().to_owned();
                call.final_code.get_or_insert(code);
                call.stage = Stage::Ended;
                self.outbox.push(Phone::ack_failure(&uri, &via, response));
            }
        }
    }

    fn on_reinvite_answer(
        &mut self,
        now: Instant,
        code: u16,
        seq: u32,
        call_id: &str,
        response: &Message,
    ) {
        if code < 200 {
            return;
        }
        let owner = self.call(call_id).outgoing;
        let pending = self.call(call_id).reinvite.filter(|(s, _)| *s == seq);
        if (200..300).contains(&code) {
            let ack = self.ack_2xx(call_id, seq);
            self.outbox.push(ack);
        } else {
            // The failure's ACK is hop by hop, in the re-INVITE's own transaction: the
            // same Via as the request, which the answer echoes.
            let call = self.call(call_id);
            let via = response.header("Via").unwrap_or_default().to_owned();
            let target = call.target.clone();
            self.outbox
                .push(Phone::ack_failure(&target, &via, response));
        }
        let Some((_, direction)) = pending else {
            return;
        };
        let wait = if code == 491 {
            // RFC 3261 §14.1: the Call-ID's owner waits 2.1–4 s, the other side 0–2 s, in
            // 10 ms units.
            let units = if owner {
                self.rng.random_range(210..=400)
            } else {
                self.rng.random_range(0..=200)
            };
            Some(Duration::from_millis(units * 10))
        } else {
            None
        };
        let call = self.call_mut(call_id).expect("pending above");
        call.reinvite = None;
        if (200..300).contains(&code) {
            call.reinvites_done.push(direction);
        } else if let Some(wait) = wait {
            call.glare_received += 1;
            let due = Due::Retry {
                call_id: call_id.to_owned(),
                direction,
            };
            self.due.push((now + wait, due));
        }
    }
}

//! Tests only: the switch core and scripted phones on an in-memory network, in virtual time.
//! The lab delivers what the switch transmits to per-address inboxes, keeps its media
//! commands and CDRs, answers its CDR writes at once, and jumps the clock to the switch's
//! next timeout. Phones are whatever the test writes: [`Lab::call`] sets up an answered
//! call between two extensions (407 challenge included), the rest is raw SIP text.

use super::model::{EndpointId, MediaCommand, Output};
use super::switch::{Switch, SwitchConfig};
use crate::sip::digest::{Challenge, Credentials, StoredSecret};
use crate::sip::message::{Message, Method};
use crate::sip::registrar::{PersistedBinding, RegistrarConfig, Transport};
use crate::sip::transaction::Timing;
use crate::store::Cdr;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub const DOMAIN: &str = "switchboard.local";

/// A phone's SDP offer or answer: PCMU on `port`.
pub fn sdp(port: u16) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
    )
}

/// The address extension `user`'s phone sends from.
pub fn phone(user: &str) -> SocketAddr {
    let port: u16 = user.parse().expect("a numeric extension");
    SocketAddr::from(([127, 0, 0, 1], 10_000 + port))
}

/// The lab's switch: extensions 1000–1019 (passwords `lab-<ext>-secret`), ring timeout
/// 30 s, RNG seeded with `seed`.
pub fn config(seed: u64) -> SwitchConfig {
    let extensions = (1000..1020)
        .map(|n| {
            let user = n.to_string();
            let secret =
                StoredSecret::ha1_from_password(&user, DOMAIN, &format!("lab-{user}-secret"));
            (user, secret)
        })
        .collect();
    SwitchConfig {
        domain: DOMAIN.into(),
        advertised: "127.0.0.1:5060".parse().unwrap(),
        tls_port: None,
        timing: Timing::default(),
        ring_timeout: Duration::from_secs(30),
        max_calls: 100,
        registrar: RegistrarConfig::default(),
        nonce_lifetime: Duration::from_secs(300),
        extensions,
        rtp_ports: (20_000, 20_099),
        digest_algorithms: vec!["MD5".into()],
        extension_digest_algorithms: HashMap::new(),
        seed: crate::call::RngSeed::from_u64(seed),
        auth_guard: Default::default(),
        trunks: vec![loopback_trunk()],
        outbound_trunks: Vec::new(),
        dialing: Default::default(),
        srtp: Default::default(),
    }
}

/// `user`'s phone registered at [`phone`]`(user)` over UDP for an hour.
/// A carrier's customer at `from` (From user `caller`) calling queue number 7000 in its own
/// dialog `call_id`, offering audio on `media_port`.
pub fn queue_call_invite(
    from: SocketAddr,
    caller: &str,
    call_id: &str,
    media_port: u16,
) -> Message {
    let mut invite = Message::request(Method::Invite, format!("sip:7000@{DOMAIN}"))
        .with(
            "Via",
            format!("SIP/2.0/UDP {from};branch=z9hG4bK{}", from.port()),
        )
        .with("Max-Forwards", "70")
        .with("From", format!("<sip:{caller}@carrier.example>;tag=c"))
        .with("To", format!("<sip:7000@{DOMAIN}>"))
        .with("Call-ID", call_id)
        .with("CSeq", "1 INVITE")
        .with("Contact", format!("<sip:c@{from}>"));
    invite.set_body("application/sdp", bytes::Bytes::from(sdp(media_port)));
    invite
}

/// Every number (`+` after normalising) goes out through one trunk `carrier` whose only
/// gateway is `gateway`, presenting `caller_id` when given.
pub fn one_carrier(
    cfg: &mut SwitchConfig,
    gateway: SocketAddr,
    caller_id: Option<crate::dialing::E164>,
) {
    cfg.outbound_trunks = vec![super::trunks::OutboundTrunk {
        name: "carrier".into(),
        gateways: vec![gateway],
        max_channels: 0,
        caller_id,
        credentials: None,
        register: None,
        ..Default::default()
    }];
    cfg.dialing.routes = crate::dialing::OutboundPlan::new(vec![crate::dialing::OutboundRoute {
        prefix: "+".into(),
        trunks: vec!["carrier".into()],
    }])
    .expect("one route");
}

pub fn persisted_binding(user: &str) -> PersistedBinding {
    let addr = phone(user);
    PersistedBinding {
        contact_uri: format!("sip:{user}@{addr}"),
        expires_unix: 1_800_003_600,
        updated_unix: 1_800_000_000,
        call_id: format!("reg-{user}"),
        cseq: 1,
        q: None,
        received: Some(addr),
        transport: Transport::Udp,
        instance: None,
        reg_id: None,
    }
}

/// `caller`'s credentials for its INVITE to `callee`, answering the switch's 407.
pub fn answer_challenge(challenge: &Message, caller: &str, callee: &str) -> Credentials {
    let header = challenge.header("Proxy-Authenticate").unwrap_or_default();
    let uri = format!("sip:{callee}@{DOMAIN}");
    digest_answer(header, caller, "INVITE", &uri)
}

/// `user`'s credentials (password `lab-<user>-secret`) for `method` on `uri`, answering the
/// challenge `header` (a Proxy- or WWW-Authenticate value).
pub fn digest_answer(header: &str, user: &str, method: &str, uri: &str) -> Credentials {
    let challenge = Challenge::parse(header).expect("the switch's challenge parses");
    challenge.answer(user, &format!("lab-{user}-secret"), method, uri, "lab", 1)
}

/// The lab's trunk: every loopback address, trusted (customers in the lab dial queues
/// from unregistered phones on 127.0.0.1).
pub fn loopback_trunk() -> super::trunks::InboundTrunk {
    super::trunks::InboundTrunk {
        name: "lab-loopback".into(),
        sources: vec!["127.0.0.0/8".parse().expect("a valid prefix")],
        trusted: true,
        max_channels: 0,
        ..Default::default()
    }
}

pub struct Lab {
    pub sw: Switch,
    pub now: Instant,
    inbox: HashMap<SocketAddr, Vec<Message>>,
    pub media: Vec<MediaCommand>,
    pub cdrs: Vec<Cdr>,
    /// What the switch told the contact center.
    pub queue_events: Vec<super::model::QueueEvent>,
    /// The transport of the last message sent to each address.
    pub sent_over: HashMap<SocketAddr, Transport>,
}

impl Lab {
    /// The endpoint the first ringing tone in [`Lab::media`] plays to.
    pub fn ringback_endpoint(&self) -> Option<EndpointId> {
        self.media.iter().find_map(|c| match c {
            MediaCommand::PlayRingback { endpoint } => Some(*endpoint),
            _ => None,
        })
    }

    /// The endpoint the first SDP in [`Lab::media`] configures.
    pub fn configured_endpoint(&self) -> Option<EndpointId> {
        self.media.iter().find_map(|c| match c {
            MediaCommand::Configure { endpoint, .. } => Some(*endpoint),
            _ => None,
        })
    }

    /// A switch for extensions 1000–1019 (passwords `lab-<ext>-secret`), ring timeout 30 s.
    pub fn new() -> Lab {
        Lab::with_config(config(7))
    }

    /// A switch configured by `cfg` (start from [`config`]).
    pub fn with_config(cfg: SwitchConfig) -> Lab {
        // The origin of virtual time; only differences from it matter.
        let now = crate::runtime::clock::now();
        Lab {
            sw: Switch::new(cfg, now, Duration::from_secs(1_800_000_000)),
            now,
            inbox: HashMap::new(),
            media: Vec::new(),
            cdrs: Vec::new(),
            queue_events: Vec::new(),
            sent_over: HashMap::new(),
        }
    }

    /// Registers `user`'s phone at [`phone`]`(user)`.
    pub fn register(&mut self, user: &str) {
        self.sw.restore_binding(
            self.now,
            &format!("{user}@{DOMAIN}"),
            persisted_binding(user),
        );
        self.drain();
    }

    /// `from` sends `message` to the switch.
    pub fn send(&mut self, from: SocketAddr, message: &Message) {
        self.sw
            .handle_datagram(self.now, from, Transport::Udp, &message.to_bytes());
        self.drain();
    }

    /// `from` sends raw text (CRLF line ends are added).
    pub fn send_text(&mut self, from: SocketAddr, text: &str) {
        let text = text.replace("\r\n", "\n").replace('\n', "\r\n");
        let message = Message::parse(text.as_bytes()).expect("valid SIP");
        self.send(from, &message);
    }

    /// The contact center tells the switch `command` (offer, consult, transfer...).
    pub fn queue_command(&mut self, command: super::model::QueueCommand) {
        self.sw.handle_queue_command(self.now, command);
        self.drain();
    }

    /// The interaction of the first call that reached a queue.
    pub fn arrived(&self) -> super::model::InteractionId {
        self.queue_events
            .iter()
            .find_map(|e| match e {
                super::model::QueueEvent::Arrived { interaction, .. } => Some(interaction.clone()),
                _ => None,
            })
            .expect("a call reached a queue")
    }

    /// The media plane reports `event` (a digit, a dead endpoint).
    pub fn media_event(&mut self, event: super::model::MediaEvent) {
        self.sw.handle_media_event(self.now, event);
        self.drain();
    }

    /// The admin API replaces the trunks, routes and DIDs.
    pub fn set_trunks(&mut self, trunks: super::trunks::TrunkSet) {
        self.sw.set_trunks(self.now, trunks);
        self.drain();
    }

    /// Moves the clock on by `by`, firing every timeout on the way.
    pub fn advance(&mut self, by: Duration) {
        let end = self.now + by;
        while let Some(at) = self.sw.poll_timeout().filter(|at| *at <= end) {
            self.now = at.max(self.now);
            self.sw.handle_timeout(self.now);
            self.drain();
        }
        self.now = end;
    }

    fn drain(&mut self) {
        while let Some(output) = self.sw.poll_output() {
            match output {
                Output::Transmit {
                    to,
                    bytes,
                    transport,
                } => {
                    let message = Message::parse(&bytes).expect("the switch sends valid SIP");
                    self.inbox.entry(to).or_default().push(message);
                    self.sent_over.insert(to, transport);
                }
                Output::Media(command) => self.media.push(command),
                Output::Queue(event) => self.queue_events.push(event),
                Output::PersistCdr { token, cdr } => {
                    self.cdrs.push(*cdr);
                    self.sw.handle_persisted(self.now, token);
                }
                _ => {}
            }
        }
    }

    /// Takes the first message to `to` that is the request `what` (`"INVITE"`) or the
    /// response with that status (`"200"`); panics naming what arrived instead.
    pub fn take(&mut self, to: SocketAddr, what: &str) -> Message {
        self.try_take(to, what).unwrap_or_else(|| {
            let seen: Vec<String> = self
                .inbox
                .get(&to)
                .into_iter()
                .flatten()
                .map(summary)
                .collect();
            panic!("no {what} to {to}; it has {seen:?}")
        })
    }

    /// Everything sent to `to` and not taken yet, summarised.
    pub fn take_all(&mut self, to: SocketAddr) -> Vec<String> {
        let inbox = self.inbox.remove(&to).unwrap_or_default();
        inbox.iter().map(summary).collect()
    }

    /// Like [`Lab::take`], `None` when there is no such message.
    pub fn try_take(&mut self, to: SocketAddr, what: &str) -> Option<Message> {
        let inbox = self.inbox.entry(to).or_default();
        let index = inbox.iter().position(|m| summary(m) == what)?;
        Some(inbox.remove(index))
    }

    /// Answers a request the switch sent to `phone` with `code` (a 2xx to an INVITE carries
    /// a To tag, a Contact and SDP; a 183 the same, as early media).
    pub fn reply(&mut self, request: &Message, code: u16, from: SocketAddr) {
        let mut response = Message::response_to(request, code, "Reason");
        if code >= 180 && request.to_tag().is_none() {
            let to = request.header("To").unwrap_or_default().to_owned();
            response.set("To", format!("{to};tag=t{}", from.port()));
        }
        if (code == 183 || (200..300).contains(&code)) && summary(request) == "INVITE" {
            response.push("Contact", format!("<sip:phone@{from}>"));
            response.set_body("application/sdp", bytes::Bytes::from(sdp(from.port() + 1)));
        }
        self.send(from, &response);
    }

    /// `caller` calls `callee` (both registered) and `callee` answers: returns the INVITE
    /// the switch sent to the callee, whose dialog the callee's requests must use, and the
    /// 200 the caller got.
    pub fn call(&mut self, caller: &str, callee: &str) -> (Message, Message) {
        let from = phone(caller);
        let to_callee = self.ring(caller, callee);
        self.reply(&to_callee, 200, phone(callee));
        let _ack = self.take(phone(callee), "ACK");
        let ok = self.take(from, "200");
        let ack = in_dialog(&ok, "ACK", 2, from, true, "");
        self.send_text(from, &ack);
        (to_callee, ok)
    }

    /// `caller` calls `callee` (both registered), answering the switch's challenge: returns
    /// the INVITE the switch sent the callee. The caller's INVITE has branch
    /// `z9hG4bK-<caller>-<callee>-2`, Call-ID `call-<caller>-<callee>` and CSeq 2.
    pub fn ring(&mut self, caller: &str, callee: &str) -> Message {
        self.dial(caller, callee);
        self.take(phone(callee), "INVITE")
    }

    /// `caller` sends an INVITE for `callee` (any Request-URI user), answering the switch's
    /// challenge, as [`Self::ring`] does; what the switch did with it is left in the inboxes.
    pub fn dial(&mut self, caller: &str, callee: &str) {
        let from = phone(caller);
        let invite = |cseq: u32, auth: &str| {
            format!(
                "INVITE sip:{callee}@{DOMAIN} SIP/2.0\n\
                 Via: SIP/2.0/UDP {from};branch=z9hG4bK-{caller}-{callee}-{cseq}\n\
                 From: <sip:{caller}@{DOMAIN}>;tag=c{caller}\n\
                 To: <sip:{callee}@{DOMAIN}>\n\
                 Call-ID: call-{caller}-{callee}\n\
                 CSeq: {cseq} INVITE\n\
                 Contact: <sip:{caller}@{from}>\n\
                 Max-Forwards: 70\n{auth}\
                 Content-Type: application/sdp\n\
                 Content-Length: {}\n\n{}",
                sdp(from.port() + 1).len(),
                sdp(from.port() + 1)
            )
        };
        self.send_text(from, &invite(1, ""));
        let challenge = self.take(from, "407");
        let credentials = answer_challenge(&challenge, caller, callee);
        self.send_text(
            from,
            &invite(2, &format!("Proxy-Authorization: {credentials}\n")),
        );
    }
}

/// `INVITE`, `ACK`... for requests, the status code for responses.
pub fn summary(message: &Message) -> String {
    match message.status() {
        Some(code) => code.to_string(),
        None => message.method().map(|m| m.to_string()).unwrap_or_default(),
    }
}

/// A request `method` from the phone at `from` in the dialog `dialog` set up. `dialog` is
/// the INVITE the switch sent the phone (`uas`: false) or the 2xx the switch answered the
/// phone's INVITE with (`uas`: true, the phone was the caller). `extra` is more header lines.
pub fn in_dialog(
    dialog: &Message,
    method: &str,
    cseq: u32,
    from: SocketAddr,
    uas: bool,
    extra: &str,
) -> String {
    let header = |name: &str| dialog.header(name).unwrap_or_default().to_owned();
    let (ours, theirs) = if uas {
        (header("From"), header("To"))
    } else {
        // The phone answered the INVITE with its own tag (see `Lab::reply`).
        (
            format!("{};tag=t{}", header("To"), from.port()),
            header("From"),
        )
    };
    format!(
        "{method} sip:switchboard@127.0.0.1:5060 SIP/2.0\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bK-{method}-{cseq}-{}\n\
         From: {ours}\n\
         To: {theirs}\n\
         Call-ID: {}\n\
         CSeq: {cseq} {method}\n\
         Contact: <sip:phone@{from}>\n\
         Max-Forwards: 70\n{extra}\
         Content-Length: 0\n\n",
        from.port(),
        dialog.call_id().unwrap_or_default(),
    )
}

//! Transaction-layer budgets: (a) a server transaction handling one request, message
//! pre-parsed; (b) `handle_timeout` with 10,000 live client transactions in steady state.
//!
//! Run with `cargo bench --bench transaction`.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use switchboard::sip::message::{Message, Method};
use switchboard::sip::transaction::{
    Incoming, LayerConfig, LayerOutput, TransactionEvent, TransactionLayer, new_branch,
};

const INVITE: &str = "INVITE sip:1001@switchboard.local SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK74bf9a1c3d;rport\r\n\
Max-Forwards: 70\r\n\
From: \"Caller\" <sip:+15550100@carrier.example>;tag=9fxced76sl\r\n\
To: <sip:1001@switchboard.local>\r\n\
Call-ID: 3848276298220188511@192.0.2.10\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:+15550100@192.0.2.10:5060>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 131\r\n\
\r\n\
v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
m=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n";

/// The bench's origin of time; the layer itself never reads the clock.
#[allow(clippy::disallowed_methods)]
fn wall_clock() -> Instant {
    Instant::now()
}

fn peer() -> SocketAddr {
    "192.0.2.10:5060".parse().unwrap()
}

fn drain(layer: &mut TransactionLayer) -> usize {
    let mut n = 0;
    while let Some(o) = layer.poll_output() {
        black_box(o);
        n += 1;
    }
    n
}

fn server_transaction(c: &mut Criterion) {
    let invite = Message::parse(INVITE.as_bytes()).unwrap();
    let busy = Message::response_to(&invite, 486, "Busy Here")
        .with("To", "<sip:1001@switchboard.local>;tag=b2");
    let options = Message::parse(
        INVITE
            .replace("INVITE", "OPTIONS")
            .replace("SIP/2.0/UDP", "SIP/2.0/TCP")
            .as_bytes(),
    )
    .unwrap();
    let ok = Message::response_to(&options, 200, "OK");
    let t0 = wall_clock();
    let mut group = c.benchmark_group("server_transaction");

    // A new INVITE creates a server transaction, the TU answers 486, the outputs are drained.
    group.bench_function("new_invite_answered_486", |b| {
        b.iter_batched(
            || {
                (
                    TransactionLayer::new(LayerConfig::default()),
                    invite.clone(),
                    busy.clone(),
                )
            },
            |(mut layer, invite, busy)| {
                let Ok(Incoming::Request { key, .. }) = layer.handle_message(t0, peer(), invite)
                else {
                    unreachable!()
                };
                layer.send_response(t0, &key, busy).unwrap();
                drain(&mut layer);
                layer
            },
            BatchSize::SmallInput,
        )
    });

    // Over TCP a non-INVITE server transaction ends with its final response (Timer J = 0), so
    // one long-lived layer handles the same request again and again.
    group.bench_function("new_options_over_tcp_answered_200", |b| {
        let mut layer = TransactionLayer::new(LayerConfig::default());
        b.iter_batched(
            || (options.clone(), ok.clone()),
            |(options, ok)| {
                let Ok(Incoming::Request { key, .. }) = layer.handle_message(t0, peer(), options)
                else {
                    unreachable!()
                };
                layer.send_response(t0, &key, ok).unwrap();
                drain(&mut layer)
            },
            BatchSize::SmallInput,
        )
    });

    // A retransmitted INVITE reaching a Completed transaction: matched, final response re-sent.
    group.bench_function("retransmitted_invite_answered_from_completed", |b| {
        let mut layer = TransactionLayer::new(LayerConfig::default());
        let Ok(Incoming::Request { key, .. }) = layer.handle_message(t0, peer(), invite.clone())
        else {
            unreachable!()
        };
        layer.send_response(t0, &key, busy.clone()).unwrap();
        drain(&mut layer);
        b.iter_batched(
            || invite.clone(),
            |invite| {
                let incoming = layer.handle_message(t0, peer(), invite).unwrap();
                drain(&mut layer);
                incoming
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// A layer with `live` UDP non-INVITE client transactions whose start times are spread
/// evenly over one Timer F period, so timers fire, retransmit and time out at a steady rate.
struct SteadyState {
    layer: TransactionLayer,
    rng: SmallRng,
    now: Instant,
    to: SocketAddr,
    request: Message,
}

impl SteadyState {
    fn new(live: usize) -> Self {
        let mut s = SteadyState {
            layer: TransactionLayer::new(LayerConfig::default()),
            rng: SmallRng::seed_from_u64(1),
            now: wall_clock(),
            to: "198.51.100.20:5060".parse().unwrap(),
            request: Message::request(Method::Options, "sip:agent@198.51.100.20")
                .with("Max-Forwards", "70")
                .with("From", "<sip:switchboard@switchboard.local>;tag=sb1")
                .with("To", "<sip:agent@198.51.100.20>")
                .with("Call-ID", "keepalive@switchboard.local")
                .with("CSeq", "1 OPTIONS"),
        };
        let period = Duration::from_secs(32);
        let step = period / live as u32;
        for _ in 0..live {
            s.now += step;
            let ended = s.tick();
            s.refill(ended + 1);
        }
        assert_eq!(s.layer.len(), live);
        s
    }

    /// `handle_timeout` at the current time and a full drain; returns how many ended.
    fn tick(&mut self) -> usize {
        self.layer.handle_timeout(self.now);
        let mut ended = 0;
        while let Some(o) = self.layer.poll_output() {
            if matches!(o, LayerOutput::Event(_, TransactionEvent::Terminated)) {
                ended += 1;
            }
            black_box(o);
        }
        ended
    }

    fn refill(&mut self, n: usize) {
        for _ in 0..n {
            let mut request = self.request.clone();
            request.push_front(
                "Via",
                format!(
                    "SIP/2.0/UDP 203.0.113.1:5060;branch={}",
                    new_branch(&mut self.rng)
                ),
            );
            self.layer
                .send_request(
                    self.now,
                    self.to,
                    switchboard::sip::transport::Transport::Udp,
                    request,
                )
                .unwrap();
            while let Some(o) = self.layer.poll_output() {
                black_box(o);
            }
        }
    }
}

fn timeouts_with_10k_live(c: &mut Criterion) {
    const LIVE: usize = 10_000;
    let mut group = c.benchmark_group("transaction_layer");

    // Each iteration advances virtual time by 1 ms: about 3 retransmissions and 0.3 timeouts
    // fall due per ms with 10k transactions. Replacing the ones that ended is not timed.
    group.bench_function("handle_timeout_1ms_step_10k_live_client", |b| {
        b.iter_custom(|iters| {
            let mut s = SteadyState::new(LIVE);
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                s.now += Duration::from_millis(1);
                let started = wall_clock();
                let ended = s.tick();
                timed += started.elapsed();
                s.refill(ended);
            }
            timed
        })
    });

    // Nothing due: the cost of asking, which must not depend on the number of transactions.
    group.bench_function("handle_timeout_nothing_due_10k_live_client", |b| {
        let mut s = SteadyState::new(LIVE);
        s.tick();
        b.iter(|| {
            s.layer.handle_timeout(s.now);
            black_box(s.layer.poll_timeout())
        })
    });
    group.finish();
}

criterion_group!(benches, server_transaction, timeouts_with_10k_live);
criterion_main!(benches);

//! Tests of `layer`.
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
    let matched = layer.match_key(&key).unwrap();
    assert_eq!(matched.method(), &Method::Options);
    assert!(!matched.is_client());
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
        [LayerOutput::Transmit { to, transport: Transport::Udp, .. }] if *to == peer()
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
    assert_eq!(
        layer.match_key(&cancel_key).unwrap().method(),
        &Method::Cancel
    );
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
    assert!(matches!(
        layer.match_key(&key),
        Some(MatchKey::Rfc2543 { .. })
    ));
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
        .send_request(start, to, Transport::Udp, invite.clone())
        .unwrap();
    assert!(layer.match_key(&key).unwrap().is_client());
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
        .send_request(start + ms(60), to, Transport::Udp, cancel.clone())
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
        .send_request(start, to, Transport::Udp, invite.clone())
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

/// RFC 3261 §9.1: an INVITE whose CANCEL brings no final answer is given up 64·T1 after the
/// CANCEL, whichever TU sent it.
#[test]
fn sending_a_cancel_bounds_the_wait_of_its_invite_to_64_t1() {
    let start = t0();
    let mut layer = layer();
    let to: SocketAddr = "198.51.100.5:5060".parse().unwrap();
    let invite = request(Method::Invite, "UDP", "z9hG4bKring");
    let key = layer
        .send_request(start, to, Transport::Udp, invite.clone())
        .unwrap();
    let _ = layer.handle_message(start + ms(50), to, response(&invite, 180));
    let cancel = request(Method::Cancel, "UDP", "z9hG4bKring");
    layer
        .send_request(start + ms(1_000), to, Transport::Udp, cancel)
        .unwrap();
    let _ = drain(&mut layer);
    layer.handle_timeout(start + ms(1_000 + 32_000 - 1));
    assert!(layer.contains(&key), "still waiting just before 64·T1");
    layer.handle_timeout(start + ms(1_000 + 32_000));
    assert!(!layer.contains(&key));
    assert!(
        drain(&mut layer)
            .iter()
            .any(|o| matches!(o, LayerOutput::Event(k, TransactionEvent::Timeout) if *k == key)),
        "the TU hears the INVITE timed out"
    );
}

#[test]
fn accepted_invite_client_passes_2xx_retransmissions_up_with_its_key() {
    let start = t0();
    let mut layer = layer();
    let to: SocketAddr = "198.51.100.5:5060".parse().unwrap();
    let invite = request(Method::Invite, "UDP", "z9hG4bKout3");
    let key = layer
        .send_request(start, to, Transport::Udp, invite.clone())
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
    let key = layer
        .send_request(start, to, Transport::Tcp, bye.clone())
        .unwrap();
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
    let k1 = layer
        .send_request(start, to, Transport::Udp, options)
        .unwrap();
    let k2 = layer
        .send_request(start + ms(100), to, Transport::Udp, invite)
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
        .send_request(start, to, Transport::Udp, options.clone())
        .unwrap();
    assert_eq!(
        layer.send_request(start, to, Transport::Udp, options.clone()),
        Err(TransactionError::Duplicate)
    );
    let ack = request(Method::Ack, "UDP", "z9hG4bKack");
    assert_eq!(
        layer.send_request(start, to, Transport::Udp, ack),
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
        .send_request(start + ms(1000), peer(), Transport::Udp, options)
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
            Transport::Tcp,
            request(Method::Options, "TCP", "z9hG4bKte1"),
        )
        .unwrap();
    layer
        .send_request(
            start,
            b,
            Transport::Tcp,
            request(Method::Options, "TCP", "z9hG4bKte2"),
        )
        .unwrap();
    let _ = drain(&mut layer);
    layer.handle_transport_error(start + ms(1), a, Transport::Tcp);
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
            .send_request(start, to, Transport::Udp, invite.clone())
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

#[test]
fn an_accepted_invite_server_sends_the_tus_2xx_again_until_timer_l_ends_it() {
    let start = t0();
    let mut layer = layer();
    let invite = request(Method::Invite, "UDP", "z9hG4bKlinger");
    let key = new_request(&mut layer, start, &invite);
    let ok = response(&invite, 200);
    let statuses = |out: Vec<LayerOutput>| -> Vec<Option<u16>> {
        transmitted(&out).iter().map(Message::status).collect()
    };
    layer
        .send_response(start + ms(10), &key, ok.clone())
        .unwrap();
    assert_eq!(statuses(drain(&mut layer)), vec![Some(200)]);
    // The 2xx's own retransmissions are the TU's (RFC 6026); nothing else may follow it.
    layer.send_response(start + ms(510), &key, ok).unwrap();
    assert_eq!(statuses(drain(&mut layer)), vec![Some(200)]);
    assert_eq!(
        layer.send_response(start + ms(520), &key, response(&invite, 486)),
        Err(TransactionError::ResponseNotAllowed {
            status: 486,
            state: "Accepted"
        })
    );
    assert_eq!(
        layer
            .handle_message(start + ms(600), peer(), invite)
            .unwrap(),
        Incoming::Absorbed
    );
    assert_eq!(drain(&mut layer), vec![]);
    let timer_l = start + ms(10) + ms(500) * 64;
    assert_eq!(layer.poll_timeout(), Some(timer_l));
    layer.handle_timeout(timer_l - ms(1));
    assert!(layer.contains(&key));
    layer.handle_timeout(timer_l);
    assert_eq!(
        drain(&mut layer),
        vec![LayerOutput::Event(
            key.clone(),
            TransactionEvent::Terminated
        )]
    );
    assert!(layer.is_empty());
    assert_eq!(layer.poll_timeout(), None);
}

#[test]
fn taking_the_transmits_leaves_the_events_queued_in_order() {
    let start = t0();
    let mut layer = layer();
    // Over TCP a non-INVITE server transaction ends with its final response (Timer J is 0).
    let mut answer = |branch: &str, transport: &str| {
        let options = request(Method::Options, transport, branch);
        let key = new_request(&mut layer, start, &options);
        layer
            .send_response(start, &key, response(&options, 200))
            .unwrap();
        key
    };
    let over_tcp = answer("z9hG4bKtcp1", "TCP");
    let _over_udp = answer("z9hG4bKudp1", "UDP");
    let mut sent = Vec::new();
    layer.take_transmits(|to, _, bytes| sent.push((to, Message::parse(&bytes).unwrap())));
    let branches: Vec<String> = sent
        .iter()
        .map(|(to, m)| {
            assert_eq!(*to, peer());
            m.top_via().unwrap().param("branch").unwrap().to_owned()
        })
        .collect();
    assert_eq!(branches, ["z9hG4bKtcp1", "z9hG4bKudp1"]);
    assert_eq!(
        drain(&mut layer),
        vec![LayerOutput::Event(over_tcp, TransactionEvent::Terminated)]
    );
}

//! Trunks, outbound routes and DIDs replaced while the switch runs (issue 15 item 1): the
//! runtime hands over the complete new set after each change through the admin API, gateway
//! names already resolved, and the switch swaps it in. Nothing here cuts a call: a call up
//! keeps its legs and the trunk channel it holds (counted by trunk name, so a trunk kept
//! keeps its count); a call still trying gateways skips those of a trunk gone since. A new
//! INVITE is judged by the new set alone. Registrations follow (see `trunk_registration`).

use super::switch::Switch;
use super::trunks::TrunkSet;
use std::time::Instant;

impl Switch {
    /// Replaces every trunk, outbound route and DID with `trunks`: registrations of trunks
    /// removed or changed stop (a held binding is removed with `Expires: 0`), those of new
    /// registering trunks start at the next timeout, the others go on untouched.
    pub fn set_trunks(&mut self, now: Instant, trunks: TrunkSet) {
        let TrunkSet {
            inbound,
            outbound,
            routes,
            dids,
        } = trunks;
        self.cfg.trunks = inbound;
        self.cfg.outbound_trunks = outbound;
        self.cfg.dialing.routes = routes;
        self.cfg.dialing.dids = dids;
        // A clock that went backwards only delays the new registrations to the last `now`.
        let now = now.max(self.last_now);
        self.sync_trunk_registrations(now);
        self.drain_layer(now);
    }
}

#[cfg(test)]
mod tests {
    //! ```text
    //!  old carrier 192.0.2.10      switch      new carrier 198.51.100.7
    //!    | INVITE 7000 ------------->|                 |
    //!    |<--------------------- 200 |<-- INVITE DID --|  403 (no trunk yet)
    //!    :          set_trunks: old carrier out, new carrier and its DID in
    //!    |  (call stays up)          |<-- INVITE DID --|
    //!    | INVITE 7000 ------------->|-------- 200 --->|  reaches queue sales
    //!    |<--------------------- 403 |                 |
    //! ```

    use super::super::lab::Lab;
    use super::super::model::QueueEvent;
    use super::super::trunk_registration::TrunkRegistrationState;
    use super::super::trunk_registration_tests::registered;
    use super::super::trunk_tests::{carrier, lab_with, queue_invite};
    use super::super::trunks::{InboundTrunk, OutboundTrunk, TrunkCredentials, TrunkSet};
    use crate::sip::message::Message;
    use std::collections::HashMap;
    use std::net::SocketAddr;
    use std::time::Duration;

    /// A customer's INVITE from `from` to `number`, its own transaction and call.
    fn invite(from: SocketAddr, number: &str, n: u32) -> Message {
        let mut invite = queue_invite(from, n, None);
        invite.set_request_uri(format!("sip:{number}@{}", super::super::lab::DOMAIN));
        invite.set("Call-ID", format!("call-{n}-{from}"));
        invite
    }

    fn arrivals(lab: &Lab) -> usize {
        lab.queue_events
            .iter()
            .filter(|e| matches!(e, QueueEvent::Arrived { .. }))
            .count()
    }

    #[test]
    fn new_trunks_reach_a_queue_through_their_did_and_a_removed_trunk_is_refused_403() {
        let mut lab = lab_with(vec![carrier(true)]);
        let old: SocketAddr = "192.0.2.10:5060".parse().unwrap();
        let new: SocketAddr = "198.51.100.7:5060".parse().unwrap();
        lab.send(old, &invite(old, "7000", 1));
        lab.take(old, "200");
        lab.send(new, &invite(new, "+33123450000", 2));
        lab.take(new, "403");
        assert_eq!(arrivals(&lab), 1);
        lab.take_all(old);

        lab.set_trunks(TrunkSet {
            inbound: vec![InboundTrunk {
                name: "new-carrier".into(),
                sources: vec!["198.51.100.0/24".parse().unwrap()],
                trusted: true,
                max_channels: 5,
                ..Default::default()
            }],
            dids: HashMap::from([("+33123450000".into(), "7000".into())]),
            ..TrunkSet::default()
        });
        assert_eq!(lab.sw.call_count(), 1, "the old carrier's call stays up");
        assert_eq!(lab.sw.trunk_channels.in_use("carrier"), 1);
        assert!(lab.take_all(old).is_empty(), "and hears nothing of it");

        // The national form of the DID, as carriers often send it.
        lab.send(new, &invite(new, "0123450000", 3));
        lab.take(new, "200");
        assert_eq!(arrivals(&lab), 2, "the new carrier's DID reached the queue");
        assert_eq!(lab.sw.trunk_channels.in_use("new-carrier"), 1);

        lab.send(old, &invite(old, "7000", 4));
        let refused = lab.take(old, "403");
        assert!(refused.header("Proxy-Authenticate").is_none());
        assert_eq!(arrivals(&lab), 2);
    }

    fn registering(name: &str, gateway: &str) -> OutboundTrunk {
        OutboundTrunk {
            name: name.into(),
            gateways: vec![gateway.parse().unwrap()],
            max_channels: 0,
            caller_id: None,
            credentials: Some(TrunkCredentials {
                username: "acct".into(),
                password: "secret".into(),
            }),
            register: Some(Duration::from_secs(600)),
            ..Default::default()
        }
    }

    #[test]
    fn a_removed_trunk_unregisters_a_new_one_registers_and_an_unchanged_set_sends_nothing() {
        let mut lab = registered();
        let old: SocketAddr = "192.0.2.10:5060".parse().unwrap();
        let new: SocketAddr = "192.0.2.20:5060".parse().unwrap();
        lab.take_all(old);
        let set = TrunkSet {
            outbound: vec![registering("carrier-2", "192.0.2.20:5060")],
            ..TrunkSet::default()
        };
        lab.set_trunks(set.clone());
        let unregister = lab.take(old, "REGISTER");
        assert_eq!(unregister.header("Expires"), Some("0"));
        assert!(unregister.header("Authorization").is_none());
        lab.advance(Duration::ZERO);
        let register = lab.take(new, "REGISTER");
        assert_eq!(register.header("Expires"), Some("600"));
        let all = lab.sw.trunk_registrations(lab.now);
        assert_eq!(all.len(), 1, "{all:?}");
        assert_eq!(all[0].trunk, "carrier-2");
        assert_eq!(all[0].state, TrunkRegistrationState::Registering);
        // The old registrar's late answers are no one's.
        lab.send(old, &Message::response_to(&unregister, 200, "OK"));

        // The same set again (another trunk's change, say): no REGISTER storm.
        lab.set_trunks(set);
        lab.advance(Duration::ZERO);
        assert!(lab.take_all(new).is_empty());
        assert!(lab.take_all(old).is_empty());
        assert_eq!(lab.sw.trunk_registrations(lab.now).len(), 1);
    }
}

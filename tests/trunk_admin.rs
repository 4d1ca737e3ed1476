//! Trunks and DIDs added through the admin API while the switch runs, against SIPp on
//! loopback: an address that is no trunk is refused 403 without a challenge; once a trunk
//! for it and a DID are created through the API, its caller dialling the DID reaches the
//! queue, with no restart; once they are deleted, it is refused again. The rules are proven
//! in virtual time in `src/call/trunk_config.rs` and the API's checks in `src/cti/trunks.rs`.
// Test harnesses are the IO side: they read the clock to bound waits.
#![allow(clippy::disallowed_methods)]

mod common;

use common::desktop::{call, ok, provision, wait_until};
use common::*;
use serde_json::json;

/// `127.0.0.2` calls `number` and expects 403 without a challenge.
fn refused(sw: &SwitchProcess, number: &str) {
    Sipp::new("uac_refused_unchallenged", free_udp_port())
        .bind_ip("127.0.0.2")
        .arg("-s")
        .arg(number)
        .run(sw.sip);
}

#[test]
fn a_trunk_and_did_created_through_the_api_let_a_new_carrier_reach_the_queue_at_once() {
    // The lab trunk is 127.0.0.1 alone; 127.0.0.2 is nobody yet.
    let sw = SwitchProcess::start(SwitchOptions {
        profile_edits: vec![(
            r#"inbound_sources = ["127.0.0.0/8", "::1"]"#,
            r#"inbound_sources = ["127.0.0.1"]"#.into(),
        )],
        ..SwitchOptions::default()
    });
    provision(&sw, 10, &[]);
    let admin = sw.cti_token().to_owned();
    refused(&sw, "+33123450000");

    let trunk = json!({"name": "carrier-2", "inbound_sources": ["127.0.0.2"], "trusted": true});
    ok(&sw, "POST", "/api/v1/trunks", &admin, trunk);
    let did = json!({"number": "+33123450000", "to": "7000"});
    ok(&sw, "POST", "/api/v1/dids", &admin, did);
    let (status, trunks) = call(&sw, "GET", "/api/v1/trunks", &admin, None);
    assert_eq!(status, 200, "{trunks}");
    let listed = trunks
        .as_array()
        .and_then(|all| all.iter().find(|t| t["name"] == "carrier-2"))
        .unwrap_or_else(|| panic!("the switch uses carrier-2: {trunks}"));
    assert_eq!(listed["source"], "database");
    assert_eq!(listed["inbound_sources"], json!(["127.0.0.2/32"]));

    // The carrier delivers the DID in national form; the caller waits 1.5 s, then hangs up.
    Sipp::new("uac_queue_hangup", free_udp_port())
        .bind_ip("127.0.0.2")
        .arg("-s")
        .arg("0123450000")
        .arg("-d")
        .arg("1500")
        .key("caller", "+33612345679")
        .run(sw.sip);
    wait_until("the new carrier's caller waited in queue sales", || {
        let (_, page) = call(
            &sw,
            "GET",
            "/api/v1/interactions?number=%2B33612345679",
            &admin,
            None,
        );
        page["items"][0]["queue"] == "sales" && page["items"][0]["state"] == "ended"
    });

    // Deleted through the API: refused again at once.
    let (status, body) = call(&sw, "DELETE", "/api/v1/trunks/carrier-2", &admin, None);
    assert_eq!(status, 204, "{body}");
    refused(&sw, "0123450000");
    let (status, body) = call(&sw, "DELETE", "/api/v1/dids/0123450000", &admin, None);
    assert_eq!(status, 204, "{body}");
}

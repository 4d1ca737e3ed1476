//! Attacks on the CTI API, each played against the real router: password guessing, sessions
//! that outlive their grant, agent-scoped commands without an agent, a colleague's phone.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::test_support::{Api, token_for_role};
use super::{LoginGuard, LoginPolicy, RateLimiter, app};
use crate::routing::model::Role;

const LOGIN: &str = "/api/v1/sessions";

/// The API with small thresholds: 3 failures lock a pair out, 6 ban the address.
async fn guarded_api() -> Api {
    let mut api = Api::new().await;
    let policy = LoginPolicy {
        lockout_after: 3,
        lockout: Duration::from_secs(600),
        ban_after: 6,
        ban: Duration::from_secs(3600),
        window: Duration::from_secs(600),
    };
    api.state = api.state.clone().with_login_protection(
        RateLimiter::new(1000, Duration::from_secs(1)),
        LoginGuard::new(policy),
    );
    api
}

/// A login attempt from `from`; the status and the error code (or the token).
async fn login(api: &Api, from: &str, agent: &str, password: &str) -> (StatusCode, String) {
    let addr: SocketAddr = format!("{from}:40000").parse().unwrap();
    let mut request = Request::post(LOGIN)
        .header("content-type", "application/json")
        .body(Body::from(
            json!({"agent_id": agent, "password": password}).to_string(),
        ))
        .unwrap();
    request.extensions_mut().insert(ConnectInfo(addr));
    let (status, json) = api.send(request).await;
    let what = json["token"]
        .as_str()
        .or(json["error"]["code"].as_str())
        .unwrap_or_default()
        .to_owned();
    (status, what)
}

#[tokio::test]
async fn a_dictionary_attack_is_locked_out_then_banned_while_a_login_from_elsewhere_works() {
    let api = guarded_api().await;
    api.agent("alice", Role::Agent, None).await;
    api.agent("bob", Role::Agent, None).await;
    let admin = api.agent("root", Role::Admin, None).await;
    let attacker = "203.0.113.9";

    let mut alice_tries = Vec::new();
    for guess in ["123456", "password", "alice", "pw-alice"] {
        alice_tries.push(login(&api, attacker, "alice", guess).await);
    }
    let statuses: Vec<u16> = alice_tries.iter().map(|(s, _)| s.as_u16()).collect();
    assert_eq!(statuses, [401, 401, 401, 429], "{alice_tries:?}");
    assert_eq!(
        alice_tries[3].1, "rate_limited",
        "locked out: even the right password is refused from there"
    );

    // Moving on to the next agent: three more failures ban the address outright.
    for guess in ["123456", "password", "bob"] {
        assert_eq!(login(&api, attacker, "bob", guess).await.0, 401);
    }
    let (status, code) = login(&api, attacker, "bob", "pw-bob").await;
    assert_eq!((status.as_u16(), code.as_str()), (429, "address_banned"));
    let (status, code) = login(&api, attacker, "carol", "x").await;
    assert_eq!((status.as_u16(), code.as_str()), (429, "address_banned"));

    let (status, token) = login(&api, "198.51.100.7", "alice", "pw-alice").await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "alice from her own desk: {token}"
    );

    let (status, blocks) = api
        .call(Method::GET, "/api/v1/login-blocks", Some(&admin), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(blocks[0]["address"], attacker, "{blocks}");
    assert!(
        blocks[0].get("agent").is_none(),
        "the ban comes first: {blocks}"
    );
    assert!(
        blocks
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["agent"] == "alice"),
        "{blocks}"
    );

    let (status, json) = api
        .call(
            Method::DELETE,
            "/api/v1/login-blocks/not-an-ip",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(json["error"]["field"], "address");
    let lift = format!("/api/v1/login-blocks/{attacker}");
    let (status, _) = api.call(Method::DELETE, &lift, Some(&admin), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        login(&api, attacker, "bob", "pw-bob").await.0,
        StatusCode::CREATED,
        "lifted"
    );
}

#[tokio::test]
async fn an_attacker_cannot_lock_a_victim_out_from_another_address() {
    let api = guarded_api().await;
    api.agent("victim", Role::Agent, None).await;
    for _ in 0..10 {
        login(&api, "203.0.113.66", "victim", "wrong").await;
    }
    let (status, _) = login(&api, "192.0.2.10", "victim", "pw-victim").await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn only_admins_see_and_lift_login_blocks() {
    let api = guarded_api().await;
    let sup = api.agent("sue", Role::Supervisor, None).await;
    let (status, _) = api
        .call(Method::GET, "/api/v1/login-blocks", Some(&sup), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let admin = api.agent("root", Role::Admin, None).await;
    let (status, _) = api
        .call(
            Method::DELETE,
            "/api/v1/login-blocks/192.0.2.1",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing to lift");
}

#[tokio::test]
async fn a_password_change_a_demotion_and_a_deletion_through_the_api_end_sessions() {
    let api = Api::new().await;
    let admin = api.agent("root", Role::Admin, None).await;
    let body = |role: &str, password: Option<&str>| {
        let mut body = json!({"id": "sue", "name": "Sue", "role": role});
        if let Some(password) = password {
            body["password"] = json!(password);
        }
        body.to_string()
    };
    let works = |token: String| {
        let api = &api;
        async move {
            let (status, _) = api
                .call(Method::GET, "/api/v1/interactions", Some(&token), None)
                .await;
            status == StatusCode::OK
        }
    };

    let sue = api.agent("sue", Role::Supervisor, None).await;
    let (status, _) = api
        .call(
            Method::PUT,
            "/api/v1/agents/sue",
            Some(&admin),
            Some(&body("supervisor", Some("a-new-password"))),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!works(sue).await, "password change");

    let (_, session) = api
        .call(
            Method::POST,
            LOGIN,
            None,
            Some(&json!({"agent_id": "sue", "password": "a-new-password"}).to_string()),
        )
        .await;
    let sue = session["token"].as_str().unwrap().to_owned();
    assert!(works(sue.clone()).await);
    let (status, _) = api
        .call(
            Method::PUT,
            "/api/v1/agents/sue",
            Some(&admin),
            Some(&body("agent", None)),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!works(sue).await, "demotion");

    let mint = json!({"role": "agent", "name": "sue's bot", "expires_in": 3600, "agent_id": "sue"});
    let (_, minted) = api
        .call(
            Method::POST,
            "/api/v1/tokens",
            Some(&admin),
            Some(&mint.to_string()),
        )
        .await;
    let bot = minted["token"].as_str().unwrap().to_owned();
    assert!(works(bot.clone()).await);
    let (status, _) = api
        .call(Method::DELETE, "/api/v1/agents/sue", Some(&admin), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = api
        .call(
            Method::POST,
            "/api/v1/agents",
            Some(&admin),
            Some(&body("agent", Some("re-created-pw"))),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(
        !works(bot).await,
        "deletion revoked the API token; re-creating the id revives nothing"
    );
}

#[tokio::test]
async fn an_agent_token_acting_for_no_agent_is_refused_agent_scoped_commands() {
    let api = Api::with_core().await;
    let token = token_for_role(api.store(), Role::Agent).await;
    for (method, uri, body) in [
        (
            Method::POST,
            "/api/v1/interactions/ix-1/recording/pause",
            Some("{}"),
        ),
        (
            Method::POST,
            "/api/v1/interactions/ix-1/recording/resume",
            None,
        ),
        (
            Method::PUT,
            "/api/v1/interactions/ix-1/noise-suppression",
            Some(r#"{"enabled": false}"#),
        ),
        (Method::POST, "/api/v1/interactions/ix-1/end", None),
        (Method::POST, "/api/v1/interactions/ix-1/hold", None),
    ] {
        let (status, json) = api.call(method, uri, Some(&token), body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{uri}: {json}");
        assert_eq!(json["error"]["code"], "forbidden");
    }
}

#[tokio::test]
async fn an_agent_logs_in_on_its_own_extension_only_unless_an_admin_allows_otherwise() {
    let api = Api::with_core().await;
    let admin = api.agent("root", Role::Admin, None).await;
    for (id, extension) in [("alice", "1001"), ("bob", "1002")] {
        let agent = json!({"id": id, "name": id, "password": format!("{id}-password"),
            "extension": extension, "role": "agent"});
        let (status, json) = api
            .call(
                Method::POST,
                "/api/v1/agents",
                Some(&admin),
                Some(&agent.to_string()),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{json}");
    }
    let credentials = json!({"agent_id": "alice", "password": "alice-password"}).to_string();
    let (_, session) = api
        .call(Method::POST, LOGIN, None, Some(&credentials))
        .await;
    let alice = session["token"].as_str().unwrap().to_owned();
    let on = |extension: &str| json!({"extension": extension}).to_string();
    let login = "/api/v1/agents/alice/login";

    let (status, json) = api
        .call(Method::POST, login, Some(&alice), Some(&on("1002")))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{json}");
    assert_eq!(json["error"]["field"], "extension");
    let (status, json) = api
        .call(Method::POST, login, Some(&alice), Some(&on("1050")))
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a free desk: {json}"
    );

    let (status, _) = api
        .call(
            Method::PUT,
            "/api/v1/settings",
            Some(&admin),
            Some(r#"{"agents_may_choose_extension": true}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, json) = api
        .call(Method::POST, login, Some(&alice), Some(&on("1002")))
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "bob's, still: {json}"
    );
    let (status, json) = api
        .call(Method::POST, login, Some(&alice), Some(&on("1050")))
        .await;
    assert_eq!(status, StatusCode::OK, "hot desking allowed: {json}");
    assert_eq!(json["extension"], "1050");

    let (status, json) = api
        .call(
            Method::POST,
            "/api/v1/agents/bob/login",
            Some(&admin),
            Some("{}"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "bob on his own: {json}");
    assert_eq!(json["extension"], "1002");
}

/// Reads the next chunk of a streaming body, or `None` when the stream has ended.
async fn next_chunk(body: &mut Body) -> Option<String> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
            .await
            .expect("the stream answers within 5 s")?
            .ok()?;
        if let Ok(data) = frame.into_data() {
            return Some(String::from_utf8_lossy(&data).into_owned());
        }
    }
}

#[tokio::test]
async fn a_revoked_tokens_open_event_stream_is_closed() {
    let api = Api::new().await;
    let sue = api.agent("sue", Role::Supervisor, None).await;
    let admin = api.agent("root", Role::Admin, None).await;
    let request = Request::get("/api/v1/events")
        .header("authorization", format!("Bearer {sue}"))
        .body(Body::empty())
        .unwrap();
    let response = app(api.state.clone()).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();

    api.state.bus.publish(
        "queue.stats",
        0,
        crate::bus::events::Audience::Everyone,
        json!({}),
    );
    let first = next_chunk(&mut body).await.unwrap();
    assert!(first.contains("queue.stats"), "{first}");

    let (status, _) = api
        .call(
            Method::PUT,
            "/api/v1/agents/sue",
            Some(&admin),
            Some(r#"{"id": "sue", "name": "Sue", "role": "agent"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let last = next_chunk(&mut body).await.unwrap();
    assert!(
        last.contains("session.ended") && last.contains("revoked"),
        "{last}"
    );
    assert_eq!(next_chunk(&mut body).await, None, "then the stream ends");
}

#[tokio::test]
async fn an_event_stream_ends_when_its_token_expires() {
    let api = Api::new().await;
    api.agent("sue", Role::Supervisor, None).await;
    let now = crate::clock::unix_ms();
    let (token, _) = api
        .store()
        .issue_token(
            crate::store::TokenKind::Session,
            "",
            Role::Supervisor,
            Some(&"sue".into()),
            crate::store::UnixMillis(now),
            crate::store::UnixMillis(now + 700),
        )
        .await
        .unwrap();
    let request = Request::get("/api/v1/events")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let response = app(api.state.clone()).oneshot(request).await.unwrap();
    let mut body = response.into_body();
    let last = next_chunk(&mut body).await.unwrap();
    assert!(
        last.contains("session.ended") && last.contains("expired"),
        "{last}"
    );
    assert_eq!(next_chunk(&mut body).await, None);
}

#[tokio::test]
async fn a_websocket_opens_with_a_single_use_ticket_never_a_token_and_closes_on_logout() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;

    let api = Api::new().await;
    let sue = api.agent("sue", Role::Supervisor, None).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = crate::runtime::http::HttpLimits {
        header_read_timeout: Duration::from_secs(5),
        max_connections: 16,
    };
    tokio::spawn(crate::runtime::http::serve(
        listener,
        app(api.state.clone()),
        limits,
        None,
    ));

    let (status, json) = api
        .call(
            Method::GET,
            &format!("/api/v1/events?token={sue}"),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "no token in URLs: {json}");
    assert_eq!(json["error"]["field"], "token");

    let (status, ticket) = api
        .call(Method::POST, "/api/v1/events/tickets", Some(&sue), None)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{ticket}");
    let url = format!(
        "ws://{addr}/api/v1/events?ticket={}",
        ticket["ticket"].as_str().unwrap()
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let again = tokio_tungstenite::connect_async(&url).await;
    assert!(again.is_err(), "a ticket works once");

    let (status, _) = api
        .call(Method::DELETE, "/api/v1/sessions/current", Some(&sue), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let mut seen: Vec<Message> = Vec::new();
    while let Ok(Some(Ok(message))) =
        tokio::time::timeout(Duration::from_secs(5), socket.next()).await
    {
        let closing = message.is_close();
        seen.push(message);
        if closing {
            break;
        }
    }
    let text: Vec<Value> = seen
        .iter()
        .filter_map(|m| m.to_text().ok())
        .filter_map(|t| serde_json::from_str(t).ok())
        .collect();
    assert_eq!(
        text.last().map(|e| e["type"].clone()),
        Some(json!("session.ended"))
    );
    assert!(
        matches!(seen.last(), Some(Message::Close(Some(frame))) if u16::from(frame.code) == 1008),
        "{seen:?}"
    );
}

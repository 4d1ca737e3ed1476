//! What every desktop command tells the event stream, whoever sent it (agent, supervisor,
//! admin or API token): a success event, and on a refusal (any 4xx the handler answers) a
//! `<command>.failed` event, so a desktop that did not send the command still learns what
//! happened and why nothing changed. Both go to the agent concerned (the agent commanded, or
//! the interaction's agent), the sender if it is another agent, supervisors of their teams
//! and admins.
//!
//! | command (route) | success event | refusal |
//! | --- | --- | --- |
//! | `POST /agents/{id}/login` | `agent.state_changed` | `agent.login.failed` |
//! | `POST /agents/{id}/logout` | `agent.state_changed` | `agent.logout.failed` |
//! | `PUT /agents/{id}/state` | `agent.state_changed` | `agent.state_change.failed` |
//! | `POST /agents/{id}/outdial` | `interaction.outdial` | `agent.outdial.failed` |
//! | `POST .../accept` | `interaction.accepted` | `interaction.accept.failed` |
//! | `POST .../decline` | `interaction.declined` | `interaction.decline.failed` |
//! | `POST .../end` | `interaction.ended` | `interaction.end.failed` |
//! | `POST .../hold`, `.../resume` | `interaction.held`, `interaction.resumed` | `interaction.hold.failed`, `interaction.resume.failed` |
//! | `POST .../transfer` | `interaction.transferred` | `interaction.transfer.failed` |
//! | `POST .../consult` | `consult.requested` | `interaction.consult.failed` |
//! | `POST .../consult/end` | `consult.ended` | `interaction.consult.end.failed` |
//! | `POST .../consult/transfer` | `interaction.transferred` | `interaction.consult.transfer.failed` |
//! | `POST .../consult/conference` | `conference.started` | `interaction.conference.failed` |
//! | `POST .../conference/leave` | `consult.ended` or `interaction.transferred` | `interaction.conference.leave.failed` |
//! | `POST .../conference/participants/{p}/drop` | `consult.ended` | `interaction.conference.drop.failed` |
//! | `POST .../recording/pause`, `.../resume` | `recording.paused`, `recording.resumed` | `recording.pause.failed`, `recording.resume.failed` |
//! | `PUT .../noise-suppression` | `interaction.noise_suppression_changed` | `interaction.noise_suppression.failed` |
//! | `POST .../wrapup` | `interaction.wrapped_up` | `interaction.wrapup.failed` |
//! | `PUT .../notes` | `interaction.notes_changed` | `interaction.notes.failed` |
//! | `PATCH .../cad` | `interaction.cad_changed` | `interaction.cad.failed` |
//!
//! The success events of the first kind come from the core when the change happens (a phone
//! or a timer can cause them too); the CTI publishes the others here once the change is
//! stored. A `.failed` event's data: `command`, `agent` (concerned), `interaction` (if any),
//! `by` (the sender), `status` (the HTTP status), `reason` (a snake_case code such as
//! `held`, `not_engaged`, `stale_version`, `forbidden`, `invalid_field`), `message` and
//! `field` when one is at fault. Requests whose body or token cannot even be read (400, 401,
//! 415) are not commands yet and raise nothing. Secure CAD values are never in these events.

use serde_json::{Value, json};

use super::ApiState;
use super::agent_session::actor;
use super::auth::Principal;
use super::error::ApiError;
use crate::bus::events::Audience;
use crate::clock;
use crate::routing::model::{AgentId, InteractionId, TeamId};

/// What a command was about, to find the agent concerned.
#[derive(Debug, Clone, Copy)]
pub(super) enum Concerning<'a> {
    /// An agent's session (login, logout, state).
    Agent(&'a AgentId),
    /// An interaction, by id (its agent is looked up).
    Interaction(&'a str),
}

/// Publishes `<command>.failed` when `result` is a refusal (4xx), then returns it unchanged.
pub(super) async fn reported<T>(
    state: &ApiState,
    principal: &Principal,
    command: &str,
    about: Concerning<'_>,
    result: Result<T, ApiError>,
) -> Result<T, ApiError> {
    if let Err(error) = &result
        && error.status().is_client_error()
    {
        let mut data = json!({
            "command": command,
            "status": error.status().as_u16(),
            "reason": error.reason(),
            "message": error.to_string(),
        });
        if let Some(field) = error.field_name() {
            data["field"] = json!(field);
        }
        // Telling whoever may see the event is best effort: the refusal is what matters.
        let kind = format!("{command}.failed");
        if let Err(e) = succeeded(state, principal, &kind, about, data).await {
            tracing::warn!(%e, "could not publish a refusal");
        }
    }
    result
}

/// Publishes `kind` with `data` (to which `agent`, `interaction` and `by` are added): a
/// success event, or from [`reported`] a refusal.
pub(super) async fn succeeded(
    state: &ApiState,
    principal: &Principal,
    kind: &str,
    about: Concerning<'_>,
    mut data: Value,
) -> Result<(), ApiError> {
    let (agent, interaction) = match about {
        Concerning::Agent(agent) => (Some(agent.clone()), None),
        Concerning::Interaction(id) => {
            let owner = state
                .store
                .get_interaction(&InteractionId(id.to_owned()))
                .await?
                .and_then(|ix| ix.agent);
            (owner, Some(id))
        }
    };
    let mut concerned: Vec<AgentId> = agent.iter().cloned().collect();
    if let Some(sender) = &principal.agent
        && !concerned.contains(sender)
    {
        concerned.push(sender.clone());
    }
    let mut audience: Vec<(AgentId, Option<TeamId>)> = Vec::with_capacity(concerned.len());
    for agent in concerned {
        let team = state.store.get_agent(&agent).await?.and_then(|a| a.team);
        audience.push((agent, team));
    }
    let audience = if audience.is_empty() {
        Audience::Supervisors
    } else {
        Audience::Agents(audience)
    };
    if let Value::Object(map) = &mut data {
        map.insert("agent".into(), json!(agent));
        if let Some(id) = interaction {
            map.insert("interaction".into(), json!(id));
        }
        map.insert("by".into(), json!(actor(principal).label()));
    }
    state.bus.publish(kind, clock::unix_ms(), audience, data);
    Ok(())
}

#[cfg(test)]
mod tests {
    use axum::http::{Method, StatusCode};
    use serde_json::{Value, json};

    use crate::bus::events::non_snake_case_keys;
    use crate::cti::interactions::tests::{Cast, cast, cast_on};
    use crate::cti::test_support::Api;
    use crate::routing::model::{InteractionState, Role};
    use crate::store::CadVariable;
    use crate::store::test_support::interaction;

    /// The events of `kind` alice, sue (her supervisor) and bob (another team) see.
    fn seen(c: &Cast, kind: &str) -> [Vec<Value>; 3] {
        let only = |events: Vec<Value>| -> Vec<Value> {
            for event in &events {
                assert_eq!(non_snake_case_keys(event), Vec::<String>::new(), "{event}");
            }
            events.into_iter().filter(|e| e["type"] == kind).collect()
        };
        [
            only(c.api.events_for("alice", Role::Agent, &[])),
            only(c.api.events_for("sue", Role::Supervisor, &["t1"])),
            only(c.api.events_for("bob", Role::Agent, &[])),
        ]
    }

    #[tokio::test]
    async fn a_refused_wrap_up_raises_wrapup_failed_for_the_agent_and_its_supervisor() {
        let c = cast().await;
        let mut live = interaction("ix-live", "+15550003", Some("alice"), 3_000);
        live.state = InteractionState::Connected;
        c.api.store().insert_interaction(&live).await.unwrap();
        let uri = "/api/v1/interactions/ix-live/wrapup";
        let (status, json) = c
            .api
            .call(Method::POST, uri, Some(&c.alice), Some("{}"))
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{json}");
        assert_eq!(json["error"]["reason"], "not_ended");

        let [alice, sue, bob] = seen(&c, "interaction.wrapup.failed");
        assert_eq!(alice.len(), 1, "{alice:?}");
        let data = &alice[0]["data"];
        assert_eq!(
            (
                &data["reason"],
                &data["status"],
                &data["interaction"],
                &data["by"]
            ),
            (
                &json!("not_ended"),
                &json!(409),
                &json!("ix-live"),
                &json!("alice")
            )
        );
        assert_eq!(sue, alice, "the supervisor of alice's team sees it too");
        assert!(bob.is_empty());
    }

    #[tokio::test]
    async fn notes_saved_by_a_supervisor_raise_notes_changed_for_the_agent() {
        let c = cast().await;
        let uri = "/api/v1/interactions/ix-a/notes";
        let body = r#"{"notes": "call back at 5"}"#;
        let (status, json) = c.api.call(Method::PUT, uri, Some(&c.sue), Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{json}");
        let [alice, sue, bob] = seen(&c, "interaction.notes_changed");
        assert_eq!(alice.len(), 1, "{alice:?}");
        assert_eq!(
            alice[0]["data"],
            json!({"interaction": "ix-a", "agent": "alice", "by": "sue", "notes": "call back at 5"})
        );
        assert_eq!(sue, alice);
        assert!(bob.is_empty());

        let (status, _) = c.api.call(Method::PUT, uri, Some(&c.bob), Some(body)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let [alice, _, bob] = seen(&c, "interaction.notes.failed");
        assert_eq!(alice.len(), 1, "the agent concerned learns of the attempt");
        assert_eq!(alice[0]["data"]["reason"], "forbidden");
        assert_eq!(bob, alice, "and so does the sender");
    }

    #[tokio::test]
    async fn cad_edits_raise_cad_changed_or_a_stale_cad_failed_and_never_a_secure_value() {
        let c = cast().await;
        for (key, value, secure) in [("account", "42", false), ("card", "4111111111111111", true)] {
            let var = CadVariable {
                key: key.into(),
                value: value.into(),
                editable: true,
                secure,
                display_order: 0,
                version: 1,
            };
            c.api
                .store()
                .set_cad_variable(&"ix-a".into(), &var)
                .await
                .unwrap();
        }
        let uri = "/api/v1/interactions/ix-a/cad";
        let patch = |token: &str, key: &str, value: &str| {
            let body = json!({"key": key, "value": value, "version": 1}).to_string();
            let (api, token) = (&c.api, token.to_owned());
            async move {
                api.call(Method::PATCH, uri, Some(&token), Some(&body))
                    .await
                    .0
            }
        };
        assert_eq!(patch(&c.alice, "account", "43").await, StatusCode::OK);
        assert_eq!(patch(&c.alice, "account", "44").await, StatusCode::CONFLICT);
        let status = patch(&c.root, "card", "5500000000000004").await;
        assert_eq!(status, StatusCode::OK);

        let [alice, sue, _] = seen(&c, "interaction.cad_changed");
        assert_eq!(alice.len(), 2, "{alice:?}");
        assert_eq!(
            alice[0]["data"],
            json!({"interaction": "ix-a", "agent": "alice", "by": "alice",
                   "key": "account", "value": "43", "version": 2, "secure": false})
        );
        assert_eq!(
            alice[1]["data"],
            json!({"interaction": "ix-a", "agent": "alice", "by": "root",
                   "key": "card", "version": 2, "secure": true})
        );
        assert_eq!(sue, alice);
        let [failed, _, _] = seen(&c, "interaction.cad.failed");
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert_eq!(
            (&failed[0]["data"]["reason"], &failed[0]["data"]["field"]),
            (&json!("stale_version"), &json!("version"))
        );
        let everything = c.api.events_for("root", Role::Admin, &[]);
        let text = serde_json::to_string(&everything).unwrap();
        assert!(!text.contains("4111") && !text.contains("5500"), "{text}");
    }

    #[tokio::test]
    async fn a_refused_recording_pause_raises_recording_pause_failed_with_its_reason() {
        let c = cast_on(Api::with_core().await).await;
        let uri = "/api/v1/interactions/ix-a/recording/pause";
        let (status, json) = c
            .api
            .call(Method::POST, uri, Some(&c.alice), Some("{}"))
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{json}");
        let [alice, sue, bob] = seen(&c, "recording.pause.failed");
        assert_eq!(alice.len(), 1, "{alice:?}");
        let data = &alice[0]["data"];
        assert_eq!(
            (&data["reason"], &data["command"], &data["by"]),
            (
                &json!("not_engaged"),
                &json!("recording.pause"),
                &json!("alice")
            )
        );
        assert_eq!(sue, alice);
        assert!(bob.is_empty());

        let (status, _) = c
            .api
            .call(
                Method::POST,
                uri,
                Some(&c.alice),
                Some(r#"{"behavior": "loud"}"#),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let [alice, _, _] = seen(&c, "recording.pause.failed");
        assert_eq!(
            (&alice[1]["data"]["reason"], &alice[1]["data"]["field"]),
            (&json!("invalid_field"), &json!("behavior"))
        );
    }
}

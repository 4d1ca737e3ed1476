//! Interaction history (the read side; the live call controls go through the ACD):
//! - `GET /api/v1/interactions`: search, newest first, scoped by role (an agent sees its own,
//!   a supervisor its teams' agents', an admin all). Query parameters, all optional: `number`
//!   (ANI or DNIS), `agent`, `queue`, `disposition`, `from`/`to` (creation time; epoch ms or
//!   RFC 3339; `from` inclusive, `to` exclusive), `limit` (1 to 500, default 50), and either
//!   `offset` or `page` (1-based).
//! - `GET /api/v1/interactions/{id}`: one interaction; 403 outside the caller's scope.
//! - `PUT /api/v1/interactions/{id}/notes`: `{"notes": "..."}` replaces the notes.
//! - `POST /api/v1/interactions/{id}/wrapup`: `{"code": "...", "notes": "..."}` closes an
//!   ended interaction (409 while it is live or once wrapped up). An agent who transferred
//!   the interaction away closes its own part instead (kept in `participants`, role
//!   `agent`), whatever the interaction's state; the new agent's wrap-up is untouched. The code must exist and not
//!   be a folder; a queue with `disposition_required` needs one.

use axum::extract::State;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::ApiState;
use super::auth::Principal;
use super::command_events::{Concerning, reported, succeeded};
use super::error::ApiError;
use super::json::ApiJson;
use super::params::ApiPath;
use super::params::QueryParams;
use crate::clock;
use crate::routing::model::{AgentId, InteractionId, QueueId};
use crate::store::{Interaction, InteractionFilter, Page, UnixMillis, WrapUpOutcome};

/// Longest notes, in characters.
pub const MAX_NOTES_CHARS: usize = 4096;
/// Longest search value accepted for `number`, `agent`, `queue` and `disposition`.
const MAX_SEARCH_LEN: usize = 128;

/// The routes of this resource (CAD routes live in `cad`).
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/interactions", get(search))
        .route("/api/v1/interactions/{id}", get(read))
        .route("/api/v1/interactions/{id}/notes", put(notes))
        .route("/api/v1/interactions/{id}/wrapup", post(wrap_up))
}

/// The interaction `id` if `principal` may see it: 404 if it does not exist, 403 if it is
/// outside the caller's scope.
pub(super) async fn visible(
    state: &ApiState,
    principal: &Principal,
    id: &str,
) -> Result<Interaction, ApiError> {
    let ix = state
        .store
        .get_interaction(&InteractionId(id.to_owned()))
        .await?
        .ok_or(ApiError::NotFound)?;
    let agent_team = match &ix.agent {
        Some(agent) => state.store.get_agent(agent).await?.and_then(|a| a.team),
        None => None,
    };
    principal.check_interaction(&ix, agent_team.as_ref())?;
    Ok(ix)
}

fn filter_from(params: QueryParams, principal: &Principal) -> Result<InteractionFilter, ApiError> {
    let params = params.only(&[
        "number",
        "agent",
        "queue",
        "disposition",
        "from",
        "to",
        "limit",
        "offset",
        "page",
    ])?;
    let text = |name: &'static str| -> Result<Option<String>, ApiError> {
        match params.get(name) {
            Some(v) if v.len() > MAX_SEARCH_LEN => Err(ApiError::out_of_range(
                name,
                format!("at most {MAX_SEARCH_LEN} bytes"),
            )),
            v => Ok(v.map(str::to_owned)),
        }
    };
    let mut filter = InteractionFilter::scoped(principal.scope());
    filter.number = text("number")?;
    filter.agent = text("agent")?.map(AgentId);
    filter.queue = text("queue")?.map(QueueId);
    filter.disposition = text("disposition")?;
    filter.from = params.timestamp("from")?;
    filter.to = params.timestamp("to")?;
    if let (Some(from), Some(to)) = (filter.from, filter.to)
        && to < from
    {
        return Err(ApiError::out_of_range(
            "to",
            "must not be earlier than from",
        ));
    }
    if let Some(limit) = params.u64("limit")? {
        filter.limit = u32::try_from(limit)
            .ok()
            .filter(|n| (1..=InteractionFilter::MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::out_of_range(
                    "limit",
                    format!("must be 1 to {}", InteractionFilter::MAX_LIMIT),
                )
            })?;
    }
    filter.offset = match (params.u64("offset")?, params.u64("page")?) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid("page", "give page or offset, not both"));
        }
        (Some(offset), None) => offset,
        (None, Some(0)) => return Err(ApiError::out_of_range("page", "pages start at 1")),
        (None, Some(page)) => (page - 1).saturating_mul(u64::from(filter.limit)),
        (None, None) => 0,
    };
    if i64::try_from(filter.offset).is_err() {
        return Err(ApiError::out_of_range("offset", "too large"));
    }
    Ok(filter)
}

/// Searches interaction history within the caller's scope (any role).
#[utoipa::path(get, path = "/api/v1/interactions", tag = "interactions",
    params(
        ("number" = Option<String>, Query, description = "ANI or DNIS"),
        ("agent" = Option<String>, Query), ("queue" = Option<String>, Query),
        ("disposition" = Option<String>, Query),
        ("from" = Option<String>, Query, description = "epoch ms or RFC 3339, inclusive"),
        ("to" = Option<String>, Query, description = "epoch ms or RFC 3339, exclusive"),
        ("limit" = Option<u32>, Query), ("offset" = Option<u64>, Query),
        ("page" = Option<u64>, Query, description = "1-based; instead of offset")),
    responses((status = 200, description = "{items, total, limit, offset}"), (status = 401)),
    security(("bearer" = [])))]
pub(super) async fn search(
    State(state): State<ApiState>,
    principal: Principal,
    params: QueryParams,
) -> Result<Json<Page<Interaction>>, ApiError> {
    let filter = filter_from(params, &principal)?;
    Ok(Json(state.store.search_interactions(&filter).await?))
}

/// One interaction (any role, within scope).
#[utoipa::path(get, path = "/api/v1/interactions/{id}", tag = "interactions",
    params(("id" = String, Path)),
    responses((status = 200, body = Interaction), (status = 403), (status = 404)),
    security(("bearer" = [])))]
pub(super) async fn read(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Interaction>, ApiError> {
    Ok(Json(visible(&state, &principal, &id).await?))
}

/// New notes for an interaction.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotesBody {
    /// At most 4096 characters.
    pub notes: String,
}

fn check_notes(notes: &str) -> Result<(), ApiError> {
    if notes.chars().count() > MAX_NOTES_CHARS {
        return Err(ApiError::field(
            "notes",
            format!("at most {MAX_NOTES_CHARS} characters"),
        ));
    }
    Ok(())
}

/// Replaces an interaction's notes (any role, within scope).
#[utoipa::path(put, path = "/api/v1/interactions/{id}/notes", tag = "interactions",
    params(("id" = String, Path)), request_body = NotesBody,
    responses((status = 200, body = Interaction), (status = 403), (status = 422)),
    security(("bearer" = [])))]
pub(super) async fn notes(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<NotesBody>,
) -> Result<Json<Interaction>, ApiError> {
    let result = async {
        let mut ix = visible(&state, &principal, &id).await?;
        check_notes(&body.notes)?;
        if !state
            .store
            .set_interaction_notes(&ix.id, &body.notes)
            .await?
        {
            return Err::<Json<Interaction>, _>(ApiError::NotFound);
        }
        ix.notes = body.notes;
        Ok(Json(ix))
    }
    .await;
    let about = Concerning::Interaction(&id);
    let done = reported(&state, &principal, "interaction.notes", about, result).await?;
    let data = json!({"notes": done.notes});
    succeeded(&state, &principal, "interaction.notes_changed", about, data).await?;
    Ok(done)
}

/// The agent whose own part a wrap-up closes: the acting agent, when it handed this
/// interaction over to someone else (transfer). `None` wraps up the interaction itself.
fn own_part(principal: &Principal, ix: &Interaction) -> Option<AgentId> {
    let me = principal.agent.as_ref()?;
    (ix.agent.as_ref() != Some(me) && ix.part_of(me).is_some()).then(|| me.clone())
}

/// Wrap-up of an interaction.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WrapUpBody {
    /// A disposition code (not a folder); required if the queue says so.
    #[serde(default)]
    pub code: Option<String>,
    /// Replaces the notes when present.
    #[serde(default)]
    pub notes: Option<String>,
}

/// Completes wrap-up with a disposition code (any role, within scope).
#[utoipa::path(post, path = "/api/v1/interactions/{id}/wrapup", tag = "interactions",
    params(("id" = String, Path)), request_body = WrapUpBody,
    responses((status = 200, body = Interaction), (status = 403), (status = 409),
        (status = 422)),
    security(("bearer" = [])))]
pub(super) async fn wrap_up(
    State(state): State<ApiState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<WrapUpBody>,
) -> Result<Json<Interaction>, ApiError> {
    let result = async {
        let ix = visible(&state, &principal, &id).await?;
        if let Some(notes) = &body.notes {
            check_notes(notes)?;
        }
        match &body.code {
            Some(code) => match state.store.get_disposition(code).await? {
                Some(c) if !c.folder => {}
                Some(_) => {
                    return Err::<Json<Interaction>, _>(ApiError::field(
                        "code",
                        "is a folder; choose a code inside it",
                    ));
                }
                None => {
                    return Err::<Json<Interaction>, _>(ApiError::field(
                        "code",
                        "no such disposition code",
                    ));
                }
            },
            None => {
                let required = match &ix.queue {
                    Some(q) => state
                        .store
                        .get_queue(q)
                        .await?
                        .is_some_and(|q| q.disposition_required),
                    None => false,
                };
                if required {
                    return Err::<Json<Interaction>, _>(ApiError::field(
                        "code",
                        "this queue requires a disposition code",
                    ));
                }
            }
        }
        let now = UnixMillis(clock::unix_ms());
        let (code, notes) = (body.code.as_deref(), body.notes.as_deref());
        let part = own_part(&principal, &ix);
        let outcome = match &part {
            Some(me) => {
                state
                    .store
                    .wrap_up_part(&ix.id, me, code, notes, now)
                    .await?
            }
            None => {
                state
                    .store
                    .wrap_up_interaction(&ix.id, code, notes, now)
                    .await?
            }
        };
        match outcome {
            WrapUpOutcome::Done => {}
            WrapUpOutcome::NotFound => return Err::<Json<Interaction>, _>(ApiError::NotFound),
            WrapUpOutcome::AlreadyWrappedUp => {
                return Err::<Json<Interaction>, _>(ApiError::refused(
                    "already_wrapped_up",
                    "the interaction is already wrapped up",
                ));
            }
            WrapUpOutcome::NotEnded(live) => {
                return Err::<Json<Interaction>, _>(ApiError::refused(
                    "not_ended",
                    format!("the interaction is still {}", live.as_str()),
                ));
            }
        }
        // The agent leaves wrap-up now rather than when its timer runs out. If the timer already
        // made it Available (or a supervisor moved it), there is nothing left to finish.
        if let (Some(agent), Some(core)) = (part.as_ref().or(ix.agent.as_ref()), &state.core) {
            let finish = crate::routing::Command::FinishWrapUp {
                agent: agent.clone(),
                disposition: body.code.clone(),
                actor: super::agent_session::actor(&principal),
            };
            if let Ok(Err(refusal)) = core.acd(finish).await {
                tracing::debug!(%agent, %refusal, "wrap-up finished outside the ACD's wrap-up");
            }
        }
        let ix = state.store.get_interaction(&ix.id).await?;
        ix.map(Json).ok_or(ApiError::NotFound)
    }
    .await;
    let about = Concerning::Interaction(&id);
    let done = reported(&state, &principal, "interaction.wrapup", about, result).await?;
    let data = match own_part(&principal, &done).and_then(|me| done.part_of(&me)) {
        Some(part) => json!({"disposition": part.disposition, "notes": part.notes,
                             "agent": part.address, "handed_over": true}),
        None => json!({"disposition": done.disposition, "notes": done.notes}),
    };
    succeeded(&state, &principal, "interaction.wrapped_up", about, data).await?;
    Ok(done)
}

#[cfg(test)]
pub(super) mod tests {
    use axum::http::{Method, StatusCode};
    use serde_json::Value;

    use crate::cti::test_support::Api;
    use crate::routing::model::Role;
    use crate::store::test_support::{disposition, interaction, queue};

    /// Tokens of the cast: alice (agent, t1), bob (agent, t2), sue (supervisor of t1), root.
    pub(in crate::cti) struct Cast {
        pub api: Api,
        pub alice: String,
        pub bob: String,
        pub sue: String,
        pub root: String,
    }

    /// The cast, with interaction `ix-a` (alice's, queue `sales`) and `ix-b` (bob's).
    pub(in crate::cti) async fn cast() -> Cast {
        cast_on(Api::new().await).await
    }

    /// The cast on `api` (for instance one with a core).
    pub(in crate::cti) async fn cast_on(api: Api) -> Cast {
        let alice = api.agent("alice", Role::Agent, Some("t1")).await;
        let bob = api.agent("bob", Role::Agent, Some("t2")).await;
        let sue = api.agent("sue", Role::Supervisor, Some("t1")).await;
        let root = api.agent("root", Role::Admin, None).await;
        let store = api.store();
        store
            .insert_interaction(&interaction("ix-a", "+15550001", Some("alice"), 1_000))
            .await
            .unwrap();
        store
            .insert_interaction(&interaction("ix-b", "+15550002", Some("bob"), 2_000))
            .await
            .unwrap();
        Cast {
            api,
            alice,
            bob,
            sue,
            root,
        }
    }

    fn ids(json: &Value) -> Vec<&str> {
        json["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap())
            .collect()
    }

    #[tokio::test]
    async fn history_is_scoped_agents_see_their_own_and_supervisors_their_teams() {
        let c = cast().await;
        let get = |token: String, uri: &'static str| {
            let api = &c.api;
            async move { api.call(Method::GET, uri, Some(&token), None).await }
        };
        let (status, json) = get(c.alice.clone(), "/api/v1/interactions").await;
        assert_eq!(status, StatusCode::OK, "{json}");
        assert_eq!(ids(&json), ["ix-a"]);
        let (_, json) = get(c.alice.clone(), "/api/v1/interactions?agent=bob").await;
        assert_eq!(json["total"], 0, "a filter cannot widen the scope");
        let (_, json) = get(c.bob.clone(), "/api/v1/interactions").await;
        assert_eq!(ids(&json), ["ix-b"]);
        let (_, json) = get(c.sue.clone(), "/api/v1/interactions").await;
        assert_eq!(ids(&json), ["ix-a"], "sue's team t1 holds alice only");
        let (_, json) = get(c.root.clone(), "/api/v1/interactions").await;
        assert_eq!(ids(&json), ["ix-b", "ix-a"]);
        let (_, json) = get(c.root.clone(), "/api/v1/interactions?number=%2B15550002").await;
        assert_eq!(ids(&json), ["ix-b"]);
        let (_, json) = get(c.root.clone(), "/api/v1/interactions?limit=1&page=2").await;
        assert_eq!((ids(&json), &json["offset"]), (vec!["ix-a"], &1.into()));
        let (status, json) = get(c.root.clone(), "/api/v1/interactions?page=0").await;
        assert_eq!(
            (status, &json["error"]["field"]),
            (StatusCode::UNPROCESSABLE_ENTITY, &"page".into())
        );
        let (status, json) = get(c.root.clone(), "/api/v1/interactions?agnet=x").await;
        assert_eq!(
            (status, &json["error"]["field"]),
            (StatusCode::BAD_REQUEST, &"agnet".into())
        );
    }

    #[tokio::test]
    async fn an_agent_gets_403_on_another_agents_interaction() {
        let c = cast().await;
        let (status, json) = c
            .api
            .call(
                Method::GET,
                "/api/v1/interactions/ix-b",
                Some(&c.alice),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(json["error"]["code"], "forbidden");
        let (status, json) = c
            .api
            .call(
                Method::GET,
                "/api/v1/interactions/ix-a",
                Some(&c.alice),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json["ani"], "+15550001");
        let (status, _) = c
            .api
            .call(Method::GET, "/api/v1/interactions/ix-b", Some(&c.sue), None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "bob is not in sue's teams");
        let (status, _) = c
            .api
            .call(Method::GET, "/api/v1/interactions/ix-a", Some(&c.sue), None)
            .await;
        assert_eq!(status, StatusCode::OK, "alice is in sue's team");
        let (status, _) = c
            .api
            .call(
                Method::GET,
                "/api/v1/interactions/ix-b",
                Some(&c.root),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = c
            .api
            .call(
                Method::GET,
                "/api/v1/interactions/nope",
                Some(&c.root),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn notes_are_replaced_and_bounded() {
        let c = cast().await;
        let uri = "/api/v1/interactions/ix-a/notes";
        let (status, json) = c
            .api
            .call(
                Method::PUT,
                uri,
                Some(&c.alice),
                Some(r#"{"notes": "call back"}"#),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{json}");
        assert_eq!(json["notes"], "call back");
        let long = serde_json::json!({"notes": "n".repeat(super::MAX_NOTES_CHARS + 1)}).to_string();
        let (status, json) = c
            .api
            .call(Method::PUT, uri, Some(&c.alice), Some(&long))
            .await;
        assert_eq!(
            (status, &json["error"]["field"]),
            (StatusCode::UNPROCESSABLE_ENTITY, &"notes".into())
        );
        let (status, _) = c
            .api
            .call(
                Method::PUT,
                "/api/v1/interactions/ix-b/notes",
                Some(&c.alice),
                Some(r#"{"notes": "x"}"#),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }

    #[tokio::test]
    async fn wrap_up_needs_a_real_code_not_a_folder() {
        let c = cast().await;
        let store = c.api.store();
        store
            .create_disposition(&disposition("sales", None, true))
            .await
            .unwrap();
        store
            .create_disposition(&disposition("sale", Some("sales"), false))
            .await
            .unwrap();
        let mut sales = queue("sales", "7000");
        sales.disposition_required = true;
        store.create_queue(&sales).await.unwrap();
        let uri = "/api/v1/interactions/ix-a/wrapup";
        let post = |body: &'static str| {
            let (api, token) = (&c.api, c.alice.clone());
            async move { api.call(Method::POST, uri, Some(&token), Some(body)).await }
        };
        for body in [r#"{"code": "sales"}"#, r#"{"code": "nope"}"#, r#"{}"#] {
            let (status, json) = post(body).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {json}");
            assert_eq!(json["error"]["field"], "code", "{body}");
        }
        let (status, json) = post(r#"{"code": "sale", "notes": "sold two"}"#).await;
        assert_eq!(status, StatusCode::OK, "{json}");
        assert_eq!(json["state"], "wrapped_up");
        assert_eq!(json["disposition"], "sale");
        assert_eq!(json["notes"], "sold two");
        let (status, _) = post(r#"{"code": "sale"}"#).await;
        assert_eq!(status, StatusCode::CONFLICT);

        let mut live = interaction("ix-live", "+15550003", Some("alice"), 3_000);
        live.state = crate::routing::model::InteractionState::Connected;
        store.insert_interaction(&live).await.unwrap();
        let (status, json) = c
            .api
            .call(
                Method::POST,
                "/api/v1/interactions/ix-live/wrapup",
                Some(&c.alice),
                Some(r#"{"code": "sale"}"#),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{json}");
        assert_eq!(
            json["error"]["message"],
            "the interaction is still connected"
        );
    }
}

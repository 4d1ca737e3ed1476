//! Route-test scaffolding: a fresh database, agents with tokens, and one-shot requests.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use super::{ApiState, app};
use crate::bus::events::Viewer;
use crate::bus::requests::CoreHandle;
use crate::center::{ContactCenter, Output};
use crate::clock;
use crate::routing::model::{AgentId, Role, TeamId};
use crate::store::test_support::TempDb;
use crate::store::{Agent, Store, TokenKind, UnixMillis};

/// Far enough in the future for any test.
const LATER: UnixMillis = UnixMillis(i64::MAX / 2);

/// An API token acting with `role` and no agent.
pub(crate) async fn token_for_role(store: &Store, role: Role) -> String {
    let (token, _) = store
        .issue_token(TokenKind::Api, "test", role, None, UnixMillis(0), LATER)
        .await
        .unwrap();
    token
}

/// A migrated database and the API over it.
pub(crate) struct Api {
    pub(crate) db: TempDb,
    pub(crate) state: ApiState,
}

impl Api {
    pub(crate) async fn new() -> Api {
        let db = TempDb::new().await;
        let state = ApiState::new(db.store.clone());
        Api { db, state }
    }

    /// The API driving a live contact-center core with no switch behind it: routing
    /// commands, snapshots and refusals are real, and the effects meant for the switch, the
    /// media engine and the store writer are dropped (events go to the bus).
    pub(crate) async fn with_core() -> Api {
        let mut api = Api::new().await;
        let (handle, mut requests) = CoreHandle::channel();
        let bus = api.state.bus.clone();
        let mut core = ContactCenter::detached(clock::now());
        let events = bus.clone();
        tokio::spawn(async move {
            while let Some(request) = requests.recv().await {
                request.answer(&mut core, clock::now());
                while let Some(output) = core.poll_output() {
                    if let Output::Publish(event) = output {
                        events.send(event);
                    }
                }
            }
        });
        api.state = api.state.with_core(handle, bus);
        api
    }

    /// The API with `switch` behind it answering the switch's requests (and nothing
    /// else: requests for the contact center find no core).
    pub(crate) async fn with_switch(mut switch: crate::call::Switch) -> Api {
        let mut api = Api::new().await;
        let (handle, mut requests) = CoreHandle::channel();
        tokio::spawn(async move {
            while let Some(request) = requests.recv().await {
                if let crate::bus::requests::CoreRequest::Switch(request) = request {
                    request.answer(&mut switch, clock::now());
                }
            }
        });
        let bus = api.state.bus.clone();
        api.state = api.state.with_core(handle, bus);
        api
    }

    /// The events published so far that `agent` (with `role`, in `teams`) may see, as its
    /// event stream would deliver them.
    pub(crate) fn events_for(&self, agent: &str, role: Role, teams: &[&str]) -> Vec<Value> {
        let viewer = Viewer {
            agent: agent.into(),
            role,
            teams: teams.iter().map(|t| TeamId::from(*t)).collect(),
        };
        self.state
            .bus
            .after(0)
            .iter()
            .filter(|e| e.audience.admits(&viewer))
            .map(|e| serde_json::from_str(&e.json).unwrap())
            .collect()
    }

    pub(crate) fn store(&self) -> &Store {
        &self.db.store
    }

    /// Creates agent `id` (password `"pw-" + id`) and returns a session token for it.
    pub(crate) async fn agent(&self, id: &str, role: Role, team: Option<&str>) -> String {
        let agent = Agent {
            id: AgentId::from(id),
            name: format!("Agent {id}"),
            extension: None,
            team: team.map(TeamId::from),
            skills: vec![],
            role,
            enabled: true,
            calling_class: None,
        };
        self.store()
            .create_agent(&agent, &format!("pw-{id}"))
            .await
            .unwrap();
        let (token, _) = self
            .store()
            .issue_token(
                TokenKind::Session,
                "",
                role,
                Some(&agent.id),
                UnixMillis(0),
                LATER,
            )
            .await
            .unwrap();
        token
    }

    /// Sends one request; `body` is sent verbatim as `application/json`.
    pub(crate) async fn call(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let body = match body {
            Some(b) => {
                request = request.header("content-type", "application/json");
                Body::from(b.to_owned())
            }
            None => Body::empty(),
        };
        self.send(request.body(body).unwrap()).await
    }

    /// Sends one request with `token` and an optional JSON body.
    pub(crate) async fn json(
        &self,
        method: Method,
        uri: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let body = body.map(|b| b.to_string());
        self.call(method, uri, Some(token), body.as_deref()).await
    }

    /// Sends a prepared request.
    pub(crate) async fn send(&self, request: Request<Body>) -> (StatusCode, Value) {
        let response = app(self.state.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("body is not JSON ({e}): {bytes:?}"))
        };
        (status, json)
    }
}

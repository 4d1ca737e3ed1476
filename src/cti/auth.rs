//! Who is calling: the bearer-token extractor [`Principal`] and the role checks every route
//! makes with it.
//!
//! A request carries `Authorization: Bearer <token>`. The token is looked up by its SHA-256
//! (see `store::tokens`); unknown, expired and revoked tokens are all the same 401. A token
//! acting for an agent stops working as soon as the agent is disabled or deleted, and a
//! session's role is the agent's current role, so demotions apply at once. The store also
//! revokes an agent's tokens when its password or role changes or it is disabled or deleted.
//!
//! Commands an agent gives about its own calls (recording, noise suppression, interaction
//! control) go through [`Principal::own_agent_if_agent`]: an agent-role token that acts for no
//! agent would otherwise pass every ownership check, so it is refused.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::ApiState;
use super::error::ApiError;
use crate::clock;
use crate::routing::model::{AgentId, Role, TeamId};
use crate::store::{ApiToken, Interaction, Scope, TokenKind, UnixMillis};

/// The authenticated caller of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The id of the token used (sessions log out by revoking it).
    pub token_id: String,
    /// Session or API token.
    pub kind: TokenKind,
    /// The agent acting, if the token acts for one.
    pub agent: Option<AgentId>,
    /// The role in force for this request.
    pub role: Role,
    /// The agent's own team and the teams it supervises.
    pub teams: Vec<TeamId>,
    /// When the token stops working.
    pub expires_ms: UnixMillis,
}

impl FromRequestParts<ApiState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ApiState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::Unauthorized)?;
        Principal::from_token(state, token).await
    }
}

impl Principal {
    /// The principal a bearer token stands for (never one from a URL: browsers' WebSockets
    /// use a ticket instead, see `tickets`).
    pub async fn from_token(state: &ApiState, token: &str) -> Result<Principal, ApiError> {
        let found = state
            .store
            .find_token(token, UnixMillis(clock::unix_ms()))
            .await?;
        Principal::from_record(state, found).await
    }

    /// The principal of the token with id `token_id`, if it still works (event streams
    /// re-check the token they were opened with, and tickets name the token they stand for).
    pub async fn from_token_id(state: &ApiState, token_id: &str) -> Result<Principal, ApiError> {
        let found = state
            .store
            .find_token_by_id(token_id, UnixMillis(clock::unix_ms()))
            .await?;
        Principal::from_record(state, found).await
    }

    async fn from_record(
        state: &ApiState,
        record: Option<ApiToken>,
    ) -> Result<Principal, ApiError> {
        let record = record.ok_or(ApiError::Unauthorized)?;
        let mut role = record.role;
        let mut teams = Vec::new();
        if let Some(agent_id) = &record.agent {
            let agent = state
                .store
                .get_agent(agent_id)
                .await?
                .filter(|a| a.enabled)
                .ok_or(ApiError::Unauthorized)?;
            if record.kind == TokenKind::Session {
                role = agent.role;
            }
            teams = state.store.supervised_teams(agent_id).await?;
            teams.extend(agent.team);
            teams.sort();
            teams.dedup();
        }
        Ok(Principal {
            token_id: record.id,
            kind: record.kind,
            agent: record.agent,
            role,
            teams,
            expires_ms: record.expires_ms,
        })
    }

    /// For an agent-role caller, the agent it acts for (its commands are limited to its own
    /// calls); `None` for supervisors and admins. An agent-role token acting for no agent is
    /// 403: it has no calls of its own, and letting it through would skip the ownership check.
    pub fn own_agent_if_agent(&self) -> Result<Option<AgentId>, ApiError> {
        match (self.role, &self.agent) {
            (Role::Agent, Some(agent)) => Ok(Some(agent.clone())),
            (Role::Agent, None) => Err(ApiError::Forbidden),
            _ => Ok(None),
        }
    }

    /// 403 unless the role is at least `min` (agent < supervisor < admin).
    pub fn require(&self, min: Role) -> Result<(), ApiError> {
        if self.role >= min {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }

    /// Whose interactions this caller may see.
    #[must_use]
    pub fn scope(&self) -> Scope {
        match (self.role, &self.agent) {
            (Role::Admin, _) => Scope::All,
            (Role::Supervisor, _) => Scope::Teams(self.teams.clone()),
            (Role::Agent, Some(agent)) => Scope::Agent(agent.clone()),
            (Role::Agent, None) => Scope::Teams(Vec::new()),
        }
    }

    /// 403 unless this caller may see `ix`: admins always; agents their own; supervisors those
    /// of agents in their teams (`agent_team` is the handling agent's current team).
    pub fn check_interaction(
        &self,
        ix: &Interaction,
        agent_team: Option<&TeamId>,
    ) -> Result<(), ApiError> {
        let allowed = match self.scope() {
            Scope::All => true,
            // An agent who handed the call over still sees it, to wrap up its own part.
            Scope::Agent(me) => ix.agent.as_ref() == Some(&me) || ix.part_of(&me).is_some(),
            Scope::Teams(teams) => {
                (ix.agent.is_some() && ix.agent.as_ref() == self.agent.as_ref())
                    || agent_team.is_some_and(|t| teams.contains(t))
            }
        };
        if allowed {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

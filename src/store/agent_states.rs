//! The agent state transition log: every change of an agent's state, who caused it and why,
//! for reporting and audits. States and actors are stored as their JSON.

use serde::Serialize;

use super::{Store, StoreError, UnixMillis, from_json, to_json};
use crate::routing::model::{Actor, AgentId, AgentState};

const TABLE: &str = "agent_state_log";

/// One transition of an agent's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AgentStateChange {
    /// Whose state changed.
    #[schema(value_type = String)]
    pub agent: AgentId,
    /// The state before, e.g. `{"state": "idle", "reason": "lunch"}`.
    #[schema(value_type = Object)]
    pub from: AgentState,
    /// The state after.
    #[schema(value_type = Object)]
    pub to: AgentState,
    /// Why, when there is more to say than the states (e.g. `"rona"`, `"supervisor_logout"`).
    pub reason: Option<String>,
    /// Who caused it, e.g. `{"type": "agent", "id": "sue"}` or `{"type": "system"}`.
    #[schema(value_type = Object)]
    pub actor: Actor,
    /// When (epoch milliseconds).
    #[schema(value_type = i64)]
    pub at: UnixMillis,
}

type Row = (String, String, String, Option<String>, String, i64);

impl Store {
    /// Appends a transition to the log.
    pub async fn record_agent_state(&self, change: &AgentStateChange) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO agent_state_log (agent_id, from_state, to_state, reason, actor, at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(change.agent.as_str())
        .bind(to_json(&change.from, TABLE, "from_state")?)
        .bind(to_json(&change.to, TABLE, "to_state")?)
        .bind(change.reason.as_deref())
        .bind(to_json(&change.actor, TABLE, "actor")?)
        .bind(change.at.0)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The latest `limit` transitions of `agent`, newest first.
    pub async fn list_agent_states(
        &self,
        agent: &AgentId,
        limit: u32,
    ) -> Result<Vec<AgentStateChange>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT agent_id, from_state, to_state, reason, actor, at_ms FROM agent_state_log \
             WHERE agent_id = $1 ORDER BY at_ms DESC LIMIT $2",
        )
        .bind(agent.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(agent, from, to, reason, actor, at)| {
                Ok(AgentStateChange {
                    agent: AgentId(agent),
                    from: from_json(&from, TABLE, "from_state")?,
                    to: from_json(&to, TABLE, "to_state")?,
                    reason,
                    actor: from_json(&actor, TABLE, "actor")?,
                    at: UnixMillis(at),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::TempDb;

    #[tokio::test]
    async fn transitions_are_logged_and_listed_newest_first_per_agent() {
        let db = TempDb::new().await;
        let change = |agent: &str, from, to, at| AgentStateChange {
            agent: AgentId::from(agent),
            from,
            to,
            reason: None,
            actor: Actor::Agent(AgentId::from(agent)),
            at: UnixMillis(at),
        };
        let login = change("alice", AgentState::LoggedOut, AgentState::Available, 1_000);
        let mut rona = change(
            "alice",
            AgentState::Reserved {
                interaction: "ix1".into(),
            },
            AgentState::Rona,
            2_000,
        );
        rona.reason = Some("rona".into());
        rona.actor = Actor::System;
        let other = change(
            "bob",
            AgentState::LoggedOut,
            AgentState::Idle {
                reason: "lunch".into(),
            },
            1_500,
        );
        for c in [&login, &rona, &other] {
            db.store.record_agent_state(c).await.unwrap();
        }
        assert_eq!(
            db.store
                .list_agent_states(&"alice".into(), 10)
                .await
                .unwrap(),
            vec![rona.clone(), login]
        );
        assert_eq!(
            db.store
                .list_agent_states(&"alice".into(), 1)
                .await
                .unwrap(),
            vec![rona]
        );
    }
}

//! Teams: the unit a supervisor oversees. `teams` holds the team, `team_supervisors` who
//! supervises it (a supervisor may oversee several teams).

use serde::{Deserialize, Serialize};

use super::{Store, StoreError, map_unique};
use crate::routing::model::{AgentId, TeamId};

/// A team of agents.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Team {
    /// The team's id, e.g. `"billing"`.
    #[schema(value_type = String)]
    pub id: TeamId,
    /// Display name.
    pub name: String,
    /// Agents (normally supervisors) who oversee the team, sorted.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub supervisors: Vec<AgentId>,
}

impl Store {
    /// Adds a team; an existing id is [`StoreError::Duplicate`].
    pub async fn create_team(&self, team: &Team) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO teams (id, name) VALUES ($1, $2)")
            .bind(team.id.as_str())
            .bind(&team.name)
            .execute(&mut *tx)
            .await
            .map_err(|e| map_unique(e, "team"))?;
        for agent in &team.supervisors {
            sqlx::query("INSERT INTO team_supervisors (team_id, agent_id) VALUES ($1, $2)")
                .bind(team.id.as_str())
                .bind(agent.as_str())
                .execute(&mut *tx)
                .await
                .map_err(|e| map_unique(e, "team supervisor"))?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Replaces a team's name and supervisors; `false` if there is no such team.
    pub async fn update_team(&self, team: &Team) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query("UPDATE teams SET name = $1 WHERE id = $2")
            .bind(&team.name)
            .bind(team.id.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if changed == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM team_supervisors WHERE team_id = $1")
            .bind(team.id.as_str())
            .execute(&mut *tx)
            .await?;
        for agent in &team.supervisors {
            sqlx::query("INSERT INTO team_supervisors (team_id, agent_id) VALUES ($1, $2)")
                .bind(team.id.as_str())
                .bind(agent.as_str())
                .execute(&mut *tx)
                .await
                .map_err(|e| map_unique(e, "team supervisor"))?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Removes a team and its supervisor links; `false` if there was none.
    pub async fn delete_team(&self, id: &TeamId) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM team_supervisors WHERE team_id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        let n = sqlx::query("DELETE FROM teams WHERE id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    /// One team by id.
    pub async fn get_team(&self, id: &TeamId) -> Result<Option<Team>, StoreError> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT id, name FROM teams WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await?;
        match row {
            None => Ok(None),
            Some((id, name)) => {
                let supervisors = self.supervisors_of(&id).await?;
                Ok(Some(Team {
                    id: TeamId(id),
                    name,
                    supervisors,
                }))
            }
        }
    }

    /// Every team, by id.
    pub async fn list_teams(&self) -> Result<Vec<Team>, StoreError> {
        let rows: Vec<(String, String)> = sqlx::query_as("SELECT id, name FROM teams ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        let links: Vec<(String, String)> = sqlx::query_as(
            "SELECT team_id, agent_id FROM team_supervisors ORDER BY team_id, agent_id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, name)| Team {
                supervisors: links
                    .iter()
                    .filter(|(team, _)| *team == id)
                    .map(|(_, agent)| AgentId(agent.clone()))
                    .collect(),
                id: TeamId(id),
                name,
            })
            .collect())
    }

    /// Teams `agent` supervises, by id.
    pub async fn supervised_teams(&self, agent: &AgentId) -> Result<Vec<TeamId>, StoreError> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT team_id FROM team_supervisors WHERE agent_id = $1 ORDER BY team_id",
        )
        .bind(agent.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().map(TeamId).collect())
    }

    async fn supervisors_of(&self, team: &str) -> Result<Vec<AgentId>, StoreError> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT agent_id FROM team_supervisors WHERE team_id = $1 ORDER BY agent_id",
        )
        .bind(team)
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().map(AgentId).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::TempDb;

    fn team(id: &str, supervisors: &[&str]) -> Team {
        Team {
            id: TeamId::from(id),
            name: format!("Team {id}"),
            supervisors: supervisors.iter().map(|s| AgentId::from(*s)).collect(),
        }
    }

    #[tokio::test]
    async fn teams_are_created_updated_listed_and_deleted() {
        let db = TempDb::new().await;
        db.store.create_team(&team("b", &["sue"])).await.unwrap();
        db.store.create_team(&team("a", &[])).await.unwrap();
        let err = db.store.create_team(&team("a", &[])).await.unwrap_err();
        assert!(matches!(err, StoreError::Duplicate("team")), "{err:?}");

        let mut changed = team("a", &["sue", "max"]);
        changed.name = "Alpha".into();
        assert!(db.store.update_team(&changed).await.unwrap());
        assert!(!db.store.update_team(&team("zz", &[])).await.unwrap());
        changed.supervisors.sort();
        assert_eq!(
            db.store.get_team(&changed.id).await.unwrap(),
            Some(changed.clone())
        );
        assert_eq!(
            db.store.list_teams().await.unwrap(),
            vec![changed, team("b", &["sue"])]
        );
        assert_eq!(
            db.store.supervised_teams(&"sue".into()).await.unwrap(),
            vec![TeamId::from("a"), TeamId::from("b")]
        );
        assert!(db.store.delete_team(&"a".into()).await.unwrap());
        assert!(!db.store.delete_team(&"a".into()).await.unwrap());
        assert_eq!(
            db.store.supervised_teams(&"sue".into()).await.unwrap(),
            vec![TeamId::from("b")]
        );
    }
}

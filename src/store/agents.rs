//! Agents: who may log in to the CTI API, with which role, team and skills.
//!
//! Passwords are stored only as argon2id hashes (see [`super::passwords`]); no read of this
//! repository ever returns the hash.

use serde::Serialize;

use super::passwords::{hash_password, verify_password};
use super::tokens::revoke_agent_tokens;
use super::{
    Store, StoreError, enum_from_text, enum_to_text, flag, from_json, map_unique, to_json,
};
use crate::dialing::CallingClass;
use crate::routing::model::{AgentConfig, AgentId, Role, Skill, TeamId};

const TABLE: &str = "agents";

/// An agent as the directory knows it (without credentials).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Agent {
    /// Login id, e.g. `"alice"`.
    #[schema(value_type = String)]
    pub id: AgentId,
    /// Display name.
    pub name: String,
    /// The SIP extension the agent's phone registers as, e.g. `"1001"`.
    pub extension: Option<String>,
    /// The agent's own team.
    #[schema(value_type = Option<String>)]
    pub team: Option<TeamId>,
    /// Skills and levels (1..=10).
    #[schema(value_type = Vec<Object>)]
    pub skills: Vec<Skill>,
    /// What the agent may do through the API: `agent`, `supervisor` or `admin`.
    #[schema(value_type = String)]
    pub role: Role,
    /// Disabled agents cannot log in, and their tokens stop working.
    pub enabled: bool,
    /// What the agent may dial from the desktop at most (`internal`, `national`,
    /// `international`); absent: its extension's class alone.
    #[schema(value_type = Option<String>)]
    pub calling_class: Option<CallingClass>,
}

impl Agent {
    /// What the ACD needs to route to this agent.
    #[must_use]
    pub fn config(&self) -> AgentConfig {
        AgentConfig {
            id: self.id.clone(),
            name: self.name.clone(),
            team: self.team.clone(),
            skills: self.skills.clone(),
            role: self.role,
            calling_class: self.calling_class,
        }
    }
}

#[derive(sqlx::FromRow)]
struct AgentRow {
    id: String,
    name: String,
    extension: Option<String>,
    team_id: Option<String>,
    skills: String,
    role: String,
    enabled: i64,
    calling_class: Option<String>,
}

impl TryFrom<AgentRow> for Agent {
    type Error = StoreError;

    fn try_from(row: AgentRow) -> Result<Agent, StoreError> {
        Ok(Agent {
            id: AgentId(row.id),
            name: row.name,
            extension: row.extension,
            team: row.team_id.map(TeamId),
            skills: from_json(&row.skills, TABLE, "skills")?,
            role: enum_from_text(&row.role, TABLE, "role")?,
            enabled: flag(row.enabled, TABLE, "enabled")?,
            calling_class: row
                .calling_class
                .map(|c| {
                    CallingClass::parse(&c).ok_or_else(|| StoreError::Corrupt {
                        table: TABLE,
                        column: "calling_class",
                        reason: format!("unknown class {c:?}"),
                    })
                })
                .transpose()?,
        })
    }
}

const SELECT: &str =
    "SELECT id, name, extension, team_id, skills, role, enabled, calling_class FROM agents";

impl Store {
    /// Adds an agent with `password` (hashed here); an existing id is
    /// [`StoreError::Duplicate`].
    pub async fn create_agent(&self, agent: &Agent, password: &str) -> Result<(), StoreError> {
        let hash = hash_password(password).await?;
        sqlx::query(
            "INSERT INTO agents (id, name, password_hash, extension, team_id, skills, role, \
             enabled, calling_class) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(agent.id.as_str())
        .bind(&agent.name)
        .bind(hash)
        .bind(agent.extension.as_deref())
        .bind(agent.team.as_ref().map(TeamId::as_str))
        .bind(to_json(&agent.skills, TABLE, "skills")?)
        .bind(enum_to_text(&agent.role, TABLE, "role")?)
        .bind(i64::from(agent.enabled))
        .bind(agent.calling_class.map(CallingClass::name))
        .execute(&self.pool)
        .await
        .map_err(|e| map_unique(e, "agent"))?;
        Ok(())
    }

    /// Replaces an agent's profile and, with `password`, its password; `false` if there is no
    /// such agent. A new password, a role change or disabling the agent revokes every token
    /// acting for it, in the same transaction: what a session was granted must not outlive
    /// the grant.
    pub async fn update_agent(
        &self,
        agent: &Agent,
        password: Option<&str>,
    ) -> Result<bool, StoreError> {
        let skills = to_json(&agent.skills, TABLE, "skills")?;
        let role = enum_to_text(&agent.role, TABLE, "role")?;
        let hash = match password {
            Some(password) => Some(hash_password(password).await?),
            None => None,
        };
        let mut tx = self.begin_write().await?;
        let before: Option<(String, i64)> =
            sqlx::query_as("SELECT role, enabled FROM agents WHERE id = $1")
                .bind(agent.id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        let Some((old_role, old_enabled)) = before else {
            return Ok(false);
        };
        let revoke = hash.is_some() || old_role != role || (old_enabled != 0 && !agent.enabled);
        sqlx::query(
            "UPDATE agents SET name = $1, extension = $2, team_id = $3, skills = $4, \
             role = $5, enabled = $6, password_hash = COALESCE($7, password_hash), \
             calling_class = $9 WHERE id = $8",
        )
        .bind(&agent.name)
        .bind(agent.extension.as_deref())
        .bind(agent.team.as_ref().map(TeamId::as_str))
        .bind(skills)
        .bind(role)
        .bind(i64::from(agent.enabled))
        .bind(hash)
        .bind(agent.id.as_str())
        .bind(agent.calling_class.map(CallingClass::name))
        .execute(&mut *tx)
        .await?;
        let revoked = if revoke {
            revoke_agent_tokens(&mut tx, &agent.id).await?
        } else {
            0
        };
        tx.commit().await?;
        self.announce_revocation(revoked);
        Ok(true)
    }

    /// Removes an agent and its supervisor links, and revokes its tokens (so re-creating the
    /// id later revives none of them); `false` if there was none.
    pub async fn delete_agent(&self, id: &AgentId) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM team_supervisors WHERE agent_id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        let n = sqlx::query("DELETE FROM agents WHERE id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let revoked = revoke_agent_tokens(&mut tx, id).await?;
        tx.commit().await?;
        self.announce_revocation(revoked);
        Ok(n > 0)
    }

    /// One agent by id.
    pub async fn get_agent(&self, id: &AgentId) -> Result<Option<Agent>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("{SELECT} WHERE id = $1"));
        let row: Option<AgentRow> = sqlx::query_as(sql)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(Agent::try_from).transpose()
    }

    /// Every agent, by id.
    pub async fn list_agents(&self) -> Result<Vec<Agent>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("{SELECT} ORDER BY id"));
        let rows: Vec<AgentRow> = sqlx::query_as(sql).fetch_all(&self.pool).await?;
        rows.into_iter().map(Agent::try_from).collect()
    }

    /// The enabled agent `id` if `password` is its password. An unknown id, a disabled agent
    /// and a wrong password are indistinguishable, in result and in time taken.
    pub async fn authenticate_agent(
        &self,
        id: &AgentId,
        password: &str,
    ) -> Result<Option<Agent>, StoreError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT password_hash FROM agents WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await?;
        if !verify_password(row.map(|(hash,)| hash), password).await {
            return Ok(None);
        }
        Ok(self.get_agent(id).await?.filter(|a| a.enabled))
    }

    /// The teams whose interactions `id` may see as a supervisor: its own team and every team
    /// it supervises, sorted, without repeats.
    pub async fn agent_teams(&self, id: &AgentId) -> Result<Vec<TeamId>, StoreError> {
        let mut teams = self.supervised_teams(id).await?;
        if let Some(team) = self.get_agent(id).await?.and_then(|a| a.team) {
            teams.push(team);
        }
        teams.sort();
        teams.dedup();
        Ok(teams)
    }

    /// Creates admin `id` with `password` at the first start of a database, and never again:
    /// `true` if it was created. A database that already has an admin (made before this rule)
    /// counts as seeded. Deleting every admin later does not bring the seeded password back;
    /// an operator locked out recreates one through the store, deliberately.
    pub async fn seed_admin(&self, id: &AgentId, password: &str) -> Result<bool, StoreError> {
        let seeded: Option<String> =
            sqlx::query_scalar("SELECT value FROM switch_facts WHERE key = 'first_admin'")
                .fetch_optional(&self.pool)
                .await?;
        if seeded.is_some() {
            return Ok(false);
        }
        let admins: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM agents WHERE role = $1")
            .bind(enum_to_text(&Role::Admin, TABLE, "role")?)
            .fetch_one(&self.pool)
            .await?;
        if admins == 0 {
            let admin = Agent {
                id: id.clone(),
                name: "Administrator".into(),
                extension: None,
                team: None,
                skills: Vec::new(),
                role: Role::Admin,
                enabled: true,
                calling_class: None,
            };
            self.create_agent(&admin, password).await?;
        }
        // Two switches starting on one PostgreSQL at once: the second's insert is a no-op
        // (and its create_agent above already failed as a duplicate if the ids matched).
        sqlx::query(
            "INSERT INTO switch_facts (key, value) VALUES ('first_admin', $1) \
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(id.as_str())
        .execute(&self.pool)
        .await?;
        Ok(admins == 0)
    }

    /// The enabled admins whose password is `password` (the start-up check for a shipped lab
    /// password; costs one argon2 verification per admin).
    pub async fn admins_with_password(&self, password: &str) -> Result<Vec<AgentId>, StoreError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT id, password_hash FROM agents WHERE role = $1 AND enabled = 1 ORDER BY id",
        )
        .bind(enum_to_text(&Role::Admin, TABLE, "role")?)
        .fetch_all(&self.pool)
        .await?;
        let mut found = Vec::new();
        for (id, hash) in rows {
            if verify_password(Some(hash), password).await {
                found.push(AgentId(id));
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::test_support::TempDb;

    pub(crate) fn agent(id: &str, role: Role, team: Option<&str>) -> Agent {
        Agent {
            id: AgentId::from(id),
            name: format!("Agent {id}"),
            extension: Some("1001".into()),
            team: team.map(TeamId::from),
            skills: vec![Skill {
                name: "french".into(),
                level: 7,
            }],
            role,
            enabled: true,
            calling_class: None,
        }
    }

    #[tokio::test]
    async fn agents_round_trip_without_ever_exposing_the_password() {
        let db = TempDb::new().await;
        let alice = agent("alice", Role::Agent, Some("t1"));
        db.store.create_agent(&alice, "pw-alice").await.unwrap();
        let err = db.store.create_agent(&alice, "x").await.unwrap_err();
        assert!(matches!(err, StoreError::Duplicate("agent")), "{err:?}");
        assert_eq!(
            db.store.get_agent(&alice.id).await.unwrap(),
            Some(alice.clone())
        );

        let stored: String = sqlx::query_scalar("SELECT password_hash FROM agents")
            .fetch_one(&db.store.pool)
            .await
            .unwrap();
        assert!(stored.starts_with("$argon2id$") && !stored.contains("pw-alice"));

        let mut changed = alice.clone();
        changed.role = Role::Supervisor;
        changed.skills.clear();
        changed.team = None;
        assert!(db.store.update_agent(&changed, None).await.unwrap());
        assert_eq!(
            db.store.get_agent(&alice.id).await.unwrap(),
            Some(changed.clone())
        );
        assert!(
            db.store
                .authenticate_agent(&alice.id, "pw-alice")
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            db.store
                .update_agent(&changed, Some("new-pw"))
                .await
                .unwrap()
        );
        assert!(
            db.store
                .authenticate_agent(&alice.id, "pw-alice")
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            db.store
                .authenticate_agent(&alice.id, "new-pw")
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            !db.store
                .update_agent(&agent("nobody", Role::Agent, None), None)
                .await
                .unwrap()
        );

        db.store
            .create_agent(&agent("bob", Role::Agent, None), "pw")
            .await
            .unwrap();
        let ids: Vec<_> = db
            .store
            .list_agents()
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.id.0)
            .collect();
        assert_eq!(ids, ["alice", "bob"]);
        assert!(db.store.delete_agent(&alice.id).await.unwrap());
        assert!(!db.store.delete_agent(&alice.id).await.unwrap());
    }

    #[tokio::test]
    async fn unknown_disabled_and_wrong_password_all_fail_authentication() {
        let db = TempDb::new().await;
        let mut carol = agent("carol", Role::Agent, None);
        db.store.create_agent(&carol, "right").await.unwrap();
        assert!(
            db.store
                .authenticate_agent(&carol.id, "wrong")
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            db.store
                .authenticate_agent(&"ghost".into(), "right")
                .await
                .unwrap()
                .is_none()
        );
        carol.enabled = false;
        db.store.update_agent(&carol, None).await.unwrap();
        assert!(
            db.store
                .authenticate_agent(&carol.id, "right")
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn the_admin_is_seeded_only_when_no_admin_exists() {
        let db = TempDb::new().await;
        assert!(db.store.seed_admin(&"root".into(), "first").await.unwrap());
        assert!(
            !db.store
                .seed_admin(&"root2".into(), "second")
                .await
                .unwrap()
        );
        let root = db
            .store
            .authenticate_agent(&"root".into(), "first")
            .await
            .unwrap();
        assert_eq!(root.map(|a| a.role), Some(Role::Admin));
        assert_eq!(db.store.get_agent(&"root2".into()).await.unwrap(), None);
    }

    /// A live session token for `id`, to watch it being revoked.
    async fn session_of(db: &TempDb, id: &str) -> String {
        let far = crate::store::UnixMillis(i64::MAX / 2);
        let (token, _) = db
            .store
            .issue_token(
                crate::store::TokenKind::Session,
                "",
                Role::Agent,
                Some(&AgentId::from(id)),
                crate::store::UnixMillis(0),
                far,
            )
            .await
            .unwrap();
        token
    }

    async fn live(db: &TempDb, token: &str) -> bool {
        let now = crate::store::UnixMillis(1);
        db.store.find_token(token, now).await.unwrap().is_some()
    }

    #[tokio::test]
    async fn a_password_change_a_role_change_disabling_or_deleting_revokes_the_agents_tokens() {
        let db = TempDb::new().await;
        let alice = agent("alice", Role::Supervisor, None);
        db.store.create_agent(&alice, "pw-alice").await.unwrap();
        let mut revocations = db.store.token_revocations();

        let token = session_of(&db, "alice").await;
        let mut renamed = alice.clone();
        renamed.name = "Alice B.".into();
        db.store.update_agent(&renamed, None).await.unwrap();
        assert!(
            live(&db, &token).await,
            "a new display name changes no grant"
        );
        assert!(!revocations.has_changed().unwrap());

        db.store
            .update_agent(&alice, Some("new-password"))
            .await
            .unwrap();
        assert!(!live(&db, &token).await, "password change");
        assert!(revocations.has_changed().unwrap(), "streams are told");
        revocations.mark_unchanged();

        let token = session_of(&db, "alice").await;
        let mut demoted = alice.clone();
        demoted.role = Role::Agent;
        db.store.update_agent(&demoted, None).await.unwrap();
        assert!(!live(&db, &token).await, "demotion");

        let token = session_of(&db, "alice").await;
        let mut disabled = demoted.clone();
        disabled.enabled = false;
        db.store.update_agent(&disabled, None).await.unwrap();
        assert!(!live(&db, &token).await, "disabled");

        let token = session_of(&db, "alice").await;
        assert!(db.store.delete_agent(&alice.id).await.unwrap());
        db.store.create_agent(&alice, "pw-alice").await.unwrap();
        assert!(
            !live(&db, &token).await,
            "re-creating the id revives nothing"
        );
        assert!(revocations.has_changed().unwrap());
    }

    #[tokio::test]
    async fn a_deleted_first_admin_is_not_seeded_again_with_the_profiles_password() {
        let db = TempDb::new().await;
        assert!(
            db.store
                .seed_admin(&"root".into(), "first-pw")
                .await
                .unwrap()
        );
        assert_eq!(
            db.store.admins_with_password("first-pw").await.unwrap(),
            [AgentId::from("root")]
        );
        assert!(db.store.delete_agent(&"root".into()).await.unwrap());
        assert!(
            !db.store
                .seed_admin(&"root".into(), "first-pw")
                .await
                .unwrap()
        );
        assert_eq!(db.store.get_agent(&"root".into()).await.unwrap(), None);
        assert!(
            db.store
                .admins_with_password("first-pw")
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn an_agents_teams_are_its_own_and_those_it_supervises() {
        let db = TempDb::new().await;
        db.store
            .create_agent(&agent("sue", Role::Supervisor, Some("t2")), "pw")
            .await
            .unwrap();
        for id in ["t1", "t2"] {
            db.store
                .create_team(&crate::store::Team {
                    id: id.into(),
                    name: id.into(),
                    supervisors: vec!["sue".into()],
                })
                .await
                .unwrap();
        }
        assert_eq!(
            db.store.agent_teams(&"sue".into()).await.unwrap(),
            vec![TeamId::from("t1"), TeamId::from("t2")]
        );
        assert!(
            db.store
                .agent_teams(&"ghost".into())
                .await
                .unwrap()
                .is_empty()
        );
    }
}

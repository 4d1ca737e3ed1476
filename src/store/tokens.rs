//! Bearer tokens of the CTI API: agent sessions (from a password login) and API tokens an
//! admin mints for integrations.
//!
//! A token is 32 random bytes, shown once as `sb_` + hex. The database keeps only its SHA-256,
//! so a copy of the database cannot be replayed against the API; lookups go by that hash.
//!
//! Every revocation bumps a counter that [`Store::token_revocations`] watches: an open event
//! stream authorised by a token re-checks it as soon as any token is revoked.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::passwords::random_bytes;
use super::{Store, StoreError, UnixMillis, enum_from_text, enum_to_text, flag};
use crate::routing::model::{AgentId, Role};

const TABLE: &str = "api_tokens";

/// What kind of token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// Issued by `POST /api/v1/sessions` to an agent that logged in.
    Session,
    /// Minted by an admin for an integration.
    Api,
}

/// A token's record (never the token itself).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ApiToken {
    /// The token's public id (for listing and revoking).
    pub id: String,
    /// Session or API token.
    pub kind: TokenKind,
    /// A label chosen by the admin (API tokens) or empty.
    pub name: String,
    /// The role the token acts with.
    #[schema(value_type = String)]
    pub role: Role,
    /// The agent the token acts for, if any.
    #[schema(value_type = Option<String>)]
    pub agent: Option<AgentId>,
    /// When it was issued.
    #[schema(value_type = i64)]
    pub created_ms: UnixMillis,
    /// When it stops working.
    #[schema(value_type = i64)]
    pub expires_ms: UnixMillis,
    /// Revoked tokens never work again.
    pub revoked: bool,
}

/// SHA-256 of a token, hex.
fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

type Row = (
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    i64,
    i64,
);

fn from_row(
    (id, kind, name, role, agent, created, expires, revoked): Row,
) -> Result<ApiToken, StoreError> {
    Ok(ApiToken {
        id,
        kind: enum_from_text(&kind, TABLE, "kind")?,
        name,
        role: enum_from_text(&role, TABLE, "role")?,
        agent: agent.map(AgentId),
        created_ms: UnixMillis(created),
        expires_ms: UnixMillis(expires),
        revoked: flag(revoked, TABLE, "revoked")?,
    })
}

const SELECT: &str =
    "SELECT id, kind, name, role, agent_id, created_ms, expires_ms, revoked FROM api_tokens";

impl Store {
    /// Issues a token and returns it (the only time it is visible) with its record.
    pub async fn issue_token(
        &self,
        kind: TokenKind,
        name: &str,
        role: Role,
        agent: Option<&AgentId>,
        now: UnixMillis,
        expires: UnixMillis,
    ) -> Result<(String, ApiToken), StoreError> {
        let token = format!("sb_{}", hex::encode(random_bytes::<32>()));
        let record = ApiToken {
            id: hex::encode(random_bytes::<8>()),
            kind,
            name: name.to_owned(),
            role,
            agent: agent.cloned(),
            created_ms: now,
            expires_ms: expires,
            revoked: false,
        };
        sqlx::query(
            "INSERT INTO api_tokens (id, token_hash, kind, name, role, agent_id, created_ms, \
             expires_ms, revoked) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0)",
        )
        .bind(&record.id)
        .bind(token_hash(&token))
        .bind(enum_to_text(&kind, TABLE, "kind")?)
        .bind(&record.name)
        .bind(enum_to_text(&role, TABLE, "role")?)
        .bind(agent.map(AgentId::as_str))
        .bind(now.0)
        .bind(expires.0)
        .execute(&self.pool)
        .await?;
        Ok((token, record))
    }

    /// The record of `token` if it is known, not revoked and not expired at `now`.
    pub async fn find_token(
        &self,
        token: &str,
        now: UnixMillis,
    ) -> Result<Option<ApiToken>, StoreError> {
        self.find_live_token("token_hash", &token_hash(token), now)
            .await
    }

    /// The record of the token with id `id` if it is not revoked and not expired at `now`
    /// (an open event stream re-checks the token it was opened with this way).
    pub async fn find_token_by_id(
        &self,
        id: &str,
        now: UnixMillis,
    ) -> Result<Option<ApiToken>, StoreError> {
        self.find_live_token("id", id, now).await
    }

    /// The live token whose `column` (a fixed name, never input) is `value`.
    async fn find_live_token(
        &self,
        column: &'static str,
        value: &str,
        now: UnixMillis,
    ) -> Result<Option<ApiToken>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "{SELECT} WHERE {column} = $1 AND revoked = 0 AND expires_ms > $2"
        ));
        let row: Option<Row> = sqlx::query_as(sql)
            .bind(value)
            .bind(now.0)
            .fetch_optional(&self.pool)
            .await?;
        row.map(from_row).transpose()
    }

    /// Revokes a token by id; `false` if there is no such token.
    pub async fn revoke_token(&self, id: &str) -> Result<bool, StoreError> {
        let n = sqlx::query("UPDATE api_tokens SET revoked = 1 WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        self.announce_revocation(n);
        Ok(n > 0)
    }

    /// Changes whenever tokens are revoked through this store (any clone of it).
    #[must_use]
    pub fn token_revocations(&self) -> tokio::sync::watch::Receiver<u64> {
        self.revocations.subscribe()
    }

    pub(super) fn announce_revocation(&self, revoked: u64) {
        if revoked > 0 {
            self.revocations.send_modify(|generation| *generation += 1);
        }
    }

    /// Deletes tokens that expired before `before`; returns how many.
    pub async fn delete_expired_tokens(&self, before: UnixMillis) -> Result<u64, StoreError> {
        let n = sqlx::query("DELETE FROM api_tokens WHERE expires_ms < $1")
            .bind(before.0)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n)
    }

    /// Every token record of `kind`, newest first.
    pub async fn list_tokens(&self, kind: TokenKind) -> Result<Vec<ApiToken>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "{SELECT} WHERE kind = $1 ORDER BY created_ms DESC, id"
        ));
        let rows: Vec<Row> = sqlx::query_as(sql)
            .bind(enum_to_text(&kind, TABLE, "kind")?)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(from_row).collect()
    }
}

/// Revokes every live token acting for `agent` (sessions and API tokens) inside `tx`;
/// returns how many. The caller announces them after committing.
pub(super) async fn revoke_agent_tokens(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    agent: &AgentId,
) -> Result<u64, StoreError> {
    let done = sqlx::query("UPDATE api_tokens SET revoked = 1 WHERE agent_id = $1 AND revoked = 0")
        .bind(agent.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::TempDb;

    #[tokio::test]
    async fn a_token_is_found_by_its_value_until_it_expires_or_is_revoked() {
        let db = TempDb::new().await;
        let alice = AgentId::from("alice");
        let (token, record) = db
            .store
            .issue_token(
                TokenKind::Session,
                "",
                Role::Agent,
                Some(&alice),
                UnixMillis(1_000),
                UnixMillis(2_000),
            )
            .await
            .unwrap();
        assert!(token.starts_with("sb_") && token.len() == 67, "{token}");
        assert_eq!(
            db.store
                .find_token(&token, UnixMillis(1_500))
                .await
                .unwrap(),
            Some(record.clone())
        );
        assert_eq!(
            db.store
                .find_token(&token, UnixMillis(2_000))
                .await
                .unwrap(),
            None,
            "expired"
        );
        assert_eq!(
            db.store
                .find_token("sb_guess", UnixMillis(1_500))
                .await
                .unwrap(),
            None
        );

        let stored: String = sqlx::query_scalar("SELECT token_hash FROM api_tokens")
            .fetch_one(&db.store.pool)
            .await
            .unwrap();
        assert_ne!(stored, token, "only the hash is stored");
        assert_eq!(stored, token_hash(&token));

        assert!(db.store.revoke_token(&record.id).await.unwrap());
        assert!(!db.store.revoke_token("nope").await.unwrap());
        assert_eq!(
            db.store
                .find_token(&token, UnixMillis(1_500))
                .await
                .unwrap(),
            None
        );
        let listed = db.store.list_tokens(TokenKind::Session).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert!(listed[0].revoked);
        assert!(
            db.store
                .list_tokens(TokenKind::Api)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            db.store
                .delete_expired_tokens(UnixMillis(2_000))
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            db.store
                .delete_expired_tokens(UnixMillis(2_001))
                .await
                .unwrap(),
            1
        );
        assert!(
            db.store
                .list_tokens(TokenKind::Session)
                .await
                .unwrap()
                .is_empty()
        );
    }
}

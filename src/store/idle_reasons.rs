//! Idle reason codes: why a logged-in agent is not taking calls (lunch, training, ..).

use serde::{Deserialize, Serialize};

use super::{Store, StoreError, map_unique};

/// One idle reason code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdleReason {
    /// The code's id, e.g. `"lunch"` (what `AgentState::Idle::reason` holds).
    pub id: String,
    /// Display name.
    pub name: String,
}

impl Store {
    /// Adds an idle reason; an existing id is [`StoreError::Duplicate`].
    pub async fn create_idle_reason(&self, reason: &IdleReason) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO idle_reasons (id, name) VALUES ($1, $2)")
            .bind(&reason.id)
            .bind(&reason.name)
            .execute(&self.pool)
            .await
            .map_err(|e| map_unique(e, "idle reason"))?;
        Ok(())
    }

    /// Renames an idle reason; `false` if there is no such code.
    pub async fn update_idle_reason(&self, reason: &IdleReason) -> Result<bool, StoreError> {
        let n = sqlx::query("UPDATE idle_reasons SET name = $1 WHERE id = $2")
            .bind(&reason.name)
            .bind(&reason.id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// Removes an idle reason; `false` if there was none.
    pub async fn delete_idle_reason(&self, id: &str) -> Result<bool, StoreError> {
        let n = sqlx::query("DELETE FROM idle_reasons WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// One idle reason by id.
    pub async fn get_idle_reason(&self, id: &str) -> Result<Option<IdleReason>, StoreError> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT id, name FROM idle_reasons WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(id, name)| IdleReason { id, name }))
    }

    /// Every idle reason, by id.
    pub async fn list_idle_reasons(&self) -> Result<Vec<IdleReason>, StoreError> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT id, name FROM idle_reasons ORDER BY id")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(id, name)| IdleReason { id, name })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::TempDb;

    #[tokio::test]
    async fn idle_reasons_are_created_renamed_listed_and_deleted() {
        let db = TempDb::new().await;
        let reason = |id: &str, name: &str| IdleReason {
            id: id.into(),
            name: name.into(),
        };
        db.store
            .create_idle_reason(&reason("lunch", "Lunch"))
            .await
            .unwrap();
        db.store
            .create_idle_reason(&reason("break", "Break"))
            .await
            .unwrap();
        let err = db
            .store
            .create_idle_reason(&reason("lunch", "Again"))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Duplicate(_)), "{err:?}");
        assert!(
            db.store
                .update_idle_reason(&reason("lunch", "Meal"))
                .await
                .unwrap()
        );
        assert!(
            !db.store
                .update_idle_reason(&reason("nap", "Nap"))
                .await
                .unwrap()
        );
        assert_eq!(
            db.store.list_idle_reasons().await.unwrap(),
            vec![reason("break", "Break"), reason("lunch", "Meal")]
        );
        assert!(db.store.delete_idle_reason("lunch").await.unwrap());
        assert_eq!(db.store.get_idle_reason("lunch").await.unwrap(), None);
    }
}

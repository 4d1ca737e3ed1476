//! Callback widgets and callbacks (migration 0017). A widget's key is shown once, when it is
//! created; the database keeps its SHA-256 and looks widgets up by it, as API tokens are.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::passwords::random_bytes;
use super::{Store, StoreError, UnixMillis, enum_from_text, enum_to_text, map_unique, narrow};
use crate::routing::model::{InteractionId, QueueId};

const TABLE: &str = "callbacks";

/// A website's callback form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CallbackWidget {
    /// The widget's id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The queue its callbacks wait in.
    #[schema(value_type = String)]
    pub queue: QueueId,
    /// When it was created.
    #[schema(value_type = i64)]
    pub created_ms: UnixMillis,
}

/// Where a callback stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallbackStatus {
    /// Waiting, offered or being dialled.
    Pending,
    /// The customer answered.
    Connected,
    /// Every attempt failed.
    Failed,
    /// The customer or a supervisor cancelled it.
    Cancelled,
}

/// A callback.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Callback {
    /// The interaction it is.
    #[schema(value_type = String)]
    pub interaction: InteractionId,
    /// The widget that filed it (`None`: a caller's courtesy callback).
    pub widget: Option<String>,
    /// The customer's number (E.164).
    pub number: String,
    /// The queue it waits in.
    #[schema(value_type = String)]
    pub queue: QueueId,
    /// What the customer reached (the widget's queue number, or the number the caller dialled).
    pub dnis: String,
    /// Not to be called before then.
    #[schema(value_type = Option<i64>)]
    pub scheduled_ms: Option<UnixMillis>,
    /// Attempts made.
    pub attempts: u32,
    /// Where it stands.
    pub status: CallbackStatus,
    /// When it was filed.
    #[schema(value_type = i64)]
    pub created_ms: UnixMillis,
}

fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

#[derive(sqlx::FromRow)]
struct CallbackRow {
    interaction_id: String,
    widget_id: Option<String>,
    number: String,
    queue_id: String,
    dnis: String,
    scheduled_ms: Option<i64>,
    attempts: i64,
    status: String,
    created_ms: i64,
}

impl TryFrom<CallbackRow> for Callback {
    type Error = StoreError;

    fn try_from(row: CallbackRow) -> Result<Callback, StoreError> {
        Ok(Callback {
            interaction: InteractionId(row.interaction_id),
            widget: row.widget_id,
            number: row.number,
            queue: QueueId(row.queue_id),
            dnis: row.dnis,
            scheduled_ms: row.scheduled_ms.map(UnixMillis),
            attempts: narrow(row.attempts, TABLE, "attempts")?,
            status: enum_from_text(&row.status, TABLE, "status")?,
            created_ms: UnixMillis(row.created_ms),
        })
    }
}

const SELECT: &str = "SELECT interaction_id, widget_id, number, queue_id, dnis, scheduled_ms, \
                      attempts, status, created_ms FROM callbacks";

impl Store {
    /// Creates a widget for `queue`; returns it with its key, which is never shown again.
    pub async fn create_callback_widget(
        &self,
        id: &str,
        name: &str,
        queue: &QueueId,
        now: UnixMillis,
    ) -> Result<(String, CallbackWidget), StoreError> {
        let key = format!("cbw_{}", hex::encode(random_bytes::<24>()));
        sqlx::query(
            "INSERT INTO callback_widgets (id, name, queue_id, key_hash, created_ms) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(name)
        .bind(queue.as_str())
        .bind(key_hash(&key))
        .bind(now.0)
        .execute(&self.pool)
        .await
        .map_err(|e| map_unique(e, "widget"))?;
        let widget = CallbackWidget {
            id: id.to_owned(),
            name: name.to_owned(),
            queue: queue.clone(),
            created_ms: now,
        };
        Ok((key, widget))
    }

    /// Every widget.
    pub async fn list_callback_widgets(&self) -> Result<Vec<CallbackWidget>, StoreError> {
        let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
            "SELECT id, name, queue_id, created_ms FROM callback_widgets ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(widget).collect())
    }

    /// The widget whose key is `key`, if any.
    pub async fn find_callback_widget(
        &self,
        key: &str,
    ) -> Result<Option<CallbackWidget>, StoreError> {
        let row: Option<(String, String, String, i64)> = sqlx::query_as(
            "SELECT id, name, queue_id, created_ms FROM callback_widgets WHERE key_hash = $1",
        )
        .bind(key_hash(key))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(widget))
    }

    /// Deletes a widget (its callbacks stay); `false` if there was none.
    pub async fn delete_callback_widget(&self, id: &str) -> Result<bool, StoreError> {
        let n = sqlx::query("DELETE FROM callback_widgets WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// Writes a new callback.
    pub async fn insert_callback(&self, callback: &Callback) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO callbacks (interaction_id, widget_id, number, queue_id, dnis, \
             scheduled_ms, attempts, status, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(callback.interaction.as_str())
        .bind(callback.widget.as_deref())
        .bind(&callback.number)
        .bind(callback.queue.as_str())
        .bind(&callback.dnis)
        .bind(callback.scheduled_ms.map(|t| t.0))
        .bind(i64::from(callback.attempts))
        .bind(enum_to_text(&callback.status, TABLE, "status")?)
        .bind(callback.created_ms.0)
        .execute(&self.pool)
        .await
        .map_err(|e| map_unique(e, "callback"))?;
        Ok(())
    }

    /// Records attempts made and where a callback stands; a callback that already left
    /// `pending` keeps its status. `false` if there is no such callback.
    pub async fn update_callback(
        &self,
        id: &InteractionId,
        attempts: Option<u32>,
        status: CallbackStatus,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE callbacks SET attempts = COALESCE($2, attempts), \
             status = CASE WHEN status = 'pending' THEN $3 ELSE status END \
             WHERE interaction_id = $1",
        )
        .bind(id.as_str())
        .bind(attempts.map(i64::from))
        .bind(enum_to_text(&status, TABLE, "status")?)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    /// One callback.
    pub async fn get_callback(&self, id: &InteractionId) -> Result<Option<Callback>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("{SELECT} WHERE interaction_id = $1"));
        let row: Option<CallbackRow> = sqlx::query_as(sql)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(Callback::try_from).transpose()
    }

    /// Callbacks, newest first, `status` ones only when given, at most `limit`.
    pub async fn list_callbacks(
        &self,
        status: Option<CallbackStatus>,
        limit: u32,
    ) -> Result<Vec<Callback>, StoreError> {
        let rows: Vec<CallbackRow> = match status {
            Some(status) => {
                let sql = sqlx::AssertSqlSafe(format!(
                    "{SELECT} WHERE status = $1 ORDER BY created_ms DESC, interaction_id LIMIT $2"
                ));
                sqlx::query_as(sql)
                    .bind(enum_to_text(&status, TABLE, "status")?)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                let sql = sqlx::AssertSqlSafe(format!(
                    "{SELECT} ORDER BY created_ms DESC, interaction_id LIMIT $1"
                ));
                sqlx::query_as(sql)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.into_iter().map(Callback::try_from).collect()
    }
}

fn widget((id, name, queue, created_ms): (String, String, String, i64)) -> CallbackWidget {
    CallbackWidget {
        id,
        name,
        queue: QueueId(queue),
        created_ms: UnixMillis(created_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::TempDb;

    fn callback(id: &str, at: i64) -> Callback {
        Callback {
            interaction: InteractionId(id.into()),
            widget: Some("web".into()),
            number: "+33123456789".into(),
            queue: QueueId("sales".into()),
            dnis: "7000".into(),
            scheduled_ms: None,
            attempts: 0,
            status: CallbackStatus::Pending,
            created_ms: UnixMillis(at),
        }
    }

    #[tokio::test]
    async fn a_widget_is_found_by_its_key_only_and_the_key_is_not_stored() {
        let db = TempDb::new().await;
        let (key, widget) = db
            .store
            .create_callback_widget("web", "Website", &QueueId("sales".into()), UnixMillis(1))
            .await
            .unwrap();
        assert_eq!(
            db.store.find_callback_widget(&key).await.unwrap(),
            Some(widget)
        );
        assert_eq!(
            db.store.find_callback_widget("cbw_nope").await.unwrap(),
            None
        );
        let stored: String = sqlx::query_scalar("SELECT key_hash FROM callback_widgets")
            .fetch_one(&db.store.pool)
            .await
            .unwrap();
        assert_ne!(stored, key);
        assert!(db.store.delete_callback_widget("web").await.unwrap());
        assert_eq!(db.store.find_callback_widget(&key).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_callback_that_left_pending_keeps_its_status() {
        let db = TempDb::new().await;
        db.store
            .insert_callback(&callback("ix-1", 5))
            .await
            .unwrap();
        db.store
            .insert_callback(&callback("ix-2", 6))
            .await
            .unwrap();
        let id = InteractionId("ix-1".into());
        db.store
            .update_callback(&id, Some(1), CallbackStatus::Pending)
            .await
            .unwrap();
        db.store
            .update_callback(&id, Some(2), CallbackStatus::Failed)
            .await
            .unwrap();
        db.store
            .update_callback(&id, None, CallbackStatus::Cancelled)
            .await
            .unwrap();
        let got = db.store.get_callback(&id).await.unwrap().unwrap();
        assert_eq!((got.attempts, got.status), (2, CallbackStatus::Failed));
        let pending = db
            .store
            .list_callbacks(Some(CallbackStatus::Pending), 10)
            .await
            .unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].interaction.as_str(), "ix-2");
    }
}

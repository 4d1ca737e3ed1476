//! The switch's heartbeat: the last moment it was known alive, written every few seconds, so
//! what a crash interrupted ends then rather than whenever the switch came back.

use super::{Store, StoreError, UnixMillis};

impl Store {
    /// Records that the switch is alive at `at`.
    pub async fn heartbeat(&self, at: UnixMillis) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO switch_heartbeat (id, at_ms) VALUES (1, $1) \
             ON CONFLICT (id) DO UPDATE SET at_ms = excluded.at_ms",
        )
        .bind(at.0)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The last heartbeat, if a switch ever wrote one.
    pub async fn last_heartbeat(&self) -> Result<Option<UnixMillis>, StoreError> {
        let at: Option<i64> = sqlx::query_scalar("SELECT at_ms FROM switch_heartbeat WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        Ok(at.map(UnixMillis))
    }
}

#[cfg(test)]
mod tests {
    use crate::store::UnixMillis;
    use crate::store::test_support::TempDb;

    #[tokio::test]
    async fn the_last_heartbeat_is_the_latest_one_written() {
        let db = TempDb::new().await;
        assert_eq!(db.store.last_heartbeat().await.unwrap(), None);
        db.store.heartbeat(UnixMillis(1_000)).await.unwrap();
        db.store.heartbeat(UnixMillis(6_000)).await.unwrap();
        assert_eq!(
            db.store.last_heartbeat().await.unwrap(),
            Some(UnixMillis(6_000))
        );
    }
}

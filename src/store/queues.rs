//! Queues: [`QueueConfig`] rows, durations stored as whole seconds.

use std::time::Duration;

use super::{
    Store, StoreError, enum_from_text, enum_to_text, flag, from_json, map_unique, narrow, to_json,
};
use crate::routing::model::{QueueConfig, QueueId};

const TABLE: &str = "queues";

#[derive(sqlx::FromRow)]
struct QueueRow {
    id: String,
    name: String,
    number: String,
    strategy: String,
    required_skills: String,
    teams: String,
    ring_timeout_secs: i64,
    max_wait_secs: Option<i64>,
    overflow: Option<String>,
    wrap_up_max_secs: Option<i64>,
    last_agent_routing: i64,
    disposition_required: i64,
    music: Option<String>,
    recording: Option<i64>,
    noise_suppression: Option<i64>,
    max_calls: i64,
    outdial_caller_id: Option<String>,
    courtesy_callback_secs: Option<i64>,
    courtesy_prompt: Option<String>,
}

fn secs(value: i64, column: &'static str) -> Result<Duration, StoreError> {
    narrow::<u64>(value, TABLE, column).map(Duration::from_secs)
}

fn secs_i64(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

impl TryFrom<QueueRow> for QueueConfig {
    type Error = StoreError;

    fn try_from(row: QueueRow) -> Result<QueueConfig, StoreError> {
        Ok(QueueConfig {
            id: QueueId(row.id),
            name: row.name,
            number: row.number,
            strategy: enum_from_text(&row.strategy, TABLE, "strategy")?,
            required_skills: from_json(&row.required_skills, TABLE, "required_skills")?,
            teams: from_json(&row.teams, TABLE, "teams")?,
            ring_timeout: secs(row.ring_timeout_secs, "ring_timeout_secs")?,
            max_wait: row
                .max_wait_secs
                .map(|s| secs(s, "max_wait_secs"))
                .transpose()?,
            overflow: row
                .overflow
                .map(|o| from_json(&o, TABLE, "overflow"))
                .transpose()?,
            wrap_up_max: row
                .wrap_up_max_secs
                .map(|s| secs(s, "wrap_up_max_secs"))
                .transpose()?,
            last_agent_routing: flag(row.last_agent_routing, TABLE, "last_agent_routing")?,
            disposition_required: flag(row.disposition_required, TABLE, "disposition_required")?,
            music: row.music,
            recording: row
                .recording
                .map(|v| flag(v, TABLE, "recording"))
                .transpose()?,
            noise_suppression: row
                .noise_suppression
                .map(|v| flag(v, TABLE, "noise_suppression"))
                .transpose()?,
            max_calls: narrow::<u32>(row.max_calls, TABLE, "max_calls")?,
            outdial_caller_id: row.outdial_caller_id,
            courtesy_callback_after: row
                .courtesy_callback_secs
                .map(|s| secs(s, "courtesy_callback_secs"))
                .transpose()?,
            courtesy_prompt: row.courtesy_prompt,
        })
    }
}

const SELECT: &str = "SELECT id, name, number, strategy, required_skills, teams, \
                      ring_timeout_secs, max_wait_secs, overflow, wrap_up_max_secs, \
                      last_agent_routing, disposition_required, music, recording, \
                      noise_suppression, max_calls, outdial_caller_id, courtesy_callback_secs, \
                      courtesy_prompt FROM queues";

impl Store {
    /// Adds a queue; an existing id or number is [`StoreError::Duplicate`].
    pub async fn create_queue(&self, q: &QueueConfig) -> Result<(), StoreError> {
        self.write_queue(
            q,
            "INSERT INTO queues (name, number, strategy, required_skills, teams, \
             ring_timeout_secs, max_wait_secs, overflow, wrap_up_max_secs, last_agent_routing, \
             disposition_required, music, recording, noise_suppression, max_calls, id, \
             outdial_caller_id, courtesy_callback_secs, courtesy_prompt) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
             $17, $18, $19)",
        )
        .await
        .map(|_| ())
    }

    /// Replaces a queue's configuration; `false` if there is no such queue.
    pub async fn update_queue(&self, q: &QueueConfig) -> Result<bool, StoreError> {
        self.write_queue(
            q,
            "UPDATE queues SET name = $1, number = $2, strategy = $3, required_skills = $4, \
             teams = $5, ring_timeout_secs = $6, max_wait_secs = $7, overflow = $8, \
             wrap_up_max_secs = $9, last_agent_routing = $10, disposition_required = $11, \
             music = $12, recording = $13, noise_suppression = $14, max_calls = $15, \
             outdial_caller_id = $17, courtesy_callback_secs = $18, courtesy_prompt = $19 \
             WHERE id = $16",
        )
        .await
        .map(|n| n > 0)
    }

    async fn write_queue(&self, q: &QueueConfig, sql: &'static str) -> Result<u64, StoreError> {
        let overflow = q
            .overflow
            .as_ref()
            .map(|o| to_json(o, TABLE, "overflow"))
            .transpose()?;
        let result = sqlx::query(sql)
            .bind(&q.name)
            .bind(&q.number)
            .bind(enum_to_text(&q.strategy, TABLE, "strategy")?)
            .bind(to_json(&q.required_skills, TABLE, "required_skills")?)
            .bind(to_json(&q.teams, TABLE, "teams")?)
            .bind(secs_i64(q.ring_timeout))
            .bind(q.max_wait.map(secs_i64))
            .bind(overflow)
            .bind(q.wrap_up_max.map(secs_i64))
            .bind(i64::from(q.last_agent_routing))
            .bind(i64::from(q.disposition_required))
            .bind(q.music.as_deref())
            .bind(q.recording.map(i64::from))
            .bind(q.noise_suppression.map(i64::from))
            .bind(i64::from(q.max_calls))
            .bind(q.id.as_str())
            .bind(q.outdial_caller_id.as_deref())
            .bind(q.courtesy_callback_after.map(secs_i64))
            .bind(q.courtesy_prompt.as_deref())
            .execute(&self.pool)
            .await
            .map_err(|e| map_unique(e, "queue with this id or number"))?;
        Ok(result.rows_affected())
    }

    /// Removes a queue; `false` if there was none.
    pub async fn delete_queue(&self, id: &QueueId) -> Result<bool, StoreError> {
        let n = sqlx::query("DELETE FROM queues WHERE id = $1")
            .bind(id.as_str())
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// One queue by id.
    pub async fn get_queue(&self, id: &QueueId) -> Result<Option<QueueConfig>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("{SELECT} WHERE id = $1"));
        let row: Option<QueueRow> = sqlx::query_as(sql)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(QueueConfig::try_from).transpose()
    }

    /// Every queue, by id.
    pub async fn list_queues(&self) -> Result<Vec<QueueConfig>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("{SELECT} ORDER BY id"));
        let rows: Vec<QueueRow> = sqlx::query_as(sql).fetch_all(&self.pool).await?;
        rows.into_iter().map(QueueConfig::try_from).collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::routing::model::{OverflowTarget, Skill, Strategy, TeamId};
    use crate::store::test_support::TempDb;

    pub(crate) fn queue(id: &str, number: &str) -> QueueConfig {
        QueueConfig {
            id: QueueId::from(id),
            name: format!("Queue {id}"),
            number: number.into(),
            strategy: Strategy::LongestIdle,
            required_skills: vec![],
            teams: vec![],
            ring_timeout: Duration::from_secs(20),
            max_wait: None,
            overflow: None,
            wrap_up_max: None,
            last_agent_routing: false,
            disposition_required: false,
            music: None,
            recording: None,
            noise_suppression: None,
            max_calls: 0,
            outdial_caller_id: None,
            courtesy_callback_after: None,
            courtesy_prompt: None,
        }
    }

    #[tokio::test]
    async fn queues_round_trip_every_column() {
        let db = TempDb::new().await;
        let plain = queue("billing", "7001");
        db.store.create_queue(&plain).await.unwrap();
        let full = QueueConfig {
            strategy: Strategy::SkillsBased,
            required_skills: vec![Skill {
                name: "french".into(),
                level: 5,
            }],
            teams: vec![TeamId::from("t1")],
            max_wait: Some(Duration::from_secs(120)),
            overflow: Some(OverflowTarget::Queue("billing".into())),
            wrap_up_max: Some(Duration::from_secs(30)),
            last_agent_routing: true,
            disposition_required: true,
            music: Some("jazz.wav".into()),
            recording: Some(false),
            noise_suppression: Some(true),
            max_calls: 25,
            outdial_caller_id: Some("+33900000002".into()),
            courtesy_callback_after: Some(Duration::from_secs(90)),
            courtesy_prompt: Some("courtesy.wav".into()),
            ..queue("sales", "7000")
        };
        db.store.create_queue(&full).await.unwrap();
        assert_eq!(
            db.store.get_queue(&full.id).await.unwrap(),
            Some(full.clone())
        );
        assert_eq!(
            db.store.list_queues().await.unwrap(),
            vec![plain.clone(), full.clone()]
        );

        let err = db
            .store
            .create_queue(&queue("other", "7000"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Duplicate(_)),
            "same number: {err:?}"
        );
        let err = db
            .store
            .create_queue(&queue("sales", "7999"))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Duplicate(_)), "same id: {err:?}");

        let mut changed = full.clone();
        changed.overflow = Some(OverflowTarget::Number("+15550100".into()));
        changed.strategy = Strategy::RingAll;
        assert!(db.store.update_queue(&changed).await.unwrap());
        assert_eq!(db.store.get_queue(&full.id).await.unwrap(), Some(changed));
        assert!(!db.store.update_queue(&queue("nope", "1")).await.unwrap());
        assert!(db.store.delete_queue(&plain.id).await.unwrap());
        assert!(!db.store.delete_queue(&plain.id).await.unwrap());
    }
}

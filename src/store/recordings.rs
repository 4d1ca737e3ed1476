//! Recordings of interactions: where the WAV is, and whether it is still being written,
//! complete, failed (disk full, unwritable directory) or interrupted (the switch died while
//! it was being written; the file is readable up to the last finalised second).

use serde::Serialize;

use super::{Store, StoreError, UnixMillis};
use crate::routing::model::InteractionId;

/// Where a recording stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordingStatus {
    /// Being written.
    Recording,
    /// Finished normally.
    Complete,
    /// Could not be written; the call went on without it.
    Failed,
    /// The switch stopped while writing it; the file holds what was finalised.
    Interrupted,
}

impl RecordingStatus {
    fn as_str(self) -> &'static str {
        match self {
            RecordingStatus::Recording => "recording",
            RecordingStatus::Complete => "complete",
            RecordingStatus::Failed => "failed",
            RecordingStatus::Interrupted => "interrupted",
        }
    }

    fn parse(s: &str) -> Option<RecordingStatus> {
        [
            RecordingStatus::Recording,
            RecordingStatus::Complete,
            RecordingStatus::Failed,
            RecordingStatus::Interrupted,
        ]
        .into_iter()
        .find(|status| status.as_str() == s)
    }
}

/// One recording.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RecordingRow {
    /// The recorded interaction.
    #[schema(value_type = String)]
    pub interaction: InteractionId,
    /// The WAV file (its JSON sidecar sits beside it).
    pub path: String,
    /// Where it stands.
    pub status: RecordingStatus,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// When it started (epoch milliseconds).
    #[schema(value_type = i64)]
    pub started_ms: UnixMillis,
    /// When it ended.
    #[schema(value_type = Option<i64>)]
    pub ended_ms: Option<UnixMillis>,
}

type Row = (String, String, String, Option<String>, i64, Option<i64>);

fn from_row(
    (interaction, path, status, error, started, ended): Row,
) -> Result<RecordingRow, StoreError> {
    Ok(RecordingRow {
        interaction: InteractionId(interaction),
        path,
        status: RecordingStatus::parse(&status).ok_or_else(|| StoreError::Corrupt {
            table: "recordings",
            column: "status",
            reason: format!("unknown status {status:?}"),
        })?,
        error,
        started_ms: UnixMillis(started),
        ended_ms: ended.map(UnixMillis),
    })
}

const SELECT: &str =
    "SELECT interaction_id, path, status, error, started_ms, ended_ms FROM recordings";

impl Store {
    /// Records that a recording started (or restarted: the row is replaced).
    pub async fn recording_started(
        &self,
        interaction: &InteractionId,
        path: &str,
        at: UnixMillis,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO recordings (interaction_id, path, status, started_ms) \
             VALUES ($1, $2, 'recording', $3) \
             ON CONFLICT (interaction_id) DO UPDATE SET path = excluded.path, \
             status = 'recording', error = NULL, started_ms = excluded.started_ms, ended_ms = NULL",
        )
        .bind(interaction.as_str())
        .bind(path)
        .bind(at.0)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records how a recording ended.
    pub async fn recording_ended(
        &self,
        interaction: &InteractionId,
        status: RecordingStatus,
        error: Option<&str>,
        at: UnixMillis,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE recordings SET status = $2, error = COALESCE($3, error), ended_ms = $4 \
             WHERE interaction_id = $1",
        )
        .bind(interaction.as_str())
        .bind(status.as_str())
        .bind(error)
        .bind(at.0)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Recordings still marked as being written: after a restart, these were interrupted.
    pub async fn unfinished_recordings(&self) -> Result<Vec<RecordingRow>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("{SELECT} WHERE status = 'recording'"));
        let rows: Vec<Row> = sqlx::query_as(sql).fetch_all(&self.pool).await?;
        rows.into_iter().map(from_row).collect()
    }

    /// One interaction's recording.
    pub async fn get_recording(
        &self,
        interaction: &InteractionId,
    ) -> Result<Option<RecordingRow>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("{SELECT} WHERE interaction_id = $1"));
        let row: Option<Row> = sqlx::query_as(sql)
            .bind(interaction.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(from_row).transpose()
    }

    /// The latest recordings, newest first.
    pub async fn list_recordings(&self, limit: u32) -> Result<Vec<RecordingRow>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("{SELECT} ORDER BY started_ms DESC LIMIT $1"));
        let rows: Vec<Row> = sqlx::query_as(sql)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(from_row).collect()
    }
}

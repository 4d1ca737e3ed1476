//! Interactions: one row per customer contact, written by the switch as the contact moves
//! through its states and read back by the CTI's history search.
//!
//! Split by concept: history search in [`search`], wrap-up of an interaction or of an
//! agent's part in [`wrap_up`].

use serde::{Deserialize, Serialize};

use super::{
    Store, StoreError, UnixMillis, enum_from_text, enum_to_text, flag, from_json, map_unique,
    to_json,
};
use crate::routing::model::{AgentId, InteractionId, InteractionState, MediaType, QueueId};

mod search;
mod wrap_up;

pub(in crate::store) use search::{Arg, push, scope_condition};
pub use search::{InteractionFilter, Scope};
pub use wrap_up::WrapUpOutcome;

const TABLE: &str = "interactions";

/// Which way the contact was set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The customer contacted us.
    Inbound,
    /// We contacted the customer.
    Outbound,
}

/// A party of an interaction other than the customer and the agent (consult targets,
/// conference members), or an agent's own part of an interaction it handed over.
///
/// An agent who transfers the customer away keeps a part (role `"agent"`): when it answered
/// and handed over, and its own wrap-up (disposition, notes, when). The interaction's own
/// columns stay the last agent's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Participant {
    /// What the party was for, e.g. `"consult"`, `"conference"`, `"transfer"`, or `"agent"`
    /// for a part handed over.
    pub role: String,
    /// A number, SIP user or agent id.
    pub address: String,
    /// A part's start: when the agent answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connected_ms: Option<i64>,
    /// A part's end: when the agent handed the interaction over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_ms: Option<i64>,
    /// When the agent's wrap-up of its part ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wrapped_up_ms: Option<i64>,
    /// The disposition code the agent gave its part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disposition: Option<String>,
    /// The agent's notes on its part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// The role of an agent's own part in [`Interaction::participants`].
pub const AGENT_PART: &str = "agent";

impl Participant {
    /// A party in `role` at `address`.
    #[must_use]
    pub fn new(role: &str, address: &str) -> Participant {
        Participant {
            role: role.to_owned(),
            address: address.to_owned(),
            ..Participant::default()
        }
    }
}

impl Interaction {
    /// The newest part `agent` handed over, if it handed this interaction over.
    #[must_use]
    pub fn part_of(&self, agent: &AgentId) -> Option<&Participant> {
        self.participants
            .iter()
            .rev()
            .find(|p| p.role == AGENT_PART && p.address == agent.as_str())
    }
}

/// A change to a live interaction's media processing, kept on the interaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MediaChange {
    /// When (Unix milliseconds).
    pub at_ms: i64,
    /// What changed: `noise_suppression`.
    pub setting: String,
    /// On or off from then on.
    pub enabled: bool,
    /// Who changed it (a user id).
    pub by: String,
}

/// One customer contact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Interaction {
    /// The interaction's id.
    #[schema(value_type = String)]
    pub id: InteractionId,
    /// `voice`, `chat` or `email`.
    #[schema(value_type = String)]
    pub media: MediaType,
    /// Inbound or outbound.
    pub direction: Direction,
    /// The calling number.
    pub ani: String,
    /// The called number.
    pub dnis: String,
    /// The queue the contact went through, if any.
    #[schema(value_type = Option<String>)]
    pub queue: Option<QueueId>,
    /// Where the contact is in its life.
    pub state: InteractionState,
    /// The agent who handled (or is handling) it.
    #[schema(value_type = Option<String>)]
    pub agent: Option<AgentId>,
    /// Other parties that took part.
    pub participants: Vec<Participant>,
    /// Media-processing changes made while it was live.
    pub media_changes: Vec<MediaChange>,
    /// The agent's notes.
    pub notes: String,
    /// The disposition code chosen at wrap-up.
    pub disposition: Option<String>,
    /// When the contact arrived.
    #[schema(value_type = i64)]
    pub created_ms: UnixMillis,
    /// When it was first offered to an agent.
    #[schema(value_type = Option<i64>)]
    pub offered_ms: Option<UnixMillis>,
    /// When an agent connected.
    #[schema(value_type = Option<i64>)]
    pub connected_ms: Option<UnixMillis>,
    /// When the customer's contact ended.
    #[schema(value_type = Option<i64>)]
    pub ended_ms: Option<UnixMillis>,
    /// When wrap-up was completed.
    #[schema(value_type = Option<i64>)]
    pub wrapped_up_ms: Option<UnixMillis>,
    /// The customer hung up before reaching an agent.
    pub abandoned: bool,
    /// The concurrent-call limit that refused the call before it was answered
    /// (`queue_calls`, `org_calls`, `trunk_channels`).
    pub refused_by: Option<String>,
    /// Why a call out (click-to-dial, callback) never connected (`customer_486`,
    /// `customer_no_answer`, `agent_no_answer`, `cancelled`, ...).
    pub failure: Option<String>,
}

/// A step in a live interaction's life (see [`Store::record_interaction_progress`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InteractionProgress {
    /// The interaction.
    pub id: InteractionId,
    /// The state it entered.
    pub state: InteractionState,
    /// The queue it is in, if that changed.
    pub queue: Option<QueueId>,
    /// The agent now handling it (set when an agent connects).
    pub agent: Option<AgentId>,
    /// When.
    pub at: UnixMillis,
    /// The customer hung up before reaching an agent.
    pub abandoned: bool,
    /// A disposition chosen at wrap-up.
    pub disposition: Option<String>,
    /// Why a call out never connected (with state `Ended`).
    pub failure: Option<String>,
}

#[derive(sqlx::FromRow)]
struct InteractionRow {
    id: String,
    media: String,
    direction: String,
    ani: String,
    dnis: String,
    queue_id: Option<String>,
    state: String,
    agent_id: Option<String>,
    participants: String,
    media_changes: String,
    notes: String,
    disposition_code: Option<String>,
    created_ms: i64,
    offered_ms: Option<i64>,
    connected_ms: Option<i64>,
    ended_ms: Option<i64>,
    wrapped_up_ms: Option<i64>,
    abandoned: i64,
    refused_by: Option<String>,
    failure: Option<String>,
}

impl TryFrom<InteractionRow> for Interaction {
    type Error = StoreError;

    fn try_from(row: InteractionRow) -> Result<Interaction, StoreError> {
        Ok(Interaction {
            id: InteractionId(row.id),
            media: enum_from_text(&row.media, TABLE, "media")?,
            direction: enum_from_text(&row.direction, TABLE, "direction")?,
            ani: row.ani,
            dnis: row.dnis,
            queue: row.queue_id.map(QueueId),
            state: InteractionState::parse(&row.state).ok_or_else(|| StoreError::Corrupt {
                table: TABLE,
                column: "state",
                reason: format!("unknown {:?}", row.state),
            })?,
            agent: row.agent_id.map(AgentId),
            participants: from_json(&row.participants, TABLE, "participants")?,
            media_changes: from_json(&row.media_changes, TABLE, "media_changes")?,
            notes: row.notes,
            disposition: row.disposition_code,
            created_ms: UnixMillis(row.created_ms),
            offered_ms: row.offered_ms.map(UnixMillis),
            connected_ms: row.connected_ms.map(UnixMillis),
            ended_ms: row.ended_ms.map(UnixMillis),
            wrapped_up_ms: row.wrapped_up_ms.map(UnixMillis),
            abandoned: flag(row.abandoned, TABLE, "abandoned")?,
            refused_by: row.refused_by,
            failure: row.failure,
        })
    }
}

const COLUMNS: &str = "id, media, direction, ani, dnis, queue_id, state, agent_id, participants, \
                       media_changes, notes, disposition_code, created_ms, offered_ms, \
                       connected_ms, ended_ms, wrapped_up_ms, abandoned, refused_by, failure";

/// The JSON list columns of an interaction that grow while it lives.
#[derive(Clone, Copy)]
enum ListColumn {
    Participants,
    MediaChanges,
}

impl ListColumn {
    /// The column's name, and the statements that read and write it.
    fn sql(self) -> (&'static str, &'static str, &'static str) {
        match self {
            ListColumn::Participants => (
                "participants",
                "SELECT participants FROM interactions WHERE id = $1",
                "UPDATE interactions SET participants = $1 WHERE id = $2",
            ),
            ListColumn::MediaChanges => (
                "media_changes",
                "SELECT media_changes FROM interactions WHERE id = $1",
                "UPDATE interactions SET media_changes = $1 WHERE id = $2",
            ),
        }
    }
}

impl Store {
    /// Writes a new interaction; an existing id is [`StoreError::Duplicate`].
    pub async fn insert_interaction(&self, ix: &Interaction) -> Result<(), StoreError> {
        self.write_interaction(
            ix,
            "INSERT INTO interactions (media, direction, ani, dnis, queue_id, state, agent_id, \
             participants, notes, disposition_code, created_ms, offered_ms, connected_ms, \
             ended_ms, wrapped_up_ms, abandoned, id, media_changes, refused_by, failure) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
             $18, $19, $20)",
        )
        .await
        .map(|_| ())
    }

    /// Replaces every column of an interaction (the switch's view is authoritative); `false`
    /// if there is no such interaction.
    pub async fn update_interaction(&self, ix: &Interaction) -> Result<bool, StoreError> {
        self.write_interaction(
            ix,
            "UPDATE interactions SET media = $1, direction = $2, ani = $3, dnis = $4, \
             queue_id = $5, state = $6, agent_id = $7, participants = $8, notes = $9, \
             disposition_code = $10, created_ms = $11, offered_ms = $12, connected_ms = $13, \
             ended_ms = $14, wrapped_up_ms = $15, abandoned = $16, media_changes = $18, \
             refused_by = $19, failure = $20 WHERE id = $17",
        )
        .await
        .map(|n| n > 0)
    }

    async fn write_interaction(
        &self,
        ix: &Interaction,
        sql: &'static str,
    ) -> Result<u64, StoreError> {
        let result = sqlx::query(sql)
            .bind(enum_to_text(&ix.media, TABLE, "media")?)
            .bind(enum_to_text(&ix.direction, TABLE, "direction")?)
            .bind(&ix.ani)
            .bind(&ix.dnis)
            .bind(ix.queue.as_ref().map(QueueId::as_str))
            .bind(ix.state.as_str())
            .bind(ix.agent.as_ref().map(AgentId::as_str))
            .bind(to_json(&ix.participants, TABLE, "participants")?)
            .bind(&ix.notes)
            .bind(ix.disposition.as_deref())
            .bind(ix.created_ms.0)
            .bind(ix.offered_ms.map(|t| t.0))
            .bind(ix.connected_ms.map(|t| t.0))
            .bind(ix.ended_ms.map(|t| t.0))
            .bind(ix.wrapped_up_ms.map(|t| t.0))
            .bind(i64::from(ix.abandoned))
            .bind(ix.id.as_str())
            .bind(to_json(&ix.media_changes, TABLE, "media_changes")?)
            .bind(ix.refused_by.as_deref())
            .bind(ix.failure.as_deref())
            .execute(&self.pool)
            .await
            .map_err(|e| map_unique(e, "interaction"))?;
        Ok(result.rows_affected())
    }

    /// Adds a party to the interaction's participants (once per role and address); `false`
    /// if there is no such interaction.
    pub async fn add_participant(
        &self,
        id: &InteractionId,
        participant: &Participant,
    ) -> Result<bool, StoreError> {
        self.append_to_list(
            id,
            ListColumn::Participants,
            |list: &mut Vec<Participant>| {
                if !list.contains(participant) {
                    list.push(participant.clone());
                }
            },
        )
        .await
    }

    /// Adds a media-processing change to the interaction; `false` if there is no such
    /// interaction.
    pub async fn add_media_change(
        &self,
        id: &InteractionId,
        change: &MediaChange,
    ) -> Result<bool, StoreError> {
        self.append_to_list(
            id,
            ListColumn::MediaChanges,
            |list: &mut Vec<MediaChange>| {
                list.push(change.clone());
            },
        )
        .await
    }

    /// Read, change and write back one JSON list column, in one transaction.
    async fn append_to_list<T, F>(
        &self,
        id: &InteractionId,
        column: ListColumn,
        change: F,
    ) -> Result<bool, StoreError>
    where
        T: Serialize + serde::de::DeserializeOwned,
        F: FnOnce(&mut Vec<T>),
    {
        let mut tx = self.begin_write().await?;
        let (column, select, update) = column.sql();
        let current: Option<(String,)> = sqlx::query_as(select)
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        let Some((text,)) = current else {
            return Ok(false);
        };
        let mut list: Vec<T> = from_json(&text, TABLE, column)?;
        change(&mut list);
        sqlx::query(update)
            .bind(to_json(&list, TABLE, column)?)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records how a live interaction progressed, as the ACD reports it, touching only the
    /// columns the switch owns (never notes, CAD or a wrap-up the desktop already wrote): the
    /// state, the queue, the handling agent when given, and the first time each milestone
    /// was reached. `false` if there is no such interaction.
    pub async fn record_interaction_progress(
        &self,
        progress: &InteractionProgress,
    ) -> Result<bool, StoreError> {
        let at = |state: InteractionState| (progress.state == state).then_some(progress.at.0);
        let n = sqlx::query(
            "UPDATE interactions SET \
             state = CASE WHEN state = 'wrapped_up' THEN state ELSE $2 END, \
             queue_id = COALESCE($3, queue_id), agent_id = COALESCE($4, agent_id), \
             offered_ms = COALESCE(offered_ms, $5), connected_ms = COALESCE(connected_ms, $6), \
             ended_ms = COALESCE(ended_ms, $7), wrapped_up_ms = COALESCE(wrapped_up_ms, $8), \
             abandoned = CASE WHEN $9 = 1 THEN 1 ELSE abandoned END, \
             disposition_code = COALESCE(disposition_code, $10), \
             failure = COALESCE(failure, $11) \
             WHERE id = $1",
        )
        .bind(progress.id.as_str())
        .bind(progress.state.as_str())
        .bind(progress.queue.as_ref().map(QueueId::as_str))
        .bind(progress.agent.as_ref().map(AgentId::as_str))
        .bind(at(InteractionState::Offered))
        .bind(at(InteractionState::Connected))
        .bind(at(InteractionState::Ended))
        .bind(at(InteractionState::WrappedUp))
        .bind(i64::from(progress.abandoned))
        .bind(progress.disposition.as_deref())
        .bind(progress.failure.as_deref())
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    /// Closes the interactions a crash left live (queued, ringing, talking, held,
    /// consulting, conferenced) as [`InteractionState::Interrupted`], except callbacks still
    /// pending (the runtime puts them back in their queues), ended at `last_alive`
    /// (the switch's last heartbeat, or their creation when that is later). Those already
    /// ended keep their state: their wrap-up is still owed. Returns how many were closed.
    pub async fn interrupt_live_interactions(
        &self,
        last_alive: UnixMillis,
    ) -> Result<u64, StoreError> {
        let n = sqlx::query(
            "UPDATE interactions SET state = $1, \
             ended_ms = CASE WHEN created_ms > $2 THEN created_ms ELSE $2 END \
             WHERE state NOT IN ($3, $4, $1) AND id NOT IN \
             (SELECT interaction_id FROM callbacks WHERE status = 'pending')",
        )
        .bind(InteractionState::Interrupted.as_str())
        .bind(last_alive.0)
        .bind(InteractionState::Ended.as_str())
        .bind(InteractionState::WrappedUp.as_str())
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n)
    }

    /// One interaction by id.
    pub async fn get_interaction(
        &self,
        id: &InteractionId,
    ) -> Result<Option<Interaction>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM interactions WHERE id = $1"));
        let row: Option<InteractionRow> = sqlx::query_as(sql)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(Interaction::try_from).transpose()
    }

    /// The agent who last connected with each caller, newest first, at most `limit` callers:
    /// what last-agent routing remembered before a restart.
    pub async fn last_agents(&self, limit: usize) -> Result<Vec<(String, AgentId)>, StoreError> {
        // The newest connected interaction per ANI; a caller's older ones are shadowed.
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT ani, agent_id FROM interactions i \
             WHERE agent_id IS NOT NULL AND connected_ms IS NOT NULL \
             AND connected_ms = (SELECT MAX(connected_ms) FROM interactions j \
                                 WHERE j.ani = i.ani AND j.agent_id IS NOT NULL) \
             ORDER BY connected_ms DESC LIMIT $1",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(ani, agent)| (ani, AgentId::from(agent.as_str())))
            .collect())
    }

    /// Replaces an interaction's notes; `false` if there is no such interaction.
    pub async fn set_interaction_notes(
        &self,
        id: &InteractionId,
        notes: &str,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query("UPDATE interactions SET notes = $1 WHERE id = $2")
            .bind(notes)
            .bind(id.as_str())
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n > 0)
    }
}

#[cfg(test)]
pub(crate) mod tests;

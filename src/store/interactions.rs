//! Interactions: one row per customer contact, written by the switch as the contact moves
//! through its states and read back by the CTI's history search.
//!
//! History search is scoped by who asks ([`Scope`]): an agent sees its own interactions, a
//! supervisor those handled by agents currently in its teams, an admin everything.

use serde::{Deserialize, Serialize};

use super::{
    Page, Store, StoreError, UnixMillis, enum_from_text, enum_to_text, flag, from_json, map_unique,
    placeholders, to_json,
};
use crate::routing::model::{AgentId, InteractionId, InteractionState, MediaType, QueueId, TeamId};

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
}

/// Whose interactions a search may return.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Everything (admins).
    All,
    /// Those handled by this agent.
    Agent(AgentId),
    /// Those handled by agents now in one of these teams (supervisors).
    Teams(Vec<TeamId>),
}

/// Which interactions [`Store::search_interactions`] returns: newest first,
/// `from <= created < to`, within `scope`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InteractionFilter {
    /// Exact match on ANI OR DNIS.
    pub number: Option<String>,
    /// Handled by this agent.
    pub agent: Option<AgentId>,
    /// Went through this queue.
    pub queue: Option<QueueId>,
    /// Wrapped up with this disposition code.
    pub disposition: Option<String>,
    /// Earliest creation time, inclusive.
    pub from: Option<UnixMillis>,
    /// Latest creation time, exclusive.
    pub to: Option<UnixMillis>,
    /// Page size, clamped to `1..=MAX_LIMIT`.
    pub limit: u32,
    /// Rows to skip.
    pub offset: u64,
    /// Whose interactions are visible.
    pub scope: Scope,
}

impl InteractionFilter {
    /// Page size when the caller does not choose one.
    pub const DEFAULT_LIMIT: u32 = 50;
    /// Largest page size served.
    pub const MAX_LIMIT: u32 = 500;

    /// Everything in `scope`, first page.
    #[must_use]
    pub fn scoped(scope: Scope) -> InteractionFilter {
        InteractionFilter {
            number: None,
            agent: None,
            queue: None,
            disposition: None,
            from: None,
            to: None,
            limit: Self::DEFAULT_LIMIT,
            offset: 0,
            scope,
        }
    }
}

/// What [`Store::wrap_up_interaction`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WrapUpOutcome {
    /// The interaction is now wrapped up.
    Done,
    /// There is no such interaction.
    NotFound,
    /// It was wrapped up before; nothing changed.
    AlreadyWrappedUp,
    /// The customer's contact is still live (queued, ringing, talking); nothing changed.
    NotEnded(InteractionState),
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
        })
    }
}

const COLUMNS: &str = "id, media, direction, ani, dnis, queue_id, state, agent_id, participants, \
                       media_changes, notes, disposition_code, created_ms, offered_ms, \
                       connected_ms, ended_ms, wrapped_up_ms, abandoned";

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

/// A value bound to a numbered placeholder of a dynamically built query.
enum Arg {
    Text(String),
    Int(i64),
}

impl Store {
    /// Writes a new interaction; an existing id is [`StoreError::Duplicate`].
    pub async fn insert_interaction(&self, ix: &Interaction) -> Result<(), StoreError> {
        self.write_interaction(
            ix,
            "INSERT INTO interactions (media, direction, ani, dnis, queue_id, state, agent_id, \
             participants, notes, disposition_code, created_ms, offered_ms, connected_ms, \
             ended_ms, wrapped_up_ms, abandoned, id, media_changes) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
             $18)",
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
             ended_ms = $14, wrapped_up_ms = $15, abandoned = $16, media_changes = $18 \
             WHERE id = $17",
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
        let mut tx = self.pool.begin().await?;
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
             disposition_code = COALESCE(disposition_code, $10) \
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
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    /// Closes the interactions a crash left live (queued, ringing, talking, held,
    /// consulting, conferenced) as [`InteractionState::Interrupted`], ended at `last_alive`
    /// (the switch's last heartbeat, or their creation when that is later). Those already
    /// ended keep their state: their wrap-up is still owed. Returns how many were closed.
    pub async fn interrupt_live_interactions(
        &self,
        last_alive: UnixMillis,
    ) -> Result<u64, StoreError> {
        let n = sqlx::query(
            "UPDATE interactions SET state = $1, \
             ended_ms = CASE WHEN created_ms > $2 THEN created_ms ELSE $2 END \
             WHERE state NOT IN ($3, $4, $1)",
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

    /// Closes `agent`'s part of an interaction it handed over (its newest part still open)
    /// with `code` and, if given, `notes`. The ACD closes a part without a code when the
    /// agent leaves wrap-up otherwise; a part already closed is
    /// [`WrapUpOutcome::AlreadyWrappedUp`], and an agent with no part
    /// [`WrapUpOutcome::NotFound`]. The interaction's own columns are never touched.
    pub async fn wrap_up_part(
        &self,
        id: &InteractionId,
        agent: &AgentId,
        code: Option<&str>,
        notes: Option<&str>,
        at: UnixMillis,
    ) -> Result<WrapUpOutcome, StoreError> {
        let mut outcome = WrapUpOutcome::NotFound;
        self.append_to_list(
            id,
            ListColumn::Participants,
            |list: &mut Vec<Participant>| {
                let mine =
                    |p: &&mut Participant| p.role == AGENT_PART && p.address == agent.as_str();
                let Some(part) = list.iter_mut().rev().find(mine) else {
                    return;
                };
                if part.wrapped_up_ms.is_some() {
                    outcome = WrapUpOutcome::AlreadyWrappedUp;
                    return;
                }
                part.wrapped_up_ms = Some(at.0);
                part.disposition = code.map(str::to_owned);
                part.notes = notes.map(str::to_owned);
                outcome = WrapUpOutcome::Done;
            },
        )
        .await?;
        Ok(outcome)
    }

    /// Closes an [`InteractionState::Ended`] interaction with disposition `code` (callers
    /// check it is a choosable code) and, if given, replaces its notes.
    pub async fn wrap_up_interaction(
        &self,
        id: &InteractionId,
        code: Option<&str>,
        notes: Option<&str>,
        at: UnixMillis,
    ) -> Result<WrapUpOutcome, StoreError> {
        let n = sqlx::query(
            "UPDATE interactions SET state = $1, disposition_code = $2, \
             notes = COALESCE($3, notes), wrapped_up_ms = $4 WHERE id = $5 AND state = $6",
        )
        .bind(InteractionState::WrappedUp.as_str())
        .bind(code)
        .bind(notes)
        .bind(at.0)
        .bind(id.as_str())
        .bind(InteractionState::Ended.as_str())
        .execute(&self.pool)
        .await?
        .rows_affected();
        if n > 0 {
            return Ok(WrapUpOutcome::Done);
        }
        Ok(match self.get_interaction(id).await? {
            None => WrapUpOutcome::NotFound,
            Some(ix) if ix.state == InteractionState::WrappedUp => WrapUpOutcome::AlreadyWrappedUp,
            Some(ix) => WrapUpOutcome::NotEnded(ix.state),
        })
    }

    /// A page of interactions matching `filter`, newest first (ties broken by id, so pages
    /// are stable), with the total number of matches.
    pub async fn search_interactions(
        &self,
        filter: &InteractionFilter,
    ) -> Result<Page<Interaction>, StoreError> {
        let limit = filter.limit.clamp(1, InteractionFilter::MAX_LIMIT);
        let offset = i64::try_from(filter.offset).unwrap_or(i64::MAX);

        // Only fixed fragments and numbered placeholders go into the SQL; values are bound.
        let mut conditions: Vec<String> = Vec::new();
        let mut args: Vec<Arg> = Vec::new();
        let push = |args: &mut Vec<Arg>, arg: Arg| {
            args.push(arg);
            args.len()
        };
        match &filter.scope {
            Scope::All => {}
            Scope::Agent(agent) => {
                let p = push(&mut args, Arg::Text(agent.0.clone()));
                // An agent's history also holds the parts it handed over.
                let q = push(&mut args, Arg::Text(part_pattern(agent)?));
                conditions.push(format!(
                    "(agent_id = ${p} OR participants LIKE ${q} ESCAPE '\\')"
                ));
            }
            Scope::Teams(teams) if teams.is_empty() => conditions.push("1 = 0".into()),
            Scope::Teams(teams) => {
                let first = args.len() + 1;
                for team in teams {
                    push(&mut args, Arg::Text(team.0.clone()));
                }
                conditions.push(format!(
                    "agent_id IN (SELECT id FROM agents WHERE team_id IN ({}))",
                    placeholders(first, teams.len())
                ));
            }
        }
        if let Some(number) = &filter.number {
            let p = push(&mut args, Arg::Text(number.clone()));
            conditions.push(format!("(ani = ${p} OR dnis = ${p})"));
        }
        if let Some(agent) = &filter.agent {
            let p = push(&mut args, Arg::Text(agent.0.clone()));
            conditions.push(format!("agent_id = ${p}"));
        }
        if let Some(queue) = &filter.queue {
            let p = push(&mut args, Arg::Text(queue.0.clone()));
            conditions.push(format!("queue_id = ${p}"));
        }
        if let Some(code) = &filter.disposition {
            let p = push(&mut args, Arg::Text(code.clone()));
            conditions.push(format!("disposition_code = ${p}"));
        }
        if let Some(from) = filter.from {
            let p = push(&mut args, Arg::Int(from.0));
            conditions.push(format!("created_ms >= ${p}"));
        }
        if let Some(to) = filter.to {
            let p = push(&mut args, Arg::Int(to.0));
            conditions.push(format!("created_ms < ${p}"));
        }
        let where_clause = if conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conditions.join(" AND "))
        };
        let (p_limit, p_offset) = (args.len() + 1, args.len() + 2);

        let count_sql =
            sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM interactions{where_clause}"));
        let mut count = sqlx::query_scalar::<_, i64>(count_sql);
        for arg in &args {
            count = match arg {
                Arg::Text(s) => count.bind(s.clone()),
                Arg::Int(i) => count.bind(*i),
            };
        }
        let total = count.fetch_one(&self.pool).await?;

        let list_sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM interactions{where_clause} \
             ORDER BY created_ms DESC, id DESC LIMIT ${p_limit} OFFSET ${p_offset}"
        ));
        let mut list = sqlx::query_as::<_, InteractionRow>(list_sql);
        for arg in &args {
            list = match arg {
                Arg::Text(s) => list.bind(s.clone()),
                Arg::Int(i) => list.bind(*i),
            };
        }
        let rows = list
            .bind(i64::from(limit))
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        Ok(Page {
            items: rows
                .into_iter()
                .map(Interaction::try_from)
                .collect::<Result<_, _>>()?,
            total: u64::try_from(total).unwrap_or(0),
            limit,
            offset: filter.offset,
        })
    }
}

/// A `LIKE` pattern matching the participants JSON of an interaction `agent` handed over
/// (serde writes a part's `role` then its `address`), with `\` as the escape.
fn part_pattern(agent: &AgentId) -> Result<String, StoreError> {
    let part = to_json(
        &Participant::new(AGENT_PART, agent.as_str()),
        TABLE,
        "participants",
    )?;
    let head = part.trim_end_matches('}');
    let escaped: String = head
        .chars()
        .flat_map(|c| match c {
            '\\' | '%' | '_' => vec!['\\', c],
            c => vec![c],
        })
        .collect();
    Ok(format!("%{escaped}%"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::routing::model::Role;
    use crate::store::test_support::TempDb;

    /// An ended inbound voice interaction from `ani` handled by `agent` in `queue`.
    pub(crate) fn interaction(
        id: &str,
        ani: &str,
        agent: Option<&str>,
        created: i64,
    ) -> Interaction {
        Interaction {
            id: InteractionId::from(id),
            media: MediaType::Voice,
            direction: Direction::Inbound,
            ani: ani.into(),
            dnis: "7000".into(),
            queue: Some(QueueId::from("sales")),
            state: InteractionState::Ended,
            agent: agent.map(AgentId::from),
            participants: vec![],
            media_changes: vec![],
            notes: String::new(),
            disposition: None,
            created_ms: UnixMillis(created),
            offered_ms: Some(UnixMillis(created + 1_000)),
            connected_ms: Some(UnixMillis(created + 5_000)),
            ended_ms: Some(UnixMillis(created + 60_000)),
            wrapped_up_ms: None,
            abandoned: false,
        }
    }

    #[tokio::test]
    async fn a_crash_interrupts_live_interactions_and_leaves_ended_ones_for_wrap_up() {
        let db = TempDb::new().await;
        let live = |id, state, created| {
            let mut ix = interaction(id, "1001", Some("alice"), created);
            ix.state = state;
            ix.ended_ms = None;
            ix
        };
        let talking = live("talking", InteractionState::Connected, 1_000);
        let queued = live("queued", InteractionState::Queued, 50_000);
        let ended = interaction("ended", "1002", Some("bob"), 1_000);
        for ix in [&talking, &queued, &ended] {
            db.store.insert_interaction(ix).await.unwrap();
        }
        let closed = db
            .store
            .interrupt_live_interactions(UnixMillis(40_000))
            .await
            .unwrap();
        assert_eq!(closed, 2);
        let store = &db.store;
        let get = |id: &'static str| async move {
            store
                .get_interaction(&InteractionId::from(id))
                .await
                .unwrap()
                .unwrap()
        };
        let got = get("talking").await;
        assert_eq!(got.state, InteractionState::Interrupted);
        assert_eq!(got.ended_ms, Some(UnixMillis(40_000)), "the last heartbeat");
        let got = get("queued").await;
        assert_eq!(got.state, InteractionState::Interrupted);
        assert_eq!(
            got.ended_ms,
            Some(UnixMillis(50_000)),
            "never before it began"
        );
        assert_eq!(get("ended").await, ended);
    }

    fn ids(page: &Page<Interaction>) -> Vec<&str> {
        page.items.iter().map(|i| i.id.as_str()).collect()
    }

    #[tokio::test]
    async fn an_interaction_reads_back_exactly_as_written_and_updates() {
        let db = TempDb::new().await;
        let mut ix = interaction("ix1", "+15550001", Some("alice"), 1_000);
        ix.participants = vec![Participant::new("consult", "bob")];
        db.store.insert_interaction(&ix).await.unwrap();
        let err = db.store.insert_interaction(&ix).await.unwrap_err();
        assert!(
            matches!(err, StoreError::Duplicate("interaction")),
            "{err:?}"
        );
        assert_eq!(
            db.store.get_interaction(&ix.id).await.unwrap(),
            Some(ix.clone())
        );

        ix.state = InteractionState::Held;
        ix.media = MediaType::Chat;
        ix.direction = Direction::Outbound;
        ix.abandoned = true;
        ix.queue = None;
        assert!(db.store.update_interaction(&ix).await.unwrap());
        assert_eq!(
            db.store.get_interaction(&ix.id).await.unwrap(),
            Some(ix.clone())
        );
        assert!(
            db.store
                .set_interaction_notes(&ix.id, "called back")
                .await
                .unwrap()
        );
        assert!(
            !db.store
                .set_interaction_notes(&"nope".into(), "x")
                .await
                .unwrap()
        );
        assert_eq!(
            db.store
                .get_interaction(&ix.id)
                .await
                .unwrap()
                .unwrap()
                .notes,
            "called back"
        );
    }

    #[tokio::test]
    async fn the_last_agent_of_each_caller_is_the_newest_connected_one() {
        let db = TempDb::new().await;
        for ix in [
            interaction("a1", "+15550001", Some("alice"), 1_000),
            interaction("a2", "+15550001", Some("bob"), 2_000),
            interaction("b1", "+15550002", Some("carol"), 3_000),
            // Abandoned in the queue: no agent, no connection.
            interaction("b2", "+15550002", None, 4_000),
            interaction("c1", "+15550003", Some("dave"), 500),
        ] {
            db.store.insert_interaction(&ix).await.unwrap();
        }
        let last = db.store.last_agents(10).await.unwrap();
        let last: Vec<(&str, &str)> = last.iter().map(|(a, g)| (a.as_str(), g.as_str())).collect();
        assert_eq!(
            last,
            [
                ("+15550002", "carol"),
                ("+15550001", "bob"),
                ("+15550003", "dave")
            ]
        );
        assert_eq!(db.store.last_agents(1).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_part_handed_over_is_wrapped_up_once_and_leaves_the_interaction_alone() {
        let db = TempDb::new().await;
        let mut ix = interaction("ix1", "+15550001", Some("bob"), 1_000);
        ix.state = InteractionState::Connected;
        ix.ended_ms = None;
        db.store.insert_interaction(&ix).await.unwrap();
        let handed = Participant {
            connected_ms: Some(1_100),
            ended_ms: Some(1_500),
            ..Participant::new(AGENT_PART, "alice")
        };
        db.store.add_participant(&ix.id, &handed).await.unwrap();
        let wrap = |agent: &str, code: Option<&'static str>| {
            let agent = AgentId::from(agent);
            let store = db.store.clone();
            async move {
                store
                    .wrap_up_part(
                        &"ix1".into(),
                        &agent,
                        code,
                        Some("passed on"),
                        UnixMillis(2_000),
                    )
                    .await
                    .unwrap()
            }
        };
        assert_eq!(wrap("carol", Some("sold")).await, WrapUpOutcome::NotFound);
        assert_eq!(wrap("alice", Some("sold")).await, WrapUpOutcome::Done);
        // The timer's later close changes nothing.
        assert_eq!(wrap("alice", None).await, WrapUpOutcome::AlreadyWrappedUp);
        let stored = db.store.get_interaction(&ix.id).await.unwrap().unwrap();
        let part = stored.part_of(&"alice".into()).unwrap();
        assert_eq!(
            (
                part.disposition.as_deref(),
                part.notes.as_deref(),
                part.wrapped_up_ms
            ),
            (Some("sold"), Some("passed on"), Some(2_000))
        );
        assert_eq!(stored.state, InteractionState::Connected);
        assert_eq!((stored.disposition, stored.ended_ms), (None, None));
        // Alice's history lists the interaction she handed over; an id that only matches
        // as a LIKE wildcard does not.
        for (agent, found) in [("alice", 1), ("bob", 1), ("al_ce", 0), ("%", 0)] {
            let filter = InteractionFilter::scoped(Scope::Agent(agent.into()));
            let page = db.store.search_interactions(&filter).await.unwrap();
            assert_eq!(page.total, found, "{agent}");
        }
    }

    #[tokio::test]
    async fn participants_and_media_changes_accumulate_on_a_live_interaction() {
        let db = TempDb::new().await;
        let ix = interaction("ix1", "+15550001", Some("alice"), 1_000);
        db.store.insert_interaction(&ix).await.unwrap();
        let bob = |role: &str| Participant::new(role, "bob");
        for role in ["consult", "consult", "conference"] {
            assert!(db.store.add_participant(&ix.id, &bob(role)).await.unwrap());
        }
        let off = MediaChange {
            at_ms: 2_000,
            setting: "noise_suppression".into(),
            enabled: false,
            by: "sup".into(),
        };
        let on = MediaChange {
            at_ms: 3_000,
            enabled: true,
            ..off.clone()
        };
        for change in [&off, &on] {
            assert!(db.store.add_media_change(&ix.id, change).await.unwrap());
        }
        let stored = db.store.get_interaction(&ix.id).await.unwrap().unwrap();
        assert_eq!(stored.participants, vec![bob("consult"), bob("conference")]);
        assert_eq!(stored.media_changes, vec![off.clone(), on]);
        // A whole-row update carries both lists through unchanged.
        let mut whole = stored.clone();
        whole.notes = "kept".into();
        assert!(db.store.update_interaction(&whole).await.unwrap());
        let again = db.store.get_interaction(&ix.id).await.unwrap().unwrap();
        assert_eq!(again.participants.len(), 2);
        assert_eq!(again, whole);
        assert!(
            !db.store
                .add_participant(&"nope".into(), &bob("consult"))
                .await
                .unwrap()
        );
        assert!(
            !db.store
                .add_media_change(&"nope".into(), &off)
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn wrap_up_sets_code_notes_and_time_once() {
        let db = TempDb::new().await;
        let ix = interaction("ix1", "1", Some("alice"), 1_000);
        db.store.insert_interaction(&ix).await.unwrap();
        let done = db
            .store
            .wrap_up_interaction(&ix.id, Some("sale"), None, UnixMillis(99))
            .await
            .unwrap();
        assert_eq!(done, WrapUpOutcome::Done);
        let got = db.store.get_interaction(&ix.id).await.unwrap().unwrap();
        assert_eq!(got.state, InteractionState::WrappedUp);
        assert_eq!(got.disposition.as_deref(), Some("sale"));
        assert_eq!(got.wrapped_up_ms, Some(UnixMillis(99)));
        let again = db
            .store
            .wrap_up_interaction(&ix.id, None, Some("x"), UnixMillis(100))
            .await
            .unwrap();
        assert_eq!(again, WrapUpOutcome::AlreadyWrappedUp);
        let missing = db
            .store
            .wrap_up_interaction(&"nope".into(), None, None, UnixMillis(1))
            .await
            .unwrap();
        assert_eq!(missing, WrapUpOutcome::NotFound);

        let mut live = interaction("ix2", "1", Some("alice"), 1_000);
        live.state = InteractionState::Connected;
        db.store.insert_interaction(&live).await.unwrap();
        let early = db
            .store
            .wrap_up_interaction(&live.id, Some("sale"), None, UnixMillis(5))
            .await
            .unwrap();
        assert_eq!(early, WrapUpOutcome::NotEnded(InteractionState::Connected));
        let untouched = db.store.get_interaction(&live.id).await.unwrap().unwrap();
        assert_eq!(untouched, live);
    }

    #[tokio::test]
    async fn search_filters_pages_and_scopes_by_agent_and_team() {
        let db = TempDb::new().await;
        use crate::store::agents::tests::agent;
        db.store
            .create_agent(&agent("alice", Role::Agent, Some("t1")), "pw")
            .await
            .unwrap();
        db.store
            .create_agent(&agent("bob", Role::Agent, Some("t2")), "pw")
            .await
            .unwrap();
        let mut rows = vec![
            interaction("i0", "111", Some("alice"), 1_000),
            interaction("i1", "222", Some("bob"), 2_000),
            interaction("i2", "111", Some("alice"), 3_000),
            interaction("i3", "333", None, 4_000),
        ];
        rows[2].disposition = Some("sale".into());
        rows[3].queue = Some("support".into());
        for ix in &rows {
            db.store.insert_interaction(ix).await.unwrap();
        }
        let search = |f: InteractionFilter| {
            let store = db.store.clone();
            async move { store.search_interactions(&f).await.unwrap() }
        };
        let all = search(InteractionFilter::scoped(Scope::All)).await;
        assert_eq!(ids(&all), ["i3", "i2", "i1", "i0"]);
        assert_eq!(all.total, 4);

        let own = search(InteractionFilter::scoped(Scope::Agent("alice".into()))).await;
        assert_eq!(ids(&own), ["i2", "i0"]);
        let team = search(InteractionFilter::scoped(Scope::Teams(vec!["t2".into()]))).await;
        assert_eq!(ids(&team), ["i1"]);
        let none = search(InteractionFilter::scoped(Scope::Teams(vec![]))).await;
        assert_eq!(none.total, 0);

        let mut f = InteractionFilter::scoped(Scope::All);
        f.number = Some("111".into());
        assert_eq!(ids(&search(f.clone()).await), ["i2", "i0"]);
        f.disposition = Some("sale".into());
        assert_eq!(ids(&search(f).await), ["i2"]);
        let mut f = InteractionFilter::scoped(Scope::All);
        f.queue = Some("support".into());
        assert_eq!(ids(&search(f).await), ["i3"]);
        let mut f = InteractionFilter::scoped(Scope::All);
        f.agent = Some("bob".into());
        assert_eq!(ids(&search(f).await), ["i1"]);
        let mut f = InteractionFilter::scoped(Scope::All);
        f.from = Some(UnixMillis(2_000));
        f.to = Some(UnixMillis(4_000));
        f.limit = 1;
        f.offset = 1;
        let page = search(f).await;
        assert_eq!((ids(&page), page.total), (vec!["i1"], 2));
        let mut f = InteractionFilter::scoped(Scope::Agent("alice".into()));
        f.agent = Some("bob".into());
        assert_eq!(search(f).await.total, 0, "a filter never widens the scope");
    }
}

//! History search, scoped by who asks ([`Scope`]): an agent sees its own interactions (and
//! the parts it handed over), a supervisor those handled by agents currently in its teams, an
//! admin everything.

use super::super::{Page, Store, StoreError, UnixMillis, placeholders, to_json};
use super::{AGENT_PART, COLUMNS, Interaction, InteractionRow, Participant, TABLE};
use crate::routing::model::{AgentId, QueueId, TeamId};

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

/// A value bound to a numbered placeholder of a dynamically built query.
pub(in crate::store) enum Arg {
    Text(String),
    Int(i64),
}

/// Appends `arg` and returns its placeholder number.
pub(in crate::store) fn push(args: &mut Vec<Arg>, arg: Arg) -> usize {
    args.push(arg);
    args.len()
}

/// The condition on `interactions` rows that `scope` may see (`None`: all of them), its
/// values appended to `args`. CDRs are scoped through it too, so both read alike.
pub(in crate::store) fn scope_condition(
    scope: &Scope,
    args: &mut Vec<Arg>,
) -> Result<Option<String>, StoreError> {
    Ok(match scope {
        Scope::All => None,
        Scope::Agent(agent) => {
            let p = push(args, Arg::Text(agent.0.clone()));
            // An agent's history also holds the parts it handed over.
            let q = push(args, Arg::Text(part_pattern(agent)?));
            Some(format!(
                "(agent_id = ${p} OR participants LIKE ${q} ESCAPE '\\')"
            ))
        }
        Scope::Teams(teams) if teams.is_empty() => Some("1 = 0".into()),
        Scope::Teams(teams) => {
            let first = args.len() + 1;
            for team in teams {
                push(args, Arg::Text(team.0.clone()));
            }
            Some(format!(
                "agent_id IN (SELECT id FROM agents WHERE team_id IN ({}))",
                placeholders(first, teams.len())
            ))
        }
    })
}

impl Store {
    /// A page of interactions matching `filter`, newest first (ties broken by id, so pages
    /// are stable), with the total number of matches.
    pub async fn search_interactions(
        &self,
        filter: &InteractionFilter,
    ) -> Result<Page<Interaction>, StoreError> {
        let limit = filter.limit.clamp(1, InteractionFilter::MAX_LIMIT);
        let offset = i64::try_from(filter.offset).unwrap_or(i64::MAX);

        // Only fixed fragments and numbered placeholders go into the SQL; values are bound.
        let mut args: Vec<Arg> = Vec::new();
        let mut conditions: Vec<String> = scope_condition(&filter.scope, &mut args)?
            .into_iter()
            .collect();
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
        let total = bind_args!(sqlx::query_scalar::<_, i64>(count_sql), &args)
            .fetch_one(&self.pool)
            .await?;

        let list_sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM interactions{where_clause} \
             ORDER BY created_ms DESC, id DESC LIMIT ${p_limit} OFFSET ${p_offset}"
        ));
        let rows = bind_args!(sqlx::query_as::<_, InteractionRow>(list_sql), &args)
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

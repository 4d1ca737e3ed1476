//! Call detail records: the `cdrs` table, listed by the CTI. A call's row is written when it
//! starts and is answered ([`CdrStage::InProgress`], hidden from readers) and replaced when it
//! ends ([`CdrStage::Final`]); rows a crash left in progress are closed as
//! [`HangupCause::Interrupted`] at the next start ([`Store::interrupt_unfinished_cdrs`]).

use std::time::Duration;

use super::{
    Backend, Page, Store, StoreError, UnixMillis, duration_to_millis, narrow, placeholders,
};

use super::interactions::{Arg, Scope, push, scope_condition};
pub use crate::call::record::{Cdr, CdrId, CdrLeg, HangupCause, HangupSide};

/// Which write of a call's record [`Store::upsert_cdr`] makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CdrStage {
    /// The call is still up; the record reads as if the switch died now. Readers do not see it.
    InProgress,
    /// The call ended; the record is complete.
    Final,
    /// As `Final`, for a record whose in-progress row already holds its caller, callee, start
    /// and interaction: the write leaves those columns alone, and so the four indexes over
    /// them. SQLite rewrites an index for every column an UPDATE sets, changed or not, and
    /// that rewrite was two thirds of the pages each commit of final records wrote.
    FinalOverJournal,
}

impl CdrStage {
    fn in_progress(self) -> bool {
        self == CdrStage::InProgress
    }
}

/// Which CDRs [`Store::list_cdrs`] returns: newest first, `from <= start < to`, within
/// `scope`: a queue call's record is visible to whoever may see its interaction, any other
/// call's to whoever may see the agents whose extension made or took it (an agent its own, a
/// supervisor its teams' agents'), everything to admins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CdrFilter {
    /// Whose calls are visible.
    pub scope: Scope,
    /// Exact match on caller OR callee.
    pub number: Option<String>,
    /// Earliest start time, inclusive.
    pub from: Option<UnixMillis>,
    /// Latest start time, exclusive.
    pub to: Option<UnixMillis>,
    /// Page size, clamped to `1..=MAX_LIMIT`.
    pub limit: u32,
    /// Rows to skip.
    pub offset: u64,
}

impl CdrFilter {
    /// Page size when the caller does not choose one.
    pub const DEFAULT_LIMIT: u32 = 50;
    /// Largest page size served.
    pub const MAX_LIMIT: u32 = 500;
}

impl Default for CdrFilter {
    fn default() -> Self {
        CdrFilter {
            scope: Scope::All,
            number: None,
            from: None,
            to: None,
            limit: Self::DEFAULT_LIMIT,
            offset: 0,
        }
    }
}

/// A `cdrs` row as the database returns it.
#[derive(sqlx::FromRow)]
struct CdrRow {
    id: String,
    call_id: String,
    caller: String,
    callee: String,
    start_ms: i64,
    answer_ms: Option<i64>,
    end_ms: i64,
    duration_ms: i64,
    hangup_cause: String,
    hangup_side: String,
    sip_code: i64,
    legs: String,
    created_ms: i64,
    interaction_id: Option<String>,
    refused_by: Option<String>,
}

const TABLE: &str = "cdrs";
const COLUMNS: &str = "id, call_id, caller, callee, start_ms, answer_ms, end_ms, duration_ms, \
                       hangup_cause, hangup_side, sip_code, legs, created_ms, interaction_id, \
                       refused_by";

impl TryFrom<CdrRow> for Cdr {
    type Error = StoreError;

    fn try_from(row: CdrRow) -> Result<Cdr, StoreError> {
        let corrupt = |column, reason: String| StoreError::Corrupt {
            table: TABLE,
            column,
            reason,
        };
        let duration_ms: u64 = narrow(row.duration_ms, TABLE, "duration_ms")?;
        Ok(Cdr {
            id: CdrId(row.id),
            call_id: row.call_id,
            caller: row.caller,
            callee: row.callee,
            start_ms: UnixMillis(row.start_ms),
            answer_ms: row.answer_ms.map(UnixMillis),
            end_ms: UnixMillis(row.end_ms),
            duration: Duration::from_millis(duration_ms),
            hangup_cause: HangupCause::parse(&row.hangup_cause).ok_or_else(|| {
                corrupt("hangup_cause", format!("unknown {:?}", row.hangup_cause))
            })?,
            hangup_side: HangupSide::parse(&row.hangup_side)
                .ok_or_else(|| corrupt("hangup_side", format!("unknown {:?}", row.hangup_side)))?,
            sip_code: narrow(row.sip_code, TABLE, "sip_code")?,
            legs: serde_json::from_str(&row.legs).map_err(|e| corrupt("legs", e.to_string()))?,
            created_ms: UnixMillis(row.created_ms),
            interaction: row.interaction_id,
            refused_by: row.refused_by,
        })
    }
}

impl Store {
    /// Writes the record of a call, replacing an earlier write under the same id (the call's
    /// start and answer, or a retry after an unclear failure). A final record is never
    /// replaced by an in-progress one, so a stale write cannot reopen an ended call.
    pub async fn upsert_cdr(&self, cdr: &Cdr, stage: CdrStage) -> Result<(), StoreError> {
        let sql = sqlx::AssertSqlSafe(multi_row_upsert(1, self.backend, stage));
        bind_cdr(sqlx::query(sql), cdr, stage)?
            .execute(&self.records)
            .await?;
        Ok(())
    }

    /// [`Store::upsert_cdr`] for many records in one statement per up to 64 (the crash
    /// journal writes up to two per call and every call one final record; one statement each
    /// cost more than the call itself). Ids must be distinct: PostgreSQL refuses one statement
    /// that touches a row twice.
    pub async fn upsert_cdrs(&self, cdrs: &[Cdr], stage: CdrStage) -> Result<(), StoreError> {
        // Statements of 64, 32, ... 1 rows: every database keeps prepared statements per
        // connection, and one per batch size seen (up to 500) held about 10 MB of SQLite's
        // memory after a minute of load; seven shapes stay cached and reused. SQLite gets
        // anonymous `?` parameters: with `$n` its driver looks each one up by name in a list,
        // so binding cost grew with the square of a statement's parameters (15 a row).
        let mut rest = cdrs;
        while !rest.is_empty() {
            let rows = 1usize << rest.len().min(MAX_ROWS).ilog2();
            let (chunk, after) = rest.split_at(rows);
            let sql = multi_row_upsert(rows, self.backend, stage);
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for cdr in chunk {
                query = bind_cdr(query, cdr, stage)?;
            }
            query.execute(&self.records).await?;
            rest = after;
        }
        Ok(())
    }

    /// How many records are in progress (tests wait for the crash journal with it).
    #[cfg(test)]
    pub(crate) async fn cdrs_in_progress(&self) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM cdrs WHERE in_progress = 1")
            .fetch_one(&self.pool)
            .await
            .expect("counting records in progress")
    }

    /// Closes the records a crash left in progress (each already reads `interrupted`): they
    /// end at `last_alive`, the switch's last heartbeat, or at their own last write when that
    /// is later. Returns how many were closed.
    pub async fn interrupt_unfinished_cdrs(
        &self,
        last_alive: UnixMillis,
        now: UnixMillis,
    ) -> Result<u64, StoreError> {
        let end = "CASE WHEN end_ms < $1 THEN $1 ELSE end_ms END";
        let sql = sqlx::AssertSqlSafe(format!(
            "UPDATE cdrs SET end_ms = {end}, \
             duration_ms = CASE WHEN answer_ms IS NULL THEN 0 ELSE {end} - answer_ms END, \
             created_ms = $2, in_progress = 0 WHERE in_progress = 1"
        ));
        let done = sqlx::query(sql)
            .bind(last_alive.0)
            .bind(now.0)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// One CDR by id.
    pub async fn get_cdr(&self, id: &CdrId) -> Result<Option<Cdr>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM cdrs WHERE id = $1 AND in_progress = 0"
        ));
        let row: Option<CdrRow> = sqlx::query_as(sql)
            .bind(&id.0)
            .fetch_optional(&self.pool)
            .await?;
        row.map(Cdr::try_from).transpose()
    }

    /// A page of CDRs matching `filter`, newest first (ties broken by id, so pages are stable),
    /// with the total number of matches.
    pub async fn list_cdrs(&self, filter: &CdrFilter) -> Result<Page<Cdr>, StoreError> {
        let limit = filter.limit.clamp(1, CdrFilter::MAX_LIMIT);
        let offset = i64::try_from(filter.offset).unwrap_or(i64::MAX);

        // Only fixed fragments and numbered placeholders go into the SQL; values are bound.
        // Calls still up are not records yet. Only fixed fragments and numbered
        // placeholders go into the SQL; values are bound.
        let mut conditions = vec!["in_progress = 0".to_owned()];
        let mut args: Vec<Arg> = Vec::new();
        if let Some(scoped) = cdr_scope(&filter.scope, &mut args)? {
            conditions.push(scoped);
        }
        if let Some(number) = &filter.number {
            let p = push(&mut args, Arg::Text(number.clone()));
            conditions.push(format!("(caller = ${p} OR callee = ${p})"));
        }
        if let Some(from) = filter.from {
            let p = push(&mut args, Arg::Int(from.0));
            conditions.push(format!("start_ms >= ${p}"));
        }
        if let Some(to) = filter.to {
            let p = push(&mut args, Arg::Int(to.0));
            conditions.push(format!("start_ms < ${p}"));
        }
        let (p_limit, p_offset) = (args.len() + 1, args.len() + 2);
        let where_clause = format!(" WHERE {}", conditions.join(" AND "));

        let count_sql = sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM cdrs{where_clause}"));
        let total = bind_args!(sqlx::query_scalar::<_, i64>(count_sql), &args)
            .fetch_one(&self.pool)
            .await?;

        let list_sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM cdrs{where_clause} \
             ORDER BY start_ms DESC, id DESC LIMIT ${p_limit} OFFSET ${p_offset}"
        ));
        let rows = bind_args!(sqlx::query_as::<_, CdrRow>(list_sql), &args)
            .bind(i64::from(limit))
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;

        Ok(Page {
            items: rows
                .into_iter()
                .map(Cdr::try_from)
                .collect::<Result<_, _>>()?,
            total: u64::try_from(total).unwrap_or(0),
            limit,
            offset: filter.offset,
        })
    }
}

/// The condition on `cdrs` rows `scope` may see (`None`: all), values appended to `args`:
/// the record of an interaction in scope, or a call made or taken by the extension of an
/// agent in scope.
fn cdr_scope(scope: &Scope, args: &mut Vec<Arg>) -> Result<Option<String>, StoreError> {
    let agents = match scope {
        Scope::All => return Ok(None),
        Scope::Teams(teams) if teams.is_empty() => return Ok(Some("1 = 0".into())),
        Scope::Agent(agent) => {
            let p = push(args, Arg::Text(agent.0.clone()));
            format!("SELECT extension FROM agents WHERE id = ${p} AND extension IS NOT NULL")
        }
        Scope::Teams(teams) => {
            let first = args.len() + 1;
            for team in teams {
                push(args, Arg::Text(team.0.clone()));
            }
            format!(
                "SELECT extension FROM agents WHERE team_id IN ({}) AND extension IS NOT NULL",
                placeholders(first, teams.len())
            )
        }
    };
    let interactions = scope_condition(scope, args)?.unwrap_or_else(|| "1 = 1".into());
    Ok(Some(format!(
        "(interaction_id IN (SELECT id FROM interactions WHERE {interactions}) \
         OR caller IN ({agents}) OR callee IN ({agents}))"
    )))
}

const UPSERT_HEAD: &str = "INSERT INTO cdrs (id, call_id, caller, callee, start_ms, answer_ms, \
     end_ms, duration_ms, hangup_cause, hangup_side, sip_code, legs, created_ms, in_progress, \
     interaction_id, refused_by) VALUES";

// A final record is never replaced: only rows still in progress are updated.
const UPSERT_TAIL: &str = "ON CONFLICT (id) DO UPDATE SET call_id = excluded.call_id, \
     caller = excluded.caller, callee = excluded.callee, start_ms = excluded.start_ms, \
     answer_ms = excluded.answer_ms, end_ms = excluded.end_ms, \
     duration_ms = excluded.duration_ms, hangup_cause = excluded.hangup_cause, \
     hangup_side = excluded.hangup_side, sip_code = excluded.sip_code, \
     legs = excluded.legs, created_ms = excluded.created_ms, \
     in_progress = excluded.in_progress, interaction_id = excluded.interaction_id, \
     refused_by = excluded.refused_by WHERE cdrs.in_progress = 1";

/// [`UPSERT_TAIL`] without the indexed columns ([`CdrStage::FinalOverJournal`]).
const UPSERT_TAIL_KEEPING_KEYS: &str = "ON CONFLICT (id) DO UPDATE SET \
     call_id = excluded.call_id, answer_ms = excluded.answer_ms, end_ms = excluded.end_ms, \
     duration_ms = excluded.duration_ms, hangup_cause = excluded.hangup_cause, \
     hangup_side = excluded.hangup_side, sip_code = excluded.sip_code, \
     legs = excluded.legs, created_ms = excluded.created_ms, \
     in_progress = excluded.in_progress, refused_by = excluded.refused_by \
     WHERE cdrs.in_progress = 1";

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// Columns of one record in `UPSERT_HEAD`.
const CDR_COLUMNS: usize = 16;

/// Binds one record's [`CDR_COLUMNS`] columns, in `UPSERT_HEAD`'s order.
fn bind_cdr<'q>(
    query: AnyQuery<'q>,
    cdr: &Cdr,
    stage: CdrStage,
) -> Result<AnyQuery<'q>, StoreError> {
    let legs = serde_json::to_string(&cdr.legs).map_err(|e| StoreError::Corrupt {
        table: TABLE,
        column: "legs",
        reason: e.to_string(),
    })?;
    Ok(query
        .bind(cdr.id.0.clone())
        .bind(cdr.call_id.clone())
        .bind(cdr.caller.clone())
        .bind(cdr.callee.clone())
        .bind(cdr.start_ms.0)
        .bind(cdr.answer_ms.map(|t| t.0))
        .bind(cdr.end_ms.0)
        .bind(duration_to_millis(cdr.duration))
        .bind(cdr.hangup_cause.as_str())
        .bind(cdr.hangup_side.as_str())
        .bind(i64::from(cdr.sip_code))
        .bind(legs)
        .bind(cdr.created_ms.0)
        .bind(i64::from(stage.in_progress()))
        .bind(cdr.interaction.clone())
        .bind(cdr.refused_by.clone()))
}

/// Most rows in one statement of [`Store::upsert_cdrs`].
const MAX_ROWS: usize = 64;

/// The upsert of `rows` records in one statement, `rows` a power of two up to [`MAX_ROWS`]:
/// built once per shape and backend (a 64-row statement is some 4 KiB of text, and the
/// store writes a batch every few milliseconds under load).
fn multi_row_upsert(rows: usize, backend: Backend, stage: CdrStage) -> &'static str {
    static SHAPES: [std::sync::OnceLock<Vec<String>>; 4] =
        [const { std::sync::OnceLock::new() }; 4];
    let keep_keys = stage == CdrStage::FinalOverJournal;
    let index = match backend {
        Backend::Sqlite => 0,
        Backend::Postgres => 2,
    } + usize::from(keep_keys);
    let tail = if keep_keys {
        UPSERT_TAIL_KEEPING_KEYS
    } else {
        UPSERT_TAIL
    };
    let shapes = SHAPES[index].get_or_init(|| {
        (0..=MAX_ROWS.ilog2())
            .map(|shift| build_upsert(1 << shift, backend, tail))
            .collect()
    });
    debug_assert!(rows.is_power_of_two() && rows <= MAX_ROWS, "{rows} rows");
    &shapes[rows.ilog2() as usize]
}

/// The text of [`multi_row_upsert`].
fn build_upsert(rows: usize, backend: Backend, tail: &str) -> String {
    let values: Vec<String> = (0..rows)
        .map(|row| {
            let first = row * CDR_COLUMNS + 1;
            let params: Vec<String> = (first..first + CDR_COLUMNS)
                .map(|n| match backend {
                    // Bound in order; see `upsert_cdrs` for why not `$n`.
                    Backend::Sqlite => "?".to_owned(),
                    Backend::Postgres => format!("${n}"),
                })
                .collect();
            format!("({})", params.join(", "))
        })
        .collect();
    format!("{UPSERT_HEAD} {} {tail}", values.join(", "))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::test_support::TempDb;

    /// A plausible answered CDR starting at `start_ms`.
    pub(crate) fn sample_cdr(id: &str, caller: &str, callee: &str, start_ms: i64) -> Cdr {
        Cdr {
            id: CdrId(id.to_owned()),
            call_id: format!("{id}@10.0.0.1"),
            caller: caller.to_owned(),
            callee: callee.to_owned(),
            start_ms: UnixMillis(start_ms),
            answer_ms: Some(UnixMillis(start_ms + 3_000)),
            end_ms: UnixMillis(start_ms + 63_000),
            duration: Duration::from_secs(60),
            hangup_cause: HangupCause::NormalClearing,
            hangup_side: HangupSide::Caller,
            sip_code: 200,
            legs: vec![
                CdrLeg {
                    call_id: format!("{id}@10.0.0.1"),
                    role: "caller".into(),
                    remote: "10.0.0.1:5060".into(),
                    codec: Some("PCMU".into()),
                    final_code: Some(200),
                },
                CdrLeg {
                    call_id: format!("b-{id}"),
                    role: "callee".into(),
                    remote: "10.0.0.2:5060".into(),
                    codec: None,
                    final_code: None,
                },
            ],
            created_ms: UnixMillis(start_ms + 63_001),
            interaction: None,
            refused_by: None,
        }
    }

    #[tokio::test]
    async fn a_cdr_reads_back_exactly_as_written() {
        let db = TempDb::new().await;
        let mut cdr = sample_cdr("c1", "1001", "1002", 1_700_000_000_000);
        db.store.upsert_cdr(&cdr, CdrStage::Final).await.unwrap();
        assert_eq!(db.store.get_cdr(&cdr.id).await.unwrap(), Some(cdr.clone()));
        let mut refused = sample_cdr("c0", "+33612345678", "7000", 1_700_000_000_000);
        refused.hangup_cause = HangupCause::Refused;
        refused.refused_by = Some("queue_calls".into());
        db.store
            .upsert_cdr(&refused, CdrStage::Final)
            .await
            .unwrap();
        assert_eq!(db.store.get_cdr(&refused.id).await.unwrap(), Some(refused));

        cdr.id = CdrId("c2".into());
        cdr.answer_ms = None;
        cdr.duration = Duration::ZERO;
        cdr.hangup_cause = HangupCause::NoAnswer;
        cdr.hangup_side = HangupSide::Switch;
        cdr.sip_code = 480;
        db.store.upsert_cdr(&cdr, CdrStage::Final).await.unwrap();
        assert_eq!(db.store.get_cdr(&cdr.id).await.unwrap(), Some(cdr));
        assert_eq!(db.store.get_cdr(&CdrId("nope".into())).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_final_cdr_written_again_stays_as_first_written() {
        let db = TempDb::new().await;
        let cdr = sample_cdr("c1", "1001", "1002", 1_000);
        db.store.upsert_cdr(&cdr, CdrStage::Final).await.unwrap();
        let mut retry = cdr.clone();
        retry.hangup_cause = HangupCause::Interrupted;
        db.store.upsert_cdr(&retry, CdrStage::Final).await.unwrap();
        db.store
            .upsert_cdr(&retry, CdrStage::InProgress)
            .await
            .unwrap();
        assert_eq!(db.store.get_cdr(&cdr.id).await.unwrap(), Some(cdr));
    }

    #[tokio::test]
    async fn a_batch_of_calls_in_progress_is_one_write_that_never_reopens_a_final_record() {
        let db = TempDb::new().await;
        let ended = sample_cdr("done", "1001", "1002", 1_000);
        db.store.upsert_cdr(&ended, CdrStage::Final).await.unwrap();
        let live: Vec<Cdr> = (0..1_200)
            .map(|i| {
                let mut cdr = sample_cdr(&format!("live{i}"), "1003", "1004", 2_000 + i);
                cdr.hangup_cause = HangupCause::Interrupted;
                cdr
            })
            .collect();
        let mut stale = ended.clone();
        stale.hangup_cause = HangupCause::Interrupted;
        let mut batch = live.clone();
        batch.push(stale);
        // More rows than one statement takes: chunked.
        db.store
            .upsert_cdrs(&batch, CdrStage::InProgress)
            .await
            .unwrap();
        assert_eq!(db.store.get_cdr(&ended.id).await.unwrap(), Some(ended));
        let closed = db
            .store
            .interrupt_unfinished_cdrs(UnixMillis(90_000), UnixMillis(99_000))
            .await
            .unwrap();
        assert_eq!(closed, 1_200);
    }

    #[tokio::test]
    async fn a_final_over_its_journaled_row_replaces_all_but_the_indexed_columns() {
        let db = TempDb::new().await;
        let end = sample_cdr("c1", "1001", "1002", 1_000);
        let mut answered = end.clone();
        answered.end_ms = UnixMillis(4_000);
        answered.hangup_cause = HangupCause::Interrupted;
        db.store
            .upsert_cdr(&answered, CdrStage::InProgress)
            .await
            .unwrap();
        db.store
            .upsert_cdr(&end, CdrStage::FinalOverJournal)
            .await
            .unwrap();
        assert_eq!(db.store.get_cdr(&end.id).await.unwrap(), Some(end.clone()));
        assert_eq!(
            db.store.cdrs_in_progress().await,
            0,
            "the final write cleared the in-progress mark"
        );

        // The columns it leaves alone are the journal's, whatever the record says.
        let mut moved = sample_cdr("c2", "1001", "1002", 1_000);
        db.store
            .upsert_cdr(&moved, CdrStage::InProgress)
            .await
            .unwrap();
        moved.callee = "1003".into();
        db.store
            .upsert_cdr(&moved, CdrStage::FinalOverJournal)
            .await
            .unwrap();
        let stored = db.store.get_cdr(&moved.id).await.unwrap().unwrap();
        assert_eq!(stored.callee, "1002");

        // With no row to go over, the record is written whole; a final one is never reopened.
        let fresh = sample_cdr("c3", "1005", "1006", 2_000);
        db.store
            .upsert_cdr(&fresh, CdrStage::FinalOverJournal)
            .await
            .unwrap();
        assert_eq!(
            db.store.get_cdr(&fresh.id).await.unwrap(),
            Some(fresh.clone())
        );
        let mut again = fresh.clone();
        again.sip_code = 486;
        db.store
            .upsert_cdr(&again, CdrStage::FinalOverJournal)
            .await
            .unwrap();
        assert_eq!(db.store.get_cdr(&fresh.id).await.unwrap(), Some(fresh));
    }

    #[tokio::test]
    async fn a_call_in_progress_is_hidden_until_its_end_replaces_it() {
        let db = TempDb::new().await;
        let end = sample_cdr("c1", "1001", "1002", 1_000);
        let mut started = end.clone();
        started.answer_ms = None;
        started.end_ms = started.start_ms;
        started.hangup_cause = HangupCause::Interrupted;
        let mut answered = end.clone();
        answered.end_ms = UnixMillis(4_000);
        answered.hangup_cause = HangupCause::Interrupted;
        for write in [&started, &answered] {
            db.store
                .upsert_cdr(write, CdrStage::InProgress)
                .await
                .unwrap();
            assert_eq!(db.store.get_cdr(&end.id).await.unwrap(), None);
            let page = db.store.list_cdrs(&CdrFilter::default()).await.unwrap();
            assert_eq!(page.total, 0);
        }
        db.store.upsert_cdr(&end, CdrStage::Final).await.unwrap();
        assert_eq!(db.store.get_cdr(&end.id).await.unwrap(), Some(end.clone()));
        // Nothing left to interrupt.
        let closed = db
            .store
            .interrupt_unfinished_cdrs(UnixMillis(90_000), UnixMillis(99_000))
            .await
            .unwrap();
        assert_eq!(closed, 0);
        assert_eq!(db.store.get_cdr(&end.id).await.unwrap(), Some(end));
    }

    #[tokio::test]
    async fn a_call_a_crash_left_in_progress_ends_interrupted_at_the_last_heartbeat() {
        let db = TempDb::new().await;
        let mut answered = sample_cdr("c1", "1001", "1002", 1_000);
        answered.end_ms = UnixMillis(4_000); // written when answered at 4_000
        answered.hangup_cause = HangupCause::Interrupted;
        answered.hangup_side = HangupSide::Switch;
        let mut ringing = sample_cdr("c2", "1001", "1003", 20_000);
        ringing.answer_ms = None;
        ringing.end_ms = ringing.start_ms;
        ringing.hangup_cause = HangupCause::Interrupted;
        ringing.sip_code = 500;
        for write in [&answered, &ringing] {
            db.store
                .upsert_cdr(write, CdrStage::InProgress)
                .await
                .unwrap();
        }
        let closed = db
            .store
            .interrupt_unfinished_cdrs(UnixMillis(10_000), UnixMillis(99_000))
            .await
            .unwrap();
        assert_eq!(closed, 2);
        let got = db.store.get_cdr(&answered.id).await.unwrap().unwrap();
        assert_eq!(got.hangup_cause, HangupCause::Interrupted);
        assert_eq!(got.end_ms, UnixMillis(10_000), "the last heartbeat");
        assert_eq!(got.duration, Duration::from_millis(10_000 - 4_000));
        assert_eq!((got.caller.as_str(), got.callee.as_str()), ("1001", "1002"));
        assert_eq!(got.legs, answered.legs);
        assert_eq!(got.created_ms, UnixMillis(99_000));
        // Started after the last heartbeat: it ends where its own record does.
        let got = db.store.get_cdr(&ringing.id).await.unwrap().unwrap();
        assert_eq!(got.end_ms, UnixMillis(20_000));
        assert_eq!(got.duration, Duration::ZERO);
    }

    #[tokio::test]
    async fn listing_is_newest_first_with_total_and_filters() {
        let db = TempDb::new().await;
        for (i, (caller, callee)) in [("1001", "2000"), ("1002", "1001"), ("1003", "2000")]
            .into_iter()
            .enumerate()
        {
            let start = 1_000 * (i as i64 + 1);
            let cdr = sample_cdr(&format!("c{i}"), caller, callee, start);
            db.store.upsert_cdr(&cdr, CdrStage::Final).await.unwrap();
        }
        let ids = |page: &Page<Cdr>| {
            page.items
                .iter()
                .map(|c| c.id.0.clone())
                .collect::<Vec<_>>()
        };

        let all = db.store.list_cdrs(&CdrFilter::default()).await.unwrap();
        assert_eq!(ids(&all), ["c2", "c1", "c0"]);
        assert_eq!((all.total, all.limit, all.offset), (3, 50, 0));

        let by_number = CdrFilter {
            number: Some("1001".into()),
            ..CdrFilter::default()
        };
        let page = db.store.list_cdrs(&by_number).await.unwrap();
        assert_eq!(ids(&page), ["c1", "c0"], "caller OR callee");
        assert_eq!(page.total, 2);

        let window = CdrFilter {
            from: Some(UnixMillis(2_000)),
            to: Some(UnixMillis(3_000)),
            ..CdrFilter::default()
        };
        let page = db.store.list_cdrs(&window).await.unwrap();
        assert_eq!(ids(&page), ["c1"], "from inclusive, to exclusive");

        let everything = CdrFilter {
            number: Some("2000".into()),
            from: Some(UnixMillis(1_000)),
            to: Some(UnixMillis(3_001)),
            ..CdrFilter::default()
        };
        assert_eq!(
            ids(&db.store.list_cdrs(&everything).await.unwrap()),
            ["c2", "c0"]
        );
    }

    #[tokio::test]
    async fn pages_cover_every_row_once_and_the_limit_is_clamped() {
        let db = TempDb::new().await;
        // Equal start times: the id tie-break keeps pages disjoint.
        for i in 0..7 {
            let cdr = sample_cdr(&format!("c{i}"), "1001", "1002", 5_000);
            db.store.upsert_cdr(&cdr, CdrStage::Final).await.unwrap();
        }
        let mut seen = Vec::new();
        for offset in (0..8).step_by(3) {
            let filter = CdrFilter {
                limit: 3,
                offset,
                ..CdrFilter::default()
            };
            let page = db.store.list_cdrs(&filter).await.unwrap();
            assert_eq!(page.total, 7);
            seen.extend(page.items.into_iter().map(|c| c.id.0));
        }
        assert_eq!(seen, ["c6", "c5", "c4", "c3", "c2", "c1", "c0"]);

        let huge = CdrFilter {
            limit: 10_000,
            ..CdrFilter::default()
        };
        assert_eq!(
            db.store.list_cdrs(&huge).await.unwrap().limit,
            CdrFilter::MAX_LIMIT
        );
        let zero = CdrFilter {
            limit: 0,
            ..CdrFilter::default()
        };
        assert_eq!(db.store.list_cdrs(&zero).await.unwrap().items.len(), 1);
    }

    #[tokio::test]
    async fn a_hand_written_row_with_an_unknown_cause_is_reported_corrupt() {
        let db = TempDb::new().await;
        db.store
            .upsert_cdr(&sample_cdr("c1", "1001", "1002", 1_000), CdrStage::Final)
            .await
            .unwrap();
        sqlx::query("UPDATE cdrs SET hangup_cause = 'gremlins'")
            .execute(&db.store.pool)
            .await
            .unwrap();
        let err = db.store.list_cdrs(&CdrFilter::default()).await.unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Corrupt {
                    column: "hangup_cause",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn cdr_json_uses_snake_case_names_and_milliseconds() {
        let cdr = sample_cdr("c1", "1001", "1002", 1_000);
        let json = serde_json::to_value(&cdr).unwrap();
        assert_eq!(json["duration_ms"], 60_000);
        assert_eq!(json["start_ms"], 1_000);
        assert_eq!(json["hangup_cause"], "normal_clearing");
        assert_eq!(json["hangup_side"], "caller");
        assert_eq!(json["legs"][0]["codec"], "PCMU");
        let back: Cdr = serde_json::from_value(json).unwrap();
        assert_eq!(back, cdr);
    }

    #[test]
    fn every_hangup_cause_round_trips_through_its_stored_spelling() {
        for cause in HangupCause::ALL {
            assert_eq!(HangupCause::parse(cause.as_str()), Some(cause));
            let json = serde_json::to_value(cause).unwrap();
            assert_eq!(json, cause.as_str());
        }
        assert_eq!(HangupCause::parse("NORMAL_CLEARING"), None);
    }
}

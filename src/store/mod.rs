//! Storage: sqlx repositories over one [`sqlx::AnyPool`], SQLite by default, PostgreSQL for
//! deployments.
//!
//! # One code path, one schema
//! Every query runs unchanged on both backends: `$1, $2` placeholders (SQLite reads `$NNN` as
//! the NNN-th argument), portable column types only (`BIGINT` for integers and 0/1 booleans,
//! `TEXT` for strings and JSON, times as `BIGINT` milliseconds since the Unix epoch), and
//! `INSERT .. ON CONFLICT .. DO UPDATE` for upserts (SQLite 3.24+, PostgreSQL 9.5+).
//! `tests/store_postgres.rs` runs the same repository suite against both backends.
//!
//! # Migrations
//! The SQL files in `migrations/` are embedded with `include_str!` (the `sqlx::migrate!` macro
//! needs sqlx's `macros` feature, which we do not build) and handed to sqlx's own
//! [`Migrator`], so they are applied in order, each once, each in a transaction, recorded in
//! `_sqlx_migrations` with a checksum (compatible with `sqlx migrate run`), and serialised by an
//! advisory lock on PostgreSQL when several switches start together.
//!
//! # Durability (SQLite)
//! SQLite runs in WAL mode with `synchronous = NORMAL`. A committed transaction (a CDR, a
//! registration) survives a crash or kill of the switch process, which is what we promise.
//! On power loss or an OS crash the last transactions before the failure may be lost (never
//! corrupted); `synchronous = FULL` would close that window at the cost of an fsync per commit.
//! Writers wait up to five seconds for a lock (`busy_timeout`) instead of failing at once.

/// Binds dynamically built query arguments (`interactions::Arg`) in order; a macro because
/// `query`, `query_as` and `query_scalar` builders share `bind` but no trait.
macro_rules! bind_args {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match arg {
                $crate::store::interactions::Arg::Text(s) => query.bind(s.clone()),
                $crate::store::interactions::Arg::Int(i) => query.bind(*i),
            };
        }
        query
    }};
}

mod agent_states;
mod agents;
mod cad;
mod callbacks;
mod cdrs;
mod dispositions;
mod extensions;
mod heartbeat;
mod idle_reasons;
mod interactions;
pub mod passwords;
mod queues;
mod recordings;
mod registrations;
mod settings;
mod skills;
mod teams;
mod tokens;
mod trunks;

pub use agent_states::AgentStateChange;
pub use agents::Agent;
pub use cad::{CadUpdate, CadVariable};
pub use callbacks::{Callback, CallbackStatus, CallbackWidget};
pub use cdrs::{Cdr, CdrFilter, CdrId, CdrLeg, CdrStage, HangupCause, HangupSide};
pub use dispositions::DispositionCode;
pub use extensions::{Extension, ha1_pair};
pub use idle_reasons::IdleReason;
pub use interactions::{
    AGENT_PART, Direction, Interaction, InteractionFilter, InteractionProgress, MediaChange,
    Participant, Scope, WrapUpOutcome,
};
pub use recordings::{RecordingRow, RecordingStatus};
pub use registrations::StoredBinding;
pub use settings::OrgSettings;
pub use skills::SkillDef;
pub use teams::Team;
pub use tokens::{ApiToken, TokenKind};

use std::borrow::Cow;
use std::sync::Once;
use std::time::Duration;

use serde::Serialize;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::{MigrateError, Migration, MigrationType, Migrator};
use sqlx::{AnyConnection, AnyPool, Executor, SqlSafeStr};

/// How long a writer waits for SQLite's write lock before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a query waits for a free pooled connection before giving up.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The schema, in order. Every file in `migrations/` must be listed here (a test checks it).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "cdrs", include_str!("../../migrations/0001_cdrs.sql")),
    (
        2,
        "registrations",
        include_str!("../../migrations/0002_registrations.sql"),
    ),
    (
        3,
        "extensions",
        include_str!("../../migrations/0003_extensions.sql"),
    ),
    (
        4,
        "directory",
        include_str!("../../migrations/0004_directory.sql"),
    ),
    (
        5,
        "codes_and_settings",
        include_str!("../../migrations/0005_codes_and_settings.sql"),
    ),
    (
        6,
        "interactions",
        include_str!("../../migrations/0006_interactions.sql"),
    ),
    (
        7,
        "api_tokens",
        include_str!("../../migrations/0007_api_tokens.sql"),
    ),
    (
        8,
        "recordings",
        include_str!("../../migrations/0008_recordings.sql"),
    ),
    (
        9,
        "queue_media",
        include_str!("../../migrations/0009_queue_media.sql"),
    ),
    (
        10,
        "interaction_media_changes",
        include_str!("../../migrations/0010_interaction_media_changes.sql"),
    ),
    (
        11,
        "crash_journal",
        include_str!("../../migrations/0011_crash_journal.sql"),
    ),
    (
        12,
        "security",
        include_str!("../../migrations/0012_security.sql"),
    ),
    (
        13,
        "extension_ha1_realm",
        include_str!("../../migrations/0013_extension_ha1_realm.sql"),
    ),
    (
        14,
        "call_limits",
        include_str!("../../migrations/0014_call_limits.sql"),
    ),
    (
        15,
        "trunks",
        include_str!("../../migrations/0015_trunks.sql"),
    ),
    (
        16,
        "outdial",
        include_str!("../../migrations/0016_outdial.sql"),
    ),
    (
        17,
        "callbacks",
        include_str!("../../migrations/0017_callbacks.sql"),
    ),
    (
        18,
        "queue_outbound",
        include_str!("../../migrations/0018_queue_outbound.sql"),
    ),
    (
        19,
        "agent_calling_class",
        include_str!("../../migrations/0019_agent_calling_class.sql"),
    ),
    (
        20,
        "trunk_codecs",
        include_str!("../../migrations/0020_trunk_codecs.sql"),
    ),
];

/// A handle on the database: cheap to clone, all clones share one connection pool.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    /// The pool call records go through (`cdrs.rs`): on an SQLite file, one connection of
    /// its own. Through the shared pool each batch took the connection next in turn, whose
    /// page cache the others' commits had left stale, and read its pages again (`pread` was
    /// a tenth of the database thread's time at 2,000 calls per second). Elsewhere the shared
    /// pool.
    records: AnyPool,
    backend: Backend,
    /// Bumped whenever tokens are revoked, so open event streams re-check theirs at once
    /// instead of at their next periodic check (see `tokens`).
    revocations: std::sync::Arc<tokio::sync::watch::Sender<u64>>,
}

/// Which database a [`Store`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file (the default).
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

pub use crate::clock::UnixMillis;

/// One page of a listing, with the number of rows matching the filter on all pages.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Page<T> {
    /// The rows on this page.
    pub items: Vec<T>,
    /// How many rows match the filter in total.
    pub total: u64,
    /// The page size that was applied.
    pub limit: u32,
    /// How many matching rows were skipped before this page.
    pub offset: u64,
}

/// Errors of the storage layer, classified by blame.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The configured URL is not one we can use (operator's blame). Never holds the URL itself,
    /// which may carry a password.
    #[error("unsupported database URL: {0}")]
    InvalidUrl(&'static str),
    /// The schema could not be brought up to date.
    #[error("database migration failed")]
    Migrate(#[from] MigrateError),
    /// A row with the same key already exists (caller's blame, or a retried insert).
    #[error("{0} already exists")]
    Duplicate(&'static str),
    /// A row holds a value this version cannot read (someone wrote it by hand, or a newer
    /// version did).
    #[error("stored {table} row has an invalid {column}: {reason}")]
    Corrupt {
        /// Table the row came from.
        table: &'static str,
        /// Offending column.
        column: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The database cannot be reached or has no free connection right now (transient).
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// Any other database failure (internal).
    #[error("database error")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                StoreError::Unavailable(e)
            }
            e => StoreError::Database(e),
        }
    }
}

impl Store {
    /// Opens the pool and brings the schema up to date.
    ///
    /// `sqlite:` URLs create the file if it is missing (`mode=rwc` is added unless the URL has
    /// a `mode`), `sqlite::memory:` gives a private in-memory database (one connection).
    /// `postgres:` and `postgresql:` URLs connect normally.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);

        let (backend, url) = normalise_url(url)?;
        if backend == Backend::Sqlite {
            create_private_sqlite_file(&url);
        }
        let options = AnyPoolOptions::new().acquire_timeout(ACQUIRE_TIMEOUT);
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let pool = match backend {
            Backend::Sqlite => {
                let options = if in_memory {
                    // Each connection would open its own empty database; keep exactly one alive.
                    options
                        .max_connections(1)
                        .min_connections(1)
                        .idle_timeout(None)
                        .max_lifetime(None)
                } else {
                    options.max_connections(4)
                };
                let pool = options
                    .after_connect(|conn, _meta| Box::pin(sqlite_session_setup(conn)))
                    .connect(&url)
                    .await?;
                if !in_memory {
                    // Persistent in the file: set once here rather than racing on every connect.
                    pool.execute("PRAGMA journal_mode = WAL").await?;
                }
                pool
            }
            Backend::Postgres => options.max_connections(10).connect(&url).await?,
        };
        let records = if backend == Backend::Sqlite && !in_memory {
            AnyPoolOptions::new()
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .after_connect(|conn, _meta| Box::pin(sqlite_session_setup(conn)))
                .connect(&url)
                .await?
        } else {
            pool.clone()
        };
        let store = Store {
            pool,
            records,
            backend,
            revocations: std::sync::Arc::new(tokio::sync::watch::Sender::new(0)),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Which backend this store talks to.
    #[must_use]
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A transaction that will write. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`): a deferred transaction that reads, then writes after another connection
    /// committed, fails with `SQLITE_BUSY_SNAPSHOT` at its first write, which no busy
    /// timeout waits out (the API's property run met it as a 500 under two concurrent
    /// writers). An immediate one waits its turn under `busy_timeout` instead. PostgreSQL's
    /// row locks need nothing of the kind.
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// Waits for checked-out connections to return, then closes the pool.
    pub async fn close(&self) {
        self.records.close().await;
        self.pool.close().await;
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let migrations = MIGRATIONS
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect();
        Migrator::with_migrations(migrations)
            .run(&self.pool)
            .await?;
        Ok(())
    }
}

/// Per-connection SQLite settings (see the module docs for why these values).
async fn sqlite_session_setup(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    conn.execute("PRAGMA synchronous = NORMAL").await?;
    let busy = format!("PRAGMA busy_timeout = {}", SQLITE_BUSY_TIMEOUT.as_millis());
    conn.execute(sqlx::AssertSqlSafe(busy)).await?;
    conn.execute("PRAGMA foreign_keys = ON").await?;
    Ok(())
}

/// Creates a missing SQLite database file readable by the switch's user alone (0600), before
/// SQLite opens it: the file holds password hashes, CAD and call history, and SQLite gives
/// its `-wal` and `-shm` files the database file's permissions. Existing files are left as
/// the operator set them.
fn create_private_sqlite_file(url: &str) {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or_default();
    let path = rest.split_once('?').map_or(rest, |(path, _)| path);
    if path.is_empty() || path.contains(":memory:") {
        return;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    // An existing file is left alone; a missing folder or a read-only place is reported
    // better by SQLite's own open, just after.
    let _ = options.open(path);
}

/// Picks the backend from the scheme and adds `mode=rwc` to SQLite file URLs.
fn normalise_url(url: &str) -> Result<(Backend, String), StoreError> {
    let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or_default();
    match scheme {
        "sqlite" => {
            let in_memory = url.contains(":memory:");
            let has_mode = url
                .split_once('?')
                .is_some_and(|(_, q)| q.split('&').any(|p| p.starts_with("mode=")));
            let url = if in_memory || has_mode {
                url.to_owned()
            } else if url.contains('?') {
                format!("{url}&mode=rwc")
            } else {
                format!("{url}?mode=rwc")
            };
            Ok((Backend::Sqlite, url))
        }
        "postgres" | "postgresql" => Ok((Backend::Postgres, url.to_owned())),
        "" => Err(StoreError::InvalidUrl(
            "missing scheme (sqlite: or postgres:)",
        )),
        _ => Err(StoreError::InvalidUrl(
            "scheme must be sqlite:, postgres: or postgresql:",
        )),
    }
}

/// Milliseconds in `d`, saturating at `i64::MAX`.
fn duration_to_millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Turns a stored integer into a narrower type, or reports the row as corrupt.
fn narrow<T: TryFrom<i64>>(
    value: i64,
    table: &'static str,
    column: &'static str,
) -> Result<T, StoreError> {
    T::try_from(value).map_err(|_| StoreError::Corrupt {
        table,
        column,
        reason: format!("{value} is out of range"),
    })
}

/// Reads a stored 0/1 flag, or reports the row as corrupt.
fn flag(value: i64, table: &'static str, column: &'static str) -> Result<bool, StoreError> {
    match value {
        0 => Ok(false),
        1 => Ok(true),
        n => Err(StoreError::Corrupt {
            table,
            column,
            reason: format!("{n} is not 0 or 1"),
        }),
    }
}

/// Reads a stored JSON column, or reports the row as corrupt.
fn from_json<T: serde::de::DeserializeOwned>(
    text: &str,
    table: &'static str,
    column: &'static str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        table,
        column,
        reason: e.to_string(),
    })
}

/// Writes a JSON column.
fn to_json<T: Serialize>(
    value: &T,
    table: &'static str,
    column: &'static str,
) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt {
        table,
        column,
        reason: e.to_string(),
    })
}

/// A JSON string value stored without its quotes (`"admin"` → `admin`), for enum columns.
fn enum_to_text<T: Serialize>(
    value: &T,
    table: &'static str,
    column: &'static str,
) -> Result<String, StoreError> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => Ok(s),
        _ => Err(StoreError::Corrupt {
            table,
            column,
            reason: "not a unit enum".into(),
        }),
    }
}

/// Reads an enum column written by [`enum_to_text`].
fn enum_from_text<T: serde::de::DeserializeOwned>(
    text: &str,
    table: &'static str,
    column: &'static str,
) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).map_err(|_| {
        StoreError::Corrupt {
            table,
            column,
            reason: format!("unknown {text:?}"),
        }
    })
}

/// `$first, $first+1, ..` for `n` values, for `IN (..)` lists.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Maps a unique-key violation to [`StoreError::Duplicate`].
fn map_unique(e: sqlx::Error, what: &'static str) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Duplicate(what),
        _ => StoreError::from(e),
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! A fresh, migrated SQLite file per test, removed afterwards.

    use super::Store;
    use std::path::PathBuf;

    pub(crate) use super::cdrs::tests::sample_cdr;
    pub(crate) use super::dispositions::tests::code as disposition;
    pub(crate) use super::interactions::tests::interaction;
    pub(crate) use super::queues::tests::queue;
    pub(crate) use super::trunks::tests::trunk;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A temporary SQLite database; the files go away when this is dropped.
    pub(crate) struct TempDb {
        pub(crate) store: Store,
        path: PathBuf,
    }

    impl TempDb {
        pub(crate) async fn new() -> TempDb {
            static COUNTER: AtomicU64 = AtomicU64::new(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir()
                .join(format!("switchboard-test-{}-{n}.db", std::process::id()));
            // A file left by a killed run with the same pid must not leak rows into this test.
            remove_files(&path);
            let url = format!("sqlite:{}", path.display());
            let store = Store::connect(&url).await.expect("temp sqlite store");
            TempDb { store, path }
        }

        pub(crate) fn url(&self) -> String {
            format!("sqlite:{}", self.path.display())
        }

        /// Runs raw SQL, to break the database on purpose.
        pub(crate) async fn execute(&self, sql: &'static str) {
            sqlx::query(sql).execute(&self.store.pool).await.unwrap();
        }
    }

    impl Drop for TempDb {
        fn drop(&mut self) {
            remove_files(&self.path);
        }
    }

    fn remove_files(path: &std::path::Path) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = path.to_path_buf().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::TempDb;
    use super::*;
    use sqlx::Row;

    #[tokio::test]
    async fn connect_creates_a_missing_sqlite_file_and_migrates_it() {
        let db = TempDb::new().await;
        assert_eq!(db.store.backend(), Backend::Sqlite);
        let versions: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
                .fetch_all(&db.store.pool)
                .await
                .unwrap();
        let last = i64::try_from(MIGRATIONS.len()).unwrap();
        assert_eq!(versions, (1..=last).collect::<Vec<i64>>());
        // Password hashes, CAD and call history: the switch's user alone reads the file, and
        // SQLite gives its -wal and -shm files the same mode.
        #[cfg(unix)]
        for suffix in ["", "-wal", "-shm"] {
            use std::os::unix::fs::PermissionsExt;
            let url = db.url();
            let file = std::path::PathBuf::from(format!("{}{suffix}", &url["sqlite:".len()..]));
            let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", file.display());
        }
    }

    #[tokio::test]
    async fn reconnecting_to_a_migrated_file_applies_nothing_twice() {
        let db = TempDb::new().await;
        let again = Store::connect(&db.url()).await.expect("second connect");
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(&again.pool)
            .await
            .unwrap();
        assert_eq!(n, i64::try_from(MIGRATIONS.len()).unwrap());
        again.close().await;
    }

    #[tokio::test]
    async fn sqlite_runs_in_wal_mode_with_normal_sync_and_a_busy_timeout() {
        let db = TempDb::new().await;
        let mut conn = db.store.pool.acquire().await.unwrap();
        let mode: String = sqlx::query("PRAGMA journal_mode")
            .fetch_one(&mut *conn)
            .await
            .unwrap()
            .get(0);
        assert_eq!(mode, "wal");
        let sync: i64 = sqlx::query("PRAGMA synchronous")
            .fetch_one(&mut *conn)
            .await
            .unwrap()
            .get(0);
        assert_eq!(sync, 1, "1 is NORMAL");
        let busy: i64 = sqlx::query("PRAGMA busy_timeout")
            .fetch_one(&mut *conn)
            .await
            .unwrap()
            .get(0);
        assert_eq!(busy, 5000);
    }

    #[tokio::test]
    async fn sqlite_accepts_dollar_placeholders_including_a_repeated_one() {
        let db = TempDb::new().await;
        let row = sqlx::query("SELECT $1 + $2, $1")
            .bind(40_i64)
            .bind(2_i64)
            .fetch_one(&db.store.pool)
            .await
            .unwrap();
        assert_eq!(row.get::<i64, _>(0), 42);
        assert_eq!(row.get::<i64, _>(1), 40);
    }

    #[tokio::test]
    async fn in_memory_sqlite_keeps_its_schema_across_queries() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        for _ in 0..3 {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cdrs")
                .fetch_one(&store.pool)
                .await
                .unwrap();
            assert_eq!(n, 0);
        }
    }

    #[test]
    fn sqlite_urls_get_mode_rwc_unless_they_choose_a_mode() {
        let n = |u: &str| normalise_url(u).unwrap().1;
        assert_eq!(n("sqlite:/tmp/a.db"), "sqlite:/tmp/a.db?mode=rwc");
        assert_eq!(
            n("sqlite:/tmp/a.db?cache=shared"),
            "sqlite:/tmp/a.db?cache=shared&mode=rwc"
        );
        assert_eq!(n("sqlite:/tmp/a.db?mode=ro"), "sqlite:/tmp/a.db?mode=ro");
        assert_eq!(n("sqlite::memory:"), "sqlite::memory:");
        assert_eq!(
            normalise_url("postgresql://u@h/db").unwrap(),
            (Backend::Postgres, "postgresql://u@h/db".to_owned())
        );
    }

    #[tokio::test]
    async fn unknown_schemes_are_rejected_without_echoing_the_url() {
        let err = Store::connect("mysql://user:secret@host/db")
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::InvalidUrl(_)));
        assert!(!err.to_string().contains("secret"));
    }

    #[test]
    fn every_migration_file_is_embedded_in_order() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        let embedded: Vec<String> = MIGRATIONS
            .iter()
            .map(|(v, d, _)| format!("{v:04}_{d}.sql"))
            .collect();
        assert_eq!(files, embedded);
    }
}

//! The store's repository suite against PostgreSQL, and the very same suite against SQLite,
//! proving one set of queries and migrations serves both backends.
//!
//! Needs `SWITCHBOARD_TEST_POSTGRES_URL` (e.g. `postgres://switchboard@127.0.0.1:5432/postgres`,
//! a role allowed to create databases). Each test creates its own uniquely named database and
//! drops it afterwards, so tests run in parallel. Without the variable the PostgreSQL tests
//! fail, unless `SWITCHBOARD_SKIP_POSTGRES=1` says to skip them (they then say so on stderr).
//!
//! A throwaway server (as root; PostgreSQL refuses to run as root, hence the `postgres` user):
//! ```sh
//! PGDIR=$(mktemp -d /tmp/sbpg.XXXXXX); chown postgres: "$PGDIR"; PORT=$((20000 + RANDOM % 20000))
//! su postgres -s /bin/sh -c "initdb -D $PGDIR/data -U switchboard --auth=trust -E UTF8 --no-sync"
//! su postgres -s /bin/sh -c "pg_ctl -D $PGDIR/data -l $PGDIR/log -w start \
//!     -o '-h 127.0.0.1 -p $PORT -k $PGDIR -F'"
//! export SWITCHBOARD_TEST_POSTGRES_URL=postgres://switchboard@127.0.0.1:$PORT/postgres
//! # afterwards: su postgres -s /bin/sh -c "pg_ctl -D $PGDIR/data -m fast stop"; rm -rf "$PGDIR"
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::migrate::MigrateDatabase;
use switchboard::store::{
    Backend, Cdr, CdrFilter, CdrId, CdrLeg, Extension, HangupCause, HangupSide, Store, StoreError,
    StoredBinding, UnixMillis,
};

const URL_VAR: &str = "SWITCHBOARD_TEST_POSTGRES_URL";
const SKIP_VAR: &str = "SWITCHBOARD_SKIP_POSTGRES";

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique_name() -> String {
    format!(
        "switchboard_test_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The server URL from the environment; `None` only when skipping was asked for explicitly.
fn postgres_base_url() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var(SKIP_VAR).is_ok_and(|v| v == "1") => {
            eprintln!("SKIPPED: PostgreSQL store test ({SKIP_VAR}=1 and {URL_VAR} unset)");
            None
        }
        _ => panic!(
            "{URL_VAR} is not set: these tests need a PostgreSQL server \
             (e.g. postgres://switchboard@127.0.0.1:5432/postgres, a role that may CREATE \
             DATABASE). Set {SKIP_VAR}=1 to skip them knowingly."
        ),
    }
}

/// `url` with its database name replaced by `db`, keeping any `?options`.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// A freshly created PostgreSQL database, dropped (connections and all) when this goes away.
struct PgDb {
    url: String,
}

impl PgDb {
    async fn create() -> Option<PgDb> {
        let base = postgres_base_url()?;
        sqlx::any::install_default_drivers();
        let url = with_database(&base, &unique_name());
        // A killed earlier run with the same pid may have left it behind.
        let _ = sqlx::Any::force_drop_database(&url).await;
        sqlx::Any::create_database(&url)
            .await
            .unwrap_or_else(|e| panic!("cannot create a test database via {URL_VAR}: {e}"));
        Some(PgDb { url })
    }

    async fn store(&self) -> Store {
        let store = Store::connect(&self.url)
            .await
            .expect("connect to PostgreSQL");
        assert_eq!(store.backend(), Backend::Postgres);
        store
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        // Drop cannot await, and the test's runtime may be gone: use a runtime of our own.
        let url = self.url.clone();
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(sqlx::Any::force_drop_database(&url))
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop test database {}", self.url);
        }
    }
}

/// A temporary SQLite file, removed when this goes away.
struct SqliteDb {
    path: std::path::PathBuf,
}

impl SqliteDb {
    fn create() -> SqliteDb {
        let path = std::env::temp_dir().join(format!("{}.db", unique_name()));
        let db = SqliteDb { path };
        db.remove();
        db
    }

    async fn store(&self) -> Store {
        let store = Store::connect(&format!("sqlite:{}", self.path.display()))
            .await
            .expect("connect to SQLite");
        assert_eq!(store.backend(), Backend::Sqlite);
        store
    }

    fn remove(&self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = self.path.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Drop for SqliteDb {
    fn drop(&mut self) {
        self.remove();
    }
}

/// The repository suite: only the public API, identical for both backends.
mod suite {
    use super::*;

    pub fn cdr(id: &str, caller: &str, callee: &str, start_ms: i64) -> Cdr {
        Cdr {
            id: CdrId(id.to_owned()),
            call_id: format!("{id}@192.0.2.1"),
            caller: caller.to_owned(),
            callee: callee.to_owned(),
            start_ms: UnixMillis(start_ms),
            answer_ms: Some(UnixMillis(start_ms + 2_500)),
            end_ms: UnixMillis(start_ms + 32_500),
            duration: Duration::from_millis(30_000),
            hangup_cause: HangupCause::NormalClearing,
            hangup_side: HangupSide::Callee,
            sip_code: 200,
            legs: vec![CdrLeg {
                call_id: format!("{id}@192.0.2.1"),
                role: "caller".into(),
                remote: "192.0.2.1:5060".into(),
                codec: Some("PCMA".into()),
                final_code: Some(200),
            }],
            created_ms: UnixMillis(start_ms + 32_501),
        }
    }

    pub async fn cdrs_round_trip_list_filter_and_page(store: &Store) {
        let mut unanswered = cdr("u1", "1001", "2000", 500);
        unanswered.answer_ms = None;
        unanswered.duration = Duration::ZERO;
        unanswered.hangup_cause = HangupCause::Cancelled;
        unanswered.hangup_side = HangupSide::Caller;
        unanswered.sip_code = 487;
        unanswered.legs.clear();
        store.insert_cdr(&unanswered).await.unwrap();
        assert_eq!(
            store.get_cdr(&unanswered.id).await.unwrap(),
            Some(unanswered.clone())
        );

        for i in 0..5_i64 {
            let callee = if i % 2 == 0 { "2000" } else { "3000" };
            store
                .insert_cdr(&cdr(&format!("c{i}"), "1002", callee, 1_000 * (i + 1)))
                .await
                .unwrap();
        }
        let err = store.insert_cdr(&unanswered).await.unwrap_err();
        assert!(matches!(err, StoreError::Duplicate(_)), "{err:?}");

        let ids = |items: &[Cdr]| items.iter().map(|c| c.id.0.clone()).collect::<Vec<_>>();
        let all = store.list_cdrs(&CdrFilter::default()).await.unwrap();
        assert_eq!(ids(&all.items), ["c4", "c3", "c2", "c1", "c0", "u1"]);
        assert_eq!(all.total, 6);
        assert_eq!(all.items[5], unanswered);

        let filter = CdrFilter {
            number: Some("2000".into()),
            from: Some(UnixMillis(500)),
            to: Some(UnixMillis(5_000)),
            limit: 2,
            offset: 1,
        };
        let page = store.list_cdrs(&filter).await.unwrap();
        // 2000 matches u1 (500), c0 (1000), c2 (3000); c4 starts at 5000, excluded.
        assert_eq!(page.total, 3);
        assert_eq!(ids(&page.items), ["c0", "u1"]);
        assert_eq!((page.limit, page.offset), (2, 1));

        let by_caller = CdrFilter {
            number: Some("1001".into()),
            ..CdrFilter::default()
        };
        assert_eq!(store.list_cdrs(&by_caller).await.unwrap().total, 1);
    }

    pub async fn registrations_upsert_delete_and_load(store: &Store) {
        let binding = |aor: &str, contact: &str, expires: i64| StoredBinding {
            aor: aor.into(),
            contact_uri: contact.into(),
            expires_at: UnixMillis(expires),
            call_id: "r@192.0.2.9".into(),
            cseq: 7,
            q: Some("0.5".into()),
            received: "192.0.2.9:5062".parse().unwrap(),
            transport: "udp".into(),
        };
        let a = binding("sip:1001@lab", "sip:1001@192.0.2.9:5062", 60_000);
        let mut b = binding("sip:1001@lab", "sip:1001@192.0.2.10", 60_000);
        let c = binding("sip:1002@lab", "sip:1002@192.0.2.11", 60_000);
        let old = binding("sip:1003@lab", "sip:1003@192.0.2.12", 1_000);
        for x in [&a, &b, &c, &old] {
            store.upsert_registration(x).await.unwrap();
        }
        b.cseq = u32::MAX;
        b.q = None;
        b.received = "[2001:db8::10]:5080".parse().unwrap();
        store.upsert_registration(&b).await.unwrap();

        let now = UnixMillis(1_000);
        // Ordered by AOR, then contact: "..192.0.2.10" sorts before "..192.0.2.9:5062".
        assert_eq!(
            store.load_registrations(now).await.unwrap(),
            vec![b.clone(), a.clone(), c.clone()]
        );
        assert!(
            store
                .delete_registration(&a.aor, &a.contact_uri)
                .await
                .unwrap()
        );
        assert!(
            !store
                .delete_registration(&a.aor, &a.contact_uri)
                .await
                .unwrap()
        );
        assert_eq!(
            store
                .delete_all_registrations_for_aor("sip:1001@lab")
                .await
                .unwrap(),
            1
        );
        assert_eq!(store.delete_expired_registrations(now).await.unwrap(), 1);
        assert_eq!(
            store.load_registrations(UnixMillis(0)).await.unwrap(),
            vec![c]
        );
    }

    pub async fn extensions_upsert_get_and_list(store: &Store) {
        let ext = |user: &str| Extension {
            user: user.into(),
            password: Some("secret".into()),
            ha1_md5: None,
            ha1_sha256: None,
            display_name: Some(format!("Agent {user}")),
            enabled: true,
        };
        store.upsert_extension(&ext("2001")).await.unwrap();
        store.upsert_extension(&ext("2000")).await.unwrap();
        let mut changed = ext("2000");
        changed.password = None;
        changed.ha1_md5 = Some("0123456789abcdef0123456789abcdef".into());
        changed.enabled = false;
        store.upsert_extension(&changed).await.unwrap();
        assert_eq!(
            store.get_extension("2000").await.unwrap(),
            Some(changed.clone())
        );
        assert_eq!(store.get_extension("9999").await.unwrap(), None);
        assert_eq!(
            store.list_extensions().await.unwrap(),
            vec![changed, ext("2001")]
        );
    }
}

#[tokio::test]
async fn postgres_cdrs_round_trip_list_filter_and_page() {
    let Some(db) = PgDb::create().await else {
        return;
    };
    let store = db.store().await;
    suite::cdrs_round_trip_list_filter_and_page(&store).await;
    store.close().await;
}

#[tokio::test]
async fn postgres_registrations_upsert_delete_and_load() {
    let Some(db) = PgDb::create().await else {
        return;
    };
    let store = db.store().await;
    suite::registrations_upsert_delete_and_load(&store).await;
    store.close().await;
}

#[tokio::test]
async fn postgres_extensions_upsert_get_and_list() {
    let Some(db) = PgDb::create().await else {
        return;
    };
    let store = db.store().await;
    suite::extensions_upsert_get_and_list(&store).await;
    store.close().await;
}

#[tokio::test]
async fn postgres_switches_starting_together_migrate_once() {
    let Some(db) = PgDb::create().await else {
        return;
    };
    let (a, b) = tokio::join!(db.store(), db.store());
    let again = db.store().await;
    // Data written through one handle is visible through the others: one schema, applied once.
    a.insert_cdr(&suite::cdr("x", "1", "2", 1)).await.unwrap();
    assert_eq!(b.list_cdrs(&CdrFilter::default()).await.unwrap().total, 1);
    assert_eq!(
        again.list_cdrs(&CdrFilter::default()).await.unwrap().total,
        1
    );
    for s in [a, b, again] {
        s.close().await;
    }
}

#[tokio::test]
async fn sqlite_cdrs_round_trip_list_filter_and_page() {
    let db = SqliteDb::create();
    let store = db.store().await;
    suite::cdrs_round_trip_list_filter_and_page(&store).await;
    store.close().await;
}

#[tokio::test]
async fn sqlite_registrations_upsert_delete_and_load() {
    let db = SqliteDb::create();
    let store = db.store().await;
    suite::registrations_upsert_delete_and_load(&store).await;
    store.close().await;
}

#[tokio::test]
async fn sqlite_extensions_upsert_get_and_list() {
    let db = SqliteDb::create();
    let store = db.store().await;
    suite::extensions_upsert_get_and_list(&store).await;
    store.close().await;
}

#[test]
fn the_database_name_is_replaced_and_options_kept() {
    assert_eq!(
        with_database("postgres://u:p@h:5432/postgres?sslmode=disable", "t1"),
        "postgres://u:p@h:5432/t1?sslmode=disable"
    );
    assert_eq!(
        with_database("postgresql://u@h:1", "t2"),
        "postgresql://u@h:1/t2"
    );
    assert_eq!(with_database("postgres://u@h/", "t3"), "postgres://u@h/t3");
}

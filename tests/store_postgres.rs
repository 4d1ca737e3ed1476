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
use switchboard::call::trunks::TrunkCodec;
use switchboard::config::{
    DidSettings, GatewayTransport, RouteSettings, StoredTrunks, TrunkSettings,
};
use switchboard::routing::model::{
    Actor, AgentId, AgentState, InteractionState, MediaType, OverflowTarget, QueueConfig, Role,
    Skill, Strategy, TeamId,
};
use switchboard::store::{
    Agent, AgentStateChange, Backend, CadUpdate, CadVariable, Cdr, CdrFilter, CdrId, CdrLeg,
    CdrStage, Direction, DispositionCode, Extension, HangupCause, HangupSide, IdleReason,
    Interaction, InteractionFilter, OrgSettings, Scope, SkillDef, Store, StoreError, StoredBinding,
    Team, TokenKind, UnixMillis, WrapUpOutcome,
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
            interaction: None,
            refused_by: None,
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
        store
            .upsert_cdr(&unanswered, CdrStage::Final)
            .await
            .unwrap();
        assert_eq!(
            store.get_cdr(&unanswered.id).await.unwrap(),
            Some(unanswered.clone())
        );

        for i in 0..5_i64 {
            let callee = if i % 2 == 0 { "2000" } else { "3000" };
            store
                .upsert_cdr(
                    &cdr(&format!("c{i}"), "1002", callee, 1_000 * (i + 1)),
                    CdrStage::Final,
                )
                .await
                .unwrap();
        }
        // A retried final write changes nothing; neither does a stale in-progress one.
        let mut stale = unanswered.clone();
        stale.hangup_cause = HangupCause::Interrupted;
        store.upsert_cdr(&stale, CdrStage::Final).await.unwrap();
        store
            .upsert_cdr(&stale, CdrStage::InProgress)
            .await
            .unwrap();
        assert_eq!(
            store.get_cdr(&unanswered.id).await.unwrap(),
            Some(unanswered.clone())
        );

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
            ..CdrFilter::default()
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

        // A call in progress is hidden; a crash's restart closes it at the last heartbeat.
        let mut live = cdr("live", "1003", "2000", 9_000);
        live.end_ms = live.answer_ms.unwrap();
        live.hangup_cause = HangupCause::Interrupted;
        // The journal's batch: one statement, and the final record in it stays final.
        store
            .upsert_cdrs(&[live.clone(), stale.clone()], CdrStage::InProgress)
            .await
            .unwrap();
        assert_eq!(store.get_cdr(&live.id).await.unwrap(), None);
        assert_eq!(
            store.get_cdr(&unanswered.id).await.unwrap(),
            Some(unanswered.clone())
        );
        assert_eq!(
            store.list_cdrs(&CdrFilter::default()).await.unwrap().total,
            6
        );
        assert_eq!(
            store
                .interrupt_unfinished_cdrs(UnixMillis(20_000), UnixMillis(30_000))
                .await
                .unwrap(),
            1
        );
        let closed = store.get_cdr(&live.id).await.unwrap().unwrap();
        assert_eq!(closed.end_ms, UnixMillis(20_000));
        assert_eq!(
            closed.duration,
            Duration::from_millis(u64::try_from(20_000 - live.answer_ms.unwrap().0).unwrap())
        );
        assert_eq!(store.last_heartbeat().await.unwrap(), None);
        store.heartbeat(UnixMillis(1_000)).await.unwrap();
        store.heartbeat(UnixMillis(6_000)).await.unwrap();
        assert_eq!(
            store.last_heartbeat().await.unwrap(),
            Some(UnixMillis(6_000))
        );
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
            ha1_realm: None,
            display_name: Some(format!("Agent {user}")),
            enabled: true,
            calling_class: Some(switchboard::dialing::CallingClass::International),
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
        // Plaintext rows are hashed for the realm, and a new extension is refused twice.
        assert_eq!(
            store.hash_plaintext_extensions("pg.example").await.unwrap(),
            1
        );
        let hashed = store.get_extension("2001").await.unwrap().unwrap();
        assert_eq!(hashed.password, None);
        assert_eq!(hashed.ha1_realm.as_deref(), Some("pg.example"));
        let fresh = Extension::with_password("2002", "pg.example", "a-long-enough-secret");
        store.create_extension(&fresh).await.unwrap();
        assert!(store.create_extension(&fresh).await.is_err());
        assert!(store.delete_extension("2002").await.unwrap());
    }

    pub async fn trunks_dids_and_routes(store: &Store) {
        let trunk = TrunkSettings {
            name: "carrier".into(),
            inbound_sources: vec!["198.51.100.0/24".parse().unwrap()],
            trusted: true,
            gateways: vec![
                "192.0.2.10:5080".parse().unwrap(),
                "sip.carrier.example".parse().unwrap(),
            ],
            transport: GatewayTransport::Tcp,
            tls_ca: None,
            codecs: vec![TrunkCodec::Pcma, TrunkCodec::Pcmu],
            max_channels: 30,
            caller_id: Some("+33900000001".into()),
            username: Some("acct".into()),
            password: Some("carrier-secret".into()),
            register: true,
            register_expires_secs: 3600,
        };
        store.create_trunk(&trunk).await.unwrap();
        assert!(matches!(
            store.create_trunk(&trunk).await,
            Err(StoreError::Duplicate(_))
        ));
        assert_eq!(
            store.get_trunk("carrier").await.unwrap(),
            Some(trunk.clone())
        );
        let mut changed = trunk.clone();
        changed.password = None;
        changed.username = None;
        changed.register = false;
        assert!(store.update_trunk(&changed).await.unwrap());
        let did = DidSettings {
            number: "+33123450000".into(),
            to: "7000".into(),
        };
        store.create_did(&did).await.unwrap();
        let route = RouteSettings {
            prefix: "+".into(),
            trunks: vec!["carrier".into()],
        };
        store.create_route(&route).await.unwrap();
        assert!(matches!(
            store.create_route(&route).await,
            Err(StoreError::Duplicate(_))
        ));
        assert_eq!(
            store.stored_trunks().await.unwrap(),
            StoredTrunks {
                trunks: vec![changed],
                dids: vec![did],
                routes: vec![route],
            }
        );
        assert!(store.delete_route("+").await.unwrap());
        assert!(store.delete_did("+33123450000").await.unwrap());
        assert!(store.delete_trunk("carrier").await.unwrap());
        assert_eq!(
            store.stored_trunks().await.unwrap(),
            StoredTrunks::default()
        );
    }

    pub async fn directory_agents_teams_skills_and_queues(store: &Store) {
        let team = Team {
            id: TeamId::from("t1"),
            name: "One".into(),
            supervisors: vec![AgentId::from("sue")],
        };
        store.create_team(&team).await.unwrap();
        assert_eq!(store.get_team(&team.id).await.unwrap(), Some(team.clone()));
        let skill = SkillDef {
            name: "french".into(),
            description: "Parisian".into(),
        };
        store.create_skill(&skill).await.unwrap();
        assert!(matches!(
            store.create_skill(&skill).await.unwrap_err(),
            StoreError::Duplicate(_)
        ));
        let sue = Agent {
            id: AgentId::from("sue"),
            name: "Sue".into(),
            extension: Some("1001".into()),
            team: Some(TeamId::from("t2")),
            skills: vec![Skill {
                name: "french".into(),
                level: 9,
            }],
            role: Role::Supervisor,
            enabled: true,
            calling_class: Some(switchboard::dialing::CallingClass::Internal),
        };
        store.create_agent(&sue, "sue-password").await.unwrap();
        assert_eq!(store.get_agent(&sue.id).await.unwrap(), Some(sue.clone()));
        assert!(
            store
                .authenticate_agent(&sue.id, "sue-password")
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            store
                .authenticate_agent(&sue.id, "wrong")
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            store.agent_teams(&sue.id).await.unwrap(),
            vec![TeamId::from("t1"), TeamId::from("t2")]
        );
        assert!(
            store
                .seed_admin(&AgentId::from("root"), "root-password")
                .await
                .unwrap()
        );
        assert!(
            !store
                .seed_admin(&AgentId::from("root2"), "x")
                .await
                .unwrap()
        );

        let queue = QueueConfig {
            id: "sales".into(),
            name: "Sales".into(),
            number: "7000".into(),
            strategy: Strategy::SkillsBased,
            required_skills: sue.skills.clone(),
            teams: vec![TeamId::from("t1")],
            ring_timeout: Duration::from_secs(20),
            max_wait: Some(Duration::from_secs(90)),
            overflow: Some(OverflowTarget::Number("+15550100".into())),
            wrap_up_max: None,
            last_agent_routing: true,
            disposition_required: true,
            music: None,
            recording: Some(true),
            noise_suppression: None,
            max_calls: 0,
            outdial_caller_id: None,
            courtesy_callback_after: None,
            courtesy_prompt: None,
        };
        store.create_queue(&queue).await.unwrap();
        assert_eq!(
            store.get_queue(&queue.id).await.unwrap(),
            Some(queue.clone())
        );
        assert!(store.update_queue(&queue).await.unwrap());
        assert_eq!(store.list_queues().await.unwrap(), vec![queue]);
        assert!(store.delete_team(&team.id).await.unwrap());
        assert_eq!(
            store.agent_teams(&sue.id).await.unwrap(),
            vec![TeamId::from("t2")]
        );
    }

    pub async fn codes_settings_and_state_log(store: &Store) {
        let folder = DispositionCode {
            id: "sales".into(),
            name: "Sales".into(),
            parent: None,
            folder: true,
        };
        let code = DispositionCode {
            id: "sale".into(),
            name: "Sale".into(),
            parent: Some("sales".into()),
            folder: false,
        };
        store.create_disposition(&folder).await.unwrap();
        store.create_disposition(&code).await.unwrap();
        assert_eq!(store.list_dispositions().await.unwrap(), vec![code, folder]);
        assert_eq!(store.count_disposition_children("sales").await.unwrap(), 1);
        let lunch = IdleReason {
            id: "lunch".into(),
            name: "Lunch".into(),
        };
        store.create_idle_reason(&lunch).await.unwrap();
        assert_eq!(store.list_idle_reasons().await.unwrap(), vec![lunch]);

        assert_eq!(store.get_settings().await.unwrap(), OrgSettings::default());
        let settings = OrgSettings {
            noise_suppression: false,
            offered_cad_keys: vec!["account".into()],
            secure_cad_roles: vec![Role::Supervisor, Role::Admin],
            ..OrgSettings::default()
        };
        store.put_settings(&settings).await.unwrap();
        store.put_settings(&settings).await.unwrap();
        assert_eq!(store.get_settings().await.unwrap(), settings);

        let change = AgentStateChange {
            agent: "alice".into(),
            from: AgentState::LoggedOut,
            to: AgentState::Idle {
                reason: "lunch".into(),
            },
            reason: None,
            actor: Actor::System,
            at: UnixMillis(5),
        };
        store.record_agent_state(&change).await.unwrap();
        assert_eq!(
            store.list_agent_states(&"alice".into(), 5).await.unwrap(),
            vec![change]
        );
    }

    pub async fn interactions_search_wrap_up_cad_and_tokens(store: &Store) {
        let agent = |id: &str, team: &str| Agent {
            id: AgentId::from(id),
            name: id.into(),
            extension: None,
            team: Some(TeamId::from(team)),
            skills: vec![],
            role: Role::Agent,
            enabled: true,
            calling_class: None,
        };
        store
            .create_agent(&agent("alice", "t1"), "pw-alice")
            .await
            .unwrap();
        store
            .create_agent(&agent("bob", "t2"), "pw-bob")
            .await
            .unwrap();
        let ix = |id: &str, ani: &str, who: &str, at: i64| Interaction {
            id: id.into(),
            media: MediaType::Voice,
            direction: Direction::Inbound,
            ani: ani.into(),
            dnis: "7000".into(),
            queue: Some("sales".into()),
            state: InteractionState::Ended,
            agent: Some(AgentId::from(who)),
            participants: vec![],
            media_changes: vec![],
            notes: String::new(),
            disposition: None,
            created_ms: UnixMillis(at),
            offered_ms: None,
            connected_ms: Some(UnixMillis(at + 1)),
            ended_ms: Some(UnixMillis(at + 2)),
            wrapped_up_ms: None,
            abandoned: false,
            refused_by: None,
            failure: None,
        };
        let a = ix("a", "111", "alice", 1_000);
        store.insert_interaction(&a).await.unwrap();
        store
            .insert_interaction(&ix("b", "222", "bob", 2_000))
            .await
            .unwrap();
        store
            .insert_interaction(&ix("c", "111", "bob", 3_000))
            .await
            .unwrap();
        assert_eq!(store.get_interaction(&a.id).await.unwrap(), Some(a.clone()));
        let ids = |f: InteractionFilter| async move {
            let page = store.search_interactions(&f).await.unwrap();
            page.items.into_iter().map(|i| i.id.0).collect::<Vec<_>>()
        };
        assert_eq!(
            ids(InteractionFilter::scoped(Scope::All)).await,
            ["c", "b", "a"]
        );
        assert_eq!(
            ids(InteractionFilter::scoped(Scope::Agent("alice".into()))).await,
            ["a"]
        );
        assert_eq!(
            ids(InteractionFilter::scoped(Scope::Teams(vec![
                "t2".into(),
                "t9".into()
            ])))
            .await,
            ["c", "b"]
        );
        let mut f = InteractionFilter::scoped(Scope::All);
        f.number = Some("111".into());
        f.from = Some(UnixMillis(500));
        f.to = Some(UnixMillis(3_000));
        assert_eq!(ids(f).await, ["a"]);

        assert_eq!(
            store
                .wrap_up_interaction(&a.id, Some("sale"), None, UnixMillis(9))
                .await
                .unwrap(),
            WrapUpOutcome::Done
        );
        assert_eq!(
            store
                .wrap_up_interaction(&a.id, None, Some("again"), UnixMillis(10))
                .await
                .unwrap(),
            WrapUpOutcome::AlreadyWrappedUp
        );
        let mut f = InteractionFilter::scoped(Scope::All);
        f.disposition = Some("sale".into());
        assert_eq!(ids(f).await, ["a"]);

        let var = CadVariable {
            key: "account".into(),
            value: "42".into(),
            editable: true,
            secure: true,
            display_order: 1,
            version: 1,
        };
        assert_eq!(store.set_cad_variable(&a.id, &var).await.unwrap(), var);
        let CadUpdate::Updated(updated) = store
            .update_cad_value(&a.id, "account", "43", 1)
            .await
            .unwrap()
        else {
            panic!("first write must succeed")
        };
        assert_eq!(updated.version, 2);
        assert_eq!(
            store
                .update_cad_value(&a.id, "account", "44", 1)
                .await
                .unwrap(),
            CadUpdate::Stale(updated)
        );

        let (token, record) = store
            .issue_token(
                TokenKind::Session,
                "",
                Role::Agent,
                Some(&AgentId::from("alice")),
                UnixMillis(0),
                UnixMillis(100),
            )
            .await
            .unwrap();
        assert_eq!(
            store.find_token(&token, UnixMillis(50)).await.unwrap(),
            Some(record.clone())
        );
        assert_eq!(
            store.find_token(&token, UnixMillis(100)).await.unwrap(),
            None
        );
        assert!(store.revoke_token(&record.id).await.unwrap());
        assert_eq!(
            store.find_token(&token, UnixMillis(50)).await.unwrap(),
            None
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
    a.upsert_cdr(&suite::cdr("x", "1", "2", 1), CdrStage::Final)
        .await
        .unwrap();
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

#[tokio::test]
async fn postgres_trunks_dids_and_routes() {
    let Some(db) = PgDb::create().await else {
        return;
    };
    let store = db.store().await;
    suite::trunks_dids_and_routes(&store).await;
    store.close().await;
}

#[tokio::test]
async fn sqlite_trunks_dids_and_routes() {
    let db = SqliteDb::create();
    let store = db.store().await;
    suite::trunks_dids_and_routes(&store).await;
    store.close().await;
}

#[tokio::test]
async fn postgres_directory_agents_teams_skills_and_queues() {
    let Some(db) = PgDb::create().await else {
        return;
    };
    let store = db.store().await;
    suite::directory_agents_teams_skills_and_queues(&store).await;
    store.close().await;
}

#[tokio::test]
async fn sqlite_directory_agents_teams_skills_and_queues() {
    let db = SqliteDb::create();
    let store = db.store().await;
    suite::directory_agents_teams_skills_and_queues(&store).await;
    store.close().await;
}

#[tokio::test]
async fn postgres_codes_settings_and_state_log() {
    let Some(db) = PgDb::create().await else {
        return;
    };
    let store = db.store().await;
    suite::codes_settings_and_state_log(&store).await;
    store.close().await;
}

#[tokio::test]
async fn sqlite_codes_settings_and_state_log() {
    let db = SqliteDb::create();
    let store = db.store().await;
    suite::codes_settings_and_state_log(&store).await;
    store.close().await;
}

#[tokio::test]
async fn postgres_interactions_search_wrap_up_cad_and_tokens() {
    let Some(db) = PgDb::create().await else {
        return;
    };
    let store = db.store().await;
    suite::interactions_search_wrap_up_cad_and_tokens(&store).await;
    store.close().await;
}

#[tokio::test]
async fn sqlite_interactions_search_wrap_up_cad_and_tokens() {
    let db = SqliteDb::create();
    let store = db.store().await;
    suite::interactions_search_wrap_up_cad_and_tokens(&store).await;
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

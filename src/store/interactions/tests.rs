//! The interactions store against a fresh SQLite database per test.

use super::*;
use crate::routing::model::Role;
use crate::store::Page;
use crate::store::test_support::TempDb;

/// An ended inbound voice interaction from `ani` handled by `agent` in `queue`.
pub(crate) fn interaction(id: &str, ani: &str, agent: Option<&str>, created: i64) -> Interaction {
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
        refused_by: None,
        failure: None,
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

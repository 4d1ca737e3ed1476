//! `GET /api/v1/cdrs`: call detail records, newest first, filtered and paged, scoped like
//! interactions: an admin sees every record, a supervisor those of its teams' agents (their
//! queue calls' interactions and the calls their extensions made or took), an agent its own.
//!
//! Query parameters (all optional):
//! - `number`: exact match on caller OR callee;
//! - `from`, `to`: start-time window, `from` inclusive, `to` exclusive, each as epoch
//!   milliseconds or an RFC 3339 date-time;
//! - `limit`: page size, 1 to 500, default 50;
//! - `offset`: rows to skip, default 0.
//!
//! Answer: `{"items": [Cdr...], "total": N, "limit": L, "offset": O}` where `total` counts every
//! match. Malformed values are 400 `invalid_parameter`, unknown names 400 `unknown_parameter`,
//! values outside the ranges above (or `to` before `from`) 422 `out_of_range`; each names the
//! field.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use super::ApiState;
use super::auth::Principal;
use super::error::ApiError;
use super::params::QueryParams;
use crate::store::{Cdr, CdrFilter, Page};

/// Longest `number` accepted; real numbers and SIP users are far shorter.
const MAX_NUMBER_LEN: usize = 128;

/// The routes of this resource.
pub(super) fn routes() -> Router<ApiState> {
    Router::new().route("/api/v1/cdrs", get(list))
}

/// Call detail records (scoped by role).
#[utoipa::path(get, path = "/api/v1/cdrs", tag = "cdrs",
    params(
        ("number" = Option<String>, Query, description = "caller or callee"),
        ("from" = Option<String>, Query, description = "epoch ms or RFC 3339, inclusive"),
        ("to" = Option<String>, Query, description = "epoch ms or RFC 3339, exclusive"),
        ("limit" = Option<u32>, Query), ("offset" = Option<u64>, Query)),
    responses((status = 200, description = "{items, total, limit, offset}"), (status = 403)),
    security(("bearer" = [])))]
pub(super) async fn list(
    State(state): State<ApiState>,
    principal: Principal,
    params: QueryParams,
) -> Result<Json<Page<Cdr>>, ApiError> {
    let mut filter = filter_from(params)?;
    filter.scope = principal.scope();
    Ok(Json(state.store.list_cdrs(&filter).await?))
}

fn filter_from(params: QueryParams) -> Result<CdrFilter, ApiError> {
    let params = params.only(&["number", "from", "to", "limit", "offset"])?;

    let number = params.get("number").map(str::to_owned);
    if number.as_ref().is_some_and(|n| n.len() > MAX_NUMBER_LEN) {
        return Err(ApiError::out_of_range(
            "number",
            format!("at most {MAX_NUMBER_LEN} bytes"),
        ));
    }
    let from = params.timestamp("from")?;
    let to = params.timestamp("to")?;
    if let (Some(from), Some(to)) = (from, to)
        && to < from
    {
        return Err(ApiError::out_of_range(
            "to",
            "must not be earlier than from",
        ));
    }
    let limit = match params.u64("limit")? {
        None => CdrFilter::DEFAULT_LIMIT,
        Some(n) => u32::try_from(n)
            .ok()
            .filter(|n| (1..=CdrFilter::MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::out_of_range("limit", format!("must be 1 to {}", CdrFilter::MAX_LIMIT))
            })?,
    };
    let offset = params.u64("offset")?.unwrap_or(0);
    if i64::try_from(offset).is_err() {
        return Err(ApiError::out_of_range("offset", "too large"));
    }
    Ok(CdrFilter {
        number,
        from,
        to,
        limit,
        offset,
        ..CdrFilter::default()
    })
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use serde_json::Value;
    use tower::ServiceExt;

    use crate::cti::{ApiState, app};
    use crate::routing::model::Role;
    use crate::store::test_support::{TempDb, sample_cdr};
    use crate::store::{CdrFilter, CdrStage, Store};

    async fn get(store: &Store, uri: &str) -> (StatusCode, Value) {
        let token = crate::cti::test_support::token_for_role(store, Role::Admin).await;
        get_with(store, uri, &token).await
    }

    async fn get_with(store: &Store, uri: &str, token: &str) -> (StatusCode, Value) {
        let request = Request::get(uri)
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap();
        let response = app(ApiState::new(store.clone()))
            .oneshot(request)
            .await
            .unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let json = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{uri}: body is not JSON ({e}): {bytes:?}"));
        (status, json)
    }

    fn ids(json: &Value) -> Vec<&str> {
        json["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect()
    }

    /// c0 1001→2000 at 1_700_000_000_000, c1 1002→1001 a second later, c2 1003→2000 after that.
    async fn seeded() -> TempDb {
        let db = TempDb::new().await;
        for (i, (caller, callee)) in [("1001", "2000"), ("1002", "1001"), ("1003", "2000")]
            .into_iter()
            .enumerate()
        {
            let start = 1_700_000_000_000 + 1_000 * i as i64;
            let cdr = sample_cdr(&format!("c{i}"), caller, callee, start);
            db.store.upsert_cdr(&cdr, CdrStage::Final).await.unwrap();
        }
        db
    }

    #[tokio::test]
    async fn listing_without_parameters_returns_the_newest_first_with_paging_fields() {
        let db = seeded().await;
        let (status, json) = get(&db.store, "/api/v1/cdrs").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(ids(&json), ["c2", "c1", "c0"]);
        assert_eq!(json["total"], 3);
        assert_eq!(json["limit"], CdrFilter::DEFAULT_LIMIT);
        assert_eq!(json["offset"], 0);
        let c2 = &json["items"][0];
        assert_eq!(c2["caller"], "1003");
        assert_eq!(c2["duration_ms"], 60_000);
        assert_eq!(c2["hangup_cause"], "normal_clearing");
        assert_eq!(c2["legs"][1]["role"], "callee");
    }

    #[tokio::test]
    async fn number_matches_caller_or_callee() {
        let db = seeded().await;
        let (_, json) = get(&db.store, "/api/v1/cdrs?number=1001").await;
        assert_eq!(ids(&json), ["c1", "c0"]);
        assert_eq!(json["total"], 2);
        let (_, json) = get(&db.store, "/api/v1/cdrs?number=9999").await;
        assert_eq!(ids(&json), Vec::<&str>::new());
        assert_eq!(json["total"], 0);
    }

    #[tokio::test]
    async fn time_window_accepts_epoch_milliseconds_and_rfc3339() {
        let db = seeded().await;
        let (_, json) = get(
            &db.store,
            "/api/v1/cdrs?from=1700000001000&to=1700000002000",
        )
        .await;
        assert_eq!(ids(&json), ["c1"], "from inclusive, to exclusive");
        // 2023-11-14T22:13:21Z is 1_700_000_001_000; %2B is an escaped '+'.
        let (status, json) = get(
            &db.store,
            "/api/v1/cdrs?from=2023-11-14T22:13:21Z&to=2023-11-15T00:13:22%2B02:00",
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{json}");
        assert_eq!(ids(&json), ["c1"]);
    }

    #[tokio::test]
    async fn limit_and_offset_page_through_with_a_stable_total() {
        let db = seeded().await;
        let (_, first) = get(&db.store, "/api/v1/cdrs?limit=2").await;
        let (_, second) = get(&db.store, "/api/v1/cdrs?limit=2&offset=2").await;
        assert_eq!(ids(&first), ["c2", "c1"]);
        assert_eq!(ids(&second), ["c0"]);
        assert_eq!((&first["total"], &second["total"]), (&3.into(), &3.into()));
        assert_eq!(
            (&second["limit"], &second["offset"]),
            (&2.into(), &2.into())
        );
        let (_, json) = get(&db.store, "/api/v1/cdrs?number=&limit=&offset=").await;
        assert_eq!(
            ids(&json),
            ["c2", "c1", "c0"],
            "empty values count as absent"
        );
    }

    #[tokio::test]
    async fn bad_parameters_are_json_errors_naming_the_field() {
        let db = seeded().await;
        let long_number = format!("/api/v1/cdrs?number={}", "9".repeat(129));
        let cases = [
            ("/api/v1/cdrs?limit=ten", 400, "invalid_parameter", "limit"),
            ("/api/v1/cdrs?limit=-1", 400, "invalid_parameter", "limit"),
            ("/api/v1/cdrs?limit=0", 422, "out_of_range", "limit"),
            ("/api/v1/cdrs?limit=501", 422, "out_of_range", "limit"),
            (
                "/api/v1/cdrs?offset=1.5",
                400,
                "invalid_parameter",
                "offset",
            ),
            (
                "/api/v1/cdrs?offset=9223372036854775808",
                422,
                "out_of_range",
                "offset",
            ),
            (
                "/api/v1/cdrs?from=yesterday",
                400,
                "invalid_parameter",
                "from",
            ),
            (
                "/api/v1/cdrs?to=2023-02-30T00:00:00Z",
                400,
                "invalid_parameter",
                "to",
            ),
            ("/api/v1/cdrs?from=2000&to=1000", 422, "out_of_range", "to"),
            (
                "/api/v1/cdrs?limit=1&limit=2",
                400,
                "invalid_parameter",
                "limit",
            ),
            ("/api/v1/cdrs?numbr=1001", 400, "unknown_parameter", "numbr"),
            (long_number.as_str(), 422, "out_of_range", "number"),
        ];
        for (uri, status, code, field) in cases {
            let (got, json) = get(&db.store, uri).await;
            assert_eq!(got.as_u16(), status, "{uri}: {json}");
            assert_eq!(json["error"]["code"], code, "{uri}: {json}");
            assert_eq!(json["error"]["field"], field, "{uri}: {json}");
            assert!(
                json["error"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty())
            );
        }
    }

    #[tokio::test]
    async fn a_database_failure_is_a_500_that_reveals_nothing() {
        let db = seeded().await;
        db.execute("DROP TABLE cdrs").await;
        let (status, json) = get(&db.store, "/api/v1/cdrs").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            json,
            serde_json::json!({"error": {"code": "internal", "message": "internal error"}})
        );
    }

    #[tokio::test]
    async fn cdrs_need_a_token_and_an_agent_token_for_no_agent_sees_none() {
        let db = seeded().await;
        let request = Request::get("/api/v1/cdrs").body(Body::empty()).unwrap();
        let response = app(ApiState::new(db.store.clone()))
            .oneshot(request)
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let token = crate::cti::test_support::token_for_role(&db.store, Role::Agent).await;
        let (status, json) = get_with(&db.store, "/api/v1/cdrs", &token).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json["total"], 0, "{json}");
    }

    #[tokio::test]
    async fn cdrs_are_scoped_like_interactions_agents_see_their_own_supervisors_their_teams() {
        use crate::cti::test_support::Api;
        use crate::store::Team;
        use crate::store::test_support::interaction;

        let api = Api::new().await;
        let store = api.store();
        for team in ["blue", "red"] {
            let team = Team {
                id: team.into(),
                name: team.into(),
                supervisors: vec![],
            };
            store.create_team(&team).await.unwrap();
        }
        let alice = api.agent("alice", Role::Agent, Some("blue")).await;
        let bob = api.agent("bob", Role::Agent, Some("red")).await;
        let sue = api.agent("sue", Role::Supervisor, Some("blue")).await;
        let root = api.agent("root", Role::Admin, None).await;
        for (id, extension) in [("alice", "1001"), ("bob", "1002")] {
            let mut agent = store.get_agent(&id.into()).await.unwrap().unwrap();
            agent.extension = Some(extension.into());
            store.update_agent(&agent, None).await.unwrap();
        }
        store
            .insert_interaction(&interaction("ix-a", "555", Some("alice"), 1))
            .await
            .unwrap();
        store
            .insert_interaction(&interaction("ix-b", "556", Some("bob"), 2))
            .await
            .unwrap();
        // Queue calls name their interaction; plain calls are their extensions'.
        let records = [
            ("q-a", "555", "7000", Some("ix-a")),
            ("q-b", "556", "7000", Some("ix-b")),
            ("x-a", "1001", "2000", None),
            ("x-b", "3000", "1002", None),
            ("other", "4000", "5000", None),
        ];
        for (i, (id, caller, callee, ix)) in records.into_iter().enumerate() {
            let mut cdr = sample_cdr(id, caller, callee, 1_000_000 - i as i64 * 1_000);
            cdr.interaction = ix.map(str::to_owned);
            store.upsert_cdr(&cdr, CdrStage::Final).await.unwrap();
        }
        let seen = |token: String| async move {
            let (status, json) = get_with(store, "/api/v1/cdrs", &token).await;
            assert_eq!(status, StatusCode::OK, "{json}");
            ids(&json)
                .iter()
                .map(|s| (*s).to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(seen(alice.clone()).await, ["q-a", "x-a"]);
        assert_eq!(seen(bob).await, ["q-b", "x-b"]);
        assert_eq!(
            seen(sue).await,
            ["q-a", "x-a"],
            "the supervisor's team only"
        );
        assert_eq!(seen(root).await, ["q-a", "q-b", "x-a", "x-b", "other"]);
        let (_, json) = get_with(store, "/api/v1/cdrs?number=2000", &alice).await;
        assert_eq!(
            ids(&json),
            ["x-a"],
            "filters narrow the scope, never widen it"
        );
    }

    #[tokio::test]
    async fn a_closed_database_is_a_503() {
        let db = seeded().await;
        let token = crate::cti::test_support::token_for_role(&db.store, Role::Supervisor).await;
        db.store.close().await;
        let (status, json) = get_with(&db.store, "/api/v1/cdrs", &token).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(json["error"]["code"], "unavailable");
    }
}

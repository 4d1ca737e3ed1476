//! Trunks, DIDs and outbound routes written through the admin API ([`TrunkSettings`],
//! [`DidSettings`], [`RouteSettings`] rows; lists as JSON text). The runtime merges them after
//! the profile's at start-up and after every change. A trunk's password is kept as given:
//! the switch answers the carrier's digest challenges with it.

use super::{Store, StoreError, enum_from_text, enum_to_text, flag, from_json, map_unique, narrow};
use crate::call::trunks::{IpPrefix, TrunkCodec};
use crate::config::{DidSettings, GatewayAddress, RouteSettings, StoredTrunks, TrunkSettings};

const TABLE: &str = "trunks";

#[derive(sqlx::FromRow)]
struct TrunkRow {
    name: String,
    inbound_sources: String,
    trusted: i64,
    gateways: String,
    transport: String,
    max_channels: i64,
    caller_id: Option<String>,
    username: Option<String>,
    password: Option<String>,
    registers: i64,
    register_expires_secs: i64,
    codecs: String,
}

impl TryFrom<TrunkRow> for TrunkSettings {
    type Error = StoreError;

    fn try_from(row: TrunkRow) -> Result<TrunkSettings, StoreError> {
        // Stored as text and parsed back as the profile parses them, so a row written by hand
        // with a bad address is reported as corrupt rather than guessed at.
        let sources: Vec<IpPrefix> = from_json(&row.inbound_sources, TABLE, "inbound_sources")?;
        let gateways: Vec<GatewayAddress> = from_json(&row.gateways, TABLE, "gateways")?;
        let codecs: Vec<TrunkCodec> = from_json(&row.codecs, TABLE, "codecs")?;
        Ok(TrunkSettings {
            name: row.name,
            inbound_sources: sources,
            trusted: flag(row.trusted, TABLE, "trusted")?,
            gateways,
            transport: enum_from_text(&row.transport, TABLE, "transport")?,
            // The API names no CA file: stored TLS trunks trust the system's CAs.
            tls_ca: None,
            codecs,
            max_channels: narrow(row.max_channels, TABLE, "max_channels")?,
            caller_id: row.caller_id,
            username: row.username,
            password: row.password,
            register: flag(row.registers, TABLE, "registers")?,
            register_expires_secs: narrow(
                row.register_expires_secs,
                TABLE,
                "register_expires_secs",
            )?,
        })
    }
}

const SELECT: &str = "SELECT name, inbound_sources, trusted, gateways, transport, max_channels, \
                      caller_id, username, password, registers, register_expires_secs, codecs \
                      FROM trunks";

/// A list of displayable values as a JSON list of strings.
fn text_list<T: std::fmt::Display>(items: &[T]) -> String {
    let texts: Vec<String> = items.iter().map(ToString::to_string).collect();
    serde_json::Value::from(texts).to_string()
}

impl Store {
    /// Adds a trunk; an existing name is [`StoreError::Duplicate`].
    pub async fn create_trunk(&self, t: &TrunkSettings) -> Result<(), StoreError> {
        self.write_trunk(
            t,
            "INSERT INTO trunks (inbound_sources, trusted, gateways, transport, max_channels, \
             caller_id, username, password, registers, register_expires_secs, codecs, name) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .await
        .map(|_| ())
    }

    /// Replaces a trunk; `false` if there is no such trunk.
    pub async fn update_trunk(&self, t: &TrunkSettings) -> Result<bool, StoreError> {
        self.write_trunk(
            t,
            "UPDATE trunks SET inbound_sources = $1, trusted = $2, gateways = $3, \
             transport = $4, max_channels = $5, caller_id = $6, username = $7, password = $8, \
             registers = $9, register_expires_secs = $10, codecs = $11 WHERE name = $12",
        )
        .await
        .map(|n| n > 0)
    }

    async fn write_trunk(&self, t: &TrunkSettings, sql: &'static str) -> Result<u64, StoreError> {
        let result = sqlx::query(sql)
            .bind(text_list(&t.inbound_sources))
            .bind(i64::from(t.trusted))
            .bind(text_list(&t.gateways))
            .bind(enum_to_text(&t.transport, TABLE, "transport")?)
            .bind(i64::from(t.max_channels))
            .bind(t.caller_id.as_deref())
            .bind(t.username.as_deref())
            .bind(t.password.as_deref())
            .bind(i64::from(t.register))
            .bind(i64::from(t.register_expires_secs))
            .bind(text_list(
                &t.codecs.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            ))
            .bind(&t.name)
            .execute(&self.pool)
            .await
            .map_err(|e| map_unique(e, "trunk with this name"))?;
        Ok(result.rows_affected())
    }

    /// Removes a trunk; `false` if there was none.
    pub async fn delete_trunk(&self, name: &str) -> Result<bool, StoreError> {
        let n = sqlx::query("DELETE FROM trunks WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// One trunk by name.
    pub async fn get_trunk(&self, name: &str) -> Result<Option<TrunkSettings>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("{SELECT} WHERE name = $1"));
        let row: Option<TrunkRow> = sqlx::query_as(sql)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.map(TrunkSettings::try_from).transpose()
    }

    /// Every stored trunk, by name.
    pub async fn list_trunks(&self) -> Result<Vec<TrunkSettings>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("{SELECT} ORDER BY name"));
        let rows: Vec<TrunkRow> = sqlx::query_as(sql).fetch_all(&self.pool).await?;
        rows.into_iter().map(TrunkSettings::try_from).collect()
    }

    /// Adds a DID; an existing number (as written) is [`StoreError::Duplicate`].
    pub async fn create_did(&self, did: &DidSettings) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO dids (number, target) VALUES ($1, $2)")
            .bind(&did.number)
            .bind(&did.to)
            .execute(&self.pool)
            .await
            .map_err(|e| map_unique(e, "DID with this number"))?;
        Ok(())
    }

    /// Removes a DID by its number as written; `false` if there was none.
    pub async fn delete_did(&self, number: &str) -> Result<bool, StoreError> {
        let n = sqlx::query("DELETE FROM dids WHERE number = $1")
            .bind(number)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// Every stored DID, by number.
    pub async fn list_dids(&self) -> Result<Vec<DidSettings>, StoreError> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT number, target FROM dids ORDER BY number")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(number, to)| DidSettings { number, to })
            .collect())
    }

    /// Adds an outbound route; an existing prefix is [`StoreError::Duplicate`].
    pub async fn create_route(&self, route: &RouteSettings) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO outbound_routes (prefix, trunks) VALUES ($1, $2)")
            .bind(&route.prefix)
            .bind(text_list(&route.trunks))
            .execute(&self.pool)
            .await
            .map_err(|e| map_unique(e, "route with this prefix"))?;
        Ok(())
    }

    /// Removes an outbound route; `false` if there was none.
    pub async fn delete_route(&self, prefix: &str) -> Result<bool, StoreError> {
        let n = sqlx::query("DELETE FROM outbound_routes WHERE prefix = $1")
            .bind(prefix)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// Every stored outbound route, by prefix.
    pub async fn list_routes(&self) -> Result<Vec<RouteSettings>, StoreError> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT prefix, trunks FROM outbound_routes ORDER BY prefix")
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter()
            .map(|(prefix, trunks)| {
                Ok(RouteSettings {
                    prefix,
                    trunks: from_json(&trunks, "outbound_routes", "trunks")?,
                })
            })
            .collect()
    }

    /// Every stored trunk, DID and route.
    pub async fn stored_trunks(&self) -> Result<StoredTrunks, StoreError> {
        Ok(StoredTrunks {
            trunks: self.list_trunks().await?,
            dids: self.list_dids().await?,
            routes: self.list_routes().await?,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::GatewayTransport;
    use crate::store::test_support::TempDb;

    /// A trunk with only a source.
    pub(crate) fn trunk(name: &str, source: &str) -> TrunkSettings {
        TrunkSettings {
            name: name.into(),
            inbound_sources: vec![source.parse().unwrap()],
            trusted: false,
            gateways: vec![],
            transport: GatewayTransport::Udp,
            tls_ca: None,
            codecs: crate::call::trunks::default_trunk_codecs(),
            max_channels: 0,
            caller_id: None,
            username: None,
            password: None,
            register: false,
            register_expires_secs: 600,
        }
    }

    #[tokio::test]
    async fn trunks_round_trip_every_column() {
        let db = TempDb::new().await;
        let plain = trunk("ivr", "192.0.2.10");
        db.store.create_trunk(&plain).await.unwrap();
        let full = TrunkSettings {
            inbound_sources: vec![
                "198.51.100.0/24".parse().unwrap(),
                "2001:db8::1".parse().unwrap(),
            ],
            trusted: true,
            gateways: vec![
                "192.0.2.20:5080".parse().unwrap(),
                "sip.carrier.example".parse().unwrap(),
                "[2001:db8::5]:5062".parse().unwrap(),
            ],
            transport: GatewayTransport::Tls,
            codecs: vec![TrunkCodec::Pcma, TrunkCodec::TelephoneEvent],
            max_channels: 30,
            caller_id: Some("+33900000001".into()),
            username: Some("acct".into()),
            password: Some("carrier-secret".into()),
            register: true,
            register_expires_secs: 3600,
            ..trunk("carrier", "192.0.2.20")
        };
        db.store.create_trunk(&full).await.unwrap();
        assert_eq!(
            db.store.get_trunk("carrier").await.unwrap(),
            Some(full.clone())
        );
        assert_eq!(
            db.store.list_trunks().await.unwrap(),
            vec![full.clone(), plain.clone()]
        );
        let err = db.store.create_trunk(&plain).await.unwrap_err();
        assert!(matches!(err, StoreError::Duplicate(_)), "{err:?}");

        let mut changed = full.clone();
        changed.password = None;
        changed.username = None;
        changed.register = false;
        changed.gateways.truncate(1);
        assert!(db.store.update_trunk(&changed).await.unwrap());
        assert_eq!(db.store.get_trunk("carrier").await.unwrap(), Some(changed));
        assert!(
            !db.store
                .update_trunk(&trunk("nope", "10.0.0.1"))
                .await
                .unwrap()
        );
        assert!(db.store.delete_trunk("ivr").await.unwrap());
        assert!(!db.store.delete_trunk("ivr").await.unwrap());
        assert_eq!(db.store.get_trunk("ivr").await.unwrap(), None);
    }

    #[tokio::test]
    async fn dids_and_routes_round_trip_and_refuse_duplicates() {
        let db = TempDb::new().await;
        let did = DidSettings {
            number: "+33123450000".into(),
            to: "7000".into(),
        };
        db.store.create_did(&did).await.unwrap();
        assert!(matches!(
            db.store.create_did(&did).await.unwrap_err(),
            StoreError::Duplicate(_)
        ));
        let route = RouteSettings {
            prefix: "+33".into(),
            trunks: vec!["carrier".into(), "backup".into()],
        };
        db.store.create_route(&route).await.unwrap();
        assert!(matches!(
            db.store.create_route(&route).await.unwrap_err(),
            StoreError::Duplicate(_)
        ));
        db.store
            .create_trunk(&trunk("ivr", "10.0.0.1"))
            .await
            .unwrap();
        assert_eq!(
            db.store.stored_trunks().await.unwrap(),
            StoredTrunks {
                trunks: vec![trunk("ivr", "10.0.0.1")],
                dids: vec![did.clone()],
                routes: vec![route.clone()],
            }
        );
        assert!(db.store.delete_did(&did.number).await.unwrap());
        assert!(!db.store.delete_did(&did.number).await.unwrap());
        assert!(db.store.delete_route("+33").await.unwrap());
        assert!(!db.store.delete_route("+33").await.unwrap());
        assert!(db.store.list_dids().await.unwrap().is_empty());
        assert!(db.store.list_routes().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_hand_written_bad_address_is_reported_as_corrupt() {
        let db = TempDb::new().await;
        db.execute(
            "INSERT INTO trunks (name, inbound_sources) VALUES ('bad', '[\"not an address\"]')",
        )
        .await;
        let err = db.store.list_trunks().await.unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Corrupt {
                    column: "inbound_sources",
                    ..
                }
            ),
            "{err:?}"
        );
    }
}

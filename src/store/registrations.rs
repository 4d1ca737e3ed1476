//! Location service persistence (RFC 3261 §10.3): the `registrations` table keeps the
//! registrar's bindings so phones stay reachable across a restart.

use std::net::SocketAddr;

use super::{Store, StoreError, UnixMillis, narrow};

/// One stored binding of an address-of-record to a contact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredBinding {
    /// Address-of-record, e.g. `sip:1001@switchboard.lab`.
    pub aor: String,
    /// Contact URI as registered.
    pub contact_uri: String,
    /// When the binding lapses.
    pub expires_at: UnixMillis,
    /// Call-ID of the REGISTER that created or last refreshed it (§10.3 step 7).
    pub call_id: String,
    /// CSeq of that REGISTER.
    pub cseq: u32,
    /// The contact's `q` parameter as written (`"0.5"`), if any.
    pub q: Option<String>,
    /// Source address the REGISTER came from, where requests are sent (RFC 3581 style).
    pub received: SocketAddr,
    /// Transport the REGISTER came over, lower case (`"udp"`, `"tcp"`, `"ws"`).
    pub transport: String,
}

#[derive(sqlx::FromRow)]
struct BindingRow {
    aor: String,
    contact_uri: String,
    expires_at_ms: i64,
    call_id: String,
    cseq: i64,
    q: Option<String>,
    received: String,
    transport: String,
}

const TABLE: &str = "registrations";

impl TryFrom<BindingRow> for StoredBinding {
    type Error = StoreError;

    fn try_from(row: BindingRow) -> Result<StoredBinding, StoreError> {
        let received = row.received.parse().map_err(|_| StoreError::Corrupt {
            table: TABLE,
            column: "received",
            reason: format!("{:?} is not ip:port", row.received),
        })?;
        Ok(StoredBinding {
            aor: row.aor,
            contact_uri: row.contact_uri,
            expires_at: UnixMillis(row.expires_at_ms),
            call_id: row.call_id,
            cseq: narrow(row.cseq, TABLE, "cseq")?,
            q: row.q,
            received,
            transport: row.transport,
        })
    }
}

impl Store {
    /// Adds a binding or replaces the one with the same AOR and contact URI.
    pub async fn upsert_registration(&self, binding: &StoredBinding) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO registrations \
             (aor, contact_uri, expires_at_ms, call_id, cseq, q, received, transport) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (aor, contact_uri) DO UPDATE SET \
             expires_at_ms = excluded.expires_at_ms, call_id = excluded.call_id, \
             cseq = excluded.cseq, q = excluded.q, received = excluded.received, \
             transport = excluded.transport",
        )
        .bind(&binding.aor)
        .bind(&binding.contact_uri)
        .bind(binding.expires_at.0)
        .bind(&binding.call_id)
        .bind(i64::from(binding.cseq))
        .bind(binding.q.as_deref())
        .bind(binding.received.to_string())
        .bind(&binding.transport)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Removes one binding; `true` if it existed.
    pub async fn delete_registration(
        &self,
        aor: &str,
        contact_uri: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM registrations WHERE aor = $1 AND contact_uri = $2")
            .bind(aor)
            .bind(contact_uri)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Removes every binding of an AOR (`Contact: *`, §10.2.2); returns how many went.
    pub async fn delete_all_registrations_for_aor(&self, aor: &str) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM registrations WHERE aor = $1")
            .bind(aor)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Removes bindings that lapsed at or before `now`; returns how many went.
    pub async fn delete_expired_registrations(&self, now: UnixMillis) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM registrations WHERE expires_at_ms <= $1")
            .bind(now.0)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Every binding still valid after `now`, ordered by AOR then contact (in the database's
    /// collation), to seed the registrar at start-up.
    pub async fn load_registrations(
        &self,
        now: UnixMillis,
    ) -> Result<Vec<StoredBinding>, StoreError> {
        let rows: Vec<BindingRow> = sqlx::query_as(
            "SELECT aor, contact_uri, expires_at_ms, call_id, cseq, q, received, transport \
             FROM registrations WHERE expires_at_ms > $1 ORDER BY aor, contact_uri",
        )
        .bind(now.0)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(StoredBinding::try_from).collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::test_support::TempDb;

    pub(crate) fn binding(aor: &str, contact: &str, expires_at_ms: i64) -> StoredBinding {
        StoredBinding {
            aor: aor.to_owned(),
            contact_uri: contact.to_owned(),
            expires_at: UnixMillis(expires_at_ms),
            call_id: "reg-1@10.0.0.5".into(),
            cseq: 1,
            q: None,
            received: "10.0.0.5:5062".parse().unwrap(),
            transport: "udp".into(),
        }
    }

    #[tokio::test]
    async fn upsert_replaces_the_binding_for_the_same_contact() {
        let db = TempDb::new().await;
        let mut b = binding("sip:1001@lab", "sip:1001@10.0.0.5:5062", 10_000);
        db.store.upsert_registration(&b).await.unwrap();
        b.cseq = 2;
        b.expires_at = UnixMillis(20_000);
        b.q = Some("0.7".into());
        b.received = "[2001:db8::1]:5070".parse().unwrap();
        b.transport = "tcp".into();
        db.store.upsert_registration(&b).await.unwrap();
        assert_eq!(
            db.store.load_registrations(UnixMillis(0)).await.unwrap(),
            vec![b]
        );
    }

    #[tokio::test]
    async fn loading_skips_expired_bindings() {
        let db = TempDb::new().await;
        let live = binding("sip:1001@lab", "sip:a@h", 10_001);
        let lapsed = binding("sip:1001@lab", "sip:b@h", 10_000);
        db.store.upsert_registration(&live).await.unwrap();
        db.store.upsert_registration(&lapsed).await.unwrap();
        let now = UnixMillis(10_000);
        assert_eq!(
            db.store.load_registrations(now).await.unwrap(),
            vec![live.clone()]
        );
        assert_eq!(db.store.delete_expired_registrations(now).await.unwrap(), 1);
        assert_eq!(
            db.store.load_registrations(UnixMillis(0)).await.unwrap(),
            vec![live]
        );
    }

    #[tokio::test]
    async fn deleting_one_contact_or_a_whole_aor() {
        let db = TempDb::new().await;
        for b in [
            binding("sip:1001@lab", "sip:a@h", 9_999_999),
            binding("sip:1001@lab", "sip:b@h", 9_999_999),
            binding("sip:1002@lab", "sip:c@h", 9_999_999),
        ] {
            db.store.upsert_registration(&b).await.unwrap();
        }
        assert!(
            db.store
                .delete_registration("sip:1001@lab", "sip:a@h")
                .await
                .unwrap()
        );
        assert!(
            !db.store
                .delete_registration("sip:1001@lab", "sip:a@h")
                .await
                .unwrap()
        );
        assert_eq!(
            db.store
                .delete_all_registrations_for_aor("sip:1001@lab")
                .await
                .unwrap(),
            1
        );
        let left = db.store.load_registrations(UnixMillis(0)).await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].aor, "sip:1002@lab");
    }

    #[tokio::test]
    async fn a_row_with_a_bad_received_address_is_reported_corrupt() {
        let db = TempDb::new().await;
        db.store
            .upsert_registration(&binding("sip:1001@lab", "sip:a@h", 10))
            .await
            .unwrap();
        sqlx::query("UPDATE registrations SET received = 'not-an-address'")
            .execute(&db.store.pool)
            .await
            .unwrap();
        let err = db
            .store
            .load_registrations(UnixMillis(0))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Corrupt {
                    column: "received",
                    ..
                }
            ),
            "{err:?}"
        );
    }
}

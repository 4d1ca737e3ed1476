//! SIP extensions (users allowed to register and call) kept in the `extensions` table, in
//! addition to those the profile defines.
//!
//! Credentials are a lab plaintext password or precomputed digest HA1 values
//! (RFC 7616 §3.4.2: `H(user:realm:password)`). An HA1 is only valid for the realm it was
//! computed with, which is the profile's realm.

use std::fmt;

use super::{Store, StoreError};

/// One extension.
#[derive(Clone, PartialEq, Eq)]
pub struct Extension {
    /// User part, e.g. `"1001"`.
    pub user: String,
    /// Plaintext password (lab deployments only).
    pub password: Option<String>,
    /// Hex MD5 HA1 for the profile's realm.
    pub ha1_md5: Option<String>,
    /// Hex SHA-256 HA1 for the profile's realm.
    pub ha1_sha256: Option<String>,
    /// Name shown to called parties.
    pub display_name: Option<String>,
    /// Disabled extensions may neither register nor call.
    pub enabled: bool,
}

// Secrets never reach logs.
impl fmt::Debug for Extension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("Extension")
            .field("user", &self.user)
            .field("password", &redact(&self.password))
            .field("ha1_md5", &redact(&self.ha1_md5))
            .field("ha1_sha256", &redact(&self.ha1_sha256))
            .field("display_name", &self.display_name)
            .field("enabled", &self.enabled)
            .finish()
    }
}

#[derive(sqlx::FromRow)]
struct ExtensionRow {
    user: String,
    password: Option<String>,
    ha1_md5: Option<String>,
    ha1_sha256: Option<String>,
    display_name: Option<String>,
    enabled: i64,
}

impl TryFrom<ExtensionRow> for Extension {
    type Error = StoreError;

    fn try_from(row: ExtensionRow) -> Result<Extension, StoreError> {
        let enabled = match row.enabled {
            0 => false,
            1 => true,
            n => {
                return Err(StoreError::Corrupt {
                    table: "extensions",
                    column: "enabled",
                    reason: format!("{n} is not 0 or 1"),
                });
            }
        };
        Ok(Extension {
            user: row.user,
            password: row.password,
            ha1_md5: row.ha1_md5,
            ha1_sha256: row.ha1_sha256,
            display_name: row.display_name,
            enabled,
        })
    }
}

// `user` is reserved in PostgreSQL, hence the quotes (SQLite accepts them too).
const SELECT: &str =
    "SELECT \"user\", password, ha1_md5, ha1_sha256, display_name, enabled FROM extensions";

impl Store {
    /// The extension with this user part, if any.
    pub async fn get_extension(&self, user: &str) -> Result<Option<Extension>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("{SELECT} WHERE \"user\" = $1"));
        let row: Option<ExtensionRow> = sqlx::query_as(sql)
            .bind(user)
            .fetch_optional(&self.pool)
            .await?;
        row.map(Extension::try_from).transpose()
    }

    /// Every extension, ordered by user (in the database's collation).
    pub async fn list_extensions(&self) -> Result<Vec<Extension>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("{SELECT} ORDER BY \"user\""));
        let rows: Vec<ExtensionRow> = sqlx::query_as(sql).fetch_all(&self.pool).await?;
        rows.into_iter().map(Extension::try_from).collect()
    }

    /// Adds an extension or replaces the one with the same user.
    pub async fn upsert_extension(&self, ext: &Extension) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO extensions \
             (\"user\", password, ha1_md5, ha1_sha256, display_name, enabled) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (\"user\") DO UPDATE SET \
             password = excluded.password, ha1_md5 = excluded.ha1_md5, \
             ha1_sha256 = excluded.ha1_sha256, display_name = excluded.display_name, \
             enabled = excluded.enabled",
        )
        .bind(&ext.user)
        .bind(ext.password.as_deref())
        .bind(ext.ha1_md5.as_deref())
        .bind(ext.ha1_sha256.as_deref())
        .bind(ext.display_name.as_deref())
        .bind(i64::from(ext.enabled))
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::test_support::TempDb;

    pub(crate) fn extension(user: &str) -> Extension {
        Extension {
            user: user.to_owned(),
            password: Some(format!("pw-{user}")),
            ha1_md5: None,
            ha1_sha256: None,
            display_name: Some(format!("Agent {user}")),
            enabled: true,
        }
    }

    #[tokio::test]
    async fn extensions_upsert_get_and_list_in_user_order() {
        let db = TempDb::new().await;
        assert_eq!(db.store.get_extension("1001").await.unwrap(), None);
        db.store.upsert_extension(&extension("1002")).await.unwrap();
        db.store.upsert_extension(&extension("1001")).await.unwrap();

        let mut changed = extension("1001");
        changed.password = None;
        changed.ha1_md5 = Some("0".repeat(32));
        changed.ha1_sha256 = Some("f".repeat(64));
        changed.display_name = None;
        changed.enabled = false;
        db.store.upsert_extension(&changed).await.unwrap();

        assert_eq!(
            db.store.get_extension("1001").await.unwrap(),
            Some(changed.clone())
        );
        assert_eq!(
            db.store.list_extensions().await.unwrap(),
            vec![changed, extension("1002")]
        );
    }

    #[test]
    fn debug_output_hides_credentials() {
        let mut ext = extension("1001");
        ext.ha1_md5 = Some("abcdef0123".into());
        let shown = format!("{ext:?}");
        assert!(!shown.contains("pw-1001"), "{shown}");
        assert!(!shown.contains("abcdef0123"), "{shown}");
        assert!(shown.contains("1001"));
    }
}

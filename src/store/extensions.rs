//! SIP extensions (users allowed to register and call) kept in the `extensions` table, in
//! addition to those the profile defines.
//!
//! Credentials are digest HA1 values (RFC 7616 §3.4.2: `H(user:realm:password)`), MD5 and
//! SHA-256, with the realm they were computed for: a stolen database then gives no password
//! to try elsewhere (an HA1 still authenticates in its realm, as with every digest server).
//! Rows from before that kept a plaintext password, and [`Store::hash_plaintext_extensions`]
//! replaces it with its hashes at start-up.

use std::fmt;

use super::{Store, StoreError};
use crate::dialing::CallingClass;

/// One extension.
#[derive(Clone, PartialEq, Eq)]
pub struct Extension {
    /// User part, e.g. `"1001"`.
    pub user: String,
    /// Plaintext password (rows from before HA1 storage, hashed at the next start).
    pub password: Option<String>,
    /// Hex MD5 HA1 for the profile's realm.
    pub ha1_md5: Option<String>,
    /// Hex SHA-256 HA1 for the profile's realm.
    pub ha1_sha256: Option<String>,
    /// The realm the HA1 values were computed for (`None`: the profile's, for rows written
    /// before it was recorded).
    pub ha1_realm: Option<String>,
    /// Name shown to called parties.
    pub display_name: Option<String>,
    /// Disabled extensions may neither register nor call.
    pub enabled: bool,
    /// What it may dial outside; `None`: the profile's `dialing.default_class`.
    pub calling_class: Option<CallingClass>,
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
            .field("ha1_realm", &self.ha1_realm)
            .field("display_name", &self.display_name)
            .field("enabled", &self.enabled)
            .field("calling_class", &self.calling_class)
            .finish()
    }
}

#[derive(sqlx::FromRow)]
struct ExtensionRow {
    user: String,
    password: Option<String>,
    ha1_md5: Option<String>,
    ha1_sha256: Option<String>,
    ha1_realm: Option<String>,
    display_name: Option<String>,
    enabled: i64,
    calling_class: Option<String>,
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
            ha1_realm: row.ha1_realm,
            display_name: row.display_name,
            enabled,
            calling_class: row
                .calling_class
                .map(|c| {
                    CallingClass::parse(&c).ok_or_else(|| StoreError::Corrupt {
                        table: "extensions",
                        column: "calling_class",
                        reason: format!("unknown class {c:?}"),
                    })
                })
                .transpose()?,
        })
    }
}

// `user` is reserved in PostgreSQL, hence the quotes (SQLite accepts them too).
const SELECT: &str = "SELECT \"user\", password, ha1_md5, ha1_sha256, ha1_realm, display_name, \
     enabled, calling_class FROM extensions";

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
        self.write_extension(ext, UPSERT).await
    }

    /// Adds an extension; [`StoreError::Duplicate`] if the user exists.
    pub async fn create_extension(&self, ext: &Extension) -> Result<(), StoreError> {
        self.write_extension(ext, "").await.map_err(|e| match e {
            StoreError::Database(e) => super::map_unique(e, "extension"),
            other => other,
        })
    }

    async fn write_extension(&self, ext: &Extension, on_conflict: &str) -> Result<(), StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "INSERT INTO extensions \
             (\"user\", password, ha1_md5, ha1_sha256, ha1_realm, display_name, enabled, \
             calling_class) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) {on_conflict}"
        ));
        sqlx::query(sql)
            .bind(&ext.user)
            .bind(ext.password.as_deref())
            .bind(ext.ha1_md5.as_deref())
            .bind(ext.ha1_sha256.as_deref())
            .bind(ext.ha1_realm.as_deref())
            .bind(ext.display_name.as_deref())
            .bind(i64::from(ext.enabled))
            .bind(ext.calling_class.map(CallingClass::name))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Removes an extension; `false` if there was none.
    pub async fn delete_extension(&self, user: &str) -> Result<bool, StoreError> {
        let n = sqlx::query("DELETE FROM extensions WHERE \"user\" = $1")
            .bind(user)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// Replaces every stored plaintext password with its MD5 and SHA-256 HA1 for `realm`
    /// (the profile's domain); returns how many rows were hashed. Run at start-up, so rows
    /// written before HA1 storage keep working and stop holding passwords.
    pub async fn hash_plaintext_extensions(&self, realm: &str) -> Result<usize, StoreError> {
        let mut hashed = 0;
        for ext in self.list_extensions().await? {
            let Some(password) = &ext.password else {
                continue;
            };
            let (md5, sha256) = ha1_pair(&ext.user, realm, password);
            let n = sqlx::query(
                "UPDATE extensions SET password = NULL, ha1_md5 = $1, ha1_sha256 = $2, \
                 ha1_realm = $3 WHERE \"user\" = $4 AND password = $5",
            )
            .bind(md5)
            .bind(sha256)
            .bind(realm)
            .bind(&ext.user)
            .bind(password)
            .execute(&self.pool)
            .await?
            .rows_affected();
            hashed += usize::try_from(n).unwrap_or(0);
        }
        Ok(hashed)
    }
}

const UPSERT: &str = "ON CONFLICT (\"user\") DO UPDATE SET \
     password = excluded.password, ha1_md5 = excluded.ha1_md5, \
     ha1_sha256 = excluded.ha1_sha256, ha1_realm = excluded.ha1_realm, \
     display_name = excluded.display_name, enabled = excluded.enabled, \
     calling_class = excluded.calling_class";

/// The MD5 and SHA-256 HA1 of `user:realm:password`, in lowercase hex.
#[must_use]
pub fn ha1_pair(user: &str, realm: &str, password: &str) -> (String, String) {
    use crate::sip::digest::Algorithm;
    (
        Algorithm::Md5.ha1(user, realm, password),
        Algorithm::Sha256.ha1(user, realm, password),
    )
}

impl Extension {
    /// A new extension keeping only the HA1 hashes of `password` for `realm`.
    #[must_use]
    pub fn with_password(user: &str, realm: &str, password: &str) -> Extension {
        let (md5, sha256) = ha1_pair(user, realm, password);
        Extension {
            user: user.to_owned(),
            password: None,
            ha1_md5: Some(md5),
            ha1_sha256: Some(sha256),
            ha1_realm: Some(realm.to_owned()),
            display_name: None,
            enabled: true,
            calling_class: None,
        }
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
            ha1_realm: None,
            display_name: Some(format!("Agent {user}")),
            enabled: true,
            calling_class: None,
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
        changed.calling_class = Some(CallingClass::International);
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

    #[tokio::test]
    async fn plaintext_rows_are_hashed_for_the_realm_and_new_ones_hold_no_password() {
        let db = TempDb::new().await;
        db.store.upsert_extension(&extension("1001")).await.unwrap();
        let mut hashed = Extension::with_password("1002", "example.org", "a-long-secret-42!");
        hashed.display_name = Some("Desk".into());
        db.store.create_extension(&hashed).await.unwrap();
        assert!(matches!(
            db.store.create_extension(&hashed).await,
            Err(StoreError::Duplicate("extension"))
        ));

        assert_eq!(
            db.store
                .hash_plaintext_extensions("example.org")
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            db.store
                .hash_plaintext_extensions("example.org")
                .await
                .unwrap(),
            0
        );
        let stored = db.store.list_extensions().await.unwrap();
        assert!(stored.iter().all(|e| e.password.is_none()), "{stored:?}");
        let old = &stored[0];
        assert_eq!(
            old.ha1_md5.as_deref(),
            Some(ha1_pair("1001", "example.org", "pw-1001").0.as_str())
        );
        assert_eq!(old.ha1_realm.as_deref(), Some("example.org"));
        assert_eq!(stored[1], hashed);
        assert_eq!(hashed.ha1_sha256.as_ref().map(String::len), Some(64));

        assert!(db.store.delete_extension("1001").await.unwrap());
        assert!(!db.store.delete_extension("1001").await.unwrap());
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

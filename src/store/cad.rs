//! CAD (call-associated data) variables: per-interaction key/value pairs set by the IVR or
//! integrations and shown to (and sometimes edited by) the agent.
//!
//! Every variable carries a `version` that each write bumps, so concurrent editors use
//! optimistic concurrency: a write names the version it read and fails if it is stale.

use serde::Serialize;

use super::{Store, StoreError, flag, narrow};
use crate::routing::model::InteractionId;

const TABLE: &str = "cad_variables";

/// One CAD variable of an interaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CadVariable {
    /// The variable's name, e.g. `"account"`.
    pub key: String,
    /// Its value, at most [`CadVariable::MAX_VALUE_CHARS`] characters.
    pub value: String,
    /// Whether agents may change it.
    pub editable: bool,
    /// Secure values are masked for roles the org settings do not allow.
    pub secure: bool,
    /// Position on the agent's screen, ascending.
    pub display_order: i32,
    /// Bumped by every write; a write must name the version it read.
    pub version: i64,
}

impl CadVariable {
    /// Longest value, in characters.
    pub const MAX_VALUE_CHARS: usize = 256;
}

/// What [`Store::update_cad_value`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CadUpdate {
    /// Written; the variable as it now is.
    Updated(CadVariable),
    /// The named version was not the current one; nothing was written. The current variable.
    Stale(CadVariable),
    /// No such variable on this interaction.
    NotFound,
}

type Row = (String, String, i64, i64, i64, i64);

fn from_row(
    (key, value, editable, secure, order, version): Row,
) -> Result<CadVariable, StoreError> {
    Ok(CadVariable {
        key,
        value,
        editable: flag(editable, TABLE, "editable")?,
        secure: flag(secure, TABLE, "secure")?,
        display_order: narrow(order, TABLE, "display_order")?,
        version,
    })
}

const SELECT: &str =
    "SELECT key, value, editable, secure, display_order, version FROM cad_variables";

impl Store {
    /// Sets a variable as the switch or an integration sees it (value, flags and order),
    /// bumping its version; a new variable starts at version 1. Returns the stored variable.
    pub async fn set_cad_variable(
        &self,
        interaction: &InteractionId,
        var: &CadVariable,
    ) -> Result<CadVariable, StoreError> {
        sqlx::query(
            "INSERT INTO cad_variables \
             (interaction_id, key, value, editable, secure, display_order, version) \
             VALUES ($1, $2, $3, $4, $5, $6, 1) \
             ON CONFLICT (interaction_id, key) DO UPDATE SET value = excluded.value, \
             editable = excluded.editable, secure = excluded.secure, \
             display_order = excluded.display_order, version = cad_variables.version + 1",
        )
        .bind(interaction.as_str())
        .bind(&var.key)
        .bind(&var.value)
        .bind(i64::from(var.editable))
        .bind(i64::from(var.secure))
        .bind(i64::from(var.display_order))
        .execute(&self.pool)
        .await?;
        self.get_cad_variable(interaction, &var.key)
            .await?
            .ok_or(StoreError::Corrupt {
                table: TABLE,
                column: "key",
                reason: "vanished after upsert".into(),
            })
    }

    /// One variable of an interaction.
    pub async fn get_cad_variable(
        &self,
        interaction: &InteractionId,
        key: &str,
    ) -> Result<Option<CadVariable>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("{SELECT} WHERE interaction_id = $1 AND key = $2"));
        let row: Option<Row> = sqlx::query_as(sql)
            .bind(interaction.as_str())
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        row.map(from_row).transpose()
    }

    /// Every variable of an interaction, in display order (then by key).
    pub async fn list_cad(
        &self,
        interaction: &InteractionId,
    ) -> Result<Vec<CadVariable>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "{SELECT} WHERE interaction_id = $1 ORDER BY display_order, key"
        ));
        let rows: Vec<Row> = sqlx::query_as(sql)
            .bind(interaction.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(from_row).collect()
    }

    /// Writes `value` if the variable is still at `version` (compare-and-set).
    pub async fn update_cad_value(
        &self,
        interaction: &InteractionId,
        key: &str,
        value: &str,
        version: i64,
    ) -> Result<CadUpdate, StoreError> {
        let n = sqlx::query(
            "UPDATE cad_variables SET value = $1, version = version + 1 \
             WHERE interaction_id = $2 AND key = $3 AND version = $4",
        )
        .bind(value)
        .bind(interaction.as_str())
        .bind(key)
        .bind(version)
        .execute(&self.pool)
        .await?
        .rows_affected();
        let current = self.get_cad_variable(interaction, key).await?;
        Ok(match (n, current) {
            (_, None) => CadUpdate::NotFound,
            (0, Some(var)) => CadUpdate::Stale(var),
            (_, Some(var)) => CadUpdate::Updated(var),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::TempDb;

    pub(crate) fn var(key: &str, value: &str, order: i32) -> CadVariable {
        CadVariable {
            key: key.into(),
            value: value.into(),
            editable: true,
            secure: false,
            display_order: order,
            version: 1,
        }
    }

    #[tokio::test]
    async fn variables_list_in_display_order_and_each_write_bumps_the_version() {
        let db = TempDb::new().await;
        let ix = InteractionId::from("ix1");
        db.store
            .set_cad_variable(&ix, &var("tier", "gold", 2))
            .await
            .unwrap();
        let account = db
            .store
            .set_cad_variable(&ix, &var("account", "42", 1))
            .await
            .unwrap();
        assert_eq!(account, var("account", "42", 1));
        db.store
            .set_cad_variable(&"other".into(), &var("account", "7", 1))
            .await
            .unwrap();
        let mut secure = var("tier", "platinum", 2);
        secure.secure = true;
        let again = db.store.set_cad_variable(&ix, &secure).await.unwrap();
        assert_eq!(again.version, 2);
        assert!(again.secure);
        let keys: Vec<_> = db
            .store
            .list_cad(&ix)
            .await
            .unwrap()
            .into_iter()
            .map(|v| v.key)
            .collect();
        assert_eq!(keys, ["account", "tier"]);
    }

    #[tokio::test]
    async fn a_write_naming_a_stale_version_changes_nothing() {
        let db = TempDb::new().await;
        let ix = InteractionId::from("ix1");
        db.store
            .set_cad_variable(&ix, &var("account", "42", 1))
            .await
            .unwrap();
        let first = db
            .store
            .update_cad_value(&ix, "account", "43", 1)
            .await
            .unwrap();
        let CadUpdate::Updated(updated) = first else {
            panic!("{first:?}")
        };
        assert_eq!((updated.value.as_str(), updated.version), ("43", 2));
        let stale = db
            .store
            .update_cad_value(&ix, "account", "44", 1)
            .await
            .unwrap();
        assert_eq!(stale, CadUpdate::Stale(updated));
        assert_eq!(
            db.store
                .update_cad_value(&ix, "nope", "1", 1)
                .await
                .unwrap(),
            CadUpdate::NotFound
        );
    }
}

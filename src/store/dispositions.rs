//! Disposition codes: how an interaction ended, chosen by the agent at wrap-up.
//!
//! Codes are organised in folders. A folder is a row like any code but with `folder = true`;
//! it groups codes (by `parent`) and can never itself be chosen as a disposition.

use serde::{Deserialize, Serialize};

use super::{Store, StoreError, flag, map_unique};

/// A disposition code or a folder of codes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DispositionCode {
    /// The code's id, e.g. `"sale"`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The folder this code sits in; `None` at the top level.
    #[serde(default)]
    pub parent: Option<String>,
    /// A folder groups codes and cannot be chosen at wrap-up.
    #[serde(default)]
    pub folder: bool,
}

type Row = (String, String, Option<String>, i64);

fn from_row((id, name, parent, folder): Row) -> Result<DispositionCode, StoreError> {
    Ok(DispositionCode {
        id,
        name,
        parent,
        folder: flag(folder, "disposition_codes", "is_folder")?,
    })
}

const SELECT: &str = "SELECT id, name, parent_id, is_folder FROM disposition_codes";

impl Store {
    /// Adds a code or folder; an existing id is [`StoreError::Duplicate`].
    pub async fn create_disposition(&self, code: &DispositionCode) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO disposition_codes (id, name, parent_id, is_folder) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&code.id)
        .bind(&code.name)
        .bind(code.parent.as_deref())
        .bind(i64::from(code.folder))
        .execute(&self.pool)
        .await
        .map_err(|e| map_unique(e, "disposition code"))?;
        Ok(())
    }

    /// Replaces a code's name, folder and kind; `false` if there is no such code.
    pub async fn update_disposition(&self, code: &DispositionCode) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE disposition_codes SET name = $1, parent_id = $2, is_folder = $3 WHERE id = $4",
        )
        .bind(&code.name)
        .bind(code.parent.as_deref())
        .bind(i64::from(code.folder))
        .bind(&code.id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    /// Removes a code or folder; `false` if there was none. Callers check for children first.
    pub async fn delete_disposition(&self, id: &str) -> Result<bool, StoreError> {
        let n = sqlx::query("DELETE FROM disposition_codes WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// One code or folder by id.
    pub async fn get_disposition(&self, id: &str) -> Result<Option<DispositionCode>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("{SELECT} WHERE id = $1"));
        let row: Option<Row> = sqlx::query_as(sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(from_row).transpose()
    }

    /// Every code and folder, by id.
    pub async fn list_dispositions(&self) -> Result<Vec<DispositionCode>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("{SELECT} ORDER BY id"));
        let rows: Vec<Row> = sqlx::query_as(sql).fetch_all(&self.pool).await?;
        rows.into_iter().map(from_row).collect()
    }

    /// How many codes and folders sit directly in folder `id`.
    pub async fn count_disposition_children(&self, id: &str) -> Result<u64, StoreError> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM disposition_codes WHERE parent_id = $1")
                .bind(id)
                .fetch_one(&self.pool)
                .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::test_support::TempDb;

    pub(crate) fn code(id: &str, parent: Option<&str>, folder: bool) -> DispositionCode {
        DispositionCode {
            id: id.into(),
            name: format!("Code {id}"),
            parent: parent.map(str::to_owned),
            folder,
        }
    }

    #[tokio::test]
    async fn codes_live_in_folders_and_read_back_as_written() {
        let db = TempDb::new().await;
        db.store
            .create_disposition(&code("sales", None, true))
            .await
            .unwrap();
        db.store
            .create_disposition(&code("sale", Some("sales"), false))
            .await
            .unwrap();
        db.store
            .create_disposition(&code("no_sale", Some("sales"), false))
            .await
            .unwrap();
        let err = db
            .store
            .create_disposition(&code("sale", None, false))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Duplicate(_)), "{err:?}");
        assert_eq!(
            db.store.count_disposition_children("sales").await.unwrap(),
            2
        );
        assert_eq!(
            db.store.get_disposition("sales").await.unwrap(),
            Some(code("sales", None, true))
        );
        let mut moved = code("sale", None, false);
        moved.name = "Sold".into();
        assert!(db.store.update_disposition(&moved).await.unwrap());
        assert_eq!(
            db.store.count_disposition_children("sales").await.unwrap(),
            1
        );
        let ids: Vec<String> = db
            .store
            .list_dispositions()
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(ids, ["no_sale", "sale", "sales"]);
        assert!(db.store.delete_disposition("sale").await.unwrap());
        assert!(!db.store.delete_disposition("sale").await.unwrap());
    }
}

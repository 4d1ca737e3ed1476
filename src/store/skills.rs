//! The skills catalogue: the names agents' and queues' skills are chosen from.

use serde::{Deserialize, Serialize};

use super::{Store, StoreError, map_unique};

/// One skill of the catalogue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SkillDef {
    /// The skill's name, e.g. `"french"`.
    pub name: String,
    /// What the skill means, for admins.
    #[serde(default)]
    pub description: String,
}

impl Store {
    /// Adds a skill; an existing name is [`StoreError::Duplicate`].
    pub async fn create_skill(&self, skill: &SkillDef) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO skills (name, description) VALUES ($1, $2)")
            .bind(&skill.name)
            .bind(&skill.description)
            .execute(&self.pool)
            .await
            .map_err(|e| map_unique(e, "skill"))?;
        Ok(())
    }

    /// Replaces a skill's description; `false` if there is no such skill.
    pub async fn update_skill(&self, skill: &SkillDef) -> Result<bool, StoreError> {
        let n = sqlx::query("UPDATE skills SET description = $1 WHERE name = $2")
            .bind(&skill.description)
            .bind(&skill.name)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// Removes a skill; `false` if there was none.
    pub async fn delete_skill(&self, name: &str) -> Result<bool, StoreError> {
        let n = sqlx::query("DELETE FROM skills WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// One skill by name.
    pub async fn get_skill(&self, name: &str) -> Result<Option<SkillDef>, StoreError> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT name, description FROM skills WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(name, description)| SkillDef { name, description }))
    }

    /// The whole catalogue, by name.
    pub async fn list_skills(&self) -> Result<Vec<SkillDef>, StoreError> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT name, description FROM skills ORDER BY name")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(name, description)| SkillDef { name, description })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::TempDb;

    #[tokio::test]
    async fn skills_are_created_updated_listed_and_deleted() {
        let db = TempDb::new().await;
        let skill = |name: &str, description: &str| SkillDef {
            name: name.into(),
            description: description.into(),
        };
        db.store.create_skill(&skill("spanish", "")).await.unwrap();
        db.store.create_skill(&skill("french", "")).await.unwrap();
        let err = db
            .store
            .create_skill(&skill("french", ""))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Duplicate("skill")), "{err:?}");
        assert!(
            db.store
                .update_skill(&skill("french", "Parisian"))
                .await
                .unwrap()
        );
        assert!(!db.store.update_skill(&skill("klingon", "")).await.unwrap());
        assert_eq!(
            db.store.get_skill("french").await.unwrap(),
            Some(skill("french", "Parisian"))
        );
        assert_eq!(
            db.store.list_skills().await.unwrap(),
            vec![skill("french", "Parisian"), skill("spanish", "")]
        );
        assert!(db.store.delete_skill("french").await.unwrap());
        assert!(!db.store.delete_skill("french").await.unwrap());
        assert_eq!(db.store.get_skill("french").await.unwrap(), None);
    }
}

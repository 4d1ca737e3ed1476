//! Organisation-wide settings, stored as `key -> JSON value` rows in `org_settings` so new
//! settings need no migration. Keys never written read as their defaults.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Store, StoreError, from_json, to_json};
use crate::routing::model::Role;

const TABLE: &str = "org_settings";

/// Settings that apply to the whole contact center.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct OrgSettings {
    /// Denoise callers' audio before agents hear it.
    pub noise_suppression: bool,
    /// Also clean the agent's audio before the customer hears it (off: only the customer's
    /// audio is cleaned, the case noisy callers need).
    pub noise_suppression_agent_audio: bool,
    /// Agents may turn noise suppression off and on for their own live call (otherwise only
    /// supervisors and admins may).
    pub agents_may_toggle_noise_suppression: bool,
    /// Agents may list and download the recordings of their own interactions.
    pub agents_may_download_recordings: bool,
    /// Agents may log in on an extension other than their own (hot desking); otherwise only
    /// an admin may log an agent in elsewhere. Never on another agent's extension.
    pub agents_may_choose_extension: bool,
    /// Record every connected queue call (customer left, agent side right).
    pub recording: bool,
    /// Data Shield: a recording pause resumes by itself after
    /// `data_shield_pause_seconds` (the agent may resume earlier).
    pub data_shield: bool,
    /// How long recording pauses while an agent takes sensitive data (card numbers).
    pub data_shield_pause_seconds: u32,
    /// Agents may pause and resume recording during a consult or a conference. Off by
    /// default, as the Webex desktop refuses it there: a third party is on the line who did
    /// not ask for the pause.
    pub recording_pause_during_consult: bool,
    /// Longest wrap-up before an agent is made Available again (queues may override).
    pub wrap_up_max_seconds: u32,
    /// How long an offer rings an agent before RONA.
    pub rona_timeout_seconds: u32,
    /// CAD keys shown on the agent's offer pop-up, in order; at most
    /// [`OrgSettings::MAX_OFFERED_CAD_KEYS`].
    pub offered_cad_keys: Vec<String>,
    /// Roles that see secure CAD values; every other role sees them masked.
    #[schema(value_type = Vec<String>)]
    pub secure_cad_roles: Vec<Role>,
    /// Most calls the contact center holds at once, all kinds (Webex Contact Center's
    /// concurrent-call limit); more are refused 503 with
    /// `Reason: SIP;cause=503;text="org_calls"`. 0: no limit (the profile's `sip.max_calls`
    /// still applies).
    pub max_concurrent_calls: u32,
    /// How long a callback whose customer did not answer (busy, no answer, refused) waits
    /// before the next attempt.
    pub callback_retry_seconds: u32,
    /// Attempts at a callback before it ends as failed.
    pub callback_max_attempts: u32,
    /// Most calls out through trunks at once, all trunks together (click-to-dial, callbacks,
    /// phones dialling numbers, consults and transfers to numbers); more are refused 503
    /// with `Reason: SIP;cause=503;text="org_outbound_calls"`. 0: no limit (each trunk's
    /// `max_channels` still applies).
    pub max_outbound_calls: u32,
}

impl OrgSettings {
    /// Most CAD keys an offer pop-up shows.
    pub const MAX_OFFERED_CAD_KEYS: usize = 6;
}

impl Default for OrgSettings {
    fn default() -> Self {
        OrgSettings {
            noise_suppression: true,
            noise_suppression_agent_audio: false,
            agents_may_toggle_noise_suppression: false,
            agents_may_download_recordings: false,
            agents_may_choose_extension: false,
            recording: true,
            data_shield: true,
            data_shield_pause_seconds: 60,
            recording_pause_during_consult: false,
            wrap_up_max_seconds: 120,
            rona_timeout_seconds: 15,
            offered_cad_keys: Vec::new(),
            secure_cad_roles: vec![Role::Admin],
            max_concurrent_calls: 0,
            callback_retry_seconds: 300,
            callback_max_attempts: 3,
            max_outbound_calls: 0,
        }
    }
}

impl Store {
    /// The current settings, defaults for keys never written. Keys this version does not know
    /// (written by a newer one) are ignored.
    pub async fn get_settings(&self) -> Result<OrgSettings, StoreError> {
        let rows: Vec<(String, String)> = sqlx::query_as("SELECT key, value FROM org_settings")
            .fetch_all(&self.pool)
            .await?;
        let Value::Object(mut merged) =
            serde_json::to_value(OrgSettings::default()).map_err(|e| corrupt(e.to_string()))?
        else {
            return Err(corrupt("settings are not an object".into()));
        };
        for (key, value) in rows {
            if merged.contains_key(&key) {
                merged.insert(key, from_json::<Value>(&value, TABLE, "value")?);
            }
        }
        serde_json::from_value(Value::Object(merged)).map_err(|e| corrupt(e.to_string()))
    }

    /// Writes every setting.
    pub async fn put_settings(&self, settings: &OrgSettings) -> Result<(), StoreError> {
        let Value::Object(map) =
            serde_json::to_value(settings).map_err(|e| corrupt(e.to_string()))?
        else {
            return Err(corrupt("settings are not an object".into()));
        };
        let mut tx = self.begin_write().await?;
        for (key, value) in map {
            sqlx::query(
                "INSERT INTO org_settings (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .bind(key)
            .bind(to_json(&value, TABLE, "value")?)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The settings as a JSON object, for merging a partial update over them.
    pub async fn settings_json(&self) -> Result<Map<String, Value>, StoreError> {
        match serde_json::to_value(self.get_settings().await?) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(corrupt("settings are not an object".into())),
        }
    }
}

fn corrupt(reason: String) -> StoreError {
    StoreError::Corrupt {
        table: TABLE,
        column: "value",
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_support::TempDb;

    #[tokio::test]
    async fn unwritten_settings_read_as_defaults_and_writes_read_back() {
        let db = TempDb::new().await;
        let defaults = db.store.get_settings().await.unwrap();
        assert_eq!(defaults, OrgSettings::default());
        assert!(defaults.noise_suppression);
        assert_eq!(defaults.secure_cad_roles, vec![Role::Admin]);

        let changed = OrgSettings {
            noise_suppression: false,
            offered_cad_keys: vec!["account".into(), "tier".into()],
            secure_cad_roles: vec![Role::Admin, Role::Supervisor],
            ..OrgSettings::default()
        };
        db.store.put_settings(&changed).await.unwrap();
        assert_eq!(db.store.get_settings().await.unwrap(), changed);
        db.store
            .put_settings(&OrgSettings::default())
            .await
            .unwrap();
        assert_eq!(
            db.store.get_settings().await.unwrap(),
            OrgSettings::default()
        );
    }

    #[tokio::test]
    async fn keys_from_a_newer_version_are_ignored() {
        let db = TempDb::new().await;
        db.execute("INSERT INTO org_settings (key, value) VALUES ('future', '1')")
            .await;
        db.execute("INSERT INTO org_settings (key, value) VALUES ('rona_timeout_seconds', '9')")
            .await;
        assert_eq!(
            db.store.get_settings().await.unwrap().rona_timeout_seconds,
            9
        );
    }
}

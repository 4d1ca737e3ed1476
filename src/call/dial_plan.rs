//! Where a dialled number goes and how the switch treats the media of what it reaches: the
//! contact center's business, handed to the switch as one plan rather than kept as switch
//! state. Today a number reaches a queue or an extension; trunks' DIDs and outbound routes
//! belong here too.

use super::model::{MediaPolicy, QueueMedia};
use std::collections::HashMap;
use std::path::PathBuf;

/// The plan the switch routes new calls by. The contact center owns it and replaces it
/// whenever queues or org settings change; calls already set up keep going.
#[derive(Debug, Clone, Default)]
pub struct DialPlan {
    /// Numbers (SIP users) that reach a queue, and the queue's id.
    pub queue_numbers: HashMap<String, String>,
    /// Queue id → its own music on hold (a WAV path relative to the profile).
    pub queue_music: HashMap<String, String>,
    /// Queue id → its overrides of the org's recording and noise suppression.
    pub queue_media: HashMap<String, QueueMedia>,
    /// The org's recording and noise suppression of queue calls.
    pub media_policy: MediaPolicy,
    /// Queue id → the most live calls it takes (absent: no limit).
    pub queue_limits: HashMap<String, u32>,
    /// Queue id → the caller ID its calls out present (absent: the trunk's).
    pub queue_caller_ids: HashMap<String, String>,
    /// Agent id → the most it may dial from the desktop (absent: its extension's class).
    pub agent_classes: HashMap<String, crate::dialing::CallingClass>,
    /// The most calls the contact center holds at once, all kinds (0: no limit).
    pub org_max_calls: u32,
}

/// What the switch does with a queue call's media once an agent connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueTreatment {
    pub record: bool,
    pub recordings_dir: PathBuf,
    pub denoise_customer: bool,
    pub denoise_agent: bool,
}

impl DialPlan {
    /// The queue `user` (the dialled number) reaches, if it is a queue number.
    pub fn queue_of(&self, user: &str) -> Option<&str> {
        self.queue_numbers.get(user).map(String::as_str)
    }

    /// The music callers of `queue` hear while they wait; `None`: the profile's.
    pub fn music_of(&self, queue: &str) -> Option<String> {
        self.queue_music.get(queue).cloned()
    }

    /// How `queue`'s calls are treated: its own overrides, else the org's policy.
    pub fn treatment(&self, queue: &str) -> QueueTreatment {
        let overrides = self.queue_media.get(queue).copied().unwrap_or_default();
        QueueTreatment {
            record: overrides.record.unwrap_or(self.media_policy.record),
            recordings_dir: self.media_policy.recordings_dir.clone(),
            denoise_customer: overrides
                .denoise_customer
                .unwrap_or(self.media_policy.denoise_customer),
            denoise_agent: self.media_policy.denoise_agent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queues_own_settings_override_the_orgs_and_the_rest_follow_it() {
        let plan = DialPlan {
            queue_numbers: HashMap::from([("7000".into(), "sales".into())]),
            queue_media: HashMap::from([(
                "sales".into(),
                QueueMedia {
                    record: Some(false),
                    denoise_customer: None,
                },
            )]),
            media_policy: MediaPolicy {
                record: true,
                recordings_dir: "/rec".into(),
                denoise_customer: true,
                denoise_agent: false,
            },
            ..DialPlan::default()
        };
        assert_eq!(plan.queue_of("7000"), Some("sales"));
        assert_eq!(plan.queue_of("1001"), None);
        let sales = plan.treatment("sales");
        assert!(!sales.record, "the queue's override");
        assert!(sales.denoise_customer, "the org's setting");
        assert!(plan.treatment("support").record, "no overrides: the org's");
    }
}

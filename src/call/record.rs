//! The record a call leaves: who called whom, when, how it ended, and every leg it had.
//! The switch emits it as the call goes (in progress, then final); the store maps it to
//! rows and the CTI lists it. It depends on nothing of the call's machinery.

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::clock::UnixMillis;

/// Identifier of a CDR, chosen by the writer (UUID-like).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CdrId(pub String);

/// Why a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HangupCause {
    /// A party hung up an answered call.
    NormalClearing,
    /// Nobody answered before the ring timeout (or the callee answered 408/480).
    NoAnswer,
    /// The callee was busy (486/600).
    Busy,
    /// The caller gave up before the call was answered (CANCEL).
    Cancelled,
    /// The callee rejected the call with another final error response.
    Rejected,
    /// Media stopped flowing for longer than the RTP timeout.
    RtpTimeout,
    /// The switch was shutting down.
    Shutdown,
    /// The switch stopped without ending the call (a crash, `kill -9`, power loss): the
    /// record says what was known at its last write, closed when the switch started again.
    Interrupted,
    /// A concurrent-call limit refused the call before it started (`refused_by` names it).
    Refused,
}

impl HangupCause {
    pub(crate) const ALL: [HangupCause; 9] = [
        HangupCause::NormalClearing,
        HangupCause::NoAnswer,
        HangupCause::Busy,
        HangupCause::Cancelled,
        HangupCause::Rejected,
        HangupCause::RtpTimeout,
        HangupCause::Shutdown,
        HangupCause::Interrupted,
        HangupCause::Refused,
    ];

    /// The stored (and JSON) spelling, e.g. `"normal_clearing"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            HangupCause::NormalClearing => "normal_clearing",
            HangupCause::NoAnswer => "no_answer",
            HangupCause::Busy => "busy",
            HangupCause::Cancelled => "cancelled",
            HangupCause::Rejected => "rejected",
            HangupCause::RtpTimeout => "rtp_timeout",
            HangupCause::Shutdown => "shutdown",
            HangupCause::Interrupted => "interrupted",
            HangupCause::Refused => "refused",
        }
    }

    /// Reads the stored spelling back.
    #[must_use]
    pub fn parse(s: &str) -> Option<HangupCause> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// Which side ended the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HangupSide {
    /// The calling party (A leg).
    Caller,
    /// The called party (a B leg).
    Callee,
    /// The switch itself (timeouts, shutdown).
    Switch,
}

impl HangupSide {
    /// The stored (and JSON) spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            HangupSide::Caller => "caller",
            HangupSide::Callee => "callee",
            HangupSide::Switch => "switch",
        }
    }

    /// Reads the stored spelling back.
    #[must_use]
    pub fn parse(s: &str) -> Option<HangupSide> {
        [HangupSide::Caller, HangupSide::Callee, HangupSide::Switch]
            .into_iter()
            .find(|side| side.as_str() == s)
    }
}

/// One leg of a call as recorded in [`Cdr::legs`] (stored as a JSON array).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CdrLeg {
    /// SIP Call-ID of this leg.
    pub call_id: String,
    /// What the leg was for, e.g. `"caller"`, `"callee"`, `"agent"`, `"transfer_target"`.
    pub role: String,
    /// Remote signalling address (`ip:port`) or URI.
    pub remote: String,
    /// Negotiated codec, if media was set up (`"PCMU"`, `"PCMA"`).
    #[serde(default)]
    pub codec: Option<String>,
    /// Final SIP status on this leg, if one was sent or received.
    #[serde(default)]
    pub final_code: Option<u16>,
}

/// A call detail record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cdr {
    /// Writer-chosen unique id.
    pub id: CdrId,
    /// SIP Call-ID of the A leg.
    pub call_id: String,
    /// Calling number or user.
    pub caller: String,
    /// Called number or user.
    pub callee: String,
    /// When the INVITE arrived.
    pub start_ms: UnixMillis,
    /// When the call was answered, if it was.
    pub answer_ms: Option<UnixMillis>,
    /// When the call ended.
    pub end_ms: UnixMillis,
    /// Answered (talk) duration; zero if never answered.
    #[serde(rename = "duration_ms", with = "duration_ms")]
    pub duration: Duration,
    /// Why the call ended.
    pub hangup_cause: HangupCause,
    /// Who ended it.
    pub hangup_side: HangupSide,
    /// Final status on the A leg (200 for an answered call).
    pub sip_code: u16,
    /// Every leg of the call, A leg first.
    pub legs: Vec<CdrLeg>,
    /// When the record was written.
    pub created_ms: UnixMillis,
    /// The interaction of a queue call (the record is scoped like it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interaction: Option<String>,
    /// The limit that refused the call (`trunk_channels`, `queue_calls`, `org_calls`), when
    /// one did: the record of a call that never started, `hangup_cause` `refused`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused_by: Option<String>,
}

/// Serde for a [`Duration`] as whole milliseconds.
mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

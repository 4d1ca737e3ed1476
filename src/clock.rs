//! The one place that reads clocks. Sans-IO cores get `now` from here, through the runtime.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Monotonic time for timers.
#[allow(clippy::disallowed_methods)]
pub fn now() -> Instant {
    Instant::now()
}

/// Wall-clock time since the Unix epoch, for records and persisted expiries.
#[allow(clippy::disallowed_methods)]
pub fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// Wall-clock milliseconds since the Unix epoch.
pub fn unix_ms() -> i64 {
    i64::try_from(unix_now().as_millis()).unwrap_or(i64::MAX)
}

/// A point in time as milliseconds since the Unix epoch, the way the database stores it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct UnixMillis(pub i64);

impl UnixMillis {
    /// `self + d`, saturating.
    #[must_use]
    pub fn saturating_add(self, d: Duration) -> UnixMillis {
        UnixMillis(
            self.0
                .saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        )
    }
}

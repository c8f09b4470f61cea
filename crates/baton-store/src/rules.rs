//! The rules every backend applies alike, as plain functions: lifetimes and expiry
//! arithmetic, when a read refreshes a task's idle deadline, how a refused change explains
//! itself, and time precision. A backend writes only storage code around them.

use chrono::{DateTime, Duration, SubsecRound, Utc};

use crate::{FindingLimits, Quota, ResearchStatus, StoreError};

/// The longest lifetime baton accepts (idle or absolute): 100 years. Longer ones are
/// configuration mistakes, and would overflow time arithmetic in some databases.
pub const MAX_LIFETIME: Duration = Duration::days(36_525);

/// How long research tasks live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lifetimes {
    /// A task expires this long after its last use.
    pub idle: Duration,
    /// A task expires this long after its creation, however much it is used.
    pub absolute: Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Lifetimes {
            idle: Duration::hours(24),
            absolute: Duration::days(7),
        }
    }
}

/// Why a pair of lifetimes was refused by [`Lifetimes::new`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LifetimesError {
    /// The idle lifetime is zero or negative.
    #[error("the idle lifetime must be positive")]
    IdleNotPositive,
    /// The absolute lifetime is shorter than the idle one.
    #[error("the absolute lifetime must be at least the idle lifetime")]
    AbsoluteShorterThanIdle,
    /// A lifetime is longer than [`MAX_LIFETIME`].
    #[error("lifetimes may be at most 100 years")]
    TooLong,
}

impl Lifetimes {
    /// Checks and builds lifetimes: `0 < idle <= absolute <= MAX_LIFETIME`.
    pub fn new(idle: Duration, absolute: Duration) -> Result<Lifetimes, LifetimesError> {
        if idle <= Duration::zero() {
            return Err(LifetimesError::IdleNotPositive);
        }
        if absolute < idle {
            return Err(LifetimesError::AbsoluteShorterThanIdle);
        }
        if absolute > MAX_LIFETIME {
            return Err(LifetimesError::TooLong);
        }
        Ok(Lifetimes { idle, absolute })
    }

    /// How far a task's stored idle deadline may lag the one a write would give before a
    /// read refreshes it: a minute, or half the idle lifetime when that is shorter (so that
    /// short lifetimes still refresh on reads). Hot tasks thus cost at most one write per
    /// slack period for their reads, not one per read.
    pub fn refresh_slack(&self) -> Duration {
        REFRESH_SLACK.min(self.idle / 2)
    }
}

/// The most a read lets a task's idle deadline lag behind (see [`Lifetimes::refresh_slack`]).
pub const REFRESH_SLACK: Duration = Duration::seconds(60);

/// `t` truncated to whole milliseconds: stores keep times to the millisecond, so that a
/// task read back equals the task that was written, on every backend.
pub fn truncate_to_millis(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(3)
}

/// `t + d`, or the latest representable time when that overflows.
fn saturating_add(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    t.checked_add_signed(d).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// When a task created at `created` stops being visible whatever happens.
pub fn hard_expiry(created: DateTime<Utc>, lifetimes: &Lifetimes) -> DateTime<Utc> {
    saturating_add(created, lifetimes.absolute)
}

/// The expiry a task gets when it is used at `now`: the idle deadline, capped by the
/// absolute one (`hard_expires_at`).
pub fn expiry_after_write(
    now: DateTime<Utc>,
    hard_expires_at: DateTime<Utc>,
    lifetimes: &Lifetimes,
) -> DateTime<Utc> {
    saturating_add(now, lifetimes.idle).min(hard_expires_at)
}

/// The idle deadline a read at `now` should store for a task whose deadline is
/// `expires_at`, or `None` when the stored one lags by no more than the refresh slack.
/// A refresh only ever moves the deadline forward, and never past `hard_expires_at`.
pub fn refreshed_expiry(
    expires_at: DateTime<Utc>,
    hard_expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
    lifetimes: &Lifetimes,
) -> Option<DateTime<Utc>> {
    let target = truncate_to_millis(expiry_after_write(now, hard_expires_at, lifetimes));
    (target - expires_at > lifetimes.refresh_slack()).then_some(target)
}

/// What a backend read of a live task, owned by the caller, found after a conditional
/// change (append, complete, cancel) matched nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Observed {
    /// The task's status.
    pub status: ResearchStatus,
    /// How many findings it holds.
    pub findings_count: u32,
    /// How many bytes of findings the owner's tasks hold together.
    pub owner_bytes: u64,
}

/// Explains why a conditional change of a task matched nothing, from what a follow-up read
/// in the caller's scope found (`None`: no live task of the caller's with that id).
///
/// The precedence is the contract's: not visible → [`crate::StoreErrorKind::NotFound`];
/// final status → `WrongStatus(current)`; then adding `adding` findings would pass the
/// per-task limit → `TooManyFindings`; then their `adding_bytes` would pass the owner's
/// byte quota → `QuotaExceeded(StoredBytes)`. `Ok(())` means none of these holds: the change
/// should have applied, so the task changed in between (a race) and the caller may try
/// again.
pub fn explain_refusal(
    observed: Option<Observed>,
    adding: usize,
    adding_bytes: u64,
    limits: FindingLimits,
) -> Result<(), StoreError> {
    let Some(observed) = observed else {
        return Err(StoreError::not_found());
    };
    if observed.status.is_final() {
        return Err(StoreError::wrong_status(observed.status));
    }
    let total = u64::from(observed.findings_count).saturating_add(adding as u64);
    if adding > 0 && total > u64::from(limits.per_task) {
        return Err(StoreError::too_many_findings(limits.per_task));
    }
    if adding_bytes > 0 && observed.owner_bytes.saturating_add(adding_bytes) > limits.owner_bytes {
        return Err(StoreError::quota_exceeded(Quota::StoredBytes {
            limit: limits.owner_bytes,
        }));
    }
    Ok(())
}

/// Whether a batch of `adding` findings (`adding_bytes` bytes) can never fit under
/// `limits`, whatever the task and the owner hold: a backend may skip the change and go
/// straight to [`explain_refusal`].
pub fn can_never_fit(adding: usize, adding_bytes: u64, limits: FindingLimits) -> bool {
    adding as u64 > u64::from(limits.per_task) || adding_bytes > limits.owner_bytes
}

/// A limit as a database integer: limits past `i64::MAX` (no limit) are `i64::MAX`.
pub fn as_db_limit(limit: u64) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// Applies a client's answers (`tasks/update`) to a tool task's outstanding input requests:
/// a key that is outstanding moves from `input_requests` to `input_responses`; any other
/// key (unknown, answered before) is ignored. When none is left outstanding, an
/// `input_required` task is `working` again. Returns whether anything changed.
pub fn take_answers(
    task: &mut crate::ToolTask,
    responses: &serde_json::Map<String, serde_json::Value>,
) -> bool {
    let mut changed = false;
    for (key, answer) in responses {
        if task.input_requests.remove(key).is_some() {
            task.input_responses.insert(key.clone(), answer.clone());
            changed = true;
        }
    }
    if changed
        && task.input_requests.is_empty()
        && task.status == crate::ToolTaskStatus::InputRequired
    {
        task.status = crate::ToolTaskStatus::Working;
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreErrorKind;
    use chrono::TimeZone;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_900_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn lifetimes_are_checked() {
        let h = Duration::hours(1);
        assert!(Lifetimes::new(h, h).is_ok());
        assert_eq!(
            Lifetimes::new(Duration::zero(), h),
            Err(LifetimesError::IdleNotPositive)
        );
        assert_eq!(
            Lifetimes::new(h * 2, h),
            Err(LifetimesError::AbsoluteShorterThanIdle)
        );
        assert_eq!(
            Lifetimes::new(h, MAX_LIFETIME + Duration::days(1)),
            Err(LifetimesError::TooLong)
        );
    }

    #[test]
    fn huge_lifetimes_saturate_instead_of_overflowing() {
        let lt = Lifetimes {
            idle: Duration::MAX,
            absolute: Duration::MAX,
        };
        assert_eq!(hard_expiry(t(0), &lt), DateTime::<Utc>::MAX_UTC);
        assert_eq!(
            expiry_after_write(t(0), DateTime::<Utc>::MAX_UTC, &lt),
            DateTime::<Utc>::MAX_UTC
        );
    }

    #[test]
    fn refresh_slack_is_a_minute_or_half_the_idle_lifetime() {
        let day = Lifetimes::default();
        assert_eq!(day.refresh_slack(), Duration::seconds(60));
        let short = Lifetimes::new(Duration::seconds(30), Duration::hours(1)).unwrap();
        assert_eq!(short.refresh_slack(), Duration::seconds(15));
        // A read 20 s after a write with a 30 s idle lifetime refreshes; 10 s after does not.
        let written = t(0);
        let expires = written + Duration::seconds(30);
        let hard = written + Duration::hours(1);
        assert_eq!(
            refreshed_expiry(expires, hard, written + Duration::seconds(20), &short),
            Some(written + Duration::seconds(50))
        );
        assert_eq!(
            refreshed_expiry(expires, hard, written + Duration::seconds(10), &short),
            None
        );
        // Never past the absolute deadline.
        assert_eq!(
            refreshed_expiry(expires, written + Duration::seconds(40), t(25), &short),
            None
        );
    }

    #[test]
    fn refusals_follow_the_contract_precedence() {
        let running = |n| Observed {
            status: ResearchStatus::Running,
            findings_count: n,
            owner_bytes: 100,
        };
        let kind = |r: Result<(), StoreError>| r.map_err(|e| e.kind().clone());
        let per_task = FindingLimits::per_task;
        assert_eq!(
            kind(explain_refusal(None, 5, 5, per_task(0))),
            Err(StoreErrorKind::NotFound)
        );
        let done = Observed {
            status: ResearchStatus::Complete,
            findings_count: 9,
            owner_bytes: 0,
        };
        assert_eq!(
            kind(explain_refusal(Some(done), 5, 5, per_task(0))),
            Err(StoreErrorKind::WrongStatus(ResearchStatus::Complete))
        );
        assert_eq!(
            kind(explain_refusal(Some(running(3)), 3, 3, per_task(5))),
            Err(StoreErrorKind::TooManyFindings { limit: 5 })
        );
        let bytes_quota = FindingLimits {
            per_task: 5,
            owner_bytes: 120,
        };
        assert_eq!(
            kind(explain_refusal(Some(running(3)), 2, 21, bytes_quota)),
            Err(StoreErrorKind::QuotaExceeded(Quota::StoredBytes {
                limit: 120
            }))
        );
        // Nothing wrong: a race.
        assert_eq!(
            kind(explain_refusal(Some(running(3)), 2, 20, bytes_quota)),
            Ok(())
        );
        assert_eq!(
            kind(explain_refusal(Some(running(5)), 0, 0, per_task(5))),
            Ok(())
        );
    }
}

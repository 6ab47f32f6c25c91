//! Per-key rate limits and quotas, enforced in memory on the verification
//! path.
//!
//! Rate limits count in fixed windows aligned to the Unix epoch, so every
//! node agrees on when a window starts and `reset_at` is exact. Quotas count
//! per UTC day, per UTC month, or for the key's whole life; what a node
//! consumes is written behind with the usage counters and added to the
//! stored count, so a restart loses nothing. Only `VALID` answers consume.

use crate::id::KeyId;
use crate::model::KeyRecord;
use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// Longest rate limit window: one day.
pub const MAX_WINDOW_SECONDS: u32 = 86_400;
/// Most verifications a rate limit window may allow: the largest `int32`.
pub const MAX_RATELIMIT: u32 = i32::MAX as u32;
/// Most verifications a quota may allow: the largest integer every JSON
/// client reads exactly (2^53 - 1), well inside the stored `i64`.
pub const MAX_QUOTA: u64 = (1 << 53) - 1;

/// At most `limit` valid verifications per `window_seconds`.
#[derive(
    Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Verifications allowed per window, 1 to 2147483647.
    #[schema(minimum = 1, maximum = 2147483647)]
    #[serde(deserialize_with = "crate::fields::whole")]
    pub limit: u32,
    /// Window length in seconds, 1 to 86400.
    #[schema(minimum = 1, maximum = 86400)]
    #[serde(deserialize_with = "crate::fields::whole")]
    pub window_seconds: u32,
}

/// When a quota refills.
#[derive(
    Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum QuotaPeriod {
    /// At 00:00 UTC.
    Day,
    /// On the first of the month, 00:00 UTC.
    Month,
    /// Never: a lifetime allowance.
    None,
}

/// At most `limit` valid verifications per `period`.
#[derive(
    Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    /// Verifications allowed per period, 1 to 9007199254740991 (2^53 - 1).
    #[schema(minimum = 1, maximum = 9_007_199_254_740_991_f64)]
    #[serde(deserialize_with = "crate::fields::whole")]
    pub limit: u64,
    /// `day`, `month` or `none`.
    pub period: QuotaPeriod,
}

impl RateLimit {
    /// Checks the bounds.
    pub fn validate(self) -> Result<Self, String> {
        if self.limit == 0 || self.limit > MAX_RATELIMIT {
            Err(format!("limit must be 1 to {MAX_RATELIMIT}"))
        } else if self.window_seconds == 0 || self.window_seconds > MAX_WINDOW_SECONDS {
            Err(format!("window_seconds must be 1 to {MAX_WINDOW_SECONDS}"))
        } else {
            Ok(self)
        }
    }
}

impl Quota {
    /// Checks the bounds.
    pub fn validate(self) -> Result<Self, String> {
        if self.limit == 0 || self.limit > MAX_QUOTA {
            Err(format!("limit must be 1 to {MAX_QUOTA}"))
        } else {
            Ok(self)
        }
    }
}

impl QuotaPeriod {
    /// Start of the period containing `now`; `None` for lifetime quotas.
    pub fn start(self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let midnight =
            |date: chrono::NaiveDate| Utc.from_utc_datetime(&date.and_time(NaiveTime::MIN));
        match self {
            Self::Day => Some(midnight(now.date_naive())),
            Self::Month => now.date_naive().with_day(1).map(midnight),
            Self::None => None,
        }
    }

    /// When the period starting at `start` ends.
    pub fn refills_at(self, start: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        let start = start?;
        match self {
            Self::Day => Some(start + Duration::days(1)),
            Self::Month => start.checked_add_months(chrono::Months::new(1)),
            Self::None => None,
        }
    }
}

/// The state of a key's rate limit, as verification reports it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct RateStatus {
    /// Verifications allowed per window.
    pub limit: u32,
    /// Left in the current window.
    pub remaining: u32,
    /// When the current window ends.
    pub reset_at: DateTime<Utc>,
}

/// The state of a key's quota, as verification reports it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct QuotaStatus {
    /// Verifications allowed per period.
    pub limit: u64,
    /// Left in the current period.
    pub remaining: u64,
    /// When the quota refills; `null` for lifetime quotas.
    pub refills_at: Option<DateTime<Utc>>,
}

/// What the limits say about one valid verification.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Admission {
    /// Allowed, and consumed.
    Allowed {
        /// The rate limit after this verification.
        ratelimit: Option<RateStatus>,
        /// The quota after this verification.
        quota: Option<QuotaStatus>,
    },
    /// The window is spent; nothing consumed.
    RateLimited(RateStatus),
    /// The quota is spent; nothing consumed.
    QuotaExceeded(QuotaStatus),
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: i64,
    count: u32,
}

#[derive(Debug, Clone, Copy)]
struct QuotaState {
    period_start: Option<DateTime<Utc>>,
    used: u64,
    unwritten: u64,
}

/// Quota consumption not yet written to storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaUse {
    /// The key.
    pub key_id: KeyId,
    /// The period it was consumed in (`None` for lifetime quotas).
    pub period_start: Option<DateTime<Utc>>,
    /// How many.
    pub count: u64,
}

/// In-memory counters of every key with a rate limit or quota.
#[derive(Debug, Default)]
pub struct Limiter {
    windows: Mutex<HashMap<KeyId, Window>>,
    quotas: Mutex<HashMap<KeyId, QuotaState>>,
}

impl Limiter {
    /// Checks both limits of a key that passed every other check, and
    /// consumes one of each only when both allow it.
    pub fn admit(&self, record: &KeyRecord, now: DateTime<Utc>) -> Admission {
        let mut windows = lock(&self.windows);
        let mut quotas = lock(&self.quotas);
        let window = record.ratelimit.map(|rl| {
            let size = i64::from(rl.window_seconds);
            let start = now.timestamp().div_euclid(size) * size;
            let state = windows
                .entry(record.id.clone())
                .or_insert(Window { start, count: 0 });
            if state.start != start {
                *state = Window { start, count: 0 };
            }
            let reset_at = DateTime::from_timestamp(start + size, 0).unwrap_or(now);
            (rl, state, reset_at)
        });
        if let Some((rl, state, reset_at)) = &window
            && state.count >= rl.limit
        {
            return Admission::RateLimited(RateStatus {
                limit: rl.limit,
                remaining: 0,
                reset_at: *reset_at,
            });
        }
        let quota = record.quota.map(|q| {
            let period_start = q.period.start(now);
            let state = quotas
                .entry(record.id.clone())
                .or_insert_with(|| QuotaState {
                    period_start: record.quota_period_start,
                    used: record.quota_used,
                    unwritten: 0,
                });
            if state.period_start == period_start && record.quota_period_start == period_start {
                // Other nodes' consumption arrives with each fresh copy of
                // the record: what is stored, plus what this node has not
                // written yet.
                state.used = state.used.max(record.quota_used + state.unwritten);
            }
            if state.period_start != period_start {
                // A new period (or the stored count belongs to an old one).
                // What the old period consumed and was not written yet is
                // dropped on purpose: an ended period no longer limits anything.
                *state = QuotaState {
                    period_start,
                    used: 0,
                    unwritten: 0,
                };
            }
            (q, state)
        });
        if let Some((q, state)) = &quota
            && state.used >= q.limit
        {
            return Admission::QuotaExceeded(QuotaStatus {
                limit: q.limit,
                remaining: 0,
                refills_at: q.period.refills_at(state.period_start),
            });
        }
        let ratelimit = window.map(|(rl, state, reset_at)| {
            state.count += 1;
            RateStatus {
                limit: rl.limit,
                remaining: rl.limit - state.count,
                reset_at,
            }
        });
        let quota = quota.map(|(q, state)| {
            state.used += 1;
            state.unwritten += 1;
            QuotaStatus {
                limit: q.limit,
                remaining: q.limit.saturating_sub(state.used),
                refills_at: q.period.refills_at(state.period_start),
            }
        });
        Admission::Allowed { ratelimit, quota }
    }

    /// Takes the consumption to write, and forgets windows that have ended.
    pub fn take(&self, now: DateTime<Utc>) -> Vec<QuotaUse> {
        lock(&self.windows)
            .retain(|_, w| now.timestamp() - w.start < i64::from(MAX_WINDOW_SECONDS));
        lock(&self.quotas)
            .iter_mut()
            .filter(|(_, s)| s.unwritten > 0)
            .map(|(key_id, s)| QuotaUse {
                key_id: key_id.clone(),
                period_start: s.period_start,
                count: std::mem::take(&mut s.unwritten),
            })
            .collect()
    }

    /// Puts back consumption that could not be written.
    pub fn restore(&self, uses: Vec<QuotaUse>) {
        let mut quotas = lock(&self.quotas);
        for u in uses {
            if let Some(state) = quotas.get_mut(&u.key_id)
                && state.period_start == u.period_start
            {
                state.unwritten += u.count;
            }
        }
    }

    /// Forgets a key's counters (it was archived or purged).
    pub fn forget(&self, key: &KeyId) {
        lock(&self.windows).remove(key);
        lock(&self.quotas).remove(key);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

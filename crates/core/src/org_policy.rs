//! An organization's key policy: how long keys may live, when their owners
//! hear that a key expires or went unused, what happens to unused keys, and
//! what Keyward does with a key reported as leaked.

use crate::error::{DomainError, Validation};
use crate::fields::{not_null, nullable_whole, optional_wholes};
use crate::model::KeyRecord;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Longest `max_key_lifetime_days` and `stale_after_days`: 100 years.
const MAX_DAYS: u32 = 36_500;
/// Most expiry notices per key.
const MAX_NOTICES: usize = 10;
/// Earliest expiry notice: a year ahead.
const MAX_NOTICE_DAYS: u32 = 365;

/// What to do with a key reported as leaked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeakAction {
    /// Revoke it at once (the default).
    #[default]
    Revoke,
    /// Disable it, so that an administrator can decide.
    Disable,
    /// Only record and report it.
    Notify,
}

/// The policy object of `GET /v1/policy`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KeyPolicy {
    /// Longest lifetime a key may be given, in days, from the moment it is
    /// created or its expiry is changed; `null` for no limit. With a limit,
    /// a key created without `expires_at` expires at the limit.
    pub max_key_lifetime_days: Option<u32>,
    /// Days before `expires_at` at which `key.expiring` fires, largest first.
    pub expiry_notice_days: Vec<u32>,
    /// A key unused for this many days is stale (`key.stale`); `null` for never.
    pub stale_after_days: Option<u32>,
    /// Disable stale keys (audited with actor `system`).
    pub disable_stale_keys: bool,
    /// What a leak report does to a key.
    pub leak_action: LeakAction,
}

impl Default for KeyPolicy {
    fn default() -> Self {
        Self {
            max_key_lifetime_days: None,
            expiry_notice_days: vec![7, 1],
            stale_after_days: None,
            disable_stale_keys: false,
            leak_action: LeakAction::Revoke,
        }
    }
}

/// Body of `PATCH /v1/policy`; absent fields stay as they are.
#[derive(Debug, Default, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePolicy {
    /// Days, 1–36500, or `null` for no limit.
    #[serde(default, deserialize_with = "nullable_whole")]
    #[schema(value_type = Option<u32>, nullable = true)]
    pub max_key_lifetime_days: Option<Option<u64>>,
    /// Up to 10 days, each 1–365; `[]` for no notices.
    #[serde(default, deserialize_with = "optional_wholes")]
    #[schema(value_type = Option<Vec<u32>>, nullable = false)]
    pub expiry_notice_days: Option<Vec<u64>>,
    /// Days, 1–36500, or `null` for never.
    #[serde(default, deserialize_with = "nullable_whole")]
    #[schema(value_type = Option<u32>, nullable = true)]
    pub stale_after_days: Option<Option<u64>>,
    /// Needs `stale_after_days`.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub disable_stale_keys: Option<bool>,
    /// `revoke`, `disable` or `notify`.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub leak_action: Option<LeakAction>,
}

fn check_days(days: Option<u64>) -> Result<Option<u32>, String> {
    match days {
        None => Ok(None),
        Some(d) => u32::try_from(d)
            .ok()
            .filter(|d| (1..=MAX_DAYS).contains(d))
            .map(Some)
            .ok_or_else(|| format!("must be 1 to {MAX_DAYS} days, or null")),
    }
}

impl KeyPolicy {
    /// The policy with `update` applied, or why not.
    pub fn updated(&self, update: UpdatePolicy) -> Result<Self, DomainError> {
        let mut v = Validation::default();
        let mut next = self.clone();
        if let Some(days) = update.max_key_lifetime_days {
            next.max_key_lifetime_days =
                v.check("max_key_lifetime_days", check_days(days)).flatten();
        }
        if let Some(days) = update.stale_after_days {
            next.stale_after_days = v.check("stale_after_days", check_days(days)).flatten();
        }
        if let Some(given) = update.expiry_notice_days {
            let mut notices: Vec<u32> = given
                .iter()
                .filter_map(|d| u32::try_from(*d).ok())
                .filter(|d| (1..=MAX_NOTICE_DAYS).contains(d))
                .collect();
            if given.len() > MAX_NOTICES {
                v.push(
                    "expiry_notice_days",
                    format!("at most {MAX_NOTICES} notices"),
                );
            } else if notices.len() != given.len() {
                v.push(
                    "expiry_notice_days",
                    format!("each must be 1 to {MAX_NOTICE_DAYS} days"),
                );
            } else {
                notices.sort_unstable_by(|a, b| b.cmp(a));
                notices.dedup();
                next.expiry_notice_days = notices;
            }
        }
        if let Some(disable) = update.disable_stale_keys {
            next.disable_stale_keys = disable;
        }
        if let Some(action) = update.leak_action {
            next.leak_action = action;
        }
        if next.disable_stale_keys && next.stale_after_days.is_none() {
            v.push("disable_stale_keys", "needs stale_after_days".to_owned());
        }
        v.finish()?;
        Ok(next)
    }

    /// The latest expiry a key may get now; `None` when there is no limit.
    pub fn latest_expiry(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.max_key_lifetime_days
            .map(|days| now + Duration::days(i64::from(days)))
    }

    /// Checks the expiry a request gives a key at `now` against the
    /// lifetime limit: a missing expiry becomes the limit, a later one is
    /// refused.
    pub fn limit_expiry(
        &self,
        field: &str,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, DomainError> {
        let Some(latest) = self.latest_expiry(now) else {
            return Ok(expires_at);
        };
        match expires_at {
            None => Ok(Some(latest)),
            Some(at) if at <= latest => Ok(Some(at)),
            Some(_) => Err(DomainError::field(
                field,
                format!(
                    "the organization's policy allows keys to live at most {} days",
                    self.max_key_lifetime_days.unwrap_or_default()
                ),
            )),
        }
    }

    /// Checks a changed expiry against the lifetime limit: with a limit, a
    /// key may not be made to live longer than it allows from `now`, nor
    /// forever.
    pub fn check_new_expiry(
        &self,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        match (self.latest_expiry(now), expires_at) {
            (Some(_), None) => Err(DomainError::field(
                "expires_at",
                format!(
                    "the organization's policy requires keys to expire within {} days",
                    self.max_key_lifetime_days.unwrap_or_default()
                ),
            )),
            (Some(_), Some(_)) => self.limit_expiry("expires_at", expires_at, now).map(drop),
            (None, _) => Ok(()),
        }
    }

    /// When `key` became stale under this policy, if it is: unused (since
    /// `last_used_at`, or `created_at` for a key never used) for
    /// `stale_after_days`.
    pub fn stale_since(&self, key: &KeyRecord, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let days = self.stale_after_days?;
        let since = key.last_used_at.unwrap_or(key.created_at) + Duration::days(i64::from(days));
        (since <= now).then_some(since)
    }

    /// What the audit log records of a policy.
    pub fn audit_view(&self) -> Map<String, Value> {
        crate::events::object(serde_json::to_value(self).unwrap_or(Value::Null))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_are_checked_as_a_whole() {
        let policy = KeyPolicy::default();
        let update: UpdatePolicy =
            serde_json::from_str(r#"{"stale_after_days": 90, "disable_stale_keys": true}"#)
                .unwrap();
        let next = policy.updated(update).unwrap();
        assert_eq!(next.stale_after_days, Some(90));
        let clear: UpdatePolicy = serde_json::from_str(r#"{"stale_after_days": null}"#).unwrap();
        assert!(
            next.updated(clear).is_err(),
            "disabling stale keys needs a threshold"
        );
        let zero: UpdatePolicy = serde_json::from_str(r#"{"max_key_lifetime_days": 0}"#).unwrap();
        assert!(policy.updated(zero).is_err());
        let notices: UpdatePolicy =
            serde_json::from_str(r#"{"expiry_notice_days": [1, 30, 7, 7]}"#).unwrap();
        assert_eq!(
            policy.updated(notices).unwrap().expiry_notice_days,
            vec![30, 7, 1]
        );
        assert!(serde_json::from_str::<UpdatePolicy>(r#"{"expiry_notice_days": null}"#).is_err());
        assert!(serde_json::from_str::<UpdatePolicy>(r#"{"leak_action": "ignore"}"#).is_err());
        let whole: UpdatePolicy =
            serde_json::from_str(r#"{"expiry_notice_days": [14.0], "stale_after_days": 30.0}"#)
                .unwrap();
        let next = policy.updated(whole).unwrap();
        assert_eq!(
            (next.expiry_notice_days, next.stale_after_days),
            (vec![14], Some(30))
        );
    }

    #[test]
    fn the_lifetime_limit_caps_and_fills_in_expiry() {
        let now = Utc::now();
        let policy = KeyPolicy {
            max_key_lifetime_days: Some(30),
            ..KeyPolicy::default()
        };
        assert_eq!(
            policy.limit_expiry("expires_at", None, now).unwrap(),
            Some(now + Duration::days(30))
        );
        let soon = now + Duration::days(3);
        assert_eq!(
            policy.limit_expiry("expires_at", Some(soon), now).unwrap(),
            Some(soon)
        );
        assert!(
            policy
                .limit_expiry("expires_at", Some(now + Duration::days(31)), now)
                .is_err()
        );
        assert_eq!(
            KeyPolicy::default()
                .limit_expiry("expires_at", None, now)
                .unwrap(),
            None
        );
    }
}

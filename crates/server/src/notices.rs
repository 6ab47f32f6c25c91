//! Scheduled notices about keys: `key.expiring` (at the policy's notice
//! periods before `expires_at`), `key.expired`, `key.stale` (unused for the
//! policy's number of days, with the key disabled when the policy says so)
//! and `key.quota_exhausted` (the first refusal for quota in a period).
//!
//! Every node sweeps on its own schedule; storage records each notice once
//! (see `PolicyStore::record_notice`), so a notice fires once per key and
//! threshold whichever node finds it first, and a restart repeats nothing.
//! The sweep reads the clock it is given, so tests move time instead of
//! waiting for it.

use crate::state::AppState;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use keyward_core::audit::AuditContext;
use keyward_core::events::{self, object};
use keyward_core::id::{KeyId, OrgId};
use keyward_core::keys;
use keyward_core::model::KeyRecord;
use keyward_core::org_policy::KeyPolicy;
use serde_json::json;
use tokio::sync::{mpsc, watch};

/// Keys read per page of a sweep.
const PAGE: u32 = 500;
/// A key found expired later than this after `expires_at` (Keyward was
/// stopped, or the key expired before this version) gets no `key.expired`.
const EXPIRED_LOOKBACK: Duration = Duration::days(7);
/// The system actor of these events.
const ACTOR: &str = "keyward notices";

/// Sweeps every `notice_interval` until `shutdown` turns true.
pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(state.settings.webhooks.notice_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                if let Err(error) = sweep(&state).await {
                    tracing::warn!(%error, "looking for expiring and stale keys failed");
                }
            }
            _ = shutdown.changed() => return,
        }
    }
}

/// Records `key.quota_exhausted` for the keys the usage writer reports
/// refused for quota, until the sender is dropped or `shutdown` turns true
/// (after which what is already reported is still recorded).
pub async fn record_quota_refusals(
    state: AppState,
    mut refusals: mpsc::Receiver<(OrgId, KeyId)>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let next = tokio::select! {
            next = refusals.recv() => next,
            _ = shutdown.changed() => break,
        };
        let Some((org, key)) = next else { return };
        if let Err(error) = quota_exhausted(&state, &org, &key).await {
            tracing::warn!(%error, key = %key, "recording key.quota_exhausted failed");
        }
    }
    while let Ok((org, key)) = refusals.try_recv() {
        if let Err(error) = quota_exhausted(&state, &org, &key).await {
            tracing::warn!(%error, key = %key, "recording key.quota_exhausted failed");
        }
    }
}

/// Looks at every organization's keys once; returns how many notices it
/// recorded. An organization whose keys cannot be read is left for the
/// next sweep; the others go on.
pub async fn sweep(state: &AppState) -> anyhow::Result<usize> {
    let mut recorded = 0;
    for org in state.store.list_organizations().await? {
        let swept = match state.store.get_policy(&org.id).await {
            Ok(policy) => sweep_org(state, &org.id, &policy).await,
            Err(error) => Err(error.into()),
        };
        match swept {
            Ok(n) => recorded += n,
            Err(error) => tracing::warn!(%error, org = %org.id, "looking for key notices failed"),
        }
    }
    Ok(recorded)
}

async fn sweep_org(state: &AppState, org: &OrgId, policy: &KeyPolicy) -> anyhow::Result<usize> {
    let now = state.clock.now();
    let furthest = policy.expiry_notice_days.first().copied().unwrap_or(0);
    let expiring = (now - EXPIRED_LOOKBACK)..(now + days(furthest) + Duration::milliseconds(1));
    let unused_since = policy
        .stale_after_days
        .map(|stale_days| now - days(stale_days));
    let mut recorded = 0;
    let mut after: Option<KeyId> = None;
    loop {
        let page = state
            .store
            .notice_candidates(org, expiring.clone(), unused_since, after.as_ref(), PAGE)
            .await?;
        for key in &page {
            // One key's failure (a change racing the sweep) is retried at
            // the next sweep; the others go on.
            match notices_of(state, policy, key, now).await {
                Ok(n) => recorded += n,
                Err(error) => {
                    tracing::warn!(%error, key = %key.id, "recording a key notice failed")
                }
            }
        }
        if page.len() < PAGE as usize {
            return Ok(recorded);
        }
        after = page.last().map(|k| k.id.clone());
    }
}

/// Records whatever notices `key` is due at `now`.
async fn notices_of(
    state: &AppState,
    policy: &KeyPolicy,
    key: &KeyRecord,
    now: DateTime<Utc>,
) -> anyhow::Result<usize> {
    let ctx = AuditContext::system(ACTOR, now);
    let mut recorded = 0;
    if let Some(expires_at) = key.expires_at {
        let at = expires_at.timestamp_micros();
        let due = if expires_at <= now {
            (now - expires_at <= EXPIRED_LOOKBACK).then(|| {
                let details = object(json!({"expires_at": stamp(expires_at)}));
                (
                    format!("expired:{at}"),
                    events::key_notice("key.expired", key, details),
                )
            })
        } else {
            // Only the nearest threshold already reached: a key found a
            // day before expiry gets the one-day notice, not a late
            // seven-day one as well.
            policy
                .expiry_notice_days
                .iter()
                .rev()
                .find(|d| expires_at <= now + days(**d))
                .map(|d| {
                    let details =
                        object(json!({"expires_at": stamp(expires_at), "days_before": d}));
                    (
                        format!("expiring:{d}:{at}"),
                        events::key_notice("key.expiring", key, details),
                    )
                })
        };
        if let Some((notice, event)) = due
            && state
                .store
                .record_notice(&key.org_id, &key.id, &notice, &ctx, event, None)
                .await?
        {
            recorded += 1;
        }
    }
    if key.enabled
        && !key.is_expired(now)
        && let Some(since) = policy.stale_since(key, now)
    {
        let last_activity = key.last_used_at.unwrap_or(key.created_at);
        let details = object(json!({
            "last_used_at": key.last_used_at.map(stamp),
            "stale_after_days": policy.stale_after_days,
            "stale_since": stamp(since),
        }));
        let event = events::key_notice("key.stale", key, details);
        let mut disabled = key.clone();
        // Root keys are reported, never disabled: a forgotten break-glass key
        // must not lock the organization's automation out.
        let disable = if policy.disable_stale_keys && !key.root {
            keys::set_enabled(&mut disabled, false, now)?;
            Some((
                &disabled,
                key.version,
                events::key_changed("key.disabled", key, &disabled),
            ))
        } else {
            None
        };
        let notice = format!("stale:{}", last_activity.timestamp_micros());
        if state
            .store
            .record_notice(&key.org_id, &key.id, &notice, &ctx, event, disable)
            .await?
        {
            recorded += 1;
        }
    }
    Ok(recorded)
}

/// Records `key.quota_exhausted` for a key refused for quota, once per
/// quota period.
pub async fn quota_exhausted(state: &AppState, org: &OrgId, key: &KeyId) -> anyhow::Result<()> {
    let now = state.clock.now();
    let Some(record) = state.store.get_key(org, key).await? else {
        return Ok(());
    };
    let (Some(quota), Some(status)) = (record.quota, record.quota_status(now)) else {
        return Ok(());
    };
    let period = status
        .refills_at
        .map_or_else(|| "none".to_owned(), |at| at.timestamp_micros().to_string());
    let details = object(json!({
        "limit": quota.limit,
        "period": quota.period,
        "refills_at": status.refills_at.map(stamp),
    }));
    let event = events::key_notice("key.quota_exhausted", &record, details);
    let ctx = AuditContext::system(ACTOR, now);
    state
        .store
        .record_notice(
            org,
            key,
            &format!("quota_exhausted:{period}"),
            &ctx,
            event,
            None,
        )
        .await?;
    Ok(())
}

fn days(n: u32) -> Duration {
    Duration::days(i64::from(n))
}

fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

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
//!
//! A sweep's work does not grow with the number of keys: expiring keys are
//! read through an index on `expires_at`, and the look for stale keys reads a
//! few pages of each organization's live keys per sweep, going on from where
//! the previous sweep stopped.

use crate::state::AppState;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use keyward_core::audit::AuditContext;
use keyward_core::events::{self, object};
use keyward_core::id::{KeyId, OrgId};
use keyward_core::keys;
use keyward_core::model::{KeyRecord, KeyStatus, Organization};
use keyward_core::org_policy::KeyPolicy;
use keyward_core::store::{CursorValue, KeyCursor, KeyQuery, KeySort};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use tokio::sync::{mpsc, watch};

/// Keys read per page of a sweep.
const PAGE: u32 = 500;
/// Pages of an organization's live keys one sweep reads looking for stale
/// keys: 10,000 keys a sweep, so that 1,000,000 keys are gone through in 100
/// sweeps (100 minutes at the default interval) instead of all at once.
const STALE_PAGES: u32 = 20;
/// A key found expired later than this after `expires_at` (Keyward was
/// stopped, or the key expired before this version) gets no `key.expired`.
const EXPIRED_LOOKBACK: Duration = Duration::days(7);
/// The system actor of these events.
const ACTOR: &str = "keyward notices";

/// Sweeps every `notice_interval` until `shutdown` turns true.
pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(state.settings.webhooks.notice_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sweeper = Sweeper::default();
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                if let Err(error) = sweeper.sweep(&state).await {
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

/// The notice schedule, with what it remembers between sweeps: where each
/// organization's look for stale keys stopped.
#[derive(Debug)]
pub struct Sweeper {
    page: u32,
    stale_pages: u32,
    stale_scans: HashMap<OrgId, KeyCursor>,
    /// Organizations this sweeper has looked at for stale keys.
    started: HashSet<OrgId>,
}

impl Default for Sweeper {
    fn default() -> Self {
        Self::new(PAGE, STALE_PAGES)
    }
}

impl Sweeper {
    /// Reads `page` keys a query and, looking for stale keys, at most
    /// `stale_pages` pages of each organization's live keys a sweep.
    pub fn new(page: u32, stale_pages: u32) -> Self {
        Self {
            page: page.max(1),
            stale_pages: stale_pages.max(1),
            stale_scans: HashMap::new(),
            started: HashSet::new(),
        }
    }

    /// Looks at every organization's expiring keys and at the next pages of
    /// its live keys; returns how many notices it recorded. An organization
    /// whose keys cannot be read is left for the next sweep; the others go
    /// on.
    pub async fn sweep(&mut self, state: &AppState) -> anyhow::Result<usize> {
        let orgs = state.store.list_organizations().await?;
        self.stale_scans
            .retain(|id, _| orgs.iter().any(|org| &org.id == id));
        self.started
            .retain(|id| orgs.iter().any(|org| &org.id == id));
        let mut recorded = 0;
        for org in orgs {
            let swept = match state.store.get_policy(&org.id).await {
                Ok(policy) => self.sweep_org(state, &org, &policy).await,
                Err(error) => Err(error.into()),
            };
            match swept {
                Ok(n) => recorded += n,
                Err(error) => {
                    tracing::warn!(%error, org = %org.id, "looking for key notices failed")
                }
            }
        }
        Ok(recorded)
    }

    async fn sweep_org(
        &mut self,
        state: &AppState,
        org: &Organization,
        policy: &KeyPolicy,
    ) -> anyhow::Result<usize> {
        let now = state.clock.now();
        let expiring = self.expiry_notices(state, &org.id, policy, now).await?;
        Ok(expiring + self.stale_notices(state, org, policy, now).await?)
    }

    async fn expiry_notices(
        &self,
        state: &AppState,
        org: &OrgId,
        policy: &KeyPolicy,
        now: DateTime<Utc>,
    ) -> anyhow::Result<usize> {
        let furthest = policy.expiry_notice_days.first().copied().unwrap_or(0);
        let expiring = (now - EXPIRED_LOOKBACK)..(now + days(furthest) + Duration::milliseconds(1));
        let mut recorded = 0;
        let mut after: Option<KeyId> = None;
        loop {
            let page = state
                .store
                .expiring_keys(org, expiring.clone(), after.as_ref(), self.page)
                .await?;
            for key in &page {
                recorded += each_key(expiry_notice(state, policy, key, now).await, key);
            }
            if page.len() < self.page as usize {
                return Ok(recorded);
            }
            after = page.last().map(|k| k.id.clone());
        }
    }

    /// Reads up to `stale_pages` pages of the organization's live keys, in
    /// creation order from where the previous sweep stopped, and starts over
    /// once it reaches keys too young to be stale. A sweep that began midway
    /// goes on from the oldest keys once (so small organizations are looked
    /// at whole in every sweep).
    ///
    /// A sweeper's first look at an organization begins at a random moment
    /// of its life: a node restarted more often than a whole look takes
    /// still reaches every key, and nodes look at different keys.
    async fn stale_notices(
        &mut self,
        state: &AppState,
        org: &Organization,
        policy: &KeyPolicy,
        now: DateTime<Utc>,
    ) -> anyhow::Result<usize> {
        let Some(stale_days) = policy.stale_after_days else {
            self.stale_scans.remove(&org.id);
            return Ok(0);
        };
        let young_after = now - days(stale_days);
        if self.started.insert(org.id.clone())
            && let Some(at) = random_between(org.created_at, young_after)
        {
            let cursor = KeyCursor {
                value: CursorValue::Int(at.timestamp_micros()),
                id: String::new(),
            };
            self.stale_scans.insert(org.id.clone(), cursor);
        }
        let mut wrapped = !self.stale_scans.contains_key(&org.id);
        let mut recorded = 0;
        for _ in 0..self.stale_pages {
            let query = KeyQuery {
                status: Some(KeyStatus::Active),
                key_type: None,
                project_id: None,
                include_root: true,
                created_by: None,
                q: None,
                last_used_before: None,
                expires_before: None,
                sort: KeySort::CreatedAsc,
                after: self.stale_scans.get(&org.id).cloned(),
                limit: self.page,
                now,
            };
            let mut page = state.store.list_keys(&org.id, &query).await?;
            let more = page.len() > self.page as usize;
            page.truncate(self.page as usize);
            for key in &page {
                recorded += each_key(stale_notice(state, policy, key, now).await, key);
            }
            match page.last() {
                Some(last) if more && last.created_at <= young_after => {
                    let cursor = KeyCursor {
                        value: CursorValue::Int(last.created_at.timestamp_micros()),
                        id: last.id.as_str().to_owned(),
                    };
                    self.stale_scans.insert(org.id.clone(), cursor);
                }
                _ => {
                    self.stale_scans.remove(&org.id);
                    if wrapped {
                        break;
                    }
                    wrapped = true;
                }
            }
        }
        Ok(recorded)
    }
}

/// A random moment in `from..until`, if that is not empty.
fn random_between(from: DateTime<Utc>, until: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let span = u64::try_from((until - from).num_microseconds()?).ok()?;
    let mut bytes = [0; 8];
    getrandom::fill(&mut bytes).ok()?;
    let offset = i64::try_from(u64::from_le_bytes(bytes) % span.max(1)).ok()?;
    (span > 0).then(|| from + Duration::microseconds(offset))
}

/// One key's failure (a change racing the sweep) is retried when the sweep
/// comes to the key again (the next sweep for expiry, the next look at the
/// organization's keys for staleness); the others go on.
fn each_key(recorded: anyhow::Result<usize>, key: &KeyRecord) -> usize {
    recorded.unwrap_or_else(|error| {
        tracing::warn!(%error, key = %key.id, "recording a key notice failed");
        0
    })
}

/// Records the expiry notice `key` is due at `now`, if any.
async fn expiry_notice(
    state: &AppState,
    policy: &KeyPolicy,
    key: &KeyRecord,
    now: DateTime<Utc>,
) -> anyhow::Result<usize> {
    let Some(expires_at) = key.expires_at else {
        return Ok(0);
    };
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
        // Only the nearest threshold already reached: a key found a day
        // before expiry gets the one-day notice, not a late seven-day one as
        // well.
        policy
            .expiry_notice_days
            .iter()
            .rev()
            .find(|d| expires_at <= now + days(**d))
            .map(|d| {
                let details = object(json!({"expires_at": stamp(expires_at), "days_before": d}));
                (
                    format!("expiring:{d}:{at}"),
                    events::key_notice("key.expiring", key, details),
                )
            })
    };
    let Some((notice, event)) = due else {
        return Ok(0);
    };
    let ctx = AuditContext::system(ACTOR, now);
    let recorded = state
        .store
        .record_notice(&key.org_id, &key.id, &notice, &ctx, event, None)
        .await?;
    Ok(usize::from(recorded))
}

/// Records the stale notice `key` is due at `now`, if any, disabling the key
/// when the policy says so.
async fn stale_notice(
    state: &AppState,
    policy: &KeyPolicy,
    key: &KeyRecord,
    now: DateTime<Utc>,
) -> anyhow::Result<usize> {
    if !key.enabled || key.is_expired(now) {
        return Ok(0);
    }
    let Some(since) = policy.stale_since(key, now) else {
        return Ok(0);
    };
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
    let ctx = AuditContext::system(ACTOR, now);
    let recorded = state
        .store
        .record_notice(&key.org_id, &key.id, &notice, &ctx, event, disable)
        .await?;
    Ok(usize::from(recorded))
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

//! Write-behind of `last_used_at` and usage counters.
//!
//! Verification only bumps in-memory aggregates; a background task hands them
//! to storage at most a second later, and once more on shutdown. Counters
//! aggregate per key, hour and outcome rather than queue per request, so
//! memory stays bounded by the number of distinct keys in use.

use crate::clock::Clock;
use crate::id::{KeyId, OrgId};
use crate::limits::{Limiter, QuotaUse};
use crate::model::KeyRecord;
use crate::policy::Code;
use crate::store::Store;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Verifications of one key, in one hour, with one outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageCount {
    /// The organization.
    pub org_id: OrgId,
    /// The key.
    pub key_id: KeyId,
    /// Start of the hour.
    pub hour: DateTime<Utc>,
    /// The outcome.
    pub code: Code,
    /// How many.
    pub count: u64,
}

/// What one flush writes.
#[derive(Debug, Default, Clone)]
pub struct UsageBatch {
    /// Latest verification time per key.
    pub last_used: Vec<(KeyId, DateTime<Utc>)>,
    /// Counter increments.
    pub counts: Vec<UsageCount>,
    /// Quota consumption.
    pub quotas: Vec<QuotaUse>,
}

impl UsageBatch {
    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.last_used.is_empty() && self.counts.is_empty() && self.quotas.is_empty()
    }
}

/// One key's pending usage: its latest verification and its counters.
#[derive(Debug)]
struct KeyUsage {
    org_id: OrgId,
    last_used: DateTime<Utc>,
    /// Per (hour, code); a handful of entries, so a short list beats a map.
    counts: Vec<(DateTime<Utc>, Code, u64)>,
}

impl KeyUsage {
    fn add(&mut self, hour: DateTime<Utc>, code: Code, count: u64) {
        match self
            .counts
            .iter_mut()
            .find(|(h, c, _)| *h == hour && *c == code)
        {
            Some(slot) => slot.2 += count,
            None => self.counts.push((hour, code, count)),
        }
    }
}

/// In-memory aggregates waiting to be written, and the rate limit and quota
/// counters they feed.
#[derive(Debug, Default)]
pub struct UsageRecorder {
    /// Keyed by our own random ids, so a fast non-keyed hasher is safe here.
    pending: Mutex<HashMap<KeyId, KeyUsage, foldhash::fast::RandomState>>,
    /// Rate limit windows and quota consumption.
    pub limits: Limiter,
    /// Told, after each written batch, of the keys refused for quota in it.
    quota_listener: std::sync::OnceLock<mpsc::Sender<(OrgId, KeyId)>>,
    /// Told how each write went (metrics).
    observer: std::sync::OnceLock<Arc<dyn FlushObserver>>,
}

/// Told how the write-behind does: each flush's duration and outcome, and
/// what is lost when the last one fails at shutdown.
pub trait FlushObserver: Send + Sync + std::fmt::Debug {
    /// A flush that had something to write took `took`; `written` is false
    /// when it failed (and its batch was kept for the next).
    fn flushed(&self, took: std::time::Duration, written: bool);
    /// The keys whose counts were lost at shutdown.
    fn lost(&self, keys: usize);
}

impl UsageRecorder {
    /// Counts one verification of `record` that ended with `code`. A key
    /// already counted since the last flush costs no allocation.
    pub fn record(&self, record: &KeyRecord, code: Code, now: DateTime<Utc>) {
        let hour = start_of_hour(now);
        let mut pending = self.lock();
        match pending.get_mut(&record.id) {
            Some(usage) => {
                usage.last_used = usage.last_used.max(now);
                usage.add(hour, code, 1);
            }
            None => {
                pending.insert(
                    record.id.clone(),
                    KeyUsage {
                        org_id: record.org_id.clone(),
                        last_used: now,
                        counts: vec![(hour, code, 1)],
                    },
                );
            }
        }
    }

    /// Takes everything gathered so far.
    pub fn take(&self, now: DateTime<Utc>) -> UsageBatch {
        let quotas = self.limits.take(now);
        let pending = std::mem::take(&mut *self.lock());
        let mut batch = UsageBatch {
            quotas,
            ..UsageBatch::default()
        };
        for (key_id, usage) in pending {
            batch.last_used.push((key_id.clone(), usage.last_used));
            batch.counts.extend(
                usage
                    .counts
                    .into_iter()
                    .map(|(hour, code, count)| UsageCount {
                        org_id: usage.org_id.clone(),
                        key_id: key_id.clone(),
                        hour,
                        code,
                        count,
                    }),
            );
        }
        batch
    }

    /// Puts back a batch that could not be written, so nothing counted is lost.
    pub fn restore(&self, batch: UsageBatch) {
        self.limits.restore(batch.quotas);
        let mut pending = self.lock();
        let last_used: HashMap<KeyId, DateTime<Utc>> = batch.last_used.into_iter().collect();
        for c in batch.counts {
            let at = last_used.get(&c.key_id).copied().unwrap_or(c.hour);
            let usage = pending.entry(c.key_id).or_insert_with(|| KeyUsage {
                org_id: c.org_id,
                last_used: at,
                counts: Vec::new(),
            });
            usage.last_used = usage.last_used.max(at);
            usage.add(c.hour, c.code, c.count);
        }
    }

    /// After each batch is written, sends `listener` every key that was
    /// refused for its quota in that batch (`key.quota_exhausted` is found
    /// here, off the verification path). When the listener falls behind,
    /// the key is reported again with its next refusal. Only the first
    /// listener counts.
    pub fn listen_for_quota_refusals(&self, listener: mpsc::Sender<(OrgId, KeyId)>) {
        let _ = self.quota_listener.set(listener);
    }

    /// Tells `observer` how each flush goes. Only the first observer counts.
    pub fn observe_flushes(&self, observer: Arc<dyn FlushObserver>) {
        let _ = self.observer.set(observer);
    }

    /// Keys with counts waiting to be written.
    pub fn pending_keys(&self) -> usize {
        self.lock().len()
    }

    /// Writes what is pending; on failure keeps it for the next attempt.
    pub async fn flush(&self, store: &dyn Store, now: DateTime<Utc>) -> bool {
        let batch = self.take(now);
        if batch.is_empty() {
            return true;
        }
        let started = std::time::Instant::now();
        let written = self.write(store, batch).await;
        if let Some(observer) = self.observer.get() {
            observer.flushed(started.elapsed(), written);
        }
        written
    }

    async fn write(&self, store: &dyn Store, batch: UsageBatch) -> bool {
        match store.record_usage(&batch).await {
            Ok(()) => {
                if let Some(listener) = self.quota_listener.get() {
                    for count in batch
                        .counts
                        .iter()
                        .filter(|c| c.code == Code::UsageExceeded)
                    {
                        let _ = listener.try_send((count.org_id.clone(), count.key_id.clone()));
                    }
                }
                true
            }
            Err(error) => {
                tracing::warn!(%error, "writing usage failed; will retry");
                self.restore(batch);
                false
            }
        }
    }

    /// Flushes every `interval` until `shutdown` turns true, then once more.
    pub async fn run(
        self: Arc<Self>,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        interval: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => { self.flush(store.as_ref(), clock.now()).await; }
                _ = shutdown.changed() => break,
            }
        }
        // The last write: retry a few times (storage may be restarting too)
        // before giving up, and say what is lost if it comes to that.
        for attempt in 0..5u32 {
            if self.flush(store.as_ref(), clock.now()).await {
                tracing::info!("usage written");
                return;
            }
            tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(attempt))).await;
        }
        let keys = self.lock().len();
        if let Some(observer) = self.observer.get() {
            observer.lost(keys);
        }
        tracing::error!(
            keys,
            "could not write usage before shutting down; those counts are lost"
        );
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<KeyId, KeyUsage, foldhash::fast::RandomState>> {
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The start of the UTC hour holding `t` (integer arithmetic: this runs on
/// every verification).
fn start_of_hour(t: DateTime<Utc>) -> DateTime<Utc> {
    let seconds = t.timestamp();
    DateTime::from_timestamp(seconds - seconds.rem_euclid(3600), 0).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_start_on_the_hour() {
        let t = DateTime::parse_from_rfc3339("2030-01-01T13:59:59.999Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(start_of_hour(t).to_rfc3339(), "2030-01-01T13:00:00+00:00");
        let before_epoch = DateTime::parse_from_rfc3339("1969-12-31T23:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            start_of_hour(before_epoch).to_rfc3339(),
            "1969-12-31T23:00:00+00:00"
        );
    }
}

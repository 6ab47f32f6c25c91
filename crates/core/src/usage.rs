//! Write-behind of `last_used_at` and usage counters.
//!
//! Verification only bumps in-memory aggregates; a background task hands them
//! to storage, and everything once more on shutdown. What it writes grows
//! with time and with the number of keys in use, not with traffic:
//!
//! - `last_used_at` is written when it moved by at least the resolution
//!   (60 s by default) past what this node last wrote for the key, at the
//!   next flush (1 s by default). A key's first use is thus written within a
//!   flush; a key verified all day, once a resolution.
//! - Counters aggregate per key, hour and outcome in shards, one shard
//!   written per flush, in turn, so that each key's counters are written once
//!   a resolution, spread evenly over it.
//! - Quota consumption is written at every flush: other nodes enforce the
//!   same quota from it.
//!
//! Memory stays bounded by the number of distinct keys in use within one
//! resolution. What a crash (`kill -9`) loses: the counters of up to one
//! resolution and one flush, and the last resolution's movement of
//! `last_used_at`; a graceful shutdown writes everything.

use crate::clock::Clock;
use crate::id::{KeyId, OrgId};
use crate::limits::{Limiter, QuotaUse};
use crate::model::KeyRecord;
use crate::policy::Code;
use crate::store::Store;
use crate::verify::CachedKey;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
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

/// Verifications of an organization (or one of its projects) in one hour,
/// with one outcome, summed over its keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageTotal {
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
    /// Keys refused for their quota since the last flush: not stored, but
    /// reported (`key.quota_exhausted`) once the batch is written.
    pub refused: Vec<(OrgId, KeyId)>,
}

impl UsageBatch {
    /// Nothing to write.
    pub fn is_empty(&self) -> bool {
        self.last_used.is_empty()
            && self.counts.is_empty()
            && self.quotas.is_empty()
            && self.refused.is_empty()
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

/// Keyed by our own random ids, so a fast non-keyed hasher is safe here.
type PerKey<T> = HashMap<KeyId, T, foldhash::fast::RandomState>;

/// How often usage is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// How often a batch is written.
    pub flush: Duration,
    /// How far `last_used_at` moves before it is written again, and how
    /// long counters wait in memory at most (plus one flush; at most 3,600
    /// flushes). Zero writes everything at every flush.
    pub resolution: Duration,
}

impl Default for Schedule {
    fn default() -> Self {
        Self {
            flush: Duration::from_secs(1),
            resolution: Duration::from_secs(60),
        }
    }
}

/// In-memory aggregates waiting to be written, and the rate limit and quota
/// counters they feed.
#[derive(Debug)]
pub struct UsageRecorder {
    schedule: Schedule,
    /// Counters by key, in shards written in turn (one per flush).
    shards: Box<[Mutex<PerKey<KeyUsage>>]>,
    /// The shard the next flush writes.
    turn: AtomicUsize,
    /// `last_used_at` values due at the next flush.
    last_used: Mutex<PerKey<DateTime<Utc>>>,
    /// Keys refused for their quota since the last flush.
    refused: Mutex<PerKey<OrgId>>,
    /// Rate limit windows and quota consumption.
    pub limits: Limiter,
    /// Told, after each written batch, of the keys refused for quota in it.
    quota_listener: std::sync::OnceLock<mpsc::Sender<(OrgId, KeyId)>>,
    /// Told how each write went (metrics).
    observer: std::sync::OnceLock<Arc<dyn FlushObserver>>,
}

impl Default for UsageRecorder {
    fn default() -> Self {
        Self::new(Schedule::default())
    }
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
    /// A recorder writing on `schedule`.
    pub fn new(schedule: Schedule) -> Self {
        // One shard per flush within a resolution: each shard, and so each
        // key's counters, is written once a resolution.
        let shards =
            (schedule.resolution.as_nanos() / schedule.flush.as_nanos().max(1)).clamp(1, 3600);
        Self {
            schedule,
            shards: (0..shards).map(|_| Mutex::default()).collect(),
            turn: AtomicUsize::new(0),
            last_used: Mutex::default(),
            refused: Mutex::default(),
            limits: Limiter::default(),
            quota_listener: std::sync::OnceLock::new(),
            observer: std::sync::OnceLock::new(),
        }
    }

    /// Counts one verification of `key` that ended with `code`. A key
    /// already counted since its shard was last written costs no
    /// allocation; `last_used_at` costs a second lock only when it moved by
    /// the resolution.
    pub fn record(&self, key: &CachedKey, code: Code, now: DateTime<Utc>) {
        let record = &key.record;
        if key.last_used_due(now, self.schedule.resolution) {
            let mut due = lock(&self.last_used);
            match due.get_mut(&record.id) {
                Some(at) => *at = (*at).max(now),
                None => {
                    due.insert(record.id.clone(), now);
                }
            }
        }
        if code == Code::UsageExceeded {
            lock(&self.refused).insert(record.id.clone(), record.org_id.clone());
        }
        let hour = start_of_hour(now);
        let mut pending = lock(&self.shards[self.shard_of(record)]);
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

    /// The shard of a key: from its secret's hash, uniformly random and
    /// already computed.
    fn shard_of(&self, record: &KeyRecord) -> usize {
        let mut first = [0u8; 8];
        first.copy_from_slice(&record.hash.0[..8]);
        (u64::from_le_bytes(first) % self.shards.len() as u64) as usize
    }

    /// Takes what the next flush writes: the quota consumption, the
    /// `last_used_at` values due, and the counters and latest uses of the
    /// shard whose turn it is.
    pub fn take(&self, now: DateTime<Utc>) -> UsageBatch {
        let turn = self.turn.fetch_add(1, Ordering::Relaxed) % self.shards.len();
        let counts = std::mem::take(&mut *lock(&self.shards[turn]));
        self.batch(now, [counts])
    }

    /// Takes everything gathered so far, with every key's latest use.
    pub fn take_all(&self, now: DateTime<Utc>) -> UsageBatch {
        let shards: Vec<_> = self
            .shards
            .iter()
            .map(|shard| std::mem::take(&mut *lock(shard)))
            .collect();
        self.batch(now, shards)
    }

    fn batch(
        &self,
        now: DateTime<Utc>,
        shards: impl IntoIterator<Item = PerKey<KeyUsage>>,
    ) -> UsageBatch {
        let mut last_used = std::mem::take(&mut *lock(&self.last_used));
        let mut batch = UsageBatch {
            quotas: self.limits.take(now),
            refused: std::mem::take(&mut *lock(&self.refused))
                .into_iter()
                .map(|(key, org)| (org, key))
                .collect(),
            ..UsageBatch::default()
        };
        for (key_id, usage) in shards.into_iter().flatten() {
            // With its counters, each key's latest use: it moved by less
            // than the resolution (or it would be due already), and a
            // graceful stop writes it exactly.
            let at = last_used.entry(key_id.clone()).or_insert(usage.last_used);
            *at = (*at).max(usage.last_used);
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
        batch.last_used = last_used.into_iter().collect();
        batch
    }

    /// Puts back a batch that could not be written, so nothing counted is
    /// lost: its counters go out with the next flush's shard.
    pub fn restore(&self, batch: UsageBatch) {
        self.limits.restore(batch.quotas);
        {
            let mut due = lock(&self.last_used);
            for (key_id, at) in &batch.last_used {
                let slot = due.entry(key_id.clone()).or_insert(*at);
                *slot = (*slot).max(*at);
            }
        }
        self.restore_refused(batch.refused);
        let next = self.turn.load(Ordering::Relaxed) % self.shards.len();
        let mut pending = lock(&self.shards[next]);
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

    fn restore_refused(&self, refused: Vec<(OrgId, KeyId)>) {
        let mut pending = lock(&self.refused);
        for (org, key) in refused {
            pending.insert(key, org);
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

    /// Rows waiting to be written: keys with counts, and keys with a last
    /// use due (a key may be in both).
    pub fn pending_keys(&self) -> usize {
        let counted: usize = self.shards.iter().map(|shard| lock(shard).len()).sum();
        counted + lock(&self.last_used).len()
    }

    /// Writes the next flush's share; on failure keeps it for the next
    /// attempt.
    pub async fn flush(&self, store: &dyn Store, now: DateTime<Utc>) -> bool {
        self.write(store, self.take(now)).await
    }

    /// Writes everything pending; on failure keeps it.
    pub async fn flush_all(&self, store: &dyn Store, now: DateTime<Utc>) -> bool {
        self.write(store, self.take_all(now)).await
    }

    async fn write(&self, store: &dyn Store, batch: UsageBatch) -> bool {
        if batch.is_empty() {
            return true;
        }
        let started = std::time::Instant::now();
        let written = match store.record_usage(&batch).await {
            Ok(()) => {
                if let Some(listener) = self.quota_listener.get() {
                    for refused in batch.refused {
                        let _ = listener.try_send(refused);
                    }
                }
                true
            }
            Err(error) => {
                tracing::warn!(%error, "writing usage failed; will retry");
                self.restore(batch);
                false
            }
        };
        if let Some(observer) = self.observer.get() {
            observer.flushed(started.elapsed(), written);
        }
        written
    }

    /// Flushes on the schedule until `shutdown` turns true, then writes
    /// everything.
    pub async fn run(
        self: Arc<Self>,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut ticker = tokio::time::interval(self.schedule.flush);
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
            if self.flush_all(store.as_ref(), clock.now()).await {
                tracing::info!("usage written");
                return;
            }
            tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(attempt))).await;
        }
        let keys = self.pending_keys();
        if let Some(observer) = self.observer.get() {
            observer.lost(keys);
        }
        tracing::error!(
            keys,
            "could not write usage before shutting down; those counts are lost"
        );
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
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
    use crate::answer::tests::key;
    use serde_json::json;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_900_000_000 + seconds, 0).unwrap()
    }

    fn every_minute() -> UsageRecorder {
        UsageRecorder::new(Schedule {
            flush: Duration::from_secs(1),
            resolution: Duration::from_secs(60),
        })
    }

    #[test]
    fn last_use_is_written_when_it_moved_by_the_resolution() {
        let usage = every_minute();
        let key = key(json!({"name": "busy"}));
        // Never used: the first use is due at once.
        usage.record(&key, Code::Valid, at(0));
        assert_eq!(
            usage.take(at(0)).last_used,
            vec![(key.record.id.clone(), at(0))]
        );
        // Used every second for a minute: written once more, with the
        // counters when its shard's turn comes, not at every flush.
        let mut written = 0;
        for second in 1..60 {
            usage.record(&key, Code::Valid, at(second));
            let batch = usage.take(at(second));
            if !batch.last_used.is_empty() {
                assert_eq!(batch.last_used, vec![(key.record.id.clone(), at(second))]);
                assert_eq!(batch.counts.len(), 1);
                written += 1;
            }
        }
        assert_eq!(written, 1);
        usage.record(&key, Code::Valid, at(60));
        assert_eq!(
            usage.take(at(60)).last_used,
            vec![(key.record.id.clone(), at(60))]
        );
    }

    #[test]
    fn each_key_s_counters_are_written_once_a_resolution() {
        let usage = every_minute();
        let keys: Vec<_> = (0..600)
            .map(|i| key(json!({"name": format!("k{i}")})))
            .collect();
        for key in &keys {
            usage.record(key, Code::Valid, at(0));
            usage.record(key, Code::Valid, at(0));
        }
        let mut written = HashMap::new();
        let mut largest = 0;
        for second in 0..60 {
            let batch = usage.take(at(second));
            largest = largest.max(batch.counts.len());
            for count in batch.counts {
                assert_eq!(count.count, 2);
                *written.entry(count.key_id).or_insert(0) += 1;
            }
        }
        assert_eq!(written.len(), keys.len(), "every key once a minute");
        assert!(written.values().all(|n| *n == 1));
        // Spread over the minute: no flush writes a large share of them.
        assert!(largest < 60, "{largest} keys in one flush");
        assert_eq!(usage.pending_keys(), 0);
    }

    #[test]
    fn shutdown_takes_every_counter_and_every_key_s_latest_use() {
        let usage = every_minute();
        let key = key(json!({"name": "k"}));
        usage.record(&key, Code::Valid, at(0));
        usage.take_all(at(0));
        usage.record(&key, Code::Valid, at(10));
        usage.record(&key, Code::InsufficientScope, at(20));
        let batch = usage.take_all(at(30));
        assert_eq!(batch.last_used, vec![(key.record.id.clone(), at(20))]);
        let mut codes: Vec<_> = batch.counts.iter().map(|c| (c.code, c.count)).collect();
        codes.sort_by_key(|(code, _)| code.as_str());
        assert_eq!(codes, vec![(Code::InsufficientScope, 1), (Code::Valid, 1)]);
    }

    #[test]
    fn a_quota_refusal_is_reported_with_the_next_flush() {
        let usage = every_minute();
        let key = key(json!({"name": "k"}));
        usage.record(&key, Code::UsageExceeded, at(0));
        let batch = usage.take(at(0));
        assert_eq!(
            batch.refused,
            vec![(key.record.org_id.clone(), key.record.id.clone())]
        );
        usage.restore(batch);
        assert_eq!(usage.take(at(1)).refused.len(), 1);
        assert!(usage.take(at(2)).refused.is_empty());
    }

    #[test]
    fn a_batch_that_failed_goes_out_with_the_next_flush() {
        let usage = every_minute();
        let key = key(json!({"name": "k"}));
        usage.record(&key, Code::Valid, at(0));
        let failed = usage.take_all(at(0));
        usage.restore(failed);
        let retried = usage.take(at(1));
        assert_eq!(retried.last_used, vec![(key.record.id.clone(), at(0))]);
        assert_eq!(retried.counts.len(), 1);
        assert_eq!(retried.counts[0].count, 1);
    }

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

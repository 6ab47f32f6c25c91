//! Verification: parse, hash once, look up (cache first), apply the policy,
//! count the use.
//!
//! A key already seen costs one SHA-256 and one cache hit; no storage I/O and
//! no write happen on the request path. Unknown keys land in a separate,
//! bounded negative cache so that a flood of random keys neither reaches
//! storage at full rate nor evicts the entries of real keys. A key seen for
//! the first time is looked up only when the node's copy of the stored
//! hashes says it may be stored (`stored_hashes.rs`).

use crate::answer::KeyFields;
use crate::clock::Clock;
use crate::id::KeyId;
use crate::key_format::{self, KeyHash};
use crate::limits::{Admission, QuotaStatus, RateStatus};
use crate::model::KeyRecord;
use crate::policy::{self, Code, Request};
use crate::store::{Store, StoreError};
use crate::stored_hashes::StoredHashSet;
use crate::usage::UsageRecorder;
use chrono::{DateTime, Utc};
use quick_cache::sync::{Cache, DefaultLifecycle};
use quick_cache::{OptionsBuilder, UnitWeighter, Weighter};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Sizes and lifetimes of the verification caches.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Most memory the cached key records take, in bytes (each one's size
    /// estimated by [`CachedKey::weight`]).
    pub capacity_bytes: u64,
    /// Longest time a record is trusted without reading storage again.
    pub ttl: Duration,
    /// Most unknown hashes remembered.
    pub negative_capacity: u64,
    /// How long an unknown hash is remembered.
    pub negative_ttl: Duration,
    /// What verification does while storage is unreachable.
    pub outage_policy: OutagePolicy,
}

/// What verification does while storage is unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutagePolicy {
    /// Refuse every verification (`503 storage_unavailable`) until storage
    /// answers again: no answer rests on data that may be stale.
    #[default]
    Refuse,
    /// Keep answering from the cache (each entry still expires after the
    /// cache TTL); only keys not cached are refused.
    ServeCached,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            capacity_bytes: 256 * 1024 * 1024,
            ttl: Duration::from_secs(60),
            negative_capacity: 250_000,
            // As long as a record is trusted. A hash storage does not know
            // can become known only by a restore of storage: a key's secret
            // is drawn at random when the key is stored, so nobody verified
            // it before. Longer means a repeating flood reaches storage less.
            negative_ttl: Duration::from_secs(60),
            outage_policy: OutagePolicy::Refuse,
        }
    }
}

/// The result of one verification.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The answer.
    pub code: Code,
    /// The key, when one was found.
    pub key: Option<Arc<CachedKey>>,
    /// True when the key's previous secret was used during its grace period.
    pub deprecated: bool,
    /// The key's rate limit after this verification, when it has one and got that far.
    pub ratelimit: Option<RateStatus>,
    /// The key's quota after this verification, when it has one and got that far.
    pub quota: Option<QuotaStatus>,
}

impl Outcome {
    fn bare(code: Code) -> Self {
        Self {
            code,
            key: None,
            deprecated: false,
            ratelimit: None,
            quota: None,
        }
    }
}

/// A key record as verification keeps it, with the members of every answer
/// about it encoded once.
#[derive(Debug)]
pub struct CachedKey {
    /// The record, as read from storage.
    pub record: KeyRecord,
    /// The answer's members describing the key.
    pub fields: KeyFields,
    /// Bytes this entry takes in the cache, estimated once.
    weight: u64,
    /// The latest `last_used_at` this node knows storage has or will have,
    /// in microseconds (`i64::MIN`: never used). It lives as long as the
    /// cache entry, so that a key verified all day has its last use written
    /// once a resolution, not at every flush.
    last_used_written: AtomicI64,
}

impl CachedKey {
    /// Memory an entry takes besides what its text explains: quick_cache's
    /// slot, the `Arc`'s counts and the allocator's rounding of a dozen
    /// allocations. With it, a key without meta weighs about 1,660 bytes,
    /// and the server grew by about 1,690 bytes per key newly cached
    /// (docs/benchmarks.md).
    const OVERHEAD: usize = 512;

    /// About the most a key can weigh: 8 KiB of meta, 2,000 characters of
    /// description and 100 each of scopes, origins and address ranges,
    /// counted as [`CachedKey::new`] counts them.
    const HEAVIEST: u64 = 128 * 1024;

    fn new(record: KeyRecord) -> Result<Self, StoreError> {
        let fields = KeyFields::of(&record).map_err(|e| StoreError::Backend(Box::new(e)))?;
        // The encoded members repeat most of the record's text (ids, name,
        // scopes, origins, meta), which the record holds again decoded, in
        // strings and map nodes that take about twice their text.
        let text = fields.encoded_len() * 3
            + record.description.len()
            + record.created_by.len()
            + record.sealed_key.as_ref().map_or(0, Vec::len)
            + record.revoked_reason.as_ref().map_or(0, String::len);
        let weight = (size_of::<Self>() + Self::OVERHEAD + text) as u64;
        let last_used_written = AtomicI64::new(
            record
                .last_used_at
                .map_or(i64::MIN, |at| at.timestamp_micros()),
        );
        Ok(Self {
            record,
            fields,
            weight,
            last_used_written,
        })
    }

    /// Whether a use at `now` moves `last_used_at` by at least `resolution`
    /// past what was last written; if so, it is now the value written (one
    /// caller of several at once gets true).
    pub(crate) fn last_used_due(&self, now: DateTime<Utc>, resolution: Duration) -> bool {
        let at = now.timestamp_micros();
        let written = self.last_used_written.load(Ordering::Relaxed);
        let resolution = i64::try_from(resolution.as_micros()).unwrap_or(i64::MAX);
        at.saturating_sub(written) >= resolution
            && at > written
            && self
                .last_used_written
                .compare_exchange(written, at, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// Bytes this entry is estimated to take in the cache.
    pub fn weight(&self) -> u64 {
        self.weight
    }

    #[cfg(test)]
    pub(crate) fn for_tests(record: KeyRecord) -> Self {
        Self::new(record).unwrap_or_else(|e| panic!("{e}"))
    }
}

/// A snapshot of the verification caches, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups the cache of key records answered.
    pub hits: u64,
    /// Lookups it did not.
    pub misses: u64,
    /// Key records it holds.
    pub entries: u64,
    /// Their estimated bytes.
    pub weight: u64,
    /// Lookups of unknown keys the negative cache answered.
    pub negative_hits: u64,
    /// Lookups it did not.
    pub negative_misses: u64,
    /// Unknown keys it holds.
    pub negative_entries: u64,
    /// Lookups by hash that reached storage.
    pub storage_reads: u64,
}

/// How the caches answered lookups, on a cache line of their own (written
/// by every verification, beside fields every core reads).
#[derive(Debug, Default)]
#[repr(align(128))]
struct LookupCounts {
    hits: AtomicU64,
    misses: AtomicU64,
    negative_hits: AtomicU64,
    negative_misses: AtomicU64,
}

/// Verifies keys against the policy, with caches in front of storage.
#[derive(Debug)]
pub struct Verifier {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    usage: Arc<UsageRecorder>,
    /// Key records by hash, with the time each was read from storage,
    /// weighed in bytes.
    known: Cache<KeyHash, (Arc<CachedKey>, Instant), KeyWeight, Prehashed>,
    /// Hashes storage did not know, with the time it said so.
    unknown: Cache<KeyHash, Instant, UnitWeighter, Prehashed>,
    /// Every hash storage holds, so that a key never stored is not looked up.
    stored: StoredHashSet,
    /// Lookups of keys by hash that reached storage.
    storage_reads: AtomicU64,
    /// How the caches answered, once per lookup (for metrics).
    counts: LookupCounts,
    ttl: Duration,
    negative_ttl: Duration,
    /// Bumped by every [`Verifier::forget`]; a load that overlapped a change
    /// is not trusted (see `lookup`).
    changes: AtomicU64,
    storage_available: AtomicBool,
    outage_policy: OutagePolicy,
}

impl Verifier {
    /// A verifier over `store`.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        usage: Arc<UsageRecorder>,
        config: &CacheConfig,
    ) -> Self {
        Self {
            store,
            clock,
            usage,
            // Scan-resistant: keys seen once wait in a small probation
            // section, so a sweep of first-time verifications cannot push out
            // the keys in steady use.
            known: bounded_cache(
                config.capacity_bytes,
                HOT_SHARE,
                KeyWeight,
                CachedKey::HEAVIEST,
            ),
            // Apart from `known`, so that unknown keys can only ever evict
            // unknown keys. Almost all probation: a flood of distinct unknown
            // keys is exactly what must be remembered, from its first sight,
            // for as long as the capacity allows (with the default 3 % of
            // probation, keys of a 100,000-key flood left before their second
            // sight and each reached storage again).
            unknown: bounded_cache(config.negative_capacity, 0.1, UnitWeighter, 1),
            stored: StoredHashSet::default(),
            storage_reads: AtomicU64::new(0),
            counts: LookupCounts::default(),
            ttl: config.ttl,
            negative_ttl: config.negative_ttl,
            changes: AtomicU64::new(0),
            storage_available: AtomicBool::new(true),
            outage_policy: config.outage_policy,
        }
    }

    /// Verifies `key` for `request`.
    pub async fn verify(&self, key: &str, request: &Request<'_>) -> Result<Outcome, StoreError> {
        if key_format::parse(key).is_err() {
            return Ok(Outcome::bare(Code::Malformed));
        }
        if self.outage_policy == OutagePolicy::Refuse
            && !self.storage_available.load(Ordering::Relaxed)
        {
            return Err(StoreError::Backend("storage is unavailable".into()));
        }
        let hash = KeyHash::of(key);
        let Some(key) = self.lookup(hash).await? else {
            return Ok(Outcome::bare(Code::NotFound));
        };
        let record = &key.record;
        let now = self.clock.now();
        // Plain comparisons, not constant-time ones: the hash already chose
        // the record, and which of its two hashes matched is no secret to
        // whoever holds the key.
        let deprecated = if record.hash == hash {
            false
        } else if record
            .previous
            .is_some_and(|p| p.hash == hash && now < p.expires_at)
        {
            true
        } else {
            // An old secret past its grace period is simply no longer a key.
            return Ok(Outcome::bare(Code::NotFound));
        };
        let mut outcome = Outcome {
            code: policy::evaluate(record, request, now),
            key: None,
            deprecated,
            ratelimit: None,
            quota: None,
        };
        if outcome.code == Code::Valid && (record.ratelimit.is_some() || record.quota.is_some()) {
            match self.usage.limits.admit(record, now) {
                Admission::Allowed { ratelimit, quota } => {
                    outcome.ratelimit = ratelimit;
                    outcome.quota = quota;
                }
                Admission::RateLimited(status) => {
                    outcome.code = Code::RateLimited;
                    outcome.ratelimit = Some(status);
                }
                Admission::QuotaExceeded(status) => {
                    outcome.code = Code::UsageExceeded;
                    outcome.quota = Some(status);
                }
            }
        }
        self.usage.record(&key, outcome.code, now);
        outcome.key = Some(key);
        Ok(outcome)
    }

    /// Forgets every cached entry of `record`, so the next verification reads
    /// storage. Call with the record before and after each change.
    pub fn forget(&self, record: &KeyRecord) {
        self.changes.fetch_add(1, Ordering::SeqCst);
        for hash in record.hashes() {
            self.known.remove(&hash);
        }
    }

    /// Forgets every cached entry of the key `id` (a change made elsewhere,
    /// known only by id).
    pub fn forget_id(&self, id: &KeyId) {
        self.changes.fetch_add(1, Ordering::SeqCst);
        self.known.retain(|_, (key, _)| key.record.id != *id);
    }

    /// Drops the rate limit and quota counters of a key that can never
    /// verify again (archived or purged).
    pub fn forget_counters(&self, id: &KeyId) {
        self.usage.limits.forget(id);
    }

    /// Forgets everything cached: changes may have been missed. The copy of
    /// the stored hashes goes too (storage may have failed over to a replica
    /// whose hash clock is behind), to be loaded again
    /// ([`Verifier::stored_hashes_dropped`]).
    pub fn forget_all(&self) {
        self.changes.fetch_add(1, Ordering::SeqCst);
        self.known.clear();
        self.unknown.clear();
        self.stored.drop_copy();
    }

    /// Records whether storage answers (see [`OutagePolicy`]). When it comes
    /// back, everything cached is dropped: changes made meanwhile by other
    /// nodes may not have been announced.
    pub fn set_storage_available(&self, available: bool) {
        let was = self.storage_available.swap(available, Ordering::SeqCst);
        if available && !was {
            self.forget_all();
        }
    }

    /// Reads every stored hash into this node's copy, in place of the one
    /// it had (see `stored_hashes.rs`); until the first load, every
    /// key not cached is looked up. Returns how many hashes the copy holds.
    pub async fn load_stored_hashes(&self) -> Result<usize, StoreError> {
        self.stored.load(self.store.as_ref()).await
    }

    /// Completes when the copy of the stored hashes was dropped since the
    /// last call and must be loaded again.
    pub async fn stored_hashes_dropped(&self) {
        self.stored.stale().await;
    }

    /// How many lookups by hash have reached storage since the start.
    pub fn storage_reads(&self) -> u64 {
        self.storage_reads.load(Ordering::Relaxed)
    }

    /// What the caches hold and how they have done since the start.
    pub fn cache_stats(&self) -> CacheStats {
        CacheStats {
            hits: self.counts.hits.load(Ordering::Relaxed),
            misses: self.counts.misses.load(Ordering::Relaxed),
            entries: self.known.len() as u64,
            weight: self.known.weight(),
            negative_hits: self.counts.negative_hits.load(Ordering::Relaxed),
            negative_misses: self.counts.negative_misses.load(Ordering::Relaxed),
            negative_entries: self.unknown.len() as u64,
            storage_reads: self.storage_reads(),
        }
    }

    /// Whether storage answered at the last check.
    pub fn storage_available(&self) -> bool {
        self.storage_available.load(Ordering::Relaxed)
    }

    /// Reads storage without caching, after a load overlapped a change.
    async fn read_uncached(&self, hash: KeyHash) -> Result<Option<Arc<CachedKey>>, StoreError> {
        self.known.remove(&hash);
        self.storage_reads.fetch_add(1, Ordering::Relaxed);
        self.store
            .find_key_by_hash(&hash)
            .await?
            .map(|record| CachedKey::new(record).map(Arc::new))
            .transpose()
    }

    async fn lookup(&self, hash: KeyHash) -> Result<Option<Arc<CachedKey>>, StoreError> {
        let now = Instant::now();
        if let Some((record, read_at)) = self.known.get(&hash)
            && now.duration_since(read_at) < self.ttl
        {
            self.counts.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Some(record));
        }
        self.counts.misses.fetch_add(1, Ordering::Relaxed);
        if let Some(found_unknown_at) = self.unknown.get(&hash)
            && now.duration_since(found_unknown_at) < self.negative_ttl
        {
            self.counts.negative_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(None);
        }
        self.counts.negative_misses.fetch_add(1, Ordering::Relaxed);
        if self.stored.may_hold(&hash) == Some(false)
            && !self.stored.may_hold_now(&hash, self.store.as_ref()).await?
        {
            self.unknown.insert(hash, Instant::now());
            return Ok(None);
        }
        // One read per hash at a time: verifications of the same hash that
        // arrive meanwhile wait for it (or read themselves if it fails).
        let guard = loop {
            match self.known.get_value_or_guard_async(&hash).await {
                Ok((record, read_at)) if read_at.elapsed() < self.ttl => return Ok(Some(record)),
                // Expired: drop it (unless a fresher one replaced it) and load.
                Ok((stale, read_at)) => {
                    self.known.remove_if(&hash, |(record, at)| {
                        *at == read_at && Arc::ptr_eq(record, &stale)
                    });
                }
                Err(guard) => break guard,
            }
        };
        // Whoever held the guard before may have found the hash unknown.
        if self
            .unknown
            .get(&hash)
            .is_some_and(|found_unknown_at| found_unknown_at.elapsed() < self.negative_ttl)
        {
            return Ok(None);
        }
        // A change made while the read is in flight must not leave the read
        // (possibly older) record behind: the change bumps `changes` before
        // it removes cached entries, so a read that saw no bump before its
        // insertion can only have been removed after it, and one that saw a
        // bump is not cached.
        let changes_before = self.changes.load(Ordering::SeqCst);
        let read_at = Instant::now();
        self.storage_reads.fetch_add(1, Ordering::Relaxed);
        let found = match self.store.find_key_by_hash(&hash).await? {
            Some(record) => Arc::new(CachedKey::new(record)?),
            None => {
                // Remembered before the guard goes to the next waiter.
                self.unknown.insert(hash, read_at);
                drop(guard);
                return Ok(None);
            }
        };
        if self.changes.load(Ordering::SeqCst) != changes_before {
            drop(guard);
            return self.read_uncached(hash).await;
        }
        // Only fails when the entry was removed meanwhile; the answer stands.
        let _ = guard.insert((Arc::clone(&found), read_at));
        if self.changes.load(Ordering::SeqCst) != changes_before {
            return self.read_uncached(hash).await;
        }
        Ok(Some(found))
    }
}

/// quick_cache's default share of the capacity kept for entries used more
/// than once (the rest is probation for new ones).
const HOT_SHARE: f64 = 0.97;

/// A cache of at most `capacity`, as `weighter` weighs its entries, that
/// grows as it fills, with `hot_share` of it for entries used more than once.
///
/// quick_cache divides the capacity among its shards and does not keep an
/// entry heavier than a shard's part, so there are never so many shards that
/// a part holds fewer than eight of the `heaviest` entries.
fn bounded_cache<V: Clone, W: Weighter<KeyHash, V> + Clone>(
    capacity: u64,
    hot_share: f64,
    weighter: W,
    heaviest: u64,
) -> Cache<KeyHash, V, W, Prehashed> {
    // Room for this many entries is made at once; the cache grows past it.
    let estimated = usize::try_from(capacity.min(4096)).unwrap_or(4096);
    // quick_cache's own default is four shards per core.
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let fitting = usize::try_from(capacity / (8 * heaviest.max(1))).unwrap_or(usize::MAX);
    let shards = (cores * 4).min(fitting).max(1);
    let options = OptionsBuilder::new()
        .estimated_items_capacity(estimated)
        .weight_capacity(capacity)
        .hot_allocation(hot_share)
        .shards(shards)
        .build();
    let lifecycle = DefaultLifecycle::default();
    match options {
        Ok(options) => Cache::with_options(options, weighter, Prehashed, lifecycle),
        // `build` refuses only a capacity left unset, and both are set.
        Err(_) => Cache::with(estimated, capacity, weighter, Prehashed, lifecycle),
    }
}

/// Weighs a cached key by its estimated size in bytes.
#[derive(Debug, Clone, Copy)]
struct KeyWeight;

impl Weighter<KeyHash, (Arc<CachedKey>, Instant)> for KeyWeight {
    fn weight(&self, _: &KeyHash, (key, _): &(Arc<CachedKey>, Instant)) -> u64 {
        key.weight
    }
}

/// Hashes a [`KeyHash`] (or its [`KeyHash::prefix`]) by its first eight
/// bytes: it is already a SHA-256, uniform and beyond a caller's control, so
/// hashing it again (SipHash, the default) only costs time on every
/// verification.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Prehashed;

impl std::hash::BuildHasher for Prehashed {
    type Hasher = PrehashedHasher;
    fn build_hasher(&self) -> PrehashedHasher {
        PrehashedHasher(0)
    }
}

#[derive(Debug, Default)]
pub(crate) struct PrehashedHasher(u64);

impl std::hash::Hasher for PrehashedHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // The 32 digest bytes arrive in one write; fold every write in anyway.
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(word);
        }
    }
}

//! Verification: parse, hash once, look up (cache first), apply the policy,
//! count the use.
//!
//! A key already seen costs one SHA-256 and one cache hit; no storage I/O and
//! no write happen on the request path. Unknown keys land in a separate,
//! bounded negative cache so that a flood of random keys neither reaches
//! storage at full rate nor evicts the entries of real keys.

use crate::clock::Clock;
use crate::id::KeyId;
use crate::key_format::{self, KeyHash};
use crate::limits::{Admission, QuotaStatus, RateStatus};
use crate::model::KeyRecord;
use crate::policy::{self, Code, Request};
use crate::store::{Store, StoreError};
use crate::usage::UsageRecorder;
use moka::future::Cache;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Sizes and lifetimes of the verification caches.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Most key records kept.
    pub capacity: u64,
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
            capacity: 1_000_000,
            ttl: Duration::from_secs(60),
            negative_capacity: 250_000,
            negative_ttl: Duration::from_secs(10),
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
    pub key: Option<Arc<KeyRecord>>,
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

/// Verifies keys against the policy, with caches in front of storage.
#[derive(Debug)]
pub struct Verifier {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    usage: Arc<UsageRecorder>,
    known: Cache<KeyHash, Arc<KeyRecord>, Prehashed>,
    unknown: Cache<KeyHash, (), Prehashed>,
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
            known: Cache::builder()
                .max_capacity(config.capacity)
                .time_to_live(config.ttl)
                .support_invalidation_closures()
                .build_with_hasher(Prehashed),
            // Least recently used, not TinyLFU: TinyLFU admits a new entry
            // only when it was seen more often than the one it would evict,
            // so under a flood of many distinct unknown keys most would never
            // be cached and every repeat would reach storage. Unknown keys
            // evict only unknown keys either way: the caches are apart.
            unknown: Cache::builder()
                .max_capacity(config.negative_capacity)
                .eviction_policy(moka::policy::EvictionPolicy::lru())
                .time_to_live(config.negative_ttl)
                .build_with_hasher(Prehashed),
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
        let Some(record) = self.lookup(hash).await? else {
            return Ok(Outcome::bare(Code::NotFound));
        };
        let now = self.clock.now();
        let deprecated = if record.hash.ct_eq(&hash) {
            false
        } else if record
            .previous
            .is_some_and(|p| p.hash.ct_eq(&hash) && now < p.expires_at)
        {
            true
        } else {
            // An old secret past its grace period is simply no longer a key.
            return Ok(Outcome::bare(Code::NotFound));
        };
        let mut outcome = Outcome {
            code: policy::evaluate(&record, request, now),
            key: None,
            deprecated,
            ratelimit: None,
            quota: None,
        };
        if outcome.code == Code::Valid && (record.ratelimit.is_some() || record.quota.is_some()) {
            match self.usage.limits.admit(&record, now) {
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
        self.usage.record(&record, outcome.code, now);
        outcome.key = Some(record);
        Ok(outcome)
    }

    /// Forgets every cached entry of `record`, so the next verification reads
    /// storage. Call with the record before and after each change.
    pub async fn forget(&self, record: &KeyRecord) {
        self.changes.fetch_add(1, Ordering::SeqCst);
        for hash in record.hashes() {
            self.known.invalidate(&hash).await;
        }
    }

    /// Forgets every cached entry of the key `id` (a change made elsewhere,
    /// known only by id).
    pub fn forget_id(&self, id: &KeyId) {
        self.changes.fetch_add(1, Ordering::SeqCst);
        let id = id.clone();
        // Only fails when invalidation closures are not enabled, which they are.
        let _ = self
            .known
            .invalidate_entries_if(move |_, record| record.id == id);
    }

    /// Drops the rate limit and quota counters of a key that can never
    /// verify again (archived or purged).
    pub fn forget_counters(&self, id: &KeyId) {
        self.usage.limits.forget(id);
    }

    /// Forgets everything cached: changes may have been missed.
    pub fn forget_all(&self) {
        self.changes.fetch_add(1, Ordering::SeqCst);
        self.known.invalidate_all();
        self.unknown.invalidate_all();
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

    /// Whether storage answered at the last check.
    pub fn storage_available(&self) -> bool {
        self.storage_available.load(Ordering::Relaxed)
    }

    /// Reads storage without caching, after a load overlapped a change.
    async fn read_uncached(&self, hash: KeyHash) -> Result<Option<Arc<KeyRecord>>, StoreError> {
        self.known.invalidate(&hash).await;
        Ok(self.store.find_key_by_hash(&hash).await?.map(Arc::new))
    }

    async fn lookup(&self, hash: KeyHash) -> Result<Option<Arc<KeyRecord>>, StoreError> {
        if let Some(record) = self.known.get(&hash).await {
            return Ok(Some(record));
        }
        if self.unknown.contains_key(&hash) {
            return Ok(None);
        }
        // A change made while a load is in flight must not leave the loaded
        // (possibly older) record behind. The load itself checks for changes
        // during its read, so callers that joined it late are covered; the
        // caller checks again afterwards, for a change between that check and
        // the cache insertion.
        let changes_before = self.changes.load(Ordering::SeqCst);
        let changes = &self.changes;
        let store = Arc::clone(&self.store);
        let found = self
            .known
            .try_get_with(hash, async move {
                let before_read = changes.load(Ordering::SeqCst);
                match store.find_key_by_hash(&hash).await {
                    Ok(Some(_)) if changes.load(Ordering::SeqCst) != before_read => {
                        Err(Lookup::Raced)
                    }
                    Ok(Some(record)) => Ok(Arc::new(record)),
                    Ok(None) => Err(Lookup::Unknown),
                    Err(e) => Err(Lookup::Failed(e.to_string())),
                }
            })
            .await;
        match found {
            Ok(record) if self.changes.load(Ordering::SeqCst) == changes_before => Ok(Some(record)),
            Ok(_) => self.read_uncached(hash).await,
            Err(error) => match error.as_ref() {
                Lookup::Raced => self.read_uncached(hash).await,
                Lookup::Unknown => {
                    self.unknown.insert(hash, ()).await;
                    Ok(None)
                }
                Lookup::Failed(message) => Err(StoreError::Backend(message.clone().into())),
            },
        }
    }
}

#[derive(Debug)]
enum Lookup {
    /// A key changed during the read: the result may predate the change.
    Raced,
    Unknown,
    Failed(String),
}

/// Hashes a [`KeyHash`] by its first eight bytes: it is already a SHA-256,
/// uniform and beyond a caller's control, so hashing it again (SipHash, the
/// default) only costs time on every verification.
#[derive(Debug, Clone, Copy, Default)]
struct Prehashed;

impl std::hash::BuildHasher for Prehashed {
    type Hasher = PrehashedHasher;
    fn build_hasher(&self) -> PrehashedHasher {
        PrehashedHasher(0)
    }
}

#[derive(Debug, Default)]
struct PrehashedHasher(u64);

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

//! The optional local cache of `VALID` verifications, with single-flight (moka).
//!
//! Only `VALID` answers are kept, for at most the TTL and never past the key's own
//! `expires_at`, so a key revoked, disabled or narrowed in Keyward is refused again within the
//! TTL. Answers that carry a rate limit or a quota are not kept: Keyward must count each use.
//! Refusals are never kept, so a key enabled again works on the next request.
//!
//! Concurrent verifications of the same request share one call to Keyward, whether its answer
//! ends up kept or not: moka's `try_get_with` runs one initialisation per entry name and
//! hands its result to every waiter, and an `Err` (here: "answered, but not to keep") is
//! handed out without being stored. Entries are named by a SHA-256 of the key and the
//! request's scopes, origin and address, so the cache holds no key in clear.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use moka::Expiry;
use moka::future::Cache;
use moka::policy::EvictionPolicy;
use sha2::{Digest, Sha256};

use crate::verification::{Code, Verification};
use crate::{Error, VerifyRequest};

/// An entry's name: the SHA-256 of the key and what was asked of it.
pub(crate) type Name = [u8; 32];

/// The name of a verification: never the key itself.
pub(crate) fn name(request: &VerifyRequest) -> Name {
    let mut scopes: Vec<&str> = request.scopes.iter().map(String::as_str).collect();
    scopes.sort_unstable();
    scopes.dedup();
    let mut digest = Sha256::new();
    digest.update(request.key.as_bytes());
    digest.update([0]);
    digest.update(scopes.join(",").as_bytes());
    digest.update([0]);
    digest.update(request.origin.as_deref().unwrap_or_default().as_bytes());
    digest.update([0]);
    digest.update(
        request
            .ip
            .map(|ip| ip.to_string())
            .unwrap_or_default()
            .as_bytes(),
    );
    digest.finalize().into()
}

#[derive(Clone)]
struct Entry {
    answer: Verification,
    ttl: Duration,
}

/// Each entry lives for its own TTL (shorter when its key expires sooner).
struct PerEntry;

impl Expiry<Name, Entry> for PerEntry {
    fn expire_after_create(&self, _: &Name, entry: &Entry, _: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }
}

/// Why a flight's result was not stored; handed to every waiter all the same.
enum NotKept {
    Answer(Box<Verification>),
    Failed(Error),
}

/// Kept `VALID` verifications and the calls in flight.
#[derive(Clone)]
pub(crate) struct VerifyCache {
    ttl: Duration,
    entries: Cache<Name, Entry>,
}

impl std::fmt::Debug for VerifyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyCache")
            .field("ttl", &self.ttl)
            .field("entries", &self.entries.entry_count())
            .finish()
    }
}

impl VerifyCache {
    pub(crate) fn new(ttl: Duration, max_entries: u64) -> Self {
        let entries = Cache::builder()
            .max_capacity(max_entries)
            // The oldest leave first, as the other clients do.
            .eviction_policy(EvictionPolicy::lru())
            .expire_after(PerEntry)
            .build();
        Self { ttl, entries }
    }

    /// The kept answer for `name`, or the answer of `call`, shared with concurrent callers.
    /// A caller handed someone else's answer that carries a rate limit or a quota calls
    /// itself: Keyward must count each use of such a key.
    pub(crate) async fn get_or_verify<F, Fut>(
        &self,
        name: Name,
        call: F,
    ) -> Result<Verification, Error>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Verification, Error>>,
    {
        let ttl = self.ttl;
        let led = std::sync::atomic::AtomicBool::new(false);
        let flight = self
            .entries
            .try_get_with(name, async {
                led.store(true, std::sync::atomic::Ordering::Relaxed);
                let answer = call().await.map_err(NotKept::Failed)?;
                match keep_for(&answer, ttl) {
                    Some(ttl) => Ok(Entry { answer, ttl }),
                    None => Err(NotKept::Answer(Box::new(answer))),
                }
            })
            .await;
        match flight {
            Ok(entry) => Ok(entry.answer),
            Err(not_kept) => match Arc::as_ref(&not_kept) {
                NotKept::Answer(answer)
                    if !led.load(std::sync::atomic::Ordering::Relaxed)
                        && (answer.ratelimit.is_some() || answer.quota.is_some()) =>
                {
                    call().await
                }
                NotKept::Answer(answer) => Ok(Verification::clone(answer)),
                NotKept::Failed(error) => Err(error.clone()),
            },
        }
    }
}

/// How long `answer` may be kept: `None` for refusals, limited keys and expired ones.
fn keep_for(answer: &Verification, ttl: Duration) -> Option<Duration> {
    if !answer.valid
        || answer.code != Code::Valid
        || answer.fail_open
        || answer.ratelimit.is_some()
        || answer.quota.is_some()
    {
        return None;
    }
    let ttl = match answer.expires_at {
        Some(expires_at) => ttl.min((expires_at - Utc::now()).to_std().ok()?),
        None => ttl,
    };
    (!ttl.is_zero()).then_some(ttl)
}

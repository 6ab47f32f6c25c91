//! The node's copy of every key hash storage holds, so that a key nobody
//! stored is answered `NOT_FOUND` without a storage read of its own.
//!
//! The copy keeps the first eight bytes of each hash ([`KeyHash::prefix`]),
//! current and previous secrets alike, and how far through storage's hash
//! clock it was read ([`StoredHashes`]). About 18 bytes per key: 18 MB for
//! a million keys, and about 2.5 times that while a load builds the next
//! copy beside it.
//!
//! - A hash the copy holds may be stored: verification reads storage as
//!   before. (A prefix can be shared; a key can have been purged since.)
//! - A hash the copy lacks may have been stored since the copy was last
//!   brought up to date, by this node, another node or another process. The
//!   copy first reads what was written since, and only a hash still missing
//!   is unknown. That read begins after the verification asked, so a key
//!   stored before it was presented is always found.
//! - A clock that went back (a restore, a failover to a replica that missed
//!   the last writes) may hand out numbers the copy has read through again:
//!   the copy is dropped and loaded again whole. So is a copy the verifier
//!   drops with everything else it caches, when storage comes back after an
//!   outage or announcements between nodes were lost.
//!
//! Verifications that arrive together share one such read: under a flood
//! of keys nobody stored, storage sees one short read per batch instead of
//! one lookup per key.

use crate::key_format::KeyHash;
use crate::store::{Store, StoreError, StoredHashes};
use crate::verify::Prehashed;
use std::collections::HashSet;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The node's copy of the stored hashes (see the module's documentation).
#[derive(Debug, Default)]
pub(crate) struct StoredHashSet {
    /// `None` until the first load.
    copy: RwLock<Option<StoredCopy>>,
    /// One catch-up (or the end of a load) at a time.
    turn: tokio::sync::Mutex<()>,
    /// Catch-ups begun, which numbers them in the order they began.
    begun: AtomicU64,
    /// The number of the last catch-up finished.
    finished: AtomicU64,
    /// The number of the last catch-up that failed.
    failed: AtomicU64,
    /// Told when the copy was dropped and must be loaded again.
    stale: tokio::sync::Notify,
}

#[derive(Debug)]
struct StoredCopy {
    prefixes: HashSet<u64, Prehashed>,
    /// The hash clock number the copy was read through.
    through: u64,
}

impl StoredHashSet {
    /// Whether the copy says `hash` may be stored; `None` before it is loaded.
    pub(crate) fn may_hold(&self, hash: &KeyHash) -> Option<bool> {
        self.read()
            .as_ref()
            .map(|copy| copy.prefixes.contains(&hash.prefix()))
    }

    /// Whether `hash` may be stored, after bringing the copy up to date with
    /// a read of storage that begins after this call.
    pub(crate) async fn may_hold_now(
        &self,
        hash: &KeyHash,
        store: &dyn Store,
    ) -> Result<bool, StoreError> {
        let asked = self.begun.load(Ordering::SeqCst);
        // Let the other verifications ready to run reach this point first,
        // so that they share the next read: reads are inline on SQLite, and
        // without a yield each would run its own before the next arrives.
        tokio::task::yield_now().await;
        let _turn = self.turn.lock().await;
        // Catch-ups are numbered as they begin, under the turn: any number
        // above `asked` began after this verification asked.
        if self.finished.load(Ordering::SeqCst) <= asked {
            // Such a catch-up failed: share its failure rather than queue
            // one more read of a storage that does not answer.
            if self.failed.load(Ordering::SeqCst) > asked {
                return Err(StoreError::Backend(
                    "storage did not answer for the stored key hashes".into(),
                ));
            }
            let number = self.begun.fetch_add(1, Ordering::SeqCst) + 1;
            if let Err(error) = self.catch_up(store).await {
                self.failed.store(number, Ordering::SeqCst);
                return Err(error);
            }
            self.finished.store(number, Ordering::SeqCst);
        }
        // Still under the turn: a load cannot swap the copy meanwhile.
        Ok(self.may_hold(hash).unwrap_or(true))
    }

    /// Reads every stored hash into a fresh copy and puts it in place of the
    /// old one, which also drops the hashes of keys purged since. Returns
    /// how many hashes the copy holds.
    pub(crate) async fn load(&self, store: &dyn Store) -> Result<usize, StoreError> {
        // The long read, outside the turn: verifications go on meanwhile.
        let every = store.stored_hashes(None).await?;
        let mut copy = StoredCopy {
            prefixes: HashSet::with_capacity_and_hasher(every.prefixes.len(), Prehashed),
            through: every.through,
        };
        copy.add(every);
        let _turn = self.turn.lock().await;
        // What was written during the long read.
        let since = store.stored_hashes(Some(copy.through)).await?;
        if since.through < copy.through {
            self.drop_copy();
            return Err(StoreError::Backend(
                "the hash clock went back while the stored key hashes were read".into(),
            ));
        }
        copy.add(since);
        let held = copy.prefixes.len();
        *self.write() = Some(copy);
        Ok(held)
    }

    /// Drops the copy: until it is loaded again, every key not cached is
    /// looked up. The loader is told (see [`StoredHashSet::stale`]).
    pub(crate) fn drop_copy(&self) {
        *self.write() = None;
        self.stale.notify_one();
    }

    /// Completes when the copy was dropped since the last call.
    pub(crate) async fn stale(&self) {
        self.stale.notified().await;
    }

    /// Adds what was written since the copy's clock number. A clock below
    /// it went back (a restore, or a failover to a replica that had not
    /// seen the last writes), and numbers the copy has read through may be
    /// taken again: the copy is dropped, to be loaded again whole.
    async fn catch_up(&self, store: &dyn Store) -> Result<(), StoreError> {
        let Some(through) = self.read().as_ref().map(|copy| copy.through) else {
            return Ok(());
        };
        let since = store.stored_hashes(Some(through)).await?;
        if since.through < through {
            tracing::warn!(
                was = through,
                now = since.through,
                "the hash clock went back; loading the stored key hashes again"
            );
            self.drop_copy();
        } else if since.through != through
            && let Some(copy) = self.write().as_mut()
        {
            copy.add(since);
        }
        Ok(())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Option<StoredCopy>> {
        self.copy
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Option<StoredCopy>> {
        self.copy
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl StoredCopy {
    fn add(&mut self, stored: StoredHashes) {
        self.prefixes.extend(stored.prefixes);
        self.through = stored.through;
    }
}

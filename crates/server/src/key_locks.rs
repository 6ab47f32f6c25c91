//! One change at a time to each key on this node.
//!
//! A change to a key loads it, applies a rule and saves it only if nobody
//! saved it meanwhile (the version check). That check alone lets a steady
//! stream of rotations starve a revoke: every attempt of the revoke finds a
//! newer version than the one it read. Holding the key's lock from the load to
//! the save queues the changes this node makes to one key in arrival order
//! (tokio's mutex is fair), so a revoke waits for the rotations ahead of it and
//! then saves at its first attempt. The version check and its retries still
//! settle the rarer races with other nodes.
//!
//! Each key has a lock of its own, which exists while someone holds or waits
//! for it: changes to one key never wait for changes to another, so no
//! organization can slow another's changes down.

use std::collections::HashMap;
use std::sync::{Arc, Mutex as Held};
use tokio::sync::{Mutex, OwnedMutexGuard};

/// How many locks the map holds before taking one first drops those nobody
/// holds or waits for; after that, twice as many as were left.
const PRUNE_ABOVE: usize = 1024;

/// The locks of the keys being changed on this node, by key id.
#[derive(Debug, Default)]
pub struct KeyLocks {
    held: Held<Locks>,
}

#[derive(Debug, Default)]
struct Locks {
    by_id: HashMap<String, Arc<Mutex<()>>>,
    prune_above: usize,
}

/// A key's lock, held until dropped.
#[derive(Debug)]
pub struct KeyGuard<'a> {
    // Declared first, so released before `claim` looks whether it was the
    // last user of the lock.
    _guard: OwnedMutexGuard<()>,
    _claim: Claim<'a>,
}

/// Someone holding or waiting for a key's lock; the last one removes it from
/// the map.
#[derive(Debug)]
struct Claim<'a> {
    locks: &'a KeyLocks,
    id: String,
    lock: Option<Arc<Mutex<()>>>,
}

impl KeyLocks {
    /// Waits for the lock of the key `id`; other changes to that key wait
    /// until the guard is dropped.
    pub async fn lock(&self, id: &str) -> KeyGuard<'_> {
        let (claim, lock) = self.claim(id);
        KeyGuard {
            _guard: lock.lock_owned().await,
            _claim: claim,
        }
    }

    /// Claims the key's lock: the claim, and a copy of the lock to wait on.
    fn claim(&self, id: &str) -> (Claim<'_>, Arc<Mutex<()>>) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if held.by_id.len() > held.prune_above.max(PRUNE_ABOVE) {
            // Left behind only by a panic between claim and guard; kept
            // rare by pruning again only once the map has doubled.
            held.by_id.retain(|_, lock| Arc::strong_count(lock) > 1);
            held.prune_above = held.by_id.len() * 2;
        }
        let lock = Arc::clone(held.by_id.entry(id.to_owned()).or_default());
        let claim = Claim {
            locks: self,
            id: id.to_owned(),
            lock: Some(Arc::clone(&lock)),
        };
        (claim, lock)
    }

    /// How many keys have a lock (held or waited for), for tests.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .by_id
            .len()
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let mut held = self.locks.held.lock().unwrap_or_else(|e| e.into_inner());
        // Claims are made and dropped under `held`, and the copy each one
        // waited on or held the lock with is gone before it is dropped: when
        // the map's copy is the last, nobody holds or waits for the lock.
        drop(self.lock.take());
        if held
            .by_id
            .get(&self.id)
            .is_some_and(|lock| Arc::strong_count(lock) == 1)
        {
            held.by_id.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_key_is_changed_by_one_request_at_a_time_and_others_are_not_held() {
        let locks = KeyLocks::default();
        let held = locks.lock("key_a").await;
        let same = tokio::time::timeout(Duration::from_millis(50), locks.lock("key_a"));
        assert!(same.await.is_err(), "a second change to the key waited");
        for n in 0..1000 {
            let _other = locks.lock(&format!("key_{n}")).await;
        }
        drop(held);
        let _again = locks.lock("key_a").await;
    }

    #[tokio::test]
    async fn a_lock_nobody_holds_or_waits_for_is_forgotten() {
        let locks = KeyLocks::default();
        let first = locks.lock("key_a").await;
        let (second, ()) = tokio::join!(locks.lock("key_a"), async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            drop(first);
        });
        assert_eq!(locks.len(), 1);
        drop(second);
        assert_eq!(locks.len(), 0);

        // A wait given up on leaves nothing behind either.
        let held = locks.lock("key_b").await;
        let given_up = tokio::time::timeout(Duration::from_millis(20), locks.lock("key_b"));
        assert!(given_up.await.is_err());
        drop(held);
        assert_eq!(locks.len(), 0);
    }
}

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

/// Past this many locks in the map, taking one first drops those nobody
/// holds or waits for (left behind by a request cancelled while waiting).
const PRUNE_ABOVE: usize = 1024;

/// The locks of the keys being changed on this node, by key id.
#[derive(Debug, Default)]
pub struct KeyLocks {
    held: Held<HashMap<String, Arc<Mutex<()>>>>,
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
    lock: Arc<Mutex<()>>,
}

impl KeyLocks {
    /// Waits for the lock of the key `id`; other changes to that key wait
    /// until the guard is dropped.
    pub async fn lock(&self, id: &str) -> KeyGuard<'_> {
        let claim = self.claim(id);
        let guard = Arc::clone(&claim.lock).lock_owned().await;
        KeyGuard {
            _guard: guard,
            _claim: claim,
        }
    }

    fn claim(&self, id: &str) -> Claim<'_> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if held.len() > PRUNE_ABOVE {
            held.retain(|_, lock| Arc::strong_count(lock) > 1);
        }
        let lock = Arc::clone(held.entry(id.to_owned()).or_default());
        Claim {
            locks: self,
            id: id.to_owned(),
            lock,
        }
    }

    /// How many keys have a lock (held or waited for), for tests.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let mut held = self.locks.held.lock().unwrap_or_else(|e| e.into_inner());
        // Clones are only made under `held`: two references (the map's and
        // this one) mean nobody else holds or waits for the lock.
        if Arc::strong_count(&self.lock) <= 2 {
            held.remove(&self.id);
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

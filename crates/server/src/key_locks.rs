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

use std::hash::BuildHasher;
use tokio::sync::{Mutex, MutexGuard};

/// How many locks the keys share. Two keys on one lock only wait for each
/// other's saves, a few milliseconds; 64 makes that rare at any realistic
/// rate of management requests.
const STRIPES: usize = 64;

/// Locks for changing keys, shared by key id.
#[derive(Debug)]
pub struct KeyLocks {
    stripes: Box<[Mutex<()>]>,
    hasher: std::collections::hash_map::RandomState,
}

impl Default for KeyLocks {
    fn default() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }
}

impl KeyLocks {
    /// Waits for the lock of the key `id`; changes to it wait until the guard
    /// is dropped.
    pub async fn lock(&self, id: &str) -> MutexGuard<'_, ()> {
        let stripe = self.hasher.hash_one(id) as usize % self.stripes.len();
        self.stripes[stripe].lock().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_key_is_changed_by_one_request_at_a_time_and_others_are_not_held() {
        let locks = KeyLocks::default();
        let held = locks.lock("key_a").await;
        let same = tokio::time::timeout(std::time::Duration::from_millis(50), locks.lock("key_a"));
        assert!(same.await.is_err(), "a second change to the key waited");
        // Some other key is on another stripe and does not wait.
        let other = (0..STRIPES * 4)
            .map(|n| format!("key_{n}"))
            .find(|id| {
                locks.hasher.hash_one(id.as_str()) % STRIPES as u64
                    != locks.hasher.hash_one("key_a") % STRIPES as u64
            })
            .unwrap();
        let _other = locks.lock(&other).await;
        drop(held);
        let _again = locks.lock("key_a").await;
    }
}

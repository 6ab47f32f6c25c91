//! Password hashing and checking, off the async workers and a few at a time.
//!
//! Argon2id is slow and memory-hungry on purpose (about 19 MiB per hash with
//! the crate's defaults). Run on the blocking pool without a bound, a burst
//! of sign-in attempts could take as many threads and as much memory as it
//! likes; a semaphore sized to the machine's cores keeps it to that many.

use crate::bootstrap;
use crate::error::ApiError;
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// The hashing gate every password goes through.
#[derive(Debug)]
pub struct Passwords {
    permits: Arc<Semaphore>,
}

impl Default for Passwords {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Self {
            permits: Arc::new(Semaphore::new(cores)),
        }
    }
}

impl Passwords {
    /// Hashes `password` with Argon2id and a fresh salt.
    pub async fn hash(&self, password: SecretString) -> Result<String, ApiError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| ApiError::Internal(Box::new(e)))?;
        tokio::task::spawn_blocking(move || bootstrap::hash_password(&password))
            .await
            .map_err(|e| ApiError::Internal(Box::new(e)))?
    }

    /// Whether `password` matches `hash` (an Argon2id PHC string).
    pub async fn verify(&self, hash: String, password: SecretString) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        tokio::task::spawn_blocking(move || {
            bootstrap::verify_password(&hash, password.expose_secret())
        })
        .await
        .unwrap_or(false)
    }
}

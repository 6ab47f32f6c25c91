//! What every handler shares.

use crate::settings::Settings;
use keyward_core::clock::Clock;
use keyward_core::crypto::MasterKey;
use keyward_core::store::Store;
use keyward_core::verify::Verifier;
use std::sync::Arc;

/// Shared application state. Cloning it (axum does, per request) is one
/// reference count, not one per field.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

/// The fields of [`AppState`].
#[derive(Debug)]
pub struct Shared {
    /// Storage.
    pub store: Arc<dyn Store>,
    /// Verification with its caches.
    pub verifier: Arc<Verifier>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Seals publishable keys, shared secrets and idempotent responses.
    pub master_key: MasterKey,
    /// Settings the handlers consult.
    pub settings: Arc<Settings>,
    /// Failed sign-ins.
    pub throttle: crate::session::Throttle,
    /// Password hashing, a few at a time.
    pub passwords: crate::passwords::Passwords,
    /// The one-time first-run link, while there is no organization.
    pub setup: crate::dashboard::setup::SetupLink,
    /// Wakes the webhook worker when this node queued a delivery.
    pub webhook_wake: Arc<tokio::sync::Notify>,
    /// The API's write requests in flight: webhook deliveries yield to them.
    pub writes_in_flight: crate::webhooks::WritesInFlight,
    /// GitHub's secret scanning keys and the limit on public leak reports.
    pub leaks: crate::leaks::Leaks,
    /// Wakes the mail worker when this node queued a message.
    pub mail_wake: Arc<tokio::sync::Notify>,
    /// The address people reach Keyward at, for links in emails.
    pub public_url: String,
    /// Prometheus metrics.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Verification's counts waiting to be written (for metrics).
    pub usage: Arc<keyward_core::usage::UsageRecorder>,
    /// Changes to one key on this node, one at a time.
    pub key_locks: crate::key_locks::KeyLocks,
}

impl AppState {
    /// Wraps the shared fields.
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

//! What every handler shares.

use crate::settings::Settings;
use keyward_core::clock::Clock;
use keyward_core::crypto::MasterKey;
use keyward_core::store::Store;
use keyward_core::verify::Verifier;
use std::sync::Arc;

/// Shared, cheaply cloned application state.
#[derive(Debug, Clone)]
pub struct AppState {
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
}

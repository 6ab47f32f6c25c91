//! `/v1/shared-secret`: reveal (audited) and rotate the organization's
//! shared secret. Needs `org:admin`.

use crate::auth::{Authorized, OrgAdmin};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;
use axum::extract::State;
use chrono::{DateTime, Utc};
use keyward_core::base62;
use keyward_core::crypto::MasterKey;
use keyward_core::id::OrgId;
use serde::{Deserialize, Serialize};

/// The shared secret.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct SharedSecret {
    /// `kwss_` and 40 base62 characters.
    pub shared_secret: String,
    /// When it was last set.
    pub rotated_at: DateTime<Utc>,
}

impl std::fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedSecret")
            .field("rotated_at", &self.rotated_at)
            .finish_non_exhaustive()
    }
}

/// A new shared secret and its sealed form for storage.
pub fn generate(org: &OrgId, master_key: &MasterKey) -> Result<(String, Vec<u8>), ApiError> {
    let secret = format!("kwss_{}", base62::random(40)?);
    let sealed = master_key.seal(secret.as_bytes(), aad(org).as_bytes())?;
    Ok((secret, sealed))
}

fn aad(org: &OrgId) -> String {
    format!("shared-secret:{org}")
}

/// The shared secret sealed in storage, in the clear.
pub fn open(org: &OrgId, master_key: &MasterKey, sealed: &[u8]) -> Result<String, ApiError> {
    let plain = master_key.open(sealed, aad(org).as_bytes())?;
    String::from_utf8(plain).map_err(|e| ApiError::Internal(Box::new(e)))
}

/// Reveals the shared secret; the reveal is audited.
#[utoipa::path(
    get, path = "/v1/shared-secret", tag = "organization", operation_id = "shared_secret_reveal",
    responses((status = 200, body = SharedSecret)),
    security(("root_key" = [])),
)]
pub async fn reveal(
    State(state): State<AppState>,
    principal: Authorized<OrgAdmin>,
) -> Result<ApiJson<SharedSecret>, ApiError> {
    let ctx = principal.audit(state.clock.now());
    let (sealed, rotated_at) = state
        .store
        .reveal_shared_secret(&principal.org_id, &ctx)
        .await?;
    let shared_secret = open(&principal.org_id, &state.master_key, &sealed)?;
    Ok(ApiJson(SharedSecret {
        shared_secret,
        rotated_at,
    }))
}

/// Replaces the shared secret and returns the new one.
#[utoipa::path(
    post, path = "/v1/shared-secret/rotate", tag = "organization", operation_id = "shared_secret_rotate",
    responses((status = 200, body = SharedSecret)),
    security(("root_key" = [])),
)]
pub async fn rotate(
    State(state): State<AppState>,
    principal: Authorized<OrgAdmin>,
) -> Result<ApiJson<SharedSecret>, ApiError> {
    let now = state.clock.now();
    let (shared_secret, sealed) = generate(&principal.org_id, &state.master_key)?;
    state
        .store
        .rotate_shared_secret(
            &principal.org_id,
            &sealed,
            now,
            now + state.settings.webhooks.secret_grace,
            &principal.audit(now),
        )
        .await?;
    Ok(ApiJson(SharedSecret {
        shared_secret,
        rotated_at: now,
    }))
}

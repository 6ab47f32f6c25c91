//! `/v1/policy`: the organization's key policy (key lifetimes, expiry and
//! stale-key notices, what a leak report does). Needs `org:admin`.

use crate::auth::{Authorized, OrgAdmin};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;
use axum::extract::State;
use keyward_core::events;
use keyward_core::org_policy::{KeyPolicy, UpdatePolicy};
use keyward_core::store::StoreError;

/// The organization's key policy.
#[utoipa::path(
    get, path = "/v1/policy", tag = "organization", operation_id = "policy_get",
    responses((status = 200, body = KeyPolicy)),
    security(("root_key" = [])),
)]
pub async fn get(
    State(state): State<AppState>,
    principal: Authorized<OrgAdmin>,
) -> Result<ApiJson<KeyPolicy>, ApiError> {
    Ok(ApiJson(state.store.get_policy(&principal.org_id).await?))
}

/// Changes the key policy; fields left out stay as they are. Audited as
/// `policy.updated`.
#[utoipa::path(
    patch, path = "/v1/policy", tag = "organization", operation_id = "policy_update",
    request_body = UpdatePolicy,
    responses((status = 200, body = KeyPolicy)),
    security(("root_key" = [])),
)]
pub async fn update(
    State(state): State<AppState>,
    principal: Authorized<OrgAdmin>,
    ApiJson(input): ApiJson<UpdatePolicy>,
) -> Result<ApiJson<KeyPolicy>, ApiError> {
    // The fields named apply to the policy as stored when it is saved: a
    // concurrent change of other fields is read again, never undone.
    for _ in 0..10 {
        let before = state.store.get_policy(&principal.org_id).await?;
        let after = before.updated(input.clone())?;
        let event = events::policy_updated(&principal.org_id, &before, &after);
        if event.changes.is_empty() {
            return Ok(ApiJson(before));
        }
        let now = state.clock.now();
        match state
            .store
            .update_policy(
                &principal.org_id,
                &before,
                &after,
                &principal.audit(now),
                event,
            )
            .await
        {
            Err(StoreError::Changed) => {}
            outcome => return outcome.map(|()| ApiJson(after)).map_err(ApiError::from),
        }
    }
    Err(ApiError::Changed)
}

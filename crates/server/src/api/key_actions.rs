//! `/v1/keys/{id}/…`: regenerate, disable, enable, revoke and archive.
//!
//! Each action takes the key's lock on this node, loads the key, applies the
//! domain rule, saves the record and its audit event in one transaction
//! (refusing if another node changed the key meanwhile), then drops the key
//! from the verification cache so the very next verification on this node
//! sees the change.

use super::views::KeyView;
use super::{load_key, project_of};
use crate::auth::{Authorized, KeysRevoke, KeysWrite, Principal};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, OptionalJson};
use crate::key_locks::KeyGuard;
use crate::state::AppState;
use axum::extract::State;
use keyward_core::audit::{self, NewEvent};
use keyward_core::events::key_target;
use keyward_core::fields::{not_null, optional_whole};
use keyward_core::keys::{self, audit_view};
use keyward_core::model::KeyRecord;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// Body of `POST /v1/keys/{id}/regenerate`.
#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegenerateKey {
    /// How long the old secret keeps working (answering `deprecated: true`); 0 or absent stops it at once. At most 30 days.
    #[serde(default, deserialize_with = "optional_whole")]
    #[schema(nullable = false, maximum = 2_592_000)]
    pub grace_period_seconds: Option<u64>,
}

/// Body of `POST /v1/keys/{id}/revoke`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeKey {
    /// Why, for the audit log and the key's record.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub reason: Option<String>,
}

/// Saves `after` over `before` with its audit event, and forgets both in the
/// verification cache.
pub(super) async fn save(
    state: &AppState,
    principal: &Principal,
    before: &KeyRecord,
    after: &KeyRecord,
    action: &str,
    changes: Map<String, Value>,
) -> Result<(), ApiError> {
    let event = NewEvent {
        action: action.to_owned(),
        target: key_target(after),
        changes,
    };
    let result = state
        .store
        .update_key(
            after,
            before.version,
            &principal.audit(after.updated_at),
            event,
        )
        .await;
    state.verifier.forget(before);
    state.verifier.forget(after);
    result?;
    tracing::info!(key = %after.id, org = %after.org_id, action, "key changed");
    Ok(())
}

/// Loads the key for a change the principal may make, holding the key's lock
/// on this node (see [`crate::key_locks`]); the change is saved before the
/// guard is dropped. Only a key of the principal's organization is locked.
pub(super) async fn load_for_change<'s>(
    state: &'s AppState,
    principal: &Principal,
    id: &str,
) -> Result<(KeyGuard<'s>, KeyRecord), ApiError> {
    let found = load_key(state, principal, id).await?;
    let guard = state.key_locks.lock(found.id.as_str()).await;
    // Read again under the lock: the change ahead may have saved meanwhile.
    let record = load_key(state, principal, id).await?;
    if record.root {
        principal.require("org:admin")?;
        principal.require_covers(&record.scopes)?;
    }
    Ok((guard, record))
}

/// Gives the key a new secret, returned once in `key`.
#[utoipa::path(
    post, path = "/v1/keys/{id}/regenerate", tag = "keys", operation_id = "keys_regenerate",
    params(("id" = String, Path, description = "Key id")),
    request_body(content = Option<RegenerateKey>, description = "Optional; no body regenerates without a grace period"),
    responses((status = 200, description = "The key with its new `key`", body = KeyView), (status = 409, description = "`invalid_state`: the key is revoked or archived")),
    security(("root_key" = [])),
)]
pub async fn regenerate(
    State(state): State<AppState>,
    principal: Authorized<KeysWrite>,
    ApiPath(id): ApiPath<String>,
    OptionalJson(input): OptionalJson<RegenerateKey>,
) -> Result<ApiJson<KeyView>, ApiError> {
    let (_locked, before) = load_for_change(&state, &principal, &id).await?;
    let project = project_of(&state, &before).await?;
    let now = state.clock.now();
    let grace = input.grace_period_seconds.unwrap_or(0);
    let mut after = before.clone();
    let key = keys::regenerate(&mut after, &project, grace, &state.master_key, now)?;
    let mut changes = audit::diff(&audit_view(&before), &audit_view(&after));
    changes.insert(
        "secret".to_owned(),
        json!({"before": "[redacted]", "after": "[redacted, regenerated]"}),
    );
    changes.insert(
        "grace_period_seconds".to_owned(),
        json!({"before": null, "after": grace}),
    );
    save(
        &state,
        &principal,
        &before,
        &after,
        "key.regenerated",
        changes,
    )
    .await?;
    Ok(ApiJson(
        KeyView::new(&after, &project.apis, now).with_key(key.expose()),
    ))
}

/// Disables the key: verification answers `DISABLED` until it is enabled.
#[utoipa::path(
    post, path = "/v1/keys/{id}/disable", tag = "keys", operation_id = "keys_disable",
    params(("id" = String, Path, description = "Key id")),
    responses((status = 200, body = KeyView), (status = 409, description = "`invalid_state`: the key is revoked or archived")),
    security(("root_key" = [])),
)]
pub async fn disable(
    state: State<AppState>,
    principal: Authorized<KeysWrite>,
    id: ApiPath<String>,
) -> Result<ApiJson<KeyView>, ApiError> {
    set_enabled(state, principal, id, false).await
}

/// Enables a disabled key.
#[utoipa::path(
    post, path = "/v1/keys/{id}/enable", tag = "keys", operation_id = "keys_enable",
    params(("id" = String, Path, description = "Key id")),
    responses((status = 200, body = KeyView), (status = 409, description = "`invalid_state`: the key is revoked or archived")),
    security(("root_key" = [])),
)]
pub async fn enable(
    state: State<AppState>,
    principal: Authorized<KeysWrite>,
    id: ApiPath<String>,
) -> Result<ApiJson<KeyView>, ApiError> {
    set_enabled(state, principal, id, true).await
}

async fn set_enabled(
    State(state): State<AppState>,
    principal: Authorized<KeysWrite>,
    ApiPath(id): ApiPath<String>,
    enabled: bool,
) -> Result<ApiJson<KeyView>, ApiError> {
    let mut attempts = Attempts::default();
    loop {
        match set_enabled_once(&state, &principal, &id, enabled).await {
            Err(ApiError::Changed) if attempts.again() => {}
            outcome => return outcome,
        }
    }
}

async fn set_enabled_once(
    state: &AppState,
    principal: &Principal,
    id: &str,
    enabled: bool,
) -> Result<ApiJson<KeyView>, ApiError> {
    let (_locked, before) = load_for_change(state, principal, id).await?;
    let project = project_of(state, &before).await?;
    let now = state.clock.now();
    let mut after = before.clone();
    keys::set_enabled(&mut after, enabled, now)?;
    if before.enabled == enabled {
        return Ok(ApiJson(KeyView::new(&before, &project.apis, now)));
    }
    let action = if enabled {
        "key.enabled"
    } else {
        "key.disabled"
    };
    let changes = audit::diff(&audit_view(&before), &audit_view(&after));
    save(state, principal, &before, &after, action, changes).await?;
    Ok(ApiJson(KeyView::new(&after, &project.apis, now)))
}

/// Counts the attempts of an action that loads, changes and saves a key,
/// done again for as long as it fails only because another request changed
/// the key between its load and its save. Revoking, disabling or archiving
/// during an incident must not fail because someone rotated the key at the
/// same moment; each attempt saves its event with its change or not at all,
/// so the audit log stays in order, and a key already revoked or archived
/// ends the loop with the domain's own answer.
#[derive(Debug)]
struct Attempts(usize);

impl Default for Attempts {
    /// Each attempt reads the newer version, so the loop ends as soon as no
    /// write slips in between; the bound only guards against a key
    /// rewritten without pause.
    fn default() -> Self {
        Self(100)
    }
}

impl Attempts {
    fn again(&mut self) -> bool {
        self.0 -= 1;
        self.0 > 0
    }
}

/// Revokes the key for good: verification answers `REVOKED` from now on.
#[utoipa::path(
    post, path = "/v1/keys/{id}/revoke", tag = "keys", operation_id = "keys_revoke",
    params(("id" = String, Path, description = "Key id")),
    request_body(content = Option<RevokeKey>, description = "Optional"),
    responses((status = 200, body = KeyView), (status = 409, description = "`invalid_state`: the key is revoked or archived")),
    security(("root_key" = [])),
)]
pub async fn revoke(
    State(state): State<AppState>,
    principal: Authorized<KeysRevoke>,
    ApiPath(id): ApiPath<String>,
    OptionalJson(input): OptionalJson<RevokeKey>,
) -> Result<ApiJson<KeyView>, ApiError> {
    let mut attempts = Attempts::default();
    loop {
        match revoke_once(&state, &principal, &id, input.reason.clone()).await {
            Err(ApiError::Changed) if attempts.again() => {}
            outcome => return outcome,
        }
    }
}

async fn revoke_once(
    state: &AppState,
    principal: &Principal,
    id: &str,
    reason: Option<String>,
) -> Result<ApiJson<KeyView>, ApiError> {
    let (_locked, before) = load_for_change(state, principal, id).await?;
    let project = project_of(state, &before).await?;
    let now = state.clock.now();
    let mut after = before.clone();
    keys::revoke(&mut after, reason, now)?;
    let changes = audit::diff(&audit_view(&before), &audit_view(&after));
    save(state, principal, &before, &after, "key.revoked", changes).await?;
    Ok(ApiJson(KeyView::new(&after, &project.apis, now)))
}

/// Archives the key for good. The organization keeps its most recent
/// `archived_keep` archived keys; older ones are purged (their events stay).
#[utoipa::path(
    post, path = "/v1/keys/{id}/archive", tag = "keys", operation_id = "keys_archive",
    params(("id" = String, Path, description = "Key id")),
    responses((status = 200, body = KeyView), (status = 409, description = "`invalid_state`: the key is already archived")),
    security(("root_key" = [])),
)]
pub async fn archive(
    State(state): State<AppState>,
    principal: Authorized<KeysWrite>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<KeyView>, ApiError> {
    let mut attempts = Attempts::default();
    loop {
        match archive_once(&state, &principal, &id).await {
            Err(ApiError::Changed) if attempts.again() => {}
            outcome => return outcome,
        }
    }
}

async fn archive_once(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<ApiJson<KeyView>, ApiError> {
    let (_locked, before) = load_for_change(state, principal, id).await?;
    let project = project_of(state, &before).await?;
    let now = state.clock.now();
    let mut after = before.clone();
    keys::archive(&mut after, now)?;
    let event = NewEvent {
        action: "key.archived".to_owned(),
        target: key_target(&after),
        changes: audit::diff(&audit_view(&before), &audit_view(&after)),
    };
    let keep = state.settings.archived_keep;
    let result = state
        .store
        .archive_key(&after, before.version, keep, &principal.audit(now), event)
        .await;
    state.verifier.forget(&before);
    let purged = result?;
    state.verifier.forget_counters(&after.id);
    for old in &purged {
        state.verifier.forget(old);
        state.verifier.forget_counters(&old.id);
    }
    tracing::info!(key = %after.id, org = %after.org_id, purged = purged.len(), "key archived");
    Ok(ApiJson(KeyView::new(&after, &project.apis, now)))
}

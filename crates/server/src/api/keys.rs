//! `/v1/keys`: create (idempotent), list, read and update keys.

use super::views::{KeyView, Page};
use super::{load_key, project_of};
use crate::auth::{Authorized, KeysRead, KeysWrite, Principal};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, json_bytes, parse_json};
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyward_core::audit::{self, ActorType};
use keyward_core::id::{KeyId, ProjectId};
use keyward_core::key_format::KeyType;
use keyward_core::keys::{self, CreateKey, UpdateKey, audit_view};
use keyward_core::model::{KeyStatus, Project};
use keyward_core::store::{
    CursorValue, IdempotentResponse, KeyCursor, KeyQuery, KeySort, StoreError,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 100;
const IDEMPOTENCY_HEADER: &str = "idempotency-key";
/// How long a response is kept for replay (it holds the sealed full key).
const IDEMPOTENCY_HOURS: i64 = 24;

/// Creates a key and returns it with the full `key`, shown this once.
///
/// With an `Idempotency-Key` header, repeating the same request returns the
/// same response and creates nothing; reusing the header with another body
/// answers 409.
#[utoipa::path(
    post, path = "/v1/keys", tag = "keys", operation_id = "keys_create",
    request_body = CreateKey,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: at most 255 printable ASCII characters")),
    responses(
        (status = 201, description = "Created; `key` holds the full key", body = KeyView),
        (status = 400, description = "`invalid_idempotency_key`: `Idempotency-Key` is not 1 to 255 printable ASCII characters."),
        (status = 409, description = "`idempotency_key_reused`: this `Idempotency-Key` came with another body"),
    ),
    security(("root_key" = [])),
)]
pub async fn create(
    State(state): State<AppState>,
    principal: Authorized<KeysWrite>,
    request: Request,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    // Idempotency keys belong to the root key that sent them: another caller
    // reusing one never sees the response (and the key) it produced.
    let idempotency_key =
        idempotency_key(request.headers())?.map(|key| format!("{}:{key}", principal.actor_id));
    let body = json_bytes(request, &state).await?;
    let request_hash = canonical_hash(&body);
    if let Some(key) = &idempotency_key
        && let Some(stored) = state.store.get_idempotent(&principal.org_id, key).await?
        && stored.expires_at > now
    {
        return replay(&state, &stored, &request_hash);
    }
    let input: CreateKey = parse_json(&body)?;
    let project = resolve_project(&state, &principal, input.project_id.as_deref()).await?;
    if project.management {
        principal.require("org:admin")?;
    }
    let created_by = principal.actor_id.to_string();
    let mut new = keys::create(
        input,
        &principal.org_id,
        &project,
        created_by,
        &state.master_key,
        now,
    )?;
    let policy = state.store.get_policy(&principal.org_id).await?;
    new.record.expires_at = policy.limit_expiry("expires_at", new.record.expires_at, now)?;
    if new.record.root {
        principal.require_covers(&new.record.scopes)?;
    }
    let view = KeyView::new(&new.record, &project.apis, now).with_key(new.key.expose());
    let response_body = serde_json::to_vec(&view).map_err(|e| ApiError::Internal(Box::new(e)))?;
    let stored = match &idempotency_key {
        Some(key) => Some(IdempotentResponse {
            org_id: principal.org_id.clone(),
            key: key.clone(),
            request_hash,
            status: StatusCode::CREATED.as_u16(),
            sealed_body: state
                .master_key
                .seal(&response_body, &replay_aad(&principal, key))?,
            created_at: now,
            expires_at: now + chrono::Duration::hours(IDEMPOTENCY_HOURS),
        }),
        None => None,
    };
    let event = keyward_core::events::key_created(&new.record);
    match state
        .store
        .insert_key(&new.record, stored.as_ref(), &principal.audit(now), event)
        .await
    {
        Ok(()) => {}
        // Another request with the same idempotency key won the race: answer as it did.
        Err(StoreError::Conflict(_)) if stored.is_some() => {
            let key = idempotency_key.unwrap_or_default();
            let winner = state
                .store
                .get_idempotent(&principal.org_id, &key)
                .await?
                .ok_or(ApiError::NotFound)?;
            let hash = stored.map(|s| s.request_hash).unwrap_or_default();
            return replay(&state, &winner, &hash);
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(key = %new.record.id, org = %principal.org_id, "key created");
    Ok(json_response(StatusCode::CREATED, response_body, false))
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_HEADER) else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(s) if !s.is_empty() && s.len() <= 255 && s.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(s.to_owned()))
        }
        _ => Err(ApiError::BadRequest {
            code: "invalid_idempotency_key",
            detail: "Idempotency-Key must be 1 to 255 printable ASCII characters".to_owned(),
            errors: Vec::new(),
        }),
    }
}

/// SHA-256 of the body with object keys sorted, so that formatting and key
/// order do not make the same request look different.
fn canonical_hash(body: &[u8]) -> String {
    let canonical = serde_json::from_slice::<serde_json::Value>(body)
        .map(|v| v.to_string().into_bytes())
        .unwrap_or_else(|_| body.to_vec());
    Sha256::digest(&canonical)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn replay_aad(principal: &Principal, key: &str) -> Vec<u8> {
    format!("idempotency:{}:{key}", principal.org_id).into_bytes()
}

fn replay(
    state: &AppState,
    stored: &IdempotentResponse,
    request_hash: &str,
) -> Result<Response, ApiError> {
    if stored.request_hash != request_hash {
        return Err(ApiError::Conflict {
            code: "idempotency_key_reused",
            detail: "this Idempotency-Key was already used with a different request".to_owned(),
        });
    }
    let aad = format!("idempotency:{}:{}", stored.org_id, stored.key).into_bytes();
    let body = state.master_key.open(&stored.sealed_body, &aad)?;
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    Ok(json_response(status, body, true))
}

fn json_response(status: StatusCode, body: Vec<u8>, replayed: bool) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

/// The named project, or the organization's default project.
async fn resolve_project(
    state: &AppState,
    principal: &Principal,
    id: Option<&str>,
) -> Result<Project, ApiError> {
    let no_such = || ApiError::field("project_id", "no such project");
    match id {
        Some(id) => {
            let id = ProjectId::parse(id).map_err(|_| no_such())?;
            state
                .store
                .get_project(&principal.org_id, &id)
                .await?
                .ok_or_else(no_such)
        }
        None => {
            let org = state
                .store
                .get_organization(&principal.org_id)
                .await?
                .ok_or(ApiError::Unauthorized)?;
            state
                .store
                .get_project(&principal.org_id, &org.default_project_id)
                .await?
                .ok_or_else(no_such)
        }
    }
}

/// Query of `GET /v1/keys`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `active`, `disabled`, `expired`, `revoked` or `archived`; without it, every key not archived.
    #[param(value_type = Option<KeyStatus>)]
    status: Option<String>,
    /// Only this project's keys; name the management project to list root keys.
    project_id: Option<String>,
    /// `secret` or `publishable`.
    #[serde(rename = "type")]
    #[param(rename = "type", value_type = Option<KeyType>)]
    key_type: Option<String>,
    /// Case-insensitive search in name and description.
    q: Option<String>,
    /// Only keys last used before this instant (RFC 3339); keys never used
    /// are not among them.
    last_used_before: Option<String>,
    /// Only keys that expire before this instant (RFC 3339).
    expires_before: Option<String>,
    /// `created_at`, `-created_at` (default), `scope`, `-scope`, `last_used_at`,
    /// `-last_used_at`, `expires_at` (soonest first, never last), `name`.
    sort: Option<String>,
    /// Page size, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct CursorToken {
    sort: String,
    #[serde(flatten)]
    at: KeyCursor,
}

/// Lists keys with filters, sorting and cursor pagination.
#[utoipa::path(
    get, path = "/v1/keys", tag = "keys", operation_id = "keys_list",
    params(ListQuery),
    responses((status = 200, body = Page<KeyView>)),
    security(("root_key" = [])),
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Authorized<KeysRead>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<ApiJson<Page<KeyView>>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest {
        code: "invalid_query",
        detail: e.body_text(),
        errors: Vec::new(),
    })?;
    let now = state.clock.now();
    let projects: HashMap<ProjectId, Project> = state
        .store
        .list_projects(&principal.org_id)
        .await?
        .into_iter()
        .map(|p| (p.id.clone(), p))
        .collect();
    let mut errors = Vec::new();
    let mut invalid = |field: &str, message: &str| {
        errors.push(keyward_core::error::FieldError {
            field: field.to_owned(),
            message: message.to_owned(),
        });
    };
    let status = query.status.as_deref().map(|s| {
        KeyStatus::from_name(s).ok_or(()).map_err(|()| {
            invalid(
                "status",
                "one of active, disabled, expired, revoked, archived",
            )
        })
    });
    let key_type = query.key_type.as_deref().map(|t| {
        KeyType::from_name(t)
            .ok_or(())
            .map_err(|()| invalid("type", "one of secret, publishable"))
    });
    if query.q.as_deref().is_some_and(|q| !keys::is_plain_text(q)) {
        invalid("q", "must not contain control characters");
    }
    let mut instant = |field: &str, value: Option<&str>| {
        value.and_then(|s| {
            keyward_core::fields::parse_timestamp(s)
                .map_err(|message| invalid(field, &message))
                .ok()
        })
    };
    let last_used_before = instant("last_used_before", query.last_used_before.as_deref());
    let expires_before = instant("expires_before", query.expires_before.as_deref());
    let sort_name = query
        .sort
        .clone()
        .unwrap_or_else(|| "-created_at".to_owned());
    let sort = KeySort::parse(&sort_name);
    if sort.is_none() {
        invalid(
            "sort",
            "one of created_at, -created_at, scope, -scope, last_used_at, -last_used_at, expires_at, \
             name",
        );
    }
    let project_id = query.project_id.as_deref().map(|id| {
        ProjectId::parse(id)
            .ok()
            .filter(|id| projects.contains_key(id))
    });
    if matches!(project_id, Some(None)) {
        invalid("project_id", "no such project");
    }
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        invalid("limit", "between 1 and 100");
    }
    let after = query
        .cursor
        .as_deref()
        .map(|c| decode_cursor(c).filter(|t| t.sort == sort_name));
    if matches!(after, Some(None)) {
        invalid(
            "cursor",
            "not a cursor of this listing; start again without one",
        );
    }
    let status = status.and_then(Result::ok);
    let key_type = key_type.and_then(Result::ok);
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let project_id = project_id.flatten();
    let include_root = project_id
        .as_ref()
        .and_then(|id| projects.get(id))
        .is_some_and(|p| p.management)
        && (principal.kind == ActorType::RootKey || principal.holds("org:admin"));
    let key_query = KeyQuery {
        status,
        key_type,
        project_id,
        include_root,
        // A `member` sees the keys they created, and no one else's.
        created_by: principal
            .own_keys_only()
            .then(|| principal.actor_id.clone()),
        q: query.q.filter(|q| !q.trim().is_empty()),
        last_used_before,
        expires_before,
        sort: sort.unwrap_or(KeySort::CreatedDesc),
        after: after.flatten().map(|t| t.at),
        limit,
        now,
    };
    let mut rows = state.store.list_keys(&principal.org_id, &key_query).await?;
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last()
            .map(|last| encode_cursor(&sort_name, key_query.sort, last))
    } else {
        None
    };
    let no_apis = Vec::new();
    let data = rows
        .iter()
        .map(|r| {
            KeyView::new(
                r,
                projects.get(&r.project_id).map_or(&no_apis, |p| &p.apis),
                now,
            )
        })
        .collect();
    Ok(ApiJson(Page { data, next_cursor }))
}

fn encode_cursor(sort_name: &str, sort: KeySort, last: &keyward_core::model::KeyRecord) -> String {
    let value = match sort {
        KeySort::CreatedAsc | KeySort::CreatedDesc => {
            CursorValue::Int(last.created_at.timestamp_micros())
        }
        KeySort::LastUsedAsc | KeySort::LastUsedDesc => {
            CursorValue::Int(last.last_used_at.map_or(-1, |t| t.timestamp_micros()))
        }
        KeySort::ScopeAsc | KeySort::ScopeDesc => CursorValue::Text(last.scope_sort_key()),
        KeySort::ExpiresAsc => {
            CursorValue::Int(last.expires_at.map_or(i64::MAX, |t| t.timestamp_micros()))
        }
        KeySort::Name => CursorValue::Text(last.name.clone()),
    };
    let token = CursorToken {
        sort: sort_name.to_owned(),
        at: KeyCursor {
            value,
            id: last.id.to_string(),
        },
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&token).unwrap_or_default())
}

fn decode_cursor(cursor: &str) -> Option<CursorToken> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let token: CursorToken = serde_json::from_slice(&bytes).ok()?;
    // Only what this server wrote: a key id, and text without control characters.
    let plain = match &token.at.value {
        CursorValue::Text(text) => keys::is_plain_text(text),
        CursorValue::Int(_) => true,
    };
    (KeyId::parse(&token.at.id).is_ok() && plain).then_some(token)
}

/// Reads one key; publishable keys include the full `key`.
#[utoipa::path(
    get, path = "/v1/keys/{id}", tag = "keys", operation_id = "keys_get",
    params(("id" = String, Path, description = "Key id")),
    responses((status = 200, body = KeyView)),
    security(("root_key" = [])),
)]
pub async fn get(
    State(state): State<AppState>,
    principal: Authorized<KeysRead>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<KeyView>, ApiError> {
    let record = load_key(&state, &principal, &id).await?;
    let project = project_of(&state, &record).await?;
    let mut view = KeyView::new(&record, &project.apis, state.clock.now());
    if let Some(key) = keys::unseal(&record, &state.master_key)? {
        view = view.with_key(key.expose());
    }
    Ok(ApiJson(view))
}

/// Updates a key's name, description, scopes, restrictions, expiry, meta or
/// `enabled`; never its secret.
#[utoipa::path(
    patch, path = "/v1/keys/{id}", tag = "keys", operation_id = "keys_update",
    params(("id" = String, Path, description = "Key id")),
    request_body = UpdateKey,
    responses((status = 200, body = KeyView), (status = 409, description = "`invalid_state` (the key is revoked or archived) or `conflict` (changed meanwhile)")),
    security(("root_key" = [])),
)]
pub async fn update(
    State(state): State<AppState>,
    principal: Authorized<KeysWrite>,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<UpdateKey>,
) -> Result<ApiJson<KeyView>, ApiError> {
    let (_locked, before) = super::key_actions::load_for_change(&state, &principal, &id).await?;
    let project = project_of(&state, &before).await?;
    let now = state.clock.now();
    let mut after = before.clone();
    keys::update(&mut after, input, &project.apis, now)?;
    if after.expires_at != before.expires_at {
        let policy = state.store.get_policy(&principal.org_id).await?;
        policy.check_new_expiry(after.expires_at, now)?;
    }
    if after.root {
        principal.require_covers(&after.scopes)?;
    }
    let changes = audit::diff(&audit_view(&before), &audit_view(&after));
    if changes.is_empty() {
        return Ok(ApiJson(KeyView::new(&before, &project.apis, now)));
    }
    let action = match changes
        .keys()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["enabled"] if after.enabled => "key.enabled",
        ["enabled"] => "key.disabled",
        _ => "key.updated",
    };
    super::key_actions::save(&state, &principal, &before, &after, action, changes).await?;
    Ok(ApiJson(KeyView::new(&after, &project.apis, now)))
}

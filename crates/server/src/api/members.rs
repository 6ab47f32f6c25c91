//! `/v1/members`: the people who sign in to the dashboard, and their roles.
//!
//! Owners and admins manage members; admins cannot add, change or remove
//! owners, nor make anyone an owner. A new member gets a temporary password,
//! returned once, which they must replace at their first sign-in. Removing a
//! member disables (never deletes) the keys they created.

use super::views::Page;
use crate::auth::{Authorized, MembersWrite, Principal};
use crate::bootstrap::validate_email;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use keyward_core::base62;
use keyward_core::error::Validation;
use keyward_core::events;
use keyward_core::fields::not_null;
use keyward_core::id::MemberId;
use keyward_core::keys::validate_name;
use keyward_core::model::{Member, MemberRole};
use keyward_core::store::{LAST_OWNER, StoreError};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Length of generated temporary passwords (base62, about 143 bits).
const TEMPORARY_PASSWORD_LEN: usize = 24;

/// The member object. Never the password or its hash.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MemberView {
    /// `mem_…`.
    pub id: String,
    /// Sign-in email.
    pub email: String,
    /// Display name.
    pub name: String,
    /// `owner`, `admin`, `support`, `analytics` or `member`.
    pub role: MemberRole,
    /// True until the member replaced a temporary password.
    pub must_change_password: bool,
    /// When the member was added.
    pub created_at: DateTime<Utc>,
}

impl From<&Member> for MemberView {
    fn from(m: &Member) -> Self {
        Self {
            id: m.id.to_string(),
            email: m.email.clone(),
            name: m.name.clone(),
            role: m.role,
            must_change_password: m.must_change_password,
            created_at: m.created_at,
        }
    }
}

/// A new member and the temporary password they sign in with, shown once.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedMember {
    /// The member.
    pub member: MemberView,
    /// Sign-in password to hand over; it must be changed at first sign-in.
    pub temporary_password: String,
}

impl std::fmt::Debug for CreatedMember {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedMember")
            .field("member", &self.member)
            .finish_non_exhaustive()
    }
}

/// Body of `POST /v1/members`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMember {
    /// Sign-in email, unique in the organization.
    pub email: String,
    /// Display name; the email when left out.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub name: Option<String>,
    /// The member's role.
    pub role: MemberRole,
}

/// Body of `PATCH /v1/members/{id}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMember {
    /// New display name.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub name: Option<String>,
    /// New role.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub role: Option<MemberRole>,
}

/// What removing a member did.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RemovedMember {
    /// The member's id.
    pub id: String,
    /// The keys they created that are now disabled.
    pub disabled_keys: Vec<String>,
}

/// Only owners touch owners. Root keys count as admins here: admins manage
/// root keys, so a root key that could mint owners would let an admin
/// become one.
fn require_may_manage(principal: &Principal, role: MemberRole) -> Result<(), ApiError> {
    if role == MemberRole::Owner && principal.role != Some(MemberRole::Owner) {
        return Err(ApiError::Forbidden {
            code: "owner_required",
            detail: "only owners can add, change or remove owners".to_owned(),
        });
    }
    Ok(())
}

async fn load(state: &AppState, principal: &Principal, id: &str) -> Result<Member, ApiError> {
    let id = MemberId::parse(id).map_err(|_| ApiError::NotFound)?;
    state
        .store
        .get_member(&principal.org_id, &id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// A fresh temporary password.
pub fn temporary_password() -> Result<SecretString, ApiError> {
    Ok(SecretString::from(base62::random(TEMPORARY_PASSWORD_LEN)?))
}

/// Lists the organization's members.
#[utoipa::path(
    get, path = "/v1/members", tag = "members", operation_id = "members_list",
    responses((status = 200, body = Page<MemberView>)),
    security(("root_key" = [])),
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Authorized<MembersWrite>,
) -> Result<ApiJson<Page<MemberView>>, ApiError> {
    let members = state.store.list_members(&principal.org_id).await?;
    Ok(ApiJson(Page {
        data: members.iter().map(MemberView::from).collect(),
        next_cursor: None,
    }))
}

/// Adds a member with a temporary password, returned this once.
#[utoipa::path(
    post, path = "/v1/members", tag = "members", operation_id = "members_create",
    request_body = CreateMember,
    responses((status = 201, body = CreatedMember), (status = 409, description = "`conflict`: a member already has this email")),
    security(("root_key" = [])),
)]
pub async fn create(
    State(state): State<AppState>,
    principal: Authorized<MembersWrite>,
    ApiJson(input): ApiJson<CreateMember>,
) -> Result<(StatusCode, ApiJson<CreatedMember>), ApiError> {
    let mut v = Validation::default();
    let email = v.check("email", validate_email(&input.email));
    let name = match input.name.as_deref().map(str::trim) {
        Some(name) if !name.is_empty() => v.check("name", validate_name(name)),
        _ => email.clone(),
    };
    v.finish()?;
    let (Some(email), Some(name)) = (email, name) else {
        return Err(ApiError::Invalid(Vec::new()));
    };
    require_may_manage(&principal, input.role)?;
    let password = temporary_password()?;
    let password_hash = state.passwords.hash(password.clone()).await?;
    let now = state.clock.now();
    let member = Member {
        id: MemberId::generate()?,
        org_id: principal.org_id.clone(),
        email,
        name,
        role: input.role,
        password_hash,
        created_at: now,
        must_change_password: true,
    };
    state
        .store
        .insert_member(
            &member,
            &principal.audit(now),
            events::member_added(&member),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(CreatedMember {
            member: MemberView::from(&member),
            temporary_password: password.expose_secret().to_owned(),
        }),
    ))
}

/// Changes a member's name or role.
#[utoipa::path(
    patch, path = "/v1/members/{id}", tag = "members", operation_id = "members_update",
    params(("id" = String, Path, description = "Member id")),
    request_body = UpdateMember,
    responses((status = 200, body = MemberView), (status = 409, description = "`last_owner`: the organization would have no owner left")),
    security(("root_key" = [])),
)]
pub async fn update(
    State(state): State<AppState>,
    principal: Authorized<MembersWrite>,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<UpdateMember>,
) -> Result<ApiJson<MemberView>, ApiError> {
    let before = load(&state, &principal, &id).await?;
    require_may_manage(&principal, before.role)?;
    let mut after = before.clone();
    let mut v = Validation::default();
    if let Some(name) = input.name
        && let Some(name) = v.check("name", validate_name(&name))
    {
        after.name = name;
    }
    v.finish()?;
    if let Some(role) = input.role {
        require_may_manage(&principal, role)?;
        after.role = role;
    }
    let event = events::member_updated(&before, &after);
    if event.changes.is_empty() {
        return Ok(ApiJson(MemberView::from(&before)));
    }
    let now = state.clock.now();
    state
        .store
        .update_member(&after, &principal.audit(now), event)
        .await
        .map_err(last_owner)?;
    Ok(ApiJson(MemberView::from(&after)))
}

/// Removes a member. Their sessions end and the keys they created are
/// disabled, not deleted; the `member.removed` event names those keys.
#[utoipa::path(
    delete, path = "/v1/members/{id}", tag = "members", operation_id = "members_remove",
    params(("id" = String, Path, description = "Member id")),
    responses((status = 200, body = RemovedMember), (status = 409, description = "`cannot_remove_self` or `last_owner`")),
    security(("root_key" = [])),
)]
pub async fn remove(
    State(state): State<AppState>,
    principal: Authorized<MembersWrite>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<RemovedMember>, ApiError> {
    let member = load(&state, &principal, &id).await?;
    require_may_manage(&principal, member.role)?;
    if member.id.as_str() == principal.actor_id {
        return Err(ApiError::Conflict {
            code: "cannot_remove_self",
            detail: "members cannot remove themselves; ask another owner or admin".to_owned(),
        });
    }
    let now = state.clock.now();
    let disabled = state
        .store
        .remove_member(&member.org_id, &member.id, &principal.audit(now))
        .await
        .map_err(last_owner)?;
    for key in &disabled {
        state.verifier.forget_id(key);
    }
    Ok(ApiJson(RemovedMember {
        id: member.id.to_string(),
        disabled_keys: disabled.iter().map(ToString::to_string).collect(),
    }))
}

/// The store refuses to leave an organization without an owner.
fn last_owner(error: StoreError) -> ApiError {
    match error {
        StoreError::Conflict(message) if message == LAST_OWNER => ApiError::Conflict {
            code: "last_owner",
            detail: message,
        },
        other => other.into(),
    }
}

/// Gives a member a new temporary password, returned this once; their
/// sessions end and they must choose a password at their next sign-in.
#[utoipa::path(
    post, path = "/v1/members/{id}/reset-password", tag = "members", operation_id = "members_reset_password",
    params(("id" = String, Path, description = "Member id")),
    responses((status = 200, body = CreatedMember), (status = 409, description = "`cannot_reset_self`: members change their own password on the account page")),
    security(("root_key" = [])),
)]
pub async fn reset_password(
    State(state): State<AppState>,
    principal: Authorized<MembersWrite>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<CreatedMember>, ApiError> {
    let member = load(&state, &principal, &id).await?;
    require_may_manage(&principal, member.role)?;
    if member.id.as_str() == principal.actor_id {
        return Err(ApiError::Conflict {
            code: "cannot_reset_self",
            detail: "change your own password on the account page".to_owned(),
        });
    }
    let password = temporary_password()?;
    let mut after = member.clone();
    after.password_hash = state.passwords.hash(password.clone()).await?;
    after.must_change_password = true;
    let now = state.clock.now();
    let event = events::member_password("member.password_reset", &member);
    state
        .store
        .set_member_password(&after, None, &principal.audit(now), event)
        .await?;
    Ok(ApiJson(CreatedMember {
        member: MemberView::from(&after),
        temporary_password: password.expose_secret().to_owned(),
    }))
}

/// Hashes a password chosen by a member, after checking its length.
pub async fn new_password_hash(
    state: &AppState,
    password: SecretString,
) -> Result<String, ApiError> {
    let len = password.expose_secret().chars().count();
    if len < crate::bootstrap::MIN_PASSWORD_LEN {
        return Err(ApiError::field(
            "password",
            format!(
                "must be at least {} characters",
                crate::bootstrap::MIN_PASSWORD_LEN
            ),
        ));
    }
    if len > 1024 {
        return Err(ApiError::field("password", "at most 1024 characters"));
    }
    state.passwords.hash(password).await
}

//! `/v1/teams`: named groups of members. A member's team is recorded with
//! each of their actions in the audit log, where it can be filtered on.

use super::views::Page;
use crate::auth::{Authorized, MembersWrite, Principal};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use keyward_core::error::Validation;
use keyward_core::events;
use keyward_core::fields::not_null;
use keyward_core::id::{MemberId, TeamId};
use keyward_core::keys::validate_name;
use keyward_core::model::Team;
use keyward_core::store::StoreError;
use serde::{Deserialize, Serialize};

/// The team object.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TeamView {
    /// `team_…`.
    pub id: String,
    /// Display name, unique in the organization.
    pub name: String,
    /// Ids of its members.
    pub members: Vec<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl From<&Team> for TeamView {
    fn from(t: &Team) -> Self {
        Self {
            id: t.id.to_string(),
            name: t.name.clone(),
            members: t.members.iter().map(ToString::to_string).collect(),
            created_at: t.created_at,
        }
    }
}

/// Body of `POST /v1/teams`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTeam {
    /// Display name.
    pub name: String,
    /// Member ids.
    #[serde(default)]
    pub members: Vec<String>,
}

/// Body of `PATCH /v1/teams/{id}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTeam {
    /// New name.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub name: Option<String>,
    /// The new member list (replaces the old one).
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub members: Option<Vec<String>>,
}

fn parse_members(v: &mut Validation, ids: &[String]) -> Vec<MemberId> {
    let mut out: Vec<MemberId> = Vec::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        if let Some(id) = v.check(&format!("members[{i}]"), MemberId::parse(id))
            && !out.contains(&id)
        {
            out.push(id);
        }
    }
    out.sort();
    out
}

/// A member id that is not one of the organization's is a field error.
fn unknown_member(error: StoreError) -> ApiError {
    match error {
        StoreError::Conflict(message) if message.starts_with("no member") => {
            ApiError::field("members", message)
        }
        other => other.into(),
    }
}

async fn load(state: &AppState, principal: &Principal, id: &str) -> Result<Team, ApiError> {
    let id = TeamId::parse(id).map_err(|_| ApiError::NotFound)?;
    state
        .store
        .list_teams(&principal.org_id)
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or(ApiError::NotFound)
}

/// Lists the organization's teams.
#[utoipa::path(
    get, path = "/v1/teams", tag = "members", operation_id = "teams_list",
    responses((status = 200, body = Page<TeamView>)),
    security(("root_key" = [])),
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Authorized<MembersWrite>,
) -> Result<ApiJson<Page<TeamView>>, ApiError> {
    let teams = state.store.list_teams(&principal.org_id).await?;
    Ok(ApiJson(Page {
        data: teams.iter().map(TeamView::from).collect(),
        next_cursor: None,
    }))
}

/// Creates a team.
#[utoipa::path(
    post, path = "/v1/teams", tag = "members", operation_id = "teams_create",
    request_body = CreateTeam,
    responses((status = 201, body = TeamView), (status = 409, description = "`conflict`: another team has this name")),
    security(("root_key" = [])),
)]
pub async fn create(
    State(state): State<AppState>,
    principal: Authorized<MembersWrite>,
    ApiJson(input): ApiJson<CreateTeam>,
) -> Result<(StatusCode, ApiJson<TeamView>), ApiError> {
    let mut v = Validation::default();
    let name = v.check("name", validate_name(&input.name));
    let members = parse_members(&mut v, &input.members);
    v.finish()?;
    let Some(name) = name else {
        return Err(ApiError::Invalid(Vec::new()));
    };
    let now = state.clock.now();
    let team = Team {
        id: TeamId::generate()?,
        org_id: principal.org_id.clone(),
        name,
        members,
        created_at: now,
    };
    let event = events::team_changed("team.created", None, Some(&team));
    state
        .store
        .insert_team(&team, &principal.audit(now), event)
        .await
        .map_err(unknown_member)?;
    Ok((StatusCode::CREATED, ApiJson(TeamView::from(&team))))
}

/// Renames a team or replaces its members.
#[utoipa::path(
    patch, path = "/v1/teams/{id}", tag = "members", operation_id = "teams_update",
    params(("id" = String, Path, description = "Team id")),
    request_body = UpdateTeam,
    responses((status = 200, body = TeamView), (status = 409, description = "`conflict`: another team has this name")),
    security(("root_key" = [])),
)]
pub async fn update(
    State(state): State<AppState>,
    principal: Authorized<MembersWrite>,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<UpdateTeam>,
) -> Result<ApiJson<TeamView>, ApiError> {
    let before = load(&state, &principal, &id).await?;
    let mut after = before.clone();
    let mut v = Validation::default();
    if let Some(name) = input.name
        && let Some(name) = v.check("name", validate_name(&name))
    {
        after.name = name;
    }
    if let Some(members) = input.members {
        after.members = parse_members(&mut v, &members);
    }
    v.finish()?;
    let event = events::team_changed("team.updated", Some(&before), Some(&after));
    if event.changes.is_empty() {
        return Ok(ApiJson(TeamView::from(&before)));
    }
    let now = state.clock.now();
    state
        .store
        .update_team(&after, &principal.audit(now), event)
        .await
        .map_err(unknown_member)?;
    Ok(ApiJson(TeamView::from(&after)))
}

/// Deletes a team; its members stay in the organization.
#[utoipa::path(
    delete, path = "/v1/teams/{id}", tag = "members", operation_id = "teams_delete",
    params(("id" = String, Path, description = "Team id")),
    responses((status = 204, description = "Deleted")),
    security(("root_key" = [])),
)]
pub async fn delete(
    State(state): State<AppState>,
    principal: Authorized<MembersWrite>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let team = load(&state, &principal, &id).await?;
    let now = state.clock.now();
    let event = events::team_changed("team.deleted", Some(&team), None);
    state
        .store
        .delete_team(&team.org_id, &team.id, &principal.audit(now), event)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

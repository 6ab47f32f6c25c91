//! `/v1/projects`: projects, their key prefixes and API catalogs.

use super::views::{Page, ProjectView};
use crate::auth::{Authorized, Principal, ProjectsRead, ProjectsWrite};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use keyward_core::audit::{self, NewEvent};
use keyward_core::error::Validation;
use keyward_core::events;
use keyward_core::fields::not_null;
use keyward_core::id::ProjectId;
use keyward_core::key_format::KeyPrefix;
use keyward_core::keys::validate_name;
use keyward_core::model::Project;
use keyward_core::scope::validate_api_name;
use serde::Deserialize;

const MAX_APIS: usize = 100;

/// Body of `POST /v1/projects`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    /// Display name, unique in the organization.
    pub name: String,
    /// 1–16 lowercase letters and digits; default `kw`.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub key_prefix: Option<String>,
    /// The API catalog, e.g. `["data", "push"]`.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub apis: Option<Vec<String>>,
}

/// Body of `PATCH /v1/projects/{id}`. A new prefix applies to keys created
/// or regenerated afterwards; existing keys keep theirs.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProject {
    /// New name.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub name: Option<String>,
    /// New key prefix.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub key_prefix: Option<String>,
    /// New API catalog (replaces the old one).
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub apis: Option<Vec<String>>,
}

fn parse_apis(v: &mut Validation, apis: Vec<String>) -> Vec<String> {
    if apis.len() > MAX_APIS {
        v.push("apis", format!("at most {MAX_APIS} APIs"));
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::with_capacity(apis.len());
    for (i, api) in apis.into_iter().enumerate() {
        if let Some(()) = v.check(&format!("apis[{i}]"), validate_api_name(&api)) {
            if out.contains(&api) {
                v.push(format!("apis[{i}]"), format!("`{api}` is listed twice"));
            } else {
                out.push(api);
            }
        }
    }
    out
}

/// Creates a project.
#[utoipa::path(
    post, path = "/v1/projects", tag = "projects", operation_id = "projects_create",
    request_body = CreateProject,
    responses((status = 201, body = ProjectView), (status = 409, description = "`conflict`: another project has this name")),
    security(("root_key" = [])),
)]
pub async fn create(
    State(state): State<AppState>,
    principal: Authorized<ProjectsWrite>,
    ApiJson(input): ApiJson<CreateProject>,
) -> Result<(StatusCode, ApiJson<ProjectView>), ApiError> {
    let mut v = Validation::default();
    let name = v.check("name", validate_name(&input.name));
    let key_prefix = match input.key_prefix {
        Some(p) => v.check("key_prefix", KeyPrefix::parse(&p)),
        None => Some(KeyPrefix::default()),
    };
    let apis = parse_apis(&mut v, input.apis.unwrap_or_default());
    v.finish()?;
    let (Some(name), Some(key_prefix)) = (name, key_prefix) else {
        return Err(ApiError::Invalid(Vec::new()));
    };
    let now = state.clock.now();
    let project = Project {
        id: ProjectId::generate()?,
        org_id: principal.org_id.clone(),
        name,
        key_prefix,
        apis,
        management: false,
        created_at: now,
        updated_at: now,
    };
    let event = events::project_created(&project);
    state
        .store
        .create_project(&project, &principal.audit(now), event)
        .await?;
    Ok((StatusCode::CREATED, ApiJson(ProjectView::from(&project))))
}

/// Lists the organization's projects, the management project included.
#[utoipa::path(
    get, path = "/v1/projects", tag = "projects", operation_id = "projects_list",
    responses((status = 200, body = Page<ProjectView>)),
    security(("root_key" = [])),
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Authorized<ProjectsRead>,
) -> Result<ApiJson<Page<ProjectView>>, ApiError> {
    let projects = state.store.list_projects(&principal.org_id).await?;
    Ok(ApiJson(Page {
        data: projects.iter().map(ProjectView::from).collect(),
        next_cursor: None,
    }))
}

async fn load(state: &AppState, principal: &Principal, id: &str) -> Result<Project, ApiError> {
    let id = ProjectId::parse(id).map_err(|_| ApiError::NotFound)?;
    state
        .store
        .get_project(&principal.org_id, &id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// Reads one project.
#[utoipa::path(
    get, path = "/v1/projects/{id}", tag = "projects", operation_id = "projects_get",
    params(("id" = String, Path, description = "Project id")),
    responses((status = 200, body = ProjectView)),
    security(("root_key" = [])),
)]
pub async fn get(
    State(state): State<AppState>,
    principal: Authorized<ProjectsRead>,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<ProjectView>, ApiError> {
    Ok(ApiJson(ProjectView::from(
        &load(&state, &principal, &id).await?,
    )))
}

/// Renames a project, changes its key prefix or replaces its API catalog.
#[utoipa::path(
    patch, path = "/v1/projects/{id}", tag = "projects", operation_id = "projects_update",
    params(("id" = String, Path, description = "Project id")),
    request_body = UpdateProject,
    responses((status = 200, body = ProjectView), (status = 409, description = "`invalid_state` (the management project is built in) or `conflict` (another project has this name)")),
    security(("root_key" = [])),
)]
pub async fn update(
    State(state): State<AppState>,
    principal: Authorized<ProjectsWrite>,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<UpdateProject>,
) -> Result<ApiJson<ProjectView>, ApiError> {
    let before = load(&state, &principal, &id).await?;
    if before.management {
        return Err(ApiError::Conflict {
            code: "invalid_state",
            detail: "the management project is built in and cannot be changed".to_owned(),
        });
    }
    let mut after = before.clone();
    let mut v = Validation::default();
    if let Some(name) = input.name
        && let Some(name) = v.check("name", validate_name(&name))
    {
        after.name = name;
    }
    if let Some(prefix) = input.key_prefix
        && let Some(prefix) = v.check("key_prefix", KeyPrefix::parse(&prefix))
    {
        after.key_prefix = prefix;
    }
    if let Some(apis) = input.apis {
        after.apis = parse_apis(&mut v, apis);
    }
    v.finish()?;
    let changes = audit::diff(
        &events::project_view(&before),
        &events::project_view(&after),
    );
    if changes.is_empty() {
        return Ok(ApiJson(ProjectView::from(&before)));
    }
    let now = state.clock.now();
    after.updated_at = now;
    let event = NewEvent {
        action: "project.updated".to_owned(),
        target: events::project_target(&after),
        changes,
    };
    state
        .store
        .update_project(&after, &principal.audit(now), event)
        .await?;
    Ok(ApiJson(ProjectView::from(&after)))
}

//! Project pages (`/projects`): the list with the form that creates one,
//! and a project's page, where its name, key prefix and API catalog change.
//! The management project, which holds the root keys, is not listed here.

use super::client::Api;
use super::forms::{self, FieldErrors, FieldLabel};
use super::{Nav, Signed, error_page, failure_page, render};
use crate::api::views::{KeyView, Page, ProjectView};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use serde::Deserialize;
use serde_json::json;

struct ProjectRow {
    id: String,
    name: String,
    key_prefix: String,
    apis: String,
}

#[derive(Template)]
#[template(path = "projects.html")]
struct ProjectsPage {
    nav: Option<Nav>,
    title: String,
    rows: Vec<ProjectRow>,
    name: String,
    key_prefix: String,
    apis: String,
    errors: FieldErrors,
}

/// Where the project forms show each API field's errors.
const FIELDS: &[FieldLabel] = &[
    ("name", "name", "Name"),
    ("key_prefix", "key_prefix", "Key prefix"),
    ("apis", "apis", "API catalog"),
];

#[derive(Debug, Default, Deserialize)]
pub struct ProjectForm {
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    key_prefix: String,
    #[serde(default)]
    apis: String,
    /// Set by "Remove anyway": the keys that use a removed API were shown.
    #[serde(default)]
    confirm_removal: Option<String>,
}

/// APIs about to leave a catalog while keys still name them in their scopes.
struct Removal {
    apis: String,
    /// The first [`Removal::SHOWN`] such keys (id, name).
    keys: Vec<(String, String)>,
    /// Whether there are more than those.
    more: bool,
}

impl Removal {
    const SHOWN: usize = 50;
}

async fn projects_page(
    state: &AppState,
    signed: &Signed,
    input: ProjectForm,
    errors: Vec<(String, String)>,
) -> Response {
    let nav = signed.nav("projects");
    let api = Api::new(state, signed.principal());
    let projects = match api.get::<Page<ProjectView>>("/v1/projects").await {
        Ok(p) => p.data,
        Err(failure) => return failure_page(Some(nav), &failure),
    };
    let failed = !errors.is_empty();
    let mut response = render(&ProjectsPage {
        title: "Projects".to_owned(),
        rows: projects
            .into_iter()
            .filter(|p| !p.management)
            .map(|p| ProjectRow {
                id: p.id,
                name: p.name,
                key_prefix: p.key_prefix,
                apis: p.apis.join(", "),
            })
            .collect(),
        name: input.name,
        key_prefix: input.key_prefix,
        apis: input.apis,
        errors: FieldErrors::new(&errors, FIELDS),
        nav: Some(nav),
    });
    if failed {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    response
}

pub async fn projects(State(state): State<AppState>, signed: Signed) -> Response {
    if !signed.nav("projects").projects {
        return error_page(
            Some(signed.nav("projects")),
            StatusCode::FORBIDDEN,
            "Your role does not manage projects.",
        );
    }
    projects_page(&state, &signed, ProjectForm::default(), Vec::new()).await
}

fn project_body(input: &ProjectForm) -> serde_json::Value {
    let mut body = json!({"name": input.name, "apis": forms::words(&input.apis)});
    if !input.key_prefix.trim().is_empty() {
        body["key_prefix"] = json!(input.key_prefix.trim());
    }
    body
}

pub async fn create_project(
    State(state): State<AppState>,
    signed: Signed,
    Form(input): Form<ProjectForm>,
) -> Result<Response, Response> {
    signed.check_csrf(&input.csrf)?;
    let api = Api::new(&state, signed.principal());
    match api
        .send::<ProjectView>(Method::POST, "/v1/projects", &project_body(&input))
        .await
    {
        Ok(project) => Ok(Redirect::to(&format!("/projects/{}", project.id)).into_response()),
        Err(failure) if failure.is_form_error() => {
            Err(projects_page(&state, &signed, input, failure.field_errors()).await)
        }
        Err(failure) => Err(failure_page(Some(signed.nav("projects")), &failure)),
    }
}

#[derive(Template)]
#[template(path = "project.html")]
struct ProjectPage {
    nav: Option<Nav>,
    title: String,
    id: String,
    name: String,
    key_prefix: String,
    apis: String,
    saved: bool,
    errors: FieldErrors,
    removal: Option<Removal>,
}

#[derive(Debug, Default, Deserialize)]
pub struct SavedQuery {
    #[serde(default)]
    saved: Option<String>,
}

pub async fn project(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Query(q): Query<SavedQuery>,
) -> Response {
    let nav = signed.nav("projects");
    if !nav.projects {
        return error_page(
            Some(nav),
            StatusCode::FORBIDDEN,
            "Your role does not manage projects.",
        );
    }
    let api = Api::new(&state, signed.principal());
    match api
        .get::<ProjectView>(&format!("/v1/projects/{}", forms::encode(&id)))
        .await
    {
        Ok(p) => render(&ProjectPage {
            title: format!("Project {}", p.name),
            id: p.id,
            name: p.name,
            key_prefix: p.key_prefix,
            apis: p.apis.join("\n"),
            saved: q.saved.is_some(),
            errors: FieldErrors::default(),
            removal: None,
            nav: Some(nav),
        }),
        Err(failure) => failure_page(Some(nav), &failure),
    }
}

pub async fn update_project(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(input): Form<ProjectForm>,
) -> Result<Response, Response> {
    signed.check_csrf(&input.csrf)?;
    let nav = signed.nav("projects");
    if !nav.projects {
        return Err(error_page(
            Some(nav),
            StatusCode::FORBIDDEN,
            "Your role does not manage projects.",
        ));
    }
    let api = Api::new(&state, signed.principal());
    let uri = format!("/v1/projects/{}", forms::encode(&id));
    let mut body = project_body(&input);
    if input.key_prefix.trim().is_empty() {
        body["key_prefix"] = json!("kw");
    }
    if input.confirm_removal.is_none() {
        let removal = match removal(&api, &uri, &id, &input).await {
            Ok(removal) => removal,
            Err(failure) => return Err(failure_page(Some(nav), &failure)),
        };
        if let Some(removal) = removal {
            return Err(render(&ProjectPage {
                title: "Remove APIs still in use?".to_owned(),
                id,
                name: input.name,
                key_prefix: input.key_prefix,
                apis: input.apis,
                saved: false,
                errors: FieldErrors::default(),
                removal: Some(removal),
                nav: Some(nav),
            }));
        }
    }
    match api.send::<ProjectView>(Method::PATCH, &uri, &body).await {
        Ok(p) => Ok(Redirect::to(&format!("/projects/{}?saved=1", p.id)).into_response()),
        Err(failure) if failure.is_form_error() => {
            let mut response = render(&ProjectPage {
                title: "Project".to_owned(),
                id,
                name: input.name,
                key_prefix: input.key_prefix,
                apis: input.apis,
                saved: false,
                errors: FieldErrors::new(&failure.field_errors(), FIELDS),
                removal: None,
                nav: Some(nav),
            });
            *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Err(response)
        }
        Err(failure) => Err(failure_page(Some(nav), &failure)),
    }
}

/// The APIs the form takes out of the catalog that live keys of the project
/// name in their scopes, with those keys; `None` when no key names them.
async fn removal(
    api: &Api<'_>,
    uri: &str,
    id: &str,
    input: &ProjectForm,
) -> Result<Option<Removal>, super::client::Failure> {
    let current = api.get::<ProjectView>(uri).await?;
    let kept = forms::words(&input.apis);
    let removed: Vec<String> = current
        .apis
        .into_iter()
        .filter(|a| !kept.contains(a))
        .collect();
    if removed.is_empty() {
        return Ok(None);
    }
    let names_removed = |k: &KeyView| {
        k.scopes.iter().any(|s| {
            keyward_core::scope::Scope::parse(s).is_ok_and(|s| removed.iter().any(|r| r == s.api()))
        })
    };
    let mut keys = Vec::new();
    let mut cursor: Option<String> = None;
    while keys.len() <= Removal::SHOWN {
        let query = forms::query(&[
            ("project_id", Some(id.to_owned())),
            ("limit", Some("100".to_owned())),
            ("cursor", cursor.take()),
        ]);
        let page = api
            .get::<Page<KeyView>>(&format!("/v1/keys?{query}"))
            .await?;
        keys.extend(
            page.data
                .iter()
                .filter(|k| k.revoked_at.is_none() && names_removed(k))
                .map(|k| (k.id.clone(), k.name.clone())),
        );
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let more = keys.len() > Removal::SHOWN;
    keys.truncate(Removal::SHOWN);
    Ok((!keys.is_empty()).then(|| Removal {
        apis: removed.join(", "),
        keys,
        more,
    }))
}

//! Creating a key (`/keys/new`): the blank form for a project, and the
//! submission that creates the key and sends the browser to see it once.

use super::form::{KeyFormPage, KeyInput, access_body, expiry_body};
use super::one_time::one_time_redirect;
use super::projects;
use crate::api::views::{KeyView, ProjectView};
use crate::dashboard::client::Api;
use crate::dashboard::forms;
use crate::dashboard::{Signed, error_page, failure_page, render};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum_extra::extract::Form;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Default, Deserialize)]
pub struct NewQuery {
    #[serde(default)]
    project_id: Option<String>,
    /// Carried over when the script reloads the form for another project.
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
}

pub async fn new_form(
    State(state): State<AppState>,
    signed: Signed,
    Query(q): Query<NewQuery>,
) -> Response {
    let nav = signed.nav("new");
    if !nav.write_keys {
        return error_page(
            Some(nav),
            StatusCode::FORBIDDEN,
            "Your role cannot create keys.",
        );
    }
    let api = Api::new(&state, signed.principal());
    let projects = match projects(&api).await {
        Ok(p) => p,
        Err(failure) => return failure_page(Some(nav), &failure),
    };
    let Some(project) = pick_project(&projects, q.project_id.as_deref()) else {
        return error_page(
            Some(nav),
            StatusCode::NOT_FOUND,
            "There is no such project.",
        );
    };
    let input = KeyInput {
        name: q.name,
        description: q.description,
        key_type: "secret".to_owned(),
        access: "admin".to_owned(),
        apis: project.apis.clone(),
        expiry: "never".to_owned(),
        ..KeyInput::default()
    };
    render(&KeyFormPage::new(
        nav,
        true,
        "/keys/new".to_owned(),
        &projects,
        project,
        input,
    ))
}

fn pick_project<'p>(projects: &'p [ProjectView], id: Option<&str>) -> Option<&'p ProjectView> {
    match id.filter(|id| !id.is_empty()) {
        Some(id) => projects.iter().find(|p| p.id == id && !p.management),
        None => projects.iter().find(|p| !p.management),
    }
}

fn key_body(
    input: &KeyInput,
    catalog: &[String],
    now: DateTime<Utc>,
) -> Result<Value, Vec<(String, String)>> {
    let mut errors = Vec::new();
    let access = access_body(input, catalog).map_err(|e| errors.push(e)).ok();
    let expires_at = expiry_body(input, now).map_err(|e| errors.push(e)).ok();
    let (Some((role, scopes)), Some(expires_at)) = (access, expires_at) else {
        return Err(errors);
    };
    let mut body = json!({
        "name": input.name,
        "description": input.description,
        "role": role,
        "trusted_origins": forms::lines(&input.trusted_origins),
        "allowed_ips": forms::lines(&input.allowed_ips),
    });
    if !scopes.is_null() {
        body["scopes"] = scopes;
    }
    // A key that never expires leaves `expires_at` out: creating refuses null.
    if !expires_at.is_null() {
        body["expires_at"] = expires_at;
    }
    Ok(body)
}

pub async fn create(
    State(state): State<AppState>,
    signed: Signed,
    Form(input): Form<KeyInput>,
) -> Result<Response, Response> {
    signed.check_csrf(&input.csrf)?;
    let nav = signed.nav("new");
    let api = Api::new(&state, signed.principal());
    let projects = projects(&api)
        .await
        .map_err(|f| failure_page(Some(nav.clone()), &f))?;
    let Some(project) = pick_project(&projects, Some(&input.project_id)).cloned() else {
        return Err(error_page(
            Some(nav),
            StatusCode::NOT_FOUND,
            "There is no such project.",
        ));
    };
    let form = |input: KeyInput| {
        KeyFormPage::new(
            nav.clone(),
            true,
            "/keys/new".to_owned(),
            &projects,
            &project,
            input,
        )
    };
    let again = |input: KeyInput, errors: Vec<(String, String)>| {
        let mut page = form(input);
        page.set_errors(&errors);
        let mut response = render(&page);
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        response
    };
    // Another project than the one whose APIs were shown (chosen without
    // the script): show that one's catalog, keeping what was typed.
    if input.catalog_project != project.id {
        let mut page = form(KeyInput {
            apis: project.apis.clone(),
            ..input
        });
        page.note = Some(format!(
            "The key will be made in {}: check its APIs below, then create it.",
            project.name
        ));
        return Ok(render(&page));
    }
    let mut body = match key_body(&input, &project.apis, state.clock.now()) {
        Ok(body) => body,
        Err(errors) => return Err(again(input, errors)),
    };
    body["project_id"] = json!(project.id);
    body["type"] = json!(if input.key_type == "publishable" {
        "publishable"
    } else {
        "secret"
    });
    let created: KeyView = match api.send(Method::POST, "/v1/keys", &body).await {
        Ok(created) => created,
        Err(failure) if failure.is_form_error() => {
            return Err(again(input, failure.field_errors()));
        }
        Err(failure) => return Err(failure_page(Some(nav), &failure)),
    };
    one_time_redirect(&state, &signed, &created, "created").await
}

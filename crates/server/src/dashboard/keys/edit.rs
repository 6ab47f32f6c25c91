//! Editing a key (`/keys/{id}/edit`): the form filled from the key as it
//! is, and a save that sends only the fields that changed, so that a rename
//! leaves the expiry and the scopes exactly as they were.

use super::form::{KeyFormPage, KeyInput, access_body, expiry_body};
use super::projects;
use crate::api::views::{KeyView, ProjectView};
use crate::dashboard::client::Api;
use crate::dashboard::forms::{self, wire_name};
use crate::dashboard::{Signed, error_page, failure_page, render};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use chrono::{DateTime, Duration, Utc};
use keyward_core::scope::Role;
use serde_json::{Value, json};

pub async fn edit_form(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> Response {
    let nav = signed.nav("keys");
    if !nav.write_keys {
        return error_page(
            Some(nav),
            StatusCode::FORBIDDEN,
            "Your role cannot change keys.",
        );
    }
    let api = Api::new(&state, signed.principal());
    let key: KeyView = match api.get(&format!("/v1/keys/{}", forms::encode(&id))).await {
        Ok(key) => key,
        Err(failure) => return failure_page(Some(nav), &failure),
    };
    let projects = match projects(&api).await {
        Ok(p) => p,
        Err(failure) => return failure_page(Some(nav), &failure),
    };
    let Some(project) = projects.iter().find(|p| p.id == key.project_id) else {
        return error_page(
            Some(nav),
            StatusCode::NOT_FOUND,
            "The key's project is gone.",
        );
    };
    let (input, note) = initial_input(&key, &project.apis);
    let mut page = KeyFormPage::new(
        nav,
        false,
        format!("/keys/{}/edit", key.id),
        &projects,
        project,
        input,
    );
    page.title = format!("Edit “{}”", key.name);
    page.note = note;
    page.scopes_editable = !project.management;
    render(&page)
}

/// The edit form as it first shows `key`, and a note when its scopes are
/// more particular than the form can show.
fn initial_input(key: &KeyView, catalog: &[String]) -> (KeyInput, Option<String>) {
    let (access, apis, note) = current_access(key, catalog);
    let input = KeyInput {
        project_id: key.project_id.clone(),
        name: key.name.clone(),
        description: key.description.clone(),
        key_type: wire_name(key.key_type),
        access,
        apis,
        expiry: if key.expires_at.is_some() {
            "date"
        } else {
            "never"
        }
        .to_owned(),
        expiry_date: key
            .expires_at
            // The day holding the key's last moment: an expiry at the end
            // of a day (as the form sets it, or at midnight as the API
            // may) shows as that day.
            .map(|t| (t - Duration::seconds(1)).format("%Y-%m-%d").to_string())
            .unwrap_or_default(),
        trusted_origins: key.trusted_origins.join("\n"),
        allowed_ips: key.allowed_ips.join("\n"),
        ..KeyInput::default()
    };
    (input, note)
}

/// The fields of the edit form that differ from what it first showed: a
/// rename leaves the expiry and the scopes exactly as they were.
fn changed_fields(
    key: &KeyView,
    input: &KeyInput,
    project: &ProjectView,
    now: DateTime<Utc>,
) -> Result<Value, Vec<(String, String)>> {
    let catalog = &project.apis;
    let (initial, _) = initial_input(key, catalog);
    let mut body = serde_json::Map::new();
    let mut errors = Vec::new();
    if input.name != initial.name {
        body.insert("name".to_owned(), json!(input.name));
    }
    if input.description != initial.description {
        body.insert("description".to_owned(), json!(input.description));
    }
    let mut chosen = input.apis.clone();
    chosen.sort();
    let mut before = initial.apis.clone();
    before.sort();
    let scopes_editable = !project.management;
    if scopes_editable && (input.access != initial.access || chosen != before) {
        match access_body(input, catalog) {
            Ok((role, scopes)) => {
                body.insert("role".to_owned(), role);
                if !scopes.is_null() {
                    body.insert("scopes".to_owned(), scopes);
                }
            }
            Err(e) => errors.push(e),
        }
    }
    if input.expiry != initial.expiry || input.expiry_date != initial.expiry_date {
        match expiry_body(input, now) {
            Ok(expires_at) => {
                body.insert("expires_at".to_owned(), expires_at);
            }
            Err(e) => errors.push(e),
        }
    }
    let origins = forms::lines(&input.trusted_origins);
    if origins != forms::lines(&initial.trusted_origins) {
        body.insert("trusted_origins".to_owned(), json!(origins));
    }
    let ips = forms::lines(&input.allowed_ips);
    if ips != forms::lines(&initial.allowed_ips) {
        body.insert("allowed_ips".to_owned(), json!(ips));
    }
    if errors.is_empty() {
        Ok(Value::Object(body))
    } else {
        Err(errors)
    }
}

/// The form's access and API boxes for a key's scopes, and a note when the
/// scopes are more particular than the form can show.
fn current_access(key: &KeyView, catalog: &[String]) -> (String, Vec<String>, Option<String>) {
    match key.role {
        Role::Admin => ("admin".to_owned(), catalog.to_vec(), None),
        Role::Readonly => ("readonly".to_owned(), catalog.to_vec(), None),
        Role::Custom => {
            let split: Vec<(&str, &str)> = key
                .scopes
                .iter()
                .filter_map(|s| s.split_once(':'))
                .collect();
            let all_read = split.iter().all(|(_, action)| *action == "read");
            let all_write = split.iter().all(|(_, action)| *action == "*");
            let apis = split.iter().map(|(api, _)| (*api).to_owned()).collect();
            let access = if all_read { "readonly" } else { "admin" }.to_owned();
            let note = (!all_read && !all_write).then(|| {
                format!(
                    "This key has particular scopes ({}); saving replaces them with what is chosen here.",
                    key.scopes.join(", ")
                )
            });
            (access, apis, note)
        }
    }
}

pub async fn update(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(input): Form<KeyInput>,
) -> Result<Response, Response> {
    signed.check_csrf(&input.csrf)?;
    let nav = signed.nav("keys");
    let api = Api::new(&state, signed.principal());
    let uri = format!("/v1/keys/{}", forms::encode(&id));
    let key: KeyView = api
        .get(&uri)
        .await
        .map_err(|f| failure_page(Some(nav.clone()), &f))?;
    let projects = projects(&api)
        .await
        .map_err(|f| failure_page(Some(nav.clone()), &f))?;
    let Some(project) = projects.iter().find(|p| p.id == key.project_id).cloned() else {
        return Err(error_page(
            Some(nav),
            StatusCode::NOT_FOUND,
            "The key's project is gone.",
        ));
    };
    let again = |input: KeyInput, errors: Vec<(String, String)>| {
        let mut page = KeyFormPage::new(
            nav.clone(),
            false,
            format!("/keys/{}/edit", key.id),
            &projects,
            &project,
            input,
        );
        page.title = format!("Edit “{}”", key.name);
        page.scopes_editable = !project.management;
        page.set_errors(&errors);
        let mut response = render(&page);
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        response
    };
    let body = match changed_fields(&key, &input, &project, state.clock.now()) {
        Ok(body) => body,
        Err(errors) => return Err(again(input, errors)),
    };
    match api.send::<KeyView>(Method::PATCH, &uri, &body).await {
        Ok(_) => Ok(Redirect::to(&format!("/keys/{}?done=updated", key.id)).into_response()),
        Err(failure) if failure.is_form_error() => Err(again(input, failure.field_errors())),
        Err(failure) => Err(failure_page(Some(nav), &failure)),
    }
}

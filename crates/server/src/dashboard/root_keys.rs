//! Root keys (`/root-keys`): the keys of the management project, which
//! call the management API, listed with the form that creates one from the
//! management scopes. A new root key is shown once, like any other key.

use super::client::Api;
use super::forms::{self, time};
use super::{Nav, Signed, error_page, failure_page, render};
use crate::api::views::{KeyView, Page, ProjectView};
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use keyward_core::model::MANAGEMENT_SCOPES;
use serde::Deserialize;
use serde_json::json;

struct RootKeyRow {
    id: String,
    name: String,
    hint: String,
    scopes: String,
    status: String,
    created: String,
    last_used: String,
}

struct ScopeBox {
    name: String,
    checked: bool,
}

#[derive(Template)]
#[template(path = "root_keys.html")]
struct RootKeysPage {
    nav: Option<Nav>,
    title: String,
    rows: Vec<RootKeyRow>,
    name: String,
    scopes: Vec<ScopeBox>,
    errors: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RootKeyForm {
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    scopes: Vec<String>,
}

async fn management_project(api: &Api<'_>) -> Result<ProjectView, super::Failure> {
    api.get::<Page<ProjectView>>("/v1/projects")
        .await?
        .data
        .into_iter()
        .find(|p| p.management)
        .ok_or_else(|| super::Failure {
            status: StatusCode::NOT_FOUND,
            code: "not_found".to_owned(),
            detail: "no management project".to_owned(),
            errors: Vec::new(),
        })
}

async fn root_keys_page(
    state: &AppState,
    signed: &Signed,
    input: RootKeyForm,
    errors: Vec<String>,
) -> Response {
    let nav = signed.nav("root-keys");
    if !nav.org_admin {
        return error_page(
            Some(nav),
            StatusCode::FORBIDDEN,
            "Your role does not manage root keys.",
        );
    }
    let api = Api::new(state, signed.principal());
    let project = match management_project(&api).await {
        Ok(p) => p,
        Err(failure) => return failure_page(Some(nav), &failure),
    };
    let keys = match api
        .get::<Page<KeyView>>(&format!("/v1/keys?limit=100&project_id={}", project.id))
        .await
    {
        Ok(p) => p.data,
        Err(failure) => return failure_page(Some(nav), &failure),
    };
    let failed = !errors.is_empty();
    let mut response = render(&RootKeysPage {
        title: "Root keys".to_owned(),
        rows: keys
            .into_iter()
            .map(|k| RootKeyRow {
                status: super::keys::status_label(&k),
                id: k.id,
                name: k.name,
                hint: k.hint,
                scopes: k.scopes.join(", "),
                created: time(k.created_at),
                last_used: forms::time_or(k.last_used_at, "Never"),
            })
            .collect(),
        name: input.name,
        scopes: MANAGEMENT_SCOPES
            .iter()
            .map(|s| ScopeBox {
                name: (*s).to_owned(),
                checked: input.scopes.iter().any(|c| c == s),
            })
            .collect(),
        errors,
        nav: Some(nav),
    });
    if failed {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    response
}

pub async fn root_keys(State(state): State<AppState>, signed: Signed) -> Response {
    root_keys_page(&state, &signed, RootKeyForm::default(), Vec::new()).await
}

pub async fn create_root_key(
    State(state): State<AppState>,
    signed: Signed,
    Form(input): Form<RootKeyForm>,
) -> Result<Response, Response> {
    signed.check_csrf(&input.csrf)?;
    let api = Api::new(&state, signed.principal());
    let project = management_project(&api)
        .await
        .map_err(|f| failure_page(Some(signed.nav("root-keys")), &f))?;
    if input.scopes.is_empty() {
        let errors = vec!["Choose at least one scope.".to_owned()];
        return Err(root_keys_page(&state, &signed, input, errors).await);
    }
    let body = json!({
        "name": input.name,
        "project_id": project.id,
        "role": "custom",
        "scopes": input.scopes,
    });
    match api.send::<KeyView>(Method::POST, "/v1/keys", &body).await {
        Ok(created) => {
            let id = keyward_core::id::KeyId::parse(&created.id)
                .map_err(|_| error_page(None, StatusCode::INTERNAL_SERVER_ERROR, "bad key id"))?;
            let key = keyward_core::key_format::FullKey::from_trusted(
                created.key.clone().unwrap_or_default(),
            );
            super::keys::one_time::leave_key(&state, &signed.0.token, &id, &key)
                .await
                .map_err(IntoResponse::into_response)?;
            Ok(Redirect::to(&format!("/keys/{id}/created")).into_response())
        }
        Err(failure) if failure.is_form_error() => {
            Err(root_keys_page(&state, &signed, input, failure.messages()).await)
        }
        Err(failure) => Err(failure_page(Some(signed.nav("root-keys")), &failure)),
    }
}

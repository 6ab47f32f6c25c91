//! Organization pages: the audit log, projects and their API catalogs,
//! root keys, and the shared secret.

use super::client::Api;
use super::forms::{self, Choice, query, time};
use super::{Nav, Signed, error_page, failure_page, render};
use crate::api::shared_secret::SharedSecret;
use crate::api::teams::TeamView;
use crate::api::views::{KeyView, Page, ProjectView};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use keyward_core::audit::AuditEvent;
use keyward_core::model::MANAGEMENT_SCOPES;
use keyward_core::store::{CREATE_ACTIONS, DELETE_ACTIONS, UPDATE_ACTIONS};
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Default, Deserialize)]
pub struct AuditFilters {
    #[serde(default)]
    team: Option<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
}

struct EventRow {
    when: String,
    actor: String,
    team: String,
    action: String,
    target: String,
    changes: String,
    ip: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    nav: Option<Nav>,
    title: String,
    rows: Vec<EventRow>,
    actions: Vec<Choice>,
    teams: Option<Vec<Choice>>,
    team: String,
    actor: String,
    from: String,
    to: String,
    q: String,
    csv: String,
    jsonl: String,
    next: Option<String>,
    error: Option<String>,
}

fn action_choices(current: &str) -> Vec<Choice> {
    let mut out = vec![
        ("", "All actions".to_owned()),
        ("create", "Create (any)".to_owned()),
        ("update", "Update (any)".to_owned()),
        ("delete", "Delete (any)".to_owned()),
    ];
    let mut exact: Vec<&str> = CREATE_ACTIONS
        .iter()
        .chain(UPDATE_ACTIONS)
        .chain(DELETE_ACTIONS)
        .chain(&[
            "shared_secret.revealed",
            "audit.exported",
            "login.succeeded",
            "login.failed",
        ])
        .copied()
        .collect();
    exact.sort_unstable();
    out.extend(exact.into_iter().map(|a| (a, a.to_owned())));
    out.into_iter()
        .map(|(value, label)| Choice {
            value: value.to_owned(),
            label,
            selected: value == current,
        })
        .collect()
}

fn changes_text(event: &AuditEvent) -> String {
    event
        .changes
        .iter()
        .map(|(field, change)| {
            let show = |v: &serde_json::Value| match v {
                serde_json::Value::Null => "—".to_owned(),
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let before = change.get("before").map(show).unwrap_or_default();
            let after = change.get("after").map(show).unwrap_or_default();
            format!("{field}: {before} → {after}")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

pub async fn audit(
    State(state): State<AppState>,
    signed: Signed,
    Query(f): Query<AuditFilters>,
) -> Response {
    let nav = signed.nav("audit");
    let api = Api::new(&state, signed.principal());
    let filters = query(&[
        ("team", f.team.clone()),
        ("action", f.action.clone()),
        ("actor", f.actor.clone()),
        ("from", f.from.as_deref().and_then(forms::day_start)),
        ("to", f.to.as_deref().and_then(forms::day_end)),
        ("q", f.q.clone()),
    ]);
    let mut error = None;
    for (label, date) in [("From", &f.from), ("To", &f.to)] {
        if let Some(date) = date.as_deref().filter(|d| !d.trim().is_empty())
            && forms::day_start(date).is_none()
        {
            error = Some(format!("{label}: not a date such as 2030-01-31."));
        }
    }
    let cursor = query(&[("cursor", f.cursor.clone())]);
    let page = match api
        .get::<Page<AuditEvent>>(&format!("/v1/audit?limit=50&{filters}&{cursor}"))
        .await
    {
        Ok(page) => page,
        Err(failure) if failure.status == StatusCode::UNPROCESSABLE_ENTITY => {
            error = Some(failure.messages().join(" "));
            Page {
                data: Vec::new(),
                next_cursor: None,
            }
        }
        Err(failure) => return failure_page(Some(nav), &failure),
    };
    let team = f.team.clone().unwrap_or_default();
    let teams = if nav.members {
        api.get::<Page<TeamView>>("/v1/teams").await.ok().map(|p| {
            let mut choices = vec![Choice {
                value: String::new(),
                label: "All teams".to_owned(),
                selected: team.is_empty(),
            }];
            choices.extend(p.data.into_iter().map(|t| Choice {
                selected: t.name == team,
                value: t.name.clone(),
                label: t.name,
            }));
            choices
        })
    } else {
        None
    };
    let rows = page
        .data
        .iter()
        .map(|e| EventRow {
            when: time(e.occurred_at),
            actor: e.actor.name.clone(),
            team: e.team.clone().unwrap_or_default(),
            action: e.action.clone(),
            target: if e.target.name.is_empty() {
                e.target.id.clone()
            } else {
                e.target.name.clone()
            },
            changes: changes_text(e),
            ip: e.ip.clone().unwrap_or_default(),
        })
        .collect();
    render(&AuditPage {
        title: "Audit log".to_owned(),
        rows,
        actions: action_choices(f.action.as_deref().unwrap_or_default()),
        teams,
        team,
        actor: f.actor.clone().unwrap_or_default(),
        from: f.from.clone().unwrap_or_default(),
        to: f.to.clone().unwrap_or_default(),
        q: f.q.clone().unwrap_or_default(),
        csv: format!("/v1/audit/export?format=csv&{filters}"),
        jsonl: format!("/v1/audit/export?format=jsonl&{filters}"),
        next: page.next_cursor.map(|c| {
            let keep = query(&[
                ("team", f.team.clone()),
                ("action", f.action.clone()),
                ("actor", f.actor.clone()),
                ("from", f.from.clone()),
                ("to", f.to.clone()),
                ("q", f.q.clone()),
                ("cursor", Some(c)),
            ]);
            format!("/audit?{keep}")
        }),
        error,
        nav: Some(nav),
    })
}

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
    errors: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ProjectForm {
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    key_prefix: String,
    #[serde(default)]
    apis: String,
}

async fn projects_page(
    state: &AppState,
    signed: &Signed,
    input: ProjectForm,
    errors: Vec<String>,
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
        errors,
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
            Err(projects_page(&state, &signed, input, failure.messages()).await)
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
    errors: Vec<String>,
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
            errors: Vec::new(),
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
    let api = Api::new(&state, signed.principal());
    let uri = format!("/v1/projects/{}", forms::encode(&id));
    let mut body = project_body(&input);
    if input.key_prefix.trim().is_empty() {
        body["key_prefix"] = json!("kw");
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
                errors: failure.messages(),
                nav: Some(nav),
            });
            *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Err(response)
        }
        Err(failure) => Err(failure_page(Some(nav), &failure)),
    }
}

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
                status: forms::wire_name(k.status),
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
            super::keys::leave_key(&state, &signed.0.token, &id, &key)
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

#[derive(Template)]
#[template(path = "shared_secret.html")]
struct SharedSecretPage {
    nav: Option<Nav>,
    title: String,
    secret: Option<String>,
    rotated_at: String,
    message: Option<String>,
    error: Option<String>,
}

pub async fn shared_secret(signed: Signed) -> Response {
    let nav = signed.nav("shared-secret");
    if !nav.org_admin {
        return error_page(
            Some(nav),
            StatusCode::FORBIDDEN,
            "Your role does not manage the shared secret.",
        );
    }
    render(&SharedSecretPage {
        title: "Shared secret".to_owned(),
        secret: None,
        rotated_at: String::new(),
        message: None,
        error: None,
        nav: Some(nav),
    })
}

#[derive(Deserialize)]
pub struct SecretForm {
    csrf: String,
    #[serde(default)]
    password: String,
    action: String,
}

pub async fn shared_secret_action(
    State(state): State<AppState>,
    signed: Signed,
    Form(input): Form<SecretForm>,
) -> Result<Response, Response> {
    signed.check_csrf(&input.csrf)?;
    let nav = signed.nav("shared-secret");
    let page = |secret: Option<SharedSecret>, message: Option<&str>, error: Option<&str>| {
        let failed = error.is_some();
        let mut response = render(&SharedSecretPage {
            title: "Shared secret".to_owned(),
            rotated_at: secret
                .as_ref()
                .map(|s| time(s.rotated_at))
                .unwrap_or_default(),
            secret: secret.map(|s| s.shared_secret),
            message: message.map(str::to_owned),
            error: error.map(str::to_owned),
            nav: Some(nav.clone()),
        });
        if failed {
            *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        }
        response
    };
    // Revealing or rotating asks for the password again: a session left
    // open on a shared screen is not enough.
    let ok = super::signin::check_password(&state, &signed.0.member, &input.password).await;
    if !ok {
        return Err(page(None, None, Some("The password is not right.")));
    }
    let api = Api::new(&state, signed.principal());
    let result = match input.action.as_str() {
        "rotate" => api
            .send::<SharedSecret>(Method::POST, "/v1/shared-secret/rotate", &json!({}))
            .await
            .map(|s| {
                (
                    s,
                    "The shared secret was rotated. Update every integration that uses it.",
                )
            }),
        _ => api.get::<SharedSecret>("/v1/shared-secret").await.map(|s| {
            (
                s,
                "Shown because you asked; this reveal is in the audit log.",
            )
        }),
    };
    match result {
        Ok((secret, message)) => Ok(page(Some(secret), Some(message), None)),
        Err(failure) => Err(failure_page(Some(nav.clone()), &failure)),
    }
}

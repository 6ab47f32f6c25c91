//! Key pages: the table, creating (the full key shown once), details with
//! the usage chart, editing, regenerating, disabling, revoking and archiving.

use super::client::{Api, Failure};
use super::forms::{self, Choice, choices, query, time, time_or, wire_name};
use super::{Nav, Signed, chart, error_page, failure_page, render};
use crate::api::key_actions::RegenerateKey;
use crate::api::usage::Usage;
use crate::api::views::{KeyView, Page, ProjectView};
use crate::error::ApiError;
use crate::session::SessionToken;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use chrono::{DateTime, Duration, Utc};
use keyward_core::id::KeyId;
use keyward_core::key_format::FullKey;
use keyward_core::scope::Role;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// What the one-time key page shows: sealed in the session until read.
#[derive(Serialize, Deserialize)]
struct OneTimeKey {
    key_id: String,
    key: String,
}

fn flash_aad(token: &SessionToken) -> Vec<u8> {
    let mut aad = b"keyward flash\0".to_vec();
    aad.extend_from_slice(&token.hash());
    aad
}

/// Leaves a just-created key for the session's next page, sealed.
pub async fn leave_key(
    state: &AppState,
    token: &SessionToken,
    id: &KeyId,
    key: &FullKey,
) -> Result<(), ApiError> {
    let payload = serde_json::to_vec(&OneTimeKey {
        key_id: id.to_string(),
        key: key.expose().to_owned(),
    })
    .map_err(|e| ApiError::Internal(Box::new(e)))?;
    let sealed = state.master_key.seal(&payload, &flash_aad(token))?;
    state
        .store
        .set_session_flash(&token.hash(), &sealed)
        .await?;
    Ok(())
}

async fn take_key(state: &AppState, token: &SessionToken) -> Result<Option<OneTimeKey>, ApiError> {
    let Some(sealed) = state.store.take_session_flash(&token.hash()).await? else {
        return Ok(None);
    };
    let payload = state.master_key.open(&sealed, &flash_aad(token))?;
    Ok(serde_json::from_slice(&payload).ok())
}

fn notice(done: Option<&str>) -> Option<String> {
    let text = match done? {
        "password" => "Your password was changed.",
        "updated" => "The key was saved.",
        "enabled" => "The key was enabled.",
        "disabled" => "The key was disabled.",
        "revoked" => "The key was revoked. It no longer verifies.",
        "archived" => "The key was archived.",
        _ => return None,
    };
    Some(text.to_owned())
}

/// One row of the keys table.
struct KeyRow {
    id: String,
    name: String,
    description: String,
    hint: String,
    kind: String,
    project: String,
    role: String,
    access: String,
    status: String,
    created: String,
    last_used: String,
}

fn role_label(role: Role) -> &'static str {
    match role {
        Role::Admin => "Admin",
        Role::Readonly => "Read only",
        Role::Custom => "Custom",
    }
}

fn status_label(view: &KeyView) -> String {
    let name = wire_name(view.status);
    let mut chars = name.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    project_id: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default, rename = "type")]
    key_type: Option<String>,
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    sort: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

/// A column header that sorts.
struct SortLink {
    label: &'static str,
    href: String,
    state: &'static str,
}

#[derive(Template)]
#[template(path = "keys.html")]
struct KeysPage {
    nav: Option<Nav>,
    title: String,
    notice: Option<String>,
    rows: Vec<KeyRow>,
    projects: Vec<Choice>,
    statuses: Vec<Choice>,
    types: Vec<Choice>,
    q: String,
    sort: String,
    sorts: Vec<SortLink>,
    next: Option<String>,
    archived: bool,
    error: Option<String>,
}

async fn projects(api: &Api<'_>) -> Result<Vec<ProjectView>, Failure> {
    Ok(api.get::<Page<ProjectView>>("/v1/projects").await?.data)
}

pub async fn list(
    State(state): State<AppState>,
    signed: Signed,
    Query(q): Query<ListQuery>,
) -> Response {
    let api = Api::new(&state, signed.principal());
    let archived = q.status.as_deref() == Some("archived");
    let nav = signed.nav(if archived { "archived" } else { "keys" });
    let projects = match projects(&api).await {
        Ok(p) => p,
        Err(failure) => return failure_page(Some(nav), &failure),
    };
    let filters = |sort: Option<String>, cursor: Option<String>| {
        query(&[
            ("project_id", q.project_id.clone()),
            ("status", q.status.clone()),
            ("type", q.key_type.clone()),
            ("q", q.q.clone()),
            ("sort", sort),
            ("cursor", cursor),
        ])
    };
    let api_query = filters(q.sort.clone(), q.cursor.clone());
    let (page, error) = match api
        .get::<Page<KeyView>>(&format!("/v1/keys?limit=25&{api_query}"))
        .await
    {
        Ok(page) => (page, None),
        Err(failure) if failure.status == StatusCode::UNPROCESSABLE_ENTITY => (
            Page {
                data: Vec::new(),
                next_cursor: None,
            },
            Some(failure.messages().join(" ")),
        ),
        Err(failure) => return failure_page(Some(nav), &failure),
    };
    let project_name = |id: &str| {
        projects
            .iter()
            .find(|p| p.id == id)
            .map_or_else(|| id.to_owned(), |p| p.name.clone())
    };
    let rows = page
        .data
        .iter()
        .map(|k| KeyRow {
            id: k.id.clone(),
            name: k.name.clone(),
            description: k.description.clone(),
            hint: k.hint.clone(),
            kind: wire_name(k.key_type),
            project: project_name(&k.project_id),
            role: role_label(k.role).to_owned(),
            access: if wire_name(k.access) == "full" {
                "Full".to_owned()
            } else {
                "Partial".to_owned()
            },
            status: status_label(k),
            created: time(k.created_at),
            last_used: time_or(k.last_used_at, "Never"),
        })
        .collect();
    let sort = q.sort.clone().unwrap_or_else(|| "-created_at".to_owned());
    let sort_link = |label, asc: &str, desc: &str, first: &str| {
        let (next, state) = if sort == desc {
            (asc, "descending")
        } else if sort == asc {
            (desc, "ascending")
        } else {
            (first, "none")
        };
        SortLink {
            label,
            href: format!("/keys?{}", filters(Some(next.to_owned()), None)),
            state,
        }
    };
    let sorts = vec![
        sort_link("Scope", "scope", "scope", "scope"),
        sort_link("Created", "created_at", "-created_at", "-created_at"),
        sort_link(
            "Last used",
            "last_used_at",
            "-last_used_at",
            "-last_used_at",
        ),
    ];
    let mut project_choices = vec![Choice {
        value: String::new(),
        label: "All projects".to_owned(),
        selected: q.project_id.is_none(),
    }];
    project_choices.extend(
        projects
            .iter()
            .filter(|p| !p.management || nav.org_admin)
            .map(|p| Choice {
                value: p.id.clone(),
                label: if p.management {
                    format!("{} (root keys)", p.name)
                } else {
                    p.name.clone()
                },
                selected: q.project_id.as_deref() == Some(p.id.as_str()),
            }),
    );
    let status = q.status.clone().unwrap_or_default();
    let kind = q.key_type.clone().unwrap_or_default();
    render(&KeysPage {
        title: if archived {
            "Archived keys"
        } else {
            "API keys"
        }
        .to_owned(),
        notice: notice(q.done.as_deref()),
        rows,
        projects: project_choices,
        statuses: choices(
            &[
                ("", "Any status"),
                ("active", "Active"),
                ("disabled", "Disabled"),
                ("expired", "Expired"),
                ("revoked", "Revoked"),
                ("archived", "Archived"),
            ],
            &status,
        ),
        types: choices(
            &[
                ("", "Any type"),
                ("secret", "Secret"),
                ("publishable", "Publishable"),
            ],
            &kind,
        ),
        q: q.q.clone().unwrap_or_default(),
        sort,
        sorts,
        next: page
            .next_cursor
            .map(|c| format!("/keys?{}", filters(q.sort.clone(), Some(c)))),
        archived,
        error,
        nav: Some(nav),
    })
}

/// An API of the project's catalog, as a checkbox.
struct ApiBox {
    name: String,
    checked: bool,
}

/// What the key form holds: what the person typed, kept across errors.
#[derive(Debug, Default, Deserialize)]
pub struct KeyInput {
    csrf: String,
    #[serde(default)]
    project_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    key_type: String,
    #[serde(default)]
    access: String,
    #[serde(default)]
    apis: Vec<String>,
    #[serde(default)]
    expiry: String,
    #[serde(default)]
    expiry_date: String,
    #[serde(default)]
    trusted_origins: String,
    #[serde(default)]
    allowed_ips: String,
}

#[derive(Template)]
#[template(path = "key_form.html")]
struct KeyFormPage {
    nav: Option<Nav>,
    title: String,
    action: String,
    creating: bool,
    project_id: String,
    projects: Vec<Choice>,
    apis: Vec<ApiBox>,
    input: KeyInput,
    types: Vec<Choice>,
    accesses: Vec<Choice>,
    expiries: Vec<Choice>,
    note: Option<String>,
    /// False for root keys: their management scopes are not a catalog's APIs.
    scopes_editable: bool,
    errors: Vec<String>,
}

impl KeyFormPage {
    fn new(
        nav: Nav,
        creating: bool,
        action: String,
        projects: &[ProjectView],
        project: &ProjectView,
        input: KeyInput,
    ) -> Self {
        let apis = project
            .apis
            .iter()
            .map(|name| ApiBox {
                name: name.clone(),
                checked: input.apis.contains(name),
            })
            .collect();
        Self {
            title: if creating {
                "Create an API key"
            } else {
                "Edit key"
            }
            .to_owned(),
            action,
            creating,
            project_id: project.id.clone(),
            projects: projects
                .iter()
                .filter(|p| !p.management)
                .map(|p| Choice {
                    value: p.id.clone(),
                    label: p.name.clone(),
                    selected: p.id == project.id,
                })
                .collect(),
            apis,
            types: choices(
                &[
                    ("secret", "Secret — for servers; shown once"),
                    ("publishable", "Publishable — for browsers and apps"),
                ],
                &input.key_type,
            ),
            accesses: choices(
                &[("admin", "Read and write"), ("readonly", "Read only")],
                &input.access,
            ),
            expiries: choices(
                &[
                    ("never", "Never"),
                    ("30", "In 30 days"),
                    ("90", "In 90 days"),
                    ("365", "In 365 days"),
                    ("date", "On a date…"),
                ],
                &input.expiry,
            ),
            input,
            note: None,
            scopes_editable: true,
            errors: Vec::new(),
            nav: Some(nav),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct NewQuery {
    #[serde(default)]
    project_id: Option<String>,
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

/// The scopes the form's access and API boxes stand for: a preset when
/// every API is chosen, else `<api>:*` or `<api>:read` for each.
fn access_body(input: &KeyInput, catalog: &[String]) -> Result<(Value, Value), String> {
    let readonly = input.access == "readonly";
    let chosen: Vec<&String> = catalog.iter().filter(|a| input.apis.contains(a)).collect();
    if chosen.len() == catalog.len() {
        let role = if readonly { "readonly" } else { "admin" };
        return Ok((json!(role), Value::Null));
    }
    if chosen.is_empty() {
        return Err("Choose at least one API.".to_owned());
    }
    let action = if readonly { "read" } else { "*" };
    let scopes: Vec<String> = chosen.iter().map(|a| format!("{a}:{action}")).collect();
    Ok((json!("custom"), json!(scopes)))
}

fn expiry_body(input: &KeyInput, now: DateTime<Utc>) -> Result<Value, String> {
    match input.expiry.as_str() {
        "" | "never" => Ok(Value::Null),
        "date" => forms::day_end(&input.expiry_date)
            .map(Value::from)
            .ok_or_else(|| "Expiry date: choose a date.".to_owned()),
        days => days
            .parse::<i64>()
            .ok()
            .filter(|d| [30, 90, 365].contains(d))
            .map(|d| json!(now + Duration::days(d)))
            .ok_or_else(|| "Expiry: choose one of the offered choices.".to_owned()),
    }
}

fn key_body(
    input: &KeyInput,
    catalog: &[String],
    now: DateTime<Utc>,
) -> Result<Value, Vec<String>> {
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
        "expires_at": expires_at,
        "trusted_origins": forms::lines(&input.trusted_origins),
        "allowed_ips": forms::lines(&input.allowed_ips),
    });
    if !scopes.is_null() {
        body["scopes"] = scopes;
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
    let again = |input: KeyInput, errors: Vec<String>| {
        let mut page = KeyFormPage::new(
            nav.clone(),
            true,
            "/keys/new".to_owned(),
            &projects,
            &project,
            input,
        );
        page.errors = errors;
        let mut response = render(&page);
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        response
    };
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
            return Err(again(input, failure.messages()));
        }
        Err(failure) => return Err(failure_page(Some(nav), &failure)),
    };
    one_time_redirect(&state, &signed, &created).await
}

/// Seals the new key into the session and sends the browser to the page
/// that shows it once (so that reloading cannot show it again).
async fn one_time_redirect(
    state: &AppState,
    signed: &Signed,
    created: &KeyView,
) -> Result<Response, Response> {
    let (Some(key), Ok(id)) = (created.key.as_deref(), KeyId::parse(&created.id)) else {
        return Err(error_page(
            Some(signed.nav("keys")),
            StatusCode::INTERNAL_SERVER_ERROR,
            "The key was created but could not be shown.",
        ));
    };
    leave_key(
        state,
        &signed.0.token,
        &id,
        &FullKey::from_trusted(key.to_owned()),
    )
    .await
    .map_err(IntoResponse::into_response)?;
    Ok(Redirect::to(&format!("/keys/{id}/created")).into_response())
}

#[derive(Template)]
#[template(path = "key_created.html")]
struct CreatedPage {
    nav: Option<Nav>,
    title: String,
    id: String,
    key: Option<String>,
}

pub async fn created(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> Response {
    let key = match take_key(&state, &signed.0.token).await {
        Ok(key) => key.filter(|k| k.key_id == id).map(|k| k.key),
        Err(error) => return error.into_response(),
    };
    render(&CreatedPage {
        nav: Some(signed.nav("keys")),
        title: if key.is_some() {
            "Copy your key now"
        } else {
            "This key is no longer shown"
        }
        .to_owned(),
        id,
        key,
    })
}

/// A label and a value on the details page.
struct Field {
    label: &'static str,
    value: String,
}

#[derive(Template)]
#[template(path = "key.html")]
struct KeyPage {
    nav: Option<Nav>,
    title: String,
    notice: Option<String>,
    key: KeyView,
    fields: Vec<Field>,
    chart: String,
    totals: Vec<(String, u64)>,
    live: bool,
    can_change: bool,
    can_revoke: bool,
    publishable_key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Response {
    let nav = signed.nav("keys");
    let api = Api::new(&state, signed.principal());
    let key: KeyView = match api.get(&format!("/v1/keys/{}", forms::encode(&id))).await {
        Ok(key) => key,
        Err(failure) => return failure_page(Some(nav), &failure),
    };
    let usage: Usage = match api
        .get(&format!(
            "/v1/keys/{}/usage?granularity=day",
            forms::encode(&id)
        ))
        .await
    {
        Ok(usage) => usage,
        Err(failure) => return failure_page(Some(nav), &failure),
    };
    let project = projects(&api)
        .await
        .ok()
        .and_then(|ps| ps.into_iter().find(|p| p.id == key.project_id))
        .map_or_else(|| key.project_id.clone(), |p| p.name);
    let access = if wire_name(key.access) == "full" {
        "Full"
    } else {
        "Partial"
    };
    let mut fields = vec![
        Field {
            label: "Hint",
            value: key.hint.clone(),
        },
        Field {
            label: "Type",
            value: wire_name(key.key_type),
        },
        Field {
            label: "Project",
            value: project,
        },
        Field {
            label: "Role",
            value: format!("{} ({access})", role_label(key.role)),
        },
        Field {
            label: "Scopes",
            value: key.scopes.join(", "),
        },
        Field {
            label: "Status",
            value: status_label(&key),
        },
        Field {
            label: "Created",
            value: time(key.created_at),
        },
        Field {
            label: "Last used",
            value: time_or(key.last_used_at, "Never"),
        },
        Field {
            label: "Expires",
            value: time_or(key.expires_at, "Never"),
        },
        Field {
            label: "Trusted origins",
            value: if key.trusted_origins.is_empty() {
                "Any".to_owned()
            } else {
                key.trusted_origins.join(", ")
            },
        },
        Field {
            label: "Allowed IPs",
            value: if key.allowed_ips.is_empty() {
                "Any".to_owned()
            } else {
                key.allowed_ips.join(", ")
            },
        },
    ];
    if let Some(until) = key.previous_secret_expires_at {
        fields.push(Field {
            label: "Previous secret works until",
            value: time(until),
        });
    }
    if let Some(at) = key.revoked_at {
        let reason = key.revoked_reason.clone().unwrap_or_default();
        fields.push(Field {
            label: "Revoked",
            value: format!("{} {reason}", time(at)).trim().to_owned(),
        });
    }
    let (svg, totals) = chart::usage_chart(&usage);
    let live = key.revoked_at.is_none() && key.archived_at.is_none();
    let own = key.created_by == signed.principal().actor_id;
    let member_limited = signed.principal().own_keys_only();
    render(&KeyPage {
        title: key.name.clone(),
        notice: notice(q.done.as_deref()),
        fields,
        chart: svg,
        totals,
        live,
        can_change: nav.write_keys && (own || !member_limited),
        can_revoke: nav.revoke_keys && (own || !member_limited),
        publishable_key: key.key.clone(),
        key,
        nav: Some(nav),
    })
}

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
            .map(|t| (t - Duration::days(1)).format("%Y-%m-%d").to_string())
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
) -> Result<Value, Vec<String>> {
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
    let again = |input: KeyInput, errors: Vec<String>| {
        let mut page = KeyFormPage::new(
            nav.clone(),
            false,
            format!("/keys/{}/edit", key.id),
            &projects,
            &project,
            input,
        );
        page.scopes_editable = !project.management;
        page.errors = errors;
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
        Err(failure) if failure.is_form_error() => Err(again(input, failure.messages())),
        Err(failure) => Err(failure_page(Some(nav), &failure)),
    }
}

#[derive(Deserialize)]
pub struct RegenerateForm {
    csrf: String,
    #[serde(default)]
    grace: u64,
}

pub async fn regenerate(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(input): Form<RegenerateForm>,
) -> Result<Response, Response> {
    signed.check_csrf(&input.csrf)?;
    let api = Api::new(&state, signed.principal());
    let body = RegenerateKey {
        grace_period_seconds: Some(input.grace),
    };
    let uri = format!("/v1/keys/{}/regenerate", forms::encode(&id));
    match api.send::<KeyView>(Method::POST, &uri, &body).await {
        Ok(view) => one_time_redirect(&state, &signed, &view).await,
        Err(failure) => Err(failure_page(Some(signed.nav("keys")), &failure)),
    }
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    csrf: String,
}

async fn simple_action(
    state: &AppState,
    signed: &Signed,
    id: &str,
    action: &str,
    body: Value,
    done: &str,
) -> Result<Response, Response> {
    let api = Api::new(state, signed.principal());
    let uri = format!("/v1/keys/{}/{action}", forms::encode(id));
    match api.send::<KeyView>(Method::POST, &uri, &body).await {
        Ok(view) => Ok(Redirect::to(&format!("/keys/{}?done={done}", view.id)).into_response()),
        Err(failure) => Err(failure_page(Some(signed.nav("keys")), &failure)),
    }
}

pub async fn enable(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(input): Form<CsrfOnly>,
) -> Result<Response, Response> {
    signed.check_csrf(&input.csrf)?;
    simple_action(&state, &signed, &id, "enable", json!({}), "enabled").await
}

pub async fn disable(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(input): Form<CsrfOnly>,
) -> Result<Response, Response> {
    signed.check_csrf(&input.csrf)?;
    simple_action(&state, &signed, &id, "disable", json!({}), "disabled").await
}

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage {
    nav: Option<Nav>,
    title: String,
    action: String,
    verb: String,
    name: String,
    explanation: String,
    with_reason: bool,
    error: Option<String>,
}

async fn confirm_page(
    state: &AppState,
    signed: &Signed,
    id: &str,
    verb: &str,
    error: Option<String>,
) -> Response {
    let nav = signed.nav("keys");
    let api = Api::new(state, signed.principal());
    let key: KeyView = match api.get(&format!("/v1/keys/{}", forms::encode(id))).await {
        Ok(key) => key,
        Err(failure) => return failure_page(Some(nav), &failure),
    };
    let (explanation, with_reason) = if verb == "revoke" {
        (
            "Revoking is immediate and cannot be undone: every service using this key will be refused at once.",
            true,
        )
    } else {
        (
            "Archiving hides the key from the list. An archived key never verifies again.",
            false,
        )
    };
    let mut response = render(&ConfirmPage {
        title: format!(
            "{} “{}”?",
            if verb == "revoke" {
                "Revoke"
            } else {
                "Archive"
            },
            key.name
        ),
        action: format!("/keys/{}/{verb}", key.id),
        verb: verb.to_owned(),
        name: key.name.clone(),
        explanation: explanation.to_owned(),
        with_reason,
        nav: Some(nav),
        error: error.clone(),
    });
    if error.is_some() {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    response
}

pub async fn revoke_form(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> Response {
    confirm_page(&state, &signed, &id, "revoke", None).await
}

pub async fn archive_form(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> Response {
    confirm_page(&state, &signed, &id, "archive", None).await
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    csrf: String,
    #[serde(default)]
    confirm_name: String,
    #[serde(default)]
    reason: String,
}

async fn confirmed(
    state: &AppState,
    signed: &Signed,
    id: &str,
    verb: &str,
    input: &ConfirmForm,
) -> Result<bool, Response> {
    let api = Api::new(state, signed.principal());
    let key: KeyView = api
        .get(&format!("/v1/keys/{}", forms::encode(id)))
        .await
        .map_err(|f| failure_page(Some(signed.nav("keys")), &f))?;
    if input.confirm_name.trim() == key.name {
        return Ok(true);
    }
    Err(confirm_page(
        state,
        signed,
        id,
        verb,
        Some("Type the key's name exactly to confirm.".to_owned()),
    )
    .await)
}

pub async fn revoke(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(input): Form<ConfirmForm>,
) -> Result<Response, Response> {
    signed.check_csrf(&input.csrf)?;
    confirmed(&state, &signed, &id, "revoke", &input).await?;
    let reason = Some(input.reason.trim().to_owned()).filter(|r| !r.is_empty());
    let body = serde_json::to_value(RevokeKeyBody { reason }).unwrap_or_default();
    simple_action(&state, &signed, &id, "revoke", body, "revoked").await
}

#[derive(Serialize)]
struct RevokeKeyBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

pub async fn archive(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Form(input): Form<ConfirmForm>,
) -> Result<Response, Response> {
    signed.check_csrf(&input.csrf)?;
    confirmed(&state, &signed, &id, "archive", &input).await?;
    simple_action(&state, &signed, &id, "archive", json!({}), "archived").await
}

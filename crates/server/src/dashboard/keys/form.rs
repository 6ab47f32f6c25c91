//! The key form, shared by creating and editing a key: what the person
//! typed (kept across errors), the page that shows it, and how its access,
//! API and expiry fields become the API's `role`, `scopes` and `expires_at`.

use crate::api::views::ProjectView;
use crate::dashboard::Nav;
use crate::dashboard::forms::{Choice, FieldErrors, FieldLabel, choices};
use askama::Template;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

/// An API of the project's catalog, as a checkbox.
struct ApiBox {
    name: String,
    checked: bool,
}

/// What the key form holds: what the person typed, kept across errors.
#[derive(Debug, Default, Deserialize)]
pub struct KeyInput {
    pub(super) csrf: String,
    #[serde(default)]
    pub(super) project_id: String,
    /// The project whose API catalog the form showed: a key is created
    /// only in that project, so that choosing another one and submitting
    /// shows that one's catalog first instead.
    #[serde(default)]
    pub(super) catalog_project: String,
    #[serde(default)]
    pub(super) name: String,
    #[serde(default)]
    pub(super) description: String,
    #[serde(default)]
    pub(super) key_type: String,
    #[serde(default)]
    pub(super) access: String,
    #[serde(default)]
    pub(super) apis: Vec<String>,
    #[serde(default)]
    pub(super) expiry: String,
    #[serde(default)]
    pub(super) expiry_date: String,
    #[serde(default)]
    pub(super) trusted_origins: String,
    #[serde(default)]
    pub(super) allowed_ips: String,
}

#[derive(Template)]
#[template(path = "key_form.html")]
pub(super) struct KeyFormPage {
    nav: Option<Nav>,
    pub(super) title: String,
    action: String,
    creating: bool,
    project_id: String,
    projects: Vec<Choice>,
    apis: Vec<ApiBox>,
    input: KeyInput,
    types: Vec<Choice>,
    accesses: Vec<Choice>,
    expiries: Vec<Choice>,
    pub(super) note: Option<String>,
    /// False for root keys: their management scopes are not a catalog's APIs.
    pub(super) scopes_editable: bool,
    pub(super) errors: FieldErrors,
}

/// Where the key form shows each API field's errors, named as its labels.
const FIELDS: &[FieldLabel] = &[
    ("name", "name", "Name"),
    ("description", "description", "Description"),
    ("role", "apis", "APIs"),
    ("scopes", "apis", "APIs"),
    ("apis", "apis", "APIs"),
    ("expires_at", "expiry", "Expires"),
    ("expiry_date", "expiry_date", "Expiry date"),
    ("trusted_origins", "trusted_origins", "Trusted origins"),
    ("allowed_ips", "allowed_ips", "Allowed IPs"),
];

impl KeyFormPage {
    /// Shows `errors` (API field → message) at the form's controls.
    pub(super) fn set_errors(&mut self, errors: &[(String, String)]) {
        self.errors = FieldErrors::new(errors, FIELDS);
    }
}

impl KeyFormPage {
    pub(super) fn new(
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
            errors: FieldErrors::default(),
            nav: Some(nav),
        }
    }
}

/// The scopes the form's access and API boxes stand for: a preset when
/// every API is chosen, else `<api>:*` or `<api>:read` for each.
pub(super) fn access_body(
    input: &KeyInput,
    catalog: &[String],
) -> Result<(Value, Value), (String, String)> {
    let readonly = input.access == "readonly";
    // A box the page did not offer (a tampered form) is refused, not dropped.
    if let Some(unknown) = input.apis.iter().find(|a| !catalog.contains(a)) {
        return Err((
            "apis".to_owned(),
            format!("“{unknown}” is not in this project's API catalog."),
        ));
    }
    let chosen: Vec<&String> = catalog.iter().filter(|a| input.apis.contains(a)).collect();
    if chosen.len() == catalog.len() {
        let role = if readonly { "readonly" } else { "admin" };
        return Ok((json!(role), Value::Null));
    }
    if chosen.is_empty() {
        return Err(("apis".to_owned(), "Choose at least one API.".to_owned()));
    }
    let action = if readonly { "read" } else { "*" };
    let scopes: Vec<String> = chosen.iter().map(|a| format!("{a}:{action}")).collect();
    Ok((json!("custom"), json!(scopes)))
}

pub(super) fn expiry_body(input: &KeyInput, now: DateTime<Utc>) -> Result<Value, (String, String)> {
    match input.expiry.as_str() {
        "" | "never" => Ok(Value::Null),
        // The last second of the chosen day, so that the key's page shows
        // the day the form showed (its end, not the next day's start).
        "date" => chrono::NaiveDate::parse_from_str(input.expiry_date.trim(), "%Y-%m-%d")
            .map(|day| Value::from(format!("{day}T23:59:59Z")))
            .map_err(|_| ("expiry_date".to_owned(), "Choose a date.".to_owned())),
        days => days
            .parse::<i64>()
            .ok()
            .filter(|d| [30, 90, 365].contains(d))
            .map(|d| json!(now + Duration::days(d)))
            .ok_or_else(|| {
                (
                    "expires_at".to_owned(),
                    "Choose one of the offered choices.".to_owned(),
                )
            }),
    }
}

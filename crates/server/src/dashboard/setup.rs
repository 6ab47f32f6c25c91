//! First run: on a database without any organization, `keyward serve`
//! prints a one-time link; whoever opens it creates the first organization
//! and becomes its owner. The link works once, for [`SETUP_MINUTES`].
//!
//! The token lives in the memory of the process that printed it (only its
//! SHA-256); restarting prints a new one while there is still no
//! organization, and none works once one exists.

use super::forms::{FieldErrors, FieldLabel};
use super::{Nav, SETUP_MINUTES, error_page, render, signin};
use crate::bootstrap;
use crate::session::SecureCookies;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::Form;
use chrono::{DateTime, Duration, Utc};
use keyward_core::base62;
use keyward_core::error::DomainError;
use secrecy::SecretString;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The pending setup token, if any.
#[derive(Debug, Default)]
pub struct SetupLink(tokio::sync::Mutex<Option<Pending>>);

#[derive(Debug)]
struct Pending {
    hash: [u8; 32],
    expires_at: DateTime<Utc>,
}

impl SetupLink {
    /// A new token, replacing any earlier one.
    pub async fn issue(&self, now: DateTime<Utc>) -> Result<String, DomainError> {
        let token = base62::random(32)?;
        *self.0.lock().await = Some(Pending {
            hash: Sha256::digest(token.as_bytes()).into(),
            expires_at: now + Duration::minutes(SETUP_MINUTES),
        });
        Ok(token)
    }

    async fn valid(&self, token: &str, now: DateTime<Utc>) -> bool {
        let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.0
            .lock()
            .await
            .as_ref()
            .is_some_and(|p| p.expires_at > now && bool::from(p.hash.ct_eq(&hash)))
    }
}

#[derive(Debug, Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    nav: Option<Nav>,
    title: String,
    token: String,
    org_name: String,
    email: String,
    errors: FieldErrors,
}

/// Where the setup form shows each field's errors (the API's names for
/// the organization and its owner, and the form's own).
const FIELDS: &[FieldLabel] = &[
    ("name", "org_name", "Organization name"),
    ("owner_email", "email", "Your email"),
    ("owner_password", "password", "Password"),
    ("password_again", "password_again", "Password again"),
];

fn invalid_link() -> Response {
    error_page(
        None,
        StatusCode::NOT_FOUND,
        "This setup link is not valid: it was already used, it expired, or an organization \
         already exists. Sign in instead, or restart `keyward serve` on an empty database for \
         a new link.",
    )
}

pub async fn form(State(state): State<AppState>, Query(q): Query<TokenQuery>) -> Response {
    if !state.setup.valid(&q.token, state.clock.now()).await {
        return invalid_link();
    }
    render(&SetupPage {
        nav: None,
        title: "Create your organization".to_owned(),
        token: q.token,
        org_name: String::new(),
        email: String::new(),
        errors: FieldErrors::default(),
    })
}

#[derive(Deserialize)]
pub struct SetupForm {
    token: String,
    org_name: String,
    email: String,
    password: String,
    password_again: String,
}

impl std::fmt::Debug for SetupForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetupForm")
            .field("org_name", &self.org_name)
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

pub async fn submit(
    State(state): State<AppState>,
    secure: SecureCookies,
    Form(input): Form<SetupForm>,
) -> Response {
    // Held to the end: two people opening the link at once create one organization.
    let mut pending = state.setup.0.lock().await;
    let now = state.clock.now();
    let hash: [u8; 32] = Sha256::digest(input.token.as_bytes()).into();
    let valid = pending
        .as_ref()
        .is_some_and(|p| p.expires_at > now && bool::from(p.hash.ct_eq(&hash)));
    if !valid {
        return invalid_link();
    }
    let again = |errors: Vec<(String, String)>| {
        let mut response = render(&SetupPage {
            nav: None,
            title: "Create your organization".to_owned(),
            token: input.token.clone(),
            org_name: input.org_name.clone(),
            email: input.email.clone(),
            errors: FieldErrors::new(&errors, FIELDS),
        });
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        response
    };
    if input.password != input.password_again {
        return again(vec![(
            "password_again".to_owned(),
            "The two passwords differ.".to_owned(),
        )]);
    }
    match state.store.list_organizations().await {
        Ok(orgs) if orgs.is_empty() => {}
        Ok(_) => {
            *pending = None;
            return invalid_link();
        }
        Err(error) => return crate::error::ApiError::from(error).into_response(),
    }
    let created = bootstrap::create_organization(
        state.store.as_ref(),
        &state.master_key,
        state.clock.as_ref(),
        "keyward setup link",
        &input.org_name,
        &input.email,
        Some(SecretString::from(input.password.clone())),
    )
    .await;
    let created = match created {
        Ok(created) => created,
        Err(crate::error::ApiError::Invalid(errors)) => {
            return again(
                errors
                    .iter()
                    .map(|e| (e.field.clone(), e.message.clone()))
                    .collect(),
            );
        }
        Err(error) => return error.into_response(),
    };
    *pending = None;
    drop(pending);
    tracing::info!(org = %created.org_id, "organization created from the setup link");
    let members = match state.store.members_by_email(&created.owner_email).await {
        Ok(members) => members,
        Err(error) => return crate::error::ApiError::from(error).into_response(),
    };
    let Some(owner) = members.into_iter().find(|m| m.org_id == created.org_id) else {
        return error_page(
            None,
            StatusCode::INTERNAL_SERVER_ERROR,
            "The owner is missing.",
        );
    };
    let flash = Some((created.root_key_id, created.root_key));
    signin::start_session(&state, &owner, secure, flash, "/keys").await
}

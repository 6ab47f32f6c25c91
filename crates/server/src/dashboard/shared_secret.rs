//! The shared secret page (`/shared-secret`): revealing the organization's
//! shared secret, and rotating it on a confirmation page of its own
//! (`/shared-secret/rotate`), each only after the password is typed again.
//! Both answer with a redirect back to `/shared-secret`, which shows the
//! secret once (sealed into the session meanwhile): reloading it neither
//! reveals nor rotates again.

use super::client::Api;
use super::flash::{self, Flash};
use super::forms::time;
use super::{Nav, Signed, error_page, failure_page, render};
use crate::api::shared_secret::SharedSecret;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use serde::Deserialize;
use serde_json::json;

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

#[derive(Template)]
#[template(path = "shared_secret_rotate.html")]
struct RotatePage {
    nav: Option<Nav>,
    title: String,
    grace_hours: u64,
    error: Option<String>,
}

fn org_admin_nav(signed: &Signed) -> Result<Nav, Response> {
    let nav = signed.nav("shared-secret");
    if nav.org_admin {
        Ok(nav)
    } else {
        Err(error_page(
            Some(nav),
            StatusCode::FORBIDDEN,
            "Your role does not manage the shared secret.",
        ))
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct Done {
    #[serde(default)]
    done: Option<String>,
}

pub async fn shared_secret(
    State(state): State<AppState>,
    signed: Signed,
    Query(q): Query<Done>,
) -> Result<Response, Response> {
    let nav = org_admin_nav(&signed)?;
    let message = match q.done.as_deref() {
        Some("revealed") => Some("Shown because you asked; this reveal is in the audit log."),
        Some("rotated") => {
            Some("The shared secret was rotated. Update every integration that uses it.")
        }
        _ => None,
    };
    // Only the page a reveal or rotation redirected to takes the secret.
    let secret = match message {
        Some(_) => match flash::take(&state, &signed.0.token, |f| {
            matches!(f, Flash::SharedSecret { .. })
        })
        .await
        {
            Ok(Some(Flash::SharedSecret { secret, rotated_at })) => Some((secret, rotated_at)),
            Ok(_) => None,
            Err(error) => return Err(error.into_response()),
        },
        None => None,
    };
    Ok(render(&SharedSecretPage {
        title: "Shared secret".to_owned(),
        rotated_at: secret.as_ref().map(|s| time(s.1)).unwrap_or_default(),
        // Without the secret (the page reloaded), no message either.
        message: secret.as_ref().and(message).map(str::to_owned),
        secret: secret.map(|s| s.0),
        error: None,
        nav: Some(nav),
    }))
}

#[derive(Deserialize)]
pub struct PasswordForm {
    csrf: String,
    #[serde(default)]
    password: String,
}

/// Revealing or rotating asks for the password again: a session left open
/// on a shared screen is not enough. `Err` is the page to answer with.
async fn check_password(
    state: &AppState,
    signed: &Signed,
    input: &PasswordForm,
    page: impl FnOnce(String) -> Response,
) -> Result<(), Response> {
    signed.check_csrf(&input.csrf)?;
    if super::signin::check_password(state, &signed.0.member, &input.password).await {
        Ok(())
    } else {
        let mut response = page("The password is not right.".to_owned());
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        Err(response)
    }
}

/// Shows the secret once on `/shared-secret?done=<done>`.
async fn show_once(
    state: &AppState,
    signed: &Signed,
    secret: SharedSecret,
    done: &str,
) -> Result<Response, Response> {
    let flash = Flash::SharedSecret {
        secret: secret.shared_secret,
        rotated_at: secret.rotated_at,
    };
    flash::leave(state, &signed.0.token, &flash)
        .await
        .map_err(IntoResponse::into_response)?;
    Ok(Redirect::to(&format!("/shared-secret?done={done}")).into_response())
}

pub async fn reveal(
    State(state): State<AppState>,
    signed: Signed,
    Form(input): Form<PasswordForm>,
) -> Result<Response, Response> {
    let nav = org_admin_nav(&signed)?;
    check_password(&state, &signed, &input, |error| {
        render(&SharedSecretPage {
            title: "Shared secret".to_owned(),
            secret: None,
            rotated_at: String::new(),
            message: None,
            error: Some(error),
            nav: Some(nav.clone()),
        })
    })
    .await?;
    let api = Api::new(&state, signed.principal());
    match api.get::<SharedSecret>("/v1/shared-secret").await {
        Ok(secret) => show_once(&state, &signed, secret, "revealed").await,
        Err(failure) => Err(failure_page(Some(nav), &failure)),
    }
}

fn rotate_page(state: &AppState, nav: Nav, error: Option<String>) -> Response {
    render(&RotatePage {
        title: "Rotate the shared secret?".to_owned(),
        grace_hours: state.settings.webhooks.secret_grace.as_secs() / 3600,
        error,
        nav: Some(nav),
    })
}

pub async fn rotate_form(
    State(state): State<AppState>,
    signed: Signed,
) -> Result<Response, Response> {
    let nav = org_admin_nav(&signed)?;
    Ok(rotate_page(&state, nav, None))
}

pub async fn rotate(
    State(state): State<AppState>,
    signed: Signed,
    Form(input): Form<PasswordForm>,
) -> Result<Response, Response> {
    let nav = org_admin_nav(&signed)?;
    check_password(&state, &signed, &input, |error| {
        rotate_page(&state, nav.clone(), Some(error))
    })
    .await?;
    let api = Api::new(&state, signed.principal());
    match api
        .send::<SharedSecret>(Method::POST, "/v1/shared-secret/rotate", &json!({}))
        .await
    {
        Ok(secret) => show_once(&state, &signed, secret, "rotated").await,
        Err(failure) => Err(failure_page(Some(nav), &failure)),
    }
}

//! The shared secret page (`/shared-secret`): revealing or rotating the
//! organization's shared secret, each only after the password is typed again.

use super::client::Api;
use super::forms::time;
use super::{Nav, Signed, error_page, failure_page, render};
use crate::api::shared_secret::SharedSecret;
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::Response;
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

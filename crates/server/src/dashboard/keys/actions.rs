//! What can be done to an existing key besides editing it: regenerate,
//! enable, disable, and the two that cannot be undone, revoke and archive,
//! with the page that asks to type the key's name to confirm them.

use super::one_time::one_time_redirect;
use crate::api::key_actions::RegenerateKey;
use crate::api::views::KeyView;
use crate::dashboard::client::Api;
use crate::dashboard::forms;
use crate::dashboard::{Nav, Signed, error_page, failure_page, render};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

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
        Ok(view) => one_time_redirect(&state, &signed, &view, "regenerated").await,
        Err(failure) => Err(failure_page(Some(signed.nav("keys")), &failure)),
    }
}

#[derive(Template)]
#[template(path = "key_regenerate.html")]
struct RegeneratePage {
    nav: Option<Nav>,
    title: String,
    id: String,
    name: String,
    /// A leaked secret may not keep working: only "at once" is offered.
    leaked: bool,
    /// A publishable key stays shown on its page; a secret one is shown once.
    publishable: bool,
}

/// Regenerating is confirmed on a page of its own, which names the key and
/// says what happens to the old secret.
pub async fn regenerate_form(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> Response {
    let nav = signed.nav("keys");
    if let Err(refused) = allowed(&signed, &nav, nav.write_keys, "regenerate keys") {
        return refused;
    }
    let api = Api::new(&state, signed.principal());
    match api
        .get::<KeyView>(&format!("/v1/keys/{}", forms::encode(&id)))
        .await
    {
        Ok(key) => render(&RegeneratePage {
            title: format!("Regenerate “{}”?", key.name),
            leaked: key.leaked_at.is_some(),
            publishable: key.key_type == keyward_core::key_format::KeyType::Publishable,
            id: key.id,
            name: key.name,
            nav: Some(nav),
        }),
        Err(failure) => failure_page(Some(nav), &failure),
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
    /// Where Cancel goes: the key's page.
    cancel: String,
}

/// A confirmation page only for those who may confirm it: anyone else is
/// told what their role may not do.
fn allowed(signed: &Signed, nav: &Nav, may: bool, what: &str) -> Result<(), Response> {
    if may {
        return Ok(());
    }
    Err(error_page(
        Some(nav.clone()),
        StatusCode::FORBIDDEN,
        &format!(
            "Your role ({}) may not {what}.",
            signed.0.member.role.as_str()
        ),
    ))
}

async fn confirm_page(
    state: &AppState,
    signed: &Signed,
    id: &str,
    verb: &str,
    error: Option<String>,
) -> Response {
    let nav = signed.nav("keys");
    let may = if verb == "revoke" {
        allowed(signed, &nav, nav.revoke_keys, "revoke keys")
    } else {
        allowed(signed, &nav, nav.write_keys, "archive keys")
    };
    if let Err(refused) = may {
        return refused;
    }
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
        cancel: format!("/keys/{}", key.id),
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

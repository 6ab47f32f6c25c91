//! The full key, shown once: sealed into the session when a key is created
//! or regenerated (here, at first-run setup, or as a root key), and taken
//! out by the one page that shows it (`/keys/{id}/created`), so that
//! reloading cannot show it again.

use crate::api::views::KeyView;
use crate::dashboard::{Nav, Signed, error_page, render};
use crate::error::ApiError;
use crate::session::SessionToken;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use keyward_core::id::KeyId;
use keyward_core::key_format::FullKey;
use serde::{Deserialize, Serialize};

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

/// Seals the new key into the session and sends the browser to the page
/// that shows it once (so that reloading cannot show it again).
pub(super) async fn one_time_redirect(
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

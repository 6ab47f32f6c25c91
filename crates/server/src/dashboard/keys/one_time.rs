//! The full key, shown once: sealed into the session when a key is created
//! or regenerated (here, at first-run setup, or as a root key), and taken
//! out by the one page that shows it (`/keys/{id}/created`), so that
//! reloading cannot show it again.

use crate::api::views::KeyView;
use crate::dashboard::flash::{self, Flash};
use crate::dashboard::forms;
use crate::dashboard::{Nav, Signed, error_page, render};
use crate::error::ApiError;
use crate::session::SessionToken;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use keyward_core::id::KeyId;
use keyward_core::key_format::{FullKey, KeyType, parse};
use keyward_core::model::MANAGEMENT_PREFIX;

/// Leaves a just-created key for the session's next page, sealed.
pub async fn leave_key(
    state: &AppState,
    token: &SessionToken,
    id: &KeyId,
    key: &FullKey,
) -> Result<(), ApiError> {
    let flash = Flash::Key {
        key_id: id.to_string(),
        key: key.expose().to_owned(),
    };
    flash::leave(state, token, &flash).await
}

/// Seals the new key into the session and sends the browser to the page
/// that shows it once (so that reloading cannot show it again). A
/// publishable key is no secret and stays shown on the key's own page, so
/// the browser goes there, told what `done` was.
pub(super) async fn one_time_redirect(
    state: &AppState,
    signed: &Signed,
    created: &KeyView,
    done: &str,
) -> Result<Response, Response> {
    if created.key_type == KeyType::Publishable {
        let to = format!(
            "/keys/{}?done=publishable_{done}",
            forms::encode(&created.id)
        );
        return Ok(Redirect::to(&to).into_response());
    }
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
    /// A root key: it manages the organization through the API.
    root: bool,
}

pub async fn created(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> Response {
    let for_this_key = |f: &Flash| matches!(f, Flash::Key { key_id, .. } if *key_id == id);
    let key = match flash::take(&state, &signed.0.token, for_this_key).await {
        Ok(Some(Flash::Key { key, .. })) => Some(key),
        Ok(_) => None,
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
        root: key
            .as_deref()
            .and_then(|k| parse(k).ok())
            .is_some_and(|k| k.prefix == MANAGEMENT_PREFIX),
        key,
    })
}

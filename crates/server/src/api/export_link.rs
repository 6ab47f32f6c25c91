//! The one-time link to an export mailed when too large to attach:
//! `GET /v1/audit/export/download?token=…` shows a page with a download
//! button, and only its `POST` uses the link up. Mail security scanners open
//! the links in a message before the person does; a `GET` that downloaded
//! would spend the link on them.

use super::audit::{download, filters, query_params};
use crate::audit_export::{self, ExportPages};
use crate::error::ApiError;
use crate::extract::Client;
use crate::mail::ExportRequest;
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use keyward_core::audit::{AuditContext, NewEvent, Target};
use keyward_core::email::ExportLink;
use keyward_core::error::Validation;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The token of an emailed link (in the query string, which the server's
/// request logs leave out).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DownloadToken {
    /// The token of the emailed link.
    token: String,
}

/// Length of a link's token: 32 random bytes, base64url without padding.
const TOKEN_LEN: usize = 43;

/// The link a token names, if it can still be used: anything else is 404
/// (unknown, used, expired, or not a token at all), read without locking.
async fn find(
    state: &AppState,
    token: Result<Query<DownloadToken>, QueryRejection>,
) -> Result<(String, ExportLink), ApiError> {
    let token = query_params(token)?.token;
    if token.len() != TOKEN_LEN
        || base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&token)
            .is_err()
    {
        return Err(ApiError::NotFound);
    }
    let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let link = state
        .store
        .find_export_link(&hash, state.clock.now())
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok((token, link))
}

/// A page with a button that downloads the export; the link is not used
/// up by opening it.
#[utoipa::path(
    get, path = "/v1/audit/export/download", tag = "audit", operation_id = "audit_export_download_page",
    params(DownloadToken),
    responses(
        (status = 200, description = "An HTML page whose button downloads the export", content_type = "text/html"),
        (status = 404, description = "`not_found`: the link was used, has expired or never existed"),
    ),
)]
pub async fn page(
    State(state): State<AppState>,
    token: Result<Query<DownloadToken>, QueryRejection>,
) -> Result<Response, ApiError> {
    let (token, link) = find(&state, token).await?;
    let expires = link.expires_at.format("%Y-%m-%d %H:%M UTC");
    // The token is base64url: nothing in it needs escaping in HTML.
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"robots\" content=\"noindex\"><title>Audit log export</title></head>\n\
         <body style=\"font-family: sans-serif; max-width: 40em;\">\n\
         <h1>Audit log export</h1>\n\
         <p>This link downloads the export once, until {expires}.</p>\n\
         <form method=\"post\" action=\"/v1/audit/export/download?token={token}\">\
         <button type=\"submit\">Download the export</button></form>\n</body></html>\n"
    );
    let mut response = html.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    Ok(response)
}

/// Downloads the export, once, within 24 hours of the email; recorded as
/// `audit.export_downloaded` in the transaction that uses the link up. The
/// link is the credential; a used, expired or unknown link is 404.
#[utoipa::path(
    post, path = "/v1/audit/export/download", tag = "audit", operation_id = "audit_export_download",
    params(DownloadToken),
    responses(
        (status = 200, description = "CSV (RFC 4180, with a header row) or JSON lines", content((String = "text/csv"), (String = "application/x-ndjson"))),
        (status = 404, description = "`not_found`: the link was used, has expired or never existed"),
    ),
)]
pub async fn download_once(
    State(state): State<AppState>,
    client: Client,
    token: Result<Query<DownloadToken>, QueryRejection>,
) -> Result<Response, ApiError> {
    let (_, link) = find(&state, token).await?;
    let request: ExportRequest =
        serde_json::from_str(&link.payload).map_err(|e| ApiError::Internal(e.into()))?;
    let mut ctx = AuditContext::system("export link", state.clock.now());
    ctx.ip = client.ip.map(|ip| ip.to_string());
    ctx.user_agent = client.user_agent;
    let event = NewEvent {
        action: "audit.export_downloaded".to_owned(),
        target: Target {
            kind: "audit_log".to_owned(),
            id: link.org_id.to_string(),
            name: "audit log".to_owned(),
        },
        changes: match json!({"export": {"before": null, "after": {"message_id": link.message_id}}})
        {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        },
    };
    if !state.store.use_export_link(&link, &ctx, event).await? {
        return Err(ApiError::NotFound);
    }
    let query = filters(request.filters, &mut Validation::default());
    let pages = ExportPages::new(
        Arc::clone(&state.store),
        link.org_id.clone(),
        query,
        link.audit_seq,
        request.format,
    );
    let name = audit_export::file_name(&link.org_id, link.created_at, request.format);
    tracing::info!(org = %link.org_id, "audit export downloaded through its link");
    Ok(download(pages, request.format, &name))
}

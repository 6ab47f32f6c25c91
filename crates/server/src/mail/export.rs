//! The audit export by email, built by the mail worker off the request
//! path: read page by page like the download, attached as it is up to
//! `gzip_above` bytes, gzipped above, and replaced by a one-time link when
//! even gzipped it exceeds `attachment_limit`. Memory is bounded by that
//! limit, not by the log.

use super::Failure;
use super::messages::{self, Content, File};
use crate::api::audit::{AuditFilters, filters};
use crate::audit_export::{self, ExportPages, Format};
use crate::state::AppState;
use base64::Engine;
use flate2::Compression;
use flate2::write::GzEncoder;
use keyward_core::email::{EXPORT_LINK_LIFETIME, ExportLink, QueuedMail};
use keyward_core::error::Validation;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::sync::Arc;

/// The request of an export by email, as queued.
#[derive(Debug, Serialize, Deserialize)]
pub struct ExportRequest {
    /// The encoding.
    pub format: Format,
    /// The filters, as given (they were checked then).
    pub filters: AuditFilters,
}

/// The export as it grows: plain while small, gzipped once large.
enum Body {
    Plain(Vec<u8>),
    Gzipped(GzEncoder<Vec<u8>>),
}

/// The export's email, its attachment if it has one, and what the audit
/// event of its sending says about it.
pub async fn prepare(
    state: &AppState,
    mail: &QueuedMail,
    recipient: &str,
) -> Result<(Content, Option<File>, Value), Failure> {
    let request: ExportRequest = serde_json::from_str(&mail.payload)
        .map_err(|_| Failure::Permanent("the export request cannot be read".to_owned()))?;
    let described = request.filters.described();
    let query = filters(request.filters, &mut Validation::default());
    let mut pages = ExportPages::new(
        Arc::clone(&state.store),
        mail.org_id.clone(),
        query,
        mail.audit_seq,
        request.format,
    );
    let settings = &state.settings.email;
    let mut body = Body::Plain(Vec::new());
    let mut size = 0;
    let mut too_large = false;
    while let Some((chunk, rest)) = pages.next().await {
        pages = rest;
        let chunk = chunk.map_err(|e| Failure::Retry(e.to_string()))?;
        size += chunk.len();
        body = match body {
            Body::Plain(mut plain) if plain.len() + chunk.len() <= settings.gzip_above => {
                plain.extend_from_slice(&chunk);
                Body::Plain(plain)
            }
            Body::Plain(plain) => {
                let mut gz = GzEncoder::new(Vec::new(), Compression::default());
                write(&mut gz, &plain)?;
                write(&mut gz, &chunk)?;
                Body::Gzipped(gz)
            }
            Body::Gzipped(mut gz) => {
                write(&mut gz, &chunk)?;
                Body::Gzipped(gz)
            }
        };
        if let Body::Gzipped(gz) = &body
            && gz.get_ref().len() > settings.attachment_limit
        {
            too_large = true;
            break;
        }
    }
    let requested_at = mail.created_at;
    let file_name = audit_export::file_name(&mail.org_id, requested_at, request.format);
    let (file, link, delivery) = if too_large {
        let url = make_link(state, mail).await?;
        (None, Some(url), json!({"link": true}))
    } else {
        let file = match body {
            Body::Plain(bytes) => File {
                name: file_name.clone(),
                content_type: request.format.content_type().to_owned(),
                bytes,
            },
            Body::Gzipped(gz) => File {
                name: format!("{file_name}.gz"),
                content_type: "application/gzip".to_owned(),
                bytes: gz.finish().map_err(|e| Failure::Retry(e.to_string()))?,
            },
        };
        let delivery = json!({"attachment": file.name, "bytes": file.bytes.len()});
        if file.bytes.len() > settings.attachment_limit {
            let url = make_link(state, mail).await?;
            (None, Some(url), json!({"link": true}))
        } else {
            (Some(file), None, delivery)
        }
    };
    let content = messages::export(&messages::Export {
        file_name,
        size: if too_large {
            format!("more than {}", messages::size(size))
        } else {
            messages::size(size)
        },
        link,
        requested_at: requested_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        format: request.format.extension(),
        filters: describe(&described),
        recipient: recipient.to_owned(),
    })
    .map_err(Failure::Permanent)?;
    Ok((content, file, delivery))
}

fn write(gz: &mut GzEncoder<Vec<u8>>, bytes: &[u8]) -> Result<(), Failure> {
    gz.write_all(bytes)
        .map_err(|e| Failure::Retry(e.to_string()))
}

/// The filters for people: `action=key.* from=2027-01-01`, or `none`.
fn describe(filters: &Value) -> String {
    let set: Vec<String> = filters
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(name, value)| value.as_str().map(|v| format!("{name}={v}")))
        .collect();
    if set.is_empty() {
        "none".to_owned()
    } else {
        set.join(" ")
    }
}

/// A one-time link to the export, valid for [`EXPORT_LINK_LIFETIME`]; only
/// the SHA-256 of its token is stored.
async fn make_link(state: &AppState, mail: &QueuedMail) -> Result<String, Failure> {
    let mut token = [0u8; 32];
    getrandom::fill(&mut token).map_err(|e| Failure::Retry(e.to_string()))?;
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token);
    let now = state.clock.now();
    let link = ExportLink {
        token_hash: Sha256::digest(token.as_bytes()).into(),
        org_id: mail.org_id.clone(),
        message_id: mail.id.clone(),
        payload: mail.payload.clone(),
        audit_seq: mail.audit_seq,
        created_at: now,
        expires_at: now + EXPORT_LINK_LIFETIME,
    };
    state
        .store
        .create_export_link(&link)
        .await
        .map_err(|e| Failure::Retry(e.to_string()))?;
    Ok(format!(
        "{}/v1/audit/export/download?token={token}",
        state.public_url.trim_end_matches('/')
    ))
}

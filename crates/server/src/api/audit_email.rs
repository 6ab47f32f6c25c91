//! The audit export by email: `POST /v1/audit/export/email` queues it for
//! the mail worker, which mails it as an attachment or, when too large, as a
//! one-time link to `GET /v1/audit/export/download/{token}`.

use super::audit::{AuditFilters, ExportFormat, download, export_event, filters, format_param, query_params};
use crate::audit_export::{self, ExportPages};
use crate::auth::{AuditRead, Authorized, Principal, role_scopes};
use crate::error::ApiError;
use crate::extract::{ApiJson, Client, OptionalJson};
use crate::mail::ExportRequest;
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use keyward_core::audit::{AuditContext, NewEvent, Target};
use keyward_core::email::NewExportMail;
use keyward_core::error::Validation;
use keyward_core::model::{Member, MemberRole};
use keyward_core::scope::{self, Scope};
use keyward_core::store::StoreError;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Whom to mail the export to.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailExport {
    /// A member's email address. A root key must name one, of a member who
    /// may read the audit log (owner, admin or support); a signed-in member
    /// gets the export themselves and may only name their own address.
    #[schema(max_length = 254)]
    to: Option<String>,
}

/// The export queued for mailing.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QueuedExport {
    /// Who will receive it.
    to: String,
    /// `csv` or `jsonl`.
    format: &'static str,
}

/// Mails the export of the matching events to a member: attached (gzipped
/// above 1 MiB), or as a one-time link valid for 24 hours when too large.
/// Built and sent off the request path; recorded as `audit.exported` with
/// `delivery: email`, and its sending as `audit.export_emailed`.
#[utoipa::path(
    post, path = "/v1/audit/export/email", tag = "audit", operation_id = "audit_export_email",
    params(AuditFilters, ExportFormat),
    request_body(content = Option<EmailExport>, description = "Optional for a signed-in member; a root key names `to`"),
    responses(
        (status = 202, body = QueuedExport),
        (status = 409, description = "`email_not_configured`: no SMTP server is set; `exports_pending`: 5 exports by email already wait to be sent"),
    ),
    security(("root_key" = [])),
)]
pub async fn email(
    State(state): State<AppState>,
    principal: Authorized<AuditRead>,
    params: Result<Query<AuditFilters>, QueryRejection>,
    format: Result<Query<ExportFormat>, QueryRejection>,
    OptionalJson(input): OptionalJson<EmailExport>,
) -> Result<(StatusCode, ApiJson<QueuedExport>), ApiError> {
    if state.settings.email.smtp.is_none() {
        return Err(ApiError::Conflict {
            code: "email_not_configured",
            detail: "Keyward sends no email: start it with --smtp-url and --smtp-from".to_owned(),
        });
    }
    let params = query_params(params)?;
    let format = query_params(format)?;
    let mut v = Validation::default();
    let format = format_param(format.format.as_deref(), &mut v);
    let request_filters = params.clone();
    let described = params.described();
    filters(params, &mut v);
    v.finish()?;
    let format = format.unwrap_or(audit_export::Format::Jsonl);
    let member = recipient(&state, &principal, input.to.as_deref()).await?;
    let payload = serde_json::to_string(&ExportRequest {
        format,
        filters: request_filters,
    })
    .map_err(|e| ApiError::Internal(e.into()))?;
    let event = export_event(
        &principal.org_id,
        format,
        described,
        &[("delivery", "email"), ("to", &member.email)],
    );
    let mail = NewExportMail {
        member: member.id.clone(),
        recipient: member.email.clone(),
        payload,
    };
    let now = state.clock.now();
    match state
        .store
        .queue_export(&principal.org_id, &principal.audit(now), event, mail)
        .await
    {
        Ok(_) => {}
        Err(StoreError::Conflict(detail)) => {
            return Err(ApiError::Conflict {
                code: "exports_pending",
                detail,
            });
        }
        Err(error) => return Err(error.into()),
    }
    state.mail_wake.notify_one();
    tracing::info!(org = %principal.org_id, format = format.extension(), "audit export queued for email");
    Ok((
        StatusCode::ACCEPTED,
        ApiJson(QueuedExport {
            to: member.email,
            format: format.extension(),
        }),
    ))
}

/// The member the export goes to: the signed-in member themselves, or the
/// member a root key names, who must be allowed to read the audit log.
async fn recipient(
    state: &AppState,
    principal: &Principal,
    to: Option<&str>,
) -> Result<Member, ApiError> {
    let to = to.map(|t| t.trim().to_lowercase());
    let wanted = match (principal.role, to) {
        (Some(_), Some(to)) if to != principal.name.to_lowercase() => {
            return Err(ApiError::field(
                "to",
                "a signed-in member can only mail the export to themselves",
            ));
        }
        (Some(_), _) => principal.name.to_lowercase(),
        (None, Some(to)) => to,
        (None, None) => {
            return Err(ApiError::field(
                "to",
                "required with a root key: the email address of a member who may read the audit log",
            ));
        }
    };
    let audit_read = Scope::parse("audit:read").map_err(|e| ApiError::Internal(e.into()))?;
    let may_read = |role: MemberRole| {
        let scopes: Vec<Scope> = role_scopes(role)
            .iter()
            .filter_map(|s| Scope::parse(s).ok())
            .collect();
        scope::satisfies(&scopes, std::slice::from_ref(&audit_read))
    };
    state
        .store
        .list_members(&principal.org_id)
        .await?
        .into_iter()
        .find(|m| m.email.to_lowercase() == wanted && may_read(m.role))
        .ok_or_else(|| {
            ApiError::field(
                "to",
                "must be the email address of a member of this organization who may read the audit log",
            )
        })
}

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

/// Downloads an export mailed as a link, once, within 24 hours of the
/// email. The link is the credential; a used, expired or unknown link is
/// 404. Recorded as `audit.export_downloaded`.
#[utoipa::path(
    get, path = "/v1/audit/export/download", tag = "audit", operation_id = "audit_export_download",
    params(DownloadToken),
    responses(
        (status = 200, description = "CSV (RFC 4180, with a header row) or JSON lines", content((String = "text/csv"), (String = "application/x-ndjson"))),
        (status = 404, description = "`not_found`: the link was used, has expired or never existed"),
    ),
)]
pub async fn download_link(
    State(state): State<AppState>,
    client: Client,
    token: Result<Query<DownloadToken>, QueryRejection>,
) -> Result<Response, ApiError> {
    let token = query_params(token)?.token;
    if token.len() != TOKEN_LEN
        || base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&token)
            .is_err()
    {
        return Err(ApiError::NotFound);
    }
    let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let now = state.clock.now();
    let Some(link) = state.store.use_export_link(&hash, now).await? else {
        return Err(ApiError::NotFound);
    };
    let request: ExportRequest = serde_json::from_str(&link.payload)
        .map_err(|e| ApiError::Internal(e.into()))?;
    let mut ctx = AuditContext::system("export link", now);
    ctx.ip = client.ip.map(|ip| ip.to_string());
    ctx.user_agent = client.user_agent;
    let event = NewEvent {
        action: "audit.export_downloaded".to_owned(),
        target: Target {
            kind: "audit_log".to_owned(),
            id: link.org_id.to_string(),
            name: "audit log".to_owned(),
        },
        changes: match json!({"export": {"before": null, "after": {"message_id": link.message_id}}}) {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        },
    };
    state.store.append_audit(&link.org_id, &ctx, event).await?;
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

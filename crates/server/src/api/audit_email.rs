//! The audit export by email: `POST /v1/audit/export/email` queues it for
//! the mail worker, which mails it as an attachment or, when too large, as a
//! one-time link (`export_link.rs`).

use super::audit::{AuditFilters, ExportFormat, export_event, filters, format_param, query_params};
use crate::audit_export;
use crate::auth::{AuditRead, Authorized, Principal, role_holds};
use crate::error::ApiError;
use crate::extract::{ApiJson, OptionalJson};
use crate::mail::ExportRequest;
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use keyward_core::email::NewExportMail;
use keyward_core::error::Validation;
use keyward_core::model::Member;
use keyward_core::store::StoreError;
use serde::{Deserialize, Serialize};

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
    state
        .store
        .list_members(&principal.org_id)
        .await?
        .into_iter()
        .find(|m| m.email.to_lowercase() == wanted && role_holds(m.role, "audit:read"))
        .ok_or_else(|| {
            ApiError::field(
                "to",
                "must be the email address of a member of this organization who may read the audit log",
            )
        })
}

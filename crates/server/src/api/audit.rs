//! `/v1/audit`: search the audit log, and export it as CSV or JSON lines.
//!
//! Pages run newest first with a cursor on `seq`, so new events never shift
//! a walk in progress. Exports run oldest first, page by page from storage
//! straight to the response body: memory stays flat however long the log.

use super::views::Page;
use crate::audit_export::{self, ExportPages, Format};
use crate::auth::{AuditRead, Authorized};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use keyward_core::audit::{AuditEvent, NewEvent, Target};
use keyward_core::error::Validation;
use keyward_core::id::OrgId;
use keyward_core::store::{ActionFilter, AuditQuery};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 100;

/// Filters of `GET /v1/audit` and `GET /v1/audit/export`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFilters {
    /// An action (`key.created`), a family of them (`key.*`), or a kind:
    /// `create`, `update` or `delete`.
    action: Option<String>,
    /// Actor id or actor name (a member's email, a root key's name).
    actor: Option<String>,
    /// How `actor` matches a name: `exact` (the default) or `partial` (any
    /// part of it, case-insensitive). An id always matches exactly.
    actor_match: Option<String>,
    /// The actor's team.
    team: Option<String>,
    /// Target id or target name.
    target: Option<String>,
    /// Events at or after this instant (RFC 3339).
    from: Option<String>,
    /// Events before this instant (RFC 3339).
    to: Option<String>,
    /// Words that must all appear (case-insensitively) in the action, actor
    /// name, target name or changes (a revocation's reason, a description).
    q: Option<String>,
}

/// Paging of `GET /v1/audit`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditPage {
    /// Page size, 1–100 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Format of `GET /v1/audit/export`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportFormat {
    /// `csv` or `jsonl`.
    #[param(required = true, value_type = String)]
    pub(crate) format: Option<String>,
}

fn time(v: &mut Validation, field: &str, value: Option<&str>) -> Option<DateTime<Utc>> {
    let value = value?;
    v.check(field, keyward_core::fields::parse_timestamp(value))
}

impl AuditFilters {
    /// The filters as given, for the export's audit event.
    pub(crate) fn described(&self) -> serde_json::Value {
        json!({
            "action": self.action, "actor": self.actor, "actor_match": self.actor_match,
            "team": self.team, "target": self.target,
            "from": self.from, "to": self.to, "q": self.q,
        })
    }
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// The filters as a store query, or every field error at once.
pub(crate) fn filters(params: AuditFilters, v: &mut Validation) -> AuditQuery {
    for (field, value) in [
        ("action", &params.action),
        ("actor", &params.actor),
        ("team", &params.team),
        ("target", &params.target),
        ("q", &params.q),
    ] {
        if value
            .as_deref()
            .is_some_and(|s| !keyward_core::keys::is_plain_text(s))
        {
            v.push(field, "must not contain control characters");
        }
    }
    let actor_partial = match params.actor_match.as_deref() {
        None | Some("exact") => false,
        Some("partial") => true,
        Some(_) => {
            v.push("actor_match", "exact or partial");
            false
        }
    };
    AuditQuery {
        from: time(v, "from", params.from.as_deref()),
        to: time(v, "to", params.to.as_deref()),
        action: non_empty(params.action).map(|a| ActionFilter::parse(&a)),
        actor: non_empty(params.actor),
        actor_partial,
        team: non_empty(params.team),
        target: non_empty(params.target),
        q: non_empty(params.q),
        ..AuditQuery::default()
    }
}

pub(super) fn query_params<T>(params: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    params.map(|Query(p)| p).map_err(|e| ApiError::BadRequest {
        code: "invalid_query",
        detail: e.body_text(),
        errors: Vec::new(),
    })
}

/// Searches the audit log, newest first.
#[utoipa::path(
    get, path = "/v1/audit", tag = "audit", operation_id = "audit_list",
    params(AuditFilters, AuditPage),
    responses((status = 200, body = Page<AuditEvent>)),
    security(("root_key" = [])),
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Authorized<AuditRead>,
    params: Result<Query<AuditFilters>, QueryRejection>,
    page: Result<Query<AuditPage>, QueryRejection>,
) -> Result<ApiJson<Page<AuditEvent>>, ApiError> {
    let params = query_params(params)?;
    let page = query_params(page)?;
    let mut v = Validation::default();
    let limit = match page.limit {
        Some(limit) => v.check(
            "limit",
            limit
                .parse::<u32>()
                .ok()
                .filter(|l| (1..=MAX_LIMIT).contains(l))
                .ok_or_else(|| format!("between 1 and {MAX_LIMIT}")),
        ),
        None => Some(DEFAULT_LIMIT),
    };
    let before_seq = match page.cursor {
        Some(cursor) => v.check(
            "cursor",
            parse_cursor(&cursor).ok_or_else(|| "not a cursor of this listing".to_owned()),
        ),
        None => None,
    };
    let mut query = filters(params, &mut v);
    v.finish()?;
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    query.before_seq = before_seq;
    query.limit = limit + 1;
    query.newest_first = true;
    let mut data = state.store.search_audit(&principal.org_id, &query).await?;
    let next_cursor = if data.len() > limit as usize {
        data.truncate(limit as usize);
        data.last().map(|e| format!("seq_{}", e.seq))
    } else {
        None
    };
    Ok(ApiJson(Page { data, next_cursor }))
}

/// `seq_` and 1 to 18 digits, as `next_cursor` writes it: nothing else
/// (`i64::from_str` would also take a sign).
fn parse_cursor(cursor: &str) -> Option<i64> {
    let digits = cursor.strip_prefix("seq_")?;
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Streams the matching events, oldest first, as a download. The export is
/// itself audited (`audit.exported`) and covers the events recorded before it.
#[utoipa::path(
    get, path = "/v1/audit/export", tag = "audit", operation_id = "audit_export",
    params(AuditFilters, ExportFormat),
    responses(
        (status = 200, description = "CSV (RFC 4180, with a header row) or JSON lines", content((String = "text/csv"), (String = "application/x-ndjson"))),
    ),
    security(("root_key" = [])),
)]
pub async fn export(
    State(state): State<AppState>,
    principal: Authorized<AuditRead>,
    params: Result<Query<AuditFilters>, QueryRejection>,
    format: Result<Query<ExportFormat>, QueryRejection>,
) -> Result<Response, ApiError> {
    let params = query_params(params)?;
    let format = query_params(format)?;
    let mut v = Validation::default();
    let format = format_param(format.format.as_deref(), &mut v);
    let described = params.described();
    let query = filters(params, &mut v);
    v.finish()?;
    let format = format.unwrap_or(Format::Jsonl);
    let now = state.clock.now();
    let event = export_event(
        &principal.org_id,
        format,
        described,
        &[("delivery", "download")],
    );
    let recorded = state
        .store
        .append_audit(&principal.org_id, &principal.audit(now), event)
        .await?;
    let pages = ExportPages::new(
        Arc::clone(&state.store),
        principal.org_id.clone(),
        query,
        recorded.seq,
        format,
    );
    let name = audit_export::file_name(&principal.org_id, now, format);
    let response = download(pages, format, &name);
    tracing::info!(org = %principal.org_id, format = format.extension(), "audit export started");
    Ok(response)
}

/// The `format` parameter of an export, or a field error.
pub(crate) fn format_param(format: Option<&str>, v: &mut Validation) -> Option<Format> {
    let format = format.and_then(Format::parse);
    if format.is_none() {
        v.push("format", "csv or jsonl");
    }
    format
}

/// The export's audit event (`audit.exported`): its format, its filters
/// and how it is delivered (`download` or `email`, with `to`).
pub(crate) fn export_event(
    org: &OrgId,
    format: Format,
    filters: serde_json::Value,
    delivery: &[(&str, &str)],
) -> NewEvent {
    let mut export = json!({"format": format.extension(), "filters": filters});
    for (name, value) in delivery {
        export[*name] = json!(value);
    }
    NewEvent {
        action: "audit.exported".to_owned(),
        target: Target {
            kind: "audit_log".to_owned(),
            id: org.to_string(),
            name: "audit log".to_owned(),
        },
        changes: match json!({"export": {"before": null, "after": export}}) {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        },
    }
}

/// An export as a download named `name`.
pub(crate) fn download(pages: ExportPages, format: Format, name: &str) -> Response {
    let mut response = Body::from_stream(pages.stream()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::parse_cursor;

    #[test]
    fn cursors_are_only_what_next_cursor_writes() {
        assert_eq!(parse_cursor("seq_42"), Some(42));
        assert_eq!(
            parse_cursor("seq_999999999999999999"),
            Some(999_999_999_999_999_999)
        );
        for bad in [
            "seq_",
            "seq_+5",
            "seq_-5",
            "seq_1x",
            "5",
            "seq_9999999999999999999",
        ] {
            assert_eq!(parse_cursor(bad), None, "{bad}");
        }
    }
}

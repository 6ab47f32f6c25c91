//! `/v1/audit`: search the audit log, and export it as CSV or JSON lines.
//!
//! Pages run newest first with a cursor on `seq`, so new events never shift
//! a walk in progress. Exports run oldest first, page by page from storage
//! straight to the response body: memory stays flat however long the log.

use super::views::Page;
use crate::auth::{AuditRead, Authorized};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use keyward_core::audit::{AuditEvent, NewEvent, Target};
use keyward_core::error::Validation;
use keyward_core::id::OrgId;
use keyward_core::store::{ActionFilter, AuditQuery, Store};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 100;
const EXPORT_PAGE: u32 = 1_000;

/// Filters of `GET /v1/audit` and `GET /v1/audit/export`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFilters {
    /// An action (`key.created`), a family of them (`key.*`), or a kind:
    /// `create`, `update` or `delete`.
    action: Option<String>,
    /// Actor id or actor name.
    actor: Option<String>,
    /// The actor's team.
    team: Option<String>,
    /// Target id or target name.
    target: Option<String>,
    /// Events at or after this instant (RFC 3339).
    from: Option<String>,
    /// Events before this instant (RFC 3339).
    to: Option<String>,
    /// Words that must all appear in the action, actor name or target name.
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
    format: Option<String>,
}

fn time(v: &mut Validation, field: &str, value: Option<&str>) -> Option<DateTime<Utc>> {
    let value = value?;
    v.check(field, keyward_core::fields::parse_timestamp(value))
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// The filters as a store query, or every field error at once.
fn filters(params: AuditFilters, v: &mut Validation) -> AuditQuery {
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
    AuditQuery {
        from: time(v, "from", params.from.as_deref()),
        to: time(v, "to", params.to.as_deref()),
        action: non_empty(params.action).map(|a| ActionFilter::parse(&a)),
        actor: non_empty(params.actor),
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Jsonl,
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
    let format = match format.format.as_deref() {
        Some("csv") => Some(Format::Csv),
        Some("jsonl") => Some(Format::Jsonl),
        _ => {
            v.push("format", "csv or jsonl");
            None
        }
    };
    let described = json!({
        "action": params.action, "actor": params.actor, "team": params.team, "target": params.target,
        "from": params.from, "to": params.to, "q": params.q,
    });
    let query = filters(params, &mut v);
    v.finish()?;
    let format = format.unwrap_or(Format::Jsonl);
    let now = state.clock.now();
    let extension = match format {
        Format::Csv => "csv",
        Format::Jsonl => "jsonl",
    };
    let event = NewEvent {
        action: "audit.exported".to_owned(),
        target: Target {
            kind: "audit_log".to_owned(),
            id: principal.org_id.to_string(),
            name: "audit log".to_owned(),
        },
        changes: match json!({"export": {"before": null, "after": {"format": extension, "filters": described}}})
        {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        },
    };
    let recorded = state
        .store
        .append_audit(&principal.org_id, &principal.audit(now), event)
        .await?;

    let pages = ExportPages {
        store: Arc::clone(&state.store),
        org: principal.org_id.clone(),
        query: AuditQuery {
            after_seq: Some(0),
            until_seq: Some(recorded.seq - 1),
            limit: EXPORT_PAGE,
            newest_first: false,
            ..query
        },
        format,
        header_written: false,
        done: false,
    };
    let stream = futures_util::stream::unfold(pages, ExportPages::next);
    let mut response = Body::from_stream(stream).into_response();
    let content_type = match format {
        Format::Csv => "text/csv; charset=utf-8",
        Format::Jsonl => "application/x-ndjson",
    };
    let filename = format!(
        "attachment; filename=\"keyward-audit-{}-{}.{extension}\"",
        principal.org_id,
        now.format("%Y-%m-%d")
    );
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&filename) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    tracing::info!(org = %principal.org_id, format = extension, "audit export started");
    Ok(response)
}

/// The export's position: which events have been written so far.
struct ExportPages {
    store: Arc<dyn Store>,
    org: OrgId,
    query: AuditQuery,
    format: Format,
    header_written: bool,
    done: bool,
}

impl ExportPages {
    /// The next chunk of the body: one page of events, encoded.
    async fn next(mut self) -> Option<(Result<Bytes, std::io::Error>, Self)> {
        if self.done {
            return None;
        }
        let page = match self.store.search_audit(&self.org, &self.query).await {
            Ok(page) => page,
            Err(error) => {
                tracing::error!(%error, "audit export failed mid-stream");
                self.done = true;
                return Some((
                    Err(std::io::Error::other("storage failed during the export")),
                    self,
                ));
            }
        };
        self.done = page.len() < self.query.limit as usize;
        self.query.after_seq = page.last().map(|e| e.seq).or(self.query.after_seq);
        let mut out = Vec::with_capacity(page.len() * 512);
        let encoded = match self.format {
            Format::Csv => {
                let header = !std::mem::replace(&mut self.header_written, true);
                encode_csv(&page, header, &mut out)
            }
            Format::Jsonl => encode_jsonl(&page, &mut out),
        };
        Some((encoded.map(|()| Bytes::from(out)), self))
    }
}

const CSV_HEADER: [&str; 16] = [
    "id",
    "seq",
    "occurred_at",
    "actor_type",
    "actor_id",
    "actor_name",
    "team",
    "action",
    "target_type",
    "target_id",
    "target_name",
    "ip",
    "user_agent",
    "changes",
    "prev_hash",
    "hash",
];

fn encode_csv(
    events: &[AuditEvent],
    header: bool,
    out: &mut Vec<u8>,
) -> Result<(), std::io::Error> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(out);
    if header {
        writer.write_record(CSV_HEADER)?;
    }
    for e in events {
        let actor_type = serde_json::to_value(e.actor.kind).ok();
        let changes = serde_json::Value::Object(e.changes.clone()).to_string();
        let record = [
            e.id.as_str(),
            &e.seq.to_string(),
            &e.occurred_at
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            actor_type.as_ref().and_then(|v| v.as_str()).unwrap_or(""),
            &e.actor.id,
            &e.actor.name,
            e.team.as_deref().unwrap_or(""),
            &e.action,
            &e.target.kind,
            &e.target.id,
            &e.target.name,
            e.ip.as_deref().unwrap_or(""),
            e.user_agent.as_deref().unwrap_or(""),
            &changes,
            &e.prev_hash,
            &e.hash,
        ];
        let cells: Vec<_> = record.iter().map(|cell| neutralise(cell)).collect();
        writer.write_record(cells.iter().map(|cell| cell.as_bytes()))?;
    }
    writer.flush()
}

/// A cell a spreadsheet would run as a formula gets a leading `'`, so it is
/// shown as text (OWASP's advice for CSV injection).
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

fn encode_jsonl(events: &[AuditEvent], out: &mut Vec<u8>) -> Result<(), std::io::Error> {
    for event in events {
        serde_json::to_writer(&mut *out, event)?;
        out.push(b'\n');
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{neutralise, parse_cursor};

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

    #[test]
    fn formulas_are_neutralised_and_text_is_left_alone() {
        assert_eq!(neutralise("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(neutralise("+1"), "'+1");
        assert_eq!(neutralise("-1"), "'-1");
        assert_eq!(neutralise("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralise("key.created"), "key.created");
        assert_eq!(neutralise(""), "");
    }
}

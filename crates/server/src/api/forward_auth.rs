//! `GET /v1/auth`: forward authentication for nginx `auth_request`, Traefik
//! ForwardAuth and Envoy `ext_authz`.
//!
//! The key comes from `Authorization: Bearer …` or `X-API-Key`, required
//! scopes from `X-Keyward-Scopes` or `?scopes=`, the origin from `Origin`, the
//! client address from the peer or, behind a trusted proxy, from
//! `X-Forwarded-For`/`X-Real-IP`. The answer is a status the proxy acts on
//! and `X-Keyward-*` headers it can pass upstream.

use crate::auth::bearer;
use crate::error::ApiError;
use crate::extract::client_ip;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use keyward_core::keys::parse_required_scopes;
use keyward_core::policy::{Code, Request};
use serde::Deserialize;
use std::net::SocketAddr;

/// Query of `GET /v1/auth`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuthParams {
    /// Required scopes, comma-separated (instead of `X-Keyward-Scopes`).
    scopes: Option<String>,
}

const KEY_ID: HeaderName = HeaderName::from_static("x-keyward-key-id");
const ORG_ID: HeaderName = HeaderName::from_static("x-keyward-org-id");
const PROJECT_ID: HeaderName = HeaderName::from_static("x-keyward-project-id");
const SCOPES: HeaderName = HeaderName::from_static("x-keyward-scopes");
const CODE: HeaderName = HeaderName::from_static("x-keyward-code");
/// `Retry-After` when a lifetime quota is spent: one day.
const LIFETIME_QUOTA_RETRY_SECONDS: i64 = 86_400;

/// Verifies the request's key; 200 lets it through.
#[utoipa::path(
    get, path = "/v1/auth", tag = "verification",
    params(
        AuthParams,
        ("X-API-Key" = Option<String>, Header, description = "The key, if not in `Authorization: Bearer`"),
        ("X-Keyward-Scopes" = Option<String>, Header, description = "Required scopes, comma-separated"),
    ),
    responses(
        (status = 200, description = "Allowed; `X-Keyward-Key-Id`, `X-Keyward-Org-Id`, `X-Keyward-Project-Id` and `X-Keyward-Scopes` describe the key"),
        (status = 401, description = "Missing, malformed, unknown, disabled, expired or revoked key"),
        (status = 403, description = "Scope, origin or IP not allowed"),
        (status = 429, description = "Rate limit or quota spent; `Retry-After` says when to retry"),
    ),
)]
pub async fn auth(
    State(state): State<AppState>,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    // The request's own parts, not extractors: `Parts` as an extractor is a
    // copy of every header, on the path that must be as fast as the stack.
    let (parts, _) = request.into_parts();
    let query = match parts.uri.query() {
        Some(_) => {
            Query::<AuthParams>::try_from_uri(&parts.uri)
                .map_err(|e| ApiError::BadRequest {
                    code: "invalid_query",
                    detail: e.body_text(),
                    errors: Vec::new(),
                })?
                .0
                .scopes
        }
        None => None,
    };
    let key = bearer(&parts).or_else(|| parts.headers.get("x-api-key")?.to_str().ok());
    let Some(key) = key else {
        // No key at all is as good as a malformed one.
        return Ok(answer(StatusCode::UNAUTHORIZED, Code::Malformed, &[]));
    };
    let required: Vec<String> = parts
        .headers
        .get(&SCOPES)
        .and_then(|v| v.to_str().ok())
        .or(query.as_deref())
        .map(|s| {
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let scopes = parse_required_scopes(&required)?;
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let request = Request {
        scopes: &scopes,
        origin: parts
            .headers
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok()),
        ip: peer.map(|peer| client_ip(peer, &parts, &state.settings.trusted_proxies)),
    };
    let outcome = state.verifier.verify(key, &request).await?;
    let status = match outcome.code {
        Code::Valid => StatusCode::OK,
        Code::Malformed | Code::NotFound | Code::Disabled | Code::Expired | Code::Revoked => {
            StatusCode::UNAUTHORIZED
        }
        Code::InsufficientScope | Code::OriginNotAllowed | Code::IpNotAllowed => {
            StatusCode::FORBIDDEN
        }
        Code::RateLimited | Code::UsageExceeded => StatusCode::TOO_MANY_REQUESTS,
    };
    let mut headers: Vec<(HeaderName, &str)> = Vec::new();
    if let (Code::Valid, Some(key)) = (outcome.code, outcome.key.as_deref()) {
        headers.push((KEY_ID, key.record.id.as_str()));
        headers.push((ORG_ID, key.record.org_id.as_str()));
        headers.push((PROJECT_ID, key.record.project_id.as_str()));
        headers.push((SCOPES, key.fields.scope_list()));
    }
    let retry_after = match outcome.code {
        Code::RateLimited => outcome
            .ratelimit
            .map(|r| (r.reset_at - state.clock.now()).num_seconds()),
        // A lifetime quota never refills: tell clients to stay away for a day
        // rather than leave them without an answer.
        Code::UsageExceeded => Some(
            outcome
                .quota
                .and_then(|q| q.refills_at)
                .map_or(LIFETIME_QUOTA_RETRY_SECONDS, |at| {
                    (at - state.clock.now()).num_seconds()
                }),
        ),
        _ => None,
    };
    let retry_after = retry_after.map(|seconds| seconds.max(1).to_string());
    if let Some(seconds) = &retry_after {
        headers.push((header::RETRY_AFTER, seconds));
    }
    Ok(answer(status, outcome.code, &headers))
}

fn answer(status: StatusCode, code: Code, headers: &[(HeaderName, &str)]) -> Response {
    let code = code.as_str();
    let body = format!(
        r#"{{"valid":{},"code":"{code}"}}"#,
        status == StatusCode::OK
    );
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let map = response.headers_mut();
    map.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    map.insert(CODE, HeaderValue::from_static(code));
    if status == StatusCode::UNAUTHORIZED {
        map.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            map.insert(name.clone(), value);
        }
    }
    response
}

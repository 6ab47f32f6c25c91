//! `GET /v1/auth`: forward authentication for nginx `auth_request`, Traefik
//! ForwardAuth and Envoy `ext_authz`.
//!
//! The key comes from `Authorization: Bearer …` or `X-API-Key`, required
//! scopes from `X-Keyward-Scopes` and `?scopes=` together (the key must hold
//! all of them, so a client that adds either can only tighten the check), the
//! origin from `Origin`, the
//! client address from the peer or, behind a trusted proxy, from
//! `X-Forwarded-For`/`X-Real-IP`. The answer is a status the proxy acts on
//! and `X-Keyward-*` headers it can pass upstream.

use crate::auth::bearer;
use crate::extract::client_ip;
use crate::metrics::{Counted, PathMetrics};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header, request::Parts};
use axum::response::Response;
use keyward_core::policy::{Code, Request};
use keyward_core::requirement::RequiredScopes;
use std::net::SocketAddr;

/// Query of `GET /v1/auth`; any other parameter is the proxied request's own
/// and is ignored.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuthParams {
    /// Required scopes, comma-separated; repeated, each adds to the requirement.
    #[expect(
        dead_code,
        reason = "read by `required_scopes`; declared for the OpenAPI document"
    )]
    scopes: Option<String>,
}

const KEY_ID: HeaderName = HeaderName::from_static("x-keyward-key-id");
const ORG_ID: HeaderName = HeaderName::from_static("x-keyward-org-id");
const PROJECT_ID: HeaderName = HeaderName::from_static("x-keyward-project-id");
const SCOPES: HeaderName = HeaderName::from_static("x-keyward-scopes");
const CODE: HeaderName = HeaderName::from_static("x-keyward-code");
/// `X-Keyward-Code` when the proxy's requirement cannot be parsed.
pub const INVALID_REQUIREMENT: &str = "INVALID_REQUIREMENT";
/// `X-Keyward-Code` when storage cannot answer.
pub const UNAVAILABLE: &str = "UNAVAILABLE";
/// `Retry-After` when a lifetime quota is spent: one day.
const LIFETIME_QUOTA_RETRY_SECONDS: i64 = 86_400;

/// The body of every `/v1/auth` answer; proxies act on the status and
/// headers, people reading a log on this.
#[derive(Debug, utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "written by `answer` as text; declared for the OpenAPI document"
)]
pub struct AuthAnswer {
    /// True only with status 200.
    valid: bool,
    /// The verification code, as in `X-Keyward-Code`: a `Code`, or
    /// `INVALID_REQUIREMENT` or `UNAVAILABLE`.
    code: String,
}

/// Verifies the request's key; 200 lets it through.
#[utoipa::path(
    get, path = "/v1/auth", tag = "verification",
    params(
        AuthParams,
        ("X-API-Key" = Option<String>, Header, description = "The key, if not in `Authorization: Bearer`"),
        ("X-Keyward-Scopes" = Option<String>, Header, description = "Required scopes, comma-separated; with `?scopes=`, the key must hold both"),
    ),
    responses(
        (status = 200, description = "Allowed; `X-Keyward-Key-Id`, `X-Keyward-Org-Id`, `X-Keyward-Project-Id` and `X-Keyward-Scopes` describe the key", body = AuthAnswer,
            headers(("X-Keyward-Code" = String, description = "`VALID`"), ("X-Keyward-Key-Id" = String), ("X-Keyward-Org-Id" = String), ("X-Keyward-Project-Id" = String), ("X-Keyward-Scopes" = String, description = "The key's scopes, comma-separated"))),
        (status = 401, description = "Missing, malformed, unknown, disabled, expired or revoked key", body = AuthAnswer,
            headers(("X-Keyward-Code" = String), ("WWW-Authenticate" = String))),
        (status = 403, description = "Scope, origin or IP not allowed, or a required scope that cannot be parsed (`X-Keyward-Code: INVALID_REQUIREMENT`)", body = AuthAnswer,
            headers(("X-Keyward-Code" = String))),
        (status = 429, description = "Rate limit or quota spent; `Retry-After` says when to retry", body = AuthAnswer,
            headers(("X-Keyward-Code" = String), ("Retry-After" = String, description = "Seconds"))),
        (status = 503, description = "Storage cannot answer (`X-Keyward-Code: UNAVAILABLE`)", body = AuthAnswer,
            headers(("X-Keyward-Code" = String))),
    ),
)]
pub async fn auth(State(state): State<AppState>, request: axum::extract::Request) -> Response {
    let metrics = state.metrics.auth.as_ref();
    let started = PathMetrics::start(metrics);
    let (response, counted) = decide(&state, request).await;
    PathMetrics::finish(metrics, started, counted);
    response
}

/// The answer to a forward-auth request, and how it is counted.
async fn decide(state: &AppState, request: axum::extract::Request) -> (Response, Counted) {
    // The request's own parts, not extractors: `Parts` as an extractor is a
    // copy of every header, on the path that must be as fast as the stack.
    let (parts, _) = request.into_parts();
    let key = bearer(&parts).or_else(|| parts.headers.get("x-api-key")?.to_str().ok());
    let Some(key) = key else {
        // No key at all is as good as a malformed one.
        let response = answer(StatusCode::UNAUTHORIZED, Code::Malformed.as_str(), &[]);
        return (response, Counted::Code(Code::Malformed));
    };
    let required = match required_scopes(&parts) {
        Ok(required) => required,
        Err(mistake) => {
            tracing::warn!(
                %mistake,
                "forward auth refused: the proxy sent a requirement that cannot be parsed"
            );
            let response = answer(StatusCode::FORBIDDEN, INVALID_REQUIREMENT, &[]);
            return (response, Counted::InvalidRequirement);
        }
    };
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let request = Request {
        scopes: required.scopes(),
        origin: parts
            .headers
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok()),
        ip: peer.and_then(|peer| client_ip(peer, &parts, &state.settings.trusted_proxies)),
    };
    let outcome = match state.verifier.verify(key, &request).await {
        Ok(outcome) => outcome,
        Err(error) => {
            // Proxies act on 2xx/401/403 only; anything else is unavailable.
            tracing::error!(%error, "forward auth could not verify the key");
            let response = answer(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE, &[]);
            return (response, Counted::Unavailable);
        }
    };
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
    (
        answer(status, outcome.code.as_str(), &headers),
        Counted::Code(outcome.code),
    )
}

/// The scopes the request must hold: the union of every `X-Keyward-Scopes`
/// header and every `scopes` query parameter, so a client can add to what
/// the proxy requires but never take anything away.
fn required_scopes(parts: &Parts) -> Result<RequiredScopes, String> {
    let mut required = RequiredScopes::default();
    for value in parts.headers.get_all(&SCOPES) {
        required.add_header(value.as_bytes())?;
    }
    if let Some(query) = parts.uri.query() {
        required.add_query(query)?;
    }
    Ok(required)
}

fn answer(status: StatusCode, code: &'static str, headers: &[(HeaderName, &str)]) -> Response {
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

//! What the tower layer and the axum extractor share: read the key, verify, decide, answer.
//!
//! Refusals mirror Keyward's forward-auth endpoint `GET /v1/auth`, so a service answers the
//! same behind a proxy or with this middleware: 401 (with `WWW-Authenticate: Bearer`) for a
//! missing, malformed, unknown, disabled, expired or revoked key; 403 for scope, origin or
//! address; 429 with `Retry-After` for a rate limit or quota; 503 when Keyward gives no usable
//! answer, unless `fail_open` was asked for. Each is `application/problem+json` whose `code`
//! is the verification code (`MALFORMED` also for a missing key, `UNAVAILABLE` for the 503),
//! also sent as `X-Keyward-Code`.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::ConnectInfo;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};

use crate::{Code, Error, Keyward, Verification, VerifyRequest};

type ClientIp = Arc<dyn Fn(&Parts) -> Option<IpAddr> + Send + Sync>;

/// The client and the policy of the middleware: fail closed or open, where the client's
/// address comes from. Build the [`KeywardLayer`](crate::KeywardLayer) from it, or put it in
/// the router's state for the [`Verified`](crate::Verified) extractor.
#[derive(Clone)]
pub struct Guard {
    client: Keyward,
    fail_open: bool,
    client_ip: ClientIp,
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("client", &self.client)
            .field("fail_open", &self.fail_open)
            .finish_non_exhaustive()
    }
}

/// The TCP peer's address, from axum's `ConnectInfo<SocketAddr>` (serve the app with
/// `into_make_service_with_connect_info::<SocketAddr>()`). Without it, no address is passed,
/// and keys with `allowed_ips` are refused.
pub fn peer_ip(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_canonical())
}

impl Guard {
    /// Fails closed, and takes the client's address from the TCP peer ([`peer_ip`]).
    pub fn new(client: Keyward) -> Self {
        Self {
            client,
            fail_open: false,
            client_ip: Arc::new(peer_ip),
        }
    }

    /// Lets requests through when Keyward gives no usable answer, with the stand-in
    /// [`Verification::unverified`]; every such request is logged as a warning (method, path
    /// and failure, never the key). Off by default. A key Keyward refused stays refused.
    pub fn fail_open(mut self, fail_open: bool) -> Self {
        self.fail_open = fail_open;
        self
    }

    /// Where the client's address comes from (behind a proxy: the header it sets).
    pub fn client_ip(
        mut self,
        client_ip: impl Fn(&Parts) -> Option<IpAddr> + Send + Sync + 'static,
    ) -> Self {
        self.client_ip = Arc::new(client_ip);
        self
    }

    /// A layer requiring `scopes` (all of them) of every request it guards.
    pub fn layer<S: Into<String>>(
        &self,
        scopes: impl IntoIterator<Item = S>,
    ) -> crate::KeywardLayer {
        crate::KeywardLayer::new(self.clone(), scopes.into_iter().map(Into::into).collect())
    }

    /// Verifies the request's key for `scopes`: the verification to let in, or the refusal.
    pub async fn check<S: AsRef<str>>(
        &self,
        parts: &Parts,
        scopes: &[S],
    ) -> Result<Verification, Denial> {
        let Some(key) = key_from_headers(&parts.headers) else {
            return Err(Denial::new(Code::Malformed, None));
        };
        let mut request = VerifyRequest::new(key).scopes(scopes.iter().map(AsRef::as_ref));
        if let Some(origin) = parts
            .headers
            .get(header::ORIGIN)
            .and_then(|value| value.to_str().ok())
        {
            request = request.origin(origin);
        }
        if let Some(ip) = (self.client_ip)(parts) {
            request = request.ip(ip);
        }
        match self.client.verify_request(&request).await {
            Ok(verification) if verification.valid && verification.code == Code::Valid => {
                Ok(verification)
            }
            Ok(verification) => Err(Denial::new(verification.code.clone(), Some(&verification))),
            Err(error) => self.outage(&error, parts),
        }
    }

    /// Keyward gave no usable answer (or refused our request): 503, or through with a log line.
    fn outage(&self, error: &Error, parts: &Parts) -> Result<Verification, Denial> {
        let (method, path) = (&parts.method, parts.uri.path());
        if self.fail_open && error.is_unavailable() {
            // Names the failure and the request, never the key.
            tracing::warn!(
                "keyward: failing open for {method} {path}: {}: {error}",
                error.kind()
            );
            return Ok(Verification::unverified());
        }
        tracing::error!(
            "keyward: refusing {method} {path}: {}: {error}",
            error.kind()
        );
        Err(Denial::unavailable())
    }
}

/// The key of `Authorization: Bearer <key>`, else of `X-API-Key`.
pub fn key_from_headers(headers: &http::HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, key) = value.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
        })
        .filter(|key| !key.is_empty());
    bearer.or_else(|| {
        headers
            .get("x-api-key")
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
            .filter(|key| !key.is_empty())
    })
}

/// A refusal: the status, code and headers `GET /v1/auth` would answer, as problem+json.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    status: StatusCode,
    code: String,
    title: &'static str,
    retry_after: Option<u64>,
}

impl Denial {
    fn new(code: Code, verification: Option<&Verification>) -> Self {
        let (status, title) = match code {
            Code::Malformed => (
                StatusCode::UNAUTHORIZED,
                "The API key is missing or malformed",
            ),
            Code::NotFound => (StatusCode::UNAUTHORIZED, "The API key is not known"),
            Code::Disabled => (StatusCode::UNAUTHORIZED, "The API key is disabled"),
            Code::Expired => (StatusCode::UNAUTHORIZED, "The API key has expired"),
            Code::Revoked => (StatusCode::UNAUTHORIZED, "The API key has been revoked"),
            Code::InsufficientScope => (
                StatusCode::FORBIDDEN,
                "The API key lacks a scope this request needs",
            ),
            Code::OriginNotAllowed => (
                StatusCode::FORBIDDEN,
                "The API key may not be used from this origin",
            ),
            Code::IpNotAllowed => (
                StatusCode::FORBIDDEN,
                "The API key may not be used from this address",
            ),
            Code::RateLimited => (
                StatusCode::TOO_MANY_REQUESTS,
                "The API key's rate limit is spent",
            ),
            Code::UsageExceeded => (
                StatusCode::TOO_MANY_REQUESTS,
                "The API key's quota is spent",
            ),
            _ => (StatusCode::UNAUTHORIZED, "The API key was refused"),
        };
        let retry_after =
            (status == StatusCode::TOO_MANY_REQUESTS).then(|| retry_after(&code, verification));
        Self {
            status,
            code: code.as_str().to_owned(),
            title,
            retry_after,
        }
    }

    fn unavailable() -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "UNAVAILABLE".to_owned(),
            title: "API keys cannot be checked right now",
            retry_after: None,
        }
    }

    /// The HTTP status: 401, 403, 429 or 503.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The code: a verification code, or `UNAVAILABLE`.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// A 429's `Retry-After`, in seconds.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }
}

/// Seconds until the window resets or the quota refills: at least 1; 86,400 for a spent
/// lifetime quota.
fn retry_after(code: &Code, verification: Option<&Verification>) -> u64 {
    let when: Option<DateTime<Utc>> = match (code, verification) {
        (Code::RateLimited, Some(v)) => v.ratelimit.as_ref().map(|limit| limit.reset_at),
        (Code::UsageExceeded, Some(v)) => v.quota.as_ref().and_then(|quota| quota.refills_at),
        _ => None,
    };
    match when {
        None if *code == Code::RateLimited => 1,
        None => 86_400,
        Some(when) => {
            let millis = (when - Utc::now()).num_milliseconds().max(0);
            u64::try_from(millis)
                .unwrap_or_default()
                .div_ceil(1000)
                .max(1)
        }
    }
}

impl IntoResponse for Denial {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "type": format!("urn:keyward:problem:{}", self.code.to_ascii_lowercase()),
            "title": self.title,
            "status": self.status.as_u16(),
            "detail": self.title,
            "code": self.code,
        });
        let mut response = (self.status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Ok(code) = HeaderValue::from_str(&self.code) {
            headers.insert("x-keyward-code", code);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

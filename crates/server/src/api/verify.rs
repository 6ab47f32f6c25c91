//! `POST /v1/verify`: the key is the credential; every outcome is a 200 with
//! a `code`. Only malformed requests (not malformed keys) get a 4xx.

use crate::error::ApiError;
use crate::extract::{json_bytes_within, parse_json};
use crate::metrics::{Counted, PathMetrics};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use keyward_core::answer::{self, VerifyResponse};
use keyward_core::keys::parse_required_scopes;
use keyward_core::policy::{Code, Request};
use serde::Deserialize;
use std::borrow::Cow;
use std::net::IpAddr;

/// Body of `POST /v1/verify`. Deliberately not `Debug`: it holds a key.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest<'a> {
    /// The key to verify (borrowed from the body when it can be).
    #[serde(borrow)]
    #[schema(value_type = String)]
    pub key: Cow<'a, str>,
    /// Scopes the key must all hold.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The `Origin` of the request the key came with.
    #[serde(default, borrow)]
    #[schema(value_type = Option<String>)]
    pub origin: Option<Cow<'a, str>>,
    /// The address of the client that presented the key.
    #[serde(default, borrow)]
    #[schema(value_type = Option<String>)]
    pub ip: Option<Cow<'a, str>>,
}

impl std::fmt::Debug for VerifyRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyRequest")
            .field("scopes", &self.scopes)
            .field("origin", &self.origin)
            .field("ip", &self.ip)
            .finish_non_exhaustive()
    }
}

/// Is this key allowed to do this?
#[utoipa::path(
    post, path = "/v1/verify", tag = "verification", operation_id = "verify",
    request_body = VerifyRequest,
    responses((status = 200, description = "Every verification outcome", body = VerifyResponse), (status = 503, description = "`storage_unavailable`: the key is not cached and the database cannot be reached, or the outage policy refuses")),
)]
pub async fn verify(
    State(state): State<AppState>,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    let metrics = state.metrics.verify.as_ref();
    let started = PathMetrics::start(metrics);
    let answered = decide(&state, request).await;
    let counted = match &answered {
        Ok((_, code)) => Counted::Code(*code),
        Err(ApiError::Unavailable(_)) => Counted::Unavailable,
        Err(_) => Counted::InvalidRequest,
    };
    PathMetrics::finish(metrics, started, counted);
    answered.map(|(response, _)| response)
}

/// The answer, and the verification code it carries.
async fn decide(
    state: &AppState,
    request: axum::extract::Request,
) -> Result<(Response, Code), ApiError> {
    let body = json_bytes_within(request, state.settings.body_limit).await?;
    let input: VerifyRequest<'_> = parse_json(&body)?;
    let scopes = parse_required_scopes(&input.scopes)?;
    let ip = match input.ip.as_deref() {
        Some(ip) => Some(
            ip.trim()
                .parse::<IpAddr>()
                .map_err(|_| ApiError::field("ip", "not an IPv4 or IPv6 address"))?,
        ),
        None => None,
    };
    let request = Request {
        scopes: &scopes,
        origin: input.origin.as_deref(),
        ip,
    };
    let outcome = state.verifier.verify(&input.key, &request).await?;
    let mut response = Response::new(Body::from(answer::to_json(&outcome)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok((response, outcome.code))
}

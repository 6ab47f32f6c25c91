//! `POST /v1/verify`: the key is the credential; every outcome is a 200 with
//! a `code`. Only malformed requests (not malformed keys) get a 4xx.

use crate::error::{ApiError, Problem};
use crate::extract::{json_bytes, parse_json};
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use keyward_core::id::{KeyId, OrgId, ProjectId};
use keyward_core::keys::parse_required_scopes;
use keyward_core::limits::{QuotaStatus, RateStatus};
use keyward_core::policy::{Code, Request};
use keyward_core::scope::{Role, Scope};
use keyward_core::verify::Outcome;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
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

/// The answer. Borrows from the cached key record: answering allocates
/// nothing per field.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VerifyResponse<'a> {
    /// True only for `VALID`.
    pub valid: bool,
    /// The outcome.
    pub code: Code,
    /// The key, when one was found.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub key_id: Option<&'a KeyId>,
    /// Its name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    /// Its project.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub project_id: Option<&'a ProjectId>,
    /// Its organization.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub org_id: Option<&'a OrgId>,
    /// The member or root key that created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<&'a str>,
    /// Its role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Its scopes.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    pub scopes: Option<&'a [Scope]>,
    /// Its meta.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub meta: Option<&'a Map<String, Value>>,
    /// When it expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// True when the previous secret of a regenerated key was used during its grace period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<bool>,
    /// The key's rate limit, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratelimit: Option<RateStatus>,
    /// The key's quota, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<QuotaStatus>,
}

impl<'a> From<&'a Outcome> for VerifyResponse<'a> {
    fn from(outcome: &'a Outcome) -> Self {
        let key = outcome.key.as_deref();
        Self {
            valid: outcome.code == Code::Valid,
            code: outcome.code,
            key_id: key.map(|k| &k.id),
            name: key.map(|k| k.name.as_str()),
            project_id: key.map(|k| &k.project_id),
            org_id: key.map(|k| &k.org_id),
            owner: key.map(|k| k.created_by.as_str()),
            role: key.map(|k| k.role),
            scopes: key.map(|k| k.scopes.as_slice()),
            meta: key.map(|k| &k.meta),
            expires_at: key.and_then(|k| k.expires_at),
            deprecated: key.map(|_| outcome.deprecated),
            ratelimit: outcome.ratelimit,
            quota: outcome.quota,
        }
    }
}

/// Is this key allowed to do this?
#[utoipa::path(
    post, path = "/v1/verify", tag = "verification",
    request_body = VerifyRequest,
    responses((status = 200, description = "Every verification outcome", body = VerifyResponse), (status = 400, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem)),
)]
pub async fn verify(
    State(state): State<AppState>,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    let body = json_bytes(request, &state).await?;
    // The plain parser first; only a body it refuses is parsed again to name
    // the offending field (path tracking costs on every field).
    let input: VerifyRequest<'_> = match serde_json::from_slice(&body) {
        Ok(input) => input,
        Err(_) => parse_json(&body)?,
    };
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
    Ok(json_answer(&VerifyResponse::from(&outcome)))
}

/// A 200 JSON answer, serialized in one allocation of the right size class
/// (an answer is a few hundred bytes).
fn json_answer(answer: &VerifyResponse<'_>) -> Response {
    let mut body = Vec::with_capacity(512);
    if let Err(error) = serde_json::to_writer(&mut body, answer) {
        return ApiError::Internal(Box::new(error)).into_response();
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

//! `/v1/leaks`: reports of leaked keys, from anyone and from GitHub secret
//! scanning. Neither needs a root key: a public report is rate-limited per
//! client address and answers the same whatever the key is; GitHub's alerts
//! are signed by GitHub.

use crate::error::ApiError;
use crate::extract::{ApiJson, Client, body_bytes, ensure_json};
use crate::leaks::{self, github::Refused};
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use keyward_core::key_format::KeyHash;
use keyward_core::leaks::{LeakReport, ReportLeak, check_url};
use keyward_core::model::LeakSource;
use serde::{Deserialize, Serialize};
use serde_json::{Map, json};
use std::net::{IpAddr, Ipv6Addr};

/// Reports a leaked key. Anyone may: the answer is 202 whatever the key is
/// (a known key, a revoked one, an unknown one, a string that is no key),
/// once what it does is recorded; a key Keyward stores is acted on as its
/// organization's `leak_action` says, once however often it is reported.
#[utoipa::path(
    post, path = "/v1/leaks", tag = "leaks", operation_id = "leaks_report",
    request_body = ReportLeak,
    responses(
        (status = 202, description = "Received; no body"),
        (status = 429, description = "`rate_limited`: too many reports from this address (`Retry-After` says when to retry)"),
        (status = 503, description = "`storage_unavailable`"),
    ),
)]
pub async fn report(
    State(state): State<AppState>,
    client: Client,
    body: Result<ApiJson<ReportLeak>, ApiError>,
) -> Result<StatusCode, ApiError> {
    let ip = client.ip.unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
    state
        .leaks
        .reports
        .admit(ip)
        .map_err(|retry_after| ApiError::TooManyRequests { retry_after })?;
    let ApiJson(input) = body?;
    let report = input.report()?;
    // A report is acknowledged only once it is recorded: a failure is 503,
    // which the reporter retries.
    if let Some(found) = leaks::find(&state, &input.key).await? {
        leaks::act(&state, found, &report, &client).await?;
    }
    Ok(StatusCode::ACCEPTED)
}

/// One token of a GitHub secret scanning alert.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct GithubAlert {
    /// The string GitHub found.
    pub token: String,
    /// The token type GitHub matched it as.
    #[serde(rename = "type")]
    pub token_type: String,
    /// Where GitHub found it.
    #[serde(default)]
    pub url: Option<String>,
    /// What GitHub found it in: `content`, `commit`, `gist`, `npm`, …
    #[serde(default)]
    pub source: Option<String>,
}

impl std::fmt::Debug for GithubAlert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubAlert")
            .field("type", &self.token_type)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// GitHub's feedback on one token.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GithubFeedback {
    /// SHA-256 of the token, hex: the token itself is not sent back.
    pub token_hash: String,
    /// The alert's `type`.
    pub token_type: String,
    /// `true_positive` for a working secret of a secret key Keyward stores,
    /// `false_positive` otherwise (publishable keys are public by design).
    pub label: &'static str,
}

/// GitHub secret scanning's partner endpoint: a signed JSON array of found
/// tokens, each acted on as a leak report; answered with GitHub's feedback
/// format, one entry per token.
#[utoipa::path(
    post, path = "/v1/leaks/github", tag = "leaks", operation_id = "leaks_github",
    request_body(content = Vec<GithubAlert>, description = "GitHub's alert; the raw body is what `Github-Public-Key-Signature` signs"),
    params(
        ("Github-Public-Key-Identifier" = String, Header, description = "The GitHub key that signed the body"),
        ("Github-Public-Key-Signature" = String, Header, description = "Base64 of the DER ECDSA P-256 SHA-256 signature of the raw body"),
    ),
    responses(
        (status = 200, body = Vec<GithubFeedback>),
        (status = 401, description = "`invalid_signature`: missing or bad signature; nothing was done"),
        (status = 503, description = "`github_keys_unavailable` (GitHub's keys cannot be loaded, or the signing key is not among them yet) or `storage_unavailable`; nothing was done"),
    ),
)]
pub async fn github(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    request: Request,
) -> Result<ApiJson<Vec<GithubFeedback>>, ApiError> {
    ensure_json(&request)?;
    let body = body_bytes(request, &state).await?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    state
        .leaks
        .github
        .verify(
            header("github-public-key-identifier"),
            header("github-public-key-signature"),
            &body,
        )
        .await
        .map_err(|refused| match refused {
            Refused::Signature => ApiError::BadSignature,
            Refused::KeysUnavailable(detail) => {
                tracing::error!(%detail, "cannot check a GitHub alert");
                ApiError::Dependency {
                    code: "github_keys_unavailable",
                    detail: "GitHub's public keys could not be loaded; try again later".to_owned(),
                }
            }
            Refused::NotYetKnown => ApiError::Dependency {
                code: "github_keys_unavailable",
                detail: "the signing key is not among GitHub's keys yet; try again later"
                    .to_owned(),
            },
        })?;
    let alerts: Vec<GithubAlert> =
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest {
            code: "malformed_json",
            detail: format!("not a GitHub secret scanning alert: {e}"),
            errors: Vec::new(),
        })?;
    let mut feedback = Vec::with_capacity(alerts.len());
    for alert in alerts {
        let mut details = Map::new();
        if let Some(source) = &alert.source {
            details.insert(
                "github_source".to_owned(),
                json!(source.chars().take(100).collect::<String>()),
            );
        }
        let report = LeakReport {
            source: LeakSource::Github,
            url: alert.url.as_deref().and_then(|url| check_url(url).ok()),
            details,
        };
        let found = leaks::find(&state, &alert.token).await?;
        let known = found.is_some();
        if let Some(found) = found {
            leaks::act(&state, found, &report, &client).await?;
        }
        feedback.push(GithubFeedback {
            token_hash: KeyHash::of(&alert.token).to_hex(),
            token_type: alert.token_type,
            label: if known {
                "true_positive"
            } else {
                "false_positive"
            },
        });
    }
    Ok(ApiJson(feedback))
}

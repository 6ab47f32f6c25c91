//! The one error type of the client, in the two families callers handle differently.
//!
//! - [`Error::Api`]: Keyward answered and refused the call with `application/problem+json`;
//!   the [`ApiError`] carries Keyward's stable `code` (`not_found`, `validation_failed`…), the
//!   field errors of a 422 and, for a 429, `Retry-After`.
//! - Keyward gave **no usable answer** ([`Error::is_unavailable`]): it could not be reached
//!   ([`Error::Unreachable`]), took longer than the budget ([`Error::Timeout`]), answered 5xx
//!   after every retry ([`Error::Server`], which is both an answer and an outage), or answered
//!   something that cannot be read ([`Error::Unreadable`]). Middleware turns these into 503
//!   `UNAVAILABLE` unless `fail_open` was asked for.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

/// Everything a call to Keyward can fail with.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Keyward refused the call (4xx) with a problem+json answer.
    #[error("{0}")]
    Api(Box<ApiError>),
    /// Keyward answered 5xx, after every retry the call allowed.
    #[error("{0}")]
    Server(Box<ApiError>),
    /// Keyward did not answer within the call's budget (retries included).
    #[error("Keyward did not answer within {} s", .0.as_secs_f64())]
    Timeout(Duration),
    /// Keyward could not be reached, or the connection was lost.
    #[error("cannot reach Keyward: {0}")]
    Unreachable(String),
    /// Keyward's answer could not be read (not JSON, or not the documented shape).
    #[error("Keyward's answer cannot be read: {0}")]
    Unreadable(String),
    /// A management call on a client built without a root key.
    #[error("this call needs a root key: Keyward::builder(url).root_key(…)")]
    NoRootKey,
    /// The client's settings cannot work (a base URL that is no URL, a zero timeout…).
    #[error("invalid Keyward client setting: {0}")]
    Config(String),
}

impl Error {
    /// True when Keyward gave no usable answer: unreachable, timeout, 5xx or unreadable.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Self::Server(_) | Self::Timeout(_) | Self::Unreachable(_) | Self::Unreadable(_)
        )
    }

    /// The problem+json refusal, for [`Error::Api`] and [`Error::Server`].
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Self::Api(error) | Self::Server(error) => Some(error),
            _ => None,
        }
    }

    /// Keyward's stable error code (`not_found`, `validation_failed`…), when it answered.
    pub fn code(&self) -> Option<&str> {
        self.api().map(|error| error.code.as_str())
    }

    /// The HTTP status of Keyward's answer, when it answered.
    pub fn status(&self) -> Option<u16> {
        self.api().map(|error| error.status)
    }

    /// How long to wait before trying again, from a 429's `Retry-After`.
    pub fn retry_after(&self) -> Option<Duration> {
        self.api().and_then(|error| error.retry_after)
    }

    /// A short name of the kind of failure, for logs (`timeout`, `unreachable`…).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Api(_) => "api_error",
            Self::Server(_) => "server_error",
            Self::Timeout(_) => "timeout",
            Self::Unreachable(_) => "unreachable",
            Self::Unreadable(_) => "unreadable",
            Self::NoRootKey => "no_root_key",
            Self::Config(_) => "config",
        }
    }
}

/// A refusal as Keyward wrote it: `application/problem+json`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// Keyward's stable code; `http_<status>` when the answer had none.
    pub code: String,
    /// A short summary for people.
    pub title: String,
    /// What went wrong, for people.
    pub detail: String,
    /// The field errors of a 422 (`validation_failed`), or of a 400 `invalid_body`.
    pub errors: Vec<FieldError>,
    /// The answer's `x-request-id`, to find the call in Keyward's log.
    pub request_id: Option<String>,
    /// A 429's `Retry-After`.
    pub retry_after: Option<Duration>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.detail.is_empty() {
            &self.title
        } else {
            &self.detail
        };
        write!(f, "{} {}: {what}", self.status, self.code)
    }
}

/// One invalid field of a request: its JSON path and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct FieldError {
    /// The field's JSON path (`scopes[1]`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// The problem+json body, read leniently: whatever it lacks, the status still says enough.
#[derive(Debug, Default, Deserialize)]
struct Problem {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    detail: Option<String>,
    #[serde(default)]
    errors: Option<Vec<FieldError>>,
}

impl ApiError {
    /// The error of a non-2xx answer: its status, headers and body.
    pub(crate) fn from_answer(
        status: http::StatusCode,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Self {
        let problem: Problem = serde_json::from_slice(body).unwrap_or_default();
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        Self {
            status: status.as_u16(),
            code: problem
                .code
                .unwrap_or_else(|| format!("http_{}", status.as_u16())),
            title: problem
                .title
                .unwrap_or_else(|| status.canonical_reason().unwrap_or_default().to_owned()),
            detail: problem.detail.unwrap_or_default(),
            errors: problem.errors.unwrap_or_default(),
            request_id: header("x-request-id"),
            retry_after: header("retry-after")
                .and_then(|value| value.trim().parse::<f64>().ok())
                .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
                .map(Duration::from_secs_f64),
        }
    }
}

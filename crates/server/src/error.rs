//! The one error type of the HTTP boundary and its `application/problem+json`
//! rendering. 5xx bodies say nothing internal; the cause goes to the log,
//! inside the request's span and so with its request id.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keyward_core::error::{DomainError, FieldError};
use keyward_core::store::StoreError;
use serde::Serialize;

/// Every way a request can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request itself is malformed (bad JSON, unknown fields, wrong types).
    #[error("{detail}")]
    BadRequest {
        /// Stable code.
        code: &'static str,
        /// For people.
        detail: String,
        /// Field errors, if any.
        errors: Vec<FieldError>,
    },
    /// 401: no credentials or bad ones.
    #[error("missing or invalid credentials")]
    Unauthorized,
    /// 403: authenticated, but not allowed.
    #[error("{detail}")]
    Forbidden {
        /// Stable code.
        code: &'static str,
        /// For people.
        detail: String,
    },
    /// 404: no such object in the caller's organization.
    #[error("not found")]
    NotFound,
    /// 409: conflicts with the object's state or another request.
    #[error("{detail}")]
    Conflict {
        /// Stable code.
        code: &'static str,
        /// For people.
        detail: String,
    },
    /// 409: another request changed the object since it was read.
    #[error("the object was changed by another request; read it again and retry")]
    Changed,
    /// 405.
    #[error("this route does not accept that method")]
    MethodNotAllowed,
    /// 413.
    #[error("request body too large")]
    PayloadTooLarge,
    /// 415.
    #[error("expected a JSON body")]
    UnsupportedMediaType,
    /// 429: the root key's own rate limit or quota is spent.
    #[error("this root key's rate limit or quota is spent; try again later")]
    Throttled,
    /// 401: a signed request (GitHub's alerts) whose signature is missing
    /// or does not verify.
    #[error("the request's signature is missing or does not verify")]
    BadSignature,
    /// 429: too many requests from the client's address.
    #[error("too many requests from this address; try again in {retry_after} seconds")]
    TooManyRequests {
        /// Seconds until the next request is accepted (`Retry-After`).
        retry_after: u64,
    },
    /// 503: something the request needs other than storage is unavailable.
    #[error("{detail}")]
    Dependency {
        /// Stable code.
        code: &'static str,
        /// For people.
        detail: String,
    },
    /// 422: well-formed, but invalid values.
    #[error("invalid values")]
    Invalid(Vec<FieldError>),
    /// 503: storage unreachable.
    #[error("storage unavailable")]
    Unavailable(#[source] StoreError),
    /// 500: a bug or an unexpected failure.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    /// A 422 about one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError {
            field: field.to_owned(),
            message: message.into(),
        }])
    }

    /// A 403 for a missing management scope.
    pub fn missing_scope(needed: &str) -> Self {
        Self::Forbidden {
            code: "insufficient_scope",
            detail: format!("this root key needs the scope `{needed}`"),
        }
    }

    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Self::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, code, "Bad request"),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            Self::BadSignature => (
                StatusCode::UNAUTHORIZED,
                "invalid_signature",
                "Unauthorized",
            ),
            Self::TooManyRequests { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests",
            ),
            Self::Dependency { code, .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, code, "Service unavailable")
            }
            Self::Forbidden { code, .. } => (StatusCode::FORBIDDEN, code, "Forbidden"),
            Self::NotFound => (StatusCode::NOT_FOUND, "not_found", "Not found"),
            Self::Conflict { code, .. } => (StatusCode::CONFLICT, code, "Conflict"),
            Self::Changed => (StatusCode::CONFLICT, "conflict", "Conflict"),
            Self::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed",
            ),
            Self::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "Payload too large",
            ),
            Self::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
            ),
            Self::Throttled => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests",
            ),
            Self::Invalid(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "Invalid values",
            ),
            Self::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                "Service unavailable",
            ),
            Self::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal server error",
            ),
        }
    }
}

/// The problem document (RFC 9457).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `urn:keyward:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the status.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What went wrong, for people.
    pub detail: String,
    /// Stable, machine-readable code.
    pub code: String,
    /// Field errors for validation failures.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, title) = self.parts();
        let detail = match &self {
            Self::Internal(cause) => {
                tracing::error!(error = %cause, "request failed");
                "an unexpected error occurred; the server log has the details".to_owned()
            }
            Self::Unavailable(cause) => {
                tracing::error!(error = %cause, "storage unavailable");
                "the database is unavailable; try again shortly".to_owned()
            }
            Self::Invalid(_) => "one or more fields have invalid values".to_owned(),
            Self::NotFound => "no such object".to_owned(),
            other => other.to_string(),
        };
        let retry_after = match &self {
            Self::TooManyRequests { retry_after } => Some(*retry_after),
            _ => None,
        };
        let errors = match self {
            Self::Invalid(errors) | Self::BadRequest { errors, .. } => errors,
            _ => Vec::new(),
        };
        let problem = Problem {
            kind: format!("urn:keyward:problem:{code}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail,
            code: code.to_owned(),
            errors,
        };
        let mut response = (status, axum::Json(problem)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::Invalid(errors) => Self::Invalid(errors),
            DomainError::Conflict(detail) => Self::Conflict {
                code: "invalid_state",
                detail,
            },
            DomainError::Forbidden(detail) => Self::Forbidden {
                code: "forbidden",
                detail,
            },
            e @ (DomainError::Entropy | DomainError::Crypto) => Self::Internal(Box::new(e)),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::NotFound,
            StoreError::Conflict(detail) => Self::Conflict {
                code: "conflict",
                detail,
            },
            StoreError::Changed => Self::Changed,
            e @ StoreError::Backend(_) => Self::Unavailable(e),
        }
    }
}

/// Answers unknown routes in the same shape as every other error.
pub async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// Answers a known route called with the wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

//! The dashboard's way into the API: each page calls the management API
//! in-process, as the signed-in member, so that every rule — roles,
//! organization boundaries, validation, audit — lives in one place and the
//! dashboard cannot show or do more than the API allows.

use crate::auth::{Delegated, Principal};
use crate::state::AppState;
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::LazyLock;
use tower::ServiceExt;

static API: LazyLock<Router<AppState>> = LazyLock::new(|| crate::api::routers().1);

/// Why an API call failed, as the API said it.
#[derive(Debug, Clone)]
pub struct Failure {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code.
    pub code: String,
    /// For people.
    pub detail: String,
    /// Field → message, for forms.
    pub errors: Vec<(String, String)>,
}

impl Failure {
    fn internal(detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal".to_owned(),
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    /// Whether the form that caused it should be shown again with these
    /// messages (a refusal of the role gets its own page instead).
    pub fn is_form_error(&self) -> bool {
        self.status.is_client_error() && self.status != StatusCode::FORBIDDEN
    }

    /// Field → message, or the detail alone (field `""`) when no field was
    /// named: what a form shows at its fields.
    pub fn field_errors(&self) -> Vec<(String, String)> {
        if self.errors.is_empty() {
            return vec![(String::new(), self.detail.clone())];
        }
        self.errors.clone()
    }

    /// Every message, field errors named by their field.
    pub fn messages(&self) -> Vec<String> {
        if self.errors.is_empty() {
            return vec![self.detail.clone()];
        }
        self.errors
            .iter()
            .map(|(field, message)| {
                if field.is_empty() {
                    message.clone()
                } else {
                    format!("{}: {message}", humanize(field))
                }
            })
            .collect()
    }
}

/// `trusted_origins[0]` → `Trusted origins 1`.
pub(super) fn humanize(field: &str) -> String {
    let mut out = String::new();
    let mut chars = field.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '_' => out.push(' '),
            '[' => {
                let digits: String = chars.by_ref().take_while(|c| *c != ']').collect();
                let n = digits
                    .parse::<usize>()
                    .map_or(digits, |n| (n + 1).to_string());
                out.push(' ');
                out.push_str(&n);
            }
            c if out.is_empty() => out.extend(c.to_uppercase()),
            c => out.push(c),
        }
    }
    out
}

#[derive(serde::Deserialize)]
struct ProblemBody {
    code: String,
    detail: String,
    #[serde(default)]
    errors: Vec<FieldBody>,
}

#[derive(serde::Deserialize)]
struct FieldBody {
    field: String,
    message: String,
}

/// The API, called as one principal.
#[derive(Debug)]
pub struct Api<'a> {
    state: &'a AppState,
    principal: &'a Principal,
}

impl<'a> Api<'a> {
    /// Calls as `principal`.
    pub fn new(state: &'a AppState, principal: &'a Principal) -> Self {
        Self { state, principal }
    }

    /// `GET uri`.
    pub async fn get<T: DeserializeOwned>(&self, uri: &str) -> Result<T, Failure> {
        self.call(Method::GET, uri, None).await
    }

    /// `method uri` with a JSON body.
    pub async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        uri: &str,
        body: &impl Serialize,
    ) -> Result<T, Failure> {
        let body = serde_json::to_vec(body).map_err(|e| Failure::internal(e.to_string()))?;
        self.call(method, uri, Some(body)).await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        uri: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T, Failure> {
        let mut request = Request::builder().method(method).uri(uri);
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let mut request = request
            .body(body.map_or_else(Body::empty, Body::from))
            .map_err(|e| Failure::internal(e.to_string()))?;
        request
            .extensions_mut()
            .insert(Delegated(self.principal.clone()));
        let router = API.clone().with_state(self.state.clone());
        let response = router
            .oneshot(request)
            .await
            .map_err(|e| Failure::internal(e.to_string()))?;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .map_err(|e| Failure::internal(e.to_string()))?;
        if status.is_success() {
            let bytes = if bytes.is_empty() {
                &b"null"[..]
            } else {
                &bytes[..]
            };
            return serde_json::from_slice(bytes).map_err(|e| Failure::internal(e.to_string()));
        }
        let problem: ProblemBody = serde_json::from_slice(&bytes)
            .map_err(|_| Failure::internal(format!("the API answered {status}")))?;
        Err(Failure {
            status,
            code: problem.code,
            detail: problem.detail,
            errors: problem
                .errors
                .into_iter()
                .map(|e| (e.field, e.message))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::humanize;

    #[test]
    fn field_paths_read_as_words() {
        assert_eq!(humanize("trusted_origins[0]"), "Trusted origins 1");
        assert_eq!(humanize("name"), "Name");
        assert_eq!(humanize("ratelimit.limit"), "Ratelimit.limit");
    }
}

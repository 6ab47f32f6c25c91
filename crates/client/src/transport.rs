//! Sending one request to Keyward: the call's budget, bounded retries with backoff, and
//! turning the answer into bytes or an [`Error`].
//!
//! The timeout is the budget of the whole call, every retry and backoff included, so a
//! Keyward that accepts connections and never answers holds a call for the budget and no
//! longer. Retried: a connection that could not be opened (nothing was sent), and, for calls
//! that are safe to send twice (reads, verification, updates, creation with its
//! `Idempotency-Key`), a connection lost mid-way or a 5xx answer. Never retried: 4xx answers
//! (a 429 carries `Retry-After` in the error instead).

use std::time::Duration;

use bytes::Bytes as Body;
use http::{HeaderValue, Method, header};
use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;

use crate::Error;
use crate::error::ApiError;

/// The `User-Agent` of every call.
const USER_AGENT: &str = concat!("keyward-rust/", env!("CARGO_PKG_VERSION"));

/// What every call shares: where Keyward is and how patient to be with it.
#[derive(Clone)]
pub(crate) struct Options {
    pub(crate) base_url: String,
    pub(crate) root_key: Option<SecretString>,
    pub(crate) timeout: Duration,
    pub(crate) retries: u32,
    pub(crate) backoff: Duration,
}

/// One API request, before it is sent.
#[derive(Debug)]
pub(crate) struct Call {
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    idempotency_key: Option<String>,
    management: bool,
    replay_safe: bool,
}

impl Call {
    /// A management call (root key needed), safe to send twice unless told otherwise.
    pub(crate) fn new(method: Method, path: String) -> Self {
        Self {
            method,
            path,
            query: Vec::new(),
            body: None,
            idempotency_key: None,
            management: true,
            replay_safe: true,
        }
    }

    /// With this JSON body.
    pub(crate) fn json(mut self, body: &impl serde::Serialize) -> Result<Self, Error> {
        let bytes = serde_json::to_vec(body)
            .map_err(|error| Error::Config(format!("cannot write the request as JSON: {error}")))?;
        self.body = Some(bytes);
        Ok(self)
    }

    /// With the fields of `filter` (a struct of optional fields) as query parameters.
    pub(crate) fn query(mut self, filter: &impl serde::Serialize) -> Result<Self, Error> {
        let value = serde_json::to_value(filter)
            .map_err(|error| Error::Config(format!("cannot write the query: {error}")))?;
        if let serde_json::Value::Object(fields) = value {
            for (name, value) in fields {
                let text = match value {
                    serde_json::Value::Null => continue,
                    serde_json::Value::String(text) => text,
                    other => other.to_string(),
                };
                self.query.push((name, text));
            }
        }
        Ok(self)
    }

    /// With a query parameter.
    pub(crate) fn param(mut self, name: &str, value: Option<&str>) -> Self {
        if let Some(value) = value {
            self.query.push((name.to_owned(), value.to_owned()));
        }
        self
    }

    /// With `Idempotency-Key`, so a retry after a lost answer does not act twice.
    pub(crate) fn idempotency_key(mut self, key: String) -> Self {
        self.idempotency_key = Some(key);
        self
    }

    /// Not to be sent again once it may have reached Keyward.
    pub(crate) fn not_replay_safe(mut self) -> Self {
        self.replay_safe = false;
        self
    }

    /// Without the root key: verification needs no credential but the key.
    pub(crate) fn public(mut self) -> Self {
        self.management = false;
        self
    }
}

/// Sends `call` within the budget, with retries; the body of its 2xx answer.
pub(crate) async fn send(
    http: &reqwest::Client,
    options: &Options,
    call: &Call,
) -> Result<Body, Error> {
    let deadline = Instant::now() + options.timeout;
    match tokio::time::timeout_at(deadline, attempts(http, options, call, deadline)).await {
        Ok(answer) => answer,
        Err(_) => Err(Error::Timeout(options.timeout)),
    }
}

async fn attempts(
    http: &reqwest::Client,
    options: &Options,
    call: &Call,
    deadline: Instant,
) -> Result<Body, Error> {
    let mut attempt = 0u32;
    loop {
        let failure = match attempt_once(http, options, call).await? {
            Ok(body) => return Ok(body),
            Err(failure) => failure,
        };
        if attempt >= options.retries {
            return Err(failure);
        }
        let delay = backoff(options.backoff, attempt);
        attempt += 1;
        if Instant::now() + delay >= deadline {
            return Err(failure);
        }
        tokio::time::sleep(delay).await;
    }
}

/// One attempt: `Ok(Ok(body))` done, `Ok(Err(e))` may be retried, `Err(e)` final.
async fn attempt_once(
    http: &reqwest::Client,
    options: &Options,
    call: &Call,
) -> Result<Result<Body, Error>, Error> {
    let request = build(http, options, call)?;
    let response = match request.send().await {
        Ok(response) => response,
        Err(error) => {
            let failure = Error::Unreachable(describe(&error));
            // A connection that could not be opened sent nothing: always safe to retry.
            return if error.is_connect() || call.replay_safe {
                Ok(Err(failure))
            } else {
                Err(failure)
            };
        }
    };
    let status = response.status();
    let headers = response.headers().clone();
    let body = match response.bytes().await {
        Ok(body) => body,
        Err(error) => {
            let failure = Error::Unreachable(describe(&error));
            return if call.replay_safe {
                Ok(Err(failure))
            } else {
                Err(failure)
            };
        }
    };
    if status.is_success() {
        return Ok(Ok(body));
    }
    let error = Box::new(ApiError::from_answer(status, &headers, &body));
    if status.is_server_error() {
        return if call.replay_safe {
            Ok(Err(Error::Server(error)))
        } else {
            Err(Error::Server(error))
        };
    }
    Err(Error::Api(error))
}

fn build(
    http: &reqwest::Client,
    options: &Options,
    call: &Call,
) -> Result<reqwest::RequestBuilder, Error> {
    let url = format!("{}{}", options.base_url, call.path);
    let mut request = http
        .request(call.method.clone(), url)
        .header(header::USER_AGENT, USER_AGENT)
        .header(header::ACCEPT, "application/json");
    if !call.query.is_empty() {
        request = request.query(&call.query);
    }
    if call.management {
        let root_key = options.root_key.as_ref().ok_or(Error::NoRootKey)?;
        let mut value = HeaderValue::try_from(format!("Bearer {}", root_key.expose_secret()))
            .map_err(|_| Error::Config("the root key is not a valid header value".to_owned()))?;
        value.set_sensitive(true);
        request = request.header(header::AUTHORIZATION, value);
    }
    if let Some(key) = &call.idempotency_key {
        request = request.header("Idempotency-Key", key);
    }
    if let Some(body) = &call.body {
        request = request
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.clone());
    }
    Ok(request)
}

/// `base × 2^attempt`, with jitter between half and all of it.
fn backoff(base: Duration, attempt: u32) -> Duration {
    let full = base.saturating_mul(2u32.saturating_pow(attempt));
    let fraction = 0.5 + (random_u64() % 1_000) as f64 / 2_000.0;
    full.mul_f64(fraction)
}

/// A random number (jitter, idempotency keys); never secret material.
pub(crate) fn random_u64() -> u64 {
    getrandom::u64().unwrap_or_else(|_| {
        // No OS randomness: the clock's nanoseconds still spread the retries.
        u64::from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .subsec_nanos(),
        )
    })
}

/// An error and its causes on one line (reqwest's own message says little).
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Reads a 2xx answer's JSON.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|error| Error::Unreadable(error.to_string()))
}

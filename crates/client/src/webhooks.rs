//! Checking that a webhook came from Keyward, with the `standardwebhooks` crate.
//!
//! Keyward signs with the organization's shared secret used as it is (the UTF-8 bytes of the
//! `kwss_…` string, not base64), which `standardwebhooks` takes through
//! `Webhook::from_bytes` (its `Webhook::new` would base64-decode it and reject every
//! delivery). During a rotation's grace period, give both secrets: a delivery is good when
//! either verifies it. The library checks the signature against the body exactly as received
//! and rejects timestamps more than five minutes from this machine's clock.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use standardwebhooks::Webhook;

/// The delivery is not Keyward's: a bad or missing signature, a stale timestamp, or a body
/// that is not an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("webhook verification failed: {0}")]
pub struct WebhookError(String);

/// A verified event: `{type, timestamp, data}` (see `docs/webhooks.md`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct WebhookEvent {
    /// The event type (`key.revoked`, `webhook.test`…).
    #[serde(rename = "type")]
    pub event_type: String,
    /// When the event happened (not when it was sent).
    pub timestamp: DateTime<Utc>,
    /// What it is about: `audit_event_id`, `actor`, `target`, `changes`, and `key` for key
    /// events.
    pub data: Value,
}

/// Verifies deliveries against one or more shared secrets (`kwss_…`).
pub struct WebhookVerifier {
    webhooks: Vec<Webhook>,
}

impl fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookVerifier(<{} secret(s)>)", self.webhooks.len())
    }
}

impl WebhookVerifier {
    /// A verifier accepting any of `secrets`, as `GET /v1/shared-secret` shows them.
    pub fn new<S: AsRef<str>>(secrets: impl IntoIterator<Item = S>) -> Result<Self, WebhookError> {
        let mut webhooks = Vec::new();
        for secret in secrets {
            let secret = secret.as_ref();
            if secret.is_empty() {
                return Err(WebhookError("a shared secret is empty".to_owned()));
            }
            let webhook = Webhook::from_bytes(secret.as_bytes().to_vec())
                .map_err(|error| WebhookError(error.to_string()))?;
            webhooks.push(webhook);
        }
        if webhooks.is_empty() {
            return Err(WebhookError(
                "at least one shared secret is needed".to_owned(),
            ));
        }
        Ok(Self { webhooks })
    }

    /// The event of a delivery: `body` exactly as received, before any parsing, and the
    /// request's headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
    pub fn verify(
        &self,
        body: &[u8],
        headers: &http::HeaderMap,
    ) -> Result<WebhookEvent, WebhookError> {
        let mut last = None;
        for webhook in &self.webhooks {
            match webhook.verify(body, headers) {
                Ok(()) => {
                    return serde_json::from_slice(body).map_err(|error| {
                        WebhookError(format!("the delivery's body is not an event: {error}"))
                    });
                }
                Err(error) => last = Some(error),
            }
        }
        Err(WebhookError(last.map_or_else(
            || "no shared secret verifies this delivery".to_owned(),
            |error| error.to_string(),
        )))
    }
}

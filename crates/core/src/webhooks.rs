//! Outgoing webhooks: which events exist, what an endpoint subscribes to,
//! the payload a message carries, how it is signed (Standard Webhooks), and
//! when a failed delivery is tried again.
//!
//! Messages are written by the store in the same transaction as the audit
//! event they report (see `WebhookStore`); the server's delivery worker
//! sends them. Nothing here does I/O.

use crate::audit::AuditEvent;
use crate::error::{DomainError, Validation};
use crate::fields::not_null;
use crate::id::{DeliveryId, EventId, OrgId, WebhookId};
use crate::keys::view::KeyView;
use base64::Engine;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;

/// Every event an endpoint can subscribe to.
pub const EVENT_TYPES: &[&str] = &[
    "key.created",
    "key.updated",
    "key.regenerated",
    "key.disabled",
    "key.enabled",
    "key.revoked",
    "key.archived",
    "key.expiring",
    "key.expired",
    "key.quota_exhausted",
    "key.stale",
    "key.leaked",
    "member.removed",
    "shared_secret.rotated",
    "webhook.test",
    "webhook.disabled",
];

/// Sent only to the endpoint being tested, whatever it subscribes to.
pub const TEST_EVENT: &str = "webhook.test";

/// Reported to the other endpoints when one is disabled for failing.
pub const DISABLED_EVENT: &str = "webhook.disabled";

/// True when an audit action is also a webhook event.
pub fn is_event_type(action: &str) -> bool {
    EVENT_TYPES.contains(&action)
}

/// The queue of an endpoint a message of `event_type` waits in: tests
/// apart, so that a test goes out while events wait for a retry (and no
/// test holds an event up); each queue is delivered in order.
pub fn queue_of(event_type: &str) -> &'static str {
    if event_type == TEST_EVENT {
        "tests"
    } else {
        "events"
    }
}

/// Most endpoints an organization may have: each audited change is queued
/// once per subscribed endpoint, inside the change's own transaction.
pub const MAX_ENDPOINTS: usize = 20;

const MAX_URL: usize = 2_000;
const MAX_DESCRIPTION: usize = 500;

/// Deliveries are signed with the organization's shared secret, read as its
/// UTF-8 bytes (Standard Webhooks libraries accept such a "raw" secret).
pub type SigningKey = Vec<u8>;

/// A webhook endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// `wh_…`.
    pub id: WebhookId,
    /// Its organization.
    pub org_id: OrgId,
    /// Where deliveries go.
    pub url: String,
    /// Free text.
    pub description: String,
    /// Event types, or `["*"]` for all.
    pub events: Vec<String>,
    /// Disabled endpoints get no new messages and no deliveries.
    pub enabled: bool,
    /// Why Keyward disabled it (`gone`, `failing`); `None` when enabled or
    /// disabled by a person.
    pub disabled_reason: Option<String>,
    /// Start of the current run of failed attempts.
    pub failing_since: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Optimistic concurrency.
    pub version: i64,
}

impl Endpoint {
    /// True when the endpoint subscribes to `event_type`.
    pub fn wants(&self, event_type: &str) -> bool {
        self.events.iter().any(|e| e == "*" || e == event_type)
    }
}

/// Body of `POST /v1/webhooks`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    /// `https://…` (plain `http` only with `--webhook-allow-private`).
    pub url: String,
    /// Free text, up to 500 characters.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub description: Option<String>,
    /// Event types, or `["*"]` for every event.
    pub events: Vec<String>,
    /// Default `true`.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub enabled: Option<bool>,
}

/// Body of `PATCH /v1/webhooks/{id}`; absent fields stay as they are.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEndpoint {
    /// New URL.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub url: Option<String>,
    /// New description.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub description: Option<String>,
    /// New event types.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub events: Option<Vec<String>>,
    /// Enable or disable; enabling clears the reason Keyward disabled it.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub enabled: Option<bool>,
}

/// Which URLs an endpoint may have.
#[derive(Debug, Clone, Copy)]
pub struct UrlRules {
    /// `--webhook-allow-private`: plain `http` and private addresses allowed.
    pub allow_private: bool,
}

impl Endpoint {
    /// A new endpoint from a create request.
    pub fn create(
        org_id: OrgId,
        input: CreateEndpoint,
        rules: UrlRules,
        now: DateTime<Utc>,
    ) -> Result<Self, DomainError> {
        let mut v = Validation::default();
        let url = v.check("url", check_url(&input.url, rules));
        let description = v.check(
            "description",
            check_description(input.description.unwrap_or_default()),
        );
        let events = v.check("events", check_events(input.events));
        v.finish()?;
        Ok(Self {
            id: WebhookId::generate()?,
            org_id,
            url: url.unwrap_or_default(),
            description: description.unwrap_or_default(),
            events: events.unwrap_or_default(),
            enabled: input.enabled.unwrap_or(true),
            disabled_reason: None,
            failing_since: None,
            created_at: now,
            updated_at: now,
            version: 0,
        })
    }

    /// Applies an update request.
    pub fn update(
        &mut self,
        input: UpdateEndpoint,
        rules: UrlRules,
        now: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        let mut v = Validation::default();
        let url = input.url.map(|u| v.check("url", check_url(&u, rules)));
        let description = input
            .description
            .map(|d| v.check("description", check_description(d)));
        let events = input.events.map(|e| v.check("events", check_events(e)));
        v.finish()?;
        if let Some(Some(url)) = url {
            self.url = url;
        }
        if let Some(Some(description)) = description {
            self.description = description;
        }
        if let Some(Some(events)) = events {
            self.events = events;
        }
        if let Some(enabled) = input.enabled {
            if enabled && !self.enabled {
                self.disabled_reason = None;
                self.failing_since = None;
            }
            self.enabled = enabled;
        }
        self.updated_at = now;
        Ok(())
    }

    /// What the audit log records of an endpoint. Endpoint URLs often carry
    /// a token (`https://hooks.slack.com/services/…`), and the audit log is
    /// read by more people than may manage webhooks: it keeps the URL's
    /// origin and a fingerprint of the whole URL, which changes with it.
    pub fn audit_view(&self) -> serde_json::Map<String, Value> {
        crate::events::object(json!({
            "url": self.display_url(),
            "url_fingerprint": fingerprint(&self.url),
            "description": self.description,
            "events": self.events,
            "enabled": self.enabled,
        }))
    }

    /// The URL as shown outside the webhook API: its origin, and `/…` when
    /// it has more.
    pub fn display_url(&self) -> String {
        match url::Url::parse(&self.url) {
            Ok(url) => {
                let origin = url.origin().ascii_serialization();
                if url.path() == "/" && url.query().is_none() {
                    origin
                } else {
                    format!("{origin}/…")
                }
            }
            Err(_) => "(invalid URL)".to_owned(),
        }
    }
}

/// The first 12 hex digits of the SHA-256 of `text`.
fn fingerprint(text: &str) -> String {
    use sha2::Digest;
    Sha256::digest(text.as_bytes())
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn check_url(raw: &str, rules: UrlRules) -> Result<String, String> {
    if raw.len() > MAX_URL {
        return Err(format!("must be at most {MAX_URL} characters"));
    }
    let url = url::Url::parse(raw).map_err(|e| format!("not a valid URL: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if rules.allow_private => {}
        "http" => return Err("must use https".to_owned()),
        _ => return Err("must be an https URL".to_owned()),
    }
    if url.host().is_none() {
        return Err("must name a host".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials".to_owned());
    }
    if url.fragment().is_some() {
        return Err("must not have a fragment".to_owned());
    }
    if !rules.allow_private
        && let Some(blocked) = crate::net::blocked_host(&url)
    {
        return Err(blocked);
    }
    Ok(url.into())
}

fn check_description(description: String) -> Result<String, String> {
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(format!("must be at most {MAX_DESCRIPTION} characters"));
    }
    if !crate::keys::is_plain_text(&description) {
        return Err("must not contain control characters".to_owned());
    }
    Ok(description)
}

fn check_events(events: Vec<String>) -> Result<Vec<String>, String> {
    if events.is_empty() {
        return Err("must name at least one event type, or \"*\"".to_owned());
    }
    if events.iter().any(|e| e == "*") {
        return if events.len() == 1 {
            Ok(events)
        } else {
            Err("\"*\" must be the only entry".to_owned())
        };
    }
    let mut seen = Vec::with_capacity(events.len());
    for event in events {
        if !is_event_type(&event) {
            return Err(format!("unknown event type `{event}`"));
        }
        if !seen.contains(&event) {
            seen.push(event);
        }
    }
    Ok(seen)
}

/// The JSON body of a message: `{type, timestamp, data}`. `data` carries the
/// audit event's id, actor, target and changes, and the key object (never a
/// secret) when the event is about a key.
pub fn payload(event: &AuditEvent, key: Option<&KeyView>) -> String {
    let mut data = json!({
        "audit_event_id": event.id,
        "actor": event.actor,
        "target": event.target,
        "changes": event.changes,
    });
    if let Some(key) = key {
        data["key"] = serde_json::to_value(key).unwrap_or(Value::Null);
    }
    json!({
        "type": event.action,
        "timestamp": event.occurred_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "data": data,
    })
    .to_string()
}

/// The Standard Webhooks `webhook-id` of the message reporting `event`.
pub fn message_id(event: &EventId) -> String {
    format!("msg_{}", event.as_str().trim_start_matches(EventId::PREFIX))
}

/// One `v1,<base64>` signature of `id.timestamp.body`.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    // HMAC takes keys of any length: the error case cannot happen.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    let tag = mac.finalize().into_bytes();
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(tag)
    )
}

/// The `webhook-signature` header: one signature per key, space-separated
/// (the current secret, and the previous one during a rotation's grace period).
pub fn signature_header(keys: &[SigningKey], id: &str, timestamp: i64, body: &str) -> String {
    keys.iter()
        .map(|key| sign(key, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// How long after its previous failed attempt a delivery is tried again, in
/// seconds: the Standard Webhooks specification's example schedule (after
/// the immediate first attempt: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h,
/// 20 h, 24 h; about three days in all).
pub const RETRY_DELAYS: &[i64] = &[
    5,
    5 * 60,
    30 * 60,
    2 * 3600,
    5 * 3600,
    10 * 3600,
    14 * 3600,
    20 * 3600,
    24 * 3600,
];

/// An endpoint failing for this long is disabled.
pub const DISABLE_AFTER: Duration = Duration::days(5);

/// When to try again after `attempts` failed attempts, or `None` when the
/// schedule is used up. `jitter` in `[0, 1)` spreads retries over ±10 %.
pub fn next_attempt(
    delays: &[i64],
    attempts: u32,
    now: DateTime<Utc>,
    jitter: f64,
    retry_after: Option<i64>,
) -> Option<DateTime<Utc>> {
    let index = usize::try_from(attempts).ok()?.checked_sub(1)?;
    let base = *delays.get(index)?;
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    let spread = (base as f64 * 0.2 * (jitter - 0.5)) as i64;
    let delay = (base + spread).max(retry_after.unwrap_or(0)).max(0);
    Some(now + Duration::milliseconds(delay.saturating_mul(1000)))
}

/// The state of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// An attempt got a 2xx answer.
    Succeeded,
    /// Given up: the schedule ran out, or the endpoint answered 410.
    Failed,
}

impl DeliveryStatus {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    /// From storage.
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "succeeded" => Some(Self::Succeeded),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// One attempt to deliver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attempt {
    /// When it started.
    pub at: DateTime<Utc>,
    /// The endpoint's HTTP status; `null` when none came (timeout, refused).
    pub response_code: Option<u16>,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// Why it failed, when it did without a status (or with a redirect).
    pub error: Option<String>,
}

/// A message's delivery to one endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Delivery {
    /// `dlv_…`.
    pub id: DeliveryId,
    /// The endpoint.
    pub webhook_id: WebhookId,
    /// The Standard Webhooks `webhook-id` (the same for every attempt).
    pub message_id: String,
    /// The event type.
    pub event_type: String,
    /// The audit event the message reports.
    pub audit_event_id: EventId,
    /// `pending`, `succeeded` or `failed`.
    pub status: DeliveryStatus,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// When the next attempt is due; `null` unless pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Every attempt, oldest first.
    pub attempts: Vec<Attempt>,
}

impl Delivery {
    /// The latest attempt, if any.
    pub fn last_attempt(&self) -> Option<&Attempt> {
        self.attempts.last()
    }
}

/// A delivery that is due, and its organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// The delivery.
    pub id: DeliveryId,
    /// Its organization.
    pub org_id: OrgId,
}

/// A delivery a worker holds the lease of, with what it needs to send it.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The delivery, as claimed.
    pub delivery: Delivery,
    /// Its organization.
    pub org_id: OrgId,
    /// Where to send it.
    pub url: String,
    /// The body to send.
    pub payload: String,
    /// The endpoint's current run of failures, if failing.
    pub failing_since: Option<DateTime<Utc>>,
}

/// A sent delivery of a run, what came of it, and what follows.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The delivery, as claimed.
    pub claimed: Claimed,
    /// The attempt.
    pub attempt: Attempt,
    /// What follows it.
    pub result: AttemptResult,
}

/// What the worker decided after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptResult {
    /// 2xx.
    Succeeded,
    /// Try again at this time.
    RetryAt(DateTime<Utc>),
    /// Give up on this delivery.
    GiveUp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_the_standard_webhooks_example() {
        // The specification's example: secret
        // `whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw` (base64 key), message id
        // `msg_p5jXN8AQM9LWM0D4loKWxJek`, timestamp 1614265330.
        let key = base64::engine::general_purpose::STANDARD
            .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .unwrap();
        let signature = sign(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn the_header_carries_one_signature_per_key() {
        let header = signature_header(&[b"a".to_vec(), b"b".to_vec()], "msg_1", 1, "{}");
        let parts: Vec<_> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_ne!(parts[0], parts[1]);
        assert!(parts.iter().all(|p| p.starts_with("v1,")));
    }

    #[test]
    fn retries_follow_the_schedule_then_stop() {
        let now = Utc::now();
        assert_eq!(
            next_attempt(RETRY_DELAYS, 1, now, 0.5, None),
            Some(now + Duration::seconds(5))
        );
        let last = u32::try_from(RETRY_DELAYS.len()).unwrap();
        assert!(next_attempt(RETRY_DELAYS, last, now, 0.5, None).is_some());
        assert_eq!(next_attempt(RETRY_DELAYS, last + 1, now, 0.5, None), None);
        let total: i64 = RETRY_DELAYS.iter().sum();
        assert!((2 * 86_400..4 * 86_400).contains(&total), "{total}");
        // Retry-After stretches the wait, never shortens it.
        assert_eq!(
            next_attempt(RETRY_DELAYS, 1, now, 0.5, Some(120)),
            Some(now + Duration::seconds(120))
        );
        // Jitter stays within ±10 %.
        let late = next_attempt(RETRY_DELAYS, 2, now, 0.999, None).unwrap();
        assert!(late <= now + Duration::seconds(330), "{late}");
    }

    #[test]
    fn event_lists_are_checked() {
        assert!(check_events(vec![]).is_err());
        assert!(check_events(vec!["*".into(), "key.created".into()]).is_err());
        assert!(check_events(vec!["key.nope".into()]).is_err());
        assert_eq!(
            check_events(vec!["key.created".into(), "key.created".into()]).unwrap(),
            vec!["key.created".to_owned()]
        );
    }

    #[test]
    fn urls_must_be_https_and_public_unless_allowed() {
        let strict = UrlRules {
            allow_private: false,
        };
        let lax = UrlRules {
            allow_private: true,
        };
        assert!(check_url("https://hooks.example.com/in", strict).is_ok());
        assert!(check_url("http://hooks.example.com/in", strict).is_err());
        assert!(check_url("http://127.0.0.1:9000/in", lax).is_ok());
        for blocked in [
            "https://127.0.0.1/",
            "https://10.1.2.3/",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/",
            "https://localhost/",
            "https://[::ffff:127.0.0.1]/",
        ] {
            assert!(check_url(blocked, strict).is_err(), "{blocked}");
        }
        assert!(check_url("https://user:pw@example.com/", strict).is_err());
        assert!(check_url("ftp://example.com/", lax).is_err());
    }
}

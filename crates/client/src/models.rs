//! The management API's objects and request bodies, typed.
//!
//! Answers are read leniently where Keyward may grow (fields added later are ignored, an
//! enum value this version does not know reads as `Unknown`); requests are written exactly
//! (`None` leaves a field out, and in [`KeyUpdate`] `Some(None)` sends `null`, which clears).

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `secret` (for servers) or `publishable` (for browsers and apps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum KeyType {
    /// Shown once; only a hash is stored.
    Secret,
    /// May be shown again; meant to be restricted by `trusted_origins`.
    Publishable,
    /// A type this version of the client does not know.
    #[serde(other, skip_serializing)]
    Unknown,
}

/// A key's grant: `admin` (`*`), `readonly` (`*:read`) or `custom` (its scopes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Role {
    /// Every scope.
    Admin,
    /// `*:read`.
    Readonly,
    /// The explicit list of scopes.
    Custom,
    /// A role this version of the client does not know.
    #[serde(other, skip_serializing)]
    Unknown,
}

/// Where a key stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum KeyStatus {
    /// Verifies.
    Active,
    /// `enabled: false`.
    Disabled,
    /// Past `expires_at`.
    Expired,
    /// Revoked for good.
    Revoked,
    /// Archived for good.
    Archived,
    /// A status this version of the client does not know.
    #[serde(other, skip_serializing)]
    Unknown,
}

/// A key's rate limit: at most `limit` verifications per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RateLimit {
    /// Verifications per window.
    pub limit: u64,
    /// The window, in seconds.
    pub window_seconds: u64,
}

impl RateLimit {
    /// `limit` verifications per `window_seconds`.
    pub fn new(limit: u64, window_seconds: u64) -> Self {
        Self {
            limit,
            window_seconds,
        }
    }
}

/// A key's quota: at most `limit` verifications per `period` (`day`, `month` or `none`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Quota {
    /// Verifications per period.
    pub limit: u64,
    /// `day`, `month` or `none` (a lifetime allowance).
    pub period: String,
    /// What is left (answers only).
    #[serde(default, skip_serializing)]
    pub remaining: Option<u64>,
    /// When it refills (answers only; `None` for `none`).
    #[serde(default, skip_serializing)]
    pub refills_at: Option<DateTime<Utc>>,
}

impl Quota {
    /// `limit` verifications per `period` (`day`, `month` or `none`).
    pub fn new(limit: u64, period: impl Into<String>) -> Self {
        Self {
            limit,
            period: period.into(),
            remaining: None,
            refills_at: None,
        }
    }
}

/// The key object. `key` (the full key) is there only in the answers of create and
/// regenerate, and when reading a publishable key; it never shows in `Debug`.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct Key {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub project_id: String,
    #[serde(rename = "type")]
    pub key_type: KeyType,
    pub role: Role,
    pub scopes: Vec<String>,
    /// `full` or `partial`.
    pub access: String,
    pub status: KeyStatus,
    pub enabled: bool,
    pub hint: String,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub updated_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    /// `None` means never used.
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub revoked_reason: Option<String>,
    pub archived_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub leaked_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub trusted_origins: Vec<String>,
    #[serde(default)]
    pub allowed_ips: Vec<String>,
    #[serde(default)]
    pub meta: Map<String, Value>,
    pub ratelimit: Option<RateLimit>,
    pub quota: Option<Quota>,
    /// The full key: `key.expose_secret()` (from [`secrecy::ExposeSecret`]).
    #[serde(default)]
    pub key: Option<SecretString>,
}

/// The fields of a new key (`POST /v1/keys`); `None` leaves a field out.
///
/// `NewKey::new("billing backend").scopes(["data:read"])`, or a struct literal ending in
/// `..NewKey::new(name)`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NewKey {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub key_type: Option<KeyType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trusted_origins: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_ips: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratelimit: Option<RateLimit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<Quota>,
}

impl NewKey {
    /// A key named `name`, everything else Keyward's default.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// In this project (the organization's default project otherwise).
    pub fn project_id(mut self, project_id: impl Into<String>) -> Self {
        self.project_id = Some(project_id.into());
        self
    }

    /// With these scopes (role `custom`).
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// With this role.
    pub fn role(mut self, role: Role) -> Self {
        self.role = Some(role);
        self
    }

    /// Of this type.
    pub fn key_type(mut self, key_type: KeyType) -> Self {
        self.key_type = Some(key_type);
        self
    }

    /// With this description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }
}

/// The changes of `PATCH /v1/keys/{id}`: `None` leaves a field alone; for the nullable
/// fields, `Some(None)` sends `null`, which clears it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KeyUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Option<DateTime<Utc>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trusted_origins: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_ips: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratelimit: Option<Option<RateLimit>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<Option<Quota>>,
}

/// The filters of `GET /v1/keys`; `limit` is the page size.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KeyFilter {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<KeyStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub key_type: Option<KeyType>,
    /// Text found in the name or description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// `-created_at` (default), `created_at`, `name`, `scope`, `-scope`, `last_used_at`,
    /// `-last_used_at`, `expires_at`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// One page of a list and the cursor of the next one (`None` on the last page).
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct Page<T> {
    pub data: Vec<T>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// A project: a key prefix and an API catalog.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Project {
    pub id: String,
    pub name: String,
    pub key_prefix: String,
    pub apis: Vec<String>,
    /// True for the organization's management project (root keys).
    #[serde(default)]
    pub management: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The body of `POST /v1/projects` and `PATCH /v1/projects/{id}`; `None` leaves a field out.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProjectFields {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apis: Option<Vec<String>>,
}

/// The filters of `GET /v1/audit`; `limit` is the page size.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AuditFilter {
    /// An action (`key.created`), a family (`key.*`) or a kind (`create`, `update`, `delete`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// Who did something, or what it was done to: `{type, id, name}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Party {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    pub name: String,
}

/// One event of the audit log.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct AuditEvent {
    pub id: String,
    pub seq: u64,
    pub occurred_at: DateTime<Utc>,
    pub org_id: String,
    pub actor: Party,
    pub team: Option<String>,
    pub action: String,
    pub target: Party,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// Field → `{before, after}`.
    #[serde(default)]
    pub changes: Map<String, Value>,
    pub prev_hash: String,
    pub hash: String,
}

/// A key's verification counts per hour or day (`GET /v1/keys/{id}/usage`).
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct Usage {
    pub key_id: String,
    /// `day` or `hour`.
    pub granularity: String,
    pub data: Vec<UsageBucket>,
}

/// One hour or day of a key's verifications, by outcome code.
#[derive(Debug, Clone, Deserialize)]
#[non_exhaustive]
pub struct UsageBucket {
    pub start: DateTime<Utc>,
    pub counts: std::collections::BTreeMap<String, u64>,
    pub total: u64,
}

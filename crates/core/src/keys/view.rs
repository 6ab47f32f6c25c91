//! The key object of the contract, as the API shows it and as webhook
//! payloads carry it.

use crate::key_format::KeyType;
use crate::limits::{QuotaPeriod, RateLimit};
use crate::model::{KeyRecord, KeyStatus, LeakSource};
use crate::scope::{self, Access, Role};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The key object. `key` appears only at creation and regeneration, and when
/// reading a publishable key.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct KeyView {
    /// `key_…`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// The project.
    pub project_id: String,
    /// `secret` or `publishable`.
    #[serde(rename = "type")]
    pub key_type: KeyType,
    /// Role preset or `custom`.
    pub role: Role,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// `full` when the scopes reach every API of the project's catalog.
    pub access: Access,
    /// Lifecycle state.
    pub status: KeyStatus,
    /// False when disabled.
    pub enabled: bool,
    /// `<prefix>_<type>_` + first 4 + `…` + last 4 characters of the body.
    pub hint: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// The member or root key that created it.
    pub created_by: String,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it stops verifying.
    pub expires_at: Option<DateTime<Utc>>,
    /// Last verification; `null` means never used.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Why it was revoked.
    pub revoked_reason: Option<String>,
    /// When it was archived.
    pub archived_at: Option<DateTime<Utc>>,
    /// When its secret was first reported as leaked; `null` until then and
    /// again once it is regenerated.
    pub leaked_at: Option<DateTime<Utc>>,
    /// Who reported the leak: `github` or `report`.
    pub leak_source: Option<LeakSource>,
    /// Where the secret was found, as the report says (text to show, not a
    /// link to follow blindly).
    pub leak_url: Option<String>,
    /// End of the previous secret's grace period, while one runs.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// Origins requests may come from; empty means any.
    pub trusted_origins: Vec<String>,
    /// Client networks allowed; empty means any.
    pub allowed_ips: Vec<String>,
    /// Caller-defined data.
    #[schema(value_type = Object)]
    pub meta: Map<String, Value>,
    /// At most `limit` valid verifications per `window_seconds`; `null` for none.
    pub ratelimit: Option<RateLimit>,
    /// At most `limit` valid verifications per `period`; `null` for none.
    pub quota: Option<QuotaView>,
    /// The full key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl std::fmt::Debug for KeyView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyView")
            .field("id", &self.id)
            .field("hint", &self.hint)
            .finish_non_exhaustive()
    }
}

impl KeyView {
    /// The view of `record`, whose project has `catalog`, at `now`.
    pub fn new(record: &KeyRecord, catalog: &[String], now: DateTime<Utc>) -> Self {
        Self {
            id: record.id.to_string(),
            name: record.name.clone(),
            description: record.description.clone(),
            project_id: record.project_id.to_string(),
            key_type: record.key_type,
            role: record.role,
            scopes: record.scopes.iter().map(ToString::to_string).collect(),
            access: scope::access(&record.scopes, catalog),
            status: record.status(now),
            enabled: record.enabled,
            hint: record.hint.clone(),
            created_at: record.created_at,
            created_by: record.created_by.clone(),
            updated_at: record.updated_at,
            expires_at: record.expires_at,
            last_used_at: record.last_used_at,
            revoked_at: record.revoked_at,
            revoked_reason: record.revoked_reason.clone(),
            archived_at: record.archived_at,
            leaked_at: record.leak.as_ref().map(|l| l.at),
            leak_source: record.leak.as_ref().map(|l| l.source),
            leak_url: record.leak.as_ref().and_then(|l| l.url.clone()),
            previous_secret_expires_at: record
                .previous
                .map(|p| p.expires_at)
                .filter(|at| *at > now),
            trusted_origins: record
                .trusted_origins
                .iter()
                .map(ToString::to_string)
                .collect(),
            allowed_ips: record.allowed_ips.iter().map(ToString::to_string).collect(),
            meta: record.meta.clone(),
            ratelimit: record.ratelimit,
            quota: record
                .quota
                .zip(record.quota_status(now))
                .map(|(quota, status)| QuotaView {
                    limit: quota.limit,
                    period: quota.period,
                    remaining: status.remaining,
                    refills_at: status.refills_at,
                }),
            key: None,
        }
    }

    /// Adds the full key to the view.
    pub fn with_key(mut self, key: &str) -> Self {
        self.key = Some(key.to_owned());
        self
    }
}

/// A key's quota and how much of it is left.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QuotaView {
    /// Verifications allowed per period.
    pub limit: u64,
    /// `day`, `month` or `none`.
    pub period: QuotaPeriod,
    /// Left in the current period (as last written; at most a second behind).
    pub remaining: u64,
    /// When it refills; `null` for `none`.
    pub refills_at: Option<DateTime<Utc>>,
}

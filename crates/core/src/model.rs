//! The records Keyward keeps: organizations, members, projects and keys.

use crate::id::{KeyId, MemberId, OrgId, ProjectId, TeamId};
use crate::key_format::{KeyHash, KeyPrefix, KeyType};
use crate::origin::TrustedOrigin;
use crate::scope::{Role, Scope};
use chrono::{DateTime, Utc};
use ipnet::IpNet;

/// An organization: the tenant everything else belongs to.
#[derive(Debug, Clone)]
pub struct Organization {
    /// Its id.
    pub id: OrgId,
    /// Display name.
    pub name: String,
    /// Where keys go when no project is named.
    pub default_project_id: ProjectId,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// A member's role in the organization.
#[derive(
    Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum MemberRole {
    /// Everything, including other owners.
    Owner,
    /// Everything except managing owners.
    Admin,
    /// Sees keys, revokes them, reads the audit log.
    Support,
    /// Sees keys and usage.
    Analytics,
    /// Manages their own keys.
    Member,
}

impl MemberRole {
    /// The name used in JSON and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Support => "support",
            Self::Analytics => "analytics",
            Self::Member => "member",
        }
    }

    /// Inverse of [`MemberRole::as_str`].
    pub fn from_name(s: &str) -> Option<Self> {
        [
            Self::Owner,
            Self::Admin,
            Self::Support,
            Self::Analytics,
            Self::Member,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// A person who signs in to the dashboard.
#[derive(Clone)]
pub struct Member {
    /// Its id.
    pub id: MemberId,
    /// The organization.
    pub org_id: OrgId,
    /// Sign-in email, lower-cased.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role in the organization.
    pub role: MemberRole,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// When the member was added.
    pub created_at: DateTime<Utc>,
    /// Signed in with a temporary password: must choose a new one first.
    pub must_change_password: bool,
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// A team: a named group of members, recorded with each member's actions.
#[derive(Debug, Clone)]
pub struct Team {
    /// Its id.
    pub id: TeamId,
    /// The organization.
    pub org_id: OrgId,
    /// Display name, unique in the organization.
    pub name: String,
    /// Its members.
    pub members: Vec<MemberId>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// A dashboard sign-in. Only the SHA-256 of the cookie is stored.
#[derive(Debug, Clone)]
pub struct Session {
    /// SHA-256 of the session cookie's value.
    pub token_hash: [u8; 32],
    /// The organization.
    pub org_id: OrgId,
    /// Who signed in.
    pub member_id: MemberId,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When it stops working, however active it is.
    pub expires_at: DateTime<Utc>,
}

/// A project: groups keys, gives them their prefix and the APIs they may be granted.
#[derive(Debug, Clone)]
pub struct Project {
    /// Its id.
    pub id: ProjectId,
    /// The organization.
    pub org_id: OrgId,
    /// Display name.
    pub name: String,
    /// Prefix of every key of the project.
    pub key_prefix: KeyPrefix,
    /// The API catalog.
    pub apis: Vec<String>,
    /// True for the organization's built-in project of root keys.
    pub management: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// The APIs of the management project: the management scopes are
/// `<api>:<action>` over these (`keys:read`, `org:admin`, …).
pub const MANAGEMENT_APIS: [&str; 5] = ["keys", "projects", "audit", "members", "org"];

/// Every scope a root key may hold.
pub const MANAGEMENT_SCOPES: [&str; 7] = [
    "keys:read",
    "keys:write",
    "projects:write",
    "audit:read",
    "members:write",
    "org:admin",
    "*",
];

/// Key prefix of root keys.
pub const MANAGEMENT_PREFIX: &str = "kwroot";

/// The lifecycle state of a key, in order of precedence.
#[derive(
    Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    /// Usable.
    Active,
    /// Turned off; reversible.
    Disabled,
    /// Past `expires_at`.
    Expired,
    /// Revoked for good.
    Revoked,
    /// Archived for good; kept only in the archived list.
    Archived,
}

impl KeyStatus {
    /// Inverse of the JSON name.
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "disabled" => Some(Self::Disabled),
            "expired" => Some(Self::Expired),
            "revoked" => Some(Self::Revoked),
            "archived" => Some(Self::Archived),
            _ => None,
        }
    }
}

/// The secret a key had before it was regenerated, honoured until `expires_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreviousSecret {
    /// SHA-256 of the old key.
    pub hash: KeyHash,
    /// End of the grace period.
    pub expires_at: DateTime<Utc>,
}

/// Who reported that a key's secret leaked.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum LeakSource {
    /// GitHub secret scanning (`POST /v1/leaks/github`, signed by GitHub).
    Github,
    /// Anyone, through `POST /v1/leaks`.
    Report,
}

impl LeakSource {
    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Github => "github",
            Self::Report => "report",
        }
    }

    /// The source named `s`.
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "github" => Some(Self::Github),
            "report" => Some(Self::Report),
            _ => None,
        }
    }
}

/// The first report that a key's secret leaked; later ones change nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leak {
    /// When Keyward learned of it.
    pub at: DateTime<Utc>,
    /// Who reported it.
    pub source: LeakSource,
    /// Where the secret was found, as the report says (untrusted text).
    pub url: Option<String>,
}

/// An API key (root keys included) as stored. Holds no secret in plaintext.
#[derive(Debug, Clone)]
pub struct KeyRecord {
    /// Its id.
    pub id: KeyId,
    /// The organization.
    pub org_id: OrgId,
    /// The project.
    pub project_id: ProjectId,
    /// True for root keys (keys of the management project).
    pub root: bool,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Secret or publishable.
    pub key_type: KeyType,
    /// Preset or custom.
    pub role: Role,
    /// Granted scopes.
    pub scopes: Vec<Scope>,
    /// False when disabled.
    pub enabled: bool,
    /// SHA-256 of the current key.
    pub hash: KeyHash,
    /// The hint of the current key.
    pub hint: String,
    /// The previous key during a grace period.
    pub previous: Option<PreviousSecret>,
    /// For publishable keys: the key, sealed with the master key.
    pub sealed_key: Option<Vec<u8>>,
    /// Member or root key that created it.
    pub created_by: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it stops verifying.
    pub expires_at: Option<DateTime<Utc>>,
    /// Last verification, written behind.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Why it was revoked.
    pub revoked_reason: Option<String>,
    /// When it was archived.
    pub archived_at: Option<DateTime<Utc>>,
    /// Origins a request may come from; empty means any.
    pub trusted_origins: Vec<TrustedOrigin>,
    /// Client networks allowed; empty means any.
    pub allowed_ips: Vec<IpNet>,
    /// Caller-defined JSON object returned on verification.
    pub meta: serde_json::Map<String, serde_json::Value>,
    /// Rate limit, if any.
    pub ratelimit: Option<crate::limits::RateLimit>,
    /// Quota, if any.
    pub quota: Option<crate::limits::Quota>,
    /// Quota consumed in `quota_period_start`'s period, as last written.
    pub quota_used: u64,
    /// The period `quota_used` counts in (`None` for lifetime quotas or none yet).
    pub quota_period_start: Option<DateTime<Utc>>,
    /// The first leak report, until the key gets a new secret.
    pub leak: Option<Leak>,
    /// Incremented by every change; guards against lost updates.
    pub version: i64,
}

impl KeyRecord {
    /// The state shown to people, by precedence: archived, revoked, disabled, expired, active.
    pub fn status(&self, now: DateTime<Utc>) -> KeyStatus {
        if self.archived_at.is_some() {
            KeyStatus::Archived
        } else if self.revoked_at.is_some() {
            KeyStatus::Revoked
        } else if !self.enabled {
            KeyStatus::Disabled
        } else if self.is_expired(now) {
            KeyStatus::Expired
        } else {
            KeyStatus::Active
        }
    }

    /// Whether `expires_at` has passed.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    /// Revoked or archived: no change may be made any more except archiving.
    pub fn is_final(&self) -> bool {
        self.revoked_at.is_some() || self.archived_at.is_some()
    }

    /// Every hash under which this record can be found.
    pub fn hashes(&self) -> impl Iterator<Item = KeyHash> + '_ {
        std::iter::once(self.hash).chain(self.previous.map(|p| p.hash))
    }

    /// The quota's state as stored (at most one flush interval behind).
    pub fn quota_status(&self, now: DateTime<Utc>) -> Option<crate::limits::QuotaStatus> {
        let quota = self.quota?;
        let period_start = quota.period.start(now);
        let used = if self.quota_period_start == period_start {
            self.quota_used
        } else {
            0
        };
        Some(crate::limits::QuotaStatus {
            limit: quota.limit,
            remaining: quota.limit.saturating_sub(used),
            refills_at: quota.period.refills_at(period_start),
        })
    }

    /// Canonical, space-separated scopes: the value the `scope` sort orders by.
    pub fn scope_sort_key(&self) -> String {
        let mut scopes: Vec<String> = self.scopes.iter().map(ToString::to_string).collect();
        scopes.sort();
        scopes.join(" ")
    }
}

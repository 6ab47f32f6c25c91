//! The storage boundary. Backends (embedded SQLite, PostgreSQL) implement
//! [`Store`]; nothing above it knows which one is in use.
//!
//! Every method that changes something also appends its audit events, in the
//! same transaction, so that a change without its event cannot happen.

use crate::audit::{AuditContext, AuditEvent, NewEvent};
use crate::id::{KeyId, MemberId, OrgId, ProjectId, TeamId};
use crate::key_format::KeyHash;
use crate::model::{KeyRecord, KeyStatus, Member, Organization, Project, Session, Team};
use crate::usage::UsageBatch;
use chrono::{DateTime, Utc};
use std::fmt::Debug;

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The object does not exist (or belongs to another organization).
    #[error("not found")]
    NotFound,
    /// A uniqueness rule got in the way.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Another request changed the object since it was read (an optimistic
    /// update found a newer version).
    #[error("the object was changed by another request; read it again and retry")]
    Changed,
    /// The database failed or could not be reached.
    #[error("storage failure: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The conflict of a change that would leave an organization without an owner.
pub const LAST_OWNER: &str = "an organization must keep at least one owner";

/// Everything `keyward org create` writes, in one transaction.
#[derive(Debug)]
pub struct NewOrganization {
    /// The organization.
    pub org: Organization,
    /// Its owner.
    pub owner: Member,
    /// The default project.
    pub default_project: Project,
    /// The project holding root keys.
    pub management_project: Project,
    /// The first root key, scope `*`.
    pub root_key: KeyRecord,
    /// The shared secret, sealed with the master key.
    pub sealed_shared_secret: Vec<u8>,
}

/// A stored response to replay for a repeated `Idempotency-Key`.
#[derive(Clone)]
pub struct IdempotentResponse {
    /// The organization.
    pub org_id: OrgId,
    /// The client's `Idempotency-Key`.
    pub key: String,
    /// SHA-256 (hex) of the request it answered.
    pub request_hash: String,
    /// HTTP status.
    pub status: u16,
    /// Response body, sealed with the master key: it holds the full key.
    pub sealed_body: Vec<u8>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
    /// When it is forgotten; the same idempotency key may then be used afresh.
    pub expires_at: DateTime<Utc>,
}

impl Debug for IdempotentResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdempotentResponse")
            .field("org_id", &self.org_id)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// Orders of the key list.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum KeySort {
    /// Oldest first.
    CreatedAsc,
    /// Newest first (the default).
    CreatedDesc,
    /// By canonical scope list, then id.
    ScopeAsc,
    /// By canonical scope list, descending.
    ScopeDesc,
    /// Never used first, then least recently used.
    LastUsedAsc,
    /// Most recently used first, never used last.
    LastUsedDesc,
    /// Soonest to expire first, keys that never expire last.
    ExpiresAsc,
    /// By name.
    Name,
}

impl KeySort {
    /// Parses the `sort` query value.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "created_at" => Some(Self::CreatedAsc),
            "-created_at" => Some(Self::CreatedDesc),
            "scope" => Some(Self::ScopeAsc),
            "-scope" => Some(Self::ScopeDesc),
            "last_used_at" => Some(Self::LastUsedAsc),
            "-last_used_at" => Some(Self::LastUsedDesc),
            "expires_at" => Some(Self::ExpiresAsc),
            "name" => Some(Self::Name),
            _ => None,
        }
    }
}

/// Where the previous page ended: the sort value and id of its last row.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub struct KeyCursor {
    /// The sort column's value (times as microseconds, text as is).
    pub value: CursorValue,
    /// The last row's id, the tie-breaker.
    pub id: String,
}

/// A sort column's value.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum CursorValue {
    /// Times, as microseconds since the epoch (`-1` for "never").
    Int(i64),
    /// Names and scope lists.
    Text(String),
}

/// A key list query.
#[derive(Clone, Debug)]
pub struct KeyQuery {
    /// Only keys in this state.
    pub status: Option<KeyStatus>,
    /// Only keys of this type.
    pub key_type: Option<crate::key_format::KeyType>,
    /// Only keys of this project.
    pub project_id: Option<ProjectId>,
    /// Include root keys (asked for by naming the management project).
    pub include_root: bool,
    /// Only keys created by this member or root key (a `member` sees their own).
    pub created_by: Option<String>,
    /// Search in name and description (case-insensitive substring).
    pub q: Option<String>,
    /// Only keys last used before this instant (never used ones are not).
    pub last_used_before: Option<DateTime<Utc>>,
    /// Only keys that expire before this instant.
    pub expires_before: Option<DateTime<Utc>>,
    /// Order.
    pub sort: KeySort,
    /// Rows after this one.
    pub after: Option<KeyCursor>,
    /// Page size.
    pub limit: u32,
    /// "Now", for the `expired` and `active` filters.
    pub now: DateTime<Utc>,
}

/// How `GET /v1/audit` matches actions.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum ActionFilter {
    /// `key.created`.
    Exact(String),
    /// `key.*`: every action starting with `key.`.
    Prefix(String),
    /// `create`, `update` or `delete`: every action of that kind.
    AnyOf(Vec<String>),
}

/// Actions that create something.
pub const CREATE_ACTIONS: &[&str] = &[
    "organization.created",
    "project.created",
    "key.created",
    "member.added",
    "team.created",
    "webhook.created",
];
/// Actions that change something.
pub const UPDATE_ACTIONS: &[&str] = &[
    "project.updated",
    "key.updated",
    "key.regenerated",
    "key.enabled",
    "key.disabled",
    "member.updated",
    "member.password_changed",
    "member.password_reset",
    "team.updated",
    "shared_secret.rotated",
    "webhook.updated",
    "webhook.disabled",
    "policy.updated",
];
/// Actions that take something away.
pub const DELETE_ACTIONS: &[&str] = &[
    "key.revoked",
    "key.archived",
    "key.purged",
    "member.removed",
    "team.deleted",
    "webhook.deleted",
];

impl ActionFilter {
    /// `create`, `update` and `delete` name a kind of action, `key.*` is a
    /// prefix filter, anything else exact.
    pub fn parse(s: &str) -> Self {
        let kind = match s {
            "create" => CREATE_ACTIONS,
            "update" => UPDATE_ACTIONS,
            "delete" => DELETE_ACTIONS,
            _ => &[],
        };
        if !kind.is_empty() {
            return Self::AnyOf(kind.iter().map(|a| (*a).to_owned()).collect());
        }
        match s.strip_suffix('*') {
            Some(prefix) => Self::Prefix(prefix.to_owned()),
            None => Self::Exact(s.to_owned()),
        }
    }
}

/// An audit log query. Filters combine with AND.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    /// By action, exactly or by prefix.
    pub action: Option<ActionFilter>,
    /// By actor id or actor name (exact).
    pub actor: Option<String>,
    /// `actor` also matches any part of the actor's name, case-insensitively.
    pub actor_partial: bool,
    /// By the actor's team.
    pub team: Option<String>,
    /// By target id or target name (exact).
    pub target: Option<String>,
    /// At or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Before this instant.
    pub to: Option<DateTime<Utc>>,
    /// Every word must appear (case-insensitively) in the action, actor name,
    /// target name or changes (reasons, descriptions, values before and after).
    pub q: Option<String>,
    /// Only events with a smaller `seq` (newest-first pages).
    pub before_seq: Option<i64>,
    /// Only events with a larger `seq` (oldest-first pages).
    pub after_seq: Option<i64>,
    /// Only events up to this `seq` (a fixed end for exports).
    pub until_seq: Option<i64>,
    /// Page size.
    pub limit: u32,
    /// Newest first (the list) or oldest first (exports).
    pub newest_first: bool,
}

/// A change to keys announced by another node sharing the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyChange {
    /// This key changed: forget what is cached of it.
    Changed(KeyId),
    /// Announcements may have been missed (the connection was lost and made
    /// again): forget everything cached.
    Resync,
}

/// Stored key hashes, each as its [`KeyHash::prefix`], and how far through
/// the store's hash clock they go.
///
/// The database numbers every write that stores a hash (a new key, a
/// regeneration) from its hash clock, inside the writing transaction, and
/// the numbers become visible in the order they were taken. So a read that
/// sees the clock at `n` sees every write numbered up to `n`, and whoever
/// read everything up to `n` needs only what is numbered after it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredHashes {
    /// The current and previous hash of every key read.
    pub prefixes: Vec<u64>,
    /// The hash clock when they were read. Below the `after` asked for only
    /// when the clock went back: the database was restored, or failed over
    /// to a replica that had not seen the last writes.
    pub through: u64,
}

impl StoredHashes {
    /// Adds a key as storage returns it: its hash and its previous hash,
    /// if it has one.
    pub fn add(&mut self, hash: &[u8], previous: Option<&[u8]>) {
        self.prefixes.extend(KeyHash::prefix_of(hash));
        self.prefixes.extend(previous.and_then(KeyHash::prefix_of));
    }
}

/// What a backend must do. Every method is scoped to one organization
/// except the lookups by hash (the key itself names its organization).
#[async_trait::async_trait]
pub trait Store:
    crate::event_store::WebhookStore
    + crate::event_store::PolicyStore
    + crate::email::MailStore
    + Send
    + Sync
    + Debug
{
    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Checks that the database accepts writes: after a write failed (a
    /// full disk), a probe write says whether they succeed again.
    async fn check_writes(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Called once at a clean shutdown, after the last write: the embedded
    /// database moves its write-ahead log into the database file, so that
    /// the file alone is a complete copy.
    async fn close(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Changes to keys made by other nodes, for as long as the receiver is
    /// kept. `None` when the backend serves a single node (embedded SQLite).
    async fn watch_key_changes(
        &self,
    ) -> Result<Option<tokio::sync::mpsc::Receiver<KeyChange>>, StoreError> {
        Ok(None)
    }

    /// Writes a new organization with everything it starts with.
    async fn create_organization(
        &self,
        new: &NewOrganization,
        ctx: &AuditContext,
    ) -> Result<(), StoreError>;
    /// Every organization.
    async fn list_organizations(&self) -> Result<Vec<Organization>, StoreError>;
    /// One organization.
    async fn get_organization(&self, org: &OrgId) -> Result<Option<Organization>, StoreError>;

    /// Adds a project.
    async fn create_project(
        &self,
        project: &Project,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError>;
    /// The organization's projects, oldest first.
    async fn list_projects(&self, org: &OrgId) -> Result<Vec<Project>, StoreError>;
    /// One project.
    async fn get_project(&self, org: &OrgId, id: &ProjectId)
    -> Result<Option<Project>, StoreError>;
    /// Saves a changed project.
    async fn update_project(
        &self,
        project: &Project,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError>;

    /// Adds a key, with the response to replay when an `Idempotency-Key` was
    /// given. `Conflict` when that idempotency key is already taken.
    async fn insert_key(
        &self,
        key: &KeyRecord,
        idempotent: Option<&IdempotentResponse>,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError>;
    /// One key.
    async fn get_key(&self, org: &OrgId, id: &KeyId) -> Result<Option<KeyRecord>, StoreError>;
    /// The key whose current or previous secret hashes to `hash`.
    async fn find_key_by_hash(&self, hash: &KeyHash) -> Result<Option<KeyRecord>, StoreError>;
    /// The hashes written after `after` on the hash clock, or every stored
    /// hash when `None`, with the clock as they were read (see [`StoredHashes`]).
    async fn stored_hashes(&self, after: Option<u64>) -> Result<StoredHashes, StoreError>;
    /// One page of keys plus one more row, if any, so the caller knows there is a next page.
    async fn list_keys(&self, org: &OrgId, query: &KeyQuery) -> Result<Vec<KeyRecord>, StoreError>;
    /// Saves a changed key if nobody changed it since `expected_version`;
    /// `Conflict` otherwise.
    async fn update_key(
        &self,
        key: &KeyRecord,
        expected_version: i64,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError>;
    /// Saves a key changed by a leak report like [`Store::update_key`],
    /// with its events in order (`key.leaked`, then what the policy did).
    async fn record_leak(
        &self,
        key: &KeyRecord,
        expected_version: i64,
        ctx: &AuditContext,
        events: Vec<NewEvent>,
    ) -> Result<(), StoreError>;
    /// Saves an archived key and purges the organization's oldest archived
    /// keys beyond `keep`, each purge audited. Returns the purged keys.
    async fn archive_key(
        &self,
        key: &KeyRecord,
        expected_version: i64,
        keep: u32,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<Vec<KeyRecord>, StoreError>;
    /// Writes `last_used_at` and usage counters gathered since the last batch.
    async fn record_usage(&self, batch: &UsageBatch) -> Result<(), StoreError>;

    /// Hourly verification counts of one key between `from` and `to`.
    async fn key_usage(
        &self,
        org: &OrgId,
        key: &KeyId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<crate::usage::UsageCount>, StoreError>;

    /// Hourly verification counts of an organization between `from` and
    /// `to`, summed over its keys (of one project when given; without one,
    /// root keys' management calls are left out).
    async fn org_usage(
        &self,
        org: &OrgId,
        project: Option<&ProjectId>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<crate::usage::UsageTotal>, StoreError>;

    /// The keys with the most verifications between `from` and `to` (of
    /// one project when given; root keys only then), most first, at most
    /// `limit`.
    async fn top_keys(
        &self,
        org: &OrgId,
        project: Option<&ProjectId>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(KeyId, u64)>, StoreError>;

    /// A stored response for `(org, key)`.
    async fn get_idempotent(
        &self,
        org: &OrgId,
        key: &str,
    ) -> Result<Option<IdempotentResponse>, StoreError>;

    /// The sealed shared secret; the reveal is audited in the same transaction.
    async fn reveal_shared_secret(
        &self,
        org: &OrgId,
        ctx: &AuditContext,
    ) -> Result<(Vec<u8>, DateTime<Utc>), StoreError>;
    /// Replaces the shared secret; the one it replaces still signs webhooks
    /// (beside the new one) until `previous_until`. Audited.
    async fn rotate_shared_secret(
        &self,
        org: &OrgId,
        sealed: &[u8],
        now: DateTime<Utc>,
        previous_until: DateTime<Utc>,
        ctx: &AuditContext,
    ) -> Result<(), StoreError>;

    /// The organization's events with `seq` greater than `after_seq`, in order.
    async fn audit_events(
        &self,
        org: &OrgId,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError>;
    /// One page of the organization's events matching `query`.
    async fn search_audit(
        &self,
        org: &OrgId,
        query: &AuditQuery,
    ) -> Result<Vec<AuditEvent>, StoreError>;
    /// Appends an event that accompanies no other change (an export, a sign-in).
    async fn append_audit(
        &self,
        org: &OrgId,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<AuditEvent, StoreError>;

    /// The organization's members, by email.
    async fn list_members(&self, org: &OrgId) -> Result<Vec<Member>, StoreError>;
    /// One member.
    async fn get_member(&self, org: &OrgId, id: &MemberId) -> Result<Option<Member>, StoreError>;
    /// Every member who signs in with `email`, in any organization.
    async fn members_by_email(&self, email: &str) -> Result<Vec<Member>, StoreError>;
    /// Adds a member; `Conflict` when the email is taken in the organization.
    async fn insert_member(
        &self,
        member: &Member,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError>;
    /// Saves a member's name and role. `Conflict` ([`LAST_OWNER`]) when it
    /// would leave the organization without an owner.
    async fn update_member(
        &self,
        member: &Member,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError>;
    /// Saves a member's password hash and `must_change_password`, and ends
    /// every session of theirs but `keep`, in one transaction.
    async fn set_member_password(
        &self,
        member: &Member,
        keep: Option<&[u8; 32]>,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError>;
    /// Removes a member: their sessions end, they leave their teams, and the
    /// keys they created are disabled (not deleted). One `member.removed`
    /// event names those keys. Returns them. `Conflict` ([`LAST_OWNER`]) for
    /// the organization's last owner.
    async fn remove_member(
        &self,
        org: &OrgId,
        id: &MemberId,
        ctx: &AuditContext,
    ) -> Result<Vec<KeyId>, StoreError>;

    /// The organization's teams, by name.
    async fn list_teams(&self, org: &OrgId) -> Result<Vec<Team>, StoreError>;
    /// Adds a team with its members; `Conflict` when the name is taken.
    async fn insert_team(
        &self,
        team: &Team,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError>;
    /// Saves a team's name and replaces its members.
    async fn update_team(
        &self,
        team: &Team,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError>;
    /// Deletes a team (its members stay in the organization).
    async fn delete_team(
        &self,
        org: &OrgId,
        id: &TeamId,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError>;

    /// Starts a session.
    async fn insert_session(&self, session: &Session) -> Result<(), StoreError>;
    /// The session whose cookie hashes to `token_hash`, unless it expired before `now`.
    async fn get_session(
        &self,
        token_hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError>;
    /// Ends one session.
    async fn delete_session(&self, token_hash: &[u8; 32]) -> Result<(), StoreError>;
    /// Ends a member's sessions but `keep` (after a password change).
    async fn delete_member_sessions(
        &self,
        member: &MemberId,
        keep: Option<&[u8; 32]>,
    ) -> Result<(), StoreError>;
    /// Leaves a one-time message for the session's next page (sealed).
    async fn set_session_flash(
        &self,
        token_hash: &[u8; 32],
        sealed: &[u8],
    ) -> Result<(), StoreError>;
    /// Reads and clears the session's one-time message.
    async fn take_session_flash(
        &self,
        token_hash: &[u8; 32],
    ) -> Result<Option<Vec<u8>>, StoreError>;
}

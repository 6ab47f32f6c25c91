//! Audit events and their per-organization SHA-256 hash chain.
//!
//! Each event's `hash` is SHA-256 over `prev_hash` and a canonical JSON
//! encoding of every other field (struct fields in a fixed order, object keys
//! sorted, times as RFC 3339 with microseconds). Changing, removing, inserting
//! or reordering an event therefore breaks the chain at that event.

use crate::id::{EventId, OrgId};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// `prev_hash` of an organization's first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who performed an action.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActorType {
    /// A person signed in to the dashboard.
    Member,
    /// A root key calling the management API.
    RootKey,
    /// Keyward itself, or its command line.
    System,
}

/// The actor of an event.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Actor {
    /// Member, root key or system.
    #[serde(rename = "type")]
    pub kind: ActorType,
    /// Member id, root key id, or `system`.
    pub id: String,
    /// Email, key name, or a description of the system actor.
    pub name: String,
}

impl Actor {
    /// The system actor, named after what acted (`cli`, `purge`).
    pub fn system(name: &str) -> Self {
        Self {
            kind: ActorType::System,
            id: "system".to_owned(),
            name: name.to_owned(),
        }
    }
}

/// What an event is about.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Target {
    /// `key`, `project`, `member`, `team`, `organization`, `shared_secret`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The object's id.
    pub id: String,
    /// Its name when the event happened.
    pub name: String,
}

/// Who is acting and from where: everything an event needs besides the change.
#[derive(Clone, Debug)]
pub struct AuditContext {
    /// The actor.
    pub actor: Actor,
    /// The actor's team, if any.
    pub team: Option<String>,
    /// Client address.
    pub ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// When the action happens.
    pub at: DateTime<Utc>,
}

impl AuditContext {
    /// A context for actions of the system itself.
    pub fn system(name: &str, at: DateTime<Utc>) -> Self {
        Self {
            actor: Actor::system(name),
            team: None,
            ip: None,
            user_agent: None,
            at,
        }
    }
}

/// An event about to be appended; the store gives it its place in the chain.
#[derive(Clone, Debug)]
pub struct NewEvent {
    /// `key.created`, …
    pub action: String,
    /// What it is about.
    pub target: Target,
    /// Field → `{before, after}`.
    pub changes: Map<String, Value>,
}

/// A recorded event.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEvent {
    /// Its id.
    pub id: EventId,
    /// Position in the organization's chain, from 1.
    pub seq: i64,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// The organization.
    pub org_id: OrgId,
    /// Who did it.
    pub actor: Actor,
    /// The actor's team.
    pub team: Option<String>,
    /// What was done.
    pub action: String,
    /// To what.
    pub target: Target,
    /// Client address.
    pub ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Field → `{before, after}`; never a secret.
    #[schema(value_type = Object)]
    pub changes: Map<String, Value>,
    /// Hash of the previous event of the organization.
    pub prev_hash: String,
    /// Hash of this event.
    pub hash: String,
}

impl AuditEvent {
    /// Builds the event that follows `prev` (or starts the chain) and seals it.
    pub fn chain(
        id: EventId,
        org_id: OrgId,
        prev: Option<(i64, String)>,
        context: &AuditContext,
        event: NewEvent,
    ) -> Self {
        let (prev_seq, prev_hash) = prev.unwrap_or((0, GENESIS_HASH.to_owned()));
        let mut out = Self {
            id,
            seq: prev_seq + 1,
            occurred_at: context.at,
            org_id,
            actor: context.actor.clone(),
            team: context.team.clone(),
            action: event.action,
            target: event.target,
            ip: context.ip.clone(),
            user_agent: context.user_agent.clone(),
            changes: event.changes,
            prev_hash,
            hash: String::new(),
        };
        out.hash = out.compute_hash();
        out
    }

    /// SHA-256 over the canonical encoding of every field but `hash`.
    pub fn compute_hash(&self) -> String {
        let canonical = serde_json::json!([
            self.id,
            self.seq,
            self.occurred_at
                .to_rfc3339_opts(SecondsFormat::Micros, true),
            self.org_id,
            self.actor,
            self.team,
            self.action,
            self.target,
            self.ip,
            self.user_agent,
            self.changes,
            self.prev_hash,
        ]);
        let digest = Sha256::digest(canonical.to_string().as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Field → `{before, after}` for every field whose value differs.
pub fn diff(before: &Map<String, Value>, after: &Map<String, Value>) -> Map<String, Value> {
    let mut changes = Map::new();
    for (field, new) in after {
        let old = before.get(field).unwrap_or(&Value::Null);
        if old != new {
            changes.insert(
                field.clone(),
                serde_json::json!({"before": old, "after": new}),
            );
        }
    }
    for (field, old) in before {
        if !after.contains_key(field) && !old.is_null() {
            changes.insert(
                field.clone(),
                serde_json::json!({"before": old, "after": null}),
            );
        }
    }
    changes
}

/// Field → `{before: null, after}` for a created object.
pub fn created(after: &Map<String, Value>) -> Map<String, Value> {
    diff(&Map::new(), after)
}

/// Why a chain does not hold, naming the first bad event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// The event's content no longer matches its hash.
    #[error("event {id} (seq {seq}) was altered: its hash does not match its content")]
    Altered {
        /// The event.
        id: String,
        /// Its seq.
        seq: i64,
    },
    /// The event does not follow the one before it.
    #[error(
        "event {id} (seq {seq}) does not follow the event before it: one was removed, inserted or reordered"
    )]
    Broken {
        /// The event.
        id: String,
        /// Its seq.
        seq: i64,
    },
}

/// Checks one organization's events one at a time, in `seq` order, so that
/// a chain of any length is verified in constant memory.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    expected_prev: String,
    expected_seq: i64,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            expected_prev: GENESIS_HASH.to_owned(),
            expected_seq: 1,
        }
    }
}

impl ChainVerifier {
    /// Checks the next event.
    pub fn check(&mut self, event: &AuditEvent) -> Result<(), ChainError> {
        if event.compute_hash() != event.hash {
            return Err(ChainError::Altered {
                id: event.id.to_string(),
                seq: event.seq,
            });
        }
        if event.prev_hash != self.expected_prev || event.seq != self.expected_seq {
            return Err(ChainError::Broken {
                id: event.id.to_string(),
                seq: event.seq,
            });
        }
        self.expected_prev.clone_from(&event.hash);
        self.expected_seq += 1;
        Ok(())
    }

    /// Events checked so far.
    pub fn count(&self) -> i64 {
        self.expected_seq - 1
    }

    /// Hash of the last event checked: record it elsewhere to detect a later
    /// truncation of the chain's end, which no hash chain can reveal by itself.
    pub fn head(&self) -> &str {
        &self.expected_prev
    }
}

/// Walks one organization's events in `seq` order.
pub fn verify_chain<'a>(
    events: impl IntoIterator<Item = &'a AuditEvent>,
) -> Result<i64, ChainError> {
    let mut verifier = ChainVerifier::default();
    for event in events {
        verifier.check(event)?;
    }
    Ok(verifier.count())
}

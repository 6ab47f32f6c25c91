//! Conversions between rows and domain records, for either database: the
//! schemas are column for column the same (times as BIGINT microseconds,
//! lists and objects as JSON text), and each backend says how its rows are
//! read ([`Columns`]).

use super::{Column, Columns};
use crate::backend;
use chrono::{DateTime, Utc};
use keyward_core::audit::{Actor, ActorType, AuditEvent, Target};
use keyward_core::id::{DeliveryId, EventId, KeyId, MemberId, OrgId, ProjectId, WebhookId};
use keyward_core::key_format::{KeyHash, KeyPrefix, KeyType};
use keyward_core::model::{
    KeyRecord, Leak, LeakSource, Member, MemberRole, Organization, PreviousSecret, Project, Session,
};
use keyward_core::policy::Code;
use keyward_core::scope::Role;
use keyward_core::store::{IdempotentResponse, StoreError};
use keyward_core::usage::{UsageCount, UsageTotal};
use keyward_core::webhooks::{Delivery, DeliveryStatus, Endpoint};

/// A stored value that does not parse as what it should be.
#[derive(Debug, thiserror::Error)]
#[error("corrupt value in column {0}")]
struct Corrupt(&'static str);

pub(crate) fn corrupt(column: &'static str) -> StoreError {
    backend(Corrupt(column))
}

pub(crate) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(crate) fn time(v: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(v).ok_or_else(|| corrupt("time"))
}

fn opt_time(v: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
    v.map(time).transpose()
}

pub(crate) fn json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(backend)
}

/// A count as the BIGINT it is stored in, saturating.
pub(crate) fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn from_json<T: serde::de::DeserializeOwned>(
    row: &impl Columns,
    column: &'static str,
) -> Result<T, StoreError> {
    let text: String = get(row, column)?;
    serde_json::from_str(&text).map_err(|_| corrupt(column))
}

fn opt_json<T: serde::de::DeserializeOwned>(
    row: &impl Columns,
    column: &'static str,
) -> Result<Option<T>, StoreError> {
    let text: Option<String> = get(row, column)?;
    text.map(|t| serde_json::from_str(&t).map_err(|_| corrupt(column)))
        .transpose()
}

fn get<T: Column>(row: &impl Columns, column: &'static str) -> Result<T, StoreError> {
    row.column(column)
}

fn hash(bytes: Vec<u8>, column: &'static str) -> Result<KeyHash, StoreError> {
    bytes.try_into().map(KeyHash).map_err(|_| corrupt(column))
}

fn parsed<T>(
    row: &impl Columns,
    column: &'static str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, StoreError> {
    let text: String = get(row, column)?;
    parse(&text).ok_or_else(|| corrupt(column))
}

pub(crate) fn organization(row: &impl Columns) -> Result<Organization, StoreError> {
    Ok(Organization {
        id: parsed(row, "id", |s| OrgId::parse(s).ok())?,
        name: get(row, "name")?,
        default_project_id: parsed(row, "default_project_id", |s| ProjectId::parse(s).ok())?,
        created_at: time(get(row, "created_at")?)?,
    })
}

pub(crate) fn project(row: &impl Columns) -> Result<Project, StoreError> {
    Ok(Project {
        id: parsed(row, "id", |s| ProjectId::parse(s).ok())?,
        org_id: parsed(row, "org_id", |s| OrgId::parse(s).ok())?,
        name: get(row, "name")?,
        key_prefix: parsed(row, "key_prefix", |s| KeyPrefix::parse(s).ok())?,
        apis: from_json(row, "apis")?,
        management: get(row, "management")?,
        created_at: time(get(row, "created_at")?)?,
        updated_at: time(get(row, "updated_at")?)?,
    })
}

pub(crate) fn key(row: &impl Columns) -> Result<KeyRecord, StoreError> {
    let previous_hash: Option<Vec<u8>> = get(row, "previous_hash")?;
    let previous_expires_at = opt_time(get(row, "previous_expires_at")?)?;
    let previous = match (previous_hash, previous_expires_at) {
        (Some(bytes), Some(expires_at)) => Some(PreviousSecret {
            hash: hash(bytes, "previous_hash")?,
            expires_at,
        }),
        _ => None,
    };
    Ok(KeyRecord {
        id: parsed(row, "id", |s| KeyId::parse(s).ok())?,
        org_id: parsed(row, "org_id", |s| OrgId::parse(s).ok())?,
        project_id: parsed(row, "project_id", |s| ProjectId::parse(s).ok())?,
        root: get(row, "root")?,
        name: get(row, "name")?,
        description: get(row, "description")?,
        key_type: parsed(row, "key_type", KeyType::from_name)?,
        role: parsed(row, "role", Role::from_name)?,
        scopes: from_json(row, "scopes")?,
        enabled: get(row, "enabled")?,
        hash: hash(get(row, "hash")?, "hash")?,
        hint: get(row, "hint")?,
        previous,
        sealed_key: get(row, "sealed_key")?,
        created_by: get(row, "created_by")?,
        created_at: time(get(row, "created_at")?)?,
        updated_at: time(get(row, "updated_at")?)?,
        expires_at: opt_time(get(row, "expires_at")?)?,
        last_used_at: opt_time(get(row, "last_used_at")?)?,
        revoked_at: opt_time(get(row, "revoked_at")?)?,
        revoked_reason: get(row, "revoked_reason")?,
        archived_at: opt_time(get(row, "archived_at")?)?,
        trusted_origins: from_json(row, "trusted_origins")?,
        allowed_ips: from_json(row, "allowed_ips")?,
        meta: from_json(row, "meta")?,
        ratelimit: opt_json(row, "ratelimit")?,
        quota: opt_json(row, "quota")?,
        quota_used: u64::try_from(get::<i64>(row, "quota_used")?).unwrap_or(0),
        quota_period_start: opt_time(get(row, "quota_period_start")?)?,
        leak: leak(row)?,
        version: get(row, "version")?,
    })
}

fn leak(row: &impl Columns) -> Result<Option<Leak>, StoreError> {
    let Some(at) = opt_time(get(row, "leaked_at")?)? else {
        return Ok(None);
    };
    Ok(Some(Leak {
        at,
        source: parsed(row, "leak_source", LeakSource::from_name)?,
        url: get(row, "leak_url")?,
    }))
}

pub(crate) fn usage_count(row: &impl Columns) -> Result<UsageCount, StoreError> {
    Ok(UsageCount {
        org_id: parsed(row, "org_id", |s| OrgId::parse(s).ok())?,
        key_id: parsed(row, "key_id", |s| KeyId::parse(s).ok())?,
        hour: time(get(row, "hour")?)?,
        code: parsed(row, "code", Code::from_name)?,
        count: u64::try_from(get::<i64>(row, "count")?).unwrap_or(0),
    })
}

pub(crate) fn usage_total(row: &impl Columns) -> Result<UsageTotal, StoreError> {
    Ok(UsageTotal {
        hour: time(get(row, "hour")?)?,
        code: parsed(row, "code", Code::from_name)?,
        count: u64::try_from(get::<i64>(row, "count")?).unwrap_or(0),
    })
}

/// A key and its verifications in a period (`key_id`, `total`).
pub(crate) fn key_total(row: &impl Columns) -> Result<(KeyId, u64), StoreError> {
    Ok((
        parsed(row, "key_id", |s| KeyId::parse(s).ok())?,
        u64::try_from(get::<i64>(row, "total")?).unwrap_or(0),
    ))
}

pub(crate) fn idempotent(row: &impl Columns) -> Result<IdempotentResponse, StoreError> {
    let status: i32 = get(row, "status")?;
    Ok(IdempotentResponse {
        org_id: parsed(row, "org_id", |s| OrgId::parse(s).ok())?,
        key: get(row, "key")?,
        request_hash: get(row, "request_hash")?,
        status: u16::try_from(status).map_err(|_| corrupt("status"))?,
        sealed_body: get(row, "sealed_body")?,
        created_at: time(get(row, "created_at")?)?,
        expires_at: time(get(row, "expires_at")?)?,
    })
}

pub(crate) fn member(row: &impl Columns) -> Result<Member, StoreError> {
    Ok(Member {
        id: parsed(row, "id", |s| MemberId::parse(s).ok())?,
        org_id: parsed(row, "org_id", |s| OrgId::parse(s).ok())?,
        email: get(row, "email")?,
        name: get(row, "name")?,
        role: parsed(row, "role", MemberRole::from_name)?,
        password_hash: get(row, "password_hash")?,
        created_at: time(get(row, "created_at")?)?,
        must_change_password: get(row, "must_change_password")?,
    })
}

pub(crate) fn session(row: &impl Columns) -> Result<Session, StoreError> {
    let token_hash: Vec<u8> = get(row, "token_hash")?;
    Ok(Session {
        token_hash: token_hash.try_into().map_err(|_| corrupt("token_hash"))?,
        org_id: parsed(row, "org_id", |s| OrgId::parse(s).ok())?,
        member_id: parsed(row, "member_id", |s| MemberId::parse(s).ok())?,
        created_at: time(get(row, "created_at")?)?,
        expires_at: time(get(row, "expires_at")?)?,
    })
}

pub(crate) fn audit_event(row: &impl Columns) -> Result<AuditEvent, StoreError> {
    let text = |column: &'static str| -> Result<String, StoreError> { get(row, column) };
    let opt = |column: &'static str| -> Result<Option<String>, StoreError> { get(row, column) };
    let kind = match text("actor_type")?.as_str() {
        "member" => ActorType::Member,
        "root_key" => ActorType::RootKey,
        _ => ActorType::System,
    };
    let changes = match serde_json::from_str(&text("changes")?).map_err(backend)? {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    Ok(AuditEvent {
        // Kept as found: a forged id must be named as it is.
        id: EventId::from_stored(text("id")?),
        seq: get(row, "seq")?,
        occurred_at: time(get(row, "occurred_at")?)?,
        org_id: parsed(row, "org_id", |s| OrgId::parse(s).ok())?,
        actor: Actor {
            kind,
            id: text("actor_id")?,
            name: text("actor_name")?,
        },
        team: opt("team")?,
        action: text("action")?,
        target: Target {
            kind: text("target_type")?,
            id: text("target_id")?,
            name: text("target_name")?,
        },
        ip: opt("ip")?,
        user_agent: opt("user_agent")?,
        changes,
        prev_hash: text("prev_hash")?,
        hash: text("hash")?,
    })
}

pub(crate) fn endpoint(row: &impl Columns) -> Result<Endpoint, StoreError> {
    Ok(Endpoint {
        id: parsed(row, "id", |s| WebhookId::parse(s).ok())?,
        org_id: parsed(row, "org_id", |s| OrgId::parse(s).ok())?,
        url: get(row, "url")?,
        description: get(row, "description")?,
        events: from_json(row, "events")?,
        enabled: get(row, "enabled")?,
        disabled_reason: get(row, "disabled_reason")?,
        failing_since: opt_time(get(row, "failing_since")?)?,
        created_at: time(get(row, "created_at")?)?,
        updated_at: time(get(row, "updated_at")?)?,
        version: get(row, "version")?,
    })
}

/// A delivery, from its row joined with its message's `event_type` and `event_id`.
pub(crate) fn delivery(row: &impl Columns) -> Result<Delivery, StoreError> {
    Ok(Delivery {
        id: parsed(row, "id", |s| DeliveryId::parse(s).ok())?,
        webhook_id: parsed(row, "endpoint_id", |s| WebhookId::parse(s).ok())?,
        message_id: get(row, "message_id")?,
        event_type: get(row, "event_type")?,
        audit_event_id: parsed(row, "event_id", |s| EventId::parse(s).ok())?,
        status: parsed(row, "status", DeliveryStatus::from_name)?,
        created_at: time(get(row, "created_at")?)?,
        next_attempt_at: opt_time(get(row, "next_attempt_at")?)?
            .filter(|_| get::<String>(row, "status").is_ok_and(|s| s == "pending")),
        attempts: from_json(row, "attempts")?,
    })
}

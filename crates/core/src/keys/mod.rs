//! Key lifecycle rules: what a create or update request may set, and what
//! regenerate, revoke, disable and archive do to a record.
//!
//! Each function takes the record and the request, checks every rule, and
//! either changes the record or explains, field by field, why not. None of
//! them touches storage; the caller saves the result in one transaction.

use crate::crypto::MasterKey;
use crate::error::{DomainError, Validation};
use crate::fields::{not_null, nullable, nullable_timestamp, timestamp};
use crate::id::{KeyId, OrgId};
use crate::key_format::{FullKey, KeyType};
use crate::limits::{Quota, RateLimit};
use crate::model::{KeyRecord, PreviousSecret, Project};
use crate::scope::Role;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};

mod input;
pub mod view;

pub use input::{is_plain_text, parse_ip_net, parse_required_scopes, validate_name};
use input::{parse_ips, parse_origins, resolve_grant, validate_description, validate_meta};

const MAX_NAME: usize = 200;
const MAX_DESCRIPTION: usize = 2_000;
const MAX_LIST: usize = 100;
const MAX_META_BYTES: usize = 8 * 1024;
/// Longest grace period a regeneration may give the old secret: 30 days.
pub const MAX_GRACE_SECONDS: u64 = 30 * 24 * 3600;

/// Body of `POST /v1/keys`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// Display name, 1–200 characters.
    pub name: String,
    /// Free text.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub description: Option<String>,
    /// The project; the organization's default project when absent.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub project_id: Option<String>,
    /// `secret` (default) or `publishable`.
    #[serde(default, rename = "type", deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub key_type: Option<KeyType>,
    /// `admin`, `readonly` (default when no scopes are given) or `custom`.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub role: Option<Role>,
    /// Explicit scopes; implies `custom`.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub scopes: Option<Vec<String>>,
    /// When the key stops verifying.
    #[serde(default, deserialize_with = "timestamp")]
    #[schema(nullable = false)]
    pub expires_at: Option<DateTime<Utc>>,
    /// `scheme://host[:port]`, host may start with `*.`.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub trusted_origins: Option<Vec<String>>,
    /// CIDR blocks or single addresses, IPv4 or IPv6.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub allowed_ips: Option<Vec<String>>,
    /// Any JSON object, returned on verification (at most 8 KiB).
    #[serde(default, deserialize_with = "not_null")]
    #[schema(value_type = Object)]
    pub meta: Option<Map<String, Value>>,
    /// False creates the key disabled.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub enabled: Option<bool>,
    /// At most `limit` valid verifications per `window_seconds`.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub ratelimit: Option<RateLimit>,
    /// At most `limit` valid verifications per `period` (`day`, `month`, `none`).
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub quota: Option<Quota>,
}

/// Body of `PATCH /v1/keys/{id}`: every field optional; `null` clears
/// `description` and `expires_at`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateKey {
    /// New name.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub name: Option<String>,
    /// New description.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// New role.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub role: Option<Role>,
    /// New scopes; implies `custom`.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub scopes: Option<Vec<String>>,
    /// New expiry; `null` for none.
    #[serde(default, deserialize_with = "nullable_timestamp")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub expires_at: Option<Option<DateTime<Utc>>>,
    /// New trusted origins.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub trusted_origins: Option<Vec<String>>,
    /// New allowed IPs.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub allowed_ips: Option<Vec<String>>,
    /// New meta (replaces the old one).
    #[serde(default, deserialize_with = "not_null")]
    #[schema(value_type = Object)]
    pub meta: Option<Map<String, Value>>,
    /// Disable or enable.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    pub enabled: Option<bool>,
    /// New rate limit; `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<RateLimit>)]
    pub ratelimit: Option<Option<RateLimit>>,
    /// New quota; `null` removes it. Consumption so far is kept.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Quota>)]
    pub quota: Option<Option<Quota>>,
}

/// A new key record and the full key, which the caller shows exactly once.
#[derive(Debug)]
pub struct NewKey {
    /// The record to store.
    pub record: KeyRecord,
    /// The full key.
    pub key: FullKey,
}

/// Builds a new key in `project` from a create request.
pub fn create(
    input: CreateKey,
    org_id: &OrgId,
    project: &Project,
    created_by: String,
    master_key: &MasterKey,
    now: DateTime<Utc>,
) -> Result<NewKey, DomainError> {
    let mut v = Validation::default();
    let name = v.check("name", validate_name(&input.name));
    let description = v.check(
        "description",
        validate_description(input.description.as_deref()),
    );
    let key_type = input.key_type.unwrap_or_default();
    if project.management && key_type == KeyType::Publishable {
        v.push("type", "root keys are always secret");
    }
    let grant = resolve_grant(
        &mut v,
        input.role,
        input.scopes,
        &project.apis,
        Role::Readonly,
        project.management,
    );
    if let Some(at) = input.expires_at
        && at <= now
    {
        v.push("expires_at", "must be in the future");
    }
    let trusted_origins = parse_origins(&mut v, input.trusted_origins.unwrap_or_default());
    let allowed_ips = parse_ips(&mut v, input.allowed_ips.unwrap_or_default());
    let meta = v.check("meta", validate_meta(input.meta.unwrap_or_default()));
    let ratelimit = input
        .ratelimit
        .and_then(|rl| v.check("ratelimit", rl.validate()));
    let quota = input.quota.and_then(|q| v.check("quota", q.validate()));
    v.finish()?;
    let (Some(name), Some(description), Some((role, scopes)), Some(meta)) =
        (name, description, grant, meta)
    else {
        return Err(DomainError::Invalid(Vec::new()));
    };

    let id = KeyId::generate()?;
    let key = FullKey::generate(&project.key_prefix, key_type)?;
    let sealed_key = seal_if_publishable(key_type, &key, &id, master_key)?;
    let record = KeyRecord {
        id,
        org_id: org_id.clone(),
        project_id: project.id.clone(),
        root: project.management,
        name,
        description,
        key_type,
        role,
        scopes,
        enabled: input.enabled.unwrap_or(true),
        hash: key.hash(),
        hint: key.hint(),
        previous: None,
        sealed_key,
        created_by,
        created_at: now,
        updated_at: now,
        expires_at: input.expires_at.map(crate::clock::truncate),
        last_used_at: None,
        revoked_at: None,
        revoked_reason: None,
        archived_at: None,
        trusted_origins,
        allowed_ips,
        meta,
        ratelimit,
        quota,
        quota_used: 0,
        quota_period_start: None,
        leak: None,
        version: 1,
    };
    Ok(NewKey { record, key })
}

/// Applies an update request to `record`.
pub fn update(
    record: &mut KeyRecord,
    input: UpdateKey,
    catalog: &[String],
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    ensure_not_final(record)?;
    let mut v = Validation::default();
    if let Some(name) = input.name
        && let Some(name) = v.check("name", validate_name(&name))
    {
        record.name = name;
    }
    if let Some(description) = input.description
        && let Some(d) = v.check("description", validate_description(description.as_deref()))
    {
        record.description = d;
    }
    if (input.role.is_some() || input.scopes.is_some())
        && let Some((role, scopes)) = resolve_grant(
            &mut v,
            input.role,
            input.scopes,
            catalog,
            record.role,
            record.root,
        )
    {
        record.role = role;
        record.scopes = scopes;
    }
    if let Some(expires_at) = input.expires_at {
        if expires_at.is_some_and(|at| at <= now) {
            v.push("expires_at", "must be in the future");
        }
        record.expires_at = expires_at.map(crate::clock::truncate);
    }
    if let Some(origins) = input.trusted_origins {
        record.trusted_origins = parse_origins(&mut v, origins);
    }
    if let Some(ips) = input.allowed_ips {
        record.allowed_ips = parse_ips(&mut v, ips);
    }
    if let Some(meta) = input.meta
        && let Some(meta) = v.check("meta", validate_meta(meta))
    {
        record.meta = meta;
    }
    if let Some(enabled) = input.enabled {
        record.enabled = enabled;
    }
    if let Some(ratelimit) = input.ratelimit {
        record.ratelimit = match ratelimit {
            Some(rl) => v.check("ratelimit", rl.validate()),
            None => None,
        };
    }
    if let Some(quota) = input.quota {
        record.quota = match quota {
            Some(q) => v.check("quota", q.validate()),
            None => None,
        };
    }
    v.finish()?;
    record.updated_at = now;
    Ok(())
}

/// Turns a key off or on again.
pub fn set_enabled(
    record: &mut KeyRecord,
    enabled: bool,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    ensure_not_final(record)?;
    record.enabled = enabled;
    record.updated_at = now;
    Ok(())
}

/// Gives the record a new secret. The old one keeps working for
/// `grace_period_seconds` (answering `deprecated: true`), or stops at once
/// (always, when it leaked).
pub fn regenerate(
    record: &mut KeyRecord,
    project: &Project,
    grace_period_seconds: u64,
    master_key: &MasterKey,
    now: DateTime<Utc>,
) -> Result<FullKey, DomainError> {
    ensure_not_final(record)?;
    if grace_period_seconds > MAX_GRACE_SECONDS {
        return Err(DomainError::field(
            "grace_period_seconds",
            format!("at most {MAX_GRACE_SECONDS} (30 days)"),
        ));
    }
    if grace_period_seconds > 0 && record.leak.is_some() {
        return Err(DomainError::field(
            "grace_period_seconds",
            "must be 0: the key's secret leaked, so it cannot keep working".to_owned(),
        ));
    }
    let key = FullKey::generate(&project.key_prefix, record.key_type)?;
    let grace = i64::try_from(grace_period_seconds).unwrap_or(i64::MAX);
    record.previous = (grace > 0).then(|| PreviousSecret {
        hash: record.hash,
        expires_at: now + Duration::seconds(grace),
    });
    record.hash = key.hash();
    record.hint = key.hint();
    record.sealed_key = seal_if_publishable(record.key_type, &key, &record.id, master_key)?;
    // The leak was of the secret just replaced.
    record.leak = None;
    record.updated_at = now;
    Ok(key)
}

/// Revokes the key for good.
pub fn revoke(
    record: &mut KeyRecord,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    ensure_not_final(record)?;
    if reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > MAX_DESCRIPTION || !is_plain_text(r))
    {
        return Err(DomainError::field(
            "reason",
            format!("at most {MAX_DESCRIPTION} characters of text without control characters"),
        ));
    }
    record.revoked_at = Some(now);
    record.revoked_reason = reason;
    record.previous = None;
    record.updated_at = now;
    Ok(())
}

/// Archives the key for good; revoked keys may be archived too.
pub fn archive(record: &mut KeyRecord, now: DateTime<Utc>) -> Result<(), DomainError> {
    if record.archived_at.is_some() {
        return Err(DomainError::Conflict(
            "the key is already archived".to_owned(),
        ));
    }
    record.archived_at = Some(now);
    record.previous = None;
    record.updated_at = now;
    Ok(())
}

/// What the audit log records of a key: every field a person may change,
/// and the hint, never the secret.
pub fn audit_view(record: &KeyRecord) -> Map<String, Value> {
    let time = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339_opts(SecondsFormat::Micros, true));
    let json = json!({
        "name": record.name,
        "description": record.description,
        "project_id": record.project_id,
        "type": record.key_type,
        "role": record.role,
        "scopes": record.scopes,
        "enabled": record.enabled,
        "hint": record.hint,
        "expires_at": time(record.expires_at),
        "trusted_origins": record.trusted_origins,
        "allowed_ips": record.allowed_ips,
                "meta": record.meta,
        "ratelimit": record.ratelimit,
        "quota": record.quota,
        "revoked_at": time(record.revoked_at),
        "revoked_reason": record.revoked_reason,
        "archived_at": time(record.archived_at),
    });
    crate::events::object(json)
}

fn ensure_not_final(record: &KeyRecord) -> Result<(), DomainError> {
    if record.archived_at.is_some() {
        Err(DomainError::Conflict(
            "the key is archived and can no longer change".to_owned(),
        ))
    } else if record.revoked_at.is_some() {
        Err(DomainError::Conflict(
            "the key is revoked and can no longer change".to_owned(),
        ))
    } else {
        Ok(())
    }
}

fn seal_if_publishable(
    key_type: KeyType,
    key: &FullKey,
    id: &KeyId,
    master_key: &MasterKey,
) -> Result<Option<Vec<u8>>, DomainError> {
    match key_type {
        KeyType::Publishable => Ok(Some(
            master_key.seal(key.expose().as_bytes(), id.as_str().as_bytes())?,
        )),
        KeyType::Secret => Ok(None),
    }
}

/// Reads a publishable key back from its sealed form.
pub fn unseal(record: &KeyRecord, master_key: &MasterKey) -> Result<Option<FullKey>, DomainError> {
    let Some(sealed) = &record.sealed_key else {
        return Ok(None);
    };
    let plain = master_key.open(sealed, record.id.as_str().as_bytes())?;
    let key = String::from_utf8(plain).map_err(|_| DomainError::Crypto)?;
    Ok(Some(FullKey::from_trusted(key)))
}

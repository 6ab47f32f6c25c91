//! The answer of `POST /v1/verify` as it goes on the wire.
//!
//! [`VerifyResponse`] is the answer's shape (and its OpenAPI schema). The
//! members that describe a key are the same in every answer about that key,
//! so they are encoded once, when the key is read from storage
//! ([`KeyFields`]), and [`to_json`] writes an answer by copying them between
//! the few members that change per verification. A test holds both encodings
//! to the same bytes.

use crate::id::{KeyId, OrgId, ProjectId};
use crate::limits::{QuotaStatus, RateStatus};
use crate::model::KeyRecord;
use crate::policy::Code;
use crate::scope::{Role, Scope};
use crate::verify::Outcome;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

/// The answer's shape and OpenAPI schema; serializing it gives the bytes
/// [`to_json`] writes. Borrows from the cached key record.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VerifyResponse<'a> {
    /// True only for `VALID`.
    pub valid: bool,
    /// The outcome.
    pub code: Code,
    /// The key, when one was found.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub key_id: Option<&'a KeyId>,
    /// Its name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    /// Its project.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub project_id: Option<&'a ProjectId>,
    /// Its organization.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub org_id: Option<&'a OrgId>,
    /// The member or root key that created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<&'a str>,
    /// Its role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Its scopes.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    pub scopes: Option<&'a [Scope]>,
    /// Its meta.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub meta: Option<&'a Map<String, Value>>,
    /// When it expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// True when the previous secret of a regenerated key was used during its grace period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deprecated: Option<bool>,
    /// The key's rate limit, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratelimit: Option<RateStatus>,
    /// The key's quota, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<QuotaStatus>,
}

impl<'a> From<&'a Outcome> for VerifyResponse<'a> {
    fn from(outcome: &'a Outcome) -> Self {
        let key = outcome.key.as_deref().map(|k| &k.record);
        Self {
            valid: outcome.code == Code::Valid,
            code: outcome.code,
            key_id: key.map(|k| &k.id),
            name: key.map(|k| k.name.as_str()),
            project_id: key.map(|k| &k.project_id),
            org_id: key.map(|k| &k.org_id),
            owner: key.map(|k| k.created_by.as_str()),
            role: key.map(|k| k.role),
            scopes: key.map(|k| k.scopes.as_slice()),
            meta: key.map(|k| &k.meta),
            expires_at: key.and_then(|k| k.expires_at),
            deprecated: key.map(|_| outcome.deprecated),
            ratelimit: outcome.ratelimit,
            quota: outcome.quota,
        }
    }
}

/// The members of an answer that describe its key: `"key_id":…` through
/// `"expires_at":…`, without the braces, encoded once per key read; and its
/// scopes comma-separated, as forward authentication's `X-Keyward-Scopes`
/// carries them.
#[derive(Debug, Clone)]
pub struct KeyFields {
    members: Box<str>,
    scope_list: Box<str>,
}

impl KeyFields {
    /// Bytes of the encoded members.
    pub fn encoded_len(&self) -> usize {
        self.members.len() + self.scope_list.len()
    }

    /// Encodes the members describing `key`. (Only a `meta` map that is not
    /// JSON-encodable could fail, and one read from storage always is.)
    pub fn of(key: &KeyRecord) -> serde_json::Result<Self> {
        #[derive(Serialize)]
        struct Members<'a> {
            key_id: &'a KeyId,
            name: &'a str,
            project_id: &'a ProjectId,
            org_id: &'a OrgId,
            owner: &'a str,
            role: Role,
            scopes: &'a [Scope],
            meta: &'a Map<String, Value>,
            #[serde(skip_serializing_if = "Option::is_none")]
            expires_at: Option<DateTime<Utc>>,
        }
        let object = serde_json::to_string(&Members {
            key_id: &key.id,
            name: &key.name,
            project_id: &key.project_id,
            org_id: &key.org_id,
            owner: &key.created_by,
            role: key.role,
            scopes: &key.scopes,
            meta: &key.meta,
            expires_at: key.expires_at,
        })?;
        let scope_list = key
            .scopes
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        Ok(Self {
            members: object[1..object.len() - 1].into(),
            scope_list: scope_list.into(),
        })
    }

    /// The key's scopes, comma-separated.
    pub fn scope_list(&self) -> &str {
        &self.scope_list
    }
}

/// The answer to `outcome` as JSON, byte for byte what serializing
/// [`VerifyResponse`] gives.
pub fn to_json(outcome: &Outcome) -> Vec<u8> {
    let fields = outcome
        .key
        .as_deref()
        .map(|key| key.fields.members.as_bytes());
    let mut out = Vec::with_capacity(fields.map_or(0, <[u8]>::len) + 160);
    out.extend_from_slice(if outcome.code == Code::Valid {
        br#"{"valid":true,"code":""#
    } else {
        br#"{"valid":false,"code":""#
    });
    out.extend_from_slice(outcome.code.as_str().as_bytes());
    out.push(b'"');
    if let Some(fields) = fields {
        out.push(b',');
        out.extend_from_slice(fields);
        out.extend_from_slice(if outcome.deprecated {
            br#","deprecated":true"#
        } else {
            br#","deprecated":false"#
        });
    }
    // Plain numbers and timestamps: serializing them cannot fail.
    if let Some(ratelimit) = &outcome.ratelimit {
        out.extend_from_slice(br#","ratelimit":"#);
        let _ = serde_json::to_writer(&mut out, ratelimit);
    }
    if let Some(quota) = &outcome.quota {
        out.extend_from_slice(br#","quota":"#);
        let _ = serde_json::to_writer(&mut out, quota);
    }
    out.push(b'}');
    out
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::crypto::MasterKey;
    use crate::id::OrgId;
    use crate::key_format::KeyPrefix;
    use crate::keys::{self, CreateKey};
    use crate::model::Project;
    use crate::verify::CachedKey;
    use chrono::TimeZone;
    use serde_json::json;
    use std::sync::Arc;

    /// A key created from `input`, as verification caches it.
    pub(crate) fn key(input: serde_json::Value) -> Arc<CachedKey> {
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
        let org_id = OrgId::generate().unwrap();
        let project = Project {
            id: ProjectId::generate().unwrap(),
            org_id: org_id.clone(),
            name: "Payments".to_owned(),
            key_prefix: KeyPrefix::default(),
            apis: vec!["payments".to_owned(), "refunds".to_owned()],
            management: false,
            created_at: now,
            updated_at: now,
        };
        let input: CreateKey = serde_json::from_value(input).unwrap();
        let created = keys::create(
            input,
            &org_id,
            &project,
            "mem_owner".to_owned(),
            &MasterKey::from_bytes(&[7; 32]),
            now,
        )
        .unwrap();
        Arc::new(CachedKey::for_tests(created.record))
    }

    #[test]
    fn a_cached_key_weighs_at_least_its_text() {
        let plain = key(json!({"name": "k"}));
        assert!(plain.weight() > 2 * plain.fields.encoded_len() as u64);
        let notes = "x".repeat(6_000);
        let annotated = key(json!({"name": "k", "meta": {"notes": notes}}));
        assert!(
            annotated.weight() >= plain.weight() + 2 * 6_000,
            "{} against {}",
            annotated.weight(),
            plain.weight()
        );
    }

    fn outcome(code: Code, key: Option<Arc<CachedKey>>) -> Outcome {
        Outcome {
            code,
            key,
            deprecated: false,
            ratelimit: None,
            quota: None,
        }
    }

    fn assert_same_bytes(outcome: &Outcome) {
        let expected = serde_json::to_vec(&VerifyResponse::from(outcome)).unwrap();
        assert_eq!(
            String::from_utf8(to_json(outcome)).unwrap(),
            String::from_utf8(expected).unwrap()
        );
    }

    #[test]
    fn the_fast_encoding_is_byte_for_byte_the_schema_encoding() {
        let plain = key(json!({"name": "plain"}));
        let rich = key(json!({
            "name": "Ünïcode \"quoted\" \\ name\n",
            "scopes": ["payments:read", "refunds:write"],
            "expires_at": "2027-01-01T00:00:00Z",
            "meta": {"tier": "gold", "nested": {"a": [1, 2.5, null, true]}, "html": "<b>&</b>"},
            "ratelimit": {"limit": 10, "window_seconds": 60},
            "quota": {"limit": 1000, "period": "month"},
        }));
        let reset_at = Utc.with_ymd_and_hms(2026, 11, 24, 12, 1, 0).unwrap();
        let cases = [
            outcome(Code::Malformed, None),
            outcome(Code::NotFound, None),
            outcome(Code::Valid, Some(Arc::clone(&plain))),
            outcome(Code::Revoked, Some(Arc::clone(&plain))),
            Outcome {
                deprecated: true,
                ..outcome(Code::Valid, Some(Arc::clone(&plain)))
            },
            Outcome {
                ratelimit: Some(RateStatus {
                    limit: 10,
                    remaining: 0,
                    reset_at,
                }),
                ..outcome(Code::RateLimited, Some(Arc::clone(&rich)))
            },
            Outcome {
                ratelimit: Some(RateStatus {
                    limit: 10,
                    remaining: 9,
                    reset_at,
                }),
                quota: Some(QuotaStatus {
                    limit: 1000,
                    remaining: 999,
                    refills_at: Some(reset_at),
                }),
                ..outcome(Code::Valid, Some(Arc::clone(&rich)))
            },
            Outcome {
                quota: Some(QuotaStatus {
                    limit: 1000,
                    remaining: 0,
                    refills_at: None,
                }),
                ..outcome(Code::UsageExceeded, Some(rich))
            },
        ];
        for case in &cases {
            assert_same_bytes(case);
        }
    }
}

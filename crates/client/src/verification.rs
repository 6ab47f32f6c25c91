//! Keyward's answer to `POST /v1/verify`, read strictly.
//!
//! This answer decides whether a request gets in, so one that does not have the documented
//! shape (`valid` or `code` missing, a field of the wrong type, `valid: true` with a code other
//! than `VALID`) is an [`Error::Unreadable`], never a guess.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::Error;

/// A verification outcome code (`VALID`, `REVOKED`…), as `POST /v1/verify` answers it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Code {
    /// The key may do what was asked.
    Valid,
    /// Not a key: wrong shape or checksum.
    Malformed,
    /// No such key (or an old secret whose grace period is over).
    NotFound,
    /// The key is disabled.
    Disabled,
    /// The key is past `expires_at`.
    Expired,
    /// The key is revoked or archived.
    Revoked,
    /// The key lacks a required scope.
    InsufficientScope,
    /// The request's origin is not among the key's `trusted_origins`.
    OriginNotAllowed,
    /// The client's address is not within the key's `allowed_ips`.
    IpNotAllowed,
    /// The key's rate limit window is spent.
    RateLimited,
    /// The key's quota is spent.
    UsageExceeded,
    /// Not Keyward's: the stand-in a `fail_open` middleware lets through during an outage.
    Unverified,
    /// A code this version of the client does not know (a refusal).
    Other(String),
}

impl Code {
    /// The code as Keyward writes it (`INSUFFICIENT_SCOPE`).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Valid => "VALID",
            Self::Malformed => "MALFORMED",
            Self::NotFound => "NOT_FOUND",
            Self::Disabled => "DISABLED",
            Self::Expired => "EXPIRED",
            Self::Revoked => "REVOKED",
            Self::InsufficientScope => "INSUFFICIENT_SCOPE",
            Self::OriginNotAllowed => "ORIGIN_NOT_ALLOWED",
            Self::IpNotAllowed => "IP_NOT_ALLOWED",
            Self::RateLimited => "RATE_LIMITED",
            Self::UsageExceeded => "USAGE_EXCEEDED",
            Self::Unverified => "UNVERIFIED",
            Self::Other(code) => code,
        }
    }

    /// The code of Keyward's text.
    pub fn parse(text: &str) -> Self {
        match text {
            "VALID" => Self::Valid,
            "MALFORMED" => Self::Malformed,
            "NOT_FOUND" => Self::NotFound,
            "DISABLED" => Self::Disabled,
            "EXPIRED" => Self::Expired,
            "REVOKED" => Self::Revoked,
            "INSUFFICIENT_SCOPE" => Self::InsufficientScope,
            "ORIGIN_NOT_ALLOWED" => Self::OriginNotAllowed,
            "IP_NOT_ALLOWED" => Self::IpNotAllowed,
            "RATE_LIMITED" => Self::RateLimited,
            "USAGE_EXCEEDED" => Self::UsageExceeded,
            "UNVERIFIED" => Self::Unverified,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|text| Self::parse(&text))
    }
}

/// A key's rate limit as it stands after a verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RateLimitState {
    /// Verifications allowed per window.
    pub limit: u64,
    /// What is left of this window.
    pub remaining: u64,
    /// When the window resets.
    pub reset_at: DateTime<Utc>,
}

/// A key's quota as it stands after a verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct QuotaState {
    /// Verifications allowed per period.
    #[serde(default)]
    pub limit: Option<u64>,
    /// What is left of this period.
    pub remaining: u64,
    /// When the quota refills; `None` for a lifetime quota.
    #[serde(default)]
    pub refills_at: Option<DateTime<Utc>>,
}

/// Keyward's answer to a verification: check [`valid`](Self::valid) and [`code`](Self::code).
///
/// The middleware puts the verification of each request it lets in into the request's
/// extensions (the verified key: id, organization, project, scopes, meta).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Verification {
    /// True only for `VALID`.
    pub valid: bool,
    /// The outcome.
    pub code: Code,
    /// The key's id, when a key was found.
    #[serde(default)]
    pub key_id: Option<String>,
    /// The key's name.
    #[serde(default)]
    pub name: Option<String>,
    /// The key's project.
    #[serde(default)]
    pub project_id: Option<String>,
    /// The key's organization.
    #[serde(default)]
    pub org_id: Option<String>,
    /// The member or root key that created the key.
    #[serde(default)]
    pub owner: Option<String>,
    /// The key's role (`admin`, `readonly`, `custom`).
    #[serde(default)]
    pub role: Option<String>,
    /// The key's scopes.
    #[serde(default, deserialize_with = "null_as_default")]
    pub scopes: Vec<String>,
    /// The object set on the key.
    #[serde(default, deserialize_with = "null_as_default")]
    pub meta: Map<String, Value>,
    /// When the key expires.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// True when the previous secret of a regenerated key was used in its grace period.
    #[serde(default, deserialize_with = "null_as_default")]
    pub deprecated: bool,
    /// The key's rate limit after this verification, when it has one.
    #[serde(default)]
    pub ratelimit: Option<RateLimitState>,
    /// The key's quota after this verification, when it has one.
    #[serde(default)]
    pub quota: Option<QuotaState>,
    /// True only for the stand-in a `fail_open` middleware lets through during an outage
    /// (code `UNVERIFIED`, no key fields). Never sent by Keyward.
    #[serde(default, skip_deserializing)]
    pub fail_open: bool,
}

fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

impl Verification {
    /// Reads an answer of `POST /v1/verify`.
    pub fn from_json(body: &[u8]) -> Result<Self, Error> {
        let answer: Self = serde_json::from_slice(body)
            .map_err(|error| Error::Unreadable(format!("verification answer: {error}")))?;
        if answer.valid != (answer.code == Code::Valid) {
            return Err(Error::Unreadable(
                "verification answer's `valid` and `code` disagree".to_owned(),
            ));
        }
        Ok(answer)
    }

    /// The stand-in a `fail_open` middleware lets through when Keyward cannot answer.
    pub fn unverified() -> Self {
        Self {
            valid: true,
            code: Code::Unverified,
            key_id: None,
            name: None,
            project_id: None,
            org_id: None,
            owner: None,
            role: None,
            scopes: Vec::new(),
            meta: Map::new(),
            expires_at: None,
            deprecated: false,
            ratelimit: None,
            quota: None,
            fail_open: true,
        }
    }
}

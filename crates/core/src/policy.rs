//! The verification policy: which code a key earns for a request.
//!
//! Checks run in the contract's order — disabled, expired, revoked, scope,
//! origin, IP, rate limit, quota — and the first that fails decides the code,
//! with one exception: a revoked or archived key answers `REVOKED` whatever
//! else is true of it, because revocation is final ("`REVOKED` from then
//! on", "archived keys answer `REVOKED`") and an integration must be able to
//! tell a dead key from one that may come back.

use crate::model::KeyRecord;
use crate::origin::RequestOrigin;
use crate::scope::{self, Scope};
use chrono::{DateTime, Utc};
use std::net::IpAddr;

/// Every answer verification can give.
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Debug,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Code {
    /// The key may do what was asked.
    Valid,
    /// Not a key: wrong shape or checksum.
    Malformed,
    /// Well-formed, but no such key.
    NotFound,
    /// The key is disabled.
    Disabled,
    /// The key is past `expires_at`.
    Expired,
    /// The key is revoked or archived.
    Revoked,
    /// The key lacks a required scope.
    InsufficientScope,
    /// The request's origin is not trusted.
    OriginNotAllowed,
    /// The client address is not allowed.
    IpNotAllowed,
    /// The key's rate limit is spent.
    RateLimited,
    /// The key's quota is spent.
    UsageExceeded,
}

impl Code {
    /// Every code, in check order.
    pub const ALL: [Code; 11] = [
        Code::Valid,
        Code::Malformed,
        Code::NotFound,
        Code::Disabled,
        Code::Expired,
        Code::Revoked,
        Code::InsufficientScope,
        Code::OriginNotAllowed,
        Code::IpNotAllowed,
        Code::RateLimited,
        Code::UsageExceeded,
    ];

    /// The code as written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Valid => "VALID",
            Code::Malformed => "MALFORMED",
            Code::NotFound => "NOT_FOUND",
            Code::Disabled => "DISABLED",
            Code::Expired => "EXPIRED",
            Code::Revoked => "REVOKED",
            Code::InsufficientScope => "INSUFFICIENT_SCOPE",
            Code::OriginNotAllowed => "ORIGIN_NOT_ALLOWED",
            Code::IpNotAllowed => "IP_NOT_ALLOWED",
            Code::RateLimited => "RATE_LIMITED",
            Code::UsageExceeded => "USAGE_EXCEEDED",
        }
    }

    /// Inverse of [`Code::as_str`].
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// What the caller asks a key to be allowed to do.
#[derive(Debug, Default, Clone)]
pub struct Request<'a> {
    /// Scopes the key must hold, all of them.
    pub scopes: &'a [Scope],
    /// The `Origin` the request came from, as sent.
    pub origin: Option<&'a str>,
    /// The client's address.
    pub ip: Option<IpAddr>,
}

/// Decides the code for a found key.
pub fn evaluate(record: &KeyRecord, request: &Request<'_>, now: DateTime<Utc>) -> Code {
    if record.is_final() {
        Code::Revoked
    } else if !record.enabled {
        Code::Disabled
    } else if record.is_expired(now) {
        Code::Expired
    } else if !scope::satisfies(&record.scopes, request.scopes) {
        Code::InsufficientScope
    } else if !origin_allowed(record, request.origin) {
        Code::OriginNotAllowed
    } else if !ip_allowed(record, request.ip) {
        Code::IpNotAllowed
    } else {
        Code::Valid
    }
}

fn origin_allowed(record: &KeyRecord, origin: Option<&str>) -> bool {
    if record.trusted_origins.is_empty() {
        return true;
    }
    let Some(origin) = origin.and_then(RequestOrigin::parse) else {
        return false;
    };
    record.trusted_origins.iter().any(|t| t.matches(&origin))
}

fn ip_allowed(record: &KeyRecord, ip: Option<IpAddr>) -> bool {
    if record.allowed_ips.is_empty() {
        return true;
    }
    let Some(ip) = ip else { return false };
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    record.allowed_ips.iter().any(|net| net.contains(&ip))
}

//! Turning the raw values of a create or update request into domain values,
//! collecting every field error on the way.

use super::{MAX_DESCRIPTION, MAX_LIST, MAX_META_BYTES, MAX_NAME};
use crate::error::{DomainError, Validation};
use crate::model::MANAGEMENT_SCOPES;
use crate::origin::TrustedOrigin;
use crate::scope::{self, Role, Scope};
use ipnet::IpNet;
use serde_json::{Map, Value};

/// Decides role and scopes from what the request gave.
pub(super) fn resolve_grant(
    v: &mut Validation,
    role: Option<Role>,
    scopes: Option<Vec<String>>,
    catalog: &[String],
    default_role: Role,
    management: bool,
) -> Option<(Role, Vec<Scope>)> {
    let role = role.unwrap_or(if scopes.is_some() {
        Role::Custom
    } else {
        default_role
    });
    let scopes = match (role.preset(), scopes) {
        (Some(_), Some(_)) => {
            v.push(
                "scopes",
                format!(
                    "scopes are given only with role `custom`, not `{}`",
                    role.as_str()
                ),
            );
            return None;
        }
        (Some(preset), None) => preset,
        (None, None) => {
            v.push("scopes", "role `custom` needs a list of scopes");
            return None;
        }
        (None, Some(raw)) => parse_scopes(v, raw)?,
    };
    if management {
        let not_management = scopes
            .iter()
            .enumerate()
            .find(|(_, s)| !MANAGEMENT_SCOPES.contains(&s.to_string().as_str()));
        if let Some((index, scope)) = not_management {
            let field = if role == Role::Custom {
                format!("scopes[{index}]")
            } else {
                "role".to_owned()
            };
            v.push(
                field,
                format!(
                    "`{scope}` is not a management scope; root keys take {} (or role `admin`)",
                    MANAGEMENT_SCOPES.join(", ")
                ),
            );
            return None;
        }
    }
    if let Err((index, message)) = scope::check_catalog(&scopes, catalog) {
        v.push(format!("scopes[{index}]"), message);
        return None;
    }
    Some((role, scopes))
}

fn parse_scopes(v: &mut Validation, raw: Vec<String>) -> Option<Vec<Scope>> {
    if raw.is_empty() {
        v.push("scopes", "must hold at least one scope");
        return None;
    }
    if raw.len() > MAX_LIST {
        v.push("scopes", format!("at most {MAX_LIST} scopes"));
        return None;
    }
    let mut scopes: Vec<Scope> = Vec::with_capacity(raw.len());
    let mut ok = true;
    for (i, s) in raw.iter().enumerate() {
        match Scope::parse(s) {
            Ok(scope) if !scopes.contains(&scope) => scopes.push(scope),
            Ok(_) => {}
            Err(message) => {
                v.push(format!("scopes[{i}]"), message);
                ok = false;
            }
        }
    }
    ok.then_some(scopes)
}

/// Parses scopes required by a verification request.
pub fn parse_required_scopes(raw: &[String]) -> Result<Vec<Scope>, DomainError> {
    let mut v = Validation::default();
    let scopes = raw
        .iter()
        .enumerate()
        .filter_map(|(i, s)| v.check(&format!("scopes[{i}]"), Scope::parse(s)))
        .collect();
    v.finish().map(|()| scopes)
}

pub(super) fn parse_origins(v: &mut Validation, raw: Vec<String>) -> Vec<TrustedOrigin> {
    if raw.len() > MAX_LIST {
        v.push("trusted_origins", format!("at most {MAX_LIST} origins"));
        return Vec::new();
    }
    let mut out: Vec<TrustedOrigin> = Vec::new();
    for (i, s) in raw.iter().enumerate() {
        if let Some(origin) = v.check(&format!("trusted_origins[{i}]"), TrustedOrigin::parse(s))
            && !out.contains(&origin)
        {
            out.push(origin);
        }
    }
    out
}

/// Parses a CIDR block, or a single address as its /32 or /128.
pub fn parse_ip_net(s: &str) -> Result<IpNet, String> {
    s.parse::<IpNet>()
        .map(|net| net.trunc())
        .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("`{s}` is not an IPv4 or IPv6 address or CIDR block"))
}

pub(super) fn parse_ips(v: &mut Validation, raw: Vec<String>) -> Vec<IpNet> {
    if raw.len() > MAX_LIST {
        v.push("allowed_ips", format!("at most {MAX_LIST} networks"));
        return Vec::new();
    }
    let mut out: Vec<IpNet> = Vec::new();
    for (i, s) in raw.iter().enumerate() {
        if let Some(net) = v.check(&format!("allowed_ips[{i}]"), parse_ip_net(s))
            && !out.contains(&net)
        {
            out.push(net);
        }
    }
    out
}

/// Names: 1–200 characters after trimming, no control characters.
pub fn validate_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    let len = name.chars().count();
    if len == 0 || len > MAX_NAME {
        Err(format!("must be 1 to {MAX_NAME} characters"))
    } else if name.chars().any(char::is_control) {
        Err("must not contain control characters".to_owned())
    } else {
        Ok(name.to_owned())
    }
}

pub(super) fn validate_description(description: Option<&str>) -> Result<String, String> {
    let description = description.unwrap_or("").trim();
    if description.chars().count() > MAX_DESCRIPTION {
        Err(format!("at most {MAX_DESCRIPTION} characters"))
    } else if !is_plain_text(description) {
        Err("must not contain control characters other than line breaks and tabs".to_owned())
    } else {
        Ok(description.to_owned())
    }
}

/// Free text: anything but control characters, line breaks and tabs aside.
/// (PostgreSQL refuses NUL in text, and nothing else has a use for them.)
pub fn is_plain_text(s: &str) -> bool {
    !s.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
}

pub(super) fn validate_meta(meta: Map<String, Value>) -> Result<Map<String, Value>, String> {
    let size = serde_json::to_vec(&meta)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > MAX_META_BYTES {
        Err(format!("at most {MAX_META_BYTES} bytes of JSON"))
    } else {
        Ok(meta)
    }
}

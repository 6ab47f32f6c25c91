//! Scopes (`<api>:<action>`, `*` as a wildcard for either part), role presets,
//! API catalogs and the `full`/`partial` access of a key.

use std::fmt;

const MAX_PART_LEN: usize = 64;

/// A scope held by a key or required by a request.
#[derive(Clone, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct Scope {
    api: String,
    action: String,
}

impl Scope {
    /// Parses `<api>:<action>`; a lone `*` means `*:*`.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s == "*" {
            return Ok(Self {
                api: "*".to_owned(),
                action: "*".to_owned(),
            });
        }
        let (api, action) = s
            .split_once(':')
            .ok_or_else(|| format!("`{s}` is not of the form <api>:<action>"))?;
        if !(api == "*" || is_name(api)) || !(action == "*" || is_name(action)) {
            return Err(format!(
                "`{s}`: each part must be `*` or start with a lowercase letter or digit and hold only \
                 lowercase letters, digits, `_`, `-` and `.` (at most {MAX_PART_LEN})"
            ));
        }
        Ok(Self {
            api: api.to_owned(),
            action: action.to_owned(),
        })
    }

    /// The API part.
    pub fn api(&self) -> &str {
        &self.api
    }

    /// Whether holding `self` satisfies the requirement `required`.
    pub fn grants(&self, required: &Scope) -> bool {
        (self.api == "*" || self.api == required.api)
            && (self.action == "*" || self.action == required.action)
    }
}

impl TryFrom<String> for Scope {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<Scope> for String {
    fn from(s: Scope) -> String {
        s.to_string()
    }
}

/// Written as its string form, without an intermediate allocation (scopes
/// are serialized on every verification answer).
impl serde::Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.api == "*" && self.action == "*" {
            f.write_str("*")
        } else {
            write!(f, "{}:{}", self.api, self.action)
        }
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scope({self})")
    }
}

/// True when every required scope is granted by one of `held`.
pub fn satisfies(held: &[Scope], required: &[Scope]) -> bool {
    required.iter().all(|r| held.iter().any(|h| h.grants(r)))
}

/// The name of an API in a project's catalog.
pub fn validate_api_name(s: &str) -> Result<(), String> {
    if is_name(s) {
        Ok(())
    } else {
        Err(format!(
            "`{s}`: an API name starts with a lowercase letter or digit and holds only lowercase \
             letters, digits, `_`, `-` and `.` (at most {MAX_PART_LEN})"
        ))
    }
}

fn is_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_lowercase() || b.is_ascii_digit())
        && s.len() <= MAX_PART_LEN
        && bytes.all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.')
        })
}

/// A role preset, or `custom` for an explicit scope list.
#[derive(
    Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// `["*"]`.
    Admin,
    /// `["*:read"]`.
    Readonly,
    /// The explicit `scopes` list.
    Custom,
}

impl Role {
    /// The scopes a preset stands for; `None` for `custom`.
    pub fn preset(self) -> Option<Vec<Scope>> {
        let scope = match self {
            Self::Admin => "*",
            Self::Readonly => "*:read",
            Self::Custom => return None,
        };
        Scope::parse(scope).ok().map(|s| vec![s])
    }

    /// The name used in JSON and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Readonly => "readonly",
            Self::Custom => "custom",
        }
    }

    /// Inverse of [`Role::as_str`].
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Self::Admin),
            "readonly" => Some(Self::Readonly),
            "custom" => Some(Self::Custom),
            _ => None,
        }
    }
}

/// Whether a key's scopes reach every API of its project's catalog.
#[derive(
    Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Every API in the catalog is named by some scope (or by `*`).
    Full,
    /// At least one API of the catalog is out of reach.
    Partial,
}

/// `full` when every API in `catalog` is reached by some scope's API part.
pub fn access(scopes: &[Scope], catalog: &[String]) -> Access {
    let reaches = |api: &String| scopes.iter().any(|s| s.api == "*" || &s.api == api);
    if catalog.iter().all(reaches) {
        Access::Full
    } else {
        Access::Partial
    }
}

/// Checks that every scope names `*` or an API of `catalog`; the error names
/// the first unknown API.
pub fn check_catalog(scopes: &[Scope], catalog: &[String]) -> Result<(), (usize, String)> {
    for (index, scope) in scopes.iter().enumerate() {
        if scope.api != "*" && !catalog.contains(&scope.api) {
            return Err((
                index,
                format!(
                    "unknown API `{}`: the project's catalog has {}",
                    scope.api,
                    list(catalog)
                ),
            ));
        }
    }
    Ok(())
}

fn list(catalog: &[String]) -> String {
    if catalog.is_empty() {
        "no APIs".to_owned()
    } else {
        catalog.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Scope {
        Scope::parse(v).unwrap()
    }

    #[test]
    fn wildcards_satisfy_as_the_contract_says() {
        let required = s("push:read");
        for held in ["push:read", "push:*", "*:read", "*"] {
            assert!(s(held).grants(&required), "{held}");
        }
        for held in ["push:write", "data:read", "data:*"] {
            assert!(!s(held).grants(&required), "{held}");
        }
    }

    #[test]
    fn satisfies_needs_every_required_scope() {
        let held = [s("push:read"), s("data:*")];
        assert!(satisfies(&held, &[s("push:read"), s("data:write")]));
        assert!(!satisfies(&held, &[s("push:read"), s("push:write")]));
        assert!(satisfies(&held, &[]));
    }

    #[test]
    fn rejects_malformed_scopes() {
        for bad in [
            "",
            "push",
            ":read",
            "push:",
            "Push:read",
            "push:read:x",
            "a b:c",
        ] {
            assert!(Scope::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(s("*").to_string(), "*");
        assert_eq!(s("*:*").to_string(), "*");
    }

    #[test]
    fn access_is_full_only_when_every_api_is_reached() {
        let catalog = vec!["data".to_owned(), "push".to_owned()];
        assert_eq!(access(&[s("*:read")], &catalog), Access::Full);
        assert_eq!(
            access(&[s("data:read"), s("push:write")], &catalog),
            Access::Full
        );
        assert_eq!(access(&[s("data:read")], &catalog), Access::Partial);
    }

    #[test]
    fn catalog_check_names_the_unknown_api() {
        let catalog = vec!["data".to_owned()];
        let err = check_catalog(&[s("data:read"), s("push:read")], &catalog).unwrap_err();
        assert_eq!(err.0, 1);
        assert!(err.1.contains("push"));
    }
}

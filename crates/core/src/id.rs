//! Prefixed, random identifiers (`org_…`, `proj_…`, `key_…`, `mem_…`, `evt_…`).
//!
//! The prefix tells a reader what an id names; the random part (20 base62
//! characters, about 119 bits) makes ids unguessable, so that one organization
//! cannot probe for another's objects.

use crate::base62;
use crate::error::DomainError;
use std::fmt;

const RANDOM_LEN: usize = 20;

macro_rules! define_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The prefix every id of this kind starts with, including the `_`.
            pub const PREFIX: &'static str = concat!($prefix, "_");

            /// A fresh random id.
            pub fn generate() -> Result<Self, DomainError> {
                Ok(Self(format!("{}{}", Self::PREFIX, base62::random(RANDOM_LEN)?)))
            }

            /// Parses an id written by Keyward; anything else is rejected.
            pub fn parse(s: &str) -> Result<Self, String> {
                match s.strip_prefix(Self::PREFIX) {
                    Some(rest) if rest.len() == RANDOM_LEN && base62::is_base62(rest) => {
                        Ok(Self(s.to_owned()))
                    }
                    _ => Err(format!("not a valid {} id", $prefix)),
                }
            }

            /// The id as written.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .pattern(Some(concat!("^", $prefix, "_[0-9A-Za-z]{20}$")))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

define_id!(
    /// An organization (tenant).
    OrgId, "org"
);
define_id!(
    /// A project.
    ProjectId, "proj"
);
define_id!(
    /// An API key, root keys included.
    KeyId, "key"
);
define_id!(
    /// A member of an organization.
    MemberId, "mem"
);
define_id!(
    /// A team of members.
    TeamId, "team"
);

define_id!(
    /// An audit event.
    EventId, "evt"
);
define_id!(
    /// A webhook endpoint.
    WebhookId, "wh"
);
define_id!(
    /// One delivery of a webhook message to an endpoint.
    DeliveryId, "dlv"
);

impl EventId {
    /// An id as read back from the audit table, kept as found even when it is
    /// not one Keyward would write, so that verification can name a forged
    /// event by the id it carries. Never use for input from requests.
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_and_foreign_ones_do_not() {
        let id = KeyId::generate().unwrap();
        assert_eq!(KeyId::parse(id.as_str()).unwrap(), id);
        assert!(ProjectId::parse(id.as_str()).is_err());
        assert!(KeyId::parse("key_short").is_err());
        assert!(KeyId::parse("key_aaaaaaaaaaaaaaaaaaa!").is_err());
    }
}

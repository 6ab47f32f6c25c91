//! What the API shows of its records: the key object of the contract, the
//! project object, and the list envelope.

use chrono::{DateTime, Utc};
pub use keyward_core::keys::view::{KeyView, QuotaView};
use keyward_core::model::Project;
use serde::{Deserialize, Serialize};

/// The project object.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProjectView {
    /// `proj_…`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Prefix of its keys.
    pub key_prefix: String,
    /// The API catalog.
    pub apis: Vec<String>,
    /// True for the built-in project of root keys.
    pub management: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<&Project> for ProjectView {
    fn from(p: &Project) -> Self {
        Self {
            id: p.id.to_string(),
            name: p.name.clone(),
            key_prefix: p.key_prefix.as_str().to_owned(),
            apis: p.apis.clone(),
            management: p.management,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// A page of a list.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// The items.
    pub data: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

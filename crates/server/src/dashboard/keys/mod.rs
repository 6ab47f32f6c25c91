//! Key pages: the table, creating (the full key shown once), details with
//! the usage chart, editing, regenerating, disabling, revoking and archiving.
//!
//! One module per thing a reader comes looking for; this one holds only what
//! several of them share: the list of projects, the labels a key's role and
//! status show as, and the notice a `?done=` redirect leaves.

pub mod actions;
pub mod create;
pub mod detail;
pub mod edit;
mod form;
pub mod one_time;
pub mod table;

use super::client::{Api, Failure};
use super::forms::wire_name;
use crate::api::views::{KeyView, Page, ProjectView};
use keyward_core::scope::Role;

fn notice(done: Option<&str>) -> Option<String> {
    let text = match done? {
        "password" => "Your password was changed.",
        "updated" => "The key was saved.",
        "enabled" => "The key was enabled.",
        "disabled" => "The key was disabled.",
        "revoked" => "The key was revoked. It no longer verifies.",
        "archived" => "The key was archived.",
        "publishable_created" => {
            "The publishable key was created. It is meant to be seen in client code, and this \
             page shows it whenever you need it."
        }
        "publishable_regenerated" => {
            "The publishable key was regenerated. The new key is below; this page shows it \
             whenever you need it."
        }
        _ => return None,
    };
    Some(text.to_owned())
}

fn role_label(role: Role) -> &'static str {
    match role {
        // As the key form names them.
        Role::Admin => "Read and write",
        Role::Readonly => "Read only",
        Role::Custom => "Custom",
    }
}

/// A key's status as the pages show it: "Active", "Revoked", ….
pub(super) fn status_label(view: &KeyView) -> String {
    let name = wire_name(view.status);
    let mut chars = name.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

async fn projects(api: &Api<'_>) -> Result<Vec<ProjectView>, Failure> {
    Ok(api.get::<Page<ProjectView>>("/v1/projects").await?.data)
}

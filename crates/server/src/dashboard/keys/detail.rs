//! A key's details page (`/keys/{id}`): every field, the usage chart with
//! its totals, and which actions the member may take from there.

use super::{notice, projects, role_label, status_label};
use crate::api::usage::Usage;
use crate::api::views::KeyView;
use crate::dashboard::client::Api;
use crate::dashboard::forms::{self, time, time_or, wire_name};
use crate::dashboard::{Nav, Signed, chart, failure_page, render};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use keyward_core::model::LeakSource;
use serde::Deserialize;

/// A label and a value on the details page.
struct Field {
    label: &'static str,
    value: String,
}

#[derive(Template)]
#[template(path = "key.html")]
struct KeyPage {
    nav: Option<Nav>,
    title: String,
    notice: Option<String>,
    key: KeyView,
    fields: Vec<Field>,
    chart: String,
    totals: Vec<(String, u64)>,
    live: bool,
    can_change: bool,
    can_revoke: bool,
    publishable_key: Option<String>,
    leak: Option<LeakBanner>,
}

/// What the page says of a leaked secret.
struct LeakBanner {
    when: String,
    source: &'static str,
    /// Where it was found, as reported: shown as text, never as a link.
    url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Response {
    let nav = signed.nav("keys");
    let api = Api::new(&state, signed.principal());
    let key: KeyView = match api.get(&format!("/v1/keys/{}", forms::encode(&id))).await {
        Ok(key) => key,
        Err(failure) => return failure_page(Some(nav), &failure),
    };
    let usage: Usage = match api
        .get(&format!(
            "/v1/keys/{}/usage?granularity=day",
            forms::encode(&id)
        ))
        .await
    {
        Ok(usage) => usage,
        Err(failure) => return failure_page(Some(nav), &failure),
    };
    let project = projects(&api)
        .await
        .ok()
        .and_then(|ps| ps.into_iter().find(|p| p.id == key.project_id))
        .map_or_else(|| key.project_id.clone(), |p| p.name);
    let access = if wire_name(key.access) == "full" {
        "Full"
    } else {
        "Partial"
    };
    let mut fields = vec![
        Field {
            label: "Hint",
            value: key.hint.clone(),
        },
        Field {
            label: "Type",
            value: wire_name(key.key_type),
        },
        Field {
            label: "Project",
            value: project,
        },
        Field {
            label: "Role",
            value: format!("{} ({access})", role_label(key.role)),
        },
        Field {
            label: "Scopes",
            value: key.scopes.join(", "),
        },
        Field {
            label: "Status",
            value: status_label(&key),
        },
        Field {
            label: "Created",
            value: time(key.created_at),
        },
        Field {
            label: "Last used",
            value: time_or(key.last_used_at, "Never"),
        },
        Field {
            label: "Expires",
            value: time_or(key.expires_at, "Never"),
        },
        Field {
            label: "Trusted origins",
            value: if key.trusted_origins.is_empty() {
                "Any".to_owned()
            } else {
                key.trusted_origins.join(", ")
            },
        },
        Field {
            label: "Allowed IPs",
            value: if key.allowed_ips.is_empty() {
                "Any".to_owned()
            } else {
                key.allowed_ips.join(", ")
            },
        },
    ];
    if let Some(until) = key.previous_secret_expires_at {
        fields.push(Field {
            label: "Previous secret works until",
            value: time(until),
        });
    }
    if let Some(at) = key.revoked_at {
        let reason = key.revoked_reason.clone().unwrap_or_default();
        fields.push(Field {
            label: "Revoked",
            value: format!("{} {reason}", time(at)).trim().to_owned(),
        });
    }
    let leak = key.leaked_at.map(|at| LeakBanner {
        when: time(at),
        source: match key.leak_source {
            Some(LeakSource::Github) => "GitHub secret scanning",
            _ => "a public leak report",
        },
        url: key.leak_url.clone(),
    });
    let (svg, totals) = chart::usage_chart(&usage.data);
    let live = key.revoked_at.is_none() && key.archived_at.is_none();
    let own = key.created_by == signed.principal().actor_id;
    let member_limited = signed.principal().own_keys_only();
    render(&KeyPage {
        title: key.name.clone(),
        notice: notice(q.done.as_deref()),
        fields,
        chart: svg,
        totals,
        live,
        can_change: nav.write_keys && (own || !member_limited),
        can_revoke: nav.revoke_keys && (own || !member_limited),
        publishable_key: key.key.clone(),
        leak,
        key,
        nav: Some(nav),
    })
}

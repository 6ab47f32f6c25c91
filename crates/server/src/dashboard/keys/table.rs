//! The keys table (`/keys`): its filters by project, status, type and
//! text, the sortable columns, and the next-page link. Archived keys are the
//! same table filtered by status.

use super::{notice, projects, role_label, status_label};
use crate::api::views::{KeyView, Page};
use crate::dashboard::client::Api;
use crate::dashboard::forms::{Ago, Choice, choices, query, wire_name};
use crate::dashboard::{Nav, Signed, failure_page, render};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

/// One row of the keys table.
struct KeyRow {
    id: String,
    name: String,
    description: String,
    hint: String,
    kind: String,
    project: String,
    role: String,
    access: String,
    status: String,
    created: Ago,
    /// `None`: never used.
    last_used: Option<Ago>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    project_id: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default, rename = "type")]
    key_type: Option<String>,
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    sort: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

/// A column header that sorts: where it leads, and its `aria-sort` state.
struct SortLink {
    href: String,
    state: &'static str,
}

/// The sortable columns.
struct Sorts {
    scope: SortLink,
    created: SortLink,
    last_used: SortLink,
}

#[derive(Template)]
#[template(path = "keys.html")]
struct KeysPage {
    nav: Option<Nav>,
    title: String,
    notice: Option<String>,
    rows: Vec<KeyRow>,
    projects: Vec<Choice>,
    statuses: Vec<Choice>,
    types: Vec<Choice>,
    q: String,
    sort: String,
    sorts: Sorts,
    next: Option<String>,
    archived: bool,
    /// Whether any filter narrows the list (an empty list then means "no
    /// match", not "no keys yet").
    filtered: bool,
    error: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    signed: Signed,
    Query(q): Query<ListQuery>,
) -> Response {
    let api = Api::new(&state, signed.principal());
    let archived = q.status.as_deref() == Some("archived");
    let nav = signed.nav(if archived { "archived" } else { "keys" });
    let projects = match projects(&api).await {
        Ok(p) => p,
        Err(failure) => return failure_page(Some(nav), &failure),
    };
    let filters = |sort: Option<String>, cursor: Option<String>| {
        query(&[
            ("project_id", q.project_id.clone()),
            ("status", q.status.clone()),
            ("type", q.key_type.clone()),
            ("q", q.q.clone()),
            ("sort", sort),
            ("cursor", cursor),
        ])
    };
    let api_query = filters(q.sort.clone(), q.cursor.clone());
    let (page, error) = match api
        .get::<Page<KeyView>>(&format!("/v1/keys?limit=25&{api_query}"))
        .await
    {
        Ok(page) => (page, None),
        Err(failure) if failure.status == StatusCode::UNPROCESSABLE_ENTITY => (
            Page {
                data: Vec::new(),
                next_cursor: None,
            },
            Some(failure.messages().join(" ")),
        ),
        Err(failure) => return failure_page(Some(nav), &failure),
    };
    let project_name = |id: &str| {
        projects
            .iter()
            .find(|p| p.id == id)
            .map_or_else(|| id.to_owned(), |p| p.name.clone())
    };
    let now = state.clock.now();
    let rows = page
        .data
        .iter()
        .map(|k| KeyRow {
            id: k.id.clone(),
            name: k.name.clone(),
            description: k.description.clone(),
            hint: k.hint.clone(),
            kind: wire_name(k.key_type),
            project: project_name(&k.project_id),
            role: role_label(k.role).to_owned(),
            access: if wire_name(k.access) == "full" {
                "Full".to_owned()
            } else {
                "Partial".to_owned()
            },
            status: status_label(k),
            created: Ago::new(k.created_at, now),
            last_used: k.last_used_at.map(|t| Ago::new(t, now)),
        })
        .collect();
    let sort = q.sort.clone().unwrap_or_else(|| "-created_at".to_owned());
    let sort_link = |asc: &str, desc: &str, first: &str| {
        let (next, state) = if sort == desc {
            (asc, "descending")
        } else if sort == asc {
            (desc, "ascending")
        } else {
            (first, "none")
        };
        SortLink {
            href: format!("/keys?{}", filters(Some(next.to_owned()), None)),
            state,
        }
    };
    // A header sorts by its column; clicked again, the other way.
    let sorts = Sorts {
        scope: sort_link("scope", "-scope", "scope"),
        created: sort_link("created_at", "-created_at", "-created_at"),
        last_used: sort_link("last_used_at", "-last_used_at", "-last_used_at"),
    };
    let mut project_choices = vec![Choice {
        value: String::new(),
        label: "All projects".to_owned(),
        selected: q.project_id.is_none(),
    }];
    project_choices.extend(
        projects
            .iter()
            .filter(|p| !p.management || nav.org_admin)
            .map(|p| Choice {
                value: p.id.clone(),
                label: if p.management {
                    format!("{} (root keys)", p.name)
                } else {
                    p.name.clone()
                },
                selected: q.project_id.as_deref() == Some(p.id.as_str()),
            }),
    );
    let status = q.status.clone().unwrap_or_default();
    let kind = q.key_type.clone().unwrap_or_default();
    render(&KeysPage {
        title: if archived {
            "Archived keys"
        } else {
            "API keys"
        }
        .to_owned(),
        notice: notice(q.done.as_deref()),
        rows,
        projects: project_choices,
        statuses: choices(
            &[
                ("", "Any status"),
                ("active", "Active"),
                ("disabled", "Disabled"),
                ("expired", "Expired"),
                ("revoked", "Revoked"),
                ("archived", "Archived"),
            ],
            &status,
        ),
        types: choices(
            &[
                ("", "Any type"),
                ("secret", "Secret"),
                ("publishable", "Publishable"),
            ],
            &kind,
        ),
        q: q.q.clone().unwrap_or_default(),
        sort,
        sorts,
        next: page
            .next_cursor
            .map(|c| format!("/keys?{}", filters(q.sort.clone(), Some(c)))),
        archived,
        filtered: [&q.project_id, &q.status, &q.key_type, &q.q]
            .iter()
            .any(|v| v.as_deref().is_some_and(|v| !v.trim().is_empty())),
        error,
        nav: Some(nav),
    })
}

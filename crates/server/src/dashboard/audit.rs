//! The audit log page (`/audit`): the events, filtered by team, action,
//! actor, dates and text, with the same filters carried to the CSV and JSON
//! Lines exports and to the next page.

use super::client::Api;
use super::forms::{self, Choice, query, time};
use super::{Nav, Signed, error_page, failure_page, render};
use crate::api::teams::TeamView;
use crate::api::views::Page;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use keyward_core::audit::AuditEvent;
use keyward_core::store::{CREATE_ACTIONS, DELETE_ACTIONS, UPDATE_ACTIONS};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
pub struct AuditFilters {
    #[serde(default)]
    team: Option<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
    /// Set after "Email me the export": whom it went to.
    #[serde(default)]
    emailed: Option<String>,
}

struct EventRow {
    when: String,
    actor: String,
    team: String,
    action: String,
    target: String,
    changes: String,
    ip: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    nav: Option<Nav>,
    title: String,
    rows: Vec<EventRow>,
    actions: Vec<Choice>,
    teams: Option<Vec<Choice>>,
    team: String,
    actor: String,
    from: String,
    to: String,
    q: String,
    csv: String,
    jsonl: String,
    /// The filters as a query string, for "Email me the export".
    filters: String,
    /// Whether Keyward sends email.
    email: bool,
    emailed: Option<String>,
    next: Option<String>,
    error: Option<String>,
}

fn action_choices(current: &str) -> Vec<Choice> {
    let mut out = vec![
        ("", "All actions".to_owned()),
        ("create", "Create (any)".to_owned()),
        ("update", "Update (any)".to_owned()),
        ("delete", "Delete (any)".to_owned()),
    ];
    let mut exact: Vec<&str> = CREATE_ACTIONS
        .iter()
        .chain(UPDATE_ACTIONS)
        .chain(DELETE_ACTIONS)
        .chain(&[
            "shared_secret.revealed",
            "audit.exported",
            "login.succeeded",
            "login.failed",
        ])
        .copied()
        .collect();
    exact.sort_unstable();
    out.extend(exact.into_iter().map(|a| (a, a.to_owned())));
    out.into_iter()
        .map(|(value, label)| Choice {
            value: value.to_owned(),
            label,
            selected: value == current,
        })
        .collect()
}

fn changes_text(event: &AuditEvent) -> String {
    event
        .changes
        .iter()
        .map(|(field, change)| {
            let show = |v: &serde_json::Value| match v {
                serde_json::Value::Null => "—".to_owned(),
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let before = change.get("before").map(show).unwrap_or_default();
            let after = change.get("after").map(show).unwrap_or_default();
            format!("{field}: {before} → {after}")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

pub async fn audit(
    State(state): State<AppState>,
    signed: Signed,
    Query(f): Query<AuditFilters>,
) -> Response {
    let nav = signed.nav("audit");
    let api = Api::new(&state, signed.principal());
    let filters = query(&[
        ("team", f.team.clone()),
        ("action", f.action.clone()),
        ("actor", f.actor.clone()),
        ("actor_match", partial(&f.actor)),
        ("from", f.from.as_deref().and_then(forms::day_start)),
        ("to", f.to.as_deref().and_then(forms::day_end)),
        ("q", f.q.clone()),
    ]);
    let mut error = None;
    for (label, date) in [("From", &f.from), ("To", &f.to)] {
        if let Some(date) = date.as_deref().filter(|d| !d.trim().is_empty())
            && forms::day_start(date).is_none()
        {
            error = Some(format!("{label}: not a date such as 2030-01-31."));
        }
    }
    let day = |date: &Option<String>| date.as_deref().and_then(forms::day_start);
    if let (Some(from), Some(to)) = (day(&f.from), day(&f.to))
        && from > to
    {
        error = Some("From is after To, so no event can match: swap the two dates.".to_owned());
    }
    let cursor = query(&[("cursor", f.cursor.clone())]);
    let page = match api
        .get::<Page<AuditEvent>>(&format!("/v1/audit?limit=50&{filters}&{cursor}"))
        .await
    {
        Ok(page) => page,
        Err(failure) if failure.status == StatusCode::UNPROCESSABLE_ENTITY => {
            error = Some(failure.messages().join(" "));
            Page {
                data: Vec::new(),
                next_cursor: None,
            }
        }
        Err(failure) => return failure_page(Some(nav), &failure),
    };
    let team = f.team.clone().unwrap_or_default();
    let teams = if nav.members {
        api.get::<Page<TeamView>>("/v1/teams").await.ok().map(|p| {
            let mut choices = vec![Choice {
                value: String::new(),
                label: "All teams".to_owned(),
                selected: team.is_empty(),
            }];
            choices.extend(p.data.into_iter().map(|t| Choice {
                selected: t.name == team,
                value: t.name.clone(),
                label: t.name,
            }));
            choices
        })
    } else {
        None
    };
    let rows = page
        .data
        .iter()
        .map(|e| EventRow {
            when: time(e.occurred_at),
            actor: e.actor.name.clone(),
            team: e.team.clone().unwrap_or_default(),
            action: e.action.clone(),
            target: if e.target.name.is_empty() {
                e.target.id.clone()
            } else {
                e.target.name.clone()
            },
            changes: changes_text(e),
            ip: e.ip.clone().unwrap_or_default(),
        })
        .collect();
    render(&AuditPage {
        title: "Audit log".to_owned(),
        rows,
        actions: action_choices(f.action.as_deref().unwrap_or_default()),
        teams,
        team,
        actor: f.actor.clone().unwrap_or_default(),
        from: f.from.clone().unwrap_or_default(),
        to: f.to.clone().unwrap_or_default(),
        q: f.q.clone().unwrap_or_default(),
        csv: format!("/v1/audit/export?format=csv&{filters}"),
        jsonl: format!("/v1/audit/export?format=jsonl&{filters}"),
        filters: query(&[
            ("team", f.team.clone()),
            ("action", f.action.clone()),
            ("actor", f.actor.clone()),
            ("from", f.from.clone()),
            ("to", f.to.clone()),
            ("q", f.q.clone()),
        ]),
        email: state.settings.email.smtp.is_some(),
        emailed: f.emailed.clone(),
        next: page.next_cursor.map(|c| {
            let keep = query(&[
                ("team", f.team.clone()),
                ("action", f.action.clone()),
                ("actor", f.actor.clone()),
                ("from", f.from.clone()),
                ("to", f.to.clone()),
                ("q", f.q.clone()),
                ("cursor", Some(c)),
            ]);
            format!("/audit?{keep}")
        }),
        error,
        nav: Some(nav),
    })
}

#[derive(Debug, Deserialize)]
pub struct EmailForm {
    csrf: String,
    format: String,
    /// The page's filters, as the page's own query string.
    filters: String,
}

/// "Email me the export": queues the export of the page's events to the
/// signed-in member, then shows the page again saying so.
pub async fn email_export(
    State(state): State<AppState>,
    signed: Signed,
    axum::Form(input): axum::Form<EmailForm>,
) -> Result<Response, Response> {
    signed.check_csrf(&input.csrf)?;
    let nav = || Some(signed.nav("audit"));
    // The page wrote this field; anything it cannot have written is refused
    // rather than read as "no filters", which would mail the whole log.
    let f: AuditFilters = serde_urlencoded::from_str(&input.filters).map_err(|_| {
        error_page(
            nav(),
            StatusCode::BAD_REQUEST,
            "The page's filters cannot be read; apply them again.",
        )
    })?;
    let day = |label: &str, date: &Option<String>, end: bool| match date.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(date) => {
            let instant = if end {
                forms::day_end(date)
            } else {
                forms::day_start(date)
            };
            instant.map(Some).ok_or_else(|| {
                error_page(
                    nav(),
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &format!("{label}: not a date such as 2030-01-31."),
                )
            })
        }
    };
    let filters = query(&[
        ("team", f.team.clone()),
        ("action", f.action.clone()),
        ("actor", f.actor.clone()),
        ("actor_match", partial(&f.actor)),
        ("from", day("From", &f.from, false)?),
        ("to", day("To", &f.to, true)?),
        ("q", f.q.clone()),
    ]);
    let format = query(&[("format", Some(input.format))]);
    let api = Api::new(&state, signed.principal());
    let queued: serde_json::Value = api
        .send(
            axum::http::Method::POST,
            &format!("/v1/audit/export/email?{format}&{filters}"),
            &serde_json::json!({}),
        )
        .await
        .map_err(|failure| failure_page(Some(signed.nav("audit")), &failure))?;
    let back = query(&[
        ("team", f.team),
        ("action", f.action),
        ("actor", f.actor),
        ("from", f.from),
        ("to", f.to),
        ("q", f.q),
        ("emailed", queued["to"].as_str().map(str::to_owned)),
    ]);
    Ok(axum::response::Redirect::to(&format!("/audit?{back}")).into_response())
}

/// People type part of an address ("alice@"): the page matches actors by
/// any part of their name, where the API matches whole names by default.
fn partial(actor: &Option<String>) -> Option<String> {
    actor
        .as_deref()
        .filter(|a| !a.trim().is_empty())
        .map(|_| "partial".to_owned())
}

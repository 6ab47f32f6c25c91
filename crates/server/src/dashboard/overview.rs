//! The overview (`/overview`), where people who see every key land after
//! signing in: the organization's verifications over 30 days by outcome
//! (`GET /v1/usage`), its keys of the most use, keys never used or unused
//! for 30 or 90 days (with a confirmed bulk disable for those who may),
//! keys about to expire, recent revocations and leaks, and the last audit
//! events. Every figure comes from the API, as the signed-in member.

use super::client::{Api, Failure};
use super::forms::{Ago, query};
use super::{Nav, Signed, chart, failure_page, render};
use crate::api::usage::OrgUsage;
use crate::api::views::{KeyView, Page};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use keyward_core::audit::AuditEvent;
use keyward_core::model::KeyStatus;
use serde::Deserialize;

/// A key in one of the overview's lists.
struct KeyLine {
    id: String,
    name: String,
    /// When it matters for the list: last use, expiry, or nothing.
    when: Option<Ago>,
}

/// An audit event in one of the overview's lists.
struct EventLine {
    when: Ago,
    actor: String,
    action: String,
    target: String,
    target_id: String,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    nav: Option<Nav>,
    title: String,
    notice: Option<String>,
    chart: String,
    totals: Vec<(String, u64)>,
    top: Vec<(String, String, u64)>,
    never_used: Vec<KeyLine>,
    unused_days: i64,
    unused: Vec<KeyLine>,
    expiring: Vec<KeyLine>,
    revoked: Vec<EventLine>,
    recent: Vec<EventLine>,
    can_disable: bool,
}

#[derive(Debug, Default, Deserialize)]
pub struct OverviewQuery {
    #[serde(default)]
    unused: Option<String>,
    #[serde(default)]
    done: Option<String>,
    #[serde(default)]
    count: Option<String>,
    #[serde(default)]
    skipped: Option<String>,
}

/// How many keys each list shows.
const SHOWN: usize = 10;

pub async fn overview(
    State(state): State<AppState>,
    signed: Signed,
    Query(q): Query<OverviewQuery>,
) -> Response {
    // A `member` sees only their own keys: their landing page is the table.
    if signed.principal().own_keys_only() {
        return Redirect::to("/keys").into_response();
    }
    let nav = signed.nav("overview");
    let api = Api::new(&state, signed.principal());
    let now = state.clock.now();
    let unused_days = if q.unused.as_deref() == Some("90") {
        90
    } else {
        30
    };
    match gather(&api, &nav, now, unused_days).await {
        Ok(mut page) => {
            page.notice = notice(&q);
            page.can_disable = nav.write_keys;
            page.nav = Some(nav);
            render(&page)
        }
        Err(failure) => failure_page(Some(nav), &failure),
    }
}

async fn gather(
    api: &Api<'_>,
    nav: &Nav,
    now: DateTime<Utc>,
    unused_days: i64,
) -> Result<OverviewPage, Failure> {
    let usage: OrgUsage = api.get(&format!("/v1/usage?top={SHOWN}")).await?;
    let (chart, totals) = chart::usage_chart(&usage.data);
    let keys = |filters: Vec<(&'static str, String)>| async move {
        let mut pairs: Vec<(&str, Option<String>)> = vec![
            ("status", Some("active".to_owned())),
            ("limit", Some((SHOWN + 1).to_string())),
        ];
        pairs.extend(filters.into_iter().map(|(k, v)| (k, Some(v))));
        api.get::<Page<KeyView>>(&format!("/v1/keys?{}", query(&pairs)))
            .await
    };
    let never_used = keys(vec![("sort", "last_used_at".to_owned())])
        .await?
        .data
        .into_iter()
        .filter(|k| k.last_used_at.is_none())
        .take(SHOWN)
        .map(|k| line(k, None))
        .collect();
    let unused = keys(vec![
        ("sort", "last_used_at".to_owned()),
        ("last_used_before", stamp(now - Duration::days(unused_days))),
    ])
    .await?
    .data
    .into_iter()
    .take(SHOWN)
    .map(|k| {
        let when = k.last_used_at.map(|t| Ago::new(t, now));
        line(k, when)
    })
    .collect();
    let expiring = keys(vec![
        ("sort", "expires_at".to_owned()),
        ("expires_before", stamp(now + Duration::days(30))),
    ])
    .await?
    .data
    .into_iter()
    .take(SHOWN)
    .map(|k| {
        let when = k.expires_at.map(|t| Ago::new(t, now));
        line(k, when)
    })
    .collect();
    let (revoked, recent) = if nav.audit {
        let events = |action: &'static str| async move {
            api.get::<Page<AuditEvent>>(&format!("/v1/audit?limit={SHOWN}&action={action}"))
                .await
        };
        let mut revoked = events("key.revoked").await?.data;
        revoked.extend(events("key.leaked").await?.data);
        revoked.sort_by_key(|e| std::cmp::Reverse(e.seq));
        revoked.truncate(SHOWN);
        let recent = api
            .get::<Page<AuditEvent>>(&format!("/v1/audit?limit={SHOWN}"))
            .await?
            .data;
        (event_lines(revoked, now), event_lines(recent, now))
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(OverviewPage {
        nav: None,
        title: "Overview".to_owned(),
        notice: None,
        chart,
        totals,
        top: usage
            .top_keys
            .into_iter()
            .map(|k| (k.key_id, k.name, k.total))
            .collect(),
        never_used,
        unused_days,
        unused,
        expiring,
        revoked,
        recent,
        can_disable: false,
    })
}

fn line(key: KeyView, when: Option<Ago>) -> KeyLine {
    KeyLine {
        id: key.id,
        name: key.name,
        when,
    }
}

fn event_lines(events: Vec<AuditEvent>, now: DateTime<Utc>) -> Vec<EventLine> {
    events
        .into_iter()
        .map(|e| EventLine {
            when: Ago::new(e.occurred_at, now),
            actor: e.actor.name,
            action: e.action,
            target: if e.target.name.is_empty() {
                e.target.id.clone()
            } else {
                e.target.name
            },
            target_id: if e.target.kind == "key" {
                e.target.id
            } else {
                String::new()
            },
        })
        .collect()
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn notice(q: &OverviewQuery) -> Option<String> {
    match q.done.as_deref()? {
        "disabled" => {
            let n: usize = q.count.as_deref()?.parse().ok()?;
            let skipped: usize = q
                .skipped
                .as_deref()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let mut text = if n == 1 {
                "1 key was disabled.".to_owned()
            } else {
                format!("{n} keys were disabled.")
            };
            if skipped > 0 {
                text.push_str(&format!(
                    " {skipped} had changed since the page was shown and were left as they are."
                ));
            }
            Some(text)
        }
        _ => None,
    }
}

#[derive(Template)]
#[template(path = "overview_disable.html")]
struct DisablePage {
    nav: Option<Nav>,
    title: String,
    keys: Vec<KeyLine>,
}

#[derive(Debug, Default, Deserialize)]
pub struct DisableForm {
    csrf: String,
    #[serde(default)]
    keys: Vec<String>,
    #[serde(default)]
    confirm: Option<String>,
}

/// Disables the chosen unused keys: first a page that names them, then,
/// confirmed, each through the API (which decides what the role may do).
pub async fn disable(
    State(state): State<AppState>,
    signed: Signed,
    Form(input): Form<DisableForm>,
) -> Result<Response, Response> {
    signed.check_csrf(&input.csrf)?;
    let nav = signed.nav("overview");
    let api = Api::new(&state, signed.principal());
    // Each key once, as the API shows it to this member, and only if it is
    // still active: one revoked or disabled meanwhile is left out.
    let mut ids = input.keys.clone();
    ids.sort();
    ids.dedup();
    let mut keys = Vec::new();
    for id in ids.iter().take(100) {
        let uri = format!("/v1/keys/{}", super::forms::encode(id));
        match api.get::<KeyView>(&uri).await {
            Ok(key) if key.status == KeyStatus::Active => keys.push(line(key, None)),
            Ok(_) => {}
            Err(failure) if failure.status == StatusCode::NOT_FOUND => {}
            Err(failure) => return Err(failure_page(Some(nav), &failure)),
        }
    }
    if keys.is_empty() {
        return Ok(Redirect::to("/overview").into_response());
    }
    if input.confirm.is_none() {
        return Ok(render(&DisablePage {
            title: format!(
                "Disable {} unused {}?",
                keys.len(),
                if keys.len() == 1 { "key" } else { "keys" }
            ),
            keys,
            nav: Some(nav),
        }));
    }
    // A key that changed since the page was shown (revoked, archived, gone)
    // is counted and left as it is; a refusal of the role stops everything.
    let (mut disabled, mut skipped) = (0, 0);
    for key in &keys {
        let uri = format!("/v1/keys/{}/disable", super::forms::encode(&key.id));
        match api
            .send::<KeyView>(Method::POST, &uri, &serde_json::json!({}))
            .await
        {
            Ok(_) => disabled += 1,
            Err(failure)
                if matches!(
                    failure.status,
                    StatusCode::NOT_FOUND | StatusCode::CONFLICT | StatusCode::UNPROCESSABLE_ENTITY
                ) =>
            {
                skipped += 1;
            }
            Err(failure) => return Err(failure_page(Some(nav), &failure)),
        }
    }
    Ok(Redirect::to(&format!(
        "/overview?done=disabled&count={disabled}&skipped={skipped}"
    ))
    .into_response())
}

//! Dashboard tables as people read them: keys sorted by their headers both
//! ways, times said relative to now with the exact time kept for hover and
//! screen readers, and the audit log filtered by part of an address.

use crate::helpers::{spawn_app, start_time};
use chrono::Duration;
use serde_json::json;

const OWNER: &str = "owner@acme.example";
const OWNER_PASSWORD: &str = "correct horse battery staple";

/// The `href` of the header link whose text starts with `label`, unescaped.
fn header_link(html: &str, label: &str) -> String {
    let at = html
        .find(&format!("\">{label}"))
        .unwrap_or_else(|| panic!("no {label} header in {html}"));
    let start = html[..at].rfind("href=\"").unwrap() + 6;
    html[start..at].replace("&#x3d;", "=").replace("&amp;", "&")
}

/// The `aria-sort` of the header whose link text starts with `label`.
fn header_state(html: &str, label: &str) -> String {
    let at = html.find(&format!("\">{label}")).unwrap();
    let start = html[..at].rfind("aria-sort=\"").unwrap() + 11;
    let end = start + html[start..].find('"').unwrap();
    html[start..end].to_owned()
}

/// The names of the keys in the table, top to bottom.
fn names(html: &str, candidates: &[&str]) -> Vec<String> {
    let mut found: Vec<(usize, String)> = candidates
        .iter()
        .filter_map(|n| {
            html.find(&format!(">{n}</a>"))
                .map(|at| (at, (*n).to_owned()))
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, n)| n).collect()
}

#[tokio::test]
async fn headers_sort_both_ways_and_times_read_relative_to_now() {
    let app = spawn_app().await;
    let session = app.sign_in(OWNER, OWNER_PASSWORD).await;
    let project = app.create_project("Data", "dt", &["alpha", "zeta"]).await;
    let project = project["id"].as_str().unwrap();
    let older = app
        .create_key(json!({"name": "older", "project_id": project, "scopes": ["zeta:write"]}))
        .await;
    app.advance(Duration::minutes(2));
    app.create_key(json!({"name": "newer", "project_id": project, "scopes": ["alpha:read"]}))
        .await;
    let key = older["key"].as_str().unwrap();
    assert_eq!(app.verify_code(key).await, "VALID");
    app.wait_for_use(older["id"].as_str().unwrap(), start_time())
        .await;
    app.advance(Duration::minutes(3));
    let both = ["older", "newer"];

    // Newest first by default: the Created header says so and offers the
    // other direction.
    let (status, html) = app.page(&session, "/keys").await;
    assert_eq!(status, 200);
    assert_eq!(names(&html, &both), ["newer", "older"]);
    assert_eq!(header_state(&html, "Created"), "descending");
    assert_eq!(header_state(&html, "Role and access"), "none");
    let created_up = header_link(&html, "Created");
    assert_eq!(created_up, "/keys?sort=created_at");
    let (_, html) = app.page(&session, &created_up).await;
    assert_eq!(names(&html, &both), ["older", "newer"]);
    assert_eq!(header_state(&html, "Created"), "ascending");
    assert_eq!(header_link(&html, "Created"), "/keys?sort=-created_at");

    // Scope, one way then the other.
    let scope_up = header_link(&html, "Role and access");
    let (_, html) = app.page(&session, &scope_up).await;
    assert_eq!(names(&html, &both), ["newer", "older"], "alpha before zeta");
    assert_eq!(header_state(&html, "Role and access"), "ascending");
    let (_, html) = app
        .page(&session, &header_link(&html, "Role and access"))
        .await;
    assert_eq!(names(&html, &both), ["older", "newer"]);
    assert_eq!(header_state(&html, "Role and access"), "descending");

    // Last use, most recent first, then never used first.
    let (_, html) = app.page(&session, &header_link(&html, "Last used")).await;
    assert_eq!(header_state(&html, "Last used"), "descending");
    let (_, html) = app.page(&session, &header_link(&html, "Last used")).await;
    assert_eq!(header_state(&html, "Last used"), "ascending");
    assert_eq!(names(&html, &both), ["newer", "older"], "never used first");

    // Relative times, each with the exact time for hover and screen readers.
    let (_, html) = app.page(&session, "/keys").await;
    assert!(
        html.contains(">3 minutes ago<span class=\"visually-hidden\"> ("),
        "{html}"
    );
    assert!(
        html.contains(">5 minutes ago<span class=\"visually-hidden\"> ("),
        "{html}"
    );
    assert!(html.contains("<td>Never</td>"), "{html}");
    let exact = html.split("title=\"").nth(1).unwrap();
    assert!(
        exact.starts_with("2030-01-01 ") && exact[..25].contains(" UTC\""),
        "{exact}"
    );
}

#[tokio::test]
async fn the_audit_page_finds_actors_by_part_of_their_address() {
    let app = spawn_app().await;
    let session = app.sign_in(OWNER, OWNER_PASSWORD).await;
    let (status, html) = app.page(&session, "/audit?actor=OWNER%40").await;
    assert_eq!(status, 200);
    assert!(html.contains("<code>login.succeeded</code>"), "{html}");
    let (_, html) = app.page(&session, "/audit?actor=nobody%40").await;
    assert!(!html.contains("<code>login.succeeded</code>"), "{html}");
}

//! The overview, where people who see every key land: the organization's
//! use, keys never or long unused (disabled in bulk after a confirmation),
//! keys about to expire, revocations and the last audit events.

use crate::helpers::{TestApp, spawn_app, start_time};
use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{Value, json};

const OWNER: &str = "owner@acme.example";
const OWNER_PASSWORD: &str = "correct horse battery staple";

/// Waits until the key's last use is stored (usage is written behind).
async fn used(app: &TestApp, key: &Value) {
    app.wait_for_use(key["id"].as_str().unwrap(), start_time())
        .await;
}

/// The part of `html` under the heading `title`, up to the next section.
fn section<'a>(html: &'a str, title: &str) -> &'a str {
    let start = html
        .find(&format!(">{title}</h2>"))
        .unwrap_or_else(|| panic!("no {title} in {html}"));
    let rest = &html[start..];
    &rest[..rest.find("</section>").unwrap_or(rest.len())]
}

#[tokio::test]
async fn the_overview_shows_use_and_neglect_and_disables_unused_keys_once_confirmed() {
    let app = spawn_app().await;
    let stale = app.create_key(json!({"name": "stale"})).await;
    app.verify(json!({"key": stale["key"]})).await;
    used(&app, &stale).await;
    app.advance(Duration::days(40));
    let busy = app.create_key(json!({"name": "busy"})).await;
    for _ in 0..3 {
        app.verify(json!({"key": busy["key"]})).await;
    }
    used(&app, &busy).await;
    let busy_id = busy["id"].as_str().unwrap();
    crate::limits::wait_for_usage(&app, &format!("/v1/keys/{busy_id}/usage"), 3).await;
    app.create_key(json!({"name": "never"})).await;
    let expires_at = (crate::helpers::start_time() + Duration::days(50)).to_rfc3339();
    app.create_key(json!({"name": "soon", "expires_at": expires_at}))
        .await;
    let gone = app.create_key(json!({"name": "gone"})).await;
    let (status, _) = app
        .post(
            &format!("/v1/keys/{}/revoke", gone["id"].as_str().unwrap()),
            json!({"reason": "left the company"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Those who see every key land here.
    let owner = app.sign_in(OWNER, OWNER_PASSWORD).await;
    let (status, _) = app.page(&owner, "/").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let landing = app
        .browser()
        .get(format!("{}/", app.base))
        .header("cookie", &owner.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(landing.headers()["location"], "/overview");
    let (status, html) = app.page(&owner, "/overview").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("aria-current=\"page\">Overview</a>"),
        "{html}"
    );
    assert!(html.contains("<svg class=\"chart\""), "{html}");
    assert!(
        section(&html, "Most used").contains(">busy</a> <span class=\"muted\">3 verifications")
    );
    let never = section(&html, "Never used");
    assert!(
        never.contains(">never</a>") && !never.contains(">busy</a>"),
        "{never}"
    );
    let unused = section(&html, "Unused for more than 30 days");
    let stale_id = stale["id"].as_str().unwrap();
    assert!(
        unused.contains(&format!("value=\"{stale_id}\"> stale")),
        "{unused}"
    );
    assert!(
        unused.contains("last used <time") && !unused.contains("busy"),
        "{unused}"
    );
    let expiring = section(&html, "Expiring in the next 30 days");
    assert!(
        expiring.contains(">soon</a>") && expiring.contains("expires <time"),
        "{expiring}"
    );
    let revoked = section(&html, "Recently revoked or leaked");
    assert!(
        revoked.contains(">gone</a>") && revoked.contains("revoked by"),
        "{revoked}"
    );
    assert!(section(&html, "Last audit events").contains("<code>key.revoked</code>"));
    let (_, ninety) = app.page(&owner, "/overview?unused=90").await;
    assert!(section(&ninety, "Unused for more than 90 days").contains("No active key"));

    // Disabling in bulk names the keys first and changes nothing until confirmed.
    let post = |confirm: bool| {
        let mut form = vec![("csrf", owner.csrf.as_str()), ("keys", stale_id)];
        if confirm {
            form.push(("confirm", "1"));
        }
        app.browser()
            .post(format!("{}/overview/disable", app.base))
            .header("cookie", &owner.cookie)
            .form(&form)
            .send()
    };
    let asked = post(false).await.unwrap();
    assert_eq!(asked.status(), StatusCode::OK);
    let asked = asked.text().await.unwrap();
    assert!(
        asked.contains(">stale</a>") && asked.contains("Disable 1 key"),
        "{asked}"
    );
    assert!(asked.contains("<a href=\"/overview\">Cancel</a>"));
    let status_of = || async { app.get(&format!("/v1/keys/{stale_id}")).await.1["status"].clone() };
    assert_eq!(status_of().await, "active");
    let done = post(true).await.unwrap();
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        done.headers()["location"],
        "/overview?done=disabled&count=1&skipped=0"
    );
    assert_eq!(status_of().await, "disabled");
    let (_, html) = app
        .page(&owner, "/overview?done=disabled&count=1&skipped=0")
        .await;
    assert!(html.contains("1 key was disabled."));
    // Sent again (another tab, a reload), the key is no longer active:
    // nothing is asked and nothing changes.
    let again = post(false).await.unwrap();
    assert_eq!(again.headers()["location"], "/overview");
}

#[tokio::test]
async fn each_role_gets_the_overview_it_may_act_on() {
    let app = spawn_app().await;
    let old = app.create_key(json!({"name": "old"})).await;
    app.verify(json!({"key": old["key"]})).await;
    used(&app, &old).await;
    app.advance(Duration::days(40));
    let old_id = old["id"].as_str().unwrap();

    // Analytics sees the lists but no disable form, and a forged one is refused.
    let (_, analyst) = app.member("ana@acme.example", "analytics").await;
    let (status, html) = app.page(&analyst, "/overview").await;
    assert_eq!(status, StatusCode::OK);
    let unused = section(&html, "Unused for more than 30 days");
    assert!(
        unused.contains(">old</a>") && !unused.contains("<form"),
        "{unused}"
    );
    let forged = app
        .browser()
        .post(format!("{}/overview/disable", app.base))
        .header("cookie", &analyst.cookie)
        .form(&[
            ("csrf", analyst.csrf.as_str()),
            ("keys", old_id),
            ("confirm", "1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.get(&format!("/v1/keys/{old_id}")).await.1["status"],
        "active"
    );

    // A member sees only their own keys: their landing page is the table.
    let (_, member) = app.member("mo@acme.example", "member").await;
    for path in ["/", "/overview"] {
        let response = app
            .browser()
            .get(format!("{}{path}", app.base))
            .header("cookie", &member.cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["location"], "/keys", "{path}");
    }
    let (_, keys) = app.page(&member, "/keys").await;
    assert!(!keys.contains(">Overview</a>"));
}

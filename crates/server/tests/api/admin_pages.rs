//! The dashboard pages only owners and admins see: webhook endpoints (with
//! their delivery log, test and redelivery) and the key policy, driven as a
//! browser without JavaScript would: forms posted, redirects read.

use crate::helpers::{SignedIn, TestApp, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A server whose endpoints may be local, polling for deliveries often.
async fn app() -> TestApp {
    spawn_app_with(|s| {
        s.webhooks.allow_private = true;
        s.webhooks.poll_interval = Duration::from_millis(50);
    })
    .await
}

/// An endpoint on this machine that answers 204 and counts what it gets.
async fn receiver() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&hits);
    let router = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            async { axum::http::StatusCode::NO_CONTENT }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    (format!("http://127.0.0.1:{port}/hook"), hits)
}

/// `GET path` as the member: the status and the page.
pub(crate) async fn page(app: &TestApp, session: &SignedIn, path: &str) -> (StatusCode, String) {
    app.page(session, path).await
}

/// Posts a form as the member (with their CSRF token); the response, its
/// redirect not followed.
pub(crate) async fn submit(
    app: &TestApp,
    session: &SignedIn,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![("csrf", session.csrf.as_str())];
    form.extend_from_slice(fields);
    app.browser()
        .post(format!("{}{path}", app.base))
        .header("cookie", &session.cookie)
        .form(&form)
        .send()
        .await
        .unwrap()
}

pub(crate) fn location(response: &reqwest::Response) -> String {
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// The endpoint's deliveries, through the API.
async fn deliveries(app: &TestApp, id: &str) -> Vec<Value> {
    let (status, page) = app.get(&format!("/v1/webhooks/{id}/deliveries")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["data"].as_array().unwrap().clone()
}

/// Waits until every delivery of the endpoint has succeeded; returns them.
async fn all_delivered(app: &TestApp, id: &str, count: usize) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let list = deliveries(app, id).await;
        if list.len() == count && list.iter().all(|d| d["status"] == "succeeded") {
            return list;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "not delivered: {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_admin_adds_tests_changes_and_deletes_an_endpoint_through_the_forms() {
    let app = app().await;
    let (url, hits) = receiver().await;
    let (_, admin) = app.member("ada@acme.example", "admin").await;
    let (_, keys) = page(&app, &admin, "/keys").await;
    assert!(keys.contains("href=\"/webhooks\"") && keys.contains("href=\"/policy\""));
    let (status, list) = page(&app, &admin, "/webhooks").await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.contains("No endpoints."), "{list}");
    assert!(!list.contains("<script>") && !list.contains("style="));

    // Field errors come back next to what was typed.
    let none = submit(&app, &admin, "/webhooks", &[("url", &url)]).await;
    assert_eq!(none.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = none.text().await.unwrap();
    assert!(html.contains("Choose at least one event") && html.contains(&url));
    let bad_url = submit(
        &app,
        &admin,
        "/webhooks",
        &[
            ("url", "ftp://hooks.example.com/in"),
            ("description", "Billing sync"),
            ("events", "key.created"),
        ],
    )
    .await;
    assert_eq!(bad_url.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = bad_url.text().await.unwrap();
    // At the field, named as its label names it, and linked from the summary.
    assert!(
        html.contains("<a href=\"#url\">URL: must be an https URL"),
        "{html}"
    );
    assert!(html.contains("aria-describedby=\"url-error\">"));
    assert!(html.contains("<p class=\"field-error\" id=\"url-error\">must be an https URL"));
    assert!(html.contains("value=\"Billing sync\""));
    assert!(html.contains("value=\"key.created\" checked"));

    let created = submit(
        &app,
        &admin,
        "/webhooks",
        &[
            ("url", &url),
            ("description", "Billing sync"),
            ("events", "key.created"),
            ("events", "key.revoked"),
        ],
    )
    .await;
    let to = location(&created);
    let id = to
        .strip_prefix("/webhooks/")
        .and_then(|rest| rest.strip_suffix("?done=created"))
        .unwrap()
        .to_owned();
    let (_, endpoint) = app.get(&format!("/v1/webhooks/{id}")).await;
    assert_eq!(endpoint["events"], json!(["key.created", "key.revoked"]));
    assert_eq!(endpoint["description"], "Billing sync");
    let (_, list) = page(&app, &admin, "/webhooks").await;
    assert!(list.contains("key.created, key.revoked") && list.contains("Enabled"));

    // A test event, then the same message again; the log shows both.
    let tested = submit(&app, &admin, &format!("/webhooks/{id}/test"), &[]).await;
    assert_eq!(location(&tested), format!("/webhooks/{id}?done=test"));
    let first = all_delivered(&app, &id, 1).await;
    assert_eq!(first[0]["event_type"], "webhook.test");
    let (_, html) = page(&app, &admin, &format!("/webhooks/{id}")).await;
    let log = html.split("Delivery log").nth(1).unwrap();
    assert!(
        log.contains("webhook.test") && log.contains("Succeeded"),
        "{log}"
    );
    assert!(
        log.contains("<td>204</td>") && log.contains(" ms</td>"),
        "{log}"
    );
    let delivery = first[0]["id"].as_str().unwrap();
    let again = submit(
        &app,
        &admin,
        &format!("/webhooks/{id}/deliveries/{delivery}/redeliver"),
        &[],
    )
    .await;
    assert_eq!(location(&again), format!("/webhooks/{id}?done=redelivered"));
    let both = all_delivered(&app, &id, 2).await;
    assert_eq!(both[0]["message_id"], both[1]["message_id"]);
    assert_eq!(hits.load(Ordering::SeqCst), 2);

    // Changing it: "All events" wins over any box checked with it.
    let saved = submit(
        &app,
        &admin,
        &format!("/webhooks/{id}"),
        &[
            ("url", &url),
            ("description", "Billing"),
            ("events", "*"),
            ("events", "key.created"),
        ],
    )
    .await;
    assert_eq!(location(&saved), format!("/webhooks/{id}?done=saved"));
    let (_, endpoint) = app.get(&format!("/v1/webhooks/{id}")).await;
    assert_eq!(endpoint["events"], json!(["*"]));
    assert_eq!(endpoint["description"], "Billing");

    // Disabled, it offers Enable and no test; enabled again, both come back.
    let disabled = submit(&app, &admin, &format!("/webhooks/{id}/disable"), &[]).await;
    assert_eq!(location(&disabled), format!("/webhooks/{id}?done=disabled"));
    let (_, endpoint) = app.get(&format!("/v1/webhooks/{id}")).await;
    assert_eq!(endpoint["enabled"], false);
    let (_, html) = page(&app, &admin, &format!("/webhooks/{id}")).await;
    assert!(html.contains(&format!("action=\"/webhooks/{id}/enable\"")));
    assert!(!html.contains(&format!("action=\"/webhooks/{id}/test\"")));
    let enabled = submit(&app, &admin, &format!("/webhooks/{id}/enable"), &[]).await;
    assert_eq!(location(&enabled), format!("/webhooks/{id}?done=enabled"));
    let (_, endpoint) = app.get(&format!("/v1/webhooks/{id}")).await;
    assert_eq!(endpoint["enabled"], true);

    // Deleting asks first, names the endpoint, and offers a way back.
    let (status, confirm) = page(&app, &admin, &format!("/webhooks/{id}/delete")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(confirm.contains(&url) && confirm.contains("All events"));
    assert!(confirm.contains(&format!("<a href=\"/webhooks/{id}\">Cancel</a>")));
    let (_, endpoint) = app.get(&format!("/v1/webhooks/{id}")).await;
    assert_eq!(
        endpoint["id"],
        id.as_str(),
        "showing the page deletes nothing"
    );
    let deleted = submit(&app, &admin, &format!("/webhooks/{id}/delete"), &[]).await;
    assert_eq!(location(&deleted), "/webhooks?done=deleted");
    let (status, _) = app.get(&format!("/v1/webhooks/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, events) = app.get("/v1/audit?action=webhook.deleted").await;
    assert_eq!(events["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_policy_form_saves_and_names_what_it_refuses() {
    let app = app().await;
    let (_, admin) = app.member("ada@acme.example", "admin").await;
    let (status, html) = page(&app, &admin, "/policy").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("value=\"7, 1\""), "{html}");
    assert!(html.contains("<option value=\"revoke\" selected>"));

    let saved = submit(
        &app,
        &admin,
        "/policy",
        &[
            ("max_key_lifetime_days", "90"),
            ("expiry_notice_days", "1, 30 7"),
            ("stale_after_days", "180"),
            ("disable_stale_keys", "on"),
            ("leak_action", "disable"),
        ],
    )
    .await;
    assert_eq!(location(&saved), "/policy?saved=1");
    let expected = json!({
        "max_key_lifetime_days": 90,
        "expiry_notice_days": [30, 7, 1],
        "stale_after_days": 180,
        "disable_stale_keys": true,
        "leak_action": "disable",
    });
    assert_eq!(app.get("/v1/policy").await.1, expected);
    let (_, html) = page(&app, &admin, "/policy?saved=1").await;
    assert!(html.contains("The key policy was saved."));
    assert!(html.contains("value=\"90\"") && html.contains("value=\"30, 7, 1\""));
    assert!(html.contains("value=\"on\" checked"));
    assert!(html.contains("<option value=\"disable\" selected>"));

    // Refused, the form keeps what was typed and nothing changes.
    let no_threshold = submit(
        &app,
        &admin,
        "/policy",
        &[
            ("expiry_notice_days", "14"),
            ("stale_after_days", ""),
            ("disable_stale_keys", "on"),
            ("leak_action", "notify"),
        ],
    )
    .await;
    assert_eq!(no_threshold.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = no_threshold.text().await.unwrap();
    assert!(
        html.contains("Disable stale keys: needs stale_after_days"),
        "{html}"
    );
    assert!(html.contains("value=\"14\"") && html.contains("<option value=\"notify\" selected>"));
    let words = submit(
        &app,
        &admin,
        "/policy",
        &[("expiry_notice_days", "7, soon"), ("leak_action", "revoke")],
    )
    .await;
    assert_eq!(words.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = words.text().await.unwrap();
    assert!(
        html.contains("Expiry notice days: write whole numbers"),
        "{html}"
    );
    assert_eq!(app.get("/v1/policy").await.1, expected);

    // Empty fields mean no limit, no notices, never stale.
    let cleared = submit(&app, &admin, "/policy", &[("leak_action", "revoke")]).await;
    assert_eq!(location(&cleared), "/policy?saved=1");
    let (_, policy) = app.get("/v1/policy").await;
    assert_eq!(policy["max_key_lifetime_days"], Value::Null);
    assert_eq!(policy["stale_after_days"], Value::Null);
    assert_eq!(policy["expiry_notice_days"], json!([]));
    assert_eq!(policy["disable_stale_keys"], false);
    let (_, events) = app.get("/v1/audit?action=policy.updated").await;
    assert_eq!(events["data"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn support_and_analytics_members_get_neither_page_nor_form() {
    let app = app().await;
    let (status, endpoint) = app
        .post(
            "/v1/webhooks",
            json!({"url": "http://127.0.0.1:9/hook", "events": ["*"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{endpoint}");
    let id = endpoint["id"].as_str().unwrap();
    let (_, policy) = app.get("/v1/policy").await;
    for role in ["support", "analytics"] {
        let (_, session) = app.member(&format!("{role}@acme.example"), role).await;
        let (_, keys) = page(&app, &session, "/keys").await;
        assert!(
            !keys.contains("href=\"/webhooks\"") && !keys.contains("href=\"/policy\""),
            "{role} is offered the pages"
        );
        for path in [
            "/webhooks".to_owned(),
            "/policy".to_owned(),
            format!("/webhooks/{id}"),
            format!("/webhooks/{id}/delete"),
        ] {
            let (status, html) = page(&app, &session, &path).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{role} {path}");
            assert!(
                !html.contains("127.0.0.1:9"),
                "{role} {path} shows the endpoint"
            );
        }
        // Posting the forms anyway is refused by the API, and changes nothing.
        let posts: [(String, Vec<(&str, &str)>); 6] = [
            (
                "/webhooks".to_owned(),
                vec![("url", "http://127.0.0.1:9/other"), ("events", "*")],
            ),
            (
                format!("/webhooks/{id}"),
                vec![("url", "http://127.0.0.1:9/moved"), ("events", "*")],
            ),
            (format!("/webhooks/{id}/disable"), vec![]),
            (format!("/webhooks/{id}/test"), vec![]),
            (format!("/webhooks/{id}/delete"), vec![]),
            (
                "/policy".to_owned(),
                vec![("max_key_lifetime_days", "1"), ("leak_action", "notify")],
            ),
        ];
        for (path, fields) in &posts {
            let response = submit(&app, &session, path, fields).await;
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{role} {path}");
        }
    }
    let (_, list) = app.get("/v1/webhooks").await;
    assert_eq!(list["data"], json!([endpoint]));
    assert!(deliveries(&app, id).await.is_empty());
    assert_eq!(app.get("/v1/policy").await.1, policy);
}

#[tokio::test]
async fn removing_an_api_that_keys_use_names_them_and_asks_first() {
    let app = app().await;
    let (_, admin) = app.member("ada@acme.example", "admin").await;
    let project = app
        .create_project("Data", "dt", &["billing", "reports"])
        .await;
    let id = project["id"].as_str().unwrap();
    let billing = app
        .create_key(json!({"name": "Billing sync", "project_id": id, "scopes": ["billing:write"]}))
        .await;
    app.create_key(json!({"name": "Reports only", "project_id": id, "scopes": ["reports:read"]}))
        .await;
    let path = format!("/projects/{id}");
    let save = |apis: &'static str, confirm: bool| {
        let mut form = vec![("name", "Data"), ("key_prefix", "dt"), ("apis", apis)];
        if confirm {
            form.push(("confirm_removal", "1"));
        }
        let (app, admin, path) = (&app, &admin, path.clone());
        async move { submit(app, admin, &path, &form).await }
    };
    let catalog = || async { app.get(&format!("/v1/projects/{id}")).await.1["apis"].clone() };

    // Taking billing out: the page names the key that uses it, says what
    // happens to its access, and saves nothing yet.
    let warned = save("reports", false).await;
    assert_eq!(warned.status(), StatusCode::OK);
    let html = warned.text().await.unwrap();
    assert!(html.contains("Removing <strong>billing</strong>"), "{html}");
    assert!(html.contains(&format!(
        "<a href=\"/keys/{}\">Billing sync</a>",
        billing["id"].as_str().unwrap()
    )));
    assert!(!html.contains("Reports only"), "{html}");
    assert!(html.contains("Their access does not change"));
    assert!(
        html.contains("Remove anyway") && html.contains(&format!("href=\"/projects/{id}\">Cancel"))
    );
    assert_eq!(catalog().await, json!(["billing", "reports"]));

    // Confirmed, it is saved; the key keeps its scope and still verifies.
    let saved = save("reports", true).await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    assert_eq!(catalog().await, json!(["reports"]));
    let body = json!({"key": billing["key"], "scopes": ["billing:write"]});
    assert_eq!(app.verify(body).await["code"], "VALID");

    // An API no key names goes without a question.
    let added = save("reports\nexports", false).await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    let removed = save("reports", false).await;
    assert_eq!(removed.status(), StatusCode::SEE_OTHER);
    assert_eq!(catalog().await, json!(["reports"]));
}

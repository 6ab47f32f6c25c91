//! The dashboard defects reported in Chromium, each replayed as people met
//! them, by role and by what the page says: what is shown once and done once,
//! confirmations with a way back, errors at their fields, dates as chosen,
//! sorting and relative times, the audit search, catalog changes that keys
//! depend on, and refusals that name the member's role.

use crate::browser::Browser;
use crate::dashboard::{OWNER_PASSWORD, add_member, create_key, first_sign_in, sign_in, sign_out};
use crate::support::Server;
use serde_json::{Value, json};

/// A call to the API with the organization's root key.
async fn api(
    base: &str,
    root_key: &str,
    method: reqwest::Method,
    path: &str,
    body: Value,
) -> Value {
    reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .bearer_auth(root_key)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn events(base: &str, root_key: &str, action: &str) -> usize {
    let page = api(
        base,
        root_key,
        reqwest::Method::GET,
        &format!("/v1/audit?action={action}"),
        Value::Null,
    )
    .await;
    page["data"].as_array().unwrap().len()
}

/// The value of `attribute` on the element `css`.
async fn attribute(browser: &Browser, css: &str, attribute: &str) -> Option<String> {
    browser
        .client
        .find(fantoccini::Locator::Css(css))
        .await
        .unwrap()
        .attr(attribute)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_owner_meets_none_of_the_reported_defects() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let org = crate::support::create_org(dir.path(), "Acme", Some(OWNER_PASSWORD));
    let owner_email = org["owner_email"].as_str().unwrap().to_owned();
    let root_key = org["root_key"].as_str().unwrap().to_owned();
    let server = Server::start(dir.path(), &[]);
    let base = server.base.clone();
    sign_in(&browser, &base, &owner_email, OWNER_PASSWORD).await;
    assert_eq!(browser.path().await, "/overview");

    // 6: errors stand at their fields, named as the labels name them.
    browser.goto(&format!("{base}/keys/new")).await;
    browser.fill("#name", "Checkout").await;
    browser
        .fill("#allowed_ips", "10.0.0.0/8\nnot an address")
        .await;
    browser
        .submit("form[action='/keys/new'] button[type=submit]")
        .await;
    assert_eq!(
        attribute(&browser, "#allowed_ips", "aria-invalid")
            .await
            .as_deref(),
        Some("true")
    );
    let said = browser.text("#allowed_ips-error").await;
    assert!(said.starts_with("Line 2:"), "{said}");
    let summary = browser.text("#error-summary").await;
    assert!(summary.contains("Allowed IPs: Line 2:"), "{summary}");
    assert!(!summary.contains("Allowed ips"), "{summary}");
    browser.click("#error-summary a[href='#allowed_ips']").await;

    // 10: an expiry date reads back as the day chosen.
    browser.fill("#allowed_ips", "10.0.0.0/8").await;
    browser.select("#expiry", "date").await;
    browser
        .client
        .execute(
            "document.querySelector('#expiry_date').value = '2031-03-31';",
            vec![],
        )
        .await
        .unwrap();
    browser
        .submit("form[action='/keys/new'] button[type=submit]")
        .await;
    let created = browser.path().await;
    let key_id = created
        .strip_prefix("/keys/")
        .and_then(|p| p.strip_suffix("/created"))
        .unwrap_or_else(|| panic!("not created: {created}"))
        .to_owned();
    browser.goto(&format!("{base}/keys/{key_id}")).await;
    let details = browser.page().await;
    assert!(
        details.contains("2031-03-31") && !details.contains("2031-04-01"),
        "{details}"
    );

    // 4: a publishable key gets no secret-key warning.
    browser.goto(&format!("{base}/keys/new")).await;
    browser.fill("#name", "Widget").await;
    browser
        .click("input[name=key_type][value=publishable]")
        .await;
    browser
        .submit("form[action='/keys/new'] button[type=submit]")
        .await;
    let page = browser.page().await;
    assert!(page.contains("publishable key was created"), "{page}");
    assert!(!page.contains("will not be shown again") && !page.contains("If it was not copied"));

    // 2: regenerating is confirmed, and Cancel goes back.
    browser
        .goto(&format!("{base}/keys/{key_id}/regenerate"))
        .await;
    browser.submit("main a[href^='/keys/']").await;
    assert_eq!(browser.path().await, format!("/keys/{key_id}"));

    // 1 and 2: rotating the shared secret is confirmed with the password,
    // apart from Reveal, and reloading the result rotates nothing more.
    browser.goto(&format!("{base}/shared-secret")).await;
    browser.submit("a[href='/shared-secret/rotate']").await;
    browser.fill("#password", OWNER_PASSWORD).await;
    browser
        .submit("form[action='/shared-secret/rotate'] button[type=submit]")
        .await;
    let shown = browser.path().await;
    assert!(shown.starts_with("/shared-secret?done="), "{shown}");
    browser.goto(&format!("{base}{shown}")).await;
    assert_eq!(events(&base, &root_key, "shared_secret.rotated").await, 1);

    // 13: the table sorts by its headers and says times relative to now.
    browser.goto(&format!("{base}/keys")).await;
    assert_eq!(
        attribute(&browser, "th[aria-sort='descending'] a", "href")
            .await
            .as_deref(),
        Some("/keys?sort=created_at")
    );
    browser.submit("th[aria-sort='descending'] a").await;
    assert_eq!(browser.path().await, "/keys?sort=created_at");
    let table = browser.text("table.keys").await;
    assert!(
        table.contains("just now") && table.contains("Never"),
        "{table}"
    );
    assert!(
        table.find("Checkout") < table.find("Widget"),
        "oldest first: {table}"
    );

    // 11: taking an API out of a catalog that a key uses asks first.
    let project = api(
        &base,
        &root_key,
        reqwest::Method::POST,
        "/v1/projects",
        json!({"name": "Billing", "key_prefix": "bill", "apis": ["invoices", "reports"]}),
    )
    .await;
    let project_id = project["id"].as_str().unwrap();
    api(
        &base,
        &root_key,
        reqwest::Method::POST,
        "/v1/keys",
        json!({"name": "Invoice sync", "project_id": project_id, "scopes": ["invoices:write"]}),
    )
    .await;
    browser.goto(&format!("{base}/projects/{project_id}")).await;
    browser.fill("#apis", "reports").await;
    browser
        .submit(&format!(
            "form[action='/projects/{project_id}'] button[type=submit]"
        ))
        .await;
    let warning = browser.text("[role=alert]").await;
    assert!(
        warning.contains("Removing invoices") && warning.contains("Invoice sync"),
        "{warning}"
    );
    browser.submit("button.danger").await;
    assert_eq!(
        browser.path().await,
        format!("/projects/{project_id}?saved=1")
    );

    // 9: the audit log finds a revocation by its reason and an actor by part
    // of an address, and says when a period ends before it starts.
    let gone = create_key(&browser, &base, "Laptop key").await.0;
    api(
        &base,
        &root_key,
        reqwest::Method::POST,
        &format!("/v1/keys/{gone}/revoke"),
        json!({"reason": "laptop stolen at the airport"}),
    )
    .await;
    browser.goto(&format!("{base}/audit")).await;
    browser.fill("#q", "airport").await;
    browser.submit("form.filters button[type=submit]").await;
    let found = browser.text("main table").await;
    assert!(
        found.contains("key.revoked") && found.contains("Laptop key"),
        "{found}"
    );
    browser.goto(&format!("{base}/audit?actor=OWNER%40")).await;
    assert!(browser.text("main table").await.contains("key.created"));
    browser
        .goto(&format!("{base}/audit?from=2031-02-01&to=2031-01-01"))
        .await;
    let said = browser.text("[role=alert]").await;
    assert!(said.contains("From is after To"), "{said}");

    browser.client.clone().close().await.unwrap();
    drop(browser);
    server.terminate();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_support_member_is_told_their_role_and_offered_only_what_it_may_do() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let org = crate::support::create_org(dir.path(), "Acme", Some(OWNER_PASSWORD));
    let owner_email = org["owner_email"].as_str().unwrap().to_owned();
    let server = Server::start(dir.path(), &[]);
    let base = server.base.clone();
    sign_in(&browser, &base, &owner_email, OWNER_PASSWORD).await;
    let (key_id, _) = create_key(&browser, &base, "Shared key").await;
    let temporary = add_member(&browser, &base, "sam@acme.example", "support").await;
    sign_out(&browser).await;

    // 7: support sees the key but no Archive; 5: reached directly, the
    // refusal names the role and what it may not do, not root key scopes.
    first_sign_in(
        &browser,
        &base,
        "sam@acme.example",
        &temporary,
        "sam's own long password",
    )
    .await;
    browser.goto(&format!("{base}/keys/{key_id}")).await;
    assert!(
        !browser
            .has(&format!("a[href='/keys/{key_id}/archive']"))
            .await
    );
    browser.goto(&format!("{base}/keys/{key_id}/archive")).await;
    let refused = browser.page().await;
    assert!(refused.contains("Your role (support) may not"), "{refused}");
    assert!(
        !refused.contains("root key") && !refused.contains("keys:write"),
        "{refused}"
    );
    // The overview is theirs too: support sees every key.
    browser.goto(&format!("{base}/")).await;
    assert_eq!(browser.path().await, "/overview");
    browser.check_page().await;

    browser.client.clone().close().await.unwrap();
    drop(browser);
    server.terminate();
}

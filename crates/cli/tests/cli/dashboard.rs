//! The dashboard in a real browser against the real binary: the first-run
//! link, an owner's whole journey with a key (and a webhook endpoint and
//! the key policy), and what the `member` and `analytics` roles may see and do.

use crate::browser::Browser;
use crate::support::{Server, eventually};
use serde_json::{Value, json};
use std::time::Duration;

pub(crate) const OWNER_PASSWORD: &str = "correct horse battery staple";

async fn verify(http: &reqwest::Client, base: &str, key: &str, scopes: &[&str]) -> Value {
    http.post(format!("{base}/v1/verify"))
        .json(&json!({"key": key, "scopes": scopes}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The setup link `keyward serve` printed.
fn setup_link(server: &Server) -> String {
    let started = std::time::Instant::now();
    loop {
        let log = server.log.lock().unwrap().clone();
        if let Some(line) = log.lines().find(|l| l.contains("/setup?token=")) {
            let start = line.find("http://").unwrap();
            let link = line[start..].split_whitespace().next().unwrap();
            return link.to_owned();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no setup link:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub(crate) async fn sign_in(browser: &Browser, base: &str, email: &str, password: &str) {
    browser.goto(&format!("{base}/login")).await;
    browser.fill("#email", email).await;
    browser.fill("#password", password).await;
    browser.submit("main form button[type=submit]").await;
}

pub(crate) async fn sign_out(browser: &Browser) {
    browser.submit("header form button[type=submit]").await;
}

/// Signs in with a temporary password and replaces it, as the dashboard demands.
pub(crate) async fn first_sign_in(
    browser: &Browser,
    base: &str,
    email: &str,
    temporary: &str,
    new: &str,
) {
    sign_in(browser, base, email, temporary).await;
    assert_eq!(
        browser.path().await,
        "/account/password",
        "{}",
        browser.page().await
    );
    // Every other page sends them back here until the password is changed.
    browser.goto(&format!("{base}/keys")).await;
    assert_eq!(browser.path().await, "/account/password");
    browser.fill("#current", temporary).await;
    browser.fill("#password", new).await;
    browser.fill("#password_again", new).await;
    browser.submit("main form button[type=submit]").await;
    assert_eq!(browser.path().await, "/keys?done=password");
}

/// Adds a member on the members page; returns the temporary password shown once.
pub(crate) async fn add_member(browser: &Browser, base: &str, email: &str, role: &str) -> String {
    browser.goto(&format!("{base}/members")).await;
    browser.fill("#email", email).await;
    browser.select("#role", role).await;
    browser
        .submit("form[action='/members'] button[type=submit]")
        .await;
    browser.text("#temporary-password").await
}

/// Creates a key in the first project with the form's defaults; returns its
/// id and the key shown once.
pub(crate) async fn create_key(browser: &Browser, base: &str, name: &str) -> (String, String) {
    browser.goto(&format!("{base}/keys/new")).await;
    browser.fill("#name", name).await;
    browser
        .submit("form[method=post][action='/keys/new'] button[type=submit]")
        .await;
    let path = browser.path().await;
    assert!(path.ends_with("/created"), "{}", browser.page().await);
    let id = path
        .strip_prefix("/keys/")
        .and_then(|p| p.strip_suffix("/created"))
        .unwrap_or_else(|| panic!("not on a created page: {path}"))
        .to_owned();
    let id = id.to_owned();
    (id, browser.text("#new-key").await)
}

/// Adds a webhook endpoint for revoked keys and sends it a test event;
/// returns the endpoint's page.
async fn add_webhook(browser: &Browser, base: &str) -> String {
    browser.goto(&format!("{base}/webhooks")).await;
    // Nothing listens on port 9: the test's delivery fails and is retried.
    browser.fill("#url", "http://127.0.0.1:9/keyward").await;
    browser.fill("#description", "Billing sync").await;
    browser
        .click("input[name=events][value='key.revoked']")
        .await;
    browser
        .submit("form[action='/webhooks'] button[type=submit]")
        .await;
    let created = browser.path().await;
    let page = created.trim_end_matches("?done=created").to_owned();
    assert!(page.starts_with("/webhooks/wh_"), "{created}");
    assert!(browser.page().await.contains("The endpoint was added"));
    browser.submit("form[action$='/test'] button").await;
    assert_eq!(browser.path().await, format!("{page}?done=test"));
    let log = browser.text("table.deliveries").await;
    assert!(log.contains("webhook.test"), "{log}");
    browser.goto(&format!("{base}/webhooks")).await;
    let list = browser.text("table.webhooks").await;
    assert!(
        list.contains("127.0.0.1:9/keyward") && list.contains("key.revoked"),
        "{list}"
    );
    page
}

/// Saves a key policy through its form and checks it through the API.
async fn save_policy(browser: &Browser, http: &reqwest::Client, base: &str, root_key: &str) {
    browser.goto(&format!("{base}/policy")).await;
    browser.fill("#max_key_lifetime_days", "365").await;
    browser.fill("#expiry_notice_days", "30, 7, 1").await;
    browser.fill("#stale_after_days", "90").await;
    browser.click("#disable_stale_keys").await;
    browser.select("#leak_action", "disable").await;
    browser
        .submit("form[action='/policy'] button[type=submit]")
        .await;
    assert_eq!(browser.path().await, "/policy?saved=1");
    let policy: Value = http
        .get(format!("{base}/v1/policy"))
        .bearer_auth(root_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        policy,
        json!({"max_key_lifetime_days": 365, "expiry_notice_days": [30, 7, 1],
               "stale_after_days": 90, "disable_stale_keys": true, "leak_action": "disable"})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_owner_sets_up_creates_rotates_revokes_and_audits_a_key_in_the_browser() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Webhook endpoints on this machine are allowed (the one below is).
    // Usage written at every flush, so that the key's chart has its bars
    // a second after the verifications.
    let server = Server::start(
        dir.path(),
        &["--webhook-allow-private", "--usage-resolution-ms", "0"],
    );
    let base = server.base.clone();
    let http = reqwest::Client::new();

    // First run: the printed link creates the organization and its owner.
    let link = setup_link(&server);
    browser.goto(&link).await;
    browser.screenshot("setup").await;
    browser.fill("#org_name", "Acme").await;
    browser.fill("#email", "owner@acme.example").await;
    browser.fill("#password", OWNER_PASSWORD).await;
    browser.fill("#password_again", OWNER_PASSWORD).await;
    browser.submit("main form button[type=submit]").await;
    // The first root key is shown once, explained as an organization-wide
    // `*` key.
    let root_key = browser.text("#new-key").await;
    assert!(root_key.starts_with("kwroot_sk_"), "{root_key}");
    assert!(
        browser
            .page()
            .await
            .contains("first root key has the scope *"),
        "the first root key is not explained"
    );
    // The link worked once.
    browser.goto(&link).await;
    assert!(browser.page().await.contains("not valid"));

    // A project with an API catalog.
    browser.goto(&format!("{base}/projects")).await;
    browser.fill("#name", "Shop").await;
    browser.fill("#key_prefix", "shop").await;
    browser.fill("#apis", "data push segmentation").await;
    browser
        .submit("form[action='/projects'] button[type=submit]")
        .await;
    assert!(browser.path().await.starts_with("/projects/proj_"));
    let project_id = browser
        .path()
        .await
        .trim_start_matches("/projects/")
        .to_owned();
    browser.screenshot("projects").await;

    // A key with Partial access: two APIs of three, expiring in 90 days.
    // Choosing its project loads that project's APIs, keeping the name.
    browser.goto(&format!("{base}/keys/new")).await;
    browser.fill("#name", "Checkout").await;
    assert!(!browser.has("input[name=apis][value=segmentation]").await);
    browser.choose_and_wait("#project_id", &project_id).await;
    assert_eq!(
        browser.path().await,
        format!("/keys/new?project_id={project_id}&name=Checkout")
    );
    assert!(browser.has("input[name=apis][value=segmentation]").await);
    browser.fill("#name", "Checkout").await;
    browser.fill("#description", "Payments service").await;
    browser.click("input[name=apis][value=segmentation]").await;
    browser.select("#expiry", "90").await;
    browser.screenshot("key-new").await;
    browser
        .submit("form[method=post][action='/keys/new'] button[type=submit]")
        .await;
    let created_path = browser.path().await;
    let key_id = created_path
        .trim_start_matches("/keys/")
        .trim_end_matches("/created")
        .to_owned();
    assert!(browser.page().await.contains("will not be shown again"));
    let key = browser.text("#new-key").await;
    assert!(key.starts_with("shop_sk_"), "{key}");
    browser.screenshot("key-created").await;
    // Reloading or going back never shows it again.
    browser.client.refresh().await.unwrap();
    assert!(!browser.has("#new-key").await);
    assert!(!browser.page().await.contains(&key));

    // The key verifies through the API, within its scopes only.
    assert_eq!(
        verify(&http, &base, &key, &["push:write"]).await["code"],
        "VALID"
    );
    assert_eq!(
        verify(&http, &base, &key, &["segmentation:read"]).await["code"],
        "INSUFFICIENT_SCOPE"
    );

    // The table shows it, with Partial access and "Never" used… until it is.
    browser
        .goto(&format!("{base}/keys?project_id={project_id}"))
        .await;
    let table = browser.text("table.keys").await;
    assert!(
        table.contains("Checkout") && table.contains("Partial"),
        "{table}"
    );
    browser.screenshot("keys").await;

    // Edit.
    browser.goto(&format!("{base}/keys/{key_id}/edit")).await;
    browser.fill("#name", "Checkout v2").await;
    browser.submit("main form button[type=submit]").await;
    assert_eq!(browser.path().await, format!("/keys/{key_id}?done=updated"));
    assert_eq!(browser.text("h1").await, "Checkout v2");

    // Regenerate, behind a confirmation that names the key, with a grace
    // period: both secrets work for now.
    browser.submit("a[href$='/regenerate']").await;
    assert_eq!(browser.text("h1").await, "Regenerate “Checkout v2”?");
    assert!(
        browser
            .has(&format!("main form a[href='/keys/{key_id}']"))
            .await,
        "Cancel"
    );
    browser.select("#grace", "3600").await;
    browser
        .submit("form[action$='/regenerate'] button[type=submit]")
        .await;
    let new_key = browser.text("#new-key").await;
    assert_ne!(new_key, key);
    assert_eq!(
        verify(&http, &base, &new_key, &["push:read"]).await["code"],
        "VALID"
    );
    let old = verify(&http, &base, &key, &["push:read"]).await;
    assert_eq!(old["code"], "VALID");
    assert_eq!(old["deprecated"], true);
    browser.client.back().await.unwrap();
    assert!(!browser.page().await.contains(&new_key));

    // Revoke behind a confirmation that names the key.
    browser.goto(&format!("{base}/keys/{key_id}")).await;
    // Usage is written behind.
    eventually(
        async || {
            browser.client.refresh().await.unwrap();
            browser.has("svg.chart rect").await
        },
        "bars in the usage chart",
    )
    .await;
    browser.screenshot("key").await;
    browser.submit("a[href$='/revoke']").await;
    assert!(browser.text("h1").await.contains("Checkout v2"));
    browser.fill("#confirm_name", "Checkout").await;
    browser.submit("main form button[type=submit]").await;
    assert!(browser.page().await.contains("Type the key's name exactly"));
    assert_eq!(verify(&http, &base, &new_key, &[]).await["code"], "VALID");
    browser.fill("#confirm_name", "Checkout v2").await;
    browser.fill("#reason", "leaked in a log").await;
    browser.submit("main form button[type=submit]").await;
    assert_eq!(browser.path().await, format!("/keys/{key_id}?done=revoked"));
    assert_eq!(verify(&http, &base, &new_key, &[]).await["code"], "REVOKED");
    // Revoking ends the grace period of the previous secret too.
    assert_ne!(verify(&http, &base, &key, &[]).await["code"], "VALID");

    // The audit log shows all of it, filters by kind of action, and exports.
    browser.goto(&format!("{base}/audit")).await;
    let events = browser.text("table.audit").await;
    for action in [
        "key.created",
        "key.updated",
        "key.regenerated",
        "key.revoked",
        "project.created",
    ] {
        assert!(events.contains(action), "{action} missing:\n{events}");
    }
    // The organization made through the setup link is attributed to it.
    assert!(events.contains("keyward setup link"), "{events}");
    assert!(!events.contains("keyward org create"), "{events}");
    browser.screenshot("audit").await;
    browser.select("#action", "delete").await;
    browser.submit("form.filters button[type=submit]").await;
    let deletes = browser.text("table.audit").await;
    assert!(
        deletes.contains("key.revoked") && !deletes.contains("key.created"),
        "{deletes}"
    );
    let csv_href = browser
        .client
        .find(fantoccini::Locator::Css("a[href*='format=csv']"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    let csv = http
        .get(format!("{base}{csv_href}"))
        .header("cookie", browser.session_cookie().await)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    let csv = csv.text().await.unwrap();
    assert!(
        csv.contains("key.revoked") && !csv.contains("key.created"),
        "{csv}"
    );
    assert!(!csv.contains(&key) && !csv.contains(&new_key));
    browser.goto(&format!("{base}/audit")).await;
    let jsonl_href = browser
        .client
        .find(fantoccini::Locator::Css("a[href*='format=jsonl']"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    let jsonl = http
        .get(format!("{base}{jsonl_href}"))
        .header("cookie", browser.session_cookie().await)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(jsonl.lines().count() >= 8, "{jsonl}");

    let webhook_page = add_webhook(&browser, &base).await;
    save_policy(&browser, &http, &base, &root_key).await;
    // A member the owner manages: the members table then holds forms with
    // labels only screen readers see, which once widened the page at 375 px.
    let added = http
        .post(format!("{base}/v1/members"))
        .bearer_auth(&root_key)
        .json(&json!({"email": "a.rather.long.address@subsidiary.acme.example", "role": "support"}))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 201);

    // Every main page: labelled controls, and readable on a phone (375 px).
    let key_page = format!("/keys/{key_id}");
    let pages = [
        ("/overview", "overview"),
        ("/keys", "keys"),
        ("/keys/new", "key-new"),
        (key_page.as_str(), "key"),
        ("/audit", "audit"),
        ("/projects", "projects"),
        ("/members", "members"),
        ("/teams", "teams"),
        ("/root-keys", "root-keys"),
        ("/shared-secret", "shared-secret"),
        ("/webhooks", "webhooks"),
        (webhook_page.as_str(), "webhook"),
        ("/policy", "policy"),
        ("/keys?status=archived", "archived"),
    ];
    for (page, name) in pages {
        browser.goto(&format!("{base}{page}")).await;
        assert_eq!(browser.path().await, page, "{page} redirected");
        browser.check_page().await;
        browser.screenshot(name).await;
    }
    browser.resize(375).await;
    for (page, name) in pages {
        browser.goto(&format!("{base}{page}")).await;
        browser.check_page().await;
        if name == "keys" || name == "key" || name == "overview" {
            browser.screenshot(&format!("{name}-375px")).await;
        }
    }
    // Keyboard: Tab reaches the skip link first, then the navigation, with a
    // visible focus ring.
    browser.goto(&format!("{base}/keys")).await;
    let tab = fantoccini::key::Key::Tab.to_string();
    let body = browser
        .client
        .find(fantoccini::Locator::Css("body"))
        .await
        .unwrap();
    body.send_keys(&tab).await.unwrap();
    let focused = browser.client.active_element().await.unwrap();
    assert_eq!(
        focused.attr("class").await.unwrap().as_deref(),
        Some("skip")
    );
    focused.send_keys(&tab).await.unwrap();
    let focused = browser.client.active_element().await.unwrap();
    assert_eq!(focused.attr("href").await.unwrap().as_deref(), Some("/"));
    let outline = browser
        .client
        .execute(
            "return getComputedStyle(document.activeElement).outlineStyle;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(outline, json!("solid"));
    browser.client.clone().close().await.unwrap();
    drop(browser);
    server.terminate();
}

#[tokio::test(flavor = "multi_thread")]
async fn members_see_their_own_keys_and_analytics_cannot_revoke() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let org = crate::support::create_org(dir.path(), "Acme", Some(OWNER_PASSWORD));
    let owner_email = org["owner_email"].as_str().unwrap().to_owned();
    let server = Server::start(dir.path(), &[]);
    let base = server.base.clone();

    sign_in(&browser, &base, &owner_email, OWNER_PASSWORD).await;
    assert_eq!(browser.path().await, "/overview");
    let (owner_key_id, _) = create_key(&browser, &base, "Owner's key").await;
    let mia_temporary = add_member(&browser, &base, "mia@acme.example", "member").await;
    browser.screenshot("member-added").await;
    let ana_temporary = add_member(&browser, &base, "ana@acme.example", "analytics").await;
    sign_out(&browser).await;

    // A `member` creates a key and sees only their own.
    first_sign_in(
        &browser,
        &base,
        "mia@acme.example",
        &mia_temporary,
        "mia's own long password",
    )
    .await;
    let (mia_key_id, mia_key) = create_key(&browser, &base, "Mia's key").await;
    assert!(mia_key.starts_with("kw_sk_"));
    browser.goto(&format!("{base}/keys")).await;
    let table = browser.text("table.keys").await;
    assert!(
        table.contains("Mia's key") && !table.contains("Owner's key"),
        "{table}"
    );
    assert!(
        !browser.has("a[href='/audit']").await,
        "no audit log for members"
    );
    browser.goto(&format!("{base}/keys/{owner_key_id}")).await;
    assert!(browser.page().await.contains("not yours to see"));
    browser.goto(&format!("{base}/audit")).await;
    assert!(browser.page().await.contains("does not allow"));
    sign_out(&browser).await;

    // `analytics` sees every key but may not revoke: the confirmation page,
    // reached directly, says so.
    first_sign_in(
        &browser,
        &base,
        "ana@acme.example",
        &ana_temporary,
        "ana's own long password",
    )
    .await;
    browser.goto(&format!("{base}/keys")).await;
    let table = browser.text("table.keys").await;
    assert!(
        table.contains("Mia's key") && table.contains("Owner's key"),
        "{table}"
    );
    assert!(!browser.has("a[href='/keys/new']").await);
    assert!(!browser.has("a[href='/webhooks']").await && !browser.has("a[href='/policy']").await);
    browser.goto(&format!("{base}/policy")).await;
    assert!(
        browser
            .page()
            .await
            .contains("does not manage the key policy")
    );
    browser.goto(&format!("{base}/keys/{mia_key_id}")).await;
    assert!(!browser.has("a[href$='/revoke']").await);
    browser
        .goto(&format!("{base}/keys/{mia_key_id}/revoke"))
        .await;
    assert!(
        browser
            .page()
            .await
            .contains("Your role (analytics) may not revoke keys."),
        "{}",
        browser.page().await
    );
    assert!(!browser.has("#confirm_name").await);
    let http = reqwest::Client::new();
    assert_eq!(verify(&http, &base, &mia_key, &[]).await["code"], "VALID");
    sign_out(&browser).await;

    // Removing a member disables their keys, and the event says so.
    sign_in(&browser, &base, &owner_email, OWNER_PASSWORD).await;
    browser.goto(&format!("{base}/members")).await;
    let mia_remove = browser
        .client
        .find(fantoccini::Locator::XPath(
            "//tr[td[contains(., 'mia@acme.example')]]//a[contains(@href, '/remove')]",
        ))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap();
    browser
        .goto(&format!("{base}{}", mia_remove.unwrap()))
        .await;
    browser.submit("main form button[type=submit]").await;
    assert!(
        browser
            .page()
            .await
            .contains("1 of their keys was disabled")
    );
    assert_eq!(
        verify(&http, &base, &mia_key, &[]).await["code"],
        "DISABLED"
    );
    browser
        .goto(&format!("{base}/audit?action=member.removed"))
        .await;
    let events = browser.text("table.audit").await;
    assert!(events.contains(&mia_key_id), "{events}");
    browser.client.clone().close().await.unwrap();
    drop(browser);
    server.terminate();
}

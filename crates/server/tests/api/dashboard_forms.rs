//! Dashboard forms as a browser sends them (redirects not followed, so that
//! each step can be checked): what is shown once is shown once, reloading
//! repeats nothing, disruptive actions are confirmed, and pages say what
//! they mean.

use crate::helpers::{SignedIn, TestApp, spawn_app};
use reqwest::StatusCode;

const OWNER: &str = "owner@acme.example";
const OWNER_PASSWORD: &str = "correct horse battery staple";

/// The default project's id: the new-key form shows its catalog first.
pub(crate) async fn default_project(app: &TestApp) -> String {
    let (_, projects) = app.get("/v1/projects").await;
    projects["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["management"] == false)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Posts the new-key form, in the default project, with `fields`; returns
/// where the answer sends the browser.
async fn new_key(app: &TestApp, session: &SignedIn, fields: &[(&str, &str)]) -> String {
    let project = default_project(app).await;
    let mut form = vec![
        ("csrf", session.csrf.as_str()),
        ("project_id", project.as_str()),
        ("catalog_project", project.as_str()),
    ];
    form.extend_from_slice(fields);
    let response = app
        .browser()
        .post(format!("{}/keys/new", app.base))
        .header("cookie", &session.cookie)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    response.headers()["location"].to_str().unwrap().to_owned()
}

async fn create_key(app: &TestApp, session: &SignedIn, name: &str, key_type: &str) -> String {
    new_key(app, session, &[("name", name), ("key_type", key_type)]).await
}

async fn page(app: &TestApp, session: &SignedIn, path: &str) -> String {
    app.page(session, path).await.1
}

#[tokio::test]
async fn a_publishable_key_gets_no_secret_key_warnings() {
    let app = spawn_app().await;
    let session = app.sign_in(OWNER, OWNER_PASSWORD).await;

    // A secret key: shown once, with the warning.
    let secret = create_key(&app, &session, "server", "secret").await;
    assert!(secret.ends_with("/created"), "{secret}");
    let shown = page(&app, &session, &secret).await;
    assert!(shown.contains("will not be shown again"), "{shown}");

    // A publishable key: its own page, which keeps showing it.
    let publishable = create_key(&app, &session, "widget", "publishable").await;
    assert!(
        publishable.ends_with("?done=publishable_created"),
        "{publishable}"
    );
    for _ in 0..2 {
        let shown = page(&app, &session, &publishable).await;
        assert!(shown.contains("The publishable key was created"), "{shown}");
        assert!(shown.contains("id=\"publishable-key\""), "{shown}");
        assert!(!shown.contains("will not be shown again"));
        assert!(!shown.contains("regenerate it"));
    }
}

#[tokio::test]
async fn an_expiry_date_is_shown_as_the_day_chosen() {
    let app = spawn_app().await;
    let session = app.sign_in(OWNER, OWNER_PASSWORD).await;
    new_key(
        &app,
        &session,
        &[
            ("name", "until march"),
            ("expiry", "date"),
            ("expiry_date", "2031-03-31"),
        ],
    )
    .await;
    let (_, keys) = app.get("/v1/keys?q=until").await;
    let key = &keys["data"][0];
    assert_eq!(key["expires_at"], "2031-03-31T23:59:59Z");
    let id = key["id"].as_str().unwrap();
    let details = page(&app, &session, &format!("/keys/{id}")).await;
    assert!(details.contains("2031-03-31 23:59 UTC"), "{details}");
    assert!(!details.contains("2031-04-01"));
    let edit = page(&app, &session, &format!("/keys/{id}/edit")).await;
    assert!(edit.contains("value=\"2031-03-31\""), "{edit}");
}

#[tokio::test]
async fn statuses_and_roles_are_named_as_everywhere_else() {
    let app = spawn_app().await;
    let session = app.sign_in(OWNER, OWNER_PASSWORD).await;
    let root_keys = page(&app, &session, "/root-keys").await;
    assert!(
        root_keys.contains(r#"<span class="status status-active">Active</span>"#),
        "{root_keys}"
    );
    new_key(
        &app,
        &session,
        &[("name", "read write"), ("access", "admin")],
    )
    .await;
    let (_, keys) = app.get("/v1/keys?q=read%20write").await;
    let id = keys["data"][0]["id"].as_str().unwrap();
    let details = page(&app, &session, &format!("/keys/{id}")).await;
    // As the form that made it names it.
    assert!(details.contains("<dd>Read and write"), "{details}");
    assert!(!details.contains("<dd>Admin"));
}

#[tokio::test]
async fn a_member_refused_is_told_what_their_role_may_not_do() {
    let app = spawn_app().await;
    let (_, key) = app
        .post("/v1/keys", serde_json::json!({"name": "payments"}))
        .await;
    let id = key["id"].as_str().unwrap();
    let (_, support) = app.member("support@acme.example", "support").await;
    let response = app
        .browser()
        .post(format!("{}/keys/{id}/archive", app.base))
        .header("cookie", &support.cookie)
        .form(&[
            ("csrf", support.csrf.as_str()),
            ("confirm_name", "payments"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let text = response.text().await.unwrap();
    assert!(
        text.contains("Your role (support) may not create, change, archive or delete keys."),
        "{text}"
    );
    assert!(!text.contains("root key"), "{text}");
    // A root key is still told the scope it lacks.
    let reader = app.root_key_with(&["keys:read"]).await;
    let (status, body) = app
        .call(
            reqwest::Method::POST,
            &format!("/v1/keys/{id}/archive"),
            &reader,
            Some(serde_json::json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body["detail"].as_str().unwrap().contains("`keys:write`"),
        "{body}"
    );
}

/// Posts `form` to `path` with the session; returns the status and where
/// the answer sends the browser (empty when nowhere).
async fn post_form(
    app: &TestApp,
    session: &SignedIn,
    path: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String) {
    let mut fields = vec![("csrf", session.csrf.as_str())];
    fields.extend_from_slice(form);
    let response = app
        .browser()
        .post(format!("{}{path}", app.base))
        .header("cookie", &session.cookie)
        .form(&fields)
        .send()
        .await
        .unwrap();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (response.status(), location)
}

async fn events(app: &TestApp, action: &str) -> usize {
    let (_, events) = app.get(&format!("/v1/audit?action={action}")).await;
    events["data"].as_array().unwrap().len()
}

#[tokio::test]
async fn reloading_after_a_rotation_or_a_reveal_repeats_nothing() {
    let app = spawn_app().await;
    let session = app.sign_in(OWNER, OWNER_PASSWORD).await;

    // Rotation has a confirmation page of its own, which says what it
    // affects and can be left.
    let confirm = page(&app, &session, "/shared-secret/rotate").await;
    assert!(confirm.contains("previous one still verifies"), "{confirm}");
    assert!(confirm.contains(r#"<a href="/shared-secret">Cancel</a>"#));
    let (status, _) = post_form(
        &app,
        &session,
        "/shared-secret/rotate",
        &[("password", "not my password")],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(events(&app, "shared_secret.rotated").await, 0);

    let (status, location) = post_form(
        &app,
        &session,
        "/shared-secret/rotate",
        &[("password", OWNER_PASSWORD)],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location, "/shared-secret?done=rotated");
    let (_, current) = app.get("/v1/shared-secret").await;
    let secret = current["shared_secret"].as_str().unwrap();
    let shown = page(&app, &session, &location).await;
    assert!(shown.contains("was rotated"), "{shown}");
    assert!(shown.contains(secret));
    let reloaded = page(&app, &session, &location).await;
    assert!(!reloaded.contains(secret));
    assert!(!reloaded.contains("was rotated"));
    assert_eq!(events(&app, "shared_secret.rotated").await, 1);

    // Revealing, the same way (the API's own reveal above is one event).
    let (status, location) = post_form(
        &app,
        &session,
        "/shared-secret",
        &[("password", OWNER_PASSWORD)],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(page(&app, &session, &location).await.contains(secret));
    assert!(!page(&app, &session, &location).await.contains(secret));
    assert_eq!(events(&app, "shared_secret.revealed").await, 2);
}

#[tokio::test]
async fn a_temporary_password_is_shown_once_and_a_reset_is_confirmed() {
    let app = spawn_app().await;
    let session = app.sign_in(OWNER, OWNER_PASSWORD).await;
    let (status, location) = post_form(
        &app,
        &session,
        "/members",
        &[("email", "mia@acme.example"), ("role", "member")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location, "/members?done=added");
    let shown = page(&app, &session, &location).await;
    assert!(shown.contains("id=\"temporary-password\""), "{shown}");
    let reloaded = page(&app, &session, &location).await;
    assert!(!reloaded.contains("id=\"temporary-password\""));

    // Resetting a password is confirmed first, naming whom it affects.
    let (_, members) = app.get("/v1/members").await;
    let mia = members["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == "mia@acme.example")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let listed = page(&app, &session, "/members").await;
    assert!(listed.contains(&format!("href=\"/members/{mia}/reset-password\"")));
    let confirm = page(&app, &session, &format!("/members/{mia}/reset-password")).await;
    assert!(
        confirm.contains("Reset the password of mia@acme.example"),
        "{confirm}"
    );
    assert!(confirm.contains(r#"<a href="/members">Cancel</a>"#));
    assert_eq!(events(&app, "member.password_reset").await, 0);
    let (status, location) = post_form(
        &app,
        &session,
        &format!("/members/{mia}/reset-password"),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location, "/members?done=password_reset");
    assert!(
        page(&app, &session, &location)
            .await
            .contains("id=\"temporary-password\"")
    );
    assert!(
        !page(&app, &session, &location)
            .await
            .contains("id=\"temporary-password\"")
    );
    assert_eq!(events(&app, "member.password_reset").await, 1);
}

#[tokio::test]
async fn regenerating_a_key_and_deleting_a_team_are_confirmed_first() {
    let app = spawn_app().await;
    let session = app.sign_in(OWNER, OWNER_PASSWORD).await;
    let key = app.create_key(serde_json::json!({"name": "billing"})).await;
    let id = key["id"].as_str().unwrap();
    let details = page(&app, &session, &format!("/keys/{id}")).await;
    assert!(details.contains(&format!("href=\"/keys/{id}/regenerate\"")));
    assert!(!details.contains(&format!("action=\"/keys/{id}/regenerate\"")));
    let confirm = page(&app, &session, &format!("/keys/{id}/regenerate")).await;
    assert!(confirm.contains("Regenerate “billing”?"), "{confirm}");
    assert!(confirm.contains("refused at once"));
    assert!(confirm.contains(&format!("<a href=\"/keys/{id}\">Cancel</a>")));
    for verb in ["revoke", "archive"] {
        let confirm = page(&app, &session, &format!("/keys/{id}/{verb}")).await;
        assert!(
            confirm.contains(&format!("<a href=\"/keys/{id}\">Cancel</a>")),
            "{verb}"
        );
    }

    let (_, team) = app
        .post("/v1/teams", serde_json::json!({"name": "Platform"}))
        .await;
    let team = team["id"].as_str().unwrap();
    let teams = page(&app, &session, "/teams").await;
    assert!(teams.contains(&format!("href=\"/teams/{team}/delete\"")));
    assert!(!teams.contains(&format!("action=\"/teams/{team}/delete\"")));
    let confirm = page(&app, &session, &format!("/teams/{team}/delete")).await;
    assert!(confirm.contains("Delete the team Platform?"), "{confirm}");
    assert!(confirm.contains(r#"<a href="/teams">Cancel</a>"#));
    let (status, location) = post_form(&app, &session, &format!("/teams/{team}/delete"), &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location, "/teams");
    let (_, teams) = app.get("/v1/teams").await;
    assert!(teams["data"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_new_organization_is_invited_to_create_its_first_key() {
    let app = spawn_app().await;
    let session = app.sign_in(OWNER, OWNER_PASSWORD).await;
    let keys = page(&app, &session, "/keys").await;
    assert!(keys.contains("No API keys yet."), "{keys}");
    assert!(keys.contains(r#"<a class="button" href="/keys/new">Create key</a>"#));
    let filtered = page(&app, &session, "/keys?q=nothing").await;
    assert!(
        filtered.contains("No keys match these filters."),
        "{filtered}"
    );

    // Once there is one, its edit page is titled with its name.
    let key = app.create_key(serde_json::json!({"name": "billing"})).await;
    let id = key["id"].as_str().unwrap();
    let edit = page(&app, &session, &format!("/keys/{id}/edit")).await;
    assert!(edit.contains("Edit “billing”"), "{edit}");
}

#[tokio::test]
async fn pages_offer_only_what_the_role_may_do() {
    let app = spawn_app().await;
    let key = app.create_key(serde_json::json!({"name": "billing"})).await;
    let id = key["id"].as_str().unwrap();
    let status = |app: &TestApp, session: &SignedIn, path: String| {
        let request = app
            .browser()
            .get(format!("{}{path}", app.base))
            .header("cookie", &session.cookie);
        async move {
            let response = request.send().await.unwrap();
            (response.status(), response.text().await.unwrap())
        }
    };

    let (_, analytics) = app.member("ana@acme.example", "analytics").await;
    let details = page(&app, &analytics, &format!("/keys/{id}")).await;
    assert!(!details.contains("<h2>Actions</h2>"), "{details}");
    let (code, text) = status(&app, &analytics, format!("/keys/{id}/revoke")).await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    assert!(
        text.contains("Your role (analytics) may not revoke keys."),
        "{text}"
    );

    let (_, support) = app.member("sam@acme.example", "support").await;
    let details = page(&app, &support, &format!("/keys/{id}")).await;
    assert!(details.contains(&format!("href=\"/keys/{id}/revoke\"")));
    assert!(!details.contains(&format!("href=\"/keys/{id}/archive\"")));
    let (code, _) = status(&app, &support, format!("/keys/{id}/revoke")).await;
    assert_eq!(code, StatusCode::OK);
    for (verb, what) in [("archive", "archive"), ("regenerate", "regenerate")] {
        let (code, text) = status(&app, &support, format!("/keys/{id}/{verb}")).await;
        assert_eq!(code, StatusCode::FORBIDDEN);
        assert!(
            text.contains(&format!("Your role (support) may not {what} keys.")),
            "{text}"
        );
    }
}

#[tokio::test]
async fn an_audit_period_that_ends_before_it_starts_is_pointed_out() {
    let app = spawn_app().await;
    let session = app.sign_in(OWNER, OWNER_PASSWORD).await;
    let audit = page(&app, &session, "/audit?from=2030-02-01&to=2030-01-01").await;
    assert!(audit.contains("From is after To"), "{audit}");
    let audit = page(&app, &session, "/audit?from=2030-01-01&to=2030-01-01").await;
    assert!(!audit.contains("From is after To"));
}

#[tokio::test]
async fn a_key_is_made_only_in_the_project_whose_apis_were_shown() {
    let app = spawn_app().await;
    let session = app.sign_in(OWNER, OWNER_PASSWORD).await;
    let first = default_project(&app).await;
    let shop = app.create_project("Shop", "shop", &["data", "push"]).await;
    let shop = shop["id"].as_str().unwrap();
    // The form showing the default project's catalog.
    let form = page(&app, &session, &format!("/keys/new?project_id={first}")).await;
    assert!(form.contains("name=\"catalog_project\""), "{form}");
    let default = form
        .split("name=\"catalog_project\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    assert_ne!(default, shop);

    // Shop chosen in the list, the form sent without the script: Shop's
    // APIs are shown, what was typed kept, and no key is made.
    let fields = [
        ("csrf", session.csrf.as_str()),
        ("name", "checkout"),
        ("project_id", shop),
        ("catalog_project", default.as_str()),
    ];
    let response = app
        .browser()
        .post(format!("{}/keys/new", app.base))
        .header("cookie", &session.cookie)
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let shown = response.text().await.unwrap();
    assert!(shown.contains("The key will be made in Shop"), "{shown}");
    assert!(shown.contains("value=\"push\""));
    assert!(shown.contains("value=\"checkout\""));
    let (_, keys) = app.get("/v1/keys").await;
    assert!(keys["data"].as_array().unwrap().is_empty(), "{keys}");

    // Sent again from Shop's catalog: made in Shop, with its prefix.
    let (status, location) = post_form(
        &app,
        &session,
        "/keys/new",
        &[
            ("name", "checkout"),
            ("project_id", shop),
            ("catalog_project", shop),
            ("apis", "data"),
            ("apis", "push"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{location}");
    let (_, keys) = app.get("/v1/keys").await;
    assert_eq!(keys["data"][0]["project_id"], shop);
    assert!(
        keys["data"][0]["hint"]
            .as_str()
            .unwrap()
            .starts_with("shop_sk_")
    );

    // A box the page never offered is refused, not dropped.
    let response = app
        .browser()
        .post(format!("{}/keys/new", app.base))
        .header("cookie", &session.cookie)
        .form(&[
            ("csrf", session.csrf.as_str()),
            ("name", "tampered"),
            ("project_id", shop),
            ("catalog_project", shop),
            ("apis", "data"),
            ("apis", "billing"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let text = response.text().await.unwrap();
    assert!(text.contains("“billing” is not in this project"), "{text}");
}

#[tokio::test]
async fn a_value_shown_once_waits_for_its_own_page() {
    let app = spawn_app().await;
    let session = app.sign_in(OWNER, OWNER_PASSWORD).await;
    let created = create_key(&app, &session, "server", "secret").await;
    // Another page that shows a value once, opened first (another tab):
    // it has nothing to show and leaves the key for its page.
    let other = page(&app, &session, "/shared-secret?done=revealed").await;
    assert!(!other.contains("id=\"shared-secret\""));
    let shown = page(&app, &session, &created).await;
    assert!(shown.contains("id=\"new-key\""), "{shown}");
}

//! Signing in to the dashboard: cookies, CSRF, throttling, the audit of
//! every attempt, and temporary passwords.

use crate::helpers::{assert_problem, set_cookie, spawn_app, spawn_app_with};
use reqwest::{Method, StatusCode};
use serde_json::json;

const OWNER: &str = "owner@acme.example";
const OWNER_PASSWORD: &str = "correct horse battery staple";

#[tokio::test]
async fn the_session_cookie_is_http_only_strict_and_secure_when_told() {
    let app = spawn_app().await;
    let response = app.post_login(OWNER, OWNER_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/");
    let cookie = set_cookie(&response, "keyward_session").unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "{cookie}");

    let secure = spawn_app_with(|s| s.secure_cookies = true).await;
    let response = secure.post_login(OWNER, OWNER_PASSWORD).await;
    let cookie = set_cookie(&response, "keyward_session").unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
}

#[tokio::test]
async fn session_calls_to_the_api_that_change_things_need_the_csrf_token() {
    let app = spawn_app().await;
    let session = app.sign_in(OWNER, OWNER_PASSWORD).await;
    let (status, _) = app
        .session_call(&session, Method::GET, "/v1/keys", None)
        .await;
    assert_eq!(status, StatusCode::OK);

    let without = app
        .http
        .post(format!("{}/v1/keys", app.base))
        .header("cookie", &session.cookie)
        .json(&json!({"name": "forged"}))
        .send()
        .await
        .unwrap();
    let status = without.status();
    let body = without.json().await.unwrap();
    assert_problem(status, &body, 403, "csrf_token_invalid");
    let (status, created) = app
        .session_call(
            &session,
            Method::POST,
            "/v1/keys",
            Some(json!({"name": "real"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");

    // Dashboard forms are checked the same way.
    let forged = app
        .browser()
        .post(format!("{}/keys/new", app.base))
        .header("cookie", &session.cookie)
        .form(&[("csrf", "0".repeat(64).as_str()), ("name", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let cross_site = app
        .browser()
        .post(format!("{}/keys/new", app.base))
        .header("cookie", &session.cookie)
        .header("origin", "https://evil.example")
        .form(&[("csrf", session.csrf.as_str()), ("name", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);
    let (_, keys) = app.get("/v1/keys").await;
    assert!(!keys.to_string().contains("forged"));
}

#[tokio::test]
async fn failed_sign_ins_are_audited_and_throttled_with_growing_delays() {
    let app = spawn_app().await;
    for _ in 0..3 {
        let response = app.post_login(OWNER, "wrong password, sorry").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let page = response.text().await.unwrap();
        assert!(page.contains("not right"), "{page}");
        assert!(!page.contains("wrong password, sorry"));
    }
    // The account now waits, even with the right password.
    let response = app.post_login(OWNER, OWNER_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    assert!(set_cookie(&response, "keyward_session").is_none());

    let (_, events) = app.get("/v1/audit?action=login.failed").await;
    let failed = events["data"].as_array().unwrap();
    assert_eq!(failed.len(), 3);
    assert_eq!(failed[0]["target"]["name"], OWNER);
    assert!(!events.to_string().contains("wrong password, sorry"));

    // After the delay, the right password works and is audited.
    tokio::time::sleep(std::time::Duration::from_millis(1100 * wait)).await;
    let response = app.post_login(OWNER, OWNER_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, events) = app.get("/v1/audit?action=login.succeeded").await;
    assert_eq!(events["data"].as_array().unwrap().len(), 1);

    // The address, too, still has its failures (the success took back only
    // its own attempt): once the address's delay has run out, one more
    // failure from it, at another account, is its fourth, and the next guess
    // waits. Had the success cleared the address, both would answer 401.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let response = app
        .post_login("nobody@acme.example", "whatever it is")
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = app
        .post_login("nobody@acme.example", "whatever it is")
        .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_temporary_password_must_be_replaced_before_anything_else() {
    let app = spawn_app().await;
    let (_, created) = app
        .post(
            "/v1/members",
            json!({"email": "mia@acme.example", "role": "admin"}),
        )
        .await;
    let temporary = created["temporary_password"].as_str().unwrap().to_owned();
    let response = app.post_login("mia@acme.example", &temporary).await;
    assert_eq!(response.headers()["location"], "/account/password");
    let session = app.sign_in("mia@acme.example", &temporary).await;

    let (status, problem) = app
        .session_call(&session, Method::GET, "/v1/keys", None)
        .await;
    assert_problem(status, &problem, 403, "password_change_required");
    let page = app
        .browser()
        .get(format!("{}/keys", app.base))
        .header("cookie", &session.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.headers()["location"], "/account/password");

    // A too short password is refused and nothing changes.
    let short = app
        .browser()
        .post(format!("{}/account/password", app.base))
        .header("cookie", &session.cookie)
        .form(&[
            ("csrf", session.csrf.as_str()),
            ("current", temporary.as_str()),
            ("password", "short"),
            ("password_again", "short"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(short.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(short.text().await.unwrap().contains("at least 12"));

    let changed = app
        .browser()
        .post(format!("{}/account/password", app.base))
        .header("cookie", &session.cookie)
        .form(&[
            ("csrf", session.csrf.as_str()),
            ("current", temporary.as_str()),
            ("password", "mia's own long password"),
            ("password_again", "mia's own long password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::SEE_OTHER);
    let (status, _) = app
        .session_call(&session, Method::GET, "/v1/keys", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    // The temporary password no longer signs in.
    let response = app.post_login("mia@acme.example", &temporary).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let (_, events) = app.get("/v1/audit?action=member.password_changed").await;
    assert_eq!(events["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn signing_out_ends_the_session_on_the_server() {
    let app = spawn_app().await;
    let session = app.sign_in(OWNER, OWNER_PASSWORD).await;
    let out = app
        .browser()
        .post(format!("{}/logout", app.base))
        .header("cookie", &session.cookie)
        .form(&[("csrf", session.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(
        set_cookie(&out, "keyward_session")
            .unwrap()
            .contains("Max-Age=0")
    );
    // The old cookie, replayed, is worth nothing.
    let (status, _) = app
        .session_call(&session, Method::GET, "/v1/keys", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn pages_carry_a_strict_content_security_policy_and_no_outside_resources() {
    let app = spawn_app().await;
    let session = app.sign_in(OWNER, OWNER_PASSWORD).await;
    for path in [
        "/login",
        "/overview",
        "/keys",
        "/keys/new",
        "/audit",
        "/members",
        "/projects",
    ] {
        let response = app
            .browser()
            .get(format!("{}{path}", app.base))
            .header("cookie", &session.cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let csp = response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.starts_with("default-src 'self'"), "{csp}");
        assert_eq!(response.headers()["x-frame-options"], "DENY");
        let html = response.text().await.unwrap();
        assert!(
            !html.contains("http://") && !html.contains("https://") || path == "/keys/new",
            "{path} refers to another origin"
        );
        assert!(
            !html.contains("<script>") && !html.contains("style="),
            "{path} has inline code"
        );
    }
}

#[tokio::test]
async fn after_signing_in_only_paths_of_this_site_are_followed() {
    let app = spawn_app().await;
    for (next, expected) in [
        ("/audit?action=key.created", "/audit?action=key.created"),
        ("//evil.example/x", "/"),
        ("/\t/evil.example", "/"),
        ("https://evil.example", "/"),
        ("/\\evil.example", "/"),
        ("/keys\r\nSet-Cookie: x=1", "/"),
    ] {
        let response = app
            .post_login_with(OWNER, OWNER_PASSWORD, &[("next", next)])
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{next:?}");
        assert_eq!(response.headers()["location"], expected, "{next:?}");
    }
}

#[tokio::test]
async fn an_email_in_two_organizations_signs_in_to_the_one_named() {
    let app = spawn_app().await;
    let other = app.new_org("Globex").await;
    let mut temporaries = Vec::new();
    for root in [&app.org.root_key, &other.root_key] {
        let (_, created) = app
            .call(
                Method::POST,
                "/v1/members",
                root,
                Some(json!({"email": "pat@example.com", "role": "analytics"})),
            )
            .await;
        temporaries.push(created["temporary_password"].as_str().unwrap().to_owned());
    }
    let response = app.post_login("pat@example.com", &temporaries[1]).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let page = response.text().await.unwrap();
    assert!(page.contains("several organizations") && page.contains("id=\"organization\""));

    // Named, the attempt concerns that organization only.
    let wrong = app
        .post_login_with(
            "pat@example.com",
            &temporaries[0],
            &[("organization", "globex")],
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let (_, acme_failures) = app.get("/v1/audit?action=login.failed").await;
    assert_eq!(acme_failures["data"].as_array().unwrap().len(), 0);
    let (_, globex_failures) = app
        .call(
            Method::GET,
            "/v1/audit?action=login.failed",
            &other.root_key,
            None,
        )
        .await;
    assert_eq!(globex_failures["data"].as_array().unwrap().len(), 1);

    let right = app
        .post_login_with(
            "pat@example.com",
            &temporaries[1],
            &[("organization", "Globex")],
        )
        .await;
    assert_eq!(right.status(), StatusCode::SEE_OTHER);
    let (_, globex_logins) = app
        .call(
            Method::GET,
            "/v1/audit?action=login.succeeded",
            &other.root_key,
            None,
        )
        .await;
    assert_eq!(globex_logins["data"].as_array().unwrap().len(), 1);
}

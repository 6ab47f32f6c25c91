//! The dashboard's email actions: "Email me the export" on the audit page,
//! and "Email me key notices" on the password page.

use crate::admin_pages::{location, page, submit};
use crate::email::email_app;
use crate::helpers::{TestApp, hidden_field, spawn_app};
use crate::smtp::SmtpServer;
use reqwest::StatusCode;
use serde_json::json;

const OWNER: &str = "owner@acme.example";

async fn owner(app: &TestApp) -> crate::helpers::SignedIn {
    app.sign_in(OWNER, "correct horse battery staple").await
}

#[tokio::test]
async fn email_me_the_export_mails_the_events_the_page_shows() {
    let smtp = SmtpServer::start(&[]).await;
    let app = email_app(&smtp.url()).await;
    app.create_key(json!({"name": "listed"})).await;
    let session = owner(&app).await;
    let (status, html) = page(&app, &session, "/audit?action=key.created").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Email me the export"), "{html}");
    let filters = hidden_field(&html, "filters");
    assert_eq!(filters, "action=key.created");

    let response = submit(
        &app,
        &session,
        "/audit/email",
        &[("format", "csv"), ("filters", &filters)],
    )
    .await;
    let back = location(&response);
    assert!(
        back.starts_with("/audit?action=key.created&emailed=owner%40acme.example"),
        "{back}"
    );
    let (_, html) = page(&app, &session, &back).await;
    assert!(html.contains("on its way to owner@acme.example"), "{html}");

    let message = &smtp.wait_for(1).await[0];
    assert_eq!(message["rcpt_tos"], json!([OWNER]));
    let data = message["attachments"][0]["data"].as_str().unwrap();
    let csv = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, data).unwrap();
    let actions: Vec<String> = csv::Reader::from_reader(&csv[..])
        .records()
        .map(|r| r.unwrap()[7].to_owned())
        .collect();
    assert_eq!(
        actions,
        ["key.created", "key.created"],
        "the root key and the new key"
    );
}

#[tokio::test]
async fn a_tampered_filters_field_cannot_add_parameters() {
    let smtp = SmtpServer::start(&[]).await;
    let app = email_app(&smtp.url()).await;
    let session = owner(&app).await;
    let response = submit(
        &app,
        &session,
        "/audit/email",
        &[
            ("format", "csv"),
            ("filters", "action=key.created&format=jsonl"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let message = &smtp.wait_for(1).await[0];
    let name = message["attachments"][0]["filename"].as_str().unwrap();
    assert!(name.ends_with(".csv"), "{name}");
    // Filters it cannot read are refused, not dropped (which would mail
    // the whole log).
    for (filters, status) in [
        ("to=x", StatusCode::UNPROCESSABLE_ENTITY),
        ("team=a&team=b", StatusCode::BAD_REQUEST),
    ] {
        let response = submit(
            &app,
            &session,
            "/audit/email",
            &[("format", "csv"), ("filters", filters)],
        )
        .await;
        assert_eq!(response.status(), status, "{filters}");
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(smtp.messages().len(), 1);
    // A line break in a filter stays inside the redirect's query string.
    let response = submit(
        &app,
        &session,
        "/audit/email",
        &[("format", "csv"), ("filters", "team=a%0D%0ALocation:%20x")],
    )
    .await;
    assert_eq!(
        location(&response),
        "/audit?team=a%0D%0ALocation%3A+x&emailed=owner%40acme.example"
    );
}

#[tokio::test]
async fn without_smtp_the_audit_page_says_email_is_not_available() {
    let app = spawn_app().await;
    let session = owner(&app).await;
    let (_, html) = page(&app, &session, "/audit").await;
    assert!(!html.contains("action=\"/audit/email\""), "{html}");
    assert!(html.contains("not available"), "{html}");
    let response = submit(
        &app,
        &session,
        "/audit/email",
        &[("format", "csv"), ("filters", "")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(response.text().await.unwrap().contains("--smtp-url"));
}

#[tokio::test]
async fn members_turn_notice_emails_off_and_on_on_their_password_page() {
    let smtp = SmtpServer::start(&[]).await;
    let app = email_app(&smtp.url()).await;
    let session = owner(&app).await;
    let (_, html) = page(&app, &session, "/account/password").await;
    assert!(
        html.contains("name=\"notice_emails\" value=\"on\" checked"),
        "{html}"
    );

    let response = submit(&app, &session, "/account/notices", &[]).await;
    assert_eq!(location(&response), "/account/password?saved=notices");
    let (_, html) = page(&app, &session, "/account/password?saved=notices").await;
    assert!(!html.contains("value=\"on\" checked"), "{html}");
    assert!(html.contains("Saved."), "{html}");
    let (_, events) = app.get("/v1/audit?action=member.updated").await;
    assert_eq!(
        events["data"][0]["changes"]["notice_emails"],
        json!({"before": true, "after": false})
    );

    let key = app.create_key(json!({"name": "quiet"})).await;
    let (status, _) = app.post("/v1/leaks", json!({"key": key["key"]})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    // The notice is dispatched (here, rather than by the worker's next
    // round, which could come after the member opts back in) while the
    // member is opted out: nothing is queued for them.
    app.state
        .store
        .dispatch_notices(None, app.state.clock.now())
        .await
        .unwrap();
    let response = submit(
        &app,
        &session,
        "/account/notices",
        &[("notice_emails", "on")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let key = app.create_key(json!({"name": "loud"})).await;
    let (status, _) = app.post("/v1/leaks", json!({"key": key["key"]})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let messages = smtp.wait_for(1).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let subjects: Vec<_> = smtp
        .messages()
        .iter()
        .map(|m| m["subject"].clone())
        .collect();
    assert_eq!(subjects.len(), 1, "{subjects:?}");
    assert!(messages[0]["subject"].as_str().unwrap().contains("loud"));
}

//! Email through a real SMTP server (aiosmtpd in its own process): the audit
//! export by email, key notices to the people responsible, delivery when the
//! server was down, permanent rejections, and no secret in any message.

use crate::helpers::spawn_app_with;
use crate::helpers::{TestApp, assert_problem, eventually, spawn_app, start_time};
use crate::metrics::{sample, scrape};
use crate::smtp::SmtpServer;
use base64::Engine;
use chrono::Duration;
use keyward_server::mail::smtp::SmtpConfig;
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::io::Read;

const OWNER: &str = "owner@acme.example";

/// A test app that mails through `url`, retrying every second.
pub(crate) async fn email_app(url: &str) -> TestApp {
    let config = SmtpConfig::new(SecretString::from(url.to_owned()), crate::smtp::FROM).unwrap();
    spawn_app_with(|s| {
        s.email.smtp = Some(config);
        s.email.poll_interval = std::time::Duration::from_millis(50);
        s.email.retry_delays = vec![1; 5];
        s.public_url = Some("https://keyward.acme.example".to_owned());
    })
    .await
}

fn attachment(message: &Value) -> (String, Vec<u8>) {
    let file = &message["attachments"][0];
    let data = base64::engine::general_purpose::STANDARD
        .decode(file["data"].as_str().unwrap())
        .unwrap();
    (file["filename"].as_str().unwrap().to_owned(), data)
}

fn csv_rows(bytes: &[u8]) -> Vec<csv::StringRecord> {
    csv::Reader::from_reader(bytes)
        .records()
        .map(Result::unwrap)
        .collect()
}

async fn audit_actions(app: &TestApp, action: &str) -> Vec<Value> {
    let (status, page) = app.get(&format!("/v1/audit?action={action}")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["data"].as_array().unwrap().clone()
}

/// Waits until the audit log holds an event `action`.
async fn wait_for_event(app: &TestApp, action: &str) -> Value {
    for _ in 0..300 {
        if let Some(event) = audit_actions(app, action).await.first() {
            return event.clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no {action} event");
}

/// A key verified as leaked by a public report, which revokes it.
async fn leak(app: &TestApp, key: &Value) {
    let (status, body) = app
        .post(
            "/v1/leaks",
            json!({"key": key["key"], "source_url": "https://gist.example/1"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
}

#[tokio::test]
async fn without_smtp_email_features_answer_409_and_change_nothing() {
    let app = spawn_app().await;
    let (status, body) = app
        .post("/v1/audit/export/email?format=csv", json!({"to": OWNER}))
        .await;
    assert_problem(status, &body, 409, "email_not_configured");
    assert!(audit_actions(&app, "audit.exported").await.is_empty());
}

#[tokio::test]
async fn the_export_arrives_as_a_csv_with_the_requested_filters() {
    let smtp = SmtpServer::start(&[]).await;
    let app = email_app(&smtp.url()).await;
    let mut revoked = Vec::new();
    for i in 0..3 {
        let key = app.create_key(json!({"name": format!("k{i}")})).await;
        if i < 2 {
            let id = key["id"].as_str().unwrap();
            let (status, _) = app.post(&format!("/v1/keys/{id}/revoke"), json!({})).await;
            assert_eq!(status, StatusCode::OK);
            revoked.push(id.to_owned());
        }
    }
    let (status, queued) = app
        .post(
            "/v1/audit/export/email?format=csv&action=key.revoked",
            json!({"to": OWNER}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(queued, json!({"to": OWNER, "format": "csv"}));

    let messages = smtp.wait_for(1).await;
    let message = &messages[0];
    assert_eq!(message["rcpt_tos"], json!([OWNER]));
    assert_eq!(message["subject"], "[Keyward] Your audit log export");
    let (name, bytes) = attachment(message);
    assert!(name.ends_with(".csv"), "{name}");
    let rows = csv_rows(&bytes);
    let actions: Vec<_> = rows.iter().map(|r| r[7].to_owned()).collect();
    assert_eq!(actions, ["key.revoked", "key.revoked"]);
    let targets: Vec<_> = rows.iter().map(|r| r[9].to_owned()).collect();
    assert_eq!(targets, revoked);

    let requested = &audit_actions(&app, "audit.exported").await[0];
    let after = &requested["changes"]["export"]["after"];
    assert_eq!(after["delivery"], "email");
    assert_eq!(after["to"], OWNER);
    assert_eq!(after["filters"]["action"], "key.revoked");
    let sent = wait_for_event(&app, "audit.export_emailed").await;
    assert_eq!(sent["changes"]["email"]["after"]["to"], OWNER);
    assert_eq!(
        sent["changes"]["email"]["after"]["request_event_id"],
        requested["id"]
    );
}

#[tokio::test]
async fn a_root_key_must_name_a_member_who_may_read_the_audit_log() {
    let smtp = SmtpServer::start(&[]).await;
    let app = email_app(&smtp.url()).await;
    app.member("analyst@acme.example", "analytics").await;
    let (_, support) = app.member("support@acme.example", "support").await;
    for to in [
        None,
        Some("nobody@acme.example"),
        Some("analyst@acme.example"),
    ] {
        let body = to.map_or_else(|| json!({}), |to| json!({"to": to}));
        let (status, problem) = app.post("/v1/audit/export/email?format=jsonl", body).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{to:?}: {problem}"
        );
        assert_eq!(problem["errors"][0]["field"], "to", "{problem}");
    }
    // A member mails it to themselves only.
    let (status, problem) = app
        .session_call(
            &support,
            Method::POST,
            "/v1/audit/export/email?format=jsonl",
            Some(json!({"to": OWNER})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let (status, queued) = app
        .session_call(
            &support,
            Method::POST,
            "/v1/audit/export/email?format=jsonl",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    let messages = smtp.wait_for(1).await;
    assert_eq!(messages[0]["rcpt_tos"], json!(["support@acme.example"]));
    let (name, bytes) = attachment(&messages[0]);
    assert!(name.ends_with(".jsonl"), "{name}");
    for line in String::from_utf8(bytes).unwrap().lines() {
        serde_json::from_str::<Value>(line).unwrap();
    }
}

#[tokio::test]
async fn large_exports_are_gzipped_and_larger_ones_sent_as_a_one_time_link() {
    let smtp = SmtpServer::start(&[]).await;
    let config = SmtpConfig::new(SecretString::from(smtp.url()), crate::smtp::FROM).unwrap();
    let app = spawn_app_with(|s| {
        s.email.smtp = Some(config);
        s.email.poll_interval = std::time::Duration::from_millis(50);
        s.email.gzip_above = 1_000;
        s.email.attachment_limit = 6_000;
        s.public_url = Some("https://keyward.acme.example".to_owned());
    })
    .await;
    for i in 0..10 {
        app.create_key(json!({"name": format!("key number {i}")}))
            .await;
    }
    let (status, _) = app
        .post(
            "/v1/audit/export/email?format=csv&action=key.created",
            json!({"to": OWNER}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let messages = smtp.wait_for(1).await;
    let (name, gzipped) = attachment(&messages[0]);
    assert!(name.ends_with(".csv.gz"), "{name}");
    let mut csv = Vec::new();
    flate2::read::GzDecoder::new(&gzipped[..])
        .read_to_end(&mut csv)
        .unwrap();
    assert!(csv.len() > 1_000, "{} bytes", csv.len());
    assert_eq!(csv_rows(&csv).len(), 11, "ten keys and the root key");

    // All events, twice over the limit even gzipped: a link instead.
    for i in 0..40 {
        app.create_key(json!({"name": format!("more {i}")})).await;
    }
    let (status, _) = app
        .post("/v1/audit/export/email?format=jsonl", json!({"to": OWNER}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let message = &smtp.wait_for(2).await[1];
    assert_eq!(message["attachments"], json!([]));
    let text = message["text"].as_str().unwrap();
    let link = text
        .split_whitespace()
        .find(|w| w.contains("/v1/audit/export/download?token="))
        .unwrap();
    assert!(link.starts_with("https://keyward.acme.example/"), "{link}");
    let path = link.trim_start_matches("https://keyward.acme.example");
    let url = format!("{}{path}", app.base);
    // Opening the link (as mail scanners do) shows a button; it uses nothing up.
    for _ in 0..2 {
        let page = app.http.get(&url).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        assert!(html.contains("<form method=\"post\""), "{html}");
    }
    let first = app.http.post(&url).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let body = first.text().await.unwrap();
    let created = body
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["action"] == "key.created")
        .count();
    assert_eq!(created, 51);
    for method in [Method::POST, Method::GET] {
        let again = app.http.request(method, &url).send().await.unwrap();
        assert_eq!(again.status(), StatusCode::NOT_FOUND, "the link works once");
    }
    wait_for_event(&app, "audit.export_downloaded").await;
    let forged = path.replace("token=", "token=A");
    let forged = app
        .http
        .get(format!("{}{forged}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_link_stops_working_after_24_hours() {
    let smtp = SmtpServer::start(&[]).await;
    let config = SmtpConfig::new(SecretString::from(smtp.url()), crate::smtp::FROM).unwrap();
    let app = spawn_app_with(|s| {
        s.email.smtp = Some(config);
        s.email.poll_interval = std::time::Duration::from_millis(50);
        s.email.gzip_above = 10;
        s.email.attachment_limit = 10;
    })
    .await;
    let (status, _) = app
        .post("/v1/audit/export/email?format=csv", json!({"to": OWNER}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let text = smtp.wait_for(1).await[0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = text
        .split("token=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    let page = app
        .http
        .get(format!(
            "{}/v1/audit/export/download?token={token}",
            app.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK, "the link works until then");
    app.advance(Duration::hours(24) + Duration::seconds(1));
    let expired = app
        .http
        .get(format!(
            "{}/v1/audit/export/download?token={token}",
            app.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(expired.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_leaked_key_is_mailed_once_to_its_owner_and_the_owners_and_admins() {
    let smtp = SmtpServer::start(&[]).await;
    let app = email_app(&smtp.url()).await;
    let (_, admin) = app.member("admin@acme.example", "admin").await;
    let (_, quiet) = app.member("quiet@acme.example", "admin").await;
    let (_, dev) = app.member("dev@acme.example", "member").await;
    app.member("support@acme.example", "support").await;
    let (_, other_dev) = app.member("other@acme.example", "member").await;
    let _ = (admin, other_dev);
    // quiet@ turns notice emails off on their password page.
    let page = app
        .browser()
        .post(format!("{}/account/notices", app.base))
        .header("cookie", &quiet.cookie)
        .form(&[("csrf", quiet.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    let (status, key) = app
        .session_call(
            &dev,
            Method::POST,
            "/v1/keys",
            Some(json!({"name": "dev key"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    leak(&app, &key).await;
    leak(&app, &key).await;

    let messages = smtp.wait_for(3).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let messages = smtp.messages().len().max(messages.len());
    let mut recipients: Vec<String> = smtp
        .messages()
        .iter()
        .map(|m| m["rcpt_tos"][0].as_str().unwrap().to_owned())
        .collect();
    recipients.sort();
    assert_eq!(
        recipients,
        ["admin@acme.example", "dev@acme.example", OWNER],
        "one message each ({messages} in all)"
    );
    for message in smtp.messages() {
        assert!(
            message["subject"].as_str().unwrap().contains("dev key"),
            "{message}"
        );
        let text = message["text"].as_str().unwrap();
        assert!(text.contains("revoked it"), "{text}");
        assert!(text.contains("hxxps://gist.example/1"), "defanged: {text}");
        assert!(!text.contains("https://gist.example"), "{text}");
        assert!(
            message["html"].as_str().unwrap().contains("<html"),
            "{message}"
        );
    }
}

#[tokio::test]
async fn expiry_and_stale_notices_are_mailed_once_each() {
    let smtp = SmtpServer::start(&[]).await;
    let app = email_app(&smtp.url()).await;
    let (status, _) = app
        .patch(
            "/v1/policy",
            json!({"expiry_notice_days": [7], "stale_after_days": 30}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let expires_at = start_time() + Duration::days(10);
    app.create_key(json!({"name": "temporary", "expires_at": expires_at.to_rfc3339()}))
        .await;
    let sweep = || crate::notices::sweep(&app);
    app.advance(Duration::days(4));
    sweep().await;
    sweep().await;
    let first = smtp.wait_for(1).await;
    assert!(
        first[0]["subject"]
            .as_str()
            .unwrap()
            .contains("\"temporary\" expires on"),
        "{}",
        first[0]["subject"]
    );
    app.advance(Duration::days(7));
    sweep().await;
    let expired = smtp.wait_for(2).await;
    assert!(
        expired[1]["subject"]
            .as_str()
            .unwrap()
            .contains("has expired")
    );
    app.advance(Duration::days(30));
    sweep().await;
    sweep().await;
    // The root key, unused for 30 days at its last use, is stale too.
    eventually(
        async || {
            smtp.messages()
                .iter()
                .any(|m| m["subject"].as_str().unwrap().contains("has not been used"))
        },
        "a stale key notice",
    )
    .await;
    // Time for a second copy of any notice to arrive, if one were sent.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let subjects: Vec<String> = smtp
        .messages()
        .iter()
        .map(|m| m["subject"].as_str().unwrap().to_owned())
        .collect();
    let stale: Vec<_> = subjects
        .iter()
        .filter(|s| s.contains("has not been used"))
        .collect();
    assert!(!stale.is_empty(), "{subjects:?}");
    let mut unique = subjects.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        subjects.len(),
        "each notice once: {subjects:?}"
    );
}

#[tokio::test]
async fn messages_queued_while_the_server_is_down_arrive_once_it_is_up() {
    let mut smtp = SmtpServer::start(&[]).await;
    let app = email_app(&smtp.url()).await;
    smtp.stop();
    let key = app.create_key(json!({"name": "exposed"})).await;
    leak(&app, &key).await;
    let (status, _) = app
        .post("/v1/audit/export/email?format=csv", json!({"to": OWNER}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    // The first attempts fail while it is down; the retries are due a
    // second later on the test's clock.
    eventually(
        async || {
            let text = scrape(&app).await;
            sample(
                &text,
                r#"keyward_emails_total{kind="notice",outcome="retrying"}"#,
            ) >= 1.0
                && sample(
                    &text,
                    r#"keyward_emails_total{kind="audit_export",outcome="retrying"}"#,
                ) >= 1.0
        },
        "a failed first attempt of each message",
    )
    .await;
    assert!(smtp.messages().is_empty());
    smtp.restart().await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(smtp.messages().is_empty(), "not before the retry is due");
    app.advance(Duration::seconds(2));
    let messages = smtp.wait_for(2).await;
    let mut subjects: Vec<_> = messages
        .iter()
        .map(|m| m["subject"].as_str().unwrap().to_owned())
        .collect();
    subjects.sort();
    assert_eq!(subjects.len(), 2, "{subjects:?}");
    assert!(subjects[0].contains("exposed"), "{subjects:?}");
    assert_eq!(subjects[1], "[Keyward] Your audit log export");
}

#[tokio::test]
async fn a_permanent_rejection_is_recorded_and_not_retried() {
    let smtp = SmtpServer::start(&["--reject", OWNER]).await;
    let app = email_app(&smtp.url()).await;
    let (status, _) = app
        .post("/v1/audit/export/email?format=csv", json!({"to": OWNER}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let failed = wait_for_event(&app, "audit.export_email_failed").await;
    let error = failed["changes"]["email"]["after"]["details"]["error"]
        .as_str()
        .unwrap();
    assert!(error.contains("550"), "{error}");
    // Retries are a second apart here: none comes.
    app.advance(Duration::seconds(5));
    tokio::time::sleep(std::time::Duration::from_millis(1_000)).await;
    assert_eq!(smtp.recipients_asked(), [OWNER]);
    assert!(audit_actions(&app, "audit.export_emailed").await.is_empty());
}

#[tokio::test]
async fn credentials_in_the_url_log_in_and_smtp_requires_starttls_by_default() {
    let smtp = SmtpServer::start(&["--auth", "keyward@acme.example:p@ss word"]).await;
    let url = format!(
        "smtp://keyward%40acme.example:p%40ss%20word@127.0.0.1:{}?tls=none",
        smtp.port
    );
    let app = email_app(&url).await;
    let (status, _) = app
        .post("/v1/audit/export/email?format=csv", json!({"to": OWNER}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    smtp.wait_for(1).await;
    assert_eq!(smtp.logins(), ["keyward@acme.example:p@ss word ok"]);

    // smtp:// alone requires STARTTLS, which this server does not offer:
    // nothing is sent, the password least of all.
    let plain = SmtpServer::start(&["--auth", "keyward@acme.example:secret"]).await;
    let url = format!(
        "smtp://keyward%40acme.example:secret@127.0.0.1:{}",
        plain.port
    );
    let app = email_app(&url).await;
    let (status, _) = app
        .post("/v1/audit/export/email?format=csv", json!({"to": OWNER}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    for _ in 0..3 {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        app.advance(Duration::seconds(2));
    }
    assert!(plain.messages().is_empty());
    assert!(plain.logins().is_empty(), "{:?}", plain.logins());
    assert!(plain.recipients_asked().is_empty());
}

#[tokio::test]
async fn no_message_carries_a_secret() {
    let smtp = SmtpServer::start(&[]).await;
    let app = email_app(&smtp.url()).await;
    let key = app.create_key(json!({"name": "exposed"})).await;
    let publishable = app
        .create_key(json!({"name": "public", "type": "publishable"}))
        .await;
    leak(&app, &key).await;
    let (status, secret) = app.get("/v1/shared-secret").await;
    assert_eq!(status, StatusCode::OK);
    for format in ["csv", "jsonl"] {
        let (status, _) = app
            .post(
                &format!("/v1/audit/export/email?format={format}"),
                json!({"to": OWNER}),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    let messages = smtp.wait_for(3).await;
    let secrets = [
        key["key"].as_str().unwrap(),
        publishable["key"].as_str().unwrap(),
        app.org.root_key.as_str(),
        secret["shared_secret"].as_str().unwrap(),
    ];
    let full_key = regex::Regex::new(r"[0-9A-Za-z]+_(?:sk|pk)_[0-9A-Za-z]{38}").unwrap();
    for message in &messages {
        // Every message has a plain text part and a simple HTML one that loads
        // nothing: no image, style sheet, frame or script from anywhere.
        assert!(message["text"].as_str().is_some_and(|t| !t.is_empty()));
        let html = message["html"]
            .as_str()
            .expect("an HTML part")
            .to_lowercase();
        assert!(html.contains("<html"), "{html}");
        for remote in [
            "<img", "<link", "<script", "<iframe", "src=", "url(", "@import",
        ] {
            assert!(!html.contains(remote), "{remote} in {html}");
        }
        let mut texts = vec![message["raw"].as_str().unwrap().to_owned()];
        for file in message["attachments"].as_array().unwrap() {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(file["data"].as_str().unwrap())
                .unwrap();
            texts.push(String::from_utf8(bytes).unwrap());
        }
        for text in texts {
            for secret in secrets {
                assert!(!text.contains(secret), "a secret in {text}");
            }
            assert!(!full_key.is_match(&text), "a key in {text}");
        }
    }
}

#[tokio::test]
async fn a_recipient_demoted_before_the_export_is_sent_does_not_get_it() {
    let mut smtp = SmtpServer::start(&[]).await;
    let app = email_app(&smtp.url()).await;
    let (admin, _) = app.member("admin@acme.example", "admin").await;
    smtp.stop();
    let (status, _) = app
        .post(
            "/v1/audit/export/email?format=csv",
            json!({"to": "admin@acme.example"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, body) = app
        .patch(
            &format!("/v1/members/{admin}"),
            json!({"role": "analytics"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    smtp.restart().await;
    app.advance(Duration::seconds(2));
    let failed = wait_for_event(&app, "audit.export_email_failed").await;
    let error = &failed["changes"]["email"]["after"]["details"]["error"];
    assert_eq!(error, "the recipient may no longer read the audit log");
    assert!(smtp.messages().is_empty());
}

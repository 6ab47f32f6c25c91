//! Email through the real binary: the SMTP URL read from
//! `KEYWARD_SMTP_URL_FILE`, its credentials used to log in and never
//! logged, and a URL that cannot be used stopping the start.

use crate::smtp::SmtpServer;
use crate::support::{self, Server, keyward};
use serde_json::json;

const PASSWORD: &str = "hunter2-smtp-password";

#[tokio::test(flavor = "multi_thread")]
async fn the_smtp_url_comes_from_a_file_and_its_password_is_never_logged() {
    let login = format!("ops@acme.example:{PASSWORD}");
    let smtp = SmtpServer::start(&["--auth", &login]).await;
    let dir = tempfile::tempdir().unwrap();
    let url_file = dir.path().join("smtp-url");
    std::fs::write(
        &url_file,
        format!(
            "smtp://ops%40acme.example:{PASSWORD}@127.0.0.1:{}?tls=none\n",
            smtp.port
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let org = support::create_org(&data, "Acme", None);
    let server = Server::start_with_env(
        &data,
        &["--smtp-from", "Keyward <keyward@acme.example>"],
        &[("KEYWARD_SMTP_URL_FILE", url_file.to_str().unwrap())],
    );
    let response = reqwest::Client::new()
        .post(format!("{}/v1/audit/export/email?format=csv", server.base))
        .bearer_auth(org["root_key"].as_str().unwrap())
        .json(&json!({"to": org["owner_email"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let message = &smtp.wait_for(1).await[0];
    assert_eq!(message["rcpt_tos"], json!([org["owner_email"]]));
    assert_eq!(message["from"], "Keyward <keyward@acme.example>");
    assert_eq!(smtp.logins(), [format!("{login} ok")]);

    let log = server.terminate();
    assert!(log.contains("email sent"), "{log}");
    assert!(!log.contains(PASSWORD), "the SMTP password reached the log");
    let described = format!("127.0.0.1:{} (plain text, with credentials)", smtp.port);
    assert!(log.contains(&described), "{log}");
    assert!(
        !log.contains("ops%40acme.example"),
        "the SMTP user reached the log"
    );
}

#[test]
fn an_smtp_url_that_cannot_be_used_stops_the_start_without_showing_the_password() {
    let dir = tempfile::tempdir().unwrap();
    for (url, from, expected) in [
        (
            format!("http://ops:{PASSWORD}@mail.acme.example"),
            "keyward@acme.example",
            "smtp:// or smtps://",
        ),
        (
            format!("smtp://ops:{PASSWORD}@mail.acme.example?tls=opportunistic"),
            "keyward@acme.example",
            "tls=required or tls=none",
        ),
        (
            format!("smtps://ops:{PASSWORD}@mail.acme.example"),
            "not an address",
            "--smtp-from",
        ),
    ] {
        let output = keyward(dir.path())
            .args([
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--smtp-url",
                &url,
                "--smtp-from",
                from,
            ])
            .output()
            .unwrap();
        assert!(!output.status.success(), "{url} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{stderr}");
        assert!(!stderr.contains(PASSWORD), "{stderr}");
    }
}

//! Form errors as people need them: each next to its field, named as the
//! field's label names it, pointed at by the field (`aria-invalid`,
//! `aria-describedby`), and listed in a summary that links to the fields.

use crate::dashboard_forms::default_project;
use crate::helpers::spawn_app;
use reqwest::StatusCode;

const OWNER: &str = "owner@acme.example";
const OWNER_PASSWORD: &str = "correct horse battery staple";

#[tokio::test]
async fn form_errors_stand_at_their_fields_named_as_their_labels() {
    let app = spawn_app().await;
    let session = app.sign_in(OWNER, OWNER_PASSWORD).await;
    let project = default_project(&app).await;
    let post = |fields: Vec<(&'static str, &'static str)>| {
        let mut form = vec![
            ("csrf", session.csrf.clone()),
            ("project_id", project.clone()),
            ("catalog_project", project.clone()),
            ("name", "checkout".to_owned()),
        ];
        form.extend(fields.into_iter().map(|(k, v)| (k, v.to_owned())));
        let request = app
            .browser()
            .post(format!("{}/keys/new", app.base))
            .header("cookie", &session.cookie)
            .form(&form);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
            response.text().await.unwrap()
        }
    };

    let html = post(vec![
        ("allowed_ips", "10.0.0.0/8\nnot an address"),
        ("trusted_origins", "ftp://files.example"),
    ])
    .await;
    for (id, label, line) in [
        ("allowed_ips", "Allowed IPs", "Line 2: "),
        ("trusted_origins", "Trusted origins", "Line 1: "),
    ] {
        // Next to the field, which points at it; linked from the summary.
        assert!(
            html.contains(&format!(
                "name=\"{id}\" rows=\"2\" aria-invalid=\"true\" aria-describedby=\"{id}-error\">"
            )),
            "{html}"
        );
        assert!(
            html.contains(&format!(
                "<p class=\"field-error\" id=\"{id}-error\">{line}"
            )),
            "{html}"
        );
        assert!(
            html.contains(&format!("<a href=\"#{id}\">{label}: {line}")),
            "{html}"
        );
    }
    assert!(
        html.contains("10.0.0.0/8\nnot an address</textarea>"),
        "kept: {html}"
    );
    assert!(
        !html.contains("Allowed ips")
            && !html.contains("aria-invalid=\"true\" aria-describedby=\"name-error\"")
    );

    // An expiry "on a date" without a date: at the date, as the form names it.
    let html = post(vec![("expiry", "date")]).await;
    assert!(
        html.contains("<a href=\"#expiry_date\">Expiry date: Choose a date.</a>"),
        "{html}"
    );
    assert!(html.contains(
        "type=\"date\" value=\"\" aria-invalid=\"true\" aria-describedby=\"expiry_date-error\">"
    ));
}

#[tokio::test]
async fn every_form_puts_its_errors_at_its_fields() {
    let app = spawn_app().await;
    let session = app.sign_in(OWNER, OWNER_PASSWORD).await;
    for (path, fields, id, label) in [
        (
            "/members",
            vec![("email", "not an address"), ("role", "member")],
            "email",
            "Email",
        ),
        (
            "/projects",
            vec![("name", "Shop"), ("key_prefix", "Not A Prefix!")],
            "key_prefix",
            "Key prefix",
        ),
        (
            "/policy",
            vec![("stale_after_days", "soon"), ("leak_action", "revoke")],
            "stale_after_days",
            "Stale after days",
        ),
        (
            "/account/password",
            vec![
                ("current", "not my password at all"),
                ("password", "a long enough new password"),
                ("password_again", "a long enough new password"),
            ],
            "current",
            "Current password",
        ),
    ] {
        let mut form = vec![("csrf", session.csrf.as_str())];
        form.extend(fields);
        let response = app
            .browser()
            .post(format!("{}{path}", app.base))
            .header("cookie", &session.cookie)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}"
        );
        let html = response.text().await.unwrap();
        assert!(
            html.contains(&format!(
                "aria-invalid=\"true\" aria-describedby=\"{id}-error\""
            )),
            "{path}: {html}"
        );
        assert!(
            html.contains(&format!("<p class=\"field-error\" id=\"{id}-error\">")),
            "{path}: {html}"
        );
        assert!(
            html.contains(&format!("<a href=\"#{id}\">{label}: ")),
            "{path}: {html}"
        );
    }
}

//! `GET /v1/usage`: the organization's verifications by day or hour and
//! outcome, by project or key, and its keys of the most use.

use crate::helpers::{assert_problem, spawn_app};
use crate::limits::wait_for_usage;
use chrono::Duration;
use reqwest::Method;
use serde_json::{Value, json};

fn top(usage: &Value) -> Vec<(String, u64)> {
    usage["top_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["name"].as_str().unwrap().to_owned(),
                k["total"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_organization_counts_every_key_by_project_and_names_the_busiest() {
    let app = spawn_app().await;
    let shop = app.create_project("Shop", "shop", &["data"]).await;
    let shop = shop["id"].as_str().unwrap();
    let busy = app
        .create_key(
            json!({"name": "busy", "project_id": shop, "trusted_origins": ["https://acme.com"]}),
        )
        .await;
    let quiet = app
        .create_key(json!({"name": "quiet", "project_id": shop}))
        .await;
    let other = app.create_key(json!({"name": "elsewhere"})).await;
    app.advance(Duration::minutes(90));
    for origin in ["https://acme.com", "https://acme.com", "https://evil.com"] {
        app.verify(json!({"key": busy["key"], "origin": origin}))
            .await;
    }
    app.verify(json!({"key": quiet["key"]})).await;
    app.verify(json!({"key": other["key"]})).await;
    app.verify(json!({"key": other["key"]})).await;
    // Another organization's verifications are its own.
    let acme2 = app.new_org("Globex").await;
    let (_, foreign) = app
        .call(
            Method::POST,
            "/v1/keys",
            &acme2.root_key,
            Some(json!({"name": "theirs"})),
        )
        .await;
    for _ in 0..4 {
        app.verify(json!({"key": foreign["key"]})).await;
    }

    let all = wait_for_usage(&app, "/v1/usage?top=10", 6).await;
    // Naming the busiest keys is asked for; the counts are the same without.
    let (_, plain) = app.get("/v1/usage").await;
    assert_eq!(plain["top_keys"], json!([]));
    assert_eq!(plain["data"], all["data"]);
    assert_eq!(all["granularity"], "day");
    assert_eq!(all["project_id"], Value::Null);
    let days = all["data"].as_array().unwrap();
    assert_eq!(days.len(), 30);
    assert_eq!(days[29]["start"], "2030-01-01T00:00:00Z");
    assert_eq!(
        days[29]["counts"],
        json!({"VALID": 5, "ORIGIN_NOT_ALLOWED": 1})
    );
    assert_eq!(
        top(&all),
        [
            ("busy".to_owned(), 3),
            ("elsewhere".to_owned(), 2),
            ("quiet".to_owned(), 1)
        ]
    );

    let hourly = wait_for_usage(
        &app,
        &format!("/v1/usage?granularity=hour&project_id={shop}&top=10"),
        4,
    )
    .await;
    let hours = hourly["data"].as_array().unwrap();
    assert_eq!(hours.len(), 24);
    let at = hours.iter().find(|b| b["total"] != 0).unwrap();
    assert_eq!(at["start"], "2030-01-01T01:00:00Z");
    assert_eq!(at["counts"], json!({"VALID": 3, "ORIGIN_NOT_ALLOWED": 1}));
    assert_eq!(hourly["project_id"], shop);
    assert_eq!(
        top(&hourly),
        [("busy".to_owned(), 3), ("quiet".to_owned(), 1)]
    );

    let one = other["id"].as_str().unwrap();
    let (status, single) = app.get(&format!("/v1/usage?key_id={one}&top=1")).await;
    assert_eq!(status, 200, "{single}");
    assert_eq!(single["key_id"], one);
    assert_eq!(top(&single), [("elsewhere".to_owned(), 2)]);

    // What cannot be read is refused, naming the parameter.
    for (query, field) in [
        (format!("key_id={one}&project_id={shop}"), "key_id"),
        (
            format!("key_id={}", foreign["id"].as_str().unwrap()),
            "key_id",
        ),
        ("project_id=proj_nothing".to_owned(), "project_id"),
        ("granularity=week".to_owned(), "granularity"),
        ("top=101".to_owned(), "top"),
        ("top=ten".to_owned(), "top"),
        ("from=2031-01-01T00:00:00Z".to_owned(), "from"),
    ] {
        let (status, body) = app.get(&format!("/v1/usage?{query}")).await;
        assert_problem(status, &body, 422, "validation_failed");
        assert_eq!(body["errors"][0]["field"], field, "{query}: {body}");
    }
}

#[tokio::test]
async fn a_member_who_sees_only_their_own_keys_does_not_see_the_organization() {
    let app = spawn_app().await;
    let (_, member) = app.member("mo@acme.example", "member").await;
    let (status, body) = app
        .session_call(&member, Method::GET, "/v1/usage", None)
        .await;
    assert_problem(status, &body, 403, "insufficient_scope");
    let (_, analyst) = app.member("ana@acme.example", "analytics").await;
    let (status, body) = app
        .session_call(&analyst, Method::GET, "/v1/usage", None)
        .await;
    assert_eq!(status, 200, "{body}");
    // Root keys' use is for those who see root keys.
    let management = app.management_project().await;
    let path = format!("/v1/usage?project_id={management}");
    let (status, body) = app.session_call(&analyst, Method::GET, &path, None).await;
    assert_problem(status, &body, 422, "validation_failed");
    assert_eq!(body["errors"][0]["field"], "project_id");
    let (status, body) = app.get(&path).await;
    assert_eq!(status, 200, "{body}");
}

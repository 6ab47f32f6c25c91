//! `GET /v1/audit` and `GET /v1/audit/export`.

use crate::helpers::{TestApp, assert_problem, spawn_app};
use chrono::Duration;
use reqwest::Method;
use serde_json::{Value, json};

fn actions(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

async fn some_history(app: &TestApp) -> (Value, Value) {
    app.advance(Duration::hours(1));
    let alpha = app.create_key(json!({"name": "alpha"})).await;
    app.advance(Duration::hours(1));
    let beta = app.create_key(json!({"name": "beta"})).await;
    app.advance(Duration::hours(1));
    app.post(
        &format!("/v1/keys/{}/revoke", alpha["id"].as_str().unwrap()),
        json!({}),
    )
    .await;
    app.patch(
        &format!("/v1/keys/{}", beta["id"].as_str().unwrap()),
        json!({"name": "beta2"}),
    )
    .await;
    (alpha, beta)
}

#[tokio::test]
async fn filters_by_action_actor_target_time_and_words() {
    let app = spawn_app().await;
    let (alpha, _beta) = some_history(&app).await;

    let (status, all) = app.get("/v1/audit").await;
    assert_eq!(status, 200, "{all}");
    let all_actions = actions(&all);
    assert_eq!(
        all_actions[..4],
        ["key.updated", "key.revoked", "key.created", "key.created"]
    );
    assert!(all_actions.contains(&"organization.created".to_owned()));
    let first = &all["data"][0];
    for field in [
        "id",
        "seq",
        "occurred_at",
        "org_id",
        "actor",
        "team",
        "action",
        "target",
        "ip",
        "user_agent",
        "changes",
        "prev_hash",
        "hash",
    ] {
        assert!(first.get(field).is_some(), "event lacks {field}: {first}");
    }
    assert_eq!(first["actor"]["type"], "root_key");
    assert_eq!(first["ip"], "127.0.0.1");
    assert_eq!(
        first["changes"]["name"],
        json!({"before": "beta", "after": "beta2"})
    );

    let (_, exact) = app.get("/v1/audit?action=key.created").await;
    assert_eq!(
        actions(&exact)
            .iter()
            .filter(|a| *a == "key.created")
            .count(),
        actions(&exact).len()
    );
    assert_eq!(
        actions(&exact).len(),
        3,
        "two keys and the initial root key"
    );
    let (_, family) = app.get("/v1/audit?action=key.*").await;
    assert_eq!(actions(&family).len(), 5);
    let (_, by_target) = app
        .get(&format!(
            "/v1/audit?target={}",
            alpha["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(actions(&by_target), ["key.revoked", "key.created"]);
    let (_, by_target_name) = app.get("/v1/audit?target=beta2").await;
    assert_eq!(actions(&by_target_name), ["key.updated"]);
    let (_, by_actor) = app.get("/v1/audit?actor=Initial%20root%20key").await;
    assert_eq!(actions(&by_actor).len(), 4);
    let (_, by_system) = app.get("/v1/audit?actor=system").await;
    assert!(actions(&by_system).contains(&"organization.created".to_owned()));
    let (_, window) = app
        .get("/v1/audit?from=2030-01-01T01:30:00Z&to=2030-01-01T03:00:00Z")
        .await;
    assert_eq!(actions(&window), ["key.created"]);
    let (_, words) = app.get("/v1/audit?q=REVOKED%20alpha").await;
    assert_eq!(actions(&words), ["key.revoked"]);
    let (_, none) = app.get("/v1/audit?team=nobody").await;
    assert_eq!(actions(&none), Vec::<String>::new());

    let (status, body) = app.get("/v1/audit?from=yesterday&limit=0").await;
    assert_problem(status, &body, 422, "validation_failed");
    assert_eq!(body["errors"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn search_reads_reasons_and_descriptions_and_actors_by_part_of_their_name_when_asked() {
    let app = spawn_app().await;
    let key = app
        .create_key(json!({"name": "gamma", "description": "Nightly billing sync"}))
        .await;
    let (status, _) = app
        .post(
            &format!("/v1/keys/{}/revoke", key["id"].as_str().unwrap()),
            json!({"reason": "Laptop stolen at the airport"}),
        )
        .await;
    assert_eq!(status, 200);

    let (_, reason) = app.get("/v1/audit?q=STOLEN%20airport").await;
    assert_eq!(actions(&reason), ["key.revoked"]);
    let (_, description) = app.get("/v1/audit?q=billing").await;
    assert_eq!(actions(&description), ["key.created"]);
    let (_, nothing) = app.get("/v1/audit?q=stolen%20billing").await;
    assert_eq!(actions(&nothing), Vec::<String>::new());
    // Wildcards are literal: `%` finds only a literal percent sign.
    let (_, literal) = app.get("/v1/audit?q=%25").await;
    assert_eq!(actions(&literal), Vec::<String>::new());

    // Part of the actor's name, in any case, when asked for; an id still
    // matches exactly.
    let (_, whole_only) = app.get("/v1/audit?actor=ROOT%20k").await;
    assert_eq!(actions(&whole_only), Vec::<String>::new());
    let (_, by_part) = app
        .get("/v1/audit?actor=ROOT%20k&actor_match=partial")
        .await;
    assert_eq!(actions(&by_part), ["key.revoked", "key.created"]);
    let actor_id = by_part["data"][0]["actor"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, by_id) = app.get(&format!("/v1/audit?actor={actor_id}")).await;
    assert_eq!(actions(&by_id), ["key.revoked", "key.created"]);
    let (_, by_part_of_id) = app
        .get(&format!(
            "/v1/audit?actor={}&actor_match=partial",
            &actor_id[..actor_id.len() - 2]
        ))
        .await;
    assert_eq!(actions(&by_part_of_id), Vec::<String>::new());
}

#[tokio::test]
async fn pagination_is_stable_while_new_events_arrive() {
    let app = spawn_app().await;
    for i in 0..5 {
        app.create_key(json!({"name": format!("k{i}")})).await;
    }
    let (_, first) = app.get("/v1/audit?action=key.created&limit=2").await;
    let mut seen: Vec<i64> = first["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    let mut cursor = first["next_cursor"].as_str().unwrap().to_owned();
    // New events arrive mid-walk; the walk neither repeats nor skips.
    app.create_key(json!({"name": "late"})).await;
    loop {
        let (_, page) = app
            .get(&format!(
                "/v1/audit?action=key.created&limit=2&cursor={cursor}"
            ))
            .await;
        seen.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["seq"].as_i64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 6, "five keys and the root key: {seen:?}");
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "{seen:?}");
}

#[tokio::test]
async fn reading_needs_audit_read_and_sees_only_its_organization() {
    let app = spawn_app().await;
    some_history(&app).await;
    let keys_only = app.root_key_with(&["keys:read", "keys:write"]).await;
    for path in ["/v1/audit", "/v1/audit/export?format=csv"] {
        let (status, body) = app.call(Method::GET, path, &keys_only, None).await;
        assert_problem(status, &body, 403, "insufficient_scope");
    }
    let auditor = app.root_key_with(&["audit:read"]).await;
    let (status, _) = app.call(Method::GET, "/v1/audit", &auditor, None).await;
    assert_eq!(status, 200);

    let other = app.new_org("Other").await;
    let (_, theirs) = app
        .call(Method::GET, "/v1/audit?limit=100", &other.root_key, None)
        .await;
    assert!(
        theirs["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["org_id"] == other.id.as_str())
    );
    assert!(!actions(&theirs).contains(&"key.revoked".to_owned()));
}

async fn export(app: &TestApp, query: &str) -> reqwest::Response {
    app.http
        .get(format!("{}/v1/audit/export?{query}", app.base))
        .bearer_auth(&app.org.root_key)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn csv_export_is_rfc4180_with_formulas_neutralised() {
    let app = spawn_app().await;
    app.create_key(json!({"name": "=HYPERLINK(\"http://evil\")"}))
        .await;
    app.create_key(json!({"name": "comma, \"quoted\""})).await;
    app.create_key(json!({"name": "@SUM(A1)"})).await;

    let response = export(&app, "format=csv&action=key.created").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let disposition = response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"keyward-audit-"),
        "{disposition}"
    );
    assert!(disposition.ends_with("-2030-01-01.csv\""), "{disposition}");
    let body = response.text().await.unwrap();
    assert!(body.contains("\r\n"), "RFC 4180 line ends");

    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(header[0], "id");
    let name_column = header.iter().position(|h| h == "target_name").unwrap();
    let names: Vec<String> = reader
        .records()
        .map(|r| r.unwrap()[name_column].to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "Initial root key",
            "'=HYPERLINK(\"http://evil\")",
            "comma, \"quoted\"",
            "'@SUM(A1)"
        ]
    );
}

#[tokio::test]
async fn jsonl_export_streams_every_matching_event_and_is_audited() {
    let app = spawn_app().await;
    for i in 0..30 {
        app.create_key(json!({"name": format!("k{i}")})).await;
    }
    let response = export(&app, "format=jsonl").await;
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let body = response.text().await.unwrap();
    let events: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as i64).collect::<Vec<_>>(),
        "oldest first, nothing missing"
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| e["action"] == "key.created")
            .count(),
        31
    );
    let chain: Vec<keyward_core::audit::AuditEvent> = events
        .into_iter()
        .map(|e| serde_json::from_value(e).unwrap())
        .collect();
    assert_eq!(
        keyward_core::audit::verify_chain(&chain).unwrap(),
        chain.len() as i64
    );

    let (_, exported) = app.get("/v1/audit?action=audit.exported").await;
    assert_eq!(exported["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        exported["data"][0]["changes"]["export"]["after"]["format"],
        "jsonl"
    );

    let response = export(&app, "format=xml").await;
    assert_eq!(response.status(), 422);
}

#[tokio::test]
async fn concurrent_writers_leave_an_intact_chain() {
    let app = spawn_app().await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let http = app.http.clone();
        let url = format!("{}/v1/keys", app.base);
        let root = app.org.root_key.clone();
        tasks.push(tokio::spawn(async move {
            let response = http
                .post(url)
                .bearer_auth(root)
                .json(&json!({"name": format!("k{i}")}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 201);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let org = keyward_core::id::OrgId::parse(&app.org.id).unwrap();
    let events = app.state.store.audit_events(&org, 0, 10_000).await.unwrap();
    assert_eq!(
        events.iter().filter(|e| e.action == "key.created").count(),
        41
    );
    assert_eq!(
        keyward_core::audit::verify_chain(&events).unwrap(),
        events.len() as i64
    );
}

#[tokio::test]
async fn numbers_in_changes_survive_the_round_trip_through_storage() {
    let app = spawn_app().await;
    // Written as JSON text: numbers a float parser may round differently.
    let body: Value = serde_json::from_str(
        r#"{"name": "k", "meta": {"tiny": 1e-30, "digits": 0.1234567890123456789, "big": 12345678901234567890}}"#,
    )
    .unwrap();
    app.create_key(body).await;
    let org = keyward_core::id::OrgId::parse(&app.org.id).unwrap();
    let events = app.state.store.audit_events(&org, 0, 1000).await.unwrap();
    assert_eq!(
        keyward_core::audit::verify_chain(&events).unwrap(),
        events.len() as i64
    );
}

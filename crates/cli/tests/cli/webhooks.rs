//! Webhooks through the real binary: deliveries pending when a node is
//! killed arrive after it restarts, and with two nodes on one PostgreSQL
//! database each message and each scheduled notice is sent exactly once.

use crate::cluster::{EXCLUSIVE, TestDatabase, create_org, node, post};
use crate::receiver::Receiver;
use crate::support::{self, Server};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

async fn get(http: &reqwest::Client, url: String, root: &str) -> Value {
    let response = http.get(url).bearer_auth(root).send().await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.unwrap()
}

fn key_ids(requests: &[Value]) -> Vec<Value> {
    requests
        .iter()
        .map(|r| r["body"]["data"]["key"]["id"].clone())
        .collect()
}

/// Every accepted message arrived once.
fn assert_each_once(accepted: &[Value]) {
    let mut seen = HashMap::new();
    for request in accepted {
        *seen
            .entry(request["webhook_id"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
    }
    assert!(seen.values().all(|n| *n == 1), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn deliveries_pending_when_the_server_is_killed_arrive_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let org = support::create_org(dir.path(), "Acme", None);
    let root = org["root_key"].as_str().unwrap();
    let flags = [
        "--webhook-allow-private",
        "--webhook-retry-seconds",
        "1,1,1,1,1,1,1,1",
        // The killed node's lease runs out 4 attempt limits plus 30 s
        // after it was taken: 34 s.
        "--webhook-timeout-seconds",
        "1",
    ];
    let server = Server::start(dir.path(), &flags);
    let http = reqwest::Client::new();
    let secret = get(&http, format!("{}/v1/shared-secret", server.base), root).await;
    let receiver = Receiver::start(&[secret["shared_secret"].as_str().unwrap()], &[]).await;
    receiver.set_failing(true);
    post(
        &http,
        format!("{}/v1/webhooks", server.base),
        root,
        json!({"url": receiver.url, "events": ["key.created"]}),
    )
    .await;
    let mut created = Vec::new();
    for i in 0..5 {
        let key = post(
            &http,
            format!("{}/v1/keys", server.base),
            root,
            json!({"name": format!("k{i}")}),
        )
        .await;
        created.push(key["id"].clone());
    }
    receiver.wait_until(|r| r.len() >= 2).await;
    // The next attempt is held open, and the node killed in its middle
    // (SIGKILL: no graceful shutdown, nothing flushed on the way out).
    receiver.set_holding(true);
    let held = receiver.requests().len() + 1;
    receiver.wait_until(|r| r.len() >= held).await;
    drop(server);
    receiver.set_holding(false);

    receiver.set_failing(false);
    let _restarted = Server::start(dir.path(), &flags);
    receiver
        .wait_within(Duration::from_secs(60), |r| {
            r.iter().filter(|r| r["failed"] == false).count() >= 5
        })
        .await;
    let accepted = receiver.accepted();
    assert_eq!(key_ids(&accepted), created, "all of them, in order");
    assert_each_once(&accepted);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_nodes_send_each_message_and_each_notice_once() {
    let _shared = EXCLUSIVE.read().await;
    let Some(db) = TestDatabase::create() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let org = create_org(&db, dir.path());
    let root = org["root_key"].as_str().unwrap();
    let flags = ["--webhook-allow-private", "--notice-interval-seconds", "1"];
    let (a, b) = (
        node(&db, dir.path(), "a", &flags),
        node(&db, dir.path(), "b", &flags),
    );
    let http = reqwest::Client::new();
    let secret = get(&http, format!("{}/v1/shared-secret", a.base), root).await;
    let receiver = Receiver::start(&[secret["shared_secret"].as_str().unwrap()], &[]).await;
    post(
        &http,
        format!("{}/v1/webhooks", b.base),
        root,
        json!({"url": receiver.url, "events": ["key.created", "key.expiring"]}),
    )
    .await;
    let mut created = Vec::new();
    for i in 0..20 {
        let node = if i % 2 == 0 { &a } else { &b };
        let key = post(
            &http,
            format!("{}/v1/keys", node.base),
            root,
            json!({"name": format!("k{i}")}),
        )
        .await;
        created.push(key["id"].clone());
    }
    // A key three days from expiry: inside the 7-day notice, which both
    // nodes' sweeps find every second.
    let soon = (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339();
    let expiring = post(
        &http,
        format!("{}/v1/keys", a.base),
        root,
        json!({"name": "expiring", "expires_at": soon}),
    )
    .await;
    receiver
        .wait_until(|r| r.iter().any(|r| r["type"] == "key.expiring"))
        .await;
    // Give both nodes time to send anything twice, if they would.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let accepted = receiver.accepted();
    assert_each_once(&accepted);
    let created_messages: Vec<_> = accepted
        .iter()
        .filter(|r| r["type"] == "key.created")
        .cloned()
        .collect();
    created.push(expiring["id"].clone());
    assert_eq!(
        key_ids(&created_messages),
        created,
        "in order, across nodes"
    );
    let notices: Vec<_> = accepted
        .iter()
        .filter(|r| r["type"] == "key.expiring")
        .collect();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0]["body"]["data"]["key"]["id"], expiring["id"]);
}

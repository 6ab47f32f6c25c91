//! What a crash and a graceful stop may lose of the usage written behind
//! (docs/api.md, "Usage written behind"): a key's first use is written
//! within a flush; later uses move `last_used_at` only once it moved by the
//! resolution; counters wait up to a resolution. `kill -9` loses at most
//! what waited, never writes anything twice; SIGTERM writes everything.

use crate::support::{Server, create_org, eventually, post_json};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

/// A flush every 100 ms; `last_used_at` written again after an hour, or
/// with the key's counters (in 3,600 shards, one per flush: every 6
/// minutes).
const FLAGS: [&str; 4] = [
    "--usage-flush-ms",
    "100",
    "--usage-resolution-ms",
    "3600000",
];

async fn get(base: &str, path: &str, root: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(root)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn verify(base: &str, key: &str, times: usize) {
    for _ in 0..times {
        let answer = post_json(base, "/v1/verify", None, &json!({"key": key})).await;
        assert_eq!(answer["code"], "VALID", "{answer}");
    }
}

/// The key's verifications counted in storage, and its `last_used_at`.
async fn stored(dir: &Path, root: &str, id: &str) -> (u64, Value) {
    let server = Server::start(dir, &FLAGS);
    let key = get(&server.base, &format!("/v1/keys/{id}"), root).await;
    let usage = get(&server.base, &format!("/v1/keys/{id}/usage"), root).await;
    let total = usage["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|bucket| bucket["total"].as_u64().unwrap())
        .sum();
    server.terminate();
    (total, key["last_used_at"].clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_loses_at_most_what_waited_and_a_graceful_stop_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let org = create_org(dir.path(), "Acme", None);
    let root = org["root_key"].as_str().unwrap();
    let server = Server::start(dir.path(), &FLAGS);
    let created = post_json(&server.base, "/v1/keys", Some(root), &json!({"name": "k"})).await;
    let (id, key) = (
        created["id"].as_str().unwrap(),
        created["key"].as_str().unwrap(),
    );

    // The first use is written within a flush.
    verify(&server.base, key, 1).await;
    let last_used = || async {
        get(&server.base, &format!("/v1/keys/{id}"), root).await["last_used_at"].clone()
    };
    eventually(
        async || last_used().await.is_string(),
        "writing the first use",
    )
    .await;
    let first_use = last_used().await;

    // Later uses within the resolution do not move it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    verify(&server.base, key, 4).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let shown = get(&server.base, &format!("/v1/keys/{id}"), root).await;
    assert_eq!(shown["last_used_at"], first_use);

    // SIGKILL: what waited is lost, or was written by its shard's turn;
    // nothing is counted twice, and the last use stays the first.
    drop(server);
    let (after_crash, last_used) = stored(dir.path(), root, id).await;
    assert!(
        after_crash <= 5,
        "{after_crash} counted for 5 verifications"
    );
    assert_eq!(last_used, first_use);

    // SIGTERM: everything is written, the latest use included.
    let server = Server::start(dir.path(), &FLAGS);
    verify(&server.base, key, 2).await;
    server.terminate();
    let (after_stop, last_used) = stored(dir.path(), root, id).await;
    assert_eq!(after_stop, after_crash + 2);
    assert!(
        last_used.as_str().unwrap() > first_use.as_str().unwrap(),
        "{last_used} is not later than {first_use}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_latest_use_is_written_with_the_key_s_counters_within_a_resolution() {
    let dir = tempfile::tempdir().unwrap();
    let org = create_org(dir.path(), "Acme", None);
    let root = org["root_key"].as_str().unwrap();
    // 200 shards, one per 10 ms flush: each key's turn every 2 s.
    let flags = ["--usage-flush-ms", "10", "--usage-resolution-ms", "2000"];
    let server = Server::start(dir.path(), &flags);
    let created = post_json(&server.base, "/v1/keys", Some(root), &json!({"name": "k"})).await;
    let (id, key) = (
        created["id"].as_str().unwrap(),
        created["key"].as_str().unwrap(),
    );
    let last_used = || async {
        get(&server.base, &format!("/v1/keys/{id}"), root).await["last_used_at"].clone()
    };
    verify(&server.base, key, 1).await;
    eventually(
        async || last_used().await.is_string(),
        "writing the first use",
    )
    .await;
    let first_use = last_used().await;
    // Moved by less than the resolution: not due by itself, but written
    // with the counters when the key's shard comes round.
    verify(&server.base, key, 1).await;
    eventually(
        async || last_used().await != first_use,
        "writing the latest use with the counters",
    )
    .await;
    let latest = last_used().await;
    assert!(
        latest.as_str().unwrap() > first_use.as_str().unwrap(),
        "{latest} is not later than {first_use}"
    );
    server.terminate();
}

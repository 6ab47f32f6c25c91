//! The optional cache: bounded staleness, and one call for concurrent verifications.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use keyward_client::{Code, Keyward};
use serde_json::json;

use crate::support::{Server, counting_proxy};

#[tokio::test]
async fn a_revoked_key_is_refused_again_within_the_ttl() {
    let server = Server::start().await;
    let created = server.key(&server.project().await, json!({})).await;
    let key = created["key"].as_str().unwrap();
    let ttl = Duration::from_secs(2);
    let keyward = Keyward::builder(&server.url)
        .cache_ttl(ttl)
        .build()
        .unwrap();
    assert!(keyward.verify(key, &["data:read"]).await.unwrap().valid);
    let cached_at = Instant::now();
    server
        .admin()
        .keys()
        .revoke(created["id"].as_str().unwrap(), None)
        .await
        .unwrap();

    // Still answered from the cache right after (that is what it is for)…
    assert!(keyward.verify(key, &["data:read"]).await.unwrap().valid);
    // …and refused once the TTL has passed since it was cached, whatever happens:
    // no question asked after that is answered from the cache.
    loop {
        let asked_at = Instant::now();
        if !keyward.verify(key, &["data:read"]).await.unwrap().valid {
            break;
        }
        assert!(
            asked_at.duration_since(cached_at) <= ttl,
            "still valid after the TTL"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        keyward.verify(key, &["data:read"]).await.unwrap().code,
        Code::Revoked
    );
}

#[tokio::test]
async fn without_a_ttl_nothing_is_cached() {
    let server = Server::start().await;
    let created = server.key(&server.project().await, json!({})).await;
    let key = created["key"].as_str().unwrap();
    let keyward = Keyward::new(&server.url).unwrap();
    assert!(keyward.verify(key, &["data:read"]).await.unwrap().valid);
    server
        .admin()
        .keys()
        .revoke(created["id"].as_str().unwrap(), None)
        .await
        .unwrap();
    assert_eq!(
        keyward.verify(key, &["data:read"]).await.unwrap().code,
        Code::Revoked
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_verifications_of_one_request_share_one_call() {
    let server = Server::start().await;
    let project = server.project().await;
    let first = server.key(&project, json!({})).await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = server.key(&project, json!({})).await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let (proxy, calls) = counting_proxy(server.url.clone(), Duration::from_millis(200)).await;
    let keyward = Keyward::builder(&proxy)
        .cache_ttl(Duration::from_secs(5))
        .build()
        .unwrap();

    let mut tasks = Vec::new();
    for n in 0..32 {
        let keyward = keyward.clone();
        let key = if n % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        tasks.push(tokio::spawn(async move {
            keyward.verify(&key, &["data:read"]).await
        }));
    }
    for task in tasks {
        assert!(task.await.unwrap().unwrap().valid);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2, "one call per key");
    assert!(keyward.verify(&first, &["data:read"]).await.unwrap().valid);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "then answered from the cache"
    );
    // Other scopes are another question.
    assert!(!keyward.verify(&first, &["push:read"]).await.unwrap().valid);
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    // Concurrent refusals share their call too, and are not kept.
    let refused: Vec<_> =
        futures_util::future::join_all((0..8).map(|_| keyward.verify(&first, &["push:write"])))
            .await;
    assert!(
        refused
            .iter()
            .all(|answer| answer.as_ref().unwrap().code == Code::InsufficientScope)
    );
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    let _ = keyward.verify(&first, &["push:write"]).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_uses_of_a_limited_key_each_count() {
    let server = Server::start().await;
    let project = server.project().await;
    let limited = server
        .key(
            &project,
            json!({"ratelimit": {"limit": 5, "window_seconds": 60}}),
        )
        .await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let (proxy, calls) = counting_proxy(server.url.clone(), Duration::from_millis(100)).await;
    let keyward = Keyward::builder(&proxy)
        .cache_ttl(Duration::from_secs(5))
        .build()
        .unwrap();
    let answers: Vec<_> =
        futures_util::future::join_all((0..8).map(|_| keyward.verify(&limited, &[] as &[&str])))
            .await;
    assert_eq!(calls.load(Ordering::SeqCst), 8, "Keyward counted every use");
    let valid = answers
        .iter()
        .filter(|answer| answer.as_ref().unwrap().code == Code::Valid)
        .count();
    assert_eq!(valid, 5, "the limit of five held");
}

#[tokio::test]
async fn refusals_and_limited_keys_are_not_cached() {
    let server = Server::start().await;
    let project = server.project().await;
    let limited = server
        .key(
            &project,
            json!({"ratelimit": {"limit": 1000, "window_seconds": 60}}),
        )
        .await;
    let quota = server
        .key(&project, json!({"quota": {"limit": 1000, "period": "day"}}))
        .await;
    let (proxy, calls) = counting_proxy(server.url.clone(), Duration::ZERO).await;
    let keyward = Keyward::builder(&proxy)
        .cache_ttl(Duration::from_secs(5))
        .build()
        .unwrap();
    for key in [&limited, &quota] {
        for _ in 0..3 {
            assert!(
                keyward
                    .verify(key["key"].as_str().unwrap(), &["data:read"])
                    .await
                    .unwrap()
                    .valid
            );
        }
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        6,
        "every use counts in Keyward"
    );

    let plain = server.key(&project, json!({"enabled": false})).await;
    let plain_id = plain["id"].as_str().unwrap();
    let plain = plain["key"].as_str().unwrap();
    assert_eq!(
        keyward.verify(plain, &["data:read"]).await.unwrap().code,
        Code::Disabled
    );
    server.admin().keys().enable(plain_id).await.unwrap();
    assert!(
        keyward.verify(plain, &["data:read"]).await.unwrap().valid,
        "enabled again works at once"
    );

    // Time to create and verify it first, however slow the machine.
    let soon = chrono::Utc::now() + chrono::Duration::seconds(5);
    let soon = soon.to_rfc3339();
    let expiring = server.key(&project, json!({"expires_at": soon})).await;
    let expiring = expiring["key"].as_str().unwrap();
    assert!(
        keyward
            .verify(expiring, &["data:read"])
            .await
            .unwrap()
            .valid
    );
    tokio::time::sleep(Duration::from_millis(5200)).await;
    let after = keyward.verify(expiring, &["data:read"]).await.unwrap();
    assert_eq!(after.code, Code::Expired, "kept past expires_at");
}

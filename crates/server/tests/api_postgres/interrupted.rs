//! A write transaction whose connection dies in the middle (a PostgreSQL
//! restart, a failover, an administrator's `pg_terminate_backend`): the write
//! is refused, nothing of it is kept, and the next one succeeds.

use crate::helpers::spawn_app;
use serde_json::json;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

fn psql(url: &str, sql: &str) -> String {
    let output = Command::new("psql")
        .args([url, "-qAt", "-c", sql])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// Holds a lock on the row of key `id` in another session, until that
/// session is terminated.
fn lock_key(url: &str, id: &str) -> Child {
    Command::new("psql")
        .env("PGAPPNAME", "keyward-test-lock")
        .stderr(std::process::Stdio::null())
        .args([
            url,
            "-q",
            "-c",
            &format!(
                "BEGIN; SELECT id FROM api_keys WHERE id = '{id}' FOR UPDATE; SELECT pg_sleep(600);"
            ),
        ])
        .spawn()
        .unwrap()
}

#[tokio::test]
async fn a_write_whose_connection_dies_is_refused_and_leaves_nothing() {
    let app = spawn_app().await;
    let url = app._database.as_ref().unwrap().url();
    let key = app.create_key(json!({"name": "k"})).await;
    let id = key["id"].as_str().unwrap().to_owned();
    let secret = key["key"].as_str().unwrap().to_owned();
    let mut lock = lock_key(&url, &id);
    let started = Instant::now();
    while psql(
        &url,
        "SELECT count(*) FROM pg_stat_activity
         WHERE application_name = 'keyward-test-lock' AND wait_event = 'PgSleep'",
    ) != "1"
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the lock was never taken"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The revoke's transaction has begun and its update waits on the row:
    // kill that connection there (and no other).
    let path = format!("/v1/keys/{id}/revoke");
    let revoke = app.post(&path, json!({}));
    let kill = async {
        let started = Instant::now();
        loop {
            let killed = psql(
                &url,
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                 WHERE application_name = 'keyward' AND wait_event_type = 'Lock'
                   AND query LIKE 'UPDATE api_keys SET name%'",
            );
            if killed != "0" {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the revoke never waited"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let ((status, body), ()) = tokio::join!(revoke, kill);
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "storage_unavailable");
    psql(
        &url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE application_name = 'keyward-test-lock'",
    );
    lock.wait().unwrap();

    assert_eq!(
        app.verify_code(&secret).await,
        "VALID",
        "nothing of the revoke was kept"
    );
    let revoked_events = |events: &serde_json::Value| {
        events["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "key.revoked")
            .count()
    };
    let (_, events) = app.get(&format!("/v1/audit?target={id}")).await;
    assert_eq!(revoked_events(&events), 0);

    let (status, body) = app.post(&format!("/v1/keys/{id}/revoke"), json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.verify_code(&secret).await, "REVOKED");
    let (_, events) = app.get(&format!("/v1/audit?target={id}")).await;
    assert_eq!(revoked_events(&events), 1);
    let (status, _) = app.post("/v1/keys", json!({"name": "after"})).await;
    assert_eq!(status, 201);
}

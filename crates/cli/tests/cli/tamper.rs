//! `keyward audit verify` catches changes made behind the product's back,
//! directly in the database, and names the first bad event.

use crate::support::{create_org, keyward};
use sqlx::{Connection, SqliteConnection};
use std::path::Path;

struct Tampered {
    _dir: tempfile::TempDir,
    data: std::path::PathBuf,
    /// Event ids by seq (index 0 is seq 1).
    ids: Vec<String>,
}

/// An organization whose five opening events are then tampered with by `sql`.
async fn tamper(sql: &[&str]) -> Tampered {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    create_org(&data, "Acme", Some("a very long password"));
    let mut db = open(&data).await;
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM audit_events ORDER BY seq")
        .fetch_all(&mut db)
        .await
        .unwrap();
    assert_eq!(ids.len(), 5);
    // What an attacker with the database file would do first.
    sqlx::query("DROP TRIGGER audit_events_no_update")
        .execute(&mut db)
        .await
        .unwrap();
    sqlx::query("DROP TRIGGER audit_events_no_delete")
        .execute(&mut db)
        .await
        .unwrap();
    for statement in sql {
        sqlx::query(statement).execute(&mut db).await.unwrap();
    }
    db.close().await.unwrap();
    Tampered {
        _dir: dir,
        data,
        ids,
    }
}

async fn open(data: &Path) -> SqliteConnection {
    SqliteConnection::connect(&format!("sqlite://{}", data.join("keyward.db").display()))
        .await
        .unwrap()
}

/// Runs `keyward audit verify`; returns its exit code and output.
fn verify(data: &Path) -> (i32, String) {
    let output = keyward(data).args(["audit", "verify"]).output().unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[tokio::test]
async fn an_intact_chain_passes() {
    let untouched = tamper(&[]).await;
    let (code, out) = verify(&untouched.data);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("5 events, chain intact"), "{out}");
}

#[tokio::test]
async fn the_product_itself_cannot_edit_or_delete_events() {
    let dir = tempfile::tempdir().unwrap();
    create_org(dir.path(), "Acme", None);
    let mut db = open(dir.path()).await;
    let update = sqlx::query("UPDATE audit_events SET action = 'x' WHERE seq = 1")
        .execute(&mut db)
        .await;
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = sqlx::query("DELETE FROM audit_events")
        .execute(&mut db)
        .await;
    assert!(delete.unwrap_err().to_string().contains("append-only"));
}

#[tokio::test]
async fn an_altered_field_is_named() {
    let t = tamper(&["UPDATE audit_events SET actor_name = 'mallory' WHERE seq = 3"]).await;
    let (code, out) = verify(&t.data);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("event {} (seq 3) was altered", t.ids[2])),
        "{out}"
    );
}

#[tokio::test]
async fn an_altered_hash_is_named() {
    // Rewriting the hash too does not help: the next event no longer follows.
    let t = tamper(&["UPDATE audit_events SET target_name = 'x', hash = 'ab' WHERE seq = 4"]).await;
    let (code, out) = verify(&t.data);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("event {} (seq 4)", t.ids[3])),
        "{out}"
    );
}

#[tokio::test]
async fn a_deleted_event_is_named_by_its_successor() {
    let t = tamper(&["DELETE FROM audit_events WHERE seq = 3"]).await;
    let (code, out) = verify(&t.data);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("event {} (seq 4) does not follow", t.ids[3])),
        "{out}"
    );
}

#[tokio::test]
async fn a_deleted_first_event_is_named_by_its_successor() {
    let t = tamper(&["DELETE FROM audit_events WHERE seq = 1"]).await;
    let (code, out) = verify(&t.data);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("event {} (seq 2) does not follow", t.ids[1])),
        "{out}"
    );
}

#[tokio::test]
async fn an_inserted_event_is_named() {
    // Make room after seq 2 and insert a copy of event 2 as a new seq 3.
    let t = tamper(&[
        "UPDATE audit_events SET seq = seq + 100 WHERE seq >= 3",
        "UPDATE audit_events SET seq = seq - 99 WHERE seq >= 103",
        "INSERT INTO audit_events SELECT org_id, 3, 'evt_FORGEDforgedFORGED00', occurred_at, actor_type, actor_id,
             actor_name, team, action, target_type, target_id, target_name, ip, user_agent, changes, prev_hash, hash
         FROM audit_events WHERE seq = 2",
    ])
    .await;
    let (code, out) = verify(&t.data);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("(seq 3)"), "{out}");
    assert!(out.contains("evt_FORGEDforgedFORGED00"), "{out}");
}

#[tokio::test]
async fn swapped_events_are_named() {
    let t = tamper(&[
        "UPDATE audit_events SET seq = 100 WHERE seq = 2",
        "UPDATE audit_events SET seq = 2 WHERE seq = 3",
        "UPDATE audit_events SET seq = 3 WHERE seq = 100",
    ])
    .await;
    let (code, out) = verify(&t.data);
    assert_eq!(code, 1, "{out}");
    // The event now at seq 2 is the old third one.
    assert!(
        out.contains(&format!("event {} (seq 2)", t.ids[2])),
        "{out}"
    );
}

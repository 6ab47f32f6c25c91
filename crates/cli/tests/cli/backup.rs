//! Backups that work: a clean shutdown leaves a database file that holds
//! everything, `keyward backup` copies a live database under write load,
//! and the files are private whatever the umask.

use crate::support::{Server, create_org, keyward, run};
use reqwest::Client;
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

async fn create_key(http: &Client, base: &str, root: &str, name: &str) -> Option<Value> {
    let response = http
        .post(format!("{base}/v1/keys"))
        .bearer_auth(root)
        .json(&json!({ "name": name }))
        .send()
        .await
        .ok()?;
    (response.status() == 201).then_some(response.json().await.ok()?)
}

async fn verify(http: &Client, base: &str, key: &str) -> String {
    let body: Value = http
        .post(format!("{base}/v1/verify"))
        .json(&json!({ "key": key }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["code"].as_str().unwrap().to_owned()
}

/// A data directory holding only `database` (as `keyward.db`) and the master key.
fn restore(from: &Path, database: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    std::fs::copy(database, to.join("keyward.db")).unwrap();
    std::fs::copy(from.join("master.key"), to.join("master.key")).unwrap();
}

fn audit_verify(data: &Path) -> String {
    let output = run(keyward(data).args(["audit", "verify"]));
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn after_a_clean_shutdown_the_database_file_alone_is_a_backup() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let org = create_org(&data, "Acme", Some("a very long password"));
    let root = org["root_key"].as_str().unwrap();
    let server = Server::start(&data, &[]);
    let http = Client::new();
    let key = create_key(&http, &server.base, root, "kept").await.unwrap();
    server.terminate();

    let copy = dir.path().join("cold");
    restore(&data, &data.join("keyward.db"), &copy);
    let server = Server::start(&copy, &[]);
    assert_eq!(
        verify(&http, &server.base, key["key"].as_str().unwrap()).await,
        "VALID"
    );
    server.terminate();
    assert!(audit_verify(&copy).contains("chain intact"));
}

#[tokio::test]
async fn keyward_backup_copies_a_live_database_under_write_load() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let org = create_org(&data, "Acme", Some("a very long password"));
    let root = org["root_key"].as_str().unwrap().to_owned();
    let server = Server::start(&data, &[]);
    let base = server.base.clone();
    let acknowledged: Arc<Mutex<Vec<Value>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (base, root, acknowledged, stop) = (
                base.clone(),
                root.clone(),
                Arc::clone(&acknowledged),
                Arc::clone(&stop),
            );
            tokio::spawn(async move {
                let http = Client::new();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    if let Some(key) = create_key(&http, &base, &root, &format!("w{w}-{n}")).await {
                        acknowledged.lock().unwrap().push(key);
                    }
                    n += 1;
                }
            })
        })
        .collect();
    while acknowledged.lock().unwrap().len() < 50 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let before: Vec<Value> = acknowledged.lock().unwrap().clone();
    let output = dir.path().join("backup.db");
    let data_for_backup = data.clone();
    let output_for_backup = output.clone();
    let printed = tokio::task::spawn_blocking(move || {
        run(keyward(&data_for_backup)
            .args(["backup", "--output"])
            .arg(&output_for_backup))
    })
    .await
    .unwrap();
    assert!(String::from_utf8_lossy(&printed.stdout).contains("backup written"));
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }
    assert!(
        acknowledged.lock().unwrap().len() > before.len(),
        "writes went on during the backup"
    );
    server.terminate();
    assert_eq!(
        std::fs::metadata(&output).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let restored = dir.path().join("restored");
    restore(&data, &output, &restored);
    assert!(audit_verify(&restored).contains("chain intact"));
    let server = Server::start(&restored, &[]);
    let http = Client::new();
    for key in &before {
        assert_eq!(
            verify(&http, &server.base, key["key"].as_str().unwrap()).await,
            "VALID",
            "{}",
            key["name"]
        );
    }
    server.terminate();

    // A second backup never overwrites the first.
    let again = keyward(&data)
        .args(["backup", "--output"])
        .arg(&output)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    // Nor follows a link someone left where the copy should go.
    let elsewhere = dir.path().join("elsewhere.db");
    let planted = dir.path().join("planted.db");
    std::os::unix::fs::symlink(&elsewhere, &planted).unwrap();
    let followed = keyward(&data)
        .args(["backup", "--output"])
        .arg(&planted)
        .output()
        .unwrap();
    assert!(!followed.status.success());
    assert!(!elsewhere.exists(), "nothing was written through the link");
}

#[test]
fn backup_refuses_postgresql_and_points_to_its_tools() {
    let dir = tempfile::tempdir().unwrap();
    let output = keyward(dir.path())
        .args([
            "backup",
            "--output",
            "x.db",
            "--database-url",
            "postgres://postgres@127.0.0.1:5432/none",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("pg_dump"));
}

#[test]
fn the_data_directory_and_database_files_are_private_whatever_the_umask() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let binary = keyward(&data);
    let status = Command::new("sh")
        .env_clear()
        .envs(binary.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .args(["-c", r#"umask 000; exec "$0" "$@""#])
        .arg(binary.get_program())
        .args([
            "org",
            "create",
            "--name",
            "Acme",
            "--owner-email",
            "o@example.com",
        ])
        .env("KEYWARD_OWNER_PASSWORD", "a very long password")
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    for file in [
        "keyward.db",
        "keyward.db-wal",
        "keyward.db-shm",
        "master.key",
    ] {
        let path = data.join(file);
        if path.exists() {
            assert_eq!(mode(&path), 0o600, "{file}");
        }
    }
    assert_eq!(mode(&data.join("keyward.db")), 0o600);
}

#[test]
fn an_existing_data_directory_open_to_others_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let server = Server::start(&data, &[]);
    let log = server.terminate();
    assert!(
        log.contains("the data directory is open to other users"),
        "{log}"
    );
}

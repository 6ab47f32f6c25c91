//! `keyward org create` and `keyward migrate`.

use crate::support::{create_org, keyward, run};

#[test]
fn org_create_makes_a_separate_organization_each_time() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let first = create_org(&data, "Acme", Some("a very long password"));
    assert!(first["org_id"].as_str().unwrap().starts_with("org_"));
    assert_eq!(first["owner_email"], "owner@example.com");
    assert!(
        first.get("owner_password").is_none(),
        "a given password is never echoed"
    );
    assert!(
        first["root_key"]
            .as_str()
            .unwrap()
            .starts_with("kwroot_sk_")
    );
    assert!(
        data.join("keyward.db").exists(),
        "the database is created on first use"
    );
    assert!(data.join("master.key").exists());

    let second = create_org(&data, "Globex", None);
    assert_ne!(second["org_id"], first["org_id"]);
    assert_ne!(second["root_key"], first["root_key"]);
    assert!(
        second["owner_password"].as_str().unwrap().len() >= 12,
        "generated and printed once"
    );
}

#[test]
fn org_create_rejects_bad_input_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let output = keyward(dir.path())
        .args([
            "org",
            "create",
            "--name",
            "Acme",
            "--owner-email",
            "not-an-email",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("owner_email"), "{stderr}");
    let output = keyward(dir.path())
        .args(["org", "create", "--name", "Acme", "--owner-email", "a@b.co"])
        .env("KEYWARD_OWNER_PASSWORD", "short")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("at least 12"));
}

#[test]
fn secrets_can_come_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let password = dir.path().join("password");
    std::fs::write(&password, "from a file, long enough\n").unwrap();
    let output = run(keyward(&dir.path().join("data"))
        .args([
            "org",
            "create",
            "--name",
            "Acme",
            "--owner-email",
            "a@b.co",
            "--json",
        ])
        .env("KEYWARD_OWNER_PASSWORD_FILE", &password));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(json.get("owner_password").is_none());
}

#[test]
fn migrate_and_audit_verify_on_a_fresh_database() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(keyward(dir.path()).arg("migrate"));
    assert!(String::from_utf8_lossy(&output.stdout).contains("migrations applied"));
    create_org(dir.path(), "Acme", None);
    let output = run(keyward(dir.path()).args(["audit", "verify"]));
    assert!(String::from_utf8_lossy(&output.stdout).contains("chain intact"));
}

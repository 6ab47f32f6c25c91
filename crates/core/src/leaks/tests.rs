use super::*;
use crate::crypto::MasterKey;
use crate::id::{OrgId, ProjectId};
use crate::key_format::KeyPrefix;
use crate::keys::CreateKey;
use crate::model::Project;

fn key() -> KeyRecord {
    key_of(json!({"name": "k"}))
}

/// A project of `org` with an empty catalog.
fn project(id: ProjectId, org: OrgId) -> Project {
    let now = Utc::now();
    Project {
        id,
        org_id: org,
        name: "p".to_owned(),
        key_prefix: KeyPrefix::default(),
        apis: vec![],
        management: false,
        created_at: now,
        updated_at: now,
    }
}

/// The project `record` belongs to.
fn project_of(record: &KeyRecord) -> Project {
    project(record.project_id.clone(), record.org_id.clone())
}

fn key_of(input: Value) -> KeyRecord {
    let now = Utc::now();
    let org = OrgId::generate().unwrap();
    let project = project(ProjectId::generate().unwrap(), org.clone());
    let input: CreateKey = serde_json::from_value(input).unwrap();
    keys::create(
        input,
        &org,
        &project,
        "mem_x".to_owned(),
        &MasterKey::from_bytes(&[7; 32]),
        now,
    )
    .unwrap()
    .record
}

fn report() -> LeakReport {
    LeakReport {
        source: LeakSource::Github,
        url: Some("https://github.com/o/r/blob/main/.env".to_owned()),
        details: Map::new(),
    }
}

#[test]
fn each_leak_action_does_what_it_says_once() {
    let now = Utc::now();
    for (action, consequence) in [
        (LeakAction::Revoke, Consequence::Revoked),
        (LeakAction::Disable, Consequence::Disabled),
        (LeakAction::Notify, Consequence::None),
    ] {
        let before = key();
        let mut after = before.clone();
        assert_eq!(
            act(&mut after, &report(), Secret::Current, action, now),
            Some(consequence)
        );
        assert_eq!(
            after.leak.as_ref().map(|l| l.source),
            Some(LeakSource::Github)
        );
        assert_eq!(after.revoked_at.is_some(), action == LeakAction::Revoke);
        assert_eq!(after.enabled, action != LeakAction::Disable);
        let events = events(&before, &after, &report(), consequence);
        let actions: Vec<_> = events.iter().map(|e| e.action.as_str()).collect();
        match action {
            LeakAction::Revoke => assert_eq!(actions, ["key.leaked", "key.revoked"]),
            LeakAction::Disable => assert_eq!(actions, ["key.leaked", "key.disabled"]),
            LeakAction::Notify => assert_eq!(actions, ["key.leaked"]),
        }
        let again = after.clone();
        assert_eq!(
            act(&mut after, &report(), Secret::Current, action, now),
            None,
            "acted on once"
        );
        assert_eq!(after.revoked_at, again.revoked_at);
    }
}

#[test]
fn a_revoked_key_records_the_leak_without_a_second_revocation() {
    let now = Utc::now();
    let mut record = key();
    keys::revoke(&mut record, Some("rotated".to_owned()), now).unwrap();
    let before = record.clone();
    assert_eq!(
        act(
            &mut record,
            &report(),
            Secret::Current,
            LeakAction::Revoke,
            now
        ),
        Some(Consequence::None)
    );
    assert!(record.leak.is_some());
    assert_eq!(record.revoked_reason.as_deref(), Some("rotated"));
    let actions: Vec<_> = events(&before, &record, &report(), Consequence::None)
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["key.leaked"]);
}

#[test]
fn an_archived_key_is_left_alone() {
    let now = Utc::now();
    let mut record = key();
    keys::archive(&mut record, now).unwrap();
    assert_eq!(
        act(
            &mut record,
            &report(),
            Secret::Current,
            LeakAction::Revoke,
            now
        ),
        None
    );
    assert!(record.leak.is_none());
}

#[test]
fn a_leaked_secret_cannot_be_given_a_grace_period_and_regenerating_clears_the_leak() {
    let now = Utc::now();
    let mut record = key();
    act(
        &mut record,
        &report(),
        Secret::Current,
        LeakAction::Notify,
        now,
    );
    let project = project_of(&record);
    let master = MasterKey::from_bytes(&[7; 32]);
    assert!(keys::regenerate(&mut record.clone(), &project, 60, &master, now).is_err());
    keys::regenerate(&mut record, &project, 0, &master, now).unwrap();
    assert!(record.leak.is_none() && record.previous.is_none());
}

#[test]
fn public_reports_take_only_http_urls_and_plain_notes() {
    let parse = |body: Value| serde_json::from_value::<ReportLeak>(body).unwrap().report();
    let ok =
        parse(json!({"key": "x", "source_url": "https://gist.github.com/a", "note": "found it"}))
            .unwrap();
    assert_eq!(ok.url.as_deref(), Some("https://gist.github.com/a"));
    assert_eq!(ok.details["note"], "found it");
    assert!(parse(json!({"key": "x", "source_url": "javascript:alert(1)"})).is_err());
    assert!(parse(json!({"key": "x", "source_url": "file:///etc/passwd"})).is_err());
    assert!(parse(json!({"key": "x", "note": "a\u{0}b"})).is_err());
    assert!(parse(json!({"key": "x", "note": "n".repeat(1001)})).is_err());
    let long = format!("https://e.com/{}", "a".repeat(2048));
    assert!(parse(json!({"key": "x", "source_url": long})).is_err());
}

#[test]
fn only_a_working_secret_of_a_secret_key_is_a_leak() {
    let now = Utc::now();
    let publishable = key_of(json!({"name": "web", "type": "publishable"}));
    assert_eq!(leaked_secret(&publishable, &publishable.hash, now), None);
    let mut record = key();
    let old = record.hash;
    assert_eq!(leaked_secret(&record, &old, now), Some(Secret::Current));
    let project = project_of(&record);
    keys::regenerate(
        &mut record,
        &project,
        3600,
        &MasterKey::from_bytes(&[7; 32]),
        now,
    )
    .unwrap();
    assert_eq!(leaked_secret(&record, &old, now), Some(Secret::Previous));
    let later = now + chrono::Duration::hours(2);
    assert_eq!(
        leaked_secret(&record, &old, later),
        None,
        "grace period over"
    );

    // The previous secret stops; the current one is not touched.
    let before = record.clone();
    assert_eq!(
        act(
            &mut record,
            &report(),
            Secret::Previous,
            LeakAction::Revoke,
            now
        ),
        Some(Consequence::PreviousStopped)
    );
    assert!(record.previous.is_none() && record.revoked_at.is_none() && record.leak.is_none());
    let events = events(&before, &record, &report(), Consequence::PreviousStopped);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].changes["secret"]["after"], "previous");
    assert!(events[0].changes["previous_secret_expires_at"]["before"].is_string());
}

#[test]
fn a_leaked_root_key_is_revoked_whatever_the_policy() {
    let now = Utc::now();
    let mut record = key();
    record.root = true;
    assert_eq!(
        act(
            &mut record,
            &report(),
            Secret::Current,
            LeakAction::Notify,
            now
        ),
        Some(Consequence::Revoked)
    );
}

#[test]
fn keys_pasted_into_a_report_are_redacted() {
    let key = "kw_sk_0123456789abcdefghijABCDEFGHIJ0123456789";
    let body = json!({
        "key": key,
        "source_url": format!("https://user:pw@paste.example/raw?k={key}"),
        "note": format!("it is {key}, see"),
    });
    let report = serde_json::from_value::<ReportLeak>(body)
        .unwrap()
        .report()
        .unwrap();
    assert_eq!(
        report.url.as_deref(),
        Some("https://paste.example/raw?k=[redacted key]")
    );
    assert_eq!(report.details["note"], "it is [redacted key], see");
}

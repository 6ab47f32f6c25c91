//! Members, teams and dashboard sessions: the people who use the dashboard.

use crate::fixtures::{
    Org, actions, all_events, at, create_org, key_input, master_key, member_ctx,
};
use chrono::{DateTime, Utc};
use keyward_core::audit::verify_chain;
use keyward_core::events;
use keyward_core::id::{KeyId, MemberId, TeamId};
use keyward_core::keys;
use keyward_core::model::{KeyRecord, Member, MemberRole, Session, Team};
use keyward_core::scope::Role;
use keyward_core::store::{KeyChange, LAST_OWNER, Store, StoreError};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

pub(crate) const EMAIL_TAKEN: &str = "a member with this email already exists";
pub(crate) const TEAM_TAKEN: &str = "a team with this name already exists";

/// A member of `org`, not yet stored.
pub(crate) fn member(org: &Org, email: &str, role: MemberRole, now: DateTime<Utc>) -> Member {
    Member {
        id: MemberId::generate().unwrap(),
        org_id: org.org.id.clone(),
        email: email.to_owned(),
        name: email.split('@').next().unwrap().to_owned(),
        role,
        password_hash: format!("$argon2id$v=19$hash-of-{email}"),
        created_at: now,
        must_change_password: false,
    }
}

/// Builds and stores a member of `org`.
pub(crate) async fn add_member(
    store: &dyn Store,
    org: &Org,
    email: &str,
    now: DateTime<Utc>,
) -> Member {
    let new = member(org, email, MemberRole::Member, now);
    store
        .insert_member(&new, &member_ctx(now), events::member_added(&new))
        .await
        .unwrap();
    new
}

pub(crate) fn assert_same_member(stored: &Member, expected: &Member) {
    assert_eq!(stored.id, expected.id);
    assert_eq!(stored.org_id, expected.org_id);
    assert_eq!(stored.email, expected.email);
    assert_eq!(stored.name, expected.name);
    assert_eq!(stored.role, expected.role);
    assert_eq!(stored.password_hash, expected.password_hash);
    assert_eq!(stored.created_at, expected.created_at);
    assert_eq!(stored.must_change_password, expected.must_change_password);
}

pub(crate) fn member_ids(members: &[Member]) -> Vec<MemberId> {
    members.iter().map(|m| m.id.clone()).collect()
}

pub(crate) fn conflict(result: Result<(), StoreError>) -> String {
    match result {
        Err(StoreError::Conflict(message)) => message,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

pub(crate) async fn assert_chain(store: &dyn Store, org: &Org) {
    let events = all_events(store, org.id()).await;
    assert_eq!(
        verify_chain(&events),
        Ok(i64::try_from(events.len()).unwrap())
    );
}

pub async fn members_are_added_listed_and_unique(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let acme = create_org(s, "Acme", at(0)).await;
    let globex = create_org(s, "Globex", at(0)).await;

    // The owner, written with the organization.
    let owner = store
        .get_member(acme.id(), &acme.owner.id)
        .await
        .unwrap()
        .unwrap();
    assert_same_member(&owner, &acme.owner);
    assert_eq!(
        member_ids(&store.list_members(acme.id()).await.unwrap()),
        std::slice::from_ref(&acme.owner.id)
    );

    let mut bob = member(&acme, "bob@example.com", MemberRole::Admin, at(1));
    bob.must_change_password = true;
    store
        .insert_member(&bob, &member_ctx(at(1)), events::member_added(&bob))
        .await
        .unwrap();
    let carol = add_member(s, &acme, "Carol@example.com", at(2)).await;
    let stored = store.get_member(acme.id(), &bob.id).await.unwrap().unwrap();
    assert_same_member(&stored, &bob);
    assert!(stored.must_change_password);

    // By email, compared as bytes: upper case sorts first.
    let listed = store.list_members(acme.id()).await.unwrap();
    assert_eq!(
        member_ids(&listed),
        [carol.id.clone(), bob.id.clone(), acme.owner.id.clone()]
    );
    assert_same_member(&listed[1], &bob);

    // An email is unique within an organization only.
    let twin = member(&acme, "bob@example.com", MemberRole::Member, at(3));
    let taken = store
        .insert_member(&twin, &member_ctx(at(3)), events::member_added(&twin))
        .await;
    assert_eq!(conflict(taken), EMAIL_TAKEN);
    assert!(
        store
            .get_member(acme.id(), &twin.id)
            .await
            .unwrap()
            .is_none()
    );
    let elsewhere = add_member(s, &globex, "bob@example.com", at(4)).await;
    assert_eq!(
        member_ids(&store.members_by_email("bob@example.com").await.unwrap()),
        [bob.id.clone(), elsewhere.id.clone()]
    );
    assert!(
        store
            .members_by_email("BOB@example.com")
            .await
            .unwrap()
            .is_empty()
    );

    // Nothing of one organization is visible through another.
    assert!(
        store
            .get_member(globex.id(), &bob.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .get_member(acme.id(), &MemberId::generate().unwrap())
            .await
            .unwrap()
            .is_none()
    );

    // The failed insert left no event behind.
    assert_eq!(
        actions(s, acme.id()).await[5..],
        ["member.added", "member.added"]
    );
    assert_chain(s, &acme).await;
    assert_chain(s, &globex).await;
}

pub async fn members_are_updated(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let acme = create_org(s, "Acme", at(0)).await;
    let globex = create_org(s, "Globex", at(0)).await;
    let bob = add_member(s, &acme, "bob@example.com", at(1)).await;

    let mut changed = bob.clone();
    changed.name = "Robert".to_owned();
    changed.role = MemberRole::Support;
    // Only the name and role are written: the email and creation time are
    // not changeable, and a stale copy cannot undo a password change.
    changed.password_hash = "$argon2id$v=19$stale".to_owned();
    changed.must_change_password = true;
    changed.email = "robert@example.com".to_owned();
    changed.created_at = at(99);
    store
        .update_member(
            &changed,
            &member_ctx(at(2)),
            events::member_updated(&bob, &changed),
        )
        .await
        .unwrap();
    let stored = store.get_member(acme.id(), &bob.id).await.unwrap().unwrap();
    assert_eq!(stored.name, "Robert");
    assert_eq!(stored.role, MemberRole::Support);
    assert_eq!(stored.password_hash, bob.password_hash);
    assert!(!stored.must_change_password);
    assert_eq!(stored.email, "bob@example.com");
    assert_eq!(stored.created_at, at(1));

    // A password change writes the password and ends the other sessions.
    let far = at(10_000);
    for token in [1, 2] {
        store
            .insert_session(&session(&stored, token, far))
            .await
            .unwrap();
    }
    let kept = session(&stored, 1, far).token_hash;
    let mut reset = stored.clone();
    reset.password_hash = "$argon2id$v=19$temporary".to_owned();
    reset.must_change_password = true;
    store
        .set_member_password(
            &reset,
            Some(&kept),
            &member_ctx(at(3)),
            events::member_password("member.password_changed", &reset),
        )
        .await
        .unwrap();
    let stored = store.get_member(acme.id(), &bob.id).await.unwrap().unwrap();
    assert_eq!(stored.password_hash, "$argon2id$v=19$temporary");
    assert!(stored.must_change_password);
    assert_eq!(stored.name, "Robert");
    assert!(store.get_session(&kept, at(4)).await.unwrap().is_some());
    let ended = session(&stored, 2, far).token_hash;
    assert!(store.get_session(&ended, at(4)).await.unwrap().is_none());

    // Unknown, or of another organization: not found, and nothing audited.
    let unknown = member(&acme, "nobody@example.com", MemberRole::Member, at(4));
    let mut foreign = bob.clone();
    foreign.org_id = globex.org.id.clone();
    for missing in [&unknown, &foreign] {
        let result = store
            .update_member(
                missing,
                &member_ctx(at(4)),
                events::member_updated(missing, missing),
            )
            .await;
        assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");
    }
    assert_eq!(
        actions(s, acme.id()).await[5..],
        ["member.added", "member.updated", "member.password_changed"]
    );
    assert_eq!(actions(s, globex.id()).await.len(), 5);
    assert_chain(s, &acme).await;
}

pub async fn an_organization_always_keeps_an_owner(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let acme = create_org(s, "Acme", at(0)).await;
    let before = actions(s, acme.id()).await.len();
    let mut demoted = acme.owner.clone();
    demoted.role = MemberRole::Admin;
    let result = store
        .update_member(
            &demoted,
            &member_ctx(at(1)),
            events::member_updated(&acme.owner, &demoted),
        )
        .await;
    assert_eq!(conflict(result), LAST_OWNER);
    let removed = store
        .remove_member(acme.id(), &acme.owner.id, &member_ctx(at(1)))
        .await;
    assert!(
        matches!(&removed, Err(StoreError::Conflict(m)) if m == LAST_OWNER),
        "{removed:?}"
    );
    let stored = store
        .get_member(acme.id(), &acme.owner.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.role, MemberRole::Owner);
    assert_eq!(actions(s, acme.id()).await.len(), before, "nothing audited");

    // With a second owner, the first may step down.
    let second = member(&acme, "second@example.com", MemberRole::Owner, at(2));
    store
        .insert_member(&second, &member_ctx(at(2)), events::member_added(&second))
        .await
        .unwrap();
    store
        .update_member(
            &demoted,
            &member_ctx(at(3)),
            events::member_updated(&acme.owner, &demoted),
        )
        .await
        .unwrap();
    assert_chain(s, &acme).await;
}

/// Stores a key of `org`'s default project created by `creator`, after `change`.
pub(crate) async fn add_key_by(
    store: &dyn Store,
    org: &Org,
    creator: &str,
    name: &str,
    change: impl FnOnce(&mut KeyRecord),
) -> KeyRecord {
    let mut record = keys::create(
        key_input(name, Role::Readonly),
        org.id(),
        &org.project,
        creator.to_owned(),
        &master_key(),
        at(1),
    )
    .unwrap()
    .record;
    change(&mut record);
    store
        .insert_key(
            &record,
            None,
            &member_ctx(at(1)),
            events::key_created(&record),
        )
        .await
        .unwrap();
    record
}

pub(crate) fn session(member: &Member, token: u8, expires_at: DateTime<Utc>) -> Session {
    Session {
        token_hash: [token; 32],
        org_id: member.org_id.clone(),
        member_id: member.id.clone(),
        created_at: at(1),
        expires_at,
    }
}

pub async fn removing_a_member_disables_their_live_keys(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let acme = create_org(s, "Acme", at(0)).await;
    let globex = create_org(s, "Globex", at(0)).await;
    let bob = add_member(s, &acme, "bob@example.com", at(1)).await;
    let carol = add_member(s, &acme, "carol@example.com", at(1)).await;
    let by_bob = bob.id.as_str();

    let live = add_key_by(s, &acme, by_bob, "Live", |_| {}).await;
    let expiring = add_key_by(s, &acme, by_bob, "Expired", |k| {
        k.expires_at = Some(at(2));
    })
    .await;
    let disabled = add_key_by(s, &acme, by_bob, "Disabled", |k| k.enabled = false).await;
    let revoked = add_key_by(s, &acme, by_bob, "Revoked", |k| {
        k.revoked_at = Some(at(1));
        k.revoked_reason = Some("leaked".to_owned());
    })
    .await;
    let archived = add_key_by(s, &acme, by_bob, "Archived", |k| {
        k.archived_at = Some(at(1));
    })
    .await;
    let carols = add_key_by(s, &acme, carol.id.as_str(), "Carol's", |_| {}).await;
    // Created by the same id in another organization: untouched.
    let foreign = add_key_by(s, &globex, by_bob, "Foreign", |_| {}).await;

    let team = Team {
        id: TeamId::generate().unwrap(),
        org_id: acme.org.id.clone(),
        name: "Blue".to_owned(),
        members: vec![bob.id.clone(), carol.id.clone()],
        created_at: at(1),
    };
    store
        .insert_team(
            &team,
            &member_ctx(at(1)),
            events::team_changed("team.created", None, Some(&team)),
        )
        .await
        .unwrap();
    for new in [
        session(&bob, 1, at(1000)),
        session(&bob, 2, at(1000)),
        session(&carol, 3, at(1000)),
    ] {
        store.insert_session(&new).await.unwrap();
    }

    let changes = store.watch_key_changes().await.unwrap();
    let removed = store
        .remove_member(acme.id(), &bob.id, &member_ctx(at(5)))
        .await
        .unwrap();
    let mut expected = vec![live.id.clone(), expiring.id.clone()];
    expected.sort();
    assert_eq!(removed, expected);

    for key in [&live, &expiring] {
        let stored = store.get_key(acme.id(), &key.id).await.unwrap().unwrap();
        assert!(!stored.enabled, "{}", key.name);
        assert_eq!(stored.version, key.version + 1);
        assert_eq!(stored.updated_at, at(5));
        assert!(stored.revoked_at.is_none());
    }
    for (org, key) in [
        (&acme, &disabled),
        (&acme, &revoked),
        (&acme, &archived),
        (&acme, &carols),
        (&globex, &foreign),
    ] {
        let stored = store.get_key(org.id(), &key.id).await.unwrap().unwrap();
        assert_eq!(stored.enabled, key.enabled, "{}", key.name);
        assert_eq!(stored.version, key.version, "{}", key.name);
        assert_eq!(stored.updated_at, key.updated_at, "{}", key.name);
    }

    // The member, their sessions and their team memberships are gone.
    assert!(
        store
            .get_member(acme.id(), &bob.id)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        member_ids(&store.list_members(acme.id()).await.unwrap()),
        [carol.id.clone(), acme.owner.id.clone()]
    );
    assert!(store.get_session(&[1; 32], at(2)).await.unwrap().is_none());
    assert!(store.get_session(&[2; 32], at(2)).await.unwrap().is_none());
    assert!(store.get_session(&[3; 32], at(2)).await.unwrap().is_some());
    let teams = store.list_teams(acme.id()).await.unwrap();
    assert_eq!(teams.len(), 1);
    assert_eq!(teams[0].members, std::slice::from_ref(&carol.id));

    // One event names the disabled keys.
    let events = all_events(s, acme.id()).await;
    let last = events.last().unwrap();
    assert_eq!(last.action, "member.removed");
    assert_eq!(last.target.kind, "member");
    assert_eq!(last.target.id, bob.id.as_str());
    assert_eq!(last.target.name, "bob@example.com");
    assert_eq!(
        last.changes["disabled_keys"]["after"],
        serde_json::json!(expected)
    );
    assert_eq!(last.changes["email"]["before"], "bob@example.com");
    assert_eq!(last.occurred_at, at(5));
    assert_chain(s, &acme).await;

    // Other nodes hear of every disabled key (where the backend announces).
    if let Some(mut changes) = changes {
        let mut heard = BTreeSet::new();
        let wanted: BTreeSet<KeyId> = expected.iter().cloned().collect();
        while !wanted.is_subset(&heard) {
            match tokio::time::timeout(Duration::from_secs(10), changes.recv()).await {
                Ok(Some(KeyChange::Changed(id))) => {
                    heard.insert(id);
                }
                Ok(Some(KeyChange::Resync)) => {}
                other => panic!("announcements missing: heard {heard:?}, then {other:?}"),
            }
        }
    }

    // Removing again: not found, and nothing audited.
    let again = store
        .remove_member(acme.id(), &bob.id, &member_ctx(at(6)))
        .await;
    assert!(matches!(again, Err(StoreError::NotFound)), "{again:?}");
    let in_globex = store
        .remove_member(globex.id(), &carol.id, &member_ctx(at(6)))
        .await;
    assert!(matches!(in_globex, Err(StoreError::NotFound)));
    assert_eq!(all_events(s, acme.id()).await.len(), events.len());

    // Removing the other member disables only what is left of theirs.
    let removed = store
        .remove_member(acme.id(), &carol.id, &member_ctx(at(7)))
        .await
        .unwrap();
    assert_eq!(removed, std::slice::from_ref(&carols.id));
    assert!(store.get_session(&[3; 32], at(2)).await.unwrap().is_none());
    assert!(
        store.list_teams(acme.id()).await.unwrap()[0]
            .members
            .is_empty()
    );
    let owner = add_key_by(s, &acme, acme.owner.id.as_str(), "Owner's", |_| {}).await;
    let removed = store
        .remove_member(acme.id(), &bob_again(s, &acme).await.id, &member_ctx(at(8)))
        .await
        .unwrap();
    assert!(removed.is_empty(), "a member without keys disables nothing");
    assert!(
        store
            .get_key(acme.id(), &owner.id)
            .await
            .unwrap()
            .unwrap()
            .enabled
    );
    assert_eq!(store.list_members(acme.id()).await.unwrap().len(), 1);
    assert_chain(s, &acme).await;
}

/// A new member without keys, to remove.
pub(crate) async fn bob_again(store: &dyn Store, org: &Org) -> Member {
    add_member(store, org, "bob@example.com", at(8)).await
}

//! Keys: insert and read back, lookups by hash, optimistic updates, and the
//! archive with its purge of the oldest archived keys.

use crate::fixtures::{
    self, add_named_key, assert_same_key, at, create_org, key_event, key_input, member_ctx,
};
use chrono::{DurationRound, TimeDelta};
use keyward_core::audit::verify_chain;
use keyward_core::id::KeyId;
use keyward_core::key_format::{KeyHash, KeyType};
use keyward_core::keys;
use keyward_core::limits::{Quota, QuotaPeriod, RateLimit};
use keyward_core::policy::Code;
use keyward_core::scope::Role;
use keyward_core::store::{Store, StoreError, StoredHashes};
use keyward_core::usage::{UsageBatch, UsageCount};
use std::sync::Arc;

pub async fn key_with_every_field_round_trips(store: Arc<dyn Store>) {
    let acme = create_org(store.as_ref(), "Acme", at(0)).await;
    let mut input = key_input("Checkout — front end", Role::Custom);
    input.description = Some("Publishable key for the shop's \"checkout\" page".to_owned());
    input.key_type = Some(KeyType::Publishable);
    input.scopes = Some(vec!["data:read".to_owned(), "push:*".to_owned()]);
    input.expires_at = Some(at(86_400));
    input.trusted_origins = Some(vec![
        "https://shop.example.com".to_owned(),
        "https://*.example.org".to_owned(),
    ]);
    input.allowed_ips = Some(vec!["10.0.0.0/8".to_owned(), "2001:db8::/32".to_owned()]);
    input.meta = Some(
        serde_json::json!({"plan": "gold", "limits": [1, 2.5, null], "ünï": {"ok": true}})
            .as_object()
            .cloned()
            .unwrap(),
    );
    input.enabled = Some(false);
    input.ratelimit = Some(RateLimit {
        limit: 10,
        window_seconds: 60,
    });
    input.quota = Some(Quota {
        limit: 1_000,
        period: QuotaPeriod::Month,
    });
    let record = fixtures::add_key(store.as_ref(), &acme, input, at(5)).await;
    assert!(record.sealed_key.is_some());

    let stored = store.get_key(acme.id(), &record.id).await.unwrap().unwrap();
    assert_same_key(&stored, &record);
    let full = keys::unseal(&stored, &fixtures::master_key())
        .unwrap()
        .unwrap();
    assert_eq!(full.hash(), record.hash);

    let found = store.find_key_by_hash(&record.hash).await.unwrap().unwrap();
    assert_same_key(&found, &record);
    assert!(
        store
            .find_key_by_hash(&KeyHash([0; 32]))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .get_key(acme.id(), &KeyId::generate().unwrap())
            .await
            .unwrap()
            .is_none()
    );
    let other = create_org(store.as_ref(), "Other", at(0)).await;
    assert!(
        store
            .get_key(other.id(), &record.id)
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn key_is_found_by_current_and_previous_hash(store: Arc<dyn Store>) {
    let acme = create_org(store.as_ref(), "Acme", at(0)).await;
    let original = add_named_key(store.as_ref(), &acme, "Server", at(1)).await;
    let record = fixtures::regenerate_key(store.as_ref(), &acme, &original, at(10)).await;

    let by_new = store.find_key_by_hash(&record.hash).await.unwrap().unwrap();
    let by_old = store
        .find_key_by_hash(&original.hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (by_new.id.clone(), by_old.id.clone()),
        (record.id.clone(), record.id.clone())
    );
    let previous = by_old.previous.unwrap();
    assert_eq!(
        (previous.hash, previous.expires_at),
        (original.hash, at(3_610))
    );
    assert_eq!(by_new.version, 2);

    // Revoking ends the grace period: the old hash no longer finds the key.
    let mut revoked = by_new.clone();
    keys::revoke(&mut revoked, Some("leaked".to_owned()), at(20)).unwrap();
    store
        .update_key(
            &revoked,
            2,
            &member_ctx(at(20)),
            key_event("key.revoked", &revoked),
        )
        .await
        .unwrap();
    assert!(
        store
            .find_key_by_hash(&original.hash)
            .await
            .unwrap()
            .is_none()
    );
    let stored = store.find_key_by_hash(&record.hash).await.unwrap().unwrap();
    assert_eq!(
        (stored.revoked_at, stored.revoked_reason.as_deref()),
        (Some(at(20)), Some("leaked"))
    );
}

pub async fn update_key_checks_the_version(store: Arc<dyn Store>) {
    let acme = create_org(store.as_ref(), "Acme", at(0)).await;
    let record = add_named_key(store.as_ref(), &acme, "Server", at(1)).await;
    // Usage written behind must survive a concurrent edit of the key.
    let batch = UsageBatch {
        last_used: vec![(record.id.clone(), at(3))],
        ..UsageBatch::default()
    };
    store.record_usage(&batch).await.unwrap();

    let mut edited = record.clone();
    let update = keys::UpdateKey {
        name: Some("Server (prod)".to_owned()),
        description: Some(Some("renamed".to_owned())),
        expires_at: Some(Some(at(100_000))),
        ..keys::UpdateKey::default()
    };
    keys::update(&mut edited, update, &acme.project.apis, at(5)).unwrap();
    store
        .update_key(
            &edited,
            1,
            &member_ctx(at(5)),
            key_event("key.updated", &edited),
        )
        .await
        .unwrap();
    let stored = store.get_key(acme.id(), &record.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.name.as_str(), stored.description.as_str()),
        ("Server (prod)", "renamed")
    );
    assert_eq!(
        (stored.expires_at, stored.updated_at, stored.version),
        (Some(at(100_000)), at(5), 2)
    );
    assert_eq!(stored.last_used_at, Some(at(3)));

    // A writer still holding version 1 loses, and leaves no event behind.
    let mut stale = record.clone();
    keys::set_enabled(&mut stale, false, at(6)).unwrap();
    let err = store
        .update_key(
            &stale,
            1,
            &member_ctx(at(6)),
            key_event("key.disabled", &stale),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Changed), "{err:?}");
    let stored = store.get_key(acme.id(), &record.id).await.unwrap().unwrap();
    assert!(stored.enabled);
    assert_eq!(stored.version, 2);
    // So does a writer naming another organization.
    let other = create_org(store.as_ref(), "Other", at(0)).await;
    let mut foreign = stored.clone();
    foreign.org_id = other.org.id.clone();
    let err = store
        .update_key(
            &foreign,
            2,
            &member_ctx(at(7)),
            key_event("key.updated", &foreign),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Changed), "{err:?}");
    let actions = fixtures::actions(store.as_ref(), acme.id()).await;
    assert_eq!(actions[5..], ["key.created", "key.updated"]);
    assert!(fixtures::actions(store.as_ref(), other.id()).await.len() == 5);
}

pub async fn archive_purges_beyond_the_limit_with_audit(store: Arc<dyn Store>) {
    let acme = create_org(store.as_ref(), "Acme", at(0)).await;
    let mut keys = Vec::new();
    for i in 0..4 {
        keys.push(add_named_key(store.as_ref(), &acme, &format!("key {i}"), at(i)).await);
    }
    let hour = at(0).duration_trunc(TimeDelta::hours(1)).unwrap();
    let counts = keys
        .iter()
        .map(|k| UsageCount {
            org_id: acme.org.id.clone(),
            key_id: k.id.clone(),
            hour,
            code: Code::Valid,
            count: 2,
        })
        .collect();
    store
        .record_usage(&UsageBatch {
            counts,
            ..UsageBatch::default()
        })
        .await
        .unwrap();

    // A stale version archives nothing and purges nothing.
    let mut stale = keys[0].clone();
    keys::archive(&mut stale, at(50)).unwrap();
    let err = store
        .archive_key(
            &stale,
            7,
            0,
            &member_ctx(at(50)),
            key_event("key.archived", &stale),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Changed), "{err:?}");

    let mut purged_ids = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let mut archived = key.clone();
        let now = at(100 + i64::try_from(i).unwrap());
        keys::archive(&mut archived, now).unwrap();
        let purged = store
            .archive_key(
                &archived,
                1,
                2,
                &member_ctx(now),
                key_event("key.archived", &archived),
            )
            .await
            .unwrap();
        purged_ids.push(fixtures::ids(&purged));
    }
    // The oldest archived keys go first, once more than two are archived.
    let none = Vec::<KeyId>::new();
    assert_eq!(
        purged_ids,
        [
            none.clone(),
            none,
            vec![keys[0].id.clone()],
            vec![keys[1].id.clone()]
        ]
    );
    for (i, key) in keys.iter().enumerate() {
        let stored = store.get_key(acme.id(), &key.id).await.unwrap();
        assert_eq!(stored.is_some(), i >= 2, "key {i}");
        let usage = store
            .key_usage(acme.id(), &key.id, at(-7_200), at(7_200))
            .await
            .unwrap();
        assert_eq!(usage.len(), usize::from(i >= 2), "usage of key {i}");
    }

    let events = fixtures::all_events(store.as_ref(), acme.id()).await;
    assert!(verify_chain(&events).is_ok());
    let tail: Vec<_> = events[9..]
        .iter()
        .map(|e| (e.action.as_str(), e.target.id.clone()))
        .collect();
    let id = |i: usize| keys[i].id.to_string();
    assert_eq!(
        tail,
        [
            ("key.archived", id(0)),
            ("key.archived", id(1)),
            ("key.archived", id(2)),
            ("key.purged", id(0)),
            ("key.archived", id(3)),
            ("key.purged", id(1)),
        ]
    );
    let purge = &events[12];
    assert_eq!(purge.target.name, "key 0");
    assert_eq!(
        purge.changes["reason"]["after"],
        "more than 2 archived keys"
    );
    assert_eq!(purge.occurred_at, at(102));
}

pub async fn stored_hashes_follow_every_write_of_a_hash(store: Arc<dyn Store>) {
    let acme = create_org(store.as_ref(), "Acme", at(0)).await;
    let every = store.stored_hashes(None).await.unwrap();
    assert_eq!(every.prefixes, [acme.root_key.hash.prefix()]);
    let after_org = every.through;

    // A new key: only its hash comes after the organization's.
    let original = add_named_key(store.as_ref(), &acme, "Server", at(1)).await;
    let since = store.stored_hashes(Some(after_org)).await.unwrap();
    assert_eq!(since.prefixes, [original.hash.prefix()]);
    assert!(since.through > after_org);
    let after_insert = since.through;

    // A regeneration writes the new hash and keeps the old one as previous.
    let regenerated = fixtures::regenerate_key(store.as_ref(), &acme, &original, at(10)).await;
    let since = store.stored_hashes(Some(after_insert)).await.unwrap();
    let mut prefixes = since.prefixes.clone();
    prefixes.sort_unstable();
    let mut expected = vec![regenerated.hash.prefix(), original.hash.prefix()];
    expected.sort_unstable();
    assert_eq!(prefixes, expected);
    let after_regenerate = since.through;
    assert!(after_regenerate > after_insert);

    // A write that leaves the hashes as they were takes no clock number.
    let mut renamed = regenerated.clone();
    keys::update(
        &mut renamed,
        keys::UpdateKey {
            name: Some("Server (renamed)".to_owned()),
            ..keys::UpdateKey::default()
        },
        &acme.project.apis,
        at(11),
    )
    .unwrap();
    store
        .update_key(
            &renamed,
            2,
            &member_ctx(at(11)),
            key_event("key.updated", &renamed),
        )
        .await
        .unwrap();
    assert_eq!(
        store.stored_hashes(Some(after_regenerate)).await.unwrap(),
        StoredHashes {
            prefixes: Vec::new(),
            through: after_regenerate,
        }
    );

    // Nor does an update that loses to a newer version.
    let err = store
        .update_key(
            &regenerated,
            1,
            &member_ctx(at(11)),
            key_event("key.updated", &regenerated),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Changed), "{err:?}");
    assert_eq!(
        store.stored_hashes(Some(after_regenerate)).await.unwrap(),
        StoredHashes {
            prefixes: Vec::new(),
            through: after_regenerate,
        }
    );

    // Read whole, everything is there, as far as the last write.
    let every = store.stored_hashes(None).await.unwrap();
    let mut prefixes = every.prefixes;
    prefixes.sort_unstable();
    expected.push(acme.root_key.hash.prefix());
    expected.sort_unstable();
    assert_eq!((prefixes, every.through), (expected, after_regenerate));
}

//! Responses kept for replay under an `Idempotency-Key`.

use crate::fixtures::{self, at, create_org, key_event, key_input, member_ctx};
use chrono::{DateTime, Duration, Utc};
use keyward_core::id::OrgId;
use keyward_core::scope::Role;
use keyward_core::store::{IdempotentResponse, Store, StoreError};
use std::sync::Arc;

fn response(org: &OrgId, key: &str, created_at: DateTime<Utc>) -> IdempotentResponse {
    IdempotentResponse {
        org_id: org.clone(),
        key: key.to_owned(),
        request_hash: format!("{:064x}", key.len()),
        status: 201,
        sealed_body: vec![0, 1, 2, 255, 254],
        created_at,
        expires_at: created_at + Duration::hours(24),
    }
}

pub async fn idempotent_responses_are_kept_once_and_expire(store: Arc<dyn Store>) {
    let acme = create_org(store.as_ref(), "Acme", at(0)).await;
    let other = create_org(store.as_ref(), "Other", at(0)).await;
    let insert = |name: &str, idempotency_key: Option<(&str, DateTime<Utc>)>| {
        let store = store.clone();
        let record = fixtures::new_key(
            acme.id(),
            &acme.project,
            key_input(name, Role::Readonly),
            at(1),
        );
        let response = idempotency_key.map(|(k, t)| response(acme.id(), k, t));
        async move {
            let result = store
                .insert_key(
                    &record,
                    response.as_ref(),
                    &member_ctx(at(1)),
                    key_event("key.created", &record),
                )
                .await;
            (record, result)
        }
    };

    let (first, result) = insert("first", Some(("create-1", at(10)))).await;
    result.unwrap();
    let kept = store
        .get_idempotent(acme.id(), "create-1")
        .await
        .unwrap()
        .unwrap();
    let expected = response(acme.id(), "create-1", at(10));
    assert_eq!(
        (
            kept.org_id.clone(),
            kept.key.as_str(),
            kept.request_hash.as_str()
        ),
        (
            expected.org_id.clone(),
            "create-1",
            expected.request_hash.as_str()
        )
    );
    assert_eq!(
        (
            kept.status,
            kept.sealed_body.clone(),
            kept.created_at,
            kept.expires_at
        ),
        (
            201,
            expected.sealed_body.clone(),
            at(10),
            expected.expires_at
        )
    );
    assert!(store.get_key(acme.id(), &first.id).await.unwrap().is_some());
    assert!(
        store
            .get_idempotent(acme.id(), "create-2")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .get_idempotent(other.id(), "create-1")
            .await
            .unwrap()
            .is_none()
    );

    // The same idempotency key again: Conflict, and nothing of it is kept.
    let (second, result) = insert("second", Some(("create-1", at(20)))).await;
    assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
    assert!(
        store
            .get_key(acme.id(), &second.id)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store
            .get_idempotent(acme.id(), "create-1")
            .await
            .unwrap()
            .unwrap()
            .created_at,
        at(10)
    );
    let created = fixtures::actions(store.as_ref(), acme.id())
        .await
        .iter()
        .filter(|a| *a == "key.created")
        .count();
    assert_eq!(created, 2, "the root key's and the first key's");

    // Another organization may use the same idempotency key.
    let theirs = fixtures::new_key(
        other.id(),
        &other.project,
        key_input("theirs", Role::Readonly),
        at(1),
    );
    store
        .insert_key(
            &theirs,
            Some(&response(other.id(), "create-1", at(10))),
            &member_ctx(at(1)),
            key_event("key.created", &theirs),
        )
        .await
        .unwrap();

    // The next insert with any idempotency key drops the expired responses.
    let later = at(10) + Duration::hours(24);
    let (_, result) = insert("third", Some(("create-2", later))).await;
    result.unwrap();
    assert!(
        store
            .get_idempotent(acme.id(), "create-1")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .get_idempotent(acme.id(), "create-2")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .get_idempotent(other.id(), "create-1")
            .await
            .unwrap()
            .is_some(),
        "only this organization's"
    );
    // Once forgotten, the key may be used afresh.
    let (_, result) = insert("fourth", Some(("create-1", later))).await;
    result.unwrap();
    // An insert without one keeps everything.
    let (_, result) = insert("fifth", None).await;
    result.unwrap();
    assert!(
        store
            .get_idempotent(acme.id(), "create-1")
            .await
            .unwrap()
            .is_some()
    );
}

//! Verification over a real store: the node's copy of the stored hashes
//! answers keys nobody stored without a lookup, and never refuses a key
//! that storage holds, whoever wrote it.

use crate::fixtures::{self, at, create_org, key_event, key_input, member_ctx};
use crate::harness::Backend;
use keyward_core::clock::ManualClock;
use keyward_core::key_format::{FullKey, KeyPrefix, KeyType};
use keyward_core::keys::{self, NewKey};
use keyward_core::policy::{Code, Request};
use keyward_core::scope::Role;
use keyward_core::store::Store;
use keyward_core::usage::UsageRecorder;
use keyward_core::verify::{CacheConfig, Verifier};
use std::sync::Arc;

async fn code(verifier: &Verifier, key: &str) -> Code {
    let request = Request {
        scopes: &[],
        origin: None,
        ip: None,
    };
    verifier.verify(key, &request).await.unwrap().code
}

/// Stores a new key of the organization's default project through `store`.
async fn add(store: &dyn Store, org: &fixtures::Org, name: &str) -> NewKey {
    let new = keys::create(
        key_input(name, Role::Readonly),
        org.id(),
        &org.project,
        "mem_fixture".to_owned(),
        &fixtures::master_key(),
        at(1),
    )
    .unwrap();
    store
        .insert_key(
            &new.record,
            None,
            &member_ctx(at(1)),
            key_event("key.created", &new.record),
        )
        .await
        .unwrap();
    new
}

pub async fn the_stored_hashes_answer_unknown_keys_and_follow_every_writer(backend: Backend) {
    let here = backend.store.clone();
    let elsewhere = backend.another_node().await;
    let acme = create_org(here.as_ref(), "Acme", at(0)).await;
    let verifier = Verifier::new(
        here.clone(),
        Arc::new(ManualClock::new(at(2))),
        Arc::new(UsageRecorder::default()),
        &CacheConfig::default(),
    );
    verifier.load_stored_hashes().await.unwrap();

    // Keys nobody stored: unknown, and not looked up.
    for _ in 0..10 {
        let nobody = FullKey::generate(&KeyPrefix::default(), KeyType::Secret).unwrap();
        assert_eq!(code(&verifier, nobody.expose()).await, Code::NotFound);
    }
    assert_eq!(verifier.storage_reads(), 0);

    // Stored by another node after the load: found at the first try.
    let other_node = add(elsewhere.as_ref(), &acme, "other node").await;
    assert_eq!(code(&verifier, other_node.key.expose()).await, Code::Valid);

    // A hash written by a program that knows nothing of the hash clock (an
    // older version during a rolling upgrade): the database numbers it.
    let by_hand = add(here.as_ref(), &acme, "by hand").await;
    let replacement = FullKey::generate(&acme.project.key_prefix, KeyType::Secret).unwrap();
    let changed = backend
        .execute_raw(&format!(
            "UPDATE api_keys SET hash = {} WHERE id = '{}'",
            backend.blob_literal(&replacement.hash().0),
            by_hand.record.id
        ))
        .await
        .unwrap();
    assert_eq!(changed, 1);
    assert_eq!(code(&verifier, replacement.expose()).await, Code::Valid);

    // The clock goes back, as after a restore or a failover to a replica
    // that missed the last writes: numbers the copy read through are taken
    // again, and the copy must not trust them.
    backend
        .execute_raw("UPDATE hash_clock SET seq = 0")
        .await
        .unwrap();
    let after_restore = add(elsewhere.as_ref(), &acme, "after the restore").await;
    assert_eq!(
        code(&verifier, after_restore.key.expose()).await,
        Code::Valid
    );
    // Loaded again, the copy answers from the new clock on.
    verifier.load_stored_hashes().await.unwrap();
    let reads = verifier.storage_reads();
    let nobody = FullKey::generate(&KeyPrefix::default(), KeyType::Secret).unwrap();
    assert_eq!(code(&verifier, nobody.expose()).await, Code::NotFound);
    let after_reload = add(elsewhere.as_ref(), &acme, "after the reload").await;
    assert_eq!(
        code(&verifier, after_reload.key.expose()).await,
        Code::Valid
    );
    assert_eq!(verifier.storage_reads(), reads + 1);
}

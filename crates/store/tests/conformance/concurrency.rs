//! Writers racing each other: on PostgreSQL through two stores on one
//! database, as two Keyward nodes would.

use crate::fixtures::{self, add_named_key, at, create_org, event, key_event, member_ctx};
use crate::harness::Backend;
use keyward_core::audit::verify_chain;
use keyward_core::keys;
use keyward_core::store::{Store, StoreError};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

const TASKS: usize = 6;
const APPENDS: usize = 25;

pub async fn concurrent_writers_keep_one_chain(backend: Backend) {
    let first = backend.store.clone();
    let second = backend.another_node().await;
    let acme = create_org(first.as_ref(), "Acme", at(0)).await;
    let nodes = [first.clone(), second];

    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let store: Arc<dyn Store> = nodes[task % 2].clone();
        let org = acme.org.id.clone();
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..APPENDS {
                let new = event("race.step", &format!("task-{task}"), &format!("step {i}"));
                seqs.push(
                    store
                        .append_audit(&org, &member_ctx(at(1)), new)
                        .await
                        .unwrap()
                        .seq,
                );
            }
            seqs
        }));
    }
    let mut seqs = Vec::new();
    for task in tasks {
        let mine = task.await.unwrap();
        assert!(
            mine.windows(2).all(|w| w[0] < w[1]),
            "one writer's events in order"
        );
        seqs.extend(mine);
    }
    seqs.sort_unstable();
    let total = i64::try_from(5 + TASKS * APPENDS).unwrap();
    assert_eq!(
        seqs,
        (6..=total).collect::<Vec<_>>(),
        "every append got its own seq"
    );

    for store in &nodes {
        let events = fixtures::all_events(store.as_ref(), acme.id()).await;
        assert_eq!(verify_chain(&events), Ok(total));
    }
}

pub async fn concurrent_updates_of_one_key_let_one_win(backend: Backend) {
    let first = backend.store.clone();
    let second = backend.another_node().await;
    let acme = create_org(first.as_ref(), "Acme", at(0)).await;
    let key = add_named_key(first.as_ref(), &acme, "contested", at(1)).await;

    let mut tasks = Vec::new();
    for (i, store) in [
        first.clone(),
        second,
        first.clone(),
        backend.another_node().await,
    ]
    .into_iter()
    .enumerate()
    {
        let mut record = key.clone();
        tasks.push(tokio::spawn(async move {
            let update = keys::UpdateKey {
                name: Some(format!("writer {i}")),
                ..keys::UpdateKey::default()
            };
            keys::update(&mut record, update, &[], at(2)).unwrap();
            store
                .update_key(
                    &record,
                    1,
                    &member_ctx(at(2)),
                    key_event("key.updated", &record),
                )
                .await
        }));
    }
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => won += 1,
            Err(StoreError::Changed) => {}
            Err(e) => panic!("unexpected failure: {e:?}"),
        }
    }
    assert_eq!(won, 1);
    let stored = first.get_key(acme.id(), &key.id).await.unwrap().unwrap();
    assert_eq!(stored.version, 2);
    let actions = fixtures::actions(first.as_ref(), acme.id()).await;
    assert_eq!(actions[5..], ["key.created", "key.updated"]);
    let events = fixtures::all_events(first.as_ref(), acme.id()).await;
    assert!(verify_chain(&events).is_ok());
}

/// A node that follows the hash clock, reading only what was written after
/// the last number it read, must miss no key written by any node, however
/// the writers' transactions interleave.
pub async fn a_reader_following_the_hash_clock_misses_no_write(backend: Backend) {
    const KEYS_PER_TASK: usize = 12;
    let first = backend.store.clone();
    let second = backend.another_node().await;
    let acme = Arc::new(create_org(first.as_ref(), "Acme", at(0)).await);
    let start = first.stored_hashes(None).await.unwrap();

    let mut writers = Vec::new();
    for task in 0..TASKS {
        let store: Arc<dyn Store> = if task % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let acme = Arc::clone(&acme);
        writers.push(tokio::spawn(async move {
            let mut written = Vec::new();
            for i in 0..KEYS_PER_TASK {
                let key = add_named_key(
                    store.as_ref(),
                    &acme,
                    &format!("task {task} key {i}"),
                    at(1),
                )
                .await;
                written.push(key.hash.prefix());
            }
            written
        }));
    }
    let done = Arc::new(AtomicBool::new(false));
    let follower = {
        let store = backend.another_node().await;
        let done = Arc::clone(&done);
        tokio::spawn(async move {
            let mut seen = start.prefixes;
            let mut through = start.through;
            while !done.load(Ordering::SeqCst) {
                let since = store.stored_hashes(Some(through)).await.unwrap();
                assert!(since.through >= through, "the clock never goes back");
                seen.extend(since.prefixes);
                through = since.through;
                tokio::task::yield_now().await;
            }
            (seen, through, store)
        })
    };
    let mut written = vec![acme.root_key.hash.prefix()];
    for writer in writers {
        written.extend(writer.await.unwrap());
    }
    done.store(true, Ordering::SeqCst);
    let (mut seen, through, store) = follower.await.unwrap();
    // The follower may have stopped before the last writes: read the rest.
    seen.extend(store.stored_hashes(Some(through)).await.unwrap().prefixes);
    written.sort_unstable();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen, written);
}

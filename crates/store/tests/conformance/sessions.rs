//! Dashboard sessions: they expire and end, and their one-time message is read once.

use crate::fixtures::{actions, at, create_org};
use crate::people::{add_member, assert_chain, session};
use keyward_core::store::Store;
use std::sync::Arc;

pub async fn sessions_expire_and_end(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let acme = create_org(s, "Acme", at(0)).await;
    let bob = add_member(s, &acme, "bob@example.com", at(1)).await;
    let owner = &acme.owner;
    let first = session(&bob, 1, at(100));
    for new in [
        first.clone(),
        session(&bob, 2, at(100)),
        session(&bob, 3, at(100)),
        session(owner, 4, at(100)),
    ] {
        store.insert_session(&new).await.unwrap();
    }

    let got = store.get_session(&[1; 32], at(50)).await.unwrap().unwrap();
    assert_eq!(got.token_hash, first.token_hash);
    assert_eq!(got.org_id, first.org_id);
    assert_eq!(got.member_id, first.member_id);
    assert_eq!(got.created_at, first.created_at);
    assert_eq!(got.expires_at, first.expires_at);
    // Not at or after its expiry, nor for an unknown cookie.
    assert!(
        store
            .get_session(&[1; 32], at(100))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .get_session(&[1; 32], at(101))
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.get_session(&[9; 32], at(50)).await.unwrap().is_none());

    store.delete_session(&[1; 32]).await.unwrap();
    assert!(store.get_session(&[1; 32], at(50)).await.unwrap().is_none());
    assert!(store.get_session(&[2; 32], at(50)).await.unwrap().is_some());
    store.delete_session(&[1; 32]).await.unwrap();

    // After a password change: every other session of the member ends.
    store
        .delete_member_sessions(&bob.id, Some(&[2; 32]))
        .await
        .unwrap();
    assert!(store.get_session(&[2; 32], at(50)).await.unwrap().is_some());
    assert!(store.get_session(&[3; 32], at(50)).await.unwrap().is_none());
    assert!(store.get_session(&[4; 32], at(50)).await.unwrap().is_some());
    store.delete_member_sessions(&bob.id, None).await.unwrap();
    assert!(store.get_session(&[2; 32], at(50)).await.unwrap().is_none());
    assert!(store.get_session(&[4; 32], at(50)).await.unwrap().is_some());

    // Sessions are not audited.
    assert_eq!(actions(s, acme.id()).await.len(), 6);
    assert_chain(s, &acme).await;
}

pub async fn session_flash_is_read_once(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let acme = create_org(s, "Acme", at(0)).await;
    store
        .insert_session(&session(&acme.owner, 1, at(100)))
        .await
        .unwrap();
    store
        .insert_session(&session(&acme.owner, 2, at(100)))
        .await
        .unwrap();

    assert_eq!(store.take_session_flash(&[1; 32]).await.unwrap(), None);
    store.set_session_flash(&[1; 32], b"first").await.unwrap();
    store
        .set_session_flash(&[1; 32], b"sealed \x00\xff")
        .await
        .unwrap();
    assert_eq!(
        store.take_session_flash(&[1; 32]).await.unwrap().as_deref(),
        Some(&b"sealed \x00\xff"[..])
    );
    assert_eq!(store.take_session_flash(&[1; 32]).await.unwrap(), None);
    // Another session's message is its own; an unknown session has none.
    assert_eq!(store.take_session_flash(&[2; 32]).await.unwrap(), None);
    store.set_session_flash(&[9; 32], b"nobody").await.unwrap();
    assert_eq!(store.take_session_flash(&[9; 32]).await.unwrap(), None);

    // Tabs racing for the message: exactly one gets it.
    store.set_session_flash(&[2; 32], b"once").await.unwrap();
    let tabs: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.take_session_flash(&[2; 32]).await.unwrap() })
        })
        .collect();
    let mut got = Vec::new();
    for tab in tabs {
        got.extend(tab.await.unwrap());
    }
    assert_eq!(got, [b"once".to_vec()]);

    // Ending the session ends its message.
    store.set_session_flash(&[2; 32], b"again").await.unwrap();
    store.delete_session(&[2; 32]).await.unwrap();
    assert_eq!(store.take_session_flash(&[2; 32]).await.unwrap(), None);
}

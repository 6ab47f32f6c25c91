//! Webhooks in storage: a message is queued with its change or not at all,
//! an endpoint receives its messages in order, a lease is held by one
//! worker at a time, and a notice is recorded once.

use crate::fixtures::{add_named_key, at, create_org, key_event, member_ctx};
use crate::harness::Backend;
use keyward_core::audit::AuditContext;
use keyward_core::event_store::DeliveryQuery;
use keyward_core::events;
use keyward_core::id::OrgId;
use keyward_core::store::{Store, StoreError};
use keyward_core::webhooks::{
    Attempt, AttemptResult, CreateEndpoint, DeliveryStatus, Endpoint, UrlRules,
};
use std::sync::Arc;

async fn add_endpoint(store: &dyn Store, org: &OrgId, events: &[&str]) -> Endpoint {
    let input = CreateEndpoint {
        url: "https://hooks.example.com/in".to_owned(),
        description: None,
        events: events.iter().map(|e| (*e).to_owned()).collect(),
        enabled: None,
    };
    let rules = UrlRules {
        allow_private: false,
    };
    let endpoint = Endpoint::create(org.clone(), input, rules, at(1)).unwrap();
    let event = events::webhook_changed("webhook.created", None, Some(&endpoint));
    store
        .create_webhook(&endpoint, &member_ctx(at(1)), event)
        .await
        .unwrap();
    endpoint
}

async fn deliveries(
    store: &dyn Store,
    endpoint: &Endpoint,
) -> Vec<keyward_core::webhooks::Delivery> {
    let query = DeliveryQuery {
        before: None,
        limit: 100,
        event: None,
    };
    store
        .list_deliveries(&endpoint.org_id, &endpoint.id, &query)
        .await
        .unwrap()
}

pub async fn messages_are_queued_with_their_change_or_not_at_all(store: Arc<dyn Store>) {
    let acme = create_org(store.as_ref(), "Acme", at(0)).await;
    let endpoint = add_endpoint(store.as_ref(), acme.id(), &["key.updated"]).await;
    let key = add_named_key(store.as_ref(), &acme, "k", at(2)).await;
    assert!(
        deliveries(store.as_ref(), &endpoint).await.is_empty(),
        "not subscribed"
    );

    let mut changed = key.clone();
    changed.name = "renamed".to_owned();
    // A save that loses its race rolls back, its message with it.
    let stale = store
        .update_key(
            &changed,
            key.version + 7,
            &member_ctx(at(3)),
            key_event("key.updated", &changed),
        )
        .await;
    assert!(matches!(stale, Err(StoreError::Changed)), "{stale:?}");
    assert!(deliveries(store.as_ref(), &endpoint).await.is_empty());

    store
        .update_key(
            &changed,
            key.version,
            &member_ctx(at(4)),
            key_event("key.updated", &changed),
        )
        .await
        .unwrap();
    let queued = deliveries(store.as_ref(), &endpoint).await;
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].event_type, "key.updated");
    assert_eq!(queued[0].status, DeliveryStatus::Pending);
}

pub async fn deliveries_go_in_order_and_one_worker_holds_a_lease(backend: Backend) {
    let store = backend.store.clone();
    let other_node = backend.another_node().await;
    let acme = create_org(store.as_ref(), "Acme", at(0)).await;
    let endpoint = add_endpoint(store.as_ref(), acme.id(), &["*"]).await;
    for name in ["a", "b", "c"] {
        add_named_key(store.as_ref(), &acme, name, at(2)).await;
    }
    let now = at(10);
    let due = store.due_deliveries(now, 10).await.unwrap();
    assert_eq!(due.len(), 1, "only the oldest of the endpoint");
    assert_eq!(&due[0].org_id, acme.id());
    let first = store
        .claim_delivery(&due[0].id, "node-a", now, at(60))
        .await
        .unwrap()
        .unwrap();
    assert!(first.payload.contains("\"a\""), "{}", first.payload);
    assert!(
        other_node
            .claim_delivery(&due[0].id, "node-b", now, at(60))
            .await
            .unwrap()
            .is_none(),
        "a held lease is not taken"
    );
    assert!(other_node.due_deliveries(now, 10).await.unwrap().is_empty());

    // The lease ran out (its node died): another worker takes it over, and
    // the first one's late result is not recorded.
    let later = at(61);
    let retaken = other_node
        .claim_delivery(&due[0].id, "node-b", later, at(120))
        .await
        .unwrap()
        .unwrap();
    let attempt = Attempt {
        at: later,
        response_code: Some(204),
        duration_ms: 3,
        error: None,
    };
    store
        .finish_attempt(&first, "node-a", &attempt, AttemptResult::Succeeded)
        .await
        .unwrap();
    assert_eq!(
        deliveries(store.as_ref(), &endpoint).await[2].status,
        DeliveryStatus::Pending
    );
    other_node
        .finish_attempt(&retaken, "node-b", &attempt, AttemptResult::Succeeded)
        .await
        .unwrap();
    let next = store.due_deliveries(later, 10).await.unwrap();
    assert_eq!(next.len(), 1);
    let second = store
        .claim_delivery(&next[0].id, "node-a", later, at(120))
        .await
        .unwrap()
        .unwrap();
    assert!(second.payload.contains("\"b\""), "{}", second.payload);
}

pub async fn a_notice_is_recorded_once(backend: Backend) {
    let store = backend.store.clone();
    let other_node = backend.another_node().await;
    let acme = create_org(store.as_ref(), "Acme", at(0)).await;
    let key = add_named_key(store.as_ref(), &acme, "k", at(1)).await;
    let ctx = AuditContext::system("test", at(2));
    let notice = |store: Arc<dyn Store>| {
        let (key, ctx, org) = (key.clone(), ctx.clone(), acme.id().clone());
        async move {
            let event = events::key_notice("key.expiring", &key, serde_json::Map::new());
            store
                .record_notice(&org, &key.id, "expiring:7:1", &ctx, event, None)
                .await
                .unwrap()
        }
    };
    let (a, b) = tokio::join!(notice(store.clone()), notice(other_node));
    assert!(a ^ b, "exactly one records it: {a} {b}");
    assert!(!notice(store.clone()).await);
    let expiring = crate::fixtures::actions(store.as_ref(), acme.id())
        .await
        .into_iter()
        .filter(|a| a == "key.expiring")
        .count();
    assert_eq!(expiring, 1);
}

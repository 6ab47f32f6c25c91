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
    Attempt, AttemptResult, CreateEndpoint, DeliveryStatus, Endpoint, Finished, UrlRules,
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
    store.dispatch_events(None).await.unwrap();
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
    store.dispatch_events(Some(acme.id())).await.unwrap();
    let due = store.due_deliveries(now, 10).await.unwrap();
    assert_eq!(due.len(), 1, "only the head of the endpoint's queue");
    assert_eq!(&due[0].org_id, acme.id());
    // A run of two: the head and the delivery behind it, in order.
    let run = store
        .claim_delivery(&due[0].id, "node-a", now, at(60), 2)
        .await
        .unwrap();
    assert_eq!(run.len(), 2);
    assert!(run[0].payload.contains("\"a\""), "{}", run[0].payload);
    assert!(run[1].payload.contains("\"b\""), "{}", run[1].payload);
    assert!(
        other_node
            .claim_delivery(&due[0].id, "node-b", now, at(60), 2)
            .await
            .unwrap()
            .is_empty(),
        "a held lease is not taken"
    );
    assert!(other_node.due_deliveries(now, 10).await.unwrap().is_empty());

    // The lease ran out (its node died): another worker takes the run over,
    // and the first one's late results are not recorded.
    let later = at(61);
    let retaken = other_node
        .claim_delivery(&due[0].id, "node-b", later, at(120), 1)
        .await
        .unwrap();
    assert_eq!(retaken.len(), 1);
    let sent = |claimed: &keyward_core::webhooks::Claimed, result| Finished {
        claimed: claimed.clone(),
        attempt: Attempt {
            at: later,
            response_code: Some(204),
            duration_ms: 3,
            error: None,
        },
        result,
    };
    store
        .finish_attempts(
            "node-a",
            &[
                sent(&run[0], AttemptResult::Succeeded),
                sent(&run[1], AttemptResult::Succeeded),
            ],
        )
        .await
        .unwrap();
    let log = deliveries(store.as_ref(), &endpoint).await;
    assert!(
        log.iter().all(|d| d.status == DeliveryStatus::Pending),
        "{log:?}"
    );
    other_node
        .finish_attempts("node-b", &[sent(&retaken[0], AttemptResult::Succeeded)])
        .await
        .unwrap();
    // The next message is due once the one before it ended.
    let next = store.due_deliveries(later, 10).await.unwrap();
    assert_eq!(next.len(), 1);
    let second = store
        .claim_delivery(&next[0].id, "node-a", later, at(120), 1)
        .await
        .unwrap();
    assert!(second[0].payload.contains("\"b\""), "{}", second[0].payload);
    // A failure keeps it the head, due at its retry; nothing behind it is due.
    let retry = at(500);
    store
        .finish_attempts("node-a", &[sent(&second[0], AttemptResult::RetryAt(retry))])
        .await
        .unwrap();
    assert!(store.due_deliveries(at(499), 10).await.unwrap().is_empty());
    assert_eq!(
        store.due_deliveries(retry, 10).await.unwrap()[0].id,
        second[0].delivery.id
    );
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

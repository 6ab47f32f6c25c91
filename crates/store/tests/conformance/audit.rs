//! The audit log: appending, every search filter, paging, the hash chain
//! and its append-only protection.

use crate::fixtures::{self, all_events, at, create_org, event, member_ctx, root_ctx};
use crate::harness::Backend;
use keyward_core::audit::{AuditContext, verify_chain};
use keyward_core::store::{ActionFilter, AuditQuery, Store};
use std::sync::Arc;

fn seqs(events: &[keyward_core::audit::AuditEvent]) -> Vec<i64> {
    events.iter().map(|e| e.seq).collect()
}

pub async fn audit_search_applies_every_filter(store: Arc<dyn Store>) {
    let acme = create_org(store.as_ref(), "Acme", at(0)).await;
    let other = create_org(store.as_ref(), "Other", at(0)).await;
    let root = &acme.root_key;
    // Seqs 1–5 are the organization's creation, by the system at t0.
    let appended = [
        (
            member_ctx(at(10)),
            event("key.created", "key_a", "Billing 100%"),
        ),
        (
            member_ctx(at(20)),
            event("key.updated", "key_a", "Billing 100%"),
        ),
        (
            root_ctx(root, at(30)),
            event("key_rotation.done", "key_b", "Push_worker"),
        ),
        (
            root_ctx(root, at(40)),
            event("keyXrotation.done", "key_c", "Push worker"),
        ),
        (
            AuditContext::system("purge", at(50)),
            event("keyed.thing", "key_d", "other"),
        ),
        (
            member_ctx(at(60)),
            event("project.updated", "proj_a", "Web"),
        ),
        (
            member_ctx(at(70)),
            event("café.ouvert", "x", "Crème Brûlée"),
        ),
    ];
    for (ctx, new) in appended {
        store.append_audit(acme.id(), &ctx, new).await.unwrap();
    }
    store
        .append_audit(
            other.id(),
            &member_ctx(at(10)),
            event("key.created", "key_a", "Billing 100%"),
        )
        .await
        .unwrap();

    let search = |query: AuditQuery| {
        let store = store.clone();
        let org = acme.org.id.clone();
        async move {
            seqs(
                &store
                    .search_audit(
                        &org,
                        &AuditQuery {
                            limit: 100,
                            ..query
                        },
                    )
                    .await
                    .unwrap(),
            )
        }
    };
    let action = |a: &str| AuditQuery {
        action: Some(ActionFilter::parse(a)),
        ..AuditQuery::default()
    };
    assert_eq!(
        search(AuditQuery::default()).await,
        (1..=12).collect::<Vec<_>>()
    );
    assert_eq!(search(action("key.created")).await, [5, 6]);
    assert_eq!(search(action("key.*")).await, [5, 6, 7]);
    assert_eq!(search(action("key")).await, Vec::<i64>::new());
    assert_eq!(search(action("key_*")).await, [8]);
    assert_eq!(search(action("key*")).await, [5, 6, 7, 8, 9, 10]);
    assert_eq!(search(action("café.*")).await, [12]);
    assert_eq!(search(action("*")).await.len(), 12);

    let actor = |a: &str| AuditQuery {
        actor: Some(a.to_owned()),
        ..AuditQuery::default()
    };
    assert_eq!(search(actor("mem_alice")).await, [6, 7, 11, 12]);
    assert_eq!(search(actor("alice@example.com")).await, [6, 7, 11, 12]);
    assert_eq!(search(actor(root.id.as_str())).await, [8, 9]);
    assert_eq!(search(actor("Initial root key")).await, [8, 9]);
    assert_eq!(search(actor("purge")).await, [10]);
    assert_eq!(
        search(actor("alice")).await,
        Vec::<i64>::new(),
        "exact, not a substring"
    );

    let target = |t: &str| AuditQuery {
        target: Some(t.to_owned()),
        ..AuditQuery::default()
    };
    assert_eq!(search(target("key_a")).await, [6, 7]);
    assert_eq!(search(target("Push_worker")).await, [8]);
    assert_eq!(search(target("Acme")).await, [1], "the organization itself");
    assert_eq!(
        search(AuditQuery {
            team: Some("blue".to_owned()),
            ..AuditQuery::default()
        })
        .await,
        [6, 7, 11, 12]
    );

    let window = AuditQuery {
        from: Some(at(20)),
        to: Some(at(50)),
        ..AuditQuery::default()
    };
    assert_eq!(
        search(window).await,
        [7, 8, 9],
        "from inclusive, to exclusive"
    );
    assert_eq!(
        search(AuditQuery {
            from: Some(at(60)),
            ..AuditQuery::default()
        })
        .await,
        [11, 12]
    );
    assert_eq!(
        search(AuditQuery {
            to: Some(at(10)),
            ..AuditQuery::default()
        })
        .await,
        [1, 2, 3, 4, 5]
    );

    let q = |q: &str| AuditQuery {
        q: Some(q.to_owned()),
        ..AuditQuery::default()
    };
    assert_eq!(search(q("BILLING")).await, [6, 7]);
    assert_eq!(search(q("billing updated")).await, [7], "every word");
    assert_eq!(search(q("100%")).await, [6, 7]);
    assert_eq!(search(q("%")).await, [6, 7]);
    assert_eq!(search(q("h_w")).await, [8], "_ is literal");
    assert_eq!(search(q("worker ROOT")).await, [8, 9], "actor name counts");
    assert_eq!(search(q("brûlée")).await, [12]);
    assert_eq!(search(q("   ")).await.len(), 12);

    let page = |before, after, until, newest_first, limit| AuditQuery {
        before_seq: before,
        after_seq: after,
        until_seq: until,
        newest_first,
        limit,
        ..AuditQuery::default()
    };
    let raw = |query: AuditQuery| {
        let store = store.clone();
        let org = acme.org.id.clone();
        async move { seqs(&store.search_audit(&org, &query).await.unwrap()) }
    };
    assert_eq!(raw(page(None, None, None, true, 3)).await, [12, 11, 10]);
    assert_eq!(raw(page(Some(10), None, None, true, 3)).await, [9, 8, 7]);
    assert_eq!(raw(page(None, Some(3), None, false, 3)).await, [4, 5, 6]);
    assert_eq!(raw(page(None, Some(3), Some(5), false, 10)).await, [4, 5]);
    assert_eq!(
        raw(page(Some(9), Some(3), Some(7), true, 10)).await,
        [7, 6, 5, 4]
    );
    // Filters combine with AND, and with the cursor.
    let combined = AuditQuery {
        action: Some(ActionFilter::parse("key*")),
        actor: Some("mem_alice".to_owned()),
        before_seq: Some(7),
        ..AuditQuery::default()
    };
    assert_eq!(search(combined).await, [6]);
    let theirs = store
        .search_audit(
            other.id(),
            &AuditQuery {
                limit: 100,
                ..AuditQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(seqs(&theirs), [1, 2, 3, 4, 5, 6]);
}

pub async fn audit_events_page_in_order_and_chain(store: Arc<dyn Store>) {
    let acme = create_org(store.as_ref(), "Acme", at(0)).await;
    let mut appended = Vec::new();
    for i in 0..30 {
        let mut new = event("thing.happened", &format!("t{i}"), &format!("Thing №{i}"));
        new.changes = serde_json::json!({"n": {"before": i, "after": i + 1}, "note": {"before": null, "after": "ünïcödé \"quoted\""}})
            .as_object()
            .cloned()
            .unwrap();
        appended.push(
            store
                .append_audit(acme.id(), &member_ctx(at(i)), new)
                .await
                .unwrap(),
        );
    }
    assert_eq!(seqs(&appended), (6..=35).collect::<Vec<_>>());

    let first = store.audit_events(acme.id(), 0, 10).await.unwrap();
    assert_eq!(seqs(&first), (1..=10).collect::<Vec<_>>());
    let next = store.audit_events(acme.id(), 10, 10).await.unwrap();
    assert_eq!(seqs(&next), (11..=20).collect::<Vec<_>>());
    assert_eq!(
        seqs(&store.audit_events(acme.id(), 30, 10).await.unwrap()),
        (31..=35).collect::<Vec<_>>()
    );
    assert!(
        store
            .audit_events(acme.id(), 35, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // What was appended is what is read back, field for field.
    let events = all_events(store.as_ref(), acme.id()).await;
    assert_eq!(events[5..], appended[..]);
    assert_eq!(verify_chain(&events), Ok(35));
    assert_eq!(events[0].prev_hash, keyward_core::audit::GENESIS_HASH);
}

pub async fn audit_events_are_append_only(backend: Backend) {
    let store = backend.store.clone();
    let acme = create_org(store.as_ref(), "Acme", at(0)).await;
    store
        .append_audit(
            acme.id(),
            &member_ctx(at(1)),
            event("key.created", "k", "k"),
        )
        .await
        .unwrap();

    for sql in [
        "UPDATE audit_events SET action = 'forged' WHERE seq = 2",
        "UPDATE audit_events SET actor_name = actor_name",
        "DELETE FROM audit_events WHERE seq = 6",
        "DELETE FROM audit_events",
    ] {
        let err = backend.execute_raw(sql).await.unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    let events = all_events(store.as_ref(), acme.id()).await;
    assert_eq!(verify_chain(&events), Ok(6));
    assert_eq!(events[1].action, "member.added");
    // Appending goes on as before.
    store
        .append_audit(
            acme.id(),
            &member_ctx(at(2)),
            event("key.updated", "k", "k"),
        )
        .await
        .unwrap();
    assert_eq!(fixtures::actions(store.as_ref(), acme.id()).await.len(), 7);
}

//! Usage written behind: `last_used_at`, quota consumption and the hourly
//! counters.

use crate::fixtures::{add_key, add_named_key, at, create_org, key_input};
use chrono::{DateTime, Duration, Utc};
use keyward_core::id::KeyId;
use keyward_core::limits::{Quota, QuotaPeriod, QuotaUse};
use keyward_core::policy::Code;
use keyward_core::scope::Role;
use keyward_core::store::Store;
use keyward_core::usage::{UsageBatch, UsageCount};
use std::sync::Arc;

pub async fn last_used_only_moves_forward(store: Arc<dyn Store>) {
    let acme = create_org(store.as_ref(), "Acme", at(0)).await;
    let a = add_named_key(store.as_ref(), &acme, "a", at(1)).await;
    let b = add_named_key(store.as_ref(), &acme, "b", at(1)).await;
    let last_used = |entries: Vec<(&KeyId, i64)>| UsageBatch {
        last_used: entries
            .into_iter()
            .map(|(k, t)| (k.clone(), at(t)))
            .collect(),
        ..UsageBatch::default()
    };
    let ghost = KeyId::generate().unwrap();
    store
        .record_usage(&last_used(vec![(&a.id, 20), (&b.id, 5), (&ghost, 5)]))
        .await
        .unwrap();
    store
        .record_usage(&last_used(vec![(&a.id, 10), (&b.id, 30)]))
        .await
        .unwrap();
    let stored = |id: KeyId| {
        let store = store.clone();
        let org = acme.org.id.clone();
        async move { store.get_key(&org, &id).await.unwrap().unwrap() }
    };
    assert_eq!(stored(a.id.clone()).await.last_used_at, Some(at(20)));
    assert_eq!(stored(b.id.clone()).await.last_used_at, Some(at(30)));
    // Microseconds survive.
    let precise = at(40) + Duration::microseconds(123_456);
    store
        .record_usage(&UsageBatch {
            last_used: vec![(a.id.clone(), precise)],
            ..UsageBatch::default()
        })
        .await
        .unwrap();
    assert_eq!(stored(a.id.clone()).await.last_used_at, Some(precise));
}

pub async fn usage_counts_add_up_per_hour_and_code(store: Arc<dyn Store>) {
    let acme = create_org(store.as_ref(), "Acme", at(0)).await;
    let other = create_org(store.as_ref(), "Other", at(0)).await;
    let key = add_named_key(store.as_ref(), &acme, "counted", at(1)).await;
    let h = |n: i64| {
        DateTime::<Utc>::from_timestamp(1_900_000_000 - 1_900_000_000 % 3_600 + n * 3_600, 0)
            .unwrap()
    };
    let count = |hour: DateTime<Utc>, code: Code, count: u64| UsageCount {
        org_id: acme.org.id.clone(),
        key_id: key.id.clone(),
        hour,
        code,
        count,
    };
    let batch = |counts| UsageBatch {
        counts,
        ..UsageBatch::default()
    };
    store
        .record_usage(&batch(vec![
            count(h(0), Code::Valid, 3),
            count(h(0), Code::RateLimited, 1),
            count(h(1), Code::Valid, 2),
        ]))
        .await
        .unwrap();
    store
        .record_usage(&batch(vec![
            count(h(0), Code::Valid, 4),
            count(h(2), Code::InsufficientScope, 1),
        ]))
        .await
        .unwrap();

    let usage = store
        .key_usage(acme.id(), &key.id, h(0), h(3))
        .await
        .unwrap();
    let got: Vec<_> = usage.iter().map(|u| (u.hour, u.code, u.count)).collect();
    assert_eq!(
        got,
        [
            (h(0), Code::RateLimited, 1),
            (h(0), Code::Valid, 7),
            (h(1), Code::Valid, 2),
            (h(2), Code::InsufficientScope, 1),
        ]
    );
    assert!(
        usage
            .iter()
            .all(|u| u.org_id == acme.org.id && u.key_id == key.id)
    );
    // `from` is inclusive, `to` exclusive.
    let window = store
        .key_usage(acme.id(), &key.id, h(1), h(2))
        .await
        .unwrap();
    assert_eq!(window.iter().map(|u| u.hour).collect::<Vec<_>>(), [h(1)]);
    // Scoped to the organization and the key.
    assert!(
        store
            .key_usage(other.id(), &key.id, h(0), h(3))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .key_usage(acme.id(), &acme.root_key.id, h(0), h(3))
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn quota_counts_per_period(store: Arc<dyn Store>) {
    let acme = create_org(store.as_ref(), "Acme", at(0)).await;
    let mut input = key_input("metered", Role::Readonly);
    input.quota = Some(Quota {
        limit: 100,
        period: QuotaPeriod::Day,
    });
    let key = add_key(store.as_ref(), &acme, input, at(1)).await;
    let day = |n: i64| QuotaPeriod::Day.start(at(n * 86_400));
    let consume = |period_start: Option<DateTime<Utc>>, count: u64| UsageBatch {
        quotas: vec![QuotaUse {
            key_id: key.id.clone(),
            period_start,
            count,
        }],
        ..UsageBatch::default()
    };
    let stored = || {
        let store = store.clone();
        let (org, id) = (acme.org.id.clone(), key.id.clone());
        async move {
            let k = store.get_key(&org, &id).await.unwrap().unwrap();
            (k.quota_used, k.quota_period_start)
        }
    };
    assert_eq!(stored().await, (0, None));
    store.record_usage(&consume(day(0), 5)).await.unwrap();
    assert_eq!(stored().await, (5, day(0)));
    store.record_usage(&consume(day(0), 3)).await.unwrap();
    assert_eq!(stored().await, (8, day(0)));
    // A new period starts its count afresh.
    store.record_usage(&consume(day(1), 2)).await.unwrap();
    assert_eq!(stored().await, (2, day(1)));
    // Lifetime quotas have no period: NULL matches NULL and adds up.
    store.record_usage(&consume(None, 4)).await.unwrap();
    assert_eq!(stored().await, (4, None));
    store.record_usage(&consume(None, 1)).await.unwrap();
    assert_eq!(stored().await, (5, None));
    store.record_usage(&consume(day(2), 1)).await.unwrap();
    assert_eq!(stored().await, (1, day(2)));
    // A late write for an earlier period never takes the count back.
    store.record_usage(&consume(day(1), 7)).await.unwrap();
    assert_eq!(stored().await, (1, day(2)));
    let status = store
        .get_key(acme.id(), &key.id)
        .await
        .unwrap()
        .unwrap()
        .quota_status(at(2 * 86_400 + 5))
        .unwrap();
    assert_eq!(status.remaining, 99);
}

pub async fn organization_usage_sums_its_keys_and_ranks_them(store: Arc<dyn Store>) {
    let acme = create_org(store.as_ref(), "Acme", at(0)).await;
    let other = create_org(store.as_ref(), "Other", at(0)).await;
    let busy = add_named_key(store.as_ref(), &acme, "busy", at(1)).await;
    let quiet = add_named_key(store.as_ref(), &acme, "quiet", at(1)).await;
    let theirs = add_named_key(store.as_ref(), &other, "theirs", at(1)).await;
    let h = |n: i64| {
        DateTime::<Utc>::from_timestamp(1_900_000_000 - 1_900_000_000 % 3_600 + n * 3_600, 0)
            .unwrap()
    };
    let count = |org: &crate::fixtures::Org, key: &KeyId, hour, code, count| UsageCount {
        org_id: org.org.id.clone(),
        key_id: key.clone(),
        hour,
        code,
        count,
    };
    for counts in [
        vec![
            count(&acme, &busy.id, h(0), Code::Valid, 5),
            count(&acme, &quiet.id, h(0), Code::Valid, 1),
            count(&other, &theirs.id, h(0), Code::Valid, 50),
            // A root key's management calls: not the organization's traffic.
            count(&acme, &acme.root_key.id, h(0), Code::Valid, 40),
        ],
        vec![
            count(&acme, &busy.id, h(0), Code::Valid, 2),
            count(&acme, &busy.id, h(1), Code::RateLimited, 3),
            count(&acme, &quiet.id, h(2), Code::Valid, 1),
        ],
    ] {
        store
            .record_usage(&UsageBatch {
                counts,
                ..UsageBatch::default()
            })
            .await
            .unwrap();
    }

    let totals = store.org_usage(acme.id(), None, h(0), h(3)).await.unwrap();
    let got: Vec<_> = totals.iter().map(|t| (t.hour, t.code, t.count)).collect();
    assert_eq!(
        got,
        [
            (h(0), Code::Valid, 8),
            (h(1), Code::RateLimited, 3),
            (h(2), Code::Valid, 1),
        ]
    );
    let of_project = store
        .org_usage(acme.id(), Some(&acme.project.id), h(1), h(2))
        .await
        .unwrap();
    assert_eq!(of_project.len(), 1);
    assert_eq!(of_project[0].count, 3);
    let elsewhere = keyward_core::id::ProjectId::generate().unwrap();
    assert!(
        store
            .org_usage(acme.id(), Some(&elsewhere), h(0), h(3))
            .await
            .unwrap()
            .is_empty()
    );

    let top = store
        .top_keys(acme.id(), None, h(0), h(3), 10)
        .await
        .unwrap();
    assert_eq!(top, [(busy.id.clone(), 10), (quiet.id.clone(), 2)]);
    // Asked for by naming their project, root keys are counted.
    let management = &acme.root_key.project_id;
    let root = store
        .org_usage(acme.id(), Some(management), h(0), h(3))
        .await
        .unwrap();
    assert_eq!(root.iter().map(|t| t.count).sum::<u64>(), 40);
    let root_top = store
        .top_keys(acme.id(), Some(management), h(0), h(3), 10)
        .await
        .unwrap();
    assert_eq!(root_top, [(acme.root_key.id.clone(), 40)]);
    let first = store
        .top_keys(acme.id(), Some(&acme.project.id), h(2), h(3), 1)
        .await
        .unwrap();
    assert_eq!(first, [(quiet.id.clone(), 1)]);
    assert!(
        store
            .top_keys(acme.id(), Some(&elsewhere), h(0), h(3), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

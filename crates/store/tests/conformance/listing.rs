//! The key list: status and project filters, search, and every sort with
//! cursor pagination.

use crate::fixtures::{
    self, add_key, add_named_key, at, create_org, ids, key_event, key_input, member_ctx,
};
use chrono::{DateTime, Utc};
use keyward_core::id::KeyId;
use keyward_core::keys;
use keyward_core::model::{KeyRecord, KeyStatus};
use keyward_core::scope::Role;
use keyward_core::store::{CursorValue, KeyCursor, KeyQuery, KeySort, Store};
use keyward_core::usage::UsageBatch;
use std::cmp::Ordering;
use std::sync::Arc;

fn query(now: DateTime<Utc>) -> KeyQuery {
    KeyQuery {
        status: None,
        project_id: None,
        include_root: false,
        created_by: None,
        key_type: None,
        q: None,
        last_used_before: None,
        expires_before: None,
        sort: KeySort::CreatedAsc,
        after: None,
        limit: 100,
        now,
    }
}

async fn listed(store: &dyn Store, org: &fixtures::Org, query: &KeyQuery) -> Vec<KeyId> {
    ids(&store.list_keys(org.id(), query).await.unwrap())
}

async fn save(store: &dyn Store, record: &KeyRecord, version: i64, now: DateTime<Utc>) {
    store
        .update_key(
            record,
            version,
            &member_ctx(now),
            key_event("key.updated", record),
        )
        .await
        .unwrap();
}

pub async fn list_filters_by_status_and_project(store: Arc<dyn Store>) {
    let acme = create_org(store.as_ref(), "Acme", at(0)).await;
    let s = store.as_ref();
    let active = add_named_key(s, &acme, "active", at(1)).await;
    let mut input = key_input("disabled", Role::Readonly);
    input.enabled = Some(false);
    let disabled = add_key(s, &acme, input, at(2)).await;
    let mut input = key_input("expiring", Role::Readonly);
    input.expires_at = Some(at(50));
    let expiring = add_key(s, &acme, input, at(3)).await;
    let mut revoked = add_named_key(s, &acme, "revoked", at(4)).await;
    keys::revoke(&mut revoked, None, at(5)).unwrap();
    save(s, &revoked, 1, at(5)).await;
    let mut archived = add_named_key(s, &acme, "archived", at(6)).await;
    keys::archive(&mut archived, at(7)).unwrap();
    store
        .archive_key(
            &archived,
            1,
            100,
            &member_ctx(at(7)),
            key_event("key.archived", &archived),
        )
        .await
        .unwrap();
    let web = fixtures::project(acme.id(), "Web", "web", &["data"], false, at(8));
    store
        .create_project(
            &web,
            &member_ctx(at(8)),
            fixtures::event("project.created", web.id.as_str(), "Web"),
        )
        .await
        .unwrap();
    let in_web = fixtures::new_key(acme.id(), &web, key_input("web", Role::Readonly), at(9));
    store
        .insert_key(
            &in_web,
            None,
            &member_ctx(at(9)),
            key_event("key.created", &in_web),
        )
        .await
        .unwrap();

    let status = |status: Option<KeyStatus>, now| KeyQuery {
        status,
        ..query(now)
    };
    let id = |k: &KeyRecord| k.id.clone();
    // Before `expiring` expires, and after (expires_at <= now is expired).
    assert_eq!(
        listed(s, &acme, &status(None, at(10))).await,
        [
            id(&active),
            id(&disabled),
            id(&expiring),
            id(&revoked),
            id(&in_web)
        ]
    );
    assert_eq!(
        listed(s, &acme, &status(Some(KeyStatus::Active), at(10))).await,
        [id(&active), id(&expiring), id(&in_web)]
    );
    assert_eq!(
        listed(s, &acme, &status(Some(KeyStatus::Active), at(50))).await,
        [id(&active), id(&in_web)]
    );
    assert_eq!(
        listed(s, &acme, &status(Some(KeyStatus::Expired), at(10))).await,
        Vec::<KeyId>::new()
    );
    assert_eq!(
        listed(s, &acme, &status(Some(KeyStatus::Expired), at(50))).await,
        [id(&expiring)]
    );
    assert_eq!(
        listed(s, &acme, &status(Some(KeyStatus::Disabled), at(50))).await,
        [id(&disabled)]
    );
    assert_eq!(
        listed(s, &acme, &status(Some(KeyStatus::Revoked), at(50))).await,
        [id(&revoked)]
    );
    assert_eq!(
        listed(s, &acme, &status(Some(KeyStatus::Archived), at(50))).await,
        [id(&archived)]
    );

    let by_project = |project: &fixtures::Org| KeyQuery {
        project_id: Some(project.project.id.clone()),
        ..query(at(10))
    };
    assert_eq!(
        listed(s, &acme, &by_project(&acme)).await,
        [id(&active), id(&disabled), id(&expiring), id(&revoked)]
    );
    let q = KeyQuery {
        project_id: Some(web.id.clone()),
        ..query(at(10))
    };
    assert_eq!(listed(s, &acme, &q).await, [id(&in_web)]);
    // Root keys appear only when asked for, as the management project's keys.
    let q = KeyQuery {
        project_id: Some(acme.management.id.clone()),
        include_root: true,
        created_by: None,
        key_type: None,
        ..query(at(10))
    };
    assert_eq!(listed(s, &acme, &q).await, [id(&acme.root_key)]);
    let q = KeyQuery {
        project_id: Some(acme.management.id.clone()),
        ..query(at(10))
    };
    assert!(listed(s, &acme, &q).await.is_empty());
}

pub async fn list_search_is_case_insensitive_and_escapes_like(store: Arc<dyn Store>) {
    let acme = create_org(store.as_ref(), "Acme", at(0)).await;
    let s = store.as_ref();
    let percent = add_named_key(s, &acme, "100% Pure", at(1)).await;
    let plain = add_named_key(s, &acme, "100 pure", at(2)).await;
    let underscore = add_named_key(s, &acme, "under_score", at(3)).await;
    let lookalike = add_named_key(s, &acme, "underXscore", at(4)).await;
    let backslash = add_named_key(s, &acme, r"C:\keys", at(5)).await;
    let mut input = key_input("described", Role::Readonly);
    input.description = Some("Used by the BILLING service, déjà vu".to_owned());
    let described = add_key(s, &acme, input, at(6)).await;

    let search = |q: &str| KeyQuery {
        q: Some(q.to_owned()),
        ..query(at(10))
    };
    let id = |k: &KeyRecord| k.id.clone();
    assert_eq!(
        listed(s, &acme, &search("PURE")).await,
        [id(&percent), id(&plain)]
    );
    assert_eq!(listed(s, &acme, &search("%")).await, [id(&percent)]);
    assert_eq!(listed(s, &acme, &search("0% p")).await, [id(&percent)]);
    assert_eq!(listed(s, &acme, &search("_")).await, [id(&underscore)]);
    assert_eq!(listed(s, &acme, &search("r_s")).await, [id(&underscore)]);
    assert_eq!(listed(s, &acme, &search("\\")).await, [id(&backslash)]);
    assert_eq!(listed(s, &acme, &search(r"c:\K")).await, [id(&backslash)]);
    assert_eq!(listed(s, &acme, &search("billing")).await, [id(&described)]);
    assert_eq!(listed(s, &acme, &search("Déjà")).await, [id(&described)]);
    assert_eq!(listed(s, &acme, &search("underx")).await, [id(&lookalike)]);
    assert!(
        listed(s, &acme, &search("nothing like it"))
            .await
            .is_empty()
    );
    assert_eq!(listed(s, &acme, &search("")).await.len(), 6);
}

/// The sort value of `key` as the API puts it in a cursor.
fn cursor_value(sort: KeySort, key: &KeyRecord) -> CursorValue {
    match sort {
        KeySort::CreatedAsc | KeySort::CreatedDesc => {
            CursorValue::Int(key.created_at.timestamp_micros())
        }
        KeySort::LastUsedAsc | KeySort::LastUsedDesc => {
            CursorValue::Int(key.last_used_at.map_or(-1, |t| t.timestamp_micros()))
        }
        KeySort::ScopeAsc | KeySort::ScopeDesc => CursorValue::Text(key.scope_sort_key()),
        KeySort::ExpiresAsc => {
            CursorValue::Int(key.expires_at.map_or(i64::MAX, |t| t.timestamp_micros()))
        }
        KeySort::Name => CursorValue::Text(key.name.clone()),
    }
}

/// The order a sort must produce: by value, ties by id, text by bytes.
fn expected_order(sort: KeySort, keys: &[KeyRecord]) -> Vec<KeyId> {
    let descending = matches!(
        sort,
        KeySort::CreatedDesc | KeySort::LastUsedDesc | KeySort::ScopeDesc
    );
    let mut keys = keys.to_vec();
    keys.sort_by(|a, b| {
        let by_value = match (cursor_value(sort, a), cursor_value(sort, b)) {
            (CursorValue::Int(x), CursorValue::Int(y)) => x.cmp(&y),
            (CursorValue::Text(x), CursorValue::Text(y)) => x.as_bytes().cmp(y.as_bytes()),
            _ => Ordering::Equal,
        };
        let order = by_value.then_with(|| a.id.as_str().as_bytes().cmp(b.id.as_str().as_bytes()));
        if descending { order.reverse() } else { order }
    });
    ids(&keys)
}

pub async fn list_sorts_and_paginates_with_cursors(store: Arc<dyn Store>) {
    let acme = create_org(store.as_ref(), "Acme", at(0)).await;
    let s = store.as_ref();
    // Ties in every sort column, mixed case, non-ASCII and never-used keys.
    let specs: [(&str, i64, &[&str], Option<i64>); 8] = [
        ("beta", 1, &["data:read"], Some(30)),
        ("Beta", 1, &["push:read", "data:read"], None),
        ("alpha", 2, &["data:read"], Some(10)),
        ("Zulu", 3, &["*"], Some(30)),
        ("élan", 3, &["push:write"], None),
        ("alpha", 4, &["data:*"], Some(20)),
        ("_under", 5, &["data:read"], Some(10)),
        ("Ålborg", 5, &["data:read", "push:read"], None),
    ];
    let mut keys = Vec::new();
    let mut used = Vec::new();
    for (name, created, scopes, last_used) in specs {
        let mut input = key_input(name, Role::Custom);
        input.scopes = Some(scopes.iter().map(|s| (*s).to_owned()).collect());
        let mut key = add_key(s, &acme, input, at(created)).await;
        if let Some(t) = last_used {
            used.push((key.id.clone(), at(t)));
            key.last_used_at = Some(at(t));
        }
        keys.push(key);
    }
    store
        .record_usage(&UsageBatch {
            last_used: used,
            ..UsageBatch::default()
        })
        .await
        .unwrap();

    let sorts = [
        KeySort::CreatedAsc,
        KeySort::CreatedDesc,
        KeySort::ScopeAsc,
        KeySort::ScopeDesc,
        KeySort::LastUsedAsc,
        KeySort::LastUsedDesc,
        KeySort::ExpiresAsc,
        KeySort::Name,
    ];
    for sort in sorts {
        let expected = expected_order(sort, &keys);
        let all = KeyQuery {
            sort,
            ..query(at(100))
        };
        assert_eq!(
            listed(s, &acme, &all).await,
            expected,
            "{sort:?} in one page"
        );
        for limit in [1, 2, 3] {
            let mut seen = Vec::new();
            let mut after: Option<KeyCursor> = None;
            loop {
                let page_query = KeyQuery {
                    sort,
                    limit,
                    after: after.clone(),
                    ..query(at(100))
                };
                let mut page = store.list_keys(acme.id(), &page_query).await.unwrap();
                let more = page.len() > usize::try_from(limit).unwrap();
                page.truncate(usize::try_from(limit).unwrap());
                seen.extend(ids(&page));
                if !more {
                    break;
                }
                let last = page.last().unwrap();
                after = Some(KeyCursor {
                    value: cursor_value(sort, last),
                    id: last.id.to_string(),
                });
                assert!(
                    seen.len() <= keys.len(),
                    "{sort:?}: pagination does not end"
                );
            }
            assert_eq!(seen, expected, "{sort:?} in pages of {limit}");
        }
    }
}

pub async fn list_reads_forged_cursors_without_failing(store: Arc<dyn Store>) {
    let acme = create_org(store.as_ref(), "Acme", at(0)).await;
    let s = store.as_ref();
    let alpha = add_named_key(s, &acme, "alpha", at(1)).await;
    let beta = add_named_key(s, &acme, "beta", at(2)).await;
    let both = vec![alpha.id.clone(), beta.id.clone()];
    let forged = |sort, value| KeyQuery {
        sort,
        after: Some(KeyCursor {
            value,
            id: "~".to_owned(),
        }),
        ..query(at(10))
    };
    let text = || CursorValue::Text("not a time".to_owned());
    // Text sorts after every number: nothing follows it upwards, all downwards.
    assert!(
        listed(s, &acme, &forged(KeySort::CreatedAsc, text()))
            .await
            .is_empty()
    );
    assert_eq!(
        listed(s, &acme, &forged(KeySort::CreatedDesc, text())).await,
        [beta.id.clone(), alpha.id.clone()]
    );
    // A number given for a text sort compares as its digits.
    assert_eq!(
        listed(s, &acme, &forged(KeySort::Name, CursorValue::Int(5))).await,
        both
    );
    // A time given as digits compares as the number.
    let digits = CursorValue::Text(at(1).timestamp_micros().to_string());
    assert_eq!(
        listed(s, &acme, &forged(KeySort::CreatedAsc, digits)).await,
        std::slice::from_ref(&beta.id)
    );
}

pub async fn list_filters_by_last_use_and_expiry(store: Arc<dyn Store>) {
    let acme = create_org(store.as_ref(), "Acme", at(0)).await;
    let s = store.as_ref();
    let mut expiring = key_input("expiring", Role::Readonly);
    expiring.expires_at = Some(at(50));
    let expiring = add_key(s, &acme, expiring, at(1)).await;
    let stale = add_named_key(s, &acme, "stale", at(1)).await;
    let fresh = add_named_key(s, &acme, "fresh", at(1)).await;
    let never = add_named_key(s, &acme, "never", at(1)).await;
    store
        .record_usage(&UsageBatch {
            last_used: vec![
                (stale.id.clone(), at(10)),
                (fresh.id.clone(), at(30)),
                (expiring.id.clone(), at(20)),
            ],
            ..UsageBatch::default()
        })
        .await
        .unwrap();
    let unused_since = |t| KeyQuery {
        last_used_before: Some(at(t)),
        sort: KeySort::LastUsedAsc,
        ..query(at(40))
    };
    // Never used is not "last used before": it has its own sort end.
    assert_eq!(
        listed(s, &acme, &unused_since(20)).await,
        std::slice::from_ref(&stale.id)
    );
    assert_eq!(
        listed(s, &acme, &unused_since(21)).await,
        [stale.id.clone(), expiring.id.clone()]
    );
    let expires = |t| KeyQuery {
        expires_before: Some(at(t)),
        ..query(at(40))
    };
    assert!(listed(s, &acme, &expires(50)).await.is_empty());
    assert_eq!(listed(s, &acme, &expires(51)).await, [expiring.id]);
    let _ = never;
}

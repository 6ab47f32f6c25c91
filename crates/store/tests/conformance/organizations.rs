//! Organizations, projects and the shared secret.

use crate::fixtures::{self, actions, at, create_org, event, member_ctx, project};
use keyward_core::audit::verify_chain;
use keyward_core::id::{OrgId, ProjectId};
use keyward_core::key_format::KeyPrefix;
use keyward_core::store::{KeyQuery, KeySort, Store, StoreError};
use std::sync::Arc;

pub async fn organization_is_created_with_everything(store: Arc<dyn Store>) {
    let acme = create_org(store.as_ref(), "Acme", at(0)).await;
    let globex = create_org(store.as_ref(), "Globex", at(1)).await;

    let listed = store.list_organizations().await.unwrap();
    let names: Vec<_> = listed.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["Acme", "Globex"]);
    let got = store.get_organization(acme.id()).await.unwrap().unwrap();
    assert_eq!(got.id, acme.org.id);
    assert_eq!(got.name, "Acme");
    assert_eq!(got.default_project_id, acme.project.id);
    assert_eq!(got.created_at, at(0));
    let unknown = OrgId::generate().unwrap();
    assert!(store.get_organization(&unknown).await.unwrap().is_none());

    // Both projects, created in the same instant: ordered by id.
    let projects = store.list_projects(acme.id()).await.unwrap();
    let mut expected = vec![acme.project.id.clone(), acme.management.id.clone()];
    expected.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    assert_eq!(
        projects.iter().map(|p| p.id.clone()).collect::<Vec<_>>(),
        expected
    );
    let management = store
        .get_project(acme.id(), &acme.management.id)
        .await
        .unwrap()
        .unwrap();
    assert!(management.management);
    assert_eq!(management.apis, acme.management.apis);
    assert_eq!(management.key_prefix, acme.management.key_prefix);

    // The root key is stored, and listed only when asked for.
    let root = store
        .get_key(acme.id(), &acme.root_key.id)
        .await
        .unwrap()
        .unwrap();
    fixtures::assert_same_key(&root, &acme.root_key);
    assert!(root.root);
    let mut query = KeyQuery {
        status: None,
        project_id: None,
        include_root: false,
        created_by: None,
        key_type: None,
        q: None,
        last_used_before: None,
        expires_before: None,
        sort: KeySort::CreatedDesc,
        after: None,
        limit: 50,
        now: at(2),
    };
    assert!(store.list_keys(acme.id(), &query).await.unwrap().is_empty());
    query.include_root = true;
    assert_eq!(
        fixtures::ids(&store.list_keys(acme.id(), &query).await.unwrap()),
        std::slice::from_ref(&acme.root_key.id)
    );
    // Nothing of one organization is visible through another.
    assert!(
        store
            .get_key(globex.id(), &acme.root_key.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .get_project(globex.id(), &acme.project.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .list_keys(globex.id(), &query)
            .await
            .unwrap()
            .iter()
            .all(|k| k.org_id == globex.org.id)
    );

    // Each organization starts its own chain.
    assert_eq!(
        actions(store.as_ref(), acme.id()).await,
        [
            "organization.created",
            "member.added",
            "project.created",
            "project.created",
            "key.created"
        ]
    );
    for org in [&acme, &globex] {
        let events = fixtures::all_events(store.as_ref(), org.id()).await;
        assert_eq!(verify_chain(&events), Ok(5));
        assert!(
            events
                .iter()
                .all(|e| e.org_id == org.org.id && e.occurred_at == org.org.created_at)
        );
        assert_eq!(events[1].target.name, org.owner.email);
        assert_eq!(events[4].target.kind, "root_key");
    }
}

pub async fn projects_are_created_listed_and_updated(store: Arc<dyn Store>) {
    let acme = create_org(store.as_ref(), "Acme", at(0)).await;
    let other = create_org(store.as_ref(), "Other", at(0)).await;
    let web = project(acme.id(), "Web", "web", &["data"], false, at(10));
    store
        .create_project(
            &web,
            &member_ctx(at(10)),
            event("project.created", web.id.as_str(), "Web"),
        )
        .await
        .unwrap();

    let twin = project(acme.id(), "Web", "web2", &[], false, at(11));
    let err = store
        .create_project(
            &twin,
            &member_ctx(at(11)),
            event("project.created", twin.id.as_str(), "Web"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    // The same name in another organization is fine.
    let elsewhere = project(other.id(), "Web", "web", &[], false, at(11));
    store
        .create_project(
            &elsewhere,
            &member_ctx(at(11)),
            event("project.created", elsewhere.id.as_str(), "Web"),
        )
        .await
        .unwrap();

    let listed = store.list_projects(acme.id()).await.unwrap();
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[2].id, web.id);
    let got = store
        .get_project(acme.id(), &web.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((got.name.as_str(), got.key_prefix.as_str()), ("Web", "web"));
    assert_eq!(
        (
            got.apis.clone(),
            got.management,
            got.created_at,
            got.updated_at
        ),
        (vec!["data".to_owned()], false, at(10), at(10))
    );
    assert!(
        store
            .get_project(other.id(), &web.id)
            .await
            .unwrap()
            .is_none()
    );

    let mut changed = got.clone();
    changed.name = "Website".to_owned();
    changed.key_prefix = KeyPrefix::parse("site").unwrap();
    changed.apis = vec!["data".to_owned(), "push".to_owned()];
    changed.updated_at = at(20);
    store
        .update_project(
            &changed,
            &member_ctx(at(20)),
            event("project.updated", web.id.as_str(), "Website"),
        )
        .await
        .unwrap();
    let got = store
        .get_project(acme.id(), &web.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (got.name.as_str(), got.key_prefix.as_str(), got.apis.len()),
        ("Website", "site", 2)
    );
    assert_eq!((got.created_at, got.updated_at), (at(10), at(20)));

    // Renaming onto another project's name conflicts.
    changed.name = "Default".to_owned();
    let err = store
        .update_project(
            &changed,
            &member_ctx(at(21)),
            event("project.updated", web.id.as_str(), "Default"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    // Unknown projects, and projects of another organization, are not found.
    let mut ghost = changed.clone();
    ghost.id = ProjectId::generate().unwrap();
    ghost.name = "Ghost".to_owned();
    let err = store
        .update_project(
            &ghost,
            &member_ctx(at(22)),
            event("project.updated", "x", "x"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    let mut foreign = elsewhere.clone();
    foreign.org_id = acme.org.id.clone();
    foreign.name = "Stolen".to_owned();
    let err = store
        .update_project(
            &foreign,
            &member_ctx(at(22)),
            event("project.updated", "x", "x"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    assert_eq!(
        store
            .get_project(other.id(), &elsewhere.id)
            .await
            .unwrap()
            .unwrap()
            .name,
        "Web"
    );

    // Only what succeeded left an event.
    let actions = actions(store.as_ref(), acme.id()).await;
    assert_eq!(actions[5..], ["project.created", "project.updated"]);
}

pub async fn shared_secret_is_revealed_and_rotated_with_audit(store: Arc<dyn Store>) {
    let acme = create_org(store.as_ref(), "Acme", at(0)).await;
    let master = fixtures::master_key();
    let (sealed, rotated_at) = store
        .reveal_shared_secret(acme.id(), &member_ctx(at(5)))
        .await
        .unwrap();
    assert_eq!(
        master.open(&sealed, acme.id().as_str().as_bytes()).unwrap(),
        b"shared secret"
    );
    assert_eq!(rotated_at, at(0));

    let resealed = master
        .seal(b"rotated secret", acme.id().as_str().as_bytes())
        .unwrap();
    store
        .rotate_shared_secret(acme.id(), &resealed, at(10), at(11), &member_ctx(at(10)))
        .await
        .unwrap();
    let (sealed, rotated_at) = store
        .reveal_shared_secret(acme.id(), &member_ctx(at(11)))
        .await
        .unwrap();
    assert_eq!(sealed, resealed);
    assert_eq!(rotated_at, at(10));

    let events = fixtures::all_events(store.as_ref(), acme.id()).await;
    let audited: Vec<_> = events[5..]
        .iter()
        .map(|e| {
            (
                e.action.as_str(),
                e.target.kind.as_str(),
                e.target.name.as_str(),
                e.occurred_at,
            )
        })
        .collect();
    assert_eq!(
        audited,
        [
            ("shared_secret.revealed", "shared_secret", "Acme", at(5)),
            ("shared_secret.rotated", "shared_secret", "Acme", at(10)),
            ("shared_secret.revealed", "shared_secret", "Acme", at(11)),
        ]
    );
    assert!(
        events[5..]
            .iter()
            .all(|e| e.changes.is_empty() && e.target.id == acme.org.id.as_str())
    );

    let unknown = OrgId::generate().unwrap();
    let err = store
        .reveal_shared_secret(&unknown, &member_ctx(at(12)))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    let err = store
        .rotate_shared_secret(&unknown, b"x", at(12), at(13), &member_ctx(at(12)))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
}

pub async fn ping_answers(store: Arc<dyn Store>) {
    store.ping().await.unwrap();
}

//! Every method of the client against a real `keyward serve`.

use std::time::Duration;

use futures_util::TryStreamExt;
use keyward_client::{
    AuditFilter, Code, Error, ExposeSecret, KeyFilter, KeyStatus, KeyUpdate, Keyward, NewKey,
    ProjectFields, VerifyRequest,
};
use serde_json::json;

use crate::support::Server;

#[tokio::test]
async fn verify_answers_every_outcome_with_the_key_it_found() {
    let server = Server::start().await;
    let project = server.project().await;
    let created = server
        .key(&project, json!({"meta": {"tier": "gold"}}))
        .await;
    let key = created["key"].as_str().unwrap();
    let keyward = Keyward::new(&server.url).unwrap();

    let valid = keyward.verify(key, &["data:read"]).await.unwrap();
    assert!(valid.valid);
    assert_eq!(valid.code, Code::Valid);
    assert_eq!(valid.key_id.as_deref(), created["id"].as_str());
    assert_eq!(valid.org_id.as_deref(), Some(server.org_id.as_str()));
    assert_eq!(valid.project_id.as_deref(), Some(project.as_str()));
    assert_eq!(valid.scopes, ["data:read"]);
    assert_eq!(valid.meta["tier"], "gold");
    assert!(!valid.fail_open);

    let scope = keyward.verify(key, &["push:read"]).await.unwrap();
    assert_eq!((scope.valid, scope.code), (false, Code::InsufficientScope));
    let none: &[&str] = &[];
    assert_eq!(
        keyward.verify("kw_sk_nope", none).await.unwrap().code,
        Code::Malformed
    );

    let restricted = server
        .key(
            &project,
            json!({"trusted_origins": ["https://app.acme.com"], "allowed_ips": ["10.0.0.0/8"]}),
        )
        .await;
    let restricted = restricted["key"].as_str().unwrap();
    let ask = |origin: &str, ip: &str| {
        VerifyRequest::new(restricted)
            .origin(origin)
            .ip(ip.parse().unwrap())
    };
    let allowed = keyward
        .verify_request(&ask("https://app.acme.com", "10.1.2.3"))
        .await
        .unwrap();
    assert_eq!(allowed.code, Code::Valid);
    let origin = keyward
        .verify_request(&ask("https://evil.example", "10.1.2.3"))
        .await
        .unwrap();
    assert_eq!(origin.code, Code::OriginNotAllowed);
    let ip = keyward
        .verify_request(&ask("https://app.acme.com", "127.0.0.1"))
        .await
        .unwrap();
    assert_eq!(ip.code, Code::IpNotAllowed);
}

#[tokio::test]
async fn keys_are_created_read_changed_regenerated_revoked_and_archived() {
    let server = Server::start().await;
    let project = server.project().await;
    let admin = server.admin();
    let keys = admin.keys();

    let mut new = NewKey::new("billing backend")
        .project_id(&project)
        .scopes(["data:read"])
        .description("bills");
    new.meta = Some(json!({"team": "billing"}).as_object().unwrap().clone());
    let created = keys.create(&new).await.unwrap();
    let secret = created.key.as_ref().unwrap().expose_secret().to_owned();
    assert!(secret.starts_with("wid_sk_"));
    assert!(
        !format!("{created:?}").contains(&secret),
        "the full key shows in Debug"
    );
    assert_eq!(
        (created.name.as_str(), created.status),
        ("billing backend", KeyStatus::Active)
    );
    assert_eq!(created.meta["team"], "billing");
    assert!(created.last_used_at.is_none());

    let read = keys.get(&created.id).await.unwrap();
    assert_eq!(read.id, created.id);
    assert!(read.key.is_none(), "a secret key is never shown again");

    let changes = KeyUpdate {
        name: Some("billing".to_owned()),
        description: Some(None),
        scopes: Some(vec!["data:read".to_owned(), "push:write".to_owned()]),
        ..KeyUpdate::default()
    };
    let updated = keys.update(&created.id, &changes).await.unwrap();
    assert_eq!(
        (updated.name.as_str(), updated.description.as_str()),
        ("billing", "")
    );
    assert_eq!(updated.scopes, ["data:read", "push:write"]);

    assert_eq!(
        keys.disable(&created.id).await.unwrap().status,
        KeyStatus::Disabled
    );
    let keyward = Keyward::new(&server.url).unwrap();
    assert_eq!(
        keyward.verify(&secret, &["data:read"]).await.unwrap().code,
        Code::Disabled
    );
    assert_eq!(
        keys.enable(&created.id).await.unwrap().status,
        KeyStatus::Active
    );

    let regenerated = keys
        .regenerate(&created.id, Some(Duration::from_secs(3600)))
        .await
        .unwrap();
    let fresh = regenerated.key.as_ref().unwrap().expose_secret().to_owned();
    assert_ne!(fresh, secret);
    assert!(regenerated.previous_secret_expires_at.is_some());
    let old = keyward.verify(&secret, &["data:read"]).await.unwrap();
    assert!(old.valid && old.deprecated);

    let revoked = keys
        .revoke(&created.id, Some("leaked in a log"))
        .await
        .unwrap();
    assert_eq!(revoked.status, KeyStatus::Revoked);
    assert_eq!(revoked.revoked_reason.as_deref(), Some("leaked in a log"));
    assert_eq!(
        keyward.verify(&fresh, &["data:read"]).await.unwrap().code,
        Code::Revoked
    );

    let archived = keys.archive(&created.id).await.unwrap();
    assert_eq!(archived.status, KeyStatus::Archived);
    assert!(archived.archived_at.is_some());

    let usage = keys
        .usage(&created.id, Some("hour"), None, None)
        .await
        .unwrap();
    assert_eq!(
        (usage.key_id.as_str(), usage.granularity.as_str()),
        (created.id.as_str(), "hour")
    );
    assert!(!usage.data.is_empty());
}

#[tokio::test]
async fn creation_with_one_idempotency_key_creates_one_key() {
    let server = Server::start().await;
    let keys = server.admin();
    let keys = keys.keys();
    let new = NewKey::new("once").scopes(["*:read"]);
    let first = keys.create_idempotent(&new, "order-42").await.unwrap();
    let again = keys.create_idempotent(&new, "order-42").await.unwrap();
    assert_eq!(first.id, again.id);
    let other = keys.create(&new).await.unwrap();
    assert_ne!(
        other.id, first.id,
        "each create() has a fresh Idempotency-Key"
    );
    let reused = keys
        .create_idempotent(&NewKey::new("another body"), "order-42")
        .await
        .unwrap_err();
    assert_eq!(
        (reused.status(), reused.code()),
        (Some(409), Some("idempotency_key_reused"))
    );
}

#[tokio::test]
async fn lists_stream_every_page_with_their_filters() {
    let server = Server::start().await;
    let project = server.project().await;
    for n in 0..5 {
        server
            .key(&project, json!({"name": format!("batch {n}")}))
            .await;
    }
    server.key(&project, json!({"name": "lonely"})).await;
    let admin = server.admin();

    let filter = KeyFilter {
        q: Some("batch".to_owned()),
        sort: Some("name".to_owned()),
        limit: Some(2),
        ..KeyFilter::default()
    };
    let page = admin.keys().list_page(&filter, None).await.unwrap();
    assert_eq!(page.data.len(), 2);
    let next = page.next_cursor.unwrap();
    let second = admin.keys().list_page(&filter, Some(&next)).await.unwrap();
    assert_eq!(second.data[0].name, "batch 2");

    let all: Vec<_> = admin.keys().list(filter).try_collect().await.unwrap();
    let names: Vec<_> = all.iter().map(|key| key.name.as_str()).collect();
    assert_eq!(
        names,
        ["batch 0", "batch 1", "batch 2", "batch 3", "batch 4"]
    );

    admin.keys().revoke(&all[0].id, None).await.unwrap();
    let revoked = KeyFilter {
        status: Some(KeyStatus::Revoked),
        project_id: Some(project),
        ..KeyFilter::default()
    };
    let revoked: Vec<_> = admin.keys().list(revoked).try_collect().await.unwrap();
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].id, all[0].id);
}

#[tokio::test]
async fn projects_are_created_listed_read_and_changed() {
    let server = Server::start().await;
    let projects = server.admin();
    let projects = projects.projects();
    let fields = ProjectFields {
        name: Some("Gadgets".to_owned()),
        key_prefix: Some("gad".to_owned()),
        apis: Some(vec!["data".to_owned()]),
    };
    let created = projects.create(&fields).await.unwrap();
    assert_eq!(
        (created.key_prefix.as_str(), created.management),
        ("gad", false)
    );
    let listed = projects.list().await.unwrap();
    assert!(listed.iter().any(|project| project.id == created.id));
    assert!(listed.iter().any(|project| project.management));
    assert_eq!(projects.get(&created.id).await.unwrap(), created);
    let changes = ProjectFields {
        apis: Some(vec!["data".to_owned(), "push".to_owned()]),
        ..ProjectFields::default()
    };
    let updated = projects.update(&created.id, &changes).await.unwrap();
    assert_eq!(updated.apis, ["data", "push"]);
    let taken = projects.create(&fields).await.unwrap_err();
    assert_eq!(taken.code(), Some("conflict"));
}

#[tokio::test]
async fn the_audit_log_is_searched_page_after_page() {
    let server = Server::start().await;
    let project = server.project().await;
    for n in 0..3 {
        server
            .key(&project, json!({"name": format!("audited {n}")}))
            .await;
    }
    let admin = server.admin();
    let filter = AuditFilter {
        action: Some("key.created".to_owned()),
        limit: Some(1),
        ..AuditFilter::default()
    };
    let page = admin.audit().search_page(&filter, None).await.unwrap();
    assert_eq!(page.data.len(), 1);
    assert!(page.next_cursor.is_some());
    let events: Vec<_> = admin.audit().search(filter).try_collect().await.unwrap();
    assert!(events.len() >= 3, "{events:?}");
    assert!(events.iter().all(|event| event.action == "key.created"));
    assert!(
        events.windows(2).all(|pair| pair[0].seq > pair[1].seq),
        "newest first"
    );
    assert_eq!(events[0].target.name, "audited 2");
    assert_eq!(events[0].org_id, server.org_id);
}

#[tokio::test]
async fn refusals_are_typed_errors_with_their_code() {
    let server = Server::start().await;
    let admin = server.admin();

    let missing = admin
        .keys()
        .get("key_doesnotexist0000000")
        .await
        .unwrap_err();
    assert!(matches!(missing, Error::Api(_)));
    assert_eq!(
        (missing.status(), missing.code()),
        (Some(404), Some("not_found"))
    );
    assert!(!missing.is_unavailable());
    assert!(missing.api().unwrap().request_id.is_some());

    let invalid = admin
        .keys()
        .create(&NewKey::new("bad").scopes(["nosuchapi:read"]))
        .await
        .unwrap_err();
    assert_eq!(
        (invalid.status(), invalid.code()),
        (Some(422), Some("validation_failed"))
    );
    let fields = &invalid.api().unwrap().errors;
    assert!(
        fields.iter().any(|error| error.field.starts_with("scopes")),
        "{fields:?}"
    );

    let anonymous = Keyward::new(&server.url).unwrap();
    assert!(matches!(
        anonymous.keys().get("key_x").await,
        Err(Error::NoRootKey)
    ));
    let wrong = Keyward::builder(&server.url)
        .root_key("kw_sk_wrong")
        .build()
        .unwrap();
    assert_eq!(
        wrong.projects().list().await.unwrap_err().code(),
        Some("unauthorized")
    );

    assert!(
        !format!("{admin:?}").contains(&server.root_key),
        "the root key shows in Debug"
    );
    assert!(matches!(Keyward::new("not a url"), Err(Error::Config(_))));
}

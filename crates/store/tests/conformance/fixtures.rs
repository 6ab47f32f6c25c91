//! Records built with Keyward's own domain functions, so that what the suite
//! stores is what the product stores.

use chrono::{DateTime, Duration, TimeZone, Utc};
use keyward_core::audit::{Actor, ActorType, AuditContext, AuditEvent, NewEvent, Target};
use keyward_core::crypto::MasterKey;
use keyward_core::id::{KeyId, MemberId, OrgId, ProjectId};
use keyward_core::key_format::KeyPrefix;
use keyward_core::keys::{self, CreateKey};
use keyward_core::model::{
    KeyRecord, MANAGEMENT_APIS, MANAGEMENT_PREFIX, Member, MemberRole, Organization, Project,
};
use keyward_core::scope::Role;
use keyward_core::store::{NewOrganization, Store};

/// The master key every fixture seals with.
pub fn master_key() -> MasterKey {
    MasterKey::from_bytes(&[7; 32])
}

/// A fixed instant the suite's clocks start from.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 15, 12, 0, 0).unwrap()
}

/// `t0` plus `seconds`.
pub fn at(seconds: i64) -> DateTime<Utc> {
    t0() + Duration::seconds(seconds)
}

/// An organization as `keyward org create` writes it.
#[derive(Debug)]
pub struct Org {
    /// The organization.
    pub org: Organization,
    /// Its owner.
    pub owner: Member,
    /// The default project (APIs `data` and `push`).
    pub project: Project,
    /// The project of root keys.
    pub management: Project,
    /// The first root key.
    pub root_key: KeyRecord,
}

impl Org {
    /// Its id.
    pub fn id(&self) -> &OrgId {
        &self.org.id
    }
}

/// A project of `org` created at `now`.
pub fn project(
    org: &OrgId,
    name: &str,
    prefix: &str,
    apis: &[&str],
    management: bool,
    now: DateTime<Utc>,
) -> Project {
    Project {
        id: ProjectId::generate().unwrap(),
        org_id: org.clone(),
        name: name.to_owned(),
        key_prefix: KeyPrefix::parse(prefix).unwrap(),
        apis: apis.iter().map(|s| (*s).to_owned()).collect(),
        management,
        created_at: now,
        updated_at: now,
    }
}

/// Creates an organization named `name` at `now`.
pub async fn create_org(store: &dyn Store, name: &str, now: DateTime<Utc>) -> Org {
    let org_id = OrgId::generate().unwrap();
    let default_project = project(&org_id, "Default", "kw", &["data", "push"], false, now);
    let management = project(
        &org_id,
        "Management",
        MANAGEMENT_PREFIX,
        &MANAGEMENT_APIS,
        true,
        now,
    );
    let org = Organization {
        id: org_id.clone(),
        name: name.to_owned(),
        default_project_id: default_project.id.clone(),
        created_at: now,
    };
    let owner = Member {
        id: MemberId::generate().unwrap(),
        org_id: org_id.clone(),
        email: format!(
            "owner@{}.example.com",
            name.to_lowercase().replace(' ', "-")
        ),
        name: "Owner".to_owned(),
        role: MemberRole::Owner,
        password_hash: "$argon2id$v=19$placeholder".to_owned(),
        created_at: now,
        must_change_password: false,
    };
    let root_key = new_key(
        &org_id,
        &management,
        key_input("Initial root key", Role::Admin),
        now,
    );
    let new = NewOrganization {
        org: org.clone(),
        owner: owner.clone(),
        default_project: default_project.clone(),
        management_project: management.clone(),
        root_key: root_key.clone(),
        sealed_shared_secret: master_key()
            .seal(b"shared secret", org_id.as_str().as_bytes())
            .unwrap(),
    };
    store
        .create_organization(&new, &AuditContext::system("keyward org create", now))
        .await
        .unwrap();
    Org {
        org,
        owner,
        project: default_project,
        management,
        root_key,
    }
}

/// A create request with only a name and a role.
pub fn key_input(name: &str, role: Role) -> CreateKey {
    CreateKey {
        name: name.to_owned(),
        description: None,
        project_id: None,
        key_type: None,
        role: Some(role),
        scopes: None,
        expires_at: None,
        trusted_origins: None,
        allowed_ips: None,
        meta: None,
        enabled: None,
        ratelimit: None,
        quota: None,
    }
}

/// A key record built by the domain, not yet stored.
pub fn new_key(org: &OrgId, project: &Project, input: CreateKey, now: DateTime<Utc>) -> KeyRecord {
    keys::create(
        input,
        org,
        project,
        "mem_fixture".to_owned(),
        &master_key(),
        now,
    )
    .unwrap()
    .record
}

/// Builds and stores a key of the organization's default project.
pub async fn add_key(
    store: &dyn Store,
    org: &Org,
    input: CreateKey,
    now: DateTime<Utc>,
) -> KeyRecord {
    let record = new_key(org.id(), &org.project, input, now);
    store
        .insert_key(
            &record,
            None,
            &member_ctx(now),
            key_event("key.created", &record),
        )
        .await
        .unwrap();
    record
}

/// Builds and stores a key named `name` created at `now`.
pub async fn add_named_key(
    store: &dyn Store,
    org: &Org,
    name: &str,
    now: DateTime<Utc>,
) -> KeyRecord {
    add_key(store, org, key_input(name, Role::Readonly), now).await
}

/// Regenerates `key`, as stored, with a grace period of an hour, and stores
/// the result.
pub async fn regenerate_key(
    store: &dyn Store,
    org: &Org,
    key: &KeyRecord,
    now: DateTime<Utc>,
) -> KeyRecord {
    let mut regenerated = key.clone();
    keys::regenerate(&mut regenerated, &org.project, 3_600, &master_key(), now).unwrap();
    store
        .update_key(
            &regenerated,
            key.version,
            &member_ctx(now),
            key_event("key.regenerated", &regenerated),
        )
        .await
        .unwrap();
    regenerated
}

/// A member acting from a browser, in team `blue`.
pub fn member_ctx(now: DateTime<Utc>) -> AuditContext {
    AuditContext {
        actor: Actor {
            kind: ActorType::Member,
            id: "mem_alice".to_owned(),
            name: "alice@example.com".to_owned(),
        },
        team: Some("blue".to_owned()),
        ip: Some("203.0.113.7".to_owned()),
        user_agent: Some("Mozilla/5.0".to_owned()),
        at: now,
    }
}

/// A root key acting through the API.
pub fn root_ctx(root: &KeyRecord, now: DateTime<Utc>) -> AuditContext {
    AuditContext {
        actor: Actor {
            kind: ActorType::RootKey,
            id: root.id.to_string(),
            name: root.name.clone(),
        },
        team: None,
        ip: Some("2001:db8::1".to_owned()),
        user_agent: None,
        at: now,
    }
}

/// An event about a key.
pub fn key_event(action: &str, key: &KeyRecord) -> NewEvent {
    NewEvent {
        action: action.to_owned(),
        target: Target {
            kind: "key".to_owned(),
            id: key.id.to_string(),
            name: key.name.clone(),
        },
        changes: keyward_core::audit::created(&keys::audit_view(key)),
    }
}

/// An event with any action and target.
pub fn event(action: &str, target_id: &str, target_name: &str) -> NewEvent {
    NewEvent {
        action: action.to_owned(),
        target: Target {
            kind: "thing".to_owned(),
            id: target_id.to_owned(),
            name: target_name.to_owned(),
        },
        changes: serde_json::Map::new(),
    }
}

/// Every event of the organization, oldest first.
pub async fn all_events(store: &dyn Store, org: &OrgId) -> Vec<AuditEvent> {
    let mut events = Vec::new();
    loop {
        let after = events.last().map_or(0, |e: &AuditEvent| e.seq);
        let page = store.audit_events(org, after, 100).await.unwrap();
        if page.is_empty() {
            return events;
        }
        events.extend(page);
    }
}

/// The actions of every event of the organization, oldest first.
pub async fn actions(store: &dyn Store, org: &OrgId) -> Vec<String> {
    all_events(store, org)
        .await
        .into_iter()
        .map(|e| e.action)
        .collect()
}

/// Asserts that two key records hold the same values in every field.
pub fn assert_same_key(stored: &KeyRecord, expected: &KeyRecord) {
    // `Debug` shows every field but abbreviates hashes: compare those apart.
    assert_eq!(format!("{stored:?}"), format!("{expected:?}"));
    assert_eq!(stored.hash, expected.hash);
    assert_eq!(stored.previous, expected.previous);
}

/// The ids of `keys`, in order.
pub fn ids(keys: &[KeyRecord]) -> Vec<KeyId> {
    keys.iter().map(|k| k.id.clone()).collect()
}

//! The audit events Keyward records, built in one place so that every
//! backend and every handler writes them the same way.

use crate::audit::{NewEvent, Target, created, diff};
use crate::id::{KeyId, OrgId};
use crate::keys::audit_view;
use crate::model::{KeyRecord, Member, Organization, Project, Team};
use crate::org_policy::KeyPolicy;
use crate::webhooks::Endpoint;
use serde_json::{Map, Value, json};

/// The fields of a JSON object; anything else is empty.
pub fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn target(kind: &str, id: &str, name: &str) -> Target {
    Target {
        kind: kind.to_owned(),
        id: id.to_owned(),
        name: name.to_owned(),
    }
}

/// `organization.created`.
pub fn organization_created(org: &Organization) -> NewEvent {
    NewEvent {
        action: "organization.created".to_owned(),
        target: target("organization", org.id.as_str(), &org.name),
        changes: created(&object(json!({"name": org.name}))),
    }
}

/// `member.added`.
pub fn member_added(member: &Member) -> NewEvent {
    NewEvent {
        action: "member.added".to_owned(),
        target: member_target(member),
        changes: created(&member_view(member)),
    }
}

/// The audit target naming a member.
pub fn member_target(member: &Member) -> Target {
    target("member", member.id.as_str(), &member.email)
}

fn member_view(member: &Member) -> Map<String, Value> {
    object(json!({"email": member.email, "name": member.name, "role": member.role}))
}

/// `member.updated`: name or role changed.
pub fn member_updated(before: &Member, after: &Member) -> NewEvent {
    NewEvent {
        action: "member.updated".to_owned(),
        target: member_target(after),
        changes: diff(&member_view(before), &member_view(after)),
    }
}

/// `member.password_changed` (by the member) or `member.password_reset` (by
/// an administrator, who gets a temporary password). The password never appears.
pub fn member_password(action: &str, member: &Member) -> NewEvent {
    NewEvent {
        action: action.to_owned(),
        target: member_target(member),
        changes: Map::new(),
    }
}

/// `member.removed`, naming the keys it disabled.
pub fn member_removed(member: &Member, disabled_keys: &[KeyId]) -> NewEvent {
    let mut changes = diff(&member_view(member), &Map::new());
    changes.insert(
        "disabled_keys".to_owned(),
        json!({"before": null, "after": disabled_keys}),
    );
    NewEvent {
        action: "member.removed".to_owned(),
        target: member_target(member),
        changes,
    }
}

/// What the audit log records of a team.
pub fn team_view(team: &Team) -> Map<String, Value> {
    object(json!({"name": team.name, "members": team.members}))
}

/// `team.created`, `team.updated` or `team.deleted`.
pub fn team_changed(action: &str, before: Option<&Team>, after: Option<&Team>) -> NewEvent {
    let view = |team: Option<&Team>| team.map(team_view).unwrap_or_default();
    let named = after.or(before);
    NewEvent {
        action: action.to_owned(),
        target: target(
            "team",
            named.map(|t| t.id.as_str()).unwrap_or_default(),
            named.map(|t| t.name.as_str()).unwrap_or_default(),
        ),
        changes: diff(&view(before), &view(after)),
    }
}

/// `login.succeeded` or `login.failed`, against a member.
pub fn login(action: &str, member: &Member, reason: Option<&str>) -> NewEvent {
    let changes = match reason {
        Some(reason) => object(json!({"reason": {"before": null, "after": reason}})),
        None => Map::new(),
    };
    NewEvent {
        action: action.to_owned(),
        target: member_target(member),
        changes,
    }
}

/// What the audit log records of a project.
pub fn project_view(project: &Project) -> Map<String, Value> {
    object(json!({"name": project.name, "key_prefix": project.key_prefix, "apis": project.apis}))
}

/// The audit target naming a project.
pub fn project_target(project: &Project) -> Target {
    target("project", project.id.as_str(), &project.name)
}

/// `project.created`.
pub fn project_created(project: &Project) -> NewEvent {
    NewEvent {
        action: "project.created".to_owned(),
        target: project_target(project),
        changes: created(&project_view(project)),
    }
}

/// The audit target naming a key (`root_key` for root keys).
pub fn key_target(record: &KeyRecord) -> Target {
    let kind = if record.root { "root_key" } else { "key" };
    target(kind, record.id.as_str(), &record.name)
}

/// `key.created`.
pub fn key_created(record: &KeyRecord) -> NewEvent {
    NewEvent {
        action: "key.created".to_owned(),
        target: key_target(record),
        changes: created(&audit_view(record)),
    }
}

/// `key.purged`: an archived key beyond the `keep` most recent was deleted.
pub fn key_purged(record: &KeyRecord, keep: u32) -> NewEvent {
    NewEvent {
        action: "key.purged".to_owned(),
        target: key_target(record),
        changes: object(json!({
            "reason": {"before": null, "after": format!("more than {keep} archived keys")}
        })),
    }
}

/// `shared_secret.revealed` or `shared_secret.rotated`; never the secret.
pub fn shared_secret(action: &str, org: &OrgId, org_name: &str) -> NewEvent {
    NewEvent {
        action: action.to_owned(),
        target: target("shared_secret", org.as_str(), org_name),
        changes: Map::new(),
    }
}

/// An event between two states of a key (`key.disabled`, …), with the
/// fields that changed.
pub fn key_changed(action: &str, before: &KeyRecord, after: &KeyRecord) -> NewEvent {
    NewEvent {
        action: action.to_owned(),
        target: key_target(after),
        changes: diff(&audit_view(before), &audit_view(after)),
    }
}

/// A scheduled notice about a key (`key.expiring`, `key.expired`,
/// `key.stale`, `key.quota_exhausted`), with what it is about.
pub fn key_notice(action: &str, record: &KeyRecord, details: Map<String, Value>) -> NewEvent {
    let changes = details
        .into_iter()
        .map(|(field, value)| (field, json!({"before": null, "after": value})))
        .collect();
    NewEvent {
        action: action.to_owned(),
        target: key_target(record),
        changes,
    }
}

fn webhook_target(endpoint: &Endpoint) -> Target {
    target("webhook", endpoint.id.as_str(), &endpoint.display_url())
}

/// `webhook.created`, `webhook.updated` or `webhook.deleted`.
pub fn webhook_changed(
    action: &str,
    before: Option<&Endpoint>,
    after: Option<&Endpoint>,
) -> NewEvent {
    let view = |e: Option<&Endpoint>| e.map(Endpoint::audit_view).unwrap_or_default();
    let named = after.or(before);
    NewEvent {
        action: action.to_owned(),
        target: named
            .map(webhook_target)
            .unwrap_or_else(|| target("webhook", "", "")),
        changes: diff(&view(before), &view(after)),
    }
}

/// `webhook.disabled`: Keyward disabled an endpoint (`gone`: it answered
/// 410; `failing`: it failed for too long).
pub fn webhook_disabled(before: &Endpoint, after: &Endpoint, reason: &str) -> NewEvent {
    let mut changes = diff(&before.audit_view(), &after.audit_view());
    changes.insert(
        "reason".to_owned(),
        json!({"before": null, "after": reason}),
    );
    NewEvent {
        action: crate::webhooks::DISABLED_EVENT.to_owned(),
        target: webhook_target(after),
        changes,
    }
}

/// `webhook.test`: a test message for one endpoint.
pub fn webhook_test(endpoint: &Endpoint) -> NewEvent {
    NewEvent {
        action: crate::webhooks::TEST_EVENT.to_owned(),
        target: webhook_target(endpoint),
        changes: Map::new(),
    }
}

/// `policy.updated`.
pub fn policy_updated(org: &OrgId, before: &KeyPolicy, after: &KeyPolicy) -> NewEvent {
    NewEvent {
        action: "policy.updated".to_owned(),
        target: target("policy", org.as_str(), "key policy"),
        changes: diff(&before.audit_view(), &after.audit_view()),
    }
}

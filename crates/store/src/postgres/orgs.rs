//! SQL for organizations, their projects and their shared secret.

use super::audit::{self, OrgTx};
use super::rows::{self, micros, time};
use super::{keys, object, unique_as_conflict};
use crate::backend;
use chrono::{DateTime, Utc};
use keyward_core::audit::{AuditContext, NewEvent, Target};
use keyward_core::id::OrgId;
use keyward_core::keys::audit_view;
use keyward_core::model::Project;
use keyward_core::store::{NewOrganization, StoreError};
use sqlx::{PgConnection, PgPool, Row};

/// Writes a new organization with its owner, projects and first root key.
pub(super) async fn create(
    pool: &PgPool,
    new: &NewOrganization,
    ctx: &AuditContext,
) -> Result<(), StoreError> {
    let mut tx = OrgTx::begin(pool, &new.org.id).await?;
    sqlx::query(
        "INSERT INTO organizations (id, name, default_project_id, created_at, shared_secret, shared_secret_rotated_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(new.org.id.as_str())
    .bind(&new.org.name)
    .bind(new.org.default_project_id.as_str())
    .bind(micros(new.org.created_at))
    .bind(&new.sealed_shared_secret)
    .bind(micros(new.org.created_at))
    .execute(tx.conn())
    .await
    .map_err(backend)?;
    let owner = &new.owner;
    sqlx::query(
        "INSERT INTO members (id, org_id, email, name, role, password_hash, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(owner.id.as_str())
    .bind(owner.org_id.as_str())
    .bind(&owner.email)
    .bind(&owner.name)
    .bind(owner.role.as_str())
    .bind(&owner.password_hash)
    .bind(micros(owner.created_at))
    .execute(tx.conn())
    .await
    .map_err(backend)?;
    let target = |kind: &str, id: &str, name: &str| Target {
        kind: kind.to_owned(),
        id: id.to_owned(),
        name: name.to_owned(),
    };
    let org_event = NewEvent {
        action: "organization.created".to_owned(),
        target: target("organization", new.org.id.as_str(), &new.org.name),
        changes: keyward_core::audit::created(&object(serde_json::json!({"name": new.org.name}))),
    };
    audit::append(&mut tx, ctx, org_event).await?;
    let member_event = NewEvent {
        action: "member.added".to_owned(),
        target: target("member", owner.id.as_str(), &owner.email),
        changes: keyward_core::audit::created(&object(
            serde_json::json!({"email": owner.email, "role": owner.role}),
        )),
    };
    audit::append(&mut tx, ctx, member_event).await?;
    for project in [&new.default_project, &new.management_project] {
        insert_project(tx.conn(), project).await?;
        audit::append(&mut tx, ctx, project_created(project)).await?;
    }
    keys::insert(tx.conn(), &new.root_key).await?;
    let key_event = NewEvent {
        action: "key.created".to_owned(),
        target: target("root_key", new.root_key.id.as_str(), &new.root_key.name),
        changes: keyward_core::audit::created(&audit_view(&new.root_key)),
    };
    audit::append(&mut tx, ctx, key_event).await?;
    tx.commit().await
}

/// The sealed shared secret and when it was last rotated; audited.
pub(super) async fn reveal_shared_secret(
    pool: &PgPool,
    org: &OrgId,
    ctx: &AuditContext,
) -> Result<(Vec<u8>, DateTime<Utc>), StoreError> {
    let mut tx = OrgTx::begin(pool, org).await?;
    let row = sqlx::query(
        "SELECT name, shared_secret, shared_secret_rotated_at FROM organizations WHERE id = $1",
    )
    .bind(org.as_str())
    .fetch_optional(tx.conn())
    .await
    .map_err(backend)?
    .ok_or(StoreError::NotFound)?;
    let sealed: Vec<u8> = row.try_get("shared_secret").map_err(backend)?;
    let rotated_at = time(row.try_get("shared_secret_rotated_at").map_err(backend)?)?;
    let event = shared_secret_event(
        "shared_secret.revealed",
        org,
        row.try_get("name").map_err(backend)?,
    );
    audit::append(&mut tx, ctx, event).await?;
    tx.commit().await?;
    Ok((sealed, rotated_at))
}

/// Replaces the sealed shared secret; audited.
pub(super) async fn rotate_shared_secret(
    pool: &PgPool,
    org: &OrgId,
    sealed: &[u8],
    now: DateTime<Utc>,
    ctx: &AuditContext,
) -> Result<(), StoreError> {
    let mut tx = OrgTx::begin(pool, org).await?;
    let name: String = sqlx::query_scalar(
        "UPDATE organizations SET shared_secret = $1, shared_secret_rotated_at = $2
         WHERE id = $3 RETURNING name",
    )
    .bind(sealed)
    .bind(micros(now))
    .bind(org.as_str())
    .fetch_optional(tx.conn())
    .await
    .map_err(backend)?
    .ok_or(StoreError::NotFound)?;
    let event = shared_secret_event("shared_secret.rotated", org, name);
    audit::append(&mut tx, ctx, event).await?;
    tx.commit().await
}

pub(super) async fn insert_project(
    tx: &mut PgConnection,
    project: &Project,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO projects (id, org_id, name, key_prefix, apis, management, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(project.id.as_str())
    .bind(project.org_id.as_str())
    .bind(&project.name)
    .bind(project.key_prefix.as_str())
    .bind(rows::json(&project.apis)?)
    .bind(project.management)
    .bind(micros(project.created_at))
    .bind(micros(project.updated_at))
    .execute(&mut *tx)
    .await
    .map_err(|e| unique_as_conflict(e, "a project with this name already exists"))?;
    Ok(())
}

fn project_created(project: &Project) -> NewEvent {
    NewEvent {
        action: "project.created".to_owned(),
        target: Target {
            kind: "project".to_owned(),
            id: project.id.to_string(),
            name: project.name.clone(),
        },
        changes: keyward_core::audit::created(&object(serde_json::json!({
            "name": project.name,
            "key_prefix": project.key_prefix,
            "apis": project.apis,
        }))),
    }
}

fn shared_secret_event(action: &str, org: &OrgId, org_name: String) -> NewEvent {
    NewEvent {
        action: action.to_owned(),
        target: Target {
            kind: "shared_secret".to_owned(),
            id: org.to_string(),
            name: org_name,
        },
        changes: serde_json::Map::new(),
    }
}

//! Organizations, their projects and their shared secret.

use super::rows::{self, micros, time};
use super::{Backend, Conn, audit, keys, mail, people};
use crate::{backend, unique_as_conflict};
use chrono::{DateTime, Utc};
use keyward_core::audit::{AuditContext, NewEvent};
use keyward_core::events;
use keyward_core::id::{OrgId, ProjectId};
use keyward_core::model::{Organization, Project};
use keyward_core::store::{NewOrganization, StoreError};
use sqlx::Row;

const PROJECT_TAKEN: &str = "a project with this name already exists";

/// Writes a new organization with its owner, projects and first root key.
pub(super) async fn create(
    store: &Backend,
    new: &NewOrganization,
    ctx: &AuditContext,
) -> Result<(), StoreError> {
    let mut tx = store.begin_in(&new.org.id).await?;
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
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    mail::start_cursor(&mut tx, &new.org.id).await?;
    let owner = &new.owner;
    people::insert_owner(&mut tx, owner).await?;
    audit::append(
        &mut tx,
        &new.org.id,
        ctx,
        events::organization_created(&new.org),
    )
    .await?;
    audit::append(&mut tx, &new.org.id, ctx, events::member_added(owner)).await?;
    for project in [&new.default_project, &new.management_project] {
        insert_project(&mut tx, project).await?;
        audit::append(&mut tx, &new.org.id, ctx, events::project_created(project)).await?;
    }
    keys::insert(&mut tx, &new.root_key).await?;
    audit::append(
        &mut tx,
        &new.org.id,
        ctx,
        events::key_created(&new.root_key),
    )
    .await?;
    tx.commit().await
}

/// The sealed shared secret and when it was last rotated; audited.
pub(super) async fn reveal_shared_secret(
    store: &Backend,
    org: &OrgId,
    ctx: &AuditContext,
) -> Result<(Vec<u8>, DateTime<Utc>), StoreError> {
    let mut tx = store.begin_in(org).await?;
    let row = sqlx::query(
        "SELECT name, shared_secret, shared_secret_rotated_at FROM organizations WHERE id = $1",
    )
    .bind(org.as_str())
    .fetch_optional(&mut *tx)
    .await
    .map_err(backend)?
    .ok_or(StoreError::NotFound)?;
    let sealed: Vec<u8> = row.try_get("shared_secret").map_err(backend)?;
    let rotated_at = time(row.try_get("shared_secret_rotated_at").map_err(backend)?)?;
    let name: String = row.try_get("name").map_err(backend)?;
    let event = events::shared_secret("shared_secret.revealed", org, &name);
    audit::append(&mut tx, org, ctx, event).await?;
    tx.commit().await?;
    Ok((sealed, rotated_at))
}

/// Replaces the sealed shared secret, keeping the one it replaces to sign
/// webhooks beside it until `previous_until`; audited.
pub(super) async fn rotate_shared_secret(
    store: &Backend,
    org: &OrgId,
    sealed: &[u8],
    now: DateTime<Utc>,
    previous_until: DateTime<Utc>,
    ctx: &AuditContext,
) -> Result<(), StoreError> {
    let mut tx = store.begin_in(org).await?;
    let name: String = sqlx::query_scalar(
        "UPDATE organizations SET previous_shared_secret = shared_secret,
             previous_shared_secret_until = $4, shared_secret = $1, shared_secret_rotated_at = $2
         WHERE id = $3 RETURNING name",
    )
    .bind(sealed)
    .bind(micros(now))
    .bind(org.as_str())
    .bind(micros(previous_until))
    .fetch_optional(&mut *tx)
    .await
    .map_err(backend)?
    .ok_or(StoreError::NotFound)?;
    let event = events::shared_secret("shared_secret.rotated", org, &name);
    audit::append(&mut tx, org, ctx, event).await?;
    tx.commit().await
}

async fn insert_project(tx: &mut Conn, project: &Project) -> Result<(), StoreError> {
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
    .map_err(|e| unique_as_conflict(e, PROJECT_TAKEN))?;
    Ok(())
}

pub(super) async fn list(store: &Backend) -> Result<Vec<Organization>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, name, default_project_id, created_at FROM organizations ORDER BY created_at, id",
    )
    .fetch_all(store.reads())
    .await
    .map_err(backend)?;
    rows.iter().map(rows::organization).collect()
}

pub(super) async fn get(store: &Backend, org: &OrgId) -> Result<Option<Organization>, StoreError> {
    let row = sqlx::query(
        "SELECT id, name, default_project_id, created_at FROM organizations WHERE id = $1",
    )
    .bind(org.as_str())
    .fetch_optional(store.reads())
    .await
    .map_err(backend)?;
    row.as_ref().map(rows::organization).transpose()
}

pub(super) async fn create_project(
    store: &Backend,
    project: &Project,
    ctx: &AuditContext,
    event: NewEvent,
) -> Result<(), StoreError> {
    let mut tx = store.begin_in(&project.org_id).await?;
    insert_project(&mut tx, project).await?;
    audit::append(&mut tx, &project.org_id, ctx, event).await?;
    tx.commit().await
}

pub(super) async fn list_projects(
    store: &Backend,
    org: &OrgId,
) -> Result<Vec<Project>, StoreError> {
    let rows = sqlx::query("SELECT * FROM projects WHERE org_id = $1 ORDER BY created_at, id")
        .bind(org.as_str())
        .fetch_all(store.reads())
        .await
        .map_err(backend)?;
    rows.iter().map(rows::project).collect()
}

pub(super) async fn get_project(
    store: &Backend,
    org: &OrgId,
    id: &ProjectId,
) -> Result<Option<Project>, StoreError> {
    let row = sqlx::query("SELECT * FROM projects WHERE org_id = $1 AND id = $2")
        .bind(org.as_str())
        .bind(id.as_str())
        .fetch_optional(store.reads())
        .await
        .map_err(backend)?;
    row.as_ref().map(rows::project).transpose()
}

pub(super) async fn update_project(
    store: &Backend,
    project: &Project,
    ctx: &AuditContext,
    event: NewEvent,
) -> Result<(), StoreError> {
    let mut tx = store.begin_in(&project.org_id).await?;
    let done = sqlx::query(
        "UPDATE projects SET name = $1, key_prefix = $2, apis = $3, updated_at = $4
         WHERE org_id = $5 AND id = $6",
    )
    .bind(&project.name)
    .bind(project.key_prefix.as_str())
    .bind(rows::json(&project.apis)?)
    .bind(micros(project.updated_at))
    .bind(project.org_id.as_str())
    .bind(project.id.as_str())
    .execute(&mut *tx)
    .await
    .map_err(|e| unique_as_conflict(e, PROJECT_TAKEN))?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    audit::append(&mut tx, &project.org_id, ctx, event).await?;
    tx.commit().await
}

//! SQL for organizations, their projects and their shared secret.

use super::audit::{self, OrgTx};
use super::rows::{self, micros, time};
use super::{keys, people, unique_as_conflict};
use crate::backend;
use chrono::{DateTime, Utc};
use keyward_core::audit::AuditContext;
use keyward_core::events;
use keyward_core::id::OrgId;
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
    people::insert_member(tx.conn(), owner).await?;
    audit::append(&mut tx, ctx, events::organization_created(&new.org)).await?;
    audit::append(&mut tx, ctx, events::member_added(owner)).await?;
    for project in [&new.default_project, &new.management_project] {
        insert_project(tx.conn(), project).await?;
        audit::append(&mut tx, ctx, events::project_created(project)).await?;
    }
    keys::insert(tx.conn(), &new.root_key).await?;
    audit::append(&mut tx, ctx, events::key_created(&new.root_key)).await?;
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
    let name: String = row.try_get("name").map_err(backend)?;
    let event = events::shared_secret("shared_secret.revealed", org, &name);
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
    let event = events::shared_secret("shared_secret.rotated", org, &name);
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

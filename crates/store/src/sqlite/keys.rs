//! SQL for keys: insert, optimistic update, the filtered and paginated list,
//! and the purge of old archived keys.

use super::rows::{self, json, micros};
use crate::backend;
use keyward_core::id::OrgId;
use keyward_core::model::{KeyRecord, KeyStatus};
use keyward_core::store::{CursorValue, KeyQuery, KeySort, StoreError};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};

pub(super) async fn insert(tx: &mut SqliteConnection, key: &KeyRecord) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO api_keys (id, org_id, project_id, root, name, description, key_type, role, scopes,
             scope_sort, enabled, hash, hint, previous_hash, previous_expires_at, sealed_key, created_by,
             created_at, updated_at, expires_at, last_used_at, revoked_at, revoked_reason, archived_at,
                          trusted_origins, allowed_ips, meta, ratelimit, quota, quota_used, quota_period_start, version)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
                 ?, ?, ?, ?, ?)",
    )
    .bind(key.id.as_str())
    .bind(key.org_id.as_str())
    .bind(key.project_id.as_str())
    .bind(key.root)
    .bind(&key.name)
    .bind(&key.description)
    .bind(key.key_type.as_str())
    .bind(key.role.as_str())
    .bind(json(&key.scopes)?)
    .bind(key.scope_sort_key())
    .bind(key.enabled)
    .bind(&key.hash.0[..])
    .bind(&key.hint)
    .bind(key.previous.map(|p| p.hash.0.to_vec()))
    .bind(key.previous.map(|p| micros(p.expires_at)))
    .bind(key.sealed_key.as_deref())
    .bind(&key.created_by)
    .bind(micros(key.created_at))
    .bind(micros(key.updated_at))
    .bind(key.expires_at.map(micros))
    .bind(key.last_used_at.map(micros))
    .bind(key.revoked_at.map(micros))
    .bind(key.revoked_reason.as_deref())
    .bind(key.archived_at.map(micros))
    .bind(json(&key.trusted_origins)?)
    .bind(json(&key.allowed_ips)?)
        .bind(json(&key.meta)?)
    .bind(key.ratelimit.map(|rl| json(&rl)).transpose()?)
    .bind(key.quota.map(|q| json(&q)).transpose()?)
    .bind(i64::try_from(key.quota_used).unwrap_or(i64::MAX))
    .bind(key.quota_period_start.map(micros))
    .bind(key.version)
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    Ok(())
}

/// Writes every changeable column if the stored version is still
/// `expected_version`, and bumps the version. `last_used_at` is left to the
/// usage writer.
pub(super) async fn update(
    tx: &mut SqliteConnection,
    key: &KeyRecord,
    expected_version: i64,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE api_keys SET name = ?, description = ?, role = ?, scopes = ?, scope_sort = ?, enabled = ?,
             hash = ?, hint = ?, previous_hash = ?, previous_expires_at = ?, sealed_key = ?, updated_at = ?,
             expires_at = ?, revoked_at = ?, revoked_reason = ?, archived_at = ?, trusted_origins = ?,
                          allowed_ips = ?, meta = ?, ratelimit = ?, quota = ?, version = version + 1
         WHERE org_id = ? AND id = ? AND version = ?",
    )
    .bind(&key.name)
    .bind(&key.description)
    .bind(key.role.as_str())
    .bind(json(&key.scopes)?)
    .bind(key.scope_sort_key())
    .bind(key.enabled)
    .bind(&key.hash.0[..])
    .bind(&key.hint)
    .bind(key.previous.map(|p| p.hash.0.to_vec()))
    .bind(key.previous.map(|p| micros(p.expires_at)))
    .bind(key.sealed_key.as_deref())
    .bind(micros(key.updated_at))
    .bind(key.expires_at.map(micros))
    .bind(key.revoked_at.map(micros))
    .bind(key.revoked_reason.as_deref())
    .bind(key.archived_at.map(micros))
    .bind(json(&key.trusted_origins)?)
    .bind(json(&key.allowed_ips)?)
        .bind(json(&key.meta)?)
    .bind(key.ratelimit.map(|rl| json(&rl)).transpose()?)
    .bind(key.quota.map(|q| json(&q)).transpose()?)
    .bind(key.org_id.as_str())
    .bind(key.id.as_str())
    .bind(expected_version)
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    if done.rows_affected() == 1 {
        Ok(())
    } else {
        Err(StoreError::Changed)
    }
}

/// Deletes the organization's archived keys beyond the `keep` most recent,
/// with their usage counters, and returns them.
pub(super) async fn purge_archived(
    tx: &mut SqliteConnection,
    org: &OrgId,
    keep: u32,
) -> Result<Vec<KeyRecord>, StoreError> {
    let rows = sqlx::query(
        "SELECT * FROM api_keys WHERE org_id = ? AND archived_at IS NOT NULL
         ORDER BY archived_at DESC, id DESC LIMIT -1 OFFSET ?",
    )
    .bind(org.as_str())
    .bind(i64::from(keep))
    .fetch_all(&mut *tx)
    .await
    .map_err(backend)?;
    let purged: Vec<KeyRecord> = rows.iter().map(rows::key).collect::<Result<_, _>>()?;
    for key in &purged {
        sqlx::query("DELETE FROM key_usage WHERE key_id = ?")
            .bind(key.id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query("DELETE FROM api_keys WHERE org_id = ? AND id = ?")
            .bind(org.as_str())
            .bind(key.id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
    }
    Ok(purged)
}

/// The column expression a sort orders by, and whether it descends.
fn sort_column(sort: KeySort) -> (&'static str, bool) {
    match sort {
        KeySort::CreatedAsc => ("created_at", false),
        KeySort::CreatedDesc => ("created_at", true),
        KeySort::Scope => ("scope_sort", false),
        KeySort::LastUsedAsc => ("COALESCE(last_used_at, -1)", false),
        KeySort::LastUsedDesc => ("COALESCE(last_used_at, -1)", true),
        KeySort::Name => ("name", false),
    }
}

pub(super) async fn list(
    pool: &SqlitePool,
    org: &OrgId,
    query: &KeyQuery,
) -> Result<Vec<KeyRecord>, StoreError> {
    let now = micros(query.now);
    let mut sql = QueryBuilder::<Sqlite>::new("SELECT * FROM api_keys WHERE org_id = ");
    sql.push_bind(org.as_str());
    if !query.include_root {
        sql.push(" AND root = 0");
    }
    if let Some(key_type) = query.key_type {
        sql.push(" AND key_type = ").push_bind(key_type.as_str());
    }
    if let Some(creator) = &query.created_by {
        sql.push(" AND created_by = ").push_bind(creator.clone());
    }
    if let Some(project) = &query.project_id {
        sql.push(" AND project_id = ").push_bind(project.as_str());
    }
    let live = " AND archived_at IS NULL AND revoked_at IS NULL";
    match query.status {
        None => {
            sql.push(" AND archived_at IS NULL");
        }
        Some(KeyStatus::Archived) => {
            sql.push(" AND archived_at IS NOT NULL");
        }
        Some(KeyStatus::Revoked) => {
            sql.push(" AND archived_at IS NULL AND revoked_at IS NOT NULL");
        }
        Some(KeyStatus::Disabled) => {
            sql.push(live).push(" AND enabled = 0");
        }
        Some(KeyStatus::Expired) => {
            sql.push(live)
                .push(" AND enabled = 1 AND expires_at <= ")
                .push_bind(now);
        }
        Some(KeyStatus::Active) => {
            sql.push(live)
                .push(" AND enabled = 1 AND (expires_at IS NULL OR expires_at > ")
                .push_bind(now)
                .push(")");
        }
    }
    if let Some(q) = query.q.as_deref().filter(|q| !q.is_empty()) {
        // SQLite's lower() folds ASCII only: fold the pattern the same way.
        let pattern = format!("%{}%", escape_like(&q.to_ascii_lowercase()));
        sql.push(" AND (lower(name) LIKE ")
            .push_bind(pattern.clone())
            .push(" ESCAPE '\\' OR lower(description) LIKE ")
            .push_bind(pattern)
            .push(" ESCAPE '\\')");
    }
    let (column, descending) = sort_column(query.sort);
    let (cmp, dir) = if descending {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    if let Some(cursor) = &query.after {
        sql.push(format!(" AND ({column} {cmp} "));
        push_value(&mut sql, &cursor.value);
        sql.push(format!(" OR ({column} = "));
        push_value(&mut sql, &cursor.value);
        sql.push(format!(" AND id {cmp} "))
            .push_bind(cursor.id.clone())
            .push("))");
    }
    sql.push(format!(" ORDER BY {column} {dir}, id {dir} LIMIT "))
        .push_bind(i64::from(query.limit) + 1);
    let rows = sql.build().fetch_all(pool).await.map_err(backend)?;
    rows.iter().map(rows::key).collect()
}

fn push_value(sql: &mut QueryBuilder<'_, Sqlite>, value: &CursorValue) {
    match value {
        CursorValue::Int(v) => sql.push_bind(*v),
        CursorValue::Text(v) => sql.push_bind(v.clone()),
    };
}

pub(super) fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

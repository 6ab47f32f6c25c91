//! Reading usage back: one key's hourly counts, an organization's (from the
//! `org_usage` rollup the usage writer keeps with `key_usage`), and the keys
//! with the most use in a period.

use super::rows::{self, micros};
use super::{Backend, Db};
use crate::backend;
use chrono::{DateTime, Utc};
use keyward_core::id::{KeyId, OrgId, ProjectId};
use keyward_core::store::StoreError;
use keyward_core::usage::{UsageCount, UsageTotal};
use sqlx::QueryBuilder;

/// Hourly verification counts of one key between `from` and `to`.
pub(super) async fn key(
    store: &Backend,
    org: &OrgId,
    key: &KeyId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<UsageCount>, StoreError> {
    let rows = sqlx::query(
        "SELECT org_id, key_id, hour, code, count FROM key_usage
         WHERE org_id = $1 AND key_id = $2 AND hour >= $3 AND hour < $4 ORDER BY hour, code",
    )
    .bind(org.as_str())
    .bind(key.as_str())
    .bind(micros(from))
    .bind(micros(to))
    .fetch_all(store.reads())
    .await
    .map_err(backend)?;
    rows.iter().map(rows::usage_count).collect()
}

/// Hourly counts of an organization, or of one of its projects.
pub(super) async fn organization(
    store: &Backend,
    org: &OrgId,
    project: Option<&ProjectId>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<UsageTotal>, StoreError> {
    let mut sql = QueryBuilder::<Db>::new(
        "SELECT hour, code, CAST(SUM(count) AS BIGINT) AS count FROM org_usage WHERE org_id = ",
    );
    sql.push_bind(org.as_str())
        .push(" AND hour >= ")
        .push_bind(micros(from))
        .push(" AND hour < ")
        .push_bind(micros(to));
    match project {
        Some(project) => {
            sql.push(" AND project_id = ").push_bind(project.as_str());
        }
        // The organization's verifications, not the root keys' management
        // calls (asked for by naming the management project).
        None => {
            sql.push(
                " AND project_id NOT IN (SELECT id FROM projects WHERE management AND org_id = ",
            )
            .push_bind(org.as_str())
            .push(")");
        }
    }
    sql.push(" GROUP BY hour, code ORDER BY hour, code");
    let rows = sql
        .build()
        .fetch_all(store.reads())
        .await
        .map_err(backend)?;
    rows.iter().map(rows::usage_total).collect()
}

/// The keys with the most verifications in a period, most first.
pub(super) async fn top_keys(
    store: &Backend,
    org: &OrgId,
    project: Option<&ProjectId>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<(KeyId, u64)>, StoreError> {
    // Both key lists come from small or indexed reads: the project's keys
    // (`api_keys_org_project`), or the organization's few root keys (the
    // partial index `api_keys_org_root`).
    let mut sql = QueryBuilder::<Db>::new(
        "SELECT key_id, CAST(SUM(count) AS BIGINT) AS total FROM key_usage WHERE org_id = ",
    );
    sql.push_bind(org.as_str())
        .push(" AND hour >= ")
        .push_bind(micros(from))
        .push(" AND hour < ")
        .push_bind(micros(to));
    match project {
        Some(project) => {
            sql.push(" AND key_id IN (SELECT id FROM api_keys WHERE org_id = ")
                .push_bind(org.as_str())
                .push(" AND project_id = ")
                .push_bind(project.as_str())
                .push(")");
        }
        None => {
            sql.push(" AND key_id NOT IN (SELECT id FROM api_keys WHERE root AND org_id = ")
                .push_bind(org.as_str())
                .push(")");
        }
    }
    sql.push(" GROUP BY key_id ORDER BY total DESC, key_id LIMIT ")
        .push_bind(i64::from(limit));
    let rows = sql
        .build()
        .fetch_all(store.reads())
        .await
        .map_err(backend)?;
    rows.iter().map(rows::key_total).collect()
}

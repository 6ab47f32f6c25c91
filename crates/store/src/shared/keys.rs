//! Keys: create, optimistic update and archive with their audit events, the
//! filtered and paginated list, and the purge of old archived keys.

use super::rows::{self, count, json, micros};
use super::{Backend, Conn, Db, announce, audit, fold_case};
use crate::backend;
use keyward_core::audit::{AuditContext, NewEvent};
use keyward_core::events;
use keyward_core::id::{KeyId, OrgId};
use keyward_core::model::{KeyRecord, KeyStatus};
use keyward_core::store::{CursorValue, IdempotentResponse, KeyQuery, KeySort, StoreError};
use sqlx::{Pool, QueryBuilder};

pub(super) async fn insert(tx: &mut Conn, key: &KeyRecord) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO api_keys (id, org_id, project_id, root, name, description, key_type, role, scopes,
             scope_sort, enabled, hash, hint, previous_hash, previous_expires_at, sealed_key, created_by,
             created_at, updated_at, expires_at, last_used_at, revoked_at, revoked_reason, archived_at,
             trusted_origins, allowed_ips, meta, ratelimit, quota, quota_used, quota_period_start, version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
                 $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32)",
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
    .bind(count(key.quota_used))
    .bind(key.quota_period_start.map(micros))
    .bind(key.version)
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    Ok(())
}

/// Stores the response to replay for a repeated `Idempotency-Key`, first
/// dropping the organization's expired ones (they hold sealed full keys).
/// `Conflict` when the idempotency key is already taken.
async fn store_idempotent(tx: &mut Conn, response: &IdempotentResponse) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM idempotency WHERE org_id = $1 AND expires_at <= $2")
        .bind(response.org_id.as_str())
        .bind(micros(response.created_at))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    sqlx::query(
        "INSERT INTO idempotency (org_id, key, request_hash, status, sealed_body, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(response.org_id.as_str())
    .bind(&response.key)
    .bind(&response.request_hash)
    .bind(i32::from(response.status))
    .bind(&response.sealed_body)
    .bind(micros(response.created_at))
    .bind(micros(response.expires_at))
    .execute(&mut *tx)
    .await
    .map_err(|e| {
        if crate::is_unique_violation(&e) {
            StoreError::Conflict("idempotency key already used".to_owned())
        } else {
            backend(e)
        }
    })?;
    Ok(())
}

/// Writes every changeable column if the stored version is still
/// `expected_version`, and bumps the version. `last_used_at` is left to the
/// usage writer.
pub(super) async fn update(
    tx: &mut Conn,
    key: &KeyRecord,
    expected_version: i64,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE api_keys SET name = $1, description = $2, role = $3, scopes = $4, scope_sort = $5,
             enabled = $6, hash = $7, hint = $8, previous_hash = $9, previous_expires_at = $10,
             sealed_key = $11, updated_at = $12, expires_at = $13, revoked_at = $14,
             revoked_reason = $15, archived_at = $16, trusted_origins = $17, allowed_ips = $18,
             meta = $19, ratelimit = $20, quota = $21, leaked_at = $22, leak_source = $23,
             leak_url = $24, version = version + 1
         WHERE org_id = $25 AND id = $26 AND version = $27",
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
    .bind(key.leak.as_ref().map(|l| micros(l.at)))
    .bind(key.leak.as_ref().map(|l| l.source.as_str()))
    .bind(key.leak.as_ref().and_then(|l| l.url.as_deref()))
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
    tx: &mut Conn,
    org: &OrgId,
    keep: u32,
) -> Result<Vec<KeyRecord>, StoreError> {
    // Archived keys never outnumber `keep` by more than the one just
    // archived, so reading them all costs nothing and spares the dialects'
    // different ways of saying "OFFSET without LIMIT".
    let rows = sqlx::query(
        "SELECT * FROM api_keys WHERE org_id = $1 AND archived_at IS NOT NULL
         ORDER BY archived_at DESC, id DESC",
    )
    .bind(org.as_str())
    .fetch_all(&mut *tx)
    .await
    .map_err(backend)?;
    let skip = usize::try_from(keep).unwrap_or(usize::MAX);
    let purged: Vec<KeyRecord> = rows
        .iter()
        .skip(skip)
        .map(rows::key)
        .collect::<Result<_, _>>()?;
    for key in &purged {
        sqlx::query("DELETE FROM key_usage WHERE key_id = $1")
            .bind(key.id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query("DELETE FROM api_keys WHERE org_id = $1 AND id = $2")
            .bind(org.as_str())
            .bind(key.id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
    }
    Ok(purged)
}

/// The column expression a sort orders by, whether it holds text, and
/// whether it descends. Text sorts compare bytes: SQLite's default, and the
/// collation of PostgreSQL's text columns that lists sort by.
fn sort_column(sort: KeySort) -> (&'static str, bool, bool) {
    match sort {
        KeySort::CreatedAsc => ("created_at", false, false),
        KeySort::CreatedDesc => ("created_at", false, true),
        KeySort::ScopeAsc => ("scope_sort", true, false),
        KeySort::ScopeDesc => ("scope_sort", true, true),
        KeySort::LastUsedAsc => ("COALESCE(last_used_at, -1)", false, false),
        KeySort::LastUsedDesc => ("COALESCE(last_used_at, -1)", false, true),
        KeySort::ExpiresAsc => ("COALESCE(expires_at, 9223372036854775807)", false, false),
        KeySort::Name => ("name", true, false),
    }
}

pub(super) async fn list(
    pool: &Pool<Db>,
    org: &OrgId,
    query: &KeyQuery,
) -> Result<Vec<KeyRecord>, StoreError> {
    let now = micros(query.now);
    let mut sql = QueryBuilder::<Db>::new("SELECT * FROM api_keys WHERE org_id = ");
    sql.push_bind(org.as_str());
    if !query.include_root {
        sql.push(" AND NOT root");
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
            sql.push(live).push(" AND NOT enabled");
        }
        Some(KeyStatus::Expired) => {
            sql.push(live)
                .push(" AND enabled AND expires_at <= ")
                .push_bind(now);
        }
        Some(KeyStatus::Active) => {
            sql.push(live)
                .push(" AND enabled AND (expires_at IS NULL OR expires_at > ")
                .push_bind(now)
                .push(")");
        }
    }
    if let Some(q) = query.q.as_deref().filter(|q| !q.is_empty()) {
        let pattern = format!("%{}%", escape_like(&fold_case(q)));
        sql.push(" AND (lower(name) LIKE ")
            .push_bind(pattern.clone())
            .push(" ESCAPE '\\' OR lower(description) LIKE ")
            .push_bind(pattern)
            .push(" ESCAPE '\\')");
    }
    if let Some(before) = query.last_used_before {
        sql.push(" AND last_used_at < ").push_bind(micros(before));
    }
    if let Some(before) = query.expires_before {
        sql.push(" AND expires_at < ").push_bind(micros(before));
    }
    let (column, text, descending) = sort_column(query.sort);
    let (cmp, dir) = if descending {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    if let Some(cursor) = &query.after {
        match Bound::of(&cursor.value, text) {
            Bound::Int(v) => push_after(&mut sql, column, cmp, v, &cursor.id),
            Bound::Text(v) => push_after(&mut sql, column, cmp, v, &cursor.id),
            // Text sorts after every number in SQLite: nothing follows such
            // a cursor going up, everything going down.
            Bound::PastNumbers => {
                sql.push(if descending { "" } else { " AND FALSE" });
            }
        }
    }
    sql.push(format!(" ORDER BY {column} {dir}, id {dir} LIMIT "))
        .push_bind(i64::from(query.limit) + 1);
    let rows = sql.build().fetch_all(pool).await.map_err(backend)?;
    rows.iter().map(rows::key).collect()
}

/// A cursor value in the type of the column it is compared with. Cursors come
/// from clients; one whose value does not fit the sort is read the way SQLite
/// compares mixed types rather than failing.
enum Bound {
    Int(i64),
    Text(String),
    PastNumbers,
}

impl Bound {
    fn of(value: &CursorValue, text_column: bool) -> Self {
        match (value, text_column) {
            (CursorValue::Int(v), false) => Self::Int(*v),
            (CursorValue::Text(v), true) => Self::Text(v.clone()),
            (CursorValue::Int(v), true) => Self::Text(v.to_string()),
            (CursorValue::Text(v), false) => v.parse().map_or(Self::PastNumbers, Self::Int),
        }
    }
}

fn push_after<'a, T>(sql: &mut QueryBuilder<'a, Db>, column: &str, cmp: &str, value: T, id: &str)
where
    T: 'a + Clone + Send + sqlx::Encode<'a, Db> + sqlx::Type<Db>,
{
    sql.push(format!(" AND ({column} {cmp} "))
        .push_bind(value.clone())
        .push(format!(" OR ({column} = "))
        .push_bind(value)
        .push(format!(" AND id {cmp} "))
        .push_bind(id.to_owned())
        .push("))");
}

/// Escapes `\`, `%` and `_` for a `LIKE … ESCAPE '\'` pattern.
pub(super) fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Stores a new key with its audit event, and with the response to replay
/// when the request carried an `Idempotency-Key`.
pub(super) async fn create(
    store: &Backend,
    key: &KeyRecord,
    idempotent: Option<&IdempotentResponse>,
    ctx: &AuditContext,
    event: NewEvent,
) -> Result<(), StoreError> {
    let mut tx = store.begin_in(&key.org_id).await?;
    if let Some(response) = idempotent {
        store_idempotent(&mut tx, response).await?;
    }
    insert(&mut tx, key).await?;
    audit::append(&mut tx, &key.org_id, ctx, event).await?;
    tx.commit().await
}

pub(super) async fn get(
    store: &Backend,
    org: &OrgId,
    id: &KeyId,
) -> Result<Option<KeyRecord>, StoreError> {
    let row = sqlx::query("SELECT * FROM api_keys WHERE org_id = $1 AND id = $2")
        .bind(org.as_str())
        .bind(id.as_str())
        .fetch_optional(store.reads())
        .await
        .map_err(backend)?;
    row.as_ref().map(rows::key).transpose()
}

/// Saves a changed key if nobody changed it since `expected_version`, with
/// its audit event; other nodes drop their cached copy once it commits.
pub(super) async fn save(
    store: &Backend,
    key: &KeyRecord,
    expected_version: i64,
    ctx: &AuditContext,
    events: Vec<NewEvent>,
) -> Result<(), StoreError> {
    let mut tx = store.begin_in(&key.org_id).await?;
    update(&mut tx, key, expected_version).await?;
    announce(&mut tx, &key.id).await?;
    for event in events {
        audit::append(&mut tx, &key.org_id, ctx, event).await?;
    }
    tx.commit().await
}

/// Saves an archived key like [`save`], then purges the organization's
/// archived keys beyond the `keep` most recent, each with a `key.purged`
/// event. Returns the purged keys.
pub(super) async fn archive(
    store: &Backend,
    key: &KeyRecord,
    expected_version: i64,
    keep: u32,
    ctx: &AuditContext,
    event: NewEvent,
) -> Result<Vec<KeyRecord>, StoreError> {
    let mut tx = store.begin_in(&key.org_id).await?;
    update(&mut tx, key, expected_version).await?;
    audit::append(&mut tx, &key.org_id, ctx, event).await?;
    announce(&mut tx, &key.id).await?;
    let purged = purge_archived(&mut tx, &key.org_id, keep).await?;
    for old in &purged {
        announce(&mut tx, &old.id).await?;
        let event = events::key_purged(old, keep);
        audit::append(&mut tx, &key.org_id, ctx, event).await?;
    }
    tx.commit().await?;
    Ok(purged)
}

/// The stored response for an `Idempotency-Key`. Read from the pool that
/// sees every committed write at once: a retry may follow its first attempt
/// immediately.
pub(super) async fn get_idempotent(
    store: &Backend,
    org: &OrgId,
    key: &str,
) -> Result<Option<IdempotentResponse>, StoreError> {
    let row = sqlx::query("SELECT * FROM idempotency WHERE org_id = $1 AND key = $2")
        .bind(org.as_str())
        .bind(key)
        .fetch_optional(store.fresh())
        .await
        .map_err(backend)?;
    row.as_ref().map(rows::idempotent).transpose()
}

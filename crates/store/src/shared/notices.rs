//! The organization's key policy, and the scheduled notices it drives.
//!
//! A notice (`expiring:7:<expires_at>`, `stale:<since>`, …) is recorded in
//! `key_notices` in the transaction that appends its event; the primary key
//! `(key_id, notice)` lets only the first node record it, so each fires once
//! however many nodes run the schedule and however often they restart.

use super::rows::{self, micros};
use super::{Backend, Conn, announce, audit, keys};
use crate::backend;
use chrono::{DateTime, Utc};
use keyward_core::audit::{AuditContext, NewEvent};
use keyward_core::event_store::PolicyStore;
use keyward_core::id::{KeyId, OrgId};
use keyward_core::model::KeyRecord;
use keyward_core::org_policy::KeyPolicy;
use keyward_core::store::StoreError;

async fn policy_in(conn: &mut Conn, org: &OrgId) -> Result<KeyPolicy, StoreError> {
    let text: Option<String> =
        sqlx::query_scalar("SELECT policy FROM key_policies WHERE org_id = $1")
            .bind(org.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(backend)?;
    match text {
        Some(text) => serde_json::from_str(&text).map_err(|_| rows::corrupt("policy")),
        None => Ok(KeyPolicy::default()),
    }
}

#[async_trait::async_trait]
impl PolicyStore for Backend {
    async fn get_policy(&self, org: &OrgId) -> Result<KeyPolicy, StoreError> {
        let mut conn = self.fresh().acquire().await.map_err(backend)?;
        policy_in(&mut conn, org).await
    }

    async fn update_policy(
        &self,
        org: &OrgId,
        before: &KeyPolicy,
        policy: &KeyPolicy,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_in(org).await?;
        if policy_in(&mut tx, org).await? != *before {
            return Err(StoreError::Changed);
        }
        sqlx::query(
            "INSERT INTO key_policies (org_id, policy, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (org_id) DO UPDATE SET policy = excluded.policy, updated_at = excluded.updated_at",
        )
        .bind(org.as_str())
        .bind(rows::json(policy)?)
        .bind(micros(ctx.at))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        audit::append(&mut tx, org, ctx, event).await?;
        tx.commit().await
    }

    async fn expiring_keys(
        &self,
        org: &OrgId,
        expiring: std::ops::Range<DateTime<Utc>>,
        after: Option<&KeyId>,
        limit: u32,
    ) -> Result<Vec<KeyRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM api_keys
             WHERE org_id = $1 AND expires_at >= $2 AND expires_at < $3
               AND revoked_at IS NULL AND archived_at IS NULL AND id > $4
             ORDER BY id LIMIT $5",
        )
        .bind(org.as_str())
        .bind(micros(expiring.start))
        .bind(micros(expiring.end))
        .bind(after.map_or("", KeyId::as_str))
        .bind(i64::from(limit))
        .fetch_all(self.fresh())
        .await
        .map_err(backend)?;
        rows.iter().map(rows::key).collect()
    }

    async fn record_notice(
        &self,
        org: &OrgId,
        key: &KeyId,
        notice: &str,
        ctx: &AuditContext,
        event: NewEvent,
        disable: Option<(&KeyRecord, i64, NewEvent)>,
    ) -> Result<bool, StoreError> {
        // Most rounds find the notice already recorded: a read says so
        // without taking the write lock.
        let recorded: Option<String> =
            sqlx::query_scalar("SELECT notice FROM key_notices WHERE key_id = $1 AND notice = $2")
                .bind(key.as_str())
                .bind(notice)
                .fetch_optional(self.fresh())
                .await
                .map_err(backend)?;
        if recorded.is_some() {
            return Ok(false);
        }
        let mut tx = self.begin_in(org).await?;
        if let Some((changed, _, _)) = &disable {
            // Verified since the sweep read it: no longer unused, so neither
            // stale nor to be disabled. Nothing is written.
            let last_used: Option<i64> =
                sqlx::query_scalar("SELECT last_used_at FROM api_keys WHERE id = $1")
                    .bind(key.as_str())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(backend)?;
            if last_used != changed.last_used_at.map(micros) {
                tx.commit().await?;
                return Ok(false);
            }
        }
        let inserted = sqlx::query(
            "INSERT INTO key_notices (org_id, key_id, notice, recorded_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (key_id, notice) DO NOTHING",
        )
        .bind(org.as_str())
        .bind(key.as_str())
        .bind(notice)
        .bind(micros(ctx.at))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if inserted.rows_affected() != 1 {
            // Another node recorded it first; nothing was written.
            tx.commit().await?;
            return Ok(false);
        }
        audit::append(&mut tx, org, ctx, event).await?;
        if let Some((changed, expected_version, disabled)) = disable {
            keys::update(&mut tx, changed, expected_version).await?;
            announce(&mut tx, &changed.id).await?;
            audit::append(&mut tx, org, ctx, disabled).await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}

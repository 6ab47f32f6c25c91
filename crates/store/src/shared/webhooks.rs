//! Webhook endpoints, their delivery log and redeliveries, and the secrets
//! that sign deliveries; how messages are queued and delivered is in
//! `outbox`.

use super::outbox::{self, Queued, insert_delivery};
use super::rows::{self, json, micros, time};
use super::{Backend, Conn, Db, audit};
use crate::backend;
use chrono::{DateTime, Utc};
use keyward_core::audit::{AuditContext, NewEvent};
use keyward_core::event_store::{DeliveryQuery, SealedSecrets, WebhookStore};
use keyward_core::events;
use keyward_core::id::{DeliveryId, OrgId, WebhookId};
use keyward_core::store::StoreError;
use keyward_core::webhooks::{self, Claimed, Delivery, DeliveryStatus, Due, Endpoint, Finished};
use sqlx::{QueryBuilder, Row};

async fn insert_endpoint(tx: &mut Conn, e: &Endpoint) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, org_id, url, description, events, enabled,
             disabled_reason, failing_since, created_at, updated_at, version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(e.id.as_str())
    .bind(e.org_id.as_str())
    .bind(&e.url)
    .bind(&e.description)
    .bind(json(&e.events)?)
    .bind(e.enabled)
    .bind(e.disabled_reason.as_deref())
    .bind(e.failing_since.map(micros))
    .bind(micros(e.created_at))
    .bind(micros(e.updated_at))
    .bind(e.version)
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    Ok(())
}

/// Saves `e` if the stored version is still `expected_version`; false otherwise.
async fn update_endpoint(
    tx: &mut Conn,
    e: &Endpoint,
    expected_version: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE webhook_endpoints SET url = $1, description = $2, events = $3, enabled = $4,
             disabled_reason = $5, failing_since = $6, updated_at = $7, version = version + 1
         WHERE org_id = $8 AND id = $9 AND version = $10",
    )
    .bind(&e.url)
    .bind(&e.description)
    .bind(json(&e.events)?)
    .bind(e.enabled)
    .bind(e.disabled_reason.as_deref())
    .bind(e.failing_since.map(micros))
    .bind(micros(e.updated_at))
    .bind(e.org_id.as_str())
    .bind(e.id.as_str())
    .bind(expected_version)
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    Ok(done.rows_affected() == 1)
}

async fn endpoint_in(
    conn: &mut Conn,
    org: &OrgId,
    id: &WebhookId,
) -> Result<Option<Endpoint>, StoreError> {
    let row = sqlx::query("SELECT * FROM webhook_endpoints WHERE org_id = $1 AND id = $2")
        .bind(org.as_str())
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?;
    row.as_ref().map(rows::endpoint).transpose()
}

const DELIVERY_COLUMNS: &str = "SELECT d.*, m.event_type, m.event_id FROM webhook_deliveries d
     JOIN webhook_messages m ON m.id = d.message_id";

#[async_trait::async_trait]
impl WebhookStore for Backend {
    async fn create_webhook(
        &self,
        endpoint: &Endpoint,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_in(&endpoint.org_id).await?;
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM webhook_endpoints WHERE org_id = $1")
                .bind(endpoint.org_id.as_str())
                .fetch_one(&mut *tx)
                .await
                .map_err(backend)?;
        if usize::try_from(count).unwrap_or(usize::MAX) >= webhooks::MAX_ENDPOINTS {
            return Err(StoreError::Conflict(format!(
                "an organization has at most {} webhook endpoints",
                webhooks::MAX_ENDPOINTS
            )));
        }
        outbox::start_cursor(&mut tx, &endpoint.org_id).await?;
        insert_endpoint(&mut tx, endpoint).await?;
        audit::append(&mut tx, &endpoint.org_id, ctx, event).await?;
        tx.commit().await
    }

    async fn list_webhooks(&self, org: &OrgId) -> Result<Vec<Endpoint>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM webhook_endpoints WHERE org_id = $1 ORDER BY created_at, id",
        )
        .bind(org.as_str())
        .fetch_all(self.fresh())
        .await
        .map_err(backend)?;
        rows.iter().map(rows::endpoint).collect()
    }

    async fn get_webhook(
        &self,
        org: &OrgId,
        id: &WebhookId,
    ) -> Result<Option<Endpoint>, StoreError> {
        let mut conn = self.fresh().acquire().await.map_err(backend)?;
        endpoint_in(&mut conn, org, id).await
    }

    async fn update_webhook(
        &self,
        endpoint: &Endpoint,
        expected_version: i64,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_in(&endpoint.org_id).await?;
        if !update_endpoint(&mut tx, endpoint, expected_version).await? {
            return match endpoint_in(&mut tx, &endpoint.org_id, &endpoint.id).await? {
                Some(_) => Err(StoreError::Changed),
                None => Err(StoreError::NotFound),
            };
        }
        audit::append(&mut tx, &endpoint.org_id, ctx, event).await?;
        tx.commit().await
    }

    async fn delete_webhook(
        &self,
        org: &OrgId,
        id: &WebhookId,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_in(org).await?;
        sqlx::query("DELETE FROM webhook_deliveries WHERE org_id = $1 AND endpoint_id = $2")
            .bind(org.as_str())
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let done = sqlx::query("DELETE FROM webhook_endpoints WHERE org_id = $1 AND id = $2")
            .bind(org.as_str())
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        if done.rows_affected() != 1 {
            return Err(StoreError::NotFound);
        }
        audit::append(&mut tx, org, ctx, event).await?;
        tx.commit().await
    }

    async fn disable_failing_webhook(
        &self,
        org: &OrgId,
        id: &WebhookId,
        reason: &str,
        ctx: &AuditContext,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_in(org).await?;
        let Some(before) = endpoint_in(&mut tx, org, id).await? else {
            return Ok(());
        };
        if !before.enabled {
            return tx.commit().await;
        }
        let mut after = before.clone();
        after.enabled = false;
        after.disabled_reason = Some(reason.to_owned());
        after.updated_at = ctx.at;
        if !update_endpoint(&mut tx, &after, before.version).await? {
            return Err(StoreError::Changed);
        }
        let event = events::webhook_disabled(&before, &after, reason);
        audit::append(&mut tx, org, ctx, event).await?;
        tx.commit().await
    }

    async fn list_deliveries(
        &self,
        org: &OrgId,
        webhook: &WebhookId,
        query: &DeliveryQuery,
    ) -> Result<Vec<Delivery>, StoreError> {
        let mut sql = QueryBuilder::<Db>::new(DELIVERY_COLUMNS);
        sql.push(" WHERE d.org_id = ")
            .push_bind(org.as_str())
            .push(" AND d.endpoint_id = ")
            .push_bind(webhook.as_str());
        if let Some(event) = &query.event {
            sql.push(" AND m.event_id = ").push_bind(event.as_str());
        }
        if let Some(before) = &query.before {
            sql.push(
                " AND (d.created_at, d.seq, d.id) <
                 (SELECT created_at, seq, id FROM webhook_deliveries WHERE id = ",
            )
            .push_bind(before.as_str())
            .push(" AND org_id = ")
            .push_bind(org.as_str())
            .push(" AND endpoint_id = ")
            .push_bind(webhook.as_str())
            .push(")");
        }
        sql.push(" ORDER BY d.created_at DESC, d.seq DESC, d.id DESC LIMIT ")
            .push_bind(i64::from(query.limit) + 1);
        let rows = sql.build().fetch_all(self.fresh()).await.map_err(backend)?;
        rows.iter().map(rows::delivery).collect()
    }

    async fn redeliver(
        &self,
        org: &OrgId,
        webhook: &WebhookId,
        delivery: &DeliveryId,
        now: DateTime<Utc>,
    ) -> Result<Delivery, StoreError> {
        let mut tx = self.begin_in(org).await?;
        let row = sqlx::query(
            "SELECT d.message_id, d.seq, d.status, d.queue FROM webhook_deliveries d
             WHERE d.org_id = $1 AND d.endpoint_id = $2 AND d.id = $3",
        )
        .bind(org.as_str())
        .bind(webhook.as_str())
        .bind(delivery.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?
        .ok_or(StoreError::NotFound)?;
        let message_id: String = row.try_get("message_id").map_err(backend)?;
        let seq: i64 = row.try_get("seq").map_err(backend)?;
        let status: String = row.try_get("status").map_err(backend)?;
        if status == DeliveryStatus::Pending.as_str() {
            return Err(StoreError::Conflict(
                "the delivery is still pending: it is sent on its own schedule".to_owned(),
            ));
        }
        let queue: String = row.try_get("queue").map_err(backend)?;
        let message = Queued {
            org,
            endpoint: webhook,
            message_id: &message_id,
            seq,
            queue: &queue,
        };
        let id = insert_delivery(&mut tx, &message, now).await?;
        let row = sqlx::query(&format!("{DELIVERY_COLUMNS} WHERE d.id = $1"))
            .bind(id.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
        let delivery = rows::delivery(&row)?;
        tx.commit().await?;
        Ok(delivery)
    }

    async fn dispatch_events(&self, org: Option<&OrgId>) -> Result<usize, StoreError> {
        let orgs = match org {
            Some(org) => vec![org.clone()],
            None => outbox::behind(self).await?,
        };
        let mut read = 0;
        for org in &orgs {
            read += outbox::dispatch(self, org).await?;
        }
        Ok(read)
    }

    async fn due_deliveries(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<Due>, StoreError> {
        outbox::due(self, now, limit).await
    }

    async fn claim_delivery(
        &self,
        id: &DeliveryId,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        run: u32,
    ) -> Result<Vec<Claimed>, StoreError> {
        outbox::claim(self, id, owner, now..lease_until, run).await
    }

    async fn finish_attempts(&self, owner: &str, run: &[Finished]) -> Result<(), StoreError> {
        outbox::finish(self, owner, run).await
    }

    async fn signing_secrets(
        &self,
        org: &OrgId,
        now: DateTime<Utc>,
    ) -> Result<SealedSecrets, StoreError> {
        let row = sqlx::query(
            "SELECT shared_secret, previous_shared_secret, previous_shared_secret_until
             FROM organizations WHERE id = $1",
        )
        .bind(org.as_str())
        .fetch_optional(self.fresh())
        .await
        .map_err(backend)?
        .ok_or(StoreError::NotFound)?;
        let previous: Option<Vec<u8>> = row.try_get("previous_shared_secret").map_err(backend)?;
        let until: Option<i64> = row
            .try_get("previous_shared_secret_until")
            .map_err(backend)?;
        let previous = match (previous, until.map(time).transpose()?) {
            (Some(sealed), Some(until)) if until > now => Some((sealed, until)),
            _ => None,
        };
        Ok(SealedSecrets {
            current: row.try_get("shared_secret").map_err(backend)?,
            previous,
        })
    }
}

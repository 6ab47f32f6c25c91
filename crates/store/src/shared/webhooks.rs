//! Webhook endpoints, the message outbox and deliveries.
//!
//! [`enqueue`] runs inside every audit append: an event that is also a
//! webhook event becomes one message (its payload fixed at that moment) and
//! one pending delivery per enabled endpoint that subscribes to it, in the
//! transaction of the change itself. Workers then lease due deliveries one
//! at a time per endpoint (`due` returns only the oldest pending delivery of
//! each endpoint, so an endpoint receives its messages in order), and a
//! lease that runs out, because its node died, lets another worker retry.

use super::rows::{self, json, micros, time};
use super::{Backend, Conn, Db, audit};
use crate::backend;
use chrono::{DateTime, Utc};
use keyward_core::audit::{AuditContext, AuditEvent, NewEvent};
use keyward_core::event_store::{DeliveryQuery, SealedSecrets, WebhookStore};
use keyward_core::events;
use keyward_core::id::{DeliveryId, OrgId, WebhookId};
use keyward_core::keys::view::KeyView;
use keyward_core::store::StoreError;
use keyward_core::webhooks::{
    self, Attempt, AttemptResult, Claimed, Delivery, DeliveryStatus, Due, Endpoint,
};
use sqlx::{QueryBuilder, Row};

/// Queues `event` for every enabled endpoint that wants it (`webhook.test`
/// only for the endpoint it tests).
pub(super) async fn enqueue(tx: &mut Conn, event: &AuditEvent) -> Result<(), StoreError> {
    if !webhooks::is_event_type(&event.action) {
        return Ok(());
    }
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, events FROM webhook_endpoints WHERE org_id = $1 AND enabled ORDER BY created_at, id",
    )
    .bind(event.org_id.as_str())
    .fetch_all(&mut *tx)
    .await
    .map_err(backend)?;
    let mut targets = Vec::new();
    for (id, events) in rows {
        let wanted = if event.action == webhooks::TEST_EVENT {
            id == event.target.id
        } else {
            // An endpoint row this version cannot read gets nothing, and
            // blocks none of the organization's changes.
            serde_json::from_str::<Vec<String>>(&events)
                .is_ok_and(|e| e.iter().any(|e| e == "*" || *e == event.action))
        };
        match WebhookId::parse(&id) {
            Ok(id) if wanted => targets.push(id),
            Ok(_) => {}
            Err(_) => tracing::warn!(endpoint = %id, "skipping an unreadable webhook endpoint"),
        }
    }
    if targets.is_empty() {
        return Ok(());
    }
    let key = key_view(tx, event).await?;
    let message_id = webhooks::message_id(&event.id);
    sqlx::query(
        "INSERT INTO webhook_messages (id, org_id, event_id, seq, event_type, payload, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&message_id)
    .bind(event.org_id.as_str())
    .bind(event.id.as_str())
    .bind(event.seq)
    .bind(&event.action)
    .bind(webhooks::payload(event, key.as_ref()))
    .bind(micros(event.occurred_at))
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    let queue = webhooks::queue_of(&event.action);
    for endpoint in targets {
        let message = Queued {
            org: &event.org_id,
            endpoint: &endpoint,
            message_id: &message_id,
            seq: event.seq,
            queue,
        };
        insert_delivery(tx, &message, event.occurred_at).await?;
    }
    Ok(())
}

/// A message about to be queued for one endpoint.
struct Queued<'a> {
    org: &'a OrgId,
    endpoint: &'a WebhookId,
    message_id: &'a str,
    seq: i64,
    queue: &'a str,
}

/// The key an event is about, as it is after the change.
async fn key_view(tx: &mut Conn, event: &AuditEvent) -> Result<Option<KeyView>, StoreError> {
    if event.target.kind != "key" && event.target.kind != "root_key" {
        return Ok(None);
    }
    let row = sqlx::query(
        "SELECT k.*, p.apis AS catalog FROM api_keys k JOIN projects p ON p.id = k.project_id
         WHERE k.org_id = $1 AND k.id = $2",
    )
    .bind(event.org_id.as_str())
    .bind(&event.target.id)
    .fetch_optional(&mut *tx)
    .await
    .map_err(backend)?;
    let Some(row) = row else { return Ok(None) };
    let record = rows::key(&row)?;
    let catalog: Vec<String> =
        serde_json::from_str(&row.try_get::<String, _>("catalog").map_err(backend)?)
            .map_err(|_| rows::corrupt("apis"))?;
    Ok(Some(KeyView::new(&record, &catalog, event.occurred_at)))
}

/// Adds a pending delivery at the end of its endpoint's queue: due at once
/// when the queue is empty, otherwise without a due time until the one
/// before it ends (see `promote`). Runs under the organization's lock, as
/// `finish_attempt` does, so that a queue never loses its head.
async fn insert_delivery(
    tx: &mut Conn,
    message: &Queued<'_>,
    now: DateTime<Utc>,
) -> Result<DeliveryId, StoreError> {
    let waiting: Option<String> = sqlx::query_scalar(
        "SELECT id FROM webhook_deliveries
         WHERE endpoint_id = $1 AND queue = $2 AND status = 'pending' LIMIT 1",
    )
    .bind(message.endpoint.as_str())
    .bind(message.queue)
    .fetch_optional(&mut *tx)
    .await
    .map_err(backend)?;
    let id = DeliveryId::generate().map_err(backend)?;
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, org_id, endpoint_id, message_id, seq, queue, status,
             created_at, next_attempt_at, attempts)
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, '[]')",
    )
    .bind(id.as_str())
    .bind(message.org.as_str())
    .bind(message.endpoint.as_str())
    .bind(message.message_id)
    .bind(message.seq)
    .bind(message.queue)
    .bind(micros(now))
    .bind(waiting.is_none().then(|| micros(now)))
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    Ok(id)
}

/// Makes the oldest waiting delivery of a queue due at `now`, once the one
/// before it ended.
async fn promote(
    tx: &mut Conn,
    endpoint: &WebhookId,
    queue: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE webhook_deliveries SET next_attempt_at = $3
         WHERE next_attempt_at IS NULL AND id = (
             SELECT id FROM webhook_deliveries
             WHERE endpoint_id = $1 AND queue = $2 AND status = 'pending'
             ORDER BY seq, created_at, id LIMIT 1)",
    )
    .bind(endpoint.as_str())
    .bind(queue)
    .bind(micros(now))
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    Ok(())
}

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
        let row = sqlx::query("SELECT * FROM webhook_endpoints WHERE org_id = $1 AND id = $2")
            .bind(org.as_str())
            .bind(id.as_str())
            .fetch_optional(self.fresh())
            .await
            .map_err(backend)?;
        row.as_ref().map(rows::endpoint).transpose()
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

    async fn due_deliveries(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<Due>, StoreError> {
        // Only the head of each queue has a due time (`insert_delivery`),
        // so this reads due deliveries, never a backlog.
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT d.id, d.org_id FROM webhook_deliveries d
             JOIN webhook_endpoints e ON e.id = d.endpoint_id
             WHERE d.status = 'pending' AND d.next_attempt_at IS NOT NULL AND d.next_attempt_at <= $1
               AND e.enabled AND (d.lease_until IS NULL OR d.lease_until < $1)
             ORDER BY d.next_attempt_at, d.id LIMIT $2",
        )
        .bind(micros(now))
        .bind(i64::from(limit))
        .fetch_all(self.fresh())
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|(id, org)| {
                Ok(Due {
                    id: DeliveryId::parse(id).map_err(|_| rows::corrupt("id"))?,
                    org_id: OrgId::parse(org).map_err(|_| rows::corrupt("org_id"))?,
                })
            })
            .collect()
    }

    async fn claim_delivery(
        &self,
        id: &DeliveryId,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<Claimed>, StoreError> {
        let mut tx = self.begin().await?;
        let taken = sqlx::query(
            "UPDATE webhook_deliveries SET lease_owner = $1, lease_until = $2
             WHERE id = $3 AND status = 'pending' AND next_attempt_at <= $4
               AND (lease_until IS NULL OR lease_until < $4)",
        )
        .bind(owner)
        .bind(micros(lease_until))
        .bind(id.as_str())
        .bind(micros(now))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if taken.rows_affected() != 1 {
            tx.commit().await?;
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT d.*, m.event_type, m.event_id, m.payload, e.url, e.failing_since AS endpoint_failing_since
             FROM webhook_deliveries d
             JOIN webhook_messages m ON m.id = d.message_id
             JOIN webhook_endpoints e ON e.id = d.endpoint_id
             WHERE d.id = $1",
        )
        .bind(id.as_str())
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?;
        let claimed = Claimed {
            delivery: rows::delivery(&row)?,
            org_id: OrgId::parse(&row.try_get::<String, _>("org_id").map_err(backend)?)
                .map_err(|_| rows::corrupt("org_id"))?,
            url: row.try_get("url").map_err(backend)?,
            payload: row.try_get("payload").map_err(backend)?,
            failing_since: row
                .try_get::<Option<i64>, _>("endpoint_failing_since")
                .map_err(backend)?
                .map(time)
                .transpose()?,
        };
        tx.commit().await?;
        Ok(Some(claimed))
    }

    async fn finish_attempt(
        &self,
        claimed: &Claimed,
        owner: &str,
        attempt: &Attempt,
        result: AttemptResult,
    ) -> Result<(), StoreError> {
        let mut attempts = claimed.delivery.attempts.clone();
        attempts.push(attempt.clone());
        let (status, next) = match result {
            AttemptResult::Succeeded => (DeliveryStatus::Succeeded, None),
            AttemptResult::RetryAt(at) => (DeliveryStatus::Pending, Some(micros(at))),
            AttemptResult::GiveUp => (DeliveryStatus::Failed, None),
        };
        // Under the organization's lock: a delivery queued meanwhile either
        // sees this one still pending (and waits) or ended (and is due).
        let mut tx = self.begin_in(&claimed.org_id).await?;
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET attempts = $1, status = $2, next_attempt_at = $3,
                 lease_owner = NULL, lease_until = NULL
             WHERE id = $4 AND lease_owner = $5",
        )
        .bind(json(&attempts)?)
        .bind(status.as_str())
        .bind(next)
        .bind(claimed.delivery.id.as_str())
        .bind(owner)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if done.rows_affected() == 1 {
            if status != DeliveryStatus::Pending {
                let queue = webhooks::queue_of(&claimed.delivery.event_type);
                promote(&mut tx, &claimed.delivery.webhook_id, queue, attempt.at).await?;
            }
            let endpoint = claimed.delivery.webhook_id.as_str();
            let update = if result == AttemptResult::Succeeded {
                sqlx::query(
                    "UPDATE webhook_endpoints SET failing_since = NULL
                     WHERE id = $1 AND failing_since IS NOT NULL",
                )
                .bind(endpoint)
            } else {
                sqlx::query(
                    "UPDATE webhook_endpoints SET failing_since = $2
                     WHERE id = $1 AND failing_since IS NULL",
                )
                .bind(endpoint)
                .bind(micros(attempt.at))
            };
            update.execute(&mut *tx).await.map_err(backend)?;
        }
        tx.commit().await
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

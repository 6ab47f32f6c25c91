//! The outbox: messages queued with the change they report, and the queues
//! they are delivered from.
//!
//! The audit log is the outbox: every change commits with its audit event,
//! in one transaction. [`dispatch`] follows each organization's log from a
//! cursor (kept once the organization has an endpoint): an event that is
//! also a webhook event becomes one message (its payload fixed then, within
//! a moment of the event) and one pending delivery per enabled endpoint that
//! subscribes to it, and the cursor moves past it in the same transaction.
//! Key changes pay nothing for it, and events are dispatched in batches. Each endpoint has two queues (`events`,
//! and `tests`), delivered in order: only a queue's head has a due time, the
//! deliveries behind it get one when it ends ([`promote`]). A worker leases a
//! due head with a run of deliveries behind it ([`claim`]), sends them in
//! order, and records the run in one transaction ([`finish`]); a lease that
//! runs out, because its node died, lets another worker take the run over.

use super::rows::{self, json, micros, time};
use super::{Backend, Conn, Db};
use crate::backend;
use chrono::{DateTime, Utc};
use keyward_core::audit::AuditEvent;
use keyward_core::id::{DeliveryId, OrgId, WebhookId};
use keyward_core::keys::view::KeyView;
use keyward_core::model::KeyRecord;
use keyward_core::store::StoreError;
use keyward_core::webhooks::{self, AttemptResult, Claimed, DeliveryStatus, Due, Finished};
use sqlx::{QueryBuilder, Row};
use std::collections::HashMap;

/// Events read per dispatch of one organization.
const DISPATCH_BATCH: i64 = 500;

/// Turns the organization's audit events not yet dispatched into messages,
/// queued for every enabled endpoint that wants them, and moves its cursor
/// past them, in one transaction under the organization's lock (so two
/// nodes never dispatch the same event). Returns how many events it read.
pub(super) async fn dispatch(store: &Backend, org: &OrgId) -> Result<usize, StoreError> {
    let mut tx = store.begin_in(org).await?;
    let cursor: Option<i64> =
        sqlx::query_scalar("SELECT last_seq FROM webhook_cursors WHERE org_id = $1")
            .bind(org.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
    let Some(cursor) = cursor else {
        tx.commit().await?;
        return Ok(0);
    };
    let rows = sqlx::query(
        "SELECT * FROM audit_events WHERE org_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
    )
    .bind(org.as_str())
    .bind(cursor)
    .bind(DISPATCH_BATCH)
    .fetch_all(&mut *tx)
    .await
    .map_err(backend)?;
    let events = rows
        .iter()
        .map(rows::audit_event)
        .collect::<Result<Vec<_>, _>>()?;
    let Some(last) = events.last() else {
        tx.commit().await?;
        return Ok(0);
    };
    let endpoints: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, events FROM webhook_endpoints WHERE org_id = $1 AND enabled ORDER BY created_at, id",
    )
    .bind(org.as_str())
    .fetch_all(&mut *tx)
    .await
    .map_err(backend)?;
    enqueue(&mut tx, &events, &endpoints).await?;
    sqlx::query("UPDATE webhook_cursors SET last_seq = $2 WHERE org_id = $1")
        .bind(org.as_str())
        .bind(last.seq)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    tx.commit().await?;
    Ok(events.len())
}

/// Organizations with audit events not yet dispatched.
pub(super) async fn behind(store: &Backend) -> Result<Vec<OrgId>, StoreError> {
    let orgs: Vec<String> = sqlx::query_scalar(
        "SELECT c.org_id FROM webhook_cursors c
         WHERE EXISTS (SELECT 1 FROM audit_events a WHERE a.org_id = c.org_id AND a.seq > c.last_seq)",
    )
    .fetch_all(store.fresh())
    .await
    .map_err(backend)?;
    orgs.iter()
        .map(|o| OrgId::parse(o).map_err(|_| rows::corrupt("org_id")))
        .collect()
}

/// Starts dispatching the organization's events from now on, when its
/// first endpoint is added (earlier events are never sent).
pub(super) async fn start_cursor(tx: &mut Conn, org: &OrgId) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO webhook_cursors (org_id, last_seq)
         VALUES ($1, (SELECT COALESCE(MAX(seq), 0) FROM audit_events WHERE org_id = $1))
         ON CONFLICT (org_id) DO NOTHING",
    )
    .bind(org.as_str())
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    Ok(())
}

/// The endpoints of `endpoints` (`(id, events)` of the enabled ones) that
/// want `event` (`webhook.test` only the one it tests).
fn targets(event: &AuditEvent, endpoints: &[(String, String)]) -> Vec<WebhookId> {
    if !webhooks::is_event_type(&event.action) {
        return Vec::new();
    }
    let mut targets = Vec::new();
    for (id, events) in endpoints {
        let wanted = if event.action == webhooks::TEST_EVENT {
            *id == event.target.id
        } else {
            // An endpoint row this version cannot read gets nothing.
            serde_json::from_str::<Vec<String>>(events)
                .is_ok_and(|e| e.iter().any(|e| e == "*" || *e == event.action))
        };
        match WebhookId::parse(id) {
            Ok(id) if wanted => targets.push(id),
            Ok(_) => {}
            Err(_) => tracing::warn!(endpoint = %id, "skipping an unreadable webhook endpoint"),
        }
    }
    targets
}

/// Rows written per statement (well below SQLite's limit on parameters).
const ROWS_PER_INSERT: usize = 100;

/// Queues a batch of events, in order, for the endpoints that want them:
/// their keys read in one query, messages and deliveries written a hundred
/// rows per statement.
async fn enqueue(
    tx: &mut Conn,
    events: &[AuditEvent],
    endpoints: &[(String, String)],
) -> Result<(), StoreError> {
    let wanted: Vec<(&AuditEvent, Vec<WebhookId>)> = events
        .iter()
        .map(|event| (event, targets(event, endpoints)))
        .filter(|(_, targets)| !targets.is_empty())
        .collect();
    let Some((first, _)) = wanted.first() else {
        return Ok(());
    };
    let keys = key_views(tx, &first.org_id, wanted.iter().map(|(e, _)| *e)).await?;
    // A queue that already waits keeps its head; otherwise this batch's
    // first delivery to it is due at once.
    let mut queue_has_head: HashMap<(WebhookId, &str), bool> = HashMap::new();
    let mut messages = Vec::with_capacity(wanted.len());
    let mut deliveries = Vec::new();
    for (event, targets) in &wanted {
        let message_id = webhooks::message_id(&event.id);
        // The key as it is now, its status as of the event.
        let key = keys
            .get(event.target.id.as_str())
            .map(|(record, catalog)| KeyView::new(record, catalog, event.occurred_at));
        messages.push((
            message_id.clone(),
            *event,
            webhooks::payload(event, key.as_ref()),
        ));
        let queue = webhooks::queue_of(&event.action);
        for endpoint in targets {
            let slot = (endpoint.clone(), queue);
            let has_head = match queue_has_head.get(&slot) {
                Some(has) => *has,
                None => waiting(tx, endpoint, queue).await?,
            };
            queue_has_head.insert(slot, true);
            let due = (!has_head).then(|| micros(event.occurred_at));
            deliveries.push((
                DeliveryId::generate().map_err(backend)?,
                endpoint.clone(),
                message_id.clone(),
                *event,
                queue,
                due,
            ));
        }
    }
    for chunk in messages.chunks(ROWS_PER_INSERT) {
        let mut sql = QueryBuilder::<Db>::new(
            "INSERT INTO webhook_messages (id, org_id, event_id, seq, event_type, payload, created_at) ",
        );
        sql.push_values(chunk, |mut row, (id, event, payload)| {
            row.push_bind(id.as_str())
                .push_bind(event.org_id.as_str())
                .push_bind(event.id.as_str())
                .push_bind(event.seq)
                .push_bind(event.action.as_str())
                .push_bind(payload.as_str())
                .push_bind(micros(event.occurred_at));
        });
        sql.build().execute(&mut *tx).await.map_err(backend)?;
    }
    for chunk in deliveries.chunks(ROWS_PER_INSERT) {
        let mut sql = QueryBuilder::<Db>::new(
            "INSERT INTO webhook_deliveries (id, org_id, endpoint_id, message_id, seq, queue, status,
                 created_at, next_attempt_at, attempts) ",
        );
        sql.push_values(
            chunk,
            |mut row, (id, endpoint, message_id, event, queue, due)| {
                row.push_bind(id.as_str())
                    .push_bind(event.org_id.as_str())
                    .push_bind(endpoint.as_str())
                    .push_bind(message_id.as_str())
                    .push_bind(event.seq)
                    .push_bind(*queue)
                    .push_bind("pending")
                    .push_bind(micros(event.occurred_at))
                    .push_bind(*due)
                    .push_bind("[]");
            },
        );
        sql.build().execute(&mut *tx).await.map_err(backend)?;
    }
    Ok(())
}

/// True when a delivery waits in the endpoint's queue.
async fn waiting(tx: &mut Conn, endpoint: &WebhookId, queue: &str) -> Result<bool, StoreError> {
    let waiting: Option<String> = sqlx::query_scalar(
        "SELECT id FROM webhook_deliveries
         WHERE endpoint_id = $1 AND queue = $2 AND status = 'pending' LIMIT 1",
    )
    .bind(endpoint.as_str())
    .bind(queue)
    .fetch_optional(&mut *tx)
    .await
    .map_err(backend)?;
    Ok(waiting.is_some())
}

/// A message about to be queued for one endpoint.
pub(super) struct Queued<'a> {
    pub(super) org: &'a OrgId,
    pub(super) endpoint: &'a WebhookId,
    pub(super) message_id: &'a str,
    pub(super) seq: i64,
    pub(super) queue: &'a str,
}

/// The keys the events are about, as they are now, with their project's
/// catalog, by id.
pub(super) async fn key_views<'a>(
    tx: &mut Conn,
    org: &OrgId,
    events: impl Iterator<Item = &'a AuditEvent>,
) -> Result<HashMap<String, (KeyRecord, Vec<String>)>, StoreError> {
    let mut ids: Vec<&str> = events
        .filter(|e| e.target.kind == "key" || e.target.kind == "root_key")
        .map(|e| e.target.id.as_str())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let mut views = HashMap::new();
    for chunk in ids.chunks(ROWS_PER_INSERT) {
        let mut sql = QueryBuilder::<Db>::new(
            "SELECT k.*, p.apis AS catalog FROM api_keys k JOIN projects p ON p.id = k.project_id
             WHERE k.org_id = ",
        );
        sql.push_bind(org.as_str()).push(" AND k.id IN (");
        let mut list = sql.separated(", ");
        for id in chunk {
            list.push_bind(*id);
        }
        list.push_unseparated(")");
        for row in sql.build().fetch_all(&mut *tx).await.map_err(backend)? {
            let record = rows::key(&row)?;
            let catalog: Vec<String> =
                serde_json::from_str(&row.try_get::<String, _>("catalog").map_err(backend)?)
                    .map_err(|_| rows::corrupt("apis"))?;
            views.insert(record.id.to_string(), (record, catalog));
        }
    }
    Ok(views)
}

/// Adds a pending delivery at the end of its endpoint's queue: due at once
/// when the queue is empty, otherwise without a due time until the one
/// before it ends (see `promote`). Runs under the organization's lock, as
/// `finish_attempt` does, so that a queue never loses its head.
pub(super) async fn insert_delivery(
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

/// Due heads of queues whose endpoint is enabled and whose lease is free,
/// soonest first. Only heads have a due time, so this never reads a backlog.
pub(super) async fn due(
    store: &Backend,
    now: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<Due>, StoreError> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT d.id, d.org_id FROM webhook_deliveries d
         JOIN webhook_endpoints e ON e.id = d.endpoint_id
         WHERE d.status = 'pending' AND d.next_attempt_at IS NOT NULL AND d.next_attempt_at <= $1
           AND e.enabled AND (d.lease_until IS NULL OR d.lease_until < $1)
         ORDER BY d.next_attempt_at, d.id LIMIT $2",
    )
    .bind(micros(now))
    .bind(i64::from(limit))
    .fetch_all(store.fresh())
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

/// Leases the due head `id` for `lease` (its start is now), and returns it
/// with up to `run - 1` deliveries waiting behind it in its queue, in order.
pub(super) async fn claim(
    store: &Backend,
    id: &DeliveryId,
    owner: &str,
    lease: std::ops::Range<DateTime<Utc>>,
    run: u32,
) -> Result<Vec<Claimed>, StoreError> {
    let mut tx = store.begin().await?;
    let taken = sqlx::query(
        "UPDATE webhook_deliveries SET lease_owner = $1, lease_until = $2
         WHERE id = $3 AND status = 'pending' AND next_attempt_at <= $4
           AND (lease_until IS NULL OR lease_until < $4)",
    )
    .bind(owner)
    .bind(micros(lease.end))
    .bind(id.as_str())
    .bind(micros(lease.start))
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    if taken.rows_affected() != 1 {
        tx.commit().await?;
        return Ok(Vec::new());
    }
    let select = "SELECT d.*, m.event_type, m.event_id, m.payload, e.url,
                e.failing_since AS endpoint_failing_since
         FROM webhook_deliveries d
         JOIN webhook_messages m ON m.id = d.message_id
         JOIN webhook_endpoints e ON e.id = d.endpoint_id";
    let head = sqlx::query(&format!("{select} WHERE d.id = $1"))
        .bind(id.as_str())
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?;
    let endpoint: String = head.try_get("endpoint_id").map_err(backend)?;
    let queue: String = head.try_get("queue").map_err(backend)?;
    let behind = sqlx::query(&format!(
        "{select} WHERE d.endpoint_id = $1 AND d.queue = $2 AND d.status = 'pending'
           AND d.next_attempt_at IS NULL AND d.id <> $3
         ORDER BY d.seq, d.created_at, d.id LIMIT $4"
    ))
    .bind(&endpoint)
    .bind(&queue)
    .bind(id.as_str())
    .bind(i64::from(run.saturating_sub(1)))
    .fetch_all(&mut *tx)
    .await
    .map_err(backend)?;
    let claimed = std::iter::once(&head)
        .chain(&behind)
        .map(|row| {
            Ok(Claimed {
                delivery: rows::delivery(row)?,
                org_id: OrgId::parse(&row.try_get::<String, _>("org_id").map_err(backend)?)
                    .map_err(|_| rows::corrupt("org_id"))?,
                url: row.try_get("url").map_err(backend)?,
                payload: row.try_get("payload").map_err(backend)?,
                failing_since: row
                    .try_get::<Option<i64>, _>("endpoint_failing_since")
                    .map_err(backend)?
                    .map(time)
                    .transpose()?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    tx.commit().await?;
    Ok(claimed)
}

/// Records a run's attempts and releases its lease, in one transaction.
pub(super) async fn finish(
    store: &Backend,
    owner: &str,
    run: &[Finished],
) -> Result<(), StoreError> {
    let Some(first) = run.first() else {
        return Ok(());
    };
    // Under the organization's lock: a delivery queued meanwhile either
    // sees this run's last one still pending (and waits) or ended (and is
    // due, by `promote` here).
    let mut tx = store.begin_in(&first.claimed.org_id).await?;
    for (i, done) in run.iter().enumerate() {
        let mut attempts = done.claimed.delivery.attempts.clone();
        attempts.push(done.attempt.clone());
        let (status, next) = match done.result {
            AttemptResult::Succeeded => (DeliveryStatus::Succeeded, None),
            AttemptResult::RetryAt(at) => (DeliveryStatus::Pending, Some(micros(at))),
            AttemptResult::GiveUp => (DeliveryStatus::Failed, None),
        };
        // The run's first delivery holds the lease: if it was lost (this
        // node was too slow and another took the run over), nothing of the
        // run is recorded here.
        let recorded = sqlx::query(
            "UPDATE webhook_deliveries SET attempts = $1, status = $2, next_attempt_at = $3,
                 lease_owner = NULL, lease_until = NULL
             WHERE id = $4 AND status = 'pending' AND (lease_owner = $5 OR $6)",
        )
        .bind(json(&attempts)?)
        .bind(status.as_str())
        .bind(next)
        .bind(done.claimed.delivery.id.as_str())
        .bind(owner)
        .bind(i > 0)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if recorded.rows_affected() != 1 {
            return if i == 0 {
                tx.commit().await
            } else {
                Err(StoreError::Changed)
            };
        }
    }
    let last = run.last().unwrap_or(first);
    let endpoint = &last.claimed.delivery.webhook_id;
    let failing = if last.result == AttemptResult::Succeeded {
        sqlx::query(
            "UPDATE webhook_endpoints SET failing_since = NULL
             WHERE id = $1 AND failing_since IS NOT NULL",
        )
        .bind(endpoint.as_str())
    } else {
        sqlx::query(
            "UPDATE webhook_endpoints SET failing_since = $2
             WHERE id = $1 AND failing_since IS NULL",
        )
        .bind(endpoint.as_str())
        .bind(micros(last.attempt.at))
    };
    failing.execute(&mut *tx).await.map_err(backend)?;
    if !matches!(last.result, AttemptResult::RetryAt(_)) {
        let queue = webhooks::queue_of(&last.claimed.delivery.event_type);
        promote(&mut tx, endpoint, queue, last.attempt.at).await?;
    }
    tx.commit().await
}

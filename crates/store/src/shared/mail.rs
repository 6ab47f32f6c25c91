//! The mail queue: key notices queued from the audit log, exports queued
//! with their request, and the one-time links to exports too large to mail.
//!
//! Notices follow each organization's audit log from `mail_cursors`, as
//! webhooks do (`outbox.rs`): under the organization's lock, the events after
//! the cursor that are notices become one message per recipient, and the
//! cursor moves past them in the same transaction, so each notice is queued
//! once whichever node gets there first. A message has no queue order: each
//! is due on its own, and a worker leases it (`lease_owner`, `lease_until`)
//! for one attempt.

use super::rows::{self, micros, time};
use super::{Backend, Conn, audit, outbox};
use crate::backend;
use chrono::{DateTime, Utc};
use keyward_core::audit::{AuditContext, AuditEvent, NewEvent};
use keyward_core::email::{
    self, ExportLink, MailAttempt, MailKind, MailResult, MailStore, NewExportMail, QueuedMail,
    Recipient,
};
use keyward_core::id::{EventId, MemberId, OrgId};
use keyward_core::keys::view::KeyView;
use keyward_core::model::MemberRole;
use keyward_core::store::StoreError;
use keyward_core::webhooks;
use sqlx::Row;

/// Events read per dispatch of one organization.
const DISPATCH_BATCH: i64 = 500;

fn mail_id() -> Result<String, StoreError> {
    Ok(format!(
        "mail_{}",
        keyward_core::base62::random(20).map_err(backend)?
    ))
}

/// A message to insert.
struct Message<'a> {
    kind: MailKind,
    event_id: &'a str,
    audit_seq: i64,
    member: &'a str,
    recipient: &'a str,
    payload: &'a str,
    created_at: DateTime<Utc>,
}

async fn insert(tx: &mut Conn, org: &OrgId, mail: &Message<'_>) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO mail_messages (id, org_id, kind, event_id, audit_seq, member_id, recipient,
             payload, status, created_at, next_attempt_at, attempts)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $9, 0)
         ON CONFLICT (event_id, member_id) DO NOTHING",
    )
    .bind(mail_id()?)
    .bind(org.as_str())
    .bind(mail.kind.as_str())
    .bind(mail.event_id)
    .bind(mail.audit_seq)
    .bind(mail.member)
    .bind(mail.recipient)
    .bind(mail.payload)
    .bind(micros(mail.created_at))
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    Ok(())
}

/// The organization's members: id, address, role, and whether they turned
/// notice emails off.
async fn members(
    tx: &mut Conn,
    org: &OrgId,
) -> Result<Vec<(MemberId, String, MemberRole, bool)>, StoreError> {
    let rows: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT m.id, m.email, m.role, o.member_id FROM members m
         LEFT JOIN mail_opt_outs o ON o.member_id = m.id
         WHERE m.org_id = $1 ORDER BY m.id",
    )
    .bind(org.as_str())
    .fetch_all(&mut *tx)
    .await
    .map_err(backend)?;
    rows.into_iter()
        .map(|(id, email, role, opted_out)| {
            Ok((
                MemberId::parse(&id).map_err(|_| rows::corrupt("member id"))?,
                email,
                MemberRole::from_name(&role).ok_or_else(|| rows::corrupt("role"))?,
                opted_out.is_some(),
            ))
        })
        .collect()
}

/// Queues the organization's notice events after its cursor, and moves the
/// cursor past what it read. Returns how many events it read.
async fn dispatch(store: &Backend, org: &OrgId, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let mut tx = store.begin_in(org).await?;
    let cursor: Option<i64> =
        sqlx::query_scalar("SELECT last_seq FROM mail_cursors WHERE org_id = $1")
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
    let notices: Vec<&AuditEvent> = events
        .iter()
        .filter(|e| email::is_notice(&e.action) && now - e.occurred_at <= email::NOTICE_MAX_AGE)
        .collect();
    if !notices.is_empty() {
        let members = members(&mut tx, org).await?;
        let keys = outbox::key_views(&mut tx, org, notices.iter().copied()).await?;
        for event in notices {
            let Some((record, catalog)) = keys.get(event.target.id.as_str()) else {
                continue;
            };
            let view = KeyView::new(record, catalog, event.occurred_at);
            let payload = webhooks::payload(event, Some(&view));
            for (member, address, role, opted_out) in &members {
                if !email::receives_notice(member, *role, *opted_out, &record.created_by) {
                    continue;
                }
                let row = Message {
                    kind: MailKind::Notice,
                    event_id: event.id.as_str(),
                    audit_seq: event.seq,
                    member: member.as_str(),
                    recipient: address,
                    payload: &payload,
                    created_at: now,
                };
                insert(&mut tx, org, &row).await?;
            }
        }
    }
    sqlx::query("UPDATE mail_cursors SET last_seq = $2 WHERE org_id = $1")
        .bind(org.as_str())
        .bind(last.seq)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    tx.commit().await?;
    Ok(events.len())
}

/// Organizations with audit events not yet dispatched to email.
async fn behind(store: &Backend) -> Result<Vec<OrgId>, StoreError> {
    let orgs: Vec<String> = sqlx::query_scalar(
        "SELECT c.org_id FROM mail_cursors c
         WHERE EXISTS (SELECT 1 FROM audit_events a WHERE a.org_id = c.org_id AND a.seq > c.last_seq)",
    )
    .fetch_all(store.fresh())
    .await
    .map_err(backend)?;
    orgs.iter()
        .map(|o| OrgId::parse(o).map_err(|_| rows::corrupt("org_id")))
        .collect()
}

/// Starts a new organization's cursor at its first event.
pub(super) async fn start_cursor(tx: &mut Conn, org: &OrgId) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO mail_cursors (org_id, last_seq) VALUES ($1, 0)")
        .bind(org.as_str())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    Ok(())
}

fn queued(row: &<super::Db as sqlx::Database>::Row) -> Result<QueuedMail, StoreError> {
    let text = |column: &'static str| -> Result<String, StoreError> {
        row.try_get::<String, _>(column).map_err(backend)
    };
    Ok(QueuedMail {
        id: text("id")?,
        org_id: OrgId::parse(&text("org_id")?).map_err(|_| rows::corrupt("org_id"))?,
        kind: MailKind::from_name(&text("kind")?).ok_or_else(|| rows::corrupt("kind"))?,
        event_id: EventId::from_stored(text("event_id")?),
        audit_seq: row.try_get("audit_seq").map_err(backend)?,
        member_id: MemberId::parse(&text("member_id")?).map_err(|_| rows::corrupt("member_id"))?,
        recipient: match row
            .try_get::<Option<String>, _>("current_email")
            .map_err(backend)?
        {
            Some(email) => Some(Recipient {
                email,
                role: MemberRole::from_name(
                    &row.try_get::<String, _>("current_role").map_err(backend)?,
                )
                .ok_or_else(|| rows::corrupt("role"))?,
                opted_out: row
                    .try_get::<Option<String>, _>("opted_out")
                    .map_err(backend)?
                    .is_some(),
            }),
            None => None,
        },
        payload: text("payload")?,
        attempts: u32::try_from(row.try_get::<i64, _>("attempts").map_err(backend)?)
            .map_err(|_| rows::corrupt("attempts"))?,
        created_at: time(row.try_get("created_at").map_err(backend)?)?,
    })
}

#[async_trait::async_trait]
impl MailStore for Backend {
    async fn queue_export(
        &self,
        org: &OrgId,
        ctx: &AuditContext,
        event: NewEvent,
        mail: NewExportMail,
    ) -> Result<i64, StoreError> {
        let mut tx = self.begin_in(org).await?;
        let pending: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM mail_messages
             WHERE org_id = $1 AND kind = 'audit_export' AND status = 'pending'",
        )
        .bind(org.as_str())
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?;
        if pending >= i64::from(email::MAX_PENDING_EXPORTS) {
            return Err(StoreError::Conflict(format!(
                "{} exports by email are already waiting to be sent",
                email::MAX_PENDING_EXPORTS
            )));
        }
        let recorded = audit::append(&mut tx, org, ctx, event).await?;
        let row = Message {
            kind: MailKind::AuditExport,
            event_id: recorded.id.as_str(),
            audit_seq: recorded.seq,
            member: mail.member.as_str(),
            recipient: &mail.recipient,
            payload: &mail.payload,
            created_at: ctx.at,
        };
        insert(&mut tx, org, &row).await?;
        tx.commit().await?;
        Ok(recorded.seq)
    }

    async fn dispatch_notices(
        &self,
        org: Option<&OrgId>,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let orgs = match org {
            Some(org) => vec![org.clone()],
            None => behind(self).await?,
        };
        let mut read = 0;
        for org in &orgs {
            read += dispatch(self, org, now).await?;
        }
        Ok(read)
    }

    async fn due_mail(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<String>, StoreError> {
        sqlx::query_scalar(
            "SELECT id FROM mail_messages
             WHERE status = 'pending' AND next_attempt_at <= $1
               AND (lease_until IS NULL OR lease_until < $1)
             ORDER BY next_attempt_at, id LIMIT $2",
        )
        .bind(micros(now))
        .bind(i64::from(limit))
        .fetch_all(self.fresh())
        .await
        .map_err(backend)
    }

    async fn claim_mail(
        &self,
        id: &str,
        owner: &str,
        lease: std::ops::Range<DateTime<Utc>>,
    ) -> Result<Option<QueuedMail>, StoreError> {
        let mut tx = self.begin().await?;
        let taken = sqlx::query(
            "UPDATE mail_messages SET lease_owner = $1, lease_until = $2
             WHERE id = $3 AND status = 'pending' AND next_attempt_at <= $4
               AND (lease_until IS NULL OR lease_until < $4)",
        )
        .bind(owner)
        .bind(micros(lease.end))
        .bind(id)
        .bind(micros(lease.start))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if taken.rows_affected() != 1 {
            tx.commit().await?;
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT q.*, m.email AS current_email, m.role AS current_role,
                 o.member_id AS opted_out
             FROM mail_messages q
             LEFT JOIN members m ON m.id = q.member_id AND m.org_id = q.org_id
             LEFT JOIN mail_opt_outs o ON o.member_id = m.id
             WHERE q.id = $1",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await?;
        queued(&row).map(Some)
    }

    async fn finish_mail(
        &self,
        mail: &QueuedMail,
        owner: &str,
        attempt: &MailAttempt,
        event: Option<(&AuditContext, NewEvent)>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_in(&mail.org_id).await?;
        let (status, next, sent) = match attempt.result {
            MailResult::Sent => ("sent", None, Some(micros(attempt.at))),
            MailResult::RetryAt(at) => ("pending", Some(micros(at)), None),
            MailResult::Failed => ("failed", None, None),
        };
        let recorded = sqlx::query(
            "UPDATE mail_messages SET status = $1, next_attempt_at = $2, sent_at = $3,
                 attempts = attempts + 1, last_error = $4, lease_owner = NULL, lease_until = NULL
             WHERE id = $5 AND status = 'pending' AND lease_owner = $6",
        )
        .bind(status)
        .bind(next)
        .bind(sent)
        .bind(attempt.error.as_deref())
        .bind(&mail.id)
        .bind(owner)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if recorded.rows_affected() == 1
            && let Some((ctx, event)) = event
        {
            audit::append(&mut tx, &mail.org_id, ctx, event).await?;
        }
        tx.commit().await
    }

    async fn create_export_link(&self, link: &ExportLink) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO export_links (token_hash, org_id, message_id, payload, audit_seq,
                 created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&link.token_hash[..])
        .bind(link.org_id.as_str())
        .bind(&link.message_id)
        .bind(&link.payload)
        .bind(link.audit_seq)
        .bind(micros(link.created_at))
        .bind(micros(link.expires_at))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await
    }

    async fn find_export_link(
        &self,
        token_hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<Option<ExportLink>, StoreError> {
        let row = sqlx::query(
            "SELECT * FROM export_links
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(&token_hash[..])
        .bind(micros(now))
        .fetch_optional(self.fresh())
        .await
        .map_err(backend)?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(ExportLink {
            token_hash: *token_hash,
            org_id: OrgId::parse(&row.try_get::<String, _>("org_id").map_err(backend)?)
                .map_err(|_| rows::corrupt("org_id"))?,
            message_id: row.try_get("message_id").map_err(backend)?,
            payload: row.try_get("payload").map_err(backend)?,
            audit_seq: row.try_get("audit_seq").map_err(backend)?,
            created_at: time(row.try_get("created_at").map_err(backend)?)?,
            expires_at: time(row.try_get("expires_at").map_err(backend)?)?,
        }))
    }

    async fn use_export_link(
        &self,
        link: &ExportLink,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_in(&link.org_id).await?;
        let used = sqlx::query(
            "UPDATE export_links SET used_at = $3
             WHERE token_hash = $1 AND org_id = $2 AND used_at IS NULL AND expires_at > $3",
        )
        .bind(&link.token_hash[..])
        .bind(link.org_id.as_str())
        .bind(micros(ctx.at))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if used.rows_affected() != 1 {
            tx.commit().await?;
            return Ok(false);
        }
        audit::append(&mut tx, &link.org_id, ctx, event).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn notice_emails(&self, org: &OrgId, member: &MemberId) -> Result<bool, StoreError> {
        let opted_out: Option<String> = sqlx::query_scalar(
            "SELECT member_id FROM mail_opt_outs WHERE org_id = $1 AND member_id = $2",
        )
        .bind(org.as_str())
        .bind(member.as_str())
        .fetch_optional(self.fresh())
        .await
        .map_err(backend)?;
        Ok(opted_out.is_none())
    }

    async fn set_notice_emails(
        &self,
        org: &OrgId,
        member: &MemberId,
        on: bool,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_in(org).await?;
        let changed = if on {
            sqlx::query("DELETE FROM mail_opt_outs WHERE org_id = $1 AND member_id = $2")
                .bind(org.as_str())
                .bind(member.as_str())
                .execute(&mut *tx)
                .await
        } else {
            sqlx::query(
                "INSERT INTO mail_opt_outs (member_id, org_id, created_at)
                 SELECT id, org_id, $3 FROM members WHERE org_id = $1 AND id = $2
                 ON CONFLICT (member_id) DO NOTHING",
            )
            .bind(org.as_str())
            .bind(member.as_str())
            .bind(micros(ctx.at))
            .execute(&mut *tx)
            .await
        }
        .map_err(backend)?;
        if changed.rows_affected() == 1 {
            audit::append(&mut tx, org, ctx, event).await?;
        }
        tx.commit().await
    }
}

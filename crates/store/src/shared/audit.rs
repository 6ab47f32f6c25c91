//! Appending to and reading the audit hash chain.
//!
//! `append` runs inside a write transaction that holds its organization's
//! audit lock (SQLite's single writer; PostgreSQL's advisory lock, see
//! `postgres/tx.rs`), so reading the chain's head and inserting the next
//! event can never interleave with another writer. The `(org_id, seq)`
//! primary key remains the last guard against a fork.

use super::keys::escape_like;
use super::rows::{self, micros};
use super::{Backend, Db, Tx, fold_case};
use crate::backend;
use keyward_core::audit::{ActorType, AuditContext, AuditEvent, NewEvent};
use keyward_core::id::{EventId, OrgId};
use keyward_core::store::{ActionFilter, AuditQuery, StoreError};
use sqlx::{Pool, QueryBuilder};

/// Appends one event in a transaction of its own.
pub(super) async fn append_alone(
    store: &Backend,
    org: &OrgId,
    ctx: &AuditContext,
    event: NewEvent,
) -> Result<AuditEvent, StoreError> {
    let mut tx = store.begin_in(org).await?;
    let event = append(&mut tx, org, ctx, event).await?;
    tx.commit().await?;
    Ok(event)
}

/// Appends `event` to `org`'s chain, in `tx`, which must hold `org`'s lock.
pub(super) async fn append(
    tx: &mut Tx,
    org: &OrgId,
    ctx: &AuditContext,
    event: NewEvent,
) -> Result<AuditEvent, StoreError> {
    if !tx.holds_audit_lock(org) {
        return Err(StoreError::Backend(
            "an audit event was appended without its organization's lock".into(),
        ));
    }
    let head: Option<(i64, String)> = sqlx::query_as(
        "SELECT seq, hash FROM audit_events WHERE org_id = $1 ORDER BY seq DESC LIMIT 1",
    )
    .bind(org.as_str())
    .fetch_optional(&mut **tx)
    .await
    .map_err(backend)?;
    let event = AuditEvent::chain(
        EventId::generate().map_err(backend)?,
        org.clone(),
        head,
        ctx,
        event,
    );
    sqlx::query(
        "INSERT INTO audit_events (org_id, seq, id, occurred_at, actor_type, actor_id, actor_name,
             team, action, target_type, target_id, target_name, ip, user_agent, changes, prev_hash,
             hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
    )
    .bind(event.org_id.as_str())
    .bind(event.seq)
    .bind(event.id.as_str())
    .bind(micros(event.occurred_at))
    .bind(actor_type_name(event.actor.kind))
    .bind(&event.actor.id)
    .bind(&event.actor.name)
    .bind(event.team.as_deref())
    .bind(&event.action)
    .bind(&event.target.kind)
    .bind(&event.target.id)
    .bind(&event.target.name)
    .bind(event.ip.as_deref())
    .bind(event.user_agent.as_deref())
    .bind(serde_json::Value::Object(event.changes.clone()).to_string())
    .bind(&event.prev_hash)
    .bind(&event.hash)
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    Ok(event)
}

pub(super) async fn page(
    pool: &Pool<Db>,
    org: &OrgId,
    after_seq: i64,
    limit: u32,
) -> Result<Vec<AuditEvent>, StoreError> {
    let rows = sqlx::query(
        "SELECT * FROM audit_events WHERE org_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
    )
    .bind(org.as_str())
    .bind(after_seq)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(backend)?;
    rows.iter().map(rows::audit_event).collect()
}

/// One page of events matching `query`.
pub(super) async fn search(
    pool: &Pool<Db>,
    org: &OrgId,
    query: &AuditQuery,
) -> Result<Vec<AuditEvent>, StoreError> {
    let mut sql = QueryBuilder::<Db>::new("SELECT * FROM audit_events WHERE org_id = ");
    sql.push_bind(org.as_str());
    match &query.action {
        Some(ActionFilter::Exact(action)) => {
            sql.push(" AND action = ").push_bind(action.clone());
        }
        Some(ActionFilter::Prefix(prefix)) => {
            sql.push(" AND substr(action, 1, ")
                .push_bind(i32::try_from(prefix.chars().count()).unwrap_or(i32::MAX))
                .push(") = ")
                .push_bind(prefix.clone());
        }
        Some(ActionFilter::AnyOf(actions)) => {
            sql.push(" AND action IN (");
            let mut list = sql.separated(", ");
            for action in actions {
                list.push_bind(action.clone());
            }
            list.push_unseparated(")");
        }
        None => {}
    }
    // An actor is named by its id, or by its name: whole, or any part of it
    // (people remember `alice@`, not the whole address).
    if let Some(actor) = &query.actor {
        sql.push(" AND (actor_id = ").push_bind(actor.clone());
        if query.actor_partial {
            sql.push(" OR lower(actor_name) LIKE ")
                .push_bind(format!("%{}%", escape_like(&fold_case(actor))))
                .push(" ESCAPE '\\')");
        } else {
            sql.push(" OR actor_name = ")
                .push_bind(actor.clone())
                .push(")");
        }
    }
    if let Some(target) = &query.target {
        sql.push(" AND (target_id = ")
            .push_bind(target.clone())
            .push(" OR target_name = ")
            .push_bind(target.clone())
            .push(")");
    }
    if let Some(team) = &query.team {
        sql.push(" AND team = ").push_bind(team.clone());
    }
    if let Some(from) = query.from {
        sql.push(" AND occurred_at >= ").push_bind(micros(from));
    }
    if let Some(to) = query.to {
        sql.push(" AND occurred_at < ").push_bind(micros(to));
    }
    for word in query.q.as_deref().unwrap_or("").split_whitespace() {
        let pattern = format!("%{}%", escape_like(&fold_case(word)));
        sql.push(" AND (");
        // `changes` holds what an event changed or said: a revocation's
        // reason, a key's description, names before and after.
        for (i, column) in ["action", "actor_name", "target_name", "changes"]
            .into_iter()
            .enumerate()
        {
            if i > 0 {
                sql.push(" OR ");
            }
            sql.push(format!("lower({column}) LIKE "))
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\'");
        }
        sql.push(")");
    }
    for (bound, op) in [
        (query.before_seq, "<"),
        (query.after_seq, ">"),
        (query.until_seq, "<="),
    ] {
        if let Some(seq) = bound {
            sql.push(format!(" AND seq {op} ")).push_bind(seq);
        }
    }
    sql.push(if query.newest_first {
        " ORDER BY seq DESC"
    } else {
        " ORDER BY seq ASC"
    });
    sql.push(" LIMIT ").push_bind(i64::from(query.limit));
    let rows = sql.build().fetch_all(pool).await.map_err(backend)?;
    rows.iter().map(rows::audit_event).collect()
}

pub(super) fn actor_type_name(kind: ActorType) -> &'static str {
    match kind {
        ActorType::Member => "member",
        ActorType::RootKey => "root_key",
        ActorType::System => "system",
    }
}

//! Appending to and reading the audit hash chain.
//!
//! Several connections, and several Keyward nodes, may write to one
//! organization at once. Every write transaction therefore starts by taking a
//! transaction-scoped advisory lock on its organization ([`OrgTx::begin`]),
//! which PostgreSQL holds until commit or rollback: reading the chain's head
//! and inserting the next event can never interleave with another writer, on
//! any connection of any process. `append` only takes an [`OrgTx`], so an
//! event cannot be appended without that lock. The `(org_id, seq)` primary
//! key remains the last guard against a fork.

use super::keys::escape_like;
use super::rows::{micros, time};
use crate::backend;
use keyward_core::audit::{Actor, ActorType, AuditContext, AuditEvent, NewEvent, Target};
use keyward_core::id::{EventId, OrgId};
use keyward_core::store::{ActionFilter, AuditQuery, StoreError};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder, Row, Transaction};

/// Seed of the advisory lock keys, so that they stay apart from the keys other
/// users of the database may lock ("kwad").
const LOCK_SEED: i64 = 0x6b77_6164;

/// A write transaction holding its organization's audit lock.
#[derive(Debug)]
pub(super) struct OrgTx {
    tx: Transaction<'static, Postgres>,
    org: OrgId,
}

impl OrgTx {
    /// Begins a transaction and waits for the organization's lock. Taken
    /// before anything else is written, so every writer acquires its locks in
    /// the same order: this one first, then rows.
    pub(super) async fn begin(pool: &PgPool, org: &OrgId) -> Result<Self, StoreError> {
        let mut tx = pool.begin().await.map_err(backend)?;
        // A 64-bit hash computed by the server, so every node agrees on it.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, $2))")
            .bind(org.as_str())
            .bind(LOCK_SEED)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        Ok(Self {
            tx,
            org: org.clone(),
        })
    }

    /// The connection, for the other statements of the transaction.
    pub(super) fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    /// Commits, releasing the lock.
    pub(super) async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await.map_err(backend)
    }
}

/// Appends `event` to the chain of the transaction's organization.
pub(super) async fn append(
    tx: &mut OrgTx,
    ctx: &AuditContext,
    event: NewEvent,
) -> Result<AuditEvent, StoreError> {
    let head: Option<(i64, String)> = sqlx::query_as(
        "SELECT seq, hash FROM audit_events WHERE org_id = $1 ORDER BY seq DESC LIMIT 1",
    )
    .bind(tx.org.as_str())
    .fetch_optional(&mut *tx.tx)
    .await
    .map_err(backend)?;
    let event = AuditEvent::chain(
        EventId::generate().map_err(backend)?,
        tx.org.clone(),
        head,
        ctx,
        event,
    );
    sqlx::query(
        "INSERT INTO audit_events (org_id, seq, id, occurred_at, actor_type, actor_id, actor_name, team,
             action, target_type, target_id, target_name, ip, user_agent, changes, prev_hash, hash)
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
    .execute(&mut *tx.tx)
    .await
    .map_err(backend)?;
    Ok(event)
}

pub(super) async fn page(
    pool: &PgPool,
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
    rows.iter().map(event).collect()
}

/// One page of events matching `query`.
pub(super) async fn search(
    pool: &PgPool,
    org: &OrgId,
    query: &AuditQuery,
) -> Result<Vec<AuditEvent>, StoreError> {
    let mut sql = QueryBuilder::<Postgres>::new("SELECT * FROM audit_events WHERE org_id = ");
    sql.push_bind(org.as_str());
    match &query.action {
        Some(ActionFilter::Exact(action)) => {
            sql.push(" AND action = ").push_bind(action.clone());
        }
        Some(ActionFilter::Prefix(prefix)) => {
            sql.push(" AND starts_with(action, ")
                .push_bind(prefix.clone())
                .push(")");
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
    for (value, id_column, name_column) in [
        (&query.actor, "actor_id", "actor_name"),
        (&query.target, "target_id", "target_name"),
    ] {
        if let Some(value) = value {
            sql.push(format!(" AND ({id_column} = "))
                .push_bind(value.clone())
                .push(format!(" OR {name_column} = "))
                .push_bind(value.clone())
                .push(")");
        }
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
        let pattern = format!("%{}%", escape_like(&word.to_lowercase()));
        sql.push(" AND (");
        for (i, column) in ["action", "actor_name", "target_name"]
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
    rows.iter().map(event).collect()
}

fn actor_type_name(kind: ActorType) -> &'static str {
    match kind {
        ActorType::Member => "member",
        ActorType::RootKey => "root_key",
        ActorType::System => "system",
    }
}

fn event(row: &PgRow) -> Result<AuditEvent, StoreError> {
    let get = |column: &str| -> Result<String, StoreError> { row.try_get(column).map_err(backend) };
    let opt = |column: &str| -> Result<Option<String>, StoreError> {
        row.try_get(column).map_err(backend)
    };
    let kind = match get("actor_type")?.as_str() {
        "member" => ActorType::Member,
        "root_key" => ActorType::RootKey,
        _ => ActorType::System,
    };
    let changes = match serde_json::from_str(&get("changes")?).map_err(backend)? {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    Ok(AuditEvent {
        // Kept as found: a forged id must be named as it is.
        id: EventId::from_stored(get("id")?),
        seq: row.try_get("seq").map_err(backend)?,
        occurred_at: time(row.try_get("occurred_at").map_err(backend)?)?,
        org_id: OrgId::parse(&get("org_id")?).map_err(|e| backend(std::io::Error::other(e)))?,
        actor: Actor {
            kind,
            id: get("actor_id")?,
            name: get("actor_name")?,
        },
        team: opt("team")?,
        action: get("action")?,
        target: Target {
            kind: get("target_type")?,
            id: get("target_id")?,
            name: get("target_name")?,
        },
        ip: opt("ip")?,
        user_agent: opt("user_agent")?,
        changes,
        prev_hash: get("prev_hash")?,
        hash: get("hash")?,
    })
}

//! Appending to and reading the audit hash chain.
//!
//! `append` runs inside the caller's transaction on the single writer
//! connection, so reading the chain's head and inserting the next event can
//! never interleave with another writer.

use super::keys::escape_like;
use super::rows::{micros, time};
use crate::backend;
use keyward_core::audit::{Actor, ActorType, AuditContext, AuditEvent, NewEvent, Target};
use keyward_core::id::{EventId, OrgId};
use keyward_core::store::{ActionFilter, AuditQuery, StoreError};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};

pub(super) async fn append(
    tx: &mut SqliteConnection,
    org: &OrgId,
    ctx: &AuditContext,
    event: NewEvent,
) -> Result<AuditEvent, StoreError> {
    let head: Option<(i64, String)> = sqlx::query_as(
        "SELECT seq, hash FROM audit_events WHERE org_id = ? ORDER BY seq DESC LIMIT 1",
    )
    .bind(org.as_str())
    .fetch_optional(&mut *tx)
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
        "INSERT INTO audit_events (org_id, seq, id, occurred_at, actor_type, actor_id, actor_name, team, action,
             target_type, target_id, target_name, ip, user_agent, changes, prev_hash, hash)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    Ok(event)
}

pub(super) async fn page(
    pool: &SqlitePool,
    org: &OrgId,
    after_seq: i64,
    limit: u32,
) -> Result<Vec<AuditEvent>, StoreError> {
    let rows =
        sqlx::query("SELECT * FROM audit_events WHERE org_id = ? AND seq > ? ORDER BY seq LIMIT ?")
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
    pool: &SqlitePool,
    org: &OrgId,
    query: &AuditQuery,
) -> Result<Vec<AuditEvent>, StoreError> {
    let mut sql = QueryBuilder::<Sqlite>::new("SELECT * FROM audit_events WHERE org_id = ");
    sql.push_bind(org.as_str());
    match &query.action {
        Some(ActionFilter::Exact(action)) => {
            sql.push(" AND action = ").push_bind(action.clone());
        }
        Some(ActionFilter::Prefix(prefix)) => {
            sql.push(" AND substr(action, 1, ")
                .push_bind(i64::try_from(prefix.chars().count()).unwrap_or(i64::MAX))
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
        // SQLite's lower() folds ASCII only: fold the pattern the same way.
        let pattern = format!("%{}%", escape_like(&word.to_ascii_lowercase()));
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

fn event(row: &SqliteRow) -> Result<AuditEvent, StoreError> {
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

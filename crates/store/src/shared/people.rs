//! Members, teams and dashboard sessions. Every write that appends to the
//! audit log holds its organization's audit lock; sessions are not audited
//! and take none.

use super::{Backend, Conn, FOR_UPDATE, announce, audit, rows};
use crate::{backend, unique_as_conflict};
use chrono::{DateTime, Utc};
use keyward_core::audit::{AuditContext, NewEvent};
use keyward_core::events;
use keyward_core::id::{KeyId, MemberId, OrgId, TeamId};
use keyward_core::model::{Member, Session, Team};
use keyward_core::store::{LAST_OWNER, StoreError};
use rows::{micros, time};
use sqlx::Row;
use std::collections::BTreeMap;

const EMAIL_TAKEN: &str = "a member with this email already exists";
const TEAM_TAKEN: &str = "a team with this name already exists";

pub(super) async fn list_members(store: &Backend, org: &OrgId) -> Result<Vec<Member>, StoreError> {
    let rows = sqlx::query("SELECT * FROM members WHERE org_id = $1 ORDER BY email, id")
        .bind(org.as_str())
        .fetch_all(store.reads())
        .await
        .map_err(backend)?;
    rows.iter().map(rows::member).collect()
}

pub(super) async fn get_member(
    store: &Backend,
    org: &OrgId,
    id: &MemberId,
) -> Result<Option<Member>, StoreError> {
    // The writer: a member just added or changed is read back at once.
    let row = sqlx::query("SELECT * FROM members WHERE org_id = $1 AND id = $2")
        .bind(org.as_str())
        .bind(id.as_str())
        .fetch_optional(store.fresh())
        .await
        .map_err(backend)?;
    row.as_ref().map(rows::member).transpose()
}

pub(super) async fn members_by_email(
    store: &Backend,
    email: &str,
) -> Result<Vec<Member>, StoreError> {
    let rows = sqlx::query("SELECT * FROM members WHERE email = $1 ORDER BY created_at, id")
        .bind(email)
        .fetch_all(store.fresh())
        .await
        .map_err(backend)?;
    rows.iter().map(rows::member).collect()
}

pub(super) async fn insert_member(
    store: &Backend,
    member: &Member,
    ctx: &AuditContext,
    event: NewEvent,
) -> Result<(), StoreError> {
    let mut tx = store.begin_in(&member.org_id).await?;
    write_member(&mut tx, member).await?;
    audit::append(&mut tx, &member.org_id, ctx, event).await?;
    tx.commit().await
}

pub(super) async fn update_member(
    store: &Backend,
    member: &Member,
    ctx: &AuditContext,
    event: NewEvent,
) -> Result<(), StoreError> {
    let mut tx = store.begin_in(&member.org_id).await?;
    let done = sqlx::query("UPDATE members SET name = $1, role = $2 WHERE org_id = $3 AND id = $4")
        .bind(&member.name)
        .bind(member.role.as_str())
        .bind(member.org_id.as_str())
        .bind(member.id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    require_an_owner(&mut tx, &member.org_id).await?;
    audit::append(&mut tx, &member.org_id, ctx, event).await?;
    tx.commit().await
}

pub(super) async fn set_member_password(
    store: &Backend,
    member: &Member,
    keep: Option<&[u8; 32]>,
    ctx: &AuditContext,
    event: NewEvent,
) -> Result<(), StoreError> {
    let mut tx = store.begin_in(&member.org_id).await?;
    let done = sqlx::query(
            "UPDATE members SET password_hash = $1, must_change_password = $2 WHERE org_id = $3 AND id = $4",
        )
        .bind(&member.password_hash)
        .bind(member.must_change_password)
        .bind(member.org_id.as_str())
        .bind(member.id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    sqlx::query("DELETE FROM sessions WHERE member_id = $1 AND token_hash IS DISTINCT FROM $2")
        .bind(member.id.as_str())
        .bind(keep.map(|k| k.to_vec()))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    audit::append(&mut tx, &member.org_id, ctx, event).await?;
    tx.commit().await
}

pub(super) async fn remove_member(
    store: &Backend,
    org: &OrgId,
    id: &MemberId,
    ctx: &AuditContext,
) -> Result<Vec<KeyId>, StoreError> {
    let mut tx = store.begin_in(org).await?;
    let row = sqlx::query("SELECT * FROM members WHERE org_id = $1 AND id = $2")
        .bind(org.as_str())
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?
        .ok_or(StoreError::NotFound)?;
    let member = rows::member(&row)?;
    let disabled: Vec<String> = sqlx::query_scalar(
        "UPDATE api_keys SET enabled = FALSE, updated_at = $1, version = version + 1
             WHERE org_id = $2 AND created_by = $3 AND enabled
               AND revoked_at IS NULL AND archived_at IS NULL
             RETURNING id",
    )
    .bind(micros(ctx.at))
    .bind(org.as_str())
    .bind(id.as_str())
    .fetch_all(&mut *tx)
    .await
    .map_err(backend)?;
    let mut disabled = disabled
        .iter()
        .map(|id| KeyId::parse(id).map_err(|_| rows::corrupt("id")))
        .collect::<Result<Vec<_>, _>>()?;
    disabled.sort();
    // Other nodes drop their cached copies once this commits.
    for key in &disabled {
        announce(&mut tx, key).await?;
    }
    // Sessions and team memberships go with the member (ON DELETE CASCADE).
    sqlx::query("DELETE FROM members WHERE org_id = $1 AND id = $2")
        .bind(org.as_str())
        .bind(id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    require_an_owner(&mut tx, org).await?;
    let event = events::member_removed(&member, &disabled);
    audit::append(&mut tx, org, ctx, event).await?;
    tx.commit().await?;
    Ok(disabled)
}

pub(super) async fn list_teams(store: &Backend, org: &OrgId) -> Result<Vec<Team>, StoreError> {
    let rows = sqlx::query(
        "SELECT t.id, t.org_id, t.name, t.created_at, m.member_id
             FROM teams t LEFT JOIN team_members m ON m.team_id = t.id
             WHERE t.org_id = $1 ORDER BY t.name, t.id, m.member_id",
    )
    .bind(org.as_str())
    .fetch_all(store.fresh())
    .await
    .map_err(backend)?;
    let mut teams: BTreeMap<(String, String), Team> = BTreeMap::new();
    for row in &rows {
        let id: String = row.try_get("id").map_err(backend)?;
        let name: String = row.try_get("name").map_err(backend)?;
        let team = match teams.entry((name.clone(), id.clone())) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => e.insert(Team {
                id: TeamId::parse(&id).map_err(|_| rows::corrupt("id"))?,
                org_id: org.clone(),
                name,
                members: Vec::new(),
                created_at: time(row.try_get("created_at").map_err(backend)?)?,
            }),
        };
        let member: Option<String> = row.try_get("member_id").map_err(backend)?;
        if let Some(member) = member {
            team.members
                .push(MemberId::parse(&member).map_err(|_| rows::corrupt("member_id"))?);
        }
    }
    Ok(teams.into_values().collect())
}

pub(super) async fn insert_team(
    store: &Backend,
    team: &Team,
    ctx: &AuditContext,
    event: NewEvent,
) -> Result<(), StoreError> {
    let mut tx = store.begin_in(&team.org_id).await?;
    sqlx::query("INSERT INTO teams (id, org_id, name, created_at) VALUES ($1, $2, $3, $4)")
        .bind(team.id.as_str())
        .bind(team.org_id.as_str())
        .bind(&team.name)
        .bind(micros(team.created_at))
        .execute(&mut *tx)
        .await
        .map_err(|e| unique_as_conflict(e, TEAM_TAKEN))?;
    set_team_members(&mut tx, team).await?;
    audit::append(&mut tx, &team.org_id, ctx, event).await?;
    tx.commit().await
}

pub(super) async fn update_team(
    store: &Backend,
    team: &Team,
    ctx: &AuditContext,
    event: NewEvent,
) -> Result<(), StoreError> {
    let mut tx = store.begin_in(&team.org_id).await?;
    let done = sqlx::query("UPDATE teams SET name = $1 WHERE org_id = $2 AND id = $3")
        .bind(&team.name)
        .bind(team.org_id.as_str())
        .bind(team.id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(|e| unique_as_conflict(e, TEAM_TAKEN))?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    sqlx::query("DELETE FROM team_members WHERE team_id = $1")
        .bind(team.id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    set_team_members(&mut tx, team).await?;
    audit::append(&mut tx, &team.org_id, ctx, event).await?;
    tx.commit().await
}

pub(super) async fn delete_team(
    store: &Backend,
    org: &OrgId,
    id: &TeamId,
    ctx: &AuditContext,
    event: NewEvent,
) -> Result<(), StoreError> {
    let mut tx = store.begin_in(org).await?;
    let done = sqlx::query("DELETE FROM teams WHERE org_id = $1 AND id = $2")
        .bind(org.as_str())
        .bind(id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    audit::append(&mut tx, org, ctx, event).await?;
    tx.commit().await
}

pub(super) async fn insert_session(store: &Backend, session: &Session) -> Result<(), StoreError> {
    // Expired sessions (and any one-time message they kept) go as new ones come.
    sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(micros(session.created_at))
        .execute(store.fresh())
        .await
        .map_err(backend)?;
    sqlx::query(
        "INSERT INTO sessions (token_hash, org_id, member_id, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&session.token_hash[..])
    .bind(session.org_id.as_str())
    .bind(session.member_id.as_str())
    .bind(micros(session.created_at))
    .bind(micros(session.expires_at))
    .execute(store.fresh())
    .await
    .map_err(backend)?;
    Ok(())
}

pub(super) async fn get_session(
    store: &Backend,
    token_hash: &[u8; 32],
    now: DateTime<Utc>,
) -> Result<Option<Session>, StoreError> {
    let row = sqlx::query("SELECT * FROM sessions WHERE token_hash = $1 AND expires_at > $2")
        .bind(&token_hash[..])
        .bind(micros(now))
        .fetch_optional(store.fresh())
        .await
        .map_err(backend)?;
    row.as_ref().map(rows::session).transpose()
}

pub(super) async fn delete_session(
    store: &Backend,
    token_hash: &[u8; 32],
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(&token_hash[..])
        .execute(store.fresh())
        .await
        .map_err(backend)?;
    Ok(())
}

pub(super) async fn delete_member_sessions(
    store: &Backend,
    member: &MemberId,
    keep: Option<&[u8; 32]>,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM sessions WHERE member_id = $1 AND token_hash IS DISTINCT FROM $2")
        .bind(member.as_str())
        .bind(keep.map(|k| k.to_vec()))
        .execute(store.fresh())
        .await
        .map_err(backend)?;
    Ok(())
}

pub(super) async fn set_session_flash(
    store: &Backend,
    token_hash: &[u8; 32],
    sealed: &[u8],
) -> Result<(), StoreError> {
    sqlx::query("UPDATE sessions SET flash = $1 WHERE token_hash = $2")
        .bind(sealed)
        .bind(&token_hash[..])
        .execute(store.fresh())
        .await
        .map_err(backend)?;
    Ok(())
}

pub(super) async fn take_session_flash(
    store: &Backend,
    token_hash: &[u8; 32],
) -> Result<Option<Vec<u8>>, StoreError> {
    // In one transaction that holds the row: two tabs cannot both read
    // the message.
    let mut tx = store.begin().await?;
    let read = format!("SELECT flash FROM sessions WHERE token_hash = $1{FOR_UPDATE}");
    let flash: Option<Option<Vec<u8>>> = sqlx::query_scalar(&read)
        .bind(&token_hash[..])
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
    sqlx::query("UPDATE sessions SET flash = NULL WHERE token_hash = $1")
        .bind(&token_hash[..])
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    tx.commit().await?;
    Ok(flash.flatten())
}

/// Fails the transaction when it left the organization without an owner.
async fn require_an_owner(tx: &mut Conn, org: &OrgId) -> Result<(), StoreError> {
    let owners: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM members WHERE org_id = $1 AND role = 'owner'")
            .bind(org.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
    if owners == 0 {
        return Err(StoreError::Conflict(LAST_OWNER.to_owned()));
    }
    Ok(())
}

async fn write_member(tx: &mut Conn, member: &Member) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO members (id, org_id, email, name, role, password_hash, created_at, must_change_password)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(member.id.as_str())
    .bind(member.org_id.as_str())
    .bind(&member.email)
    .bind(&member.name)
    .bind(member.role.as_str())
    .bind(&member.password_hash)
    .bind(micros(member.created_at))
    .bind(member.must_change_password)
    .execute(&mut *tx)
    .await
    .map_err(|e| unique_as_conflict(e, EMAIL_TAKEN))?;
    Ok(())
}

pub(super) async fn insert_owner(tx: &mut Conn, member: &Member) -> Result<(), StoreError> {
    write_member(tx, member).await
}

async fn set_team_members(tx: &mut Conn, team: &Team) -> Result<(), StoreError> {
    for member in &team.members {
        // Only members of the team's own organization can join it.
        let done = sqlx::query(
            "INSERT INTO team_members (team_id, member_id)
             SELECT $1, id FROM members WHERE org_id = $2 AND id = $3",
        )
        .bind(team.id.as_str())
        .bind(team.org_id.as_str())
        .bind(member.as_str())
        .execute(&mut *tx)
        .await
        .map_err(|e| unique_as_conflict(e, "a member is listed twice"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!("no member {member}")));
        }
    }
    Ok(())
}

//! The PostgreSQL backend, for deployments that outgrow one file or run
//! several Keyward nodes against one database.
//!
//! It mirrors the SQLite backend statement for statement. What SQLite gets
//! from its single writer, ordered audit appends, comes here from a
//! per-organization advisory lock taken at the start of every write
//! transaction (see `audit.rs`); everything else is plain `READ COMMITTED`
//! with the same optimistic version checks and unique constraints.

mod audit;
mod keys;
mod notify;
mod orgs;
mod people;
mod rows;
mod usage;

use crate::{backend, is_unique_violation};
use audit::OrgTx;
use chrono::{DateTime, Utc};
use keyward_core::audit::{AuditContext, AuditEvent, NewEvent};
use keyward_core::events;
use keyward_core::id::{KeyId, MemberId, OrgId, ProjectId, TeamId};
use keyward_core::key_format::KeyHash;
use keyward_core::model::{KeyRecord, Member, Organization, Project, Session, Team};
use keyward_core::store::{
    AuditQuery, IdempotentResponse, KeyChange, KeyQuery, NewOrganization, Store, StoreError,
    StoredHashes,
};
use keyward_core::usage::{UsageBatch, UsageCount};
use rows::micros;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections per node; PostgreSQL's default `max_connections` of 100
/// leaves room for several nodes and the operator's own sessions.
const MAX_CONNECTIONS: u32 = 10;
/// How long a request waits for a free connection (or a new one) before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `ping` (behind `/readyz`) waits for an answer.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// Keyward's data in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to a `postgres://` or `postgresql://` URL and migrates the database.
    pub async fn open(url: &str) -> Result<Self, sqlx::Error> {
        Self::open_with(PgConnectOptions::from_str(url)?).await
    }

    /// Connects with `options` and migrates the database. Migrations take
    /// PostgreSQL's migration lock, so nodes starting together apply them once.
    pub async fn open_with(options: PgConnectOptions) -> Result<Self, sqlx::Error> {
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .idle_timeout(Duration::from_secs(600))
            .connect_with(options.application_name("keyward"))
            .await?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| sqlx::Error::Migrate(Box::new(e)))?;
        Ok(Self { pool })
    }

    async fn begin(&self, org: &OrgId) -> Result<OrgTx, StoreError> {
        OrgTx::begin(&self.pool, org).await
    }
}

#[async_trait::async_trait]
impl Store for PgStore {
    async fn ping(&self) -> Result<(), StoreError> {
        let answer =
            tokio::time::timeout(PING_TIMEOUT, sqlx::query("SELECT 1").execute(&self.pool));
        match answer.await {
            Ok(result) => result.map(drop).map_err(backend),
            Err(_) => Err(backend(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the database did not answer in time",
            ))),
        }
    }

    #[tracing::instrument(skip_all, fields(org = %new.org.id))]
    async fn create_organization(
        &self,
        new: &NewOrganization,
        ctx: &AuditContext,
    ) -> Result<(), StoreError> {
        orgs::create(&self.pool, new, ctx).await
    }

    async fn list_organizations(&self) -> Result<Vec<Organization>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, default_project_id, created_at FROM organizations ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(rows::organization).collect()
    }

    async fn get_organization(&self, org: &OrgId) -> Result<Option<Organization>, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, default_project_id, created_at FROM organizations WHERE id = $1",
        )
        .bind(org.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.as_ref().map(rows::organization).transpose()
    }

    #[tracing::instrument(skip_all, fields(org = %project.org_id, project = %project.id))]
    async fn create_project(
        &self,
        project: &Project,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin(&project.org_id).await?;
        orgs::insert_project(tx.conn(), project).await?;
        audit::append(&mut tx, ctx, event).await?;
        tx.commit().await
    }

    async fn list_projects(&self, org: &OrgId) -> Result<Vec<Project>, StoreError> {
        let rows = sqlx::query("SELECT * FROM projects WHERE org_id = $1 ORDER BY created_at, id")
            .bind(org.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(rows::project).collect()
    }

    async fn get_project(
        &self,
        org: &OrgId,
        id: &ProjectId,
    ) -> Result<Option<Project>, StoreError> {
        let row = sqlx::query("SELECT * FROM projects WHERE org_id = $1 AND id = $2")
            .bind(org.as_str())
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(rows::project).transpose()
    }

    #[tracing::instrument(skip_all, fields(org = %project.org_id, project = %project.id))]
    async fn update_project(
        &self,
        project: &Project,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin(&project.org_id).await?;
        let done = sqlx::query(
            "UPDATE projects SET name = $1, key_prefix = $2, apis = $3, updated_at = $4
             WHERE org_id = $5 AND id = $6",
        )
        .bind(&project.name)
        .bind(project.key_prefix.as_str())
        .bind(rows::json(&project.apis)?)
        .bind(micros(project.updated_at))
        .bind(project.org_id.as_str())
        .bind(project.id.as_str())
        .execute(tx.conn())
        .await
        .map_err(|e| unique_as_conflict(e, "a project with this name already exists"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        audit::append(&mut tx, ctx, event).await?;
        tx.commit().await
    }

    #[tracing::instrument(skip_all, fields(org = %key.org_id, key = %key.id))]
    async fn insert_key(
        &self,
        key: &KeyRecord,
        idempotent: Option<&IdempotentResponse>,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin(&key.org_id).await?;
        if let Some(response) = idempotent {
            keys::store_idempotent(tx.conn(), response).await?;
        }
        keys::insert(tx.conn(), key).await?;
        audit::append(&mut tx, ctx, event).await?;
        tx.commit().await
    }

    async fn get_key(&self, org: &OrgId, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM api_keys WHERE org_id = $1 AND id = $2")
            .bind(org.as_str())
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(rows::key).transpose()
    }

    async fn find_key_by_hash(&self, hash: &KeyHash) -> Result<Option<KeyRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT * FROM api_keys WHERE hash = $1
             UNION ALL
             SELECT * FROM api_keys WHERE previous_hash = $1
             LIMIT 1",
        )
        .bind(&hash.0[..])
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.as_ref().map(rows::key).transpose()
    }

    async fn stored_hashes(&self, after: Option<u64>) -> Result<StoredHashes, StoreError> {
        keys::stored_hashes(&self.pool, after).await
    }

    async fn list_keys(&self, org: &OrgId, query: &KeyQuery) -> Result<Vec<KeyRecord>, StoreError> {
        keys::list(&self.pool, org, query).await
    }

    #[tracing::instrument(skip_all, fields(org = %key.org_id, key = %key.id))]
    async fn update_key(
        &self,
        key: &KeyRecord,
        expected_version: i64,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin(&key.org_id).await?;
        keys::update(tx.conn(), key, expected_version).await?;
        notify::announce(tx.conn(), &key.id).await?;
        audit::append(&mut tx, ctx, event).await?;
        tx.commit().await
    }

    #[tracing::instrument(skip_all, fields(org = %key.org_id, key = %key.id))]
    async fn archive_key(
        &self,
        key: &KeyRecord,
        expected_version: i64,
        keep: u32,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<Vec<KeyRecord>, StoreError> {
        let mut tx = self.begin(&key.org_id).await?;
        keys::update(tx.conn(), key, expected_version).await?;
        audit::append(&mut tx, ctx, event).await?;
        notify::announce(tx.conn(), &key.id).await?;
        let purged = keys::purge_archived(tx.conn(), &key.org_id, keep).await?;
        for old in &purged {
            notify::announce(tx.conn(), &old.id).await?;
            let event = events::key_purged(old, keep);
            audit::append(&mut tx, ctx, event).await?;
        }
        tx.commit().await?;
        Ok(purged)
    }

    async fn watch_key_changes(
        &self,
    ) -> Result<Option<tokio::sync::mpsc::Receiver<KeyChange>>, StoreError> {
        notify::watch(&self.pool).await.map(Some)
    }

    async fn record_usage(&self, batch: &UsageBatch) -> Result<(), StoreError> {
        usage::record(&self.pool, batch).await
    }

    async fn key_usage(
        &self,
        org: &OrgId,
        key: &KeyId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<UsageCount>, StoreError> {
        usage::counts(&self.pool, org, key, from, to).await
    }

    async fn get_idempotent(
        &self,
        org: &OrgId,
        key: &str,
    ) -> Result<Option<IdempotentResponse>, StoreError> {
        let row = sqlx::query("SELECT * FROM idempotency WHERE org_id = $1 AND key = $2")
            .bind(org.as_str())
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(rows::idempotent).transpose()
    }

    async fn reveal_shared_secret(
        &self,
        org: &OrgId,
        ctx: &AuditContext,
    ) -> Result<(Vec<u8>, DateTime<Utc>), StoreError> {
        orgs::reveal_shared_secret(&self.pool, org, ctx).await
    }

    async fn rotate_shared_secret(
        &self,
        org: &OrgId,
        sealed: &[u8],
        now: DateTime<Utc>,
        ctx: &AuditContext,
    ) -> Result<(), StoreError> {
        orgs::rotate_shared_secret(&self.pool, org, sealed, now, ctx).await
    }

    async fn audit_events(
        &self,
        org: &OrgId,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        audit::page(&self.pool, org, after_seq, limit).await
    }

    async fn search_audit(
        &self,
        org: &OrgId,
        query: &AuditQuery,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        audit::search(&self.pool, org, query).await
    }

    async fn append_audit(
        &self,
        org: &OrgId,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<AuditEvent, StoreError> {
        let mut tx = self.begin(org).await?;
        let event = audit::append(&mut tx, ctx, event).await?;
        tx.commit().await?;
        Ok(event)
    }

    async fn list_members(&self, org: &OrgId) -> Result<Vec<Member>, StoreError> {
        self.list_members_impl(org).await
    }

    async fn get_member(&self, org: &OrgId, id: &MemberId) -> Result<Option<Member>, StoreError> {
        self.get_member_impl(org, id).await
    }

    async fn members_by_email(&self, email: &str) -> Result<Vec<Member>, StoreError> {
        self.members_by_email_impl(email).await
    }

    #[tracing::instrument(skip_all, fields(org = %member.org_id, member = %member.id))]
    async fn insert_member(
        &self,
        member: &Member,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        self.insert_member_impl(member, ctx, event).await
    }

    #[tracing::instrument(skip_all, fields(org = %member.org_id, member = %member.id))]
    async fn update_member(
        &self,
        member: &Member,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        self.update_member_impl(member, ctx, event).await
    }

    #[tracing::instrument(skip_all, fields(org = %member.org_id, member = %member.id))]
    async fn set_member_password(
        &self,
        member: &Member,
        keep: Option<&[u8; 32]>,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        self.set_member_password_impl(member, keep, ctx, event)
            .await
    }

    #[tracing::instrument(skip_all, fields(org = %org, member = %id))]
    async fn remove_member(
        &self,
        org: &OrgId,
        id: &MemberId,
        ctx: &AuditContext,
    ) -> Result<Vec<KeyId>, StoreError> {
        self.remove_member_impl(org, id, ctx).await
    }

    async fn list_teams(&self, org: &OrgId) -> Result<Vec<Team>, StoreError> {
        self.list_teams_impl(org).await
    }

    #[tracing::instrument(skip_all, fields(org = %team.org_id, team = %team.id))]
    async fn insert_team(
        &self,
        team: &Team,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        self.insert_team_impl(team, ctx, event).await
    }

    #[tracing::instrument(skip_all, fields(org = %team.org_id, team = %team.id))]
    async fn update_team(
        &self,
        team: &Team,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        self.update_team_impl(team, ctx, event).await
    }

    #[tracing::instrument(skip_all, fields(org = %org, team = %id))]
    async fn delete_team(
        &self,
        org: &OrgId,
        id: &TeamId,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        self.delete_team_impl(org, id, ctx, event).await
    }

    async fn insert_session(&self, session: &Session) -> Result<(), StoreError> {
        self.insert_session_impl(session).await
    }

    async fn get_session(
        &self,
        token_hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError> {
        self.get_session_impl(token_hash, now).await
    }

    async fn delete_session(&self, token_hash: &[u8; 32]) -> Result<(), StoreError> {
        self.delete_session_impl(token_hash).await
    }

    async fn delete_member_sessions(
        &self,
        member: &MemberId,
        keep: Option<&[u8; 32]>,
    ) -> Result<(), StoreError> {
        self.delete_member_sessions_impl(member, keep).await
    }

    async fn set_session_flash(
        &self,
        token_hash: &[u8; 32],
        sealed: &[u8],
    ) -> Result<(), StoreError> {
        self.set_session_flash_impl(token_hash, sealed).await
    }

    async fn take_session_flash(
        &self,
        token_hash: &[u8; 32],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.take_session_flash_impl(token_hash).await
    }
}

fn unique_as_conflict(error: sqlx::Error, message: &str) -> StoreError {
    if is_unique_violation(&error) {
        StoreError::Conflict(message.to_owned())
    } else {
        backend(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ping_fails_quickly_when_the_server_is_down() {
        // Nothing listens on port 1: connections are refused, and the pool
        // would retry them until its acquire timeout without the ping's own.
        let options = PgConnectOptions::new().host("127.0.0.1").port(1);
        let store = PgStore {
            pool: PgPoolOptions::new()
                .acquire_timeout(Duration::from_secs(30))
                .connect_lazy_with(options),
        };
        let started = std::time::Instant::now();
        assert!(matches!(store.ping().await, Err(StoreError::Backend(_))));
        assert!(started.elapsed() < PING_TIMEOUT + Duration::from_secs(1));
    }
}

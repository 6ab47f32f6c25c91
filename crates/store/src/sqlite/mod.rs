//! The embedded SQLite backend.
//!
//! One connection writes (SQLite serializes writers anyway; a single writer
//! makes every transaction start without `SQLITE_BUSY` races and keeps the
//! audit chain strictly ordered), a small pool reads. WAL mode lets readers
//! and the writer proceed together. Verification's own work runs on rusqlite
//! connections beside them: lookups by hash inline ([`lookup`]), and the
//! write-behind of usage on its own connection ([`usage::UsageWriter`]),
//! which waits its turn for the write lock.

mod audit;
mod backup;
mod keys;
mod lookup;
mod people;
mod rows;
mod usage;
mod write;

pub use backup::backup;

use crate::{backend, is_unique_violation};
use chrono::{DateTime, Utc};
use keyward_core::audit::{AuditContext, AuditEvent, NewEvent};
use keyward_core::events;
use keyward_core::id::{KeyId, MemberId, OrgId, ProjectId, TeamId};
use keyward_core::key_format::KeyHash;
use keyward_core::model::{KeyRecord, Member, Organization, Project, Session, Team};
use keyward_core::store::{
    AuditQuery, IdempotentResponse, KeyQuery, NewOrganization, Store, StoreError, StoredHashes,
};
use keyward_core::usage::{UsageBatch, UsageCount};
use rows::{micros, time};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row, SqliteConnection};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Keyward's data in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    reader: SqlitePool,
    writer: SqlitePool,
    /// Inline lookups by hash.
    lookups: std::sync::Arc<lookup::Lookups>,
    /// Usage written behind verification.
    usage: std::sync::Arc<usage::UsageWriter>,
    /// Whether the last write committed, for readiness.
    writes: std::sync::Arc<write::WriteHealth>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path` and migrates it.
    pub async fn open(path: &Path) -> Result<Self, sqlx::Error> {
        Self::with_options(SqliteConnectOptions::new().filename(path)).await
    }

    /// Opens a `sqlite://` URL and migrates it.
    pub async fn open_url(url: &str) -> Result<Self, sqlx::Error> {
        Self::with_options(SqliteConnectOptions::from_str(url)?).await
    }

    async fn with_options(options: SqliteConnectOptions) -> Result<Self, sqlx::Error> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let file = options.get_filename().to_path_buf();
        if file.as_os_str().is_empty() || file.as_os_str() == ":memory:" {
            // Each connection would see a database of its own.
            return Err(sqlx::Error::Configuration(
                "an in-memory SQLite database is not supported: give a file".into(),
            ));
        }
        // The writer syncs every commit to disk before it is acknowledged: an
        // acknowledged revoke survives a power cut. Readers never write, and
        // usage batches (their own connection) stay cheaper.
        crate::files::create_private_file(&file).map_err(sqlx::Error::Io)?;
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone().synchronous(SqliteSynchronous::Full))
            .await?;
        MIGRATOR
            .run(&writer)
            .await
            .map_err(|e| sqlx::Error::Migrate(Box::new(e)))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        let open = |e: StoreError| sqlx::Error::Configuration(Box::new(e));
        let lookups = std::sync::Arc::new(lookup::Lookups::open(&file, 4).map_err(open)?);
        let usage = std::sync::Arc::new(usage::UsageWriter::open(&file).map_err(open)?);
        Ok(Self {
            reader,
            writer,
            lookups,
            usage,
            writes: std::sync::Arc::default(),
        })
    }

    async fn begin(&self) -> Result<write::WriteTx, StoreError> {
        write::WriteTx::begin(&self.writer, &self.writes).await
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn close(&self) -> Result<(), StoreError> {
        let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&self.writer)
            .await
            .map_err(backend)?;
        if busy != 0 {
            return Err(StoreError::Backend(
                "the write-ahead log could not be checkpointed: a reader held it".into(),
            ));
        }
        Ok(())
    }

    async fn check_writes(&self) -> Result<(), StoreError> {
        if !self.writes.failing() {
            return Ok(());
        }
        // The last write failed: only a write can tell whether space is back.
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO write_probe (id, at) VALUES (1, ?)
             ON CONFLICT (id) DO UPDATE SET at = excluded.at",
        )
        .bind(micros(chrono::Utc::now()))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await
    }

    #[tracing::instrument(skip_all, fields(org = %new.org.id))]
    async fn create_organization(
        &self,
        new: &NewOrganization,
        ctx: &AuditContext,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO organizations (id, name, default_project_id, created_at, shared_secret, shared_secret_rotated_at)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(new.org.id.as_str())
        .bind(&new.org.name)
        .bind(new.org.default_project_id.as_str())
        .bind(micros(new.org.created_at))
        .bind(&new.sealed_shared_secret)
        .bind(micros(new.org.created_at))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        let owner = &new.owner;
        people::insert_owner(&mut tx, owner).await?;
        let org = &new.org.id;
        audit::append(&mut tx, org, ctx, events::organization_created(&new.org)).await?;
        audit::append(&mut tx, org, ctx, events::member_added(owner)).await?;
        for project in [&new.default_project, &new.management_project] {
            insert_project(&mut tx, project).await?;
            audit::append(&mut tx, org, ctx, events::project_created(project)).await?;
        }
        keys::insert(&mut tx, &new.root_key).await?;
        audit::append(&mut tx, org, ctx, events::key_created(&new.root_key)).await?;
        tx.commit().await
    }

    async fn list_organizations(&self) -> Result<Vec<Organization>, StoreError> {
        let rows = sqlx::query("SELECT id, name, default_project_id, created_at FROM organizations ORDER BY created_at, id")
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?;
        rows.iter().map(rows::organization).collect()
    }

    async fn get_organization(&self, org: &OrgId) -> Result<Option<Organization>, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, default_project_id, created_at FROM organizations WHERE id = ?",
        )
        .bind(org.as_str())
        .fetch_optional(&self.reader)
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
        let mut tx = self.begin().await?;
        insert_project(&mut tx, project).await?;
        audit::append(&mut tx, &project.org_id, ctx, event).await?;
        tx.commit().await
    }

    async fn list_projects(&self, org: &OrgId) -> Result<Vec<Project>, StoreError> {
        let rows = sqlx::query("SELECT * FROM projects WHERE org_id = ? ORDER BY created_at, id")
            .bind(org.as_str())
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?;
        rows.iter().map(rows::project).collect()
    }

    async fn get_project(
        &self,
        org: &OrgId,
        id: &ProjectId,
    ) -> Result<Option<Project>, StoreError> {
        let row = sqlx::query("SELECT * FROM projects WHERE org_id = ? AND id = ?")
            .bind(org.as_str())
            .bind(id.as_str())
            .fetch_optional(&self.reader)
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
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE projects SET name = ?, key_prefix = ?, apis = ?, updated_at = ? WHERE org_id = ? AND id = ?",
        )
        .bind(&project.name)
        .bind(project.key_prefix.as_str())
        .bind(rows::json(&project.apis)?)
        .bind(micros(project.updated_at))
        .bind(project.org_id.as_str())
        .bind(project.id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(|e| unique_as_conflict(e, "a project with this name already exists"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        audit::append(&mut tx, &project.org_id, ctx, event).await?;
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
        let mut tx = self.begin().await?;
        if let Some(response) = idempotent {
            // Expired responses hold a sealed full key: drop them as soon as possible.
            sqlx::query("DELETE FROM idempotency WHERE org_id = ? AND expires_at <= ?")
                .bind(response.org_id.as_str())
                .bind(micros(response.created_at))
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            sqlx::query(
                "INSERT INTO idempotency (org_id, key, request_hash, status, sealed_body, created_at, expires_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(response.org_id.as_str())
            .bind(&response.key)
            .bind(&response.request_hash)
            .bind(i64::from(response.status))
            .bind(&response.sealed_body)
            .bind(micros(response.created_at))
            .bind(micros(response.expires_at))
            .execute(&mut *tx)
            .await
            .map_err(|e| unique_as_conflict(e, "idempotency key already used"))?;
        }
        keys::insert(&mut tx, key).await?;
        audit::append(&mut tx, &key.org_id, ctx, event).await?;
        tx.commit().await
    }

    async fn get_key(&self, org: &OrgId, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM api_keys WHERE org_id = ? AND id = ?")
            .bind(org.as_str())
            .bind(id.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?;
        row.as_ref().map(rows::key).transpose()
    }

    async fn find_key_by_hash(&self, hash: &KeyHash) -> Result<Option<KeyRecord>, StoreError> {
        self.lookups.find_by_hash(hash)
    }

    async fn stored_hashes(&self, after: Option<u64>) -> Result<StoredHashes, StoreError> {
        match after {
            // Only what was written since: a short indexed read, inline like
            // the lookups by hash.
            Some(_) => self.lookups.stored_hashes(after),
            // Every key: a scan of the table, kept off the runtime's workers.
            None => {
                let lookups = std::sync::Arc::clone(&self.lookups);
                tokio::task::spawn_blocking(move || lookups.stored_hashes(None))
                    .await
                    .map_err(backend)?
            }
        }
    }

    async fn list_keys(&self, org: &OrgId, query: &KeyQuery) -> Result<Vec<KeyRecord>, StoreError> {
        keys::list(&self.reader, org, query).await
    }

    #[tracing::instrument(skip_all, fields(org = %key.org_id, key = %key.id))]
    async fn update_key(
        &self,
        key: &KeyRecord,
        expected_version: i64,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        keys::update(&mut tx, key, expected_version).await?;
        audit::append(&mut tx, &key.org_id, ctx, event).await?;
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
        let mut tx = self.begin().await?;
        keys::update(&mut tx, key, expected_version).await?;
        audit::append(&mut tx, &key.org_id, ctx, event).await?;
        let purged = keys::purge_archived(&mut tx, &key.org_id, keep).await?;
        for old in &purged {
            let event = events::key_purged(old, keep);
            audit::append(&mut tx, &key.org_id, ctx, event).await?;
        }
        tx.commit().await?;
        Ok(purged)
    }

    async fn record_usage(&self, batch: &UsageBatch) -> Result<(), StoreError> {
        self.usage.record(batch).await
    }

    async fn key_usage(
        &self,
        org: &OrgId,
        key: &KeyId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<UsageCount>, StoreError> {
        usage::key_usage(&self.reader, org, key, from, to).await
    }

    async fn get_idempotent(
        &self,
        org: &OrgId,
        key: &str,
    ) -> Result<Option<IdempotentResponse>, StoreError> {
        let row = sqlx::query("SELECT * FROM idempotency WHERE org_id = ? AND key = ?")
            .bind(org.as_str())
            .bind(key)
            .fetch_optional(&self.writer)
            .await
            .map_err(backend)?;
        row.as_ref().map(rows::idempotent).transpose()
    }

    async fn reveal_shared_secret(
        &self,
        org: &OrgId,
        ctx: &AuditContext,
    ) -> Result<(Vec<u8>, DateTime<Utc>), StoreError> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "SELECT name, shared_secret, shared_secret_rotated_at FROM organizations WHERE id = ?",
        )
        .bind(org.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?
        .ok_or(StoreError::NotFound)?;
        let sealed: Vec<u8> = row.try_get("shared_secret").map_err(backend)?;
        let rotated_at = time(row.try_get("shared_secret_rotated_at").map_err(backend)?)?;
        let name: String = row.try_get("name").map_err(backend)?;
        let event = events::shared_secret("shared_secret.revealed", org, &name);
        audit::append(&mut tx, org, ctx, event).await?;
        tx.commit().await?;
        Ok((sealed, rotated_at))
    }

    async fn rotate_shared_secret(
        &self,
        org: &OrgId,
        sealed: &[u8],
        now: DateTime<Utc>,
        ctx: &AuditContext,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let name: String = sqlx::query_scalar(
            "UPDATE organizations SET shared_secret = ?, shared_secret_rotated_at = ? WHERE id = ? RETURNING name",
        )
        .bind(sealed)
        .bind(micros(now))
        .bind(org.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?
        .ok_or(StoreError::NotFound)?;
        audit::append(
            &mut tx,
            org,
            ctx,
            events::shared_secret("shared_secret.rotated", org, &name),
        )
        .await?;
        tx.commit().await
    }

    async fn audit_events(
        &self,
        org: &OrgId,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        audit::page(&self.reader, org, after_seq, limit).await
    }

    async fn search_audit(
        &self,
        org: &OrgId,
        query: &AuditQuery,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        audit::search(&self.reader, org, query).await
    }

    async fn append_audit(
        &self,
        org: &OrgId,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<AuditEvent, StoreError> {
        let mut tx = self.begin().await?;
        let event = audit::append(&mut tx, org, ctx, event).await?;
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

    async fn insert_member(
        &self,
        member: &Member,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        self.insert_member_impl(member, ctx, event).await
    }

    async fn update_member(
        &self,
        member: &Member,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        self.update_member_impl(member, ctx, event).await
    }

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

    async fn insert_team(
        &self,
        team: &Team,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        self.insert_team_impl(team, ctx, event).await
    }

    async fn update_team(
        &self,
        team: &Team,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        self.update_team_impl(team, ctx, event).await
    }

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

async fn insert_project(tx: &mut SqliteConnection, project: &Project) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO projects (id, org_id, name, key_prefix, apis, management, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(project.id.as_str())
    .bind(project.org_id.as_str())
    .bind(&project.name)
    .bind(project.key_prefix.as_str())
    .bind(rows::json(&project.apis)?)
    .bind(project.management)
    .bind(micros(project.created_at))
    .bind(micros(project.updated_at))
    .execute(&mut *tx)
    .await
    .map_err(|e| unique_as_conflict(e, "a project with this name already exists"))?;
    Ok(())
}

fn unique_as_conflict(error: sqlx::Error, message: &str) -> StoreError {
    if is_unique_violation(&error) {
        StoreError::Conflict(message.to_owned())
    } else {
        backend(error)
    }
}

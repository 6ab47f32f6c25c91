//! The [`Store`] trait, implemented once for both backends: each operation
//! is written in its module here (`orgs`, `keys`, `audit`, `people`), and
//! what a backend does its own way comes from its [`Specific`] impl.

use super::{Backend, audit, keys, orgs, people, reports};
use crate::Specific;
use chrono::{DateTime, Utc};
use keyward_core::audit::{AuditContext, AuditEvent, NewEvent};
use keyward_core::id::{KeyId, MemberId, OrgId, ProjectId, TeamId};
use keyward_core::key_format::KeyHash;
use keyward_core::model::{KeyRecord, Member, Organization, Project, Session, Team};
use keyward_core::store::{
    AuditQuery, IdempotentResponse, KeyChange, KeyQuery, NewOrganization, Store, StoreError,
    StoredHashes,
};
use keyward_core::usage::{UsageBatch, UsageCount, UsageTotal};

#[async_trait::async_trait]
impl Store for Backend {
    async fn ping(&self) -> Result<(), StoreError> {
        Specific::ping(self).await
    }

    async fn check_writes(&self) -> Result<(), StoreError> {
        Specific::check_writes(self).await
    }

    async fn close(&self) -> Result<(), StoreError> {
        Specific::close(self).await
    }

    async fn watch_key_changes(
        &self,
    ) -> Result<Option<tokio::sync::mpsc::Receiver<KeyChange>>, StoreError> {
        Specific::watch_key_changes(self).await
    }

    #[tracing::instrument(skip_all, fields(org = %new.org.id))]
    async fn create_organization(
        &self,
        new: &NewOrganization,
        ctx: &AuditContext,
    ) -> Result<(), StoreError> {
        orgs::create(self, new, ctx).await
    }

    async fn list_organizations(&self) -> Result<Vec<Organization>, StoreError> {
        orgs::list(self).await
    }

    async fn get_organization(&self, org: &OrgId) -> Result<Option<Organization>, StoreError> {
        orgs::get(self, org).await
    }

    #[tracing::instrument(skip_all, fields(org = %project.org_id, project = %project.id))]
    async fn create_project(
        &self,
        project: &Project,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        orgs::create_project(self, project, ctx, event).await
    }

    async fn list_projects(&self, org: &OrgId) -> Result<Vec<Project>, StoreError> {
        orgs::list_projects(self, org).await
    }

    async fn get_project(
        &self,
        org: &OrgId,
        id: &ProjectId,
    ) -> Result<Option<Project>, StoreError> {
        orgs::get_project(self, org, id).await
    }

    #[tracing::instrument(skip_all, fields(org = %project.org_id, project = %project.id))]
    async fn update_project(
        &self,
        project: &Project,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        orgs::update_project(self, project, ctx, event).await
    }

    #[tracing::instrument(skip_all, fields(org = %key.org_id, key = %key.id))]
    async fn insert_key(
        &self,
        key: &KeyRecord,
        idempotent: Option<&IdempotentResponse>,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        keys::create(self, key, idempotent, ctx, event).await
    }

    async fn get_key(&self, org: &OrgId, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
        keys::get(self, org, id).await
    }

    async fn find_key_by_hash(&self, hash: &KeyHash) -> Result<Option<KeyRecord>, StoreError> {
        Specific::find_key_by_hash(self, hash).await
    }

    async fn stored_hashes(&self, after: Option<u64>) -> Result<StoredHashes, StoreError> {
        Specific::stored_hashes(self, after).await
    }

    async fn list_keys(&self, org: &OrgId, query: &KeyQuery) -> Result<Vec<KeyRecord>, StoreError> {
        keys::list(self.reads(), org, query).await
    }

    #[tracing::instrument(skip_all, fields(org = %key.org_id, key = %key.id))]
    async fn update_key(
        &self,
        key: &KeyRecord,
        expected_version: i64,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        keys::save(self, key, expected_version, ctx, vec![event]).await
    }

    #[tracing::instrument(skip_all, fields(org = %key.org_id, key = %key.id))]
    async fn record_leak(
        &self,
        key: &KeyRecord,
        expected_version: i64,
        ctx: &AuditContext,
        events: Vec<NewEvent>,
    ) -> Result<(), StoreError> {
        keys::save(self, key, expected_version, ctx, events).await
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
        keys::archive(self, key, expected_version, keep, ctx, event).await
    }

    async fn record_usage(&self, batch: &UsageBatch) -> Result<(), StoreError> {
        Specific::record_usage(self, batch).await
    }

    async fn key_usage(
        &self,
        org: &OrgId,
        key: &KeyId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<UsageCount>, StoreError> {
        reports::key(self, org, key, from, to).await
    }

    async fn org_usage(
        &self,
        org: &OrgId,
        project: Option<&ProjectId>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<UsageTotal>, StoreError> {
        reports::organization(self, org, project, from, to).await
    }

    async fn top_keys(
        &self,
        org: &OrgId,
        project: Option<&ProjectId>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(KeyId, u64)>, StoreError> {
        reports::top_keys(self, org, project, from, to, limit).await
    }

    async fn get_idempotent(
        &self,
        org: &OrgId,
        key: &str,
    ) -> Result<Option<IdempotentResponse>, StoreError> {
        keys::get_idempotent(self, org, key).await
    }

    async fn reveal_shared_secret(
        &self,
        org: &OrgId,
        ctx: &AuditContext,
    ) -> Result<(Vec<u8>, DateTime<Utc>), StoreError> {
        orgs::reveal_shared_secret(self, org, ctx).await
    }

    async fn rotate_shared_secret(
        &self,
        org: &OrgId,
        sealed: &[u8],
        now: DateTime<Utc>,
        previous_until: DateTime<Utc>,
        ctx: &AuditContext,
    ) -> Result<(), StoreError> {
        orgs::rotate_shared_secret(self, org, sealed, now, previous_until, ctx).await
    }

    async fn audit_events(
        &self,
        org: &OrgId,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        audit::page(self.reads(), org, after_seq, limit).await
    }

    async fn search_audit(
        &self,
        org: &OrgId,
        query: &AuditQuery,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        audit::search(self.reads(), org, query).await
    }

    async fn append_audit(
        &self,
        org: &OrgId,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<AuditEvent, StoreError> {
        audit::append_alone(self, org, ctx, event).await
    }

    async fn list_members(&self, org: &OrgId) -> Result<Vec<Member>, StoreError> {
        people::list_members(self, org).await
    }

    async fn get_member(&self, org: &OrgId, id: &MemberId) -> Result<Option<Member>, StoreError> {
        people::get_member(self, org, id).await
    }

    async fn members_by_email(&self, email: &str) -> Result<Vec<Member>, StoreError> {
        people::members_by_email(self, email).await
    }

    #[tracing::instrument(skip_all, fields(org = %member.org_id, member = %member.id))]
    async fn insert_member(
        &self,
        member: &Member,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        people::insert_member(self, member, ctx, event).await
    }

    #[tracing::instrument(skip_all, fields(org = %member.org_id, member = %member.id))]
    async fn update_member(
        &self,
        member: &Member,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        people::update_member(self, member, ctx, event).await
    }

    #[tracing::instrument(skip_all, fields(org = %member.org_id, member = %member.id))]
    async fn set_member_password(
        &self,
        member: &Member,
        keep: Option<&[u8; 32]>,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        people::set_member_password(self, member, keep, ctx, event).await
    }

    #[tracing::instrument(skip_all, fields(org = %org, member = %id))]
    async fn remove_member(
        &self,
        org: &OrgId,
        id: &MemberId,
        ctx: &AuditContext,
    ) -> Result<Vec<KeyId>, StoreError> {
        people::remove_member(self, org, id, ctx).await
    }

    async fn list_teams(&self, org: &OrgId) -> Result<Vec<Team>, StoreError> {
        people::list_teams(self, org).await
    }

    #[tracing::instrument(skip_all, fields(org = %team.org_id, team = %team.id))]
    async fn insert_team(
        &self,
        team: &Team,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        people::insert_team(self, team, ctx, event).await
    }

    #[tracing::instrument(skip_all, fields(org = %team.org_id, team = %team.id))]
    async fn update_team(
        &self,
        team: &Team,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        people::update_team(self, team, ctx, event).await
    }

    #[tracing::instrument(skip_all, fields(org = %org, team = %id))]
    async fn delete_team(
        &self,
        org: &OrgId,
        id: &TeamId,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError> {
        people::delete_team(self, org, id, ctx, event).await
    }

    async fn insert_session(&self, session: &Session) -> Result<(), StoreError> {
        people::insert_session(self, session).await
    }

    async fn get_session(
        &self,
        token_hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError> {
        people::get_session(self, token_hash, now).await
    }

    async fn delete_session(&self, token_hash: &[u8; 32]) -> Result<(), StoreError> {
        people::delete_session(self, token_hash).await
    }

    async fn delete_member_sessions(
        &self,
        member: &MemberId,
        keep: Option<&[u8; 32]>,
    ) -> Result<(), StoreError> {
        people::delete_member_sessions(self, member, keep).await
    }

    async fn set_session_flash(
        &self,
        token_hash: &[u8; 32],
        sealed: &[u8],
    ) -> Result<(), StoreError> {
        people::set_session_flash(self, token_hash, sealed).await
    }

    async fn take_session_flash(
        &self,
        token_hash: &[u8; 32],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        people::take_session_flash(self, token_hash).await
    }
}

//! The storage of what Keyward tells the outside world: webhook endpoints,
//! their message outbox and deliveries, the organization's key policy, and
//! the scheduled notices (`key.expiring`, `key.expired`, `key.stale`,
//! `key.quota_exhausted`) that must fire once each.
//!
//! Messages are not written by callers: the audit log is the outbox. A
//! change commits with its audit event; `dispatch_events` turns the events
//! that are webhook events into deliveries for the enabled endpoints that
//! subscribe to them, following each organization's log from a cursor. So a
//! change and its message cannot part: a rolled-back change has no event.

use crate::audit::{AuditContext, NewEvent};
use crate::id::{DeliveryId, EventId, KeyId, OrgId, WebhookId};
use crate::model::KeyRecord;
use crate::org_policy::KeyPolicy;
use crate::store::StoreError;
use crate::webhooks::{Claimed, Delivery, Due, Endpoint, Finished};
use chrono::{DateTime, Utc};

/// The organization's shared secret as sealed in storage, and the previous
/// one while its grace period after a rotation runs.
#[derive(Debug, Clone)]
pub struct SealedSecrets {
    /// The current secret, sealed.
    pub current: Vec<u8>,
    /// The previous secret, sealed, and when it stops signing.
    pub previous: Option<(Vec<u8>, DateTime<Utc>)>,
}

/// A page of an endpoint's deliveries, newest first.
#[derive(Debug, Clone)]
pub struct DeliveryQuery {
    /// Deliveries created before this one (the cursor).
    pub before: Option<DeliveryId>,
    /// At most this many, plus one to tell whether there is a next page.
    pub limit: u32,
    /// Only the deliveries of the message reporting this audit event.
    pub event: Option<EventId>,
}

/// Webhook endpoints and their deliveries.
#[async_trait::async_trait]
pub trait WebhookStore: Send + Sync {
    /// Adds an endpoint; audited. `Conflict` when the organization already
    /// has [`crate::webhooks::MAX_ENDPOINTS`].
    async fn create_webhook(
        &self,
        endpoint: &Endpoint,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError>;
    /// The organization's endpoints, oldest first.
    async fn list_webhooks(&self, org: &OrgId) -> Result<Vec<Endpoint>, StoreError>;
    /// One endpoint.
    async fn get_webhook(
        &self,
        org: &OrgId,
        id: &WebhookId,
    ) -> Result<Option<Endpoint>, StoreError>;
    /// Saves a changed endpoint if it is still at `expected_version`; audited.
    async fn update_webhook(
        &self,
        endpoint: &Endpoint,
        expected_version: i64,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError>;
    /// Deletes an endpoint and its deliveries; audited.
    async fn delete_webhook(
        &self,
        org: &OrgId,
        id: &WebhookId,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError>;
    /// Disables an endpoint that keeps failing (or answered 410), with its
    /// audit event `webhook.disabled` (which reaches the other endpoints).
    async fn disable_failing_webhook(
        &self,
        org: &OrgId,
        id: &WebhookId,
        reason: &str,
        ctx: &AuditContext,
    ) -> Result<(), StoreError>;

    /// One page of an endpoint's deliveries, newest first.
    async fn list_deliveries(
        &self,
        org: &OrgId,
        webhook: &WebhookId,
        query: &DeliveryQuery,
    ) -> Result<Vec<Delivery>, StoreError>;
    /// Queues the message of an earlier delivery again, as a new delivery
    /// due at `now`; `Conflict` while that delivery is still pending.
    async fn redeliver(
        &self,
        org: &OrgId,
        webhook: &WebhookId,
        delivery: &DeliveryId,
        now: DateTime<Utc>,
    ) -> Result<Delivery, StoreError>;

    /// Makes messages of the audit events not yet dispatched, of `org` or of
    /// every organization with endpoints, and queues them for the enabled
    /// endpoints that want them (a change commits with its audit event; this
    /// turns events into deliveries shortly after, in batches, each event
    /// once whichever node gets there first). Returns how many events it read.
    async fn dispatch_events(&self, org: Option<&OrgId>) -> Result<usize, StoreError>;
    /// Deliveries due at `now` whose lease is free and whose endpoint is
    /// enabled, soonest first: each the oldest pending delivery of its
    /// endpoint's queue (messages reach an endpoint in order).
    async fn due_deliveries(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<Due>, StoreError>;
    /// Takes the lease of a due delivery until `lease_until`, with up to
    /// `run - 1` deliveries queued behind it, in order, to be sent one after
    /// another under that lease (the bookkeeping of a backlog then costs two
    /// transactions per run, not per message). Empty when another worker
    /// holds the lease or the delivery is no longer due.
    async fn claim_delivery(
        &self,
        id: &DeliveryId,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        run: u32,
    ) -> Result<Vec<Claimed>, StoreError>;
    /// Records the attempts of a claimed run, in order (the first is the
    /// claimed delivery; the run's deliveries not sent stay queued), and
    /// releases the lease; when the last one ended, the next delivery of its
    /// queue becomes due. Does nothing when `owner` no longer holds the lease.
    async fn finish_attempts(&self, owner: &str, run: &[Finished]) -> Result<(), StoreError>;
    /// The shared secret(s) that sign the organization's deliveries at `now`.
    async fn signing_secrets(
        &self,
        org: &OrgId,
        now: DateTime<Utc>,
    ) -> Result<SealedSecrets, StoreError>;
}

/// The key policy and the notices it schedules.
#[async_trait::async_trait]
pub trait PolicyStore: Send + Sync {
    /// The organization's policy (the defaults until it is changed).
    async fn get_policy(&self, org: &OrgId) -> Result<KeyPolicy, StoreError>;
    /// Saves `after` if the stored policy is still `before` (`Changed`
    /// otherwise, so that concurrent edits cannot undo each other); audited.
    async fn update_policy(
        &self,
        org: &OrgId,
        before: &KeyPolicy,
        after: &KeyPolicy,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError>;
    /// Keys that are neither revoked nor archived and whose `expires_at`
    /// falls in `expiring`; at most `limit`, in id order after `after`. Read
    /// through the index on `(org_id, expires_at)`: the cost grows with the
    /// keys expiring, not with all the organization's keys.
    async fn expiring_keys(
        &self,
        org: &OrgId,
        expiring: std::ops::Range<DateTime<Utc>>,
        after: Option<&KeyId>,
        limit: u32,
    ) -> Result<Vec<KeyRecord>, StoreError>;
    /// Records the notice `notice` of `key` once: appends `event` (and
    /// saves `disable`, a changed copy of the key at its version, with its
    /// own event) unless the notice was recorded before, by this node or
    /// another. True when this call recorded it.
    async fn record_notice(
        &self,
        org: &OrgId,
        key: &KeyId,
        notice: &str,
        ctx: &AuditContext,
        event: NewEvent,
        disable: Option<(&KeyRecord, i64, NewEvent)>,
    ) -> Result<bool, StoreError>;
}

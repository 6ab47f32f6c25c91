//! Email: key notices mailed to the people responsible for a key, and the
//! audit log export mailed to whoever asked for it.
//!
//! Messages wait in a durable queue in storage ([`MailStore`]). Notices are
//! not written by callers: as for webhooks, the audit log is the outbox, and
//! `dispatch_notices` turns each notice event into one message per recipient
//! while it moves the organization's cursor past the event. The server's
//! mail worker renders and sends them over SMTP. Nothing here does I/O.

use crate::audit::{AuditContext, NewEvent};
use crate::id::{EventId, MemberId, OrgId};
use crate::model::MemberRole;
use crate::store::StoreError;
use chrono::{DateTime, Duration, Utc};

/// The events mailed as key notices (also webhook events).
pub const NOTICE_EVENTS: &[&str] = &["key.expiring", "key.expired", "key.leaked", "key.stale"];

/// A notice event older than this when it is dispatched is not mailed: a
/// server that ran without email for a while does not send a backlog of
/// old news when email is turned on.
pub const NOTICE_MAX_AGE: Duration = Duration::hours(24);

/// Waits between attempts at a message the SMTP server did not take for
/// good, in seconds (about 45 hours in all); then it is given up.
pub const RETRY_DELAYS: &[i64] = &[
    60,
    5 * 60,
    30 * 60,
    2 * 3600,
    6 * 3600,
    12 * 3600,
    24 * 3600,
];

/// Most exports by email of one organization waiting to be sent.
pub const MAX_PENDING_EXPORTS: u32 = 5;

/// How long the link to an export too large to attach works.
pub const EXPORT_LINK_LIFETIME: Duration = Duration::hours(24);

/// True when `action` is mailed as a key notice.
pub fn is_notice(action: &str) -> bool {
    NOTICE_EVENTS.contains(&action)
}

/// Whether a member gets the notices of a key created by `key_owner`: the
/// organization's owners and admins, and the member who owns the key,
/// unless they turned notice emails off.
pub fn receives_notice(
    member: &MemberId,
    role: MemberRole,
    opted_out: bool,
    key_owner: &str,
) -> bool {
    !opted_out
        && (matches!(role, MemberRole::Owner | MemberRole::Admin) || member.as_str() == key_owner)
}

/// What a queued message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// A key notice; its payload is the event's webhook payload.
    Notice,
    /// The audit export; its payload is the request ([`crate::email`]'s
    /// callers define it), and it covers the events before `audit_seq`.
    AuditExport,
}

impl MailKind {
    /// The name used in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Notice => "notice",
            Self::AuditExport => "audit_export",
        }
    }

    /// Inverse of [`MailKind::as_str`].
    pub fn from_name(s: &str) -> Option<Self> {
        [Self::Notice, Self::AuditExport]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// An export by email to queue with the audit event of its request.
#[derive(Debug, Clone)]
pub struct NewExportMail {
    /// Who receives it.
    pub member: MemberId,
    /// Their address.
    pub recipient: String,
    /// The request (format and filters), as JSON.
    pub payload: String,
}

/// A message a worker leased, to send.
#[derive(Debug, Clone)]
pub struct QueuedMail {
    /// Its id (`mail_…`).
    pub id: String,
    /// The organization.
    pub org_id: OrgId,
    /// Notice or export.
    pub kind: MailKind,
    /// The audit event it reports (a notice) or that requested it (an export).
    pub event_id: EventId,
    /// That event's place in the log.
    pub audit_seq: i64,
    /// The recipient.
    pub member_id: MemberId,
    /// The recipient as they are now; `None` when they are no longer a
    /// member. Whether they may still receive it is decided again at sending.
    pub recipient: Option<Recipient>,
    /// See [`MailKind`].
    pub payload: String,
    /// Attempts made before this one.
    pub attempts: u32,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
}

/// A message's recipient as they are when it is sent.
#[derive(Debug, Clone)]
pub struct Recipient {
    /// Their address.
    pub email: String,
    /// Their role.
    pub role: MemberRole,
    /// They turned notice emails off.
    pub opted_out: bool,
}

/// How an attempt at a message ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailResult {
    /// The SMTP server took it.
    Sent,
    /// It failed for now; try again then.
    RetryAt(DateTime<Utc>),
    /// It failed for good (a permanent rejection, or the last attempt).
    Failed,
}

/// An attempt at a message, to record.
#[derive(Debug, Clone)]
pub struct MailAttempt {
    /// When it ended.
    pub at: DateTime<Utc>,
    /// How.
    pub result: MailResult,
    /// Why it failed, when it did (the SMTP server's reply, or the error).
    pub error: Option<String>,
}

/// A one-time link to an export too large to attach.
#[derive(Debug, Clone)]
pub struct ExportLink {
    /// SHA-256 of the token in the link.
    pub token_hash: [u8; 32],
    /// The organization.
    pub org_id: OrgId,
    /// The message that carried the link.
    pub message_id: String,
    /// The export request, as in the message.
    pub payload: String,
    /// The export covers the events before this one.
    pub audit_seq: i64,
    /// When the link was made.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// The queue of messages, and the members' choice about notices.
#[async_trait::async_trait]
pub trait MailStore: Send + Sync {
    /// Appends `event` (the request of an export by email) and queues the
    /// export, due at once, in one transaction. Returns the event's `seq`.
    /// `Conflict` when the organization already has
    /// [`MAX_PENDING_EXPORTS`] waiting.
    async fn queue_export(
        &self,
        org: &OrgId,
        ctx: &AuditContext,
        event: NewEvent,
        mail: NewExportMail,
    ) -> Result<i64, StoreError>;

    /// Queues one message per recipient for each notice event not yet
    /// dispatched, of `org` or of every organization behind, and moves
    /// each organization's cursor past the events it read. Events older
    /// than [`NOTICE_MAX_AGE`] at `now` are passed over. Returns how many
    /// events it read.
    async fn dispatch_notices(
        &self,
        org: Option<&OrgId>,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError>;

    /// Messages due at `now` whose lease is free, soonest first.
    async fn due_mail(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<String>, StoreError>;

    /// Takes the lease of a due message until `lease.end`; `None` when
    /// another worker holds it or it is no longer due.
    async fn claim_mail(
        &self,
        id: &str,
        owner: &str,
        lease: std::ops::Range<DateTime<Utc>>,
    ) -> Result<Option<QueuedMail>, StoreError>;

    /// Records an attempt and releases the lease, with `event` (the sending
    /// of an export is audited) in the same transaction. Does nothing when
    /// `owner` no longer holds the lease.
    async fn finish_mail(
        &self,
        mail: &QueuedMail,
        owner: &str,
        attempt: &MailAttempt,
        event: Option<(&AuditContext, NewEvent)>,
    ) -> Result<(), StoreError>;

    /// Stores a one-time link to an export.
    async fn create_export_link(&self, link: &ExportLink) -> Result<(), StoreError>;

    /// The link whose token hashes to `token_hash`, if it exists, was not
    /// used and has not expired at `now` (a read: nothing is locked).
    async fn find_export_link(
        &self,
        token_hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<Option<ExportLink>, StoreError>;

    /// Marks the link used and appends `event` (its download), in one
    /// transaction; false when it was used or expired meanwhile.
    async fn use_export_link(
        &self,
        link: &ExportLink,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<bool, StoreError>;

    /// Whether the member receives notice emails (true unless turned off).
    async fn notice_emails(&self, org: &OrgId, member: &MemberId) -> Result<bool, StoreError>;

    /// Turns the member's notice emails on or off; audited.
    async fn set_notice_emails(
        &self,
        org: &OrgId,
        member: &MemberId,
        on: bool,
        ctx: &AuditContext,
        event: NewEvent,
    ) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_admins_and_the_keys_owner_get_notices_unless_they_opted_out() {
        let member = MemberId::generate().unwrap();
        let other = MemberId::generate().unwrap();
        for role in [MemberRole::Owner, MemberRole::Admin] {
            assert!(receives_notice(&member, role, false, other.as_str()));
            assert!(!receives_notice(&member, role, true, other.as_str()));
        }
        for role in [
            MemberRole::Support,
            MemberRole::Analytics,
            MemberRole::Member,
        ] {
            assert!(!receives_notice(&member, role, false, other.as_str()));
            assert!(receives_notice(&member, role, false, member.as_str()));
            assert!(!receives_notice(&member, role, true, member.as_str()));
        }
    }

    #[test]
    fn kinds_round_trip_and_only_notices_are_mailed() {
        for kind in [MailKind::Notice, MailKind::AuditExport] {
            assert_eq!(MailKind::from_name(kind.as_str()), Some(kind));
        }
        assert_eq!(MailKind::from_name("other"), None);
        assert!(is_notice("key.leaked"));
        assert!(!is_notice("key.created"));
        assert!(!is_notice("key.quota_exhausted"));
    }
}

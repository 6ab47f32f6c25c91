//! The mail worker: sends the messages waiting in storage's queue.
//!
//! Every node runs one when an SMTP server is configured. It wakes every
//! poll interval (at once when this node queued an export), turns the notice
//! events committed since its last look into messages
//! (`MailStore::dispatch_notices`), then leases each due message, builds it
//! (a notice from its event's payload, an export from the audit log) and
//! sends it. A message the server did not take is tried again on the retry
//! schedule; a permanent rejection (a 5xx reply) or the schedule's end
//! records it as failed. The lease outlives an attempt, so no other node
//! sends the same message meanwhile; a node that dies mid-attempt leaves the
//! lease to run out, and the message is sent again (at least once).

mod export;
mod messages;
pub mod smtp;

pub use export::ExportRequest;

use crate::state::AppState;
use chrono::Duration;
use keyward_core::audit::{AuditContext, NewEvent, Target};
use keyward_core::email::{MailAttempt, MailKind, MailResult, QueuedMail};
use keyward_core::webhooks;
use serde_json::{Value, json};
use smtp::Mailer;
use tokio::sync::watch;

/// Messages read per look.
const BATCH: u32 = 32;
/// How long a worker holds a message: well beyond one SMTP conversation's
/// time limit and the building of an export.
const LEASE: Duration = Duration::minutes(10);
/// The system actor of the audit events of sending exports.
const ACTOR: &str = "keyward mail";

/// Why a message was not sent.
#[derive(Debug)]
pub enum Failure {
    /// Worth another attempt (the server was down, storage failed).
    Retry(String),
    /// Not worth one (a 5xx reply, a message that cannot be built).
    Permanent(String),
    /// Not to be sent any more: the recipient left, was demoted or opted
    /// out since it was queued (recorded as failed, counted as `skipped`).
    Skipped(String),
}

/// Runs the worker until `shutdown` turns true; does nothing without SMTP.
pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let Some(config) = state.settings.email.smtp.clone() else {
        return;
    };
    let mailer = match Mailer::new(&config) {
        Ok(mailer) => mailer,
        Err(error) => {
            tracing::error!(%error, "the SMTP client could not start; no email is sent");
            return;
        }
    };
    let owner = match keyward_core::base62::random(16) {
        Ok(random) => format!("node_{random}"),
        Err(error) => {
            tracing::error!(%error, "no email is sent");
            return;
        }
    };
    loop {
        if let Err(error) = work(&state, &mailer, &owner, &shutdown).await {
            tracing::warn!(%error, "the mail queue could not be read; trying again");
        }
        tokio::select! {
            () = tokio::time::sleep(state.settings.email.poll_interval) => {}
            () = state.mail_wake.notified() => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// One look: queues new notices, then sends what is due. Returns how many
/// messages it attempted.
pub async fn work(
    state: &AppState,
    mailer: &Mailer,
    owner: &str,
    shutdown: &watch::Receiver<bool>,
) -> anyhow::Result<usize> {
    state
        .store
        .dispatch_notices(None, state.clock.now())
        .await?;
    let due = state.store.due_mail(state.clock.now(), BATCH).await?;
    let mut attempted = 0;
    for id in due {
        // Stopping waits for the message in hand only: the rest stay queued.
        if *shutdown.borrow() {
            break;
        }
        let now = state.clock.now();
        let Some(mail) = state.store.claim_mail(&id, owner, now..now + LEASE).await? else {
            continue;
        };
        attempted += 1;
        let (attempt, event) = attempt(state, mailer, &mail).await;
        let ctx = AuditContext::system(ACTOR, attempt.at);
        state
            .store
            .finish_mail(&mail, owner, &attempt, event.map(|e| (&ctx, e)))
            .await?;
    }
    Ok(attempted)
}

/// Builds and sends one message; returns how it went and, for an export,
/// the audit event of its sending (or of its failing for good).
async fn attempt(
    state: &AppState,
    mailer: &Mailer,
    mail: &QueuedMail,
) -> (MailAttempt, Option<NewEvent>) {
    let sent = send(state, mailer, mail).await;
    let now = state.clock.now();
    let attempts = mail.attempts + 1;
    let skipped = matches!(sent, Err(Failure::Skipped(_)));
    let (result, error, delivery) = match sent {
        Ok(delivery) => (MailResult::Sent, None, delivery),
        Err(Failure::Retry(error)) => {
            let retry = webhooks::next_attempt(
                &state.settings.email.retry_delays,
                attempts,
                now,
                crate::webhooks::jitter(),
                None,
            );
            let result = retry.map_or(MailResult::Failed, MailResult::RetryAt);
            (result, Some(error), Value::Null)
        }
        Err(Failure::Permanent(error) | Failure::Skipped(error)) => {
            (MailResult::Failed, Some(error), Value::Null)
        }
    };
    state.metrics.email(
        mail.kind.as_str(),
        match result {
            MailResult::Sent => "sent",
            MailResult::RetryAt(_) => "retrying",
            MailResult::Failed if skipped => "skipped",
            MailResult::Failed => "failed",
        },
    );
    match (&result, &error) {
        (MailResult::Sent, _) => {
            tracing::info!(mail = %mail.id, kind = mail.kind.as_str(), "email sent")
        }
        (MailResult::RetryAt(at), Some(error)) => {
            tracing::warn!(mail = %mail.id, %error, retry_at = %at, "email not sent; trying again later");
        }
        (_, error) => {
            tracing::error!(mail = %mail.id, error = error.as_deref().unwrap_or(""), "email not sent; giving up");
        }
    }
    let event = (mail.kind == MailKind::AuditExport)
        .then(|| export_event(mail, &result, error.as_deref(), delivery))
        .flatten();
    let attempt = MailAttempt {
        at: now,
        result,
        error,
    };
    (attempt, event)
}

/// Builds the message and hands it to the server; for an export, returns
/// what was sent (attachment or link).
async fn send(state: &AppState, mailer: &Mailer, mail: &QueuedMail) -> Result<Value, Failure> {
    let Some(recipient) = &mail.recipient else {
        return Err(Failure::Skipped(
            "the recipient is no longer a member of the organization".to_owned(),
        ));
    };
    // Decided again now: a member demoted or who opted out since the
    // message was queued no longer receives it.
    let (content, file, delivery) = match mail.kind {
        MailKind::Notice => {
            let content =
                messages::notice(&mail.payload, &mail.member_id, recipient, &state.public_url)
                    .map_err(Failure::Permanent)?
                    .ok_or_else(|| {
                        Failure::Skipped("the recipient no longer receives this notice".to_owned())
                    })?;
            (content, None, Value::Null)
        }
        MailKind::AuditExport => {
            if !crate::auth::role_holds(recipient.role, "audit:read") {
                return Err(Failure::Skipped(
                    "the recipient may no longer read the audit log".to_owned(),
                ));
            }
            export::prepare(state, mail, &recipient.email).await?
        }
    };
    let Some(config) = &state.settings.email.smtp else {
        return Err(Failure::Retry("email is not configured".to_owned()));
    };
    let message = messages::build(&config.from, &recipient.email, content, file)
        .map_err(Failure::Permanent)?;
    match mailer.send(message).await {
        Ok(()) => Ok(delivery),
        Err(error) if error.permanent => Err(Failure::Permanent(error.message)),
        Err(error) => Err(Failure::Retry(error.message)),
    }
}

/// The audit event of an export's email: `audit.export_emailed` once sent,
/// `audit.export_email_failed` once given up; nothing while it is retried.
fn export_event(
    mail: &QueuedMail,
    result: &MailResult,
    error: Option<&str>,
    delivery: Value,
) -> Option<NewEvent> {
    let (action, details) = match result {
        MailResult::Sent => ("audit.export_emailed", delivery),
        MailResult::Failed => ("audit.export_email_failed", json!({"error": error})),
        MailResult::RetryAt(_) => return None,
    };
    let after = json!({
        "request_event_id": mail.event_id,
        "to": mail.recipient.as_ref().map(|r| &r.email),
        "details": details,
    });
    Some(NewEvent {
        action: action.to_owned(),
        target: Target {
            kind: "audit_log".to_owned(),
            id: mail.org_id.to_string(),
            name: "audit log".to_owned(),
        },
        changes: match json!({"email": {"before": null, "after": after}}) {
            Value::Object(map) => map,
            _ => serde_json::Map::new(),
        },
    })
}

//! Keys reported as leaked: what a report says, and what it does to a key.
//!
//! A report comes from GitHub secret scanning (signed by GitHub) or from
//! anyone through `POST /v1/leaks`. Only the first report of a key's
//! current secret acts on it: the key records the leak, the organization's
//! `leak_action` revokes or disables it (or only reports it), and the audit
//! log gets `key.leaked` with actor `system`, which is also the webhook
//! event. A report of a previous secret still in its grace period ends that
//! grace period and nothing else; a report of a secret that no longer works,
//! or of a publishable key (public by design), does nothing.

use crate::audit::NewEvent;
use crate::error::{DomainError, Validation};
use crate::events::key_target;
use crate::fields::not_null;
use crate::key_format::{KeyHash, KeyType};
use crate::keys::{self, is_plain_text};
use crate::model::{KeyRecord, Leak, LeakSource};
use crate::org_policy::LeakAction;
use chrono::{DateTime, Utc};
use regex::Regex;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::borrow::Cow;
use std::sync::LazyLock;

/// Longest `source_url`.
const MAX_URL: usize = 2_048;
/// Longest `note`.
const MAX_NOTE: usize = 1_000;

/// Body of `POST /v1/leaks`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportLeak {
    /// The key found.
    pub key: String,
    /// Where it was found: an http(s) URL of at most 2048 characters.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, max_length = 2048)]
    pub source_url: Option<String>,
    /// Anything the reporter wants to add, at most 1000 characters.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, max_length = 1000)]
    pub note: Option<String>,
}

impl std::fmt::Debug for ReportLeak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportLeak")
            .field("source_url", &self.source_url)
            .finish_non_exhaustive()
    }
}

/// What a report says, besides the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeakReport {
    /// Who reported it.
    pub source: LeakSource,
    /// Where the key was found.
    pub url: Option<String>,
    /// More about where or how (GitHub's `source`, a reporter's note).
    pub details: Map<String, Value>,
}

impl ReportLeak {
    /// The report, or why its fields are refused (whatever the key is: the
    /// answer must not tell whether it exists).
    pub fn report(&self) -> Result<LeakReport, DomainError> {
        let mut v = Validation::default();
        let url = self
            .source_url
            .as_deref()
            .and_then(|url| v.check("source_url", check_url(url)));
        if let Some(note) = &self.note
            && (note.chars().count() > MAX_NOTE || !is_plain_text(note))
        {
            v.push(
                "note",
                format!("at most {MAX_NOTE} characters of text without control characters"),
            );
        }
        v.finish()?;
        let mut details = Map::new();
        if let Some(note) = &self.note {
            details.insert("note".to_owned(), json!(redact(note)));
        }
        Ok(LeakReport {
            source: LeakSource::Report,
            url,
            details,
        })
    }
}

/// A URL of where a key was found: http or https, short, without
/// credentials or keys in it. It is shown to administrators as text, never
/// fetched.
pub fn check_url(url: &str) -> Result<String, String> {
    let mut parsed = url::Url::parse(url).map_err(|_| "must be an http(s) URL".to_owned())?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("must be an http(s) URL".to_owned());
    }
    // Both always succeed for http(s) URLs.
    let _ = parsed.set_username("");
    let _ = parsed.set_password(None);
    if url.chars().count() > MAX_URL || parsed.as_str().len() > MAX_URL {
        return Err(format!("must be at most {MAX_URL} characters"));
    }
    Ok(redact(parsed.as_str()).into_owned())
}

/// Wider than [`crate::key_format::SCANNER_REGEX`]: a near-miss (a key with
/// a character more, or cut short) is redacted too.
static KEY_SHAPED: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new("[0-9A-Za-z]+_(?:sk|pk)_[0-9A-Za-z]{20,}").ok());

/// `text` with anything shaped like a key replaced: a reporter who pastes
/// the key into the note or the URL must not put it in the audit log and
/// the webhooks, where it would outlive the key's revocation.
pub fn redact(text: &str) -> Cow<'_, str> {
    match KEY_SHAPED.as_ref() {
        Some(shape) => shape.replace_all(text, "[redacted key]"),
        None => Cow::Owned(String::new()),
    }
}

/// Which of a key's secrets a report names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secret {
    /// The key's secret.
    Current,
    /// The secret it had before a regeneration, still in its grace period.
    Previous,
}

/// Which working secret of `record` the reported key (by its hash) is:
/// `None` for a previous secret whose grace period ended and for a
/// publishable key, which is public by design and no leak.
pub fn leaked_secret(record: &KeyRecord, hash: &KeyHash, now: DateTime<Utc>) -> Option<Secret> {
    if record.key_type == KeyType::Publishable {
        return None;
    }
    if record.hash.ct_eq(hash) {
        return Some(Secret::Current);
    }
    record
        .previous
        .filter(|previous| previous.hash.ct_eq(hash) && previous.expires_at > now)
        .map(|_| Secret::Previous)
}

/// What acting on a report did to a key, besides recording the leak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consequence {
    /// The key was revoked.
    Revoked,
    /// The key was disabled.
    Disabled,
    /// The reported secret was the previous one: its grace period ended.
    PreviousStopped,
    /// Nothing more: the policy says `notify`, or the key was already
    /// revoked or disabled.
    None,
}

/// Acts on a report of `secret` of `record`: ends a previous secret's
/// grace period, or records the first leak of the current secret and
/// applies `action` (a root key is revoked whatever the policy says: it
/// administers the organization). `None` when the key must not change: it
/// is archived, or a leak was recorded before (a key is acted on once,
/// however often it is reported).
pub fn act(
    record: &mut KeyRecord,
    report: &LeakReport,
    secret: Secret,
    action: LeakAction,
    now: DateTime<Utc>,
) -> Option<Consequence> {
    if record.archived_at.is_some() {
        return None;
    }
    if secret == Secret::Previous {
        record.previous = None;
        record.updated_at = now;
        return Some(Consequence::PreviousStopped);
    }
    if record.leak.is_some() {
        return None;
    }
    record.leak = Some(Leak {
        at: now,
        source: report.source,
        url: report.url.clone(),
    });
    record.updated_at = now;
    if record.revoked_at.is_some() {
        return Some(Consequence::None);
    }
    let reason = format!("leaked (reported by {})", report.source.as_str());
    let action = if record.root {
        LeakAction::Revoke
    } else {
        action
    };
    let consequence = match action {
        LeakAction::Revoke => keys::revoke(record, Some(reason), now)
            .map(|()| Consequence::Revoked)
            .unwrap_or(Consequence::None),
        LeakAction::Disable if record.enabled => keys::set_enabled(record, false, now)
            .map(|()| Consequence::Disabled)
            .unwrap_or(Consequence::None),
        LeakAction::Disable | LeakAction::Notify => Consequence::None,
    };
    Some(consequence)
}

/// The audit events of acting on a leak: `key.leaked`, then `key.revoked`
/// or `key.disabled` when the policy did that.
pub fn events(
    before: &KeyRecord,
    after: &KeyRecord,
    report: &LeakReport,
    consequence: Consequence,
) -> Vec<NewEvent> {
    let mut changes = Map::new();
    let mut add = |field: &str, value: Value| {
        changes.insert(field.to_owned(), json!({"before": null, "after": value}));
    };
    let secret = match consequence {
        Consequence::PreviousStopped => "previous",
        _ => "current",
    };
    add("secret", json!(secret));
    if consequence != Consequence::PreviousStopped {
        add("leaked_at", json!(after.leak.as_ref().map(|l| l.at)));
    }
    add("leak_source", json!(report.source.as_str()));
    add("leak_url", json!(report.url));
    for (field, value) in &report.details {
        add(field, value.clone());
    }
    add(
        "action",
        json!(match consequence {
            Consequence::Revoked => "revoked",
            Consequence::Disabled => "disabled",
            Consequence::PreviousStopped => "previous_secret_stopped",
            Consequence::None => "none",
        }),
    );
    if consequence == Consequence::PreviousStopped {
        changes.insert(
            "previous_secret_expires_at".to_owned(),
            json!({"before": before.previous.map(|p| p.expires_at), "after": null}),
        );
    }
    let mut events = vec![NewEvent {
        action: "key.leaked".to_owned(),
        target: key_target(after),
        changes,
    }];
    let follow_up = match consequence {
        Consequence::Revoked => Some("key.revoked"),
        Consequence::Disabled => Some("key.disabled"),
        Consequence::PreviousStopped | Consequence::None => None,
    };
    if let Some(action) = follow_up {
        events.push(crate::events::key_changed(action, before, after));
    }
    events
}

#[cfg(test)]
mod tests;

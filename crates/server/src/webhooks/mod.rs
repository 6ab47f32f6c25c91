//! The webhook delivery worker.
//!
//! Every node runs one. It wakes every poll interval (at once when this node
//! queued a test or a redelivery, or an attempt ended), asks storage for due
//! deliveries (the oldest pending one of each endpoint), takes each one's
//! lease, and sends them side by side, so a slow endpoint holds up only
//! its own messages. The lease outlives the attempt's timeout, so no other
//! node sends the same delivery meanwhile; a node that dies mid-attempt
//! leaves the lease to run out and another worker (or this one, restarted)
//! to retry.
//!
//! Deliveries yield to the API's writes: while a write request (a key
//! created, revoked, …) is in flight on this node, the worker waits, for at
//! most [`MAX_YIELD`]; having waited that long, it catches up with every due
//! delivery before it yields again. A burst of writes is thus answered at
//! full speed and delivered right after it, and a sustained one is delivered
//! at most [`MAX_YIELD`] plus the catching up behind.

mod send;

use crate::api::shared_secret;
use crate::settings::WebhookSettings;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use keyward_core::audit::AuditContext;
use keyward_core::id::OrgId;
use keyward_core::webhooks::{self, Attempt, AttemptResult, Claimed, Finished, SigningKey};
use send::Sender;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Most deliveries in flight at once on a node.
const IN_FLIGHT: usize = 32;
/// Most of them for one organization: one organization's slow or many
/// endpoints cannot hold up the others'.
const PER_ORG: usize = 4;
/// Due deliveries read per look, to choose fairly among organizations.
const LOOK_AHEAD: u32 = 256;
/// Most deliveries of one queue sent under one lease, one after another.
const RUN: u32 = 32;
/// A lease lasts this many attempt time limits, plus [`LEASE_MARGIN`]; a
/// run starts no attempt that could end after its lease.
const LEASE_ATTEMPTS: u32 = 4;
const LEASE_MARGIN: Duration = Duration::from_secs(30);

/// Longest the worker waits for the API's writes to end.
const MAX_YIELD: Duration = Duration::from_secs(30);
/// How often it looks again while it waits.
const YIELD_PAUSE: Duration = Duration::from_millis(100);

/// The API's write requests in flight on this node.
#[derive(Debug, Default)]
pub struct WritesInFlight(AtomicUsize);

/// One write in flight, until dropped (answered or cancelled).
#[derive(Debug)]
pub struct Write<'a>(&'a WritesInFlight);

impl WritesInFlight {
    /// Counts a write until the guard is dropped.
    pub fn enter(&self) -> Write<'_> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Write(self)
    }

    fn any(&self) -> bool {
        self.0.load(Ordering::Relaxed) > 0
    }
}

impl Drop for Write<'_> {
    fn drop(&mut self) {
        self.0.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Whether the worker lets the API's writes go first, and since when.
#[derive(Debug, Default)]
struct Yielding {
    since: Option<Instant>,
    catching_up: bool,
}

impl Yielding {
    /// True while the worker should wait rather than work.
    fn now(&mut self, writes: &WritesInFlight) -> bool {
        if !self.catching_up && writes.any() {
            let since = *self.since.get_or_insert_with(Instant::now);
            if since.elapsed() < MAX_YIELD {
                return true;
            }
            self.catching_up = true;
        }
        self.since = None;
        false
    }

    /// After a look that found nothing to do: caught up.
    fn idle(&mut self) {
        self.catching_up = false;
    }
}

/// Runs the worker until `shutdown` turns true, then lets the attempts in
/// flight finish (each within its timeout).
pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let settings = state.settings.webhooks.clone();
    let sender = match Sender::new(settings.timeout, settings.allow_private) {
        Ok(sender) => sender,
        Err(error) => {
            tracing::error!(%error, "webhook client could not start; no webhook is delivered");
            return;
        }
    };
    let owner: Arc<str> = match keyward_core::base62::random(16) {
        Ok(random) => format!("node_{random}").into(),
        Err(error) => {
            tracing::error!(%error, "no webhook is delivered");
            return;
        }
    };
    let mut in_flight = JoinSet::new();
    let mut per_org: HashMap<OrgId, usize> = HashMap::new();
    let mut yielding = Yielding::default();
    loop {
        while let Some(Ok(org)) = in_flight.try_join_next() {
            release(&mut per_org, &org);
        }
        if yielding.now(&state.writes_in_flight) {
            tokio::select! {
                () = tokio::time::sleep(YIELD_PAUSE) => continue,
                _ = shutdown.changed() => break,
            }
        }
        // Events committed since the last look become deliveries.
        let dispatched = state
            .store
            .dispatch_events(None)
            .await
            .unwrap_or_else(|error| {
                tracing::warn!(%error, "turning audit events into webhook messages failed");
                0
            });
        let room = IN_FLIGHT - in_flight.len();
        let mut full = false;
        if room > 0 {
            let claimed = claim_due(&state, &settings, &owner, room, &per_org).await;
            if dispatched == 0 && claimed.is_empty() {
                yielding.idle();
            }
            full = claimed.len() == room;
            for (org, run) in claimed {
                *per_org.entry(org.clone()).or_default() += 1;
                let sent = deliver(
                    state.clone(),
                    settings.clone(),
                    sender.clone(),
                    Arc::clone(&owner),
                    run,
                );
                in_flight.spawn(async move {
                    sent.await;
                    org
                });
            }
        }
        if *shutdown.borrow() {
            break;
        }
        if full {
            // More may be due; look again once an attempt ends.
            tokio::select! {
                Some(ended) = in_flight.join_next() => {
                    if let Ok(org) = ended { release(&mut per_org, &org); }
                }
                _ = shutdown.changed() => break,
            }
            continue;
        }
        // An attempt that ends lets its endpoint's next message go at once.
        tokio::select! {
            () = tokio::time::sleep(settings.poll_interval) => {}
            () = state.webhook_wake.notified() => {}
            Some(ended) = in_flight.join_next(), if !in_flight.is_empty() => {
                if let Ok(org) = ended { release(&mut per_org, &org); }
            }
            _ = shutdown.changed() => break,
        }
    }
    while in_flight.join_next().await.is_some() {}
}

fn release(per_org: &mut HashMap<OrgId, usize>, org: &OrgId) {
    if let Some(n) = per_org.get_mut(org) {
        *n -= 1;
        if *n == 0 {
            per_org.remove(org);
        }
    }
}

/// Takes the leases of up to `limit` due deliveries, soonest first, at most
/// [`PER_ORG`] in flight per organization, each with the run of deliveries
/// waiting behind it.
async fn claim_due(
    state: &AppState,
    settings: &WebhookSettings,
    owner: &str,
    limit: usize,
    in_flight: &HashMap<OrgId, usize>,
) -> Vec<(OrgId, Vec<Claimed>)> {
    let due = match state
        .store
        .due_deliveries(state.clock.now(), LOOK_AHEAD)
        .await
    {
        Ok(due) => due,
        Err(error) => {
            tracing::warn!(%error, "looking for due webhook deliveries failed");
            return Vec::new();
        }
    };
    let mut taken: HashMap<&OrgId, usize> = HashMap::new();
    let mut claimed = Vec::new();
    for due in &due {
        if claimed.len() == limit {
            break;
        }
        let slots = taken.entry(&due.org_id).or_default();
        if in_flight.get(&due.org_id).copied().unwrap_or(0) + *slots >= PER_ORG {
            continue;
        }
        // Each lease from the moment it is taken, however long the claims
        // before it took.
        let now = state.clock.now();
        let lease_until = now + settings.timeout * LEASE_ATTEMPTS + LEASE_MARGIN;
        match state
            .store
            .claim_delivery(&due.id, owner, now, lease_until, RUN)
            .await
        {
            Ok(run) if run.is_empty() => {}
            Ok(run) => {
                *slots += 1;
                claimed.push((due.org_id.clone(), run));
            }
            Err(error) => tracing::warn!(%error, delivery = %due.id, "claiming a delivery failed"),
        }
    }
    claimed
}

/// Sends a claimed run in order, up to its first failure, and records it.
async fn deliver(
    state: AppState,
    settings: WebhookSettings,
    sender: Sender,
    owner: Arc<str>,
    run: Vec<Claimed>,
) {
    // Attempts start only while one at the time limit still ends within
    // the lease: a node that dies leaves its run to others within the lease.
    let deadline = std::time::Instant::now() + settings.timeout * (LEASE_ATTEMPTS - 1);
    let mut finished = Vec::with_capacity(run.len());
    let mut disable = None;
    let mut keys = None;
    for claimed in run {
        if !finished.is_empty() && std::time::Instant::now() > deadline {
            break;
        }
        let started = state.clock.now();
        if keys.is_none() {
            match signing_keys(&state, &claimed, started).await {
                Ok(found) => keys = Some(found),
                Err(error) => {
                    // Not the endpoint's fault: the lease runs out and a
                    // later round tries again.
                    tracing::error!(%error, delivery = %claimed.delivery.id, "no key to sign a delivery");
                    break;
                }
            }
        }
        let (attempt, result, disabling) = send_one(
            &state,
            &settings,
            &sender,
            keys.as_deref().unwrap_or_default(),
            &claimed,
        )
        .await;
        let ended = result == AttemptResult::Succeeded;
        state.metrics.webhook_delivery(match result {
            AttemptResult::Succeeded => "succeeded",
            AttemptResult::RetryAt(_) => "retrying",
            AttemptResult::GiveUp => "failed",
        });
        finished.push(Finished {
            claimed,
            attempt,
            result,
        });
        disable = disabling;
        if !ended {
            break;
        }
    }
    if let Err(error) = state.store.finish_attempts(&owner, &finished).await {
        tracing::warn!(%error, "recording webhook attempts failed");
    } else if let (Some(reason), Some(last)) = (disable, finished.last()) {
        let ctx = AuditContext::system("keyward webhooks", state.clock.now());
        let webhook = &last.claimed.delivery.webhook_id;
        match state
            .store
            .disable_failing_webhook(&last.claimed.org_id, webhook, reason, &ctx)
            .await
        {
            Ok(()) => {
                state.metrics.webhook_endpoints_disabled.inc();
                tracing::warn!(%webhook, reason, "webhook endpoint disabled");
            }
            Err(error) => tracing::warn!(%error, %webhook, "disabling a failing webhook failed"),
        }
    }
}

/// One attempt: the request, signed, and what follows it.
async fn send_one(
    state: &AppState,
    settings: &WebhookSettings,
    sender: &Sender,
    keys: &[SigningKey],
    claimed: &Claimed,
) -> (Attempt, AttemptResult, Option<&'static str>) {
    let started = state.clock.now();
    // The moment of sending, from the real clock whatever clock the rest
    // of Keyward reads: receivers compare it with theirs.
    let timestamp = Utc::now().timestamp();
    let id = claimed.delivery.message_id.clone();
    let signature = webhooks::signature_header(keys, &id, timestamp, &claimed.payload);
    let headers = [
        ("webhook-id", id),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signature),
    ];
    let response = sender
        .post(&claimed.url, headers, claimed.payload.clone())
        .await;
    let attempt = Attempt {
        at: started,
        response_code: response.status,
        duration_ms: u64::try_from(response.elapsed.as_millis()).unwrap_or(u64::MAX),
        error: response.error.clone(),
    };
    let (result, disable) = decide(settings, claimed, &response, state.clock.now());
    tracing::info!(
        delivery = %claimed.delivery.id,
        webhook = %claimed.delivery.webhook_id,
        event = %claimed.delivery.event_type,
        status = ?response.status,
        error = ?response.error,
        result = ?result,
        "webhook attempt"
    );
    (attempt, result, disable)
}

/// What follows an attempt, and whether the endpoint is to be disabled
/// (`gone` on 410, `failing` after failing for [`webhooks::DISABLE_AFTER`]).
fn decide(
    settings: &WebhookSettings,
    claimed: &Claimed,
    response: &send::Response,
    now: DateTime<Utc>,
) -> (AttemptResult, Option<&'static str>) {
    match response.status {
        Some(status) if (200..300).contains(&status) => return (AttemptResult::Succeeded, None),
        Some(410) => return (AttemptResult::GiveUp, Some("gone")),
        _ => {}
    }
    let failing_since = claimed.failing_since.unwrap_or(now);
    let disable = (now - failing_since >= webhooks::DISABLE_AFTER).then_some("failing");
    let attempts = u32::try_from(claimed.delivery.attempts.len() + 1).unwrap_or(u32::MAX);
    let next = webhooks::next_attempt(
        &settings.retry_delays,
        attempts,
        now,
        jitter(),
        response.retry_after,
    );
    match next {
        Some(at) if disable.is_none() => (AttemptResult::RetryAt(at), None),
        // A disabled endpoint keeps this delivery pending: re-enabling it
        // resumes where it stopped.
        Some(at) => (AttemptResult::RetryAt(at), disable),
        None => (AttemptResult::GiveUp, disable),
    }
}

/// A number in `[0, 1)` to spread retries.
pub(crate) fn jitter() -> f64 {
    let mut bytes = [0u8; 4];
    if getrandom::fill(&mut bytes).is_err() {
        return 0.5;
    }
    f64::from(u32::from_le_bytes(bytes)) / 4_294_967_296.0
}

/// The organization's current shared secret, and the previous one during
/// its grace period, as signing keys.
async fn signing_keys(
    state: &AppState,
    claimed: &Claimed,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<SigningKey>> {
    let sealed = state.store.signing_secrets(&claimed.org_id, now).await?;
    let mut keys = vec![
        shared_secret::open(&claimed.org_id, &state.master_key, &sealed.current)?.into_bytes(),
    ];
    if let Some((previous, _)) = sealed.previous {
        // A previous secret that no longer opens (sealed under a master key
        // since replaced) only shortens the grace period.
        match shared_secret::open(&claimed.org_id, &state.master_key, &previous) {
            Ok(previous) => keys.push(previous.into_bytes()),
            Err(error) => {
                tracing::warn!(%error, org = %claimed.org_id, "the previous shared secret does not open; signing with the current one only")
            }
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_yield_to_writes_for_a_bounded_time_then_catch_up() {
        let writes = WritesInFlight::default();
        let mut yielding = Yielding::default();
        assert!(!yielding.now(&writes), "no write in flight: work");
        let write = writes.enter();
        assert!(yielding.now(&writes), "a write in flight: wait");
        // Waited as long as it may: catch up, writes or not, until a look
        // finds nothing to do.
        yielding.since = Instant::now().checked_sub(MAX_YIELD);
        assert!(!yielding.now(&writes));
        assert!(!yielding.now(&writes), "still catching up");
        yielding.idle();
        assert!(yielding.now(&writes), "caught up: wait again");
        drop(write);
        assert!(!yielding.now(&writes), "the write ended");
    }
}

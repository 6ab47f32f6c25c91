//! Acting on leak reports, whoever sends them: the rules are in
//! [`keyward_core::leaks`]; this applies them to stored keys.

pub mod github;

use crate::error::ApiError;
use crate::extract::Client;
use crate::state::AppState;
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, NotUntil, Quota, RateLimiter};
use keyward_core::audit::AuditContext;
use keyward_core::key_format::{self, KeyHash};
use keyward_core::leaks::{self, LeakReport, Secret};
use keyward_core::model::KeyRecord;
use keyward_core::store::StoreError;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The audit log's name for the actor of a leak's consequences.
const ACTOR: &str = "leak report";

/// A reported key that Keyward stores, with the secret of it that was
/// reported.
#[derive(Debug)]
pub struct Found {
    hash: KeyHash,
    record: KeyRecord,
    secret: Secret,
}

/// The stored key whose working secret `key` is, if any: not a key, an
/// unknown one, a previous secret whose grace period ended and a
/// publishable key (public by design) are `None`. Fails only when storage
/// cannot be read, which is the same for every key.
pub async fn find(state: &AppState, key: &str) -> Result<Option<Found>, ApiError> {
    if key_format::parse(key).is_err() {
        return Ok(None);
    }
    find_by_hash(state, KeyHash::of(key)).await
}

async fn find_by_hash(state: &AppState, hash: KeyHash) -> Result<Option<Found>, ApiError> {
    let Some(record) = state.store.find_key_by_hash(&hash).await? else {
        return Ok(None);
    };
    Ok(
        leaks::leaked_secret(&record, &hash, state.clock.now()).map(|secret| Found {
            hash,
            record,
            secret,
        }),
    )
}

/// Acts on a report of a found key, as its organization's policy says;
/// `reporter` is the audit context's address and user agent (none for
/// GitHub).
pub async fn act(
    state: &AppState,
    found: Found,
    report: &LeakReport,
    reporter: &Client,
) -> Result<(), ApiError> {
    let hash = found.hash;
    // Under the key's lock a retry reads the newest version and saves it.
    let _locked = state.key_locks.lock(found.record.id.as_str()).await;
    let mut found = Some(found);
    for _ in 0..5 {
        let Found {
            record: before,
            secret,
            ..
        } = match found.take() {
            Some(found) => found,
            None => match find_by_hash(state, hash).await? {
                Some(found) => found,
                None => return Ok(()),
            },
        };
        let policy = state.store.get_policy(&before.org_id).await?;
        let now = state.clock.now();
        let mut after = before.clone();
        let Some(consequence) = leaks::act(&mut after, report, secret, policy.leak_action, now)
        else {
            // Archived, or acted on already: reported twice, acted on once.
            return Ok(());
        };
        let events = leaks::events(&before, &after, report, consequence);
        let ctx = AuditContext {
            ip: reporter.ip.map(|ip| ip.to_string()),
            user_agent: reporter
                .user_agent
                .as_deref()
                .map(|agent| leaks::redact(agent).into_owned()),
            ..AuditContext::system(ACTOR, now)
        };
        let saved = state
            .store
            .record_leak(&after, before.version, &ctx, events)
            .await;
        state.verifier.forget(&before);
        state.verifier.forget(&after);
        match saved {
            Err(StoreError::Changed) => continue,
            saved => saved?,
        }
        tracing::warn!(
            key = %after.id,
            org = %after.org_id,
            source = report.source.as_str(),
            ?consequence,
            "key reported as leaked"
        );
        return Ok(());
    }
    // Not a 409: the reporter changed nothing, and must try again.
    Err(ApiError::Dependency {
        code: "storage_unavailable",
        detail: "the key kept changing while the report was recorded; try again shortly".to_owned(),
    })
}

/// Public leak reports accepted per client address and minute.
const REPORTS_PER_MINUTE: u32 = 10;
/// Public leak reports accepted per minute from all addresses together, so
/// that many addresses cannot make reports a load on the database.
const ALL_REPORTS_PER_MINUTE: u32 = 600;
/// Addresses remembered before the idle ones are dropped (at most once a
/// minute, the time an address takes to be forgotten).
const MAX_ADDRESSES: usize = 100_000;

/// Limits public leak reports per client address (an IPv6 client per /64,
/// the block one host usually has), and all of them together.
#[derive(Debug)]
pub struct ReportLimiter {
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    all: DefaultDirectRateLimiter,
    last_pruned: Mutex<Instant>,
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
}

impl Default for ReportLimiter {
    fn default() -> Self {
        Self {
            per_address: RateLimiter::keyed(per_minute(REPORTS_PER_MINUTE)),
            all: RateLimiter::direct(per_minute(ALL_REPORTS_PER_MINUTE)),
            last_pruned: Mutex::new(Instant::now()),
        }
    }
}

impl ReportLimiter {
    /// Admits a report from `ip`, or says in how many seconds one will be.
    pub fn admit(&self, ip: IpAddr) -> Result<(), u64> {
        if self.per_address.len() > MAX_ADDRESSES
            && let Ok(mut last) = self.last_pruned.try_lock()
            && last.elapsed() >= Duration::from_secs(60)
        {
            *last = Instant::now();
            self.per_address.retain_recent();
        }
        let key = match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let mut octets = v6.octets();
                    octets[8..].fill(0);
                    IpAddr::from(octets)
                }
            },
            v4 => v4,
        };
        let clock = governor::clock::DefaultClock::default();
        let wait = |not_until: NotUntil<_>| {
            not_until
                .wait_time_from(governor::clock::Clock::now(&clock))
                .as_secs()
                .max(1)
        };
        self.per_address.check_key(&key).map_err(wait)?;
        self.all.check().map_err(wait)
    }
}

/// GitHub's keys and the public reports' limiter.
#[derive(Debug)]
pub struct Leaks {
    /// GitHub's secret scanning keys.
    pub github: github::GithubKeys,
    /// Public reports per address.
    pub reports: ReportLimiter,
}

//! Acting on leak reports, whoever sends them: the rules are in
//! [`keyward_core::leaks`]; this applies them to stored keys.

pub mod github;

use crate::error::ApiError;
use crate::state::AppState;
use governor::{DefaultKeyedRateLimiter, Quota};
use keyward_core::audit::AuditContext;
use keyward_core::key_format::{self, KeyHash};
use keyward_core::leaks::{self, LeakReport};
use keyward_core::store::StoreError;
use std::net::IpAddr;
use std::num::NonZeroU32;

/// The audit log's name for the actor of a leak's consequences.
const ACTOR: &str = "leak report";

/// Acts on a report of `key`. True when the key is one Keyward stores
/// (whether or not this report changed it), false for anything else.
pub async fn act(state: &AppState, key: &str, report: &LeakReport) -> Result<bool, ApiError> {
    if key_format::parse(key).is_err() {
        return Ok(false);
    }
    let hash = KeyHash::of(key);
    for _ in 0..5 {
        let Some(before) = state.store.find_key_by_hash(&hash).await? else {
            return Ok(false);
        };
        let policy = state.store.get_policy(&before.org_id).await?;
        let now = state.clock.now();
        let mut after = before.clone();
        let Some(consequence) = leaks::act(&mut after, report, policy.leak_action, now) else {
            // Archived, or acted on already: reported twice, acted on once.
            return Ok(true);
        };
        let events = leaks::events(&before, &after, report, consequence);
        let ctx = AuditContext::system(ACTOR, now);
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
        return Ok(true);
    }
    Err(ApiError::Changed)
}

/// Public leak reports accepted per client address and minute.
const REPORTS_PER_MINUTE: u32 = 10;
/// Addresses remembered before the forgotten ones are dropped.
const MAX_ADDRESSES: usize = 100_000;

/// Limits public leak reports per client address (an IPv6 client per /64,
/// the block one host usually has).
#[derive(Debug)]
pub struct ReportLimiter(DefaultKeyedRateLimiter<IpAddr>);

impl Default for ReportLimiter {
    fn default() -> Self {
        let quota =
            Quota::per_minute(NonZeroU32::new(REPORTS_PER_MINUTE).unwrap_or(NonZeroU32::MIN));
        Self(governor::RateLimiter::keyed(quota))
    }
}

impl ReportLimiter {
    /// Admits a report from `ip`, or says in how many seconds one will be.
    pub fn admit(&self, ip: IpAddr) -> Result<(), u64> {
        if self.0.len() > MAX_ADDRESSES {
            self.0.retain_recent();
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
        self.0.check_key(&key).map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            wait.as_secs().max(1)
        })
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

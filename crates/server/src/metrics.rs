//! Prometheus metrics: `GET /metrics` in the text exposition format.
//!
//! Names follow Prometheus' conventions: the `keyward_` prefix, base units
//! (seconds, bytes), `_total` for counters. No label carries a key, a key id
//! or another unbounded value: verification is counted by path and code,
//! management requests by route template, method and status.
//!
//! Counting a verification is an index into an array of counters made at
//! start-up and a histogram observation: a few atomic operations, no lock and
//! no allocation (TiKV's `prometheus` crate; its `with_label_values` takes a
//! lock, so the verification path never calls it). What other parts already
//! count (the caches, the usage queue, storage's state) is read when
//! Prometheus scrapes, into a registry made for that scrape.

use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use keyward_core::policy::Code;
use keyward_core::usage::FlushObserver;
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Verification latency buckets, in seconds: 50 µs to 1 s.
const VERIFY_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0,
];
/// Management and flush latency buckets, in seconds: 1 ms to 10 s.
const SLOW_BUCKETS: &[f64] = &[
    0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A verification's outcome as counted: a verification code, or why there
/// was none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// The verifier's final decision (after rate limits and quotas).
    Code(Code),
    /// The request itself was malformed (`POST /v1/verify`'s 4xx).
    InvalidRequest,
    /// The proxy's scope requirement could not be parsed (`/v1/auth`).
    InvalidRequirement,
    /// Storage could not answer (503).
    Unavailable,
}

const EXTRA: [(Counted, &str); 3] = [
    (Counted::InvalidRequest, "INVALID_REQUEST"),
    (Counted::InvalidRequirement, "INVALID_REQUIREMENT"),
    (Counted::Unavailable, "UNAVAILABLE"),
];

impl Counted {
    /// Its place among the counters: a code's place in `Code::ALL`, then
    /// the extras. Out of range (never, see the test) counts nothing.
    fn index(self) -> usize {
        let found = match self {
            Self::Code(code) => Code::ALL.iter().position(|c| *c == code),
            other => EXTRA
                .iter()
                .position(|(c, _)| *c == other)
                .map(|i| Code::ALL.len() + i),
        };
        found.unwrap_or(usize::MAX)
    }
}

/// One verification path's counters, one per outcome, and its latency.
#[derive(Debug, Clone)]
pub struct PathMetrics {
    outcomes: Vec<IntCounter>,
    duration: Histogram,
}

impl PathMetrics {
    /// When a verification starts, if verifications are counted.
    pub fn start(metrics: Option<&Self>) -> Option<Instant> {
        metrics.map(|_| Instant::now())
    }

    /// Counts a verification that started at `started` and ended with
    /// `outcome`, if verifications are counted.
    pub fn finish(metrics: Option<&Self>, started: Option<Instant>, outcome: Counted) {
        if let (Some(metrics), Some(started)) = (metrics, started) {
            metrics.observe(outcome, started);
        }
    }

    /// Counts a verification that started at `started` and ended with `outcome`.
    pub fn observe(&self, outcome: Counted, started: Instant) {
        if let Some(counter) = self.outcomes.get(outcome.index()) {
            counter.inc();
        }
        self.duration.observe(started.elapsed().as_secs_f64());
    }
}

/// The metrics Keyward updates as it goes.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    /// `POST /v1/verify`; `None` with metrics off.
    pub verify: Option<PathMetrics>,
    /// `GET /v1/auth` (forward auth); `None` with metrics off.
    pub auth: Option<PathMetrics>,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    usage_flush_duration: Histogram,
    usage_flush_failures: IntCounter,
    usage_keys_lost: IntCounter,
    /// Key changes announced by other nodes (PostgreSQL).
    pub key_change_announcements: IntCounter,
    webhook_deliveries: IntCounterVec,
    /// Webhook endpoints disabled for failing.
    pub webhook_endpoints_disabled: IntCounter,
    emails: IntCounterVec,
}

fn counter(registry: &Registry, name: &str, help: &str) -> prometheus::Result<IntCounter> {
    let counter = IntCounter::new(name, help)?;
    registry.register(Box::new(counter.clone()))?;
    Ok(counter)
}

fn counters(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntCounterVec> {
    let counters = IntCounterVec::new(Opts::new(name, help), labels)?;
    registry.register(Box::new(counters.clone()))?;
    Ok(counters)
}

fn histograms(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: &[f64],
) -> prometheus::Result<HistogramVec> {
    let histograms = HistogramVec::new(
        HistogramOpts::new(name, help).buckets(buckets.to_vec()),
        labels,
    )?;
    registry.register(Box::new(histograms.clone()))?;
    Ok(histograms)
}

impl Metrics {
    /// Registers every metric; fails only on a programming error (a name
    /// registered twice). With `enabled` false (`--no-metrics`) nothing is
    /// served and verifications are not even timed.
    pub fn new(enabled: bool) -> prometheus::Result<Self> {
        let registry = Registry::new();
        let build = IntGauge::with_opts(
            Opts::new("keyward_build_info", "Keyward's version; always 1.")
                .const_label("version", env!("CARGO_PKG_VERSION")),
        )?;
        build.set(1);
        registry.register(Box::new(build))?;
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        let outcomes = counters(
            &registry,
            "keyward_verifications_total",
            "Verifications by path and final code.",
            &["path", "code"],
        )?;
        let durations = histograms(
            &registry,
            "keyward_verification_duration_seconds",
            "Time to answer a verification inside Keyward, by path.",
            &["path"],
            VERIFY_BUCKETS,
        )?;
        let path = |name: &str| {
            let codes = Code::ALL
                .iter()
                .map(|c| c.as_str())
                .chain(EXTRA.iter().map(|(_, name)| *name));
            PathMetrics {
                outcomes: codes
                    .map(|code| outcomes.with_label_values(&[name, code]))
                    .collect(),
                duration: durations.with_label_values(&[name]),
            }
        };
        let flushes = Histogram::with_opts(
            HistogramOpts::new(
                "keyward_usage_flush_duration_seconds",
                "Time to write a batch of usage (last use, counts).",
            )
            .buckets(SLOW_BUCKETS.to_vec()),
        )?;
        registry.register(Box::new(flushes.clone()))?;
        Ok(Self {
            verify: enabled.then(|| path("verify")),
            auth: enabled.then(|| path("auth")),
            http_requests: counters(
                &registry,
                "keyward_http_requests_total",
                "Management API requests by route template, method and status.",
                &["route", "method", "status"],
            )?,
            http_duration: histograms(
                &registry,
                "keyward_http_request_duration_seconds",
                "Management API request durations by route template and method.",
                &["route", "method"],
                SLOW_BUCKETS,
            )?,
            usage_flush_duration: flushes,
            usage_flush_failures: counter(
                &registry,
                "keyward_usage_flush_failures_total",
                "Usage writes that failed (the batch is kept and retried).",
            )?,
            usage_keys_lost: counter(
                &registry,
                "keyward_usage_rows_lost_total",
                "Keys whose usage could not be written before shutting down.",
            )?,
            key_change_announcements: counter(
                &registry,
                "keyward_key_change_announcements_total",
                "Key changes announced by other nodes (PostgreSQL).",
            )?,
            webhook_deliveries: counters(
                &registry,
                "keyward_webhook_deliveries_total",
                "Webhook delivery attempts by outcome (succeeded, retrying, failed).",
                &["outcome"],
            )?,
            webhook_endpoints_disabled: counter(
                &registry,
                "keyward_webhook_endpoints_disabled_total",
                "Webhook endpoints disabled for failing.",
            )?,
            emails: counters(
                &registry,
                "keyward_emails_total",
                "Email attempts by kind (notice, audit_export) and outcome (sent, retrying, failed, skipped).",
                &["kind", "outcome"],
            )?,
            registry,
        }
        .with_every_outcome())
    }

    /// Makes the series of every outcome exist from the start, at 0, so
    /// that `increase()` sees a node's first failure.
    fn with_every_outcome(self) -> Self {
        for outcome in ["succeeded", "retrying", "failed"] {
            self.webhook_deliveries.with_label_values(&[outcome]);
        }
        for kind in ["notice", "audit_export"] {
            for outcome in ["sent", "retrying", "failed", "skipped"] {
                self.emails.with_label_values(&[kind, outcome]);
            }
        }
        self
    }

    /// Counts a webhook delivery attempt: `succeeded`, `retrying` or `failed`.
    pub fn webhook_delivery(&self, outcome: &str) {
        self.webhook_deliveries.with_label_values(&[outcome]).inc();
    }

    /// Counts an email attempt.
    pub fn email(&self, kind: &str, outcome: &str) {
        self.emails.with_label_values(&[kind, outcome]).inc();
    }

    /// The exposition of every metric, with the state read now.
    fn render(&self, state: &AppState) -> Result<String, prometheus::Error> {
        let mut families = self.registry.gather();
        families.extend(snapshot(state)?.gather());
        families.sort_by(|a, b| a.name().cmp(b.name()));
        let mut text = String::new();
        TextEncoder::new().encode_utf8(&families, &mut text)?;
        Ok(text)
    }
}

/// What other parts count, read at the scrape into a registry of its own.
fn snapshot(state: &AppState) -> prometheus::Result<Registry> {
    let registry = Registry::new();
    let stats = state.verifier.cache_stats();
    let totals = [
        (
            "keyward_cache_hits_total",
            "Verifications the key cache answered.",
            stats.hits,
        ),
        (
            "keyward_cache_misses_total",
            "Verifications the key cache did not answer.",
            stats.misses,
        ),
        (
            "keyward_negative_cache_hits_total",
            "Unknown keys the negative cache answered.",
            stats.negative_hits,
        ),
        (
            "keyward_negative_cache_misses_total",
            "Lookups the negative cache did not answer.",
            stats.negative_misses,
        ),
        (
            "keyward_storage_lookups_total",
            "Key lookups by hash that reached storage.",
            stats.storage_reads,
        ),
    ];
    for (name, help, value) in totals {
        let counter = IntCounter::new(name, help)?;
        counter.inc_by(value);
        registry.register(Box::new(counter))?;
    }
    let gauges = [
        (
            "keyward_cache_entries",
            "Key records in the cache.",
            stats.entries,
        ),
        (
            "keyward_cache_weight_bytes",
            "Estimated bytes of the key records in the cache.",
            stats.weight,
        ),
        (
            "keyward_negative_cache_entries",
            "Unknown keys in the negative cache.",
            stats.negative_entries,
        ),
        (
            "keyward_usage_pending_rows",
            "Keys whose usage waits to be written.",
            state.usage.pending_keys() as u64,
        ),
        (
            "keyward_storage_up",
            "1 when storage answered the last check, else 0.",
            u64::from(state.verifier.storage_available()),
        ),
    ];
    for (name, help, value) in gauges {
        let gauge = IntGauge::new(name, help)?;
        gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
        registry.register(Box::new(gauge))?;
    }
    Ok(registry)
}

impl FlushObserver for Metrics {
    fn flushed(&self, took: Duration, written: bool) {
        self.usage_flush_duration.observe(took.as_secs_f64());
        if !written {
            self.usage_flush_failures.inc();
        }
    }

    fn lost(&self, keys: usize) {
        self.usage_keys_lost.inc_by(keys as u64);
    }
}

/// `GET /metrics`.
pub async fn metrics(State(state): State<AppState>) -> Response {
    match state.metrics.render(&state) {
        Ok(text) => {
            let mut response = text.into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            response
        }
        Err(error) => {
            tracing::error!(%error, "metrics could not be rendered");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Counts a management request by its route template (never its path,
/// which holds ids), method and status.
pub async fn count_requests(
    State(state): State<AppState>,
    route: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    // Only the methods HTTP defines: a made-up one would be a new label.
    let method: &'static str = match request.method().as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    let response = next.run(request).await;
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let metrics = &state.metrics;
    metrics
        .http_requests
        .with_label_values(&[route, method, response.status().as_str()])
        .inc();
    metrics
        .http_duration
        .with_label_values(&[route, method])
        .observe(started.elapsed().as_secs_f64());
    response
}

/// Wires the usage write-behind's observations into `metrics`.
pub fn observe_usage(usage: &keyward_core::usage::UsageRecorder, metrics: &Arc<Metrics>) {
    usage.observe_flushes(Arc::clone(metrics) as Arc<dyn FlushObserver>);
}

#[cfg(test)]
mod tests {
    use super::{Code, Counted, EXTRA};

    #[test]
    fn every_outcome_has_a_counter_of_its_own() {
        let mut indices: Vec<usize> = Code::ALL
            .iter()
            .map(|c| Counted::Code(*c).index())
            .chain(EXTRA.iter().map(|(c, _)| c.index()))
            .collect();
        indices.sort_unstable();
        let expected: Vec<usize> = (0..Code::ALL.len() + EXTRA.len()).collect();
        assert_eq!(indices, expected);
    }
}

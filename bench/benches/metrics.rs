//! What counting a verification costs: the two clock reads, the outcome's
//! counter and the latency histogram that `POST /v1/verify` adds with
//! metrics on, against the same calls with metrics off (`--no-metrics`),
//! which only test an `Option`; then each part alone. `bench/metrics.sh`
//! runs it and relates the difference to a request's server time measured
//! in the same run.
//!
//! Run: `cargo bench -p keyward-bench --bench metrics`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use keyward_core::policy::Code;
use keyward_server::metrics::{Counted, Metrics, PathMetrics};
use prometheus::{Histogram, HistogramOpts, IntCounter};
use std::hint::black_box;
use std::time::Instant;

fn count(metrics: Option<&PathMetrics>) {
    let started = PathMetrics::start(black_box(metrics));
    PathMetrics::finish(metrics, started, black_box(Counted::Code(Code::Valid)));
}

fn metrics(c: &mut Criterion) {
    let on = Metrics::new(true).unwrap();
    let off = Metrics::new(false).unwrap();
    let mut group = c.benchmark_group("count a verification");
    group.bench_function("metrics off", |b| b.iter(|| count(off.verify.as_ref())));
    group.bench_function("metrics on", |b| b.iter(|| count(on.verify.as_ref())));
    group.finish();

    let mut parts = c.benchmark_group("its parts");
    parts.bench_function("two clock reads", |b| {
        b.iter(|| black_box(Instant::now()).elapsed())
    });
    let histogram = Histogram::with_opts(HistogramOpts::new("h", "h")).unwrap();
    parts.bench_function("a histogram observation", |b| {
        b.iter(|| histogram.observe(black_box(0.000_1)))
    });
    let counter = IntCounter::new("c", "c").unwrap();
    parts.bench_function("a counter", |b| b.iter(|| counter.inc()));
    parts.finish();
}

criterion_group!(benches, metrics);
criterion_main!(benches);

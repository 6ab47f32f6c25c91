//! In-process verification of a cached key: parse and checksum, one SHA-256,
//! a cache hit, the policy, and the usage count. Target: under 1 µs.
//! Baseline in the same run: the SHA-256 alone.
//!
//! Run: `cargo bench -p keyward-bench --bench verify_cached`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use keyward_core::clock::SystemClock;
use keyward_core::key_format::KeyHash;
use keyward_core::policy::Request;
use keyward_core::scope::Scope;
use keyward_core::usage::UsageRecorder;
use keyward_core::verify::{CacheConfig, Verifier};
use keyward_server::Settings;
use keyward_server::app::{open_master_key, open_store};
use keyward_server::bootstrap::create_organization;
use std::hint::black_box;
use std::sync::Arc;

fn verify_cached(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (verifier, key) = runtime.block_on(async {
        let settings = Settings::new(dir.path().to_path_buf());
        let store = open_store(&settings).await.unwrap();
        let master_key = open_master_key(&settings).unwrap();
        let created = create_organization(
            store.as_ref(),
            &master_key,
            &SystemClock,
            "keyward bench",
            "Bench",
            "b@example.com",
            None,
        )
        .await
        .unwrap();
        let verifier = Verifier::new(
            store,
            Arc::new(SystemClock),
            Arc::new(UsageRecorder::default()),
            &CacheConfig::default(),
        );
        let key = created.root_key.expose().to_owned();
        // The first verification loads the key into the cache.
        verifier.verify(&key, &Request::default()).await.unwrap();
        (verifier, key)
    });
    let required = [Scope::parse("keys:read").unwrap()];
    let request = Request {
        scopes: &required,
        origin: None,
        ip: None,
    };

    let mut group = c.benchmark_group("verification");
    group.bench_function("sha256 of the key (baseline)", |b| {
        b.iter(|| KeyHash::of(black_box(&key)))
    });
    group.bench_function("verify a cached key", |b| {
        b.to_async(&runtime).iter(|| async {
            let outcome = verifier.verify(black_box(&key), &request).await.unwrap();
            assert_eq!(outcome.code, keyward_core::policy::Code::Valid);
        })
    });
    group.finish();
}

criterion_group!(benches, verify_cached);
criterion_main!(benches);
